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
use flagsync_plan::{
    DesiredResource, LiveResource, ManagedScope, Operation, Plan, PlanOptions, normalize,
};
use flagsync_source::{GitSource, SourceError, Tree};
use miette::miette;
use serde_json::{Map, Value};

use crate::cmd::plan::{Format, render};
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

/// The no-changes sentence of the plan renderers, which speaks of live state.
const PLAN_NO_CHANGES: &str = "No changes. Live state matches the repository.";
/// The deletion warning of the markdown plan, which speaks of a plan.
const PLAN_DELETES: &str = "> This plan **deletes ";
const DIFF_DELETES: &str = "> This change **deletes ";
/// The closing advice of a truncated markdown plan, which names `flagsync plan`.
const PLAN_FULL_HINT: &str = "Run `flagsync plan --format human` to see the full plan.";

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let comparison = compare(&args.dir, &args.base, &args.head)?;
    print!("{}", output(&comparison, args, global));
    Ok(if args.detailed_exitcode && comparison.plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// One side of the comparison, for the output.
struct Side {
    /// The revision as the user wrote it.
    rev: String,
    /// The full commit id it resolved to.
    commit: String,
    /// `REV (abc1234)`.
    described: String,
}

struct Comparison {
    base: Side,
    head: Side,
    plan: Plan,
    /// Sentences about how the two revisions were read (branch environments).
    notes: Vec<String>,
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

fn side(rev: &str, source: Option<&GitSource>) -> Side {
    let commit = source.map(GitSource::id).unwrap_or_default();
    // A revision given as a commit id needs no second spelling of itself.
    let is_commit_id =
        rev.len() >= 4 && rev.bytes().all(|b| b.is_ascii_hexdigit()) && commit.starts_with(rev);
    let described = match source {
        Some(s) if !is_commit_id => s.describe(),
        _ => rev.to_owned(),
    };
    Side {
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
fn branch_notes(head: &Repository, base: Option<&Repository>) -> Vec<String> {
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
        notes.push(if same_in_base {
            format!(
                "Environment {} is read from the tip of branch {} for both revisions, so its \
                 experiments show no change here; diff that branch's own commits to review them.",
                Quoted(&env.name),
                Quoted(branch)
            )
        } else {
            format!(
                "Environment {} is read from the tip of branch {}.",
                Quoted(&env.name),
                Quoted(branch)
            )
        });
    }
    notes
}

/// A name in a note; rendered per format (a code span in markdown).
struct Quoted<'a>(&'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A marker pair that renderers turn into their own quoting; never user text.
        write!(f, "\u{1}{}\u{2}", self.0)
    }
}

/// Replaces the quoting markers of [`Quoted`] for plain text.
fn plain(note: &str) -> String {
    let mut out = String::new();
    let mut rest = note;
    while let Some((before, after)) = rest.split_once('\u{1}') {
        out.push_str(before);
        let (inner, tail) = after.split_once('\u{2}').unwrap_or((after, ""));
        out.push('`');
        out.push_str(&printable(inner));
        out.push('`');
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Replaces the quoting markers of [`Quoted`] with markdown code spans.
fn markdown(note: &str) -> String {
    let mut out = String::new();
    let mut rest = note;
    while let Some((before, after)) = rest.split_once('\u{1}') {
        out.push_str(before);
        let (inner, tail) = after.split_once('\u{2}').unwrap_or((after, ""));
        out.push_str(&code_span(inner));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Control characters shown escaped, so a name cannot move the cursor or recolour text.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A markdown code span that shows `text` literally whatever backticks it holds.
fn code_span(text: &str) -> String {
    let text = printable(text).replace(['\n', '\r'], " ");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // CommonMark strips one space on each side when both are present: pad when the text
    // begins or ends with a backtick so that it stays part of the content.
    if text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
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
    let mut printer = crate::diagnostics::Printer::default();
    for d in shown.iter().take(limit) {
        let mut d = (*d).clone();
        let which = if is_base { "base" } else { "head" };
        d.message = format!("{which} revision {rev}: {}", d.message);
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

fn output(c: &Comparison, args: &Args, global: &GlobalArgs) -> String {
    let no_changes = format!(
        "No changes. {} declares the same desired state as {}.",
        Quoted(&c.head.rev),
        Quoted(&c.base.rev)
    );
    match args.format {
        Format::Human => {
            let mut out = format!(
                "flagsync diff {} → {}\n",
                printable(&c.base.described),
                printable(&c.head.described)
            );
            for note in &c.notes {
                out.push_str(&format!("Note: {}\n", plain(note)));
            }
            out.push('\n');
            let body = render(&c.plan, Format::Human, global);
            // Only the summary line can be the sentence when nothing changes: no action
            // content is shown then.
            if c.plan.has_changes() {
                out.push_str(&body);
            } else {
                out.push_str(&body.replace(PLAN_NO_CHANGES, &plain(&no_changes)));
            }
            out
        }
        Format::Json => json(c, global),
        Format::Markdown => markdown_comment(c, &markdown(&no_changes)),
    }
}

/// The plan's JSON document with the two revisions and the notes after `format_version`.
fn json(c: &Comparison, global: &GlobalArgs) -> String {
    let text = render(&c.plan, Format::Json, global);
    let Ok(Value::Object(plan)) = serde_json::from_str::<Value>(&text) else {
        // The renderer always writes an object; pass anything else through untouched.
        return text;
    };
    let side = |s: &Side| {
        serde_json::json!({
            "rev": s.rev,
            "commit": if s.commit.is_empty() { Value::Null } else { Value::String(s.commit.clone()) },
        })
    };
    let mut out = Map::new();
    for (key, value) in plan {
        let first = key == "format_version";
        out.insert(key, value);
        if first {
            out.insert("base".into(), side(&c.base));
            out.insert("head".into(), side(&c.head));
            out.insert(
                "notes".into(),
                Value::Array(c.notes.iter().map(|n| Value::String(plain(n))).collect()),
            );
        }
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(out)).unwrap_or(text);
    text.push('\n');
    text
}

/// The pull-request comment: a line naming the revisions, then the plan comment (summary
/// line, deletions called out, folded diffs), all within GitHub's comment limit.
fn markdown_comment(c: &Comparison, no_changes: &str) -> String {
    let budget = flagsync_plan::render::DEFAULT_MARKDOWN_BUDGET;
    let header = format!(
        "**flagsync diff** {} → {}: changes to the desired state (no service was read)\n\n",
        code_span(&c.base.described),
        code_span(&c.head.described)
    );
    let notes: String = c
        .notes
        .iter()
        .map(|n| format!("> {}\n", markdown(n)))
        .collect();
    let notes = if notes.is_empty() {
        notes
    } else {
        format!("\n> [!NOTE]\n{notes}")
    };
    let hint = format!(
        "Run {} to see every change.",
        code_span(&format!(
            "flagsync diff --base {} --head {}",
            c.base.rev, c.head.rev
        ))
    );
    // Room for what is added around and in the plan comment, so the whole stays in budget.
    let extra = header.chars().count()
        + notes.chars().count()
        + hint
            .chars()
            .count()
            .saturating_sub(PLAN_FULL_HINT.chars().count())
        + no_changes
            .chars()
            .count()
            .saturating_sub(PLAN_NO_CHANGES.chars().count())
        + DIFF_DELETES.chars().count()
        - PLAN_DELETES.chars().count();
    let body = flagsync_plan::render_markdown(&c.plan, budget.saturating_sub(extra));
    // The plan's wording is replaced only where the renderer puts it (summary line first,
    // deletion warning before the first section, hint in the closing note), never inside
    // a resource's content.
    let body = replace_in_tail(&body, PLAN_FULL_HINT, &hint);
    let (summary, rest) = body.split_once('\n').unwrap_or((&body, ""));
    let summary = if summary == PLAN_NO_CHANGES {
        no_changes
    } else {
        summary
    };
    let rest = match rest.find("<details>") {
        Some(at) => format!(
            "{}{}",
            rest[..at].replacen(PLAN_DELETES, DIFF_DELETES, 1),
            &rest[at..]
        ),
        None => rest.replacen(PLAN_DELETES, DIFF_DELETES, 1),
    };
    let mut out = format!("{header}{summary}\n{notes}{rest}");
    if out.chars().count() > budget {
        out = out.chars().take(budget).collect();
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// `text` with the last occurrence of `from` replaced, when it lies after every section
/// (the renderer's closing note).
fn replace_in_tail(text: &str, from: &str, to: &str) -> String {
    match text.rfind(from) {
        Some(at) if !text[at..].contains("</details>") => {
            format!("{}{to}{}", &text[..at], &text[at + from.len()..])
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagsync_plan::ResourceKey;
    use serde_json::json;

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

    #[test]
    fn hint_is_replaced_only_in_the_closing_note() {
        let inside = format!("<details>{PLAN_FULL_HINT}</details>\n");
        assert_eq!(replace_in_tail(&inside, PLAN_FULL_HINT, "X"), inside);
        let note = format!("<details>a</details>\n_3 omitted. {PLAN_FULL_HINT}_\n");
        assert_eq!(
            replace_in_tail(&note, PLAN_FULL_HINT, "X"),
            "<details>a</details>\n_3 omitted. X_\n"
        );
    }

    #[test]
    fn code_span_survives_backticks() {
        assert_eq!(code_span("HEAD~1"), "`HEAD~1`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("a\u{1b}b"), "`a\\u{1b}b`");
    }

    #[test]
    fn notes_quote_names_per_format() {
        let note = format!("Environment {} on {}.", Quoted("Staging"), Quoted("st`g"));
        assert_eq!(plain(&note), "Environment `Staging` on `st`g`.");
        assert_eq!(markdown(&note), "Environment `Staging` on ``st`g``.");
    }
}
