//! The clients against the real emulator over loopback HTTP (no mocks).

mod unify;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use flagsync_emulator::{EmulatorConfig, RunningEmulator};
use flagsync_remote::{
    CloudBeesClient, CloudBeesScope, CloudBeesSettings, ConfidenceAuth, ConfidenceClient,
    ConfidenceScope, ConfidenceSettings, ConfidenceUrls, HttpSettings, LiveRequest, LiveRollout,
    RemoteError, RetryPolicy, Secret, SegmentScope, Service, fetch_live_state,
};
use serde_json::{Value, json};

const APP: &str = "app-1";
const TOKEN: &str = flagsync_emulator::DEFAULT_TOKEN;

async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    flagsync_emulator::start(config, addr).await.unwrap()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 40,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        deadline: Some(Duration::from_secs(15)),
    }
}

fn cloudbees_with(emu: &RunningEmulator, token: &str, rps: f64) -> CloudBeesClient {
    CloudBeesClient::new(CloudBeesSettings {
        base_url: emu.cloudbees_url(),
        http: HttpSettings {
            retry: fast_retry(),
            timeout: Duration::from_secs(5),
            ..HttpSettings::new(rps)
        },
        ..CloudBeesSettings::new(APP, Secret::new(token))
    })
    .unwrap()
}

fn cloudbees(emu: &RunningEmulator) -> CloudBeesClient {
    cloudbees_with(emu, TOKEN, f64::INFINITY)
}

fn confidence_with(emu: &RunningEmulator, auth: ConfidenceAuth) -> ConfidenceClient {
    ConfidenceClient::new(ConfidenceSettings {
        urls: ConfidenceUrls::all(&emu.confidence_url()),
        http: HttpSettings {
            retry: fast_retry(),
            timeout: Duration::from_secs(5),
            ..HttpSettings::new(f64::INFINITY)
        },
        flags_requests_per_second: f64::INFINITY,
        ..ConfidenceSettings::new(auth)
    })
    .unwrap()
}

fn confidence(emu: &RunningEmulator) -> ConfidenceClient {
    confidence_with(emu, ConfidenceAuth::Token(Secret::new(TOKEN)))
}

async fn counters(emu: &RunningEmulator) -> Value {
    reqwest::get(format!("{}/_emulator/counters", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn reset_counters(emu: &RunningEmulator) {
    let status = reqwest::Client::new()
        .post(format!("{}/_emulator/counters/reset", emu.base_url()))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success());
}

async fn set_faults(emu: &RunningEmulator, faults: Value) {
    let resp = reqwest::Client::new()
        .put(format!("{}/_emulator/faults", emu.base_url()))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
}

/// Requests counted on one route label (`METHOD /template`).
fn count(counters: &Value, label: &str) -> u64 {
    counters["routes"][label]["count"].as_u64().unwrap_or(0)
}

fn status_count(counters: &Value, status: &str) -> u64 {
    counters["routes"]
        .as_object()
        .map(|routes| {
            routes
                .values()
                .filter_map(|r| r["statuses"][status].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

const LIST_EXPERIMENTS: &str = "GET /public-api/applications/{app}/{env}/experiments";
const ONE_EXPERIMENT: &str = "GET /public-api/applications/{app}/{env}/experiments/{flag}";
const LIST_GROUPS: &str = "GET /public-api/applications/{app}/target-groups";
const LIST_FLAGS: &str = "GET /public-api/applications/{app}/{env}/flags";
const LIST_ROLLOUTS: &str = "GET /v1/workflows/rollout/instances";
const ONE_SEGMENT: &str = "GET /v1/segments/{id}";
const TOKEN_ROUTE: &str = "POST /v1/oauth/token";

fn experiment(flag: &str, with_rule: bool) -> Value {
    let conditions = if with_rule {
        json!([{ "group": { "name": "beta" }, "value": true }])
    } else {
        json!([])
    };
    json!({
        "type": "experiment",
        "flag": flag,
        "name": flag,
        "enabled": true,
        "conditions": conditions,
        "value": false,
    })
}

const TRICKY: &[&str] = &[
    "with space",
    "a/b",
    "100%",
    "x&y#z?w",
    "Grüße",
    "日本語 flag",
    "%2F..%2e",
];

#[tokio::test]
async fn experiments_crud_with_tricky_names() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = cloudbees(&emu);
    let env = "Pre prod/EU";
    for flag in TRICKY {
        cb.put_experiment(env, &experiment(flag, true))
            .await
            .unwrap();
        let got = cb.get_experiment(env, flag).await.unwrap().expect("exists");
        assert_eq!(got.body["flag"], json!(flag), "{flag}");
    }
    let listed = cb.list_experiments(env).await.unwrap();
    let mut flags: Vec<&str> = listed.iter().filter_map(|e| e.flag()).collect();
    flags.sort_unstable();
    let mut expected = TRICKY.to_vec();
    expected.sort_unstable();
    assert_eq!(flags, expected);
    // Nothing leaked into another environment.
    assert!(cb.list_experiments("Production").await.unwrap().is_empty());

    for flag in TRICKY {
        cb.patch_experiment(
            env,
            flag,
            &[
                json!({"op": "test", "path": "/enabled", "value": true}),
                json!({"op": "replace", "path": "/enabled", "value": false}),
            ],
        )
        .await
        .unwrap();
        let got = cb.get_experiment(env, flag).await.unwrap().unwrap();
        assert_eq!(got.body["enabled"], json!(false), "{flag}");
        assert!(cb.delete_experiment(env, flag).await.unwrap(), "{flag}");
        assert_eq!(cb.get_experiment(env, flag).await.unwrap(), None, "{flag}");
        assert!(!cb.delete_experiment(env, flag).await.unwrap(), "{flag}");
    }
}

#[tokio::test]
async fn target_groups_crud_with_tricky_names() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = cloudbees(&emu);
    for name in TRICKY {
        let group = json!({
            "type": "target-group",
            "name": name,
            "description": "",
            "operator": "and",
            "conditions": [{"property": "country", "operator": "eq", "operand": "SE"}],
        });
        cb.put_target_group(&group).await.unwrap();
        let got = cb.get_target_group(name).await.unwrap().expect("exists");
        assert_eq!(got.body["name"], json!(name));
    }
    assert_eq!(cb.list_target_groups().await.unwrap().len(), TRICKY.len());
    for name in TRICKY {
        cb.patch_target_group(
            name,
            &json!([
                {"op": "test", "path": "/conditions/0/operand", "value": "SE"},
                {"op": "replace", "path": "/conditions/0/operand", "value": "NO"},
            ]),
        )
        .await
        .unwrap();
        let got = cb.get_target_group(name).await.unwrap().unwrap();
        assert_eq!(got.body["conditions"][0]["operand"], json!("NO"));
        assert!(cb.delete_target_group(name).await.unwrap());
        assert_eq!(cb.get_target_group(name).await.unwrap(), None);
    }
    assert!(cb.list_target_groups().await.unwrap().is_empty());
}

#[tokio::test]
async fn dot_segments_are_refused_before_sending() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = cloudbees(&emu);
    reset_counters(&emu).await;
    let err = cb.get_experiment("Production", "..").await.unwrap_err();
    assert!(matches!(err, RemoteError::InvalidName { .. }), "{err}");
    let err = cb.delete_target_group(".").await.unwrap_err();
    assert!(matches!(err, RemoteError::InvalidName { .. }), "{err}");
    assert_eq!(counters(&emu).await["total"], json!(0));
}

#[tokio::test]
async fn failing_patch_test_is_a_conflict_and_changes_nothing() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = cloudbees(&emu);
    cb.put_experiment("Production", &experiment("checkout", true))
        .await
        .unwrap();
    let err = cb
        .patch_experiment(
            "Production",
            "checkout",
            &[
                json!({"op": "add", "path": "/description", "value": "changed"}),
                json!({"op": "test", "path": "/enabled", "value": false}),
            ],
        )
        .await
        .unwrap_err();
    match &err {
        RemoteError::Conflict { resource, message } => {
            assert!(resource.contains("checkout"), "{resource}");
            assert!(!message.is_empty());
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let got = cb
        .get_experiment("Production", "checkout")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(got.body["description"], json!("changed"));
    // A PATCH of something that does not exist is not a conflict.
    let err = cb
        .patch_experiment(
            "Production",
            "nope",
            &[json!({"op": "replace", "path": "/enabled", "value": false})],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::NotFound { .. }), "{err:?}");
}

/// Production and Staging each hold a flag with a release rule and two without (one of
/// them not desired), the application a target group, Confidence a rollout.
async fn seed_live_state(cb: &CloudBeesClient, cf: &ConfidenceClient) {
    for env in ["Production", "Staging"] {
        cb.put_experiment(env, &experiment("visible", true))
            .await
            .unwrap();
        cb.put_experiment(env, &experiment("hidden one", false))
            .await
            .unwrap();
        cb.put_experiment(env, &experiment("undesired hidden", false))
            .await
            .unwrap();
    }
    cb.put_target_group(&json!({"name": "beta", "conditions": []}))
        .await
        .unwrap();
    cf.create_rollout(&json!({"displayName": "r1"}))
        .await
        .unwrap();
}

/// One flags list per environment reads every flag, hidden by the experiments list or not:
/// no GET per flag.
#[tokio::test]
async fn live_state_reads_one_flags_list_per_environment() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = cloudbees(&emu);
    let cf = confidence(&emu);
    seed_live_state(&cb, &cf).await;
    let envs = vec![
        "Production".to_owned(),
        "Staging".to_owned(),
        "Empty".to_owned(),
    ];
    let desired: BTreeMap<String, Vec<String>> = BTreeMap::from([(
        "Production".to_owned(),
        vec!["visible".into(), "hidden one".into(), "absent".into()],
    )]);
    reset_counters(&emu).await;
    let snapshot = fetch_live_state(LiveRequest {
        cloudbees: Some(CloudBeesScope {
            client: &cb,
            environments: &envs,
            desired_flags: &desired,
        }),
        confidence: Some(ConfidenceScope {
            client: &cf,
            segments: SegmentScope::Managed { instances: &[] },
        }),
        unify: None,
    })
    .await
    .unwrap();

    let c = counters(&emu).await;
    assert_eq!(count(&c, LIST_FLAGS), 3, "{c:#}");
    assert_eq!(count(&c, LIST_GROUPS), 1, "{c:#}");
    assert_eq!(count(&c, LIST_ROLLOUTS), 1, "{c:#}");
    assert_eq!(count(&c, LIST_EXPERIMENTS), 0, "{c:#}");
    assert_eq!(count(&c, ONE_EXPERIMENT), 0, "{c:#}");
    assert_eq!(c["total"], json!(5), "{c:#}");

    let mut flags: Vec<&str> = snapshot.experiments["Production"]
        .iter()
        .map(|e| e.flag().unwrap())
        .collect();
    flags.sort_unstable();
    assert_eq!(flags, ["hidden one", "undesired hidden", "visible"]);
    assert_eq!(snapshot.experiments["Staging"].len(), 3);
    assert!(snapshot.experiments["Empty"].is_empty());
}

/// A deployment without the flags list (404): the experiments list, and a GET for each
/// desired flag it does not show.
#[tokio::test]
async fn live_state_lists_once_and_gets_only_hidden_desired_flags() {
    let emu = emulator(EmulatorConfig {
        cloudbees_seed_routes_only: true,
        ..EmulatorConfig::default()
    })
    .await;
    let cb = cloudbees(&emu);
    let cf = confidence(&emu);
    for env in ["Production", "Staging"] {
        cb.put_experiment(env, &experiment("visible", true))
            .await
            .unwrap();
        cb.put_experiment(env, &experiment("hidden one", false))
            .await
            .unwrap();
        cb.put_experiment(env, &experiment("undesired hidden", false))
            .await
            .unwrap();
    }
    cb.put_target_group(&json!({"name": "beta", "conditions": []}))
        .await
        .unwrap();
    cf.create_rollout(&json!({"displayName": "r1"}))
        .await
        .unwrap();
    cf.create_rollout(&json!({"displayName": "r2", "labels": {"flagsync-id": "r2"}}))
        .await
        .unwrap();
    // The quirk this is all about: the list hides flags without release rules.
    let listed = cb.list_experiments("Production").await.unwrap();
    assert_eq!(listed.len(), 1);

    let envs = vec![
        "Production".to_owned(),
        "Staging".to_owned(),
        "Empty".to_owned(),
    ];
    let desired: BTreeMap<String, Vec<String>> = BTreeMap::from([
        (
            "Production".to_owned(),
            vec!["visible".into(), "hidden one".into(), "absent".into()],
        ),
        ("Staging".to_owned(), vec!["visible".into()]),
    ]);
    reset_counters(&emu).await;
    let snapshot = fetch_live_state(LiveRequest {
        cloudbees: Some(CloudBeesScope {
            client: &cb,
            environments: &envs,
            desired_flags: &desired,
        }),
        confidence: Some(ConfidenceScope {
            client: &cf,
            segments: SegmentScope::Managed { instances: &[] },
        }),
        unify: None,
    })
    .await
    .unwrap();

    let c = counters(&emu).await;
    // The three 404s of the flags lists matched no route, so they are not counted.
    assert_eq!(count(&c, LIST_EXPERIMENTS), 3, "{c:#}");
    assert_eq!(count(&c, LIST_GROUPS), 1, "{c:#}");
    assert_eq!(count(&c, LIST_ROLLOUTS), 1, "{c:#}");
    // Only "hidden one" and "absent" in Production needed a GET of their own.
    assert_eq!(count(&c, ONE_EXPERIMENT), 2, "{c:#}");
    // Only the managed rollout's segment is read.
    assert_eq!(count(&c, ONE_SEGMENT), 1, "{c:#}");
    assert_eq!(c["total"], json!(8), "{c:#}");

    let flags = |env: &str| -> Vec<String> {
        snapshot.experiments[env]
            .iter()
            .map(|e| e.flag().unwrap().to_owned())
            .collect()
    };
    assert_eq!(flags("Production"), vec!["visible", "hidden one"]);
    assert_eq!(flags("Staging"), vec!["visible"]);
    assert!(flags("Empty").is_empty());
    assert_eq!(snapshot.target_groups.len(), 1);
    assert_eq!(snapshot.rollouts.len(), 2);
    assert!(snapshot.rollouts[0].segment.is_none());
    assert_eq!(
        snapshot.rollouts[1].segment.as_ref().map(|s| &s["name"]),
        Some(&json!(snapshot.rollouts[1].segment_name))
    );

    // An export reads every rollout's segment; a repository adopting one names it.
    let first = snapshot.rollouts[0].instance_id.clone().expect("id");
    for (scope, expected) in [
        (SegmentScope::All, 2),
        (
            SegmentScope::Managed {
                instances: std::slice::from_ref(&first),
            },
            2,
        ),
    ] {
        reset_counters(&emu).await;
        let snapshot = fetch_live_state(LiveRequest {
            cloudbees: None,
            confidence: Some(ConfidenceScope {
                client: &cf,
                segments: scope,
            }),
            unify: None,
        })
        .await
        .unwrap();
        assert!(snapshot.rollouts.iter().all(|r| r.segment.is_some()));
        assert_eq!(count(&counters(&emu).await, ONE_SEGMENT), expected);
    }
}

/// Progress counts every request once (pages of rollouts included), never shows more done
/// than expected, and ends with both equal to what the service answered.
#[tokio::test]
async fn live_state_progress_counts_every_request() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = cloudbees(&emu);
    let cf = confidence(&emu);
    cb.put_experiment("Production", &experiment("hidden", false))
        .await
        .unwrap();
    // Three pages of 100.
    for i in 0..205 {
        cf.create_rollout(&json!({"displayName": format!("r{i}")}))
            .await
            .unwrap();
    }
    let envs = vec!["Production".to_owned()];
    let desired: BTreeMap<String, Vec<String>> = BTreeMap::from([(
        "Production".to_owned(),
        vec!["hidden".into(), "absent".into()],
    )]);
    reset_counters(&emu).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let snapshot = flagsync_remote::fetch_live_state_with_progress(
        LiveRequest {
            cloudbees: Some(CloudBeesScope {
                client: &cb,
                environments: &envs,
                desired_flags: &desired,
            }),
            confidence: Some(ConfidenceScope {
                client: &cf,
                segments: SegmentScope::Managed { instances: &[] },
            }),
            unify: None,
        },
        &|p| seen.lock().unwrap().push(p),
    )
    .await
    .unwrap();
    assert_eq!(snapshot.rollouts.len(), 205);

    let seen = seen.into_inner().unwrap();
    let total = counters(&emu).await["total"].as_u64().unwrap() as usize;
    // Target groups, one flags list (it shows flags without a release rule too, so no GET
    // of its own), three pages of rollouts (they carry no flagsync label, so their segments
    // are not read).
    assert_eq!(total, 5);
    let last = *seen.last().unwrap();
    assert_eq!((last.done, last.expected), (total, total), "{seen:?}");
    for pair in seen.windows(2) {
        assert!(pair[0].done <= pair[1].done, "{seen:?}");
        assert!(pair[0].expected <= pair[1].expected, "{seen:?}");
    }
    assert!(seen.iter().all(|p| p.done <= p.expected), "{seen:?}");
    assert_eq!(seen.first().map(|p| p.done), Some(0));
}

fn rollout_body(label: &str) -> Value {
    json!({
        "displayName": "New Search Feature Rollout",
        "labels": {"flagsync-id": label},
        "flags": {"targetingKeySelector": "targeting_key"},
        "rollout": {
            "flag": "flags/search-flag",
            "variant": "flags/search-flag/variants/enabled",
            "reach": "0.1"
        },
        "metrics": {
            "assignmentTable": "assignmentTables/my-assignment-table",
            "entity": "entities/user",
            "bucket": "DAYS",
            "metrics": [{
                "metric": "metrics/conversion-rate",
                "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01},
                "preferredDirection": "INCREASE"
            }]
        }
    })
}

fn id_of(rollout: &LiveRollout) -> String {
    rollout.instance_id.clone().expect("name")
}

#[tokio::test]
async fn rollout_lifecycle() {
    let emu = emulator(EmulatorConfig {
        launch_duration: Duration::from_millis(300),
        ..EmulatorConfig::default()
    })
    .await;
    let cf = confidence(&emu);
    let created = cf
        .create_rollout(&rollout_body("new-search"))
        .await
        .unwrap();
    assert_eq!(created.body["state"], json!("draft"));
    let id = id_of(&created);

    let segment = json!({
        "targeting": {
            "criteria": {"country": {"attribute": {
                "attributeName": "country",
                "eqRule": {"value": {"stringValue": "SE"}}
            }}},
            "expression": {"and": {"operands": [{"ref": "country"}]}}
        }
    });
    let answer = cf
        .update_segment(
            &id,
            &json!({"segment": segment, "updateMask": "targeting", "targetingKeySelector": "user_id"}),
        )
        .await
        .unwrap();
    let got = cf.read_rollout(&id).await.unwrap().unwrap();
    assert_eq!(answer, json!({"pathAimedToUpdate": got.segment_name}));
    let read = got
        .segment
        .as_ref()
        .expect("the segment is read with the rollout");
    assert_eq!(
        read["targeting"]["criteria"]["country"]["attribute"]["attributeName"],
        json!("country")
    );
    assert_eq!(got.body["flags"]["targetingKeySelector"], "user_id");
    assert_eq!(cf.get_segment("segments/nothing").await.unwrap(), None);
    assert!(matches!(
        cf.get_segment("nothing").await,
        Err(RemoteError::InvalidName { .. })
    ));

    cf.launch(&id).await.unwrap();
    let live = cf
        .wait_for_transition(&id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(live.body["state"], json!("live"));
    assert!(live.body.get("pendingTransition").is_none());

    // Launching again is refused by the service: a definite error, not an ambiguous one.
    let err = cf.launch(&id).await.unwrap_err();
    assert!(!err.is_ambiguous(), "{err:?}");

    let mut section = live.body["rollout"].clone();
    section["reach"] = json!("0.5");
    let patched = cf
        .patch_rollout(
            &format!("workflows/rollout/instances/{id}"),
            "rollout",
            &json!({ "rollout": section }),
        )
        .await
        .unwrap();
    assert_eq!(patched.body["rollout"], section);
    let got = cf.get_rollout(&id).await.unwrap().unwrap();
    assert_eq!(got.body["rollout"]["reach"], json!("0.5"));

    let result_name =
        got.body["explore"]["exploratoryAnalyses"][0]["analysisResults"][0]["analysisResult"]
            .as_str()
            .expect("a launched rollout has an analysis result")
            .to_owned();
    let result = cf.get_analysis_result(&result_name).await.unwrap();
    assert_eq!(result["name"], json!(result_name));
    assert!(result["results"].as_array().is_some_and(|r| !r.is_empty()));
    let err = cf
        .get_analysis_result(&format!(
            "workflows/rollout/instances/{id}/analysisResults/nope"
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::NotFound { .. }), "{err:?}");
    assert!(matches!(
        cf.get_analysis_result("rollouts/x").await,
        Err(RemoteError::InvalidName { .. })
    ));

    assert_eq!(cf.get_rollout("doesnotexist").await.unwrap(), None);
    let found = cf.find_rollouts_by_flagsync_id("new-search").await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        cf.find_rollouts_by_flagsync_id("other")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn waiting_times_out_with_a_deadline_error() {
    let emu = emulator(EmulatorConfig {
        launch_duration: Duration::from_secs(60),
        ..EmulatorConfig::default()
    })
    .await;
    let cf = confidence(&emu);
    let id = id_of(&cf.create_rollout(&rollout_body("slow")).await.unwrap());
    cf.launch(&id).await.unwrap();
    let err = cf
        .wait_for_transition(&id, Duration::from_millis(400))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RemoteError::DeadlineExceeded { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn rollouts_are_read_across_pages() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cf = confidence(&emu);
    for i in 0..230 {
        cf.create_rollout(&json!({"displayName": format!("r{i}"), "labels": {"n": i.to_string()}}))
            .await
            .unwrap();
    }
    reset_counters(&emu).await;
    let all = cf.list_rollouts(None).await.unwrap();
    assert_eq!(all.len(), 230);
    let mut names: Vec<&str> = all.iter().filter_map(|r| r.name.as_deref()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 230, "no rollout twice");
    assert_eq!(count(&counters(&emu).await, LIST_ROLLOUTS), 3);
    assert!(
        cf.list_rollouts(Some("state:live"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        cf.list_rollouts(Some("state:draft")).await.unwrap().len(),
        230
    );
}

#[tokio::test]
async fn client_credentials_fetch_one_token_and_reuse_it() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cf = confidence_with(
        &emu,
        ConfidenceAuth::ClientCredentials {
            client_id: flagsync_emulator::DEFAULT_CLIENT_ID.to_owned(),
            client_secret: Secret::new(flagsync_emulator::DEFAULT_CLIENT_SECRET),
        },
    );
    // Concurrent first requests share a single token request.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let cf = cf.clone();
        tasks.spawn(async move { cf.list_rollouts(None).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    cf.create_rollout(&json!({"displayName": "x"}))
        .await
        .unwrap();
    let c = counters(&emu).await;
    assert_eq!(count(&c, TOKEN_ROUTE), 1, "{c:#}");
    assert_eq!(count(&c, LIST_ROLLOUTS), 5, "{c:#}");
}

#[tokio::test]
async fn a_restarted_service_forgets_tokens_and_the_client_fetches_a_new_one() {
    // The emulator keeps issued tokens in memory: a restart on the same state invalidates
    // them, which is exactly the "401 with a cached token" case.
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig {
        state_dir: Some(dir.path().to_owned()),
        ..EmulatorConfig::default()
    };
    let emu = emulator(config.clone()).await;
    let addr = emu.addr();
    let cf = confidence_with(
        &emu,
        ConfidenceAuth::ClientCredentials {
            client_id: flagsync_emulator::DEFAULT_CLIENT_ID.to_owned(),
            client_secret: Secret::new(flagsync_emulator::DEFAULT_CLIENT_SECRET),
        },
    );
    cf.create_rollout(&json!({"displayName": "before"}))
        .await
        .unwrap();
    emu.shutdown().await;
    let emu = flagsync_emulator::start(config, addr).await.unwrap();
    let all = cf.list_rollouts(None).await.unwrap();
    assert_eq!(all.len(), 1);
    let c = counters(&emu).await;
    assert_eq!(count(&c, TOKEN_ROUTE), 1, "{c:#}");
    assert_eq!(
        c["routes"][LIST_ROLLOUTS]["statuses"]["401"],
        json!(1),
        "{c:#}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_and_never_shown() {
    let emu = emulator(EmulatorConfig::default()).await;
    let secret_token = "wrong-token-4f9a8b7c6d5e";
    let cb = cloudbees_with(&emu, secret_token, f64::INFINITY);
    let err = cb.list_experiments("Production").await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Unauthorized {
                service: Service::CloudBees,
                status: 401,
                ..
            }
        ),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret_token), "{shown}");

    let cf = confidence_with(&emu, ConfidenceAuth::Token(Secret::new(secret_token)));
    let err = cf.get_rollout("abc").await.unwrap_err();
    assert!(matches!(err, RemoteError::Unauthorized { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(secret_token));

    let client_secret = "client-secret-0a1b2c3d4e";
    let cf = confidence_with(
        &emu,
        ConfidenceAuth::ClientCredentials {
            client_id: flagsync_emulator::DEFAULT_CLIENT_ID.to_owned(),
            client_secret: Secret::new(client_secret),
        },
    );
    let err = cf.list_rollouts(None).await.unwrap_err();
    assert!(
        matches!(
            err,
            RemoteError::Unauthorized {
                service: Service::Confidence,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?} {cf:?}").contains(client_secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_converge_under_injected_errors_and_drops() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = cloudbees(&emu);
    let cf = confidence(&emu);
    set_faults(&emu, json!({"errorRate": 0.3, "dropRate": 0.15, "seed": 7})).await;
    for i in 0..12 {
        let flag = format!("flag {i}");
        cb.put_experiment("Production", &experiment(&flag, true))
            .await
            .unwrap();
        cb.patch_experiment(
            "Production",
            &flag,
            &[json!({"op": "add", "path": "/description", "value": "d"})],
        )
        .await
        .unwrap();
        assert!(
            cb.get_experiment("Production", &flag)
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(cb.list_experiments("Production").await.unwrap().len(), 12);
    let c = counters(&emu).await;
    let faults = status_count(&c, "500")
        + status_count(&c, "503")
        + status_count(&c, "429")
        + status_count(&c, "dropped");
    assert!(faults > 0, "the emulator injected nothing: {c:#}");
    assert!(status_count(&c, "dropped") > 0, "{c:#}");
    // Reads of Confidence converge too.
    cf.list_rollouts(None).await.unwrap();
}

#[tokio::test]
async fn an_ambiguous_create_is_not_retried_and_can_be_found_by_label() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cf = confidence(&emu);
    set_faults(&emu, json!({"dropAfterWriteRate": 1.0})).await;
    let err = cf
        .create_rollout(&rollout_body("exactly-once"))
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    set_faults(&emu, json!({"dropAfterWriteRate": 0.0})).await;
    let c = counters(&emu).await;
    assert_eq!(
        count(&c, "POST /v1/workflows/rollout/instances"),
        1,
        "{c:#}"
    );
    let found = cf
        .find_rollouts_by_flagsync_id("exactly-once")
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the create reached the server exactly once");

    // A dropped connection before the server acts is also ambiguous for a create (the
    // client cannot tell the two apart), and nothing is sent twice.
    set_faults(&emu, json!({"dropRate": 1.0})).await;
    let err = cf
        .create_rollout(&rollout_body("dropped"))
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err:?}");
    set_faults(&emu, json!({"dropRate": 0.0})).await;
    assert_eq!(
        count(
            &counters(&emu).await,
            "POST /v1/workflows/rollout/instances"
        ),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_answers_555_are_retried() {
    let emu = emulator(EmulatorConfig {
        cloudbees_requests_per_second: Some(5),
        ..EmulatorConfig::default()
    })
    .await;
    // Unpaced client: it will exceed the limit and must recover from the 555 answers.
    let cb = cloudbees(&emu);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let cb = cb.clone();
        tasks.spawn(async move { cb.get_experiment("Production", &format!("f{i}")).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), None);
    }
    let c = counters(&emu).await;
    assert!(status_count(&c, "555") > 0, "{c:#}");
    assert_eq!(status_count(&c, "404"), 12, "{c:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_client_stays_under_the_limit() {
    let emu = emulator(EmulatorConfig {
        cloudbees_requests_per_second: Some(5),
        ..EmulatorConfig::default()
    })
    .await;
    // Paced well under the limit: concurrent tasks share the pacer, so no 555 at all.
    let cb = cloudbees_with(&emu, TOKEN, 2.5);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let cb = cb.clone();
        tasks.spawn(async move { cb.get_experiment("Production", &format!("f{i}")).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), None);
    }
    let c = counters(&emu).await;
    assert_eq!(status_count(&c, "555"), 0, "{c:#}");
    assert_eq!(c["total"], json!(6), "{c:#}");
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let err = CloudBeesClient::new(CloudBeesSettings {
        base_url: "http://x-api.rollout.io/public-api".to_owned(),
        ..CloudBeesSettings::new(APP, Secret::new(TOKEN))
    })
    .unwrap_err();
    assert!(matches!(err, RemoteError::InsecureUrl { .. }), "{err}");
}

#[tokio::test]
async fn a_create_answered_5xx_is_ambiguous_and_sent_once_past_rate_limits() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cf = confidence(&emu);
    set_faults(&emu, json!({"errorRate": 1.0, "seed": 3})).await;
    let err = cf.create_rollout(&rollout_body("never")).await.unwrap_err();
    set_faults(&emu, json!({"errorRate": 0.0})).await;
    assert!(err.is_ambiguous(), "{err:?}");
    let c = counters(&emu).await;
    let route = &c["routes"]["POST /v1/workflows/rollout/instances"];
    // Only 429 answers were retried; the first 5xx ended it.
    let fivexx = route["classes"]["5xx"].as_u64().unwrap_or(0);
    let rate_limited = route["statuses"]["429"].as_u64().unwrap_or(0);
    assert_eq!(fivexx, 1, "{c:#}");
    assert_eq!(route["count"].as_u64().unwrap(), rate_limited + 1, "{c:#}");
}

#[tokio::test]
async fn reads_give_up_after_max_attempts_with_the_last_answer() {
    let emu = emulator(EmulatorConfig::default()).await;
    let cb = CloudBeesClient::new(CloudBeesSettings {
        base_url: emu.cloudbees_url(),
        http: HttpSettings {
            retry: RetryPolicy {
                max_attempts: 3,
                ..fast_retry()
            },
            ..HttpSettings::new(f64::INFINITY)
        },
        ..CloudBeesSettings::new(APP, Secret::new(TOKEN))
    })
    .unwrap();
    set_faults(&emu, json!({"errorRate": 1.0, "seed": 11})).await;
    let err = cb.list_target_groups().await.unwrap_err();
    assert!(
        matches!(err.status(), Some(500 | 503 | 429)),
        "expected the last injected status, got {err:?}"
    );
    assert_eq!(count(&counters(&emu).await, LIST_GROUPS), 3);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_for_reads() {
    // Bind a port, then free it: nothing listens there any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cb = CloudBeesClient::new(CloudBeesSettings {
        base_url: format!("http://127.0.0.1:{port}/public-api"),
        http: HttpSettings {
            retry: RetryPolicy {
                max_attempts: 2,
                ..fast_retry()
            },
            ..HttpSettings::new(f64::INFINITY)
        },
        ..CloudBeesSettings::new(APP, Secret::new(TOKEN))
    })
    .unwrap();
    let err = cb.list_experiments("Production").await.unwrap_err();
    assert!(matches!(err, RemoteError::Transport { .. }), "{err:?}");
    // For a create too: a connection never established sent nothing, so it is not ambiguous.
    let cf = ConfidenceClient::new(ConfidenceSettings {
        urls: ConfidenceUrls::all(&format!("http://127.0.0.1:{port}")),
        http: HttpSettings {
            retry: RetryPolicy {
                max_attempts: 2,
                ..fast_retry()
            },
            ..HttpSettings::new(f64::INFINITY)
        },
        ..ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new(TOKEN)))
    })
    .unwrap();
    let err = cf.create_rollout(&rollout_body("x")).await.unwrap_err();
    assert!(matches!(err, RemoteError::Transport { .. }), "{err:?}");
}

/// A `MakeWriter` that keeps everything logged, for the redaction check.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn trace_logs_never_contain_a_credential() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // Current-thread runtime: every task of this test (emulator included) logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let emu = emulator(EmulatorConfig::default()).await;
    let wrong = "wrong-token-for-the-logs-1234";
    let _ = cloudbees_with(&emu, wrong, f64::INFINITY)
        .list_target_groups()
        .await
        .unwrap_err();
    cloudbees(&emu).list_target_groups().await.unwrap();
    let cf = confidence_with(
        &emu,
        ConfidenceAuth::ClientCredentials {
            client_id: flagsync_emulator::DEFAULT_CLIENT_ID.to_owned(),
            client_secret: Secret::new(flagsync_emulator::DEFAULT_CLIENT_SECRET),
        },
    );
    cf.create_rollout(&json!({"displayName": "logged"}))
        .await
        .unwrap();
    set_faults(&emu, json!({"errorRate": 1.0, "seed": 5})).await;
    let few_retries = ConfidenceClient::new(ConfidenceSettings {
        urls: ConfidenceUrls::all(&emu.confidence_url()),
        http: HttpSettings {
            retry: RetryPolicy {
                max_attempts: 2,
                ..fast_retry()
            },
            ..HttpSettings::new(f64::INFINITY)
        },
        ..ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new(TOKEN)))
    })
    .unwrap();
    let _ = few_retries.list_rollouts(None).await;
    set_faults(&emu, json!({"errorRate": 0.0})).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("remote_request"), "requests are traced");
    assert!(logs.contains("retrying"), "retries are traced");
    for secret in [wrong, TOKEN, flagsync_emulator::DEFAULT_CLIENT_SECRET] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

/// The account's applications and an application's environments; `None` where the
/// deployment lacks the routes.
#[tokio::test]
async fn applications_and_environments_of_the_account() {
    let emu = emulator(EmulatorConfig::default()).await;
    let account = CloudBeesClient::new(CloudBeesSettings {
        base_url: emu.cloudbees_url(),
        http: HttpSettings::new(f64::INFINITY),
        ..CloudBeesSettings::new("", Secret::new(TOKEN))
    })
    .unwrap();
    let apps = account.list_applications().await.unwrap().unwrap();
    assert_eq!(
        apps[0].id,
        flagsync_emulator::CLOUDBEES_DEFAULT_APPLICATION_ID
    );
    // An account-only client addresses no application.
    let err = account.list_environments().await.unwrap_err();
    assert!(matches!(err, RemoteError::InvalidName { .. }), "{err}");
    let app = account.for_application(&apps[0].id).unwrap();
    let envs = app.list_environments().await.unwrap().unwrap();
    let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, flagsync_emulator::CLOUDBEES_DEFAULT_ENVIRONMENTS);
    assert!(
        app.list_flags("Production")
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );

    let old = emulator(EmulatorConfig {
        cloudbees_seed_routes_only: true,
        ..EmulatorConfig::default()
    })
    .await;
    let cb = cloudbees(&old);
    assert_eq!(cb.list_environments().await.unwrap(), None);
    assert_eq!(cb.list_flags("Production").await.unwrap(), None);
    assert_eq!(cb.list_applications().await.unwrap(), None);
}
