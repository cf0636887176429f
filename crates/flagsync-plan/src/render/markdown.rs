//! A GitHub pull-request comment: the workflow's marker, a title saying what was planned,
//! the summary line outside any fold, deletions called out, then one folded section per
//! action, grouped by provider and environment with Production first, and never more than
//! the budget.

use std::fmt::Write as _;

use super::framing::{Compared, Framing};
use super::human::printable;
use super::{DiffLine, Group, action_diff, groups, undeclared_heading, usage_phrase};
use crate::model::{Action, Metadata, Operation, Plan, Provider};

/// GitHub's limit for a comment body, in characters.
pub const DEFAULT_MARKDOWN_BUDGET: usize = 65_536;

/// The marker the example workflow finds its comment by (`examples/ci/github-actions.yml`).
pub const DEFAULT_COMMENT_MARKER: &str = "<!-- flagsync-plan -->";

/// How many deleted (or undeclared) resources a callout names before it says "and N more".
const DELETES_NAMED: usize = 20;

/// How a comment is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkdownOptions {
    /// The most a comment may hold, marker included, counted in UTF-16 code units: what the
    /// workflow's script measures (JavaScript's `length`), never less than GitHub's count of
    /// characters.
    pub budget: usize,
    /// A first line the workflow finds the comment by (an HTML comment, invisible), or
    /// none.
    pub marker: Option<String>,
}

impl Default for MarkdownOptions {
    fn default() -> Self {
        MarkdownOptions {
            budget: DEFAULT_MARKDOWN_BUDGET,
            marker: None,
        }
    }
}

/// The length of `text` as the budget counts it.
pub fn comment_length(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The plan as a pull-request comment of at most `budget` (see [`MarkdownOptions`]).
/// Sections that do not fit are left out whole, from the end, and a closing note says how
/// many and how to see the full plan.
pub fn render_markdown(plan: &Plan, budget: usize) -> String {
    render_markdown_framed(plan, budget, &Framing::default())
}

/// [`render_markdown`] in the words of `framing`.
pub fn render_markdown_framed(plan: &Plan, budget: usize, framing: &Framing) -> String {
    let options = MarkdownOptions {
        budget,
        marker: None,
    };
    render_markdown_with(plan, &options, framing)
}

/// The comment, with `options`' marker and budget, in the words of `framing`: for two
/// revisions, a title naming them, their no-changes sentence, a "change" that deletes, how
/// to see every change. Notes go in a callout after the summary line. Everything counts
/// against the budget, the marker included.
pub fn render_markdown_with(plan: &Plan, options: &MarkdownOptions, framing: &Framing) -> String {
    let budget = options.budget;
    let mut header = String::new();
    if let Some(marker) = options.marker.as_deref().filter(|m| !m.is_empty()) {
        let _ = writeln!(header, "{}", marker.replace(['\n', '\r'], " "));
    }
    header.push_str(&title(&plan.metadata, framing));
    match framing.no_changes() {
        Some(sentence) if !plan.has_changes() => {
            let _ = writeln!(header, "{}", sentence.markdown());
        }
        _ => {
            let _ = writeln!(header, "{}", plan.summary.line());
        }
    }
    if !framing.notes.is_empty() {
        let _ = writeln!(header, "\n> [!NOTE]");
        for note in &framing.notes {
            let _ = writeln!(header, "> {}", note.markdown());
        }
    }

    let deletes: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| a.operation == Operation::Delete)
        .collect();
    if !deletes.is_empty() {
        let noun = if deletes.len() == 1 {
            "resource"
        } else {
            "resources"
        };
        let _ = write!(
            header,
            "\n> [!WARNING]\n> This {} **deletes {} {noun}**: {}\n",
            framing.subject(),
            deletes.len(),
            named(deletes.iter().map(|a| a.id.as_str()))
        );
    }
    if let Some(heading) = undeclared_heading(plan) {
        let _ = write!(
            header,
            "\n> [!IMPORTANT]\n> {}: {}\n",
            heading,
            named(plan.undeclared.iter().map(|u| u.id.as_str()))
        );
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(header, "\n> [!CAUTION]");
        for warning in &plan.warnings {
            let _ = writeln!(header, "> - {}", escape(warning));
        }
    }

    // Grouped by provider and environment, Production first; in a group, deletions first,
    // then the rest in execution order.
    let groups = groups(&plan.actions);
    let ordered: Vec<(usize, &Action)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, group)| group.actions.iter().map(move |a| (g, *a)))
        .collect();
    let total = ordered.len();
    let hint = full_view_hint(framing);
    // Reserve room for the closing note: its longest form, with the largest counts.
    let note_room = comment_length(&note(total, total, total, &hint));

    let lines: Vec<String> = ordered.iter().map(|(_, a)| list_line(a)).collect();
    // rest_lines[i]: room to list actions i.. by name.
    let mut rest_lines = vec![0usize; total + 1];
    for i in (0..total).rev() {
        rest_lines[i] = rest_lines[i + 1] + comment_length(&lines[i]);
    }
    let heading = "\n**Not shown in full:**\n\n";
    let heading_room = comment_length(heading);

    let mut out = header;
    let mut used = comment_length(&out);
    // Whole sections while they fit, keeping room to list the rest by name (up to a
    // quarter of the budget) and for the closing note.
    let mut full = 0;
    let mut shown_group = None;
    for (i, (g, action)) in ordered.iter().enumerate() {
        let mut s = String::new();
        if shown_group != Some(*g) {
            s.push_str(&group_heading(&groups[*g]));
        }
        s.push_str(&section(action));
        let len = comment_length(&s);
        let reserve = if i + 1 == total {
            0
        } else {
            note_room + (heading_room + rest_lines[i + 1]).min(budget / 4)
        };
        if used + len + reserve > budget {
            break;
        }
        out.push_str(&s);
        used += len;
        full += 1;
        shown_group = Some(*g);
    }
    // Then one line per remaining action, so reviewers still see the names when the
    // diffs do not fit.
    let mut listed = 0;
    if full < total {
        let mut listing = String::from(heading);
        let mut listing_len = heading_room;
        for line in &lines[full..] {
            let len = comment_length(line);
            if used + listing_len + len + note_room > budget {
                break;
            }
            listing.push_str(line);
            listing_len += len;
            listed += 1;
        }
        if listed > 0 {
            out.push_str(&listing);
        }
        out.push_str(&note(total, listed, total - full - listed, &hint));
    }
    // Only a budget smaller than the header and note gets here; still never exceed it.
    if comment_length(&out) > budget {
        let mut cut = String::new();
        let mut len = 0;
        for c in out.chars() {
            len += c.len_utf16();
            if len > budget {
                break;
            }
            cut.push(c);
        }
        out = cut;
    }
    out
}

/// What was planned, as a heading and a line: the revisions compared or the repository's
/// revision, and the providers and applications covered.
fn title(metadata: &Metadata, framing: &Framing) -> String {
    let mut out = String::new();
    let covered = providers(metadata);
    match &framing.compared {
        Compared::Revisions { base, head } => {
            let _ = writeln!(
                out,
                "### flagsync diff {} → {}\n",
                code_span(&base.described),
                code_span(&head.described)
            );
            let mut line = "Changes to the desired state (no service was read)".to_owned();
            if !covered.is_empty() {
                let _ = write!(line, " of {covered}");
            }
            let _ = writeln!(out, "{line}.\n");
        }
        Compared::LiveState => {
            let mut heading = "### flagsync plan".to_owned();
            if !covered.is_empty() {
                let _ = write!(heading, ": {covered}");
            }
            let _ = writeln!(out, "{heading}\n");
            if let Some(revision) = &metadata.revision {
                let commit = revision
                    .commit
                    .as_deref()
                    .map(|c| code_span(c.get(..7).unwrap_or(c)));
                let at = match (&revision.rev, commit) {
                    (Some(rev), Some(commit)) => format!("{} ({commit})", code_span(rev)),
                    (Some(rev), None) => code_span(rev),
                    (None, Some(commit)) => commit,
                    (None, None) => String::new(),
                };
                if !at.is_empty() {
                    let modified = if revision.modified {
                        ", with uncommitted changes"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "Repository at {at}{modified}.\n");
                }
            }
        }
    }
    out
}

/// `CloudBees application `x` (Production, Staging) and Confidence`.
fn providers(metadata: &Metadata) -> String {
    let parts: Vec<String> = metadata
        .providers
        .iter()
        .map(|p| {
            let mut part = provider_name(p.provider).to_owned();
            if let Some(app) = &p.application {
                let _ = write!(part, " application {}", code_span(app));
            }
            if !p.environments.is_empty() {
                let envs: Vec<String> = p.environments.iter().map(|e| escape(e)).collect();
                let _ = write!(part, " ({})", envs.join(", "));
            }
            part
        })
        .collect();
    match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::CloudBees => "CloudBees",
        Provider::Confidence => "Confidence",
        Provider::Unify => "CloudBees Unify",
    }
}

/// `#### CloudBees · Production`.
fn group_heading(group: &Group<'_>) -> String {
    let provider = provider_name(group.provider);
    match (&group.environment, group.per_environment) {
        (Some(env), _) => format!("\n#### {provider} · {}\n", escape(env)),
        (None, true) => format!("\n#### {provider} · application-wide\n"),
        (None, false) => format!("\n#### {provider}\n"),
    }
}

/// Up to [`DELETES_NAMED`] ids as code, then "and N more".
fn named<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = ids.len();
    let mut names: Vec<String> = ids
        .take(DELETES_NAMED)
        .map(|id| format!("<code>{}</code>", escape(id)))
        .collect();
    if total > DELETES_NAMED {
        names.push(format!("and {} more", total - DELETES_NAMED));
    }
    names.join(", ")
}

fn list_line(action: &Action) -> String {
    format!(
        "- <code>{} {}</code> {}\n",
        action.operation.symbol(),
        action.operation,
        escape(&action.id)
    )
}

/// The closing note of a comment that does not show everything.
fn note(total: usize, listed: usize, omitted: usize, hint: &str) -> String {
    let what = match (listed, omitted) {
        (0, n) => format!("{n} of {total} actions omitted"),
        (l, 0) => format!("{l} of {total} actions listed without their diff"),
        (l, n) => format!("{l} of {total} actions listed without their diff and {n} omitted"),
    };
    format!("\n_{what} to fit in a GitHub comment. {hint}_\n")
}

/// How to see what a comment left out.
fn full_view_hint(framing: &Framing) -> String {
    match &framing.compared {
        Compared::LiveState => {
            "Run `flagsync plan --format human` to see the full plan.".to_owned()
        }
        Compared::Revisions { base, head } => format!(
            "Run {} to see every change.",
            code_span(&format!(
                "flagsync diff --base {} --head {}",
                base.rev, head.rev
            ))
        ),
    }
}

fn section(action: &Action) -> String {
    let mut s = String::new();
    let mut summary = format!(
        "<code>{} {}</code> {}",
        action.operation.symbol(),
        action.operation,
        escape(&action.id)
    );
    if let Some(origin) = &action.origin {
        let _ = write!(summary, " · <code>{}</code>", escape(&origin.file));
    }
    if let Some(usage) = usage_phrase(&action.used_by, &escape) {
        let _ = write!(summary, " · {usage}");
    }
    let _ = write!(s, "\n<details><summary>{summary}</summary>\n\n");
    let body: Vec<String> = action_diff(action)
        .into_iter()
        .map(|line| match line {
            DiffLine::Context(t) => format!("  {t}"),
            DiffLine::Added(t) => format!("+ {t}"),
            DiffLine::Removed(t) => format!("- {t}"),
            DiffLine::Gap => "@@ … @@".to_owned(),
        })
        .collect();
    if !body.is_empty() {
        let fence = fence_for(&body);
        let _ = writeln!(s, "{fence}diff");
        for line in &body {
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(s, "{fence}\n");
    }
    if !action.steps.is_empty() {
        let _ = writeln!(s, "Steps:");
        for (i, step) in action.steps.iter().enumerate() {
            // Our own text, never user input: a code span keeps it literal.
            let _ = writeln!(s, "{}. `{}`", i + 1, step.describe());
        }
        s.push('\n');
    }
    if let Some(reason) = &action.unsupported {
        let _ = writeln!(s, "**Not possible:** {}\n", escape(reason));
    }
    if !action.depends_on.is_empty() {
        let after: Vec<String> = action
            .depends_on
            .iter()
            .map(|d| format!("<code>{}</code>", escape(d)))
            .collect();
        let _ = writeln!(s, "Runs after {}.\n", after.join(", "));
    }
    s.push_str("</details>\n");
    s
}

/// A code fence longer than any run of backticks in the content, so that content can
/// never close it.
fn fence_for(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// A code span that shows `text` literally whatever backticks it holds (control characters
/// escaped, line breaks as spaces).
pub(crate) fn code_span(text: &str) -> String {
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

/// Escapes text for GitHub markdown and HTML: HTML's special characters and every
/// character markdown gives meaning to become numeric character references, which render
/// as themselves in both contexts.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' | '<' | '>' | '"' | '\'' | '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#'
            | '|' | '~' | '!' | '@' | ':' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralizes_html_and_markdown() {
        assert_eq!(escape("<b>x</b>"), "&#60;b&#62;x&#60;/b&#62;");
        assert_eq!(escape("a_b*c`d"), "a&#95;b&#42;c&#96;d");
        assert_eq!(escape("Beta Users"), "Beta Users");
        assert_eq!(escape("line\nbreak"), "line break");
    }

    #[test]
    fn code_span_survives_backticks() {
        assert_eq!(code_span("HEAD~1"), "`HEAD~1`");
        assert_eq!(code_span("a`b"), "``a`b``");
        assert_eq!(code_span("`x"), "`` `x ``");
        assert_eq!(code_span("a\u{1b}b"), "`a\\u{1b}b`");
    }

    #[test]
    fn fence_outgrows_backticks_in_content() {
        assert_eq!(fence_for(&["plain".to_owned()]), "```");
        assert_eq!(fence_for(&["has ```` four".to_owned()]), "`````");
    }
}
