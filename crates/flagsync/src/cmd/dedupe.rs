//! `flagsync dedupe [--keep INSTANCE]…`: the rollouts that carry one flagsync id, and
//! keeping one of each. The work is `flagsync_pipeline::dedupe`'s; this shows it.

use std::path::PathBuf;
use std::process::ExitCode;

use flagsync_pipeline::LiveScope;
use flagsync_pipeline::dedupe::{self, Copies, Unlabelled};
use flagsync_remote::{DUPLICATE_OF_LABEL, LiveRollout, ROLLOUT_ID_LABEL};
use miette::miette;

use crate::output::GlobalArgs;
use crate::pipeline::{self, Terminal};
use crate::remote::{self, RemoteArgs};

/// List the Confidence rollouts that carry one flagsync id, and keep one of each.
///
/// flagsync manages one rollout per manifest id (its `flagsync-id` label); `plan` and
/// `apply` refuse to run while several rollouts carry one. Without --keep, lists each such
/// id with its copies and exits 1. With --keep INSTANCE (one per id), removes the label from
/// the other copies of that id: Confidence has no call that deletes a rollout, so they stay
/// there, unmanaged, labelled `flagsync-duplicate-of: ID` (end or remove them in Confidence).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository whose flagsync.yaml says how to reach Confidence.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Keep this rollout (its instance id, bare or `workflows/rollout/instances/ID`) and
    /// un-label the other copies of its id. Repeatable, one per id.
    #[arg(long, value_name = "INSTANCE")]
    pub keep: Vec<String>,
    /// Do not ask for confirmation. Required when not attached to a terminal.
    #[arg(long)]
    pub auto_approve: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let terminal = Terminal::new();
    let source = crate::source::open(&args.dir, None)?;
    let loaded = flagsync_pipeline::load_valid(source.as_ref(), &terminal)?;
    let config = flagsync_pipeline::config(&loaded)?;
    if config.confidence.is_none() {
        return Err(miette!(
            help = "add a `confidence:` section (see examples/quickstart/flagsync.yaml)",
            "flagsync.yaml configures no Confidence provider, so there are no rollouts to dedupe"
        ));
    }
    let scope = LiveScope {
        environments: Vec::new(),
        target_groups: false,
        rollouts: true,
        every_segment: false,
        unify: false,
    };
    let conn = remote::connect_scope(&args.dir, config, &args.remote, &scope)?;
    remote::announce(&conn);
    let Some(client) = conn.confidence.as_ref() else {
        return Err(miette!("no Confidence client"));
    };
    let runtime = pipeline::runtime()?;
    let found = runtime.block_on(dedupe::find(client))?;

    if found.is_empty() {
        if let Some(keep) = args.keep.first() {
            return Err(miette!(
                help = "nothing to dedupe; nothing was sent",
                "--keep {keep}: no rollout id is carried by more than one rollout"
            ));
        }
        println!("No rollout id is carried by more than one rollout.");
        return Ok(ExitCode::SUCCESS);
    }
    // Checked before anything is shown as planned, let alone sent.
    let (resolutions, left) = dedupe::resolve(&found, &args.keep)?;
    for copies in &found {
        print!("{}", listing(copies));
    }
    if resolutions.is_empty() {
        let suggestion: Vec<String> = found
            .iter()
            .map(|c| format!("--keep {}", instance(c.suggested())))
            .collect();
        println!(
            "\nKeep one of each (a live one, else the oldest, is suggested): flagsync dedupe {}",
            suggestion.join(" ")
        );
        println!(
            "The others lose their {ROLLOUT_ID_LABEL} label and carry {DUPLICATE_OF_LABEL}; Confidence has no call that deletes them."
        );
        return Ok(ExitCode::from(1));
    }

    println!();
    for r in &resolutions {
        let others: Vec<&str> = r.unlabel.iter().map(instance).collect();
        println!(
            "rollout/{}: keep {}, remove the {ROLLOUT_ID_LABEL} label from {}",
            r.id,
            instance(&r.keep),
            others.join(", ")
        );
    }
    if !args.auto_approve {
        super::apply::confirm_or_refuse(
            "dedupe",
            "pass --auto-approve to un-label without a terminal",
        )?;
    }
    let mut failed = 0usize;
    for r in &resolutions {
        for outcome in runtime.block_on(dedupe::unlabel(client, r)) {
            match outcome {
                Unlabelled::Done { instance, live } => {
                    println!(
                        "un-labelled {instance} (now {DUPLICATE_OF_LABEL}={}){}",
                        r.id,
                        if live {
                            "; it is still live and no longer managed: end it in Confidence"
                        } else {
                            ""
                        }
                    );
                }
                Unlabelled::Changed { instance } => {
                    println!(
                        "left {instance} alone: it no longer carries {ROLLOUT_ID_LABEL}={} (changed meanwhile)",
                        r.id
                    );
                }
                Unlabelled::Failed { instance, error } => {
                    failed += 1;
                    let report = miette::Report::new(error)
                        .wrap_err(format!("un-labelling {instance} failed"));
                    crate::output::print_report(&report, false);
                }
            }
        }
    }
    for copies in &left {
        println!(
            "rollout/{}: no --keep names one of its copies; left as it is",
            copies.id
        );
    }
    Ok(if failed == 0 && left.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn instance(r: &LiveRollout) -> &str {
    r.instance_id.as_deref().unwrap_or("(unnamed)")
}

/// `rollout/search is carried by 2 rollouts:` and a line per copy, oldest first.
fn listing(copies: &Copies) -> String {
    let mut out = format!(
        "rollout/{} is carried by {} rollouts:\n",
        copies.id,
        copies.rollouts.len()
    );
    for r in &copies.rollouts {
        out.push_str(&format!(
            "  {}  {}  created {}  {}\n",
            instance(r),
            r.state.as_deref().unwrap_or("?"),
            r.create_time.as_deref().unwrap_or("?"),
            r.display_name
                .as_deref()
                .map(|n| format!("{n:?}"))
                .unwrap_or_default()
        ));
    }
    out
}
