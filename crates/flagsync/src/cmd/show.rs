//! `flagsync show PLANFILE`: a saved plan (`plan --out FILE`) rendered as `plan` renders
//! it, so a plan made in one CI job can be reviewed or posted from another without reading
//! live state again.

use std::path::PathBuf;
use std::process::ExitCode;

use flagsync_plan::{Plan, PlanError};

use crate::cmd::plan::{RenderArgs, render_framed};
use crate::output::GlobalArgs;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads only the file: no repository, no credential and no service is needed. A plan file \
of another format version is refused, as `apply --plan` refuses it.")]
pub struct Args {
    /// The saved plan, from `flagsync plan --out FILE`.
    #[arg(value_name = "PLANFILE")]
    pub file: PathBuf,
    #[command(flatten)]
    pub render: RenderArgs,
}

/// Why a plan file could not be shown.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ShowError {
    #[error("cannot read the plan {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a flagsync plan", path.display())]
    #[diagnostic(help("make one with `flagsync plan --out FILE`"))]
    NotAPlan {
        path: PathBuf,
        #[source]
        source: PlanError,
    },
}

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let plan = read(&args.file)?;
    let framing = flagsync_plan::render::Framing::default();
    print!("{}", render_framed(&plan, &args.render, global, &framing));
    Ok(ExitCode::SUCCESS)
}

fn read(path: &std::path::Path) -> Result<Plan, ShowError> {
    let text = std::fs::read_to_string(path).map_err(|source| ShowError::Read {
        path: path.to_owned(),
        source,
    })?;
    Plan::from_json(&text).map_err(|source| ShowError::NotAPlan {
        path: path.to_owned(),
        source,
    })
}
