//! `flagsync convert --to unify`: a legacy CloudBees repository written as a CloudBees Unify
//! CasC tree, offline. The conversion is `flagsync_pipeline::convert`'s; this reads the
//! repository, writes the files and says what happened.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use flagsync_manifest::write::{self, RepoFiles};
use flagsync_manifest::{CONFIG_FILE, Diagnostic, Loaded, Severity};
use flagsync_pipeline::convert::{Conversion, UnifyAccount};
use flagsync_plan::unify::translate::Translation;
use miette::{IntoDiagnostic, WrapErr};

use crate::output::GlobalArgs;
use crate::source::RepoArgs;

/// The formats `convert` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// CloudBees Unify configuration as code (`.cloudbees/casc/feature-management/`).
    Unify,
}

/// Write a legacy CloudBees repository as a CloudBees Unify CasC tree, offline.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Reads every environment the repository configures (branches of a branch-per-environment \
repository included) and writes one CasC tree: flags/, flag-configurations/<environment>/, \
target-groups/ and properties/ under .cloudbees/casc/feature-management/, by the field map \
of the legacy format to Unify. What Unify cannot express (platform overrides, ...) is left \
out and listed, each at its place in the legacy files.

A flagsync.yaml for the tree (`api: unify`) is written too when --organization and \
--application are given, or when the repository uses the embedded emulator (its default \
organization and application). Converting again writes the same bytes.

Exit status: 0 when the tree was written (also with parts left out), 1 on errors.")]
#[command(
    mut_arg("dir", |a| a.help("The legacy repository to read")),
    mut_arg("rev", |a| a.help("Read this git revision of the repository instead of the files on disk")),
)]
pub struct Args {
    /// The format to write.
    #[arg(long = "to", value_enum, value_name = "FORMAT")]
    pub to: Target,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Where to write the Unify repository; created when missing.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The CloudBees Unify organization (id or domain name) for the flagsync.yaml written.
    #[arg(long, value_name = "ORG", requires = "application")]
    pub organization: Option<String>,
    /// The CloudBees Unify application id for the flagsync.yaml written.
    #[arg(long, value_name = "ID", requires = "organization")]
    pub application: Option<String>,
    /// Overwrite files in --out whose content differs.
    #[arg(long)]
    pub force: bool,
}

/// The repository cannot be converted as it is.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum ConvertError {
    #[error("the repository has {0} error(s)")]
    #[diagnostic(help(
        "fix them first (`flagsync validate`): convert reads every manifest; nothing was written"
    ))]
    Invalid(usize),
    #[error("{0} is a CloudBees Unify CasC repository already")]
    #[diagnostic(help("convert reads legacy repositories (experiments/, target_groups/)"))]
    AlreadyUnify(String),
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let Target::Unify = args.to;
    let source = args.repo.open()?;
    let loaded = flagsync_manifest::load(source.as_ref());
    if loaded.repository.casc.is_some() {
        return Err(ConvertError::AlreadyUnify(args.repo.dir.display().to_string()).into());
    }
    print(&loaded.diagnostics, &loaded.sources);
    if loaded.has_errors() {
        return Err(ConvertError::Invalid(loaded.error_count()).into());
    }

    // The organization and application of the flagsync.yaml written: given, or the
    // embedded emulator's defaults when the repository uses it.
    let uses_emulator = loaded
        .repository
        .config
        .as_ref()
        .is_some_and(|c| c.emulator.is_some());
    let account = match (&args.organization, &args.application) {
        (Some(o), Some(a)) => Some(UnifyAccount {
            organization: o.clone(),
            application: a.clone(),
        }),
        _ if uses_emulator => Some(UnifyAccount {
            organization: flagsync_emulator::UNIFY_DEFAULT_ORGANIZATION_DOMAIN.to_owned(),
            application: flagsync_emulator::UNIFY_DEFAULT_APPLICATION_ID.to_owned(),
        }),
        _ => None,
    };
    let Conversion {
        translation,
        files,
        not_reproduced,
        wrote_config,
    } = flagsync_pipeline::convert::to_unify(&loaded, account)?;
    for (resource, mismatch) in &not_reproduced {
        eprintln!(
            "warning: {resource}: the manifest written does not reproduce the translation exactly ({mismatch})"
        );
    }

    std::fs::create_dir_all(&args.out)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", args.out.display()))?;
    let written = RepoFiles::open(&args.out)?.write_all(&files, args.force)?;

    let diagnostics = translation.diagnostics(&loaded.sources);
    print(&diagnostics, &loaded.sources);
    report(&translation, &loaded, args, wrote_config, written);
    Ok(ExitCode::SUCCESS)
}

fn print(diagnostics: &[Diagnostic], sources: &BTreeMap<String, String>) {
    for d in diagnostics {
        eprintln!("{:?}", crate::diagnostics::report(d, sources));
    }
}

/// What was written, and what the user must know.
fn report(
    translation: &Translation,
    loaded: &Loaded,
    args: &Args,
    wrote_config: bool,
    written: write::Written,
) {
    use flagsync_manifest::Kind;
    let count = |kind: Kind| {
        translation
            .resources
            .iter()
            .filter(|r| r.key.kind == kind)
            .count()
    };
    let n = |count: usize, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    let envs = loaded.repository.environments.len();
    let errors = translation
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = translation.findings.len() - errors;
    if errors > 0 {
        eprintln!(
            "{} could not be carried over (listed above); the tree has everything else",
            n(errors, "part", "parts")
        );
    }
    if warnings > 0 {
        eprintln!(
            "{} carried over differently (listed above)",
            n(warnings, "part was", "parts were")
        );
    }
    if loaded
        .repository
        .config
        .as_ref()
        .is_some_and(|c| c.confidence.is_some())
    {
        eprintln!(
            "note: Confidence rollouts are not CloudBees resources and were not converted; copy rollouts/ and the `confidence` section of flagsync.yaml if this repository should keep them"
        );
    }
    if !wrote_config {
        eprintln!(
            "note: no {CONFIG_FILE} was written: pass --organization and --application to write one with `api: unify`"
        );
    }
    println!(
        "converted {}, {} in {}, {} and {} to {}",
        n(count(Kind::Flag), "flag", "flags"),
        n(
            count(Kind::FlagConfiguration),
            "flag configuration",
            "flag configurations"
        ),
        n(envs, "environment", "environments"),
        n(
            count(Kind::UnifyTargetGroup),
            "target group",
            "target groups"
        ),
        n(count(Kind::CustomProperty), "property", "properties"),
        args.out.display(),
    );
    if written.unchanged > 0 || written.overwritten > 0 {
        println!(
            "{} file(s) written ({} overwritten), {} already up to date",
            written.written, written.overwritten, written.unchanged
        );
    }
}
