//! A small YAML emitter for exported manifests, and the scalar quoter the plan renderers
//! share (they show bodies YAML-like).
//!
//! Written here rather than borrowed from a serializer so that the output is exactly what
//! we want and stays stable across dependency upgrades: block style, two-space indent, keys
//! in the order of the (insertion-ordered) JSON map, short lists of scalars in flow style,
//! and every string that a YAML reader could take for something else (`NO`, `yes`, `1.0`,
//! `~`, `null`, timestamps, leading or trailing spaces, `: `, `#`, ...) double-quoted, so it
//! reads back as the same string.

use serde_json::{Map, Value};

/// Flow-style lists (`[a, b]`) longer than this are written one item per line.
const MAX_FLOW_WIDTH: usize = 72;

/// The YAML text of `value`, ending with a newline. Objects are written in block style.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => emit_map(map, 0, false, &mut out),
        Value::Array(items) if !items.is_empty() && flow(items).is_none() => {
            emit_seq(items, 0, &mut out)
        }
        other => {
            out.push_str(&inline(other, false).unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

/// Writes the entries of `map` at `indent`. With `first_inline`, the first entry goes on the
/// current line (after a `- ` already written).
fn emit_map(map: &Map<String, Value>, indent: usize, first_inline: bool, out: &mut String) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !first_inline {
            push_indent(indent, out);
        }
        out.push_str(&scalar_string(key));
        out.push(':');
        emit_value(value, indent + 2, false, out);
    }
}

fn emit_seq(items: &[Value], indent: usize, out: &mut String) {
    for item in items {
        push_indent(indent, out);
        out.push('-');
        emit_value(item, indent + 2, true, out);
    }
}

/// Writes `value` after the `key:` or `-` of its line: on that line when it is inline,
/// else below at `indent` (a map after `-` starts on the same line).
fn emit_value(value: &Value, indent: usize, after_dash: bool, out: &mut String) {
    match block(value) {
        Block::Inline(text) => {
            out.push(' ');
            out.push_str(&text);
            out.push('\n');
        }
        Block::Map(inner) if after_dash => {
            out.push(' ');
            emit_map(inner, indent, true, out);
        }
        Block::Map(inner) => {
            out.push('\n');
            emit_map(inner, indent, false, out);
        }
        Block::Seq(items) => {
            out.push('\n');
            emit_seq(items, indent, out);
        }
    }
}

enum Block<'a> {
    Inline(String),
    Map(&'a Map<String, Value>),
    Seq(&'a [Value]),
}

fn block(value: &Value) -> Block<'_> {
    match value {
        Value::Object(map) if !map.is_empty() => Block::Map(map),
        Value::Array(items) if !items.is_empty() => match flow(items) {
            Some(text) => Block::Inline(text),
            None => Block::Seq(items),
        },
        other => Block::Inline(inline(other, false).unwrap_or_default()),
    }
}

/// `[a, b]` when every item is a scalar and the whole is short.
fn flow(items: &[Value]) -> Option<String> {
    let parts: Option<Vec<String>> = items
        .iter()
        .map(|v| match v {
            Value::Array(_) | Value::Object(_) => None,
            other => inline(other, true),
        })
        .collect();
    let text = format!("[{}]", parts?.join(", "));
    (text.chars().count() <= MAX_FLOW_WIDTH).then_some(text)
}

/// The one-line form of a scalar or an empty collection. Inside a flow list (`in_flow`),
/// `,` ends an item, so a string holding one is quoted.
fn inline(value: &Value, in_flow: bool) -> Option<String> {
    Some(match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if !in_flow && is_plain_safe_in_block(s) => s.clone(),
        Value::String(s) => scalar_string(s),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        _ => return None,
    })
}

fn push_indent(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A string as a plain scalar when that is unambiguous, else double-quoted.
pub fn scalar_string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        quoted(s)
    }
}

/// Plain in a block value: also `, ` between words (descriptions), which only flow
/// collections give a meaning to.
fn is_plain_safe_in_block(s: &str) -> bool {
    !s.ends_with(',') && is_plain_safe(&s.replace(", ", " "))
}

/// Words that YAML 1.1 or 1.2 readers resolve to booleans or null when unquoted.
const RESERVED_WORDS: [&str; 11] = [
    "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", "=",
];

/// Conservative: letters (any script), digits and a few punctuation marks that mean nothing
/// to YAML in plain scalars, starting with a letter or `_`, and not a word or number a
/// reader would resolve to another type.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_alphabetic() || first == '_') {
        return false;
    }
    if s.ends_with(' ') {
        return false;
    }
    let allowed = |c: char| {
        c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '/' | '@' | '+' | '(' | ')')
    };
    if !s.chars().all(allowed) {
        return false;
    }
    // Characters that are letters to Rust but line breaks or invisible to YAML readers.
    !resolves_to_other_type(s) && !s.chars().any(needs_escape)
}

/// Whether a YAML reader resolves `s`, unquoted, to something other than a string: a
/// boolean or null in YAML 1.1 or 1.2 (`NO`, `~`), or a number (`1.0`; `inf`, `NaN` and
/// `infinity` too, which parse as floats in Rust and in some readers).
pub fn resolves_to_other_type(s: &str) -> bool {
    RESERVED_WORDS.contains(&s.to_ascii_lowercase().as_str()) || s.parse::<f64>().is_ok()
}

/// Whether `c` is written escaped in a quoted scalar: control characters, and characters
/// that YAML readers take for line breaks or that are invisible.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// A double-quoted YAML scalar. The escapes used are common to YAML 1.1 and 1.2.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                if code <= 0xFFFF {
                    out.push_str(&format!("\\u{code:04X}"));
                } else {
                    out.push_str(&format!("\\U{code:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted_and_plain_ones_are_not() {
        for s in [
            "NO",
            "yes",
            "Off",
            "1.0",
            "10",
            "~",
            "null",
            "Null",
            "inf",
            "NaN",
            "2024-01-15T10:00:00Z",
            "",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "#x",
            "-x",
            "*x",
            "&x",
            "!x",
            "[x]",
            "{x}",
            "'x'",
            "\"x\"",
            "x,y",
            "%x",
            "@x",
            "`x`",
            "=",
            "a\nb",
        ] {
            assert!(scalar_string(s).starts_with('"'), "{s:?} must be quoted");
        }
        for s in [
            "Beta Users",
            "Bêta users",
            "ui.buttonColor",
            "flags/x",
            "a-b_c",
        ] {
            assert_eq!(scalar_string(s), s);
        }
    }

    #[test]
    fn escapes_control_characters_and_line_separators() {
        assert_eq!(scalar_string("a\u{1b}[31m"), "\"a\\u001B[31m\"");
        assert_eq!(scalar_string("a\u{2028}b"), "\"a\\u2028b\"");
        assert_eq!(scalar_string("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
    }

    #[test]
    fn block_layout_is_stable() {
        let value = json!({
            "type": "experiment",
            "flag": "my.flag",
            "labels": ["a", "b"],
            "availableValues": ["red", 10.5, "1.0"],
            "conditions": [
                {"group": {"name": ["Beta Users"], "operator": "or"}, "value": true},
                {"value": [{"option": true, "percentage": 50}]}
            ],
            "value": null,
            "empty": {},
            "none": []
        });
        let expected = "\
type: experiment
flag: my.flag
labels: [a, b]
availableValues: [red, 10.5, \"1.0\"]
conditions:
  - group:
      name: [Beta Users]
      operator: or
    value: true
  - value:
      - option: true
        percentage: 50
value: null
empty: {}
none: []
";
        assert_eq!(to_yaml(&value), expected);
    }

    #[test]
    fn commas_stay_plain_in_block_values_only() {
        let text = to_yaml(&json!({"description": "a, b", "labels": ["a, b"], "x": "a,b"}));
        assert_eq!(text, "description: a, b\nlabels: [\"a, b\"]\nx: \"a,b\"\n");
    }

    #[test]
    fn long_scalar_lists_go_one_per_line() {
        let items: Vec<String> = (0..20).map(|i| format!("label-{i}")).collect();
        let text = to_yaml(&json!({ "labels": items }));
        assert!(
            text.starts_with("labels:\n  - label-0\n  - label-1\n"),
            "{text}"
        );
    }
}
