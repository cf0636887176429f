//! Manifest kinds, YAML loading with spans, validation and diagnostics.
//!
//! [`load`] reads a repository from a [`flagsync_source::Source`] into a [`Repository`]
//! (configuration, target groups, experiments per environment, rollouts), checks every
//! manifest on its own and across files, and returns every problem as a [`Diagnostic`] that
//! points at `file:line:col`. It never stops at the first problem and never fails.
//!
//! [`write`] is the other direction: live resources back into manifest files (export).

mod code;
pub mod defaults;
mod diagnostic;
mod kind;
mod load;
pub mod model;
mod repository;
mod rules;
mod schema;
pub mod write;
mod yaml;

pub use code::Code;
pub use diagnostic::{Diagnostic, Severity, did_you_mean};
pub use kind::{Kind, Provider, TagField, UnknownKind};
pub use load::load;
pub use repository::{
    ARCHIVED_FOLDER, CONFIG_FILE, Casc, CascEnvironment, Environment, Item, LEGACY_ENVIRONMENT,
    Layout, Loaded, Repository, in_archived_folder,
};
pub use rules::{
    is_comparable_version, is_rfc3339, is_showable_env_name, is_valid_rollout_id, is_valid_semver,
    split_adds_up,
};
pub use schema::schemas;
pub use yaml::{Comments, MAX_DEPTH, MAX_NODES, comments};
