//! Helpers the test modules share.

use std::collections::BTreeMap;

use flagsync_manifest::Loaded;
use flagsync_source::{FileEntry, MAX_FILE_BYTES, Source, SourceError, Tree};

/// An in-memory repository, so that many cases run fast without touching the disk.
#[derive(Default, Clone)]
pub struct Mem {
    pub files: BTreeMap<String, Vec<u8>>,
    pub branches: BTreeMap<String, Mem>,
}

impl Mem {
    pub fn with(mut self, path: &str, text: impl AsRef<[u8]>) -> Self {
        self.files.insert(path.to_owned(), text.as_ref().to_vec());
        self
    }
}

impl Tree for Mem {
    fn describe(&self) -> String {
        "memory".into()
    }
    fn files_under(&self, dir: &str) -> Result<Vec<FileEntry>, SourceError> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        Ok(self
            .files
            .iter()
            .filter(|(p, _)| dir.is_empty() || p.starts_with(&prefix))
            .map(|(p, b)| FileEntry {
                path: p.clone(),
                size: b.len() as u64,
            })
            .collect())
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let bytes = self.files.get(path).ok_or_else(|| SourceError::NotFound {
            path: path.into(),
            tree: "memory".into(),
        })?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(SourceError::TooLarge {
                path: path.into(),
                size: bytes.len() as u64,
                max: MAX_FILE_BYTES,
            });
        }
        Ok(bytes.clone())
    }
    fn is_file(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }
}

impl Source for Mem {
    fn root(&self) -> &dyn Tree {
        self
    }
    fn branch(&self, name: &str) -> Result<Box<dyn Tree>, SourceError> {
        self.branches
            .get(name)
            .map(|m| Box::new(m.clone()) as Box<dyn Tree>)
            .ok_or_else(|| SourceError::BranchUnavailable {
                branch: name.into(),
                reason: "no such branch".into(),
            })
    }
}

pub fn codes(loaded: &Loaded) -> Vec<&'static str> {
    loaded.diagnostics.iter().map(|d| d.code.as_str()).collect()
}

/// Every diagnostic's position is inside its file and agrees with its span.
pub fn assert_positions(loaded: &Loaded) {
    for d in &loaded.diagnostics {
        assert!(d.line >= 1 && d.column >= 1, "{d:?}");
        if let Some(text) = loaded.sources.get(&d.file) {
            assert!(
                d.span.start <= d.span.end && d.span.end <= text.len(),
                "{d:?}"
            );
            assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
            let before = &text[..d.span.start];
            assert_eq!(d.line, before.matches('\n').count() + 1, "{d:?}");
            let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            assert_eq!(d.column, col, "{d:?}");
        }
    }
}
