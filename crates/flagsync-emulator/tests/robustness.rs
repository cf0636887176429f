//! Bad requests get clear JSON errors, never a panic, and never change state.

use crate::common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_are_400_and_change_nothing() {
    let emu = start(config()).await;
    let http = client();
    let experiments = format!(
        "{}/applications/app1/Production/experiments",
        emu.cloudbees_url()
    );
    for bad in [
        "{",
        "not json",
        "",
        "   ",
        "{\"type\":\"experiment\",\"flag\":\"x\"",
        "\u{0}",
    ] {
        let answer = send(&http, Method::PUT, &experiments, Some(TOKEN), Some(bad)).await;
        assert_cloudbees_error(&answer, 400);
    }
    // Hostile nesting is refused by the parser's depth limit, not by a stack overflow.
    let deep = "[".repeat(100_000);
    let answer = send(&http, Method::PUT, &experiments, Some(TOKEN), Some(&deep)).await;
    assert_cloudbees_error(&answer, 400);
    let patch = send(
        &http,
        Method::PATCH,
        &format!("{experiments}/x"),
        Some(TOKEN),
        Some("["),
    )
    .await;
    assert_cloudbees_error(&patch, 400);

    let rollouts = format!("{}/v1/workflows/rollout/instances", emu.confidence_url());
    for bad in ["{", "[]", "\"x\"", ""] {
        let answer = send(&http, Method::POST, &rollouts, Some(TOKEN), Some(bad)).await;
        assert_confidence_error(&answer, 400, 3);
    }
    let token = format!("{}/v1/oauth/token", emu.confidence_url());
    assert_confidence_error(
        &send(&http, Method::POST, &token, None, Some("{")).await,
        400,
        3,
    );
    let launch = format!("{rollouts}/aaaaaaaaaaaaaaaaaaaa:launch");
    assert_confidence_error(
        &send(&http, Method::POST, &launch, Some(TOKEN), Some("{")).await,
        400,
        3,
    );

    assert_eq!(get(&http, &experiments).await.body, json!([]));
    assert_eq!(get(&http, &rollouts).await.body["rollouts"], json!([]));
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_json_errors() {
    let emu = start(config()).await;
    let http = client();
    let base = emu.base_url();
    let unknown = send(
        &http,
        Method::GET,
        &format!("{base}/nope"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_cloudbees_error(&unknown, 404);
    let cb = send(
        &http,
        Method::GET,
        &format!("{base}/public-api/applications/app/no/such/route"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_cloudbees_error(&cb, 404);
    let cf = send(
        &http,
        Method::GET,
        &format!("{base}/v1/workflows/other"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_confidence_error(&cf, 404, 5);

    let wrong = send(
        &http,
        Method::DELETE,
        &format!("{base}/v1/oauth/token"),
        None,
        None,
    )
    .await;
    assert_confidence_error(&wrong, 405, 12);
    let wrong = send(
        &http,
        Method::POST,
        &format!("{base}/public-api/applications/a/Production/experiments/x"),
        Some(TOKEN),
        Some("{}"),
    )
    .await;
    assert_cloudbees_error(&wrong, 405);
    let wrong = send(
        &http,
        Method::DELETE,
        &format!("{base}/v1/workflows/rollout/instances"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_confidence_error(&wrong, 405, 12);
    // POST on a rollout without an action.
    let no_action = send(
        &http,
        Method::POST,
        &format!("{base}/v1/workflows/rollout/instances/aaaaaaaaaaaaaaaaaaaa"),
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(no_action.status, 405, "{}", no_action.text);
    // The server still answers normally afterwards.
    assert_eq!(
        get(&http, &format!("{base}/_emulator/health")).await.body,
        json!({"status": "ok"})
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn huge_bodies_are_413_and_change_nothing() {
    let emu = start(config()).await;
    let http = client();
    let experiments = format!(
        "{}/applications/app1/Production/experiments",
        emu.cloudbees_url()
    );
    let description = "x".repeat(flagsync_emulator::BODY_LIMIT + 10);
    let body = json!({"type": "experiment", "flag": "big", "description": description, "conditions": [{"value": true}]}).to_string();
    let answer = http
        .put(&experiments)
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    // The server may answer 413 before reading the body, and close the connection while the
    // client still writes it; either way the write must not apply.
    if let Ok(response) = answer {
        assert_eq!(response.status(), 413);
        let body: serde_json::Value = response.json().await.expect("json error body");
        assert_eq!(body["code"], 413);
    }
    assert_cloudbees_error(&get(&http, &format!("{experiments}/big")).await, 404);
    // A body just under the limit is fine.
    let description = "x".repeat(flagsync_emulator::BODY_LIMIT - 200);
    let body = json!({"type": "experiment", "flag": "big", "description": description}).to_string();
    let ok = send(&http, Method::PUT, &experiments, Some(TOKEN), Some(&body)).await;
    assert_eq!(ok.status, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn odd_authorization_headers_are_401() {
    let emu = start(config()).await;
    let http = client();
    let url = format!("{}/applications/a/target-groups", emu.cloudbees_url());
    for value in [
        "Basic ZW11bGF0b3I=",
        "Bearer",
        "Bearer ",
        "emulator-token",
        "Bearer emulator-token extra",
    ] {
        let answer = http
            .get(&url)
            .header("authorization", value)
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 401, "{value}");
    }
    // The scheme is case-insensitive.
    let answer = http
        .get(&url)
        .header("authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), 200);
    emu.shutdown().await;
}

/// A body that trickles in, one byte every 2 s, is cut off after the body timeout with a
/// 408 and a closed connection, instead of holding the connection for as long as the
/// client likes.
#[tokio::test]
async fn a_trickling_body_is_cut_off() {
    use flagsync_emulator::BODY_READ_TIMEOUT;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let emu = start(config()).await;
    let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let head = format!(
        "PUT /public-api/applications/app1/Production/experiments HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        // Bounded: at most 1000 bytes, stopping once the server hangs up.
        for _ in 0..1000 {
            if write.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let started = tokio::time::Instant::now();
    let mut answer = Vec::new();
    // Read to the end: the server must close the connection.
    let read_all = tokio::time::timeout(
        BODY_READ_TIMEOUT + Duration::from_secs(20),
        read.read_to_end(&mut answer),
    )
    .await;
    trickle.abort();
    assert!(
        read_all.is_ok(),
        "the connection was still open after {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains("did not arrive within"), "{answer}");
    emu.shutdown().await;
}
