//! Under injected faults, applying ~1,000 resources converges: at most one more apply after
//! re-planning, then the plan is empty and no rollout exists twice.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::common::*;
use flagsync_apply::{ApplyEvent, ApplyOptions};
use flagsync_emulator::{EmulatorConfig, Faults};
use flagsync_plan::{DesiredResource, Plan, PlanOptions, Provider, plan};

const GROUPS: usize = 200;
const FLAGS_PER_ENV: usize = 350;
const ENVS: [&str; 2] = ["Production", "Staging"];
const ROLLOUTS: usize = 100;
const CONCURRENCY: usize = 32;

fn desired() -> Vec<DesiredResource> {
    let mut out = Vec::new();
    for g in 0..GROUPS {
        out.push(target_group(&format!("group {g:03}"), &format!("C{g}")));
    }
    for env in ENVS {
        for f in 0..FLAGS_PER_ENV {
            let group = format!("group {:03}", f % GROUPS);
            // Every tenth flag depends on the flag before it: a third level in the DAG.
            let parent = (f % 10 == 1).then(|| format!("flag.{:03}", f - 1));
            out.push(experiment(
                env,
                &format!("flag.{f:03}"),
                Some(&group),
                parent.as_deref(),
                f % 2 == 0,
            ));
        }
    }
    for r in 0..ROLLOUTS {
        out.push(rollout(
            &format!("rollout-{r:03}"),
            "live",
            Some(if r % 2 == 0 { "SE" } else { "NO" }),
            "0.5",
        ));
    }
    out
}

/// Most actions in flight at once per service, from the event stream.
fn max_in_flight(plan: &Plan, events: &[ApplyEvent]) -> HashMap<Provider, usize> {
    let provider = |id: &str| plan.action(id).map(|a| a.key.provider());
    let mut now: HashMap<Provider, usize> = HashMap::new();
    let mut max: HashMap<Provider, usize> = HashMap::new();
    for e in events {
        match e {
            ApplyEvent::Started { id } => {
                if let Some(p) = provider(id) {
                    let n = now.entry(p).or_default();
                    *n += 1;
                    let m = max.entry(p).or_default();
                    *m = (*m).max(*n);
                }
            }
            ApplyEvent::Finished { id, .. } => {
                if let Some(p) = provider(id) {
                    *now.entry(p).or_default() -= 1;
                }
            }
            ApplyEvent::Skipped { .. } => {}
        }
    }
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_resources_converge_under_faults_without_duplicate_rollouts() {
    // About a fifth of requests fail: dropped before being handled, handled but left
    // unanswered (writes), or answered 500/503/429. Every injected 429 carries
    // `Retry-After: 1`, which rightly pauses the whole client for a second, so 429s are kept
    // rare enough for the test to stay fast.
    let env = start(EmulatorConfig {
        launch_duration: Duration::from_millis(2),
        faults: Faults {
            error_rate: 0.015,
            drop_rate: 0.1,
            drop_after_write_rate: 0.1,
            seed: 20261122,
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    });
    let desired = desired();
    assert_eq!(desired.len(), 1000);
    let options = ApplyOptions {
        concurrency: CONCURRENCY,
        ..ApplyOptions::default()
    };

    // Nothing exists yet (reading that would cost 700 GETs for flags the list cannot show).
    let plan = plan(&desired, &[], &PlanOptions::default()).unwrap();
    assert_eq!(plan.summary.create, 1000);
    let (first, events) = apply_recording(&plan, &env, &options).await;
    assert_dependencies_first(&plan, &events);
    let peaks = max_in_flight(&plan, &events);
    for (provider, peak) in &peaks {
        assert!(
            *peak <= CONCURRENCY,
            "{provider:?}: {peak} in flight > {}",
            CONCURRENCY
        );
    }
    assert_eq!(peaks.get(&Provider::CloudBees), Some(&CONCURRENCY));

    let mut applies = 1;
    if !first.is_success() {
        // Allowed once: plan again from what is live now and apply the rest.
        eprintln!("first apply: {}", first.render_human());
        let second_plan = replan(&env, &desired).await;
        let (second, _) = apply_recording(&second_plan, &env, &options).await;
        assert!(second.is_success(), "{}", second.render_human());
        applies += 1;
    }

    // The faults really happened.
    let c = counters(&env).await;
    let dropped = count_all(&c, "classes", "dropped");
    let errors = count_all(&c, "classes", "5xx") + count_all(&c, "statuses", "429");
    let total = c["total"].as_u64().unwrap_or(0);
    assert!(errors > 5 && dropped > 100, "{c}");
    assert!(
        (dropped + errors) * 100 > total * 15,
        "about a fifth of requests fail: {c}"
    );
    // Rollout creates among them: the at-most-once path was exercised.
    assert!(
        count(&c, "POST /v1/workflows/rollout/instances", Some("dropped")) > 3,
        "{c}"
    );

    set_faults(
        &env,
        json!({"errorRate": 0.0, "dropRate": 0.0, "dropAfterWriteRate": 0.0}),
    )
    .await;
    let after = replan(&env, &desired).await;
    assert!(
        !after.has_changes(),
        "not converged after {applies} apply(s): {:#?}",
        after.actions.iter().map(|a| &a.id).collect::<Vec<_>>()
    );
    let per_label = rollouts_per_label(&env).await;
    assert_eq!(per_label.len(), ROLLOUTS, "{per_label:?}");
    let duplicated: Vec<_> = per_label.iter().filter(|(_, n)| **n != 1).collect();
    assert!(duplicated.is_empty(), "duplicate rollouts: {duplicated:?}");
}
