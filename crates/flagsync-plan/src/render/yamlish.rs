//! A small YAML-like printer for canonical bodies. Its only readers are humans reviewing a
//! change, so it favours one fact per line (which diffs well) over YAML completeness. Strings
//! are quoted by the format's own quoter (`flagsync_manifest::write::yaml`); this printer only
//! decides, for display, when a string can stay plain.

use flagsync_manifest::write::yaml::{needs_escape, quoted, resolves_to_other_type};
use serde_json::Value;

/// Renders `value` as YAML-like text, one line per scalar, ending with a newline.
pub fn to_yamlish(value: &Value) -> String {
    let mut lines = Vec::new();
    match value {
        Value::Object(map) if !map.is_empty() => object_lines(value, 0, &mut lines),
        Value::Array(items) if !items.is_empty() => array_lines(items, 0, &mut lines),
        scalar => lines.push(inline(scalar)),
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

pub(crate) fn object_lines(value: &Value, indent: usize, out: &mut Vec<String>) {
    let Value::Object(map) = value else {
        return;
    };
    let pad = " ".repeat(indent);
    for (key, item) in map {
        let key = quote_key(key);
        match item {
            Value::Object(_) if is_block(item) => {
                out.push(format!("{pad}{key}:"));
                object_lines(item, indent + 2, out);
            }
            Value::Array(items) if is_block(item) => {
                out.push(format!("{pad}{key}:"));
                array_lines(items, indent + 2, out);
            }
            scalar => out.push(format!("{pad}{key}: {}", inline(scalar))),
        }
    }
}

pub(crate) fn array_lines(items: &[Value], indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    for item in items {
        if !is_block(item) {
            out.push(format!("{pad}- {}", inline(item)));
            continue;
        }
        // Render the item two columns in, then put the dash on its first line.
        let start = out.len();
        match item {
            Value::Object(_) => object_lines(item, indent + 2, out),
            Value::Array(inner) => array_lines(inner, indent + 2, out),
            _ => {}
        }
        if let Some(first) = out.get_mut(start) {
            let rest = first.get(indent + 2..).unwrap_or("").to_owned();
            *first = format!("{pad}- {rest}");
        }
    }
}

fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote_string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
    }
}

/// A key as the printer writes it.
pub(crate) fn key(key: &str) -> String {
    quote_key(key)
}

/// A key, plain when it is a simple name.
fn quote_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' '))
        && !key.starts_with(['-', ' '])
        && !key.ends_with(' ');
    if plain { key.to_owned() } else { quoted(key) }
}

/// A string value, plain whenever a YAML reader would read it back as the same string in a
/// block. That is looser than what export writes (its files must also read the same in flow
/// lists), so that versions, patterns and names read as they were written.
fn quote_string(s: &str) -> String {
    let needs_quotes = s.is_empty()
        || resolves_to_other_type(s)
        || s.starts_with(|c: char| c.is_whitespace() || "-?:,[]{}#&*!|>'\"%@`".contains(c))
        || s.ends_with(char::is_whitespace)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(needs_escape);
    if needs_quotes {
        quoted(s)
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_nested_structures() {
        let v = json!({
            "flag": "default.myName",
            "enabled": true,
            "labels": ["a", "true"],
            "conditions": [
                {"group": {"name": ["Beta Users"], "operator": "or"}, "value": true},
                {"value": false}
            ],
            "empty": {},
            "none": [],
            "weird key: x": "a: b",
            "n": 1.5
        });
        let expected = "\
flag: default.myName
enabled: true
labels:
  - a
  - \"true\"
conditions:
  - group:
      name:
        - Beta Users
      operator: or
    value: true
  - value: false
empty: {}
none: []
\"weird key: x\": \"a: b\"
n: 1.5
";
        assert_eq!(to_yamlish(&v), expected);
    }

    #[test]
    fn quoting_is_the_format_quoter() {
        // Plain where a reader reads the same string back; quoted and escaped like export
        // writes otherwise, line separators included.
        let v = json!({"semver": "1.0.0", "n": "1.0", "esc": "a\u{1b}b", "sep": "x\u{2028}y"});
        assert_eq!(
            to_yamlish(&v),
            "semver: 1.0.0\nn: \"1.0\"\nesc: \"a\\u001Bb\"\nsep: \"x\\u2028y\"\n"
        );
    }

    #[test]
    fn scalars_and_nested_arrays() {
        assert_eq!(to_yamlish(&json!("")), "\"\"\n");
        assert_eq!(
            to_yamlish(&json!([[1, 2], "- x"])),
            "- - 1\n  - 2\n- \"- x\"\n"
        );
        assert_eq!(
            to_yamlish(&json!({"s": "line\nbreak"})),
            "s: \"line\\nbreak\"\n"
        );
    }
}
