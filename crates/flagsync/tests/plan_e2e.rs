//! End to end: the `flagsync` binary plans examples/quickstart against the emulator over
//! real loopback HTTP.

use crate::common::{Emu, quickstart_copy};
use serde_json::{Value, json};

#[test]
fn plan_on_an_empty_account_creates_everything_and_validation_errors_send_nothing() {
    let emu = Emu::start();
    let repo = quickstart_copy();

    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(2), "{}", crate::common::text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("+ create target-group/Beta Users"),
        "{stdout}"
    );
    assert!(
        stdout.contains("to create, 0 to update, 0 to delete."),
        "{stdout}"
    );

    let plan = emu.plan_json(repo.path());
    let actions = plan["actions"].as_array().unwrap();
    assert!(!actions.is_empty());
    assert!(actions.iter().all(|a| a["operation"] == "create"));
    for kind in ["target-group", "experiment", "rollout"] {
        assert!(
            actions.iter().any(|a| a["kind"] == kind),
            "no {kind} in {plan}"
        );
    }

    // A manifest error stops before any request reaches a service.
    std::fs::write(
        repo.path().join("target_groups/Broken.yml"),
        "type: target-group\nname: Broken\nconditions:\n  - operator: gte\n    property: x\n    operand: lots\n",
    )
    .unwrap();
    emu.reset_counters();
    let out = emu.flagsync(&["plan"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", crate::common::text(&out));
    assert!(
        crate::common::text(&out).contains("Broken.yml"),
        "{}",
        crate::common::text(&out)
    );
    assert_eq!(emu.counters()["total"], 0, "nothing may be sent");
}

#[test]
fn plan_is_empty_once_the_api_holds_the_repository_and_shows_exactly_a_later_change() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let plan = emu.plan_json(repo.path());
    emu.write_through_api(&plan);

    emu.reset_counters();
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", crate::common::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No changes."),
        "{}",
        crate::common::text(&out)
    );

    // The fewest requests: the application's environments (the check of flagsync.yaml's),
    // one flags list per environment (every flag, with or without a release rule), one
    // target-group list, the rollout pages; no GET per flag, nothing else.
    let counters = emu.counters();
    let routes = counters["routes"].as_object().unwrap();
    let count = |label: &str| {
        routes
            .get(label)
            .map_or(0, |r| r["count"].as_u64().unwrap())
    };
    assert_eq!(count("GET /public-api/applications/{app}/environments"), 1);
    assert_eq!(count("GET /public-api/applications/{app}/{env}/flags"), 2);
    assert_eq!(count("GET /public-api/applications/{app}/target-groups"), 1);
    assert_eq!(count("GET /v1/workflows/rollout/instances"), 1);
    assert_eq!(
        count("GET /public-api/applications/{app}/{env}/experiments")
            + count("GET /public-api/applications/{app}/{env}/experiments/{flag}"),
        0,
        "{counters}"
    );
    let writes: u64 = routes
        .iter()
        .filter(|(label, _)| !label.starts_with("GET ") && !label.contains("oauth"))
        .map(|(_, r)| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(writes, 0, "plan never writes: {counters}");

    // A change made through the API shows up as exactly that change.
    let app = crate::common::APPLICATION;
    let flag = emu.first_experiment_flag(&plan, "Production");
    let status = emu.patch(
        &format!(
            "/public-api/applications/{app}/Production/experiments/{}",
            crate::common::enc(&flag)
        ),
        json!([{"op": "replace", "path": "/enabled", "value": false}]),
    );
    assert_eq!(status, 200);
    let plan = emu.plan_json(repo.path());
    let actions = plan["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{plan}");
    let action = &actions[0];
    assert_eq!(action["operation"], "update");
    assert_eq!(action["name"], Value::String(flag));
    let ops = action["patch"].as_array().unwrap();
    assert_eq!(
        ops,
        &vec![
            json!({"op": "test", "path": "/enabled", "value": false}),
            json!({"op": "replace", "path": "/enabled", "value": true}),
        ]
    );
    assert!(action["live_fingerprint"].is_string());
}

#[test]
fn markdown_plan_fits_a_pull_request_comment() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let out = emu.flagsync(&["plan", "--format", "markdown"], repo.path());
    assert!(out.status.success(), "{}", crate::common::text(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.contains("Plan: "), "{md}");
    assert!(md.contains("<details>"), "{md}");
    assert!(md.chars().count() <= 65_536);
}
