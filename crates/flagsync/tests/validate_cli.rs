//! `flagsync validate` and `flagsync schema` as a user runs them.

use std::path::PathBuf;

use assert_cmd::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn flagsync() -> Command {
    let mut cmd = Command::cargo_bin("flagsync").unwrap();
    cmd.current_dir(workspace())
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "off");
    cmd
}

#[test]
fn quickstart_validates_clean() {
    let out = flagsync()
        .args(["--color", "never", "validate", "examples/quickstart"])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(
        stdout.trim(),
        "validated 11 files (4 experiments in 2 environments, 4 target groups, 2 rollouts): 0 errors, 0 warnings"
    );
    assert!(out.get_output().stderr.is_empty());
}

#[test]
fn broken_shows_every_problem_with_its_position() {
    let out = flagsync()
        .args(["--color", "never", "validate", "examples/broken"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for at in [
        "[experiments/bad-semver.yml:6:15]",
        "[experiments/cycle-a.yml:5:13]",
        "[experiments/duplicate-2.yml:2:7]",
        "[experiments/duplicate-key.yml:4:1]",
        "experiments/empty.yml:1:1: file is empty",
        "[experiments/missing-type.yml:1:1]",
        "[experiments/not-a-boolean.yml:3:10]",
        "[experiments/percentage.yml:5:3]",
        "[experiments/schedule-string.yml:5:3]",
        "[experiments/unknown-dependency.yml:5:13]",
        "[experiments/unknown-field.yml:3:1]",
        "[experiments/unknown-group.yml:5:13]",
        "[experiments/unknown-type.yml:1:7]",
        "[experiments/warnings.yml:8:16]",
        "[experiments/yaml-syntax.yml:4:3]",
        "[rollouts/bad-id.yml:2:5]",
        "[rollouts/reach.yml:6:10]",
        "[rollouts/unknown-ref.yml:18:18]",
        "[target_groups/cycle-a.yml:5:13]",
        "[target_groups/unknown-field.yml:2:1]",
        "[target_groups/unknown-operator.yml:5:15]",
        "[target_groups/wrong-operand.yml:6:14]",
        "[target_groups/wrong-operand.yml:9:14]",
    ] {
        assert!(stderr.contains(at), "missing {at}");
    }
    assert!(!stderr.contains('\u{1b}'), "no colour with --color never");
    insta::assert_snapshot!("broken_human", stderr);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(
        stdout.trim(),
        "validated 27 files (9 experiments in 1 environment, 4 target groups, 3 rollouts): 22 errors, 3 warnings"
    );
}

#[test]
fn broken_as_json() {
    let out = flagsync()
        .args(["validate", "examples/broken", "--format", "json"])
        .assert()
        .code(1);
    let mut json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["summary"]["errors"], 22);
    // The metadata names this checkout's commit, which every commit changes: checked here,
    // left out of the snapshot.
    let metadata = json
        .as_object_mut()
        .unwrap()
        .shift_remove("metadata")
        .unwrap();
    assert_eq!(metadata["flagsync_version"], env!("CARGO_PKG_VERSION"));
    insta::assert_json_snapshot!("broken_json", json);
}

#[test]
fn colour_is_used_only_when_allowed() {
    let colored = flagsync()
        .args(["--color", "always", "validate", "examples/broken"])
        .assert()
        .code(1);
    assert!(colored.get_output().stderr.contains(&0x1b));
    let plain = flagsync()
        .env("NO_COLOR", "1")
        .args(["validate", "examples/broken"])
        .assert()
        .code(1);
    assert!(!plain.get_output().stderr.contains(&0x1b));
}

#[test]
fn warnings_fail_only_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("experiments")).unwrap();
    std::fs::write(
        dir.path().join("experiments/x.yml"),
        "type: experiment\nflag: x\navailableValues: [a, b]\nvalue: c\n",
    )
    .unwrap();
    let ok = flagsync()
        .args(["--color", "never", "validate"])
        .arg(dir.path())
        .assert()
        .code(0);
    let stderr = String::from_utf8_lossy(&ok.get_output().stderr).into_owned();
    assert!(stderr.contains("value-not-available"), "{stderr}");
    flagsync()
        .args(["validate", "--strict"])
        .arg(dir.path())
        .assert()
        .code(1);
}

#[test]
fn an_empty_directory_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = flagsync()
        .args(["--color", "never", "validate"])
        .arg(dir.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("no-manifests"), "{stderr}");
}

#[test]
fn a_missing_directory_fails_clearly() {
    flagsync()
        .args(["--color", "never", "validate", "does/not/exist"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("does/not/exist"));
}

#[test]
fn schema_writes_the_committed_schemas() {
    let dir = tempfile::tempdir().unwrap();
    flagsync()
        .args(["schema", "--out"])
        .arg(dir.path())
        .assert()
        .code(0);
    for name in [
        "experiment.schema.json",
        "target-group.schema.json",
        "rollout.schema.json",
        "flagsync.schema.json",
    ] {
        let written = std::fs::read_to_string(dir.path().join(name)).unwrap();
        let committed = std::fs::read_to_string(workspace().join("schemas").join(name)).unwrap();
        assert_eq!(written, committed, "{name}");
    }
}
