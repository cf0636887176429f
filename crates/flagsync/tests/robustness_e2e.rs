//! Input built to break the output: one-line manifests wider than any terminal, documents
//! of many lines under one diagnostic, and repositories with thousands of broken files.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::common::{Emu, config_only_repo, git, text};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// validate, plan and diff (against the commit before `write` ran) of `dir`, each failing
/// with exit 1 and printing less than `max_bytes` on stderr.
fn every_command_fails_briefly(
    dir: &Path,
    write: impl FnOnce(&Path),
    max_bytes: usize,
) -> Vec<String> {
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    write(dir);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "broken"]);
    let emu = Emu::start();
    let mut all = Vec::new();
    for args in [
        &["validate"][..],
        &["plan"],
        &["diff", "--base", "HEAD~1", "--head", "HEAD"],
    ] {
        let out = emu.flagsync(args, dir);
        // 101 is a panic.
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.len() < max_bytes,
            "{args:?} printed {} bytes: {}",
            err.len(),
            &err[..err.len().min(3000)]
        );
        all.push(err);
    }
    all
}

#[test]
fn a_problem_past_column_65535_is_shown_in_a_window_of_its_line() {
    let repo = config_only_repo();
    let outs = every_command_fails_briefly(
        repo.path(),
        |dir| {
            let line = format!(
                "{{type: target-group, name: wide, description: {}, bogus: 1}}\n",
                "x".repeat(70_000)
            );
            fs::create_dir_all(dir.join("target_groups")).unwrap();
            fs::write(dir.join("target_groups/wide.yml"), line).unwrap();
        },
        5_000,
    );
    for err in outs {
        assert!(err.contains("target_groups/wide.yml:1:70049]"), "{err}");
        assert!(err.contains("unknown field `bogus`"), "{err}");
        assert!(err.contains("…xxxx"), "{err}");
    }
}

#[test]
fn a_diagnostic_over_a_whole_document_shows_its_first_line_only() {
    let repo = config_only_repo();
    let outs = every_command_fails_briefly(
        repo.path(),
        |dir| {
            // A list, not a mapping: the diagnostic spans all 50,000 lines.
            fs::create_dir_all(dir.join("rollouts")).unwrap();
            fs::write(dir.join("rollouts/list.yml"), "- item\n".repeat(50_000)).unwrap();
        },
        5_000,
    );
    for err in outs {
        assert!(err.contains("rollouts/list.yml:1:1]"), "{err}");
        assert!(err.contains("a manifest is a mapping"), "{err}");
    }
}

#[test]
fn thousands_of_broken_files_print_the_first_and_count_the_rest() {
    let repo = config_only_repo();
    let outs = every_command_fails_briefly(
        repo.path(),
        |dir| {
            fs::create_dir_all(dir.join("target_groups")).unwrap();
            for i in 0..1_000 {
                fs::write(
                    dir.join(format!("target_groups/g{i:04}.yml")),
                    format!("type: target-group\nname: g{i}\nbogus: 1\n"),
                )
                .unwrap();
            }
        },
        // 200 diagnostics of ~500 bytes each.
        200_000,
    );
    for err in outs {
        assert_eq!(err.matches("unknown field `bogus`").count(), 200, "{err}");
        assert!(
            err.contains("… and 800 more problem(s) not shown (800 error(s), 0 warning(s))"),
            "{}",
            &err[err.len().saturating_sub(2000)..]
        );
    }
}

/// validate and plan of `dir` (a quickstart copy) fail, each naming every `expected`
/// position, and nothing is sent.
fn validate_and_plan_refuse(dir: &Path, expected: &[&str]) {
    let emu = Emu::start();
    for args in [&["validate"][..], &["plan"], &["apply", "--auto-approve"]] {
        let out = emu.flagsync(args, dir);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let err = stderr(&out);
        for at in expected {
            assert!(err.contains(at), "{args:?}: {at} missing: {err}");
        }
    }
    assert_eq!(
        emu.get("/public-api/applications/5f3c2a1b9d8e7f6a5b4c3d2e/target-groups"),
        serde_json::json!([])
    );
}

#[test]
fn dot_and_dot_dot_are_not_names() {
    let repo = crate::common::quickstart_copy();
    let dir = repo.path();
    fs::write(
        dir.join("target_groups/dotdot.yml"),
        "type: target-group\nname: ..\nconditions:\n  - property: a\n    operator: is-true\n",
    )
    .unwrap();
    fs::write(
        dir.join("environments/Production/dot.yml"),
        "type: experiment\nflag: .\nvalue: true\n",
    )
    .unwrap();
    validate_and_plan_refuse(
        dir,
        &[
            "`..` cannot be a target group name",
            "[target_groups/dotdot.yml:2:7]",
            "`.` cannot be a flag name",
            "[environments/Production/dot.yml:2:7]",
        ],
    );
}

#[test]
fn integers_past_2_pow_53_are_refused_not_rounded() {
    let repo = crate::common::quickstart_copy();
    let dir = repo.path();
    // 2^53 + 1 is the first integer a double cannot hold; 2^64 + 1 does not fit 64 bits.
    fs::write(
        dir.join("target_groups/ids.yml"),
        "type: target-group\nname: ids\nconditions:\n  - property: accountId\n    operator: in-array\n    operand: [9007199254740992, 18446744073709551617]\n",
    )
    .unwrap();
    fs::write(
        dir.join("environments/Production/big.yml"),
        "type: experiment\nflag: big\navailableValues: [1, 2]\nvalue: 9007199254740993\n",
    )
    .unwrap();
    let rollout = fs::read_to_string(dir.join("rollouts/new-search.yml"))
        .unwrap()
        .replace("- stringValue: NO", "- numberValue: -9007199254740993");
    fs::write(dir.join("rollouts/new-search.yml"), rollout).unwrap();
    validate_and_plan_refuse(
        dir,
        &[
            "[target_groups/ids.yml:6:33]",
            "[environments/Production/big.yml:4:8]",
            "[rollouts/new-search.yml:20:30]",
            "a number beyond ±2^53",
        ],
    );
}
