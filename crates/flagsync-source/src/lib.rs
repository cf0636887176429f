//! Where manifests come from: a directory on disk or a git revision, behind one small
//! read-only interface so that loading, validation and planning never care which.

mod dir;
mod git;

pub use dir::DirSource;
pub use git::{GitSource, GitWorkdirSource};

use std::fmt;

/// Files larger than this are refused before being read: no manifest is anywhere near it,
/// and reading a 50 MB file into the YAML parser would only slow a pre-commit hook down.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One file of a tree, named by its path relative to the tree root with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
}

/// A read-only tree of files: a directory, or the tree of one git revision.
pub trait Tree: Send + Sync {
    /// What to call this tree in messages: a directory path, or `REV` for a git revision.
    fn describe(&self) -> String;

    /// Every regular file below `dir` (recursively; `""` is the root), sorted by path.
    /// A missing `dir` is an empty list, not an error: layouts have optional folders.
    fn files_under(&self, dir: &str) -> Result<Vec<FileEntry>, SourceError>;

    /// The bytes of one file. Refuses files larger than [`MAX_FILE_BYTES`].
    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError>;

    /// Whether a regular file exists at `path`.
    fn is_file(&self, path: &str) -> bool;
}

/// A repository: the tree that was asked for, plus other branches of the same repository
/// for layouts that keep one environment per branch (`environments: {Staging: {branch: Staging}}`).
pub trait Source: Send + Sync {
    fn root(&self) -> &dyn Tree;

    /// The tree of another branch of the same repository.
    fn branch(&self, name: &str) -> Result<Box<dyn Tree>, SourceError>;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: file is {size} bytes, larger than the {max} bytes a manifest may have")]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("{path}: not found in {tree}")]
    NotFound { path: String, tree: String },
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name { path: String },
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("environment branch `{branch}` can only be read from a git repository: {reason}")]
    BranchUnavailable { branch: String, reason: String },
    #[error("git: {0}")]
    Git(String),
    #[error("{path} is not inside a git repository")]
    NotARepository { path: String },
    #[error("unknown git revision `{rev}` in {repo}: {reason}")]
    UnknownRevision {
        rev: String,
        repo: String,
        reason: String,
    },
    #[error(
        "git revision `{rev}` is not available in {repo}: the repository is a shallow clone; \
         fetch more history, e.g. `git fetch --unshallow` (in GitHub Actions: \
         `actions/checkout` with `fetch-depth: 0`)"
    )]
    ShallowClone { rev: String, repo: String },
    #[error(
        "environment branch `{branch}` not found in {repo}: neither a local branch `{branch}` \
         nor a remote-tracking branch `origin/{branch}` exists; fetch it, e.g. \
         `git fetch origin {branch}:refs/remotes/origin/{branch}`"
    )]
    BranchNotFound { branch: String, repo: String },
}

impl fmt::Display for FileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}
