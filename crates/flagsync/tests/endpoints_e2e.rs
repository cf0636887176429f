//! End to end: a URL override that points at loopback (a local emulator) takes every
//! endpoint not set itself along, the Confidence token endpoint included, so that with real
//! client credentials in the environment no request leaves loopback.
//!
//! Every request to a host other than loopback goes through a proxy that records it
//! (`HTTPS_PROXY`, honoured by the HTTP client; `NO_PROXY` keeps loopback direct); a
//! control run proves that the recording works.

use std::time::{Duration, Instant};

use crate::common::{Emu, RecordingProxy, quickstart_copy, text, with_proxy};

fn token_requests(emu: &Emu) -> u64 {
    emu.counters()["routes"]
        .get("POST /v1/oauth/token")
        .map_or(0, |r| r["count"].as_u64().unwrap())
}

#[test]
fn one_loopback_override_keeps_every_request_on_loopback() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let proxy = RecordingProxy::start();

    // Only the CloudBees URL is given: Confidence and its token endpoint follow it.
    emu.reset_counters();
    let mut cmd = emu.command(&["plan"], repo.path());
    cmd.env_remove("FLAGSYNC_CONFIDENCE_URL")
        .env_remove("FLAGSYNC_CONFIDENCE_IAM_URL");
    with_proxy(&mut cmd, &proxy);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(proxy.seen(), Vec::<String>::new(), "left loopback");
    assert_eq!(token_requests(&emu), 1, "{}", emu.counters());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note: Confidence follows --cloudbees-url to loopback"),
        "{stderr}"
    );

    // Only the Confidence URL is given: CloudBees and the token endpoint follow it.
    emu.reset_counters();
    let mut cmd = emu.command(&["plan"], repo.path());
    cmd.env_remove("FLAGSYNC_CLOUDBEES_URL")
        .env_remove("FLAGSYNC_CONFIDENCE_IAM_URL");
    with_proxy(&mut cmd, &proxy);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(proxy.seen(), Vec::<String>::new(), "left loopback");
    assert_eq!(token_requests(&emu), 1, "{}", emu.counters());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("note: the Confidence token endpoint follows the Confidence URL to loopback"),
        "{stderr}"
    );
}

#[test]
fn an_explicit_iam_url_still_wins_and_the_proxy_sees_it() {
    // The control: a token endpoint set explicitly elsewhere is used, and the recording
    // proxy sees the request (so the test above would see one too).
    let emu = Emu::start();
    let repo = quickstart_copy();
    let proxy = RecordingProxy::start();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("flagsync"));
    cmd.args(["plan"])
        .arg(repo.path())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env("CLOUDBEES_API_TOKEN", flagsync_emulator::DEFAULT_TOKEN)
        .env("CONFIDENCE_CLIENT_ID", flagsync_emulator::DEFAULT_CLIENT_ID)
        .env(
            "CONFIDENCE_CLIENT_SECRET",
            flagsync_emulator::DEFAULT_CLIENT_SECRET,
        )
        .env("FLAGSYNC_CONFIDENCE_URL", emu.emulator.confidence_url())
        .env("FLAGSYNC_CONFIDENCE_IAM_URL", "https://iam.confidence.dev")
        .env("HTTPS_PROXY", &proxy.url)
        .env("HTTP_PROXY", &proxy.url)
        .env("ALL_PROXY", &proxy.url)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // It retries a refused connection for a while: stop it once the proxy saw it.
    let started = Instant::now();
    while proxy.seen().is_empty() && started.elapsed() < Duration::from_secs(30) {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let seen = proxy.seen();
    assert!(
        seen.first()
            .is_some_and(|l| l.starts_with("CONNECT iam.confidence.dev:443")),
        "{seen:?}"
    );
    assert_eq!(token_requests(&emu), 0);
}
