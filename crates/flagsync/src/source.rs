//! Opens the source a command reads manifests from: a directory, or a git revision.

use std::path::Path;

use flagsync_source::{DirSource, GitSource, GitWorkdirSource, Source, SourceError};
use miette::IntoDiagnostic;

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
