//! The files of the repository an export writes into, confined to it: a repository is
//! untrusted input, so a symbolic link in it must never make export read or write elsewhere.
//!
//! Directories are followed only while they stay inside the repository root; a manifest that
//! is a link is never read or replaced; each file is written to a fresh temporary file created
//! exclusively (`O_EXCL`, so nothing planted at its name is followed) in the target folder and
//! then renamed over the target, so an interrupted export never leaves half a manifest.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Component, Path, PathBuf};

use super::File;

/// Why files could not be written. Nothing is written when any file would be overwritten
/// without `force`, or when any path is refused.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum WriteError {
    #[error("cannot open the repository {}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
        "{path} leads outside the repository (a symbolic link, or `..`); flagsync writes only inside it"
    )]
    #[diagnostic(help(
        "make it a directory of the repository, or point flagsync.yaml at one; nothing was written"
    ))]
    OutsideRepository { path: String },
    #[error("{path} is a symbolic link; export does not read or write through links")]
    #[diagnostic(help(
        "remove the link, and export writes the manifest there as a regular file; nothing was written"
    ))]
    Symlink { path: String },
    #[error("{path} is not a {expected}")]
    NotA {
        path: String,
        expected: &'static str,
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
    /// Files removed because a file written in another folder replaces them (a flag
    /// archived or restored).
    pub moved: usize,
}

/// The files of a repository on disk, addressed by paths relative to its root with `/`.
#[derive(Debug, Clone)]
pub struct RepoFiles {
    /// Canonical: every path export touches resolves below it.
    root: PathBuf,
}

impl RepoFiles {
    pub fn open(root: &Path) -> Result<RepoFiles, WriteError> {
        let root = fs::canonicalize(root).map_err(|source| WriteError::Root {
            path: root.to_owned(),
            source,
        })?;
        Ok(RepoFiles { root })
    }

    /// The directory `rel` (relative, with `/`) on disk, created when missing, every step
    /// checked like export's own folders: a directory, or a link to one inside the root.
    /// For other things flagsync keeps in a repository (the embedded emulator's state).
    pub fn directory(&self, rel: &str) -> Result<PathBuf, WriteError> {
        self.dir(rel, true)?.ok_or_else(|| WriteError::NotA {
            path: rel.to_owned(),
            expected: "directory",
        })
    }

    /// The names of the entries of directory `dir`, empty when it does not exist.
    pub fn names_in(&self, dir: &str) -> Result<BTreeSet<String>, WriteError> {
        let Some(path) = self.dir(dir, false)? else {
            return Ok(BTreeSet::new());
        };
        let entries = fs::read_dir(&path).map_err(|source| WriteError::Read { path, source })?;
        Ok(entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }

    /// Writes `files`, skipping those whose content is already right, and removes the files
    /// they replace. Refuses, writing nothing, when a file with other content exists or one
    /// would be removed and `force` is not set, or when a path leads outside the repository
    /// or is a link.
    pub fn write_all(&self, files: &[File], force: bool) -> Result<Written, WriteError> {
        let mut writes = Vec::new();
        let mut overwrites = Vec::new();
        let mut removals = Vec::new();
        let mut unchanged = 0usize;
        for file in files {
            match self.existing(&file.rel)? {
                Some(existing) if existing == file.content.as_bytes() => unchanged += 1,
                Some(_) => {
                    overwrites.push(file.rel.clone());
                    writes.push(file);
                }
                None => writes.push(file),
            }
            if let Some(old) = &file.replaces
                && self.existing(old)?.is_some()
            {
                overwrites.push(format!("{old} (moves to {})", file.rel));
                removals.push(old.as_str());
            }
        }
        if !overwrites.is_empty() && !force {
            return Err(WriteError::WouldOverwrite { files: overwrites });
        }
        for file in &writes {
            self.write(&file.rel, &file.content)?;
        }
        // Only after every new file is in place, so that an interruption leaves a duplicate
        // to remove rather than a lost manifest.
        for old in &removals {
            self.remove(old)?;
        }
        Ok(Written {
            written: writes.len(),
            overwritten: overwrites.len() - removals.len(),
            unchanged,
            moved: removals.len(),
        })
    }

    /// Removes the regular file `rel`; a link is refused, an absent file is fine.
    fn remove(&self, rel: &str) -> Result<(), WriteError> {
        let (dir, name) = split(rel)?;
        let Some(dir) = self.dir(dir, false)? else {
            return Ok(());
        };
        let path = dir.join(name);
        if !self.is_file_or_absent(&path, rel)? {
            return Ok(());
        }
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(WriteError::Write { path, source }),
        }
    }

    /// The content of file `rel`, `None` when it does not exist.
    fn existing(&self, rel: &str) -> Result<Option<Vec<u8>>, WriteError> {
        let (dir, name) = split(rel)?;
        let Some(dir) = self.dir(dir, false)? else {
            return Ok(None);
        };
        let path = dir.join(name);
        if !self.is_file_or_absent(&path, rel)? {
            return Ok(None);
        }
        fs::read(&path)
            .map(Some)
            .map_err(|source| WriteError::Read { path, source })
    }

    /// Writes `content` to file `rel` through a temporary file in its folder.
    fn write(&self, rel: &str, content: &str) -> Result<(), WriteError> {
        let (dir, name) = split(rel)?;
        let Some(dir) = self.dir(dir, true)? else {
            return Err(WriteError::NotA {
                path: rel.to_owned(),
                expected: "directory",
            });
        };
        let write_error = |path: &Path| {
            let path = path.to_owned();
            move |source| WriteError::Write { path, source }
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".flagsync-").suffix(".tmp");
        // The mode a plain `create` would give (the umask applies), not the 0600 of
        // temporary files: these are the repository's files.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut tmp = builder.tempfile_in(&dir).map_err(write_error(&dir))?;
        tmp.write_all(content.as_bytes())
            .map_err(write_error(tmp.path()))?;
        let path = dir.join(name);
        // Checked again right before the rename, which replaces a link rather than following
        // it in any case.
        self.is_file_or_absent(&path, rel)?;
        tmp.persist(&path)
            .map_err(|e| WriteError::Write {
                path,
                source: e.error,
            })
            .map(drop)
    }

    /// Whether `path` (file `rel`) is a regular file; `false` when it does not exist. A link
    /// or anything else is refused.
    fn is_file_or_absent(&self, path: &Path, rel: &str) -> Result<bool, WriteError> {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => Err(WriteError::Symlink {
                path: rel.to_owned(),
            }),
            Ok(meta) if meta.is_file() => Ok(true),
            Ok(_) => Err(WriteError::NotA {
                path: rel.to_owned(),
                expected: "regular file",
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(source) => Err(WriteError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The directory `rel` on disk, each step checked: a directory, or a link to one inside
    /// the root. `None` when part of it does not exist and `create` is false.
    fn dir(&self, rel: &str, create: bool) -> Result<Option<PathBuf>, WriteError> {
        // An absolute path is never taken as one below the root by accident.
        if rel.starts_with('/') {
            return Err(WriteError::OutsideRepository {
                path: rel.to_owned(),
            });
        }
        let mut path = self.root.clone();
        let mut so_far = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            // One plain name: not `..`, and on Windows neither `C:` nor `a\..`, which
            // `push` would take as a new root or a step up.
            let mut components = Path::new(part).components();
            if !matches!(
                (components.next(), components.next()),
                (Some(Component::Normal(_)), None)
            ) {
                return Err(WriteError::OutsideRepository { path: so_far });
            }
            path.push(part);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = fs::canonicalize(&path).map_err(|source| WriteError::Read {
                        path: path.clone(),
                        source,
                    })?;
                    if !target.starts_with(&self.root) {
                        return Err(WriteError::OutsideRepository { path: so_far });
                    }
                    path = target;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound && create => {
                    fs::create_dir(&path).map_err(|source| WriteError::CreateDir {
                        path: path.clone(),
                        source,
                    })?;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(WriteError::Read { path, source }),
            }
            if !path.is_dir() {
                return Err(WriteError::NotA {
                    path: so_far,
                    expected: "directory",
                });
            }
        }
        Ok(Some(path))
    }
}

/// A file's folder and name; a name that is empty, `.` or `..` is refused.
fn split(rel: &str) -> Result<(&str, &str), WriteError> {
    let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    if name.is_empty() || name == "." || name == ".." {
        return Err(WriteError::OutsideRepository {
            path: rel.to_owned(),
        });
    }
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, content: &str) -> File {
        File {
            replaces: None,
            rel: rel.to_owned(),
            content: content.to_owned(),
        }
    }

    #[test]
    fn writes_creates_folders_and_refuses_overwrites_without_force() {
        let repo = tempfile::tempdir().unwrap();
        let files = RepoFiles::open(repo.path()).unwrap();
        let written = files.write_all(&[file("a/b/c.yml", "x\n")], false).unwrap();
        assert_eq!(written.written, 1);
        assert_eq!(
            fs::read_to_string(repo.path().join("a/b/c.yml")).unwrap(),
            "x\n"
        );
        let again = files.write_all(&[file("a/b/c.yml", "x\n")], false).unwrap();
        assert_eq!(again.unchanged, 1);
        let err = files
            .write_all(&[file("a/b/c.yml", "y\n")], false)
            .unwrap_err();
        assert!(matches!(err, WriteError::WouldOverwrite { .. }), "{err}");
        files.write_all(&[file("a/b/c.yml", "y\n")], true).unwrap();
        assert_eq!(
            fs::read_to_string(repo.path().join("a/b/c.yml")).unwrap(),
            "y\n"
        );
        assert_eq!(
            files.names_in("a/b").unwrap(),
            BTreeSet::from(["c.yml".to_owned()]),
            "no temporary file is left"
        );
    }

    #[test]
    fn a_replacing_file_moves_with_force_only() {
        let repo = tempfile::tempdir().unwrap();
        let files = RepoFiles::open(repo.path()).unwrap();
        files.write_all(&[file("e/x.yml", "x\n")], false).unwrap();
        let moved = File {
            replaces: Some("e/x.yml".to_owned()),
            ..file("e/archived/x.yml", "x\n")
        };
        let err = files
            .write_all(std::slice::from_ref(&moved), false)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("e/x.yml (moves to e/archived/x.yml)"),
            "{err}"
        );
        assert!(repo.path().join("e/x.yml").is_file(), "nothing was written");
        let written = files.write_all(&[moved], true).unwrap();
        assert_eq!(
            (written.written, written.moved, written.overwritten),
            (1, 1, 0)
        );
        assert!(!repo.path().join("e/x.yml").exists());
        assert!(repo.path().join("e/archived/x.yml").is_file());
    }

    #[test]
    fn dot_dot_is_refused() {
        let repo = tempfile::tempdir().unwrap();
        let files = RepoFiles::open(repo.path()).unwrap();
        for rel in ["../x.yml", "a/../../x.yml", "a/..", "/x/y.yml"] {
            let err = files.write_all(&[file(rel, "x")], true).unwrap_err();
            assert!(
                matches!(err, WriteError::OutsideRepository { .. }),
                "{rel}: {err}"
            );
        }
    }

    #[test]
    fn a_directory_is_created_inside_the_root_only() {
        let repo = tempfile::tempdir().unwrap();
        let files = RepoFiles::open(repo.path()).unwrap();
        let made = files.directory(".flagsync/emulator").unwrap();
        assert!(made.is_dir());
        assert!(made.starts_with(fs::canonicalize(repo.path()).unwrap()));
        for rel in ["../outside", "a/../../outside", "/tmp/outside"] {
            let err = files.directory(rel).unwrap_err();
            assert!(
                matches!(err, WriteError::OutsideRepository { .. }),
                "{rel}: {err}"
            );
        }
        fs::write(repo.path().join("file"), "x").unwrap();
        let err = files.directory("file/state").unwrap_err();
        assert!(matches!(err, WriteError::NotA { .. }), "{err}");
    }

    /// Windows reads `C:` as a drive and `\` as a separator: `push` would leave the root.
    #[cfg(windows)]
    #[test]
    fn windows_drives_and_backslashes_are_refused() {
        let repo = tempfile::tempdir().unwrap();
        let files = RepoFiles::open(repo.path()).unwrap();
        for rel in ["C:/outside", "a\\..\\..\\outside", "\\\\server\\share"] {
            let err = files.directory(rel).unwrap_err();
            assert!(
                matches!(err, WriteError::OutsideRepository { .. }),
                "{rel}: {err}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn links_out_are_refused_and_links_in_followed() {
        use std::os::unix::fs::symlink;
        let repo = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), repo.path().join("out")).unwrap();
        fs::create_dir(repo.path().join("real")).unwrap();
        symlink("real", repo.path().join("in")).unwrap();
        fs::write(outside.path().join("secret"), "s").unwrap();
        symlink(
            outside.path().join("secret"),
            repo.path().join("real/link.yml"),
        )
        .unwrap();

        let files = RepoFiles::open(repo.path()).unwrap();
        let err = files.names_in("out").unwrap_err();
        assert!(matches!(err, WriteError::OutsideRepository { .. }), "{err}");
        let err = files
            .write_all(&[file("out/x.yml", "x")], true)
            .unwrap_err();
        assert!(matches!(err, WriteError::OutsideRepository { .. }), "{err}");
        let err = files
            .write_all(&[file("in/link.yml", "x")], true)
            .unwrap_err();
        assert!(matches!(err, WriteError::Symlink { .. }), "{err}");
        assert_eq!(
            fs::read_to_string(outside.path().join("secret")).unwrap(),
            "s"
        );

        files.write_all(&[file("in/x.yml", "x")], true).unwrap();
        assert_eq!(
            fs::read_to_string(repo.path().join("real/x.yml")).unwrap(),
            "x"
        );
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
    }
}
