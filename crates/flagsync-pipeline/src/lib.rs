//! flagsync-pipeline: the steps `plan`, `apply`, `export` and `diff` share, as library
//! calls.
//!
//! 1. [`load_valid`]: read and validate the repository; nothing is sent anywhere when it
//!    has errors.
//! 2. [`read_live`]: check the configured CloudBees environments against the application
//!    ([`check_environments`]), then read live state in a [`LiveScope`] with the fewest
//!    requests.
//! 3. [`live_resources`] and [`plan`]: normalize both sides and plan, with [`Options`].
//!
//! [`compare`] plans one git revision against another, offline (`flagsync diff`);
//! [`doctor`] checks that each configured provider can be used (`flagsync doctor`);
//! [`results::rollout_results`] finds a rollout and reads its analysis results
//! (`flagsync results`); [`dedupe`] finds the rollouts that carry one flagsync id and
//! keeps one of each (`flagsync dedupe`); [`export`] is what `flagsync export` writes from;
//! [`convert`] writes a legacy repository as a CloudBees Unify CasC tree (`flagsync convert`).
//!
//! Nothing here prints: what a command shows while the steps run (diagnostics, the
//! progress of reading live state) goes through an [`Observer`], and failures are
//! [`PipelineError`]s. Connecting clients from `flagsync.yaml` (tokens from the
//! environment, URL overrides, the embedded emulator) is the binary's wiring; the steps
//! take the clients as [`Services`].

pub mod compare;
pub mod convert;
pub mod dedupe;
pub mod doctor;
mod error;
pub mod export;
pub mod results;
mod steps;

pub use compare::{BranchNote, Comparison, compare};
pub use error::{PipelineError, Side};
pub use flagsync_remote::LiveProgress;
pub use steps::{
    Duplicate, LiveScope, Observer, Options, Services, Silent, check_duplicates,
    check_environments, config, live_resources, load, load_valid, plan, read_live,
};
