//! A local emulator of the two services flagsync talks to, over real HTTP on one port:
//!
//! - CloudBees Feature Management public API under `/public-api/applications...`
//!   (experiments per environment, target groups per application; the applications, an
//!   application's environments, and every flag of an environment, which CloudBees' own
//!   Jenkins plugin reads). Every emulator has the application
//!   [`CLOUDBEES_DEFAULT_APPLICATION_ID`], and every application the environments
//!   [`CLOUDBEES_DEFAULT_ENVIRONMENTS`] unless set otherwise;
//! - Confidence: rollout workflows under `/v1/workflows/rollout/instances...` (the
//!   `experiments` host), segments under `/v1/segments...` (the `flags` host), analysis
//!   results under `/v2/workflows/rollout/instances/{id}/analysisResults/{r}` (the `stats`
//!   host; the how-to's `/v1` path too), and the IAM token endpoint `POST /v1/oauth/token`;
//! - CloudBees Unify feature management under `/v1` and `/v2`
//!   (`/v{1,2}/applications/{app}/flags...`, `.../target-groups...`,
//!   `.../custom-properties...`, `.../environments/{env}/configuration`), and the lookups
//!   `GET /v1/organizations/name?name=`, `GET /v1/organizations/{org}/services?typeFilter=`,
//!   `GET /v2/organizations/{org}/environments`. Every emulator has one organization
//!   ([`UNIFY_DEFAULT_ORGANIZATION_ID`], domain name [`UNIFY_DEFAULT_ORGANIZATION_DOMAIN`])
//!   with the environments [`UNIFY_DEFAULT_ENVIRONMENTS`] and one application
//!   ([`UNIFY_DEFAULT_APPLICATION_ID`]) linked to all of them.
//!
//! A client only swaps the base URL: [`RunningEmulator::cloudbees_url`] replaces
//! `https://x-api.rollout.io/public-api`, [`RunningEmulator::confidence_url`] replaces every
//! Confidence host (`experiments`, `flags.{eu,us}`, `stats.{eu,us}`, `iam.{eu,us}`),
//! [`RunningEmulator::unify_url`] replaces `https://api.cloudbees.io`.
//!
//! The real services' quirks are imitated (see `api-notes.md`, `api-notes-unify.md`);
//! everything the public documentation does not say is decided in [`assumptions`], in one
//! place.
//!
//! Control endpoints (no authentication; a loopback tool) live under `/_emulator/`; they
//! are never faulted and never counted:
//!
//! - `GET /_emulator/health` → `{"status": "ok"}`.
//! - `GET /_emulator/counters` → `{"total": N, "routes": {"<METHOD> <route template>":
//!   {"count": N, "classes": {"2xx": N, "4xx": N, "5xx": N, "dropped": N},
//!   "statuses": {"200": N, "555": N, "dropped": N}}}}`. Templates are axum's, e.g.
//!   `GET /public-api/applications/{app}/{env}/experiments` or
//!   `POST /v1/workflows/rollout/instances/{id}:launch` (`:end`, `:updateSegment`,
//!   `:updatesegment`, `:other`; `POST /v1/segments/{id}:allocate`, `:archive`). Only API requests that matched a route are counted, including those answered
//!   by an injected fault, the rate limit or a 401.
//! - `POST /_emulator/counters/reset` → the emptied counters.
//! - `PUT /_emulator/cloudbees/applications/{app}` with `{"name"?, "environments"?:
//!   [names]}`: names a CloudBees application and sets its environments (replacing the
//!   defaults), and answers `{"id", "name", "environments"}`.
//! - `GET /_emulator/faults` → `{"latencyMs", "latencyJitterMs", "errorRate", "dropRate",
//!   "dropAfterWriteRate", "seed", "launchMs", "cloudbeesRequestsPerSecond" (null = off),
//!   "unifyRequestsPerSecond" (null = off), "launchFailureRate",
//!   "confidenceFlagsRequestsPerSecond" (null = off), "dropNextWrites"}`.
//! - `PUT /_emulator/faults` with any subset of those fields: applied all or nothing (400 on
//!   a rate outside 0..=1, an unknown field or a rate limit of 0), restarts the random
//!   sequence from the seed, and answers the new settings. `launchFailureRate` (a share of
//!   launches that fail with `failedSteps`, state unchanged),
//!   `confidenceFlagsRequestsPerSecond` (the flags API's limit per caller, 429 beyond it) and
//!   `dropNextWrites` (how many of the next successful writes are applied and left
//!   unanswered, whatever the rates say: one chosen ambiguous failure) exist only here.
//! - `GET /_emulator/unify/organizations` → `{"organizations": [{"id", "domainName",
//!   "displayName", "environments": [...], "applications": [...]}]}`.
//! - `POST /_emulator/unify/organizations` with `{"id"?, "domainName", "displayName"?,
//!   "environments"?: [{"id"?, "name", "isDisabled"?}], "applications"?: [{"id"?, "name",
//!   "description"?, "repositoryUrl"?, "defaultBranch"?, "serviceType"?, "environments"?:
//!   [names; absent = all]}]}`: makes what is missing (matched by id, else by name), links
//!   the environments (each flag of the application gets a configuration there), and
//!   answers the organization as listed above. 400 on a conflict (an id in use, a name
//!   bound to another id).
//!
//! Without a route: 404; a wrong method: 405; a body over [`BODY_LIMIT`]: 413; malformed
//! JSON or JSON nested deeper than [`MAX_BODY_DEPTH`]: 400; a body not received within
//! [`BODY_READ_TIMEOUT`]: 408 and the connection is closed; always a JSON error body in the
//! shape of the service the path belongs to.

pub mod assumptions;
mod cloudbees;
mod confidence;
mod control;
mod error;
mod faults;
mod server;
mod state;
mod time;
mod unify;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::assumptions::{
    CLOUDBEES_DEFAULT_APPLICATION_ID, CLOUDBEES_DEFAULT_APPLICATION_NAME,
    CLOUDBEES_DEFAULT_ENVIRONMENTS, UNIFY_DEFAULT_APPLICATION_ID, UNIFY_DEFAULT_APPLICATION_NAME,
    UNIFY_DEFAULT_ENVIRONMENTS, UNIFY_DEFAULT_ORGANIZATION_DISPLAY_NAME,
    UNIFY_DEFAULT_ORGANIZATION_DOMAIN, UNIFY_DEFAULT_ORGANIZATION_ID,
};
pub use crate::faults::Faults;

/// The token [`EmulatorConfig::default`] accepts, so tests need no setup.
pub const DEFAULT_TOKEN: &str = "emulator-token";
/// The client credentials [`EmulatorConfig::default`] accepts at `POST /v1/oauth/token`.
pub const DEFAULT_CLIENT_ID: &str = "emulator-client";
/// See [`DEFAULT_CLIENT_ID`].
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";
/// Largest request body accepted; larger ones are answered 413.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How deep a request body (and so any stored object) may nest arrays and objects; deeper
/// ones are answered 400. Stored objects sit a few levels down in the state file, whose
/// reader allows 128: see `state.rs`.
pub const MAX_BODY_DEPTH: usize = 64;
/// How long a request body may take to arrive, from the end of its headers; a slower one
/// is answered 408 and its connection closed, so a client sending a byte now and then
/// cannot hold a connection forever.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How the emulator behaves. `Default` accepts the bearer token [`DEFAULT_TOKEN`] and the
/// client credentials [`DEFAULT_CLIENT_ID`]/[`DEFAULT_CLIENT_SECRET`], keeps state in memory,
/// completes launches after 200 ms, has no rate limits and injects no faults.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Directory holding the state file; `None` keeps state in memory only.
    pub state_dir: Option<PathBuf>,
    /// Bearer tokens accepted on both APIs (besides tokens issued by `/v1/oauth/token`).
    pub tokens: Vec<String>,
    /// `(clientId, clientSecret)` pairs accepted by the token endpoint.
    pub client_credentials: Vec<(String, String)>,
    /// How long a `:launch` keeps `pendingTransition` before the rollout turns `live`.
    pub launch_duration: Duration,
    /// CloudBees rate limit per caller IP; over it the answer is HTTP 555. `None`: no limit.
    pub cloudbees_requests_per_second: Option<u32>,
    /// Unify rate limit per caller IP; over it the answer is HTTP 429. `None`: no limit.
    pub unify_requests_per_second: Option<u32>,
    /// Fault injection.
    pub faults: Faults,
    /// Preload the resources the vendor documents (`shared/seeds/`) use in their examples
    /// (rollout `brcdajvw7dfuod7cj9iq` as a draft whose launch yields analysis result
    /// `abc123`, live rollout `bnkv2onacdpvxk8cmqbm`,
    /// target group `fooGroup` and experiment `acmeFlagControl` of application
    /// `1a23bcd4e5fg6h7890i123j4`; for Unify, application
    /// `a3b7c5d9-2f4e-8a1c-b6d4-e9f3a7b5c8d1` in the default organization with its
    /// environments, the properties `age`, `country`, `exampleProperty`, target group
    /// `BetaTesters` and flag `default.newDashboard`) and accept the documents' example
    /// tokens, so the documented requests work as written with only the host changed.
    /// Existing resources of the same names are left alone.
    pub preload_examples: bool,
    /// With a state directory: answer a write only once it is durable on disk (slower).
    /// Default `false`: writes reach the file a few milliseconds after the answer, and a
    /// clean shutdown writes everything; either way the file is replaced atomically.
    pub sync_writes: bool,
    /// Serve only the CloudBees routes the seed documents show (experiments and target
    /// groups): `GET /public-api/applications`, `.../{app}/environments` and
    /// `.../{app}/{env}/flags` answer 404, like a deployment that lacks them. Default
    /// `false`: they are served (api-notes section 3).
    pub cloudbees_seed_routes_only: bool,
}

/// Tokens and client secrets are redacted: a logged config must not leak them.
impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let client_ids: Vec<&str> = self
            .client_credentials
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        f.debug_struct("EmulatorConfig")
            .field("state_dir", &self.state_dir)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("client_ids", &client_ids)
            .field("launch_duration", &self.launch_duration)
            .field(
                "cloudbees_requests_per_second",
                &self.cloudbees_requests_per_second,
            )
            .field("unify_requests_per_second", &self.unify_requests_per_second)
            .field("faults", &self.faults)
            .field("preload_examples", &self.preload_examples)
            .field("sync_writes", &self.sync_writes)
            .field(
                "cloudbees_seed_routes_only",
                &self.cloudbees_seed_routes_only,
            )
            .finish()
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            state_dir: None,
            tokens: vec![DEFAULT_TOKEN.to_owned()],
            client_credentials: vec![(
                DEFAULT_CLIENT_ID.to_owned(),
                DEFAULT_CLIENT_SECRET.to_owned(),
            )],
            launch_duration: Duration::from_millis(200),
            cloudbees_requests_per_second: None,
            unify_requests_per_second: None,
            faults: Faults::default(),
            preload_examples: false,
            sync_writes: false,
            cloudbees_seed_routes_only: false,
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use the state directory {path}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the state file {path} is {what}, not a regular file; the emulator reads and replaces only regular files"
    )]
    StateFileKind { path: PathBuf, what: &'static str },
    #[error("the state file {path} is not readable emulator state; move it away or fix it")]
    CorruptState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the state file {path} was written by a newer emulator (format {version})")]
    NewerState { path: PathBuf, version: u32 },
    #[error("invalid emulator configuration: {0}")]
    InvalidConfig(String),
    #[error("cannot start the emulator's runtime")]
    Runtime(#[source] std::io::Error),
}

/// A running emulator on the caller's tokio runtime. Dropping it without [`shutdown`]
/// stops accepting connections; pending state is still written in the background while the
/// runtime lives. Prefer [`shutdown`], which waits for that.
///
/// [`shutdown`]: RunningEmulator::shutdown
pub struct RunningEmulator {
    addr: SocketAddr,
    server: server::ServerHandle,
}

impl std::fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts the emulator on `listen` (port 0 picks a free port) on the current tokio runtime.
pub async fn start(
    config: EmulatorConfig,
    listen: SocketAddr,
) -> Result<RunningEmulator, EmulatorError> {
    let (addr, server) = server::start(config, listen).await?;
    Ok(RunningEmulator { addr, server })
}

/// The address methods [`RunningEmulator`] and [`BackgroundEmulator`] share (both hold the
/// `addr` they listen on): one place says which base URL replaces which service's.
macro_rules! address_methods {
    () => {
        /// The address it listens on.
        pub fn addr(&self) -> SocketAddr {
            self.addr
        }
        /// `http://IP:PORT`.
        pub fn base_url(&self) -> String {
            format!("http://{}", self.addr)
        }
        /// Replaces `https://x-api.rollout.io/public-api`.
        pub fn cloudbees_url(&self) -> String {
            format!("{}/public-api", self.base_url())
        }
        /// Replaces every Confidence host: `experiments`, `flags`, `stats` and `iam`.
        pub fn confidence_url(&self) -> String {
            self.base_url()
        }
        /// Replaces `https://api.cloudbees.io` (Unify paths start with `/v1` or `/v2`).
        pub fn unify_url(&self) -> String {
            self.base_url()
        }
    };
}

impl RunningEmulator {
    address_methods!();
    /// Stops accepting, lets in-flight requests finish briefly, and writes the state file.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// An emulator on its own thread and tokio runtime, for tests and synchronous callers.
/// It stops (and writes its state) when dropped or on [`BackgroundEmulator::shutdown`].
pub struct BackgroundEmulator {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for BackgroundEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Runs the emulator on its own thread and tokio runtime; stops when dropped. For tests and
/// the CLI's embedded mode from synchronous code. Listens on `127.0.0.1:0`.
pub fn spawn_background(config: EmulatorConfig) -> Result<BackgroundEmulator, EmulatorError> {
    spawn_background_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
}

/// Like [`spawn_background`] on a chosen address.
pub fn spawn_background_on(
    config: EmulatorConfig,
    listen: SocketAddr,
) -> Result<BackgroundEmulator, EmulatorError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("flagsync-emulator")
        .enable_all()
        .build()
        .map_err(EmulatorError::Runtime)?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("flagsync-emulator".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                match start(config, listen).await {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok(running.addr()));
                        // Either an explicit stop or the handle being dropped ends it.
                        let _ = stop_rx.await;
                        running.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(EmulatorError::Runtime)?;
    let addr = match ready_rx.recv() {
        Ok(result) => result?,
        Err(_) => {
            let _ = thread.join();
            return Err(EmulatorError::Runtime(std::io::Error::other(
                "the emulator thread ended before it was ready",
            )));
        }
    };
    Ok(BackgroundEmulator {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

impl BackgroundEmulator {
    address_methods!();
    /// Stops the server, writes its state and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for BackgroundEmulator {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Shared by every handler.
pub(crate) type Shared = Arc<state::AppState>;
