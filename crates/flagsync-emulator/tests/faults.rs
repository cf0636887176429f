//! Fault injection, counters and the `/_emulator/` control endpoints.

use crate::common::*;
use flagsync_emulator::{EmulatorConfig, Faults};
use reqwest::Method;
use serde_json::{Value, json};

async fn set_faults(http: &reqwest::Client, base: &str, settings: Value) -> Answer {
    send(
        http,
        Method::PUT,
        &format!("{base}/_emulator/faults"),
        None,
        Some(&settings.to_string()),
    )
    .await
}

#[tokio::test]
async fn injected_errors_never_apply_writes() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let http = client();
    let groups = format!("{}/applications/a/target-groups", emu.cloudbees_url());
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..30 {
        let body = json!({"type": "target-group", "name": format!("g{i}")}).to_string();
        let answer = send(&http, Method::PUT, &groups, Some(TOKEN), Some(&body)).await;
        let status = answer.status.as_u16();
        assert!([500, 503, 429, 555].contains(&status), "{status}");
        assert_eq!(answer.body["code"], status, "CloudBees error shape");
        if status == 429 {
            assert!(
                answer.headers.contains_key("retry-after"),
                "429 carries Retry-After"
            );
        }
        seen.insert(status);
    }
    assert!(seen.len() > 1, "a mix of statuses: {seen:?}");
    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    for _ in 0..10 {
        let answer = send(&http, Method::POST, &rollouts, Some(TOKEN), Some("{}")).await;
        let status = answer.status.as_u16();
        assert!(
            [500, 503, 429].contains(&status),
            "{status}: no 555 on Confidence"
        );
        assert!(answer.body["details"].is_array(), "Confidence error shape");
    }
    // Control endpoints are never faulted.
    let off = set_faults(&http, &emu.base_url(), json!({"errorRate": 0.0})).await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(
        get(&http, &groups).await.body,
        json!([]),
        "no write applied"
    );
    assert_eq!(get(&http, &rollouts).await.body["rollouts"], json!([]));
    emu.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_get_no_answer_and_apply_nothing() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            drop_rate: 1.0,
            ..Faults::default()
        },
        ..config()
    })
    .await;
    let http = client();
    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    let result = http
        .post(&rollouts)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await;
    let error = result.expect_err("connection closed without an answer");
    assert!(!error.is_timeout(), "{error:?}");
    let counters = get(&http, &format!("{}/_emulator/counters", emu.base_url()))
        .await
        .body;
    assert_eq!(
        counters["routes"]["POST /v1/workflows/rollout/instances"]["classes"]["dropped"], 1,
        "{counters}"
    );
    set_faults(&http, &emu.base_url(), json!({"dropRate": 0})).await;
    assert_eq!(get(&http, &rollouts).await.body["rollouts"], json!([]));
    emu.shutdown().await;
}

/// The ambiguous failure: the create is applied, then the connection closes. A blind retry
/// makes a second rollout; a client must look it up by its labels instead.
#[tokio::test]
async fn drop_after_write_applies_then_drops() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.base_url();
    let set = set_faults(&http, &base, json!({"dropAfterWriteRate": 1.0})).await;
    assert_eq!(set.body["dropAfterWriteRate"], 1.0);
    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    let body = r#"{"displayName":"once","labels":{"flagsync-key":"checkout"}}"#;
    let first = http
        .post(&rollouts)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    assert!(first.is_err(), "no answer");
    // Reads are unaffected by this knob.
    let found = get(
        &http,
        &format!("{rollouts}?filter=labels.flagsync-key:checkout"),
    )
    .await;
    assert_eq!(found.status, 200);
    assert_eq!(
        found.body["rollouts"].as_array().map(Vec::len),
        Some(1),
        "it was applied"
    );
    let retry = http
        .post(&rollouts)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    assert!(retry.is_err());
    let found = get(
        &http,
        &format!("{rollouts}?filter=labels.flagsync-key:checkout"),
    )
    .await;
    assert_eq!(
        found.body["rollouts"].as_array().map(Vec::len),
        Some(2),
        "a blind retry duplicates"
    );
    // Failed writes are answered normally (nothing to drop after).
    let bad = send(&http, Method::POST, &rollouts, Some(TOKEN), Some("[]")).await;
    assert_eq!(bad.status, 400);
    emu.shutdown().await;
}

/// `dropNextWrites`: exactly the next N successful writes are applied and left unanswered;
/// a failed write is answered and keeps its turn for the next one; reads are untouched.
#[tokio::test]
async fn drop_next_writes_drops_exactly_that_many_successful_writes() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.base_url();
    let set = set_faults(&http, &base, json!({"dropNextWrites": 1})).await;
    assert_eq!(set.body["dropNextWrites"], 1, "{}", set.text);
    let groups = format!("{}/applications/a/target-groups", emu.cloudbees_url());
    let put = |name: &str| {
        http.put(&groups)
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(json!({"type": "target-group", "name": name}).to_string())
            .send()
    };
    assert_eq!(get(&http, &groups).await.status, 200);
    let bad = send(&http, Method::PUT, &groups, Some(TOKEN), Some("[]")).await;
    assert_eq!(bad.status, 400);
    assert!(put("first").await.is_err(), "dropped");
    let second = put("second").await.expect("answered");
    assert!(second.status().is_success());
    let names: Vec<Value> = get(&http, &groups)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].clone())
        .collect();
    assert_eq!(names, [json!("first"), json!("second")], "both applied");
    let now = get(&http, &format!("{base}/_emulator/faults")).await;
    assert_eq!(now.body["dropNextWrites"], 0);
    emu.shutdown().await;
}

/// The same seed and the same requests give the same faults.
#[tokio::test]
async fn a_seed_makes_faults_repeatable() {
    async fn run(seed: u64) -> Vec<u16> {
        let emu = start(EmulatorConfig {
            faults: Faults {
                error_rate: 0.5,
                seed,
                ..Faults::default()
            },
            ..config()
        })
        .await;
        let http = client();
        let url = format!("{}/applications/a/target-groups", emu.cloudbees_url());
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(get(&http, &url).await.status.as_u16());
        }
        emu.shutdown().await;
        statuses
    }
    let a = run(7).await;
    assert_eq!(a, run(7).await);
    assert!(a.contains(&200) && a.iter().any(|s| *s != 200), "{a:?}");
    assert_ne!(a, run(8).await);
}

#[tokio::test]
async fn counters_report_routes_and_status_classes() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.base_url();
    let experiments = format!(
        "{}/applications/a/Production/experiments",
        emu.cloudbees_url()
    );
    get(&http, &experiments).await;
    get(&http, &experiments).await;
    get(&http, &format!("{experiments}/missing")).await;
    send(&http, Method::GET, &experiments, Some("wrong"), None).await;
    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    let created = send(&http, Method::POST, &rollouts, Some(TOKEN), Some("{}")).await;
    let name = created.body["name"].as_str().expect("name");
    send(
        &http,
        Method::POST,
        &format!("{base}/v1/{name}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    get(&http, &format!("{base}/_emulator/health")).await;

    let counters = get(&http, &format!("{base}/_emulator/counters")).await.body;
    let routes = &counters["routes"];
    let list = &routes["GET /public-api/applications/{app}/{env}/experiments"];
    assert_eq!(list["count"], 3, "{counters}");
    assert_eq!(list["classes"]["2xx"], 2);
    assert_eq!(list["classes"]["4xx"], 1);
    assert_eq!(list["statuses"]["401"], 1);
    assert_eq!(
        routes["GET /public-api/applications/{app}/{env}/experiments/{flag}"]["statuses"]["404"],
        1
    );
    assert_eq!(routes["POST /v1/workflows/rollout/instances"]["count"], 1);
    assert_eq!(
        routes["POST /v1/workflows/rollout/instances/{id}:launch"]["count"], 1,
        "{counters}"
    );
    assert_eq!(counters["total"], 6, "control endpoints are not counted");

    let reset = send(
        &http,
        Method::POST,
        &format!("{base}/_emulator/counters/reset"),
        None,
        None,
    )
    .await;
    assert_eq!(reset.status, 200);
    let counters = get(&http, &format!("{base}/_emulator/counters")).await.body;
    assert_eq!(counters, json!({"total": 0, "routes": {}}));
    emu.shutdown().await;
}

#[tokio::test]
async fn fault_settings_can_be_read_and_changed() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.base_url();
    let current = get(&http, &format!("{base}/_emulator/faults")).await;
    assert_eq!(current.status, 200);
    assert_eq!(current.body["errorRate"], 0.0);
    assert_eq!(current.body["launchMs"], 20);
    assert_eq!(current.body["cloudbeesRequestsPerSecond"], Value::Null);
    let changed = set_faults(
        &http,
        &base,
        json!({"latencyMs": 1, "latencyJitterMs": 2, "seed": 9, "cloudbeesRequestsPerSecond": 100, "launchMs": 30}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.body["latencyMs"], 1);
    assert_eq!(changed.body["cloudbeesRequestsPerSecond"], 100);
    assert_eq!(
        changed.body["errorRate"], 0.0,
        "absent fields keep their value"
    );
    // Requests still work with latency on.
    let url = format!("{}/applications/a/target-groups", emu.cloudbees_url());
    assert_eq!(get(&http, &url).await.status, 200);
    let off = set_faults(
        &http,
        &base,
        json!({"cloudbeesRequestsPerSecond": null, "latencyMs": 0, "latencyJitterMs": 0}),
    )
    .await;
    assert_eq!(off.body["cloudbeesRequestsPerSecond"], Value::Null);
    for bad in [
        json!({"errorRate": 1.5}),
        json!({"dropRate": -0.1}),
        json!({"unknownKnob": 1}),
        json!({"cloudbeesRequestsPerSecond": 0}),
        json!([]),
    ] {
        let answer = set_faults(&http, &base, bad).await;
        assert_cloudbees_error(&answer, 400);
    }
    assert_eq!(
        get(&http, &format!("{base}/_emulator/faults")).await.body,
        off.body,
        "refused updates change nothing"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn invalid_configs_are_refused_at_start() {
    for faults in [
        Faults {
            error_rate: 2.0,
            ..Faults::default()
        },
        Faults {
            drop_after_write_rate: f64::NAN,
            ..Faults::default()
        },
    ] {
        let result =
            flagsync_emulator::start(EmulatorConfig { faults, ..config() }, loopback()).await;
        assert!(matches!(
            result,
            Err(flagsync_emulator::EmulatorError::InvalidConfig(_))
        ));
    }
    let result = flagsync_emulator::start(
        EmulatorConfig {
            cloudbees_requests_per_second: Some(0),
            ..config()
        },
        loopback(),
    )
    .await;
    assert!(matches!(
        result,
        Err(flagsync_emulator::EmulatorError::InvalidConfig(_))
    ));
}
