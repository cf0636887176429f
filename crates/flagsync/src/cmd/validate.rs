use std::process::ExitCode;

use clap::ValueEnum;

use crate::diagnostics::{self, Summary};
use crate::output::GlobalArgs;
use crate::source::RepoArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
    /// GitHub Actions workflow commands: annotations on the pull request's lines.
    Github,
}

#[derive(Debug, clap::Args)]
#[command(
    mut_arg("dir", |a| a.help("The repository to check")),
    mut_arg("rev", |a| a.help("Check this git revision of the repository instead of the files on disk")),
)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Fail on warnings too.
    #[arg(long)]
    pub strict: bool,
    /// `json` prints a stable document (`format_version` 1) on stdout; `github` prints
    /// `::error`/`::warning` workflow commands (annotations in GitHub Actions).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let source = args.repo.open()?;
    let loaded = flagsync_pipeline::load(source.as_ref());
    let summary = Summary::of(&loaded);
    match args.format {
        Format::Human => {
            diagnostics::print_human(&loaded);
            println!("{}", summary.line());
        }
        Format::Json => {
            let config = loaded.repository.config.as_ref();
            let metadata = crate::metadata::of(source.as_ref(), config, &[]);
            println!("{}", diagnostics::json(&loaded, &summary, &metadata));
        }
        Format::Github => {
            print!("{}", crate::github::annotations(&loaded, &args.repo.dir));
            println!("{}", summary.line());
        }
    }
    let failed = summary.errors > 0 || (args.strict && summary.warnings > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
