//! `flagsync diff`: what a change to the repository changes in the desired state, offline.
//! Both revisions are read from git without a checkout, normalized as plan normalizes, and
//! planned against each other (the base playing "live", with prune on over everything
//! either side declares), so a pull request from a fork gets a reviewable comment without
//! any credential.
//!
//! Environments that flagsync.yaml reads from another branch (`Staging: { branch: Staging }`)
//! are read from that branch's tip for both revisions: a branch has no state "as of" a
//! commit of another branch. They therefore show changes only when the two revisions read
//! them differently (an environment added, removed or moved); commits to the environment
//! branch itself are reviewed by diffing that branch's own revisions. [`BranchNote`]s say
//! so.

use std::collections::BTreeSet;
use std::path::Path;

use flagsync_manifest::{Loaded, Repository};
use flagsync_plan::render::{Compared, Framing, Phrase, Revision};
use flagsync_plan::{
    DesiredResource, Kind, LiveResource, ManagedScope, Operation, Plan, PlanOptions, ProviderScope,
    RepoRevision, normalize,
};
use flagsync_source::{GitSource, SourceError, Tree};

use crate::error::{PipelineError, Side};
use crate::steps::Observer;

/// Head planned against base.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub base: Revision,
    pub head: Revision,
    /// Creates, updates and deletes that take the base's desired state to the head's; its
    /// warnings say what the base could not read and which deletes apply would not make.
    pub plan: Plan,
    /// How environments kept on other branches were read.
    pub notes: Vec<BranchNote>,
}

impl Comparison {
    /// The words the renderers frame this comparison's plan with.
    pub fn framing(&self) -> Framing {
        Framing {
            compared: Compared::Revisions {
                base: self.base.clone(),
                head: self.head.clone(),
            },
            notes: self.notes.iter().map(BranchNote::phrase).collect(),
        }
    }
}

/// An environment that flagsync.yaml reads from the tip of another branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchNote {
    pub environment: String,
    pub branch: String,
    /// The base reads it from the same branch and directory: its experiments show no
    /// change here.
    pub same_in_base: bool,
}

impl BranchNote {
    pub fn phrase(&self) -> Phrase {
        let note = Phrase::new()
            .text("Environment ")
            .name(&self.environment)
            .text(" is read from the tip of branch ")
            .name(&self.branch);
        if self.same_in_base {
            note.text(
                " for both revisions, so its experiments show no change here; diff that \
                 branch's own commits to review them.",
            )
        } else {
            note.text(".")
        }
    }
}

/// Reads both revisions of the git repository `dir` lives in (a subdirectory is read as
/// the repository root in both), validates the head and plans head against base. The
/// head's errors stop it; the base's are reported through `observer` and become warnings,
/// and what the base could not read shows as created. A base without the directory has
/// everything created.
pub fn compare(
    dir: &Path,
    base_rev: &str,
    head_rev: &str,
    observer: &dyn Observer,
) -> Result<Comparison, PipelineError> {
    let open_failed = |side, rev: &str, source| PipelineError::OpenRevision {
        side,
        rev: rev.to_owned(),
        source,
    };
    let head_source =
        GitSource::open(dir, head_rev).map_err(|e| open_failed(Side::Head, head_rev, e))?;
    let base_source = match GitSource::open(dir, base_rev) {
        Ok(source) => Some(source),
        // The repository's directory was added after the base: everything is new.
        Err(SourceError::NotFound { .. }) => None,
        Err(e) => return Err(open_failed(Side::Base, base_rev, e)),
    };

    let head = crate::load(&head_source);
    observer.revision_loaded(Side::Head, head_rev, &head);
    if head.has_errors() {
        return Err(PipelineError::InvalidHead {
            rev: head_rev.to_owned(),
            errors: head.error_count(),
        });
    }

    let mut warnings = Vec::new();
    let base = base_source.as_ref().map(|source| {
        let loaded = crate::load(source);
        observer.revision_loaded(Side::Base, base_rev, &loaded);
        if loaded.has_errors() {
            warnings.push(format!(
                "the base revision {base_rev} has {} error(s) (shown as warnings): what it \
                 could not read shows as created",
                loaded.error_count()
            ));
        }
        loaded
    });
    if base_source.is_none() {
        warnings.push(format!(
            "the base revision {base_rev} does not have this directory: everything shows as created"
        ));
    }

    let mut plan = plan_head_against_base(&head, base.as_ref())?;
    warnings.append(&mut plan.warnings);
    plan.warnings = warnings;
    plan.metadata.revision = Some(RepoRevision {
        rev: Some(head_rev.to_owned()),
        commit: Some(head_source.id()),
        modified: false,
    });
    if let Some(config) = &head.repository.config {
        plan.metadata.providers = ProviderScope::of(config, &[]);
    }

    Ok(Comparison {
        base: revision(base_rev, base_source.as_ref()),
        head: revision(head_rev, Some(&head_source)),
        plan,
        notes: branch_notes(&head.repository, base.as_ref().map(|b| &b.repository)),
    })
}

/// The plan from base to head, with a warning for each delete that apply would not make.
fn plan_head_against_base(head: &Loaded, base: Option<&Loaded>) -> Result<Plan, PipelineError> {
    let desired = normalize::desired_resources(&head.repository);
    let base_desired = base
        .map(|b| normalize::desired_resources(&b.repository))
        .unwrap_or_default();
    let before = desired_as_live(&base_desired);
    let options = PlanOptions {
        prune: true,
        // A flag the head stops declaring is a difference between the revisions; the
        // warning below says that apply deletes it only when asked.
        prune_flags: true,
        targets: Vec::new(),
        scope: full_scope(&head.repository, base.map(|b| &b.repository)),
    };
    let mut plan =
        flagsync_plan::plan(&desired, &before, &options).map_err(PipelineError::Compare)?;
    // A delete names the manifest the base declared it in.
    for action in plan
        .actions
        .iter_mut()
        .filter(|a| a.operation == Operation::Delete)
    {
        action.origin = base_desired
            .iter()
            .find(|d| d.key == action.key)
            .and_then(|d| d.origin.clone());
    }

    // A resource the head stops declaring shows as deleted; say when apply would in fact
    // leave it alone because the head no longer manages that part of the account.
    let head_scope = normalize::managed_scope(&head.repository);
    let mut warnings: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| a.operation == Operation::Delete && !head_scope.contains(&a.key))
        .map(|a| {
            format!(
                "{}: the head revision no longer manages it, so apply leaves it in place \
                 instead of deleting it",
                a.id
            )
        })
        .collect();
    warnings.extend(
        plan.actions
            .iter()
            .filter(|a| a.operation == Operation::Delete && a.key.kind == Kind::Flag)
            .filter(|a| head_scope.contains(&a.key))
            .map(|a| {
                format!(
                    "{}: apply deletes a CloudBees Unify flag no manifest declares only with \
                     --prune --prune-flags (code may have created it)",
                    a.id
                )
            }),
    );
    warnings.append(&mut plan.warnings);
    plan.warnings = warnings;
    Ok(plan)
}

fn revision(rev: &str, source: Option<&GitSource>) -> Revision {
    let commit = source.map(GitSource::id);
    // A revision given as a commit id needs no second spelling of itself.
    let is_commit_id = rev.len() >= 4
        && rev.bytes().all(|b| b.is_ascii_hexdigit())
        && commit.as_deref().is_some_and(|c| c.starts_with(rev));
    let described = match source {
        Some(s) if !is_commit_id => s.describe(),
        _ => rev.to_owned(),
    };
    Revision {
        rev: rev.to_owned(),
        commit,
        described,
    }
}

/// The base's desired resources in the shape of live ones, so the planner compares them
/// like live state. Both went through the same normalization, so equal meaning compares
/// equal. Identities are unique already (the loader keeps the first of duplicates); a
/// repeated key is dropped all the same rather than failing the comparison.
fn desired_as_live(desired: &[DesiredResource]) -> Vec<LiveResource> {
    let mut seen = BTreeSet::new();
    desired
        .iter()
        .filter(|d| seen.insert(&d.key))
        .map(|d| LiveResource {
            key: d.key.clone(),
            body: d.body.clone(),
            remote_id: None,
            references: d.references.clone(),
            patch_base: None,
        })
        .collect()
}

/// Everything either revision declares: a resource the head drops is a delete, even when
/// the head also stops managing its kind or environment (a warning then says so).
fn full_scope(head: &Repository, base: Option<&Repository>) -> ManagedScope {
    let mut envs: BTreeSet<String> = head.environments.iter().map(|e| e.name.clone()).collect();
    let mut unify_envs: BTreeSet<String> = normalize::managed_scope(head)
        .unify_envs
        .into_iter()
        .collect();
    if let Some(base) = base {
        envs.extend(base.environments.iter().map(|e| e.name.clone()));
        unify_envs.extend(normalize::managed_scope(base).unify_envs);
    }
    ManagedScope {
        target_groups: true,
        experiment_envs: envs.into_iter().collect(),
        rollouts: true,
        unify: true,
        unify_envs: unify_envs.into_iter().collect(),
    }
}

/// What the reader must know about environments read from branch tips.
fn branch_notes(head: &Repository, base: Option<&Repository>) -> Vec<BranchNote> {
    head.environments
        .iter()
        .filter_map(|env| {
            let branch = env.branch.as_ref()?;
            let same_in_base = base
                .and_then(|b| b.environment(&env.name))
                .is_some_and(|b| {
                    b.branch.as_deref() == Some(branch.as_str())
                        && b.experiments_dir == env.experiments_dir
                });
            Some(BranchNote {
                environment: env.name.clone(),
                branch: branch.clone(),
                same_in_base,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagsync_plan::ResourceKey;
    use serde_json::json;

    #[test]
    fn base_as_live_plans_creates_updates_and_deletes() {
        let base = vec![
            DesiredResource::new(ResourceKey::target_group("kept"), json!({"a": 1})),
            DesiredResource::new(ResourceKey::target_group("changed"), json!({"a": 1})),
            DesiredResource::new(ResourceKey::target_group("gone"), json!({"a": 1})),
        ];
        let head = vec![
            DesiredResource::new(ResourceKey::target_group("kept"), json!({"a": 1})),
            DesiredResource::new(ResourceKey::target_group("changed"), json!({"a": 2})),
            DesiredResource::new(ResourceKey::target_group("new"), json!({"a": 1})),
        ];
        let options = PlanOptions {
            prune: true,
            prune_flags: false,
            targets: Vec::new(),
            scope: ManagedScope {
                target_groups: true,
                experiment_envs: Vec::new(),
                rollouts: true,
                ..Default::default()
            },
        };
        let plan = flagsync_plan::plan(&head, &desired_as_live(&base), &options).unwrap();
        let ops: Vec<(String, Operation)> = plan
            .actions
            .iter()
            .map(|a| (a.key.name.clone(), a.operation))
            .collect();
        assert!(ops.contains(&("new".into(), Operation::Create)));
        assert!(ops.contains(&("changed".into(), Operation::Update)));
        assert!(ops.contains(&("gone".into(), Operation::Delete)));
        assert_eq!(ops.len(), 3, "{ops:?}");
    }

    #[test]
    fn duplicate_base_keys_do_not_fail() {
        let base = vec![
            DesiredResource::new(ResourceKey::rollout("x"), json!({})),
            DesiredResource::new(ResourceKey::rollout("x"), json!({"b": 1})),
        ];
        let live = desired_as_live(&base);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].body, json!({}));
    }

    #[test]
    fn branch_notes_quote_names() {
        let note = BranchNote {
            environment: "Staging".into(),
            branch: "st`g".into(),
            same_in_base: false,
        };
        assert_eq!(
            note.phrase().plain(),
            "Environment `Staging` is read from the tip of branch `st`g`."
        );
        assert_eq!(
            note.phrase().markdown(),
            "Environment `Staging` is read from the tip of branch ``st`g``."
        );
    }
}
