//! `flagsync emulator`: the local emulator of CloudBees Feature Management (legacy and
//! Unify) and Confidence, served until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use flagsync_emulator::{EmulatorConfig, Faults};
use miette::{IntoDiagnostic, WrapErr};

use crate::output::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Keep state in this directory (survives restarts); in memory when absent.
    #[arg(long = "state", value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Accept this bearer token (repeatable). Prefer FLAGSYNC_EMULATOR_TOKENS (comma
    /// separated) to keep tokens off the command line. Without any, the documented default
    /// token `emulator-token` is accepted.
    #[arg(long = "token", value_name = "T", hide_env_values = true)]
    pub tokens: Vec<String>,
    /// Client credentials the token endpoint accepts, as ID:SECRET (repeatable). Also from
    /// FLAGSYNC_EMULATOR_CLIENT_CREDENTIALS (comma separated). Default:
    /// emulator-client:emulator-secret.
    #[arg(long = "client-credentials", value_name = "ID:SECRET")]
    pub client_credentials: Vec<String>,
    /// How long a launch stays pending before the rollout is live, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub launch_ms: u64,
    /// CloudBees rate limit per caller IP (requests per second); HTTP 555 beyond it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub cloudbees_rps: Option<u32>,
    /// CloudBees Unify rate limit per caller IP (requests per second); HTTP 429 beyond it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub unify_rps: Option<u32>,
    /// Latency added to every answer, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// Up to this much more random latency, in milliseconds.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub jitter_ms: u64,
    /// Share (0 to 1) of requests answered 500, 503 or 429 (CloudBees paths also 555)
    /// without being handled.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub error_rate: f64,
    /// Share (0 to 1) of requests whose connection is closed without an answer.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub drop_rate: f64,
    /// Share (0 to 1) of successful writes applied, then left unanswered (ambiguous failure).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_share)]
    pub drop_after_write_rate: f64,
    /// Seed of the fault and id generators, for repeatable runs.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Preload the resources used by the vendor documents' examples, and accept their
    /// example CloudBees token, so the documented requests work with only the host changed.
    #[arg(long)]
    pub examples: bool,
    /// With --state: answer a write only once it is on disk (slower; default writes within
    /// milliseconds after answering, and everything on Ctrl-C).
    #[arg(long)]
    pub sync_writes: bool,
    /// Serve only the CloudBees routes of the vendor's reference (experiments, target
    /// groups): the applications, environments and flags lists answer 404, like a
    /// deployment without them, so that flagsync's fallbacks can be tried.
    #[arg(long)]
    pub cloudbees_seed_routes_only: bool,
}

fn parse_share(s: &str) -> Result<f64, String> {
    let value: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not between 0 and 1"))
    }
}

const TOKENS_ENV: &str = "FLAGSYNC_EMULATOR_TOKENS";
const CREDENTIALS_ENV: &str = "FLAGSYNC_EMULATOR_CLIENT_CREDENTIALS";

fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The configuration from the flags and the two environment variables' values (passed in,
/// so that tests need not touch the process environment). The flag is `true` when the
/// built-in default token is in use.
fn config_from(
    args: &Args,
    env_tokens: Option<&str>,
    env_credentials: Option<&str>,
) -> miette::Result<(EmulatorConfig, bool)> {
    let mut tokens: Vec<String> = args
        .tokens
        .iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect();
    if let Some(value) = env_tokens {
        tokens.extend(split_list(value));
    }
    let defaults = EmulatorConfig::default();
    let default_token = tokens.is_empty();
    if default_token {
        tokens = defaults.tokens.clone();
    }
    let mut pairs: Vec<String> = args.client_credentials.clone();
    if let Some(value) = env_credentials {
        pairs.extend(split_list(value));
    }
    let client_credentials = if pairs.is_empty() {
        defaults.client_credentials.clone()
    } else {
        pairs
            .iter()
            .map(|pair| match pair.split_once(':') {
                Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                    Ok((id.to_owned(), secret.to_owned()))
                }
                // Never echo the value: it holds a secret.
                _ => Err(miette::miette!(
                    "client credentials must look like ID:SECRET (one value is malformed)"
                )),
            })
            .collect::<miette::Result<Vec<_>>>()?
    };
    let config = EmulatorConfig {
        state_dir: args.state.clone(),
        tokens,
        client_credentials,
        launch_duration: Duration::from_millis(args.launch_ms),
        cloudbees_requests_per_second: args.cloudbees_rps,
        unify_requests_per_second: args.unify_rps,
        faults: Faults {
            latency: Duration::from_millis(args.latency_ms),
            latency_jitter: Duration::from_millis(args.jitter_ms),
            error_rate: args.error_rate,
            drop_rate: args.drop_rate,
            drop_after_write_rate: args.drop_after_write_rate,
            seed: args.seed,
        },
        preload_examples: args.examples,
        sync_writes: args.sync_writes,
        cloudbees_seed_routes_only: args.cloudbees_seed_routes_only,
    };
    Ok((config, default_token))
}

/// Ctrl-C, or SIGTERM on Unix (how `docker stop` and CI runners stop a service).
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let env_tokens = std::env::var(TOKENS_ENV).ok();
    let env_credentials = std::env::var(CREDENTIALS_ENV).ok();
    let (config, default_token) =
        config_from(args, env_tokens.as_deref(), env_credentials.as_deref())?;
    let state = config.state_dir.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")?;
    runtime.block_on(async move {
        let emulator = flagsync_emulator::start(config, args.listen)
            .await
            .into_diagnostic()?;
        println!("flagsync emulator listening on {}", emulator.base_url());
        println!("  CloudBees base URL:   {}", emulator.cloudbees_url());
        println!(
            "  Confidence base URL:  {}  (every API: rollouts, segments, results, token endpoint {}/v1/oauth/token)",
            emulator.confidence_url(),
            emulator.confidence_url()
        );
        println!(
            "  Unify base URL:       {}  (organization {}, application {})",
            emulator.unify_url(),
            flagsync_emulator::UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
            flagsync_emulator::UNIFY_DEFAULT_APPLICATION_ID
        );
        println!(
            "  control:              {}/_emulator/health",
            emulator.base_url()
        );
        match &state {
            Some(dir) => println!("  state:                {}", dir.display()),
            None => println!("  state:                in memory (use --state DIR to keep it)"),
        }
        if default_token {
            // The built-in default is public (documented), not a secret; user tokens are
            // never printed.
            println!(
                "  bearer token:         the default `{}` (set --token or {TOKENS_ENV})",
                flagsync_emulator::DEFAULT_TOKEN
            );
        }
        if args.examples {
            println!("  examples:             the vendor documents' example resources are loaded");
        }
        if !emulator.addr().ip().is_loopback() {
            // Plain HTTP and unauthenticated /_emulator/ endpoints: fine on loopback only.
            eprintln!(
                "warning: listening on a non-loopback address; anyone who can reach it can \
                 change the emulator's faults and state over plain HTTP"
            );
        }
        println!("Press Ctrl-C to stop.");
        let stopped = stop_signal().await;
        // A clean stop writes the state that is still pending.
        emulator.shutdown().await;
        stopped
            .into_diagnostic()
            .wrap_err("cannot wait for Ctrl-C")?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("emulator").chain(argv.iter().copied()))
            .map(|cli| cli.args)
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).expect("parses");
        assert_eq!(args.listen, "127.0.0.1:8787".parse().expect("addr"));
        let (config, default_token) = config_from(&args, None, None).expect("config");
        assert!(default_token);
        assert_eq!(config.tokens, [flagsync_emulator::DEFAULT_TOKEN]);
        assert_eq!(
            config.client_credentials,
            EmulatorConfig::default().client_credentials
        );
        assert_eq!(config.faults, Faults::default());
        assert_eq!(config.launch_duration, Duration::from_millis(200));
        assert!(config.state_dir.is_none());
        assert_eq!(config.unify_requests_per_second, None);
    }

    #[test]
    fn flags_and_environment() {
        let args = parse(&[
            "--state",
            "/tmp/x",
            "--token",
            "a",
            "--client-credentials",
            "id:se:cret",
            "--launch-ms",
            "5",
            "--cloudbees-rps",
            "1",
            "--unify-rps",
            "3",
            "--latency-ms",
            "3",
            "--jitter-ms",
            "4",
            "--error-rate",
            "0.5",
            "--drop-rate",
            "0.25",
            "--drop-after-write-rate",
            "1",
            "--seed",
            "9",
            "--examples",
        ])
        .expect("parses");
        let (config, default_token) =
            config_from(&args, Some("b, c,,"), Some("x:y")).expect("config");
        assert!(!default_token);
        assert_eq!(config.tokens, ["a", "b", "c"]);
        assert_eq!(
            config.client_credentials,
            [
                ("id".to_owned(), "se:cret".to_owned()),
                ("x".to_owned(), "y".to_owned())
            ]
        );
        assert_eq!(config.cloudbees_requests_per_second, Some(1));
        assert_eq!(config.unify_requests_per_second, Some(3));
        assert_eq!(config.faults.error_rate, 0.5);
        assert_eq!(config.faults.drop_rate, 0.25);
        assert_eq!(config.faults.drop_after_write_rate, 1.0);
        assert_eq!(config.faults.latency_jitter, Duration::from_millis(4));
        assert_eq!(config.faults.seed, 9);
        assert!(config.preload_examples);
    }

    #[test]
    fn bad_values_are_refused_without_echoing_secrets() {
        assert!(parse(&["--error-rate", "1.5"]).is_err());
        assert!(parse(&["--cloudbees-rps", "0"]).is_err());
        assert!(parse(&["--unify-rps", "0"]).is_err());
        let args = parse(&["--client-credentials", "only-a-secret-like-value"]).expect("parses");
        let error = config_from(&args, None, None).expect_err("malformed pair");
        assert!(!format!("{error:?}").contains("only-a-secret-like-value"));
    }
}
