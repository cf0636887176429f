//! Problems found while loading and validating, each pointing at `file:line:col`.

use std::ops::Range;

use serde::Serialize;

use crate::code::Code;
use crate::model::PathSeg;
use crate::yaml::SpanTree;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem. `line` and `column` are 1-based (column counts characters); `span` is a byte
/// range into the file's text (empty when the problem concerns the whole file). Diagnostics
/// about the repository as a whole use the file `.`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier of the rule, e.g. `unknown-field` (see [`Code`]).
    pub code: Code,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    #[serde(skip)]
    pub span: Range<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The text at `span` may be a secret: show the position, never the text.
    #[serde(skip)]
    pub secret: bool,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A diagnostic about the node `path` leads to in `text`, the text of `file` (the
    /// deepest node on the way when the path goes further than the document).
    pub fn at(
        file: &str,
        text: &str,
        path: &[PathSeg],
        severity: Severity,
        code: Code,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        FileDiagnostics::new(file, text).at_path(path, false, severity, code, message, help)
    }
}

/// Line starts of a text, to turn byte offsets into 1-based line and character columns.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    /// Line and column (both 1-based) of a byte offset, clamped to the text and moved back
    /// to a character boundary.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        (line, column)
    }

    /// A span clamped to the text and to character boundaries.
    pub(crate) fn clamp(&self, span: Range<usize>) -> Range<usize> {
        let mut start = span.start.min(self.text.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = span.end.clamp(start, self.text.len());
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        start..end
    }
}

/// Builds diagnostics for one file.
pub(crate) struct FileDiagnostics<'a> {
    file: &'a str,
    index: LineIndex<'a>,
    pub(crate) out: Vec<Diagnostic>,
}

impl<'a> FileDiagnostics<'a> {
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Self {
            file,
            index: LineIndex::new(text),
            out: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        code: Code,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let d = self.diagnostic(severity, code, span, message, help);
        self.out.push(d);
    }

    /// A diagnostic at the node `path` leads to in this file's text (at its key with
    /// `at_key`), parsing the text for it: for a problem found after loading.
    pub(crate) fn at_path(
        &self,
        path: &[PathSeg],
        at_key: bool,
        severity: Severity,
        code: Code,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let span = SpanTree::parse_quiet(self.index.text).span_of(path, at_key);
        self.diagnostic(severity, code, span, message, help)
    }

    /// A diagnostic at `span` of this file.
    pub(crate) fn diagnostic(
        &self,
        severity: Severity,
        code: Code,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let span = self.index.clamp(span);
        let (line, column) = self.index.position(span.start);
        Diagnostic {
            severity,
            code,
            message: message.into(),
            file: self.file.to_owned(),
            line,
            column,
            span,
            help,
            secret: false,
        }
    }
}

/// A diagnostic about a whole file or the repository, with no position inside a text.
pub(crate) fn whole_file(
    severity: Severity,
    code: Code,
    file: &str,
    message: impl Into<String>,
    help: Option<String>,
) -> Diagnostic {
    Diagnostic {
        severity,
        code,
        message: message.into(),
        file: file.to_owned(),
        line: 1,
        column: 1,
        span: 0..0,
        help,
        secret: false,
    }
}

/// The closest candidate to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let idx = LineIndex::new("a: ä\nbb: x\n");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(6), (2, 1));
        assert_eq!(idx.position(9), (2, 4));
        // Inside the two bytes of `ä`: moved back to its start.
        assert_eq!(idx.position(4), (1, 4));
        assert_eq!(idx.position(999), (3, 1));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("fleg", ["flag", "name"]), Some("flag"));
        assert_eq!(did_you_mean("stickiness", ["stickinessProperty"]), None);
        assert_eq!(did_you_mean("zzzz", ["flag"]), None);
    }
}
