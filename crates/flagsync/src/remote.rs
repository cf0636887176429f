//! Connecting to the live services a repository names: real ones with tokens read from the
//! environment variables `flagsync.yaml` names, or the embedded emulator.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flagsync_emulator::{BackgroundEmulator, EmulatorConfig};
use flagsync_manifest::Provider;
use flagsync_manifest::model::{
    ConfidenceConfig, ConfidenceRegion as ConfidenceRegionSetting, Config,
};
use flagsync_manifest::write::RepoFiles;
use flagsync_pipeline::LiveScope;
use flagsync_remote::{
    CloudBeesClient, CloudBeesSettings, ConfidenceAuth, ConfidenceClient, ConfidenceSettings,
    ConfidenceUrls, HttpSettings, RetryPolicy, Secret, Service, UnifyClient, UnifySettings,
};
use miette::{IntoDiagnostic, WrapErr, miette};

/// Options every command that talks to the services shares.
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// CloudBees API base URL, of the legacy API or (`api: unify`) of CloudBees Unify
    /// (overrides flagsync.yaml; e.g. a local emulator). On loopback, Confidence and its
    /// token endpoint follow it unless set themselves.
    #[arg(long, env = "FLAGSYNC_CLOUDBEES_URL", value_name = "URL")]
    pub cloudbees_url: Option<String>,
    /// Base URL of every Confidence API: rollouts, segments, results and tokens (overrides
    /// flagsync.yaml; e.g. a local emulator). On loopback, CloudBees follows it unless set
    /// itself.
    #[arg(long, env = "FLAGSYNC_CONFIDENCE_URL", value_name = "URL")]
    pub confidence_url: Option<String>,
    /// Confidence token endpoint's base URL for client credentials (overrides the above and
    /// flagsync.yaml). Without it, a Confidence URL on loopback (a local emulator) takes the
    /// token endpoint along.
    #[arg(long, env = "FLAGSYNC_CONFIDENCE_IAM_URL", value_name = "URL")]
    pub iam_url: Option<String>,
    /// CloudBees requests per second (default: flagsync.yaml, else 0.95, just under the
    /// documented 1/s; with `api: unify`, 10, slowing down on each 429).
    #[arg(long, env = "FLAGSYNC_CLOUDBEES_RPS", value_name = "N")]
    pub cloudbees_rps: Option<f64>,
    /// Allow plain http:// to hosts other than loopback.
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Also send credentials to HOST when flagsync.yaml points a service there (repeatable;
    /// comma-separated in the variable). Without it, a URL that flagsync.yaml sets must be on
    /// the service's documented hosts or loopback, since a pull request can edit the file.
    #[arg(
        long = "allow-host",
        env = "FLAGSYNC_ALLOWED_HOSTS",
        value_name = "HOST",
        value_delimiter = ','
    )]
    pub allow_hosts: Vec<String>,
}

impl RemoteArgs {
    /// How a client sends its requests: at `requests_per_second`, retrying per `retry`, to
    /// plain http:// hosts only as `--allow-insecure-http` says.
    fn http(&self, requests_per_second: f64, retry: RetryPolicy) -> HttpSettings {
        HttpSettings {
            retry,
            allow_insecure_http: self.allow_insecure_http,
            ..HttpSettings::new(requests_per_second)
        }
    }
}

/// Clients for the providers the repository configures. Keeps the embedded emulator (when
/// used) alive for as long as the clients are.
pub struct Connection {
    pub cloudbees: Option<CloudBeesClient>,
    pub confidence: Option<ConfidenceClient>,
    pub unify: Option<UnifyClient>,
    /// Where the embedded emulator keeps its state, when it serves this connection.
    pub emulator_state: Option<std::path::PathBuf>,
    /// Endpoints that followed a loopback override, for the user to know.
    pub notes: Vec<String>,
    _emulator: Option<BackgroundEmulator>,
}

impl Connection {
    /// The clients, for the pipeline's steps.
    pub fn services(&self) -> flagsync_pipeline::Services<'_> {
        flagsync_pipeline::Services {
            cloudbees: self.cloudbees.as_ref(),
            confidence: self.confidence.as_ref(),
            unify: self.unify.as_ref(),
        }
    }
}

/// Connects to what `config` names. `root` is the repository directory on disk (the
/// embedded emulator keeps its state relative to it).
pub fn connect(root: &Path, config: &Config, args: &RemoteArgs) -> miette::Result<Connection> {
    connect_with(root, config, args, RetryPolicy::default())
}

/// [`connect`] with clients that retry per `retry`.
pub fn connect_with(
    root: &Path,
    config: &Config,
    args: &RemoteArgs,
    retry: RetryPolicy,
) -> miette::Result<Connection> {
    let overridden = args.cloudbees_url.is_some() || args.confidence_url.is_some();
    let (emulator, emulator_state) = match (&config.emulator, overridden) {
        (Some(emu), false) => {
            // The repository names the folder: confined to it like every other path, so a
            // link or `..` cannot make the emulator write elsewhere.
            let state = RepoFiles::open(root)
                .and_then(|files| files.directory(&emu.state))
                .wrap_err("flagsync.yaml `emulator.state`: the embedded emulator's state folder")?;
            (Some(start_embedded(&state)?), Some(state))
        }
        _ => (None, None),
    };

    let mut notes = Vec::new();
    // One `cloudbees` section: the legacy API's client, or (`api: unify`) CloudBees Unify's.
    let (mut cloudbees, mut unify) = (None, None);
    if let Some(cb) = &config.cloudbees {
        let unify_api = cb.provider() == Provider::Unify;
        let (base_url, token, rps) = match &emulator {
            Some((emu, token)) => {
                let url = if unify_api {
                    emu.unify_url()
                } else {
                    emu.cloudbees_url()
                };
                (url, Secret::new(token), f64::INFINITY)
            }
            None => {
                let (url, default_rps, service) = if unify_api {
                    let url = endpoints::unify(cb, args);
                    (
                        url,
                        flagsync_remote::DEFAULT_UNIFY_REQUESTS_PER_SECOND,
                        Service::Unify,
                    )
                } else {
                    let url = endpoints::cloudbees(cb, args);
                    (
                        url,
                        flagsync_remote::DEFAULT_CLOUDBEES_REQUESTS_PER_SECOND,
                        Service::CloudBees,
                    )
                };
                if args.cloudbees_url.is_none() {
                    hosts::check(service, "cloudbees.url", &url.url, args)?;
                }
                notes.extend(url.note);
                (
                    url.url,
                    token_from_env(&cb.token_env, "cloudbees.token_env")?,
                    args.cloudbees_rps
                        .or(cb.requests_per_second)
                        .unwrap_or(default_rps),
                )
            }
        };
        let http = args.http(rps, retry.clone());
        if unify_api {
            let organization = cb.organization.clone().ok_or_else(|| {
                miette!(
                    help = "name the organization by its id or domain name: `organization: acme`",
                    "flagsync.yaml: `cloudbees` with `api: unify` needs `organization`"
                )
            })?;
            let mut settings = UnifySettings::new(organization, &cb.application, token);
            settings.base_url = base_url;
            settings.http = http;
            unify = Some(
                UnifyClient::new(settings).wrap_err("cannot set up the CloudBees Unify client")?,
            );
        } else {
            let mut settings = CloudBeesSettings::new(&cb.application, token);
            settings.base_url = base_url;
            settings.http = http;
            cloudbees = Some(
                CloudBeesClient::new(settings).wrap_err("cannot set up the CloudBees client")?,
            );
        }
    }

    let confidence = match &config.confidence {
        None => None,
        Some(cf) => {
            let (urls, auth) = match &emulator {
                Some((emu, token)) => (
                    ConfidenceUrls::all(&emu.confidence_url()),
                    ConfidenceAuth::Token(Secret::new(token)),
                ),
                None => {
                    let auth = confidence_auth(cf)?;
                    let credentials = matches!(auth, ConfidenceAuth::ClientCredentials { .. });
                    let (urls, moved) = endpoints::confidence(cf, args, credentials);
                    hosts::check_confidence(cf, args, &urls, credentials)?;
                    notes.extend(moved);
                    (urls, auth)
                }
            };
            let mut settings = ConfidenceSettings::new(auth);
            settings.urls = urls;
            settings.http = args.http(settings.http.requests_per_second, retry);
            if emulator.is_some() {
                settings.http.requests_per_second = f64::INFINITY;
                settings.flags_requests_per_second = f64::INFINITY;
            }
            Some(ConfidenceClient::new(settings).wrap_err("cannot set up the Confidence client")?)
        }
    };

    Ok(Connection {
        cloudbees,
        confidence,
        unify,
        emulator_state,
        notes,
        _emulator: emulator.map(|(e, _)| e),
    })
}

/// How Confidence authenticates, from the environment variables flagsync.yaml names.
fn confidence_auth(cf: &ConfidenceConfig) -> miette::Result<ConfidenceAuth> {
    match (&cf.token_env, &cf.client_id_env, &cf.client_secret_env) {
        (Some(token_env), _, _) => Ok(ConfidenceAuth::Token(token_from_env(
            token_env,
            "confidence.token_env",
        )?)),
        (None, Some(id_env), Some(secret_env)) => Ok(ConfidenceAuth::ClientCredentials {
            client_id: token_from_env(id_env, "confidence.client_id_env")?
                .expose()
                .to_owned(),
            client_secret: token_from_env(secret_env, "confidence.client_secret_env")?,
        }),
        _ => Err(miette!(
            help = "set `token_env`, or both `client_id_env` and `client_secret_env`",
            "flagsync.yaml: confidence names no credentials"
        )),
    }
}

/// Where each service is reached. An override (flag or environment variable) that points
/// at loopback, a local emulator, takes every endpoint not overridden itself along to that
/// host, so nothing, credentials least of all, goes to a real service by accident while
/// testing: the other service's API (the emulator serves CloudBees under `/public-api`,
/// Confidence at its root) and Confidence's token endpoint. The token endpoint also
/// follows a loopback Confidence URL from flagsync.yaml. `--iam-url` always wins.
mod endpoints {
    use flagsync_manifest::model::{CloudbeesConfig, ConfidenceConfig};
    use flagsync_remote::{ConfidenceRegion, ConfidenceUrls, loopback_origin};

    use super::{ConfidenceRegionSetting, RemoteArgs};

    /// A URL, and a note for the user when it was moved by another override.
    pub struct Endpoint {
        pub url: String,
        pub note: Option<String>,
    }

    /// The loopback origin of the first override that points at one, and its option.
    fn local(args: &RemoteArgs) -> Option<(String, &'static str)> {
        let of = |url: &Option<String>, option| {
            url.as_deref()
                .and_then(loopback_origin)
                .map(|origin| (origin, option))
        };
        of(&args.confidence_url, "--confidence-url")
            .or_else(|| of(&args.cloudbees_url, "--cloudbees-url"))
    }

    pub fn cloudbees(cb: &CloudbeesConfig, args: &RemoteArgs) -> Endpoint {
        if let Some(url) = &args.cloudbees_url {
            return Endpoint {
                url: url.clone(),
                note: None,
            };
        }
        // A URL flagsync.yaml names on purpose stays; only the default follows.
        if let Some((origin, option)) = local(args).filter(|_| cb.url.is_none()) {
            let url = format!("{origin}/public-api");
            return Endpoint {
                note: Some(format!(
                    "CloudBees follows {option} to loopback: {url} (set --cloudbees-url to send it elsewhere)"
                )),
                url,
            };
        }
        Endpoint {
            url: cb
                .url
                .clone()
                .unwrap_or_else(|| flagsync_remote::DEFAULT_CLOUDBEES_URL.to_owned()),
            note: None,
        }
    }

    /// CloudBees Unify: the override, else the loopback origin another override points at
    /// (the emulator serves Unify at its root) unless flagsync.yaml names a URL, else
    /// flagsync.yaml's or the public API.
    pub fn unify(cb: &CloudbeesConfig, args: &RemoteArgs) -> Endpoint {
        if let Some(url) = &args.cloudbees_url {
            return Endpoint {
                url: url.clone(),
                note: None,
            };
        }
        // A URL flagsync.yaml names on purpose stays; only the default follows.
        if let Some((origin, option)) = local(args).filter(|_| cb.url.is_none()) {
            return Endpoint {
                note: Some(format!(
                    "CloudBees Unify follows {option} to loopback: {origin} (set --cloudbees-url to send it elsewhere)"
                )),
                url: origin,
            };
        }
        Endpoint {
            url: cb
                .url
                .clone()
                .unwrap_or_else(|| flagsync_remote::DEFAULT_UNIFY_URL.to_owned()),
            note: None,
        }
    }

    /// Every Confidence host, and notes for what a loopback override moved. Precedence:
    /// `--confidence-url` (every API, the token endpoint too), a loopback `--cloudbees-url`
    /// (everything to its origin, unless flagsync.yaml names Confidence hosts), else flagsync.yaml (the account's region, or everything at
    /// `url`, each API's own setting winning over both); `--iam-url` over all of them.
    pub fn confidence(
        cf: &ConfidenceConfig,
        args: &RemoteArgs,
        credentials: bool,
    ) -> (ConfidenceUrls, Vec<String>) {
        let mut notes = Vec::new();
        let mut urls = if let Some(url) = &args.confidence_url {
            if credentials && args.iam_url.is_none() && loopback_origin(url).is_some() {
                notes.push(format!(
                    "the Confidence token endpoint follows the Confidence URL to loopback: {url} (set --iam-url to send it elsewhere)"
                ));
            }
            ConfidenceUrls::all(url)
        } else if let Some((origin, option)) = local(args).filter(|_| !names_hosts(cf)) {
            notes.push(format!(
                "Confidence follows {option} to loopback: {origin} (set --confidence-url to send it elsewhere)"
            ));
            ConfidenceUrls::all(&origin)
        } else {
            from_config(cf)
        };
        if let Some(iam) = &args.iam_url {
            urls.iam.clone_from(iam);
        }
        (urls, notes)
    }

    /// Whether flagsync.yaml names a Confidence host on purpose (then it stays where it is
    /// when another service's override points at loopback).
    fn names_hosts(cf: &ConfidenceConfig) -> bool {
        [
            &cf.url,
            &cf.experiments_url,
            &cf.flags_url,
            &cf.stats_url,
            &cf.iam_url,
        ]
        .iter()
        .any(|u| u.is_some())
    }

    /// The hosts flagsync.yaml names: the account's region, or everything at `url`, each
    /// API's own setting winning over both.
    fn from_config(cf: &ConfidenceConfig) -> ConfidenceUrls {
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
}

/// Where credentials may go. A repository is untrusted (a pull request can edit
/// flagsync.yaml), so a URL that flagsync.yaml sets must be on the service's documented
/// hosts or loopback, unless whoever runs flagsync allows its host (`--allow-host`,
/// `FLAGSYNC_ALLOWED_HOSTS`); flagsync.yaml cannot allow a host itself. URLs given as
/// options or in the environment are the operator's and are not checked. Checked before
/// any client exists, so a refused host never receives a request.
mod hosts {
    use flagsync_manifest::model::ConfidenceConfig;
    use flagsync_remote::{
        ConfidenceUrls, Service, documented_hosts, is_trusted_url, normalize_host, url_host,
    };
    use miette::miette;

    use super::RemoteArgs;

    /// The host of `url` (which flagsync.yaml's `setting` gave) is trusted for `service`,
    /// or allowed by the operator.
    pub fn check(
        service: Service,
        setting: &str,
        url: &str,
        args: &RemoteArgs,
    ) -> miette::Result<()> {
        if is_trusted_url(service, url) {
            return Ok(());
        }
        let Some(host) = url_host(url) else {
            // Not a URL: the client refuses it with the reason, before sending anything.
            return Ok(());
        };
        let allowed = args.allow_hosts.iter().any(|entry| {
            let entry = entry.trim();
            let entry = if entry.contains("://") {
                url_host(entry).unwrap_or_default()
            } else {
                normalize_host(entry)
            };
            !entry.is_empty() && entry == host
        });
        if allowed {
            return Ok(());
        }
        Err(miette!(
            help = format!(
                "a pull request can change flagsync.yaml, so only whoever runs flagsync can allow another host: set FLAGSYNC_ALLOWED_HOSTS={host} (comma-separated) or pass --allow-host {host} where flagsync runs; {service}'s hosts are {}, and loopback is always allowed. Nothing was sent",
                documented_hosts(service).join(", ")
            ),
            "flagsync.yaml points `{setting}` at {host}, which is not a {service} host: flagsync would send it the {service} credentials"
        ))
    }

    /// Each Confidence URL that came from flagsync.yaml, named by the setting that gave it;
    /// the token endpoint only when client credentials go there.
    pub fn check_confidence(
        cf: &ConfidenceConfig,
        args: &RemoteArgs,
        urls: &ConfidenceUrls,
        credentials: bool,
    ) -> miette::Result<()> {
        if args.confidence_url.is_some() {
            // Every API, and the token endpoint unless --iam-url, is the operator's.
            return Ok(());
        }
        let setting = |own: &Option<String>, name: &'static str| {
            if own.is_some() {
                format!("confidence.{name}")
            } else {
                "confidence.url".to_owned()
            }
        };
        for (url, own, name) in [
            (&urls.experiments, &cf.experiments_url, "experiments_url"),
            (&urls.flags, &cf.flags_url, "flags_url"),
            (&urls.stats, &cf.stats_url, "stats_url"),
        ] {
            check(Service::Confidence, &setting(own, name), url, args)?;
        }
        if credentials && args.iam_url.is_none() {
            check(
                Service::Confidence,
                &setting(&cf.iam_url, "iam_url"),
                &urls.iam,
                args,
            )?;
        }
        Ok(())
    }
}

/// Connects only to the providers `scope` reads, so a missing credential of another one
/// does not get in the way.
pub fn connect_scope(
    root: &Path,
    config: &Config,
    args: &RemoteArgs,
    scope: &LiveScope,
) -> miette::Result<Connection> {
    let mut needed = config.clone();
    if !scope.reads(Provider::CloudBees) && !scope.reads(Provider::Unify) {
        needed.cloudbees = None;
    }
    if !scope.reads(Provider::Confidence) {
        needed.confidence = None;
    }
    connect(root, &needed, args)
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
    settings.http = args.http(rps, RetryPolicy::default());
    CloudBeesClient::new(settings).wrap_err("cannot set up the CloudBees client")
}

/// Tells the user (on stderr) when the embedded emulator, not a real service, is answering,
/// and where an endpoint followed a loopback override.
pub fn announce(conn: &Connection) {
    if let Some(state) = &conn.emulator_state {
        eprintln!(
            "note: using the embedded emulator (state in {}); remove `emulator:` from flagsync.yaml to talk to the real services",
            state.display()
        );
    }
    for note in &conn.notes {
        eprintln!("note: {note}");
    }
}

/// Reads a credential from the environment; the error names the variable, never a value.
fn token_from_env(var: &str, setting: &str) -> miette::Result<Secret> {
    // doctor and results do not validate flagsync.yaml first: a secret pasted in place of
    // the variable's name must not be repeated here.
    if !flagsync_manifest::is_showable_env_name(var) {
        return Err(miette!(
            help = "never write a secret in flagsync.yaml; write e.g. CLOUDBEES_API_TOKEN and export that variable (`flagsync validate` shows where)",
            "flagsync.yaml `{setting}` does not name an environment variable: it is not a variable name, or looks like a secret itself (not shown)"
        ));
    }
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
            allow_hosts: Vec::new(),
        }
    }

    fn urls(cf: &ConfidenceConfig, args: &RemoteArgs) -> ConfidenceUrls {
        endpoints::confidence(cf, args, true).0
    }

    fn config(json: serde_json::Value) -> ConfidenceConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn hosts_follow_the_region_one_url_and_each_override() {
        let eu = urls(
            &config(serde_json::json!({"token_env": "T"})),
            &args(None, None),
        );
        assert_eq!(
            eu,
            ConfidenceUrls::for_region(flagsync_remote::ConfidenceRegion::Eu)
        );
        let us = urls(
            &config(serde_json::json!({"token_env": "T", "region": "us"})),
            &args(None, None),
        );
        assert_eq!(us.flags, "https://flags.us.confidence.dev");
        assert_eq!(us.iam, "https://iam.us.confidence.dev");
        assert_eq!(us.stats, "https://stats.us.confidence.dev");
        assert_eq!(us.experiments, "https://experiments.confidence.dev");
        let one = urls(
            &config(
                serde_json::json!({"token_env": "T", "url": "http://127.0.0.1:9", "stats_url": "https://stats.example"}),
            ),
            &args(None, None),
        );
        assert_eq!(one.experiments, "http://127.0.0.1:9");
        assert_eq!(one.flags, "http://127.0.0.1:9");
        assert_eq!(one.iam, "http://127.0.0.1:9");
        assert_eq!(one.stats, "https://stats.example");
        let cli = urls(
            &config(serde_json::json!({"token_env": "T", "flags_url": "https://f.example"})),
            &args(Some("http://127.0.0.1:1"), Some("http://127.0.0.1:2")),
        );
        assert_eq!(cli.flags, "http://127.0.0.1:1");
        assert_eq!(cli.iam, "http://127.0.0.1:2");
    }
}
