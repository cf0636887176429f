//! One module per subcommand: each defines its clap `Args` and a `run` function.

pub mod apply;
pub mod completions;
pub mod convert;
pub mod dedupe;
pub mod diff;
pub mod doctor;
pub mod emulator;
pub mod export;
pub mod fmt;
pub mod init;
pub mod man;
pub mod plan;
pub mod results;
pub mod schema;
pub mod show;
pub mod validate;
