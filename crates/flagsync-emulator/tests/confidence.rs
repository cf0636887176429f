//! Confidence rollouts and the token endpoint over real HTTP: the seed document's requests
//! exactly as written (host swapped), asynchronous launch, pagination, analysis results.

use std::time::Duration;

use crate::common::*;
use flagsync_emulator::EmulatorConfig;
use reqwest::Method;
use serde_json::{Value, json};

const SEED_CREATE: &str = r#"{
    "displayName": "New Search Feature Rollout",
    "flags": {
      "targetingKeySelector": "targeting_key"
    },
    "rollout": {
      "flag": "flags/search-flag",
      "variant": "flags/search-flag/variants/enabled"
    },
    "metrics": {
      "assignmentTable": "assignmentTables/my-assignment-table",
      "entity": "entities/user",
      "bucket": "DAYS",
      "metrics": [
        {
          "metric": "metrics/conversion-rate",
          "metricRole": {
            "metricKind": "SUCCESS",
            "minimumDetectableEffect": 0.01
          },
          "preferredDirection": "INCREASE"
        }
      ]
    }
  }"#;

const SEED_SEGMENT: &str = r#"{
    "updateMask": "targeting",
    "segment": {
      "name": "segments/pztjlarivt3tyfie5gsb",
      "targeting": {
        "criteria": {
          "country": {
            "attribute": {
              "attributeName": "country",
              "eqRule": {
                "value": {
                  "stringValue": "SE"
                }
              }
            }
          }
        },
        "expression": {
          "and": {
            "operands": [{"ref": "country"}]
          }
        }
      }
    }
  }"#;

const SEED_REACH: &str = r#"{
    "rollout": {
      "flag": "flags/search-flag",
      "reach": "0.5",
      "variant": "flags/search-flag/variants/enabled"
    }
  }"#;

fn instances(base: &str) -> String {
    format!("{base}/v1/workflows/rollout/instances")
}

fn id_of(rollout: &Value) -> String {
    rollout["name"]
        .as_str()
        .and_then(|n| n.strip_prefix("workflows/rollout/instances/"))
        .expect("rollout name")
        .to_owned()
}

/// The analysis result a launched rollout names in `explore.exploratoryAnalyses[]`.
fn result_of(rollout: &Value) -> String {
    rollout["explore"]["exploratoryAnalyses"][0]["analysisResults"][0]["analysisResult"]
        .as_str()
        .unwrap_or_else(|| panic!("no analysis result named: {rollout}"))
        .to_owned()
}

/// The v2 shape of an analysis result: `info` a string, `context` a list of pairs, one
/// `result[]` entry per comparison with its own time series.
fn assert_v2_shape(result: &Value) {
    for annotation in result["annotations"].as_array().expect("annotations") {
        assert!(annotation["info"].is_string(), "{result}");
        let context = annotation["context"].as_array().expect("context list");
        assert!(context.iter().all(|c| c["key"].is_string()), "{result}");
    }
    for metric in result["results"].as_array().expect("results") {
        let comparisons = metric["result"].as_array().expect("comparisons");
        assert!(!comparisons.is_empty(), "{result}");
        for c in comparisons {
            assert!(c["groups"]["baseline"].is_string(), "{result}");
            assert!(c["result"].is_array(), "{result}");
        }
    }
}

async fn wait_live(http: &reqwest::Client, url: &str) -> Value {
    let mut last = Value::Null;
    let live = eventually(Duration::from_secs(10), async || {
        last = get(http, url).await.body;
        last["state"] == "live"
    })
    .await;
    assert!(live, "never became live: {last}");
    last
}

/// The whole seed 000 flow with a server-assigned id, then the documented ids themselves.
#[tokio::test]
async fn seed_rollout_requests_work_as_written() {
    let emu = start(EmulatorConfig {
        // Long enough that the GET right after the launch sees it pending, even on a busy
        // machine.
        launch_duration: Duration::from_millis(2500),
        ..config()
    })
    .await;
    let http = client();
    let list_url = instances(&emu.confidence_url());

    let created = send(
        &http,
        Method::POST,
        &list_url,
        Some(TOKEN),
        Some(SEED_CREATE),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = id_of(&created.body);
    assert_eq!(id.len(), 20);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(created.body["state"], "draft");
    assert_eq!(created.body["displayName"], "New Search Feature Rollout");
    assert_eq!(created.body["metrics"]["bucket"], "DAYS");
    let create_time = created.body["createTime"].as_str().expect("createTime");
    assert!(
        create_time.ends_with('Z') && create_time.contains('T'),
        "{create_time}"
    );
    assert_eq!(created.body["createTime"], created.body["updateTime"]);
    assert!(created.body.get("stats").is_none(), "a draft has no stats");

    let one = format!("{list_url}/{id}");
    let got = get(&http, &one).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body["name"],
        format!("workflows/rollout/instances/{id}")
    );

    // The document names its own rollout's segment; a new rollout has another one.
    let segment_name = got.body["flags"]["segment"]
        .as_str()
        .expect("a rollout names its segment")
        .to_owned();
    let seed_segment = SEED_SEGMENT.replace("segments/pztjlarivt3tyfie5gsb", &segment_name);
    let segment = send(
        &http,
        Method::POST,
        &format!("{one}:updateSegment"),
        Some(TOKEN),
        Some(&seed_segment),
    )
    .await;
    assert_eq!(segment.status, 200, "{}", segment.text);
    let got = get(
        &http,
        &format!("{}/v1/{segment_name}", emu.confidence_url()),
    )
    .await
    .body;
    assert_eq!(got["name"], segment_name);
    assert_eq!(
        got["targeting"]["criteria"]["country"]["attribute"]["eqRule"]["value"]["stringValue"],
        "SE"
    );
    let wrong = send(
        &http,
        Method::POST,
        &format!("{one}:updateSegment"),
        Some(TOKEN),
        Some(SEED_SEGMENT),
    )
    .await;
    assert_confidence_error(&wrong, 400, 3);

    let reach = send(
        &http,
        Method::PATCH,
        &format!("{one}?updateMask=rollout"),
        Some(TOKEN),
        Some(SEED_REACH),
    )
    .await;
    assert_eq!(reach.status, 200, "{}", reach.text);
    assert_eq!(reach.body["rollout"]["reach"], "0.5");
    assert_eq!(reach.body["displayName"], "New Search Feature Rollout");
    // A mask naming the section replaces it: what the server had filled in and the body
    // lacks is gone.
    assert!(created.body["rollout"]["controlVariant"].is_string());
    for gone in [
        "controlVariant",
        "variantAssignmentId",
        "controlAssignmentId",
    ] {
        assert!(reach.body["rollout"].get(gone).is_none(), "{}", reach.body);
    }

    // The documented launch: no body, no content type.
    let launch = send(
        &http,
        Method::POST,
        &format!("{one}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(launch.status, 200, "{}", launch.text);
    assert_eq!(launch.body, json!({}));
    let pending = get(&http, &one).await.body;
    assert_eq!(pending["state"], "draft", "{pending}");
    let transition = &pending["pendingTransition"];
    assert_eq!(transition["targetState"], "live");
    assert!(transition["transitionAction"].is_string());
    for steps in ["succeededSteps", "failedSteps", "unprocessedSteps"] {
        assert!(transition[steps].is_array(), "{pending}");
    }
    let live = wait_live(&http, &one).await;
    assert!(live.get("pendingTransition").is_none(), "{live}");
    let result_name = result_of(&live);
    assert!(result_name.starts_with(&format!(
        "workflows/rollout/instances/{id}/analysisResults/"
    )));

    let live_list = get(&http, &format!("{list_url}?pageSize=50&filter=state:live")).await;
    assert_eq!(live_list.status, 200);
    assert_eq!(live_list.body["nextPageToken"], "");
    assert_eq!(live_list.body["rollouts"][0]["name"], live["name"]);

    let result = get(&http, &format!("{}/v2/{result_name}", emu.confidence_url())).await;
    assert_eq!(result.status, 200, "{}", result.text);
    assert_eq!(result.body["name"], result_name);
    assert_eq!(result.body["exposureFilter"], "");
    assert_v2_shape(&result.body);
    let results = result.body["results"].as_array().expect("results");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["id"], "metrics/conversion-rate");
    assert_eq!(results[0]["statsSettings"]["method"], "METHOD_Z_TEST");
    assert_eq!(results[0]["statsSettings"]["adjustedAlpha"], 0.05);
    assert_eq!(
        results[0]["result"][0]["status"]["metricType"],
        "METRIC_TYPE_SUCCESS"
    );
    assert!(
        results[0]["result"][0]["status"]["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("METRIC_RESULT_STATUS_"))
    );
    // The how-to's PATCH replaced the whole `rollout` section without the control variant
    // the server had filled in, so the comparison has no named baseline.
    assert_eq!(
        results[0]["result"][0]["groups"],
        json!({"baseline": "control", "compared": "flags/search-flag/variants/enabled"})
    );
    // Deterministic, and the how-to's `/v1` path answers the same document.
    let again = get(&http, &format!("{}/v1/{result_name}", emu.confidence_url())).await;
    assert_eq!(again.body, result.body);

    // Launching a live rollout is refused.
    let relaunch = send(
        &http,
        Method::POST,
        &format!("{one}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_confidence_error(&relaunch, 400, 9);
    emu.shutdown().await;
}

/// With `preload_examples`, every request of seed 000 works with the document's own ids,
/// in the document's order: get, list live, create, target, launch, reach, results.
#[tokio::test]
async fn seed_ids_work_in_the_documents_order_with_preloaded_examples() {
    let emu = start(EmulatorConfig {
        preload_examples: true,
        ..config()
    })
    .await;
    let http = client();
    let base = instances(&emu.confidence_url());
    let one = format!("{base}/brcdajvw7dfuod7cj9iq");

    let got = get(&http, &one).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.body["name"],
        "workflows/rollout/instances/brcdajvw7dfuod7cj9iq"
    );
    assert_eq!(got.body["displayName"], "New Search Feature Rollout");
    assert!(got.body["createTime"].is_string() && got.body["updateTime"].is_string());

    let list = get(&http, &format!("{base}?pageSize=50&filter=state:live")).await;
    assert_eq!(list.status, 200);
    assert_eq!(
        list.body["rollouts"][0]["name"],
        "workflows/rollout/instances/bnkv2onacdpvxk8cmqbm"
    );
    assert_eq!(list.body["rollouts"][0]["displayName"], "Mobile UI Update");
    assert_eq!(list.body["nextPageToken"], "");

    let created = send(&http, Method::POST, &base, Some(TOKEN), Some(SEED_CREATE)).await;
    assert_eq!(created.status, 200);

    let segment = send(
        &http,
        Method::POST,
        &format!("{one}:updateSegment"),
        Some(TOKEN),
        Some(SEED_SEGMENT),
    )
    .await;
    assert_eq!(segment.status, 200, "{}", segment.text);

    let launch = send(
        &http,
        Method::POST,
        &format!("{one}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(launch.status, 200, "{}", launch.text);
    assert_eq!(launch.body, json!({}));

    let reach = send(
        &http,
        Method::PATCH,
        &format!("{one}?updateMask=rollout"),
        Some(TOKEN),
        Some(SEED_REACH),
    )
    .await;
    assert_eq!(reach.status, 200);
    assert_eq!(
        reach.body["name"],
        "workflows/rollout/instances/brcdajvw7dfuod7cj9iq"
    );
    assert_eq!(reach.body["displayName"], "New Search Feature Rollout");

    let live = wait_live(&http, &one).await;
    // The documents' examples carry the how-to's `stats` pointer besides `explore`.
    assert_eq!(
        live["stats"]["analysisResult"],
        "workflows/rollout/instances/brcdajvw7dfuod7cj9iq/analysisResults/abc123"
    );
    assert_eq!(live["stats"]["analysisResult"], result_of(&live));
    let result = get(&http, &format!("{one}/analysisResults/abc123")).await;
    assert_eq!(result.status, 200, "{}", result.text);
    assert_eq!(
        result.body["name"],
        "workflows/rollout/instances/brcdajvw7dfuod7cj9iq/analysisResults/abc123"
    );
    assert_v2_shape(&result.body);
    assert_eq!(
        result.body["annotations"][0]["info"],
        "Analysis completed successfully"
    );
    assert_eq!(result.body["results"][0]["id"], "metrics/conversion-rate");
    assert_eq!(
        result.body["results"][0]["statsSettings"]["adjustedAlpha"],
        0.05
    );
    assert_eq!(
        result.body["results"][0]["result"][0]["status"]["metricType"],
        "METRIC_TYPE_SUCCESS"
    );
    let other = get(&http, &format!("{base}/bnkv2onacdpvxk8cmqbm"))
        .await
        .body;
    assert_eq!(other["state"], "live");
    let other_result = result_of(&other);
    assert_eq!(
        get(
            &http,
            &format!("{}/v2/{other_result}", emu.confidence_url())
        )
        .await
        .status,
        200
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn create_is_not_idempotent_and_keeps_labels() {
    let emu = start(config()).await;
    let http = client();
    let url = instances(&emu.confidence_url());
    let body = r#"{"displayName":"Same","labels":{"managed-by":"flagsync","key":"checkout"},"name":"workflows/rollout/instances/chosen"}"#;
    let a = send(&http, Method::POST, &url, Some(TOKEN), Some(body)).await;
    let b = send(&http, Method::POST, &url, Some(TOKEN), Some(body)).await;
    assert_eq!(a.status, 200);
    assert_eq!(b.status, 200);
    assert_ne!(a.body["name"], b.body["name"], "two POSTs, two rollouts");
    // The server names a rollout; a name in the body is ignored.
    assert_eq!(a.body["state"], "draft");
    assert_ne!(a.body["name"], "workflows/rollout/instances/chosen");
    // An output-only field is refused.
    let with_state = r#"{"displayName":"Same","state":"live"}"#;
    assert_confidence_error(
        &send(&http, Method::POST, &url, Some(TOKEN), Some(with_state)).await,
        400,
        3,
    );
    assert_eq!(a.body["labels"]["managed-by"], "flagsync");
    let found = get(&http, &format!("{url}?filter=labels.key%3Dcheckout")).await;
    assert_eq!(found.body["rollouts"].as_array().map(Vec::len), Some(2));
    let none = get(&http, &format!("{url}?filter=labels.key:other")).await;
    assert_eq!(none.body["rollouts"], json!([]));
    emu.shutdown().await;
}

#[tokio::test]
async fn list_pages_through_everything_once() {
    let emu = start(config()).await;
    let http = client();
    let url = instances(&emu.confidence_url());
    let mut created = Vec::new();
    for i in 0..7 {
        let body = json!({"displayName": format!("r{i}")}).to_string();
        let answer = send(&http, Method::POST, &url, Some(TOKEN), Some(&body)).await;
        created.push(answer.body["name"].clone());
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = get(&http, &format!("{url}?pageSize=3&pageToken={token}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let rollouts = page.body["rollouts"].as_array().expect("rollouts");
        assert!(rollouts.len() <= 3);
        seen.extend(rollouts.iter().map(|r| r["name"].clone()));
        pages += 1;
        token = page.body["nextPageToken"]
            .as_str()
            .expect("token")
            .to_owned();
        if token.is_empty() {
            break;
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "creation order, each once");
    let drafts = get(&http, &format!("{url}?filter=state:draft")).await;
    assert_eq!(drafts.body["rollouts"].as_array().map(Vec::len), Some(7));
    let live = get(&http, &format!("{url}?filter=state:live")).await;
    assert_eq!(live.body, json!({"rollouts": [], "nextPageToken": ""}));
    for bad in [
        "pageSize=-1",
        "pageSize=x",
        "pageToken=garbage",
        "filter=displayName:x",
    ] {
        let answer = get(&http, &format!("{url}?{bad}")).await;
        assert_confidence_error(&answer, 400, 3);
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn patch_applies_only_the_masked_blocks() {
    let emu = start(config()).await;
    let http = client();
    let url = instances(&emu.confidence_url());
    let created = send(&http, Method::POST, &url, Some(TOKEN), Some(SEED_CREATE)).await;
    let one = format!("{url}/{}", id_of(&created.body));
    let body = r#"{"displayName":"Renamed","rollout":{"flag":"flags/search-flag","reach":"0.25"},"metrics":{"metrics":[]},"labels":{"a":"b"}}"#;
    let patched = send(
        &http,
        Method::PATCH,
        &format!("{one}?updateMask=rollout.reach,displayName"),
        Some(TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["displayName"], "Renamed");
    assert_eq!(patched.body["rollout"]["reach"], "0.25");
    // Fields of the block outside the mask stay.
    assert_eq!(
        patched.body["rollout"]["variant"],
        "flags/search-flag/variants/enabled"
    );
    assert_eq!(
        patched.body["metrics"]["bucket"], "DAYS",
        "metrics not in the mask"
    );
    assert!(patched.body.get("labels").is_none());
    let patched = send(
        &http,
        Method::PATCH,
        &format!("{one}?updateMask=metrics,labels"),
        Some(TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(patched.body["metrics"], json!({"metrics": []}));
    assert_eq!(patched.body["labels"], json!({"a": "b"}));
    let before = get(&http, &one).await.body;
    for (mask, body) in [
        ("state", r#"{"state":"live"}"#),
        ("rollout", r#"{"rollout":{"reach":"1.5"}}"#),
        ("rollout", r#"{"rollout":{"reach":0.5}}"#),
        ("labels", r#"{"labels":{"a":1}}"#),
    ] {
        let answer = send(
            &http,
            Method::PATCH,
            &format!("{one}?updateMask={mask}"),
            Some(TOKEN),
            Some(body),
        )
        .await;
        assert_confidence_error(&answer, 400, 3);
    }
    assert_eq!(
        get(&http, &one).await.body,
        before,
        "refused patches change nothing"
    );
    let missing = send(
        &http,
        Method::PATCH,
        &format!("{url}/aaaaaaaaaaaaaaaaaaaa?updateMask=displayName"),
        Some(TOKEN),
        Some(r#"{"displayName":"x"}"#),
    )
    .await;
    assert_confidence_error(&missing, 404, 5);
    emu.shutdown().await;
}

#[tokio::test]
async fn update_segment_accepts_both_spellings_and_shapes() {
    let emu = start(config()).await;
    let http = client();
    let url = instances(&emu.confidence_url());
    let created = send(
        &http,
        Method::POST,
        &url,
        Some(TOKEN),
        Some(r#"{"displayName":"s"}"#),
    )
    .await;
    let one = format!("{url}/{}", id_of(&created.body));
    let wrapped = r#"{"parameters":{"updateMask":"targeting","segment":{"targeting":{"criteria":{"ios":{"attribute":{"attributeName":"os","setRule":{"values":[{"stringValue":"iOS"}]}}}},"expression":{"not":{"ref":"ios"}}}}}}"#;
    let answer = send(
        &http,
        Method::POST,
        &format!("{one}:updatesegment"),
        Some(TOKEN),
        Some(wrapped),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let segment_name = get(&http, &one).await.body["flags"]["segment"].clone();
    assert_eq!(answer.body, json!({"pathAimedToUpdate": segment_name}));
    let segment_url = format!(
        "{}/v1/{}",
        emu.confidence_url(),
        segment_name.as_str().expect("segment name")
    );
    let segment = get(&http, &segment_url).await.body;
    assert_eq!(
        segment["targeting"]["expression"],
        json!({"not": {"ref": "ios"}})
    );
    assert_eq!(segment["name"], segment_name);
    // The how-to's spelling, without the wrapper.
    let seed = SEED_SEGMENT.replace(
        "segments/pztjlarivt3tyfie5gsb",
        segment_name.as_str().unwrap_or_default(),
    );
    let answer = send(
        &http,
        Method::POST,
        &format!("{one}:updateSegment"),
        Some(TOKEN),
        Some(&seed),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let after = get(&http, &segment_url).await.body;
    assert_eq!(
        after["targeting"]["criteria"]["country"]["attribute"]["attributeName"],
        "country"
    );
    assert_eq!(after["name"], segment["name"], "the segment keeps its name");
    // The reference's spelling needs the wrapper.
    let bare = send(
        &http,
        Method::POST,
        &format!("{one}:updatesegment"),
        Some(TOKEN),
        Some(&seed),
    )
    .await;
    assert_confidence_error(&bare, 400, 3);
    // A ref to no criterion is refused, and nothing changes.
    let dangling = r#"{"updateMask":"targeting","segment":{"targeting":{"criteria":{},"expression":{"ref":"nope"}}}}"#;
    let answer = send(
        &http,
        Method::POST,
        &format!("{one}:updateSegment"),
        Some(TOKEN),
        Some(dangling),
    )
    .await;
    assert_confidence_error(&answer, 400, 3);
    assert_eq!(get(&http, &segment_url).await.body, after);
    let no_segment = send(
        &http,
        Method::POST,
        &format!("{one}:updateSegment"),
        Some(TOKEN),
        Some("{}"),
    )
    .await;
    assert_confidence_error(&no_segment, 400, 3);
    let unknown = send(
        &http,
        Method::POST,
        &format!("{one}:explode"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn analysis_results_follow_the_metrics() {
    let emu = start(config()).await;
    let http = client();
    let url = instances(&emu.confidence_url());
    let body = json!({
        "displayName": "m",
        "metrics": {"metrics": [
            {"metric": "metrics/a", "metricRole": {"metricKind": "SUCCESS"}, "preferredDirection": "INCREASE"},
            {"metric": "metrics/b", "metricRole": {"metricKind": "GUARDRAIL", "nonInferiorityMargin": 0.02}, "preferredDirection": "DECREASE"},
        ]}
    })
    .to_string();
    let created = send(&http, Method::POST, &url, Some(TOKEN), Some(&body)).await;
    let id = id_of(&created.body);
    let one = format!("{url}/{id}");
    let one_name = format!("workflows/rollout/instances/{id}");
    assert_confidence_error(
        &get(&http, &format!("{one}/analysisResults/abc123")).await,
        404,
        5,
    );
    let launch = send(
        &http,
        Method::POST,
        &format!("{one}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(launch.status, 200);
    let live = wait_live(&http, &one).await;
    assert!(
        live.get("stats").is_none(),
        "no how-to `stats` section: {live}"
    );
    let name = result_of(&live);
    let result = get(&http, &format!("{}/v2/{name}", emu.confidence_url()))
        .await
        .body;
    assert_v2_shape(&result);
    let results = result["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["id"], "metrics/a");
    assert_eq!(
        results[0]["result"][0]["status"]["metricType"],
        "METRIC_TYPE_SUCCESS"
    );
    assert_eq!(results[1]["id"], "metrics/b");
    assert_eq!(
        results[1]["result"][0]["status"]["metricType"],
        "METRIC_TYPE_GUARDRAIL"
    );
    assert_eq!(results[1]["statsSettings"]["adjustedAlpha"], 0.025);
    assert_confidence_error(
        &get(
            &http,
            &format!(
                "{}/v2/{one_name}/analysisResults/other",
                emu.confidence_url()
            ),
        )
        .await,
        404,
        5,
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_issues_accepted_tokens() {
    let emu = start(config()).await;
    let http = client();
    let token_url = format!("{}/v1/oauth/token", emu.confidence_url());
    let body = json!({"grantType": "client_credentials", "clientId": flagsync_emulator::DEFAULT_CLIENT_ID, "clientSecret": flagsync_emulator::DEFAULT_CLIENT_SECRET}).to_string();
    let issued = send(&http, Method::POST, &token_url, None, Some(&body)).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    assert_eq!(issued.body["expiresIn"], "86400");
    let token = issued.body["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    assert!(!token.is_empty());
    let rollouts = instances(&emu.confidence_url());
    let listed = send(&http, Method::GET, &rollouts, Some(&token), None).await;
    assert_eq!(listed.status, 200);
    // Issued tokens work on CloudBees routes too (one token store).
    let groups = format!("{}/applications/a/target-groups", emu.cloudbees_url());
    assert_eq!(
        send(&http, Method::GET, &groups, Some(&token), None)
            .await
            .status,
        200
    );
    let wrong = json!({"grantType": "client_credentials", "clientId": flagsync_emulator::DEFAULT_CLIENT_ID, "clientSecret": "nope"}).to_string();
    assert_confidence_error(
        &send(&http, Method::POST, &token_url, None, Some(&wrong)).await,
        401,
        16,
    );
    let grant = json!({"grantType": "password", "clientId": "a", "clientSecret": "b"}).to_string();
    assert_confidence_error(
        &send(&http, Method::POST, &token_url, None, Some(&grant)).await,
        400,
        3,
    );
    assert_confidence_error(
        &send(&http, Method::GET, &rollouts, None, None).await,
        401,
        16,
    );
    assert_confidence_error(
        &send(&http, Method::GET, &rollouts, Some("forged"), None).await,
        401,
        16,
    );
    emu.shutdown().await;
}

/// With the runtime knob `launchFailureRate`, a launch fails: `failedSteps` filled, state
/// unchanged, no stats; a new launch may then replace the failed transition.
#[tokio::test]
async fn a_failed_launch_keeps_the_state_and_can_be_retried() {
    let emu = start(config()).await;
    let http = client();
    let faults = format!("{}/_emulator/faults", emu.base_url());
    let set = send(
        &http,
        Method::PUT,
        &faults,
        None,
        Some(r#"{"launchFailureRate": 1.0}"#),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    let url = instances(&emu.confidence_url());
    let created = send(&http, Method::POST, &url, Some(TOKEN), Some(SEED_CREATE)).await;
    let one = format!("{url}/{}", id_of(&created.body));
    let launch = send(
        &http,
        Method::POST,
        &format!("{one}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(launch.status, 200);
    let mut last = Value::Null;
    let failed = eventually(Duration::from_secs(10), async || {
        last = get(&http, &one).await.body;
        last["pendingTransition"]["failedSteps"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    })
    .await;
    assert!(failed, "{last}");
    assert_eq!(last["state"], "draft");
    assert!(last.get("explore").is_none());
    let step = &last["pendingTransition"]["failedSteps"][0];
    assert!(
        step["actionStep"].is_string() && step["failuresMessages"][0].is_string(),
        "{last}"
    );

    let set = send(
        &http,
        Method::PUT,
        &faults,
        None,
        Some(r#"{"launchFailureRate": 0}"#),
    )
    .await;
    assert_eq!(set.status, 200);
    let again = send(
        &http,
        Method::POST,
        &format!("{one}:launch"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text);
    let live = wait_live(&http, &one).await;
    assert!(live.get("pendingTransition").is_none());
    assert!(!result_of(&live).is_empty());
    let bad = send(
        &http,
        Method::PUT,
        &faults,
        None,
        Some(r#"{"launchFailureRate": 2}"#),
    )
    .await;
    assert_eq!(bad.status, 400);
    emu.shutdown().await;
}
