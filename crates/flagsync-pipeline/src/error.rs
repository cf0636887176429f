//! The one error type of the pipeline.

use flagsync_live::ROLLOUT_ID_LABEL;
use flagsync_plan::PlanError;
use flagsync_remote::RemoteError;
use flagsync_source::SourceError;

/// Which revision of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Base,
    Head,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::Head => "head",
        })
    }
}

/// Why a step stopped. Manifest problems themselves are not errors of this type: they are
/// the repository's diagnostics, shown through the [`crate::Observer`]; this only says
/// that they stop the command.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[non_exhaustive]
pub enum PipelineError {
    #[error("the repository has {errors} error(s)")]
    #[diagnostic(help(
        "run `flagsync validate` for the full report; nothing was sent to any service"
    ))]
    Invalid { errors: usize },

    #[error(
        "this repository has no flagsync.yaml, so flagsync does not know which application to talk to"
    )]
    #[diagnostic(help(
        "add a flagsync.yaml naming the CloudBees application and the token's environment variable (see examples/quickstart/flagsync.yaml)"
    ))]
    NoConfig,

    #[error("flagsync.yaml could not be read")]
    UnreadableConfig,

    #[error("--env {name}: no such CloudBees environment in flagsync.yaml")]
    UnknownEnvironment {
        name: String,
        #[help]
        help: String,
    },

    #[error(
        "CloudBees Unify: the organization has no environment named {name:?}, which flagsync.yaml names"
    )]
    UnknownUnifyEnvironment {
        name: String,
        #[help]
        help: String,
    },

    #[error(
        "--env: flagsync.yaml configures no `cloudbees` provider, so there is no environment to choose"
    )]
    EnvironmentsWithoutCloudBees,

    #[error("--target {target} matches no resource declared or live")]
    UnknownTarget {
        target: String,
        #[help]
        help: String,
    },

    /// The remote error's help (what a 404 on a list means) is this one's.
    #[error("reading live state")]
    #[diagnostic(transparent)]
    LiveState(#[source] RemoteError),

    #[error("reading the environments of the CloudBees application")]
    ListEnvironments(#[source] RemoteError),

    #[error(
        "flagsync.yaml names {} environment(s) that CloudBees application {application} does not have: {}",
        unknown.len(),
        unknown.join(", ")
    )]
    #[diagnostic(help(
        "fix the names in flagsync.yaml (the application has: {}); nothing else was read, nothing was sent",
        known.join(", ")
    ))]
    UnknownEnvironments {
        application: String,
        unknown: Vec<String>,
        known: Vec<String>,
    },

    #[error("planning")]
    Plan(#[source] PlanError),

    #[error(
        "{} resource(s) exist more than once in the live services, and flagsync manages one of each:\n{}",
        duplicates.len(),
        duplicates.iter().map(|d| format!("  {}: {}", d.key, d.copies.join(", "))).collect::<Vec<_>>().join("\n")
    )]
    #[diagnostic(help(
        "keep one rollout of each with `flagsync dedupe --keep INSTANCE` (repeatable): it removes the {ROLLOUT_ID_LABEL} label from the others, since Confidence has no call that deletes a rollout; `flagsync dedupe` lists the copies with their creation times. Nothing was sent"
    ))]
    Duplicates {
        duplicates: Vec<crate::steps::Duplicate>,
    },

    #[error("cannot read the {side} revision `{rev}`")]
    OpenRevision {
        side: Side,
        rev: String,
        #[source]
        source: SourceError,
    },

    #[error("the head revision `{rev}` has {errors} error(s)")]
    #[diagnostic(help(
        "fix them in the head revision; `flagsync validate --ref {rev}` shows the full report"
    ))]
    InvalidHead { rev: String, errors: usize },

    #[error("comparing")]
    Compare(#[source] PlanError),

    #[error("listing rollouts")]
    ListRollouts(#[source] RemoteError),

    #[error(
        "--keep {instance}: no rollout of that instance id shares its flagsync id with another"
    )]
    #[diagnostic(help(
        "name one of the copies `flagsync dedupe` lists{}; nothing was sent",
        if copies.is_empty() { String::new() } else { format!(": {}", copies.join(", ")) }
    ))]
    KeepNotACopy {
        instance: String,
        copies: Vec<String>,
    },

    #[error("--keep {first} and --keep {second} are both copies of rollout {id}; keep one")]
    #[diagnostic(help("name one instance per rollout id; nothing was sent"))]
    KeepTwice {
        id: String,
        first: String,
        second: String,
    },

    #[error("{} rollouts carry {ROLLOUT_ID_LABEL}={wanted}: {}", names.len(), names.join(", "))]
    #[diagnostic(help("pass the instance id of the one you mean"))]
    AmbiguousRollout { wanted: String, names: Vec<String> },

    #[error(
        "no rollout has {ROLLOUT_ID_LABEL}={wanted}, and no rollout instance has the id {wanted:?}"
    )]
    #[diagnostic(help(
        "pass a rollout manifest id (its flagsync-id label) or a Confidence instance id"
    ))]
    RolloutNotFound { wanted: String },

    #[error("reading rollout {wanted}")]
    ReadRollout {
        wanted: String,
        #[source]
        source: RemoteError,
    },

    #[error("reading analysis result {name}")]
    ReadAnalysisResult {
        name: String,
        #[source]
        source: RemoteError,
    },
}
