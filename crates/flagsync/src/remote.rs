//! Connecting to the live services a repository names: real ones with tokens read from the
//! environment variables `flagsync.yaml` names, or the embedded emulator.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flagsync_emulator::{BackgroundEmulator, EmulatorConfig};
use flagsync_manifest::model::Config;
use flagsync_remote::{
    CloudBeesClient, CloudBeesSettings, ConfidenceAuth, ConfidenceClient, ConfidenceSettings,
    Secret,
};
use miette::{IntoDiagnostic, WrapErr, miette};

/// Options every command that talks to the services shares.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// CloudBees API base URL (overrides flagsync.yaml; e.g. a local emulator).
    #[arg(long, env = "FLAGSYNC_CLOUDBEES_URL", value_name = "URL")]
    pub cloudbees_url: Option<String>,
    /// Confidence API base URL (overrides flagsync.yaml).
    #[arg(long, env = "FLAGSYNC_CONFIDENCE_URL", value_name = "URL")]
    pub confidence_url: Option<String>,
    /// Confidence IAM base URL for client credentials (overrides flagsync.yaml).
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
            (Some(start_embedded(&state)?), Some(state))
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
            let (base_url, iam_url, auth) = match &emulator {
                Some((emu, token)) => (
                    emu.confidence_url(),
                    emu.confidence_url(),
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
                    (
                        args.confidence_url
                            .clone()
                            .or_else(|| cf.url.clone())
                            .unwrap_or_else(|| flagsync_remote::DEFAULT_CONFIDENCE_URL.to_owned()),
                        args.iam_url
                            .clone()
                            .or_else(|| cf.iam_url.clone())
                            .unwrap_or_else(|| {
                                flagsync_remote::DEFAULT_CONFIDENCE_IAM_URL.to_owned()
                            }),
                        auth,
                    )
                }
            };
            let mut settings = ConfidenceSettings::new(auth);
            settings.base_url = base_url;
            settings.iam_url = iam_url;
            settings.allow_insecure_http = args.allow_insecure_http;
            if emulator.is_some() {
                settings.requests_per_second = f64::INFINITY;
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

/// Starts the embedded emulator with its state in `state`, and the token it accepts.
pub fn start_embedded(state: &Path) -> miette::Result<(BackgroundEmulator, String)> {
    let token = embedded_token();
    let running = flagsync_emulator::spawn_background(EmulatorConfig {
        state_dir: Some(state.to_owned()),
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
    Ok((running, token))
}

/// A CloudBees client of the account only (no application yet), for `flagsync init`: the
/// embedded emulator's when given, else the URL of the options (or the public API) with
/// the token read from `token_env`.
pub fn cloudbees_account(
    args: &RemoteArgs,
    token_env: &str,
    embedded: Option<&(BackgroundEmulator, String)>,
) -> miette::Result<CloudBeesClient> {
    let (base_url, token, rps) = match embedded {
        Some((emu, token)) => (emu.cloudbees_url(), Secret::new(token), f64::INFINITY),
        None => (
            args.cloudbees_url
                .clone()
                .unwrap_or_else(|| flagsync_remote::DEFAULT_CLOUDBEES_URL.to_owned()),
            match std::env::var(token_env) {
                Ok(value) if !value.trim().is_empty() => Secret::new(value.trim()),
                _ => {
                    return Err(miette!(
                        help = format!(
                            "export {token_env}=… (an API token of your CloudBees account; --token-env names another variable), or try flagsync with no account: `flagsync init --emulator`"
                        ),
                        "environment variable {token_env} is not set"
                    ));
                }
            },
            args.cloudbees_rps
                .unwrap_or(flagsync_remote::DEFAULT_CLOUDBEES_REQUESTS_PER_SECOND),
        ),
    };
    let mut settings = CloudBeesSettings::new("", token);
    settings.base_url = base_url;
    settings.requests_per_second = rps;
    settings.allow_insecure_http = args.allow_insecure_http;
    CloudBeesClient::new(settings).wrap_err("cannot set up the CloudBees client")
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
