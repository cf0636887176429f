//! Planning: ordering, pruning, targeting, fingerprints, rollouts, plan files.

use flagsync_plan::{
    DesiredResource, LiveResource, ManagedScope, Operation, Plan, PlanError, PlanOptions,
    ResourceKey, RolloutStep, TargetFilter, fingerprint, plan,
};
use serde_json::{Value, json};

fn group(name: &str, refs: &[ResourceKey]) -> DesiredResource {
    DesiredResource {
        key: ResourceKey::target_group(name),
        body: json!({"name": name, "operator": "and", "conditions": []}),
        references: refs.to_vec(),
        origin: None,
    }
}

fn experiment(env: &str, flag: &str, value: Value, refs: &[ResourceKey]) -> DesiredResource {
    DesiredResource {
        key: ResourceKey::experiment(env, flag),
        body: json!({"flag": flag, "enabled": true, "value": value}),
        references: refs.to_vec(),
        origin: None,
    }
}

fn live_of(d: &DesiredResource) -> LiveResource {
    LiveResource {
        patch_base: None,
        key: d.key.clone(),
        body: d.body.clone(),
        remote_id: None,
        references: d.references.clone(),
    }
}

fn all_scope() -> ManagedScope {
    ManagedScope {
        target_groups: true,
        experiment_envs: vec!["Production".into(), "Staging".into()],
        rollouts: true,
        ..Default::default()
    }
}

fn ids(plan: &Plan) -> Vec<&str> {
    plan.actions.iter().map(|a| a.id.as_str()).collect()
}

fn position(plan: &Plan, id: &str) -> usize {
    plan.actions
        .iter()
        .position(|a| a.id == id)
        .unwrap_or_else(|| panic!("{id} not in plan: {:?}", ids(plan)))
}

#[test]
fn target_group_is_created_before_the_experiment_using_it() {
    let g = ResourceKey::target_group("Beta Users");
    // Names chosen so that alphabetical order alone would put the experiment first.
    let desired = vec![
        experiment(
            "Production",
            "a.flag",
            json!(true),
            std::slice::from_ref(&g),
        ),
        group("Beta Users", &[]),
    ];
    let p = plan(&desired, &[], &PlanOptions::default()).expect("plans");
    assert_eq!(
        ids(&p),
        vec!["target-group/Beta Users", "experiment/Production/a.flag"]
    );
    assert_eq!(
        p.actions[1].depends_on,
        vec!["target-group/Beta Users".to_owned()]
    );
    assert_eq!(p.summary.create, 2);
    let levels = p.levels().expect("levels");
    assert_eq!(levels.len(), 2);
    assert_eq!(levels[0][0].id, "target-group/Beta Users");
}

#[test]
fn dependency_chain_orders_every_link_and_independent_actions_share_a_level() {
    let g = ResourceKey::target_group("g");
    let b = ResourceKey::experiment("Production", "b");
    let desired = vec![
        experiment("Production", "a", json!(true), std::slice::from_ref(&b)),
        experiment("Production", "b", json!(true), std::slice::from_ref(&g)),
        group("g", &[]),
        experiment("Production", "z", json!(false), &[]),
        // Same flag name in another env: no dependency on Production's b.
        experiment(
            "Staging",
            "a",
            json!(true),
            &[ResourceKey::experiment("Staging", "b")],
        ),
    ];
    let p = plan(&desired, &[], &PlanOptions::default()).expect("plans");
    assert!(position(&p, "target-group/g") < position(&p, "experiment/Production/b"));
    assert!(position(&p, "experiment/Production/b") < position(&p, "experiment/Production/a"));
    // Staging/a references Staging/b, which is not in the plan: no dependency at all.
    assert!(
        p.action("experiment/Staging/a")
            .is_some_and(|a| a.depends_on.is_empty())
    );
    let levels: Vec<Vec<&str>> = p
        .levels()
        .expect("levels")
        .iter()
        .map(|l| l.iter().map(|a| a.id.as_str()).collect())
        .collect();
    assert_eq!(
        levels,
        vec![
            vec![
                "target-group/g",
                "experiment/Production/z",
                "experiment/Staging/a"
            ],
            vec!["experiment/Production/b"],
            vec!["experiment/Production/a"],
        ]
    );
}

#[test]
fn deletes_run_in_reverse_dependency_order() {
    let g = ResourceKey::target_group("old group");
    let live = vec![
        live_of(&group("old group", &[])),
        live_of(&experiment(
            "Production",
            "old",
            json!(true),
            std::slice::from_ref(&g),
        )),
    ];
    let options = PlanOptions {
        prune: true,
        scope: all_scope(),
        ..PlanOptions::default()
    };
    let p = plan(&[], &live, &options).expect("plans");
    assert_eq!(
        ids(&p),
        vec!["experiment/Production/old", "target-group/old group"]
    );
    assert_eq!(
        p.actions[1].depends_on,
        vec!["experiment/Production/old".to_owned()]
    );
    assert_eq!(p.summary.delete, 2);
    assert!(
        p.actions
            .iter()
            .all(|a| a.live_fingerprint.is_some() && a.desired.is_none())
    );
}

#[test]
fn update_that_drops_a_reference_runs_before_the_group_is_deleted() {
    let g = ResourceKey::target_group("old group");
    let live = vec![
        live_of(&group("old group", &[])),
        live_of(&experiment(
            "Production",
            "f",
            json!(true),
            std::slice::from_ref(&g),
        )),
    ];
    let desired = vec![experiment("Production", "f", json!(false), &[])];
    let options = PlanOptions {
        prune: true,
        scope: all_scope(),
        ..PlanOptions::default()
    };
    let p = plan(&desired, &live, &options).expect("plans");
    assert_eq!(
        ids(&p),
        vec!["experiment/Production/f", "target-group/old group"]
    );
    assert_eq!(p.actions[0].operation, Operation::Update);
    assert_eq!(
        p.actions[1].depends_on,
        vec!["experiment/Production/f".to_owned()]
    );
}

#[test]
fn cycle_is_an_error_naming_its_members() {
    let a = ResourceKey::experiment("Production", "a");
    let b = ResourceKey::experiment("Production", "b");
    let desired = vec![
        experiment("Production", "a", json!(true), std::slice::from_ref(&b)),
        experiment("Production", "b", json!(true), std::slice::from_ref(&a)),
        group("free", &[]),
    ];
    let err = plan(&desired, &[], &PlanOptions::default()).expect_err("cycle");
    assert_eq!(
        err,
        PlanError::Cycle {
            actions: vec![
                "experiment/Production/a".into(),
                "experiment/Production/b".into()
            ]
        }
    );
    assert!(err.to_string().contains("dependency cycle"));
}

#[test]
fn self_reference_is_a_cycle() {
    let a = ResourceKey::target_group("a");
    let err = plan(&[group("a", &[a])], &[], &PlanOptions::default()).expect_err("cycle");
    assert!(matches!(err, PlanError::Cycle { .. }));
}

#[test]
fn deletes_need_prune_and_stay_inside_the_managed_scope() {
    let live = vec![
        live_of(&group("g", &[])),
        live_of(&experiment("Production", "p", json!(true), &[])),
        live_of(&experiment("Development", "d", json!(true), &[])),
    ];
    let no_prune = plan(
        &[],
        &live,
        &PlanOptions {
            scope: all_scope(),
            ..Default::default()
        },
    )
    .expect("plans");
    assert!(!no_prune.has_changes());
    // Without prune nothing is deleted, but live state does not match: the resources no
    // manifest declares are listed and counted, never "No changes".
    assert!(no_prune.has_differences());
    assert_eq!(
        no_prune.summary.line(),
        "Plan: 0 to create, 0 to update, 0 to delete; 2 live resources not declared."
    );
    let undeclared: Vec<&str> = no_prune.undeclared.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        undeclared,
        vec!["target-group/g", "experiment/Production/p"],
        "Development is outside the scope"
    );
    assert_eq!(no_prune.summary.undeclared, 2);
    let nothing = plan(&[], &[], &PlanOptions::default()).expect("plans");
    assert!(!nothing.has_differences());
    assert_eq!(
        nothing.summary.line(),
        "No changes. Live state matches the repository."
    );

    let scoped = PlanOptions {
        prune: true,
        scope: ManagedScope {
            target_groups: false,
            experiment_envs: vec!["Production".into()],
            rollouts: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let p = plan(&[], &live, &scoped).expect("plans");
    assert_eq!(ids(&p), vec!["experiment/Production/p"]);
}

#[test]
fn unchanged_resources_are_counted_as_no_op_and_updates_carry_fingerprint_and_patch() {
    let same = group("same", &[]);
    let changed = experiment("Production", "f", json!(false), &[]);
    let live_changed = experiment("Production", "f", json!(true), &[]);
    let live = vec![live_of(&same), live_of(&live_changed)];
    let p = plan(&[same, changed.clone()], &live, &PlanOptions::default()).expect("plans");
    assert_eq!(p.summary.no_op, 1);
    assert_eq!(p.summary.update, 1);
    assert_eq!(
        p.summary.line(),
        "Plan: 0 to create, 1 to update, 0 to delete."
    );
    let action = &p.actions[0];
    assert_eq!(
        action.live_fingerprint.as_deref(),
        Some(fingerprint(&live_changed.body).as_str())
    );
    assert_eq!(action.desired.as_ref(), Some(&changed.body));
    let ops = serde_json::to_value(&action.patch).expect("serializes");
    assert_eq!(
        ops,
        json!([{"op": "test", "path": "/value", "value": true},
               {"op": "replace", "path": "/value", "value": false}])
    );
}

#[test]
fn target_keeps_matching_actions_and_their_dependencies() {
    let g = ResourceKey::target_group("g");
    let desired = vec![
        group("g", &[]),
        group("unrelated", &[]),
        experiment("Production", "f", json!(true), std::slice::from_ref(&g)),
        experiment("Staging", "f", json!(true), &[]),
        experiment("Staging", "other", json!(true), &[]),
    ];
    let only = |targets: &[&str]| {
        let options = PlanOptions {
            targets: targets.iter().map(|t| t.parse().expect("filter")).collect(),
            ..Default::default()
        };
        plan(&desired, &[], &options).expect("plans")
    };
    let p = only(&["experiment/Production/f"]);
    assert_eq!(ids(&p), vec!["target-group/g", "experiment/Production/f"]);
    // KIND/NAME for experiments matches every environment.
    let p = only(&["experiment/f"]);
    assert_eq!(
        ids(&p),
        vec![
            "target-group/g",
            "experiment/Production/f",
            "experiment/Staging/f"
        ]
    );
    let p = only(&["target-group/nothing"]);
    assert!(p.actions.is_empty());
    assert_eq!(
        p.warnings,
        vec!["--target target-group/nothing matches no resource".to_owned()]
    );
}

#[test]
fn target_filters_and_keys_parse() {
    let f: TargetFilter = "experiment/Production/default.my/Name"
        .parse()
        .expect("parses");
    assert!(f.matches(&ResourceKey::experiment("Production", "default.my/Name")));
    assert!(!f.matches(&ResourceKey::experiment("Staging", "default.my/Name")));
    let k: ResourceKey = "target-group/Beta Users".parse().expect("parses");
    assert_eq!(k, ResourceKey::target_group("Beta Users"));
    assert_eq!(k.to_string(), "target-group/Beta Users");
    let k: ResourceKey = "experiment/Production/default.myName"
        .parse()
        .expect("parses");
    assert_eq!(k.to_string(), "experiment/Production/default.myName");
    assert!("experiment/only-a-flag".parse::<ResourceKey>().is_err());
    assert!("flags/x".parse::<TargetFilter>().is_err());
    // The CloudBees Unify kinds: a flag is application-wide, a configuration per environment.
    let k: ResourceKey = "flag/x".parse().expect("parses");
    assert_eq!(k, ResourceKey::flag("x"));
    let k: ResourceKey = "flag-configuration/Production/a/b".parse().expect("parses");
    assert_eq!(k, ResourceKey::flag_configuration("Production", "a/b"));
    assert!("flag-configuration/x".parse::<ResourceKey>().is_err());
    assert!("rollout/".parse::<TargetFilter>().is_err());
    assert!("rollout".parse::<TargetFilter>().is_err());
}

#[test]
fn duplicates_are_errors() {
    let g = group("g", &[]);
    let err = plan(&[g.clone(), g.clone()], &[], &PlanOptions::default()).expect_err("dup");
    assert!(matches!(err, PlanError::DuplicateDesired { .. }));
    let mut a = live_of(&g);
    a.remote_id = Some("aaa".into());
    let mut b = live_of(&g);
    b.remote_id = Some("bbb".into());
    let err = plan(&[], &[a, b], &PlanOptions::default()).expect_err("dup");
    assert!(err.to_string().contains("aaa, bbb"), "{err}");
}

fn rollout_body(state: &str, reach: &str) -> Value {
    json!({
        "displayName": "New Search",
        "state": state,
        "labels": {"flagsync-id": "new-search"},
        "flags": {"targetingKeySelector": "targeting_key"},
        "rollout": {"flag": "flags/search", "variant": "flags/search/variants/on", "reach": reach},
        "segment": {"targeting": {}},
        "metrics": {}
    })
}

#[test]
fn rollout_actions_carry_steps_and_unsupported_changes_become_warnings() {
    let desired = vec![DesiredResource {
        key: ResourceKey::rollout("new-search"),
        body: rollout_body("draft", "0.5"),
        references: vec![],
        origin: None,
    }];
    let live = vec![LiveResource {
        patch_base: None,
        key: ResourceKey::rollout("new-search"),
        body: rollout_body("live", "0.1"),
        remote_id: Some("brcdajvw7dfuod7cj9iq".into()),
        references: vec![],
    }];
    let p = plan(&desired, &live, &PlanOptions::default()).expect("plans");
    let a = &p.actions[0];
    assert_eq!(
        a.steps,
        vec![RolloutStep::PatchRollout {
            update_mask: "rollout".into()
        }]
    );
    assert_eq!(a.remote_id.as_deref(), Some("brcdajvw7dfuod7cj9iq"));
    assert!(a.unsupported.is_some());
    assert_eq!(p.warnings.len(), 1);
    assert!(
        p.warnings[0].starts_with("rollout/new-search: "),
        "{:?}",
        p.warnings
    );

    let created = plan(&desired, &[], &PlanOptions::default()).expect("plans");
    assert_eq!(created.actions[0].steps, vec![RolloutStep::Create]);
}

#[test]
fn plan_file_round_trips_and_checks_version_and_graph() {
    let g = ResourceKey::target_group("g");
    let desired = vec![
        group("g", &[]),
        experiment("Production", "f", json!(1), &[g]),
    ];
    let p = plan(&desired, &[], &PlanOptions::default()).expect("plans");
    let text = p.to_json().expect("serializes");
    assert_eq!(Plan::from_json(&text).expect("reads back"), p);

    let mut raw: Value = serde_json::from_str(&text).expect("json");
    raw["format_version"] = json!(99);
    let err = Plan::from_json(&raw.to_string()).expect_err("version");
    assert!(matches!(
        err,
        PlanError::UnsupportedFormatVersion {
            found: Some(99),
            ..
        }
    ));

    let mut raw: Value = serde_json::from_str(&text).expect("json");
    raw["actions"][0]["depends_on"] = json!(["experiment/Production/f"]);
    let err = Plan::from_json(&raw.to_string()).expect_err("cycle");
    assert!(matches!(err, PlanError::Cycle { .. }));

    assert!(matches!(
        Plan::from_json("{"),
        Err(PlanError::UnsupportedFormatVersion { .. }) | Err(PlanError::InvalidPlan(_))
    ));
}

#[test]
fn rollout_deletes_are_planned_but_flagged_as_unsupported() {
    let live = vec![LiveResource {
        patch_base: None,
        key: ResourceKey::rollout("old-promo"),
        body: rollout_body("live", "1"),
        remote_id: Some("bnkv2onacdpvxk8cmqbm".into()),
        references: vec![],
    }];
    let options = PlanOptions {
        prune: true,
        scope: all_scope(),
        ..PlanOptions::default()
    };
    let p = plan(&[], &live, &options).expect("plans");
    assert_eq!(p.actions[0].operation, Operation::Delete);
    assert!(
        p.actions[0]
            .unsupported
            .as_deref()
            .is_some_and(|r| r.contains("no call that deletes"))
    );
    assert_eq!(p.warnings.len(), 1);
}
