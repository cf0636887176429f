//! End to end: `flagsync results` against the emulator over real loopback HTTP.

use crate::common::{Emu, config_only_repo, text};
use serde_json::{Value, json};

fn rollout_body(id: &str) -> Value {
    json!({
        "displayName": format!("Rollout {id}"),
        "labels": {"flagsync-id": id, "managed-by": "flagsync"},
        "flags": {"targetingKeySelector": "targeting_key"},
        "rollout": {"flag": "flags/search-flag", "variant": "flags/search-flag/variants/enabled", "reach": "0.5"},
        "metrics": {
            "entity": "entities/user", "bucket": "DAYS",
            "metrics": [
                {"metric": "metrics/conversion-rate", "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01}, "preferredDirection": "INCREASE"},
                {"metric": "metrics/latency", "metricRole": {"metricKind": "GUARDRAIL", "nonInferiorityMargin": 0.05}, "preferredDirection": "DECREASE"},
                {"metric": "metrics/revenue", "metricRole": {"metricKind": "SUCCESS"}}
            ]
        }
    })
}

/// The analysis result the emulator serves for a launched rollout, read directly: named in
/// its exploratory analyses, served by the stats API's `/v2`.
fn served_result(emu: &Emu, instance: &str) -> Value {
    let rollout = emu.get(&format!("/v1/workflows/rollout/instances/{instance}"));
    let name = rollout["explore"]["exploratoryAnalyses"][0]["analysisResults"][0]["analysisResult"]
        .as_str()
        .expect("a launched rollout names its analysis result");
    emu.get(&format!("/v2/{name}"))
}

fn humanized(status: &str) -> String {
    status
        .trim_start_matches("METRIC_RESULT_STATUS_")
        .to_lowercase()
        .replace('_', " ")
}

#[test]
fn results_of_a_launched_rollout_show_every_metric_status() {
    let emu = Emu::start();
    let repo = config_only_repo();
    let instance = emu.create_rollout(rollout_body("new-search"), None, true);
    let served = served_result(&emu, &instance);
    let served_results = served["results"].as_array().unwrap();
    assert_eq!(served_results.len(), 3, "{served}");

    // By manifest id and by instance id: the same report.
    let by_id = emu.flagsync(&["results", "new-search"], repo.path());
    assert!(by_id.status.success(), "{}", text(&by_id));
    let by_instance = emu.flagsync(&["results", &instance], repo.path());
    assert!(by_instance.status.success(), "{}", text(&by_instance));
    assert_eq!(by_id.stdout, by_instance.stdout);

    let out = String::from_utf8_lossy(&by_id.stdout).into_owned();
    assert!(
        out.contains("Rollout Rollout new-search (id new-search)"),
        "{out}"
    );
    assert!(out.contains("All exposures"), "{out}");
    for result in served_results {
        let metric = result["id"].as_str().unwrap();
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(metric))
            .unwrap_or_else(|| panic!("no line for {metric}: {out}"));
        let status = humanized(result["result"][0]["status"]["status"].as_str().unwrap());
        assert!(
            line.contains(&status),
            "{metric}: expected {status}: {line}"
        );
        assert!(line.contains("z-test"), "{line}");
        assert!(
            line.contains(&result["statsSettings"]["adjustedAlpha"].to_string()),
            "{line}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.contains("metrics/latency") && l.contains("guardrail")),
        "{out}"
    );
    assert!(
        out.contains("overall overall: Analysis completed successfully"),
        "{out}"
    );
    // Each comparison: the variant against the control.
    assert!(out.contains("enabled vs control"), "{out}");
    assert!(!out.contains('\u{1b}'), "NO_COLOR is honoured: {out:?}");
}

#[test]
fn results_json_passes_the_analysis_result_through() {
    let emu = Emu::start();
    let repo = config_only_repo();
    let instance = emu.create_rollout(rollout_body("json-one"), None, true);
    let out = emu.flagsync(&["results", "json-one", "--format", "json"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["rollout"]["flagsyncId"], "json-one");
    assert_eq!(doc["rollout"]["state"], "live");
    assert_eq!(
        doc["analysisResults"][0]["analysisResult"],
        served_result(&emu, &instance)
    );
}

#[test]
fn a_draft_has_no_results_yet_and_an_unknown_rollout_fails() {
    let emu = Emu::start();
    let repo = config_only_repo();
    emu.create_rollout(rollout_body("still-draft"), None, false);

    let out = emu.flagsync(&["results", "still-draft"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("no results yet: the rollout is a draft; launch it first"),
        "{}",
        text(&out)
    );
    let out = emu.flagsync(&["results", "still-draft", "--format", "json"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["analysisResults"], json!([]));

    let out = emu.flagsync(&["results", "nope"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no rollout has flagsync-id=nope"),
        "{}",
        text(&out)
    );
}
