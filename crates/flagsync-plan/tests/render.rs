//! Snapshots of the three renderings of a representative plan, and the markdown budget.

use flagsync_plan::render::{
    Compared, Framing, Phrase, Revision, render_human_framed, render_json_framed,
    render_markdown_framed,
};
use flagsync_plan::{
    DesiredResource, HumanOptions, LiveResource, ManagedScope, Origin, Plan, PlanOptions,
    ResourceKey, plan, render_human, render_json, render_markdown,
};
use serde_json::{Value, json};

fn desired(key: ResourceKey, body: Value, refs: Vec<ResourceKey>, file: &str) -> DesiredResource {
    DesiredResource {
        key,
        body,
        references: refs,
        origin: Some(Origin {
            file: file.to_owned(),
            line: 1,
        }),
    }
}

fn live(key: ResourceKey, body: Value, refs: Vec<ResourceKey>, id: Option<&str>) -> LiveResource {
    LiveResource {
        patch_base: None,
        key,
        body,
        remote_id: id.map(str::to_owned),
        references: refs,
    }
}

fn rollout(id: &str, state: &str, reach: &str, targeting: Value) -> Value {
    json!({
        "displayName": "New Search Feature Rollout",
        "state": state,
        "labels": {"flagsync-id": id},
        "flags": {"targetingKeySelector": "targeting_key"},
        "rollout": {
            "flag": "flags/search-flag",
            "variant": "flags/search-flag/variants/enabled",
            "reach": reach
        },
        "segment": {"targeting": targeting},
        "metrics": {"assignmentTable": "assignmentTables/my-assignment-table", "entity": "entities/user", "bucket": "DAYS"}
    })
}

/// Creates, updates and deletes across all three kinds, with dependencies between them.
fn representative_plan() -> Plan {
    let beta = ResourceKey::target_group("Beta <Users> & *friends*");
    let old_group = ResourceKey::target_group("Old Group");
    let checkout = ResourceKey::experiment("Production", "default.checkout");
    let experiment_body = |value: Value, conditions: Value| {
        json!({
            "flag": "default.newCheckout",
            "name": "default.newCheckout",
            "description": "",
            "enabled": true,
            "labels": ["checkout"],
            "availableValues": [false, true],
            "stickinessProperty": "rox.distinct_id",
            "platforms": [],
            "conditions": conditions,
            "value": value
        })
    };
    let new_conditions = json!([
        {"group": {"name": "Beta <Users> & *friends*"}, "value": true},
        {"dependency": {"flag": "default.checkout", "value": "true"}, "value": true},
        {"version": {"operator": "semver-gte", "semver": "2.0.0"}, "value": true}
    ]);
    let old_conditions = json!([
        {"group": {"name": "Old Group"}, "value": true},
        {"version": {"operator": "semver-gte", "semver": "1.0.0"}, "value": true}
    ]);
    let desired_set = vec![
        desired(
            beta.clone(),
            json!({"name": "Beta <Users> & *friends*", "description": "Opted in", "operator": "or",
                   "conditions": [{"property": "email", "operator": "regex", "operand": ".*@example\\.com"}]}),
            vec![],
            "target_groups/Beta Users.yml",
        ),
        desired(
            ResourceKey::experiment("Production", "default.newCheckout"),
            experiment_body(json!([{"option": true, "percentage": 20}]), new_conditions),
            vec![beta, checkout.clone()],
            "environments/Production/default.newCheckout.yml",
        ),
        desired(
            checkout.clone(),
            json!({"flag": "default.checkout", "enabled": true, "value": true}),
            vec![],
            "environments/Production/default.checkout.yml",
        ),
        desired(
            ResourceKey::rollout("new-search"),
            rollout(
                "new-search",
                "live",
                "0.5",
                json!({
                    "criteria": {"country": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "SE"}}}}},
                    "expression": {"ref": "country"}
                }),
            ),
            vec![],
            "rollouts/new-search.yml",
        ),
    ];
    let live_set = vec![
        live(
            ResourceKey::experiment("Production", "default.newCheckout"),
            experiment_body(json!(false), old_conditions),
            vec![old_group.clone()],
            None,
        ),
        live(
            old_group,
            json!({"name": "Old Group", "description": "", "operator": "and", "conditions": []}),
            vec![],
            None,
        ),
        live(
            ResourceKey::experiment("Production", "default.retired"),
            json!({"flag": "default.retired", "enabled": false, "value": false}),
            vec![],
            None,
        ),
        live(
            ResourceKey::rollout("new-search"),
            rollout("new-search", "draft", "0.1", json!({})),
            vec![],
            Some("brcdajvw7dfuod7cj9iq"),
        ),
        live(
            ResourceKey::rollout("old-promo"),
            rollout("old-promo", "live", "1", json!({})),
            vec![],
            Some("bnkv2onacdpvxk8cmqbm"),
        ),
    ];
    let options = PlanOptions {
        prune: true,
        prune_flags: false,
        targets: vec![],
        scope: ManagedScope {
            target_groups: true,
            experiment_envs: vec!["Production".into()],
            rollouts: true,
            ..Default::default()
        },
    };
    plan(&desired_set, &live_set, &options).expect("plans")
}

#[test]
fn human_snapshot() {
    let p = representative_plan();
    let text = render_human(&p, &HumanOptions { color: false });
    assert!(text.ends_with("Plan: 2 to create, 2 to update, 3 to delete.\n"));
    assert!(!text.contains('\u{1b}'));
    insta::assert_snapshot!(text);
}

#[test]
fn human_colour_is_only_on_when_asked() {
    let p = representative_plan();
    assert!(render_human(&p, &HumanOptions { color: true }).contains("\u{1b}["));
}

#[test]
fn human_no_changes() {
    let empty = plan(&[], &[], &PlanOptions::default()).expect("plans");
    assert_eq!(
        render_human(&empty, &HumanOptions::default()),
        "No changes. Live state matches the repository.\n"
    );
}

#[test]
fn json_snapshot() {
    let p = representative_plan();
    let text = render_json(&p);
    let parsed: Value = serde_json::from_str(&text).expect("valid json");
    assert_eq!(parsed["format_version"], json!(2));
    assert_eq!(text, p.to_json().unwrap(), "one shape: the saved plan");
    insta::assert_snapshot!(text);
}

#[test]
fn markdown_snapshot() {
    let p = representative_plan();
    let text = render_markdown(&p, 65_536);
    assert!(
        text.starts_with("### flagsync plan\n\nPlan: 2 to create, 2 to update, 3 to delete.\n")
    );
    // Deletions are called out before any folded section.
    let warning = text.find("[!WARNING]").expect("deletion warning");
    assert!(warning < text.find("<details>").expect("sections"));
    // Names are escaped outside code blocks (inside them, text is shown literally).
    for line in text
        .lines()
        .filter(|l| l.starts_with("<details>") || l.starts_with("> "))
    {
        assert!(
            !line.contains("<Users>") && !line.contains("*friends*"),
            "{line}"
        );
    }
    insta::assert_snapshot!(text);
}

/// A big plan: many experiments with long bodies.
fn big_plan(count: usize) -> Plan {
    let desired: Vec<DesiredResource> = (0..count)
        .map(|i| {
            let conditions: Vec<Value> = (0..12)
                .map(|c| json!({"property": {"name": format!("attribute{c}"), "operator": "in-array",
                                              "operand": ["alpha", "beta", "gamma", "delta"]}, "value": true}))
                .collect();
            desired(
                ResourceKey::experiment("Production", format!("default.flag{i:04}")),
                json!({"flag": format!("default.flag{i:04}"), "enabled": true, "conditions": conditions, "value": false}),
                vec![],
                "environments/Production/x.yml",
            )
        })
        .collect();
    plan(&desired, &[], &PlanOptions::default()).expect("plans")
}

#[test]
fn markdown_over_budget_is_truncated_with_a_note() {
    let p = big_plan(300);
    let full = render_markdown(&p, usize::MAX);
    assert!(
        full.chars().count() > 65_536,
        "the fixture must exceed the budget"
    );

    let text = render_markdown(&p, 65_536);
    assert!(text.chars().count() <= 65_536);
    assert!(
        text.starts_with("### flagsync plan\n\nPlan: 300 to create, 0 to update, 0 to delete.\n")
    );
    assert!(text.contains("Run `flagsync plan --format human` to see the full plan."));
    // Whole sections only: every opened fold is closed.
    assert_eq!(
        text.matches("<details>").count(),
        text.matches("</details>").count()
    );
    let shown = text.matches("<details>").count();
    let listed = text.matches("\n- <code>+ create</code>").count();
    assert!(shown > 0 && listed > 0, "shown {shown}, listed {listed}");
    assert!(text.contains(&format!(
        "_{listed} of 300 actions listed without their diff and {} omitted",
        300 - shown - listed
    )));
    insta::assert_snapshot!(text);
}

#[test]
fn markdown_lists_every_name_when_only_the_diffs_do_not_fit() {
    let p = big_plan(40);
    let text = render_markdown(&p, 20_000);
    assert!(text.chars().count() <= 20_000);
    let shown = text.matches("<details>").count();
    assert!(shown < 40);
    assert!(text.contains(&format!(
        "_{} of 40 actions listed without their diff to fit",
        40 - shown
    )));
    for i in 0..40 {
        assert!(
            text.contains(&format!("default.flag{i:04}")),
            "flag {i} missing"
        );
    }
}

#[test]
fn markdown_never_exceeds_any_budget() {
    let p = big_plan(5);
    for budget in [0usize, 1, 10, 100, 500, 1_000, 3_000, 10_000] {
        let text = render_markdown(&p, budget);
        assert!(
            text.chars().count() <= budget,
            "budget {budget}: {}",
            text.chars().count()
        );
    }
}

fn two_revisions(notes: Vec<Phrase>) -> Framing {
    Framing {
        compared: Compared::Revisions {
            base: Revision {
                rev: "main".into(),
                commit: Some("abc1234abc1234".into()),
                described: "main (abc1234)".into(),
            },
            head: Revision {
                rev: "HEAD".into(),
                commit: None,
                described: "HEAD (def5678)".into(),
            },
        },
        notes,
    }
}

#[test]
fn framed_markdown_counts_its_title_and_notes_against_the_budget() {
    let p = big_plan(5);
    let framing = two_revisions(vec![Phrase::new().text("Read from ").name("Staging")]);
    for budget in [0usize, 1, 100, 500, 1_000, 3_000, 10_000] {
        let text = render_markdown_framed(&p, budget, &framing);
        assert!(text.chars().count() <= budget, "budget {budget}");
    }
    let text = render_markdown_framed(&p, 3_000, &framing);
    assert!(
        text.starts_with(
            "### flagsync diff `main (abc1234)` → `HEAD (def5678)`\n\n\
             Changes to the desired state (no service was read).\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n> [!NOTE]\n> Read from `Staging`\n"),
        "{text}"
    );
    assert!(
        text.contains("Run `flagsync diff --base main --head HEAD` to see every change._"),
        "{text}"
    );
    assert!(!text.contains("flagsync plan"), "{text}");
}

#[test]
fn framed_no_changes_speak_of_the_two_revisions() {
    let empty = plan(&[], &[], &PlanOptions::default()).expect("plans");
    let framing = two_revisions(Vec::new());
    assert_eq!(
        render_human_framed(&empty, &HumanOptions::default(), &framing),
        "flagsync diff main (abc1234) → HEAD (def5678)\n\n\
         No changes. `HEAD` declares the same desired state as `main`.\n"
    );
    let doc: Value = serde_json::from_str(&render_json_framed(&empty, &framing)).unwrap();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "format_version",
            "base",
            "head",
            "notes",
            "metadata",
            "summary",
            "warnings",
            "actions"
        ]
    );
    assert_eq!(
        doc["base"],
        json!({"rev": "main", "commit": "abc1234abc1234"})
    );
    assert_eq!(doc["head"], json!({"rev": "HEAD", "commit": null}));
    // Without a framing, the plan's own document.
    let plain: Value = serde_json::from_str(&render_json(&empty)).unwrap();
    assert!(plain.get("base").is_none());
}

/// Without prune, the live resources no manifest declares are listed and counted in every
/// format; a rollout among them is one prune could not delete either.
#[test]
fn undeclared_resources_are_listed_in_every_format() {
    let live_set = vec![
        live(
            ResourceKey::experiment("Production", "default.retired"),
            json!({"flag": "default.retired", "enabled": false, "value": false}),
            vec![],
            None,
        ),
        live(
            ResourceKey::rollout("old-promo"),
            rollout("old-promo", "live", "1", json!({})),
            vec![],
            Some("bnkv2onacdpvxk8cmqbm"),
        ),
    ];
    let options = PlanOptions {
        prune: false,
        prune_flags: false,
        targets: vec![],
        scope: ManagedScope {
            target_groups: true,
            experiment_envs: vec!["Production".into()],
            rollouts: true,
            ..ManagedScope::default()
        },
    };
    let p = plan(&[], &live_set, &options).expect("plans");
    assert!(!p.has_changes() && p.has_differences());

    let human = render_human(&p, &HumanOptions::default());
    assert!(
        human.contains(
            "2 live resources are not declared; `--prune` would delete 1 of them:\n  \
             ? experiment/Production/default.retired\n  \
             ? rollout/old-promo (id bnkv2onacdpvxk8cmqbm): not possible: the Confidence API has no call that deletes a rollout"
        ),
        "{human}"
    );
    assert!(
        human.ends_with(
            "Plan: 0 to create, 0 to update, 0 to delete; 2 live resources not declared.\n"
        ),
        "{human}"
    );
    assert!(!human.contains("No changes"), "{human}");

    let md = render_markdown(&p, 65_536);
    assert!(
        md.starts_with(
            "### flagsync plan\n\nPlan: 0 to create, 0 to update, 0 to delete; 2 live resources not declared.\n"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "> [!IMPORTANT]\n> 2 live resources are not declared; `--prune` would delete 1 of them: \
             <code>experiment/Production/default.retired</code>, <code>rollout/old-promo</code>\n"
        ),
        "{md}"
    );

    let json: Value = serde_json::from_str(&render_json(&p)).unwrap();
    assert_eq!(json["summary"]["undeclared"], 2);
    assert_eq!(
        json["undeclared"][0],
        json!({"id": "experiment/Production/default.retired", "kind": "experiment",
               "provider": "cloudbees", "environment": "Production", "name": "default.retired",
               "remote_id": null, "unsupported": null})
    );
    assert_eq!(json["undeclared"][1]["remote_id"], "bnkv2onacdpvxk8cmqbm");
    assert!(json["undeclared"][1]["unsupported"].is_string());

    // One resource, deletable: the sentence of the issue.
    let one = plan(&[], &live_set[..1], &options).expect("plans");
    assert!(
        render_human(&one, &HumanOptions::default())
            .contains("1 live resource is not declared; `--prune` would delete it:"),
    );
    // A saved plan keeps them.
    let back = Plan::from_json(&p.to_json().unwrap()).unwrap();
    assert_eq!(back.undeclared, p.undeclared);
}
