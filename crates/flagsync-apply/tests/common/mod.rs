//! Shared by the applier's end-to-end tests: an emulator over loopback, clients pointed at
//! it, and a small stand-in for the normalizer of CloudBees objects (live JSON →
//! `LiveResource`), kept here on purpose: the real normalizer lives elsewhere. Rollouts go
//! through the real one, which the applier itself uses to guard its writes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use flagsync_apply::{ApplyEvent, ApplyOptions, ApplyReport, Clients, apply};
use flagsync_emulator::{BackgroundEmulator, DEFAULT_TOKEN, EmulatorConfig, spawn_background};
use flagsync_plan::{DesiredResource, Kind, LiveResource, Plan, PlanOptions, ResourceKey, plan};
use flagsync_remote::{
    CloudBeesClient, CloudBeesScope, CloudBeesSettings, ConfidenceAuth, ConfidenceClient,
    ConfidenceScope, ConfidenceSettings, ConfidenceUrls, LiveRequest, RetryPolicy, Secret,
    SegmentScope, fetch_live_state,
};

pub const APP: &str = "app-under-test";

pub struct Env {
    pub emulator: BackgroundEmulator,
    pub clients: Clients,
    cloudbees: CloudBeesClient,
    confidence: ConfidenceClient,
}

impl Env {
    pub fn cloudbees(&self) -> &CloudBeesClient {
        &self.cloudbees
    }
    pub fn confidence(&self) -> &ConfidenceClient {
        &self.confidence
    }
}

/// Quick retries so that fault-injection tests stay fast; as many attempts as the default.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        deadline: Some(Duration::from_secs(30)),
    }
}

pub fn start(config: EmulatorConfig) -> Env {
    start_paced(config, f64::INFINITY)
}

/// Like [`start`], with the CloudBees client paced to `cloudbees_rps`.
pub fn start_paced(config: EmulatorConfig, cloudbees_rps: f64) -> Env {
    let emulator = spawn_background(config).expect("emulator starts");
    let mut cb = CloudBeesSettings::new(APP, Secret::new(DEFAULT_TOKEN));
    cb.base_url = emulator.cloudbees_url();
    cb.http.requests_per_second = cloudbees_rps;
    cb.http.retry = fast_retry();
    cb.http.timeout = Duration::from_secs(10);
    let mut cf = ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new(DEFAULT_TOKEN)));
    cf.urls = ConfidenceUrls::all(&emulator.confidence_url());
    cf.http.requests_per_second = f64::INFINITY;
    cf.flags_requests_per_second = f64::INFINITY;
    cf.http.retry = fast_retry();
    cf.http.timeout = Duration::from_secs(10);
    let cloudbees = CloudBeesClient::new(cb).expect("cloudbees client");
    let confidence = ConfidenceClient::new(cf).expect("confidence client");
    Env {
        emulator,
        clients: Clients {
            cloudbees: Some(cloudbees.clone()),
            confidence: Some(confidence.clone()),
            unify: None,
        },
        cloudbees,
        confidence,
    }
}

/// An emulator whose launches finish after a few milliseconds.
pub fn start_default() -> Env {
    start(EmulatorConfig {
        launch_duration: Duration::from_millis(5),
        ..EmulatorConfig::default()
    })
}

/// `PUT /_emulator/faults`.
pub async fn set_faults(env: &Env, settings: Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/_emulator/faults", env.emulator.base_url()))
        .json(&settings)
        .send()
        .await
        .expect("faults endpoint answers");
    assert!(resp.status().is_success(), "faults: {}", resp.status());
}

/// `GET /_emulator/counters`.
pub async fn counters(env: &Env) -> Value {
    reqwest::Client::new()
        .get(format!("{}/_emulator/counters", env.emulator.base_url()))
        .send()
        .await
        .expect("counters endpoint answers")
        .json()
        .await
        .expect("counters are JSON")
}

/// Requests of one route label (e.g. `POST /v1/workflows/rollout/instances`), all of them
/// (`class = None`) or those of one outcome class (`2xx`, `5xx`, `dropped`).
pub fn count(counters: &Value, route: &str, class: Option<&str>) -> u64 {
    let r = &counters["routes"][route];
    match class {
        None => r["count"].as_u64().unwrap_or(0),
        Some(c) => r["classes"][c].as_u64().unwrap_or(0),
    }
}

/// Requests of any route with this outcome class, or this exact status (`"429"`).
pub fn count_all(counters: &Value, field: &str, value: &str) -> u64 {
    counters["routes"]
        .as_object()
        .map(|routes| {
            routes
                .values()
                .map(|r| r[field][value].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

// ---- desired resources, as the normalizer would produce them ---------------------------

pub fn target_group(name: &str, operand: &str) -> DesiredResource {
    DesiredResource {
        key: ResourceKey::target_group(name),
        body: json!({
            "name": name,
            "description": "",
            "operator": "and",
            "conditions": [{"property": "country", "operator": "eq", "operand": operand}],
        }),
        references: Vec::new(),
        origin: None,
    }
}

/// An experiment that serves `true` to members of `group` (if any) and to users for whom
/// flag `depends_on` (if any) is true, `value` otherwise.
pub fn experiment(
    env: &str,
    flag: &str,
    group: Option<&str>,
    depends_on: Option<&str>,
    value: bool,
) -> DesiredResource {
    let mut conditions = Vec::new();
    let mut references = Vec::new();
    if let Some(g) = group {
        conditions.push(json!({"group": {"name": g}, "value": true}));
        references.push(ResourceKey::target_group(g));
    }
    if let Some(f) = depends_on {
        conditions.push(json!({"dependency": {"flag": f, "value": "true"}, "value": true}));
        references.push(ResourceKey::experiment(env, f));
    }
    DesiredResource {
        key: ResourceKey::experiment(env, flag),
        body: json!({
            "flag": flag,
            "name": flag,
            "description": "",
            "enabled": true,
            "labels": [],
            "availableValues": [false, true],
            "stickinessProperty": "rox.distinct_id",
            "platforms": [],
            "conditions": conditions,
            "value": value,
        }),
        references,
        origin: None,
    }
}

/// A rollout (canonical body as in `flagsync_plan::rollout`), targeting `country` if given.
pub fn rollout(id: &str, state: &str, country: Option<&str>, reach: &str) -> DesiredResource {
    let mut manifest = json!({
        "type": "rollout",
        "id": id,
        "displayName": format!("Rollout {id}"),
        "state": state,
        "flags": {"targetingKeySelector": "targeting_key"},
        "rollout": {
            "flag": format!("flags/{id}"),
            "variant": format!("flags/{id}/variants/enabled"),
            "reach": reach,
        },
        "metrics": {
            "entity": "entities/user",
            "bucket": "DAYS",
            "metrics": [{"metric": "metrics/conversion-rate",
                         "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01},
                         "preferredDirection": "INCREASE"}],
        },
    });
    if let Some(country) = country {
        manifest["segment"] = json!({"targeting": {
            "criteria": {"country": {"attribute": {"attributeName": "country",
                                                   "eqRule": {"value": {"stringValue": country}}}}},
            "expression": {"and": {"operands": [{"ref": "country"}]}},
        }});
    }
    let manifest: flagsync_manifest::model::Rollout =
        serde_json::from_value(manifest).expect("a rollout manifest");
    DesiredResource {
        key: ResourceKey::rollout(id),
        body: flagsync_plan::normalize::rollout_body(&manifest),
        references: Vec::new(),
        origin: None,
    }
}

// ---- live state → LiveResource (a stand-in for the normalizer) --------------------------

/// Reads live state with `fetch_live_state` and normalizes it for the planner: drops what
/// the service adds (`type`; for rollouts `name` → remote id, times, the transition, stats,
/// the segment's name) and keys rollouts by their flagsync-id label.
pub async fn live_state(env: &Env, desired: &[DesiredResource]) -> Vec<LiveResource> {
    let mut desired_flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in desired {
        if let (Kind::Experiment, Some(e)) = (d.key.kind, &d.key.env) {
            desired_flags
                .entry(e.clone())
                .or_default()
                .push(d.key.name.clone());
        }
    }
    let environments: Vec<String> = desired_flags.keys().cloned().collect();
    let snapshot = fetch_live_state(LiveRequest {
        cloudbees: Some(CloudBeesScope {
            client: env.cloudbees(),
            environments: &environments,
            desired_flags: &desired_flags,
        }),
        confidence: Some(ConfidenceScope {
            client: env.confidence(),
            segments: SegmentScope::Managed { instances: &[] },
        }),
        unify: None,
    })
    .await
    .expect("live state reads");

    let mut live = Vec::new();
    for group in snapshot.target_groups {
        let body = without(group.body, &["type"]);
        let Some(name) = body.get("name").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        live.push(LiveResource {
            patch_base: None,
            key: ResourceKey::target_group(&name),
            references: group_refs(&body)
                .into_iter()
                .map(ResourceKey::target_group)
                .collect(),
            body,
            remote_id: None,
        });
    }
    for (environment, experiments) in snapshot.experiments {
        for exp in experiments {
            let body = without(exp.body, &["type"]);
            let Some(flag) = body.get("flag").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let mut references: Vec<ResourceKey> = group_refs(&body)
                .into_iter()
                .map(ResourceKey::target_group)
                .collect();
            for c in body["conditions"].as_array().into_iter().flatten() {
                if let Some(f) = c.pointer("/dependency/flag").and_then(Value::as_str) {
                    references.push(ResourceKey::experiment(&environment, f));
                }
            }
            live.push(LiveResource {
                patch_base: None,
                key: ResourceKey::experiment(&environment, &flag),
                body,
                remote_id: None,
                references,
            });
        }
    }
    for r in snapshot.rollouts {
        let Some(id) = r.flagsync_id.clone() else {
            continue; // not managed by flagsync
        };
        live.push(LiveResource {
            patch_base: None,
            key: ResourceKey::rollout(&id),
            body: flagsync_plan::normalize::canonical_rollout(&r),
            remote_id: r.instance_id,
            references: Vec::new(),
        });
    }
    live
}

fn without(value: Value, fields: &[&str]) -> Value {
    match value {
        Value::Object(mut map) => {
            for f in fields {
                map.shift_remove(*f);
            }
            Value::Object(map)
        }
        other => other,
    }
}

/// Target groups named in `conditions[].group.name` (a string or a list).
fn group_refs(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in body["conditions"].as_array().into_iter().flatten() {
        match c.pointer("/group/name") {
            Some(Value::String(s)) => out.push(s.clone()),
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            _ => {}
        }
    }
    out
}

/// Plans `desired` against live state read now.
pub async fn replan(env: &Env, desired: &[DesiredResource]) -> Plan {
    let live = live_state(env, desired).await;
    plan(desired, &live, &PlanOptions::default()).expect("plans")
}

/// Applies, recording every event.
pub async fn apply_recording(
    plan: &Plan,
    env: &Env,
    options: &ApplyOptions,
) -> (ApplyReport, Vec<ApplyEvent>) {
    let events = Mutex::new(Vec::new());
    let report = apply(plan, &env.clients, options, &|e| {
        events.lock().unwrap_or_else(|p| p.into_inner()).push(e)
    })
    .await;
    (
        report,
        events.into_inner().unwrap_or_else(|p| p.into_inner()),
    )
}

/// Rollouts held by the emulator, counted per flagsync-id label.
pub async fn rollouts_per_label(env: &Env) -> BTreeMap<String, usize> {
    let all = env.confidence().list_rollouts(None).await.expect("lists");
    let mut counts = BTreeMap::new();
    for r in all {
        let label = r.flagsync_id.unwrap_or_else(|| "(none)".to_owned());
        *counts.entry(label).or_insert(0) += 1;
    }
    counts
}

/// Asserts that every `Started` comes after a successful `Finished` of each dependency.
pub fn assert_dependencies_first(plan: &Plan, events: &[ApplyEvent]) {
    let mut finished_ok = std::collections::HashSet::new();
    for e in events {
        match e {
            ApplyEvent::Started { id } => {
                let action = plan.action(id).expect("event for a plan action");
                for dep in &action.depends_on {
                    assert!(
                        finished_ok.contains(dep),
                        "{id} started before its dependency {dep} succeeded"
                    );
                }
            }
            ApplyEvent::Finished { id, ok: true } => {
                finished_ok.insert(id.clone());
            }
            _ => {}
        }
    }
}
