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

/// What a directory of a tree holds: the regular files that may be read, and the entries
/// that never will be (see [`Refusal`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Sorted by path.
    pub files: Vec<FileEntry>,
    /// Sorted by path.
    pub refused: Vec<Refused>,
}

/// An entry of a tree that is neither listed as a file nor read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Refused {
    /// Its path relative to the tree root, with `/` separators.
    pub path: String,
    pub reason: Refusal,
    /// Whether it is (or leads to) a directory, which may hold manifests whatever its name.
    pub directory: bool,
}

/// Why an entry is not read. A repository is untrusted input: nothing outside its root is
/// ever read, and only regular files are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum Refusal {
    #[error("it is a symbolic link that leads outside the repository")]
    LeavesRoot,
    #[error("it is a symbolic link to a directory that contains it (a loop)")]
    Loop,
    #[error("it is a {0}, not a regular file")]
    Special(&'static str),
    #[error("it is a file of the kernel's /proc or /sys pseudo-filesystem")]
    Pseudo,
    #[error("it is a symbolic link in a git revision, and links in git revisions are not followed")]
    LinkInRevision,
}

/// A read-only tree of files: a directory, or the tree of one git revision.
pub trait Tree: Send + Sync {
    /// What to call this tree in messages: a directory path, or `REV` for a git revision.
    fn describe(&self) -> String;

    /// Every regular file below `dir` (recursively; `""` is the root), sorted by path.
    /// A missing `dir` is an empty list, not an error: layouts have optional folders.
    fn files_under(&self, dir: &str) -> Result<Vec<FileEntry>, SourceError>;

    /// [`Tree::files_under`] plus the entries below `dir` that will not be read, so that
    /// they can be reported. `dir` itself is refused when it leads outside the root.
    fn list(&self, dir: &str) -> Result<Listing, SourceError> {
        Ok(Listing {
            files: self.files_under(dir)?,
            refused: Vec::new(),
        })
    }

    /// The bytes of one file. Refuses files larger than [`MAX_FILE_BYTES`], and with
    /// [`SourceError::Refused`] anything that is not a regular file inside the root.
    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError>;

    /// Whether something other than a directory is at `path`. A file that may not be read
    /// (a link leaving the root, a special file) counts, so that reading it says why.
    fn is_file(&self, path: &str) -> bool;
}

/// A repository: the tree that was asked for, plus other branches of the same repository
/// for layouts that keep one environment per branch (`environments: {Staging: {branch: Staging}}`).
pub trait Source: Send + Sync {
    fn root(&self) -> &dyn Tree;

    /// The tree of another branch of the same repository.
    fn branch(&self, name: &str) -> Result<Box<dyn Tree>, SourceError>;

    /// Which commit the root tree is, when it comes from git: a revision read from the
    /// object database, or a work tree and its checked-out commit. `None` for a plain
    /// directory.
    fn revision(&self) -> Option<Revision> {
        None
    }
}

/// The git revision a source was read at, for the metadata of plans and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// What it is called: the revision as the user named it (`origin/main`, `HEAD~1`), or
    /// the branch checked out in a work tree; `None` for a detached checkout.
    pub name: Option<String>,
    /// The full commit id (a tree's id for a revision naming a tree); `None` in a
    /// repository without commits.
    pub commit: Option<String>,
    /// The YAML files (manifests, flagsync.yaml) differ from that commit: uncommitted
    /// changes (a work tree only).
    pub modified: bool,
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
    #[error("{path}: not read: {reason}")]
    Refused { path: String, reason: Refusal },
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
