//! Two revisions of a real git repository, compared offline.

use std::path::Path;
use std::process::Command;

use flagsync_pipeline::{PipelineError, Side};
use flagsync_plan::Operation;

use crate::common::Recorder;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .args(["-c", "user.name=flagsync tests"])
        .args(["-c", "user.email=tests@flagsync.invalid"])
        .args(args)
        .output()
        .expect("git is installed");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn commit(root: &Path, files: &[(&str, Option<&str>)]) {
    for (path, content) in files {
        let full = root.join(path);
        match content {
            Some(text) => {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(full, text).unwrap();
            }
            None => std::fs::remove_file(full).unwrap(),
        }
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "change"]);
}

const CONFIG: &str = "cloudbees:\n  application: app\n  token_env: TOKEN\n  target_groups: target_groups\n  environments:\n    Production: { experiments: experiments }\n";

fn group(name: &str, description: &str) -> String {
    format!("type: target-group\nname: {name}\ndescription: {description}\n")
}

#[test]
fn head_against_base_creates_updates_and_deletes_offline() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    commit(
        root,
        &[
            ("flagsync.yaml", Some(CONFIG)),
            ("target_groups/a.yml", Some(&group("a", "one"))),
            ("target_groups/b.yml", Some(&group("b", "one"))),
        ],
    );
    commit(
        root,
        &[
            ("target_groups/a.yml", Some(&group("a", "two"))),
            ("target_groups/b.yml", None),
            ("target_groups/c.yml", Some(&group("c", "one"))),
        ],
    );
    let recorder = Recorder::default();
    let c = flagsync_pipeline::compare(root, "HEAD~1", "HEAD", &recorder).unwrap();
    let ops: Vec<(&str, Operation)> = c
        .plan
        .actions
        .iter()
        .map(|a| (a.key.name.as_str(), a.operation))
        .collect();
    assert_eq!(ops.len(), 3, "{ops:?}");
    for op in [
        ("a", Operation::Update),
        ("b", Operation::Delete),
        ("c", Operation::Create),
    ] {
        assert!(ops.contains(&op), "{op:?} in {ops:?}");
    }
    assert_eq!(c.base.rev, "HEAD~1");
    assert_eq!(c.head.commit.as_deref().map(str::len), Some(40));
    assert!(c.notes.is_empty());
    assert_eq!(
        *recorder.events.borrow(),
        ["head HEAD: 0 diagnostic(s)", "base HEAD~1: 0 diagnostic(s)"]
    );
}

#[test]
fn a_head_with_errors_stops_and_a_base_without_the_directory_is_all_new() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    commit(root, &[("README", Some("nothing here yet\n"))]);
    commit(
        root,
        &[
            ("repo/flagsync.yaml", Some(CONFIG)),
            ("repo/target_groups/a.yml", Some(&group("a", "one"))),
        ],
    );
    let c = flagsync_pipeline::compare(&root.join("repo"), "HEAD~1", "HEAD", &Recorder::default())
        .unwrap();
    assert_eq!(c.plan.summary.create, 1);
    assert_eq!(c.base.commit, None);
    assert!(
        c.plan.warnings[0].contains("does not have this directory"),
        "{:?}",
        c.plan.warnings
    );

    commit(
        root,
        &[(
            "repo/target_groups/a.yml",
            Some("type: target-group\noperator: 7\n"),
        )],
    );
    let err =
        flagsync_pipeline::compare(&root.join("repo"), "HEAD~1", "HEAD", &Recorder::default())
            .unwrap_err();
    assert!(
        matches!(&err, PipelineError::InvalidHead { rev, .. } if rev == "HEAD"),
        "{err:?}"
    );
    let err = flagsync_pipeline::compare(root, "nope", "HEAD", &Recorder::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            PipelineError::OpenRevision {
                side: Side::Base,
                ..
            }
        ),
        "{err:?}"
    );
}
