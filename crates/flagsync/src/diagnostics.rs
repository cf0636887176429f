//! Rendering of manifest diagnostics: miette's graphical reports for people, a stable JSON
//! document for tools.

use std::collections::BTreeMap;
use std::ops::Range;

use flagsync_manifest::{Diagnostic, Loaded, Severity};
use flagsync_plan::Metadata;
use miette::{
    LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, NamedSource, Report,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

/// The counts a validation run ends with. In a CloudBees Unify CasC tree, `environments`
/// and `target_groups` count the tree's.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Files read: manifests and `flagsync.yaml`.
    pub files: usize,
    pub experiments: usize,
    pub environments: usize,
    pub target_groups: usize,
    pub rollouts: usize,
    pub flags: usize,
    pub flag_configurations: usize,
    pub properties: usize,
    pub errors: usize,
    pub warnings: usize,
    #[serde(skip)]
    casc: bool,
}

fn n(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

impl Summary {
    pub fn of(loaded: &Loaded) -> Self {
        let repo = &loaded.repository;
        let casc = repo.casc.as_ref();
        Self {
            files: loaded.files_read,
            experiments: repo.experiment_count(),
            environments: casc.map_or(repo.environments.len(), |c| c.environments.len()),
            target_groups: casc.map_or(repo.target_groups.len(), |c| c.target_groups.len()),
            rollouts: repo.rollouts.len(),
            flags: casc.map_or(0, |c| c.flags.len()),
            flag_configurations: casc.map_or(0, |c| c.configuration_count()),
            properties: casc.map_or(0, |c| c.properties.len()),
            errors: loaded.error_count(),
            warnings: loaded.warning_count(),
            casc: casc.is_some(),
        }
    }

    /// `validated 12 files (3 experiments in 2 environments, ...): 2 errors, 1 warning`, or
    /// for a CasC tree `validated 9 files (2 flags, 3 flag configurations in 2
    /// environments, ...)`.
    pub fn line(&self) -> String {
        let contents = if self.casc {
            format!(
                "{}, {} in {}, {}, {}, {}",
                n(self.flags, "flag", "flags"),
                n(
                    self.flag_configurations,
                    "flag configuration",
                    "flag configurations"
                ),
                n(self.environments, "environment", "environments"),
                n(self.target_groups, "target group", "target groups"),
                n(self.properties, "property", "properties"),
                n(self.rollouts, "rollout", "rollouts"),
            )
        } else {
            format!(
                "{} in {}, {}, {}",
                n(self.experiments, "experiment", "experiments"),
                n(self.environments, "environment", "environments"),
                n(self.target_groups, "target group", "target groups"),
                n(self.rollouts, "rollout", "rollouts"),
            )
        };
        format!(
            "validated {} ({contents}): {}, {}",
            n(self.files, "file", "files"),
            n(self.errors, "error", "errors"),
            n(self.warnings, "warning", "warnings"),
        )
    }
}

/// The widest line a snippet shows, in characters. A longer line is cut to a window around
/// the problem: miette panics on a column past 65,535, and would print a one-line file whole.
const SNIPPET_WIDTH: usize = 160;
/// The longest message or help printed, in characters (a message can quote a name as long
/// as its file).
const MESSAGE_CHARS: usize = 1000;
/// The most lines a snippet underlines; a longer span is underlined on its first line.
const SPAN_LINES: usize = 10;
/// How many diagnostics a command prints in full; the rest are counted.
pub const SHOWN_DIAGNOSTICS: usize = 200;

/// One diagnostic as a miette report, with the offending text underlined when the file's
/// text is known.
pub fn report(d: &Diagnostic, sources: &BTreeMap<String, String>) -> Report {
    let severity = match d.severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    };
    let text = sources.get(&d.file).filter(|t| {
        !d.secret
            && !t.is_empty()
            && d.span.start <= d.span.end
            && d.span.end <= t.len()
            && t.is_char_boundary(d.span.start)
            && t.is_char_boundary(d.span.end)
    });
    let message = if text.is_some() {
        clip(&d.message)
    } else {
        format!("{}:{}:{}: {}", d.file, d.line, d.column, clip(&d.message))
    };
    let mut diag = MietteDiagnostic::new(message)
        .with_code(d.code.as_str())
        .with_severity(severity);
    if let Some(help) = &d.help {
        diag = diag.with_help(clip(help));
    }
    match text {
        Some(text) => {
            let (source, label) = snippet(d, text);
            diag = diag.with_label(LabeledSpan::new_primary_with_span(
                None,
                (label.start, label.end - label.start),
            ));
            Report::new(diag).with_source_code(source)
        }
        None => Report::new(diag),
    }
}

/// `text` cut to [`MESSAGE_CHARS`].
fn clip(text: &str) -> String {
    match text.char_indices().nth(MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// What miette is given to show `d` in `text`: the file, or when the lines around the
/// problem are too wide, a window of its first line that keeps the file's line and column.
/// A span over more than [`SPAN_LINES`] lines is underlined on its first line only, so a
/// span over a whole document never prints it whole.
fn snippet(d: &Diagnostic, text: &str) -> (Snippet, Range<usize>) {
    let start = d.span.start;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let end = if text[start..d.span.end].matches('\n').count() < SPAN_LINES {
        d.span.end
    } else {
        d.span.end.clamp(start, line_end)
    };
    // The handler shows one line of context on each side.
    let before = text[..line_start.saturating_sub(1)]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let last_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    let after = match text.get(last_end + 1..) {
        Some(rest) => rest.find('\n').map_or(text.len(), |i| last_end + 1 + i),
        None => last_end,
    };
    let wide = text[before..after]
        .split('\n')
        .any(|line| line.chars().nth(SNIPPET_WIDTH).is_some());
    if !wide {
        let source = NamedSource::new(&d.file, text.to_owned());
        return (Snippet::Whole(source), start..end);
    }
    let end = end.min(line_end);
    let line = &text[line_start..line_end];
    let column = text[line_start..start].chars().count();
    let byte_at = |from: usize, chars: usize| {
        line[from..]
            .char_indices()
            .nth(chars)
            .map_or(line.len(), |(i, _)| from + i)
    };
    let from = byte_at(0, column.saturating_sub(SNIPPET_WIDTH / 4));
    let to = byte_at(from, SNIPPET_WIDTH);
    let mut shown = String::new();
    if from > 0 {
        shown.push('…');
    }
    let base = shown.len();
    shown.push_str(&line[from..to]);
    if to < line.len() {
        shown.push('…');
    }
    let label =
        base + (start - line_start - from)..base + (end.min(line_start + to) - line_start - from);
    let excerpt = Excerpt {
        name: d.file.clone(),
        text: shown,
        line: d.line.saturating_sub(1),
        column: d.column.saturating_sub(1),
        label_start: label.start,
    };
    (Snippet::Window(excerpt), label)
}

enum Snippet {
    Whole(NamedSource<String>),
    Window(Excerpt),
}

impl SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        match self {
            Snippet::Whole(source) => source.read_span(span, before, after),
            Snippet::Window(excerpt) => excerpt.read_span(span, before, after),
        }
    }
}

/// A window of one line of a file, which tells miette the file's own line and column.
struct Excerpt {
    name: String,
    text: String,
    /// 0-based, as miette counts.
    line: usize,
    column: usize,
    label_start: usize,
}

impl SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        _before: usize,
        _after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        // The header's `file:line:col` comes from reading the label's span.
        let column = if span.offset() == self.label_start {
            self.column
        } else {
            0
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            self.text.as_bytes(),
            (0, self.text.len()).into(),
            self.line,
            column,
            1,
        )))
    }
}

/// Prints diagnostics on stderr, the first [`SHOWN_DIAGNOSTICS`] in full and then how many
/// more there were: a repository of 100,000 broken files must not print gigabytes.
#[derive(Default)]
pub struct Printer {
    shown: usize,
    hidden_errors: usize,
    hidden_warnings: usize,
}

impl Printer {
    pub fn print(&mut self, d: &Diagnostic, sources: &BTreeMap<String, String>) {
        if self.shown < SHOWN_DIAGNOSTICS {
            self.shown += 1;
            eprintln!("{:?}", report(d, sources));
        } else if d.is_error() {
            self.hidden_errors += 1;
        } else {
            self.hidden_warnings += 1;
        }
    }

    /// Says what was not shown, and which command (`full`) lists everything.
    pub fn finish(self, full: &str) {
        let hidden = self.hidden_errors + self.hidden_warnings;
        if hidden > 0 {
            eprintln!(
                "… and {hidden} more problem(s) not shown ({} error(s), {} warning(s)); `{full}` lists them all",
                self.hidden_errors, self.hidden_warnings
            );
        }
    }
}

/// Prints every diagnostic on stderr, graphically (colour as the global options say), up
/// to [`SHOWN_DIAGNOSTICS`].
pub fn print_human(loaded: &Loaded) {
    let mut printer = Printer::default();
    for d in &loaded.diagnostics {
        printer.print(d, &loaded.sources);
    }
    printer.finish("flagsync validate --format json");
}

/// One problem, at `file:line:col`.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "Diagnostic")]
pub struct JsonDiagnostic<'a> {
    /// The file, relative to the repository root (`BRANCH:path` for a file of another
    /// branch; `.` for the repository as a whole).
    file: &'a str,
    /// 1-based.
    line: usize,
    /// 1-based, in characters.
    column: usize,
    severity: Severity,
    /// The rule: match on this, never on `message`.
    code: &'a str,
    message: &'a str,
    /// What to do about it, when flagsync knows.
    help: Option<&'a str>,
}

/// `validate --format json`.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "ValidateOutput")]
pub struct JsonOutput<'a> {
    /// The version of this document's shape.
    format_version: u32,
    metadata: &'a Metadata,
    /// Every problem found, sorted by file, line and column.
    diagnostics: Vec<JsonDiagnostic<'a>>,
    summary: &'a Summary,
}

/// The stable, versioned JSON document of a validation run.
pub fn json(loaded: &Loaded, summary: &Summary, metadata: &Metadata) -> String {
    let out = JsonOutput {
        format_version: 1,
        metadata,
        diagnostics: loaded
            .diagnostics
            .iter()
            .map(|d| JsonDiagnostic {
                file: &d.file,
                line: d.line,
                column: d.column,
                severity: d.severity,
                code: d.code.as_str(),
                message: &d.message,
                help: d.help.as_deref(),
            })
            .collect(),
        summary,
    };
    serde_json::to_string_pretty(&out).unwrap_or_default()
}
