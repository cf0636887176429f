//! End to end: `flagsync export` against the emulator over real loopback HTTP. Resources
//! are created through the services' APIs (as if made in their UIs), exported into a
//! repository holding only a flagsync.yaml, and the result must validate cleanly and plan
//! empty.

use std::path::Path;

use crate::common::{APPLICATION, Emu, config_only_repo, text};
use serde_json::json;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Live resources covering the shapes export must reproduce exactly.
fn populate(emu: &Emu) {
    emu.put_target_group(json!({
        "type": "target-group", "name": "Beta Users", "description": "Beta, early users",
        "conditions": [{"property": "email", "operator": "regex", "operand": ".*@example\\.com"}]
    }));
    emu.put_target_group(json!({
        "type": "target-group", "name": "Bêta users", "description": "accented: with a colon", "operator": "and",
        "conditions": [
            {"property": "country", "operator": "in-array", "operand": ["SE", "NO", 3]},
            {"property": "age", "operator": "gte", "operand": 18}
        ]
    }));
    emu.put_target_group(json!({
        "type": "target-group", "name": "a/b",
        "conditions": [{"group": {"name": ["Beta Users", "Bêta users"], "operator": "any-groups"}}]
    }));
    emu.put_target_group(json!({
        "type": "target-group", "name": "CON", "conditions": [{"property": "isStaff", "operator": "is-true"}]
    }));
    emu.put_target_group(json!({
        "type": "target-group", "name": "null",
        "description": "line one\nline \"two\"\ttab: # not a comment",
        "conditions": [{"property": "tier", "operator": "eq", "operand": "~"}]
    }));
    emu.put_target_group(json!({
        "type": "target-group", "name": "NO", "conditions": [{"property": "plan", "operator": "eq", "operand": "yes"}]
    }));

    emu.put_experiment("Production", json!({
        "type": "experiment", "flag": "checkout.v2", "name": "Checkout (ignored by the service)",
        "description": "new checkout", "labels": "checkout",
        "platforms": [{"name": "iOS", "value": false}],
        "conditions": [{"group": {"name": "Beta Users"}, "value": true}],
        "value": [{"option": true, "percentage": 30}]
    }));
    emu.put_experiment("Production", json!({
        "type": "experiment", "flag": "price.tier", "availableValues": ["low", 10.5, "NO", "1.0"],
        "stickinessProperty": "userId",
        "conditions": [
            {"property": {"name": "plan", "operator": "eq", "operand": "pro"}, "value": "low"},
            {"group": {"name": ["a/b", "CON"], "operator": "and"}, "value": "1.0"}
        ],
        "value": 10.5
    }));
    emu.put_experiment(
        "Production",
        json!({
            "type": "experiment", "flag": "launch.date", "labels": ["b", "a"],
            "value": [
                {"from": "2024-01-15T10:00:00Z", "percentage": 10, "option": true},
                {"from": "2024-02-01T00:00:00Z", "percentage": 100, "option": true}
            ]
        }),
    );
    emu.put_experiment(
        "Production",
        json!({
            "type": "experiment", "flag": "killed", "enabled": false,
            "conditions": [{"version": {"operator": "semver-gte", "semver": "2.1"}, "value": true}],
            "value": null
        }),
    );
    emu.put_experiment(
        "Staging",
        json!({
            "type": "experiment", "flag": "checkout.v2",
            "conditions": [
                {"group": {"name": ["NO"], "operator": "nor"}, "value": true},
                {"value": [{"option": true, "percentage": 50}]}
            ],
            "value": false
        }),
    );
    emu.put_experiment("Staging", json!({
        "type": "experiment", "flag": "ui.color", "availableValues": ["red", "blue", "yes"],
        "conditions": [{"dependency": {"flag": "checkout.v2", "value": "true"}, "value": "yes"}],
        "value": "red"
    }));

    emu.create_rollout(
        json!({
            "displayName": "New Search Feature Rollout",
            "labels": {"flagsync-id": "new-search", "managed-by": "flagsync", "team": "growth"},
            "flags": {"targetingKeySelector": "targeting_key"},
            "rollout": {"flag": "flags/search-flag", "variant": "flags/search-flag/variants/enabled", "reach": "0.50"},
            "metrics": {
                "assignmentTable": "assignmentTables/my-assignment-table",
                "entity": "entities/user", "bucket": "DAYS",
                "metrics": [{"metric": "metrics/conversion-rate",
                    "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01},
                    "preferredDirection": "INCREASE"}]
            }
        }),
        Some(json!({
            "criteria": {"country": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "SE"}}}}},
            "expression": {"and": {"operands": [{"ref": "country"}]}}
        })),
        true,
    );
    // Made by hand in the UI: no flagsync label; an export writes it for adoption.
    emu.create_rollout(
        json!({"displayName": "Manual", "rollout": {"flag": "flags/manual"}}),
        None,
        false,
    );
}

#[test]
fn export_into_an_empty_repository_validates_and_plans_empty() {
    let emu = Emu::start();
    populate(&emu);
    let repo = config_only_repo();
    let dir = repo.path();

    let out = emu.flagsync(&["export"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!(
            "exported 6 target groups, 6 experiments in 2 environments, 2 rollouts to {}",
            dir.display()
        )),
        "{}",
        text(&out)
    );
    assert!(!stderr(&out).contains("warning"), "{}", text(&out));
    assert!(
        stderr(&out).contains("1 rollout(s) without the flagsync-id label were written"),
        "{}",
        text(&out)
    );

    // File names: identities made safe, spaces and accents kept.
    for rel in [
        "target_groups/Beta Users.yml",
        "target_groups/Bêta users.yml",
        "target_groups/a_b.yml",
        "target_groups/_CON.yml",
        "target_groups/NO.yml",
        "target_groups/null.yml",
        "environments/Production/checkout.v2.yml",
        "environments/Production/price.tier.yml",
        "environments/Production/launch.date.yml",
        "environments/Production/killed.yml",
        "environments/Staging/checkout.v2.yml",
        "environments/Staging/ui.color.yml",
        "rollouts/new-search.yml",
        "rollouts/manual.yml",
    ] {
        assert!(dir.join(rel).is_file(), "{rel} missing; {}", text(&out));
    }

    // Strings a YAML reader could take for something else stay strings; type comes first.
    let beta = read(dir, "target_groups/Beta Users.yml");
    assert!(beta.contains("description: Beta, early users\n"), "{beta}");
    let no = read(dir, "target_groups/NO.yml");
    assert!(no.starts_with("type: target-group\nname: \"NO\"\n"), "{no}");
    assert!(no.contains("operand: \"yes\""), "{no}");
    let null = read(dir, "target_groups/null.yml");
    assert!(
        null.starts_with("type: target-group\nname: \"null\"\n"),
        "{null}"
    );
    assert!(null.contains("operand: \"~\""), "{null}");
    let price = read(dir, "environments/Production/price.tier.yml");
    assert!(
        price.contains("availableValues: [low, 10.5, \"NO\", \"1.0\"]"),
        "{price}"
    );
    assert!(price.contains("value: 10.5"), "{price}");
    let checkout = read(dir, "environments/Production/checkout.v2.yml");
    assert!(
        !checkout.contains("name: Checkout"),
        "the ignored name is not written: {checkout}"
    );
    assert!(checkout.contains("labels: [checkout]"), "{checkout}");
    let schedule = read(dir, "environments/Production/launch.date.yml");
    assert!(
        schedule.contains("from: \"2024-01-15T10:00:00Z\""),
        "{schedule}"
    );
    let rollout = read(dir, "rollouts/new-search.yml");
    assert!(
        rollout.starts_with("type: rollout\nid: new-search\n"),
        "{rollout}"
    );
    assert!(rollout.contains("reach: \"0.5\""), "{rollout}");
    assert!(rollout.contains("state: live"), "{rollout}");
    assert!(!rollout.contains("managed-by"), "{rollout}");
    assert!(!rollout.contains("flagsync-id"), "{rollout}");
    assert!(rollout.contains("team: growth"), "{rollout}");

    let out = emu.flagsync(&["validate"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("0 errors, 0 warnings"),
        "{}",
        text(&out)
    );
    let manual = read(dir, "rollouts/manual.yml");
    assert!(
        manual.starts_with("type: rollout\nid: manual\ninstance: workflows/rollout/instances/"),
        "{manual}"
    );
    // The only change: the rollout made by hand is adopted.
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stdout(&out).contains("Plan: 1 to adopt, 0 to create, 0 to update, 0 to delete."),
        "{}",
        text(&out)
    );

    // Exporting again changes nothing and needs no --force.
    let out = emu.flagsync(&["export"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("0 file(s) written (0 overwritten), 14 already up to date"),
        "{}",
        text(&out)
    );
}

#[test]
fn export_never_overwrites_without_force_and_adopts_a_ui_change_with_it() {
    let emu = Emu::start();
    populate(&emu);
    let repo = config_only_repo();
    let dir = repo.path();
    let out = emu.flagsync(&["export"], dir);
    assert!(out.status.success(), "{}", text(&out));
    // The rollout made by hand is adopted first.
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));

    // Someone changes two flags in the UI.
    let path = format!("/public-api/applications/{APPLICATION}/Production/experiments/price.tier");
    assert_eq!(
        emu.patch(
            &path,
            json!([{"op": "replace", "path": "/value", "value": "low"}])
        ),
        200
    );
    let path = format!("/public-api/applications/{APPLICATION}/Staging/experiments/ui.color");
    assert_eq!(
        emu.patch(
            &path,
            json!([{"op": "replace", "path": "/value", "value": "blue"}])
        ),
        200
    );
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let before = read(dir, "environments/Production/price.tier.yml");
    let out = emu.flagsync(&["export"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("would overwrite 2 existing file(s)"),
        "{}",
        text(&out)
    );
    assert!(
        err.contains("environments/Production/price.tier.yml"),
        "{}",
        text(&out)
    );
    assert!(
        err.contains("environments/Staging/ui.color.yml"),
        "{}",
        text(&out)
    );
    assert!(err.contains("--force"), "{}", text(&out));
    assert_eq!(
        read(dir, "environments/Production/price.tier.yml"),
        before,
        "nothing was written"
    );

    let out = emu.flagsync(&["export", "--force"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(read(dir, "environments/Production/price.tier.yml").contains("value: low"));
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_declared_resource_is_rewritten_in_its_own_file_and_kinds_can_be_chosen() {
    let emu = Emu::start();
    populate(&emu);
    let repo = config_only_repo();
    let dir = repo.path();
    std::fs::create_dir_all(dir.join("target_groups")).unwrap();
    std::fs::write(
        dir.join("target_groups/beta.yml"),
        "type: target-group\nname: Beta Users\ndescription: stale copy\nconditions: []\n",
    )
    .unwrap();

    std::fs::write(
        dir.join("target_groups/gone.yml"),
        "type: target-group\nname: Gone\nconditions: []\n",
    )
    .unwrap();

    let out = emu.flagsync(&["export", "--kind", "target-group"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("target_groups/beta.yml"),
        "{}",
        text(&out)
    );

    let out = emu.flagsync(&["export", "--kind", "target-group", "--force"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("exported 6 target groups to {}", dir.display())),
        "{}",
        text(&out)
    );
    assert!(
        !dir.join("target_groups/Beta Users.yml").exists(),
        "no duplicate file"
    );
    assert!(
        stderr(&out).contains("1 manifest(s) declare resources that are not live, left as they are: target_groups/gone.yml"),
        "{}",
        text(&out)
    );
    assert!(dir.join("target_groups/gone.yml").is_file());
    assert!(read(dir, "target_groups/beta.yml").contains("regex"));
    assert!(!dir.join("environments").exists() && !dir.join("rollouts").exists());

    // Only one environment.
    let out = emu.flagsync(&["export", "--kind", "experiment", "--env", "Staging"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("exported 2 experiments in 1 environment"),
        "{}",
        text(&out)
    );
    assert!(dir.join("environments/Staging/ui.color.yml").is_file());
    assert!(!dir.join("environments/Production").exists());

    let out = emu.flagsync(&["export", "--env", "Nowhere"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("no such environment"),
        "{}",
        text(&out)
    );
}

#[test]
fn export_refuses_next_to_manifests_with_errors() {
    let emu = Emu::start();
    populate(&emu);
    let repo = config_only_repo();
    let dir = repo.path();
    std::fs::create_dir_all(dir.join("target_groups")).unwrap();
    std::fs::write(
        dir.join("target_groups/broken.yml"),
        "type: target-group\nname: [unclosed\n",
    )
    .unwrap();
    let out = emu.flagsync(&["export"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("the repository has 1 error(s)"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("environments").exists(), "nothing was written");
}

#[test]
fn environments_on_other_branches_are_skipped_with_a_warning() {
    let emu = Emu::start();
    populate(&emu);
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    std::fs::write(
        dir.join("flagsync.yaml"),
        format!(
            "cloudbees:\n  application: {APPLICATION}\n  environments:\n    Production: {{ experiments: experiments }}\n    Staging: {{ branch: Staging }}\n"
        ),
    )
    .unwrap();
    let out = emu.flagsync(&["export"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out)
            .contains("skipping environment Staging: its experiments live on branch Staging"),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("exported 6 target groups, 4 experiments in 1 environment to"),
        "{}",
        text(&out)
    );
    assert!(dir.join("experiments/killed.yml").is_file());
    assert!(dir.join("target_groups/a_b.yml").is_file());
}

/// A file outside the repository that a planted link points at; it must never change.
#[cfg(unix)]
fn outside_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("victim.txt");
    std::fs::write(&file, "precious\n").unwrap();
    (outside, file)
}

#[cfg(unix)]
#[test]
fn a_link_planted_at_the_old_temporary_name_is_never_followed() {
    let emu = Emu::start();
    populate(&emu);
    let repo = config_only_repo();
    let dir = repo.path();
    let out = emu.flagsync(&["export", "--kind", "target-group"], dir);
    assert!(out.status.success(), "{}", text(&out));

    // The file differs from live state, so export --force rewrites it, and a link waits
    // where export used to put its temporary file.
    let target = dir.join("target_groups/Beta Users.yml");
    std::fs::write(
        &target,
        "type: target-group\nname: Beta Users\nconditions: []\n",
    )
    .unwrap();
    let (_outside, victim) = outside_file();
    std::os::unix::fs::symlink(
        &victim,
        dir.join("target_groups/.Beta Users.yml.flagsync-tmp"),
    )
    .unwrap();

    let out = emu.flagsync(&["export", "--kind", "target-group", "--force"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(meta.file_type().is_file(), "the manifest is a regular file");
    assert!(read(dir, "target_groups/Beta Users.yml").contains("regex"));
}

/// A link where a manifest would go is neither read nor written through: loading refuses it
/// (`refused-path`), so export stops before writing anything (the library also refuses to
/// write through a link outright; see `flagsync_manifest::write`).
#[cfg(unix)]
#[test]
fn export_never_writes_through_a_link_in_the_repository() {
    let emu = Emu::start();
    populate(&emu);
    let repo = config_only_repo();
    let dir = repo.path();
    std::fs::create_dir_all(dir.join("target_groups")).unwrap();
    let (_outside, victim) = outside_file();
    let link = dir.join("target_groups/Beta Users.yml");
    std::os::unix::fs::symlink(&victim, &link).unwrap();

    let out = emu.flagsync(&["export", "--kind", "target-group", "--force"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("refused-path"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let names: Vec<String> = std::fs::read_dir(dir.join("target_groups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["Beta Users.yml"], "nothing else was written");
}

#[cfg(unix)]
#[test]
fn export_refuses_a_directory_linked_outside_the_repository() {
    let emu = Emu::start();
    populate(&emu);
    let repo = config_only_repo();
    let dir = repo.path();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.join("target_groups")).unwrap();

    let out = emu.flagsync(&["export", "--kind", "target-group"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // Loading refuses the linked directory (miette may wrap the sentence, so the code).
    assert!(stderr(&out).contains("refused-path"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

    // A link to a directory inside the repository is fine.
    std::fs::remove_file(dir.join("target_groups")).unwrap();
    std::fs::create_dir(dir.join("groups")).unwrap();
    std::os::unix::fs::symlink("groups", dir.join("target_groups")).unwrap();
    let out = emu.flagsync(&["export", "--kind", "target-group"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dir.join("groups/NO.yml").is_file());
}
