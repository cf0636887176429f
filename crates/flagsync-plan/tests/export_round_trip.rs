//! Export writes manifests from canonical live bodies; each must normalize back to the same
//! body, so that `plan` right after an export is empty.

use flagsync_live::LiveRollout;
use flagsync_manifest::Kind;
use flagsync_manifest::write;
use flagsync_plan::normalize;
use serde_json::{Value, json};

fn experiment(canonical: &Value) -> Value {
    write::manifest(Kind::Experiment, "", canonical)
}

fn target_group(canonical: &Value) -> Value {
    write::manifest(Kind::TargetGroup, "", canonical)
}

fn rollout(id: &str, canonical: &Value) -> Value {
    write::manifest(Kind::Rollout, id, canonical)
}

/// The round-trip check export runs, its mismatch as text.
fn check(kind: Kind, manifest: &Value, canonical: &Value) -> Result<(), String> {
    write::check(kind, manifest, canonical, &normalize::manifest_body).map_err(|e| e.to_string())
}

#[test]
fn experiment_round_trips_with_defaults_left_out() {
    let live = json!({
        "flag": "price", "name": "price", "labels": "beta", "enabled": true,
        "availableValues": ["low", 10.5, "NO"], "description": "",
        "stickinessProperty": "rox.distinct_id", "archived": false,
        "platforms": [{"name": "iOS", "value": "low", "conditions": []}],
        "conditions": [
            {"group": {"name": "Beta Users"}, "value": [{"option": "low", "percentage": 30}, {"option": 10.5, "percentage": 70}]},
            {"dependency": {"flag": "other", "value": "true"}}
        ],
        "value": null
    });
    let canonical = normalize::canonical_experiment(&live);
    let manifest = experiment(&canonical);
    assert_eq!(manifest.get("name"), None);
    assert_eq!(manifest.get("enabled"), None);
    assert_eq!(manifest.get("value"), None);
    assert_eq!(manifest["labels"], json!(["beta"]));
    let keys: Vec<&str> = manifest
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "type",
            "flag",
            "labels",
            "availableValues",
            "platforms",
            "conditions"
        ]
    );
    assert_eq!(check(Kind::Experiment, &manifest, &canonical), Ok(()));
}

#[test]
fn schedules_keep_their_timestamps_as_strings() {
    let live = json!({"flag": "s", "value": [
        {"from": "2024-01-15T10:00:00Z", "percentage": 10, "option": true},
        {"from": "2024-02-01T00:00:00.000Z", "percentage": 100, "option": true}
    ]});
    let canonical = normalize::canonical_experiment(&live);
    let manifest = experiment(&canonical);
    let step: Vec<&str> = manifest["value"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(step, ["from", "percentage", "option"]);
    assert_eq!(check(Kind::Experiment, &manifest, &canonical), Ok(()));
}

#[test]
fn target_group_keeps_its_operator_and_nested_groups() {
    let live = json!({"name": "NO", "conditions": [
        {"group": {"name": ["Beta Users"], "operator": "any-groups"}},
        {"property": "plan", "operator": "in-array", "operand": ["pro", 3]}
    ]});
    let canonical = normalize::canonical_target_group(&live);
    let manifest = target_group(&canonical);
    assert_eq!(manifest["operator"], "or");
    assert_eq!(manifest["conditions"][1]["operand"], json!(["pro", 3]));
    assert_eq!(check(Kind::TargetGroup, &manifest, &canonical), Ok(()));
}

#[test]
fn rollout_leaves_flagsync_labels_to_the_planner() {
    let live = json!({
        "name": "workflows/rollout/instances/abc", "displayName": "Search",
        "state": "live", "createTime": "2024-01-15T10:00:00Z",
        "labels": {"flagsync-id": "search", "managed-by": "flagsync", "team": "growth"},
        "rollout": {"flag": "flags/s", "variant": "flags/s/variants/on", "reach": "0.50",
                    "controlVariant": "flags/s/variants/control", "variantAssignmentId": "v"},
        "flags": {"segment": "segments/x", "rule": "flags/s/rules/r", "flag": "flags/s"},
        "metrics": {"entity": "entities/user", "metrics": [{"metric": "metrics/m", "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01}, "preferredDirection": "INCREASE"}]},
        "stats": {"analysisResult": "x"}
    });
    let segment = json!({"name": "segments/x", "state": "ALLOCATED",
        "allocation": {"proportion": {"value": "1"}},
        "targeting": {"criteria": {"c": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "SE"}}}}}, "expression": {"ref": "c"}}});
    let canonical =
        normalize::canonical_rollout(&LiveRollout::new(live).with_segment(Some(segment)));
    let manifest = rollout("search", &canonical);
    assert_eq!(manifest["labels"], json!({"team": "growth"}));
    assert_eq!(manifest["rollout"]["reach"], "0.5");
    let keys: Vec<&str> = manifest
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "type",
            "id",
            "displayName",
            "state",
            "labels",
            "flags",
            "rollout",
            "segment",
            "metrics"
        ]
    );
    assert_eq!(
        manifest["flags"],
        json!({"targetingKeySelector": "targeting_key"})
    );
    // The default allocation is left out; the targeting is written.
    assert_eq!(
        manifest["segment"]
            .as_object()
            .map(|s| s.keys().collect::<Vec<_>>()),
        Some(vec![&"targeting".to_owned()])
    );
    let metric_keys: Vec<&str> = manifest["metrics"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(metric_keys, ["entity", "metrics"]);
    assert_eq!(check(Kind::Rollout, &manifest, &canonical), Ok(()));
}

#[test]
fn a_missing_managed_by_label_is_reported() {
    let live = json!({
        "displayName": "Search", "labels": {"flagsync-id": "search"},
        "rollout": {"flag": "flags/s"}
    });
    let canonical = normalize::canonical_rollout(&LiveRollout::new(live));
    let manifest = rollout("search", &canonical);
    let err = check(Kind::Rollout, &manifest, &canonical).unwrap_err();
    assert!(err.contains("labels (managed-by)"), "{err}");
}

#[test]
fn archived_flags_are_archived_by_their_folder_not_a_key() {
    let canonical = normalize::canonical_experiment(&json!({"flag": "old", "archived": true}));
    let manifest = experiment(&canonical);
    assert_eq!(manifest.get("archived"), None);
    assert!(write::is_archived(Kind::Experiment, &canonical));
    // Read back from the archived folder (as the loader marks it), it is the live flag.
    assert_eq!(check(Kind::Experiment, &manifest, &canonical), Ok(()));
}

#[test]
fn target_groups_always_say_their_operator() {
    for operator in ["and", "or"] {
        let canonical = normalize::canonical_target_group(&json!({
            "name": "g", "operator": operator,
            "conditions": [{"property": "a", "operator": "is-true"}]
        }));
        let manifest = target_group(&canonical);
        assert_eq!(manifest["operator"], operator);
        assert_eq!(check(Kind::TargetGroup, &manifest, &canonical), Ok(()));
    }
    // A live body without one means `or`, and is exported saying so.
    let canonical = normalize::canonical_target_group(&json!({"name": "g"}));
    assert_eq!(target_group(&canonical)["operator"], "or");
}
