//! YAML reading in two passes over each file: a light tree of nodes with byte spans (from the
//! parser events of serde-saphyr's parser crate), used to find the manifest kind, catch
//! duplicate keys and limits, and map a path in the typed model back to the text; then
//! serde-saphyr itself for the typed model.

use std::collections::HashSet;
use std::ops::Range;

use serde::de::DeserializeOwned;
use serde_saphyr::granit_parser::{Event, Parser};

use crate::code::Code;
use crate::diagnostic::{FileDiagnostics, Severity, did_you_mean};
use crate::model::PathSeg;

/// Deeper nesting than this is refused: no manifest needs it, and it bounds stack and time.
pub const MAX_DEPTH: usize = 48;
/// More nodes than this in one file are refused (a manifest has tens to hundreds).
pub const MAX_NODES: usize = 200_000;
/// Alias expansions replay events; this bounds what an alias bomb can cost.
const MAX_REPLAYED_EVENTS: usize = 100_000;

#[derive(Debug)]
pub(crate) enum Kind {
    Scalar { text: String },
    Seq(Vec<usize>),
    Map(Vec<(usize, usize)>),
    Alias,
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) span: Range<usize>,
}

/// The node tree of one YAML document. Nodes live in one vector (children by index), so a
/// deep document is never dropped recursively.
#[derive(Debug, Default)]
pub(crate) struct SpanTree {
    nodes: Vec<Node>,
    root: Option<usize>,
    /// Some mapping repeats a key (already reported).
    pub(crate) duplicates: bool,
}

enum Frame {
    Seq(usize, Vec<usize>),
    Map {
        node: usize,
        entries: Vec<(usize, usize)>,
        key: Option<usize>,
        seen: HashSet<String>,
    },
}

impl SpanTree {
    /// Parses `text`. Problems go to `diags`; `Err(())` means the tree is unusable (syntax
    /// error, limit exceeded, several documents) and the file must not be read further.
    /// Duplicate keys are reported but the tree is still returned; the caller then skips
    /// typed reading, which would only report the first of them again.
    pub(crate) fn parse(text: &str, diags: &mut FileDiagnostics<'_>) -> Result<SpanTree, ()> {
        let mut tree = SpanTree::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0usize;
        let mut failed = false;
        for item in Parser::new_from_str(text) {
            let (event, span) = match item {
                Ok(x) => x,
                Err(e) => {
                    let m = e.marker();
                    let at = m.byte_offset().unwrap_or(m.index());
                    diags.push(
                        Severity::Error,
                        Code::YamlSyntax,
                        at..at,
                        format!("invalid YAML: {}", e.info()),
                        None,
                    );
                    return Err(());
                }
            };
            let start = span.start.byte_offset().unwrap_or(span.start.index());
            let end = span
                .end
                .byte_offset()
                .unwrap_or(span.end.index())
                .max(start);
            let new_node = match event {
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        diags.push(
                            Severity::Error,
                            Code::MultipleDocuments,
                            start..end,
                            "a manifest file holds one YAML document; this is a second one",
                            Some("put each manifest in its own file".into()),
                        );
                        return Err(());
                    }
                    None
                }
                Event::Scalar(value, _, _, _) => Some(Node {
                    kind: Kind::Scalar {
                        text: value.into_owned(),
                    },
                    span: start..end,
                }),
                Event::Alias(_) | Event::UnresolvedAlias(_) => Some(Node {
                    kind: Kind::Alias,
                    span: start..end,
                }),
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    if stack.len() >= MAX_DEPTH {
                        diags.push(
                            Severity::Error,
                            Code::YamlTooDeep,
                            start..end,
                            format!("YAML nested deeper than {MAX_DEPTH} levels"),
                            None,
                        );
                        return Err(());
                    }
                    let node = tree.nodes.len();
                    let is_seq = matches!(event, Event::SequenceStart(..));
                    tree.nodes.push(Node {
                        kind: Kind::Alias,
                        span: start..end,
                    });
                    stack.push(if is_seq {
                        Frame::Seq(node, Vec::new())
                    } else {
                        Frame::Map {
                            node,
                            entries: Vec::new(),
                            key: None,
                            seen: HashSet::new(),
                        }
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = stack.pop() else { continue };
                    let (node, kind) = match frame {
                        Frame::Seq(node, items) => (node, Kind::Seq(items)),
                        Frame::Map { node, entries, .. } => (node, Kind::Map(entries)),
                    };
                    tree.nodes[node].kind = kind;
                    let s = &mut tree.nodes[node].span;
                    s.end = end.max(s.start);
                    tree.attach(&mut stack, node, diags, &mut failed);
                    continue;
                }
                _ => None,
            };
            if let Some(n) = new_node {
                if tree.nodes.len() >= MAX_NODES {
                    diags.push(
                        Severity::Error,
                        Code::YamlTooLarge,
                        start..end,
                        format!("more than {MAX_NODES} YAML nodes in one file"),
                        None,
                    );
                    return Err(());
                }
                let id = tree.nodes.len();
                tree.nodes.push(n);
                tree.attach(&mut stack, id, diags, &mut failed);
            }
        }
        // Duplicate keys: the tree is fine for pointing at things, but the file is wrong.
        tree.duplicates = failed;
        Ok(tree)
    }

    /// The tree of `text` for pointing at nodes only, ignoring its problems (already
    /// reported when the file was read); empty when it cannot be parsed.
    pub(crate) fn parse_quiet(text: &str) -> SpanTree {
        let mut scratch = FileDiagnostics::new("", text);
        SpanTree::parse(text, &mut scratch).unwrap_or_default()
    }

    fn attach(
        &mut self,
        stack: &mut [Frame],
        id: usize,
        diags: &mut FileDiagnostics<'_>,
        failed: &mut bool,
    ) {
        match stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(id);
                }
            }
            Some(Frame::Seq(_, items)) => items.push(id),
            Some(Frame::Map {
                entries, key, seen, ..
            }) => match key.take() {
                None => {
                    if let Kind::Scalar { text, .. } = &self.nodes[id].kind
                        && !seen.insert(text.clone())
                    {
                        *failed = true;
                        diags.push(
                            Severity::Error,
                            Code::DuplicateKey,
                            self.nodes[id].span.clone(),
                            format!("duplicate key `{text}`: a later value would silently replace an earlier one"),
                            Some("remove one of them".into()),
                        );
                    }
                    *key = Some(id);
                }
                Some(k) => entries.push((k, id)),
            },
        }
    }

    pub(crate) fn root(&self) -> Option<&Node> {
        self.root.and_then(|r| self.nodes.get(r))
    }

    /// The scalar values, with their spans, of every key `wanted` accepts, at any depth.
    pub(crate) fn scalar_values(&self, wanted: impl Fn(&str) -> bool) -> Vec<(&str, Range<usize>)> {
        let mut out = Vec::new();
        for node in &self.nodes {
            let Kind::Map(entries) = &node.kind else {
                continue;
            };
            for (k, v) in entries {
                if let (Kind::Scalar { text: key }, Kind::Scalar { text: value }) =
                    (&self.nodes[*k].kind, &self.nodes[*v].kind)
                    && wanted(key)
                {
                    out.push((value.as_str(), self.nodes[*v].span.clone()));
                }
            }
        }
        out
    }

    /// The value of `key` in a top-level mapping, with the span of that value.
    pub(crate) fn top_scalar(&self, key: &str) -> Option<(&str, Range<usize>)> {
        let Kind::Map(entries) = &self.root()?.kind else {
            return None;
        };
        entries.iter().find_map(|(k, v)| {
            let Kind::Scalar { text, .. } = &self.nodes[*k].kind else {
                return None;
            };
            if text != key {
                return None;
            }
            match &self.nodes[*v].kind {
                Kind::Scalar { text, .. } => Some((text.as_str(), self.nodes[*v].span.clone())),
                _ => Some(("", self.nodes[*v].span.clone())),
            }
        })
    }

    /// The span of the node at `path`, or of the deepest node on the way when the path goes
    /// further than the document (a missing field points at its parent). With `key` set, a
    /// final mapping step points at the key rather than at its value.
    pub(crate) fn span_of(&self, path: &[PathSeg], key: bool) -> Range<usize> {
        let Some(mut cur) = self.root else {
            return 0..0;
        };
        let last = path.len().saturating_sub(1);
        for (i, seg) in path.iter().enumerate() {
            let next = match (&self.nodes[cur].kind, seg) {
                (Kind::Seq(items), PathSeg::Index(n)) => items.get(*n).copied(),
                (Kind::Map(entries), PathSeg::Key(name)) => entries
                    .iter()
                    .find(|(k, _)| {
                        matches!(&self.nodes[*k].kind, Kind::Scalar { text, .. } if text == name.as_ref())
                    })
                    .map(|(k, v)| if key && i == last { *k } else { *v }),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
        self.nodes[cur].span.clone()
    }
}

fn saphyr_options() -> serde_saphyr::Options {
    let mut limits = serde_saphyr::options::AliasLimits::default();
    limits.max_total_replayed_events = MAX_REPLAYED_EVENTS;
    limits.max_alias_expansions_per_anchor = 1_000;
    serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        alias_limits: limits,
        with_snippet: false,
        // The same limits as the span tree, so that the fast path accepts nothing the
        // careful path would refuse.
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_documents: 1,
        },
    }
}

/// The value of a `FIELD:` key (`type:`, `kind:`) written at the start of a line, if there
/// is exactly one: a cheap guess of a manifest's kind that spares clean files the span tree.
/// Any doubt (no such line, several, flow style) returns `None` and the caller takes the
/// careful path; a wrong guess fails typed reading, which also sends the file down the
/// careful path.
pub(crate) fn guess_tag<'t>(text: &'t str, field: &str) -> Option<&'t str> {
    let mut found = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            if found.is_some() {
                return None;
            }
            let value = match rest.find(" #") {
                Some(i) => &rest[..i],
                None => rest,
            };
            let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
            found = Some(value);
        }
    }
    found
}

/// The span of a top-level key written as a plain `key:` at the start of exactly one line,
/// without building the span tree: a block scalar's lines are indented, so a line starting
/// with `key:` is the key itself. `None` when it is written otherwise or more than once.
pub(crate) fn top_level_key_span(text: &str, key: &str) -> Option<Range<usize>> {
    let mut found = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line
            .strip_prefix(key)
            .is_some_and(|rest| rest.starts_with(':'))
        {
            if found.is_some() {
                return None;
            }
            found = Some(offset..offset + key.len());
        }
        offset += line.len();
    }
    found
}

/// Reads `text` as `T`, or `None` on any problem, reporting nothing (the fast path).
pub(crate) fn typed_quiet<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_saphyr::from_str_with_options::<T>(text, saphyr_options()).ok()
}

/// Reads `text` as `T` with serde-saphyr. A failure becomes one diagnostic (serde stops at
/// the first structural error of a document; other files and the semantic checks go on).
/// `hidden` names fields accepted only for the APIs' JSON, never suggested to a user.
pub(crate) fn typed<T: DeserializeOwned>(
    text: &str,
    diags: &mut FileDiagnostics<'_>,
    hidden: &[&str],
) -> Option<T> {
    match serde_saphyr::from_str_with_options::<T>(text, saphyr_options()) {
        Ok(v) => Some(v),
        Err(e) => {
            let (span, full) = match e.location() {
                Some(loc) => {
                    let s = loc.span();
                    let start = s.byte_offset().unwrap_or(s.offset()) as usize;
                    let len = s.byte_len().unwrap_or(s.len()) as usize;
                    (start..start + len, e.to_string())
                }
                None => (0..0, e.to_string()),
            };
            let message = match full.rfind(" at line ") {
                Some(i) => full[..i].to_owned(),
                None => full,
            };
            let (code, message, help) = classify(&message, hidden);
            diags.push(Severity::Error, code, span, message, help);
            None
        }
    }
}

/// A stable code, the message to show and a hint for a serde or serde-saphyr error message.
fn classify(message: &str, hidden: &[&str]) -> (Code, String, Option<String>) {
    let quoted = || {
        let a = message.find('`')?;
        let b = message[a + 1..].find('`')?;
        Some(&message[a + 1..a + 1 + b])
    };
    let expected: Vec<&str> = message
        .split_once("expected one of ")
        .or_else(|| message.split_once("expected "))
        .map(|(_, rest)| {
            rest.split(", ")
                .flat_map(|p| p.split(" or "))
                .map(|p| p.trim().trim_matches('`'))
                .filter(|p| !p.is_empty() && !hidden.contains(p))
                .collect()
        })
        .unwrap_or_default();
    let suggest = |code: Code, what: &str| {
        let word = quoted().unwrap_or_default();
        let help = match did_you_mean(word, expected.iter().copied()) {
            Some(s) => Some(format!("did you mean `{s}`?")),
            None if !expected.is_empty() => {
                Some(format!("expected one of: {}", expected.join(", ")))
            }
            None => None,
        };
        (code, format!("unknown {what} `{word}`"), help)
    };
    let plain = |code: Code, help: Option<String>| (code, message.to_owned(), help);
    if message.starts_with("unknown field") {
        suggest(Code::UnknownField, "field")
    } else if message.starts_with("unknown variant") {
        suggest(Code::UnknownVariant, "value")
    } else if message.starts_with("missing field") {
        let help = quoted().map(|f| format!("add `{f}:` to this mapping"));
        plain(Code::MissingField, help)
    } else if message.starts_with("duplicate mapping key") {
        plain(Code::DuplicateKey, None)
    } else if message.contains("alias") || message.contains("budget") || message.contains("limit") {
        plain(Code::YamlLimit, None)
    } else if message.contains("schedule steps") {
        plain(Code::InvalidValue, None)
    } else if message.starts_with("a number beyond ±2^53") {
        plain(
            Code::InexactNumber,
            Some("quote it to keep it as text (an id, say): `'12345678901234567890'`".into()),
        )
    } else if message.starts_with("invalid boolean") {
        plain(
            Code::InvalidType,
            Some("booleans are `true` or `false`; quote the word to keep it as text".into()),
        )
    } else {
        plain(Code::InvalidType, None)
    }
}

/// Where the comments of a YAML text are, for formatting that cannot keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comments {
    /// The leading block of comment (and blank) lines before any content, as written,
    /// ending with a newline; empty when it holds no comment. It belongs to the file, not to a
    /// value (a schema modeline, a licence), so it can be kept.
    pub header: String,
    /// The 1-based line of the first comment after the content starts: one that belongs
    /// to a value, which rewriting the values would drop.
    pub first_inner: Option<usize>,
}

/// The comments of `text`, found by the YAML parser (a `#` inside a string is not one).
/// A text the parser rejects reports no comment.
pub fn comments(text: &str) -> Comments {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    // The leading lines that are comments or blank, blank lines before the content
    // included, when there is a comment among them.
    let mut block_len = 0;
    let mut has_comment = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            has_comment |= !trimmed.is_empty();
            block_len += line.len();
        } else {
            break;
        }
    }
    let header_len = if has_comment { block_len } else { 0 };
    let header_end_line = text[..header_len].matches('\n').count();
    let mut first_inner = None;
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else {
            break;
        };
        if let Event::Comment(..) = event {
            let start = span.start.byte_offset().unwrap_or(span.start.index());
            let line = line_of(start);
            if line > header_end_line {
                first_inner = Some(line);
                break;
            }
        }
    }
    let mut header = text[..header_len].to_owned();
    if !header.is_empty() && !header.ends_with('\n') {
        header.push('\n');
    }
    Comments {
        header,
        first_inner,
    }
}

#[cfg(test)]
mod comment_tests {
    use super::*;

    #[test]
    fn header_comments_are_kept_and_others_found() {
        let text = "# yaml-language-server: $schema=x.json\n\n# about\ntype: experiment # inline\nflag: 'a # b'\n";
        let c = comments(text);
        assert_eq!(
            c.header,
            "# yaml-language-server: $schema=x.json\n\n# about\n"
        );
        assert_eq!(c.first_inner, Some(4));
        let c = comments("# top\n\ntype: experiment\n");
        assert_eq!((c.header.as_str(), c.first_inner), ("# top\n\n", None));
        assert_eq!(comments("\n\ntype: experiment\n").header, "");
        let c = comments("type: experiment\nflag: \"a # not a comment\"\nlabels: |\n  # text\n");
        assert_eq!(c, Comments::default());
        let c = comments("type: experiment\n\n# trailing\n");
        assert_eq!(c.first_inner, Some(3));
    }
}
