//! State in a directory survives restarts, a crash's leftovers, and stays fast at 1,000+
//! resources.

use std::time::Duration;

use crate::common::*;
use flagsync_emulator::{EmulatorConfig, EmulatorError};
use reqwest::Method;
use serde_json::json;

fn persistent(dir: &std::path::Path) -> EmulatorConfig {
    EmulatorConfig {
        state_dir: Some(dir.to_path_buf()),
        ..config()
    }
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = client();
    let (rollout, launched, pending) = {
        let emu = start(EmulatorConfig {
            // Long enough that the second launch is still pending at shutdown.
            launch_duration: Duration::from_secs(600),
            // Dropped without shutdown below: every answered write must already be on disk.
            sync_writes: true,
            ..persistent(dir.path())
        })
        .await;
        let cb = emu.cloudbees_url();
        let put = send(
            &http,
            Method::PUT,
            &format!("{cb}/applications/app1/Production/experiments"),
            Some(TOKEN),
            Some(r#"{"type":"experiment","flag":"a/b ü","conditions":[{"value":true}]}"#),
        )
        .await;
        assert_eq!(put.status, 200);
        let put = send(
            &http,
            Method::PUT,
            &format!("{cb}/applications/app1/target-groups"),
            Some(TOKEN),
            Some(r#"{"type":"target-group","name":"beta","conditions":[]}"#),
        )
        .await;
        assert_eq!(put.status, 200);
        let url = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
        let created = send(
            &http,
            Method::POST,
            &url,
            Some(TOKEN),
            Some(r#"{"displayName":"kept","labels":{"k":"v"}}"#),
        )
        .await;
        let pending = send(
            &http,
            Method::POST,
            &url,
            Some(TOKEN),
            Some(r#"{"displayName":"pending"}"#),
        )
        .await;
        let pending_name = pending.body["name"].as_str().expect("name").to_owned();
        let launch = send(
            &http,
            Method::POST,
            &format!("{}/v1/{pending_name}:launch", emu.confidence_url()),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(launch.status, 200);
        (created.body, url, pending_name)
        // Dropped here without shutdown, as in a crash: only answered writes count.
    };
    let emu = start(persistent(dir.path())).await;
    let cb = emu.cloudbees_url();
    let got = get(
        &http,
        &format!("{cb}/applications/app1/Production/experiments/a%2Fb%20%C3%BC"),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        get(&http, &format!("{cb}/applications/app1/target-groups/beta"))
            .await
            .status,
        200
    );
    let url = launched.replace(
        launched.split("/v1/").next().unwrap_or_default(),
        &emu.confidence_url(),
    );
    let name = rollout["name"].as_str().expect("name");
    let again = get(&http, &format!("{}/v1/{name}", emu.confidence_url())).await;
    assert_eq!(again.body, rollout, "same rollout, same fields");
    let list = get(&http, &url).await;
    assert_eq!(list.body["rollouts"].as_array().map(Vec::len), Some(2));
    // The launch interrupted by the restart completes now.
    let pending_url = format!("{}/v1/{pending}", emu.confidence_url());
    let mut last = json!(null);
    let live = eventually(Duration::from_secs(10), async || {
        last = get(&http, &pending_url).await.body;
        last["state"] == "live"
    })
    .await;
    assert!(live, "{last}");
    // Creating after a restart still gives fresh ids.
    let created = send(&http, Method::POST, &url, Some(TOKEN), Some("{}")).await;
    assert_eq!(
        get(&http, &url).await.body["rollouts"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_ne!(created.body["name"], rollout["name"]);
    emu.shutdown().await;
}

#[tokio::test]
async fn a_crash_leftover_is_ignored_and_a_broken_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let emu = start(persistent(dir.path())).await;
        let put = send(
            &client(),
            Method::PUT,
            &format!("{}/applications/a/target-groups", emu.cloudbees_url()),
            Some(TOKEN),
            Some(r#"{"type":"target-group","name":"kept"}"#),
        )
        .await;
        assert_eq!(put.status, 200);
        emu.shutdown().await;
    }
    // A crash during a write leaves at most a partial temporary file next to the state.
    let state = dir.path().join("emulator-state.json");
    std::fs::write(
        dir.path().join("emulator-state.json.tmp"),
        b"{\"cloudbees\": {\"a\": ",
    )
    .expect("write");
    let emu = start(persistent(dir.path())).await;
    let got = get(
        &client(),
        &format!("{}/applications/a/target-groups/kept", emu.cloudbees_url()),
    )
    .await;
    assert_eq!(got.status, 200);
    emu.shutdown().await;

    // A state file that is not ours is refused, and left alone.
    std::fs::write(&state, b"not json").expect("write");
    let error = flagsync_emulator::start(persistent(dir.path()), loopback())
        .await
        .expect_err("refuses a broken state file");
    assert!(
        matches!(error, EmulatorError::CorruptState { .. }),
        "{error:?}"
    );
    assert_eq!(std::fs::read(&state).expect("read"), b"not json");

    // A file from a newer emulator is not silently rewritten in an older format.
    std::fs::write(&state, br#"{"formatVersion": 99}"#).expect("write");
    let error = flagsync_emulator::start(persistent(dir.path()), loopback())
        .await
        .expect_err("refuses a newer format");
    assert!(
        matches!(error, EmulatorError::NewerState { version: 99, .. }),
        "{error:?}"
    );
}

/// A link planted at the state file's name is not read; one at its temporary file's name
/// is not written through.
#[cfg(unix)]
#[tokio::test]
async fn links_at_the_state_files_are_never_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    let target = outside.path().join("target");
    std::fs::write(&target, b"elsewhere").expect("write");
    let state = dir.path().join("emulator-state.json");
    std::os::unix::fs::symlink(&target, &state).expect("link");
    let error = flagsync_emulator::start(persistent(dir.path()), loopback())
        .await
        .expect_err("refuses a linked state file");
    assert!(
        matches!(
            error,
            EmulatorError::StateFileKind {
                what: "a symbolic link",
                ..
            }
        ),
        "{error:?}"
    );
    std::fs::remove_file(&state).expect("remove");

    let emu = start(EmulatorConfig {
        sync_writes: true,
        ..persistent(dir.path())
    })
    .await;
    // Planted once the emulator runs: it clears leftovers at its start.
    std::os::unix::fs::symlink(&target, dir.path().join("emulator-state.json.tmp")).expect("link");
    let put = send(
        &client(),
        Method::PUT,
        &format!("{}/applications/a/target-groups", emu.cloudbees_url()),
        Some(TOKEN),
        Some(r#"{"type":"target-group","name":"kept"}"#),
    )
    .await;
    assert_eq!(put.status, 200);
    emu.shutdown().await;
    assert_eq!(std::fs::read(&target).expect("read"), b"elsewhere");
    let meta = std::fs::symlink_metadata(&state).expect("state written");
    assert!(meta.file_type().is_file());
    assert!(
        std::fs::read_to_string(&state)
            .expect("read")
            .contains("kept")
    );
}

/// 1,000 experiments and 50 rollouts written through a persistent emulator, then read back
/// after a restart. Bounded by the test harness's time, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_writes_persist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = start(persistent(dir.path())).await;
    let http = client();
    let experiments = format!(
        "{}/applications/app1/Production/experiments",
        emu.cloudbees_url()
    );
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let http = http.clone();
        let experiments = experiments.clone();
        tasks.spawn(async move {
            for i in (worker..1000).step_by(8) {
                let body = json!({"type": "experiment", "flag": format!("flag-{i:04}"), "conditions": [{"value": i % 2 == 0}]}).to_string();
                let answer = send(&http, Method::PUT, &experiments, Some(TOKEN), Some(&body)).await;
                assert_eq!(answer.status, 200, "{}", answer.text);
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("writer task");
    }
    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    for i in 0..50 {
        let body = json!({"displayName": format!("r{i}")}).to_string();
        assert_eq!(
            send(&http, Method::POST, &rollouts, Some(TOKEN), Some(&body))
                .await
                .status,
            200
        );
    }
    emu.shutdown().await;

    let emu = start(persistent(dir.path())).await;
    let experiments = format!(
        "{}/applications/app1/Production/experiments",
        emu.cloudbees_url()
    );
    assert_eq!(
        get(&http, &experiments).await.body.as_array().map(Vec::len),
        Some(1000)
    );
    let rollouts = format!(
        "{}/v1/workflows/rollout/instances?pageSize=1000",
        emu.confidence_url()
    );
    assert_eq!(
        get(&http, &rollouts).await.body["rollouts"]
            .as_array()
            .map(Vec::len),
        Some(50)
    );
    emu.shutdown().await;
}

/// The synchronous embedding: its own thread and runtime, state written when dropped.
#[test]
fn background_emulator_serves_and_persists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let emu = flagsync_emulator::spawn_background(persistent(dir.path())).expect("spawned");
    assert!(emu.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        emu.cloudbees_url(),
        format!("{}/public-api", emu.base_url())
    );
    assert_eq!(emu.confidence_url(), emu.base_url());
    let url = format!("{}/applications/a/target-groups", emu.cloudbees_url());
    runtime.block_on(async {
        let put = send(
            &client(),
            Method::PUT,
            &url,
            Some(TOKEN),
            Some(r#"{"name":"g"}"#),
        )
        .await;
        assert_eq!(put.status, 200);
    });
    drop(emu);
    let emu = flagsync_emulator::spawn_background(persistent(dir.path())).expect("spawned");
    let url = format!("{}/applications/a/target-groups/g", emu.cloudbees_url());
    runtime.block_on(async {
        assert_eq!(get(&client(), &url).await.status, 200);
    });
    emu.shutdown();
}

#[test]
fn config_debug_redacts_secrets() {
    let config = EmulatorConfig {
        tokens: vec!["tok-very-secret".to_owned()],
        client_credentials: vec![("client".to_owned(), "secret-very-secret".to_owned())],
        ..EmulatorConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("very-secret"), "{shown}");
    assert!(shown.contains("client"));
}

/// `{"flag": NAME, "deep": [[…]]}` nesting `depth` levels in all (the object is one).
fn nested(flag: &str, depth: usize) -> String {
    let arrays = depth - 1;
    format!(
        r#"{{"type":"experiment","flag":"{flag}","name":"{flag}","deep":{}{}}}"#,
        "[".repeat(arrays),
        "]".repeat(arrays)
    )
}

#[tokio::test]
async fn what_was_accepted_at_the_depth_limit_loads_again() {
    use flagsync_emulator::MAX_BODY_DEPTH;
    let dir = tempfile::tempdir().expect("tempdir");
    let http = client();
    let emu = start(persistent(dir.path())).await;
    let cb = emu.cloudbees_url();
    let experiments = format!("{cb}/applications/app1/Production/experiments");
    let put = |body: String| {
        let (http, url) = (http.clone(), experiments.clone());
        async move { send(&http, Method::PUT, &url, Some(TOKEN), Some(&body)).await }
    };
    assert_eq!(put(nested("at-limit", MAX_BODY_DEPTH)).await.status, 200);
    // Deeper bodies (124 levels made the state file unreadable) are refused.
    for depth in [MAX_BODY_DEPTH + 1, 124] {
        assert_cloudbees_error(&put(nested("too-deep", depth)).await, 400);
    }
    // A patch cannot grow an object past the limit either, one level at a time.
    assert_eq!(put(nested("grown", 2)).await.status, 200);
    let mut path = "/deep".to_owned();
    let mut refused = None;
    for level in 3..=MAX_BODY_DEPTH + 1 {
        let patch = format!(r#"[{{"op":"add","path":"{path}/-","value":[]}}]"#);
        let answer = send(
            &http,
            Method::PATCH,
            &format!("{experiments}/grown"),
            Some(TOKEN),
            Some(&patch),
        )
        .await;
        if answer.status != 200 {
            assert_cloudbees_error(&answer, 400);
            refused = Some(level);
            break;
        }
        path.push_str("/0");
    }
    assert_eq!(refused, Some(MAX_BODY_DEPTH + 1));
    // The same for a rollout and its segment.
    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    let deep_labels = |depth: usize| {
        // The data sections are objects; what nests inside one is the service's business.
        format!(
            r#"{{"displayName":"d","flags":{{"nested":{}{}}}}}"#,
            "[".repeat(depth - 2),
            "]".repeat(depth - 2)
        )
    };
    let created = send(
        &http,
        Method::POST,
        &rollouts,
        Some(TOKEN),
        Some(&deep_labels(MAX_BODY_DEPTH)),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let refused = send(
        &http,
        Method::POST,
        &rollouts,
        Some(TOKEN),
        Some(&deep_labels(MAX_BODY_DEPTH + 1)),
    )
    .await;
    assert_confidence_error(&refused, 400, 3);
    emu.shutdown().await;

    // The state file holds the deepest objects accepted, and reads back.
    let emu = start(persistent(dir.path())).await;
    let cb = emu.cloudbees_url();
    let listed = get(
        &http,
        &format!("{cb}/applications/app1/Production/experiments/at-limit"),
    )
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let grown = get(
        &http,
        &format!("{cb}/applications/app1/Production/experiments/grown"),
    )
    .await;
    assert_eq!(grown.status, 200, "{}", grown.text);
    let rollouts = get(
        &http,
        &format!("{}/v1/workflows/rollout/instances", emu.confidence_url()),
    )
    .await;
    assert_eq!(rollouts.body["rollouts"].as_array().map(Vec::len), Some(1));
    emu.shutdown().await;
}
