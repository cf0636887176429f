//! Confidence, on the emulator's one port: rollouts (workflow instances, served by
//! `experiments.confidence.dev`), segments (the flags admin API, `flags.{eu,us}`), analysis
//! results (`stats.{eu,us}`, `/v2`) and the IAM token endpoint (`iam.{eu,us}`).
//!
//! The resources follow `api-notes-confidence.md`: the workflow envelope with its
//! server-managed fields filled in, data sections replaced as field masks say, output-only
//! fields refused, a rollout's targeting in a segment of its own. What the notes leave open
//! is decided in [`crate::assumptions`].

mod mask;
mod results;
mod rollouts;
mod segments;
mod targeting;

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::assumptions::{DEFAULT_PAGE_SIZE, ROLLOUT_ID_ALPHABET, ROLLOUT_ID_LEN, TOKEN_IDENTITY};
use crate::error::{ApiError, JsonBody, Names, Service, grpc};
use crate::faults::Caller;
use crate::state::{Data, StoredRollout, StoredSegment};

pub(crate) use rollouts::resume_transitions;

const S: Service = Service::Confidence;

/// Rollouts and analysis results (the workflows and stats APIs).
pub(crate) fn routes() -> Router<Shared> {
    rollouts::routes().merge(results::routes())
}

/// Segments (the flags admin API), kept apart for its own rate limit.
pub(crate) fn segment_routes() -> Router<Shared> {
    segments::routes()
}

/// The token endpoint needs no bearer token.
pub(crate) fn token_routes() -> Router<Shared> {
    Router::new().route("/v1/oauth/token", post(issue_token))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::INVALID_ARGUMENT)
}

fn failed_precondition(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::FAILED_PRECONDITION)
}

/// Rollouts and segments as stored: kept by id, numbered in creation order (their list
/// order and page tokens), each holding the resource as served. Reading one and paging
/// through them is the same for both.
trait Stored: Sized {
    fn all(data: &Data) -> &BTreeMap<String, Self>;
    fn all_mut(data: &mut Data) -> &mut BTreeMap<String, Self>;
    /// Its creation number and resource.
    fn parts(&self) -> (u64, &Map<String, Value>);
    fn not_found(id: &str) -> ApiError;
}

impl Stored for StoredRollout {
    fn all(data: &Data) -> &BTreeMap<String, Self> {
        &data.confidence.rollouts
    }
    fn all_mut(data: &mut Data) -> &mut BTreeMap<String, Self> {
        &mut data.confidence.rollouts
    }
    fn parts(&self) -> (u64, &Map<String, Value>) {
        (self.seq, &self.resource)
    }
    fn not_found(id: &str) -> ApiError {
        rollouts::not_found(id)
    }
}

impl Stored for StoredSegment {
    fn all(data: &Data) -> &BTreeMap<String, Self> {
        &data.confidence.segments
    }
    fn all_mut(data: &mut Data) -> &mut BTreeMap<String, Self> {
        &mut data.confidence.segments
    }
    fn parts(&self) -> (u64, &Map<String, Value>) {
        (self.seq, &self.resource)
    }
    fn not_found(id: &str) -> ApiError {
        segments::not_found(id)
    }
}

fn find<'a, T: Stored>(data: &'a Data, id: &str) -> Result<&'a T, ApiError> {
    T::all(data).get(id).ok_or_else(|| T::not_found(id))
}

fn find_mut<'a, T: Stored>(data: &'a mut Data, id: &str) -> Result<&'a mut T, ApiError> {
    T::all_mut(data).get_mut(id).ok_or_else(|| T::not_found(id))
}

/// `POST …/{id}:action`: the id segment carries the action. Without one the answer is
/// 405, with `example` actions of the `kind` (`"rollout"`, `"segment"`).
fn id_and_action<'a>(
    id_action: &'a str,
    kind: &str,
    example: &str,
) -> Result<(&'a str, &'a str), ApiError> {
    id_action.rsplit_once(':').ok_or_else(|| {
        ApiError::new(
            S,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("POST on a {kind} needs an action, like {example}"),
        )
    })
}

/// An action a `kind` does not have.
fn unknown_action(kind: &str, action: &str) -> ApiError {
    ApiError::not_found(S, format!("unknown {kind} action {action:?}"))
        .with_grpc(grpc::UNIMPLEMENTED)
}

/// `GET` of one rollout or segment.
async fn get_one<T: Stored>(
    State(app): State<Shared>,
    Names(id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| {
            T::all(data)
                .get(&id)
                .map(|stored| Value::Object(stored.parts().1.clone()))
        })
        .map(Json)
        .ok_or_else(|| T::not_found(&id))
}

/// A list request's `pageSize` and `pageToken` (`after-<seq>`, from the previous page).
struct Paging {
    size: usize,
    after: Option<u64>,
}

impl Paging {
    /// `size` reads a `pageSize` that is given (trimmed, not empty): `None` refuses it.
    fn parse(
        params: &HashMap<String, String>,
        size: impl FnOnce(&str) -> Option<usize>,
    ) -> Result<Self, ApiError> {
        let size = match params.get("pageSize").map(|s| s.trim()) {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(s) => size(s).ok_or_else(|| {
                invalid(format!(
                    "pageSize must be a non-negative integer, got {s:?}"
                ))
            })?,
        };
        let after = match params.get("pageToken").map(|s| s.trim()) {
            None | Some("") => None,
            Some(token) => Some(
                token
                    .strip_prefix("after-")
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| invalid("invalid pageToken"))?,
            ),
        };
        Ok(Self { size, after })
    }

    /// The page of what `keep` accepts, in creation order, and the next page's token
    /// (empty on the last page).
    fn page<T: Stored>(&self, data: &Data, keep: impl Fn(&T) -> bool) -> (Vec<Value>, String) {
        let mut matching: Vec<&T> = T::all(data)
            .values()
            .filter(|s| self.after.is_none_or(|a| s.parts().0 > a))
            .filter(|s| keep(s))
            .collect();
        matching.sort_by_key(|s| s.parts().0);
        let more = matching.len() > self.size;
        matching.truncate(self.size);
        let next = match (more, matching.last()) {
            (true, Some(last)) => format!("after-{}", last.parts().0),
            _ => String::new(),
        };
        let items = matching
            .iter()
            .map(|s| Value::Object(s.parts().1.clone()))
            .collect();
        (items, next)
    }
}

/// A create or PATCH body: a `what` object.
fn object_body(body: Value, what: &str) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(object) => Ok(object),
        _ => Err(invalid(format!("the body must be a {what} object"))),
    }
}

/// The paths of a PATCH's `updateMask`; `None` without one.
fn update_mask(params: &HashMap<String, String>) -> Result<Option<Vec<String>>, ApiError> {
    mask::paths(params.get("updateMask").map(String::as_str)).map_err(invalid)
}

/// Refuses `field` of `object` when it is set (present and not null) to a value `ok` does
/// not accept.
fn check_field(
    object: &Map<String, Value>,
    field: &str,
    ok: impl Fn(&Value) -> bool,
    refusal: impl Into<String>,
) -> Result<(), ApiError> {
    match object.get(field) {
        Some(value) if !value.is_null() && !ok(value) => Err(invalid(refusal)),
        _ => Ok(()),
    }
}

/// A map of strings, like `labels`.
fn is_string_map(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.values().all(Value::is_string))
}

/// A list of strings.
fn is_string_list(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().all(Value::is_string))
}

/// Who wrote: `creator`/`updater`.
fn caller_name(caller: Option<Extension<Caller>>) -> String {
    caller.map_or_else(|| TOKEN_IDENTITY.to_owned(), |Extension(Caller(c))| c)
}

/// A new id of [`ROLLOUT_ID_LEN`] characters that `taken` does not know. Seeded, so runs
/// repeat.
fn new_id(app: &Shared, taken: impl Fn(&str) -> bool) -> String {
    let mut rng = app.id_rng();
    loop {
        let id: String = (0..ROLLOUT_ID_LEN)
            .map(|_| {
                char::from(ROLLOUT_ID_ALPHABET[rng.random_range(0..ROLLOUT_ID_ALPHABET.len())])
            })
            .collect();
        if !taken(&id) {
            return id;
        }
    }
}

/// `POST /v1/oauth/token`: `{grantType, clientId, clientSecret}` in camelCase (the proto
/// JSON names; the snake_case spellings a proto-JSON reader also takes are accepted too)
/// answers `{accessToken, expiresIn}` with the lifetime as an int64 string.
async fn issue_token(
    State(app): State<Shared>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let field = |camel: &str, snake: &str| {
        body.get(camel)
            .or_else(|| body.get(snake))
            .and_then(Value::as_str)
    };
    if field("grantType", "grant_type") != Some("client_credentials") {
        return Err(invalid("grantType must be \"client_credentials\""));
    }
    let (Some(id), Some(secret)) = (
        field("clientId", "client_id"),
        field("clientSecret", "client_secret"),
    ) else {
        return Err(invalid("clientId and clientSecret are required"));
    };
    let known = app
        .client_credentials
        .iter()
        .any(|(known_id, known_secret)| known_id == id && known_secret == secret);
    if !known {
        return Err(ApiError::new(
            S,
            StatusCode::UNAUTHORIZED,
            "invalid client credentials",
        ));
    }
    // Not from the seeded generator: a token must not be predictable.
    let mut rng = rand::rng();
    let token: String = (0..48)
        .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
        .collect();
    app.issue_token(token.clone(), id);
    Ok(Json(json!({"accessToken": token, "expiresIn": "86400"})))
}
