//! CloudBees Feature Management over real HTTP: the seed documents' requests exactly as
//! written (host swapped), and the service's quirks.

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

/// Seed 002: every request of the experiments document, in its order, bodies verbatim.
#[tokio::test]
async fn seed_experiment_requests_work_as_written() {
    let emu = start(config()).await;
    let http = client();
    let base = format!(
        "{}/applications/1a23bcd4e5fg6h7890i123j4/Production/experiments",
        emu.cloudbees_url()
    );
    let one = format!("{base}/acmeFlagControl");

    let list = send(&http, Method::GET, &base, Some(SEED_TOKEN), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body, json!([]));

    let put = send(
        &http,
        Method::PUT,
        &base,
        Some(SEED_TOKEN),
        Some(r#"{"type":"experiment","apiVersion":"1.0","flag":"acmeFlagControl","name":"acmeExperimentFoo","description":"Applies foo to our Nifty App","enabled":true,"labels":"do-not-merge","stickinessProperty":"fixed"}"#),
    )
    .await;
    assert!(put.status.is_success(), "{}", put.text);

    let got = send(&http, Method::GET, &one, Some(SEED_TOKEN), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["flag"], "acmeFlagControl");
    // The service ignores the experiment name: the flag is the only entity.
    assert_eq!(got.body["name"], "acmeFlagControl");
    assert_eq!(got.body["labels"], "do-not-merge");
    assert_eq!(got.body["stickinessProperty"], "fixed");

    // Quirk: no release rule, so the list hides it although it exists.
    let list = send(&http, Method::GET, &base, Some(SEED_TOKEN), None).await;
    assert_eq!(list.body, json!([]));

    // The document's patch: a slash-less path, and a `from` on an `add`.
    let patch = send(
        &http,
        Method::PATCH,
        &one,
        Some(SEED_TOKEN),
        Some(r#"[{"op":"add","path":"devPath","value":"baz","from":"fooBar"}]"#),
    )
    .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    let got = send(&http, Method::GET, &one, Some(SEED_TOKEN), None).await;
    assert_eq!(got.body["devPath"], "baz");

    let deleted = send(&http, Method::DELETE, &one, Some(SEED_TOKEN), None).await;
    assert!(deleted.status.is_success(), "{}", deleted.text);
    let gone = send(&http, Method::GET, &one, Some(SEED_TOKEN), None).await;
    assert_cloudbees_error(&gone, 404);
    let again = send(&http, Method::DELETE, &one, Some(SEED_TOKEN), None).await;
    assert_cloudbees_error(&again, 404);
    emu.shutdown().await;
}

/// Seed 003: every request of the target-groups document, bodies verbatim.
#[tokio::test]
async fn seed_target_group_requests_work_as_written() {
    let emu = start(config()).await;
    let http = client();
    let base = format!(
        "{}/applications/1a23bcd4e5fg6h7890i123j4/target-groups",
        emu.cloudbees_url()
    );
    let foo = format!("{base}/fooGroup");

    let list = send(&http, Method::GET, &base, Some(SEED_TOKEN), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body, json!([]));

    let put = send(
        &http,
        Method::PUT,
        &base,
        Some(SEED_TOKEN),
        Some(r#"{"conditions":[{"operator":"is-true","property":"Foo","operand":"run"}],"apiVersion":"1.0","type":"target-group","name":"tg","description":"tg desc","operator":"or","value":"0"}"#),
    )
    .await;
    assert!(put.status.is_success(), "{}", put.text);
    let list = send(&http, Method::GET, &base, Some(SEED_TOKEN), None).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    assert_eq!(list.body[0]["name"], "tg");
    assert_eq!(list.body[0]["operator"], "or");
    assert_eq!(list.body[0]["conditions"][0]["property"], "Foo");

    // The document reads, patches and deletes `fooGroup`; it must exist first.
    let missing = send(&http, Method::GET, &foo, Some(SEED_TOKEN), None).await;
    assert_cloudbees_error(&missing, 404);
    let put = send(
        &http,
        Method::PUT,
        &base,
        Some(SEED_TOKEN),
        Some(r#"{"type":"target-group","name":"fooGroup","description":"tg desc","operator":"or","conditions":[{"operator":"is-true","property":"Foo"}]}"#),
    )
    .await;
    assert!(put.status.is_success(), "{}", put.text);

    let got = send(&http, Method::GET, &foo, Some(SEED_TOKEN), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "fooGroup");

    let patch = send(
        &http,
        Method::PATCH,
        &foo,
        Some(SEED_TOKEN),
        Some(r#"[{"op":"add","path":"acmePath","value":"baz","from":"fooBar"}]"#),
    )
    .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    assert_eq!(patch.body["acmePath"], "baz");

    let deleted = send(&http, Method::DELETE, &foo, Some(SEED_TOKEN), None).await;
    assert!(deleted.status.is_success());
    let gone = send(&http, Method::GET, &foo, Some(SEED_TOKEN), None).await;
    assert_cloudbees_error(&gone, 404);
    emu.shutdown().await;
}

/// With `preload_examples`, the documents' GET/PATCH/DELETE of `fooGroup` work on their own.
#[tokio::test]
async fn preloaded_examples_answer_the_documents_reads() {
    let emu = start(flagsync_emulator::EmulatorConfig {
        preload_examples: true,
        ..flagsync_emulator::EmulatorConfig::default()
    })
    .await;
    let http = client();
    let url = format!(
        "{}/applications/1a23bcd4e5fg6h7890i123j4/target-groups/fooGroup",
        emu.cloudbees_url()
    );
    let got = send(&http, Method::GET, &url, Some(SEED_TOKEN), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["conditions"][0]["operator"], "is-true");
    let exp = format!(
        "{}/applications/1a23bcd4e5fg6h7890i123j4/Production/experiments/acmeFlagControl",
        emu.cloudbees_url()
    );
    assert_eq!(
        send(&http, Method::GET, &exp, Some(SEED_TOKEN), None)
            .await
            .status,
        200
    );
    emu.shutdown().await;
}

fn experiment(flag: &str, extra: Value) -> String {
    let mut body = json!({"type": "experiment", "flag": flag, "name": "ignored", "enabled": true});
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    body.to_string()
}

#[tokio::test]
async fn list_shows_only_experiments_with_a_release_rule() {
    let emu = start(config()).await;
    let http = client();
    let base = format!(
        "{}/applications/app1/Production/experiments",
        emu.cloudbees_url()
    );
    let cases = [
        ("plain", json!({"value": true})),
        ("empty-rules", json!({"conditions": [], "platforms": []})),
        (
            "conditional",
            json!({"conditions": [{"group": {"name": "beta"}, "value": true}]}),
        ),
        (
            "per-platform",
            json!({"platforms": [{"name": "iOS", "value": false}]}),
        ),
        (
            "split",
            json!({"value": [{"option": true, "percentage": 30}]}),
        ),
        (
            "scheduled",
            json!({"value": [{"from": "2024-01-01T00:00:00Z", "percentage": 10, "option": true}]}),
        ),
    ];
    for (flag, extra) in cases {
        let put = send(
            &http,
            Method::PUT,
            &base,
            Some(TOKEN),
            Some(&experiment(flag, extra)),
        )
        .await;
        assert_eq!(put.status, 200, "{}", put.text);
    }
    let list = get(&http, &base).await;
    let mut flags: Vec<&str> = list
        .body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["flag"].as_str())
        .collect();
    flags.sort_unstable();
    assert_eq!(flags, ["conditional", "per-platform", "scheduled", "split"]);
    // Hidden ones still answer a GET of their own.
    assert_eq!(get(&http, &format!("{base}/plain")).await.status, 200);
    // Environments are separate.
    let other = get(
        &http,
        &format!(
            "{}/applications/app1/Staging/experiments",
            emu.cloudbees_url()
        ),
    )
    .await;
    assert_eq!(other.body, json!([]));
    emu.shutdown().await;
}

#[tokio::test]
async fn put_overrides_by_flag_and_patch_is_atomic_with_test() {
    let emu = start(config()).await;
    let http = client();
    let base = format!(
        "{}/applications/app1/Production/experiments",
        emu.cloudbees_url()
    );
    let one = format!("{base}/checkout");
    let body = experiment(
        "checkout",
        json!({"description": "v1", "conditions": [{"value": true}]}),
    );
    assert_eq!(
        send(&http, Method::PUT, &base, Some(TOKEN), Some(&body))
            .await
            .status,
        200
    );
    let body = experiment(
        "checkout",
        json!({"description": "v2", "conditions": [{"value": false}]}),
    );
    assert_eq!(
        send(&http, Method::PUT, &base, Some(TOKEN), Some(&body))
            .await
            .status,
        200
    );
    let list = get(&http, &base).await;
    assert_eq!(
        list.body.as_array().map(Vec::len),
        Some(1),
        "override, not a second one"
    );
    assert_eq!(list.body[0]["description"], "v2");
    assert_eq!(list.body[0]["name"], "checkout");

    // A patch whose test passes applies every operation.
    let ok = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"test","path":"/description","value":"v2"},{"op":"replace","path":"/description","value":"v3"},{"op":"add","path":"/conditions/0","value":{"value":"x"}}]"#),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["description"], "v3");
    assert_eq!(ok.body["conditions"].as_array().map(Vec::len), Some(2));

    let before = get(&http, &one).await.body;
    // A failed test: 409 and nothing changes, not even the operations before it.
    let conflict = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"replace","path":"/enabled","value":false},{"op":"test","path":"/description","value":"v2"},{"op":"replace","path":"/description","value":"v4"}]"#),
    )
    .await;
    assert_cloudbees_error(&conflict, 409);
    // A test of a path that no longer exists is a failed test too.
    let conflict = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"test","path":"/gone","value":1}]"#),
    )
    .await;
    assert_cloudbees_error(&conflict, 409);
    // Missing path: 400.
    let missing = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"replace","path":"/enabled","value":false},{"op":"remove","path":"/no/such/path"}]"#),
    )
    .await;
    assert_cloudbees_error(&missing, 400);
    // Malformed patches: 400.
    for bad in [
        r#"{"op":"add","path":"/a","value":1}"#,
        r#"[{"op":"frobnicate","path":"/a"}]"#,
        r#"[{"op":"add","value":1}]"#,
        r#"[1]"#,
        r#"[{"op":"move","from":"/nope","path":"/x"}]"#,
    ] {
        let answer = send(&http, Method::PATCH, &one, Some(TOKEN), Some(bad)).await;
        assert_cloudbees_error(&answer, 400);
    }
    // The flag identifies the experiment: patching it is refused.
    let rename = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"replace","path":"/flag","value":"other"}]"#),
    )
    .await;
    assert_cloudbees_error(&rename, 400);
    // The name stays the flag.
    let renamed = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"replace","path":"/name","value":"pretty"}]"#),
    )
    .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.body["name"], "checkout");
    assert_eq!(get(&http, &one).await.body, before);
    // Unknown flag: 404.
    let unknown = send(
        &http,
        Method::PATCH,
        &format!("{base}/nope"),
        Some(TOKEN),
        Some("[]"),
    )
    .await;
    assert_cloudbees_error(&unknown, 404);
    emu.shutdown().await;
}

#[tokio::test]
async fn put_validates_its_body() {
    let emu = start(config()).await;
    let http = client();
    let base = format!(
        "{}/applications/app1/Production/experiments",
        emu.cloudbees_url()
    );
    for bad in [
        r#"{"flag":"x"}"#,                       // type is required
        r#"{"type":"target-group","flag":"x"}"#, // wrong type
        r#"{"type":"experiment"}"#,              // no flag
        r#"{"type":"experiment","flag":""}"#,    // empty flag
        r#"{"type":"experiment","flag":7}"#,     // not a string
        r#"[]"#,                                 // not an object
    ] {
        let answer = send(&http, Method::PUT, &base, Some(TOKEN), Some(bad)).await;
        assert_cloudbees_error(&answer, 400);
    }
    let groups = format!("{}/applications/app1/target-groups", emu.cloudbees_url());
    for bad in [
        r#"{"type":"experiment","name":"x"}"#,
        r#"{"description":"no name"}"#,
    ] {
        let answer = send(&http, Method::PUT, &groups, Some(TOKEN), Some(bad)).await;
        assert_cloudbees_error(&answer, 400);
    }
    assert_eq!(get(&http, &groups).await.body, json!([]));
    emu.shutdown().await;
}

#[tokio::test]
async fn target_group_patch_and_identity() {
    let emu = start(config()).await;
    let http = client();
    let base = format!("{}/applications/app1/target-groups", emu.cloudbees_url());
    let put = send(
        &http,
        Method::PUT,
        &base,
        Some(TOKEN),
        Some(r#"{"type":"target-group","name":"beta","operator":"and","conditions":[]}"#),
    )
    .await;
    assert_eq!(put.status, 200);
    let one = format!("{base}/beta");
    let conflict = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"test","path":"/operator","value":"or"},{"op":"replace","path":"/operator","value":"or"}]"#),
    )
    .await;
    assert_cloudbees_error(&conflict, 409);
    let ok = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"test","path":"/operator","value":"and"},{"op":"add","path":"/conditions/-","value":{"property":"tier","operator":"eq","operand":"gold"}}]"#),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.body["conditions"][0]["operand"], "gold");
    let rename = send(
        &http,
        Method::PATCH,
        &one,
        Some(TOKEN),
        Some(r#"[{"op":"replace","path":"/name","value":"gamma"}]"#),
    )
    .await;
    assert_cloudbees_error(&rename, 400);
    emu.shutdown().await;
}

/// Names with spaces, `/` (as %2F), `%`, `&`, `#`, `.` and non-ASCII letters round-trip, and
/// an encoded `/` is not mistaken for a path separator.
#[tokio::test]
async fn percent_encoded_names() {
    let emu = start(config()).await;
    let http = client();
    let names = [
        ("new checkout", "new%20checkout"),
        ("a/b", "a%2Fb"),
        ("100% & more #1", "100%25%20%26%20more%20%231"),
        ("Größe.ß", "Gr%C3%B6%C3%9Fe.%C3%9F"),
        ("plus+sign", "plus+sign"),
    ];
    let env = "Prod%2FEU";
    let base = format!(
        "{}/applications/app%2F1/{env}/experiments",
        emu.cloudbees_url()
    );
    for (flag, encoded) in names {
        let body = experiment(flag, json!({"conditions": [{"value": true}]}));
        let put = send(&http, Method::PUT, &base, Some(TOKEN), Some(&body)).await;
        assert_eq!(put.status, 200, "{}", put.text);
        let got = get(&http, &format!("{base}/{encoded}")).await;
        assert_eq!(got.status, 200, "{flag}: {}", got.text);
        assert_eq!(got.body["flag"], flag);
    }
    // "a" alone does not exist, and /a/b is a different (unknown) route, not flag "a/b".
    assert_cloudbees_error(&get(&http, &format!("{base}/a")).await, 404);
    let split = get(&http, &format!("{base}/a/b")).await;
    assert_eq!(split.status, 404);
    assert_eq!(
        get(&http, &base).await.body.as_array().map(Vec::len),
        Some(names.len())
    );

    let groups = format!("{}/applications/app%2F1/target-groups", emu.cloudbees_url());
    let put = send(
        &http,
        Method::PUT,
        &groups,
        Some(TOKEN),
        Some(r#"{"type":"target-group","name":"QA / Beta testers & #1 ü","conditions":[]}"#),
    )
    .await;
    assert_eq!(put.status, 200);
    let encoded = "QA%20%2F%20Beta%20testers%20%26%20%231%20%C3%BC";
    let got = get(&http, &format!("{groups}/{encoded}")).await;
    assert_eq!(got.status, 200, "{}", got.text);
    let deleted = send(
        &http,
        Method::DELETE,
        &format!("{groups}/{encoded}"),
        Some(TOKEN),
        None,
    )
    .await;
    assert!(deleted.status.is_success());
    assert_cloudbees_error(&get(&http, &format!("{groups}/{encoded}")).await, 404);
    // An encoding that is not UTF-8 is a clear 400, not a panic.
    let bad = get(&http, &format!("{base}/%FF%FE")).await;
    assert_cloudbees_error(&bad, 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_or_missing_token_is_401() {
    let emu = start(config()).await;
    let http = client();
    let url = format!("{}/applications/app1/target-groups", emu.cloudbees_url());
    let none = send(&http, Method::GET, &url, None, None).await;
    assert_cloudbees_error(&none, 401);
    let wrong = send(&http, Method::GET, &url, Some("not-a-token"), None).await;
    assert_cloudbees_error(&wrong, 401);
    // A rejected write changes nothing.
    let put = send(
        &http,
        Method::PUT,
        &url,
        Some("not-a-token"),
        Some(r#"{"type":"target-group","name":"x"}"#),
    )
    .await;
    assert_cloudbees_error(&put, 401);
    assert_eq!(get(&http, &url).await.body, json!([]));
    emu.shutdown().await;
}

/// Over N requests per second per caller IP the service answers HTTP 555.
#[tokio::test]
async fn rate_limit_answers_555() {
    let emu = start(flagsync_emulator::EmulatorConfig {
        cloudbees_requests_per_second: Some(2),
        ..config()
    })
    .await;
    let http = client();
    let url = format!("{}/applications/app1/target-groups", emu.cloudbees_url());
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(get(&http, &url).await.status.as_u16());
    }
    // At most 2 pass within a second: twenty quick requests cannot all pass, and only
    // 200 or 555 come back.
    assert!(statuses.contains(&555), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 555),
        "{statuses:?}"
    );
    let over = loop {
        let answer = get(&http, &url).await;
        if answer.status.as_u16() == 555 {
            break answer;
        }
    };
    assert_cloudbees_error(&over, 555);
    // Confidence is not limited.
    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    for _ in 0..5 {
        assert_eq!(get(&http, &rollouts).await.status, 200);
    }
    // A client that waits gets through again.
    assert!(
        eventually(std::time::Duration::from_secs(5), async || get(&http, &url)
            .await
            .status
            == 200)
        .await
    );
    emu.shutdown().await;
}

/// The reads CloudBees' Jenkins plugin calls (api-notes section 3): applications, an
/// application's environments, and every flag of an environment in the experiment shape.
#[tokio::test]
async fn applications_environments_and_every_flag_of_an_environment() {
    let emu = start(config()).await;
    let http = client();
    let api = emu.cloudbees_url();
    let default_app = flagsync_emulator::CLOUDBEES_DEFAULT_APPLICATION_ID;

    let apps = get(&http, &format!("{api}/applications")).await;
    assert_eq!(apps.status, 200, "{}", apps.text);
    assert_eq!(
        apps.body,
        json!([{"id": default_app, "name": flagsync_emulator::CLOUDBEES_DEFAULT_APPLICATION_NAME}])
    );

    let envs = get(&http, &format!("{api}/applications/app1/environments")).await;
    assert_eq!(envs.status, 200, "{}", envs.text);
    let names: Vec<&str> = envs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, flagsync_emulator::CLOUDBEES_DEFAULT_ENVIRONMENTS);
    let key = envs.body[0]["key"].as_str().unwrap();
    assert_eq!(key.len(), 24);
    assert_eq!(envs.body[0]["description"], "");

    // One flag with a release rule, one without: the experiments list shows one, the flags
    // list both.
    let experiments = format!("{api}/applications/app1/Production/experiments");
    for body in [
        r#"{"type":"experiment","flag":"ruled","conditions":[{"value":true}]}"#,
        r#"{"type":"experiment","flag":"plain","value":true}"#,
    ] {
        let put = send(&http, Method::PUT, &experiments, Some(TOKEN), Some(body)).await;
        assert!(put.status.is_success(), "{}", put.text);
    }
    let listed = get(&http, &experiments).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let flags = get(&http, &format!("{api}/applications/app1/Production/flags")).await;
    assert_eq!(flags.status, 200, "{}", flags.text);
    let plain = get(&http, &format!("{experiments}/plain")).await;
    let ruled = get(&http, &format!("{experiments}/ruled")).await;
    assert_eq!(flags.body, json!([plain.body, ruled.body]));
    // An environment nothing was written to lists no flags.
    let none = get(&http, &format!("{api}/applications/app1/Development/flags")).await;
    assert_eq!(none.body, json!([]));

    // A write to another environment makes it one of the application's; the application
    // is listed once it holds something.
    let put = send(
        &http,
        Method::PUT,
        &format!("{api}/applications/app1/QA/experiments"),
        Some(TOKEN),
        Some(r#"{"type":"experiment","flag":"x"}"#),
    )
    .await;
    assert!(put.status.is_success(), "{}", put.text);
    let envs = get(&http, &format!("{api}/applications/app1/environments")).await;
    assert_eq!(envs.body.as_array().unwrap().len(), 4);
    assert_eq!(envs.body[3]["name"], "QA");
    let apps = get(&http, &format!("{api}/applications")).await;
    assert_eq!(apps.body[1], json!({"id": "app1", "name": "app1"}));

    // The reads need the token like every other route.
    let refused = send(
        &http,
        Method::GET,
        &format!("{api}/applications"),
        None,
        None,
    )
    .await;
    assert_cloudbees_error(&refused, 401);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_control_endpoint_names_an_application_and_sets_its_environments() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.base_url();
    let set = send(
        &http,
        Method::PUT,
        &format!("{base}/_emulator/cloudbees/applications/web"),
        None,
        Some(r#"{"name": "Web shop", "environments": ["prod", "dev"]}"#),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(
        set.body,
        json!({"id": "web", "name": "Web shop", "environments": ["prod", "dev"]})
    );
    let api = emu.cloudbees_url();
    let envs = get(&http, &format!("{api}/applications/web/environments")).await;
    let names: Vec<&str> = envs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod", "dev"]);
    let apps = get(&http, &format!("{api}/applications")).await;
    assert_eq!(apps.body[1], json!({"id": "web", "name": "Web shop"}));
    let bad = send(
        &http,
        Method::PUT,
        &format!("{base}/_emulator/cloudbees/applications/web"),
        None,
        Some(r#"{"environments": "prod"}"#),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    emu.shutdown().await;
}

/// A deployment without the plugin's read routes: 404 in the CloudBees error shape, and
/// the seed routes still served.
#[tokio::test]
async fn without_the_read_routes_they_answer_404() {
    let emu = start(flagsync_emulator::EmulatorConfig {
        cloudbees_seed_routes_only: true,
        ..config()
    })
    .await;
    let http = client();
    let api = emu.cloudbees_url();
    for path in [
        "/applications",
        "/applications/app1/environments",
        "/applications/app1/Production/flags",
    ] {
        let answer = get(&http, &format!("{api}{path}")).await;
        assert_cloudbees_error(&answer, 404);
    }
    let list = get(
        &http,
        &format!("{api}/applications/app1/Production/experiments"),
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
    emu.shutdown().await;
}
