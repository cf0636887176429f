//! Git sources: the tree of a revision read straight from the object database (nothing is
//! checked out), and a working directory whose environments live on other branches.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use git2::{BranchType, ErrorCode, FileMode, ObjectType, Oid, Repository};

use crate::{
    DirSource, FileEntry, Listing, MAX_FILE_BYTES, Refusal, Refused, Revision, Source, SourceError,
    Tree,
};

/// One opened repository, shared by the trees read from it (the asked revision and the
/// environment branches). `git2::Repository` is `Send` but not `Sync`: each read borrows a
/// handle from a small pool, opening another when all are busy, so that the loader's
/// threads inflate objects in parallel instead of queueing on one handle.
struct Repo {
    git_dir: PathBuf,
    idle: Mutex<Vec<Repository>>,
    /// Where the repository is, for messages: its work tree, or the git dir when bare.
    location: String,
    /// The source root relative to the work tree (`""` at the top), `/`-separated. Every
    /// tree read from this repository is that subdirectory of its revision.
    prefix: String,
}

impl Repo {
    fn discover(path: &Path) -> Result<Arc<Self>, SourceError> {
        // The directory may exist only in the revision to read (added on another branch):
        // discover from its nearest existing ancestor and keep the rest as the prefix.
        let (existing, missing) = split_existing(path);
        let repo = Repository::discover(&existing).map_err(|e| match e.code() {
            ErrorCode::NotFound => SourceError::NotARepository {
                path: path.display().to_string(),
            },
            // Typical of CI containers whose checkout belongs to another user.
            ErrorCode::Owner => SourceError::Git(format!(
                "{}; if you trust this checkout: `git config --global --add safe.directory <path>`",
                e.message()
            )),
            _ => git_error(&e),
        })?;
        // libgit2 spells directories with a trailing slash; messages read better without.
        let location = repo
            .workdir()
            .unwrap_or_else(|| repo.path())
            .display()
            .to_string();
        let location = match location.trim_end_matches(['/', '\\']) {
            "" => location,
            trimmed => trimmed.to_owned(),
        };
        let prefix = match repo.workdir() {
            Some(workdir) => {
                let mut prefix = prefix_within(workdir, &existing)?;
                for part in missing {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(&part);
                }
                prefix
            }
            // A bare repository has no work tree for `path` to be a subdirectory of.
            None => String::new(),
        };
        Ok(Arc::new(Self {
            git_dir: repo.path().to_path_buf(),
            idle: Mutex::new(vec![repo]),
            location,
            prefix,
        }))
    }

    /// Runs `f` with a handle of its own.
    fn with<R>(
        &self,
        f: impl FnOnce(&Repository) -> Result<R, SourceError>,
    ) -> Result<R, SourceError> {
        let pooled = self.pool().pop();
        let handle = match pooled {
            Some(handle) => handle,
            None => Repository::open(&self.git_dir).map_err(|e| git_error(&e))?,
        };
        let out = f(&handle);
        self.pool().push(handle);
        out
    }

    fn pool(&self) -> MutexGuard<'_, Vec<Repository>> {
        // A panic while the lock was held cannot leave a list of handles inconsistent.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The longest existing ancestor of `path` (itself when it exists), and the names below it.
/// A missing name that is not plain UTF-8 (`..`, invalid bytes) ends the search there, and
/// discovery then fails on the non-existent path with a clear error.
fn split_existing(path: &Path) -> (PathBuf, Vec<String>) {
    let mut existing = path.to_path_buf();
    let mut missing = Vec::new();
    while !existing.exists() {
        let (Some(name), Some(parent)) = (existing.file_name(), existing.parent()) else {
            break;
        };
        let Some(name) = name.to_str() else {
            break;
        };
        missing.push(name.to_owned());
        existing = if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        };
    }
    if !existing.exists() {
        return (path.to_path_buf(), Vec::new());
    }
    missing.reverse();
    (existing, missing)
}

/// `path` relative to `workdir`, as `/`-joined UTF-8 components.
fn prefix_within(workdir: &Path, path: &Path) -> Result<String, SourceError> {
    let canon = |p: &Path| {
        p.canonicalize().map_err(|source| SourceError::Io {
            path: p.display().to_string(),
            source,
        })
    };
    let workdir = canon(workdir)?;
    let path = canon(path)?;
    let Ok(rel) = path.strip_prefix(&workdir) else {
        // Discovery through GIT_DIR or similar can find a repository whose work tree does
        // not contain `path`; read the revision from its top then.
        return Ok(String::new());
    };
    let mut parts = Vec::new();
    for part in rel.components() {
        let Some(part) = part.as_os_str().to_str() else {
            return Err(SourceError::NonUtf8Name {
                path: path.display().to_string(),
            });
        };
        parts.push(part);
    }
    Ok(parts.join("/"))
}

fn git_error(e: &git2::Error) -> SourceError {
    SourceError::Git(e.message().to_owned())
}

/// A blob of the indexed tree.
struct BlobRef {
    oid: Oid,
    size: u64,
}

/// Every blob below the source root, by path, built by one walk of the tree so that a
/// lookup never resolves a path component by component from the root again.
struct TreeIndex {
    blobs: BTreeMap<String, BlobRef>,
    /// Symbolic links: stored as blobs holding the target path, never followed nor read.
    links: BTreeSet<String>,
    /// Entries whose names are not UTF-8: (lossy path, parent directory).
    non_utf8: Vec<(String, String)>,
}

impl TreeIndex {
    fn build(repo: &Repository, tree: Oid) -> Result<Self, SourceError> {
        let odb = repo.odb().map_err(|e| git_error(&e))?;
        let link = i32::from(FileMode::Link);
        let mut blobs = BTreeMap::new();
        let mut links = BTreeSet::new();
        let mut non_utf8 = Vec::new();
        let mut pending = vec![(String::new(), tree)];
        while let Some((dir, oid)) = pending.pop() {
            let tree = repo.find_tree(oid).map_err(|e| missing(&e, &dir, oid))?;
            for entry in tree.iter() {
                let Ok(name) = std::str::from_utf8(entry.name_bytes()) else {
                    let lossy = String::from_utf8_lossy(entry.name_bytes()).into_owned();
                    non_utf8.push((join(&dir, &lossy), dir.clone()));
                    continue;
                };
                let path = join(&dir, name);
                match entry.kind() {
                    Some(ObjectType::Tree) => pending.push((path, entry.id())),
                    // A link's blob holds its target path: reading it as a manifest would
                    // be wrong, and following it could leave the tree. Listed as refused.
                    Some(ObjectType::Blob) if entry.filemode() == link => {
                        links.insert(path);
                    }
                    Some(ObjectType::Blob) => {
                        let (size, _) = odb
                            .read_header(entry.id())
                            .map_err(|e| missing(&e, &path, entry.id()))?;
                        blobs.insert(
                            path,
                            BlobRef {
                                oid: entry.id(),
                                size: size as u64,
                            },
                        );
                    }
                    // Submodules are not files of this repository.
                    _ => {}
                }
            }
        }
        Ok(Self {
            blobs,
            links,
            non_utf8,
        })
    }
}

/// An object the tree names but the object database lacks: typical of partial clones
/// (`--filter=blob:none`), which libgit2 cannot complete without a network.
fn missing(e: &git2::Error, path: &str, oid: Oid) -> SourceError {
    if e.code() == ErrorCode::NotFound {
        SourceError::Git(format!(
            "object {oid} for `{path}` is missing from the repository (a partial clone? \
             fetch the full history, e.g. `git fetch --refetch` or clone without `--filter`)"
        ))
    } else {
        git_error(e)
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// A path as the tree index spells it: no empty or `.` components.
fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// The tree of one git revision, read without checking it out.
///
/// When the path it was opened with is a subdirectory of the work tree, the source root is
/// that subdirectory of the revision, and so it is for [`Source::branch`] trees.
pub struct GitSource {
    repo: Arc<Repo>,
    /// The revision as the user named it (`origin/main`, `HEAD~1`, `Staging`…).
    label: String,
    /// The commit (or, for a revision naming a tree, the tree) shown in messages.
    id: Oid,
    /// The tree at the source root.
    tree: Oid,
    index: OnceLock<Result<TreeIndex, String>>,
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("repo", &self.repo.location)
            .field("prefix", &self.repo.prefix)
            .field("rev", &self.label)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl GitSource {
    /// Reads revision `rev` (anything `git rev-parse` accepts: branch, tag, full or short
    /// sha, `origin/main`, `HEAD~1`) of the repository containing `path`, normal or bare.
    pub fn open(path: &Path, rev: &str) -> Result<Self, SourceError> {
        let repo = Repo::discover(path)?;
        Self::at_revision(repo, rev)
    }

    fn at_revision(repo: Arc<Repo>, rev: &str) -> Result<Self, SourceError> {
        let (id, root) = repo.with(|handle| {
            let object = handle.revparse_single(rev).map_err(|e| {
                if handle.is_shallow()
                    && matches!(e.code(), ErrorCode::NotFound | ErrorCode::Ambiguous)
                {
                    SourceError::ShallowClone {
                        rev: rev.to_owned(),
                        repo: repo.location.clone(),
                    }
                } else {
                    let reason = match e.code() {
                        ErrorCode::NotFound => match rev.strip_prefix("origin/") {
                            Some(branch) => format!(
                                "no such remote-tracking branch; fetch it, e.g. \
                                 `git fetch origin {branch}:refs/remotes/origin/{branch}`"
                            ),
                            None => "no branch, tag or commit has that name".to_owned(),
                        },
                        ErrorCode::Ambiguous => {
                            "the short commit id matches several objects; give more digits"
                                .to_owned()
                        }
                        _ => e.message().to_owned(),
                    };
                    SourceError::UnknownRevision {
                        rev: rev.to_owned(),
                        repo: repo.location.clone(),
                        reason,
                    }
                }
            })?;
            let not_a_tree = |_| SourceError::UnknownRevision {
                rev: rev.to_owned(),
                repo: repo.location.clone(),
                reason: format!(
                    "it names a {}, not a commit or a tree",
                    object.kind().map_or("object", |kind| kind.str())
                ),
            };
            match object.peel_to_commit() {
                Ok(commit) => Ok((commit.id(), commit.tree_id())),
                Err(_) => {
                    let tree = object.peel_to_tree().map_err(not_a_tree)?;
                    Ok((tree.id(), tree.id()))
                }
            }
        })?;
        Self::with_root(repo, rev.to_owned(), id, root)
    }

    /// Descends from the revision's root tree to the source prefix.
    fn with_root(repo: Arc<Repo>, label: String, id: Oid, root: Oid) -> Result<Self, SourceError> {
        let tree = if repo.prefix.is_empty() {
            root
        } else {
            let subtree = repo.with(|handle| {
                let root_tree = handle.find_tree(root).map_err(|e| git_error(&e))?;
                Ok(root_tree
                    .get_path(Path::new(&repo.prefix))
                    .ok()
                    .filter(|entry| entry.kind() == Some(ObjectType::Tree))
                    .map(|entry| entry.id()))
            })?;
            subtree.ok_or_else(|| SourceError::NotFound {
                path: format!("{}/", repo.prefix),
                tree: describe(&label, id),
            })?
        };
        Ok(Self {
            repo,
            label,
            id,
            tree,
            index: OnceLock::new(),
        })
    }

    /// Another branch of the same repository: local branch `name`, else the
    /// remote-tracking branch `origin/name` (CI checkouts often have only the latter).
    fn open_branch(repo: &Arc<Repo>, name: &str) -> Result<Self, SourceError> {
        let (label, commit, root) = repo.with(|handle| {
            let not_found =
                |e: &git2::Error| matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec);
            let remote_name = format!("origin/{name}");
            let (label, branch) = match handle.find_branch(name, BranchType::Local) {
                Ok(branch) => (name.to_owned(), branch),
                Err(e) if not_found(&e) => {
                    match handle.find_branch(&remote_name, BranchType::Remote) {
                        Ok(branch) => (remote_name, branch),
                        Err(e) if not_found(&e) => {
                            return Err(SourceError::BranchNotFound {
                                branch: name.to_owned(),
                                repo: repo.location.clone(),
                            });
                        }
                        Err(e) => return Err(git_error(&e)),
                    }
                }
                Err(e) => return Err(git_error(&e)),
            };
            let commit = branch.get().peel_to_commit().map_err(|e| git_error(&e))?;
            Ok((label, commit.id(), commit.tree_id()))
        })?;
        Self::with_root(Arc::clone(repo), label, commit, root)
    }

    /// The commit (or tree) id the revision resolved to.
    pub fn id(&self) -> String {
        self.id.to_string()
    }

    /// The source root relative to the top of the repository (`""` at the top).
    pub fn prefix(&self) -> &str {
        &self.repo.prefix
    }

    fn index(&self) -> Result<&TreeIndex, SourceError> {
        self.index
            .get_or_init(|| {
                self.repo
                    .with(|handle| TreeIndex::build(handle, self.tree))
                    // Kept as text (SourceError is not Clone) and returned as Git again.
                    .map_err(|e| match e {
                        SourceError::Git(message) => message,
                        other => other.to_string(),
                    })
            })
            .as_ref()
            .map_err(|e| SourceError::Git(e.clone()))
    }
}

fn describe(label: &str, id: Oid) -> String {
    let id = id.to_string();
    format!("{label} ({})", id.get(..7).unwrap_or(&id))
}

impl Tree for GitSource {
    fn describe(&self) -> String {
        describe(&self.label, self.id)
    }

    fn files_under(&self, dir: &str) -> Result<Vec<FileEntry>, SourceError> {
        Ok(self.list(dir)?.files)
    }

    fn list(&self, dir: &str) -> Result<Listing, SourceError> {
        let index = self.index()?;
        let dir = normalize(dir);
        if let Some((path, _)) = index
            .non_utf8
            .iter()
            .find(|(_, parent)| is_under(parent, &dir))
        {
            return Err(SourceError::NonUtf8Name {
                path: format!("{path} in {}", self.describe()),
            });
        }
        let start = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        // BTreeMap order is byte order of the paths: the same order as sorting entries.
        let files = index
            .blobs
            .range(start.clone()..)
            .take_while(|(path, _)| path.starts_with(&start))
            .map(|(path, blob)| FileEntry {
                path: path.clone(),
                size: blob.size,
            })
            .collect();
        let refused = index
            .links
            .iter()
            // The directory itself may be a link.
            .filter(|path| is_under(path, &dir))
            .map(|path| Refused {
                path: path.clone(),
                reason: Refusal::LinkInRevision,
                // Standing where the directory of manifests should be.
                directory: *path == dir,
            })
            .collect();
        Ok(Listing { files, refused })
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, SourceError> {
        let index = self.index()?;
        if index.links.contains(&normalize(path)) {
            return Err(SourceError::Refused {
                path: path.to_owned(),
                reason: Refusal::LinkInRevision,
            });
        }
        let Some(blob) = index.blobs.get(&normalize(path)) else {
            return Err(SourceError::NotFound {
                path: path.to_owned(),
                tree: self.describe(),
            });
        };
        // The size came from the object header: a huge blob is refused unread.
        if blob.size > MAX_FILE_BYTES {
            return Err(SourceError::TooLarge {
                path: path.to_owned(),
                size: blob.size,
                max: MAX_FILE_BYTES,
            });
        }
        self.repo.with(|handle| {
            let found = handle
                .find_blob(blob.oid)
                .map_err(|e| missing(&e, path, blob.oid))?;
            Ok(found.content().to_vec())
        })
    }

    fn is_file(&self, path: &str) -> bool {
        let path = normalize(path);
        self.index()
            .is_ok_and(|index| index.blobs.contains_key(&path) || index.links.contains(&path))
    }
}

impl Source for GitSource {
    fn root(&self) -> &dyn Tree {
        self
    }

    fn branch(&self, name: &str) -> Result<Box<dyn Tree>, SourceError> {
        Ok(Box::new(Self::open_branch(&self.repo, name)?))
    }

    fn revision(&self) -> Option<Revision> {
        Some(Revision {
            name: Some(self.label.clone()),
            commit: Some(self.id()),
            modified: false,
        })
    }
}

/// A working directory read from disk whose environment branches are read from the git
/// repository that contains it: `flagsync validate` in a checkout of a branch-per-environment
/// repository needs no `--ref`.
pub struct GitWorkdirSource {
    dir: DirSource,
    repo: Arc<Repo>,
}

impl std::fmt::Debug for GitWorkdirSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitWorkdirSource")
            .field("dir", &self.dir.path())
            .field("repo", &self.repo.location)
            .finish_non_exhaustive()
    }
}

impl GitWorkdirSource {
    /// Opens directory `dir`; fails with [`SourceError::NotARepository`] when no git
    /// repository contains it (callers then fall back to a plain [`DirSource`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SourceError> {
        let dir = DirSource::open(dir)?;
        let repo = Repo::discover(dir.path())?;
        Ok(Self { dir, repo })
    }

    /// The directory read as the root tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Source for GitWorkdirSource {
    fn root(&self) -> &dyn Tree {
        &self.dir
    }

    fn branch(&self, name: &str) -> Result<Box<dyn Tree>, SourceError> {
        Ok(Box::new(GitSource::open_branch(&self.repo, name)?))
    }

    /// The checked-out commit, and whether the directory read has uncommitted changes to
    /// YAML files (modified, staged, deleted, or untracked and not ignored). A repository
    /// git cannot read the state of gives `None` rather than a guess.
    fn revision(&self) -> Option<Revision> {
        self.repo
            .with(|handle| {
                let head = handle.head().ok();
                let name = head
                    .as_ref()
                    .filter(|h| h.is_branch())
                    .and_then(|h| h.shorthand().map(str::to_owned));
                let commit = head
                    .as_ref()
                    .and_then(|h| h.peel_to_commit().ok())
                    .map(|c| c.id().to_string());
                let mut options = git2::StatusOptions::new();
                options
                    .include_untracked(true)
                    .recurse_untracked_dirs(true)
                    .include_ignored(false)
                    .exclude_submodules(true);
                if !self.repo.prefix.is_empty() {
                    options.pathspec(format!("{}/", self.repo.prefix));
                }
                let statuses = handle
                    .statuses(Some(&mut options))
                    .map_err(|e| git_error(&e))?;
                // Only YAML files are manifests or flagsync.yaml: a plan file or a comment
                // written into the checkout changes nothing that was read.
                let modified = statuses.iter().any(|entry| {
                    entry.path().is_some_and(|path| {
                        let path = path.to_ascii_lowercase();
                        path.ends_with(".yml") || path.ends_with(".yaml")
                    })
                });
                Ok(Revision {
                    name,
                    commit,
                    modified,
                })
            })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_matches_whole_components_only() {
        assert!(is_under("experiments/a", "experiments"));
        assert!(is_under("experiments", "experiments"));
        assert!(is_under("anything", ""));
        assert!(!is_under("experiments2/a", "experiments"));
        assert!(!is_under("exp", "experiments"));
    }

    #[test]
    fn normalize_drops_empty_and_dot_components() {
        assert_eq!(normalize("./experiments//a.yml"), "experiments/a.yml");
        assert_eq!(normalize("/"), "");
    }

    #[test]
    fn sources_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GitSource>();
        assert_send_sync::<GitWorkdirSource>();
    }
}
