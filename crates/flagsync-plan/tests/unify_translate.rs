//! The legacy layout translated to CloudBees Unify by the field map (api-notes-unify §8):
//! every part of a legacy manifest lands in the Unify form, or is reported.

use flagsync_manifest::defaults::{self, Side};
use flagsync_manifest::model::{Experiment, TargetGroup};
use flagsync_manifest::{Environment, Item, Layout, Repository, Severity};
use flagsync_plan::unify::translate::{Translation, translate};
use flagsync_plan::{Kind, ResourceKey};
use serde_json::{Value, json};

fn experiment(file: &str, json: Value) -> Item<Experiment> {
    Item {
        value: serde_json::from_value(json).expect("an experiment"),
        file: file.to_owned(),
    }
}

fn group(file: &str, json: Value) -> Item<TargetGroup> {
    Item {
        value: serde_json::from_value(json).expect("a target group"),
        file: file.to_owned(),
    }
}

fn repository(
    groups: Vec<Item<TargetGroup>>,
    environments: Vec<(&str, Vec<Item<Experiment>>)>,
) -> Repository {
    Repository {
        layout: Layout::Legacy,
        config: None,
        target_groups: groups,
        environments: environments
            .into_iter()
            .map(|(name, experiments)| Environment {
                name: name.to_owned(),
                branch: None,
                experiments_dir: "experiments".to_owned(),
                experiments,
            })
            .collect(),
        rollouts: Vec::new(),
        casc: None,
    }
}

fn body<'t>(t: &'t Translation, key: &ResourceKey) -> &'t Value {
    &t.resources
        .iter()
        .find(|r| &r.key == key)
        .unwrap_or_else(|| panic!("no {key}: {:#?}", t.resources))
        .body
}

fn codes(t: &Translation) -> Vec<(&'static str, Severity, String)> {
    t.findings
        .iter()
        .map(|f| (f.code.as_str(), f.severity, f.file.clone()))
        .collect()
}

#[test]
fn conditions_take_their_unify_form() {
    let t = translate(&repository(
        vec![
            group(
                "g/Beta.yml",
                json!({"type": "target-group", "name": "Beta", "operator": "and", "conditions": [
                    {"property": "hasBetaAccess", "operator": "is-true"},
                    {"property": "rox.app_release", "operator": "semver-gte", "operand": "4.6.0"},
                ]}),
            ),
            group(
                "g/QA.yml",
                json!({"type": "target-group", "name": "QA", "operator": "or", "conditions": [
                    {"property": "seats", "operator": "gte", "operand": "100"},
                    {"property": "plan", "operator": "in-array", "operand": ["business", "enterprise", "business"]},
                    {"group": {"name": ["Beta"], "operator": "any-groups"}},
                ]}),
            ),
        ],
        vec![(
            "Production",
            vec![
                experiment(
                    "e/checkout.yml",
                    json!({"type": "experiment", "flag": "checkout", "conditions": [
                        {"group": {"name": ["Beta", "QA"], "operator": "or"}, "value": true},
                        {"group": {"name": ["Beta", "QA"], "operator": "and"}, "value": true},
                        {"group": {"name": "Beta", "operator": "nor"}, "dependency": {"flag": "color", "value": "green"}, "value": false},
                        {"version": {"operator": "semver-lt", "semver": "4.0"}, "property": {"name": "email", "operator": "regex", "operand": ".*@example\\.com$"}},
                    ]}),
                ),
                experiment(
                    "e/color.yml",
                    json!({"type": "experiment", "flag": "color", "availableValues": ["blue", "green"], "conditions": [
                    {"dependency": {"flag": "checkout", "value": "true"}, "value": "green"},
                    {"property": {"propertyConditions": [
                        {"property": "country", "operator": "eq", "operand": "FR"},
                        {"property": "age", "operator": "lt", "operand": 18},
                    ]}, "value": "blue"},
                ], "value": "blue"}),
                ),
            ],
        )],
    ));
    assert_eq!(codes(&t), []);

    let beta = body(&t, &ResourceKey::unify_target_group("Beta"));
    assert_eq!(
        beta["conditions"],
        json!({"allOf": [
            {"property": {"name": "hasBetaAccess", "operator": "is-true"}},
            {"property": {"name": "rox.app_release", "operator": "semver-gte", "operands": ["4.6.0"]}},
        ]})
    );
    let qa = body(&t, &ResourceKey::unify_target_group("QA"));
    assert_eq!(
        qa["conditions"],
        json!({"anyOf": [
            {"property": {"name": "seats", "operator": "gte", "operands": [100]}},
            {"property": {"name": "plan", "operator": "in-array", "operands": ["business", "enterprise"]}},
            {"group": {"name": "Beta"}},
        ]})
    );

    let checkout = body(
        &t,
        &ResourceKey::flag_configuration("Production", "checkout"),
    );
    assert_eq!(
        checkout["conditions"],
        json!([
            {"allOf": [{"anyOf": [{"group": {"name": "Beta"}}, {"group": {"name": "QA"}}]}], "flagValue": true},
            {"allOf": [{"allOf": [{"group": {"name": "Beta"}}, {"group": {"name": "QA"}}]}], "flagValue": true},
            {"allOf": [
                {"flag": {"name": "color", "value": "green"}},
                {"not": {"anyOf": [{"group": {"name": "Beta"}}]}},
            ], "flagValue": false},
            {"allOf": [
                {"property": {"name": "rox.app_release", "operator": "semver-lt", "operands": ["4.0"]}},
                {"property": {"name": "email", "operator": "regex", "operands": [".*@example\\.com$"]}},
            ], "flagValue": {"valueWrittenInCode": true}},
        ])
    );
    assert_eq!(
        checkout["defaultValue"],
        json!({"valueWrittenInCode": true})
    );
    assert_eq!(checkout["enabled"], true);
    assert_eq!(checkout["stickinessProperty"], "rox.distinct_id");

    let color = body(&t, &ResourceKey::flag_configuration("Production", "color"));
    // A dependency's value is typed like the other flag's values.
    assert_eq!(
        color["conditions"][0]["allOf"][0],
        json!({"flag": {"name": "checkout", "value": true}})
    );
    assert_eq!(
        color["conditions"][1]["allOf"],
        json!([
            {"property": {"name": "country", "operator": "eq", "operands": ["FR"]}},
            {"property": {"name": "age", "operator": "lt", "operands": [18]}},
        ])
    );
    assert_eq!(color["defaultValue"], "blue");

    let flag = body(&t, &ResourceKey::flag("color"));
    assert_eq!(flag["flagType"], "String");
    assert_eq!(flag["variants"], json!(["blue", "green"]));
    assert_eq!(
        body(&t, &ResourceKey::flag("checkout"))["variants"],
        json!(["false", "true"])
    );

    // Properties the conditions test, typed by their operators; `rox.*` are built in.
    let properties: Vec<(String, Value)> = t
        .resources
        .iter()
        .filter(|r| r.key.kind == Kind::CustomProperty)
        .map(|r| (r.key.name.clone(), r.body["type"].clone()))
        .collect();
    assert_eq!(
        properties,
        [
            ("age".to_owned(), json!("Number")),
            ("country".to_owned(), json!("String")),
            ("email".to_owned(), json!("String")),
            ("hasBetaAccess".to_owned(), json!("Boolean")),
            ("plan".to_owned(), json!("String")),
            ("seats".to_owned(), json!("Number")),
        ]
    );
    // What must exist first.
    let refs = &t
        .resources
        .iter()
        .find(|r| r.key == ResourceKey::flag_configuration("Production", "checkout"))
        .unwrap()
        .references;
    assert!(refs.contains(&ResourceKey::unify_target_group("QA")));
    assert!(refs.contains(&ResourceKey::flag("color")));
    assert!(refs.contains(&ResourceKey::flag("checkout")));
    assert!(refs.contains(&ResourceKey::custom_property("email")));
}

#[test]
fn a_target_group_without_operator_means_what_the_legacy_canonical_form_says() {
    let t = translate(&repository(
        vec![group(
            "g/G.yml",
            json!({"type": "target-group", "name": "G", "conditions": [
                {"property": "a", "operator": "is-true"},
                {"property": "b", "operator": "is-false"},
            ]}),
        )],
        Vec::new(),
    ));
    let expected = match defaults::target_group::OPERATOR
        .value(Side::Manifest)
        .as_str()
    {
        Some("and") => "allOf",
        _ => "anyOf",
    };
    let conditions = &body(&t, &ResourceKey::unify_target_group("G"))["conditions"];
    assert!(conditions.get(expected).is_some(), "{conditions}");
}

#[test]
fn values_splits_and_schedules() {
    let t = translate(&repository(
        Vec::new(),
        vec![(
            "Production",
            vec![
                experiment(
                    "e/a.yml",
                    json!({"type": "experiment", "flag": "a",
                    "value": [{"option": true, "percentage": 30}]}),
                ),
                experiment(
                    "e/b.yml",
                    json!({"type": "experiment", "flag": "b",
                    "value": [{"from": "2026-12-01T09:00:00.000Z", "percentage": 10, "option": true},
                              {"from": "2026-12-08T09:00:00.000Z", "percentage": 50, "option": "true"}]}),
                ),
                experiment(
                    "e/n.yml",
                    json!({"type": "experiment", "flag": "n", "availableValues": [1, 2.5],
                    "value": [{"option": 1, "percentage": 40.0}, {"option": "2.5", "percentage": 60}]}),
                ),
            ],
        )],
    ));
    assert_eq!(codes(&t), []);
    let a = body(&t, &ResourceKey::flag_configuration("Production", "a"));
    // The rest of a Boolean split goes to the other value.
    assert_eq!(
        a["defaultValue"],
        json!([{"option": true, "percentage": 30}, {"option": false, "percentage": 70}])
    );
    let b = body(&t, &ResourceKey::flag_configuration("Production", "b"));
    // Unify schedule steps have no `option`.
    assert_eq!(
        b["defaultValue"],
        json!([
            {"from": "2026-12-01T09:00:00.000Z", "percentage": 10},
            {"from": "2026-12-08T09:00:00.000Z", "percentage": 50},
        ])
    );
    let n = body(&t, &ResourceKey::flag_configuration("Production", "n"));
    assert_eq!(
        n["defaultValue"],
        json!([{"option": 1, "percentage": 40}, {"option": 2.5, "percentage": 60}])
    );
    assert_eq!(body(&t, &ResourceKey::flag("n"))["flagType"], "Number");
    assert_eq!(
        body(&t, &ResourceKey::flag("n"))["variants"],
        json!(["1", "2.5"])
    );
}

#[test]
fn a_condition_for_everyone_becomes_the_default() {
    let t = translate(&repository(
        Vec::new(),
        vec![(
            "Production",
            vec![experiment(
                "e/a.yml",
                json!({"type": "experiment", "flag": "a", "conditions": [
                {"property": {"name": "p", "operator": "is-true"}, "value": false},
                {"value": true},
                {"property": {"name": "q", "operator": "is-true"}, "value": false},
            ], "value": false}),
            )],
        )],
    ));
    let a = body(&t, &ResourceKey::flag_configuration("Production", "a"));
    assert_eq!(a["defaultValue"], true);
    assert_eq!(a["conditions"].as_array().unwrap().len(), 1);
    let f = &t.findings[0];
    assert_eq!(
        (f.code.as_str(), f.severity),
        ("no-unify-equivalent", Severity::Warning)
    );
    assert!(
        f.message.contains("1 condition(s) after it and `value`"),
        "{}",
        f.message
    );
}

#[test]
fn what_has_no_unify_equivalent_is_reported_where_it_is_written() {
    let t = translate(&repository(
        vec![group(
            "g/Beta.yml",
            json!({"type": "target-group", "name": "Beta", "conditions": [
                {"group": {"name": ["Ghost"], "operator": "any-groups"}},
                {"property": "p", "operator": "is-true"},
            ]}),
        )],
        vec![
            (
                "Production",
                vec![
                    experiment(
                        "e/a.yml",
                        json!({"type": "experiment", "flag": "a", "description": "one",
                        "platforms": [{"name": "iOS", "flag": "a.ios", "value": false}],
                        "conditions": [
                            {"group": {"name": ["Beta", "Nowhere"]}, "value": true},
                            {"dependency": {"flag": "missing", "value": "true"}, "value": true},
                            {"version": {"operator": "semver-gt", "semver": null}, "value": true},
                        ],
                        "value": [{"from": "2026-01-01T00:00:00Z", "percentage": 100, "option": false}]}),
                    ),
                    experiment(
                        "e/s.yml",
                        json!({"type": "experiment", "flag": "s", "availableValues": ["x", "y"],
                        "value": [{"option": "x", "percentage": 50}]}),
                    ),
                    experiment(
                        "e/m.yml",
                        json!({"type": "experiment", "flag": "m", "availableValues": ["x", 1],
                        "value": "x"}),
                    ),
                ],
            ),
            (
                "Staging",
                vec![experiment(
                    "s/a.yml",
                    json!({"type": "experiment", "flag": "a", "description": "two", "archived": true}),
                )],
            ),
        ],
    ));
    let found = codes(&t);
    let has = |code: &str, severity: Severity, file: &str| {
        found
            .iter()
            .any(|f| f.0 == code && f.1 == severity && f.2 == file)
    };
    assert!(
        has("unknown-target-group", Severity::Error, "g/Beta.yml"),
        "{found:?}"
    );
    assert!(
        has("no-unify-equivalent", Severity::Error, "e/a.yml"),
        "platforms: {found:?}"
    );
    assert!(has("unknown-target-group", Severity::Error, "e/a.yml"));
    assert!(has("unknown-dependency", Severity::Error, "e/a.yml"));
    assert!(
        has("no-unify-equivalent", Severity::Error, "e/s.yml"),
        "split: {found:?}"
    );
    assert!(
        has("no-unify-equivalent", Severity::Error, "e/m.yml"),
        "mixed: {found:?}"
    );
    assert!(
        has("no-unify-equivalent", Severity::Warning, "s/a.yml"),
        "description: {found:?}"
    );
    // Everything is reported at its place.
    let platform = t
        .findings
        .iter()
        .find(|f| f.message.contains("platform `iOS`"))
        .unwrap();
    assert_eq!(
        platform.path,
        [
            flagsync_manifest::model::PathSeg::key("platforms"),
            flagsync_manifest::model::PathSeg::Index(0),
            flagsync_manifest::model::PathSeg::key("flag"),
        ]
    );
    assert!(t.findings.iter().any(|f| f.message.contains("archived")));
    assert!(
        t.findings
            .iter()
            .any(|f| f.message.contains("schedule step that serves false"))
    );

    // What did not translate is left out: the conditions, the default, the group's part.
    let a = body(&t, &ResourceKey::flag_configuration("Production", "a"));
    assert_eq!(a["conditions"], json!([]));
    assert_eq!(a["defaultValue"], json!({"valueWrittenInCode": true}));
    let s = body(&t, &ResourceKey::flag_configuration("Production", "s"));
    assert_eq!(s["defaultValue"], json!({"valueWrittenInCode": true}));
    // No `operator` in a target-group manifest means `and` (the CasC format's default).
    let beta = body(&t, &ResourceKey::unify_target_group("Beta"));
    assert_eq!(beta["conditions"]["allOf"].as_array().unwrap().len(), 1);
    // One flag for both environments, with the first description.
    assert_eq!(body(&t, &ResourceKey::flag("a"))["description"], "one");
    assert_eq!(body(&t, &ResourceKey::flag("m"))["flagType"], "String");
}

#[test]
fn platform_overrides_become_leading_conditions_on_rox_platform() {
    let t = translate(&repository(
        vec![group(
            "g/QA.yml",
            json!({"type": "target-group", "name": "QA", "conditions": [{"property": "qa", "operator": "is-true"}]}),
        )],
        vec![(
            "Production",
            vec![experiment(
                "e/color.yml",
                json!({"type": "experiment", "flag": "color", "availableValues": ["blue", "green", "orange"],
                "platforms": [
                    {"name": "iOS", "conditions": [
                        {"group": {"name": "QA"}, "value": "green"},
                        {"version": {"operator": "semver-lt", "semver": "2.0"}, "value": "blue"},
                    ], "value": "orange"},
                    {"name": "Android"},
                ],
                "conditions": [{"group": {"name": "QA"}, "value": "blue"}],
                "value": "green"}),
            )],
        )],
    ));
    let ios = json!({"property": {"name": "rox.platform", "operator": "eq", "operands": ["iOS"]}});
    let android =
        json!({"property": {"name": "rox.platform", "operator": "eq", "operands": ["Android"]}});
    let config = body(&t, &ResourceKey::flag_configuration("Production", "color"));
    // First match wins: each platform's conditions (AND-ed with the platform), then the
    // rest of that platform, then the flag's own conditions.
    assert_eq!(
        config["conditions"],
        json!([
            {"allOf": [ios, {"anyOf": [{"group": {"name": "QA"}}]}], "flagValue": "green"},
            {"allOf": [ios, {"property": {"name": "rox.app_release", "operator": "semver-lt", "operands": ["2.0"]}}], "flagValue": "blue"},
            {"allOf": [ios], "flagValue": "orange"},
            {"allOf": [android], "flagValue": {"valueWrittenInCode": true}},
            {"allOf": [{"anyOf": [{"group": {"name": "QA"}}]}], "flagValue": "blue"},
        ])
    );
    assert_eq!(config["defaultValue"], "green");
    // Each translation is reported, at the override, as inferred.
    let inferred: Vec<&flagsync_plan::unify::translate::Finding> = t
        .findings
        .iter()
        .filter(|f| f.code.as_str() == "inferred-translation")
        .collect();
    assert_eq!(inferred.len(), 2, "{:#?}", t.findings);
    assert!(inferred.iter().all(|f| f.severity == Severity::Warning));
    assert_eq!(
        inferred[0].path,
        [
            flagsync_manifest::model::PathSeg::key("platforms"),
            flagsync_manifest::model::PathSeg::Index(0)
        ]
    );
    assert!(
        inferred[0].message.contains("inferred"),
        "{}",
        inferred[0].message
    );
    assert!(!t.findings.iter().any(|f| f.severity == Severity::Error));
    // A built-in property: nothing to declare, nothing to wait for.
    assert!(
        !t.resources
            .iter()
            .any(|r| r.key.kind == Kind::CustomProperty && r.key.name == "rox.platform")
    );
}
