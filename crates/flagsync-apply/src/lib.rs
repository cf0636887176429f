//! flagsync-apply: executes a [`Plan`] against the remote services.
//!
//! - [`apply`] runs the plan's dependency graph with bounded concurrency, starting each action
//!   as soon as everything it depends on has succeeded, and never starting the dependents of
//!   an action that failed. Pacing and the retry of requests that are safe to resend live in
//!   the clients of `flagsync-remote`; this crate adds no blind retries. Where a request's
//!   outcome is unknown (a rollout create or launch, a CloudBees Unify create), it reads the
//!   remote state before deciding anything, so a create happens at most once. A rollout is
//!   looked up by its id label right before it is created and again right after, so that
//!   two applies running at once never both keep a copy (see `rollout.rs`).
//! - [`check_fingerprints`] / [`ensure_unchanged`] tell whether a saved plan still matches
//!   live state, and [`check_max_deletes`] guards against mass deletion; the binary calls them
//!   before it writes anything.
//!
//! Nothing here prints: progress is reported through [`ApplyEvent`]s and the result is an
//! [`ApplyReport`].

mod cloudbees;
mod execute;
mod guards;
mod report;
mod rollout;
mod unify;

use std::time::Duration;

use flagsync_remote::{CloudBeesClient, ConfidenceClient, UnifyClient};

pub use execute::apply;
pub use guards::{
    ApplyError, Drift, MAX_LISTED, check_fingerprints, check_max_deletes, ensure_unchanged,
};
pub use report::{ApplyEvent, ApplyReport, Outcome, REPORT_FORMAT_VERSION, Status, report_schema};

// Plan types that appear in this crate's API, for callers' convenience.
pub use flagsync_plan::Plan;

/// The label that carries a rollout's flagsync id; an interrupted create is found again by it.
pub use flagsync_live::ROLLOUT_ID_LABEL;

/// The clients of the services the plan touches. An action for a service whose client is
/// `None` fails (and its dependents never run).
#[derive(Debug, Clone, Default)]
pub struct Clients {
    pub cloudbees: Option<CloudBeesClient>,
    pub confidence: Option<ConfidenceClient>,
    /// CloudBees Unify: the client that read live state, so that the names it resolved to
    /// ids (and the configurations' seeds it read) serve the writes.
    pub unify: Option<UnifyClient>,
}

/// How [`apply`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Actions in flight at once, per service (each service is paced by its own client, so a
    /// slow CloudBees queue does not hold up Confidence). Default 8; 0 counts as 1.
    pub concurrency: usize,
    /// How long to wait for a rollout's launch (or other transition) to finish.
    /// Default 10 minutes.
    pub transition_deadline: Duration,
    /// How many times a rollout (or CloudBees Unify) create may be sent when each attempt
    /// ends with an unknown outcome and a lookup (by label, by name) then proves that nothing
    /// was created. Default 3.
    pub max_create_attempts: u32,
    /// When another apply created a copy of a rollout at the same moment and this run's is
    /// the older one, how long to wait for that run to step back (un-label its copy) before
    /// stepping back too. Default 10 seconds.
    pub duplicate_wait: Duration,
}

/// Default of [`ApplyOptions::concurrency`].
pub const DEFAULT_CONCURRENCY: usize = 8;

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            transition_deadline: Duration::from_secs(600),
            max_create_attempts: 3,
            duplicate_wait: Duration::from_secs(10),
        }
    }
}
