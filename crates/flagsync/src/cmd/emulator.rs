use std::process::ExitCode;

use crate::output::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    Err(super::not_yet("emulator"))
}
