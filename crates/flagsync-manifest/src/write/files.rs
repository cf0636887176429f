//! Files of the repository an export writes into.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::File;

/// Why files could not be written. Nothing is written when any file would be overwritten
/// without `force`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WriteError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "export would overwrite {} existing file(s) whose content differs from live state:\n{}",
        files.len(),
        files.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n")
    )]
    #[diagnostic(help(
        "pass --force to overwrite them (then review the changes with `git diff`); nothing was written"
    ))]
    WouldOverwrite { files: Vec<String> },
}

/// What [`RepoFiles::write_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Files written, new or overwritten.
    pub written: usize,
    pub overwritten: usize,
    /// Files whose content was already the one to write.
    pub unchanged: usize,
}

/// The files of a repository on disk.
#[derive(Debug, Clone)]
pub struct RepoFiles {
    root: PathBuf,
}

impl RepoFiles {
    pub fn open(root: &Path) -> Result<RepoFiles, WriteError> {
        Ok(RepoFiles {
            root: root.to_owned(),
        })
    }

    /// The names of the entries of directory `dir` (relative), empty when it does not exist.
    pub fn names_in(&self, dir: &str) -> Result<BTreeSet<String>, WriteError> {
        Ok(std::fs::read_dir(self.root.join(dir))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Writes `files`, skipping those whose content is already right. Refuses, writing
    /// nothing, when a file with other content exists and `force` is not set.
    pub fn write_all(&self, files: &[File], force: bool) -> Result<Written, WriteError> {
        let mut writes = Vec::new();
        let mut overwrites = Vec::new();
        let mut unchanged = 0usize;
        for file in files {
            let path = self.root.join(&file.rel);
            match std::fs::read(&path) {
                Ok(existing) if existing == file.content.as_bytes() => unchanged += 1,
                Ok(_) => {
                    overwrites.push(file.rel.clone());
                    writes.push(file);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => writes.push(file),
                Err(source) => return Err(WriteError::Read { path, source }),
            }
        }
        if !overwrites.is_empty() && !force {
            return Err(WriteError::WouldOverwrite { files: overwrites });
        }
        for file in &writes {
            write_file(&self.root.join(&file.rel), &file.content)?;
        }
        Ok(Written {
            written: writes.len(),
            overwritten: overwrites.len(),
            unchanged,
        })
    }
}

/// Writes through a temporary file and a rename, so an interrupted export never leaves a
/// half-written manifest.
fn write_file(path: &Path, content: &str) -> Result<(), WriteError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| WriteError::CreateDir {
            path: parent.to_owned(),
            source,
        })?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.flagsync-tmp"));
    std::fs::write(&tmp, content).map_err(|source| WriteError::Write {
        path: tmp.clone(),
        source,
    })?;
    std::fs::rename(&tmp, path).map_err(|source| WriteError::Write {
        path: path.to_owned(),
        source,
    })
}
