//! End to end: `flagsync apply` against the emulator over real loopback HTTP.

use crate::common::{APPLICATION, Emu, quickstart_copy, text};
use serde_json::{Value, json};

fn writes(counters: &Value) -> u64 {
    counters["routes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(label, _)| !label.starts_with("GET ") && !label.contains("oauth"))
        .map(|(_, r)| r["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn the_embedded_emulator_needs_no_account_and_keeps_state_between_runs() {
    let repo = quickstart_copy();
    // No credentials and no URLs: flagsync.yaml's `emulator:` serves both services.
    let emu = Emu::start();
    let run = |args: &[&str]| {
        emu.command(args, repo.path())
            .env_remove("CLOUDBEES_API_TOKEN")
            .env_remove("CONFIDENCE_CLIENT_ID")
            .env_remove("CONFIDENCE_CLIENT_SECRET")
            .env_remove("FLAGSYNC_CLOUDBEES_URL")
            .env_remove("FLAGSYNC_CONFIDENCE_URL")
            .env_remove("FLAGSYNC_CONFIDENCE_IAM_URL")
            .output()
            .unwrap()
    };
    let out = run(&["apply", "--auto-approve"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 failed, 0 never ran"),
        "{}",
        text(&out)
    );
    assert!(repo.path().join(".flagsync/emulator").is_dir());
    let out = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn apply_then_edit_then_apply_again_each_time_leaves_an_empty_plan() {
    let emu = Emu::start();
    let repo = quickstart_copy();

    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Every rollout is live and exists once.
    let rollouts = emu.get("/v1/workflows/rollout/instances?pageSize=100");
    let rollouts = rollouts["rollouts"].as_array().unwrap();
    let mut ids: Vec<&str> = rollouts
        .iter()
        .map(|r| r["labels"]["flagsync-id"].as_str().unwrap())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "a rollout was created twice");

    // An edit of a manifest: exactly that change, applied, then nothing left.
    let file = repo.path().join("environments/Staging/button-color.yml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, yaml.replace("value: green", "value: blue")).unwrap();
    let plan = emu.plan_json(repo.path());
    assert_eq!(plan["summary"]["update"], 1, "{plan}");
    assert_eq!(plan["actions"].as_array().unwrap().len(), 1, "{plan}");
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let live = emu.get(&format!(
        "/public-api/applications/{APPLICATION}/Staging/experiments/ui.buttonColor"
    ));
    assert_eq!(live["value"], "blue");
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn prune_deletes_only_with_the_flag_and_within_max_deletes() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));

    std::fs::remove_file(repo.path().join("environments/Staging/button-color.yml")).unwrap();
    let path = format!("/public-api/applications/{APPLICATION}/Staging/experiments/ui.buttonColor");

    // Without --prune nothing is deleted, but the flag no manifest declares is a
    // difference: --detailed-exitcode reports it.
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // --max-deletes 0 refuses before writing anything.
    emu.reset_counters();
    let out = emu.flagsync(
        &["apply", "--auto-approve", "--prune", "--max-deletes", "0"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(writes(&emu.counters()), 0);
    assert_eq!(emu.get(&path)["flag"], "ui.buttonColor");

    let out = emu.flagsync(
        &["apply", "--auto-approve", "--prune", "--max-deletes", "1"],
        repo.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(emu.send(reqwest::Method::GET, &path, None).0, 404);
    let out = emu.flagsync(&["plan", "--prune", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_saved_plan_is_refused_when_live_state_changed_since_and_nothing_is_overwritten() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));

    let file = repo.path().join("environments/Staging/button-color.yml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, yaml.replace("value: green", "value: blue")).unwrap();
    let plan_file = repo.path().join("plan.json");
    let out = emu.flagsync(&["plan", "--out", plan_file.to_str().unwrap()], repo.path());
    assert!(out.status.success(), "{}", text(&out));

    // Someone changes the flag in the service after the plan was reviewed.
    let path = format!("/public-api/applications/{APPLICATION}/Staging/experiments/ui.buttonColor");
    let status = emu.patch(
        &path,
        json!([{"op": "replace", "path": "/value", "value": "orange"}]),
    );
    assert_eq!(status, 200);

    emu.reset_counters();
    let out = emu.flagsync(
        &[
            "apply",
            "--auto-approve",
            "--plan",
            plan_file.to_str().unwrap(),
        ],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("ui.buttonColor"), "{}", text(&out));
    assert_eq!(writes(&emu.counters()), 0, "a refused plan writes nothing");
    assert_eq!(
        emu.get(&path)["value"],
        "orange",
        "the concurrent change survives"
    );

    // A fresh plan applies.
    let out = emu.flagsync(&["plan", "--out", plan_file.to_str().unwrap()], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(
        &[
            "apply",
            "--auto-approve",
            "--plan",
            plan_file.to_str().unwrap(),
        ],
        repo.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(emu.get(&path)["value"], "blue");
}

#[test]
fn without_a_terminal_apply_needs_auto_approve() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    emu.reset_counters();
    let out = emu.flagsync(&["apply"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--auto-approve"), "{}", text(&out));
    assert_eq!(writes(&emu.counters()), 0);
}

#[test]
fn an_experiment_created_elsewhere_in_another_spelling_is_patched_not_conflicted() {
    // The service (or a person with curl) may hold an object in a spelling other than
    // flagsync's canonical one: labels as one string, no description, no defaults. Planning
    // compares meaning; the PATCH must still apply to the object as stored.
    let emu = Emu::start();
    let repo = quickstart_copy();
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));

    let (status, body) = emu.send(
        reqwest::Method::PUT,
        &format!("/public-api/applications/{APPLICATION}/Staging/experiments"),
        Some(json!({
            "type": "experiment", "flag": "checkout.newFlow", "labels": "checkout",
            "value": false
        })),
    );
    assert!((200..300).contains(&status), "{status} {body}");
    let plan = emu.plan_json(repo.path());
    assert_eq!(plan["summary"]["update"], 1, "{plan}");
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn tokens_never_reach_output_logs_or_plan_files() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let token = flagsync_emulator::DEFAULT_TOKEN;
    let plan_file = repo.path().join("plan.json");
    let outputs = [
        emu.flagsync(
            &["-vvv", "plan", "--out", plan_file.to_str().unwrap()],
            repo.path(),
        ),
        emu.flagsync(&["-vvv", "apply", "--auto-approve"], repo.path()),
        emu.flagsync(&["-vvv", "plan", "--format", "json"], repo.path()),
    ];
    for out in &outputs {
        assert!(out.status.success(), "{}", text(out));
        assert!(!text(out).contains(token), "token in output: {}", text(out));
    }
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!saved.contains(token));

    // A wrong token is refused with a message that names the variable, not the value.
    let out = emu
        .command(&["-vvv", "plan"], repo.path())
        .env("CLOUDBEES_API_TOKEN", "wrong-token-4f1c")
        .env("CONFIDENCE_CLIENT_SECRET", "wrong-secret-9b2e")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("wrong-token-4f1c"), "{}", text(&out));
    assert!(!text(&out).contains("wrong-secret-9b2e"), "{}", text(&out));
}

#[test]
fn an_impossible_delete_is_reported_skipped_never_succeeded() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    // No call of the Confidence API deletes a rollout.
    std::fs::remove_file(repo.path().join("rollouts/dark-mode.yml")).unwrap();

    emu.reset_counters();
    let out = emu.flagsync(&["apply", "--auto-approve", "--prune"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "skipped   delete rollout/dark-mode: not possible through the API: the Confidence API has no call that deletes a rollout"
        ),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("Apply complete: 0 succeeded, 0 failed, 0 never ran, 1 skipped."),
        "{}",
        text(&out)
    );
    assert_eq!(writes(&emu.counters()), 0, "nothing was sent");

    let out = emu.flagsync(
        &["apply", "--auto-approve", "--prune", "--format", "json"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert_eq!(
        report["summary"],
        json!({"succeeded": 0, "failed": 0, "conflicts": 0, "never_ran": 0, "skipped": 1}),
        "{report}"
    );
    let outcome = &report["outcomes"][0];
    assert_eq!(outcome["action_id"], "rollout/dark-mode");
    assert_eq!(outcome["status"], "skipped");
    assert!(
        outcome["reason"]
            .as_str()
            .unwrap()
            .contains("end or remove it in Confidence"),
        "{report}"
    );
    // The rollout is still there, so the plan still says so.
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("? rollout/dark-mode (id "),
        "{}",
        text(&out)
    );
}
