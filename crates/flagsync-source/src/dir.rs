use std::fs;
use std::path::{Path, PathBuf};

use crate::{FileEntry, MAX_FILE_BYTES, Source, SourceError, Tree};

/// A directory on disk. Symbolic links are not followed, so a tree cannot loop or escape.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let root = root.into();
        if !root.is_dir() {
            return Err(SourceError::NotADirectory(root.display().to_string()));
        }
        Ok(Self { root })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn walk(&self, dir: &Path, rel: &str, out: &mut Vec<FileEntry>) -> Result<(), SourceError> {
        let entries = fs::read_dir(dir).map_err(|source| SourceError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| SourceError::Io {
                path: dir.display().to_string(),
                source,
            })?;
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
            let file_type = entry.file_type().map_err(|source| SourceError::Io {
                path: entry.path().display().to_string(),
                source,
            })?;
            if file_type.is_dir() {
                if name == ".git" {
                    continue;
                }
                self.walk(&entry.path(), &child_rel, out)?;
            } else if file_type.is_file() {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(FileEntry {
                    path: child_rel,
                    size,
                });
            }
        }
        Ok(())
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let mut full = self.root.clone();
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            full.push(part);
        }
        full
    }
}

impl Tree for DirSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn files_under(&self, dir: &str) -> Result<Vec<FileEntry>, SourceError> {
        let start = self.resolve(dir);
        if !start.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        self.walk(&start, dir.trim_matches('/'), &mut out)?;
        out.sort();
        Ok(out)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let full = self.resolve(path);
        let meta = fs::metadata(&full).map_err(|source| SourceError::Io {
            path: path.to_owned(),
            source,
        })?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(SourceError::TooLarge {
                path: path.to_owned(),
                size: meta.len(),
                max: MAX_FILE_BYTES,
            });
        }
        fs::read(&full).map_err(|source| SourceError::Io {
            path: path.to_owned(),
            source,
        })
    }

    fn is_file(&self, path: &str) -> bool {
        self.resolve(path).is_file()
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
