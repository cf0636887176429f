//! `flagsync convert --to unify`: the quickstart and a branch-per-environment git repository
//! made in a temporary directory become CloudBees Unify CasC trees that validate, report
//! what could not be carried over, and come out byte-identical when converted again.

use std::fs;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use crate::common::{git, text, tree};

const CASC: &str = ".cloudbees/casc/feature-management";

fn flagsync(args: &[&str]) -> Output {
    Command::cargo_bin("flagsync")
        .unwrap()
        .args(["--color", "never"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn convert(from: &Path, out: &Path, more: &[&str]) -> Output {
    let mut args = vec![
        "convert",
        "--to",
        "unify",
        from.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    flagsync(&args)
}

fn validates_clean(dir: &Path) {
    let out = flagsync(&["validate", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": 0 errors, 0 warnings"), "{}", text(&out));
}

fn read(dir: &Path, rel: &str) -> String {
    fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn quickstart_converts_validates_and_converts_again_to_the_same_bytes() {
    let quickstart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let out = tempfile::tempdir().unwrap();
    let first = convert(&quickstart, out.path(), &[]);
    assert!(first.status.success(), "{}", text(&first));
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("converted 2 flags, 4 flag configurations in 2 environments, 4 target groups and 4 properties"),
        "{}",
        text(&first)
    );
    // The report names what was carried over by an inferred mapping, at its place: the
    // platform override became conditions on rox.platform. Nothing was left out.
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("inferred-translation"), "{stderr}");
    assert!(stderr.contains("platform `iOS`"), "{stderr}");
    assert!(
        stderr.contains("environments/Production/button-color.yml:17:5"),
        "{stderr}"
    );
    assert!(
        stderr.contains("2 parts were carried over differently"),
        "{stderr}"
    );
    assert!(!stderr.contains("could not be carried over"), "{stderr}");
    assert!(
        stderr.contains("Confidence rollouts are not CloudBees resources"),
        "{stderr}"
    );

    let dir = out.path();
    let config = read(dir, "flagsync.yaml");
    assert!(config.contains("api: unify"), "{config}");
    assert!(
        config.contains("organization: flagsync-emulator"),
        "{config}"
    );
    assert!(
        config.contains("environments: [Production, Staging]"),
        "{config}"
    );
    assert!(config.contains("state: \".flagsync/emulator\""), "{config}");
    let production = read(
        dir,
        &format!("{CASC}/flag-configurations/Production/checkout.newFlow.config.yaml"),
    );
    // The schedule lost `option`; the Boolean split gained the other half.
    assert!(
        production.contains("  - from: \"2026-12-01T09:00:00.000Z\"\n    percentage: 10\n"),
        "{production}"
    );
    assert!(
        !production.contains("option: true\n    percentage: 10"),
        "{production}"
    );
    assert!(
        production.contains("      - option: true\n        percentage: 50\n      - option: false\n        percentage: 50\n"),
        "{production}"
    );
    let color = read(
        dir,
        &format!("{CASC}/flag-configurations/Production/ui.buttonColor.config.yaml"),
    );
    assert!(
        color.contains(
            "name: rox.app_release\n          operator: semver-lt\n          operands: [\"4.0\"]"
        ),
        "{color}"
    );
    assert!(
        color.contains("flag:\n          name: checkout.newFlow\n          value: true"),
        "{color}"
    );
    // The iOS override first, since the first condition that matches wins.
    assert!(
        color.contains("conditions:\n  - allOf:\n      - property:\n          name: rox.platform\n          operator: eq\n          operands: [iOS]\n    flagValue: orange\n"),
        "{color}"
    );
    assert!(read(dir, &format!("{CASC}/properties/hasBetaAccess.yaml")).contains("type: Boolean"));
    validates_clean(dir);

    // Again into the same directory: nothing changes.
    let before = tree(dir);
    let again = convert(&quickstart, dir, &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout)
            .contains("0 file(s) written (0 overwritten), 15 already up to date"),
        "{}",
        text(&again)
    );
    assert_eq!(tree(dir), before);
    // And into a fresh one: the same bytes.
    let fresh = tempfile::tempdir().unwrap();
    assert!(convert(&quickstart, fresh.path(), &[]).status.success());
    assert_eq!(tree(fresh.path()), before);
}

#[test]
fn converting_refuses_what_it_cannot_read_and_never_overwrites_silently() {
    let out = tempfile::tempdir().unwrap();
    // A CasC tree is converted already.
    let casc = tempfile::tempdir().unwrap();
    let flag = casc.path().join(CASC).join("flags/f.yaml");
    fs::create_dir_all(flag.parent().unwrap()).unwrap();
    fs::write(&flag, "kind: flag\nflag: f\n").unwrap();
    let refused = convert(casc.path(), out.path(), &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("CasC repository already"));

    // Manifests with errors.
    let broken = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken");
    let refused = convert(&broken, out.path(), &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing was written"));
    assert!(tree(out.path()).is_empty());

    // A legacy repository without flagsync.yaml: one environment, no flagsync.yaml
    // written unless the organization and application are given.
    let legacy = tempfile::tempdir().unwrap();
    fs::create_dir_all(legacy.path().join("experiments")).unwrap();
    fs::write(
        legacy.path().join("experiments/f.yml"),
        "type: experiment\nflag: f\nvalue: true\n",
    )
    .unwrap();
    let converted = convert(legacy.path(), out.path(), &[]);
    assert!(converted.status.success(), "{}", text(&converted));
    assert!(String::from_utf8_lossy(&converted.stderr).contains("no flagsync.yaml was written"));
    assert!(!out.path().join("flagsync.yaml").exists());
    assert!(
        out.path()
            .join(CASC)
            .join("flag-configurations/Production/f.config.yaml")
            .is_file()
    );
    validates_clean(out.path());

    // A changed file is not overwritten without --force.
    fs::write(
        legacy.path().join("experiments/f.yml"),
        "type: experiment\nflag: f\nvalue: false\n",
    )
    .unwrap();
    let args = ["--organization", "acme", "--application", "app-1"];
    let conflict = convert(legacy.path(), out.path(), &args);
    assert_eq!(conflict.status.code(), Some(1), "{}", text(&conflict));
    assert!(String::from_utf8_lossy(&conflict.stderr).contains("--force"));
    let forced = convert(
        legacy.path(),
        out.path(),
        &[&args[..], &["--force"]].concat(),
    );
    assert!(forced.status.success(), "{}", text(&forced));
    let config = read(out.path(), "flagsync.yaml");
    assert!(
        config.contains("organization: acme\n  application: app-1\n"),
        "{config}"
    );
    validates_clean(out.path());
}

const CONFIG: &str = "\
cloudbees:
  application: 5f3c2a1b9d8e7f6a5b4c3d2e
  token_env: CLOUDBEES_API_TOKEN
  environments:
    Production: { experiments: experiments }
    Staging: { branch: Staging }
";

const GROUP: &str = "\
type: target-group
name: Beta Users
operator: or
conditions:
  - property: plan
    operator: eq
    operand: enterprise
";

/// master holds Production (and flagsync.yaml); branch Staging holds Staging's experiments.
fn branch_per_environment(root: &Path) {
    git(root, &["init", "-q"]);
    let write = |path: &str, content: &str| {
        let full = root.join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, content).unwrap();
    };
    write("flagsync.yaml", CONFIG);
    write("target_groups/Beta Users.yml", GROUP);
    write(
        "experiments/checkout.yml",
        "type: experiment\nflag: checkout\nconditions:\n  - group:\n      name: Beta Users\n    value: true\nvalue: false\n",
    );
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "Production"]);
    git(root, &["switch", "-q", "-c", "Staging"]);
    write(
        "experiments/checkout.yml",
        "type: experiment\nflag: checkout\nvalue: true\n",
    );
    write(
        "experiments/search.yml",
        "type: experiment\nflag: search\navailableValues: [old, new]\nvalue: new\n",
    );
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "Staging"]);
    git(root, &["switch", "-q", "master"]);
}

#[test]
fn a_branch_per_environment_repository_becomes_one_tree() {
    let repo = tempfile::tempdir().unwrap();
    branch_per_environment(repo.path());

    let from_disk = tempfile::tempdir().unwrap();
    let out = convert(
        repo.path(),
        from_disk.path(),
        &["--organization", "acme", "--application", "app-1"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("converted 2 flags, 3 flag configurations in 2 environments, 1 target group and 1 property"),
        "{}",
        text(&out)
    );
    let dir = from_disk.path();
    let staging = read(
        dir,
        &format!("{CASC}/flag-configurations/Staging/search.config.yaml"),
    );
    assert!(staging.contains("defaultValue: new"), "{staging}");
    let production = read(
        dir,
        &format!("{CASC}/flag-configurations/Production/checkout.config.yaml"),
    );
    assert!(production.contains("name: Beta Users"), "{production}");
    assert!(
        !dir.join(CASC)
            .join("flag-configurations/Production/search.config.yaml")
            .exists()
    );
    let config = read(dir, "flagsync.yaml");
    assert!(
        config.contains("environments: [Production, Staging]"),
        "{config}"
    );
    validates_clean(dir);

    // The same from a revision, and again: the same bytes.
    let from_ref = tempfile::tempdir().unwrap();
    let args = [
        "--ref",
        "master",
        "--organization",
        "acme",
        "--application",
        "app-1",
    ];
    let out = convert(repo.path(), from_ref.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tree(from_ref.path()), tree(dir));
    let again = convert(repo.path(), from_ref.path(), &args);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(tree(from_ref.path()), tree(dir));
}
