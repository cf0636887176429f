//! Manifest diagnostics as GitHub Actions workflow commands (`::error file=…::message`):
//! the runner turns each into an annotation on the file and lines of the pull request.

use std::path::{Component, Path};

use flagsync_manifest::{Diagnostic, Loaded, Severity};

/// One workflow command line per diagnostic. `dir` is the repository as given on the
/// command line: annotations name files relative to the job's working directory, which is
/// the checkout GitHub resolves them against.
pub fn annotations(loaded: &Loaded, dir: &Path) -> String {
    let prefix = prefix(dir);
    let mut out = String::new();
    for d in &loaded.diagnostics {
        out.push_str(&command(d, loaded.sources.get(&d.file), &prefix));
        out.push('\n');
    }
    out
}

/// `dir` as a relative path prefix with `/` (empty for the working directory itself). An
/// absolute `dir` inside the working directory is made relative to it; one outside stays
/// absolute (GitHub then shows the annotation on the run, not on a file of the diff).
fn prefix(dir: &Path) -> String {
    let relative = match std::env::current_dir() {
        Ok(cwd) if dir.is_absolute() => dir.strip_prefix(&cwd).unwrap_or(dir),
        _ => dir,
    };
    let mut parts = Vec::new();
    for c in relative.components() {
        match c {
            Component::CurDir => {}
            Component::RootDir => parts.push(String::new()),
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    let mut joined = parts.join("/");
    if !joined.is_empty() && !joined.ends_with('/') {
        joined.push('/');
    }
    joined
}

fn command(d: &Diagnostic, text: Option<&String>, prefix: &str) -> String {
    let name = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = Vec::new();
    // `.` is the repository as a whole: no file to point at.
    if d.file != "." {
        props.push(("file", format!("{prefix}{}", d.file)));
        props.push(("line", d.line.to_string()));
        match text.and_then(|t| end(t, d)) {
            Some((end_line, end_column)) if end_line == d.line => {
                props.push(("col", d.column.to_string()));
                props.push(("endLine", end_line.to_string()));
                props.push(("endColumn", end_column.to_string()));
            }
            // GitHub takes columns only for an annotation on one line.
            Some((end_line, _)) => props.push(("endLine", end_line.to_string())),
            None => props.push(("col", d.column.to_string())),
        }
    }
    props.push(("title", format!("flagsync {}", d.code)));
    let props = props
        .iter()
        .map(|(k, v)| format!("{k}={}", escape_property(v)))
        .collect::<Vec<_>>()
        .join(",");
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!("::{name} {props}::{}", escape_data(&message))
}

/// Line and column (1-based, columns counting characters, as `Diagnostic` does) of the
/// last character of the diagnostic's span; `None` without a span.
fn end(text: &str, d: &Diagnostic) -> Option<(usize, usize)> {
    let span = text.get(d.span.clone())?;
    let last = span.trim_end_matches(['\n', '\r']).char_indices().last()?.0;
    let offset = d.span.start + last;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    Some((line, column))
}

/// The escaping the runner undoes in a command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The escaping the runner undoes in a property value, where `:` and `,` are separators.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(
        file: &str,
        line: usize,
        column: usize,
        span: std::ops::Range<usize>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code: flagsync_manifest::Code::UnknownField,
            message: "unknown field `a,b: 100%`".to_owned(),
            file: file.to_owned(),
            line,
            column,
            span,
            help: Some("expected one of\r\n`x`".to_owned()),
            secret: false,
        }
    }

    #[test]
    fn escapes_properties_and_data_as_the_runner_expects() {
        let text = "name: x\nbad: 1\n".to_owned();
        let d = diagnostic("dir,1/a:b%.yml", 2, 1, 8..11);
        assert_eq!(
            command(&d, Some(&text), "flags/"),
            "::error file=flags/dir%2C1/a%3Ab%25.yml,line=2,col=1,endLine=2,endColumn=3,\
             title=flagsync unknown-field::unknown field `a,b: 100%25`%0Ahelp: expected one of%0D%0A`x`"
        );
    }

    #[test]
    fn a_span_over_lines_has_no_columns_and_the_repository_no_file() {
        let text = "a:\n  - b\n  - c\n".to_owned();
        let d = diagnostic("x.yml", 1, 1, 0..text.len());
        let line = command(&d, Some(&text), "");
        assert!(
            line.starts_with("::error file=x.yml,line=1,endLine=3,title="),
            "{line}"
        );
        let whole = diagnostic(".", 1, 1, 0..0);
        assert!(command(&whole, None, "").starts_with("::error title=flagsync unknown-field::"));
    }

    #[test]
    fn end_columns_count_characters() {
        let text = "k: \"é€x\"\n".to_owned();
        let d = diagnostic("x.yml", 1, 4, 3..text.len());
        assert_eq!(end(&text, &d), Some((1, 8)));
    }
}
