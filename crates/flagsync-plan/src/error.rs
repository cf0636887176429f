use thiserror::Error;

/// Everything planning can refuse.
#[derive(Debug, Error, miette::Diagnostic, Clone, PartialEq, Eq)]
pub enum PlanError {
    #[error("`{input}` is not a valid resource address: {reason}")]
    InvalidKey { input: String, reason: String },

    #[error("{key} is declared more than once")]
    DuplicateDesired { key: String },

    #[error(
        "{key} exists more than once in the live service (remote ids: {remote_ids}); \
         delete the extra copies, then plan again"
    )]
    DuplicateLive { key: String, remote_ids: String },

    #[error("two resources share the action id `{id}`")]
    DuplicateActionId { id: String },

    #[error("dependency cycle between {}", actions.join(", "))]
    Cycle { actions: Vec<String> },

    #[error("action `{action}` depends on `{missing}`, which is not in the plan")]
    UnknownDependency { action: String, missing: String },

    #[error(
        "unsupported plan format version {}; this flagsync reads version {supported}",
        found.map_or_else(|| "(missing)".to_owned(), |v| v.to_string())
    )]
    UnsupportedFormatVersion { found: Option<u64>, supported: u32 },

    #[error("invalid plan file: {0}")]
    InvalidPlan(String),
}
