//! Renderers: a plan as text for a terminal, as versioned JSON, and as a pull-request
//! comment. They return strings; printing is the binary's job.

mod framing;
mod human;
mod json;
mod markdown;
mod yamlish;

pub use framing::{Compared, Framing, Phrase, Revision};
pub use human::{HumanOptions, printable, render_human, render_human_framed};
pub use json::{JsonRevision, plan_schema, render_json, render_json_framed};
pub use markdown::{DEFAULT_MARKDOWN_BUDGET, render_markdown, render_markdown_framed};
pub use yamlish::to_yamlish;

use serde_json::{Map, Value};
use similar::{ChangeTag, TextDiff};

use crate::model::{Action, Operation, Plan};

/// What the plan says of the live resources no manifest declares, e.g. `1 live resource is
/// not declared; `--prune` would delete it`; `None` when there are none.
pub(crate) fn undeclared_heading(plan: &Plan) -> Option<String> {
    let total = plan.undeclared.len();
    let deletable = plan
        .undeclared
        .iter()
        .filter(|u| u.unsupported.is_none())
        .count();
    let (resources, are, it) = if total == 1 {
        ("resource", "is", "it")
    } else {
        ("resources", "are", "them")
    };
    let prune = match deletable {
        0 => format!("`--prune` cannot delete {it}"),
        d if d == total => format!("`--prune` would delete {it}"),
        d => format!("`--prune` would delete {d} of them"),
    };
    (total > 0).then(|| format!("{total} live {resources} {are} not declared; {prune}"))
}

/// One line of a rendered change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DiffLine {
    Context(String),
    Added(String),
    Removed(String),
    /// Unchanged lines left out between two hunks.
    Gap,
}

/// Lines of context kept around each change.
const CONTEXT: usize = 3;

/// The change an action makes, as YAML-like lines: everything added for a create,
/// everything removed for a delete, changed hunks with a little context for an update.
pub(crate) fn action_diff(action: &Action) -> Vec<DiffLine> {
    match action.operation {
        Operation::Create => body_lines(action.desired.as_ref())
            .into_iter()
            .map(DiffLine::Added)
            .collect(),
        Operation::Delete => body_lines(action.live.as_ref())
            .into_iter()
            .map(DiffLine::Removed)
            .collect(),
        Operation::Update => {
            let desired = action.desired.clone().unwrap_or(Value::Null);
            // Show live in desired's key order so that key order alone never shows up
            // as a change.
            let live = action
                .live
                .as_ref()
                .map(|l| align_keys(l, &desired))
                .unwrap_or(Value::Null);
            text_diff(&to_yamlish(&live), &to_yamlish(&desired))
        }
    }
}

fn body_lines(body: Option<&Value>) -> Vec<String> {
    body.map(|b| to_yamlish(b).lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn text_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::from_lines(old, new);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(CONTEXT).iter().enumerate() {
        if i > 0 {
            out.push(DiffLine::Gap);
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let text = change.value().trim_end_matches(['\n', '\r']).to_owned();
                out.push(match change.tag() {
                    ChangeTag::Equal => DiffLine::Context(text),
                    ChangeTag::Insert => DiffLine::Added(text),
                    ChangeTag::Delete => DiffLine::Removed(text),
                });
            }
        }
    }
    out
}

/// `value` with object keys reordered to follow `order` where both have them (keys only
/// in `value` keep their order, after the others). Arrays are aligned element by element.
fn align_keys(value: &Value, order: &Value) -> Value {
    match (value, order) {
        (Value::Object(map), Value::Object(reference)) => {
            let mut out = Map::new();
            for (key, reference_item) in reference {
                if let Some(item) = map.get(key) {
                    out.insert(key.clone(), align_keys(item, reference_item));
                }
            }
            for (key, item) in map {
                if !out.contains_key(key) {
                    out.insert(key.clone(), item.clone());
                }
            }
            Value::Object(out)
        }
        (Value::Array(items), Value::Array(reference)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match reference_for(item, i, reference) {
                    Some(r) => align_keys(item, r),
                    None => item.clone(),
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// The element of `reference` to take key order from for `item` (at index `i`): the one
/// at the same index when it has the same keys, else the first with the same keys (list
/// elements shift when one is inserted), else the one at the same index.
fn reference_for<'a>(item: &Value, i: usize, reference: &'a [Value]) -> Option<&'a Value> {
    let same_keys = |r: &Value| match (item, r) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.keys().all(|k| b.contains_key(k))
        }
        _ => false,
    };
    // Bounded search: long lists fall back to index alignment (this only affects layout).
    const SEARCH_LIMIT: usize = 256;
    match reference.get(i) {
        Some(r) if same_keys(r) => Some(r),
        at_index => reference
            .iter()
            .take(SEARCH_LIMIT)
            .find(|r| same_keys(r))
            .or(at_index),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_alone_is_not_a_change() {
        let live = json!({"b": 1, "a": {"y": 1, "x": 2}});
        let desired = json!({"a": {"x": 2, "y": 1}, "b": 1});
        let aligned = align_keys(&live, &desired);
        assert_eq!(to_yamlish(&aligned), to_yamlish(&desired));
    }

    #[test]
    fn update_diff_shows_only_changed_hunks_with_context() {
        let old: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 17\n", "");
        let lines = text_diff(&old, &new);
        assert!(lines.contains(&DiffLine::Removed("line 2".into())));
        assert!(lines.contains(&DiffLine::Added("line two".into())));
        assert!(lines.contains(&DiffLine::Removed("line 17".into())));
        assert!(lines.contains(&DiffLine::Gap));
        assert!(!lines.contains(&DiffLine::Context("line 10".into())));
    }
}
