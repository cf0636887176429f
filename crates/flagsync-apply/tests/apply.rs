//! The applier against the emulator over real loopback HTTP.

use serde_json::{Value, json};

use crate::common::*;
use flagsync_apply::{
    ApplyEvent, ApplyOptions, ROLLOUT_ID_LABEL, Status, check_fingerprints, ensure_unchanged,
};
use flagsync_plan::{ManagedScope, Operation, PlanOptions, RolloutStep, plan};

const ROLLOUTS: &str = "POST /v1/workflows/rollout/instances";
const LAUNCH: &str = "POST /v1/workflows/rollout/instances/{id}:launch";
const UPDATE_SEGMENT: &str = "POST /v1/workflows/rollout/instances/{id}:updatesegment";
const PATCH_GROUP: &str = "PATCH /public-api/applications/{app}/target-groups/{name}";

fn options() -> ApplyOptions {
    ApplyOptions {
        concurrency: 4,
        ..ApplyOptions::default()
    }
}

fn failed_reason(status: &Status) -> (&str, bool) {
    match status {
        Status::Failed { reason, conflict } => (reason.as_str(), *conflict),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_everything_in_dependency_order_and_converges() {
    let env = start_default();
    let desired = vec![
        target_group("beta", "SE"),
        target_group("internal", "DK"),
        experiment("Production", "base", Some("beta"), None, false),
        experiment("Production", "child", Some("internal"), Some("base"), false),
        // No release rule: the list hides it, so re-planning needs its own GET.
        experiment("Staging", "base", None, None, true),
        rollout("new-search", "live", Some("SE"), "0.5"),
        rollout("quiet", "draft", None, "0.1"),
    ];
    let plan = replan(&env, &desired).await;
    assert_eq!(plan.summary.create, 7, "{:#?}", plan.actions);
    let child = plan.action("experiment/Production/child").expect("child");
    assert_eq!(
        child.depends_on,
        vec!["experiment/Production/base", "target-group/internal"]
    );
    let search = plan.action("rollout/new-search").expect("rollout");
    assert_eq!(
        search.steps,
        vec![
            RolloutStep::Create,
            RolloutStep::UpdateSegment {
                update_mask: "targeting".into(),
                flag_settings: false
            },
            RolloutStep::Launch,
            RolloutStep::WaitForTransition
        ]
    );

    let (report, events) = apply_recording(&plan, &env, &options()).await;
    assert!(report.is_success(), "{}", report.render_human());
    assert_eq!(
        report.summary_line(),
        "Apply complete: 7 succeeded, 0 failed, 0 never ran."
    );
    assert_dependencies_first(&plan, &events);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, ApplyEvent::Finished { ok: true, .. }))
            .count(),
        7
    );

    // The emulator holds everything, the rollout is live with its targeting.
    let group = env.cloudbees().get_target_group("internal").await.unwrap();
    assert_eq!(group.unwrap().body["conditions"][0]["operand"], json!("DK"));
    let exp = env
        .cloudbees()
        .get_experiment("Production", "child")
        .await
        .unwrap()
        .expect("child exists");
    assert_eq!(
        exp.body["conditions"][1]["dependency"]["flag"],
        json!("base")
    );
    let id = report
        .outcome("rollout/new-search")
        .and_then(|o| o.remote_id.clone())
        .expect("rollout id reported");
    let live = env.confidence().read_rollout(&id).await.unwrap().unwrap();
    assert_eq!(live.body["state"], json!("live"));
    assert!(
        live.body.get("pendingTransition").is_none(),
        "{}",
        live.body
    );
    assert_eq!(
        live.segment.as_ref().map(|s| &s["targeting"]),
        Some(&desired[5].body["segment"]["targeting"])
    );
    assert_eq!(live.body["labels"][ROLLOUT_ID_LABEL], json!("new-search"));

    let c = counters(&env).await;
    assert_eq!(count(&c, ROLLOUTS, Some("2xx")), 2);
    assert_eq!(count(&c, UPDATE_SEGMENT, None), 1);
    assert_eq!(count(&c, LAUNCH, None), 1);

    // Converged: planning again finds nothing to do.
    let again = replan(&env, &desired).await;
    assert!(!again.has_changes(), "{:#?}", again.actions);
    let per_label = rollouts_per_label(&env).await;
    assert_eq!(per_label.values().copied().collect::<Vec<_>>(), vec![1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependents_of_a_failed_action_never_run() {
    let env = start_default();
    let mut broken = target_group("broken", "SE");
    // The service refuses a target group of another type (HTTP 400).
    broken.body["type"] = json!("segment");
    let desired = vec![
        broken,
        target_group("fine", "NO"),
        experiment("Production", "uses-broken", Some("broken"), None, false),
        experiment("Production", "depends", None, Some("uses-broken"), false),
        experiment("Production", "uses-fine", Some("fine"), None, false),
    ];
    let plan = replan(&env, &desired).await;
    let (report, events) = apply_recording(&plan, &env, &options()).await;

    let (reason, conflict) = failed_reason(&report.outcome("target-group/broken").unwrap().status);
    assert!(reason.contains("400"), "{reason}");
    assert!(!conflict);
    for id in [
        "experiment/Production/uses-broken",
        "experiment/Production/depends",
    ] {
        assert_eq!(
            report.outcome(id).unwrap().status,
            Status::NeverRan {
                blocked_by: vec!["target-group/broken".into()]
            },
            "{id}"
        );
        assert!(!events.contains(&ApplyEvent::Started { id: id.into() }));
        assert!(events.contains(&ApplyEvent::Skipped { id: id.into() }));
    }
    assert!(
        report
            .outcome("experiment/Production/uses-fine")
            .unwrap()
            .is_success()
    );
    assert!(!report.is_success());
    assert_eq!(
        report.summary_line(),
        "Apply complete: 2 succeeded, 1 failed, 2 never ran."
    );
    let human = report.render_human();
    assert!(
        human.contains(
            "never ran create experiment/Production/depends: blocked by target-group/broken"
        ),
        "{human}"
    );
    // Nothing was written for what never ran.
    for flag in ["uses-broken", "depends"] {
        let got = env
            .cloudbees()
            .get_experiment("Production", flag)
            .await
            .unwrap();
        assert_eq!(got, None, "{flag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_after_the_plan_is_a_conflict_and_is_not_overwritten() {
    let env = start_default();
    let before = vec![
        target_group("beta", "SE"),
        target_group("other", "SE"),
        experiment("Production", "f1", Some("beta"), None, false),
    ];
    let (created, _) = apply_recording(&replan(&env, &before).await, &env, &options()).await;
    assert!(created.is_success(), "{}", created.render_human());

    let after = vec![
        target_group("beta", "NO"),
        target_group("other", "NO"),
        experiment("Production", "f1", Some("beta"), None, true),
    ];
    let plan = replan(&env, &after).await;
    assert_eq!(plan.summary.update, 3);
    assert_eq!(
        plan.action("experiment/Production/f1").unwrap().depends_on,
        vec!["target-group/beta"]
    );

    // Someone edits beta between plan and apply.
    let edited = json!({"type": "target-group", "name": "beta", "description": "", "operator": "and",
                        "conditions": [{"property": "country", "operator": "eq", "operand": "DK"}]});
    env.cloudbees().put_target_group(&edited).await.unwrap();

    let (report, _) = apply_recording(&plan, &env, &options()).await;
    let (reason, conflict) = failed_reason(&report.outcome("target-group/beta").unwrap().status);
    assert!(conflict, "{reason}");
    assert!(reason.contains("target group \"beta\""), "{reason}");
    assert!(
        reason.contains(r#"/conditions/0/operand: the plan saw "SE", now "DK""#),
        "{reason}"
    );
    assert_eq!(report.conflicts(), 1);
    // Its dependent did not run; the unrelated update went through.
    assert_eq!(
        report.outcome("experiment/Production/f1").unwrap().status,
        Status::NeverRan {
            blocked_by: vec!["target-group/beta".into()]
        }
    );
    assert!(report.outcome("target-group/other").unwrap().is_success());

    let beta = env.cloudbees().get_target_group("beta").await.unwrap();
    assert_eq!(beta.unwrap().body["conditions"][0]["operand"], json!("DK"));
    let other = env.cloudbees().get_target_group("other").await.unwrap();
    assert_eq!(other.unwrap().body["conditions"][0]["operand"], json!("NO"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_applied_but_unanswered_is_recognised_not_reported_as_conflict() {
    let env = start_default();
    let before = vec![target_group("beta", "SE")];
    let (created, _) = apply_recording(&replan(&env, &before).await, &env, &options()).await;
    assert!(created.is_success());
    let after = vec![target_group("beta", "NO")];
    let plan = replan(&env, &after).await;

    // The PATCH is applied, its answer lost; the client's retry then fails its own guard.
    set_faults(&env, json!({"dropAfterWriteRate": 1.0})).await;
    let (report, _) = apply_recording(&plan, &env, &options()).await;
    set_faults(&env, json!({"dropAfterWriteRate": 0.0})).await;
    assert!(report.is_success(), "{}", report.render_human());
    let c = counters(&env).await;
    assert_eq!(count(&c, PATCH_GROUP, Some("dropped")), 1);
    assert_eq!(count(&c, PATCH_GROUP, Some("4xx")), 1, "{c}");
    let beta = env.cloudbees().get_target_group("beta").await.unwrap();
    assert_eq!(beta.unwrap().body["conditions"][0]["operand"], json!("NO"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprints_detect_changes_made_after_the_plan() {
    let env = start_default();
    let initial = vec![target_group("beta", "SE"), target_group("old", "SE")];
    let (created, _) = apply_recording(&replan(&env, &initial).await, &env, &options()).await;
    assert!(created.is_success());

    let desired = vec![target_group("beta", "NO"), target_group("new", "NO")];
    let prune = PlanOptions {
        prune: true,
        prune_flags: false,
        targets: Vec::new(),
        scope: ManagedScope {
            target_groups: true,
            ..ManagedScope::default()
        },
    };
    let saved = plan(&desired, &live_state(&env, &desired).await, &prune).unwrap();
    let ops: Vec<(&str, Operation)> = saved
        .actions
        .iter()
        .map(|a| (a.id.as_str(), a.operation))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("target-group/beta", Operation::Update),
            ("target-group/new", Operation::Create),
            ("target-group/old", Operation::Delete),
        ]
    );
    // The saved plan survives its file form.
    let saved = flagsync_plan::Plan::from_json(&saved.to_json().unwrap()).unwrap();
    assert_eq!(
        check_fingerprints(&saved, &live_state(&env, &desired).await),
        vec![]
    );

    // Changes after the plan: beta edited, `new` created, `old` deleted by someone else.
    let edited = json!({"name": "beta", "description": "changed", "operator": "and",
                        "conditions": [{"property": "country", "operator": "eq", "operand": "SE"}]});
    env.cloudbees().put_target_group(&edited).await.unwrap();
    env.cloudbees()
        .put_target_group(&json!({"name": "new", "operator": "or", "conditions": []}))
        .await
        .unwrap();
    assert!(env.cloudbees().delete_target_group("old").await.unwrap());

    let now = live_state(&env, &desired).await;
    let drifts = check_fingerprints(&saved, &now);
    let got: Vec<(&str, &str)> = drifts
        .iter()
        .map(|d| (d.action_id.as_str(), d.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("target-group/beta", "was changed since the plan was made"),
            (
                "target-group/new",
                "was created by someone else since the plan was made"
            ),
            ("target-group/old", "was deleted since the plan was made"),
        ]
    );
    assert!(ensure_unchanged(&saved, &now).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ambiguous_create_is_looked_up_by_label_not_sent_again() {
    let env = start_default();
    let desired = vec![rollout("once", "draft", None, "0.1")];
    let plan = replan(&env, &desired).await;
    assert_eq!(plan.actions[0].steps, vec![RolloutStep::Create]);

    // The create is applied but its answer never arrives.
    set_faults(&env, json!({"dropAfterWriteRate": 1.0})).await;
    let (report, _) = apply_recording(&plan, &env, &options()).await;
    set_faults(&env, json!({"dropAfterWriteRate": 0.0})).await;
    assert!(report.is_success(), "{}", report.render_human());
    let c = counters(&env).await;
    assert_eq!(count(&c, ROLLOUTS, None), 1, "one create only: {c}");
    assert_eq!(count(&c, ROLLOUTS, Some("dropped")), 1);
    let per_label = rollouts_per_label(&env).await;
    assert_eq!(per_label.get("once"), Some(&1));
    let found = env
        .confidence()
        .find_rollouts_by_flagsync_id("once")
        .await
        .unwrap();
    let name = found[0].name.as_deref().unwrap();
    let reported = report.outcomes[0].remote_id.as_deref().unwrap();
    assert!(name.ends_with(reported), "{name} vs {reported}");
    assert!(replan(&env, &desired).await.actions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_made_since_the_plan_are_named_and_nothing_is_created() {
    let env = start_default();
    let desired = vec![rollout("twice", "draft", None, "0.1")];
    let plan = replan(&env, &desired).await;
    // Two copies left behind by someone else's interrupted creates, after the plan.
    let body = flagsync_plan::rollout::create_body(&desired[0].body);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let created = env.confidence().create_rollout(&body).await.unwrap();
        ids.push(created.body["name"].as_str().unwrap().to_owned());
    }
    // A create would have an unknown outcome: none is sent, the lookup right before finds
    // the copies.
    set_faults(&env, json!({"dropAfterWriteRate": 1.0})).await;
    let (report, _) = apply_recording(&plan, &env, &options()).await;
    set_faults(&env, json!({"dropAfterWriteRate": 0.0})).await;
    let (reason, conflict) = failed_reason(&report.outcomes[0].status);
    assert!(conflict, "{reason}");
    assert!(
        reason.contains("2 rollouts carry flagsync-id=twice"),
        "{reason}"
    );
    assert!(reason.contains("nothing was created"), "{reason}");
    assert!(
        reason.contains("flagsync dedupe --keep INSTANCE"),
        "{reason}"
    );
    for id in &ids {
        let bare = id.trim_start_matches("workflows/rollout/instances/");
        assert!(reason.contains(bare), "{reason} names {bare}");
    }
    let c = counters(&env).await;
    assert_eq!(count(&c, ROLLOUTS, None), 2, "no further create: {c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_already_launched_by_an_interrupted_run_is_not_launched_again() {
    let env = start_default();
    let draft = vec![rollout("resume", "draft", Some("SE"), "0.1")];
    let (created, _) = apply_recording(&replan(&env, &draft).await, &env, &options()).await;
    assert!(created.is_success(), "{}", created.render_human());

    let desired = vec![rollout("resume", "live", Some("SE"), "0.2")];
    let plan = replan(&env, &desired).await;
    assert_eq!(
        plan.actions[0].steps,
        vec![
            RolloutStep::PatchRollout {
                update_mask: "rollout".into()
            },
            RolloutStep::Launch,
            RolloutStep::WaitForTransition
        ]
    );
    // An earlier apply got as far as the launch before it was interrupted.
    let id = plan.actions[0].remote_id.clone().unwrap();
    env.confidence().launch(&id).await.unwrap();

    let (report, _) = apply_recording(&plan, &env, &options()).await;
    assert!(report.is_success(), "{}", report.render_human());
    assert_eq!(report.outcomes[0].remote_id.as_deref(), Some(id.as_str()));
    let c = counters(&env).await;
    assert_eq!(count(&c, LAUNCH, None), 1, "launched once: {c}");
    let live = env.confidence().get_rollout(&id).await.unwrap().unwrap();
    assert_eq!(live.body["state"], json!("live"));
    assert_eq!(live.body["rollout"]["reach"], json!("0.2"));
    assert!(replan(&env, &desired).await.actions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsupported_part_of_a_rollout_change_is_a_warning() {
    let env = start_default();
    let live = vec![rollout("launched", "live", None, "0.1")];
    let (created, _) = apply_recording(&replan(&env, &live).await, &env, &options()).await;
    assert!(created.is_success(), "{}", created.render_human());

    // Back to draft (impossible) and a new reach (possible).
    let desired = vec![rollout("launched", "draft", None, "0.3")];
    let plan = replan(&env, &desired).await;
    assert!(plan.actions[0].unsupported.is_some());
    let (report, _) = apply_recording(&plan, &env, &options()).await;
    let outcome = &report.outcomes[0];
    assert!(outcome.is_success(), "{}", report.render_human());
    assert_eq!(outcome.warnings.len(), 1);
    assert!(
        outcome.warnings[0].contains("cannot be un-launched"),
        "{:?}",
        outcome.warnings
    );
    let id = outcome.remote_id.clone().unwrap();
    let now = env.confidence().get_rollout(&id).await.unwrap().unwrap();
    assert_eq!(now.body["rollout"]["reach"], json!("0.3"));
    assert_eq!(now.body["state"], json!("live"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["outcomes"][0]["warnings"].as_array().map(Vec::len),
        Some(1)
    );
    let _: &Value = &json["format_version"];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_users_before_what_they_use_and_404_counts_as_gone() {
    let env = start_default();
    let before = vec![
        target_group("old", "SE"),
        experiment("Production", "uses-old", Some("old"), None, false),
        experiment("Production", "already-gone", Some("old"), None, false),
    ];
    let (created, _) = apply_recording(&replan(&env, &before).await, &env, &options()).await;
    assert!(created.is_success(), "{}", created.render_human());

    let prune = PlanOptions {
        prune: true,
        prune_flags: false,
        targets: Vec::new(),
        scope: ManagedScope {
            target_groups: true,
            experiment_envs: vec!["Production".into()],
            rollouts: false,
            ..Default::default()
        },
    };
    let plan = plan(&[], &live_state(&env, &before).await, &prune).unwrap();
    assert_eq!(plan.summary.delete, 3);
    assert_eq!(
        plan.action("target-group/old").unwrap().depends_on,
        vec![
            "experiment/Production/already-gone",
            "experiment/Production/uses-old"
        ]
    );
    // Someone deletes one of them first: our DELETE then finds it gone, which is fine.
    assert!(
        env.cloudbees()
            .delete_experiment("Production", "already-gone")
            .await
            .unwrap()
    );

    let (report, events) = apply_recording(&plan, &env, &options()).await;
    assert!(report.is_success(), "{}", report.render_human());
    assert_dependencies_first(&plan, &events);
    assert_eq!(env.cloudbees().get_target_group("old").await.unwrap(), None);
    for flag in ["uses-old", "already-gone"] {
        let got = env
            .cloudbees()
            .get_experiment("Production", flag)
            .await
            .unwrap();
        assert_eq!(got, None, "{flag}");
    }
}
