//! Resource identities, planning inputs and the plan itself (saved by `plan --out` and read
//! back by `apply --plan`, so everything here round-trips through serde).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::PatchOp;
use crate::error::PlanError;
use crate::rollout::RolloutStep;

/// The version of the saved plan and of `--format json`. Bump on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    /// `+`, `~`, `-`: the marker in front of an action in human output.
    pub fn symbol(self) -> char {
        match self {
            Operation::Create => '+',
            Operation::Update => '~',
            Operation::Delete => '-',
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// Stable id: the key's display form.
    pub id: String,
    pub key: ResourceKey,
    pub operation: Operation,
    /// Updates: RFC 6902 operations from live to desired, `test`s included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<PatchOp>,
    /// Creates and updates: the full desired body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Value>,
    /// Updates and deletes: the live body the plan was computed from (shown in reviews).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<Value>,
    /// Updates and deletes: [`crate::fingerprint`] of `live`; `apply --plan` refuses when
    /// the object it reads back has another fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_fingerprint: Option<String>,
    /// The Confidence instance id of the live rollout (updates and deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// Ids of actions in this plan that must succeed before this one runs.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Rollouts only: the API calls, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<RolloutStep>,
    /// Set when part of the change cannot be made through the API (e.g. un-launching a
    /// rollout); the applier runs the supported steps and reports this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    /// Declared resources (in the targeted set) that already match.
    pub no_op: usize,
    /// Live resources in the managed scope that no manifest declares, left alone because
    /// the plan does not prune ([`Plan::undeclared`]).
    #[serde(default)]
    pub undeclared: usize,
}

impl Summary {
    /// `Plan: N to create, M to update, K to delete.`, with `; N live resource(s) not
    /// declared` when some are; the no-changes sentence only when live state does match.
    pub fn line(&self) -> String {
        if self.create + self.update + self.delete + self.undeclared == 0 {
            return "No changes. Live state matches the repository.".to_owned();
        }
        let counts = format!(
            "Plan: {} to create, {} to update, {} to delete",
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
pub struct Undeclared {
    /// The key's display form, as an action's id.
    pub id: String,
    pub key: ResourceKey,
    /// The Confidence instance id of a rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// Why prune could not delete it either (a rollout: no API call deletes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
}

/// The result of planning: actions in a valid execution order (dependencies first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub actions: Vec<Action>,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Live resources in the managed scope that no manifest declares and that the plan
    /// does not delete (it does not prune).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undeclared: Vec<Undeclared>,
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
