//! `flagsync export`: write live state as manifests, to adopt an existing account.
//!
//! The repository's `flagsync.yaml` says which providers, environments and directories to
//! use. Each live resource becomes one file, built from its canonical body so that `plan`
//! right after an export is empty (checked per resource before anything is written).

mod manifest;
mod names;
mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use flagsync_manifest::model::{Config, ROLLOUT_ID_LABEL};
use flagsync_manifest::{Loaded, Severity};
use flagsync_plan::normalize;
use flagsync_remote::LiveSnapshot;
use miette::{IntoDiagnostic, WrapErr, miette};
use serde_json::Value;

use self::manifest::Kind;
use crate::output::GlobalArgs;
use crate::pipeline;
use crate::remote::{self, RemoteArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum KindArg {
    TargetGroup,
    Experiment,
    Rollout,
}

/// Write live state as manifests into the directories flagsync.yaml names.
///
/// One file per resource, named after its identity (made safe for every OS). A resource
/// that a manifest already declares is written to that manifest's file. Existing files are
/// never overwritten without --force. Rollouts are exported only when they carry the
/// `flagsync-id` label. CloudBees lists only flags that have at least one release rule, so a
/// flag without one is exported only when the repository already declares it. Manifests
/// with errors stop the export (fix them first); environments kept on another branch
/// (`branch:`) are skipped.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository to write into (it needs a flagsync.yaml).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Export only these kinds (repeatable); default: every kind flagsync.yaml configures.
    #[arg(long = "kind", value_enum, value_name = "KIND")]
    pub kinds: Vec<KindArg>,
    /// Export only these CloudBees environments' experiments (repeatable).
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    /// Overwrite existing files whose content differs from live state.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// What to export, decided from the arguments and flagsync.yaml.
struct Scope {
    target_groups: Option<String>,
    /// Environment name → its experiments directory.
    environments: BTreeMap<String, String>,
    rollouts: Option<String>,
}

/// One file to write.
struct Planned {
    /// Relative to the repository, with `/`.
    rel: String,
    content: String,
}

#[derive(Default)]
struct Counts {
    target_groups: usize,
    experiments: usize,
    rollouts: usize,
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let loaded = load(&args.dir)?;
    let config = pipeline::config(&loaded)?;
    let scope = scope(args, config)?;

    // Connect only to the providers this export reads, so a missing credential for the
    // other one does not get in the way.
    let mut needed = config.clone();
    if scope.target_groups.is_none() && scope.environments.is_empty() {
        needed.cloudbees = None;
    }
    if scope.rollouts.is_none() {
        needed.confidence = None;
    }
    let conn = remote::connect(&args.dir, &needed, &args.remote)?;
    remote::announce_emulator(&conn);
    let snapshot = pipeline::runtime()?.block_on(fetch(&conn, &scope, &loaded))?;

    let mut warnings = Vec::new();
    let mut counts = Counts::default();
    let planned = build(
        &args.dir,
        &loaded,
        &scope,
        &snapshot,
        &mut counts,
        &mut warnings,
    )?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }

    let mut writes = Vec::new();
    let mut overwrites = Vec::new();
    let mut unchanged = 0usize;
    for file in &planned {
        let path = args.dir.join(&file.rel);
        match std::fs::read(&path) {
            Ok(existing) if existing == file.content.as_bytes() => unchanged += 1,
            Ok(_) => {
                overwrites.push(file.rel.clone());
                writes.push(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => writes.push(file),
            Err(e) => {
                return Err(miette!("cannot read {}: {e}", path.display()));
            }
        }
    }
    if !overwrites.is_empty() && !args.force {
        return Err(miette!(
            help = "pass --force to overwrite them (then review the changes with `git diff`); nothing was written",
            "export would overwrite {} existing file(s) whose content differs from live state:\n{}",
            overwrites.len(),
            overwrites
                .iter()
                .map(|f| format!("  {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    for file in &writes {
        write_file(&args.dir.join(&file.rel), &file.content)?;
    }

    println!("{}", summary(&scope, &counts, &args.dir));
    if unchanged > 0 || !overwrites.is_empty() {
        println!(
            "{} file(s) written ({} overwritten), {unchanged} already up to date",
            writes.len(),
            overwrites.len()
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
    // "no manifests yet" is what an export fixes, and environments on other branches are
    // skipped, so neither stops it.
    let ignorable = |code: &str| matches!(code, "no-manifests" | "branch-unavailable");
    let mut errors = 0usize;
    let mut printer = crate::diagnostics::Printer::default();
    for d in &loaded.diagnostics {
        if ignorable(d.code) {
            continue;
        }
        if d.severity == Severity::Error {
            errors += 1;
        }
        printer.print(d, &loaded.sources);
    }
    printer.finish("flagsync validate --format json");
    if errors > 0 {
        return Err(miette!(
            help = "fix them first (`flagsync validate`): export writes each resource into the file that declares it, so it must be able to read every manifest; nothing was written",
            "the repository has {errors} error(s)"
        ));
    }
    Ok(loaded)
}

fn scope(args: &Args, config: &Config) -> miette::Result<Scope> {
    let wants = |k: KindArg| args.kinds.is_empty() || args.kinds.contains(&k);
    let cloudbees = config.cloudbees.as_ref();
    for kind in &args.kinds {
        let missing = match kind {
            KindArg::TargetGroup | KindArg::Experiment => {
                cloudbees.is_none().then_some("cloudbees")
            }
            KindArg::Rollout => config.confidence.is_none().then_some("confidence"),
        };
        if let Some(provider) = missing {
            return Err(miette!(
                help = "add the provider to flagsync.yaml (see examples/quickstart/flagsync.yaml)",
                "--kind {}: flagsync.yaml configures no `{provider}` provider",
                kind_name(*kind)
            ));
        }
    }
    let mut environments = BTreeMap::new();
    if let Some(cb) = cloudbees {
        for name in &args.envs {
            if !cb.environments.contains_key(name) {
                let known: Vec<&str> = cb.environments.keys().map(String::as_str).collect();
                return Err(miette!(
                    help = format!("flagsync.yaml names: {}", known.join(", ")),
                    "--env {name}: no such environment in flagsync.yaml"
                ));
            }
        }
        if wants(KindArg::Experiment) {
            for (name, env) in &cb.environments {
                if !args.envs.is_empty() && !args.envs.contains(name) {
                    continue;
                }
                match (&env.branch, &env.experiments) {
                    (Some(branch), _) => eprintln!(
                        "warning: skipping environment {name}: its experiments live on branch {branch}, which export cannot write; check that branch out and export there with `experiments: DIR`"
                    ),
                    (None, _) => {
                        environments.insert(name.clone(), env.experiments_dir().to_owned());
                    }
                }
            }
        }
    } else if !args.envs.is_empty() {
        return Err(miette!(
            "--env: flagsync.yaml configures no `cloudbees` provider"
        ));
    }
    Ok(Scope {
        target_groups: cloudbees
            .filter(|_| wants(KindArg::TargetGroup))
            .map(|cb| cb.target_groups.clone()),
        environments,
        rollouts: config
            .confidence
            .as_ref()
            .filter(|_| wants(KindArg::Rollout))
            .map(|cf| cf.rollouts.clone()),
    })
}

fn kind_name(kind: KindArg) -> &'static str {
    match kind {
        KindArg::TargetGroup => "target-group",
        KindArg::Experiment => "experiment",
        KindArg::Rollout => "rollout",
    }
}

/// Reads what the scope covers: the target-group list, one experiment list per environment
/// (plus a GET for each flag the repository declares that the list hides), every rollout.
async fn fetch(
    conn: &remote::Connection,
    scope: &Scope,
    loaded: &Loaded,
) -> miette::Result<LiveSnapshot> {
    let live_scope = pipeline::LiveScope {
        environments: scope.environments.keys().cloned().collect(),
        target_groups: scope.target_groups.is_some(),
        rollouts: scope.rollouts.is_some(),
    };
    pipeline::fetch_live_in(conn, loaded, &live_scope).await
}

/// One resource to export: identity, directory, canonical live body, manifest.
struct Resource {
    kind: Kind,
    identity: String,
    /// What messages call it, e.g. `experiment Production/my.flag`.
    label: String,
    dir: String,
    canonical: Value,
    manifest: Value,
}

fn build(
    root: &Path,
    loaded: &Loaded,
    scope: &Scope,
    snapshot: &LiveSnapshot,
    counts: &mut Counts,
    warnings: &mut Vec<String>,
) -> miette::Result<Vec<Planned>> {
    let repo = &loaded.repository;
    let mut resources: Vec<Resource> = Vec::new();

    if let Some(dir) = &scope.target_groups {
        let mut seen = BTreeSet::new();
        let mut groups: Vec<(String, Value)> = snapshot
            .target_groups
            .iter()
            .filter_map(|raw| {
                let canonical = normalize::canonical_target_group(raw);
                let name = canonical["name"].as_str()?.to_owned();
                Some((name, canonical))
            })
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, canonical) in groups {
            if !seen.insert(name.clone()) {
                warnings.push(format!(
                    "the service lists target group {name:?} twice; exported once"
                ));
                continue;
            }
            resources.push(Resource {
                kind: Kind::TargetGroup,
                label: format!("target group {name:?}"),
                manifest: manifest::target_group(&canonical),
                identity: name,
                dir: dir.clone(),
                canonical,
            });
            counts.target_groups += 1;
        }
    }

    for (env, dir) in &scope.environments {
        let mut seen = BTreeSet::new();
        let mut items: Vec<(String, Value)> = snapshot
            .experiments
            .get(env)
            .map(|list| {
                list.iter()
                    .filter_map(|raw| {
                        let canonical = normalize::canonical_experiment(raw);
                        let flag = canonical["flag"].as_str()?.to_owned();
                        Some((flag, canonical))
                    })
                    .collect()
            })
            .unwrap_or_default();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        for (flag, canonical) in items {
            if !seen.insert(flag.clone()) {
                continue;
            }
            resources.push(Resource {
                kind: Kind::Experiment,
                label: format!("experiment {env}/{flag}"),
                manifest: manifest::experiment(&canonical),
                identity: flag,
                dir: dir.clone(),
                canonical,
            });
            counts.experiments += 1;
        }
    }

    if let Some(dir) = &scope.rollouts {
        let mut unlabelled = 0usize;
        let mut by_id: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
        for raw in &snapshot.rollouts {
            let instance = raw
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("(unnamed)")
                .to_owned();
            match raw
                .get("labels")
                .and_then(|l| l.get(ROLLOUT_ID_LABEL))
                .and_then(Value::as_str)
            {
                None => unlabelled += 1,
                Some(id) => by_id
                    .entry(id.to_owned())
                    .or_default()
                    .push((instance, raw.clone())),
            }
        }
        for (id, mut instances) in by_id {
            instances.sort_by(|a, b| a.0.cmp(&b.0));
            if !flagsync_manifest::is_valid_rollout_id(&id) {
                warnings.push(format!(
                    "skipped rollout {}: its {ROLLOUT_ID_LABEL} label {id:?} is not a valid manifest id (lowercase letters, digits and `-`)",
                    instances[0].0
                ));
                continue;
            }
            if instances.len() > 1 {
                let names: Vec<&str> = instances.iter().map(|(n, _)| n.as_str()).collect();
                warnings.push(format!(
                    "{} rollouts carry {ROLLOUT_ID_LABEL}={id} ({}); exported the first; remove the label from the others",
                    instances.len(),
                    names.join(", ")
                ));
            }
            let (instance, raw) = &instances[0];
            if let Some(pending) = raw.get("pendingTransition").filter(|p| !p.is_null()) {
                let target = pending
                    .get("targetState")
                    .and_then(Value::as_str)
                    .unwrap_or("another state");
                warnings.push(format!(
                    "rollout {id} ({instance}) is changing to {target}; exported as it is now; export again when the transition is done"
                ));
            }
            let canonical = normalize::canonical_rollout(raw);
            resources.push(Resource {
                kind: Kind::Rollout,
                label: format!("rollout {id}"),
                manifest: manifest::rollout(&id, &canonical),
                identity: id,
                dir: dir.clone(),
                canonical,
            });
            counts.rollouts += 1;
        }
        if unlabelled > 0 {
            eprintln!(
                "note: skipped {unlabelled} rollout(s) without the {ROLLOUT_ID_LABEL} label: flagsync manages only labelled rollouts; to adopt one, give it the label {ROLLOUT_ID_LABEL}=<id> in Confidence and export again"
            );
        }
    }

    for r in &resources {
        if let Err(why) = manifest::check(r.kind, &r.manifest, &r.canonical) {
            warnings.push(format!(
                "{}: the exported manifest does not reproduce live state exactly ({why}); `flagsync plan` will show a change for it",
                r.label
            ));
        }
    }

    let stale = not_live(repo, scope, &resources);
    if !stale.is_empty() {
        let shown: Vec<&str> = stale.iter().take(5).map(String::as_str).collect();
        let more = stale.len().saturating_sub(shown.len());
        eprintln!(
            "note: {} manifest(s) declare resources that are not live, left as they are: {}{}; `flagsync plan` would create them again, so delete the files if they were removed on purpose",
            stale.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }

    Ok(place(root, repo, resources))
}

/// Files of the exported kinds and directories whose resource was not found live.
fn not_live(
    repo: &flagsync_manifest::Repository,
    scope: &Scope,
    exported: &[Resource],
) -> Vec<String> {
    let live: BTreeSet<(Kind, &str, &str)> = exported
        .iter()
        .map(|r| (r.kind, r.dir.as_str(), r.identity.as_str()))
        .collect();
    let mut out = Vec::new();
    if let Some(dir) = &scope.target_groups {
        for item in &repo.target_groups {
            if !live.contains(&(Kind::TargetGroup, dir.as_str(), item.value.name.as_str())) {
                out.push(item.file.clone());
            }
        }
    }
    for env in &repo.environments {
        let Some(dir) = scope.environments.get(&env.name) else {
            continue;
        };
        for item in &env.experiments {
            if !live.contains(&(Kind::Experiment, dir.as_str(), item.value.flag.as_str())) {
                out.push(item.file.clone());
            }
        }
    }
    if let Some(dir) = &scope.rollouts {
        for item in &repo.rollouts {
            if !live.contains(&(Kind::Rollout, dir.as_str(), item.value.id.as_str())) {
                out.push(item.file.clone());
            }
        }
    }
    out
}

/// Decides each resource's file: the one that already declares it, else a new safe name.
fn place(
    root: &Path,
    repo: &flagsync_manifest::Repository,
    resources: Vec<Resource>,
) -> Vec<Planned> {
    // Where each identity is declared today (files of this tree only).
    let mut declared: BTreeMap<(Kind, String, String), String> = BTreeMap::new();
    if let Some(cb) = repo.config.as_ref().and_then(|c| c.cloudbees.as_ref()) {
        for item in &repo.target_groups {
            declared.insert(
                (
                    Kind::TargetGroup,
                    cb.target_groups.clone(),
                    item.value.name.clone(),
                ),
                item.file.clone(),
            );
        }
    }
    for env in repo.environments.iter().filter(|e| e.branch.is_none()) {
        for item in &env.experiments {
            declared.insert(
                (
                    Kind::Experiment,
                    env.experiments_dir.clone(),
                    item.value.flag.clone(),
                ),
                item.file.clone(),
            );
        }
    }
    if let Some(cf) = repo.config.as_ref().and_then(|c| c.confidence.as_ref()) {
        for item in &repo.rollouts {
            declared.insert(
                (Kind::Rollout, cf.rollouts.clone(), item.value.id.clone()),
                item.file.clone(),
            );
        }
    }

    let mut out = Vec::with_capacity(resources.len());
    // New files, grouped by directory so that names are chosen against each other.
    let mut fresh: BTreeMap<String, Vec<Resource>> = BTreeMap::new();
    for r in resources {
        match declared.get(&(r.kind, r.dir.clone(), r.identity.clone())) {
            Some(file) => out.push(Planned {
                rel: file.clone(),
                content: yaml::to_yaml(&r.manifest),
            }),
            None => fresh.entry(r.dir.clone()).or_default().push(r),
        }
    }
    for (dir, group) in fresh {
        let taken: BTreeSet<String> = std::fs::read_dir(root.join(&dir))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let identities: Vec<String> = group.iter().map(|r| r.identity.clone()).collect();
        let names = names::assign(&identities, &taken);
        for (r, name) in group.into_iter().zip(names) {
            let dir = dir.trim_end_matches('/');
            out.push(Planned {
                rel: if dir.is_empty() || dir == "." {
                    name
                } else {
                    format!("{dir}/{name}")
                },
                content: yaml::to_yaml(&r.manifest),
            });
        }
    }
    out
}

/// Writes through a temporary file and a rename, so an interrupted export never leaves a
/// half-written manifest.
fn write_file(path: &Path, content: &str) -> miette::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot create {}", parent.display()))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.flagsync-tmp"));
    std::fs::write(&tmp, content)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

fn summary(scope: &Scope, counts: &Counts, dir: &Path) -> String {
    fn n(count: usize, one: &str, many: &str) -> String {
        format!("{count} {}", if count == 1 { one } else { many })
    }
    let mut parts = Vec::new();
    if scope.target_groups.is_some() {
        parts.push(n(counts.target_groups, "target group", "target groups"));
    }
    if !scope.environments.is_empty() {
        parts.push(format!(
            "{} in {}",
            n(counts.experiments, "experiment", "experiments"),
            n(scope.environments.len(), "environment", "environments")
        ));
    }
    if scope.rollouts.is_some() {
        parts.push(n(counts.rollouts, "rollout", "rollouts"));
    }
    if parts.is_empty() {
        parts.push("nothing".to_owned());
    }
    format!("exported {} to {}", parts.join(", "), dir.display())
}
