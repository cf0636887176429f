//! Planning CloudBees Unify resources: the live side read from the API's JSON (ids resolved
//! to names), the Unify order, and its rules (condition order, immutable types, variants the
//! service grows, the configuration it keeps per flag and environment, prune and flags).

use std::collections::BTreeMap;

use flagsync_live::{LiveFlagConfiguration, LiveUnify, LiveUnifyObject};
use flagsync_plan::unify::{
    canonical_configuration, canonical_flag, canonical_property, canonical_target_group,
    live_resources, references,
};
use flagsync_plan::{
    DesiredResource, Kind, ManagedScope, Operation, Plan, PlanOptions, ResourceKey, plan,
    render_human,
};
use serde_json::{Value, json};

/// A desired resource from the API's JSON with references by name (the canonical form).
fn desired(key: ResourceKey, raw: Value) -> DesiredResource {
    let body = match key.kind {
        Kind::CustomProperty => canonical_property(&raw),
        Kind::UnifyTargetGroup => canonical_target_group(&raw),
        Kind::Flag => canonical_flag(&raw),
        _ => canonical_configuration(&raw),
    };
    let declared = ["plan".to_owned()].into_iter().collect();
    DesiredResource {
        references: references(&key, &body, &declared),
        key,
        body,
        origin: None,
    }
}

fn scope() -> ManagedScope {
    ManagedScope {
        unify: true,
        unify_envs: vec!["Production".into()],
        ..ManagedScope::default()
    }
}

fn options(prune: bool, prune_flags: bool) -> PlanOptions {
    PlanOptions {
        prune,
        prune_flags,
        scope: scope(),
        ..PlanOptions::default()
    }
}

fn object(id: &str, body: Value) -> LiveUnifyObject {
    let mut body = body;
    body["id"] = json!(id);
    body["resourceId"] = json!("app");
    body["cascUrl"] = json!("");
    LiveUnifyObject::new(body)
}

fn configuration(flag_id: &str, flag: &str, configuration: Value) -> LiveFlagConfiguration {
    LiveFlagConfiguration::new(json!({
        "flagId": flag_id, "flagName": flag, "description": "", "labels": [],
        "configuration": configuration,
    }))
}

/// A live application as the API serves it: property `plan`, target group `Beta` on it, flag
/// `f` (String) whose Production configuration serves by `Beta`, flag `g` (Boolean, fresh).
fn account() -> LiveUnify {
    LiveUnify {
        organization_id: "org".into(),
        application_id: "app".into(),
        environments: BTreeMap::from([("Production".into(), "env-p".into())]),
        properties: vec![object(
            "p-1",
            json!({"name": "plan", "type": "String", "description": ""}),
        )],
        target_groups: vec![object(
            "g-1",
            json!({"name": "Beta", "description": "", "conditions": {"property": {"name": "plan", "operator": "eq", "operands": ["beta"]}}}),
        )],
        flags: vec![
            object(
                "f-1",
                json!({"name": "f", "flagType": "String", "variants": ["a", "b", "grown"], "labels": [], "description": "", "isPermanent": false}),
            ),
            object(
                "f-2",
                json!({"name": "g", "flagType": "Boolean", "variants": ["false", "true"]}),
            ),
        ],
        configurations: BTreeMap::from([(
            "Production".into(),
            vec![
                configuration(
                    "f-1",
                    "f",
                    json!({"enabled": true, "defaultValue": "a", "seed": "seed-1", "variantsEnabled": false,
                    "stickinessProperty": "rox.distinct_id",
                    "conditions": [
                        {"allOf": [{"group": {"id": "g-1"}}], "flagValue": "b"},
                        {"allOf": [{"property": {"name": "plan", "operator": "eq", "operands": ["x"]}}], "flagValue": "a"},
                    ]}),
                ),
                configuration(
                    "f-2",
                    "g",
                    json!({"enabled": false, "defaultValue": {"valueWrittenInCode": true}, "conditions": [], "seed": "seed-2"}),
                ),
            ],
        )]),
    }
}

/// What the repository declares when it matches [`account`] (the fresh configuration of
/// `g` is not declared).
fn repository() -> Vec<DesiredResource> {
    vec![
        desired(
            ResourceKey::custom_property("plan"),
            json!({"name": "plan", "type": "String"}),
        ),
        desired(
            ResourceKey::unify_target_group("Beta"),
            json!({"name": "Beta", "conditions": {"property": {"name": "plan", "operator": "eq", "operands": ["beta"]}}}),
        ),
        desired(
            ResourceKey::flag("f"),
            json!({"name": "f", "flagType": "String", "variants": ["a", "b"]}),
        ),
        desired(
            ResourceKey::flag("g"),
            json!({"name": "g", "flagType": "Boolean"}),
        ),
        desired(
            ResourceKey::flag_configuration("Production", "f"),
            json!({"enabled": true, "defaultValue": "a", "conditions": [
                {"allOf": [{"group": {"name": "Beta"}}], "flagValue": "b"},
                {"allOf": [{"property": {"name": "plan", "operator": "eq", "operands": ["x"]}}], "flagValue": "a"},
            ]}),
        ),
    ]
}

fn replace(all: &mut [DesiredResource], key: &str, raw: Value) {
    let at = all
        .iter()
        .position(|d| d.key.to_string() == key)
        .unwrap_or_else(|| panic!("{key}"));
    let k = all[at].key.clone();
    all[at] = desired(k, raw);
}

fn ids(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| format!("{} {}", a.operation, a.id))
        .collect()
}

#[test]
fn the_live_application_matches_the_repository_that_declares_it() {
    let live = live_resources(&account());
    // Grown variants and the fresh configuration nobody declares are no difference.
    let p = plan(&repository(), &live, &options(false, false)).unwrap();
    assert!(!p.has_differences(), "{:#?}", p);
    assert_eq!(p.summary.no_op, 5);
}

#[test]
fn condition_order_is_meaning() {
    let mut want = repository();
    replace(
        &mut want,
        "flag-configuration/Production/f",
        json!({"enabled": true, "defaultValue": "a", "conditions": [
            {"allOf": [{"property": {"name": "plan", "operator": "eq", "operands": ["x"]}}], "flagValue": "a"},
            {"allOf": [{"group": {"name": "Beta"}}], "flagValue": "b"},
        ]}),
    );
    let p = plan(&want, &live_resources(&account()), &options(false, false)).unwrap();
    assert_eq!(ids(&p), ["update flag-configuration/Production/f"]);
    // The change reads as a body diff: one of the two conditions leaves its place and
    // lands in the other (which one the list diff moves is its choice).
    let text = render_human(&p, &Default::default());
    let moved = |sign: char| {
        [
            format!(
                "    {sign}       - group:\n    {sign}           name: Beta\n    {sign}     flagValue: b\n"
            ),
            format!("    {sign}           name: plan\n"),
        ]
    };
    assert!(
        (0..2).any(|i| text.contains(&moved('-')[i]) && text.contains(&moved('+')[i])),
        "{text}"
    );
    assert!(
        !text.contains("seed"),
        "the seed is not part of the change: {text}"
    );
}

#[test]
fn variants_the_repository_lacks_differ_and_grown_ones_do_not() {
    let mut want = repository();
    replace(
        &mut want,
        "flag/f",
        json!({"name": "f", "flagType": "String", "variants": ["a", "b", "c"], "description": "new"}),
    );
    let p = plan(&want, &live_resources(&account()), &options(false, false)).unwrap();
    let action = &p.actions[0];
    assert_eq!(action.id, "flag/f");
    // The service's own "grown" is not shown as a removal: the diff is the description
    // and the variant the repository adds.
    let text = render_human(&p, &Default::default());
    assert!(text.contains("+ description: new"), "{text}");
    assert!(text.contains("+   - c"), "{text}");
    assert!(!text.contains("-   - grown"), "{text}");
    // What the update sends keeps it.
    assert_eq!(
        action.desired.as_ref().unwrap()["variants"],
        json!(["a", "b", "c", "grown"])
    );
    // The fingerprint is the object's as read, which `apply --plan` reads again.
    let read = live_resources(&account());
    let f = read
        .iter()
        .find(|l| l.key == ResourceKey::flag("f"))
        .unwrap();
    assert_eq!(
        action.live_fingerprint.as_deref(),
        Some(flagsync_plan::fingerprint(&f.body).as_str())
    );
}

#[test]
fn a_type_change_is_refused_in_the_plan_never_a_delete_and_create() {
    let mut want = repository();
    replace(
        &mut want,
        "flag/f",
        json!({"name": "f", "flagType": "Number", "variants": ["1"]}),
    );
    replace(
        &mut want,
        "custom-property/plan",
        json!({"name": "plan", "type": "Number"}),
    );
    let p = plan(&want, &live_resources(&account()), &options(true, true)).unwrap();
    assert!(
        p.actions.iter().all(|a| a.operation == Operation::Update),
        "{:?}",
        ids(&p)
    );
    for id in ["flag/f", "custom-property/plan"] {
        let action = p.action(id).unwrap();
        let why = action.unsupported.as_deref().unwrap();
        assert!(why.contains("cannot change"), "{why}");
    }
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    let text = render_human(&p, &Default::default());
    assert!(text.contains("! not possible: the type of flag `f` is String in CloudBees Unify and Number in the repository"), "{text}");
}

#[test]
fn creates_run_in_the_unify_order_and_deletes_in_reverse() {
    let want = repository();
    let p = plan(&want, &[], &options(false, false)).unwrap();
    let order = ids(&p);
    let at = |id: &str| order.iter().position(|o| o == id).unwrap();
    assert!(at("create custom-property/plan") < at("create unify-target-group/Beta"));
    assert!(at("create unify-target-group/Beta") < at("create flag-configuration/Production/f"));
    assert!(at("create flag/f") < at("create flag-configuration/Production/f"));
    let config = p.action("flag-configuration/Production/f").unwrap();
    assert_eq!(
        config.depends_on,
        ["flag/f", "unify-target-group/Beta", "custom-property/plan"]
            .map(str::to_owned)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );

    // Nothing declared, everything pruned: configuration (reset) before its flag, the
    // flag before the group its configuration used, the group before its property.
    let p = plan(&[], &live_resources(&account()), &options(true, true)).unwrap();
    let order = ids(&p);
    let at = |id: &str| order.iter().position(|o| o == id).unwrap();
    assert!(at("delete flag-configuration/Production/f") < at("delete flag/f"));
    assert!(at("delete flag-configuration/Production/f") < at("delete unify-target-group/Beta"));
    assert!(at("delete unify-target-group/Beta") < at("delete custom-property/plan"));
    // The fresh configuration of g goes with g, without an action of its own.
    assert!(
        !order.iter().any(|o| o.contains("Production/g")),
        "{order:?}"
    );
    // What those deletes do besides deleting is said once each.
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    assert!(
        p.warnings[0].starts_with("1 flag configuration delete(s): CloudBees Unify keeps one"),
        "{:?}",
        p.warnings
    );
    assert!(
        p.warnings[1].starts_with("2 flag delete(s): apply first disables each flag"),
        "{:?}",
        p.warnings
    );
}

#[test]
fn prune_keeps_flags_no_manifest_declares_unless_asked() {
    let want: Vec<DesiredResource> = repository()
        .into_iter()
        .filter(|d| d.key.kind == Kind::CustomProperty || d.key.kind == Kind::UnifyTargetGroup)
        .collect();
    let live = live_resources(&account());

    let p = plan(&want, &live, &options(true, false)).unwrap();
    assert!(p.actions.is_empty(), "{:?}", ids(&p));
    let undeclared: Vec<&str> = p.undeclared.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(undeclared, ["flag/f", "flag/g"]);
    assert!(
        p.undeclared
            .iter()
            .all(|u| u.unsupported.as_deref().unwrap().contains("--prune-flags")),
        "{p:#?}"
    );

    // Deleting the target group a kept flag's configuration uses would be refused: the
    // plan says so instead.
    let without_group: Vec<DesiredResource> = want
        .iter()
        .filter(|d| d.key.kind == Kind::CustomProperty)
        .cloned()
        .collect();
    let p = plan(&without_group, &live, &options(true, false)).unwrap();
    let group = p.action("unify-target-group/Beta").unwrap();
    assert_eq!(group.operation, Operation::Delete);
    let why = group.unsupported.as_deref().unwrap();
    assert!(why.contains("flag-configuration/Production/f"), "{why}");

    let p = plan(&want, &live, &options(true, true)).unwrap();
    assert_eq!(
        ids(&p),
        [
            "delete flag/g",
            "delete flag-configuration/Production/f",
            "delete flag/f",
        ]
    );
    assert_eq!(
        p.action("flag/f").unwrap().depends_on,
        ["flag-configuration/Production/f"]
    );
    assert!(p.undeclared.is_empty());
}

#[test]
fn a_configuration_nobody_declares_differs_only_when_it_is_not_fresh() {
    let mut want = repository();
    want.retain(|d| d.key != ResourceKey::flag_configuration("Production", "f"));
    let live = live_resources(&account());
    let p = plan(&want, &live, &options(false, false)).unwrap();
    let undeclared: Vec<&str> = p.undeclared.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(undeclared, ["flag-configuration/Production/f"]);
    let p = plan(&want, &live, &options(true, false)).unwrap();
    assert_eq!(ids(&p), ["delete flag-configuration/Production/f"]);
}
