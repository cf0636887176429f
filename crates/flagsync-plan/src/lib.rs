//! flagsync-plan: the pure planning core. It takes a desired model and a live model (both
//! already normalized to canonical JSON) and returns a [`Plan`]: a DAG of actions carrying
//! RFC 6902 patches, rollout steps and fingerprints, plus renderers for humans, machines
//! and pull-request comments. No I/O happens here: no network, no files, no clock.

pub mod canonical;
mod dag;
pub mod diff;
mod error;
mod model;
pub mod normalize;
mod planner;
pub mod render;
pub mod rollout;
pub mod unify;

pub use canonical::fingerprint;
pub use diff::{PatchOp, diff, to_json_patch};
pub use error::PlanError;
pub use model::{
    Action, ActionDoc, DesiredResource, FORMAT_VERSION, Kind, LiveResource, ManagedScope, Metadata,
    Operation, Origin, Plan, PlanOptions, Provider, ProviderScope, RepoRevision, ResourceKey,
    Summary, TargetFilter, Undeclared, UndeclaredDoc,
};
pub use planner::plan;
pub use render::{HumanOptions, render_human, render_json, render_markdown};
pub use rollout::{RolloutStep, RolloutSteps, rollout_steps};
