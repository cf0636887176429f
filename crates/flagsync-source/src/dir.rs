use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{FileEntry, Listing, MAX_FILE_BYTES, Refusal, Refused, Source, SourceError, Tree};

/// A directory on disk, read as untrusted input: every path is resolved (symbolic links
/// included) and must stay inside the root; only regular files are read. A link that stays
/// inside the root is followed like the file or directory it names; a link that leaves it,
/// a link loop, and special files (FIFOs, sockets, devices, `/proc`) are refused and listed
/// as such, never read.
#[derive(Debug, Clone)]
pub struct DirSource {
    /// As given, for messages.
    root: PathBuf,
    /// The root with every link resolved: what paths are confined to.
    real_root: PathBuf,
    /// Directories already resolved, by their path under the root as given: resolving every
    /// component of every file again would cost more than reading it.
    dirs: Arc<Mutex<HashMap<PathBuf, Result<PathBuf, Refusal>>>>,
}

impl DirSource {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let root = root.into();
        if !root.is_dir() {
            return Err(SourceError::NotADirectory(root.display().to_string()));
        }
        let real_root = root.canonicalize().map_err(|source| SourceError::Io {
            path: root.display().to_string(),
            source,
        })?;
        Ok(Self {
            root,
            real_root,
            dirs: Arc::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Lists the directory `real` (link-free, inside the root), named `rel` in the tree.
    /// `ancestors` are the real directories being walked, to refuse links back to them.
    fn walk(
        &self,
        real: &Path,
        rel: &str,
        ancestors: &mut Vec<PathBuf>,
        out: &mut Listing,
    ) -> Result<(), SourceError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| SourceError::Io { path, source }
        };
        let entries = fs::read_dir(real).map_err(io(real))?;
        for entry in entries {
            let entry = entry.map_err(io(real))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(SourceError::NonUtf8Name {
                    path: entry.path().display().to_string(),
                });
            };
            let child_rel = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let file_type = entry.file_type().map_err(io(&entry.path()))?;
            if file_type.is_dir() && name == ".git" {
                continue;
            }
            let target = if file_type.is_symlink() {
                match self.confine(&entry.path()) {
                    Ok(target) => target,
                    Err(reason) => {
                        out.refused.push(Refused {
                            directory: entry.path().is_dir(),
                            path: child_rel,
                            reason,
                        });
                        continue;
                    }
                }
            } else {
                entry.path()
            };
            // `target` is free of links, unless it is a dangling one.
            let meta = match fs::metadata(&target) {
                Ok(meta) => meta,
                // A dangling link: listed, so that reading it reports the error.
                Err(_) => {
                    out.files.push(FileEntry {
                        path: child_rel,
                        size: 0,
                    });
                    continue;
                }
            };
            if meta.is_dir() {
                if ancestors.contains(&target) {
                    out.refused.push(Refused {
                        path: child_rel,
                        reason: Refusal::Loop,
                        directory: true,
                    });
                    continue;
                }
                ancestors.push(target.clone());
                let walked = self.walk(&target, &child_rel, ancestors, out);
                ancestors.pop();
                walked?;
            } else if meta.is_file() {
                out.files.push(FileEntry {
                    path: child_rel,
                    size: meta.len(),
                });
            } else {
                out.refused.push(Refused {
                    path: child_rel,
                    reason: Refusal::Special(special_kind(&meta)),
                    directory: false,
                });
            }
        }
        Ok(())
    }

    /// `path` of the tree as a path under the root, not yet resolved.
    fn resolve(&self, path: &str) -> PathBuf {
        let mut full = self.root.clone();
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            full.push(part);
        }
        full
    }

    /// Where `full` leads once every link is resolved, when that is inside the root and not
    /// in a pseudo-filesystem. A path that does not resolve (missing, dangling link) is
    /// returned as it is, for the caller's own I/O to report.
    fn confine(&self, full: &Path) -> Result<PathBuf, Refusal> {
        let Ok(real) = full.canonicalize() else {
            return Ok(full.to_path_buf());
        };
        if !real.starts_with(&self.real_root) {
            return Err(Refusal::LeavesRoot);
        }
        // Inside the root, this only happens when the root itself is there: their files
        // claim to be regular and empty, and hold process state (`/proc/self/environ`).
        if real.starts_with("/proc") || real.starts_with("/sys") {
            return Err(Refusal::Pseudo);
        }
        Ok(real)
    }

    /// [`DirSource::confine`] of a file: its directory resolved once (cached), then the
    /// file itself, unless it is a link (resolved in full then).
    fn confine_file(&self, full: &Path) -> Result<PathBuf, Refusal> {
        let (Some(parent), Some(name)) = (full.parent(), full.file_name()) else {
            return self.confine(full);
        };
        let cached = self.cache().get(parent).cloned();
        let real_parent = match cached {
            Some(real) => real?,
            None => {
                let real = self.confine(parent);
                self.cache().insert(parent.to_path_buf(), real.clone());
                real?
            }
        };
        let candidate = real_parent.join(name);
        match fs::symlink_metadata(&candidate) {
            // A plain entry of a directory inside the root is inside the root.
            Ok(meta)
                if !meta.file_type().is_symlink() && candidate.starts_with(&self.real_root) =>
            {
                Ok(candidate)
            }
            _ => self.confine(full),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Result<PathBuf, Refusal>>> {
        self.dirs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refused(path: &str, reason: Refusal) -> SourceError {
        SourceError::Refused {
            path: path.to_owned(),
            reason,
        }
    }
}

/// What kind of special file `meta` describes.
fn special_kind(meta: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    let _ = meta;
    "special file"
}

impl Tree for DirSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn files_under(&self, dir: &str) -> Result<Vec<FileEntry>, SourceError> {
        Ok(self.list(dir)?.files)
    }

    fn list(&self, dir: &str) -> Result<Listing, SourceError> {
        let rel = dir.trim_matches('/');
        let start = self.resolve(dir);
        let mut out = Listing::default();
        if fs::symlink_metadata(&start).is_err() {
            return Ok(out);
        }
        let real = match self.confine(&start) {
            Ok(real) => real,
            Err(reason) => {
                out.refused.push(Refused {
                    path: rel.to_owned(),
                    directory: start.is_dir(),
                    reason,
                });
                return Ok(out);
            }
        };
        if !real.is_dir() {
            return Ok(out);
        }
        self.walk(&real, rel, &mut vec![real.clone()], &mut out)?;
        out.files.sort();
        out.refused.sort();
        Ok(out)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let io = |source| SourceError::Io {
            path: path.to_owned(),
            source,
        };
        let real = self
            .confine_file(&self.resolve(path))
            .map_err(|reason| Self::refused(path, reason))?;
        let meta = fs::metadata(&real).map_err(io)?;
        if !meta.is_file() {
            if meta.is_dir() {
                return Err(io(std::io::Error::other("is a directory")));
            }
            // Checked before opening: opening a FIFO would wait for a writer forever.
            return Err(Self::refused(path, Refusal::Special(special_kind(&meta))));
        }
        let too_large = |size| SourceError::TooLarge {
            path: path.to_owned(),
            size,
            max: MAX_FILE_BYTES,
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(meta.len()));
        }
        let file = fs::File::open(&real).map_err(io)?;
        // What was opened, in case the path changed since it was checked.
        if !file.metadata().map_err(io)?.is_file() {
            return Err(Self::refused(path, Refusal::Special("special file")));
        }
        // Bounded whatever the size claimed: a file can grow after it was checked.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }

    fn is_file(&self, path: &str) -> bool {
        let full = self.resolve(path);
        match fs::symlink_metadata(&full) {
            Err(_) => false,
            Ok(meta) if meta.is_dir() => false,
            // A link counts unless it leads to a directory inside the root.
            Ok(meta) if meta.file_type().is_symlink() => {
                !matches!(self.confine(&full), Ok(real) if real.is_dir())
            }
            Ok(_) => true,
        }
    }
}

impl Source for DirSource {
    fn root(&self) -> &dyn Tree {
        self
    }

    fn branch(&self, name: &str) -> Result<Box<dyn Tree>, SourceError> {
        Err(SourceError::BranchUnavailable {
            branch: name.to_owned(),
            reason: format!("{} is read as a plain directory", self.root.display()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_nested_files_sorted_with_slash_paths() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("experiments/archived")).unwrap();
        fs::write(dir.path().join("experiments/b flag.yml"), "x").unwrap();
        fs::write(dir.path().join("experiments/archived/ä.yml"), "y").unwrap();
        let src = DirSource::open(dir.path()).unwrap();
        let files = src.files_under("experiments").unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["experiments/archived/ä.yml", "experiments/b flag.yml"]
        );
        assert_eq!(src.read("experiments/b flag.yml").unwrap(), b"x");
        assert!(src.files_under("target_groups").unwrap().is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_only_inside_the_root() {
        use std::os::unix::fs::symlink;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(root.join("experiments/real")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret.yml"), "secret").unwrap();
        fs::write(root.join("experiments/real/a.yml"), "a").unwrap();
        symlink(&outside, root.join("experiments/out")).unwrap();
        symlink(outside.join("secret.yml"), root.join("experiments/s.yml")).unwrap();
        symlink("real", root.join("experiments/inside")).unwrap();
        symlink("..", root.join("experiments/real/loop")).unwrap();
        symlink("/proc/self/environ", root.join("flagsync.yaml")).unwrap();
        symlink(&outside, root.join("target_groups")).unwrap();
        let src = DirSource::open(&root).unwrap();

        let listing = src.list("experiments").unwrap();
        let files: Vec<_> = listing.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            files,
            ["experiments/inside/a.yml", "experiments/real/a.yml"]
        );
        let refused: Vec<_> = listing
            .refused
            .iter()
            .map(|r| (r.path.as_str(), r.reason, r.directory))
            .collect();
        assert_eq!(
            refused,
            [
                ("experiments/inside/loop", Refusal::Loop, true),
                ("experiments/out", Refusal::LeavesRoot, true),
                ("experiments/real/loop", Refusal::Loop, true),
                ("experiments/s.yml", Refusal::LeavesRoot, false),
            ]
        );
        assert_eq!(src.read("experiments/inside/a.yml").unwrap(), b"a");

        // A configured directory that is a link out of the root is refused whole.
        let listing = src.list("target_groups").unwrap();
        assert!(listing.files.is_empty());
        assert_eq!(listing.refused[0].reason, Refusal::LeavesRoot);

        for path in [
            "flagsync.yaml",
            "experiments/s.yml",
            "target_groups/secret.yml",
        ] {
            assert!(src.is_file(path), "{path}");
            assert!(
                matches!(
                    src.read(path),
                    Err(SourceError::Refused {
                        reason: Refusal::LeavesRoot,
                        ..
                    })
                ),
                "{path}"
            );
        }
        // `..` cannot climb out either.
        assert!(matches!(
            src.read("../outside/secret.yml"),
            Err(SourceError::Refused { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_without_opening_them() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("experiments")).unwrap();
        let fifo = dir.path().join("experiments/pipe.yml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let src = DirSource::open(dir.path()).unwrap();
        let listing = src.list("experiments").unwrap();
        assert!(listing.files.is_empty());
        assert_eq!(listing.refused[0].reason, Refusal::Special("FIFO"));
        // Opening a FIFO for reading would wait for a writer: this returns at once.
        assert!(matches!(
            src.read("experiments/pipe.yml"),
            Err(SourceError::Refused {
                reason: Refusal::Special("FIFO"),
                ..
            })
        ));
    }

    #[test]
    fn refuses_files_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let f = fs::File::create(dir.path().join("big.yml")).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let src = DirSource::open(dir.path()).unwrap();
        assert!(matches!(
            src.read("big.yml"),
            Err(SourceError::TooLarge { .. })
        ));
    }
}
