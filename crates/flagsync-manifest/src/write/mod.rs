//! Writing the format: live resources, given as canonical bodies, back into manifest files of
//! a repository, the reverse of [`crate::load`]: the legacy layout's directories, or (CloudBees
//! Unify) the folders of a CasC tree. Used by `flagsync export`; nothing here prints.
//!
//! [`Scope::resolve`] decides what to export from `flagsync.yaml`; [`build`] turns live
//! resources into files (a resource a manifest already declares goes back into that file,
//! others get a new name safe on every OS) and proves that each one normalizes back to live
//! state; [`RepoFiles`] writes them, never outside the repository. [`yaml`] is the emitter,
//! whose scalar quoter the plan renderers share. [`NewConfig`] is the first `flagsync.yaml`
//! of `flagsync init`.

mod casc;
mod config;
mod files;
mod format;
mod manifest;
mod names;
pub mod yaml;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

pub use self::casc::{CascError, CascResource, CascTree, casc_tree};
pub use self::config::{ENVIRONMENTS_DIR, NewConfig, TARGET_GROUPS_DIR};
pub use self::files::{RepoFiles, WriteError, Written};
pub use self::format::{Formatted, format};
pub use self::manifest::{Canonicalize, Mismatch, check, in_manifest_order, is_archived, manifest};
pub use self::yaml::to_yaml;
use crate::kind::{Kind, Provider};
use crate::model::{self, Config, ROLLOUT_ID_LABEL};
use crate::repository::{ARCHIVED_FOLDER, Item, Repository, in_archived_folder};
use crate::rules::is_valid_rollout_id;

/// An environment left out of the export because its experiments live on another branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEnvironment {
    pub name: String,
    pub branch: String,
}

/// What to export: the directories of the kinds and environments chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The target groups directory, when target groups are exported.
    pub target_groups: Option<String>,
    /// Environment name → its experiments directory.
    pub environments: BTreeMap<String, String>,
    /// The rollouts directory, when rollouts are exported.
    pub rollouts: Option<String>,
    /// Environments left out because their experiments live on another branch.
    pub skipped: Vec<SkippedEnvironment>,
    /// CloudBees Unify: what to write into the CasC tree.
    pub unify: Option<UnifyScope>,
}

/// What of a CloudBees Unify application to export, into which CasC tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnifyScope {
    /// The CasC tree's directory (`cloudbees.casc`).
    pub dir: String,
    /// The Unify kinds exported, in [`Kind::ALL`]'s order.
    pub kinds: Vec<Kind>,
    /// The environments whose flag configurations are exported.
    pub environments: Vec<String>,
}

/// A choice of kinds or environments that `flagsync.yaml` cannot serve (`--kind`, `--env`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ScopeError {
    #[error("--kind {kind}: flagsync.yaml configures no {}", provider.setting())]
    #[diagnostic(help(
        "add the provider to flagsync.yaml (see examples/quickstart/flagsync.yaml)"
    ))]
    NoProvider { kind: Kind, provider: Provider },
    #[error("--env {name}: no such environment in flagsync.yaml")]
    UnknownEnvironment {
        name: String,
        #[help]
        known: String,
    },
    #[error("--env: flagsync.yaml configures no `cloudbees` provider")]
    EnvironmentsWithoutCloudBees,
    #[error(
        "export writes CloudBees Unify state as a CasC tree, and flagsync.yaml names none (`api: unify` without `casc`: the legacy layout, translated)"
    )]
    #[diagnostic(help(
        "move the repository to a CasC tree first (`flagsync convert --to unify`), or set `casc: .cloudbees/casc/feature-management` in a repository of its own"
    ))]
    UnifyWithoutCasc,
}

impl Scope {
    /// The scope for `kinds` (empty: every kind `config` configures) and `envs` (empty: every
    /// environment).
    pub fn resolve(config: &Config, kinds: &[Kind], envs: &[String]) -> Result<Scope, ScopeError> {
        let wants = |k: Kind| kinds.is_empty() || kinds.contains(&k);
        let provider_of = config.cloudbees.as_ref().map(|cb| cb.provider());
        for &kind in kinds {
            let provider = kind.provider();
            let configured = match provider {
                Provider::CloudBees | Provider::Unify => provider_of == Some(provider),
                Provider::Confidence => config.confidence.is_some(),
            };
            if !configured {
                return Err(ScopeError::NoProvider { kind, provider });
            }
        }
        let unify_kinds: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| k.provider() == Provider::Unify && wants(*k))
            .collect();
        let unify = match config.cloudbees.as_ref() {
            Some(cb) if cb.provider() == Provider::Unify && !unify_kinds.is_empty() => {
                let Some(dir) = &cb.casc else {
                    return Err(ScopeError::UnifyWithoutCasc);
                };
                if let Some(name) = envs.iter().find(|n| !cb.environments.contains_key(*n)) {
                    let known: Vec<&str> = cb.environments.keys().map(String::as_str).collect();
                    return Err(ScopeError::UnknownEnvironment {
                        name: name.clone(),
                        known: format!("flagsync.yaml names: {}", known.join(", ")),
                    });
                }
                let environments = if unify_kinds.contains(&Kind::FlagConfiguration) {
                    cb.environments
                        .keys()
                        .filter(|name| envs.is_empty() || envs.contains(name))
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                };
                Some(UnifyScope {
                    dir: dir.clone(),
                    kinds: unify_kinds,
                    environments,
                })
            }
            _ => None,
        };
        // Only the legacy API's resources are exported.
        let cloudbees = config
            .cloudbees
            .as_ref()
            .filter(|cb| cb.provider() == Provider::CloudBees);
        let mut environments = BTreeMap::new();
        let mut skipped = Vec::new();
        if let Some(cb) = cloudbees {
            if let Some(name) = envs.iter().find(|n| !cb.environments.contains_key(*n)) {
                let known: Vec<&str> = cb.environments.keys().map(String::as_str).collect();
                return Err(ScopeError::UnknownEnvironment {
                    name: name.clone(),
                    known: format!("flagsync.yaml names: {}", known.join(", ")),
                });
            }
            if wants(Kind::Experiment) {
                for (name, env) in &cb.environments {
                    if !envs.is_empty() && !envs.contains(name) {
                        continue;
                    }
                    match &env.branch {
                        Some(branch) => skipped.push(SkippedEnvironment {
                            name: name.clone(),
                            branch: branch.clone(),
                        }),
                        None => {
                            environments.insert(name.clone(), env.experiments_dir().to_owned());
                        }
                    }
                }
            }
        } else if !envs.is_empty() && config.cloudbees.is_none() {
            return Err(ScopeError::EnvironmentsWithoutCloudBees);
        }
        Ok(Scope {
            target_groups: cloudbees
                .filter(|_| wants(Kind::TargetGroup))
                .map(|cb| cb.target_groups_dir().to_owned()),
            environments,
            rollouts: config
                .confidence
                .as_ref()
                .filter(|_| wants(Kind::Rollout))
                .map(|cf| cf.rollouts.clone()),
            skipped,
            unify,
        })
    }

    /// Whether any CloudBees resource is exported, through either API.
    pub fn reads_cloudbees(&self) -> bool {
        self.target_groups.is_some() || !self.environments.is_empty() || self.unify.is_some()
    }

    /// The folder of a CasC tree a Unify resource of `kind` (in `env`) is written to.
    fn unify_dir(&self, kind: Kind, env: Option<&str>) -> Option<String> {
        let unify = self.unify.as_ref()?;
        let folder = join(&unify.dir, kind.casc_folder()?);
        Some(match env {
            Some(env) => join(&folder, env),
            None => folder,
        })
    }
}

fn join(dir: &str, sub: &str) -> String {
    match dir.trim_end_matches('/') {
        "" | "." => sub.to_owned(),
        d => format!("{d}/{sub}"),
    }
}

/// Live state to export, as canonical bodies (the normalizer's form of the services' JSON).
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub target_groups: Vec<Value>,
    /// By environment name.
    pub experiments: BTreeMap<String, Vec<Value>>,
    pub rollouts: Vec<LiveRollout>,
    /// CloudBees Unify resources, in the canonical form of `flagsync_plan::unify` (references
    /// by name).
    pub unify: Vec<LiveUnifyResource>,
}

/// A live CloudBees Unify resource: a property, target group or flag (by name), or a flag's
/// configuration in an environment.
#[derive(Debug, Clone)]
pub struct LiveUnifyResource {
    pub kind: Kind,
    /// A configuration's environment.
    pub env: Option<String>,
    /// Its name; a configuration's flag.
    pub name: String,
    pub canonical: Value,
}

/// A live rollout: what identifies it besides its body.
#[derive(Debug, Clone)]
pub struct LiveRollout {
    /// The service's name for it (`workflows/rollout/instances/{id}`).
    pub instance: String,
    /// Its `flagsync-id` label; without one, flagsync does not manage it.
    pub flagsync_id: Option<String>,
    /// Set while the rollout changes state; the state it is changing to, when known.
    pub transition: Option<Option<String>>,
    pub canonical: Value,
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative to the repository, with `/`.
    pub rel: String,
    pub content: String,
    /// A file this one replaces, removed once it is written: the manifest of a flag that
    /// was archived or restored moves into or out of the `archived/` folder.
    pub replaces: Option<String>,
}

/// How many resources of each kind were exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub target_groups: usize,
    pub experiments: usize,
    pub rollouts: usize,
    /// CloudBees Unify.
    pub properties: usize,
    pub unify_target_groups: usize,
    pub flags: usize,
    pub flag_configurations: usize,
}

/// What [`build`] gives: the files, and what to tell the user about the rest.
#[derive(Debug)]
pub struct Export {
    pub files: Vec<File>,
    pub counts: Counts,
    pub warnings: Vec<Warning>,
    /// Live rollouts without the `flagsync-id` label, written with an `id` derived from
    /// their name and the `instance` they come from: the next apply adopts them.
    pub adopted_rollouts: usize,
    /// Files of the exported kinds and directories whose resource is not live.
    pub not_live: Vec<String>,
}

/// Something exported differently than one might expect.
#[derive(Debug)]
pub enum Warning {
    DuplicateTargetGroup {
        name: String,
    },
    InvalidRolloutId {
        instance: String,
        id: String,
    },
    SharedRolloutId {
        id: String,
        instances: Vec<String>,
    },
    Transitioning {
        id: String,
        instance: String,
        to: Option<String>,
    },
    /// The manifest written for `resource` (e.g. `experiment Production/my.flag`) would not
    /// plan empty.
    NotReproduced {
        resource: String,
        mismatch: Mismatch,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::DuplicateTargetGroup { name } => write!(
                f,
                "the service lists target group {name:?} twice; exported once"
            ),
            Warning::InvalidRolloutId { instance, id } => write!(
                f,
                "skipped rollout {instance}: its {ROLLOUT_ID_LABEL} label {id:?} is not a valid manifest id (lowercase letters, digits and `-`)"
            ),
            Warning::SharedRolloutId { id, instances } => write!(
                f,
                "{} rollouts carry {ROLLOUT_ID_LABEL}={id} ({}); exported the first; remove the label from the others",
                instances.len(),
                instances.join(", ")
            ),
            Warning::Transitioning { id, instance, to } => write!(
                f,
                "rollout {id} ({instance}) is changing to {}; exported as it is now; export again when the transition is done",
                to.as_deref().unwrap_or("another state")
            ),
            Warning::NotReproduced { resource, mismatch } => write!(
                f,
                "{resource}: the exported manifest does not reproduce live state exactly ({mismatch}); `flagsync plan` will show a change for it"
            ),
        }
    }
}

/// One resource to export.
struct Resource {
    kind: Kind,
    identity: String,
    /// What messages call it, e.g. `experiment Production/my.flag`.
    label: String,
    /// The directory of its kind (an environment's experiments directory).
    dir: String,
    /// An archived flag, whose file belongs in `dir/archived/`.
    archived: bool,
    canonical: Value,
    manifest: Value,
}

impl Resource {
    /// The folder a new file for it goes into.
    fn folder(&self) -> String {
        if self.archived {
            let dir = self.dir.trim_end_matches('/');
            if dir.is_empty() || dir == "." {
                ARCHIVED_FOLDER.to_owned()
            } else {
                format!("{dir}/{ARCHIVED_FOLDER}")
            }
        } else {
            self.dir.clone()
        }
    }

    /// Whether `file`, which declares it, is in the folder its state asks for.
    fn fits(&self, file: &str) -> bool {
        self.kind != Kind::Experiment || in_archived_folder(&self.dir, file) == self.archived
    }
    /// How the name of a new file for it ends: `.yml` in the legacy layout (as CloudBees'
    /// Rollout integration writes them), `.yaml` in a CasC tree, `.config.yaml` for a
    /// configuration (as CloudBees' git sync writes them).
    fn ending(&self) -> &'static str {
        match self.kind {
            Kind::FlagConfiguration => ".config.yaml",
            kind if kind.casc_folder().is_some() => ".yaml",
            _ => ".yml",
        }
    }
}

/// Turns live state into files: each resource into the file of the repository that declares
/// it, else a new file named after its identity. `canonicalize` normalizes a manifest, to
/// check that each one reproduces live state.
pub fn build(
    files: &RepoFiles,
    repo: &Repository,
    scope: &Scope,
    live: Live,
    canonicalize: Canonicalize<'_>,
) -> Result<Export, WriteError> {
    let mut warnings = Vec::new();
    let mut counts = Counts::default();
    let mut resources: Vec<Resource> = Vec::new();

    if let Some(dir) = &scope.target_groups {
        let (groups, duplicates) = by_identity(live.target_groups, "name");
        let duplicates = duplicates.into_iter();
        warnings.extend(duplicates.map(|name| Warning::DuplicateTargetGroup { name }));
        for (name, canonical) in groups {
            let label = format!("target group {name:?}");
            resources.push(resource(Kind::TargetGroup, name, label, dir, canonical));
            counts.target_groups += 1;
        }
    }

    let mut experiments = live.experiments;
    for (env, dir) in &scope.environments {
        let (items, _) = by_identity(experiments.remove(env).unwrap_or_default(), "flag");
        for (flag, canonical) in items {
            let label = format!("experiment {env}/{flag}");
            resources.push(resource(Kind::Experiment, flag, label, dir, canonical));
            counts.experiments += 1;
        }
    }

    let mut adopted_rollouts = 0usize;
    if let Some(dir) = &scope.rollouts {
        let mut by_id: BTreeMap<String, Vec<LiveRollout>> = BTreeMap::new();
        let mut unlabelled = Vec::new();
        for rollout in live.rollouts {
            match rollout.flagsync_id.clone() {
                None => unlabelled.push(rollout),
                Some(id) => by_id.entry(id).or_default().push(rollout),
            }
        }
        let taken: BTreeSet<&str> = by_id
            .keys()
            .map(String::as_str)
            .chain(repo.rollouts.iter().map(|r| r.value.id.as_str()))
            .collect();
        for (id, rollout) in adoption_ids(&unlabelled, repo, &taken) {
            if let Some(to) = rollout.transition.clone() {
                warnings.push(Warning::Transitioning {
                    id: id.clone(),
                    instance: rollout.instance.clone(),
                    to,
                });
            }
            // The manifest must reproduce the rollout as it will be once adopted: labelled.
            let mut expected = rollout.canonical.clone();
            if let Some(labels) = expected.get_mut("labels").and_then(Value::as_object_mut) {
                labels.insert(ROLLOUT_ID_LABEL.into(), Value::String(id.clone()));
                labels.insert(
                    model::MANAGED_BY_LABEL.into(),
                    Value::String(model::MANAGED_BY_VALUE.into()),
                );
            }
            resources.push(Resource {
                kind: Kind::Rollout,
                manifest: manifest::adopted_rollout(&id, &rollout.instance, &rollout.canonical),
                label: format!("rollout {id} (adopted from {})", rollout.instance),
                identity: id,
                dir: dir.clone(),
                archived: false,
                canonical: expected,
            });
            counts.rollouts += 1;
            adopted_rollouts += 1;
        }
        for (id, mut instances) in by_id {
            instances.sort_by(|a, b| a.instance.cmp(&b.instance));
            if !is_valid_rollout_id(&id) {
                warnings.push(Warning::InvalidRolloutId {
                    instance: instances[0].instance.clone(),
                    id,
                });
                continue;
            }
            if instances.len() > 1 {
                warnings.push(Warning::SharedRolloutId {
                    id: id.clone(),
                    instances: instances.iter().map(|r| r.instance.clone()).collect(),
                });
            }
            let first = instances.swap_remove(0);
            if let Some(to) = first.transition.clone() {
                warnings.push(Warning::Transitioning {
                    id: id.clone(),
                    instance: first.instance.clone(),
                    to,
                });
            }
            let label = format!("rollout {id}");
            // A manifest that adopted its rollout keeps naming it.
            let adopted = repo
                .rollouts
                .iter()
                .any(|item| item.value.id == id && item.value.instance.is_some());
            let mut r = resource(Kind::Rollout, id, label, dir, first.canonical);
            if adopted {
                r.manifest = manifest::adopted_rollout(&r.identity, &first.instance, &r.canonical);
            }
            resources.push(r);
            counts.rollouts += 1;
        }
    }

    if scope.unify.is_some() {
        let mut unify = live.unify;
        unify.sort_by(|a, b| (a.kind, &a.env, &a.name).cmp(&(b.kind, &b.env, &b.name)));
        unify.dedup_by(|a, b| (a.kind, &a.env, &a.name) == (b.kind, &b.env, &b.name));
        for r in unify {
            let in_scope = scope.unify.as_ref().is_some_and(|u| {
                u.kinds.contains(&r.kind)
                    && r.env.as_ref().is_none_or(|e| u.environments.contains(e))
            });
            let Some(dir) = scope
                .unify_dir(r.kind, r.env.as_deref())
                .filter(|_| in_scope)
            else {
                continue;
            };
            let label = match &r.env {
                Some(env) => format!("{} {env}/{}", r.kind, r.name),
                None => format!("{} {}", r.kind, r.name),
            };
            match r.kind {
                Kind::CustomProperty => counts.properties += 1,
                Kind::UnifyTargetGroup => counts.unify_target_groups += 1,
                Kind::Flag => counts.flags += 1,
                _ => counts.flag_configurations += 1,
            }
            resources.push(resource(r.kind, r.name, label, &dir, r.canonical));
        }
    }

    for r in &resources {
        if let Err(mismatch) = check(r.kind, &r.manifest, &r.canonical, canonicalize) {
            warnings.push(Warning::NotReproduced {
                resource: r.label.clone(),
                mismatch,
            });
        }
    }

    let not_live = not_live(repo, scope, &resources);
    let files = place(files, repo, resources)?;
    Ok(Export {
        files,
        counts,
        warnings,
        adopted_rollouts,
        not_live,
    })
}

/// The manifest id each unlabelled rollout is exported under: the id of the manifest that
/// already adopts it (its `instance`), else one derived from its display name (see
/// [`names::rollout_id`]), made unique with the start of its instance id when another
/// rollout or manifest has it. So an id is stable from one export to the next.
fn adoption_ids<'r>(
    unlabelled: &'r [LiveRollout],
    repo: &Repository,
    taken: &BTreeSet<&str>,
) -> Vec<(String, &'r LiveRollout)> {
    let claimed: BTreeMap<&str, &str> = repo
        .rollouts
        .iter()
        .filter_map(|item| {
            let instance = item.value.instance.as_deref()?;
            Some((flagsync_live::instance_id(instance), item.value.id.as_str()))
        })
        .collect();
    let instance = |r: &LiveRollout| flagsync_live::instance_id(&r.instance).to_owned();
    let name = |r: &LiveRollout| {
        r.canonical
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut slugs: BTreeMap<String, usize> = BTreeMap::new();
    for r in unlabelled
        .iter()
        .filter(|r| !claimed.contains_key(instance(r).as_str()))
    {
        *slugs.entry(names::rollout_id(&name(r), None)).or_default() += 1;
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    let mut sorted: Vec<&LiveRollout> = unlabelled.iter().collect();
    sorted.sort_by_key(|r| r.instance.clone());
    for r in sorted {
        let inst = instance(r);
        let id = match claimed.get(inst.as_str()) {
            Some(id) => (*id).to_owned(),
            None => {
                let slug = names::rollout_id(&name(r), None);
                let shared = slugs.get(&slug).is_some_and(|n| *n > 1);
                if shared || taken.contains(slug.as_str()) || used.contains(&slug) {
                    let short = names::rollout_id(&name(r), Some(&inst[..inst.len().min(8)]));
                    if taken.contains(short.as_str()) || used.contains(&short) {
                        names::rollout_id(&name(r), Some(&inst))
                    } else {
                        short
                    }
                } else {
                    slug
                }
            }
        };
        if used.insert(id.clone()) {
            out.push((id, r));
        }
    }
    out
}

/// Canonical bodies by the identity in their `field`, sorted; of bodies with one identity
/// the first is kept, and the identity is returned among the duplicates.
fn by_identity(bodies: Vec<Value>, field: &str) -> (Vec<(String, Value)>, Vec<String>) {
    let mut items: Vec<(String, Value)> = bodies
        .into_iter()
        .filter_map(|body| Some((body[field].as_str()?.to_owned(), body)))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut duplicates = Vec::new();
    items.dedup_by(|later, first| {
        let duplicate = later.0 == first.0;
        if duplicate {
            duplicates.push(later.0.clone());
        }
        duplicate
    });
    (items, duplicates)
}

fn resource(kind: Kind, identity: String, label: String, dir: &str, canonical: Value) -> Resource {
    Resource {
        kind,
        manifest: manifest(kind, &identity, &canonical),
        archived: is_archived(kind, &canonical),
        label,
        identity,
        dir: dir.to_owned(),
        canonical,
    }
}

/// A resource the repository declares, and where.
struct Declaration<'r> {
    kind: Kind,
    /// An experiment's or flag configuration's environment.
    env: Option<&'r str>,
    dir: Cow<'r, str>,
    identity: &'r str,
    file: &'r str,
}

impl<'r> Declaration<'r> {
    /// The declarations of `items`, files of `dir` (of environment `env`).
    fn all<T: model::Resource>(
        env: Option<&'r str>,
        dir: impl Into<Cow<'r, str>>,
        items: &'r [Item<T>],
    ) -> impl Iterator<Item = Declaration<'r>> {
        let dir = dir.into();
        items.iter().map(move |item| Declaration {
            kind: T::KIND,
            env,
            dir: dir.clone(),
            identity: item.value.identity(),
            file: &item.file,
        })
    }
}

/// Every resource declared in files of this tree (not those of other branches).
fn declarations(repo: &Repository) -> Vec<Declaration<'_>> {
    let config = repo.config.as_ref();
    let mut out = Vec::new();
    if let Some(cb) = config.and_then(|c| c.cloudbees.as_ref()) {
        out.extend(Declaration::all(
            None,
            cb.target_groups_dir(),
            &repo.target_groups,
        ));
    }
    for env in repo.environments.iter().filter(|e| e.branch.is_none()) {
        let name = Some(env.name.as_str());
        out.extend(Declaration::all(
            name,
            &env.experiments_dir,
            &env.experiments,
        ));
    }
    if let Some(cf) = config.and_then(|c| c.confidence.as_ref()) {
        out.extend(Declaration::all(None, &cf.rollouts, &repo.rollouts));
    }
    if let Some(casc) = &repo.casc {
        out.extend(casc_declarations(casc));
    }
    out
}

/// The declarations of a CasC tree's files, each in its kind's folder.
fn casc_declarations(casc: &crate::repository::Casc) -> Vec<Declaration<'_>> {
    let dir = |kind: Kind| join(&casc.dir, kind.casc_folder().unwrap_or_default());
    let mut out = Vec::new();
    out.extend(Declaration::all(
        None,
        dir(Kind::CustomProperty),
        &casc.properties,
    ));
    out.extend(Declaration::all(
        None,
        dir(Kind::UnifyTargetGroup),
        &casc.target_groups,
    ));
    out.extend(Declaration::all(None, dir(Kind::Flag), &casc.flags));
    for env in &casc.environments {
        out.extend(Declaration::all(
            Some(env.name.as_str()),
            join(&dir(Kind::FlagConfiguration), &env.name),
            &env.configurations,
        ));
    }
    out
}

impl Scope {
    /// Whether the export covers what `d` declares.
    fn covers(&self, d: &Declaration<'_>) -> bool {
        match d.kind {
            Kind::TargetGroup => self.target_groups.is_some(),
            Kind::Experiment => d.env.is_some_and(|e| self.environments.contains_key(e)),
            Kind::Rollout => self.rollouts.is_some(),
            Kind::CustomProperty
            | Kind::UnifyTargetGroup
            | Kind::Flag
            | Kind::FlagConfiguration => self.unify.as_ref().is_some_and(|u| {
                u.kinds.contains(&d.kind)
                    && d.env.is_none_or(|e| u.environments.iter().any(|n| n == e))
            }),
        }
    }
}

/// Files of the exported kinds and directories whose resource was not found live.
fn not_live(repo: &Repository, scope: &Scope, exported: &[Resource]) -> Vec<String> {
    let live: BTreeSet<(Kind, &str, &str)> = exported
        .iter()
        .map(|r| (r.kind, r.dir.as_str(), r.identity.as_str()))
        .collect();
    declarations(repo)
        .into_iter()
        .filter(|d| scope.covers(d) && !live.contains(&(d.kind, &*d.dir, d.identity)))
        .map(|d| d.file.to_owned())
        .collect()
}

/// Decides each resource's file: the one that already declares it, else a new safe name.
/// A declaring file in the wrong folder for the flag's archived state is replaced by a new
/// file in the right one.
fn place(
    files: &RepoFiles,
    repo: &Repository,
    resources: Vec<Resource>,
) -> Result<Vec<File>, WriteError> {
    let declarations = declarations(repo);
    let declared: BTreeMap<(Kind, &str, &str), &str> = declarations
        .iter()
        .map(|d| ((d.kind, &*d.dir, d.identity), d.file))
        .collect();

    let mut out = Vec::with_capacity(resources.len());
    // New files, grouped by directory so that names are chosen against each other, with
    // the file each replaces.
    let mut fresh: BTreeMap<String, Vec<(Resource, Option<String>)>> = BTreeMap::new();
    for r in resources {
        match declared.get(&(r.kind, r.dir.as_str(), r.identity.as_str())) {
            Some(file) if r.fits(file) => out.push(File {
                rel: (*file).to_owned(),
                content: to_yaml(&r.manifest),
                replaces: None,
            }),
            Some(file) => {
                let replaces = Some((*file).to_owned());
                fresh.entry(r.folder()).or_default().push((r, replaces));
            }
            None => fresh.entry(r.folder()).or_default().push((r, None)),
        }
    }
    for (dir, group) in fresh {
        let taken = files.names_in(&dir)?;
        let identities: Vec<String> = group.iter().map(|(r, _)| r.identity.clone()).collect();
        // A directory holds one kind, so one ending.
        let ending = group.first().map_or(".yml", |(r, _)| r.ending());
        let names = names::assign_with(&identities, &taken, ending);
        let dir = dir.trim_end_matches('/');
        for ((r, replaces), name) in group.into_iter().zip(names) {
            out.push(File {
                rel: if dir.is_empty() || dir == "." {
                    name
                } else {
                    format!("{dir}/{name}")
                },
                content: to_yaml(&r.manifest),
                replaces,
            });
        }
    }
    Ok(out)
}

impl Counts {
    /// `6 target groups, 6 experiments in 2 environments, 1 rollout`: the kinds `scope`
    /// exports, or `nothing`.
    pub fn describe(&self, scope: &Scope) -> String {
        fn n(count: usize, one: &str, many: &str) -> String {
            format!("{count} {}", if count == 1 { one } else { many })
        }
        let mut parts = Vec::new();
        if scope.target_groups.is_some() {
            parts.push(n(self.target_groups, "target group", "target groups"));
        }
        if !scope.environments.is_empty() {
            parts.push(format!(
                "{} in {}",
                n(self.experiments, "experiment", "experiments"),
                n(scope.environments.len(), "environment", "environments")
            ));
        }
        if scope.rollouts.is_some() {
            parts.push(n(self.rollouts, "rollout", "rollouts"));
        }
        if let Some(unify) = &scope.unify {
            for kind in &unify.kinds {
                parts.push(match kind {
                    Kind::CustomProperty => n(self.properties, "property", "properties"),
                    Kind::UnifyTargetGroup => {
                        n(self.unify_target_groups, "target group", "target groups")
                    }
                    Kind::Flag => n(self.flags, "flag", "flags"),
                    _ => format!(
                        "{} in {}",
                        n(
                            self.flag_configurations,
                            "flag configuration",
                            "flag configurations"
                        ),
                        n(unify.environments.len(), "environment", "environments")
                    ),
                });
            }
        }
        if parts.is_empty() {
            parts.push("nothing".to_owned());
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CloudbeesConfig, EnvironmentConfig};

    fn config() -> Config {
        let env = |experiments: Option<&str>, branch: Option<&str>| EnvironmentConfig {
            experiments: experiments.map(str::to_owned),
            branch: branch.map(str::to_owned),
        };
        Config {
            cloudbees: Some(CloudbeesConfig {
                application: "app".into(),
                token_env: "T".into(),
                url: None,
                requests_per_second: None,
                target_groups: Some("groups".into()),
                api: Default::default(),
                organization: None,
                casc: None,
                environments: BTreeMap::from([
                    ("Production".to_owned(), env(Some("prod"), None)),
                    ("Staging".to_owned(), env(None, Some("Staging"))),
                ]),
            }),
            ..Config::default()
        }
    }

    #[test]
    fn scope_follows_flagsync_yaml_and_the_choices() {
        let scope = Scope::resolve(&config(), &[], &[]).unwrap();
        assert_eq!(scope.target_groups.as_deref(), Some("groups"));
        assert_eq!(
            scope.environments,
            BTreeMap::from([("Production".to_owned(), "prod".to_owned())])
        );
        assert_eq!(scope.rollouts, None);
        assert_eq!(
            scope.skipped,
            [SkippedEnvironment {
                name: "Staging".into(),
                branch: "Staging".into()
            }]
        );
        let groups = Scope::resolve(&config(), &[Kind::TargetGroup], &[]).unwrap();
        assert!(groups.environments.is_empty() && groups.skipped.is_empty());

        let err = Scope::resolve(&config(), &[Kind::Rollout], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--kind rollout: flagsync.yaml configures no `confidence` provider"
        );
        let err = Scope::resolve(&config(), &[Kind::Flag], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--kind flag: flagsync.yaml configures no `cloudbees` provider with `api: unify`"
        );
        let mut unify = config();
        if let Some(cb) = unify.cloudbees.as_mut() {
            cb.api = crate::model::CloudbeesApi::Unify;
        }
        assert_eq!(
            Scope::resolve(&unify, &[], &[]),
            Err(ScopeError::UnifyWithoutCasc)
        );
        if let Some(cb) = unify.cloudbees.as_mut() {
            cb.casc = Some(".cloudbees/casc/feature-management".into());
        }
        let casc = Scope::resolve(
            &unify,
            &[Kind::Flag, Kind::FlagConfiguration],
            &["Production".to_owned()],
        )
        .unwrap();
        assert_eq!(
            casc.unify,
            Some(UnifyScope {
                dir: ".cloudbees/casc/feature-management".into(),
                kinds: vec![Kind::Flag, Kind::FlagConfiguration],
                environments: vec!["Production".into()],
            })
        );
        assert_eq!(
            casc.unify_dir(Kind::FlagConfiguration, Some("Production"))
                .as_deref(),
            Some(".cloudbees/casc/feature-management/flag-configurations/Production")
        );
        assert!(casc.target_groups.is_none() && casc.environments.is_empty());
        assert_eq!(
            Scope::resolve(&unify, &[Kind::TargetGroup], &[]).unwrap_err(),
            ScopeError::NoProvider {
                kind: Kind::TargetGroup,
                provider: Provider::CloudBees
            }
        );
        let err = Scope::resolve(&config(), &[], &["Nowhere".to_owned()]).unwrap_err();
        assert!(
            matches!(err, ScopeError::UnknownEnvironment { known, .. } if known == "flagsync.yaml names: Production, Staging")
        );
    }
}
