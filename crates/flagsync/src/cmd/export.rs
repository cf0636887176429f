//! `flagsync export`: write live state as manifests, to adopt an existing account. The work
//! is `flagsync_manifest::write`'s; this reads live state and says what happened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use flagsync_manifest::model::{DUPLICATE_OF_LABEL, ROLLOUT_ID_LABEL};
use flagsync_manifest::write::{self, RepoFiles, Scope};
use flagsync_manifest::{Kind, Loaded, Severity};
use flagsync_plan::normalize;

use crate::output::GlobalArgs;
use crate::pipeline;
use crate::remote::{self, RemoteArgs};

/// Write live state as manifests into the directories flagsync.yaml names.
///
/// One file per resource, named after its identity (made safe for every OS). A resource
/// that a manifest already declares is written to that manifest's file. Existing files are
/// never overwritten without --force. Archived flags go into the `archived/` folder of their
/// environment (a flag archived or restored since is moved there or back, with --force). A
/// rollout without the `flagsync-id` label gets an `id` derived from its display name and
/// names the `instance` it comes from, so that the next apply adopts it. Where a CloudBees
/// deployment lacks the list of every flag, its experiments list shows only flags with a
/// release rule, and a flag without one is exported only when the repository already
/// declares it. With `api: unify` the CasC tree (`casc:`) is written: properties, target
/// groups, flags, and each environment's flag configurations (those the service made for a
/// new flag and nobody changed only when declared). Manifests with errors stop the export
/// (fix them first); environments kept on another branch (`branch:`) are skipped.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository to write into (it needs a flagsync.yaml).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Export only these kinds (repeatable); default: every kind flagsync.yaml configures.
    #[arg(long = "kind", value_name = "KIND", value_parser = kind_parser())]
    pub kinds: Vec<Kind>,
    /// Export only these CloudBees environments' experiments or flag configurations
    /// (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// Overwrite existing files whose content differs from live state.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `--kind`: one of the kinds' names, with clap listing them in help and errors.
fn kind_parser() -> impl TypedValueParser<Value = Kind> {
    PossibleValuesParser::new(Kind::ALL.map(Kind::as_str)).try_map(|name| name.parse::<Kind>())
}

/// The repository has manifests with errors.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the repository has {0} error(s)")]
#[diagnostic(help(
    "fix them first (`flagsync validate`): export writes each resource into the file that declares it, so it must be able to read every manifest; nothing was written"
))]
struct RepositoryErrors(usize);

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let loaded = load(&args.dir)?;
    let config = flagsync_pipeline::config(&loaded)?;
    let scope = Scope::resolve(config, &args.kinds, &args.envs)?;
    for env in &scope.skipped {
        eprintln!(
            "warning: skipping environment {}: its experiments live on branch {}, which export cannot write; check that branch out and export there with `experiments: DIR`",
            env.name, env.branch
        );
    }

    // Connect only to the providers this export reads, so a missing credential for the
    // other one does not get in the way.
    let mut needed = config.clone();
    if !scope.reads_cloudbees() {
        needed.cloudbees = None;
    }
    if scope.rollouts.is_none() {
        needed.confidence = None;
    }
    let conn = remote::connect(&args.dir, &needed, &args.remote)?;
    remote::announce(&conn);
    let live_scope = match &scope.unify {
        // Configurations refer to target groups and flags by id: all three lists are read.
        Some(unify) => flagsync_pipeline::LiveScope {
            environments: unify.environments.clone(),
            target_groups: true,
            rollouts: scope.rollouts.is_some(),
            // Every rollout is exported, with its targeting, whether flagsync manages it yet
            // or not.
            every_segment: true,
            unify: true,
        },
        None => flagsync_pipeline::LiveScope {
            environments: scope.environments.keys().cloned().collect(),
            target_groups: scope.target_groups.is_some(),
            rollouts: scope.rollouts.is_some(),
            every_segment: true,
            unify: false,
        },
    };
    let terminal = pipeline::Terminal::new();
    let snapshot = pipeline::runtime()?.block_on(flagsync_pipeline::read_live(
        conn.services(),
        &loaded,
        &live_scope,
        &terminal,
    ))?;

    let files = RepoFiles::open(&args.dir)?;
    let export = write::build(
        &files,
        &loaded.repository,
        &scope,
        flagsync_pipeline::export::live_for_export(&snapshot, &loaded),
        &normalize::manifest_body,
    )?;
    let set_aside = snapshot
        .rollouts
        .iter()
        .filter(|r| flagsync_pipeline::export::set_aside(r))
        .count();
    if set_aside > 0 {
        eprintln!(
            "note: {set_aside} rollout(s) labelled {DUPLICATE_OF_LABEL} (copies flagsync stopped managing) were not exported; end or remove them in Confidence"
        );
    }
    if export.adopted_rollouts > 0 {
        eprintln!(
            "note: {} rollout(s) without the {ROLLOUT_ID_LABEL} label were written with an `id` from their name and the `instance` they come from; `flagsync plan` shows each as an adoption and `flagsync apply` gives it the label",
            export.adopted_rollouts
        );
    }
    if !export.not_live.is_empty() {
        let shown: Vec<&str> = export.not_live.iter().take(5).map(String::as_str).collect();
        let more = export.not_live.len() - shown.len();
        eprintln!(
            "note: {} manifest(s) declare resources that are not live, left as they are: {}{}; `flagsync plan` would create them again, so delete the files if they were removed on purpose",
            export.not_live.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    for w in &export.warnings {
        eprintln!("warning: {w}");
    }

    let written = files.write_all(&export.files, args.force)?;
    println!(
        "exported {} to {}",
        export.counts.describe(&scope),
        args.dir.display()
    );
    if written.unchanged > 0 || written.overwritten > 0 {
        println!(
            "{} file(s) written ({} overwritten), {} already up to date",
            written.written, written.overwritten, written.unchanged
        );
    }
    if written.moved > 0 {
        println!(
            "{} file(s) moved into or out of an `archived/` folder (flags archived or restored)",
            written.moved
        );
    }
    if export.files.is_empty() {
        // plan refuses a repository without manifests, so say what comes next.
        eprintln!(
            "note: the account holds nothing to export yet: write manifests into the directories flagsync.yaml names (see examples/quickstart), then `flagsync plan` and `flagsync apply` create them"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the repository. A directory with only a flagsync.yaml is fine; manifests with
/// errors are not: export must know which file declares which resource, or it would write
/// a second file for it.
fn load(dir: &Path) -> miette::Result<Loaded> {
    let source = crate::source::open(dir, None)?;
    let loaded = flagsync_manifest::load(source.as_ref());
    let mut errors = 0usize;
    let mut printer = crate::diagnostics::Printer::default();
    for d in &loaded.diagnostics {
        if !flagsync_pipeline::export::stops_export(d.code) {
            continue;
        }
        if d.severity == Severity::Error {
            errors += 1;
        }
        printer.print(d, &loaded.sources);
    }
    printer.finish("flagsync validate --format json");
    if errors > 0 {
        return Err(RepositoryErrors(errors).into());
    }
    Ok(loaded)
}
