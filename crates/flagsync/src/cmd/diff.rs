//! `flagsync diff --base REV --head REV`: what a change to the repository changes in the
//! desired state, offline. The comparison is `flagsync_pipeline::compare`; this module
//! shows each revision's diagnostics as it is read and renders the result.

use std::path::PathBuf;
use std::process::ExitCode;

use flagsync_manifest::{Diagnostic, Loaded, Severity};
use flagsync_pipeline::{Observer, Side};

use crate::cmd::plan::{RenderArgs, render_framed};
use crate::output::GlobalArgs;

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Compares what the two revisions declare, offline: no service is read and no credential is \
needed, so it runs on pull requests from forks. The head revision is validated (its errors \
fail the diff); problems of the base are warnings, and what the base could not read shows as \
created. A resource the head no longer declares shows as deleted.

Environments read from another branch (`Staging: { branch: Staging }` in flagsync.yaml) are \
read from that branch's tip for both revisions, so they show changes only when the two \
revisions read them differently. Commits to such a branch are reviewed by diffing that \
branch's own revisions (e.g. `--base origin/Staging --head HEAD` on a pull request to it); a \
branch without flagsync.yaml reads as a legacy repository, whose one environment the output \
calls Production.

Exit status: 0 (with --detailed-exitcode: 0 no changes, 2 changes), 1 on errors.")]
pub struct Args {
    /// The revision the change starts from, e.g. the pull request's target `origin/main`.
    #[arg(long, value_name = "REV")]
    pub base: String,
    /// The revision with the change, e.g. `HEAD`. It is validated: its errors fail the diff.
    #[arg(long, value_name = "REV")]
    pub head: String,
    /// Any directory of the git repository; a subdirectory is read as the repository root
    /// in both revisions.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub render: RenderArgs,
    /// Exit 0 when the desired state is the same, 2 when it differs, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Base revision diagnostics shown in full; the rest are only counted.
const BASE_DIAGNOSTICS_SHOWN: usize = 10;

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let comparison = flagsync_pipeline::compare(&args.dir, &args.base, &args.head, &Revisions)?;
    let framing = comparison.framing();
    print!(
        "{}",
        render_framed(&comparison.plan, &args.render, global, &framing)
    );
    Ok(if args.detailed_exitcode && comparison.plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Shows each revision's diagnostics on stderr as it is read; nothing goes to stdout.
struct Revisions;

impl Observer for Revisions {
    fn revision_loaded(&self, side: Side, rev: &str, loaded: &Loaded) {
        print_diagnostics(loaded, rev, side);
    }
}

/// Prints a revision's diagnostics on stderr, each naming the revision (both revisions have
/// files of the same names). The base's errors become warnings, and only the first few are
/// shown: the base may predate today's rules, and its problems are not this change's.
fn print_diagnostics(loaded: &Loaded, rev: &str, side: Side) {
    let is_base = side == Side::Base;
    let shown: Vec<&Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| !is_base || d.is_error())
        .collect();
    let limit = if is_base {
        BASE_DIAGNOSTICS_SHOWN
    } else {
        usize::MAX
    };
    let mut printer = crate::diagnostics::Printer::default();
    for d in shown.iter().take(limit) {
        let mut d = (*d).clone();
        d.message = format!("{side} revision {rev}: {}", d.message);
        if is_base {
            d.severity = Severity::Warning;
        }
        printer.print(&d, &loaded.sources);
    }
    printer.finish(&format!("flagsync validate --ref {rev} --format json"));
    if shown.len() > limit {
        eprintln!(
            "warning: the base revision {rev} has {} more problem(s) not shown; \
             `flagsync validate --ref {rev}` lists them all",
            shown.len() - limit
        );
    }
}
