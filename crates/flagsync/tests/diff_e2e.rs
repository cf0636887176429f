//! `flagsync diff --base REV --head REV` on real git repositories built with the git CLI in
//! temporary directories: a branch-per-environment repository with flagsync.yaml (master is
//! Production, branch Staging), names with spaces and non-ASCII letters, and the legacy
//! layout. Nothing here talks to a service: diff is offline.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::git;

fn init(root: &Path) {
    git(root, &["init", "-q"]);
    git(root, &["config", "user.name", "flagsync tests"]);
    git(root, &["config", "user.email", "tests@flagsync.invalid"]);
}

fn write(root: &Path, path: &str, content: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, content).unwrap();
}

fn remove(root: &Path, path: &str) {
    fs::remove_file(root.join(path)).unwrap();
}

fn commit_all(root: &Path, message: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", message]);
}

fn short(root: &Path, rev: &str) -> String {
    git(root, &["rev-parse", "--short=7", rev])
}

/// `flagsync ARGS...` run inside `dir`, without colour or logs.
fn flagsync(dir: &Path, args: &[&str]) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("flagsync"))
        .current_dir(dir)
        .args(["--color", "never"])
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "off")
        // Diff needs no credential: make sure none is around to be used.
        .env_remove("CLOUDBEES_API_TOKEN")
        .env_remove("CONFIDENCE_CLIENT_ID")
        .env_remove("CONFIDENCE_CLIENT_SECRET")
        .output()
        .expect("flagsync runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

const CONFIG_PRODUCTION_ONLY: &str = "\
cloudbees:
  application: 5f3c2a1b9d8e7f6a5b4c3d2e
  token_env: CLOUDBEES_API_TOKEN
  target_groups: target_groups
  environments:
    Production: { experiments: experiments }
";

const CONFIG_WITH_STAGING: &str = "\
cloudbees:
  application: 5f3c2a1b9d8e7f6a5b4c3d2e
  token_env: CLOUDBEES_API_TOKEN
  target_groups: target_groups
  environments:
    Production: { experiments: experiments }
    Staging: { branch: Staging }
";

const BETA: &str = "\
type: target-group
name: Bêta users
description: Users who opted in
conditions:
  - property: hasBetaAccess
    operator: is-true
";

const BETA_CHANGED: &str = "\
type: target-group
name: Bêta users
description: Users who opted in to beta features
conditions:
  - property: hasBetaAccess
    operator: is-true
  - property: rox.app_release
    operator: semver-gte
    operand: 4.6.0
";

const OLD_GROUP: &str = "\
type: target-group
name: Old group
conditions:
  - property: email
    operator: regex
    operand: '.*@old\\.example$'
";

const TEST_FLAG: &str = "\
type: experiment
flag: test flag
description: A flag whose name has a space
conditions:
  - group:
      name: Bêta users
    value: true
value:
  - option: true
    percentage: 10
";

const TEST_FLAG_CHANGED: &str = "\
type: experiment
flag: test flag
description: A flag whose name has a space
conditions:
  - group:
      name: Bêta users
    value: true
value:
  - option: true
    percentage: 50
";

/// The same meaning as TEST_FLAG_CHANGED, spelled differently.
const TEST_FLAG_RESPELLED: &str = "\
# reformatted: same meaning
type: experiment
flag: test flag
description: 'A flag whose name has a space'
enabled: true
labels: []
conditions:
  - value: true
    group: { name: [Bêta users] }
value: [{ percentage: 50, option: true }]
";

const LEGACY_FLAG: &str = "\
type: experiment
flag: legacy.flag
value: false
";

const NEW_FLAG: &str = "\
type: experiment
flag: checkout.newFlow
description: The redesigned checkout
labels: checkout
value: true
";

const STAGING_FLAG: &str = "\
type: experiment
flag: test flag
value: true
";

/// master: c1 Production only; c2 maps Staging to its branch; c3 changes, adds and
/// removes resources; c4 respells a manifest without changing its meaning. Branch
/// Staging (off c1) holds Staging's experiments at its root.
fn branch_per_environment() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    init(root);
    write(root, "flagsync.yaml", CONFIG_PRODUCTION_ONLY);
    write(root, "target_groups/Bêta users.yml", BETA);
    write(root, "target_groups/Old group.yml", OLD_GROUP);
    write(root, "experiments/test flag.yml", TEST_FLAG);
    write(root, "experiments/legacy.flag.yml", LEGACY_FLAG);
    commit_all(root, "Production");

    git(root, &["switch", "-q", "-c", "Staging"]);
    write(root, "experiments/test flag.yml", STAGING_FLAG);
    remove(root, "experiments/legacy.flag.yml");
    commit_all(root, "Staging");
    git(root, &["switch", "-q", "master"]);

    write(root, "flagsync.yaml", CONFIG_WITH_STAGING);
    commit_all(root, "Staging from its branch");

    write(root, "target_groups/Bêta users.yml", BETA_CHANGED);
    remove(root, "target_groups/Old group.yml");
    write(root, "experiments/test flag.yml", TEST_FLAG_CHANGED);
    remove(root, "experiments/legacy.flag.yml");
    write(root, "experiments/checkout.newFlow.yml", NEW_FLAG);
    commit_all(root, "Change, add and remove");

    write(root, "experiments/test flag.yml", TEST_FLAG_RESPELLED);
    commit_all(root, "Respell");
    tmp
}

/// The output with the short commit ids of the revisions named, for snapshots.
fn redact(text: &str, root: &Path, revs: &[&str]) -> String {
    let mut text = text.to_owned();
    for rev in revs {
        text = text.replace(&short(root, rev), "<commit>");
    }
    text
}

#[test]
fn markdown_comment_shows_created_changed_and_deleted_resources() {
    let repo = branch_per_environment();
    let root = repo.path();
    let out = flagsync(
        root,
        &[
            "diff", "--base", "HEAD~2", "--head", "HEAD~1", "--format", "markdown",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let md = stdout(&out);
    assert!(md.chars().count() <= 65_536);
    assert!(
        md.contains("Plan: 1 to create, 2 to update, 2 to delete."),
        "{md}"
    );
    for id in [
        "experiment/Production/checkout.newFlow",
        "experiment/Production/test flag",
        "target-group/Bêta users",
        "experiment/Production/legacy.flag",
        "target-group/Old group",
    ] {
        assert!(md.contains(id), "{id} missing from\n{md}");
    }
    // Neither temp paths nor full commit ids end up in a comment.
    assert!(!md.contains(&root.display().to_string()));
    assert!(!md.contains(&git(root, &["rev-parse", "HEAD~1"])));
    insta::assert_snapshot!(
        "branch_per_environment_markdown",
        redact(&md, root, &["HEAD~2", "HEAD~1"])
    );
}

#[test]
fn markdown_between_the_last_two_commits_of_a_respelling_is_empty() {
    let repo = branch_per_environment();
    let root = repo.path();
    let out = flagsync(
        root,
        &[
            "diff",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "--format",
            "markdown",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    insta::assert_snapshot!(
        "respelling_markdown",
        redact(&stdout(&out), root, &["HEAD~1", "HEAD"])
    );
}

#[test]
fn detailed_exitcode_is_two_for_changes_and_zero_for_none() {
    let repo = branch_per_environment();
    let root = repo.path();
    let changed = flagsync(
        root,
        &[
            "diff",
            "--base",
            "HEAD~2",
            "--head",
            "HEAD",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(changed.status.code(), Some(2), "{}", both(&changed));
    let text = stdout(&changed);
    for line in [
        "+ create experiment/Production/checkout.newFlow",
        "~ update experiment/Production/test flag",
        "~ update target-group/Bêta users",
        "- delete experiment/Production/legacy.flag",
        "- delete target-group/Old group",
        "Plan: 1 to create, 2 to update, 2 to delete.",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }

    for (base, head) in [("HEAD", "HEAD"), ("HEAD~1", "HEAD"), ("master", "master")] {
        let same = flagsync(
            root,
            &[
                "diff",
                "--base",
                base,
                "--head",
                head,
                "--detailed-exitcode",
            ],
        );
        assert_eq!(
            same.status.code(),
            Some(0),
            "{base}..{head}: {}",
            both(&same)
        );
        assert!(
            stdout(&same).contains(&format!(
                "No changes. `{head}` declares the same desired state as `{base}`."
            )),
            "{}",
            both(&same)
        );
    }
}

#[test]
fn json_lists_rfc6902_operations_and_the_revisions() {
    let repo = branch_per_environment();
    let root = repo.path();
    let out = flagsync(
        root,
        &[
            "diff", "--base", "HEAD~2", "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("diff --format json is JSON");
    assert_eq!(doc["format_version"], 2);
    assert_eq!(doc["base"]["rev"], "HEAD~2");
    assert_eq!(doc["head"]["rev"], "HEAD");
    assert_eq!(doc["head"]["commit"], git(root, &["rev-parse", "HEAD"]));
    assert_eq!(doc["summary"]["create"], 1);
    assert_eq!(doc["summary"]["update"], 2);
    assert_eq!(doc["summary"]["delete"], 2);

    let actions = doc["actions"].as_array().unwrap();
    let action = |id: &str| {
        actions
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {doc}"))
    };
    let flag = action("experiment/Production/test flag");
    assert_eq!(flag["operation"], "update");
    let patch = flag["patch"].as_array().unwrap();
    assert!(
        patch.iter().any(|op| op["op"] == "replace"
            && op["path"] == "/value/0/percentage"
            && op["value"] == 50),
        "{patch:?}"
    );
    // Every replace is guarded by a test of the value seen, as in a plan.
    assert!(patch.iter().any(|op| op["op"] == "test"), "{patch:?}");
    let group = action("target-group/Bêta users");
    assert!(
        group["patch"]
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op["op"] == "add" && op["path"] == "/conditions/1"),
        "{group}"
    );
    assert_eq!(
        action("experiment/Production/checkout.newFlow")["desired"]["labels"],
        serde_json::json!(["checkout"])
    );
    assert_eq!(action("target-group/Old group")["operation"], "delete");
    assert_eq!(
        action("experiment/Production/legacy.flag")["operation"],
        "delete"
    );
}

#[test]
fn environment_branches_are_read_at_their_tip_and_said_so() {
    let repo = branch_per_environment();
    let root = repo.path();
    // c1 -> c2 starts reading Staging from its branch: its experiments appear.
    let out = flagsync(
        root,
        &[
            "diff", "--base", "HEAD~3", "--head", "HEAD~2", "--format", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["experiment/Staging/test flag"]);
    assert_eq!(
        doc["notes"][0],
        "Environment `Staging` is read from the tip of branch `Staging`."
    );

    // A later commit to the Staging branch does not change what master's revisions compare.
    git(root, &["switch", "-q", "Staging"]);
    write(
        root,
        "experiments/test flag.yml",
        "type: experiment\nflag: test flag\nvalue: false\n",
    );
    commit_all(root, "Staging: off");
    git(root, &["switch", "-q", "master"]);
    let out = flagsync(root, &["diff", "--base", "HEAD~2", "--head", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(!text.contains("experiment/Staging"), "{text}");
    assert!(
        text.contains(
            "Note: Environment `Staging` is read from the tip of branch `Staging` for both \
             revisions, so its experiments show no change here"
        ),
        "{text}"
    );
}

#[test]
fn unknown_revision_fails_with_a_clear_message() {
    let repo = branch_per_environment();
    let root = repo.path();
    for (base, head, side) in [("nope", "HEAD", "base"), ("HEAD", "nope", "head")] {
        let out = flagsync(root, &["diff", "--base", base, "--head", head]);
        assert_eq!(out.status.code(), Some(1), "{}", both(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("cannot read the {side} revision `nope`")),
            "{err}"
        );
        assert!(err.contains("unknown git revision `nope`"), "{err}");
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn invalid_head_fails_with_file_line_and_column() {
    let repo = branch_per_environment();
    let root = repo.path();
    git(root, &["switch", "-q", "-c", "broken"]);
    write(
        root,
        "experiments/test flag.yml",
        "type: experiment\nflag: test flag\nvalu: true\n",
    );
    commit_all(root, "typo");
    git(root, &["switch", "-q", "master"]);

    let out = flagsync(root, &["diff", "--base", "master", "--head", "broken"]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("[experiments/test flag.yml:3:1]"), "{err}");
    assert!(err.contains("head revision broken"), "{err}");
    assert!(
        err.contains("the head revision `broken` has 1 error(s)"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());

    // The same problem in the base is only a warning: the fix is the change under review.
    let out = flagsync(
        root,
        &[
            "diff",
            "--base",
            "broken",
            "--head",
            "master",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("[experiments/test flag.yml:3:1]"), "{err}");
    assert!(err.contains("base revision broken"), "{err}");
    assert!(!err.contains("× "), "no error severity for the base: {err}");
    let text = stdout(&out);
    assert!(
        text.contains("the base revision broken has 1 error(s)"),
        "{text}"
    );
    assert!(
        text.contains("+ create experiment/Production/test flag"),
        "{text}"
    );
}

#[test]
fn legacy_layout_without_flagsync_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    init(root);
    write(root, "target_groups/Bêta users.yml", BETA);
    write(root, "experiments/test flag.yml", TEST_FLAG);
    commit_all(root, "first");
    write(root, "experiments/test flag.yml", TEST_FLAG_CHANGED);
    write(root, "experiments/checkout.newFlow.yml", NEW_FLAG);
    commit_all(root, "second");

    let out = flagsync(
        root,
        &[
            "diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ops: Vec<(String, String)> = doc["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_owned(),
                a["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            (
                "experiment/Production/checkout.newFlow".to_owned(),
                "create".to_owned()
            ),
            (
                "experiment/Production/test flag".to_owned(),
                "update".to_owned()
            ),
        ]
    );

    // Run from a subdirectory of the work tree with DIR pointing at the root.
    fs::create_dir_all(root.join("sub")).unwrap();
    let out = flagsync(
        &root.join("sub"),
        &["diff", "--base", "HEAD~1", "--head", "HEAD", ".."],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(stdout(&out).contains("Plan: 1 to create, 1 to update, 0 to delete."));
}

#[test]
fn a_directory_the_base_lacks_is_all_new() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    init(root);
    write(root, "README.md", "before flagsync\n");
    commit_all(root, "first");
    write(root, "flags/target_groups/Bêta users.yml", BETA);
    write(root, "flags/experiments/test flag.yml", TEST_FLAG);
    commit_all(root, "add flags");

    let out = flagsync(
        root,
        &["diff", "--base", "HEAD~1", "--head", "HEAD", "flags"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Plan: 2 to create, 0 to update, 0 to delete."),
        "{text}"
    );
    assert!(text.contains("does not have this directory"), "{text}");
}

#[test]
fn markdown_stays_within_a_github_comment() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    init(root);
    write(root, "flagsync.yaml", CONFIG_PRODUCTION_ONLY);
    write(root, "target_groups/Bêta users.yml", BETA);
    commit_all(root, "empty");
    let conditions: String = (0..12)
        .map(|i| format!("  - group:\n      name: Bêta users\n    value: v{i}\n"))
        .collect();
    for i in 0..300 {
        write(
            root,
            &format!("experiments/flag {i:03}.yml"),
            &format!(
                "type: experiment\nflag: flag {i:03}\ndescription: {}\navailableValues: [{}]\nconditions:\n{conditions}value: v0\n",
                "long description ".repeat(12),
                (0..12)
                    .map(|v| format!("v{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    commit_all(root, "many flags");

    let out = flagsync(
        root,
        &[
            "diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "markdown",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let md = stdout(&out);
    assert!(
        md.chars().count() <= 65_536,
        "{} characters",
        md.chars().count()
    );
    assert!(
        md.starts_with("<!-- flagsync-plan -->\n### flagsync diff `HEAD~1 ("),
        "{md}"
    );
    assert!(md.contains("\nPlan: 300 to create, 0 to update, 0 to delete.\n"));
    assert!(md.contains("to fit in a GitHub comment."), "{md}");
    assert!(
        md.contains("Run `flagsync diff --base HEAD~1 --head HEAD` to see every change."),
        "{md}"
    );
    assert!(!md.contains("flagsync plan"), "{md}");
}

const CONFIG_ROLLOUTS: &str = "\
confidence:
  client_id_env: CONFIDENCE_CLIENT_ID
  client_secret_env: CONFIDENCE_CLIENT_SECRET
  rollouts: rollouts
";

fn rollout(id: &str, reach: &str) -> String {
    format!(
        "type: rollout\nid: {id}\nstate: draft\nflags:\n  targetingKeySelector: targeting_key\n\
         rollout:\n  flag: flags/{id}\n  variant: flags/{id}/variants/on\n  reach: \"{reach}\"\n"
    )
}

#[test]
fn rollouts_change_and_removal_is_flagged_as_not_deletable() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    init(root);
    write(root, "flagsync.yaml", CONFIG_ROLLOUTS);
    write(root, "rollouts/dark-mode.yml", &rollout("dark-mode", "0.1"));
    write(root, "rollouts/old.yml", &rollout("old", "0.2"));
    commit_all(root, "two rollouts");
    write(root, "rollouts/dark-mode.yml", &rollout("dark-mode", "0.5"));
    remove(root, "rollouts/old.yml");
    commit_all(root, "reach 0.5, old gone");

    let out = flagsync(
        root,
        &[
            "diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = doc["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 2, "{doc}");
    let dark = actions
        .iter()
        .find(|a| a["id"] == "rollout/dark-mode")
        .unwrap();
    assert_eq!(dark["operation"], "update");
    assert!(
        dark["patch"]
            .as_array()
            .unwrap()
            .iter()
            .any(|op| op["op"] == "replace" && op["path"] == "/rollout/reach"),
        "{dark}"
    );
    let old = actions.iter().find(|a| a["id"] == "rollout/old").unwrap();
    assert_eq!(old["operation"], "delete");
    assert!(
        doc["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("rollout/old: the Confidence API has no call")),
        "{doc}"
    );
}
