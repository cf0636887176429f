//! A CloudBees client set faster than the service allows slows itself down when the
//! service answers 555, instead of retrying at its own rate.

use std::fs;
use std::time::Duration;

use flagsync_emulator::EmulatorConfig;
use serde_json::Value;

use crate::common::{Emu, config_only_repo, text};

/// Answers of `status` (e.g. "555") and of 2xx over every CloudBees route.
fn cloudbees_answers(counters: &Value, status: &str) -> (u64, u64) {
    let mut matching = 0;
    let mut ok = 0;
    for (route, c) in counters["routes"].as_object().unwrap() {
        if !route.contains("public-api") && !route.contains("applications") {
            continue;
        }
        for (s, n) in c["statuses"].as_object().unwrap() {
            let n = n.as_u64().unwrap();
            if s == status {
                matching += n;
            } else if s.starts_with('2') {
                ok += n;
            }
        }
    }
    (matching, ok)
}

#[test]
fn apply_settles_under_the_services_rate_limit() {
    let emu = Emu::with_config(EmulatorConfig {
        cloudbees_requests_per_second: Some(5),
        launch_duration: Duration::from_millis(20),
        ..EmulatorConfig::default()
    });
    let repo = config_only_repo();
    let groups = repo.path().join("target_groups");
    fs::create_dir_all(&groups).unwrap();
    for i in 0..40 {
        fs::write(
            groups.join(format!("g{i:02}.yml")),
            format!("type: target-group\nname: g{i:02}\nconditions:\n  - property: p{i}\n    operator: is-true\n"),
        )
        .unwrap();
    }
    let out = emu
        .command(&["apply", "--auto-approve"], repo.path())
        // Ten times what the emulator allows.
        .env("FLAGSYNC_CLOUDBEES_RPS", "50")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let (refused, ok) = cloudbees_answers(&emu.counters(), "555");
    assert!(ok >= 40, "{ok} successful CloudBees requests");
    // Retrying at the configured rate earned more 555 answers than useful ones; adapting,
    // a few while finding the limit.
    assert!(
        refused * 5 <= ok,
        "{refused} answers of 555 for {ok} useful requests"
    );
    let plan = emu
        .command(&["plan", "--format", "json"], repo.path())
        .env("FLAGSYNC_CLOUDBEES_RPS", "50")
        .output()
        .unwrap();
    assert!(plan.status.success(), "{}", text(&plan));
    let plan: Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["actions"], serde_json::json!([]), "re-plan is empty");
}
