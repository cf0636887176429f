//! Resource identities, planning inputs and the plan itself (saved by `plan --out` and read
//! back by `apply --plan`, so everything here round-trips through serde).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::PatchOp;
use crate::error::PlanError;
use crate::rollout::RolloutStep;

/// The version of the plan document: the saved plan and `--format json` of `plan`, `show`
/// and `diff`, one shape for all. Bump only when an existing field changes meaning; adding
/// fields does not. Version 2 made the printed plan and the saved plan one shape (`desired`
/// now holds the desired body of updates too, not only of creates).
pub const FORMAT_VERSION: u32 = 2;

// The kinds of resources and their providers are the manifests' (the lowest crate that
// needs them); they are re-exported here so that `flagsync_plan::Kind` keeps working.
pub use flagsync_manifest::{Kind, Provider};

/// The identity of one managed resource.
///
/// - experiment: `env` is the environment name, `name` the flag;
/// - target group: `env` is `None`, `name` the group name (application-wide);
/// - rollout: `env` is `None`, `name` the flagsync id (stored on the live rollout as a label);
/// - CloudBees Unify custom property, target group, flag: `env` is `None`, `name` its name;
/// - CloudBees Unify flag configuration: `env` is the environment name, `name` the flag.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct ResourceKey {
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    pub name: String,
}

impl ResourceKey {
    pub fn experiment(env: impl Into<String>, flag: impl Into<String>) -> Self {
        ResourceKey {
            kind: Kind::Experiment,
            env: Some(env.into()),
            name: flag.into(),
        }
    }

    pub fn target_group(name: impl Into<String>) -> Self {
        ResourceKey {
            kind: Kind::TargetGroup,
            env: None,
            name: name.into(),
        }
    }

    pub fn rollout(id: impl Into<String>) -> Self {
        ResourceKey {
            kind: Kind::Rollout,
            env: None,
            name: id.into(),
        }
    }

    pub fn custom_property(name: impl Into<String>) -> Self {
        Self::app_wide(Kind::CustomProperty, name)
    }

    pub fn unify_target_group(name: impl Into<String>) -> Self {
        Self::app_wide(Kind::UnifyTargetGroup, name)
    }

    pub fn flag(name: impl Into<String>) -> Self {
        Self::app_wide(Kind::Flag, name)
    }

    pub fn flag_configuration(env: impl Into<String>, flag: impl Into<String>) -> Self {
        ResourceKey {
            kind: Kind::FlagConfiguration,
            env: Some(env.into()),
            name: flag.into(),
        }
    }

    fn app_wide(kind: Kind, name: impl Into<String>) -> Self {
        ResourceKey {
            kind,
            env: None,
            name: name.into(),
        }
    }

    pub fn provider(&self) -> Provider {
        self.kind.provider()
    }
}

/// `experiment/Production/default.myName`, `target-group/Beta Users`, `rollout/new-search`.
impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.env {
            Some(env) => write!(f, "{}/{}/{}", self.kind, env, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// Parses the display form. Kinds that exist per environment (experiments, flag
/// configurations) need `KIND/ENV/FLAG` (split at the first `/` after the kind, so flags may
/// contain `/` but environments may not).
impl FromStr for ResourceKey {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let filter: TargetFilter = s.parse()?;
        let kind = filter.kind;
        if !kind.per_environment() {
            return Ok(ResourceKey::app_wide(kind, filter.rest));
        }
        match filter.rest.split_once('/') {
            Some((env, name)) if !env.is_empty() && !name.is_empty() => Ok(ResourceKey {
                kind,
                env: Some(env.to_owned()),
                name: name.to_owned(),
            }),
            _ => Err(PlanError::InvalidKey {
                input: s.to_owned(),
                reason: format!("a {kind} key is {kind}/ENVIRONMENT/FLAG"),
            }),
        }
    }
}

/// A `--target KIND/NAME` filter. For experiments `NAME` is either `ENV/FLAG` (one
/// environment) or `FLAG` (that flag in every environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetFilter {
    pub kind: Kind,
    /// Everything after `KIND/`.
    pub rest: String,
}

impl TargetFilter {
    pub fn matches(&self, key: &ResourceKey) -> bool {
        if self.kind != key.kind {
            return false;
        }
        if key.name == self.rest {
            // `experiment/FLAG` matches the flag in every environment.
            return true;
        }
        match &key.env {
            Some(env) => self
                .rest
                .strip_prefix(env.as_str())
                .and_then(|r| r.strip_prefix('/'))
                .is_some_and(|name| name == key.name),
            None => false,
        }
    }
}

impl fmt::Display for TargetFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.rest)
    }
}

impl FromStr for TargetFilter {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((kind, rest)) = s.split_once('/') else {
            return Err(PlanError::InvalidKey {
                input: s.to_owned(),
                reason: "expected KIND/NAME, e.g. target-group/Beta Users or \
                         experiment/Production/my.flag"
                    .to_owned(),
            });
        };
        let kind: Kind =
            kind.parse()
                .map_err(|e: flagsync_manifest::UnknownKind| PlanError::InvalidKey {
                    input: s.to_owned(),
                    reason: e.to_string(),
                })?;
        if rest.is_empty() {
            return Err(PlanError::InvalidKey {
                input: s.to_owned(),
                reason: "the name after the kind is empty".to_owned(),
            });
        }
        Ok(TargetFilter {
            kind,
            rest: rest.to_owned(),
        })
    }
}

/// Where a desired resource was declared, for messages that point at the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Origin {
    /// The manifest file, relative to the repository root (`BRANCH:path` for a file read
    /// from another branch).
    pub file: String,
    /// The line the manifest starts on (1-based).
    pub line: usize,
}

impl Origin {
    /// The manifest `file` holds: a file holds one manifest, which starts on its first line.
    pub fn file(file: &str) -> Self {
        Origin {
            file: file.to_owned(),
            line: 1,
        }
    }
}

/// One resource as the repository wants it, already normalized to canonical JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredResource {
    pub key: ResourceKey,
    /// Canonical, normalized body (what create sends and what the diff compares).
    pub body: Value,
    /// What must exist before this resource: target groups it uses, the experiments of
    /// flags its conditions depend on (same environment).
    pub references: Vec<ResourceKey>,
    pub origin: Option<Origin>,
}

impl DesiredResource {
    /// A resource that references nothing and was declared in no file: one a caller states
    /// itself rather than loads.
    pub fn new(key: ResourceKey, body: Value) -> Self {
        DesiredResource {
            key,
            body,
            references: Vec::new(),
            origin: None,
        }
    }
}

/// One resource as the remote has it, normalized to the same canonical form.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveResource {
    pub key: ResourceKey,
    pub body: Value,
    /// The Confidence instance id (`workflows/rollout/instances/{id}`); `None` for CloudBees.
    pub remote_id: Option<String>,
    /// What the live object references (same meaning as [`DesiredResource::references`]);
    /// used to delete dependents before what they depend on, and to run the update that
    /// drops a reference before the delete of what it referenced.
    pub references: Vec<ResourceKey>,
    /// The object as the service stores it (its known fields only), when that may differ in
    /// spelling from `body`: updates are compared on `body` but patched from here.
    pub patch_base: Option<Value>,
}

/// Which live resources the repository manages, so that `prune` deletes only inside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagedScope {
    /// The repository manages the application's target groups.
    pub target_groups: bool,
    /// Environments whose experiments the repository manages.
    pub experiment_envs: Vec<String>,
    /// The repository manages rollouts (those carrying the flagsync id label; the
    /// normalizer only hands those over).
    pub rollouts: bool,
    /// The repository manages the CloudBees Unify application's custom properties, target
    /// groups and flags.
    pub unify: bool,
    /// CloudBees Unify environments whose flag configurations the repository manages.
    pub unify_envs: Vec<String>,
}

impl ManagedScope {
    pub fn contains(&self, key: &ResourceKey) -> bool {
        let in_env = |envs: &[String]| {
            key.env
                .as_ref()
                .is_some_and(|env| envs.iter().any(|e| e == env))
        };
        match key.kind {
            Kind::TargetGroup => self.target_groups,
            Kind::Rollout => self.rollouts,
            Kind::Experiment => in_env(&self.experiment_envs),
            Kind::CustomProperty | Kind::UnifyTargetGroup | Kind::Flag => self.unify,
            Kind::FlagConfiguration => in_env(&self.unify_envs),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Delete live resources inside `scope` that the repository does not declare.
    pub prune: bool,
    /// With `prune`, also delete CloudBees Unify flags no manifest declares. Without it they
    /// are listed as undeclared and kept: SDKs create flags from code, and deleting one that
    /// code still asks for changes what users get.
    pub prune_flags: bool,
    /// `--target` filters; empty means everything. Targeted actions bring along the
    /// actions they depend on (as Terraform does), so the partial plan can run.
    pub targets: Vec<TargetFilter>,
    pub scope: ManagedScope,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Update,
    Delete,
    /// Take over a rollout made elsewhere that a manifest names by its `instance`: give it
    /// flagsync's label (and make any other change the manifest asks for); never create a
    /// second one.
    Adopt,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Adopt => "adopt",
        }
    }

    /// `+`, `~`, `-`, `>`: the marker in front of an action in human output.
    pub fn symbol(self) -> char {
        match self {
            Operation::Create => '+',
            Operation::Update => '~',
            Operation::Delete => '-',
            Operation::Adopt => '>',
        }
    }

    /// Whether the action changes an object that exists (an update or an adoption).
    pub fn changes_existing(self) -> bool {
        matches!(self, Operation::Update | Operation::Adopt)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change to one resource. In JSON (the plan document) its key is spelled out flat:
/// `kind`, `provider`, `environment`, `name` (see [`ActionDoc`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "ActionDoc", from = "ActionDoc")]
pub struct Action {
    /// Stable id: the key's display form.
    pub id: String,
    pub key: ResourceKey,
    pub operation: Operation,
    /// Updates: RFC 6902 operations from live to desired, `test`s included.
    pub patch: Vec<PatchOp>,
    /// Creates and updates: the full desired body.
    pub desired: Option<Value>,
    /// Updates, adoptions and deletes: the live body the plan was computed from (shown in
    /// reviews).
    pub live: Option<Value>,
    /// Updates and deletes: [`crate::fingerprint`] of `live`; `apply --plan` refuses when
    /// the object it reads back has another fingerprint.
    pub live_fingerprint: Option<String>,
    /// The Confidence instance id of the live rollout (updates and deletes).
    pub remote_id: Option<String>,
    /// Ids of actions in this plan that must succeed before this one runs.
    pub depends_on: Vec<String>,
    /// Rollouts only: the API calls, in order.
    pub steps: Vec<RolloutStep>,
    /// Set when part of the change cannot be made through the API (e.g. un-launching a
    /// rollout); the applier runs the supported steps and reports this.
    pub unsupported: Option<String>,
    pub origin: Option<Origin>,
    /// The blast radius: the resources that use this one, before or after the change
    /// (directly, or through target groups and flags that use it).
    pub used_by: Vec<Usage>,
}

/// How many resources of one kind, in one environment, use a resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    pub kind: Kind,
    /// `null` for application-wide resources.
    pub environment: Option<String>,
    pub count: usize,
}

/// An action as the plan document spells it: every field always present (`null` or empty
/// when it does not apply), the key flat.
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Action")]
pub struct ActionDoc {
    /// Stable id, `KIND/NAME` or `KIND/ENVIRONMENT/NAME`: what `depends_on` and the apply
    /// report name.
    id: String,
    kind: Kind,
    /// The service that holds the resource (follows from `kind`).
    provider: Provider,
    /// The environment of a per-environment resource (an experiment, a flag configuration);
    /// `null` for application-wide ones.
    environment: Option<String>,
    /// The flag, target group name or rollout id.
    name: String,
    operation: Operation,
    /// The manifest that declares the resource; for a delete, `null` in a plan (no manifest
    /// declares it any more) and the base revision's file in `flagsync diff`.
    #[serde(default)]
    origin: Option<Origin>,
    /// Ids of actions of this plan that must succeed before this one runs.
    #[serde(default)]
    depends_on: Vec<String>,
    /// Updates and deletes: a fingerprint of the live body the plan saw; `apply --plan`
    /// refuses to run when live state no longer has it.
    #[serde(default)]
    live_fingerprint: Option<String>,
    /// The service's id of the live resource (a Confidence rollout's instance id).
    #[serde(default)]
    remote_id: Option<String>,
    /// Updates: the RFC 6902 operations from `live` to `desired`, each `replace` and
    /// `remove` preceded by a `test` of the value the plan saw.
    #[serde(default)]
    patch: Vec<PatchOp>,
    /// Creates and updates: the full desired body, in flagsync's canonical form.
    #[serde(default)]
    desired: Option<Value>,
    /// Updates and deletes: the live body the plan was computed from, in the same form.
    #[serde(default)]
    live: Option<Value>,
    /// Rollouts: the API calls that make the change, in order.
    #[serde(default)]
    steps: Vec<RolloutStep>,
    /// Why part of the change cannot be made through the service's API; apply reports the
    /// action skipped (or runs the possible part and warns).
    #[serde(default)]
    unsupported: Option<String>,
    /// The blast radius: how many resources of each kind and environment use this one,
    /// before or after the change, directly or through target groups and flags that use
    /// it. Computed from the desired and the live state.
    #[serde(default)]
    used_by: Vec<Usage>,
}

impl JsonSchema for Action {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        ActionDoc::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ActionDoc::json_schema(generator)
    }
}

impl From<Action> for ActionDoc {
    fn from(a: Action) -> Self {
        ActionDoc {
            id: a.id,
            kind: a.key.kind,
            provider: a.key.provider(),
            environment: a.key.env,
            name: a.key.name,
            operation: a.operation,
            origin: a.origin,
            depends_on: a.depends_on,
            live_fingerprint: a.live_fingerprint,
            remote_id: a.remote_id,
            patch: a.patch,
            desired: a.desired,
            live: a.live,
            steps: a.steps,
            unsupported: a.unsupported,
            used_by: a.used_by,
        }
    }
}

impl From<ActionDoc> for Action {
    fn from(d: ActionDoc) -> Self {
        Action {
            id: d.id,
            key: ResourceKey {
                kind: d.kind,
                env: d.environment,
                name: d.name,
            },
            operation: d.operation,
            patch: d.patch,
            desired: d.desired,
            live: d.live,
            live_fingerprint: d.live_fingerprint,
            remote_id: d.remote_id,
            depends_on: d.depends_on,
            steps: d.steps,
            unsupported: d.unsupported,
            origin: d.origin,
            used_by: d.used_by,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Actions that create a resource.
    pub create: usize,
    /// Actions that update a resource.
    pub update: usize,
    /// Actions that delete a resource.
    pub delete: usize,
    /// Rollouts made elsewhere that the repository takes over.
    #[serde(default)]
    pub adopt: usize,
    /// Declared resources (in the targeted set) that already match.
    pub no_op: usize,
    /// Live resources in the managed scope that no manifest declares, left alone because
    /// the plan does not prune ([`Plan::undeclared`]).
    #[serde(default)]
    pub undeclared: usize,
}

impl Summary {
    /// `Plan: N to create, M to update, K to delete.` (with `J to adopt, ` first when there
    /// are adoptions, and `; N live resource(s) not declared` when some are); the no-changes
    /// sentence only when live state does match.
    pub fn line(&self) -> String {
        if self.create + self.update + self.delete + self.adopt + self.undeclared == 0 {
            return "No changes. Live state matches the repository.".to_owned();
        }
        let adopt = if self.adopt > 0 {
            format!("{} to adopt, ", self.adopt)
        } else {
            String::new()
        };
        let counts = format!(
            "Plan: {adopt}{} to create, {} to update, {} to delete",
            self.create, self.update, self.delete
        );
        match self.undeclared {
            0 => format!("{counts}."),
            1 => format!("{counts}; 1 live resource not declared."),
            n => format!("{counts}; {n} live resources not declared."),
        }
    }
}

/// A live resource inside the managed scope that no manifest declares. Without prune the
/// plan leaves it alone but lists it: live state does not match the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "UndeclaredDoc", from = "UndeclaredDoc")]
pub struct Undeclared {
    /// The key's display form, as an action's id.
    pub id: String,
    pub key: ResourceKey,
    /// The Confidence instance id of a rollout.
    pub remote_id: Option<String>,
    /// Why prune could not delete it either (a rollout: no API call deletes one).
    pub unsupported: Option<String>,
}

/// A live resource no manifest declares, as the plan document spells it (the key flat, as
/// an action's).
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Undeclared")]
pub struct UndeclaredDoc {
    /// `KIND/NAME` or `KIND/ENVIRONMENT/NAME`, as an action's id.
    id: String,
    kind: Kind,
    provider: Provider,
    environment: Option<String>,
    name: String,
    /// The service's id of the live resource (a Confidence rollout's instance id).
    #[serde(default)]
    remote_id: Option<String>,
    /// Why `--prune` could not delete it either.
    #[serde(default)]
    unsupported: Option<String>,
}

impl JsonSchema for Undeclared {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        UndeclaredDoc::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        UndeclaredDoc::json_schema(generator)
    }
}

impl From<Undeclared> for UndeclaredDoc {
    fn from(u: Undeclared) -> Self {
        UndeclaredDoc {
            id: u.id,
            kind: u.key.kind,
            provider: u.key.provider(),
            environment: u.key.env,
            name: u.key.name,
            remote_id: u.remote_id,
            unsupported: u.unsupported,
        }
    }
}

impl From<UndeclaredDoc> for Undeclared {
    fn from(d: UndeclaredDoc) -> Self {
        Undeclared {
            id: d.id,
            key: ResourceKey {
                kind: d.kind,
                env: d.environment,
                name: d.name,
            },
            remote_id: d.remote_id,
            unsupported: d.unsupported,
        }
    }
}

/// What a plan (or report) was made from and by: the flagsync version, the repository's
/// revision, and the providers and applications it covers. Filled by the command that
/// makes the plan; planning itself knows none of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Metadata {
    /// The version of flagsync that made the document, e.g. `0.1.0`.
    pub flagsync_version: String,
    /// The git revision of the repository read; `null` for a directory outside git.
    #[serde(default)]
    pub revision: Option<RepoRevision>,
    /// The providers and applications the document covers.
    #[serde(default)]
    pub providers: Vec<ProviderScope>,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            // Every crate of the workspace has flagsync's version.
            flagsync_version: env!("CARGO_PKG_VERSION").to_owned(),
            revision: None,
            providers: Vec::new(),
        }
    }
}

/// The git revision a repository was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RepoRevision {
    /// The revision as given with `--ref` (or `--head`), or the branch checked out;
    /// `null` for a detached checkout.
    pub rev: Option<String>,
    /// The full commit id; `null` in a repository without commits.
    pub commit: Option<String>,
    /// The files read have uncommitted changes: they are not exactly `commit`.
    pub modified: bool,
}

/// One provider a plan covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProviderScope {
    pub provider: Provider,
    /// The application id (CloudBees); `null` for Confidence, which has none.
    pub application: Option<String>,
    /// The environments covered (CloudBees), by name; empty for Confidence.
    pub environments: Vec<String>,
}

impl ProviderScope {
    /// The providers `config` configures, CloudBees (legacy or Unify) first; `environments`
    /// narrows the CloudBees environments listed (`--env`; empty: all).
    pub fn of(config: &flagsync_manifest::model::Config, environments: &[String]) -> Vec<Self> {
        let mut out = Vec::new();
        if let Some(cb) = &config.cloudbees {
            out.push(ProviderScope {
                provider: cb.provider(),
                application: Some(cb.application.clone()),
                environments: cb
                    .environments
                    .keys()
                    .filter(|e| environments.is_empty() || environments.contains(e))
                    .cloned()
                    .collect(),
            });
        }
        if config.confidence.is_some() {
            out.push(ProviderScope {
                provider: Provider::Confidence,
                application: None,
                environments: Vec::new(),
            });
        }
        out
    }
}

/// The result of planning: actions in a valid execution order (dependencies first). Its
/// JSON is the plan document, one shape for `plan --out`, `plan --format json`, `show
/// --format json` and (with the two revisions) `diff --format json`; every field is
/// always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// The version of this document's shape ([`FORMAT_VERSION`]).
    pub format_version: u32,
    #[serde(default)]
    pub metadata: Metadata,
    pub summary: Summary,
    /// What the reader must know: changes only partly possible, targets that match
    /// nothing, ...
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Live resources in the managed scope that no manifest declares and that the plan
    /// does not delete (it does not prune). Absent from `diff --format json`, which reads
    /// no live state.
    #[serde(default)]
    pub undeclared: Vec<Undeclared>,
    /// The changes, in an order that runs each after what it depends on.
    pub actions: Vec<Action>,
}

impl Plan {
    /// Whether there are actions to apply.
    pub fn has_changes(&self) -> bool {
        !self.actions.is_empty()
    }

    /// Whether live state differs from the repository: actions to apply, or live resources
    /// that no manifest declares (what `--detailed-exitcode` reports).
    pub fn has_differences(&self) -> bool {
        self.has_changes() || !self.undeclared.is_empty()
    }

    pub fn action(&self, id: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.id == id)
    }

    /// The saved-plan file content (`plan --out`).
    pub fn to_json(&self) -> Result<String, PlanError> {
        serde_json::to_string_pretty(self).map_err(|e| PlanError::InvalidPlan(e.to_string()))
    }

    /// Reads a saved plan (`apply --plan`), checking the format version and that its
    /// dependency graph is sound (ids unique, dependencies known, no cycle).
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let raw: Value =
            serde_json::from_str(text).map_err(|e| PlanError::InvalidPlan(e.to_string()))?;
        let version = raw.get("format_version").and_then(Value::as_u64);
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(PlanError::UnsupportedFormatVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let plan: Plan =
            serde_json::from_value(raw).map_err(|e| PlanError::InvalidPlan(e.to_string()))?;
        crate::dag::topo_indices(&plan.actions)?;
        Ok(plan)
    }
}
