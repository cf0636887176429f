//! HTTP clients for the services flagsync manages: CloudBees Feature Management through
//! the legacy API (experiments and target groups) and through CloudBees Unify
//! ([`UnifyClient`]: properties, target groups, flags and their configurations), and
//! Confidence (rollouts).
//!
//! This is the only crate (besides the emulator) that speaks HTTP. It owns:
//! - authentication: [`Secret`] tokens that never print, Confidence client credentials
//!   exchanged for a cached, refreshed access token;
//! - pacing: one [`Pacer`] per client (and one more for Confidence's flags API, under its
//!   documented limit), shared by clones and concurrent tasks;
//! - retries per [`RetryPolicy`]: reads and idempotent writes (GET, PUT, PATCH, DELETE,
//!   `:updatesegment`) retry on 429, 555, 500/502/503/504, timeouts and broken connections,
//!   honouring `Retry-After`, else with exponential backoff and full jitter (CloudBees Unify
//!   sends no `Retry-After` with its 429); creates and `:launch` retry only when the request certainly had
//!   no effect (429, 555, connection never established) and otherwise report
//!   [`RemoteError::Ambiguous`];
//! - URL policy: `https://`, or `http://` to loopback only unless explicitly allowed; every
//!   name percent-encoded as one path segment;
//! - [`fetch_live_state`]: the live state in the fewest requests (against CloudBees one
//!   flags list per environment, and the older list-plus-GETs where a deployment lacks it).
//!
//! What the services store comes back typed once ([`LiveRollout`], [`LiveExperiment`],
//! [`LiveTargetGroup`], from `flagsync-live`): a rollout's instance id, flagsync id and
//! pending transition are read here and nowhere else.
//!
//! Nothing here prints; requests are traced at `debug` (method, path, status, attempt) and
//! retries at `warn`, never with a credential.

mod cloudbees;
mod confidence;
mod error;
mod http;
mod live;
mod pacer;
mod retry;
mod secret;
mod unify;
mod url;

pub use cloudbees::{
    CloudBeesClient, CloudBeesSettings, DEFAULT_CLOUDBEES_REQUESTS_PER_SECOND,
    DEFAULT_CLOUDBEES_URL,
};
pub use confidence::{
    CONFIDENCE_FLAGS_REQUESTS_PER_SECOND, ConfidenceAuth, ConfidenceClient, ConfidenceRegion,
    ConfidenceSettings, ConfidenceUrls, DEFAULT_CONFIDENCE_EXPERIMENTS_URL,
    DEFAULT_CONFIDENCE_FLAGS_REQUESTS_PER_SECOND, DEFAULT_CONFIDENCE_REQUESTS_PER_SECOND,
};
pub use error::{RemoteError, Result, Service};
pub use flagsync_live::{
    DUPLICATE_OF_LABEL, FailedStep, LiveApplication, LiveEnvironment, LiveExperiment,
    LiveFlagConfiguration, LiveRollout, LiveSnapshot, LiveTargetGroup, LiveUnify, LiveUnifyObject,
    PendingTransition, ROLLOUT_ID_LABEL, labels,
};
pub use http::HttpSettings;
pub use live::{
    CloudBeesScope, ConfidenceScope, LiveProgress, LiveRequest, SegmentScope, UnifyScope,
    fetch_live_state, fetch_live_state_with_progress,
};
pub use pacer::Pacer;
pub use retry::{MAX_RETRY_AFTER, RetryPolicy, parse_retry_after};
pub use secret::Secret;
pub use unify::{
    DEFAULT_UNIFY_REQUESTS_PER_SECOND, DEFAULT_UNIFY_URL, KeptFields, UnifyAccount, UnifyClient,
    UnifyEnvironment, UnifyObject, UnifySettings, looks_like_uuid,
};
pub use url::{
    CLOUDBEES_HOSTS, CONFIDENCE_HOSTS, documented_hosts, encode_segment, is_loopback_host,
    is_trusted_url, loopback_origin, normalize_host, url_host,
};
