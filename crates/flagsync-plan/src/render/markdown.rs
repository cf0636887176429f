//! A GitHub pull-request comment: the summary line first and outside any fold, deletions
//! called out, one folded section per action, and never more than the budget.

use std::fmt::Write as _;

use super::{DiffLine, action_diff};
use crate::model::{Action, Operation, Plan};

/// GitHub's limit for a comment body, in characters.
pub const DEFAULT_MARKDOWN_BUDGET: usize = 65_536;

/// How many deleted resources the warning names before it says "and N more".
const DELETES_NAMED: usize = 20;

/// The plan as a pull-request comment of at most `budget` characters (GitHub counts
/// characters, not bytes). Sections that do not fit are left out whole, from the end, and
/// a closing note says how many and how to see the full plan.
pub fn render_markdown(plan: &Plan, budget: usize) -> String {
    let mut header = String::new();
    let _ = writeln!(header, "{}", plan.summary.line());

    let deletes: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| a.operation == Operation::Delete)
        .collect();
    if !deletes.is_empty() {
        let mut names: Vec<String> = deletes
            .iter()
            .take(DELETES_NAMED)
            .map(|a| format!("<code>{}</code>", escape(&a.id)))
            .collect();
        if deletes.len() > DELETES_NAMED {
            names.push(format!("and {} more", deletes.len() - DELETES_NAMED));
        }
        let noun = if deletes.len() == 1 {
            "resource"
        } else {
            "resources"
        };
        let _ = write!(
            header,
            "\n> [!WARNING]\n> This plan **deletes {} {noun}**: {}\n",
            deletes.len(),
            names.join(", ")
        );
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(header, "\n> [!CAUTION]");
        for warning in &plan.warnings {
            let _ = writeln!(header, "> - {}", escape(warning));
        }
    }

    // Deletions first, then the rest in execution order.
    let ordered = deletes.iter().copied().chain(
        plan.actions
            .iter()
            .filter(|a| a.operation != Operation::Delete),
    );
    let sections: Vec<String> = ordered.map(section).collect();

    let total = sections.len();
    let note = |omitted: usize| {
        let noun = if omitted == 1 { "action" } else { "actions" };
        format!(
            "\n_{omitted} of {total} {noun} omitted to fit in a GitHub comment. Run \
             `flagsync plan --format human` to see the full plan._\n"
        )
    };
    let mut out = header;
    let mut used = out.chars().count();
    let mut included = 0;
    for (i, s) in sections.iter().enumerate() {
        let len = s.chars().count();
        let remaining_after = total - i - 1;
        let reserve = if remaining_after > 0 {
            note(remaining_after).chars().count()
        } else {
            0
        };
        if used + len + reserve > budget {
            break;
        }
        out.push_str(s);
        used += len;
        included += 1;
    }
    if included < total {
        out.push_str(&note(total - included));
    }
    // Only a budget smaller than the header and note gets here; still never exceed it.
    if out.chars().count() > budget {
        out = out.chars().take(budget).collect();
    }
    out
}

fn section(action: &Action) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "\n<details><summary><code>{} {}</code> {}</summary>\n\n",
        action.operation.symbol(),
        action.operation,
        escape(&action.id)
    );
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
    fn fence_outgrows_backticks_in_content() {
        assert_eq!(fence_for(&["plain".to_owned()]), "```");
        assert_eq!(fence_for(&["has ```` four".to_owned()]), "`````");
    }
}
