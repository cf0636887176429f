//! `flagsync doctor`: whether each provider flagsync.yaml configures can be used: its URL
//! answers, its credentials are accepted, its application and environments exist. The
//! checks are `flagsync_pipeline::doctor`'s; this connects and shows them.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use flagsync_manifest::model::{CloudbeesConfig, ConfidenceConfig, Config};
use flagsync_pipeline::doctor::{self, Check, Outcome};
use flagsync_remote::RetryPolicy;
use miette::Diagnostic;

use crate::output::GlobalArgs;
use crate::pipeline;
use crate::remote::{self, Connection, RemoteArgs};

/// Check that each configured provider can be used: the URL answers, the credentials are
/// accepted, the application and environments exist. Exits 1 when a check fails; what the
/// APIs cannot tell is shown as not checked. Reads only; never writes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository whose flagsync.yaml names the providers.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// A check made here, before any request: the credentials and URLs can be set up.
enum Line {
    Check(Check),
    Setup(miette::Report),
}

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    // Only flagsync.yaml matters here; problems in manifests are validate's.
    let source = crate::source::open(&args.dir, None)?;
    let loaded = flagsync_manifest::load(source.as_ref());
    let config = flagsync_pipeline::config(&loaded)?;
    if loaded.has_errors() {
        eprintln!(
            "note: the manifests have {} error(s) (`flagsync validate` shows them); doctor checks the services only",
            loaded.error_count()
        );
    }
    if config.cloudbees.is_none() && config.confidence.is_none() {
        return Err(miette::miette!(
            help = "add a `cloudbees:` or `confidence:` section (see examples/quickstart/flagsync.yaml)",
            "flagsync.yaml configures no provider, so there is nothing to check"
        ));
    }
    // Fail fast: a doctor that retries an unreachable host for minutes helps nobody.
    let retry = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    let runtime = pipeline::runtime()?;
    let color = global.color_stdout();
    let mut out = String::new();
    let (mut passed, mut failed, mut unchecked) = (0, 0, 0);
    let mut count = |lines: &[Line]| {
        for line in lines {
            match line {
                Line::Check(c) => match c.outcome {
                    Outcome::Passed(_) => passed += 1,
                    Outcome::Failed(_) | Outcome::Missing { .. } => failed += 1,
                    Outcome::NotChecked(_) => unchecked += 1,
                },
                Line::Setup(_) => failed += 1,
            }
        }
    };

    if let Some(cb) = &config.cloudbees {
        let conn = connect_alone(args, config, Some(cb.clone()), None, retry.clone());
        let environments: Vec<String> = cb.environments.keys().cloned().collect();
        let checked = match conn {
            Ok(Connection {
                cloudbees: Some(client),
                ..
            }) => {
                let _ = writeln!(
                    out,
                    "CloudBees: application {} at {}",
                    cb.application,
                    client.base_url()
                );
                Ok(runtime.block_on(doctor::check_cloudbees(&client, &environments)))
            }
            Ok(Connection {
                unify: Some(client),
                ..
            }) => {
                let _ = writeln!(
                    out,
                    "CloudBees Unify: organization {}, application {} at {}",
                    client.organization(),
                    client.application(),
                    client.base_url()
                );
                Ok(runtime.block_on(doctor::check_unify(&client, &environments)))
            }
            Ok(_) => Ok(Vec::new()),
            Err(report) => {
                let _ = writeln!(out, "CloudBees: application {}", cb.application);
                Err(report)
            }
        };
        let lines = lines(checked);
        render(&lines, color, &mut out);
        count(&lines);
    }
    if let Some(cf) = &config.confidence {
        let checked = match connect_alone(args, config, None, Some(cf.clone()), retry) {
            Ok(Connection {
                confidence: Some(client),
                ..
            }) => {
                let _ = match client.token_url() {
                    Some(token) => writeln!(
                        out,
                        "Confidence: {} (token endpoint {token})",
                        client.base_url()
                    ),
                    None => writeln!(out, "Confidence: {}", client.base_url()),
                };
                Ok(runtime.block_on(doctor::check_confidence(&client)))
            }
            Ok(_) => Ok(Vec::new()),
            Err(report) => {
                let _ = writeln!(out, "Confidence");
                Err(report)
            }
        };
        let lines = lines(checked);
        render(&lines, color, &mut out);
        count(&lines);
    }
    let _ = writeln!(
        out,
        "\n{passed} passed, {failed} failed, {unchecked} not checked."
    );
    print!("{out}");
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Connects to one provider of `config` alone, `cloudbees` or `confidence` (the other
/// section left out), and says what it connects to.
fn connect_alone(
    args: &Args,
    config: &Config,
    cloudbees: Option<CloudbeesConfig>,
    confidence: Option<ConfidenceConfig>,
    retry: RetryPolicy,
) -> miette::Result<Connection> {
    let only = Config {
        cloudbees,
        confidence,
        ..config.clone()
    };
    let conn = remote::connect_with(&args.dir, &only, &args.remote, retry);
    if let Ok(conn) = &conn {
        remote::announce(conn);
    }
    conn
}

/// The lines of one provider: its checks, or why it could not be set up.
fn lines(checked: miette::Result<Vec<Check>>) -> Vec<Line> {
    match checked {
        Ok(checks) => checks.into_iter().map(Line::Check).collect(),
        Err(report) => vec![Line::Setup(report)],
    }
}

fn render(lines: &[Line], color: bool, out: &mut String) {
    let style = |s: console::Style| {
        if color {
            s.force_styling(true)
        } else {
            console::Style::new()
        }
    };
    let ok = style(console::Style::new().green());
    let bad = style(console::Style::new().red().bold());
    let dim = style(console::Style::new().yellow());
    for line in lines {
        let (label, subject, detail, help) = match line {
            Line::Check(check) => {
                let subject = check.subject.as_str();
                match &check.outcome {
                    Outcome::Passed(how) => {
                        (ok.apply_to("ok         "), subject, how.clone(), None)
                    }
                    Outcome::Failed(error) => (
                        bad.apply_to("FAILED     "),
                        subject,
                        chain(error),
                        error.help(),
                    ),
                    Outcome::Missing { what, help } => (
                        bad.apply_to("FAILED     "),
                        subject,
                        what.clone(),
                        Some(Box::new(help.clone()) as Box<dyn std::fmt::Display>),
                    ),
                    Outcome::NotChecked(why) => {
                        (dim.apply_to("not checked"), subject, why.clone(), None)
                    }
                }
            }
            Line::Setup(report) => (
                bad.apply_to("FAILED     "),
                "setup",
                chain(report.as_ref()),
                report.help(),
            ),
        };
        let _ = writeln!(out, "  {label}  {subject}: {detail}");
        if let Some(help) = help {
            let _ = writeln!(out, "               help: {help}");
        }
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
