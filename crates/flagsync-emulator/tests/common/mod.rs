//! Helpers shared by the end-to-end tests: a real emulator on a loopback port and a real
//! HTTP client.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use flagsync_emulator::{EmulatorConfig, RunningEmulator};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const TOKEN: &str = flagsync_emulator::DEFAULT_TOKEN;
/// The token written in the vendor's CloudBees documents.
pub const SEED_TOKEN: &str = "b0c17g9f-79f4-69da-cc45-67db602c10d6";

pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

/// A fast config for tests: short launches, the default token plus the documents' token.
pub fn config() -> EmulatorConfig {
    EmulatorConfig {
        tokens: vec![TOKEN.to_owned(), SEED_TOKEN.to_owned()],
        launch_duration: Duration::from_millis(20),
        ..EmulatorConfig::default()
    }
}

pub async fn start(config: EmulatorConfig) -> RunningEmulator {
    flagsync_emulator::start(config, loopback())
        .await
        .expect("emulator starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

/// Sends a request with the given bearer token and an optional raw JSON body (sent with
/// `content-type: application/json`, exactly as written).
pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut request = http
        .request(method, url)
        .header("accept", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("request answered");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    Answer {
        status,
        headers,
        body,
        text,
    }
}

pub async fn get(http: &reqwest::Client, url: &str) -> Answer {
    send(http, Method::GET, url, Some(TOKEN), None).await
}

/// Polls until `done` holds, for at most `limit` (a bound, not a timing assertion).
pub async fn eventually<F>(limit: Duration, mut done: F) -> bool
where
    F: AsyncFnMut() -> bool,
{
    let start = Instant::now();
    loop {
        if done().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The error body shape of CloudBees: `{"code": <HTTP status>, "message"}`.
pub fn assert_cloudbees_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    assert_eq!(answer.body["code"], status, "{}", answer.text);
    assert!(answer.body["message"].is_string(), "{}", answer.text);
}

/// The error body shape of Confidence: `{"code": <gRPC>, "message", "details": []}`.
pub fn assert_confidence_error(answer: &Answer, status: u16, grpc: i64) {
    assert_eq!(answer.status.as_u16(), status, "{}", answer.text);
    assert_eq!(answer.body["code"], grpc, "{}", answer.text);
    assert!(answer.body["message"].is_string(), "{}", answer.text);
    assert_eq!(
        answer.body["details"],
        serde_json::json!([]),
        "{}",
        answer.text
    );
}

/// The Unify error body: `google.rpc.Status`, `{"code": <gRPC>, "message", "details": []}`.
pub fn assert_unify_error(answer: &Answer, status: u16, grpc: i64) {
    assert_confidence_error(answer, status, grpc);
}
