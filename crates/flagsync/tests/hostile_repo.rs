//! Repositories as an attacker would write them (a pull request from a fork): links out of
//! the repository, special files. Nothing outside the root is read, shown or written.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{Emu, git, quickstart_copy, text};

/// Set in every run below: it must never reach the output.
const MARKER: &str = "leaked-marker-7f3a9c";

fn output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `flagsync ARGS DIR` against `emu` with [`MARKER`] in its environment, and checks
/// that it failed cleanly (exit 1, no panic) and that the marker did not leak.
fn run_refused(emu: &Emu, args: &[&str], dir: &Path) -> String {
    let out = emu
        .command(args, dir)
        .env("LEAK_CHECK", MARKER)
        .output()
        .unwrap();
    let all = output(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
    assert!(!all.contains(MARKER), "{args:?} leaked: {}", text(&out));
    all
}

#[test]
fn a_linked_flagsync_yaml_is_never_read() {
    let emu = Emu::start();
    // The process environment, and a file outside whose parse error would quote it.
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.yaml");
    fs::write(&secret, format!("cloudbees: [{MARKER}\n")).unwrap();
    for target in [Path::new("/proc/self/environ"), secret.as_path()] {
        let repo = quickstart_copy();
        fs::remove_file(repo.path().join("flagsync.yaml")).unwrap();
        symlink(target, repo.path().join("flagsync.yaml")).unwrap();
        for args in [&["validate"][..], &["plan"], &["apply", "--auto-approve"]] {
            let all = run_refused(&emu, args, repo.path());
            assert!(
                all.contains("flagsync.yaml:1:1: not read: it is a symbolic link that leads"),
                "{target:?} {args:?}: {all}"
            );
        }
    }
    // Nothing was sent.
    assert_eq!(
        emu.get("/public-api/applications/5f3c2a1b9d8e7f6a5b4c3d2e/target-groups"),
        serde_json::json!([])
    );
}

#[test]
fn a_link_inside_the_repository_is_followed() {
    let repo = quickstart_copy();
    let dir = repo.path();
    fs::create_dir(dir.join("config")).unwrap();
    fs::rename(dir.join("flagsync.yaml"), dir.join("config/flagsync.yaml")).unwrap();
    symlink("config/flagsync.yaml", dir.join("flagsync.yaml")).unwrap();
    let emu = Emu::start();
    let out = emu.flagsync(&["validate"], dir);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn linked_directories_that_leave_the_repository_are_not_read_or_written() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    // target_groups lives outside, and one of its files would show the marker in a snippet.
    let outside = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(dir.join("target_groups")).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), outside.path().join(entry.file_name())).unwrap();
    }
    fs::write(
        outside.path().join("bad.yml"),
        format!("type: target-group\nname: x\n{MARKER}: 1\n"),
    )
    .unwrap();
    fs::remove_dir_all(dir.join("target_groups")).unwrap();
    symlink(outside.path(), dir.join("target_groups")).unwrap();
    // And inside an experiments folder: a linked folder and a linked file.
    symlink(outside.path(), dir.join("environments/Production/more")).unwrap();
    symlink(
        outside.path().join("bad.yml"),
        dir.join("environments/Staging/bad.yml"),
    )
    .unwrap();
    let before = snapshot(outside.path());

    for args in [
        &["validate"][..],
        &["plan"],
        &["apply", "--auto-approve"],
        &["export", "--force"],
    ] {
        let all = run_refused(&emu, args, dir);
        for path in [
            "target_groups:1:1: not read",
            "environments/Production/more:1:1: not read",
            "environments/Staging/bad.yml:1:1: not read",
        ] {
            assert!(all.contains(path), "{args:?}: {path} missing: {all}");
        }
        assert_eq!(snapshot(outside.path()), before, "{args:?} wrote outside");
    }
}

/// Every file of a directory and its content.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn special_files_are_refused_without_waiting_on_them() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let fifo = repo.path().join("rollouts/pipe.yml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // Opening the FIFO would block until a writer comes: the run would hang.
    let all = run_refused(&emu, &["validate"], repo.path());
    assert!(
        all.contains("rollouts/pipe.yml:1:1: not read: it is a FIFO, not a regular file"),
        "{all}"
    );
}

#[test]
fn links_committed_to_git_are_never_followed() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("bad.yml"),
        format!("type: target-group\nname: x\n{MARKER}: 1\n"),
    )
    .unwrap();
    fs::remove_file(dir.join("flagsync.yaml")).unwrap();
    symlink("/proc/self/environ", dir.join("flagsync.yaml")).unwrap();
    symlink(outside.path(), dir.join("rollouts/shared")).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "links"]);
    // The links are gone from disk: only the revision holds them.
    git(dir, &["checkout", "-q", "HEAD~1"]);

    let all = run_refused(&emu, &["validate", "--ref", "HEAD@{1}"], dir);
    assert!(
        all.contains("flagsync.yaml:1:1: not read: it is a symbolic link in a git"),
        "{all}"
    );
    let all = run_refused(&emu, &["plan", "--ref", "master"], dir);
    assert!(all.contains("flagsync.yaml:1:1: not read"), "{all}");
    let all = run_refused(&emu, &["diff", "--base", "HEAD", "--head", "master"], dir);
    assert!(
        all.contains("flagsync.yaml:1:1: head revision master: not read"),
        "{all}"
    );
}
