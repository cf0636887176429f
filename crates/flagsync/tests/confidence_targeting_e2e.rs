//! End to end, one test per targeting rule and value kind of the resolver protos: the
//! manifest's targeting is sent with `:updatesegment`, the emulator (which checks it
//! against the protos) stores it as sent, and the next plan, comparing the segment read
//! back with the manifest, is empty.

use serde_json::{Value, json};

use crate::common::{Emu, text};

/// Applies a rollout whose manifest has `targeting` (written as JSON, which YAML reads),
/// checks the segment the service holds, and that the next plan is empty.
fn round_trip(targeting: Value) {
    let emu = Emu::start();
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    std::fs::write(
        dir.join("flagsync.yaml"),
        "confidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: CONFIDENCE_CLIENT_SECRET\n  rollouts: rollouts\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("rollouts")).unwrap();
    std::fs::write(
        dir.join("rollouts/t.yml"),
        format!(
            "type: rollout\nid: t\nrollout:\n  flag: flags/t\nsegment:\n  targeting: {targeting}\n"
        ),
    )
    .unwrap();
    let out = emu.flagsync(&["validate"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));

    let rollouts = emu.get("/v1/workflows/rollout/instances")["rollouts"].clone();
    assert_eq!(rollouts.as_array().map(Vec::len), Some(1), "{rollouts}");
    let segment = rollouts[0]["flags"]["segment"]
        .as_str()
        .expect("segment")
        .to_owned();
    let stored = emu.get(&format!("/v1/{segment}"));
    assert_eq!(stored["targeting"], targeting, "as sent: {stored:#}");

    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// A targeting of one attribute criterion `c` with `rule`.
fn attribute(rule: Value) -> Value {
    let mut attribute = json!({"attributeName": "a"});
    if let (Some(a), Some(r)) = (attribute.as_object_mut(), rule.as_object()) {
        a.extend(r.clone());
    }
    json!({"criteria": {"c": {"attribute": attribute}}, "expression": {"ref": "c"}})
}

macro_rules! targeting {
    ($($name:ident => $targeting:expr;)*) => {$(
        #[test]
        fn $name() {
            round_trip($targeting);
        }
    )*};
}

targeting! {
    eq_rule_string_value => attribute(json!({"eqRule": {"value": {"stringValue": "SE"}}}));
    eq_rule_bool_value => attribute(json!({"eqRule": {"value": {"boolValue": true}}}));
    eq_rule_number_value => attribute(json!({"eqRule": {"value": {"numberValue": 1.5}}}));
    eq_rule_timestamp_value => attribute(json!({"eqRule": {"value": {"timestampValue": "2022-11-17T15:16:17.118Z"}}}));
    eq_rule_version_value => attribute(json!({"eqRule": {"value": {"versionValue": {"version": "2.0.0"}}}}));
    eq_rule_list_value => attribute(json!({"eqRule": {"value": {"listValue": {"values": [{"stringValue": "a"}, {"numberValue": 2}]}}}}));
    eq_rule_without_a_value_tests_for_presence => json!({
        "criteria": {"c": {"attribute": {"attributeName": "a", "eqRule": {"value": {}}}}},
        "expression": {"not": {"ref": "c"}}
    });
    set_rule => attribute(json!({"setRule": {"values": [{"stringValue": "SE"}, {"numberValue": 3}, {"boolValue": false}]}}));
    range_rule_closed => attribute(json!({"rangeRule": {"startInclusive": {"numberValue": 1}, "endExclusive": {"numberValue": 10}}}));
    range_rule_open_end => attribute(json!({"rangeRule": {"startExclusive": {"versionValue": {"version": "1.2"}}}}));
    range_rule_open_start => attribute(json!({"rangeRule": {"endInclusive": {"timestampValue": "2030-01-01T00:00:00Z"}}}));
    starts_with_rule => attribute(json!({"startsWithRule": {"value": "beta-"}}));
    ends_with_rule => attribute(json!({"endsWithRule": {"value": "@example.com"}}));
    contains_rule => attribute(json!({"containsRule": {"value": "test"}}));
    any_rule => attribute(json!({"anyRule": {"rule": {"eqRule": {"value": {"stringValue": "admin"}}}}}));
    all_rule => attribute(json!({"allRule": {"rule": {"rangeRule": {"startInclusive": {"numberValue": 0}}}}}));
    any_rule_of_a_string_rule => attribute(json!({"anyRule": {"rule": {"startsWithRule": {"value": "x"}}}}));
    segment_criterion => json!({"criteria": {"s": {"segment": {"segment": "segments/beta"}}}, "expression": {"ref": "s"}});
    materialized_segment_criterion => json!({
        "criteria": {"m": {"materializedSegment": {"materializedSegment": "materializedSegments/ids"}}},
        "expression": {"ref": "m"}
    });
    expressions_and_or_not => json!({
        "criteria": {
            "se": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "SE"}}}},
            "no": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "NO"}}}},
            "staff": {"attribute": {"attributeName": "email", "endsWithRule": {"value": "@example.com"}}}
        },
        "expression": {"and": {"operands": [
            {"or": {"operands": [{"ref": "se"}, {"ref": "no"}]}},
            {"not": {"ref": "staff"}}
        ]}}
    });
}
