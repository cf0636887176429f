//! The request loop shared by both clients: pacing, authentication, retries, error mapping.

use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::error::{RemoteError, Result, Service};
use crate::pacer::Pacer;
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::secret::{Secret, scrub_all};

/// CloudBees' answer when its one-request-per-second limit is exceeded.
pub(crate) const STATUS_RATE_LIMITED_CLOUDBEES: u16 = 555;

/// Whether a request may be sent again after a failure whose effect is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Sending it twice has the effect of sending it once (GET, PUT, PATCH with `test`
    /// guards, DELETE, setting a segment): retried on 429/555/5xx/timeouts/resets.
    Idempotent,
    /// A create or an action: retried only when it certainly did not take effect (429, 555,
    /// connection never established). Any other failure is [`RemoteError::Ambiguous`].
    NonIdempotent,
}

/// One logical request (possibly sent several times).
pub(crate) struct Request {
    pub method: Method,
    pub url: Url,
    pub body: Option<Vec<u8>>,
    pub safety: Safety,
    /// Human description of the target for `Conflict`/`NotFound` (e.g. `experiment "x" in
    /// Production`).
    pub resource: String,
    /// What a 404 means when it cannot mean "no such item" (a list): the help of the
    /// [`RemoteError::NotFound`].
    pub on_404: Option<&'static str>,
}

impl Request {
    pub(crate) fn new(method: Method, url: Url, safety: Safety, resource: String) -> Self {
        Self {
            method,
            url,
            body: None,
            safety,
            resource,
            on_404: None,
        }
    }

    /// A list: the resource cannot be missing, so a 404 says the base URL (or what it
    /// names, the application) is wrong; `help` says what is expected.
    pub(crate) fn listing(mut self, help: &'static str) -> Self {
        self.on_404 = Some(help);
        self
    }

    /// The error for an answer to this request that `service` sent but that does not read
    /// as expected, saying why in `reason`.
    pub(crate) fn decode_error(&self, service: Service, reason: String) -> RemoteError {
        RemoteError::Decode {
            service,
            method: self.method.to_string(),
            url: shown_url(&self.url),
            reason,
        }
    }

    pub(crate) fn json_body<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| RemoteError::InvalidSettings {
            setting: "request body",
            reason: e.to_string(),
        })?;
        self.body = Some(bytes);
        Ok(self)
    }
}

/// A successful (2xx) answer.
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Minimum wait after a rate-limit answer (429/555) without `Retry-After`: CloudBees' limit is
/// counted per second, so retrying sooner only earns another 555.
const RATE_LIMIT_MIN_WAIT: Duration = Duration::from_secs(1);

/// How one attempt failed, and whether another attempt may help.
struct Failure {
    error: RemoteError,
    retryable: bool,
    retry_after: Option<Duration>,
    /// 429/555: the whole client is over the limit, not just this request.
    rate_limited: bool,
}

/// reqwest client + pacer + retry policy for one service.
#[derive(Debug)]
pub(crate) struct Transport {
    pub service: Service,
    http: reqwest::Client,
    pacer: Pacer,
    retry: RetryPolicy,
    /// Every credential the client was configured with (token, client id and secret):
    /// scrubbed from whatever a server sends back, besides the bearer token of a request.
    secrets: Vec<Secret>,
}

/// How a client sends its requests; every client's settings hold one (`http`).
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Client-side pacing. `f64::INFINITY` disables it (the emulator).
    pub requests_per_second: f64,
    pub retry: RetryPolicy,
    /// Allow plain `http://` to non-loopback hosts. Loopback is always allowed.
    pub allow_insecure_http: bool,
    /// Per-request timeout (one attempt). Default 30 s.
    pub timeout: Duration,
}

impl HttpSettings {
    /// `requests_per_second` (the service's default pace), default retries, only HTTPS to
    /// hosts other than loopback, 30 s timeout.
    pub fn new(requests_per_second: f64) -> Self {
        Self {
            requests_per_second,
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A [`Transport`] whose requests all carry one bearer token: the CloudBees clients' (legacy
/// and Unify), whose token never changes.
#[derive(Debug)]
pub(crate) struct TokenTransport {
    transport: Transport,
    token: Secret,
}

impl TokenTransport {
    pub(crate) fn new(service: Service, http: HttpSettings, token: Secret) -> Result<Self> {
        let transport = Transport::new(
            service,
            http.requests_per_second,
            http.retry,
            http.timeout,
            vec![token.clone()],
        )?;
        Ok(Self { transport, token })
    }

    pub(crate) async fn send(&self, req: &Request) -> Result<Response> {
        self.transport.send(req, Some(&self.token)).await
    }

    /// The answer's JSON.
    pub(crate) async fn json(&self, req: &Request) -> Result<Value> {
        let resp = self.send(req).await?;
        resp.json(self.transport.service, req)
    }
}

impl Transport {
    pub(crate) fn new(
        service: Service,
        requests_per_second: f64,
        retry: RetryPolicy,
        timeout: Duration,
        secrets: Vec<Secret>,
    ) -> Result<Self> {
        if retry.max_attempts == 0 {
            return Err(RemoteError::InvalidSettings {
                setting: "retry.max_attempts",
                reason: "must be at least 1".to_owned(),
            });
        }
        let pacer = Pacer::new(requests_per_second)?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A redirect could carry the Authorization header somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("flagsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::InvalidSettings {
                setting: "http client",
                reason: e.to_string(),
            })?;
        Ok(Self {
            service,
            http,
            pacer,
            retry,
            secrets,
        })
    }

    /// Sends `req` with `bearer`, retrying per the policy and the request's safety.
    pub(crate) async fn send(&self, req: &Request, bearer: Option<&Secret>) -> Result<Response> {
        let span = tracing::debug_span!(
            "remote_request",
            service = %self.service,
            method = %req.method,
            path = %req.url.path(),
        );
        self.send_inner(req, bearer).instrument(span).await
    }

    async fn send_inner(&self, req: &Request, bearer: Option<&Secret>) -> Result<Response> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let sent = self.pacer.acquire().await;
            let failure = match self.attempt(req, bearer, attempt).await {
                Ok(resp) => {
                    self.pacer.speed_up(sent);
                    return Ok(resp);
                }
                Err(f) => f,
            };
            if failure.rate_limited {
                // The service's limit is below ours: slow the whole client down.
                self.pacer.slow_down(sent);
            }
            if !failure.retryable || attempt >= self.retry.max_attempts {
                return Err(failure.error);
            }
            let mut delay = self.retry.delay(attempt - 1, failure.retry_after);
            if failure.rate_limited && failure.retry_after.is_none() {
                delay = delay.max(RATE_LIMIT_MIN_WAIT);
            }
            if let Some(deadline) = self.retry.deadline
                && started.elapsed().saturating_add(delay) > deadline
            {
                return Err(RemoteError::DeadlineExceeded {
                    operation: format!("{} {} {}", self.service, req.method, shown_url(&req.url)),
                    attempts: attempt,
                    elapsed: started.elapsed(),
                    last: Some(Box::new(failure.error)),
                });
            }
            // The server asked everyone to wait: hold the whole client, not just this task.
            // A rate limit without `Retry-After` already slowed an adaptive pacer down.
            if (failure.retry_after.is_some() || (failure.rate_limited && !self.pacer.adapts()))
                && let Some(until) = Instant::now().checked_add(delay)
            {
                self.pacer.hold_until(until);
            }
            tracing::warn!(
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %failure.error,
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        req: &Request,
        bearer: Option<&Secret>,
        attempt: u32,
    ) -> std::result::Result<Response, Failure> {
        let mut builder = self
            .http
            .request(req.method.clone(), req.url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    Failure {
                        error: RemoteError::InvalidSettings {
                            setting: "token",
                            reason: "contains characters not allowed in an HTTP header".to_owned(),
                        },
                        retryable: false,
                        retry_after: None,
                        rate_limited: false,
                    }
                })?;
            value.set_sensitive(true);
            builder = builder.header(AUTHORIZATION, value);
        }
        if let Some(body) = &req.body {
            builder = builder
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(attempt, error = %error_chain(&e), "request failed");
                return Err(self.transport_failure(req, e));
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        tracing::debug!(attempt, status = status.as_u16(), "response");
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => return Err(self.transport_failure(req, e)),
        };
        if status.is_success() {
            return Ok(Response {
                status: status.as_u16(),
                body,
            });
        }
        Err(self.status_failure(req, status, retry_after, &body, bearer))
    }

    fn transport_failure(&self, req: &Request, e: reqwest::Error) -> Failure {
        let (service, method, url) = (self.service, req.method.to_string(), shown_url(&req.url));
        let reason = error_chain(&e);
        // A request that could not even be built was never sent, and will not get better; a
        // connection that was never established carried no request: always safe to resend.
        // Any other failure may have reached the server.
        let unsent = e.is_builder() || e.is_connect();
        let error = match req.safety {
            Safety::Idempotent if !unsent && e.is_timeout() => RemoteError::Timeout {
                service,
                method,
                url,
            },
            Safety::NonIdempotent if !unsent => RemoteError::Ambiguous {
                service,
                method,
                url,
                reason: if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    reason
                },
            },
            _ => RemoteError::Transport {
                service,
                method,
                url,
                reason,
            },
        };
        Failure {
            error,
            retryable: !e.is_builder() && (e.is_connect() || req.safety == Safety::Idempotent),
            retry_after: None,
            rate_limited: false,
        }
    }

    fn status_failure(
        &self,
        req: &Request,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
        bearer: Option<&Secret>,
    ) -> Failure {
        let secrets: Vec<&Secret> = self.secrets.iter().chain(bearer).collect();
        let (code, message) = parse_error_body(body, &secrets);
        let method = req.method.to_string();
        let url = shown_url(&req.url);
        let s = status.as_u16();
        let definite = |error| Failure {
            error,
            retryable: false,
            retry_after: None,
            rate_limited: false,
        };
        match s {
            401 | 403 => definite(RemoteError::Unauthorized {
                service: self.service,
                status: s,
                method,
                url,
                message,
            }),
            404 => definite(RemoteError::NotFound {
                resource: req.resource.clone(),
                method,
                url,
                help: req.on_404,
            }),
            409 => definite(RemoteError::Conflict {
                resource: req.resource.clone(),
                message: message.unwrap_or_else(|| "HTTP 409".to_owned()),
            }),
            // The server may have acted before failing.
            500 | 502 | 503 | 504 if req.safety == Safety::NonIdempotent => {
                definite(RemoteError::Ambiguous {
                    service: self.service,
                    method,
                    url,
                    reason: format!(
                        "HTTP {s}{}",
                        message.map(|m| format!(": {m}")).unwrap_or_default()
                    ),
                })
            }
            _ => {
                // Rate limited: the server refused before doing anything, so even creates
                // retry. A server error retries what may be sent twice (the arm above took
                // the rest).
                let rate_limited = matches!(s, 429 | STATUS_RATE_LIMITED_CLOUDBEES);
                let retryable = rate_limited || matches!(s, 500 | 502 | 503 | 504);
                Failure {
                    error: RemoteError::Http {
                        service: self.service,
                        status: s,
                        method,
                        url,
                        code,
                        message,
                    },
                    retryable,
                    retry_after: retry_after.filter(|_| retryable),
                    rate_limited,
                }
            }
        }
    }
}

/// A requested URL as errors show it: without query string (page tokens, filters) and
/// fragment. Base URLs never carry credentials (`BaseUrl` refuses them).
pub(crate) fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// The error and its sources, without the URL (query strings stay out of messages).
fn error_chain(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timed out".to_owned());
    } else if e.is_connect() {
        parts.push("could not connect".to_owned());
    } else if e.is_body() {
        parts.push("error reading the response body".to_owned());
    } else {
        parts.push("request failed".to_owned());
    }
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Parses `{code, message}` (both services, `code` a number or string); otherwise the start of
/// the body as text. Any echo of a credential is scrubbed (before cutting, so that no
/// part of one survives).
pub(crate) fn parse_error_body(body: &[u8], secrets: &[&Secret]) -> (Option<i64>, Option<String>) {
    const MAX: usize = 500;
    let scrub = |s: &str| scrub_all(s, secrets.iter().copied());
    if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) {
        let code = obj.get("code").and_then(|c| match c {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let message = obj
            .get("message")
            .or_else(|| obj.get("error"))
            .and_then(Value::as_str)
            .map(|m| truncate(&scrub(m), MAX));
        return (code, message);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        (None, None)
    } else {
        (None, Some(truncate(&scrub(text), MAX)))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl Response {
    /// The body as JSON; an empty body is `null`.
    pub(crate) fn json(&self, service: Service, req: &Request) -> Result<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            req.decode_error(service, format!("invalid JSON (HTTP {}): {e}", self.status))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        assert_eq!(
            parse_error_body(br#"{"code": 9, "message": "test failed at /value"}"#, &[]),
            (Some(9), Some("test failed at /value".to_owned()))
        );
        assert_eq!(
            parse_error_body(br#"{"code": "16", "message": "bad"}"#, &[]),
            (Some(16), Some("bad".to_owned()))
        );
        assert_eq!(parse_error_body(b"", &[]), (None, None));
        assert_eq!(
            parse_error_body(b"upstream exploded", &[]),
            (None, Some("upstream exploded".to_owned()))
        );
        let long = "é".repeat(400);
        let (_, m) = parse_error_body(long.as_bytes(), &[]);
        assert!(m.unwrap().len() <= 504);
    }

    #[test]
    fn error_bodies_never_echo_the_token() {
        let token = Secret::new("tok-0123456789");
        let (_, m) = parse_error_body(
            br#"{"code":16,"message":"token tok-0123456789 is unknown"}"#,
            &[&token],
        );
        assert_eq!(m.as_deref(), Some("token [redacted] is unknown"));
    }
}
