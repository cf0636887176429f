//! `flagsync diff --base REV --head REV`: what a change to the repository changes in the
//! desired state, offline. Both revisions are read from git without a checkout, normalized
//! as plan normalizes, and planned against each other (the base playing "live", with prune
//! on over everything either side declares), so a pull request from a fork gets a
//! reviewable comment without any credential.
//!
//! Environments that flagsync.yaml reads from another branch (`Staging: { branch: Staging }`)
//! are read from that branch's tip for both revisions: a branch has no state "as of" a
//! commit of another branch. They therefore show changes only when the two revisions read
//! them differently (an environment added, removed or moved); commits to the environment
//! branch itself are reviewed by diffing that branch's own revisions. The output says so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flagsync_manifest::{Diagnostic, Loaded, Repository, Severity};
use flagsync_plan::render::{
    Compared, DEFAULT_MARKDOWN_BUDGET, Framing, Phrase, Revision, render_human_framed,
    render_json_framed, render_markdown_framed,
};
use flagsync_plan::{
    DesiredResource, HumanOptions, LiveResource, ManagedScope, Operation, Plan, PlanOptions,
    normalize,
};
use flagsync_source::{GitSource, SourceError, Tree};
use miette::miette;

use crate::cmd::plan::Format;
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
    /// human (coloured on a terminal), json (versioned) or markdown (a pull-request comment).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 0 when the desired state is the same, 2 when it differs, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Base revision diagnostics shown in full; the rest are only counted.
const BASE_DIAGNOSTICS_SHOWN: usize = 10;

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let comparison = compare(&args.dir, &args.base, &args.head)?;
    print!("{}", output(&comparison, args, global));
    Ok(if args.detailed_exitcode && comparison.plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

struct Comparison {
    base: Revision,
    head: Revision,
    plan: Plan,
    /// Sentences about how the two revisions were read (branch environments).
    notes: Vec<Phrase>,
}

/// Reads both revisions, validates the head and plans head against base. Diagnostics go
/// to stderr; nothing goes to stdout.
fn compare(dir: &Path, base_rev: &str, head_rev: &str) -> miette::Result<Comparison> {
    // `GitSource::open` is what `crate::source::open` does with a revision; it is called
    // directly to keep the commit id and to tell "the directory is not in the base" from
    // other errors.
    let head_source = GitSource::open(dir, head_rev)
        .map_err(|e| miette!("cannot read the head revision `{head_rev}`: {e}"))?;
    let base_source = match GitSource::open(dir, base_rev) {
        Ok(source) => Some(source),
        // The repository's directory was added after the base: everything is new.
        Err(SourceError::NotFound { .. }) => None,
        Err(e) => return Err(miette!("cannot read the base revision `{base_rev}`: {e}")),
    };

    let head = flagsync_manifest::load(&head_source);
    print_diagnostics(&head, head_rev, false);
    if head.has_errors() {
        return Err(miette!(
            help = format!(
                "fix them in the head revision; `flagsync validate --ref {head_rev}` shows the full report"
            ),
            "the head revision `{head_rev}` has {} error(s)",
            head.error_count()
        ));
    }

    let mut warnings = Vec::new();
    let base = base_source.as_ref().map(|source| {
        let loaded = flagsync_manifest::load(source);
        print_diagnostics(&loaded, base_rev, true);
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

    let desired = normalize::desired_resources(&head.repository, &head.sources);
    let before = base
        .as_ref()
        .map(|b| desired_as_live(&normalize::desired_resources(&b.repository, &b.sources)))
        .unwrap_or_default();
    let options = PlanOptions {
        prune: true,
        targets: Vec::new(),
        scope: full_scope(&head.repository, base.as_ref().map(|b| &b.repository)),
    };
    let mut plan =
        flagsync_plan::plan(&desired, &before, &options).map_err(|e| miette!("comparing: {e}"))?;

    // A resource the head stops declaring shows as deleted; say when apply would in fact
    // leave it alone because the head no longer manages that part of the account.
    let head_scope = normalize::managed_scope(&head.repository);
    for action in &plan.actions {
        if action.operation == Operation::Delete && !head_scope.contains(&action.key) {
            warnings.push(format!(
                "{}: the head revision no longer manages it, so apply leaves it in place \
                 instead of deleting it",
                action.id
            ));
        }
    }
    warnings.append(&mut plan.warnings);
    plan.warnings = warnings;

    let notes = branch_notes(&head.repository, base.as_ref().map(|b| &b.repository));
    Ok(Comparison {
        base: side(base_rev, base_source.as_ref()),
        head: side(head_rev, Some(&head_source)),
        plan,
        notes,
    })
}

fn side(rev: &str, source: Option<&GitSource>) -> Revision {
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
    if let Some(base) = base {
        envs.extend(base.environments.iter().map(|e| e.name.clone()));
    }
    ManagedScope {
        target_groups: true,
        experiment_envs: envs.into_iter().collect(),
        rollouts: true,
    }
}

/// What the reader must know about environments read from branch tips.
fn branch_notes(head: &Repository, base: Option<&Repository>) -> Vec<Phrase> {
    let mut notes = Vec::new();
    for env in &head.environments {
        let Some(branch) = &env.branch else {
            continue;
        };
        let same_in_base = base
            .and_then(|b| b.environment(&env.name))
            .is_some_and(|b| {
                b.branch.as_deref() == Some(branch) && b.experiments_dir == env.experiments_dir
            });
        let note = Phrase::new()
            .text("Environment ")
            .name(&env.name)
            .text(" is read from the tip of branch ")
            .name(branch);
        notes.push(if same_in_base {
            note.text(
                " for both revisions, so its experiments show no change here; diff that \
                 branch's own commits to review them.",
            )
        } else {
            note.text(".")
        });
    }
    notes
}

/// Prints a revision's diagnostics on stderr, each naming the revision (both revisions have
/// files of the same names). The base's errors become warnings, and only the first few are
/// shown: the base may predate today's rules, and its problems are not this change's.
fn print_diagnostics(loaded: &Loaded, rev: &str, is_base: bool) {
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
    for d in shown.iter().take(limit) {
        let mut d = (*d).clone();
        let which = if is_base { "base" } else { "head" };
        d.message = format!("{which} revision {rev}: {}", d.message);
        if is_base {
            d.severity = Severity::Warning;
        }
        eprintln!("{:?}", crate::diagnostics::report(&d, &loaded.sources));
    }
    if shown.len() > limit {
        eprintln!(
            "warning: the base revision {rev} has {} more problem(s) not shown; \
             `flagsync validate --ref {rev}` lists them all",
            shown.len() - limit
        );
    }
}

fn output(c: &Comparison, args: &Args, global: &GlobalArgs) -> String {
    let framing = Framing {
        compared: Compared::Revisions {
            base: c.base.clone(),
            head: c.head.clone(),
        },
        notes: c.notes.clone(),
    };
    let mut text = match args.format {
        Format::Human => {
            let options = HumanOptions {
                color: global.color_stdout(),
            };
            render_human_framed(&c.plan, &options, &framing)
        }
        Format::Json => render_json_framed(&c.plan, &framing),
        Format::Markdown => render_markdown_framed(&c.plan, DEFAULT_MARKDOWN_BUDGET, &framing),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagsync_plan::ResourceKey;
    use serde_json::{Value, json};

    fn desired(key: ResourceKey, body: Value) -> DesiredResource {
        DesiredResource {
            key,
            body,
            references: Vec::new(),
            origin: None,
        }
    }

    #[test]
    fn base_as_live_plans_creates_updates_and_deletes() {
        let base = vec![
            desired(ResourceKey::target_group("kept"), json!({"a": 1})),
            desired(ResourceKey::target_group("changed"), json!({"a": 1})),
            desired(ResourceKey::target_group("gone"), json!({"a": 1})),
        ];
        let head = vec![
            desired(ResourceKey::target_group("kept"), json!({"a": 1})),
            desired(ResourceKey::target_group("changed"), json!({"a": 2})),
            desired(ResourceKey::target_group("new"), json!({"a": 1})),
        ];
        let options = PlanOptions {
            prune: true,
            targets: Vec::new(),
            scope: ManagedScope {
                target_groups: true,
                experiment_envs: Vec::new(),
                rollouts: true,
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
            desired(ResourceKey::rollout("x"), json!({})),
            desired(ResourceKey::rollout("x"), json!({"b": 1})),
        ];
        let live = desired_as_live(&base);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].body, json!({}));
    }
}
