//! Shared by the end-to-end tests: an emulator over loopback HTTP, the `flagsync` binary
//! pointed at it, and copies of the example repositories.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use flagsync_emulator::{BackgroundEmulator, EmulatorConfig};
use serde_json::{Value, json};

/// The application id of examples/quickstart/flagsync.yaml.
pub const APPLICATION: &str = "5f3c2a1b9d8e7f6a5b4c3d2e";

pub struct Emu {
    pub emulator: BackgroundEmulator,
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Emu {
    pub fn start() -> Self {
        Self::with_config(EmulatorConfig {
            launch_duration: Duration::from_millis(20),
            ..EmulatorConfig::default()
        })
    }

    pub fn with_config(config: EmulatorConfig) -> Self {
        let emulator = flagsync_emulator::spawn_background(config).expect("emulator starts");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self {
            emulator,
            runtime,
            http: reqwest::Client::new(),
        }
    }

    /// `flagsync ARGS... DIR` with credentials and URLs pointing at this emulator, run.
    pub fn flagsync(&self, args: &[&str], dir: &Path) -> Output {
        self.command(args, dir).output().unwrap()
    }

    /// The same command, not yet run, for tests that change its environment.
    pub fn command(&self, args: &[&str], dir: &Path) -> Command {
        let mut cmd = Command::from_std(self.std_command(args, dir));
        cmd.timeout(Duration::from_secs(60));
        cmd
    }

    /// The same command as a `std::process::Command`, for tests that run it in the
    /// background.
    pub fn std_command(&self, args: &[&str], dir: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("flagsync"));
        cmd.args(args)
            .arg(dir)
            .env("NO_COLOR", "1")
            .env("CLOUDBEES_API_TOKEN", flagsync_emulator::DEFAULT_TOKEN)
            .env("CONFIDENCE_CLIENT_ID", flagsync_emulator::DEFAULT_CLIENT_ID)
            .env(
                "CONFIDENCE_CLIENT_SECRET",
                flagsync_emulator::DEFAULT_CLIENT_SECRET,
            )
            .env("FLAGSYNC_CLOUDBEES_URL", self.emulator.cloudbees_url())
            .env("FLAGSYNC_CONFIDENCE_URL", self.emulator.confidence_url())
            .env("FLAGSYNC_CONFIDENCE_IAM_URL", self.emulator.base_url())
            // The emulator has no rate limit unless a test sets one.
            .env("FLAGSYNC_CLOUDBEES_RPS", "1000")
            .env_remove("RUST_LOG");
        cmd
    }

    pub fn plan_json(&self, dir: &Path) -> Value {
        let out = self.flagsync(&["plan", "--format", "json"], dir);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("plan --format json is JSON")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    pub fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = self.url(path);
        self.runtime.block_on(async {
            let mut req = self
                .http
                .request(method, url)
                .bearer_auth(flagsync_emulator::DEFAULT_TOKEN);
            if let Some(body) = body {
                req = req.json(&body);
            }
            let resp = req.send().await.expect("request reaches the emulator");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    pub fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).1
    }

    pub fn patch(&self, path: &str, ops: Value) -> u16 {
        self.send(reqwest::Method::PATCH, path, Some(ops)).0
    }

    pub fn counters(&self) -> Value {
        self.get("/_emulator/counters")
    }

    pub fn reset_counters(&self) {
        self.send(reqwest::Method::POST, "/_emulator/counters/reset", None);
    }

    /// Writes every create of `plan` through the services' APIs, the way a person with curl
    /// would, without flagsync's applier.
    pub fn write_through_api(&self, plan: &Value) {
        let app = APPLICATION;
        for action in plan["actions"].as_array().unwrap() {
            assert_eq!(action["operation"], "create");
            let desired = action["desired"].clone();
            let (status, created) = match action["kind"].as_str().unwrap() {
                "target-group" => self.send(
                    reqwest::Method::PUT,
                    &format!("/public-api/applications/{app}/target-groups"),
                    Some(desired),
                ),
                "experiment" => {
                    let env = action["environment"].as_str().unwrap();
                    self.send(
                        reqwest::Method::PUT,
                        &format!("/public-api/applications/{app}/{}/experiments", enc(env)),
                        Some(desired),
                    )
                }
                "rollout" => {
                    let mut body = desired.clone();
                    let obj = body.as_object_mut().unwrap();
                    obj.remove("state");
                    let segment = obj.remove("segment");
                    let (status, created) = self.send(
                        reqwest::Method::POST,
                        "/v1/workflows/rollout/instances",
                        Some(body),
                    );
                    assert_eq!(status, 200, "{created}");
                    let id = created["name"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap();
                    let base = format!("/v1/workflows/rollout/instances/{id}");
                    if let Some(targeting) = segment.and_then(|s| s.get("targeting").cloned()) {
                        let (s, v) = self.send(
                            reqwest::Method::POST,
                            &format!("{base}:updatesegment"),
                            Some(json!({"parameters": {"updateMask": "targeting", "segment": {"targeting": targeting}}})),
                        );
                        assert_eq!(s, 200, "{v}");
                    }
                    if desired["state"] == "live" {
                        let (s, v) =
                            self.send(reqwest::Method::POST, &format!("{base}:launch"), None);
                        assert_eq!(s, 200, "{v}");
                        for _ in 0..200 {
                            if self.get(&base)["state"] == "live" {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(10));
                        }
                        assert_eq!(self.get(&base)["state"], "live");
                    }
                    (status, created)
                }
                other => panic!("unexpected kind {other}"),
            };
            assert!((200..300).contains(&status), "{status} {created}");
        }
    }

    /// How many experiment creates of `plan` have no release rule, so the list hides them.
    pub fn hidden_experiments(&self, plan: &Value) -> u64 {
        plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "experiment")
            .filter(|a| {
                let d = &a["desired"];
                let empty = |k: &str| d[k].as_array().is_none_or(|v| v.is_empty());
                empty("conditions") && empty("platforms") && !d["value"].is_array()
            })
            .count() as u64
    }

    /// The flag of the first enabled experiment the plan creates in `env`.
    pub fn first_experiment_flag(&self, plan: &Value, env: &str) -> String {
        plan["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["kind"] == "experiment"
                    && a["environment"] == env
                    && a["desired"]["enabled"] == true
            })
            .and_then(|a| a["name"].as_str())
            .expect("an enabled experiment")
            .to_owned()
    }
}

/// Percent-encodes one path segment.
pub fn enc(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// stdout and stderr of a run, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A fresh copy of examples/quickstart in a temporary directory.
pub fn quickstart_copy() -> tempfile::TempDir {
    example_copy("quickstart")
}

pub fn example_copy(name: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".flagsync" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A repository holding only a flagsync.yaml for both services (the quickstart layout),
/// credentials named by environment variables that `Emu::flagsync` sets.
pub fn config_only_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flagsync.yaml"),
        format!(
            "cloudbees:\n  application: {APPLICATION}\n  token_env: CLOUDBEES_API_TOKEN\n  target_groups: target_groups\n  environments:\n    Production: {{ experiments: environments/Production }}\n    Staging: {{ experiments: environments/Staging }}\nconfidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: CONFIDENCE_CLIENT_SECRET\n  rollouts: rollouts\n"
        ),
    )
    .unwrap();
    dir
}

impl Emu {
    /// PUTs a target group through the CloudBees API.
    pub fn put_target_group(&self, group: Value) {
        let (status, body) = self.send(
            reqwest::Method::PUT,
            &format!("/public-api/applications/{APPLICATION}/target-groups"),
            Some(group),
        );
        assert!((200..300).contains(&status), "{status} {body}");
    }

    /// PUTs an experiment into `env` through the CloudBees API.
    pub fn put_experiment(&self, env: &str, experiment: Value) {
        let (status, body) = self.send(
            reqwest::Method::PUT,
            &format!(
                "/public-api/applications/{APPLICATION}/{}/experiments",
                enc(env)
            ),
            Some(experiment),
        );
        assert!((200..300).contains(&status), "{status} {body}");
    }

    /// Creates a rollout through the Confidence API as its reference documents it, sets its
    /// targeting with `:updatesegment` when given, and launches it (waiting until it is
    /// live) when asked. Returns the instance id.
    pub fn create_rollout(&self, body: Value, targeting: Option<Value>, launch: bool) -> String {
        let (status, created) = self.send(
            reqwest::Method::POST,
            "/v1/workflows/rollout/instances",
            Some(body),
        );
        assert_eq!(status, 200, "{created}");
        let id = created["name"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let base = format!("/v1/workflows/rollout/instances/{id}");
        if let Some(targeting) = targeting {
            let (s, v) = self.send(
                reqwest::Method::POST,
                &format!("{base}:updatesegment"),
                Some(json!({"parameters": {"updateMask": "targeting", "segment": {"targeting": targeting}}})),
            );
            assert_eq!(s, 200, "{v}");
        }
        if launch {
            let (s, v) = self.send(reqwest::Method::POST, &format!("{base}:launch"), None);
            assert_eq!(s, 200, "{v}");
            for _ in 0..500 {
                if self.get(&base)["state"] == "live" {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(self.get(&base)["state"], "live");
        }
        id
    }
}

/// Runs git in `dir`, isolated from the machine's configuration (identity, signing, hooks).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args([
            "-c",
            "init.defaultBranch=master",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "user.name=flagsync tests",
            "-c",
            "user.email=tests@flagsync.invalid",
        ])
        .args(args)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Every file under `dir` (relative path with `/`) and its bytes, skipping `.git`.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The application of every emulator's default organization, that
/// examples/unify-quickstart/flagsync.yaml names.
pub const UNIFY_APPLICATION: &str = flagsync_emulator::UNIFY_DEFAULT_APPLICATION_ID;

impl Emu {
    /// `flagsync ARGS... DIR` for a repository with `api: unify`: the CloudBees URL is this
    /// emulator's Unify API (its root).
    pub fn unify(&self, args: &[&str], dir: &Path) -> Output {
        self.command(args, dir)
            .env("FLAGSYNC_CLOUDBEES_URL", self.emulator.unify_url())
            .output()
            .unwrap()
    }

    /// A Unify API path of the default application: `/v2/applications/{app}{rest}`.
    pub fn unify_get(&self, rest: &str) -> Value {
        self.get(&format!("/v2/applications/{UNIFY_APPLICATION}{rest}"))
    }

    /// The id of the default organization's environment `name`.
    pub fn unify_environment_id(&self, name: &str) -> &'static str {
        flagsync_emulator::UNIFY_DEFAULT_ENVIRONMENTS
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| *id)
            .expect("a default environment")
    }

    /// The live flag `name` of the default application, as the API serves it.
    pub fn unify_flag(&self, name: &str) -> Value {
        self.unify_get(&format!("/flags/by-name/{}", enc(name)))["flag"].clone()
    }

    /// The live configuration of flag `name` in environment `env`, as the API serves it.
    pub fn unify_configuration(&self, name: &str, env: &str) -> Value {
        let id = self.unify_flag(name)["id"].as_str().unwrap().to_owned();
        self.unify_get(&format!(
            "/flags/{id}/configuration/environments/{}",
            self.unify_environment_id(env)
        ))["configuration"]
            .clone()
    }

    /// Requests with this status over every route.
    pub fn status_count(&self, status: &str) -> u64 {
        self.counters()["routes"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|r| r["statuses"][status].as_u64())
            .sum()
    }
}
/// A proxy that answers every request with 403 and remembers its first line: what would
/// have left loopback (`HTTPS_PROXY`, honoured by the HTTP client).
pub struct RecordingProxy {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                record.lock().unwrap().push(line.trim().to_owned());
                let _ = stream.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
            }
        });
        Self { url, seen }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Sends every request to a host other than loopback through `proxy`.
pub fn with_proxy(cmd: &mut assert_cmd::Command, proxy: &RecordingProxy) {
    cmd.env("HTTPS_PROXY", &proxy.url)
        .env("HTTP_PROXY", &proxy.url)
        .env("ALL_PROXY", &proxy.url)
        .env("NO_PROXY", "127.0.0.1,localhost");
}
