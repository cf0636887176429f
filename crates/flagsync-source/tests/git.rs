//! GitSource and GitWorkdirSource against real repositories built with the git CLI in
//! temporary directories: branch per environment (Production on master), tags, a bare
//! clone, a clone with remote-tracking branches, a shallow clone, odd file names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flagsync_source::{
    GitSource, GitWorkdirSource, MAX_FILE_BYTES, Refusal, Source, SourceError, Tree,
};

/// Runs git in `dir` with a configuration of its own, so that the tests behave the same
/// on a fresh CI machine (no identity) and on a developer's (signing, hooks, templates).
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "user.name=flagsync tests",
            "-c",
            "user.email=tests@flagsync.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "init.defaultBranch=master",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, content).unwrap();
}

fn commit_all(root: &Path, message: &str) -> String {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", message]);
    git(root, &["rev-parse", "HEAD"])
}

/// A legacy CloudBees repository: master is Production, Staging and Testing branch off
/// the first commit.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    first: String,
    second: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    fs::create_dir(&root).unwrap();
    git(&root, &["init", "-q"]);
    write(&root, "experiments/a.yml", "flag: a\nvalue: 1\n");
    write(&root, "experiments/test flag.yml", "flag: test flag\n");
    write(&root, "target_groups/Bêta users.yml", "name: Bêta users\n");
    let first = commit_all(&root, "first");
    git(&root, &["tag", "v1"]);
    git(&root, &["tag", "-a", "-m", "annotated", "v1-annotated"]);
    git(&root, &["branch", "Staging"]);
    git(&root, &["branch", "Testing"]);
    write(&root, "experiments/a.yml", "flag: a\nvalue: 2\n");
    write(&root, "experiments/archived/old.yml", "flag: old\n");
    write(&root, "config/experiments/c.yml", "flag: c\n");
    let second = commit_all(&root, "second");
    git(&root, &["switch", "-q", "Staging"]);
    write(&root, "experiments/a.yml", "flag: a\nvalue: staging\n");
    commit_all(&root, "staging change");
    git(&root, &["switch", "-q", "master"]);
    Fixture {
        _tmp: tmp,
        root,
        first,
        second,
    }
}

fn paths(tree: &dyn Tree, dir: &str) -> Vec<String> {
    tree.files_under(dir)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect()
}

fn text(tree: &dyn Tree, path: &str) -> String {
    String::from_utf8(tree.read(path).unwrap()).unwrap()
}

#[test]
fn reads_a_branch_without_checking_it_out() {
    let fx = fixture();
    // The work tree is on master; Staging is read from the object database only.
    let src = GitSource::open(&fx.root, "Staging").unwrap();
    assert_eq!(text(&src, "experiments/a.yml"), "flag: a\nvalue: staging\n");
    assert_eq!(
        paths(&src, "experiments"),
        ["experiments/a.yml", "experiments/test flag.yml"]
    );
    assert!(
        src.describe().starts_with("Staging ("),
        "{}",
        src.describe()
    );
}

#[test]
fn lists_every_blob_sorted_with_odd_names() {
    let fx = fixture();
    let src = GitSource::open(&fx.root, "master").unwrap();
    assert_eq!(
        paths(&src, ""),
        [
            "config/experiments/c.yml",
            "experiments/a.yml",
            "experiments/archived/old.yml",
            "experiments/test flag.yml",
            "target_groups/Bêta users.yml",
        ]
    );
    assert_eq!(
        paths(&src, "experiments/"),
        [
            "experiments/a.yml",
            "experiments/archived/old.yml",
            "experiments/test flag.yml",
        ]
    );
    // A missing folder is empty, and a folder name is matched as a whole component.
    assert!(paths(&src, "environments").is_empty());
    assert!(paths(&src, "experiment").is_empty());
    let sizes: Vec<u64> = src
        .files_under("target_groups")
        .unwrap()
        .iter()
        .map(|f| f.size)
        .collect();
    assert_eq!(sizes, ["name: Bêta users\n".len() as u64]);
    assert_eq!(
        text(&src, "target_groups/Bêta users.yml"),
        "name: Bêta users\n"
    );
    assert!(src.is_file("experiments/test flag.yml"));
    assert!(!src.is_file("experiments"));
    assert!(!src.is_file("experiments/missing.yml"));
    assert!(matches!(
        src.read("experiments/missing.yml"),
        Err(SourceError::NotFound { .. })
    ));
}

#[test]
fn resolves_relative_revisions_tags_and_short_shas() {
    let fx = fixture();
    let short = git(&fx.root, &["rev-parse", "--short=7", &fx.first]);
    for rev in [
        "HEAD~1",
        "master~1",
        "v1",
        "v1-annotated",
        &fx.first,
        &short,
    ] {
        let src = GitSource::open(&fx.root, rev).unwrap();
        assert_eq!(
            text(&src, "experiments/a.yml"),
            "flag: a\nvalue: 1\n",
            "{rev}"
        );
        assert!(!src.is_file("experiments/archived/old.yml"), "{rev}");
        assert_eq!(src.id(), fx.first, "{rev}");
        assert_eq!(src.describe(), format!("{rev} ({})", &fx.first[..7]));
    }
    let head = GitSource::open(&fx.root, "HEAD").unwrap();
    assert_eq!(head.id(), fx.second);
    assert_eq!(text(&head, "experiments/a.yml"), "flag: a\nvalue: 2\n");
}

#[test]
fn unknown_revision_is_named() {
    let fx = fixture();
    let err = GitSource::open(&fx.root, "no-such-branch").unwrap_err();
    assert!(
        matches!(&err, SourceError::UnknownRevision { rev, .. } if rev == "no-such-branch"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("`no-such-branch`"), "{message}");
    // The blob of a file is no commit or tree.
    let blob = format!("{}:experiments/a.yml", fx.first);
    assert!(matches!(
        GitSource::open(&fx.root, &blob),
        Err(SourceError::UnknownRevision { .. })
    ));
}

#[test]
fn environment_branches_come_from_the_same_repository() {
    let fx = fixture();
    let src = GitSource::open(&fx.root, "master").unwrap();
    let staging = src.branch("Staging").unwrap();
    assert_eq!(
        text(&*staging, "experiments/a.yml"),
        "flag: a\nvalue: staging\n"
    );
    let testing = src.branch("Testing").unwrap();
    assert_eq!(text(&*testing, "experiments/a.yml"), "flag: a\nvalue: 1\n");
    let err = src.branch("Qa").err().expect("no branch Qa");
    assert!(matches!(err, SourceError::BranchNotFound { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("`Qa`") && message.contains("`origin/Qa`"),
        "{message}"
    );
}

#[test]
fn reads_a_bare_clone() {
    let fx = fixture();
    let bare = fx.root.with_file_name("bare.git");
    git(
        fx.root.parent().unwrap(),
        &["clone", "-q", "--bare", "repo", "bare.git"],
    );
    let src = GitSource::open(&bare, "master").unwrap();
    assert_eq!(text(&src, "experiments/a.yml"), "flag: a\nvalue: 2\n");
    let staging = src.branch("Staging").unwrap();
    assert_eq!(
        text(&*staging, "experiments/a.yml"),
        "flag: a\nvalue: staging\n"
    );
}

#[test]
fn clone_reads_remote_tracking_branches() {
    let fx = fixture();
    git(&fx.root, &["branch", "main", "master~1"]);
    let parent = fx.root.parent().unwrap();
    git(parent, &["clone", "-q", "repo", "clone"]);
    let clone = parent.join("clone");
    let src = GitSource::open(&clone, "origin/main").unwrap();
    assert_eq!(src.id(), fx.first);
    // The clone has only a local master: Staging falls back to origin/Staging.
    let staging = src.branch("Staging").unwrap();
    assert!(
        staging.describe().starts_with("origin/Staging ("),
        "{}",
        staging.describe()
    );
    assert_eq!(
        text(&*staging, "experiments/a.yml"),
        "flag: a\nvalue: staging\n"
    );
    // A local branch wins over the remote-tracking one.
    git(&clone, &["branch", "Staging", "origin/Testing"]);
    let staging = src.branch("Staging").unwrap();
    assert!(staging.describe().starts_with("Staging ("));
    assert_eq!(text(&*staging, "experiments/a.yml"), "flag: a\nvalue: 1\n");
}

#[test]
fn shallow_clone_says_to_fetch_more_history() {
    let fx = fixture();
    let parent = fx.root.parent().unwrap();
    let url = format!("file://{}", fx.root.display());
    git(parent, &["clone", "-q", "--depth", "1", &url, "shallow"]);
    let shallow = parent.join("shallow");
    let head = GitSource::open(&shallow, "HEAD").unwrap();
    assert_eq!(head.id(), fx.second);
    for rev in ["HEAD~1", fx.first.as_str()] {
        let err = GitSource::open(&shallow, rev).unwrap_err();
        assert!(
            matches!(err, SourceError::ShallowClone { .. }),
            "{rev}: {err:?}"
        );
        assert!(err.to_string().contains("git fetch --unshallow"), "{err}");
    }
}

#[test]
fn a_subdirectory_is_the_root_of_every_tree() {
    let fx = fixture();
    let config = fx.root.join("config");
    let src = GitSource::open(&config, "master").unwrap();
    assert_eq!(src.prefix(), "config");
    assert_eq!(paths(&src, ""), ["experiments/c.yml"]);
    assert_eq!(text(&src, "experiments/c.yml"), "flag: c\n");
    // Staging has no config/ folder: the same prefix applies, so that is an error.
    let err = src.branch("Staging").err().expect("no config/ on Staging");
    assert!(matches!(err, SourceError::NotFound { .. }), "{err:?}");
    assert!(matches!(
        GitSource::open(&config, "HEAD~1"),
        Err(SourceError::NotFound { .. })
    ));
    // A subdirectory of the work tree that the revision has.
    let experiments = fx.root.join("experiments");
    let src = GitSource::open(&experiments, "Staging").unwrap();
    assert_eq!(paths(&src, ""), ["a.yml", "test flag.yml"]);
}

#[test]
fn refuses_a_large_blob_by_its_size() {
    let fx = fixture();
    let big = fs::File::create(fx.root.join("experiments/big.yml")).unwrap();
    big.set_len(MAX_FILE_BYTES + 1).unwrap();
    drop(big);
    commit_all(&fx.root, "big");
    let src = GitSource::open(&fx.root, "HEAD").unwrap();
    let listed = src.files_under("experiments").unwrap();
    assert!(
        listed
            .iter()
            .any(|f| f.path == "experiments/big.yml" && f.size == MAX_FILE_BYTES + 1)
    );
    assert!(matches!(
        src.read("experiments/big.yml"),
        Err(SourceError::TooLarge { size, .. }) if size == MAX_FILE_BYTES + 1
    ));
    assert_eq!(text(&src, "experiments/a.yml"), "flag: a\nvalue: 2\n");
}

#[test]
fn outside_a_repository_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = GitSource::open(tmp.path(), "HEAD").unwrap_err();
    assert!(matches!(err, SourceError::NotARepository { .. }), "{err:?}");
    assert!(matches!(
        GitWorkdirSource::open(tmp.path()),
        Err(SourceError::NotARepository { .. })
    ));
}

#[test]
fn work_tree_from_disk_and_environment_branches_from_git() {
    let fx = fixture();
    // An uncommitted edit is what validate in a pre-commit hook must see.
    write(&fx.root, "experiments/a.yml", "flag: a\nvalue: edited\n");
    let src = GitWorkdirSource::open(&fx.root).unwrap();
    assert_eq!(
        text(src.root(), "experiments/a.yml"),
        "flag: a\nvalue: edited\n"
    );
    assert!(src.root().is_file("target_groups/Bêta users.yml"));
    let staging = src.branch("Staging").unwrap();
    assert_eq!(
        text(&*staging, "experiments/a.yml"),
        "flag: a\nvalue: staging\n"
    );
    assert!(matches!(
        src.branch("Qa"),
        Err(SourceError::BranchNotFound { .. })
    ));
    // From a subdirectory, branches are read at the same subdirectory.
    let sub = GitWorkdirSource::open(fx.root.join("experiments")).unwrap();
    assert_eq!(
        paths(sub.root(), ""),
        ["a.yml", "archived/old.yml", "test flag.yml"]
    );
    assert_eq!(
        paths(&*sub.branch("Testing").unwrap(), ""),
        ["a.yml", "test flag.yml"]
    );
}

#[test]
fn reads_from_several_threads() {
    let fx = fixture();
    let src = GitSource::open(&fx.root, "master").unwrap();
    let files = src.files_under("").unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for file in &files {
                    assert_eq!(src.read(&file.path).unwrap().len() as u64, file.size);
                }
            });
        }
    });
}

#[cfg(unix)]
#[test]
fn non_utf8_names_and_symlinks() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let fx = fixture();
    let name = OsStr::from_bytes(b"bad\xffname.yml");
    fs::write(fx.root.join("experiments").join(name), "x").unwrap();
    std::os::unix::fs::symlink("a.yml", fx.root.join("target_groups/link.yml")).unwrap();
    commit_all(&fx.root, "odd entries");
    let src = GitSource::open(&fx.root, "HEAD").unwrap();
    let err = src.files_under("experiments").unwrap_err();
    assert!(matches!(err, SourceError::NonUtf8Name { .. }), "{err:?}");
    assert!(src.files_under("").is_err());
    // Other folders stay readable, and a symbolic link is no regular file.
    assert_eq!(
        paths(&src, "target_groups"),
        ["target_groups/Bêta users.yml"]
    );
    // The link is there, but never read: its blob holds a path, not a manifest.
    assert!(src.is_file("target_groups/link.yml"));
    assert!(matches!(
        src.read("target_groups/link.yml"),
        Err(SourceError::Refused {
            reason: Refusal::LinkInRevision,
            ..
        })
    ));
    let listing = src.list("target_groups").unwrap();
    assert_eq!(listing.refused.len(), 1);
    assert_eq!(listing.refused[0].path, "target_groups/link.yml");
}

#[test]
fn links_in_a_revision_are_never_followed() {
    let fx = fixture();
    let outside = fx.root.parent().unwrap().join("outside");
    write(&outside, "secret.yml", "name: top secret\n");
    let link = |target: &Path, at: &str| std::os::unix::fs::symlink(target, fx.root.join(at));
    link(Path::new("/proc/self/environ"), "flagsync.yaml").unwrap();
    link(&outside, "target_groups/shared").unwrap();
    link(&outside.join("secret.yml"), "experiments/secret.yml").unwrap();
    commit_all(&fx.root, "links");
    for src in [
        GitSource::open(&fx.root, "HEAD").unwrap(),
        // The same through a bare clone, where nothing is checked out to follow.
        {
            let bare = fx.root.parent().unwrap().join("bare.git");
            git(
                fx.root.parent().unwrap(),
                &["clone", "-q", "--bare", "repo", "bare.git"],
            );
            GitSource::open(&bare, "HEAD").unwrap()
        },
    ] {
        for path in [
            "flagsync.yaml",
            "target_groups/shared",
            "experiments/secret.yml",
        ] {
            assert!(src.is_file(path), "{path}");
            let err = src.read(path).unwrap_err();
            assert!(
                matches!(
                    err,
                    SourceError::Refused {
                        reason: Refusal::LinkInRevision,
                        ..
                    }
                ),
                "{path}: {err:?}"
            );
        }
        let refused: Vec<_> = src
            .list("")
            .unwrap()
            .refused
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(
            refused,
            [
                "experiments/secret.yml",
                "flagsync.yaml",
                "target_groups/shared"
            ]
        );
        assert!(!paths(&src, "").iter().any(|p| p.contains("secret")));
        // A directory that is itself a link is refused as the directory it stands for.
        let listing = src.list("target_groups/shared").unwrap();
        assert!(listing.files.is_empty());
        assert_eq!(listing.refused.len(), 1);
        assert!(listing.refused[0].directory);
    }
}

#[test]
fn partial_clone_names_the_missing_objects() {
    let fx = fixture();
    git(&fx.root, &["config", "uploadpack.allowFilter", "true"]);
    let parent = fx.root.parent().unwrap();
    let url = format!("file://{}", fx.root.display());
    git(
        parent,
        &[
            "clone",
            "-q",
            "--filter=blob:none",
            "--no-checkout",
            &url,
            "partial",
        ],
    );
    // Commits and trees are there, blobs are not, and libgit2 cannot fetch them.
    let src = GitSource::open(&parent.join("partial"), "HEAD~1").unwrap();
    let err = src.files_under("experiments").unwrap_err();
    assert!(matches!(err, SourceError::Git(_)), "{err:?}");
    assert!(err.to_string().contains("partial clone"), "{err}");
    assert!(!err.to_string().starts_with("git: git:"), "{err}");
}

#[test]
fn a_directory_that_exists_only_in_the_revision() {
    let fx = fixture();
    // The work tree is on Staging, which has no config/ folder; master has one.
    git(&fx.root, &["switch", "-q", "Staging"]);
    let config = fx.root.join("config");
    assert!(!config.exists());
    let src = GitSource::open(&config, "master").unwrap();
    assert_eq!(src.prefix(), "config");
    assert_eq!(paths(&src, ""), ["experiments/c.yml"]);
    let nested = GitSource::open(&config.join("experiments"), "master").unwrap();
    assert_eq!(nested.prefix(), "config/experiments");
    assert_eq!(paths(&nested, ""), ["c.yml"]);
}

#[test]
fn missing_remote_tracking_branch_says_how_to_fetch_it() {
    let fx = fixture();
    let err = GitSource::open(&fx.root, "origin/main").unwrap_err();
    assert!(
        matches!(err, SourceError::UnknownRevision { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("git fetch origin main:refs/remotes/origin/main"),
        "{err}"
    );
}
