//! flagsync-plan: the pure planning core. It takes a desired model and a live model (both
//! already normalized to canonical JSON) and returns a [`Plan`]: a DAG of actions carrying
//! RFC 6902 patches, rollout steps and fingerprints, plus renderers for humans, machines
//! and pull-request comments. No I/O happens here: no network, no files, no clock.

pub mod canonical;
pub mod diff;

pub use canonical::fingerprint;
pub use diff::{PatchOp, diff};
