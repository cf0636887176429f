//! Connecting to the live services a repository names: real ones with tokens read from the
//! environment variables `flagsync.yaml` names, or the embedded emulator.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flagsync_emulator::{BackgroundEmulator, EmulatorConfig};
use flagsync_manifest::model::{
    ConfidenceConfig, ConfidenceRegion as ConfidenceRegionSetting, Config,
};
use flagsync_remote::{
    CloudBeesClient, CloudBeesSettings, ConfidenceAuth, ConfidenceClient, ConfidenceRegion,
    ConfidenceSettings, ConfidenceUrls, Secret,
};
use miette::{IntoDiagnostic, WrapErr, miette};

/// Options every command that talks to the services shares.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// CloudBees API base URL (overrides flagsync.yaml; e.g. a local emulator).
    #[arg(long, env = "FLAGSYNC_CLOUDBEES_URL", value_name = "URL")]
    pub cloudbees_url: Option<String>,
    /// Base URL of every Confidence API: rollouts, segments, results and tokens (overrides
    /// flagsync.yaml; e.g. a local emulator).
    #[arg(long, env = "FLAGSYNC_CONFIDENCE_URL", value_name = "URL")]
    pub confidence_url: Option<String>,
    /// Confidence token endpoint's base URL for client credentials (overrides the above and
    /// flagsync.yaml).
    #[arg(long, env = "FLAGSYNC_CONFIDENCE_IAM_URL", value_name = "URL")]
    pub iam_url: Option<String>,
    /// CloudBees requests per second (default: flagsync.yaml, else 0.95, just under the documented 1/s).
    #[arg(long, env = "FLAGSYNC_CLOUDBEES_RPS", value_name = "N")]
    pub cloudbees_rps: Option<f64>,
    /// Allow plain http:// to hosts other than loopback.
    #[arg(long)]
    pub allow_insecure_http: bool,
}

/// Clients for the providers the repository configures. Keeps the embedded emulator (when
/// used) alive for as long as the clients are.
pub struct Connection {
    pub cloudbees: Option<CloudBeesClient>,
    pub confidence: Option<ConfidenceClient>,
    /// Where the embedded emulator keeps its state, when it serves this connection.
    pub emulator_state: Option<std::path::PathBuf>,
    _emulator: Option<BackgroundEmulator>,
}

impl Connection {
    /// The clients, for the pipeline's steps.
    pub fn services(&self) -> flagsync_pipeline::Services<'_> {
        flagsync_pipeline::Services {
            cloudbees: self.cloudbees.as_ref(),
            confidence: self.confidence.as_ref(),
        }
    }
}

/// Connects to what `config` names. `root` is the repository directory on disk (the
/// embedded emulator keeps its state relative to it).
pub fn connect(root: &Path, config: &Config, args: &RemoteArgs) -> miette::Result<Connection> {
    let overridden = args.cloudbees_url.is_some() || args.confidence_url.is_some();
    let (emulator, emulator_state) = match (&config.emulator, overridden) {
        (Some(emu), false) => {
            let state = root.join(&emu.state);
            let token = embedded_token();
            let running = flagsync_emulator::spawn_background(EmulatorConfig {
                state_dir: Some(state.clone()),
                tokens: vec![token.clone()],
                client_credentials: Vec::new(),
                launch_duration: Duration::from_millis(300),
                // A command is short-lived: answer a write only once it is on disk, so an
                // interrupted run never loses what it was told had been written.
                sync_writes: true,
                ..EmulatorConfig::default()
            })
            .into_diagnostic()
            .wrap_err("cannot start the embedded emulator")?;
            (Some((running, token)), Some(state))
        }
        _ => (None, None),
    };

    let cloudbees = match &config.cloudbees {
        None => None,
        Some(cb) => {
            let (base_url, token, rps) = match &emulator {
                Some((emu, token)) => (emu.cloudbees_url(), Secret::new(token), f64::INFINITY),
                None => (
                    args.cloudbees_url
                        .clone()
                        .or_else(|| cb.url.clone())
                        .unwrap_or_else(|| flagsync_remote::DEFAULT_CLOUDBEES_URL.to_owned()),
                    token_from_env(&cb.token_env, "cloudbees.token_env")?,
                    args.cloudbees_rps
                        .or(cb.requests_per_second)
                        .unwrap_or(flagsync_remote::DEFAULT_CLOUDBEES_REQUESTS_PER_SECOND),
                ),
            };
            let mut settings = CloudBeesSettings::new(&cb.application, token);
            settings.base_url = base_url;
            settings.requests_per_second = rps;
            settings.allow_insecure_http = args.allow_insecure_http;
            Some(CloudBeesClient::new(settings).wrap_err("cannot set up the CloudBees client")?)
        }
    };

    let confidence = match &config.confidence {
        None => None,
        Some(cf) => {
            let (urls, auth) = match &emulator {
                Some((emu, token)) => (
                    ConfidenceUrls::all(&emu.confidence_url()),
                    ConfidenceAuth::Token(Secret::new(token)),
                ),
                None => {
                    let auth = match (&cf.token_env, &cf.client_id_env, &cf.client_secret_env) {
                        (Some(token_env), _, _) => ConfidenceAuth::Token(token_from_env(
                            token_env,
                            "confidence.token_env",
                        )?),
                        (None, Some(id_env), Some(secret_env)) => {
                            ConfidenceAuth::ClientCredentials {
                                client_id: token_from_env(id_env, "confidence.client_id_env")?
                                    .expose()
                                    .to_owned(),
                                client_secret: token_from_env(
                                    secret_env,
                                    "confidence.client_secret_env",
                                )?,
                            }
                        }
                        _ => {
                            return Err(miette!(
                                help = "set `token_env`, or both `client_id_env` and `client_secret_env`",
                                "flagsync.yaml: confidence names no credentials"
                            ));
                        }
                    };
                    (confidence_urls(cf, args), auth)
                }
            };
            let mut settings = ConfidenceSettings::new(auth);
            settings.urls = urls;
            settings.allow_insecure_http = args.allow_insecure_http;
            if emulator.is_some() {
                settings.requests_per_second = f64::INFINITY;
                settings.flags_requests_per_second = f64::INFINITY;
            }
            Some(ConfidenceClient::new(settings).wrap_err("cannot set up the Confidence client")?)
        }
    };

    Ok(Connection {
        cloudbees,
        confidence,
        emulator_state,
        _emulator: emulator.map(|(e, _)| e),
    })
}

/// The Confidence hosts: those of the account's region, or everything at `url`, each API's
/// own setting winning over both; `--confidence-url` (then `--iam-url`) over flagsync.yaml.
fn confidence_urls(cf: &ConfidenceConfig, args: &RemoteArgs) -> ConfidenceUrls {
    let mut urls = match &args.confidence_url {
        Some(url) => ConfidenceUrls::all(url),
        None => {
            let region = match cf.region {
                Some(ConfidenceRegionSetting::Us) => ConfidenceRegion::Us,
                Some(ConfidenceRegionSetting::Eu) | None => ConfidenceRegion::Eu,
            };
            let mut urls = match &cf.url {
                Some(url) => ConfidenceUrls::all(url),
                None => ConfidenceUrls::for_region(region),
            };
            for (setting, slot) in [
                (&cf.experiments_url, &mut urls.experiments),
                (&cf.flags_url, &mut urls.flags),
                (&cf.stats_url, &mut urls.stats),
                (&cf.iam_url, &mut urls.iam),
            ] {
                if let Some(url) = setting {
                    slot.clone_from(url);
                }
            }
            urls
        }
    };
    if let Some(iam) = &args.iam_url {
        urls.iam.clone_from(iam);
    }
    urls
}

/// Tells the user (on stderr) when the embedded emulator, not a real service, is answering.
pub fn announce_emulator(conn: &Connection) {
    if let Some(state) = &conn.emulator_state {
        eprintln!(
            "note: using the embedded emulator (state in {}); remove `emulator:` from flagsync.yaml to talk to the real services",
            state.display()
        );
    }
}

/// Reads a credential from the environment; the error names the variable, never a value.
fn token_from_env(var: &str, setting: &str) -> miette::Result<Secret> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret::new(value.trim())),
        _ => Err(miette!(
            help = format!(
                "export {var}=… (flagsync.yaml `{setting}` names this variable), or add `emulator: {{state: .flagsync/emulator}}` to try flagsync on the local emulator"
            ),
            "environment variable {var} is not set"
        )),
    }
}

/// A per-process bearer token for the embedded emulator: it only listens on loopback for
/// the life of this process, so it needs to be unguessable only by other local users.
fn embedded_token() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("embedded-{:x}-{:x}", std::process::id(), nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(confidence_url: Option<&str>, iam_url: Option<&str>) -> RemoteArgs {
        RemoteArgs {
            cloudbees_url: None,
            confidence_url: confidence_url.map(str::to_owned),
            iam_url: iam_url.map(str::to_owned),
            cloudbees_rps: None,
            allow_insecure_http: false,
        }
    }

    fn config(json: serde_json::Value) -> ConfidenceConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn hosts_follow_the_region_one_url_and_each_override() {
        let eu = confidence_urls(
            &config(serde_json::json!({"token_env": "T"})),
            &args(None, None),
        );
        assert_eq!(eu, ConfidenceUrls::for_region(ConfidenceRegion::Eu));
        let us = confidence_urls(
            &config(serde_json::json!({"token_env": "T", "region": "us"})),
            &args(None, None),
        );
        assert_eq!(us.flags, "https://flags.us.confidence.dev");
        assert_eq!(us.iam, "https://iam.us.confidence.dev");
        assert_eq!(us.stats, "https://stats.us.confidence.dev");
        assert_eq!(us.experiments, "https://experiments.confidence.dev");
        let one = confidence_urls(
            &config(
                serde_json::json!({"token_env": "T", "url": "http://127.0.0.1:9", "stats_url": "https://stats.example"}),
            ),
            &args(None, None),
        );
        assert_eq!(one.experiments, "http://127.0.0.1:9");
        assert_eq!(one.flags, "http://127.0.0.1:9");
        assert_eq!(one.iam, "http://127.0.0.1:9");
        assert_eq!(one.stats, "https://stats.example");
        let cli = confidence_urls(
            &config(serde_json::json!({"token_env": "T", "flags_url": "https://f.example"})),
            &args(Some("http://127.0.0.1:1"), Some("http://127.0.0.1:2")),
        );
        assert_eq!(cli.flags, "http://127.0.0.1:1");
        assert_eq!(cli.iam, "http://127.0.0.1:2");
    }
}
