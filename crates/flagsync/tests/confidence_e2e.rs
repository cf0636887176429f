//! End to end, through the binary against the emulator: Confidence as its API reference
//! documents it. A rollout made by hand is adopted; the fields the service fills in
//! survive plans and updates; every targeting rule and value kind goes from a manifest to
//! the service and back unchanged; a rollout edited during an apply is not overwritten;
//! each API has its own host.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Emu, quickstart_copy, text};

const INSTANCES: &str = "/v1/workflows/rollout/instances";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A repository that manages Confidence rollouts only.
fn confidence_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flagsync.yaml"),
        "confidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: CONFIDENCE_CLIENT_SECRET\n  rollouts: rollouts\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("rollouts")).unwrap();
    dir
}

fn write(dir: &Path, rel: &str, text: &str) {
    std::fs::write(dir.join(rel), text).unwrap();
}

/// Every rollout, as the list answers.
fn rollouts(emu: &Emu) -> Vec<Value> {
    emu.get(&format!("{INSTANCES}?pageSize=1000"))["rollouts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn segment_of(emu: &Emu, rollout: &Value) -> Value {
    let name = rollout["flags"]["segment"].as_str().expect("a segment");
    emu.get(&format!("/v1/{name}"))
}

fn count(counters: &Value, route: &str) -> u64 {
    counters["routes"][route]["count"].as_u64().unwrap_or(0)
}

fn wait_until_live(emu: &Emu, id: &str) -> Value {
    let url = format!("{INSTANCES}/{id}");
    for _ in 0..500 {
        let r = emu.get(&url);
        if r["state"] == "live" && r.get("pendingTransition").is_none() {
            return r;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never live: {}", emu.get(&url));
}

/// Done when, 1: a rollout made through the API by hand (the documented body, targeting
/// set with `:updatesegment`, launched, reach changed) is exported, the repository
/// validates, the plan adopts it and nothing else, apply does, and the next plan is empty;
/// it exists once.
#[test]
fn a_rollout_made_by_hand_is_exported_adopted_and_then_managed() {
    let emu = Emu::start();
    let (status, created) = emu.send(
        reqwest::Method::POST,
        INSTANCES,
        Some(json!({
            "displayName": "Checkout Redesign",
            "labels": {"team": "payments"},
            "flags": {"targetingKeySelector": "targeting_key"},
            "rollout": {"flag": "flags/checkout", "variant": "flags/checkout/variants/redesign"},
            "metrics": {
                "assignmentTable": "assignmentTables/checkout",
                "entity": "entities/user",
                "bucket": "DAYS",
                "metrics": [{"metric": "metrics/conversion", "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.02}, "preferredDirection": "INCREASE"}]
            }
        })),
    );
    assert_eq!(status, 200, "{created}");
    let name = created["name"].as_str().unwrap().to_owned();
    let id = name.rsplit('/').next().unwrap().to_owned();
    let (status, answer) = emu.send(
        reqwest::Method::POST,
        &format!("{INSTANCES}/{id}:updatesegment"),
        Some(json!({"parameters": {
            "segment": {"name": created["flags"]["segment"], "targeting": {
                "criteria": {
                    "nordics": {"attribute": {"attributeName": "country", "setRule": {"values": [{"stringValue": "SE"}, {"stringValue": "NO"}]}}},
                    "staff": {"attribute": {"attributeName": "email", "endsWithRule": {"value": "@example.com"}}}
                },
                "expression": {"and": {"operands": [{"ref": "nordics"}, {"not": {"ref": "staff"}}]}}
            }},
            "updateMask": "targeting"
        }})),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = emu.send(
        reqwest::Method::POST,
        &format!("{INSTANCES}/{id}:launch"),
        None,
    );
    assert_eq!(status, 200, "{answer}");
    wait_until_live(&emu, &id);
    let (status, answer) = emu.send(
        reqwest::Method::PATCH,
        &format!("{INSTANCES}/{id}?updateMask=rollout.reach"),
        Some(json!({"rollout": {"reach": "0.25"}})),
    );
    assert_eq!(status, 200, "{answer}");
    let before = emu.get(&format!("{INSTANCES}/{id}"));
    let segment_before = segment_of(&emu, &before);

    let repo = confidence_repo();
    let dir = repo.path();
    let out = emu.flagsync(&["export"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let manifest = std::fs::read_to_string(dir.join("rollouts/checkout-redesign.yml")).unwrap();
    assert!(
        manifest.starts_with(&format!(
            "type: rollout\nid: checkout-redesign\ninstance: {name}\n"
        )),
        "{manifest}"
    );
    assert!(manifest.contains("endsWithRule"), "{manifest}");
    assert!(manifest.contains("value: \"@example.com\""), "{manifest}");
    assert!(manifest.contains("reach: \"0.25\""), "{manifest}");
    let out = emu.flagsync(&["validate"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let plan = emu.plan_json(dir);
    let actions = plan["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{plan:#}");
    assert_eq!(actions[0]["operation"], "adopt");
    assert_eq!(actions[0]["remote_id"], id);
    assert_eq!(
        actions[0]["steps"],
        json!([{"call": "patch-rollout", "update_mask": "labels"}])
    );
    assert_eq!(plan["summary"]["adopt"], 1);
    let human = emu.flagsync(&["plan"], dir);
    assert!(
        stdout(&human).contains(&format!("> adopt rollout/checkout-redesign (id {id})")),
        "{}",
        text(&human)
    );

    emu.reset_counters();
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let c = emu.counters();
    assert_eq!(
        count(&c, &format!("POST {INSTANCES}")),
        0,
        "no create: {c:#}"
    );
    assert_eq!(count(&c, &format!("PATCH {INSTANCES}/{{id}}")), 1, "{c:#}");

    let after = emu.get(&format!("{INSTANCES}/{id}"));
    assert_eq!(
        after["labels"],
        json!({"team": "payments", "flagsync-id": "checkout-redesign", "managed-by": "flagsync"})
    );
    // Nothing else changed: every data section, the state and the targeting are as before.
    for key in [
        "rollout",
        "flags",
        "metrics",
        "explore",
        "exposure",
        "state",
        "displayName",
    ] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(
        segment_of(&emu, &after)["targeting"],
        segment_before["targeting"]
    );

    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(rollouts(&emu).len(), 1, "never a second instance");

    // From now on it is managed like any other: a reach change is an update.
    let changed = manifest.replace("reach: \"0.25\"", "reach: \"0.5\"");
    assert_ne!(changed, manifest);
    write(dir, "rollouts/checkout-redesign.yml", &changed);
    let plan = emu.plan_json(dir);
    assert_eq!(plan["actions"][0]["operation"], "update", "{plan:#}");
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        emu.get(&format!("{INSTANCES}/{id}"))["rollout"]["reach"],
        "0.5"
    );
    assert_eq!(rollouts(&emu).len(), 1);
}

/// Two rollouts of one display name, and one whose name is taken by a manifest, get ids
/// of their own that stay the same from one export to the next.
#[test]
fn adoption_ids_are_unique_and_stable() {
    let emu = Emu::start();
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(emu.create_rollout(
            json!({"displayName": "Dark mode", "rollout": {"flag": "flags/dark"}}),
            None,
            false,
        ));
    }
    let taken = emu.create_rollout(
        json!({"displayName": "Taken", "rollout": {"flag": "flags/taken"}}),
        None,
        false,
    );
    let repo = confidence_repo();
    let dir = repo.path();
    write(
        dir,
        "rollouts/taken.yml",
        "type: rollout\nid: taken\nrollout:\n  flag: flags/other\n",
    );
    let out = emu.flagsync(&["export"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let mut files: Vec<String> = std::fs::read_dir(dir.join("rollouts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    ids.sort();
    let expected = vec![
        format!("dark-mode-{}.yml", &ids[0][..8]),
        format!("dark-mode-{}.yml", &ids[1][..8]),
        format!("taken-{}.yml", &taken[..8]),
        "taken.yml".to_owned(),
    ];
    // The manifest of `taken` is not live (its flag differs from every rollout); the
    // rollout named Taken gets an id of its own beside it.
    assert_eq!(files.len(), 4, "{files:?}");
    for name in &expected {
        assert!(files.contains(name), "{name} in {files:?}");
    }
    let out = emu.flagsync(&["export"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("0 file(s) written (0 overwritten), 3 already up to date"),
        "{}",
        text(&out)
    );
    let plan = emu.plan_json(dir);
    let adopts = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["operation"] == "adopt")
        .count();
    assert_eq!(adopts, 3, "{plan:#}");
}

/// Done when, 2: the quickstart applied, the emulator fills in every field the service
/// manages, the plan is empty; a reach change is one PATCH, which keeps the control variant
/// and the assignment ids as the service had them (a PATCH replaces the section it names,
/// so leaving them out would clear them).
#[test]
fn server_filled_fields_survive_plans_and_updates() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let all = rollouts(&emu);
    let search = all
        .iter()
        .find(|r| r["labels"]["flagsync-id"] == "new-search")
        .expect("new-search")
        .clone();
    for pointer in [
        "/creator",
        "/updater",
        "/owner",
        "/possibleTransitions",
        "/lockedDataKeys",
        "/stateHistory",
        "/rollout/controlVariant",
        "/rollout/variantAssignmentId",
        "/rollout/controlAssignmentId",
        "/flags/flag",
        "/flags/rule",
        "/flags/segment",
        "/exposure/exposure",
        "/explore/exploratoryAnalyses",
    ] {
        assert!(search.pointer(pointer).is_some(), "{pointer}: {search:#}");
    }
    assert_eq!(search["state"], "live");
    assert_eq!(segment_of(&emu, &search)["state"], "ALLOCATED");
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let path = dir.join("rollouts/new-search.yml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, manifest.replace("reach: \"0.5\"", "reach: \"0.75\"")).unwrap();
    let plan = emu.plan_json(dir);
    let actions = plan["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{plan:#}");
    assert_eq!(
        actions[0]["steps"],
        json!([{"call": "patch-rollout", "update_mask": "rollout"}])
    );
    emu.reset_counters();
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let c = emu.counters();
    let patches = &c["routes"][format!("PATCH {INSTANCES}/{{id}}")];
    assert_eq!(patches["count"], 1, "{c:#}");
    assert_eq!(patches["classes"]["2xx"], 1, "{c:#}");
    let id = search["name"].as_str().unwrap().rsplit('/').next().unwrap();
    let after = emu.get(&format!("{INSTANCES}/{id}"));
    assert_eq!(after["rollout"]["reach"], "0.75");
    for field in [
        "controlVariant",
        "variantAssignmentId",
        "controlAssignmentId",
        "flag",
        "variant",
    ] {
        assert_eq!(after["rollout"][field], search["rollout"][field], "{field}");
    }
    assert_eq!(after["flags"], search["flags"]);
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A live rollout's flags section is locked: its targeting key travels with
/// `:updatesegment`, and the rule the service made stays.
#[test]
fn a_live_rollouts_targeting_key_changes_through_update_segment() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let path = dir.join("rollouts/new-search.yml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        manifest.replace(
            "targetingKeySelector: targeting_key",
            "targetingKeySelector: user_id",
        ),
    )
    .unwrap();
    let plan = emu.plan_json(dir);
    assert_eq!(
        plan["actions"][0]["steps"],
        json!([{"call": "update-segment", "update_mask": "targeting", "flag_settings": true}]),
        "{plan:#}"
    );
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let search = rollouts(&emu)
        .into_iter()
        .find(|r| r["labels"]["flagsync-id"] == "new-search")
        .unwrap();
    assert_eq!(search["flags"]["targetingKeySelector"], "user_id");
    assert!(search["flags"]["rule"].is_string(), "{search:#}");
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Issue 11, 6: a rollout edited (through the API, as the UI would) while an apply runs is
/// not overwritten: the write is refused as a conflict naming what changed. The
/// emulator's latency holds the apply between reading live state and writing.
#[test]
fn a_rollout_edited_during_an_apply_is_not_overwritten() {
    let emu = Emu::start();
    let repo = confidence_repo();
    let dir = repo.path();
    write(
        dir,
        "rollouts/search.yml",
        "type: rollout\nid: search\nstate: live\nrollout:\n  flag: flags/search\n  variant: flags/search/variants/on\n  reach: \"0.5\"\n",
    );
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let id = rollouts(&emu)[0]["name"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    write(
        dir,
        "rollouts/search.yml",
        "type: rollout\nid: search\nstate: live\nrollout:\n  flag: flags/search\n  variant: flags/search/variants/on\n  reach: \"0.75\"\n",
    );

    let latency = 1500;
    let (status, body) = emu.send(
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({"latencyMs": latency})),
    );
    assert_eq!(status, 200, "{body}");
    emu.reset_counters();
    let apply = emu
        .std_command(&["apply", "--auto-approve"], dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the apply has listed the rollouts, its plan is made from what it read; its read
    // of the segment and its guard read follow, each after the latency.
    let started = Instant::now();
    let list = format!("GET {INSTANCES}");
    while count(&emu.counters(), &list) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the apply never listed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (status, body) = emu.send(
        reqwest::Method::PATCH,
        &format!("{INSTANCES}/{id}?updateMask=rollout.reach"),
        Some(json!({"rollout": {"reach": "0.9"}})),
    );
    assert_eq!(status, 200, "{body}");
    let out = apply.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = stdout(&out) + &String::from_utf8_lossy(&out.stderr);
    assert!(report.contains("conflict"), "{report}");
    assert!(
        report.contains(r#"/rollout/reach: the plan saw "0.5", now "0.9""#),
        "{report}"
    );
    assert!(report.contains("by identities/emulator-user"), "{report}");
    assert!(report.contains("nothing was written"), "{report}");
    let (status, _) = emu.send(
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({"latencyMs": 0})),
    );
    assert_eq!(status, 200);
    assert_eq!(
        emu.get(&format!("{INSTANCES}/{id}"))["rollout"]["reach"],
        "0.9",
        "the edit made during the apply stays"
    );
    let c = emu.counters();
    assert_eq!(
        c["routes"][format!("PATCH {INSTANCES}/{{id}}")]["count"],
        1,
        "only the edit was written: {c:#}"
    );
}

/// Between `plan --out` and `apply --plan`, an edit of the targeting is found before
/// anything is written.
#[test]
fn a_saved_plan_refuses_a_rollout_whose_targeting_changed_since() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let path = dir.join("rollouts/new-search.yml");
    let manifest = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, manifest.replace("reach: \"0.5\"", "reach: \"0.6\"")).unwrap();
    let plan_file = dir.join("plan.json");
    let out = emu.flagsync(&["plan", "--out", plan_file.to_str().unwrap()], dir);
    assert!(out.status.success(), "{}", text(&out));

    let search = rollouts(&emu)
        .into_iter()
        .find(|r| r["labels"]["flagsync-id"] == "new-search")
        .unwrap();
    let id = search["name"].as_str().unwrap().rsplit('/').next().unwrap();
    let (status, body) = emu.send(
        reqwest::Method::POST,
        &format!("{INSTANCES}/{id}:updatesegment"),
        Some(json!({"parameters": {"segment": {"targeting": {}}, "updateMask": "targeting"}})),
    );
    assert_eq!(status, 200, "{body}");
    emu.reset_counters();
    let out = emu.flagsync(
        &[
            "apply",
            "--plan",
            plan_file.to_str().unwrap(),
            "--auto-approve",
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // The renderer wraps long lines; compare the words.
    let words: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .filter(|w| *w != "│")
        .map(str::to_owned)
        .collect();
    let err = words.join(" ").replace("new- search", "new-search");
    assert!(
        err.contains("rollout/new-search: was changed since the plan was made"),
        "{}",
        text(&out)
    );
    let c = emu.counters();
    assert_eq!(
        c["routes"][format!("PATCH {INSTANCES}/{{id}}")]["count"],
        Value::Null,
        "{c:#}"
    );
}

/// The string rules' old shape is refused with the fix, and nothing is sent.
#[test]
fn a_string_rule_with_a_typed_value_is_a_diagnostic_with_the_fix() {
    let emu = Emu::start();
    let repo = confidence_repo();
    let dir = repo.path();
    write(
        dir,
        "rollouts/old.yml",
        "type: rollout\nid: old\nrollout:\n  flag: flags/old\nsegment:\n  targeting:\n    criteria:\n      mail:\n        attribute:\n          attributeName: email\n          endsWithRule:\n            value: {stringValue: \"@example.com\"}\n    expression: {ref: mail}\n",
    );
    let out = emu.flagsync(&["validate", "--format", "json"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(d["code"], "string-rule-value", "{doc:#}");
    assert_eq!(d["file"], "rollouts/old.yml");
    assert_eq!(d["line"], 12, "{doc:#}");
    assert!(
        d["help"]
            .as_str()
            .is_some_and(|h| h.contains(r#"endsWithRule: {value: "@example.com"}"#)),
        "{doc:#}"
    );
    emu.reset_counters();
    let out = emu.flagsync(&["plan"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        emu.counters()["total"],
        0,
        "nothing is sent when validation fails"
    );
}

/// Each API on its own host: pointed at a second emulator, one API's requests (and only
/// those) go there, while one `url` serves everything.
#[test]
fn each_confidence_api_has_its_own_host() {
    let emu = Emu::start();
    let other = Emu::start();
    let base = emu.emulator.base_url();
    emu.create_rollout(
        json!({"displayName": "r", "labels": {"flagsync-id": "r"}, "rollout": {"flag": "flags/r"}, "metrics": {"metrics": [{"metric": "metrics/m", "metricRole": {"metricKind": "SUCCESS"}}]}}),
        None,
        true,
    );
    let repo = confidence_repo();
    let dir = repo.path();
    let config = |extra: &str| {
        format!(
            "confidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: CONFIDENCE_CLIENT_SECRET\n  rollouts: rollouts\n  url: {base}\n{extra}"
        )
    };
    let run = |args: &[&str]| {
        emu.command(args, dir)
            .env_remove("FLAGSYNC_CONFIDENCE_URL")
            .env_remove("FLAGSYNC_CONFIDENCE_IAM_URL")
            .output()
            .unwrap()
    };
    write(dir, "flagsync.yaml", &config(""));
    let out = run(&["export"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["results", "r"]);
    assert!(out.status.success(), "{}", text(&out));

    let elsewhere = other.emulator.base_url();
    for (setting, args, route) in [
        (
            "experiments_url",
            ["export", "--force"],
            format!("GET {INSTANCES}"),
        ),
        (
            "flags_url",
            ["export", "--force"],
            "GET /v1/segments/{id}".to_owned(),
        ),
        (
            "stats_url",
            ["results", "r"],
            "GET /v2/workflows/rollout/instances/{id}/analysisResults/{result}".to_owned(),
        ),
        (
            "iam_url",
            ["export", "--force"],
            "POST /v1/oauth/token".to_owned(),
        ),
    ] {
        write(
            dir,
            "flagsync.yaml",
            &config(&format!("  {setting}: {elsewhere}\n")),
        );
        emu.reset_counters();
        other.reset_counters();
        let out = run(&args);
        let there = other.counters();
        let here = emu.counters();
        assert!(
            count(&there, &route) >= 1,
            "{setting}: {there:#}\n{}",
            text(&out)
        );
        let routes = there["routes"].as_object().unwrap();
        assert_eq!(
            routes.len(),
            1,
            "{setting}: only its API goes there: {there:#}"
        );
        assert_eq!(count(&here, &route), 0, "{setting}: {here:#}");
    }
}

/// The flags API is paced under its documented limit: an emulator holding to 50 requests
/// per second never answers 429 while an export reads 60 segments.
#[test]
fn segments_are_read_under_the_flags_api_limit() {
    let emu = Emu::start();
    for i in 0..60 {
        emu.create_rollout(
            json!({"displayName": format!("r{i}"), "labels": {"flagsync-id": format!("r{i}")}, "rollout": {"flag": "flags/r"}}),
            None,
            false,
        );
    }
    let (status, body) = emu.send(
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({"confidenceFlagsRequestsPerSecond": 50})),
    );
    assert_eq!(status, 200, "{body}");
    emu.reset_counters();
    let repo = confidence_repo();
    let out = emu.flagsync(&["export"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let c = emu.counters();
    let segments = &c["routes"]["GET /v1/segments/{id}"];
    assert_eq!(segments["count"], 60, "{c:#}");
    assert_eq!(segments["statuses"]["200"], 60, "no 429: {c:#}");
}

/// A manifest adopting an instance that no longer exists plans a create and says so; one
/// whose id another rollout already carries manages that one and says which.
#[test]
fn an_adoption_that_cannot_happen_is_explained() {
    let emu = Emu::start();
    let labelled = emu.create_rollout(
        json!({"displayName": "Kept", "labels": {"flagsync-id": "kept"}, "rollout": {"flag": "flags/kept"}}),
        None,
        false,
    );
    let other = emu.create_rollout(
        json!({"displayName": "Other", "rollout": {"flag": "flags/kept"}}),
        None,
        false,
    );
    let repo = confidence_repo();
    let dir = repo.path();
    write(
        dir,
        "rollouts/gone.yml",
        "type: rollout\nid: gone\ninstance: workflows/rollout/instances/nosuchinstance\nrollout:\n  flag: flags/gone\n",
    );
    write(
        dir,
        "rollouts/kept.yml",
        &format!(
            "type: rollout\nid: kept\ndisplayName: Kept\ninstance: workflows/rollout/instances/{other}\nrollout:\n  flag: flags/kept\n"
        ),
    );
    let plan = emu.plan_json(dir);
    let warnings: Vec<&str> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let operation = |id: &str| {
        plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .map(|a| a["operation"].clone())
    };
    assert_eq!(operation("rollout/gone"), Some(json!("create")), "{plan:#}");
    // The labelled one is managed (it lacks flagsync's other label): never an adoption.
    assert_eq!(operation("rollout/kept"), Some(json!("update")), "{plan:#}");
    assert_eq!(plan["summary"]["adopt"], 0);
    assert!(
        warnings
            .iter()
            .any(|w| w
                .contains("nosuchinstance, which no longer exists; apply creates a new rollout")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains(&format!(
            "adopts instance {other}, but rollout {labelled} already carries the id kept"
        ))),
        "{warnings:?}"
    );
}
