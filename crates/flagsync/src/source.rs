//! Opens the source a command reads manifests from: a directory, or a git revision.

use std::path::Path;

use flagsync_source::{DirSource, Source};

// Called by validate, plan and diff as they are wired to it.
#[allow(dead_code)]
/// The repository at `dir`, read from disk, or at git revision `rev` when one is given.
pub fn open(dir: &Path, rev: Option<&str>) -> miette::Result<Box<dyn Source>> {
    match rev {
        None => Ok(Box::new(DirSource::open(dir).map_err(|e| miette::miette!("{e}"))?)),
        Some(rev) => Err(miette::miette!(
            "reading git revision `{rev}` is not available in this build yet"
        )),
    }
}
