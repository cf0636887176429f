//! The canonical form: a CasC manifest and the API's JSON for the same thing (references by
//! name) give one body, for every condition form; what means something else differs.

use serde_json::{Value, json};

use super::*;
use flagsync_manifest::model::unify::{Flag, FlagConfiguration, Property, TargetGroup};

fn configuration(manifest: Value) -> Value {
    let typed: FlagConfiguration = serde_json::from_value(manifest).expect("a configuration");
    configuration_body(&typed)
}

/// A live configuration as the API serves it, around `conditions` and `defaultValue`.
fn live_configuration(default_value: Value, conditions: Value) -> Value {
    canonical_configuration(&json!({
        "enabled": true,
        "defaultValue": default_value,
        "conditions": conditions,
        "seed": "2f1c5e0a-0000-4000-8000-00000000000a",
        "stickinessProperty": "rox.distinct_id",
        "variantsEnabled": false,
        "resourceId": "app",
        "cascUrl": "",
        "created": "2026-01-01T00:00:00Z",
        "updated": "2026-01-02T00:00:00Z",
    }))
}

/// A manifest with one condition (and `enabled: true`), canonical.
fn with_condition(condition: Value) -> Value {
    configuration(json!({
        "kind": "flag-configuration", "flag": "f", "enabled": true, "defaultValue": false,
        "conditions": [condition],
    }))
}

#[test]
fn every_condition_form_reads_the_same_from_casc_and_from_the_api() {
    let forms = [
        json!({"property": {"name": "plan", "operator": "eq", "operands": ["enterprise"]}, "flagValue": true}),
        json!({"property": {"name": "rox.app_release", "operator": "semver-gte", "operands": ["4.6.0"]}, "flagValue": true}),
        json!({"property": {"name": "seats", "operator": "gte", "operands": [100]}, "flagValue": true}),
        json!({"property": {"name": "beta", "operator": "is-true"}, "flagValue": true}),
        json!({"property": {"name": "country", "operator": "in-array", "operands": ["US", "CA"]}, "flagValue": true}),
        json!({"property": {"name": "email", "operator": "regex", "operands": [".*@example\\.com$", "i"]}, "flagValue": true}),
        json!({"property": {"name": "signup", "operator": "in-between", "operands": ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"]}, "flagValue": true}),
        json!({"group": {"name": "Beta"}, "flagValue": true}),
        json!({"flag": {"name": "other", "value": true}, "flagValue": true}),
        json!({"allOf": [{"anyOf": [{"group": {"name": "Beta"}}, {"group": {"name": "QA"}}]}], "flagValue": true}),
        json!({"allOf": [{"not": {"anyOf": [{"group": {"name": "Beta"}}]}}], "flagValue": true}),
        json!({"not": {"flag": {"name": "other", "value": "on"}}, "flagValue": {"valueWrittenInCode": true}}),
        json!({"anyOf": [], "flagValue": [{"option": true, "percentage": 30}, {"option": false, "percentage": 70}]}),
        json!({"group": {"name": "Beta"}, "flagValue": [{"from": "2026-12-01T09:00:00.000Z", "percentage": 10}]}),
    ];
    for form in forms {
        let desired = with_condition(form.clone());
        let live = live_configuration(json!(false), json!([form]));
        assert_eq!(desired, live, "{form}");
        // The condition is kept as written, keys sorted.
        let kept = &desired["conditions"][0];
        for key in form.as_object().unwrap().keys() {
            assert!(kept.get(key).is_some(), "{key} of {form}");
        }
    }
}

#[test]
fn the_configuration_shape() {
    let body = configuration(json!({
        "apiVersion": "featuremanagement.cloudbees.io/v1alpha1",
        "kind": "flag-configuration", "flag": "f", "enabled": false,
        "defaultValue": {"valueWrittenInCode": true},
        "seed": "ignored",
    }));
    assert_eq!(
        body,
        json!({
            "conditions": [],
            "defaultValue": {"valueWrittenInCode": true},
            "enabled": false,
            "stickinessProperty": "rox.distinct_id",
        })
    );
    // Keys are sorted at every level.
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "conditions",
            "defaultValue",
            "enabled",
            "stickinessProperty"
        ]
    );
}

#[test]
fn whole_floats_are_integers() {
    let a = with_condition(
        json!({"property": {"name": "seats", "operator": "gte", "operands": [100.0]}, "flagValue": [{"option": 1, "percentage": 50.0}, {"option": 2.5, "percentage": 50}]}),
    );
    let b = with_condition(
        json!({"property": {"name": "seats", "operator": "gte", "operands": [100]}, "flagValue": [{"option": 1.0, "percentage": 50}, {"option": 2.5, "percentage": 50.0}]}),
    );
    assert_eq!(a, b);
}

#[test]
fn condition_order_and_form_are_meaning() {
    let one = json!({"group": {"name": "A"}, "flagValue": true});
    let two = json!({"group": {"name": "B"}, "flagValue": false});
    let ab = live_configuration(json!(false), json!([one, two]));
    let ba = live_configuration(json!(false), json!([two, one]));
    assert_ne!(ab, ba, "the first condition that matches serves");
    let all = with_condition(
        json!({"allOf": [{"group": {"name": "A"}}, {"group": {"name": "B"}}], "flagValue": true}),
    );
    let any = with_condition(
        json!({"anyOf": [{"group": {"name": "A"}}, {"group": {"name": "B"}}], "flagValue": true}),
    );
    let not = with_condition(
        json!({"not": {"allOf": [{"group": {"name": "A"}}, {"group": {"name": "B"}}]}, "flagValue": true}),
    );
    assert_ne!(all, any);
    assert_ne!(all, not);
    let split_ab = with_condition(
        json!({"group": {"name": "A"}, "flagValue": [{"option": "a", "percentage": 40}, {"option": "b", "percentage": 60}]}),
    );
    let split_ba = with_condition(
        json!({"group": {"name": "A"}, "flagValue": [{"option": "b", "percentage": 60}, {"option": "a", "percentage": 40}]}),
    );
    assert_ne!(split_ab, split_ba, "splits keep their order");
}

#[test]
fn a_flag_with_its_defaults() {
    let typed: Flag =
        serde_json::from_value(json!({"kind": "flag", "flag": "f", "labels": null})).unwrap();
    assert_eq!(
        flag_body(&typed),
        json!({
            "description": "", "flagType": "Boolean", "isPermanent": false,
            "labels": [], "name": "f", "variants": [],
        })
    );
    let live = canonical_flag(&json!({
        "id": "1b9d6bcd-0000-4000-8000-000000000001", "name": "f", "description": "",
        "flagType": "Boolean", "variants": ["false", "true"], "resourceId": "app",
        "labels": [], "isPermanent": false, "cascUrl": "", "created": "x", "updated": "y",
        "configStates": [{"environmentId": "e", "enabled": true, "updated": "z"}],
    }));
    assert_eq!(live["variants"], json!(["false", "true"]));
    assert!(live.get("id").is_none() && live.get("configStates").is_none());
}

#[test]
fn variants_are_a_set_the_service_may_grow() {
    let typed: Flag = serde_json::from_value(json!({
        "kind": "flag", "flag": "n", "flagType": "number",
        "availableValues": ["20", "4", 10, "4.0"], "labels": ["b", "a", "b"],
    }))
    .unwrap();
    let desired = flag_body(&typed);
    assert_eq!(desired["variants"], json!(["4", "10", "20"]));
    assert_eq!(desired["labels"], json!(["a", "b"]));
    assert_eq!(desired["flagType"], "Number");

    // The service added "30" when a configuration served it: not a difference.
    let mut grown = canonical_flag(&json!({
        "name": "n", "flagType": "Number", "variants": ["4", "10", "20", "30"], "labels": ["a", "b"],
    }));
    assert_ne!(desired, grown);
    reconcile_variants(&desired, &mut grown);
    assert_eq!(desired, grown);

    // A live flag without a desired variant differs.
    let mut short = canonical_flag(&json!({
        "name": "n", "flagType": "Number", "variants": ["4", "10"], "labels": ["a", "b"],
    }));
    reconcile_variants(&desired, &mut short);
    assert_ne!(desired, short);
    assert_eq!(short["variants"], json!(["4", "10"]));
}

#[test]
fn target_groups_and_properties() {
    let group: TargetGroup = serde_json::from_value(json!({
        "kind": "target-group", "name": "Beta", "description": null,
        "conditions": {"allOf": [
            {"property": {"name": "age", "operator": "gte", "operands": [18]}},
            {"property": {"name": "country", "operator": "in-array", "operands": ["US", "CA"]}},
            {"anyOf": [{"group": {"name": "QA"}}]},
        ]},
    }))
    .unwrap();
    let desired = target_group_body(&group);
    let live = canonical_target_group(&json!({
        "id": "g1", "name": "Beta", "description": "", "resourceId": "app", "cascUrl": "",
        "created": "x", "updated": "y",
        "conditions": {"allOf": [
            {"property": {"operands": [18.0], "operator": "gte", "name": "age"}},
            {"property": {"name": "country", "operator": "in-array", "operands": ["US", "CA"]}},
            {"anyOf": [{"group": {"name": "QA"}}]},
        ]},
    }));
    assert_eq!(desired, live);

    let property: Property = serde_json::from_value(
        json!({"kind": "flag-properties", "name": "signup", "type": "Datetime"}),
    )
    .unwrap();
    assert_eq!(
        property_body(&property),
        canonical_property(
            &json!({"id": "p", "name": "signup", "type": "DateTime", "description": "", "resourceId": "app"})
        )
    );
    assert_eq!(property_body(&property)["type"], "DateTime");
}

#[test]
fn references_name_what_must_exist_first() {
    let key = ResourceKey::flag_configuration("Production", "f");
    let body = with_condition(json!({
        "allOf": [
            {"group": {"name": "Beta"}},
            {"flag": {"name": "other", "value": true}},
            {"property": {"name": "plan", "operator": "eq", "operands": ["x"]}},
            {"not": {"property": {"name": "rox.platform", "operator": "eq", "operands": ["iOS"]}}},
        ],
        "flagValue": true,
    }));
    let declared = BTreeSet::from(["plan".to_owned()]);
    assert_eq!(
        references(&key, &body, &declared),
        [
            ResourceKey::custom_property("plan"),
            ResourceKey::unify_target_group("Beta"),
            ResourceKey::flag("f"),
            ResourceKey::flag("other"),
        ]
    );
}
