//! The Confidence resources as the API reference documents them (not only the how-to): the
//! workflow envelope with what the server fills in, output-only fields refused, field-mask
//! updates, locked sections, segments as a resource of the flags API, `:updatesegment`,
//! `:end`, and the flags API's rate limit.

use std::time::Duration;

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

fn instances(base: &str) -> String {
    format!("{base}/v1/workflows/rollout/instances")
}

const CREATE: &str = r#"{
    "displayName": "Search",
    "labels": {"team": "growth"},
    "flags": {"targetingKeySelector": "targeting_key"},
    "rollout": {"flag": "flags/search", "variant": "flags/search/variants/on", "reach": "0.1"},
    "metrics": {"entity": "entities/user", "metrics": [{"metric": "metrics/m", "metricRole": {"metricKind": "SUCCESS"}}]}
}"#;

async fn create(http: &reqwest::Client, base: &str) -> Value {
    let created = send(
        http,
        Method::POST,
        &instances(base),
        Some(TOKEN),
        Some(CREATE),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    created.body
}

fn one(base: &str, rollout: &Value) -> String {
    format!("{base}/v1/{}", rollout["name"].as_str().expect("name"))
}

async fn launch_and_wait(http: &reqwest::Client, url: &str, action: &str, state: &str) -> Value {
    let answer = send(
        http,
        Method::POST,
        &format!("{url}:{action}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let mut last = Value::Null;
    let done = eventually(Duration::from_secs(10), async || {
        last = get(http, url).await.body;
        last["state"] == state && last.get("pendingTransition").is_none()
    })
    .await;
    assert!(done, "never became {state}: {last}");
    last
}

#[tokio::test]
async fn a_create_fills_the_envelope_and_the_server_managed_fields() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.confidence_url();
    let r = create(&http, &base).await;
    for field in ["createTime", "updateTime"] {
        assert!(r[field].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }
    assert_eq!(r["creator"], "identities/emulator-user");
    assert_eq!(r["updater"], r["creator"]);
    assert_eq!(r["owner"], r["creator"]);
    assert_eq!(r["state"], "draft");
    assert_eq!(r["possibleTransitions"], json!(["launch"]));
    assert_eq!(r["lockedDataKeys"], json!([]));
    assert_eq!(r["stateHistory"][0]["state"], "draft");
    assert!(r["workflowVersion"].is_string() && r["jobQueue"].is_object());
    assert!(r["checks"].is_array() && r["transitionStatus"].is_object());
    assert!(r["recommendations"]["recommendations"].is_array() && r["samplesize"].is_object());
    assert_eq!(
        r["rollout"]["controlVariant"],
        "flags/search/variants/control"
    );
    for id in ["variantAssignmentId", "controlAssignmentId"] {
        assert!(
            r["rollout"][id].as_str().is_some_and(|s| !s.is_empty()),
            "{r}"
        );
    }
    assert_ne!(
        r["rollout"]["variantAssignmentId"],
        r["rollout"]["controlAssignmentId"]
    );
    assert_eq!(r["flags"]["flag"], "flags/search");
    assert_eq!(r["flags"]["targetingKeySelector"], "targeting_key");
    let segment_name = r["flags"]["segment"].as_str().expect("segment");
    let segment = get(&http, &format!("{base}/v1/{segment_name}")).await;
    assert_eq!(segment.status, 200, "{}", segment.text);
    assert_eq!(segment.body["state"], "UNALLOCATED");
    assert_eq!(segment.body["workflowInstance"], r["name"]);
    assert_eq!(segment.body["flag"], "flags/search");
    assert_eq!(
        segment.body["allocation"],
        json!({"proportion": {"value": "1"}})
    );
    assert!(
        segment.body.get("targeting").is_none(),
        "everyone until targeted"
    );

    // A client with credentials is named after its client id.
    let token_url = format!("{base}/v1/oauth/token");
    let body = json!({"grantType": "client_credentials", "clientId": flagsync_emulator::DEFAULT_CLIENT_ID, "clientSecret": flagsync_emulator::DEFAULT_CLIENT_SECRET}).to_string();
    let token = send(&http, Method::POST, &token_url, None, Some(&body))
        .await
        .body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let patched = send(
        &http,
        Method::PATCH,
        &format!("{}?updateMask=displayName", one(&base, &r)),
        Some(&token),
        Some(r#"{"displayName":"Renamed"}"#),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["updater"], "apiClients/emulator-client");
    assert_eq!(patched.body["creator"], "identities/emulator-user");
    emu.shutdown().await;
}

#[tokio::test]
async fn output_only_fields_are_refused_and_sections_are_replaced_as_masked() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.confidence_url();
    let r = create(&http, &base).await;
    let url = one(&base, &r);
    for field in [
        "state",
        "createTime",
        "updateTime",
        "creator",
        "updater",
        "pendingTransition",
        "possibleTransitions",
        "lockedDataKeys",
        "stateHistory",
        "checks",
        "transitionStatus",
        "deleteTime",
        "exposure",
    ] {
        let mut body = serde_json::from_str::<Value>(CREATE).expect("json");
        body[field] = json!("x");
        let body = body.to_string();
        let created = send(
            &http,
            Method::POST,
            &instances(&base),
            Some(TOKEN),
            Some(&body),
        )
        .await;
        assert_confidence_error(&created, 400, 3);
        let mut whole = r.clone();
        whole[field] = json!("x");
        let patched = send(
            &http,
            Method::PATCH,
            &format!("{url}?updateMask=displayName"),
            Some(TOKEN),
            Some(&whole.to_string()),
        )
        .await;
        assert_confidence_error(&patched, 400, 3);
    }
    // The full resource as read back cannot be sent: it has output-only fields.
    let as_read = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=rollout"),
        Some(TOKEN),
        Some(&r.to_string()),
    )
    .await;
    assert_confidence_error(&as_read, 400, 3);

    // A section sent whole keeps what the server filled in; sent without it, loses it.
    let mut rollout = r["rollout"].clone();
    rollout["reach"] = json!("0.5");
    let kept = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=rollout"),
        Some(TOKEN),
        Some(&json!({"name": r["name"], "rollout": rollout}).to_string()),
    )
    .await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(kept.body["rollout"], rollout);
    let lost = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=flags"),
        Some(TOKEN),
        Some(r#"{"flags": {"targetingKeySelector": "user_id"}}"#),
    )
    .await;
    assert_eq!(lost.status, 200, "{}", lost.text);
    assert_eq!(
        lost.body["flags"],
        json!({"targetingKeySelector": "user_id"})
    );
    // A nested path touches one field.
    let nested = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=rollout.reach"),
        Some(TOKEN),
        Some(r#"{"rollout": {"reach": "0.7"}}"#),
    )
    .await;
    assert_eq!(
        nested.body["rollout"]["controlVariant"],
        r["rollout"]["controlVariant"]
    );
    assert_eq!(nested.body["rollout"]["reach"], "0.7");
    // The body names another rollout.
    let other = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=displayName"),
        Some(TOKEN),
        Some(r#"{"name": "workflows/rollout/instances/other", "displayName": "x"}"#),
    )
    .await;
    assert_confidence_error(&other, 400, 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn launching_fills_the_rule_exposure_and_analysis_and_locks_flags() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.confidence_url();
    let r = create(&http, &base).await;
    let url = one(&base, &r);
    let live = launch_and_wait(&http, &url, "launch", "live").await;
    assert_eq!(live["possibleTransitions"], json!(["end"]));
    assert_eq!(live["lockedDataKeys"], json!(["flags"]));
    assert!(
        live["flags"]["rule"]
            .as_str()
            .is_some_and(|rule| rule.starts_with("flags/search/rules/")),
        "{live}"
    );
    let exposure = live["exposure"]["exposure"].as_array().expect("exposure");
    assert_eq!(exposure.len(), 2);
    assert_eq!(exposure[0]["totalExposureCount"], "0");
    let analysis = &live["explore"]["exploratoryAnalyses"][0];
    assert!(
        analysis["analysisResults"][0]["analysisResult"].is_string(),
        "{live}"
    );
    assert_eq!(analysis["analysisResults"][0]["exposureFilterName"], "");
    let history: Vec<&Value> = live["stateHistory"]
        .as_array()
        .expect("history")
        .iter()
        .collect();
    assert_eq!(history.len(), 2);
    assert!(history[0]["exitedTime"].is_string());
    let segment_url = format!(
        "{base}/v1/{}",
        live["flags"]["segment"].as_str().expect("segment")
    );
    assert_eq!(get(&http, &segment_url).await.body["state"], "ALLOCATED");

    // The flags section is locked: targeting and flag settings go through :updatesegment.
    let locked = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=flags"),
        Some(TOKEN),
        Some(&json!({"flags": live["flags"]}).to_string()),
    )
    .await;
    assert_confidence_error(&locked, 400, 9);
    // A segment that is allocated cannot be patched directly.
    let direct = send(
        &http,
        Method::PATCH,
        &format!("{segment_url}?updateMask=targeting"),
        Some(TOKEN),
        Some(r#"{"targeting": {}}"#),
    )
    .await;
    assert_confidence_error(&direct, 400, 9);
    let action = json!({"parameters": {
        "segment": {"name": live["flags"]["segment"], "targeting": {
            "criteria": {"se": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "SE"}}}}},
            "expression": {"ref": "se"}}},
        "updateMask": "targeting",
        "targetingKeySelector": "user_id"}});
    let answer = send(
        &http,
        Method::POST,
        &format!("{url}:updatesegment"),
        Some(TOKEN),
        Some(&action.to_string()),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body,
        json!({"pathAimedToUpdate": live["flags"]["segment"]})
    );
    let after = get(&http, &url).await.body;
    assert_eq!(after["flags"]["targetingKeySelector"], "user_id");
    assert_eq!(after["flags"]["rule"], live["flags"]["rule"]);
    let segment = get(&http, &segment_url).await.body;
    assert_eq!(segment["targeting"]["expression"], json!({"ref": "se"}));
    assert_eq!(segment["state"], "ALLOCATED");

    // The reach still changes by PATCH.
    let reach = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=rollout.reach"),
        Some(TOKEN),
        Some(r#"{"rollout": {"reach": "0.9"}}"#),
    )
    .await;
    assert_eq!(reach.status, 200, "{}", reach.text);

    // Ending: every section frozen.
    let ended = launch_and_wait(&http, &url, "end", "ended").await;
    assert_eq!(ended["possibleTransitions"], json!([]));
    assert!(
        ended["lockedDataKeys"]
            .as_array()
            .is_some_and(|k| k.contains(&json!("rollout"))),
        "{ended}"
    );
    let frozen = send(
        &http,
        Method::PATCH,
        &format!("{url}?updateMask=rollout.reach"),
        Some(TOKEN),
        Some(r#"{"rollout": {"reach": "1"}}"#),
    )
    .await;
    assert_confidence_error(&frozen, 400, 9);
    let relaunch = send(
        &http,
        Method::POST,
        &format!("{url}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_confidence_error(&relaunch, 400, 9);
    emu.shutdown().await;
}

#[tokio::test]
async fn update_segment_checks_its_parameters_and_the_targeting_vocabulary() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.confidence_url();
    let r = create(&http, &base).await;
    let url = format!("{}:updatesegment", one(&base, &r));
    let with_rule = |rule: Value| {
        let mut attribute = json!({"attributeName": "a"});
        if let (Some(a), Some(rule)) = (attribute.as_object_mut(), rule.as_object()) {
            a.extend(rule.clone());
        }
        json!({"parameters": {"updateMask": "targeting", "segment": {"targeting": {
            "criteria": {"c": {"attribute": attribute}}, "expression": {"ref": "c"}}}}})
        .to_string()
    };
    for ok in [
        json!({"startsWithRule": {"value": "a"}}),
        json!({"containsRule": {"value": "b"}}),
        json!({"rangeRule": {"startExclusive": {"versionValue": {"version": "1.2"}}}}),
        json!({"allRule": {"rule": {"setRule": {"values": [{"numberValue": 1.5}]}}}}),
    ] {
        let answer = send(&http, Method::POST, &url, Some(TOKEN), Some(&with_rule(ok))).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    // The string rules take a plain string, not a Value.
    let wrong = with_rule(json!({"endsWithRule": {"value": {"stringValue": "x"}}}));
    let answer = send(&http, Method::POST, &url, Some(TOKEN), Some(&wrong)).await;
    assert_confidence_error(&answer, 400, 3);
    assert!(answer.text.contains("plain string"), "{}", answer.text);
    for bad in [
        r#"{"parameters": {"segment": {}, "surprise": 1}}"#,
        r#"{"parameters": {"updateMask": "targeting"}}"#,
        r#"{"parameters": {"segment": {"name": "segments/elsewhere"}, "updateMask": "targeting"}}"#,
        r#"{"parameters": {"segment": {"state": "ALLOCATED"}, "updateMask": "state"}}"#,
        r#"{"parameters": {"segment": {"allocation": {"proportion": "0.5"}}, "updateMask": "allocation"}}"#,
        r#"{"parameters": {"segment": {}, "updateMask": ["targeting"]}}"#,
    ] {
        let answer = send(&http, Method::POST, &url, Some(TOKEN), Some(bad)).await;
        assert_confidence_error(&answer, 400, 3);
    }
    let allocation = r#"{"parameters": {"segment": {"allocation": {"proportion": {"value": "0.5"}}}, "updateMask": "allocation"}}"#;
    let answer = send(&http, Method::POST, &url, Some(TOKEN), Some(allocation)).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    emu.shutdown().await;
}

#[tokio::test]
async fn segments_are_a_resource_of_the_flags_api() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.confidence_url();
    let segments = format!("{base}/v1/segments");
    let created = send(
        &http,
        Method::POST,
        &format!("{segments}?segmentId=beta"),
        Some(TOKEN),
        Some(r#"{"displayName": "Beta", "targeting": {"criteria": {"b": {"attribute": {"attributeName": "beta", "eqRule": {"value": {"boolValue": true}}}}}, "expression": {"ref": "b"}}}"#),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.body["name"], "segments/beta");
    assert_eq!(created.body["state"], "UNALLOCATED");
    let again = send(
        &http,
        Method::POST,
        &format!("{segments}?segmentId=beta"),
        Some(TOKEN),
        Some("{}"),
    )
    .await;
    assert_confidence_error(&again, 409, 6);
    let refused = send(
        &http,
        Method::POST,
        &segments,
        Some(TOKEN),
        Some(r#"{"state": "OK"}"#),
    )
    .await;
    assert_confidence_error(&refused, 400, 3);
    // Unallocated: a PATCH replaces what the mask names; no mask, every mutable field.
    let patched = send(
        &http,
        Method::PATCH,
        &format!("{segments}/beta?updateMask=displayName"),
        Some(TOKEN),
        Some(r#"{"displayName": "Beta testers"}"#),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["displayName"], "Beta testers");
    assert!(patched.body["targeting"].is_object());
    let replaced = send(
        &http,
        Method::PATCH,
        &format!("{segments}/beta"),
        Some(TOKEN),
        Some(r#"{"displayName": "Only a name"}"#),
    )
    .await;
    assert!(
        replaced.body.get("targeting").is_none(),
        "{}",
        replaced.text
    );
    let allocated = send(
        &http,
        Method::POST,
        &format!("{segments}/beta:allocate"),
        Some(TOKEN),
        Some("{}"),
    )
    .await;
    assert_eq!(allocated.body["state"], "ALLOCATED");
    let twice = send(
        &http,
        Method::POST,
        &format!("{segments}/beta:allocate"),
        Some(TOKEN),
        Some("{}"),
    )
    .await;
    assert_confidence_error(&twice, 400, 9);
    let archived = send(
        &http,
        Method::POST,
        &format!("{segments}/beta:archive"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(archived.body["state"], "ARCHIVED");
    let listed = get(&http, &segments).await.body;
    assert_eq!(listed["segments"][0]["name"], "segments/beta");
    assert_eq!(listed["nextPageToken"], "");
    assert_confidence_error(&get(&http, &format!("{segments}/nothing")).await, 404, 5);
    emu.shutdown().await;
}

/// With the runtime knob, the flags API answers 429 beyond its limit; rollouts are not
/// limited.
#[tokio::test]
async fn the_flags_api_limit_is_a_runtime_knob() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.confidence_url();
    let r = create(&http, &base).await;
    let set = send(
        &http,
        Method::PUT,
        &format!("{}/_emulator/faults", emu.base_url()),
        None,
        Some(r#"{"confidenceFlagsRequestsPerSecond": 3}"#),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["confidenceFlagsRequestsPerSecond"], 3);
    let segment_url = format!(
        "{base}/v1/{}",
        r["flags"]["segment"].as_str().expect("segment")
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(get(&http, &segment_url).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let refused = get(&http, &segment_url).await;
    assert_confidence_error(&refused, 429, 8);
    assert!(refused.headers.get("retry-after").is_none());
    for _ in 0..5 {
        assert_eq!(get(&http, &one(&base, &r)).await.status, 200);
    }
    emu.shutdown().await;
}
