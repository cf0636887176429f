//! Terminal output: one block per action, then warnings and the summary line.

use std::fmt::Write as _;

use console::Style;

use super::framing::{Compared, Framing};
use super::{DiffLine, action_diff, undeclared_heading, usage_phrase};
use crate::model::{Action, Operation, Plan};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HumanOptions {
    /// ANSI colours (the binary decides from `--color`, `NO_COLOR` and the terminal).
    pub color: bool,
}

struct Palette {
    create: Style,
    update: Style,
    delete: Style,
    context: Style,
    warning: Style,
    bold: Style,
}

impl Palette {
    fn new(color: bool) -> Self {
        // `force_styling` because the caller already decided; console would otherwise
        // look at the terminal itself.
        let style = |s: Style| {
            if color {
                s.force_styling(true)
            } else {
                Style::new()
            }
        };
        Palette {
            create: style(Style::new().green()),
            update: style(Style::new().yellow()),
            delete: style(Style::new().red()),
            context: style(Style::new().dim()),
            warning: style(Style::new().yellow().bold()),
            bold: style(Style::new().bold()),
        }
    }

    fn for_operation(&self, op: Operation) -> &Style {
        match op {
            Operation::Create => &self.create,
            Operation::Update | Operation::Adopt => &self.update,
            Operation::Delete => &self.delete,
        }
    }
}

/// The plan for a terminal. Ends with `Plan: N to create, M to update, K to delete.` (and
/// how many live resources no manifest declares, listed before it), or `No changes. Live
/// state matches the repository.`
pub fn render_human(plan: &Plan, options: &HumanOptions) -> String {
    render_human_framed(plan, options, &Framing::default())
}

/// [`render_human`] in the words of `framing`: for two revisions, a first line naming
/// them and their no-changes sentence. Notes follow the first line.
pub fn render_human_framed(plan: &Plan, options: &HumanOptions, framing: &Framing) -> String {
    let p = Palette::new(options.color);
    let mut out = String::new();
    if let Compared::Revisions { base, head } = &framing.compared {
        let _ = writeln!(
            out,
            "flagsync diff {} → {}",
            printable(&base.described),
            printable(&head.described)
        );
    }
    for note in &framing.notes {
        let _ = writeln!(out, "Note: {}", note.plain());
    }
    if !out.is_empty() {
        out.push('\n');
    }
    for action in &plan.actions {
        render_action(action, &p, &mut out);
        out.push('\n');
    }
    if let Some(heading) = undeclared_heading(plan) {
        let _ = writeln!(out, "{}", p.warning.apply_to(format!("{heading}:")));
        for u in &plan.undeclared {
            let mut line = format!("  ? {}", printable(&u.id));
            if let Some(id) = &u.remote_id {
                let _ = write!(line, " (id {})", printable(id));
            }
            if let Some(reason) = &u.unsupported {
                let _ = write!(line, ": not possible: {}", printable(reason));
            }
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "{}", p.warning.apply_to("Warnings:"));
        for warning in &plan.warnings {
            let _ = writeln!(out, "  {} {}", p.warning.apply_to("!"), printable(warning));
        }
        out.push('\n');
    }
    let summary = match framing.no_changes() {
        Some(sentence) if !plan.has_changes() => sentence.plain(),
        _ => plan.summary.line(),
    };
    let _ = writeln!(out, "{}", p.bold.apply_to(summary));
    out
}

fn render_action(action: &Action, p: &Palette, out: &mut String) {
    let style = p.for_operation(action.operation);
    let mut header = format!(
        "{} {} {}",
        action.operation.symbol(),
        action.operation,
        printable(&action.id)
    );
    if let Some(id) = &action.remote_id {
        let _ = write!(header, " (id {})", printable(id));
    }
    let _ = writeln!(out, "{}", style.apply_to(header));
    if let Some(origin) = &action.origin {
        let _ = writeln!(
            out,
            "    {}",
            p.context
                .apply_to(format!("# {}:{}", printable(&origin.file), origin.line))
        );
    }
    if let Some(usage) = usage_phrase(&action.used_by, &|env| printable(env)) {
        let _ = writeln!(out, "    {}", p.context.apply_to(format!("# {usage}")));
    }
    for line in action_diff(action) {
        let text = match &line {
            DiffLine::Context(t) => p.context.apply_to(format!("      {t}")).to_string(),
            DiffLine::Added(t) => p.create.apply_to(format!("    + {t}")).to_string(),
            DiffLine::Removed(t) => p.delete.apply_to(format!("    - {t}")).to_string(),
            DiffLine::Gap => p.context.apply_to("      ...").to_string(),
        };
        out.push_str(&text);
        out.push('\n');
    }
    if !action.steps.is_empty() {
        let _ = writeln!(out, "    steps:");
        for (i, step) in action.steps.iter().enumerate() {
            let _ = writeln!(out, "      {}. {}", i + 1, step.describe());
        }
    }
    if let Some(reason) = &action.unsupported {
        let _ = writeln!(
            out,
            "    {} {}",
            p.warning.apply_to("! not possible:"),
            printable(reason)
        );
    }
    if !action.depends_on.is_empty() {
        let _ = writeln!(
            out,
            "    {}",
            p.context.apply_to(printable(&format!(
                "after: {}",
                action.depends_on.join(", ")
            )))
        );
    }
}

/// Names come from repositories and remote services: control characters (an ANSI escape
/// in a flag name, say) are shown escaped rather than sent to the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(printable("Beta Users é"), "Beta Users é");
    }
}
