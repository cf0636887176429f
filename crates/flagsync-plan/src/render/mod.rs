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
pub use markdown::{
    DEFAULT_COMMENT_MARKER, DEFAULT_MARKDOWN_BUDGET, MarkdownOptions, comment_length,
    render_markdown, render_markdown_framed, render_markdown_with,
};
pub use yamlish::to_yamlish;

use flagsync_manifest::defaults::{Side, without_defaults};
use flagsync_manifest::write::in_manifest_order;
use serde_json::{Map, Value};

use crate::model::{Action, Kind, Operation, Plan, Provider, Usage};

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

/// Whether an environment is Production: its name, whatever the case. A name is the one
/// thing both a plan and a comparison of two revisions know of an environment (flagsync.yaml
/// keeps no order of them), and the services call the default environment that.
pub fn is_production(environment: &str) -> bool {
    environment.eq_ignore_ascii_case("production")
}

/// Actions of one provider in one environment (`None`: application-wide).
pub(crate) struct Group<'a> {
    pub provider: Provider,
    pub environment: Option<String>,
    /// Some action of the provider in the plan is per environment, so the application-wide
    /// group is worth naming so.
    pub per_environment: bool,
    pub actions: Vec<&'a Action>,
}

/// `actions` grouped by provider (in [`Provider`]'s order) and environment: Production
/// first, then the other environments by name, then application-wide resources. In a group,
/// deletions come first, then the rest in the plan's (execution) order.
pub(crate) fn groups(actions: &[Action]) -> Vec<Group<'_>> {
    type Slot = (Provider, u8, Option<String>);
    let slot = |a: &Action| -> Slot {
        match a.key.env.as_deref() {
            Some(env) if is_production(env) => (a.key.provider(), 0, Some(env.to_owned())),
            Some(env) => (a.key.provider(), 1, Some(env.to_owned())),
            None => (a.key.provider(), 2, None),
        }
    };
    let mut by_slot: std::collections::BTreeMap<Slot, Vec<&Action>> = Default::default();
    for action in actions.iter().filter(|a| a.operation == Operation::Delete) {
        by_slot.entry(slot(action)).or_default().push(action);
    }
    for action in actions.iter().filter(|a| a.operation != Operation::Delete) {
        by_slot.entry(slot(action)).or_default().push(action);
    }
    let per_env: std::collections::BTreeSet<Provider> = actions
        .iter()
        .filter(|a| a.key.env.is_some())
        .map(|a| a.key.provider())
        .collect();
    by_slot
        .into_iter()
        .map(|((provider, _, env), actions)| Group {
            provider,
            environment: env,
            per_environment: per_env.contains(&provider),
            actions,
        })
        .collect()
}

/// The blast radius in words, `used by 4 experiments in Production, 2 in Staging and 1
/// target group`, environments in the order of [`groups`]; `name` quotes an environment
/// for the format. `None` when nothing uses the resource.
pub(crate) fn usage_phrase(used_by: &[Usage], name: &dyn Fn(&str) -> String) -> Option<String> {
    let mut sorted: Vec<&Usage> = used_by.iter().collect();
    // Per-environment users (experiments, flag configurations) first.
    sorted.sort_by_key(|u| {
        let env = u.environment.as_deref();
        (
            !u.kind.per_environment(),
            u.kind.rank(),
            match env {
                Some(e) if is_production(e) => 0,
                Some(_) => 1,
                None => 2,
            },
            env,
        )
    });
    let mut parts: Vec<String> = Vec::new();
    let mut previous: Option<Kind> = None;
    for usage in sorted {
        let noun = if previous == Some(usage.kind) {
            String::new()
        } else {
            format!(" {}", kind_noun(usage.kind, usage.count))
        };
        previous = Some(usage.kind);
        let place = match &usage.environment {
            Some(env) => format!(" in {}", name(env)),
            None => String::new(),
        };
        parts.push(format!("{}{noun}{place}", usage.count));
    }
    let text = match parts.split_last()? {
        (last, []) => last.clone(),
        (last, rest) => format!("{} and {last}", rest.join(", ")),
    };
    Some(format!("used by {text}"))
}

/// `experiment`, `experiments`, `target groups`, `custom properties`: a kind in words.
fn kind_noun(kind: Kind, count: usize) -> String {
    let one = kind.as_str().trim_start_matches("unify-").replace('-', " ");
    match (count, one.strip_suffix('y')) {
        (1, _) => one,
        (_, Some(stem)) => format!("{stem}ies"),
        _ => format!("{one}s"),
    }
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

/// The change an action makes, as YAML-like lines: a create shows what the manifest says
/// and a delete what the live resource had, both without the vendor defaults the canonical
/// form spells out (`flagsync_manifest::defaults`); an update shows the changed parts with
/// a little context. Lists are compared element by element, so an inserted or removed
/// condition shows as that whole condition, never as a line diff across its neighbours.
pub(crate) fn action_diff(action: &Action) -> Vec<DiffLine> {
    let kind = action.key.kind;
    match action.operation {
        Operation::Create => body_lines(action.desired.as_ref(), kind, Side::Manifest)
            .into_iter()
            .map(DiffLine::Added)
            .collect(),
        Operation::Delete => body_lines(action.live.as_ref(), kind, Side::Live)
            .into_iter()
            .map(DiffLine::Removed)
            .collect(),
        Operation::Update | Operation::Adopt => {
            let desired = in_manifest_order(action.desired.clone().unwrap_or(Value::Null));
            // Show live in desired's key order so that key order alone never shows up
            // as a change.
            let live = action
                .live
                .as_ref()
                .map(|l| align_keys(l, &desired))
                .unwrap_or(Value::Null);
            hunks(&value_diff(&live, &desired))
        }
    }
}

fn body_lines(body: Option<&Value>, kind: Kind, side: Side) -> Vec<String> {
    body.map(|b| {
        to_yamlish(&in_manifest_order(without_defaults(kind, b, side)))
            .lines()
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Whether a line of a structural diff is on both sides, only the old or only the new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Same,
    Old,
    New,
}

/// Every line of both versions, tagged, in the order a reader expects them.
fn value_diff(old: &Value, new: &Value) -> Vec<(Tag, String)> {
    let mut out = Vec::new();
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if !a.is_empty() && !b.is_empty() => {
            object_diff(a, b, 0, &mut out);
        }
        (Value::Array(a), Value::Array(b)) if !a.is_empty() && !b.is_empty() => {
            array_diff(a, b, 0, &mut out);
        }
        _ if old == new => tagged(&mut out, Tag::Same, to_yamlish(old).lines()),
        _ => {
            tagged(&mut out, Tag::Old, to_yamlish(old).lines());
            tagged(&mut out, Tag::New, to_yamlish(new).lines());
        }
    }
    out
}

fn tagged<'a>(out: &mut Vec<(Tag, String)>, tag: Tag, lines: impl IntoIterator<Item = &'a str>) {
    out.extend(lines.into_iter().map(|l| (tag, l.to_owned())));
}

fn non_empty_object(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object().filter(|m| !m.is_empty())
}

fn non_empty_array(v: &Value) -> Option<&Vec<Value>> {
    v.as_array().filter(|a| !a.is_empty())
}

/// The lines of `key: value` at `indent`.
fn entry_lines(key: &str, value: &Value, indent: usize) -> Vec<String> {
    let mut single = Map::new();
    single.insert(key.to_owned(), value.clone());
    let mut lines = Vec::new();
    yamlish::object_lines(&Value::Object(single), indent, &mut lines);
    lines
}

/// The lines of one list element, dash included, at `indent`.
fn item_lines(item: &Value, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    yamlish::array_lines(std::slice::from_ref(item), indent, &mut lines);
    lines
}

fn object_diff(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    indent: usize,
    out: &mut Vec<(Tag, String)>,
) {
    // New's keys in order; a key only in old goes after the key it follows there.
    let mut keys: Vec<&String> = new.keys().collect();
    let mut previous: Option<&String> = None;
    for key in old.keys() {
        if !new.contains_key(key) {
            let at = previous
                .and_then(|p| keys.iter().position(|k| *k == p))
                .map_or(0, |i| i + 1);
            keys.insert(at, key);
        }
        previous = Some(key);
    }
    let pad = " ".repeat(indent);
    for key in keys {
        match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) if a == b => {
                tagged(
                    out,
                    Tag::Same,
                    entry_lines(key, a, indent).iter().map(String::as_str),
                );
            }
            (Some(a), Some(b)) => match (non_empty_object(a), non_empty_object(b)) {
                (Some(x), Some(y)) => {
                    out.push((Tag::Same, format!("{pad}{}:", yamlish::key(key))));
                    object_diff(x, y, indent + 2, out);
                }
                _ => match (non_empty_array(a), non_empty_array(b)) {
                    (Some(x), Some(y)) => {
                        out.push((Tag::Same, format!("{pad}{}:", yamlish::key(key))));
                        array_diff(x, y, indent + 2, out);
                    }
                    _ => {
                        tagged(
                            out,
                            Tag::Old,
                            entry_lines(key, a, indent).iter().map(String::as_str),
                        );
                        tagged(
                            out,
                            Tag::New,
                            entry_lines(key, b, indent).iter().map(String::as_str),
                        );
                    }
                },
            },
            (Some(a), None) => {
                tagged(
                    out,
                    Tag::Old,
                    entry_lines(key, a, indent).iter().map(String::as_str),
                );
            }
            (None, Some(b)) => {
                tagged(
                    out,
                    Tag::New,
                    entry_lines(key, b, indent).iter().map(String::as_str),
                );
            }
            (None, None) => {}
        }
    }
}

/// Lists compared element by element (Myers over whole elements): an element only in one
/// list is shown whole; elements changed in place (as many on both sides) are compared
/// field by field.
fn array_diff(old: &[Value], new: &[Value], indent: usize, out: &mut Vec<(Tag, String)>) {
    let key = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    let old_keys: Vec<String> = old.iter().map(key).collect();
    let new_keys: Vec<String> = new.iter().map(key).collect();
    let whole = |out: &mut Vec<(Tag, String)>, tag: Tag, items: &[Value]| {
        for item in items {
            tagged(
                out,
                tag,
                item_lines(item, indent).iter().map(String::as_str),
            );
        }
    };
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old_keys, &new_keys) {
        match op {
            similar::DiffOp::Equal { old_index, len, .. } => {
                whole(out, Tag::Same, &old[old_index..old_index + len]);
            }
            similar::DiffOp::Delete {
                old_index, old_len, ..
            } => whole(out, Tag::Old, &old[old_index..old_index + old_len]),
            similar::DiffOp::Insert {
                new_index, new_len, ..
            } => whole(out, Tag::New, &new[new_index..new_index + new_len]),
            similar::DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                let before = &old[old_index..old_index + old_len];
                let after = &new[new_index..new_index + new_len];
                if old_len != new_len {
                    whole(out, Tag::Old, before);
                    whole(out, Tag::New, after);
                    continue;
                }
                for (a, b) in before.iter().zip(after) {
                    match (non_empty_object(a), non_empty_object(b)) {
                        (Some(x), Some(y)) => element_diff(x, y, indent, out),
                        _ => {
                            whole(out, Tag::Old, std::slice::from_ref(a));
                            whole(out, Tag::New, std::slice::from_ref(b));
                        }
                    }
                }
            }
        }
    }
}

/// One list element changed in place: its fields compared, with the dash on the first line
/// of each version.
fn element_diff(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    indent: usize,
    out: &mut Vec<(Tag, String)>,
) {
    let mut lines = Vec::new();
    object_diff(old, new, indent + 2, &mut lines);
    let first_old = lines.iter().position(|(t, _)| *t != Tag::New);
    let first_new = lines.iter().position(|(t, _)| *t != Tag::Old);
    let pad = " ".repeat(indent);
    for i in [first_old, first_new].into_iter().flatten() {
        let line = &mut lines[i].1;
        if line.starts_with(&format!("{pad}  ")) {
            *line = format!("{pad}- {}", &line[indent + 2..]);
        }
    }
    out.append(&mut lines);
}

/// The changed lines with [`CONTEXT`] unchanged lines around each change; unchanged runs
/// between them become one [`DiffLine::Gap`].
fn hunks(lines: &[(Tag, String)]) -> Vec<DiffLine> {
    let changed: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| *t != Tag::Same)
        .map(|(i, _)| i)
        .collect();
    let mut keep = vec![false; lines.len()];
    for &i in &changed {
        let from = i.saturating_sub(CONTEXT);
        let to = (i + CONTEXT + 1).min(lines.len());
        keep[from..to].iter_mut().for_each(|k| *k = true);
    }
    let mut out = Vec::new();
    let mut gap = false;
    for (i, (tag, text)) in lines.iter().enumerate() {
        if !keep[i] {
            gap = !out.is_empty();
            continue;
        }
        if gap {
            out.push(DiffLine::Gap);
            gap = false;
        }
        out.push(match tag {
            Tag::Same => DiffLine::Context(text.clone()),
            Tag::Old => DiffLine::Removed(text.clone()),
            Tag::New => DiffLine::Added(text.clone()),
        });
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

    fn action(operation: Operation, live: Option<Value>, desired: Option<Value>) -> Action {
        Action {
            id: "experiment/Production/f".into(),
            key: crate::ResourceKey::experiment("Production", "f"),
            operation,
            patch: Vec::new(),
            desired,
            live,
            live_fingerprint: None,
            remote_id: None,
            depends_on: Vec::new(),
            steps: Vec::new(),
            unsupported: None,
            origin: None,
            used_by: Vec::new(),
        }
    }

    fn update(live: Value, desired: Value) -> Vec<DiffLine> {
        action_diff(&action(Operation::Update, Some(live), Some(desired)))
    }

    #[test]
    fn update_diff_shows_only_changed_hunks_with_context() {
        let old: Vec<Value> = (0..20).map(|i| json!(format!("line {i}"))).collect();
        let mut new = old.clone();
        new[2] = json!("line two");
        new.remove(17);
        let lines = update(json!({ "l": old }), json!({ "l": new }));
        assert!(lines.contains(&DiffLine::Removed("  - line 2".into())));
        assert!(lines.contains(&DiffLine::Added("  - line two".into())));
        assert!(lines.contains(&DiffLine::Removed("  - line 17".into())));
        assert!(lines.contains(&DiffLine::Gap));
        assert!(!lines.contains(&DiffLine::Context("  - line 10".into())));
    }

    #[test]
    fn an_inserted_condition_shows_whole() {
        let a = json!({"group": {"name": "A"}, "value": true});
        let b = json!({"group": {"name": "B"}, "value": true});
        let c = json!({"group": {"name": "C"}, "value": true});
        let lines = update(
            json!({"conditions": [a.clone(), c.clone()], "value": false}),
            json!({"conditions": [a, b, c], "value": false}),
        );
        assert_eq!(
            lines,
            [
                DiffLine::Context("  - group:".into()),
                DiffLine::Context("      name: A".into()),
                DiffLine::Context("    value: true".into()),
                DiffLine::Added("  - group:".into()),
                DiffLine::Added("      name: B".into()),
                DiffLine::Added("    value: true".into()),
                DiffLine::Context("  - group:".into()),
                DiffLine::Context("      name: C".into()),
                DiffLine::Context("    value: true".into()),
            ]
        );
    }

    #[test]
    fn an_element_changed_in_place_shows_its_changed_field() {
        let lines = update(
            json!({"conditions": [{"group": {"name": "A"}, "value": true}]}),
            json!({"conditions": [{"group": {"name": "A"}, "value": false}]}),
        );
        assert_eq!(
            lines,
            [
                DiffLine::Context("conditions:".into()),
                DiffLine::Context("  - group:".into()),
                DiffLine::Context("      name: A".into()),
                DiffLine::Removed("    value: true".into()),
                DiffLine::Added("    value: false".into()),
            ]
        );
        // The first field changed: the dash on both versions' first line.
        let lines = update(
            json!({"c": [{"a": 1, "b": 2}]}),
            json!({"c": [{"a": 3, "b": 2}]}),
        );
        assert_eq!(
            lines,
            [
                DiffLine::Context("c:".into()),
                DiffLine::Removed("  - a: 1".into()),
                DiffLine::Added("  - a: 3".into()),
                DiffLine::Context("    b: 2".into()),
            ]
        );
    }

    #[test]
    fn production_whatever_its_case_comes_first_then_environments_by_name() {
        let at = |env: Option<&str>, name: &str| {
            let key = match env {
                Some(env) => crate::ResourceKey::experiment(env, name),
                None => crate::ResourceKey::target_group(name),
            };
            Action {
                id: key.to_string(),
                key,
                ..action(Operation::Create, None, Some(json!({})))
            }
        };
        let actions = vec![
            at(None, "g"),
            at(Some("staging"), "a"),
            at(Some("Alpha"), "b"),
            at(Some("PRODUCTION"), "c"),
            Action {
                operation: Operation::Delete,
                ..at(Some("PRODUCTION"), "d")
            },
        ];
        let order: Vec<(Option<String>, Vec<&str>)> = groups(&actions)
            .into_iter()
            .map(|g| {
                (
                    g.environment,
                    g.actions.iter().map(|a| a.key.name.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                (Some("PRODUCTION".to_owned()), vec!["d", "c"]),
                (Some("Alpha".to_owned()), vec!["b"]),
                (Some("staging".to_owned()), vec!["a"]),
                (None, vec!["g"]),
            ]
        );
    }

    #[test]
    fn usage_reads_as_a_sentence() {
        let usage = |kind, environment: Option<&str>, count| Usage {
            kind,
            environment: environment.map(str::to_owned),
            count,
        };
        let phrase = usage_phrase(
            &[
                usage(Kind::TargetGroup, None, 1),
                usage(Kind::Experiment, Some("Staging"), 2),
                usage(Kind::Experiment, Some("Production"), 4),
                usage(Kind::CustomProperty, None, 3),
            ],
            &|e| e.to_owned(),
        );
        assert_eq!(
            phrase.as_deref(),
            Some(
                "used by 4 experiments in Production, 2 in Staging, 1 target group \
                 and 3 custom properties"
            )
        );
        assert_eq!(usage_phrase(&[], &|e| e.to_owned()), None);
    }

    #[test]
    fn creates_leave_vendor_defaults_out() {
        let body = json!({"flag": "f", "enabled": true, "labels": [], "value": true});
        let create = action(Operation::Create, None, Some(body.clone()));
        assert_eq!(
            action_diff(&create),
            [
                DiffLine::Added("flag: f".into()),
                DiffLine::Added("value: true".into())
            ]
        );
        let delete = action(Operation::Delete, Some(body), None);
        assert_eq!(
            action_diff(&delete),
            [
                DiffLine::Removed("flag: f".into()),
                DiffLine::Removed("value: true".into())
            ]
        );
    }
}
