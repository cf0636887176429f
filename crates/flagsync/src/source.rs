//! Opens the source a command reads manifests from: a directory, or a git revision.

use std::path::{Path, PathBuf};

use flagsync_source::{DirSource, GitSource, GitWorkdirSource, Source, SourceError};
use miette::IntoDiagnostic;

/// The repository a command reads, as its arguments name it: a directory, and the git
/// revision to read instead of the files on disk (`--ref`). Each command words their help in
/// its own terms (`mut_arg("dir", ...)`, `mut_arg("rev", ...)`).
#[derive(Debug, clap::Args)]
pub struct RepoArgs {
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[arg(long = "ref", value_name = "REV")]
    pub rev: Option<String>,
}

impl RepoArgs {
    /// The source of the repository named ([`open`]).
    pub fn open(&self) -> miette::Result<Box<dyn Source>> {
        open(&self.dir, self.rev.as_deref())
    }
}

/// The repository at `dir`, read from disk, or at git revision `rev` when one is given.
///
/// Read from disk inside a git repository, environment branches (`branch: Staging` in
/// flagsync.yaml) come from that repository, so a checkout of a branch-per-environment
/// repository validates without `--ref`.
pub fn open(dir: &Path, rev: Option<&str>) -> miette::Result<Box<dyn Source>> {
    let source: Box<dyn Source> = match rev {
        None => match GitWorkdirSource::open(dir) {
            Ok(source) => Box::new(source),
            Err(SourceError::NotARepository { .. }) => {
                Box::new(DirSource::open(dir).into_diagnostic()?)
            }
            Err(e) => return Err(e).into_diagnostic(),
        },
        Some(rev) => Box::new(GitSource::open(dir, rev).into_diagnostic()?),
    };
    Ok(source)
}
