//! Fault injection, the CloudBees and Unify rate limits, request counters and bearer-token
//! checks: the middleware every API request passes through.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Shared;
use crate::error::{ApiError, Service};
use crate::server::ConnCtx;

/// Faults injected into API answers (never into `/_emulator/`). `Default`: none.
///
/// Every fault is decided before the request is handled, so an injected error or drop never
/// applies a write partially, except `drop_after_write_rate`, which deliberately applies a
/// successful write and then closes the connection without answering: the ambiguous failure
/// a client must survive (for example a non-idempotent rollout create).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added to every answer.
    pub latency: Duration,
    /// Up to this much more, uniformly random.
    pub latency_jitter: Duration,
    /// Share (0..=1) of requests answered unhandled with 500, 503 or 429 (with
    /// `Retry-After`, except on Unify paths), and on CloudBees paths also 555 (its
    /// throttling status).
    pub error_rate: f64,
    /// Share (0..=1) of requests whose connection is closed without an answer, unhandled.
    pub drop_rate: f64,
    /// Share (0..=1) of successful writes (not GET) applied and then left unanswered.
    pub drop_after_write_rate: f64,
    /// Seeds the random choices so that a run with the same requests in the same order
    /// repeats its faults.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            error_rate: 0.0,
            drop_rate: 0.0,
            drop_after_write_rate: 0.0,
            seed: 0,
        }
    }
}

impl Faults {
    /// Rates must be shares between 0 and 1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("drop_after_write_rate", self.drop_after_write_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, got {rate}"));
            }
        }
        Ok(())
    }
}

/// Settings that `/_emulator/faults` can change while running.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub faults: Faults,
    pub rng: StdRng,
    pub launch_duration: Duration,
    pub cloudbees_requests_per_second: Option<u32>,
    /// Unify limit per caller IP, answered 429 beyond it; `None`: no limit.
    pub unify_requests_per_second: Option<u32>,
    /// Share (0..=1) of launches that fail (runtime knob only).
    pub launch_failure_rate: f64,
    /// The Confidence flags API's limit per caller IP, answered 429 beyond it; `None`: no
    /// limit (runtime knob only).
    pub confidence_flags_requests_per_second: Option<u32>,
    /// How many of the next successful writes are applied and left unanswered, whatever
    /// the rates say (runtime knob only): one chosen ambiguous failure, for tests.
    pub drop_next_writes: u32,
}

impl Runtime {
    pub(crate) fn new(
        faults: Faults,
        launch_duration: Duration,
        cloudbees_requests_per_second: Option<u32>,
        unify_requests_per_second: Option<u32>,
    ) -> Self {
        Self {
            rng: StdRng::seed_from_u64(faults.seed),
            faults,
            launch_duration,
            cloudbees_requests_per_second,
            unify_requests_per_second,
            launch_failure_rate: 0.0,
            confidence_flags_requests_per_second: None,
            drop_next_writes: 0,
        }
    }

    /// Whether the launch completing now fails.
    pub(crate) fn draw_launch_failure(&mut self) -> bool {
        self.launch_failure_rate > 0.0 && self.rng.random::<f64>() < self.launch_failure_rate
    }

    /// The JSON view served by `GET /_emulator/faults`.
    pub(crate) fn view(&self) -> FaultSettings {
        FaultSettings {
            latency_ms: Some(duration_ms(self.faults.latency)),
            latency_jitter_ms: Some(duration_ms(self.faults.latency_jitter)),
            error_rate: Some(self.faults.error_rate),
            drop_rate: Some(self.faults.drop_rate),
            drop_after_write_rate: Some(self.faults.drop_after_write_rate),
            seed: Some(self.faults.seed),
            launch_ms: Some(duration_ms(self.launch_duration)),
            cloudbees_requests_per_second: Some(self.cloudbees_requests_per_second),
            unify_requests_per_second: Some(self.unify_requests_per_second),
            launch_failure_rate: Some(self.launch_failure_rate),
            confidence_flags_requests_per_second: Some(self.confidence_flags_requests_per_second),
            drop_next_writes: Some(self.drop_next_writes),
        }
    }

    /// Applies the fields present in `update`; all or nothing. A new seed (or any update)
    /// restarts the random sequence from the (possibly new) seed, for repeatable runs.
    pub(crate) fn apply(&mut self, update: &FaultSettings) -> Result<(), String> {
        let mut faults = self.faults.clone();
        if let Some(ms) = update.latency_ms {
            faults.latency = Duration::from_millis(ms);
        }
        if let Some(ms) = update.latency_jitter_ms {
            faults.latency_jitter = Duration::from_millis(ms);
        }
        if let Some(rate) = update.error_rate {
            faults.error_rate = rate;
        }
        if let Some(rate) = update.drop_rate {
            faults.drop_rate = rate;
        }
        if let Some(rate) = update.drop_after_write_rate {
            faults.drop_after_write_rate = rate;
        }
        if let Some(seed) = update.seed {
            faults.seed = seed;
        }
        faults.validate()?;
        if let Some(rate) = update.launch_failure_rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(format!(
                "launchFailureRate must be between 0 and 1, got {rate}"
            ));
        }
        for (name, limit) in [
            (
                "cloudbeesRequestsPerSecond",
                update.cloudbees_requests_per_second,
            ),
            ("unifyRequestsPerSecond", update.unify_requests_per_second),
            (
                "confidenceFlagsRequestsPerSecond",
                update.confidence_flags_requests_per_second,
            ),
        ] {
            if limit == Some(Some(0)) {
                return Err(format!("{name} must be at least 1 (null turns it off)"));
            }
        }
        self.rng = StdRng::seed_from_u64(faults.seed);
        self.faults = faults;
        if let Some(ms) = update.launch_ms {
            self.launch_duration = Duration::from_millis(ms);
        }
        if let Some(rps) = update.cloudbees_requests_per_second {
            self.cloudbees_requests_per_second = rps;
        }
        if let Some(rps) = update.unify_requests_per_second {
            self.unify_requests_per_second = rps;
        }
        if let Some(rate) = update.launch_failure_rate {
            self.launch_failure_rate = rate;
        }
        if let Some(rps) = update.confidence_flags_requests_per_second {
            self.confidence_flags_requests_per_second = rps;
        }
        if let Some(count) = update.drop_next_writes {
            self.drop_next_writes = count;
        }
        Ok(())
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Body of `GET`/`PUT /_emulator/faults`. On PUT, absent fields keep their value;
/// `cloudbeesRequestsPerSecond: null` turns the rate limit off.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FaultSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_jitter_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_after_write_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_ms: Option<u64>,
    /// `Some(None)` (JSON `null`) turns the limit off; absent leaves it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub cloudbees_requests_per_second: Option<Option<u32>>,
    /// Like `cloudbees_requests_per_second`, for the Unify API (429 beyond it).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub unify_requests_per_second: Option<Option<u32>>,
    /// Share of launches that fail (`failedSteps` filled, state unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_failure_rate: Option<f64>,
    /// Like `unify_requests_per_second`, for the Confidence flags API (segments).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub confidence_flags_requests_per_second: Option<Option<u32>>,
    /// How many of the next successful writes to apply and leave unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_next_writes: Option<u32>,
}

fn double_option<'de, D>(deserializer: D) -> Result<Option<Option<u32>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<u32>::deserialize(deserializer).map(Some)
}

/// What to do with one request, decided before it is handled.
enum Decision {
    Error(StatusCode),
    Drop,
    Proceed {
        drop_after_write: bool,
        /// Dropped because of `drop_next_writes`.
        chosen: bool,
    },
}

/// Statuses an injected error may have: CloudBees throttles with 555, so its paths can get
/// that as well as the generic 500, 503 and 429.
fn error_statuses(service: Service) -> &'static [u16] {
    match service {
        Service::CloudBees => &[500, 503, 429, 555],
        Service::Confidence | Service::Unify | Service::Emulator => &[500, 503, 429],
    }
}

fn decide(runtime: &mut Runtime, is_write: bool, service: Service) -> (Duration, Decision) {
    let faults = &runtime.faults;
    let mut delay = faults.latency;
    if !faults.latency_jitter.is_zero() {
        let jitter_ms = duration_ms(faults.latency_jitter);
        delay += Duration::from_millis(runtime.rng.random_range(0..=jitter_ms));
    }
    // Always draw the same number of values so one knob does not shift the others' sequence.
    let error_draw: f64 = runtime.rng.random();
    let drop_draw: f64 = runtime.rng.random();
    let after_draw: f64 = runtime.rng.random();
    let statuses = error_statuses(service);
    let which = runtime.rng.random_range(0..statuses.len());
    let decision = if drop_draw < faults.drop_rate {
        Decision::Drop
    } else if error_draw < faults.error_rate {
        Decision::Error(
            statuses
                .get(which)
                .and_then(|code| StatusCode::from_u16(*code).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
    } else {
        // One of the next writes chosen to be dropped takes its turn now; given back if
        // the write fails (only a successful write is dropped).
        let chosen = is_write && runtime.drop_next_writes > 0;
        if chosen {
            runtime.drop_next_writes -= 1;
        }
        Decision::Proceed {
            drop_after_write: chosen || (is_write && after_draw < faults.drop_after_write_rate),
            chosen,
        }
    };
    (delay, decision)
}

/// The counter label of a request: method and route template, with the Confidence action
/// (`:launch`, `:updateSegment`) kept since it shares a template with GET one.
fn route_label(req: &Request) -> String {
    let method = req.method().as_str();
    let Some(template) = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    else {
        return format!("{method} (unmatched)");
    };
    let mut label = format!("{method} {template}");
    let known: &[&str] = if template.ends_with("/instances/{id}") {
        &["launch", "end", "updateSegment", "updatesegment"]
    } else if template == "/v1/segments/{id}" {
        &["allocate", "archive"]
    } else {
        &[]
    };
    if !known.is_empty()
        && req.method() == Method::POST
        && let Some((_, action)) = req.uri().path().rsplit_once(':')
    {
        // Only known actions get their own label: the suffix is the client's text.
        label.push(':');
        label.push_str(
            known
                .iter()
                .find(|k| **k == action)
                .copied()
                .unwrap_or("other"),
        );
    }
    label
}

/// Per-route request counts, for tests that check what a client sent.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    routes: BTreeMap<String, RouteCount>,
    total: u64,
}

#[derive(Debug, Default)]
struct RouteCount {
    count: u64,
    classes: BTreeMap<String, u64>,
    statuses: BTreeMap<String, u64>,
}

/// How a request ended, for the counters.
pub(crate) enum Outcome {
    Status(StatusCode),
    Dropped,
}

impl Counters {
    pub(crate) fn record(&mut self, label: String, outcome: Outcome) {
        let route = self.routes.entry(label).or_default();
        route.count += 1;
        self.total += 1;
        let (class, status) = match outcome {
            Outcome::Status(s) => (format!("{}xx", s.as_u16() / 100), s.as_u16().to_string()),
            Outcome::Dropped => ("dropped".to_owned(), "dropped".to_owned()),
        };
        *route.classes.entry(class).or_default() += 1;
        *route.statuses.entry(status).or_default() += 1;
    }

    pub(crate) fn reset(&mut self) {
        *self = Counters::default();
    }

    pub(crate) fn to_json(&self) -> Value {
        let routes: serde_json::Map<String, Value> = self
            .routes
            .iter()
            .map(|(label, c)| {
                (
                    label.clone(),
                    json!({"count": c.count, "classes": c.classes, "statuses": c.statuses}),
                )
            })
            .collect();
        json!({"total": self.total, "routes": routes})
    }
}

/// Counts every API request and injects the configured faults.
pub(crate) async fn faults_and_counters(
    State(app): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let label = route_label(&req);
    let service = Service::of_path(req.uri().path());
    let is_write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let (delay, decision) = decide(&mut app.runtime(), is_write, service);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let ctx = req.extensions().get::<ConnCtx>().cloned();
    match decision {
        Decision::Drop => {
            app.counters().record(label, Outcome::Dropped);
            drop_connection(ctx, service).await
        }
        Decision::Error(status) => {
            app.counters().record(label, Outcome::Status(status));
            let mut error = ApiError::new(service, status, "injected fault");
            if status == StatusCode::TOO_MANY_REQUESTS {
                error.retry_after_secs = crate::assumptions::retry_after_of_injected_429(service);
            }
            error.into_response()
        }
        Decision::Proceed {
            drop_after_write,
            chosen,
        } => {
            let response = next.run(req).await;
            if chosen && !response.status().is_success() {
                app.runtime().drop_next_writes += 1;
            }
            if drop_after_write && response.status().is_success() {
                app.counters().record(label, Outcome::Dropped);
                drop_connection(ctx, service).await
            } else {
                app.counters()
                    .record(label, Outcome::Status(response.status()));
                response
            }
        }
    }
}

/// Closes the request's connection without an answer: the connection task drops the
/// connection (and this future) when notified.
async fn drop_connection(ctx: Option<ConnCtx>, service: Service) -> Response {
    match ctx {
        Some(ctx) => {
            ctx.kill.notify_one();
            std::future::pending::<()>().await;
            // Not reached: the connection task drops this future.
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        None => ApiError::new(service, StatusCode::SERVICE_UNAVAILABLE, "injected fault")
            .into_response(),
    }
}

/// Whether a request from `ip` now is over `limit` requests in the last second; one that is
/// not takes a place in the window. Refused requests take none, so a client that waits
/// recovers.
fn over_limit(windows: &mut HashMap<IpAddr, VecDeque<Instant>>, ip: IpAddr, limit: u32) -> bool {
    let now = Instant::now();
    let window = windows.entry(ip).or_default();
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        window.pop_front();
    }
    if window.len() >= limit as usize {
        true
    } else {
        window.push_back(now);
        false
    }
}

/// The rate limits: each counts the requests of every caller IP over the last second in
/// windows of its own, is set by its own knob (off while `None`), and answers beyond it in
/// its service's shape.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RateLimit {
    /// CloudBees' limit, answered with HTTP 555 (its throttling status).
    CloudBees,
    /// The Unify limit (off by default; the vendor documents a 429 but no numbers), answered
    /// 429 `RESOURCE_EXHAUSTED`.
    Unify,
    /// The Confidence flags API's documented limit (50 requests per second per account),
    /// off unless the runtime knob sets it; 429 `RESOURCE_EXHAUSTED` beyond it.
    ConfidenceFlags,
}

impl RateLimit {
    fn requests_per_second(self, runtime: &Runtime) -> Option<u32> {
        match self {
            Self::CloudBees => runtime.cloudbees_requests_per_second,
            Self::Unify => runtime.unify_requests_per_second,
            Self::ConfidenceFlags => runtime.confidence_flags_requests_per_second,
        }
    }

    /// The answer's shape and status; a 429's gRPC code, derived from it, is
    /// `RESOURCE_EXHAUSTED`.
    fn refusal(self) -> (Service, StatusCode) {
        match self {
            Self::CloudBees => (
                Service::CloudBees,
                StatusCode::from_u16(555).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
            ),
            Self::Unify => (Service::Unify, StatusCode::TOO_MANY_REQUESTS),
            Self::ConfidenceFlags => (Service::Confidence, StatusCode::TOO_MANY_REQUESTS),
        }
    }
}

/// Answers a request over the rate limit its routes have (see [`RateLimit`]) without
/// handling it.
pub(crate) async fn rate_limit(
    State((app, rate_limit)): State<(Shared, RateLimit)>,
    req: Request,
    next: Next,
) -> Response {
    let limit = rate_limit.requests_per_second(&app.runtime());
    if let (Some(limit), Some(ctx)) = (limit, req.extensions().get::<ConnCtx>())
        && over_limit(&mut app.rate_windows(rate_limit), ctx.remote.ip(), limit)
    {
        let (service, status) = rate_limit.refusal();
        return ApiError::new(
            service,
            status,
            format!("rate limit exceeded: at most {limit} requests per second"),
        )
        .into_response();
    }
    next.run(req).await
}

/// Accepts `Authorization: Bearer <token>` with a configured or issued token; anything
/// else is 401 in the service's error shape.
pub(crate) async fn require_bearer(
    State(app): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let service = Service::of_path(req.uri().path());
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let caller = token.and_then(|t| app.caller(t));
    match (token, caller) {
        (Some(_), Some(caller)) => {
            let mut req = req;
            req.extensions_mut().insert(Caller(caller));
            next.run(req).await
        }
        (Some(_), None) => unauthorized(service, "the bearer token is not valid"),
        (None, _) => unauthorized(service, "missing bearer token in the Authorization header"),
    }
}

/// Who sent an authenticated request (see `AppState::caller`).
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub String);

fn unauthorized(service: Service, message: &str) -> Response {
    let mut response = if service == Service::Unify {
        // Unify answers a refused token outside its usual error envelope.
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(crate::assumptions::unify_unauthorized_body()),
        )
            .into_response()
    } else {
        ApiError::new(service, StatusCode::UNAUTHORIZED, message).into_response()
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}
