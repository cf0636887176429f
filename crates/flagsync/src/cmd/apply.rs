use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use flagsync_apply::{ApplyEvent, ApplyOptions, ApplyReport, Clients};
use flagsync_pipeline::LiveScope;
use flagsync_plan::{Plan, TargetFilter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::cmd::plan::PruneArgs;
use crate::output::GlobalArgs;
use crate::pipeline::{self, Terminal};
use crate::remote::{self, RemoteArgs};
use crate::source::RepoArgs;

pub use crate::output::HumanOrJson as Format;

#[derive(Debug, clap::Args)]
#[command(
    mut_arg("dir", |a| a.help("The repository to apply")),
    mut_arg("rev", |a| a.help("Apply this git revision of the repository instead of the files on disk")),
)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Apply exactly this saved plan (from `flagsync plan --out FILE`); refuses, before
    /// writing anything, when live state changed since the plan was made.
    #[arg(long = "plan", value_name = "FILE")]
    pub plan_file: Option<PathBuf>,
    /// Do not ask for confirmation. Required when not attached to a terminal.
    #[arg(long)]
    pub auto_approve: bool,
    #[command(flatten)]
    pub prune: PruneArgs,
    /// Refuse to run a plan that deletes more than N resources.
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// Actions in flight at once, per service.
    #[arg(long, value_name = "N", default_value_t = flagsync_apply::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Only apply these resources (and what they depend on): KIND/NAME.
    #[arg(long = "target", value_name = "KIND/NAME")]
    pub targets: Vec<TargetFilter>,
    /// Only this CloudBees environment's experiments (repeatable); target groups and
    /// rollouts are applied either way.
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// human, or json (a versioned report on stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let terminal = Terminal::new();
    let source = args.repo.open()?;
    let loaded = flagsync_pipeline::load_valid(source.as_ref(), &terminal)?;
    let config = flagsync_pipeline::config(&loaded)?;
    let saved = match &args.plan_file {
        Some(file) => {
            if args.prune.prune.is_some()
                || args.prune.prune_flags
                || !args.targets.is_empty()
                || !args.envs.is_empty()
            {
                return Err(miette!(
                    "--prune, --prune-flags, --target and --env shape a new plan; a saved plan is applied exactly as it was made"
                ));
            }
            let text = std::fs::read_to_string(file)
                .into_diagnostic()
                .wrap_err_with(|| format!("cannot read the plan {}", file.display()))?;
            Some(
                Plan::from_json(&text)
                    .wrap_err_with(|| format!("{}: not a flagsync plan", file.display()))?,
            )
        }
        None => None,
    };
    let options = args.prune.options(config, &args.targets, &args.envs);
    if saved.is_none() {
        super::plan::check_prune_flags(&options)?;
    }
    // Read (and so need credentials for) only what the plan can touch.
    let scope = match &saved {
        Some(plan) => LiveScope::for_plan(plan),
        None => LiveScope::for_options(&loaded.repository, &options)?,
    };
    let conn = remote::connect_scope(&args.repo.dir, config, &args.remote, &scope)?;
    remote::announce(&conn);
    let runtime = pipeline::runtime()?;
    let read = flagsync_pipeline::read_live(conn.services(), &loaded, &scope, &terminal);
    let snapshot = runtime.block_on(read)?;
    let live = flagsync_pipeline::live_resources(&snapshot, &loaded);

    let plan = match saved {
        Some(plan) => {
            flagsync_pipeline::check_duplicates(&live)?;
            flagsync_apply::ensure_unchanged(&plan, &live)?;
            plan
        }
        None => {
            let mut plan = flagsync_pipeline::plan(&loaded, &live, &options)?;
            plan.metadata = crate::metadata::of(source.as_ref(), Some(config), &args.envs);
            plan
        }
    };

    if !plan.has_changes() {
        match args.format {
            Format::Human => println!("{}", plan.summary.line()),
            Format::Json => {
                let report = ApplyReport {
                    metadata: plan.metadata.clone(),
                    ..ApplyReport::default()
                };
                println!("{}", report_json(&report));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    flagsync_apply::check_max_deletes(&plan, args.max_deletes)?;

    if args.format == Format::Human {
        print!(
            "{}",
            super::plan::render(&plan, super::plan::Format::Human, global)
        );
    }
    if !args.auto_approve {
        confirm()?;
    }

    let clients = Clients {
        cloudbees: conn.cloudbees.clone(),
        confidence: conn.confidence.clone(),
        unify: conn.unify.clone(),
    };
    let options = ApplyOptions {
        concurrency: args.concurrency,
        ..ApplyOptions::default()
    };
    let bar = progress_bar(plan.actions.len() as u64, args.format == Format::Human);
    let on_event = |event: ApplyEvent| match event {
        ApplyEvent::Started { id } => bar.set_message(id),
        ApplyEvent::Finished { .. } | ApplyEvent::Skipped { .. } => bar.inc(1),
    };
    let report = runtime.block_on(flagsync_apply::apply(&plan, &clients, &options, &on_event));
    bar.finish_and_clear();

    match args.format {
        Format::Human => print!("{}", report.render_human()),
        Format::Json => println!("{}", report_json(&report)),
    }
    Ok(if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report_json(report: &ApplyReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Asks on the terminal; without one, refuses: an unattended apply must say so.
fn confirm() -> miette::Result<()> {
    confirm_or_refuse(
        "apply",
        "pass --auto-approve to apply without a terminal (CI), ideally with --plan FILE from a reviewed plan",
    )
}

/// Asks on the terminal whether `command` may write; without a terminal, refuses with
/// `help`.
pub(crate) fn confirm_or_refuse(command: &str, help: &str) -> miette::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = help.to_owned(),
            "refusing to {command} without confirmation: standard input is not a terminal"
        ));
    }
    eprint!("\nApply these changes? Only 'yes' is accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .into_diagnostic()?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(miette!("{command} cancelled; nothing was written"))
    }
}

/// A progress bar on stderr for long runs on a terminal; hidden otherwise.
fn progress_bar(len: u64, human: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if !human || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}
