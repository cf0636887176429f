//! The `flagsync` command line. Only this crate prints; library crates return typed errors
//! that are rendered here with miette.

mod cmd;
mod diagnostics;
mod github;
mod metadata;
mod output;
mod pipeline;
mod remote;
mod schemas;
mod source;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "flagsync",
    version,
    about = "Keep feature-flag configuration in git and make the live services match it",
    propagate_version = true,
    after_long_help = output::exit_status_help()
)]
struct Cli {
    #[command(flatten)]
    global: output::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests offline: structure, values, references, cycles, duplicates.
    Validate(cmd::validate::Args),
    /// Read live state and show what apply would change.
    Plan(cmd::plan::Args),
    /// Make the live services match the repository.
    Apply(cmd::apply::Args),
    /// Offline semantic diff of the desired state between two git revisions.
    Diff(cmd::diff::Args),
    /// Write live state as manifests (adopt an existing account).
    Export(cmd::export::Args),
    /// Rewrite every manifest in its canonical form, the one export writes.
    Fmt(cmd::fmt::Args),
    /// Write a legacy CloudBees repository as a CloudBees Unify CasC tree, offline.
    Convert(cmd::convert::Args),
    /// Check that each configured provider can be used: URL, credentials, application, environments.
    Doctor(cmd::doctor::Args),
    /// Write a first flagsync.yaml for a CloudBees application the token can see.
    Init(cmd::init::Args),
    /// List the rollouts that carry one flagsync id, and keep one of each (--keep).
    Dedupe(cmd::dedupe::Args),
    /// Show a rollout's analysis results.
    Results(cmd::results::Args),
    /// Run the local emulator of both services.
    Emulator(cmd::emulator::Args),
    /// Write the JSON Schemas of every manifest kind, of flagsync.yaml and of the JSON outputs.
    Schema(cmd::schema::Args),
    /// Render a saved plan (from `plan --out FILE`) as plan would.
    Show(cmd::show::Args),
    /// Print the shell completion script for bash, zsh, fish, powershell or elvish.
    Completions(cmd::completions::Args),
    /// Print the manual page, or write every page with --out DIR.
    Man(cmd::man::Args),
}

impl Command {
    /// Whether the command prints a JSON document (`--format json`): its errors are then a
    /// JSON document on stdout too.
    fn json_output(&self) -> bool {
        match self {
            Command::Validate(a) => a.format == cmd::validate::Format::Json,
            Command::Plan(a) => a.render.format == cmd::plan::Format::Json,
            Command::Apply(a) => a.format == cmd::apply::Format::Json,
            Command::Diff(a) => a.render.format == cmd::plan::Format::Json,
            Command::Show(a) => a.render.format == cmd::plan::Format::Json,
            _ => false,
        }
    }
}

fn main() -> ExitCode {
    let cli: Cli = output::parse_args();
    output::init(&cli.global);
    let result = match &cli.command {
        Command::Validate(args) => cmd::validate::run(args, &cli.global),
        Command::Plan(args) => cmd::plan::run(args, &cli.global),
        Command::Apply(args) => cmd::apply::run(args, &cli.global),
        Command::Diff(args) => cmd::diff::run(args, &cli.global),
        Command::Export(args) => cmd::export::run(args, &cli.global),
        Command::Fmt(args) => cmd::fmt::run(args, &cli.global),
        Command::Convert(args) => cmd::convert::run(args, &cli.global),
        Command::Doctor(args) => cmd::doctor::run(args, &cli.global),
        Command::Init(args) => cmd::init::run(args, &cli.global),
        Command::Dedupe(args) => cmd::dedupe::run(args, &cli.global),
        Command::Results(args) => cmd::results::run(args, &cli.global),
        Command::Emulator(args) => cmd::emulator::run(args, &cli.global),
        Command::Schema(args) => cmd::schema::run(args, &cli.global),
        Command::Show(args) => cmd::show::run(args, &cli.global),
        Command::Completions(args) => cmd::completions::run(args, &cli.global),
        Command::Man(args) => cmd::man::run(args, &cli.global),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            output::print_report(&report, cli.command.json_output());
            ExitCode::from(1)
        }
    }
}
