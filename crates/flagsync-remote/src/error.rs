//! The one error type of this crate.

use std::fmt;
use std::time::Duration;

use flagsync_live::FailedStep;

/// Which remote service an error came from, so the binary can name the right environment
/// variable or setting in its hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// CloudBees Feature Management public API.
    CloudBees,
    /// Confidence rollout workflow API (including its IAM token endpoint).
    Confidence,
    /// CloudBees Unify API (`api.cloudbees.io`).
    Unify,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::CloudBees => "CloudBees",
            Service::Confidence => "Confidence",
            Service::Unify => "CloudBees Unify",
        })
    }
}

/// Everything that can go wrong talking to a remote service.
///
/// URLs in errors are the URLs requested, without the query string (names percent-encoded
/// as sent; a base URL never carries credentials); no variant ever carries a credential.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum RemoteError {
    /// The service answered with an unexpected HTTP status.
    #[error("{service} {method} {url}: HTTP {status}{}", describe(.code, .message))]
    Http {
        service: Service,
        status: u16,
        method: String,
        url: String,
        /// `code` from the error body `{code, message}`, when present.
        code: Option<i64>,
        /// `message` from the error body (or its first bytes when it is not JSON).
        message: Option<String>,
    },

    /// 409: a JSON Patch `test` failed, or the resource changed concurrently. Re-read and plan
    /// again.
    #[error("conflict on {resource}: {message}")]
    Conflict { resource: String, message: String },

    /// 404 on an operation that needs the resource to exist. On a list, what answers 404 is
    /// the base URL or the application, never an item: `help` says what is expected.
    #[error("{resource} not found: HTTP 404 on {method} {url}")]
    NotFound {
        resource: String,
        method: String,
        url: String,
        #[help]
        help: Option<&'static str>,
    },

    /// A non-idempotent request (a rollout create, a launch) failed in a way that leaves
    /// open whether the server acted on it. Do not resend blindly: look the resource up first
    /// (for rollouts: [`crate::ConfidenceClient::find_rollouts_by_label`]).
    #[error(
        "{service} {method} {url}: outcome unknown, the request may have reached the server ({reason})"
    )]
    Ambiguous {
        service: Service,
        method: String,
        url: String,
        reason: String,
    },

    /// 401 or 403: the credentials were rejected.
    #[error("{service} rejected the credentials (HTTP {status} on {method} {url}){}", describe(&None, .message))]
    Unauthorized {
        service: Service,
        status: u16,
        method: String,
        url: String,
        message: Option<String>,
    },

    /// No answer within the request timeout.
    #[error("{service} {method} {url}: timed out")]
    Timeout {
        service: Service,
        method: String,
        url: String,
    },

    /// The connection failed (refused, reset, TLS, DNS).
    #[error("{service} {method} {url}: {reason}")]
    Transport {
        service: Service,
        method: String,
        url: String,
        reason: String,
    },

    /// A 2xx answer whose body is not what the API documents.
    #[error("{service} {method} {url}: unexpected response: {reason}")]
    Decode {
        service: Service,
        method: String,
        url: String,
        reason: String,
    },

    /// A plain `http://` URL to a host that is not loopback, without `allow_insecure_http`.
    #[error(
        "refusing plain http:// to non-loopback host {host}: use https, or allow insecure HTTP explicitly"
    )]
    InsecureUrl { host: String },

    /// A base URL that cannot be used.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A name that cannot be addressed in a URL path (`.` or `..`), or a resource name of the
    /// wrong shape.
    #[error("cannot address {what} {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },

    /// Settings that cannot work (for example a request rate of zero).
    #[error("invalid setting {setting}: {reason}")]
    InvalidSettings {
        setting: &'static str,
        reason: String,
    },

    /// A rollout action finished with failed steps.
    #[error("rollout {rollout}: transition failed: {}", join_steps(.steps))]
    TransitionFailed {
        rollout: String,
        steps: Vec<FailedStep>,
    },

    /// CloudBees Unify: the organization has no application with this id or name.
    #[error("CloudBees Unify: organization {organization} has no application {application:?}")]
    UnknownApplication {
        application: String,
        organization: String,
        #[help]
        help: String,
    },

    /// CloudBees Unify: the organization has no environment of this name. `known` are the
    /// organization's environments, for a caller that suggests the closest.
    #[error("CloudBees Unify: the organization has no environment named {name:?}")]
    UnknownEnvironment {
        name: String,
        known: Vec<String>,
        #[help]
        help: String,
    },

    /// CloudBees Unify: the environment exists but the application cannot use it.
    #[error(
        "CloudBees Unify: environment {name:?} is not linked to application {application}, so it has no flag configurations"
    )]
    #[diagnostic(help(
        "link the environment to the application in CloudBees Unify, or remove it from flagsync.yaml"
    ))]
    EnvironmentNotLinked { name: String, application: String },

    /// A bug in this crate (a reader task panicked); please report it.
    #[error("internal error: {reason}")]
    Internal { reason: String },

    /// The retry or wait deadline passed before the operation succeeded.
    #[error("{operation}: gave up after {attempts} attempt(s) in {elapsed:?}{}", last_error(.last))]
    DeadlineExceeded {
        operation: String,
        attempts: u32,
        elapsed: Duration,
        /// The last failure seen before giving up, if any.
        last: Option<Box<RemoteError>>,
    },
}

impl RemoteError {
    /// The HTTP status behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Http { status, .. } | RemoteError::Unauthorized { status, .. } => {
                Some(*status)
            }
            RemoteError::Conflict { .. } => Some(409),
            RemoteError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// True for errors that say nothing certain about whether a write happened.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, RemoteError::Ambiguous { .. })
    }
}

fn describe(code: &Option<i64>, message: &Option<String>) -> String {
    match (code, message) {
        (_, Some(m)) if !m.is_empty() => format!(": {m}"),
        (Some(c), _) => format!(" (code {c})"),
        _ => String::new(),
    }
}

fn join_steps(steps: &[FailedStep]) -> String {
    if steps.is_empty() {
        return "no step details".to_owned();
    }
    steps
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn last_error(last: &Option<Box<RemoteError>>) -> String {
    match last {
        Some(e) => format!("; last error: {e}"),
        None => String::new(),
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;
