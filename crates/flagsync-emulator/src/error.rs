//! Error answers in each service's own shape, and extractors whose rejections use them.

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::{BODY_LIMIT, BODY_READ_TIMEOUT, MAX_BODY_DEPTH};

/// Which API a path belongs to; decides the error body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// `{"code": <HTTP status>, "message"}` (assumed; see `api-notes.md`).
    CloudBees,
    /// `{"code": <gRPC code>, "message", "details": []}`.
    Confidence,
    /// CloudBees Unify: `google.rpc.Status`, `{"code": <gRPC code>, "message", "details": []}`,
    /// except a refused token (see [`crate::assumptions::UNIFY_UNAUTHORIZED_BODY`]).
    Unify,
    /// The emulator's own control endpoints and unknown paths: like CloudBees.
    Emulator,
}

impl Service {
    pub(crate) fn of_path(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/public-api") {
            Service::CloudBees
        } else if under("/v2/workflows") {
            // The Confidence stats API's analysis results.
            Service::Confidence
        } else if under("/v2") || under("/v1/applications") || under("/v1/organizations") {
            // Unify shares the `/v1` prefix with Confidence; its resources never clash.
            Service::Unify
        } else if under("/v1") {
            Service::Confidence
        } else {
            Service::Emulator
        }
    }
}

/// gRPC status codes used by Confidence error bodies.
pub(crate) mod grpc {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const ABORTED: i32 = 10;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// An error answer. Its body shape follows `service`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub service: Service,
    pub status: StatusCode,
    /// gRPC code for Confidence; derived from the status when `None`.
    pub grpc_code: Option<i32>,
    pub message: String,
    pub retry_after_secs: Option<u64>,
    /// Answer with `Connection: close`.
    pub close: bool,
}

impl ApiError {
    pub(crate) fn new(service: Service, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            service,
            status,
            grpc_code: None,
            message: message.into(),
            retry_after_secs: None,
            close: false,
        }
    }
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }
    pub(crate) fn with_grpc(mut self, code: i32) -> Self {
        self.grpc_code = Some(code);
        self
    }
    pub(crate) fn bad_request(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn not_found(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::NOT_FOUND, message)
    }
    pub(crate) fn internal(service: Service, message: impl Into<String>) -> Self {
        Self::new(service, StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn grpc_code_for_status(status: StatusCode) -> i32 {
        match status.as_u16() {
            400 | 413 => grpc::INVALID_ARGUMENT,
            408 => grpc::DEADLINE_EXCEEDED,
            401 => grpc::UNAUTHENTICATED,
            403 => grpc::PERMISSION_DENIED,
            404 => grpc::NOT_FOUND,
            405 => grpc::UNIMPLEMENTED,
            409 => grpc::ABORTED,
            429 => grpc::RESOURCE_EXHAUSTED,
            503 => grpc::UNAVAILABLE,
            _ => grpc::INTERNAL,
        }
    }

    pub(crate) fn body(&self) -> Value {
        match self.service {
            Service::Confidence | Service::Unify => json!({
                "code": self.grpc_code.unwrap_or_else(|| Self::grpc_code_for_status(self.status)),
                "message": self.message,
                "details": [],
            }),
            Service::CloudBees | Service::Emulator => json!({
                "code": self.status.as_u16(),
                "message": self.message,
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Path parameters, percent-decoded by axum (an encoded `/` stays inside its segment
/// because routing matches the still-encoded path). Rejections become JSON errors.
pub(crate) struct Names<T>(pub T);

impl<S, T> FromRequestParts<S> for Names<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let service = Service::of_path(parts.uri.path());
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Names(value)),
            Err(rejection) => Err(ApiError::bad_request(
                service,
                format!("invalid path: {}", rejection.body_text()),
            )),
        }
    }
}

/// A JSON request body, at most [`BODY_LIMIT`] bytes. Too large: 413; not JSON: 400.
pub(crate) struct JsonBody(pub Value);

impl<S> FromRequest<S> for JsonBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req).await?;
        let service = bytes.1;
        if bytes.0.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                service,
                "a JSON request body is required",
            ));
        }
        parse_body(&bytes.0, service).map(JsonBody)
    }
}

/// The body as JSON, refused when malformed or nested deeper than [`MAX_BODY_DEPTH`].
fn parse_body(bytes: &[u8], service: Service) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(service, format!("malformed JSON body: {e}")))?;
    check_depth(&value, service, "the request body")?;
    Ok(value)
}

/// Refuses a value nested deeper than [`MAX_BODY_DEPTH`]: stored, it would make the state
/// file unreadable (see `state.rs`).
pub(crate) fn check_depth(value: &Value, service: Service, what: &str) -> Result<(), ApiError> {
    if depth(value) > MAX_BODY_DEPTH {
        return Err(ApiError::bad_request(
            service,
            format!("{what} nests arrays and objects deeper than {MAX_BODY_DEPTH} levels"),
        ));
    }
    Ok(())
}

/// How many arrays and objects are nested at the deepest point (a scalar is 0). Iterative:
/// the value may be as deep as the parser allowed.
pub(crate) fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 1)];
    while let Some((value, level)) = pending.pop() {
        match value {
            Value::Array(items) => {
                deepest = deepest.max(level);
                pending.extend(items.iter().map(|v| (v, level + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(level);
                pending.extend(map.values().map(|v| (v, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// A request body that may be empty (actions like `:launch`); JSON when present.
pub(crate) struct OptionalJsonBody(pub Option<Value>);

impl<S> FromRequest<S> for OptionalJsonBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (bytes, service) = read_body(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        parse_body(&bytes, service).map(|v| OptionalJsonBody(Some(v)))
    }
}

async fn read_body(req: Request) -> Result<(axum::body::Bytes, Service), ApiError> {
    let service = Service::of_path(req.uri().path());
    let too_large = || {
        ApiError::new(
            service,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {BODY_LIMIT} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    // Without a declared length the limit still stops a chunked body; a read error here is
    // either that or a client that went away, and 413 is the useful answer for the former.
    let read = axum::body::to_bytes(req.into_body(), BODY_LIMIT);
    match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(read) => read.map(|b| (b, service)).map_err(|_| too_large()),
        // The rest of the body is never read, so the connection closes after the answer.
        Err(_) => Err(ApiError::new(
            service,
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                BODY_READ_TIMEOUT.as_secs()
            ),
        )
        .closing()),
    }
}
