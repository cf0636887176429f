//! RFC 6902 diff from a live JSON value to a desired one.
//!
//! Arrays are diffed with Myers' algorithm over canonical element text, so an insert at the
//! front is one `add`. Every `replace` and `remove` is preceded by a `test` of the value the
//! plan saw, so that a change made after the plan makes the PATCH fail instead of being
//! silently overwritten. Operations are emitted in application order: each path is valid at
//! the moment its operation applies, given the operations before it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use similar::{Algorithm, DiffOp, capture_diff_slices};

use crate::canonical::canonical_string;

/// One RFC 6902 operation. Serializes exactly as the RFC spells it
/// (`{"op":"replace","path":"/a","value":1}`); convert a list with [`to_json_patch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    Add { path: String, value: Value },
    Remove { path: String },
    Replace { path: String, value: Value },
    Test { path: String, value: Value },
}

impl PatchOp {
    /// The JSON Pointer this operation targets.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Remove { path }
            | PatchOp::Replace { path, .. }
            | PatchOp::Test { path, .. } => path,
        }
    }
}

/// Converts operations to the `json-patch` crate's type (what the HTTP client sends and
/// what `json_patch::patch` applies).
pub fn to_json_patch(ops: &[PatchOp]) -> Result<json_patch::Patch, serde_json::Error> {
    // Both types share the RFC 6902 wire form, and json-patch parses the pointers for us.
    serde_json::from_value(serde_json::to_value(ops)?)
}

/// RFC 6902 operations that turn `live` into `desired`, each `replace`/`remove` preceded by
/// a `test` of the live value at that path. Empty when the two are equal.
pub fn diff(live: &Value, desired: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    diff_at(live, desired, "", &mut ops);
    ops
}

/// Escapes one reference token for a JSON Pointer (RFC 6901): `~` then `/`.
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn push_token(path: &str, token: &str) -> String {
    let mut p = String::with_capacity(path.len() + token.len() + 1);
    p.push_str(path);
    p.push('/');
    p.push_str(&escape_token(token));
    p
}

fn replace(path: &str, live: &Value, desired: &Value, ops: &mut Vec<PatchOp>) {
    ops.push(PatchOp::Test {
        path: path.to_owned(),
        value: live.clone(),
    });
    ops.push(PatchOp::Replace {
        path: path.to_owned(),
        value: desired.clone(),
    });
}

fn diff_at(live: &Value, desired: &Value, path: &str, ops: &mut Vec<PatchOp>) {
    if live == desired {
        return;
    }
    match (live, desired) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, old_value) in old {
                let child = push_token(path, key);
                match new.get(key) {
                    None => {
                        ops.push(PatchOp::Test {
                            path: child.clone(),
                            value: old_value.clone(),
                        });
                        ops.push(PatchOp::Remove { path: child });
                    }
                    Some(new_value) => {
                        diff_at(old_value, new_value, &child, ops);
                    }
                }
            }
            for (key, new_value) in new {
                if !old.contains_key(key) {
                    ops.push(PatchOp::Add {
                        path: push_token(path, key),
                        value: new_value.clone(),
                    });
                }
            }
        }
        (Value::Array(old), Value::Array(new)) => diff_arrays(old, new, path, ops),
        _ => replace(path, live, desired, ops),
    }
}

fn diff_arrays(old: &[Value], new: &[Value], path: &str, ops: &mut Vec<PatchOp>) {
    let old_keys: Vec<String> = old.iter().map(canonical_string).collect();
    let new_keys: Vec<String> = new.iter().map(canonical_string).collect();
    // `pos` is where the next change lands in the array as patched so far, which reads
    // new[..pos] ++ old[old_index..]. It is tracked here rather than taken from the ops'
    // `new_index`, which similar does not keep meaningful for deletions.
    let mut pos = 0usize;
    for op in capture_diff_slices(Algorithm::Myers, &old_keys, &new_keys) {
        match op {
            DiffOp::Equal { len, .. } => pos += len,
            DiffOp::Delete {
                old_index, old_len, ..
            } => remove_run(&old[old_index..old_index + old_len], pos, path, ops),
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                insert_run(&new[new_index..new_index + new_len], pos, path, ops);
                pos += new_len;
            }
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                // Pair elements up and recurse, so a changed field inside an object in a
                // list becomes one small replace instead of a remove plus an add.
                let paired = old_len.min(new_len);
                for i in 0..paired {
                    let child = format!("{path}/{}", pos + i);
                    diff_at(&old[old_index + i], &new[new_index + i], &child, ops);
                }
                remove_run(
                    &old[old_index + paired..old_index + old_len],
                    pos + paired,
                    path,
                    ops,
                );
                insert_run(
                    &new[new_index + paired..new_index + new_len],
                    pos + paired,
                    path,
                    ops,
                );
                pos += new_len;
            }
        }
    }
}

fn remove_run(removed: &[Value], at: usize, path: &str, ops: &mut Vec<PatchOp>) {
    // Each removal shifts the rest left, so every one of them happens at the same index.
    let child = format!("{path}/{at}");
    for value in removed {
        ops.push(PatchOp::Test {
            path: child.clone(),
            value: value.clone(),
        });
        ops.push(PatchOp::Remove {
            path: child.clone(),
        });
    }
}

fn insert_run(inserted: &[Value], at: usize, path: &str, ops: &mut Vec<PatchOp>) {
    for (i, value) in inserted.iter().enumerate() {
        ops.push(PatchOp::Add {
            path: format!("{path}/{}", at + i),
            value: value.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(live: &Value, ops: &[PatchOp]) -> Value {
        let mut doc = live.clone();
        let patch = to_json_patch(ops).expect("ops convert");
        json_patch::patch(&mut doc, &patch).expect("patch applies");
        doc
    }

    #[test]
    fn equal_values_give_no_ops() {
        let v = json!({"a": [1, 2, {"b": null}]});
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn key_order_does_not_matter() {
        let a = json!({"a": 1, "b": [{"x": 1, "y": 2}]});
        let b = json!({"b": [{"y": 2, "x": 1}], "a": 1});
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn changed_scalar_is_test_then_replace() {
        let ops = diff(&json!({"enabled": true}), &json!({"enabled": false}));
        assert_eq!(
            ops,
            vec![
                PatchOp::Test {
                    path: "/enabled".into(),
                    value: json!(true)
                },
                PatchOp::Replace {
                    path: "/enabled".into(),
                    value: json!(false)
                },
            ]
        );
    }

    #[test]
    fn removed_key_is_tested_then_removed() {
        let ops = diff(&json!({"a": 1, "b": {"c": 2}}), &json!({"a": 1}));
        assert_eq!(
            ops,
            vec![
                PatchOp::Test {
                    path: "/b".into(),
                    value: json!({"c": 2})
                },
                PatchOp::Remove { path: "/b".into() },
            ]
        );
    }

    #[test]
    fn added_key_is_a_single_add_without_test() {
        let ops = diff(&json!({}), &json!({"a": [1]}));
        assert_eq!(
            ops,
            vec![PatchOp::Add {
                path: "/a".into(),
                value: json!([1])
            }]
        );
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        let ops = diff(&json!({"a/b": 1, "c~d": 1}), &json!({"a/b": 2, "c~d": 2}));
        let paths: Vec<&str> = ops.iter().map(PatchOp::path).collect();
        assert_eq!(paths, vec!["/a~1b", "/a~1b", "/c~0d", "/c~0d"]);
        assert_eq!(
            apply(&json!({"a/b": 1, "c~d": 1}), &ops),
            json!({"a/b": 2, "c~d": 2})
        );
    }

    #[test]
    fn insert_at_front_of_n_elements_is_one_add() {
        for n in [1usize, 2, 5, 50] {
            let live = Value::Array((0..n).map(|i| json!({"id": i})).collect());
            let mut items: Vec<Value> = (0..n).map(|i| json!({"id": i})).collect();
            items.insert(0, json!({"id": "new"}));
            let desired = Value::Array(items);
            let ops = diff(&live, &desired);
            assert_eq!(
                ops,
                vec![PatchOp::Add {
                    path: "/0".into(),
                    value: json!({"id": "new"})
                }]
            );
            assert_eq!(apply(&live, &ops), desired);
        }
    }

    #[test]
    fn removal_in_the_middle_is_one_test_and_one_remove() {
        let live = json!({"l": ["a", "b", "c", "d"]});
        let desired = json!({"l": ["a", "b", "d"]});
        let ops = diff(&live, &desired);
        assert_eq!(
            ops,
            vec![
                PatchOp::Test {
                    path: "/l/2".into(),
                    value: json!("c")
                },
                PatchOp::Remove {
                    path: "/l/2".into()
                },
            ]
        );
    }

    #[test]
    fn changed_field_inside_array_element_is_replaced_in_place() {
        let live =
            json!({"conditions": [{"value": true, "group": {"name": "a"}}, {"value": false}]});
        let desired =
            json!({"conditions": [{"value": true, "group": {"name": "b"}}, {"value": false}]});
        let ops = diff(&live, &desired);
        assert_eq!(
            ops,
            vec![
                PatchOp::Test {
                    path: "/conditions/0/group/name".into(),
                    value: json!("a")
                },
                PatchOp::Replace {
                    path: "/conditions/0/group/name".into(),
                    value: json!("b")
                },
            ]
        );
    }

    #[test]
    fn mixed_array_edits_apply_in_order() {
        let live = json!([1, 2, 3, 4, 5, 6]);
        let desired = json!([0, 2, 3, 7, 8, 5, 9]);
        let ops = diff(&live, &desired);
        assert_eq!(apply(&live, &ops), desired);
    }

    #[test]
    fn type_change_replaces_whole_value() {
        let ops = diff(&json!({"v": [1]}), &json!({"v": {"a": 1}}));
        assert_eq!(ops.len(), 2);
        assert_eq!(apply(&json!({"v": [1]}), &ops), json!({"v": {"a": 1}}));
    }

    #[test]
    fn root_replacement_applies() {
        let ops = diff(&json!(1), &json!("x"));
        assert_eq!(apply(&json!(1), &ops), json!("x"));
    }

    #[test]
    fn a_concurrent_change_makes_the_patch_fail() {
        let live = json!({"value": true, "labels": ["a", "b"]});
        let desired = json!({"value": false, "labels": ["a"]});
        let ops = diff(&live, &desired);
        let mut changed = json!({"value": "something else", "labels": ["a", "b"]});
        let patch = to_json_patch(&ops).expect("ops convert");
        assert!(json_patch::patch(&mut changed, &patch).is_err());
    }

    #[test]
    fn ops_serialize_as_rfc6902() {
        let ops = diff(&json!({"a": 1}), &json!({"a": 2}));
        let text = serde_json::to_string(&ops).expect("serializes");
        assert_eq!(
            text,
            r#"[{"op":"test","path":"/a","value":1},{"op":"replace","path":"/a","value":2}]"#
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, json};

    fn key() -> impl Strategy<Value = String> {
        // Few distinct keys so that generated objects overlap; include `/` and `~`.
        prop::sample::select(vec!["a", "b", "c/d", "e~f", "~1", "/", "", "g~0/"])
            .prop_map(str::to_owned)
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0i64..4).prop_map(|n| json!(n)),
            prop::sample::select(vec!["x", "y", "a/b"]).prop_map(|s| json!(s)),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..7).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..5)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    /// Pairs where `desired` is a mutation of `live`, so the diff exercises array and
    /// object edits, not only whole-value replacements.
    fn related_pair() -> impl Strategy<Value = (Value, Value)> {
        (json_value(), json_value(), any::<u64>()).prop_map(|(live, other, seed)| {
            let desired = mutate(&live, &other, seed);
            (live, desired)
        })
    }

    fn mutate(value: &Value, other: &Value, seed: u64) -> Value {
        match value {
            Value::Array(items) => {
                let mut out: Vec<Value> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let s = seed.rotate_left(i as u32 * 3);
                    match s % 5 {
                        0 => {}
                        1 => {
                            out.push(other.clone());
                            out.push(item.clone());
                        }
                        2 => out.push(mutate(item, other, s / 5)),
                        _ => out.push(item.clone()),
                    }
                }
                if seed.is_multiple_of(7) {
                    out.insert(0, other.clone());
                }
                Value::Array(out)
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (i, (k, v)) in map.iter().enumerate() {
                    let s = seed.rotate_left(i as u32 * 5);
                    match s % 4 {
                        0 => {}
                        1 => {
                            out.insert(k.clone(), mutate(v, other, s / 4));
                        }
                        _ => {
                            out.insert(k.clone(), v.clone());
                        }
                    }
                }
                if seed.is_multiple_of(3) {
                    out.insert(format!("n/{}~", seed % 11), other.clone());
                }
                Value::Object(out)
            }
            _ if seed.is_multiple_of(2) => other.clone(),
            scalar => scalar.clone(),
        }
    }

    fn check(live: &Value, desired: &Value) -> Result<(), TestCaseError> {
        let ops = diff(live, desired);
        let patch = to_json_patch(&ops).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut doc = live.clone();
        json_patch::patch(&mut doc, &patch)
            .map_err(|e| TestCaseError::fail(format!("patch failed: {e}; ops {ops:?}")))?;
        prop_assert_eq!(&doc, desired);
        // Every replace/remove is directly preceded by a test of the same path.
        for (i, op) in ops.iter().enumerate() {
            if matches!(op, PatchOp::Replace { .. } | PatchOp::Remove { .. }) {
                let prev = i.checked_sub(1).and_then(|j| ops.get(j));
                prop_assert!(
                    matches!(prev, Some(PatchOp::Test { path, .. }) if path == op.path()),
                    "op {} lacks a test: {:?}",
                    i,
                    ops
                );
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn diff_of_related_values_applies_to_desired((live, desired) in related_pair()) {
            check(&live, &desired)?;
        }

        #[test]
        fn diff_of_unrelated_values_applies_to_desired(live in json_value(), desired in json_value()) {
            check(&live, &desired)?;
        }

        #[test]
        fn front_insert_is_one_add(items in prop::collection::vec(json_value(), 0..20), new in json_value()) {
            let live = Value::Array(items.clone());
            let mut with_new = items;
            with_new.insert(0, new);
            let desired = Value::Array(with_new);
            let ops = diff(&live, &desired);
            // If `new` equals the first element, Myers may place the add elsewhere, but it
            // is still exactly one add.
            prop_assert_eq!(ops.len(), 1);
            prop_assert!(matches!(ops[0], PatchOp::Add { .. }), "ops: {:?}", ops);
            check(&live, &desired)?;
        }
    }
}
