//! Rendering of manifest diagnostics: miette's graphical reports for people, a stable JSON
//! document for tools.

use std::collections::BTreeMap;

use flagsync_manifest::{Diagnostic, Loaded, Severity};
use miette::{LabeledSpan, MietteDiagnostic, NamedSource, Report};
use serde::Serialize;

/// The counts a validation run ends with. In a CloudBees Unify CasC tree, `environments`
/// and `target_groups` count the tree's.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
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

/// One diagnostic as a miette report, with the offending text underlined when the file's
/// text is known.
pub fn report(d: &Diagnostic, sources: &BTreeMap<String, String>) -> Report {
    let severity = match d.severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    };
    let text = sources
        .get(&d.file)
        .filter(|t| !t.is_empty() && d.span.end <= t.len());
    let message = if text.is_some() {
        d.message.clone()
    } else {
        format!("{}:{}:{}: {}", d.file, d.line, d.column, d.message)
    };
    let mut diag = MietteDiagnostic::new(message)
        .with_code(d.code.as_str())
        .with_severity(severity);
    if let Some(help) = &d.help {
        diag = diag.with_help(help.clone());
    }
    match text {
        Some(text) => {
            diag = diag.with_label(LabeledSpan::new_primary_with_span(
                None,
                (d.span.start, d.span.end - d.span.start),
            ));
            Report::new(diag).with_source_code(NamedSource::new(&d.file, text.clone()))
        }
        None => Report::new(diag),
    }
}

/// Prints every diagnostic on stderr, graphically (colour as the global options say).
pub fn print_human(loaded: &Loaded) {
    for d in &loaded.diagnostics {
        eprintln!("{:?}", report(d, &loaded.sources));
    }
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    severity: Severity,
    code: &'a str,
    message: &'a str,
    help: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonOutput<'a> {
    format_version: u32,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    summary: &'a Summary,
}

/// The stable, versioned JSON document of a validation run.
pub fn json(loaded: &Loaded, summary: &Summary) -> String {
    let out = JsonOutput {
        format_version: 1,
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
