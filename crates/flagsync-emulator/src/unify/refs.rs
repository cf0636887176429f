//! What conditions refer to, checked against an application: references that must exist,
//! cycles (target groups globally, flag dependencies per environment), and who uses what
//! (for the usage endpoints and for refusing deletes of referenced objects).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::model::{Application, Flag, TargetGroup};
use super::rules::{FlagKey, RawRefs};
use super::{env_name, failed_precondition, invalid};
use crate::assumptions::is_builtin_property;
use crate::error::ApiError;
use crate::state::Data;

/// The references in stored conditions (a configuration's list or a target group's object).
pub(crate) fn collect(conditions: &Value) -> RawRefs {
    let mut refs = RawRefs::default();
    walk(conditions, &mut refs, 0);
    refs
}

fn walk(value: &Value, refs: &mut RawRefs, depth: usize) {
    if depth > 256 {
        return;
    }
    match value {
        Value::Array(items) => items.iter().for_each(|i| walk(i, refs, depth + 1)),
        Value::Object(object) => {
            for (key, inner) in object {
                let text = |k: &str| inner.get(k).and_then(Value::as_str).map(str::to_owned);
                match key.as_str() {
                    "group" => {
                        if let Some(id) = text("id") {
                            refs.groups.push((String::new(), id));
                        }
                    }
                    "property" => {
                        if let Some(name) = text("name") {
                            refs.properties.push((String::new(), name));
                        }
                    }
                    "flag" => {
                        if let Some(id) = text("id") {
                            refs.flags.push((String::new(), FlagKey::Id(id)));
                        } else if let Some(name) = text("name") {
                            refs.flags.push((String::new(), FlagKey::Name(name)));
                        }
                    }
                    "allOf" | "anyOf" | "not" => walk(inner, refs, depth + 1),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// The id of the flag a dependency names, when it exists.
pub(crate) fn flag_id(app: &Application, key: &FlagKey) -> Option<String> {
    match key {
        FlagKey::Id(id) => app.flags.contains_key(id).then(|| id.clone()),
        FlagKey::Name(name) => app.flag_by_name(name).map(|f| f.id.clone()),
    }
}

/// Checks that everything `refs` names exists; answers the flag ids depended on.
pub(crate) fn check_exist(app: &Application, refs: &RawRefs) -> Result<BTreeSet<String>, ApiError> {
    for (at, id) in &refs.groups {
        if !app.target_groups.contains_key(id) {
            return Err(invalid(format!(
                "{at}: target group {id:?} does not exist in application {:?}",
                app.id
            )));
        }
    }
    for (at, name) in &refs.properties {
        if app.property_by_name(name).is_none() && !is_builtin_property(name) {
            return Err(invalid(format!(
                "{at}: property {name:?} is neither a custom property of application {:?} nor built in",
                app.id
            )));
        }
    }
    let mut flags = BTreeSet::new();
    for (at, key) in &refs.flags {
        match flag_id(app, key) {
            Some(id) => {
                flags.insert(id);
            }
            None => {
                let named = match key {
                    FlagKey::Id(id) => format!("id {id:?}"),
                    FlagKey::Name(name) => format!("name {name:?}"),
                };
                return Err(invalid(format!(
                    "{at}: no flag with {named} in application {:?}",
                    app.id
                )));
            }
        }
    }
    Ok(flags)
}

/// The flags `flag` depends on in `env_id`, by id.
fn flag_dependencies(app: &Application, flag: &Flag, env_id: &str) -> BTreeSet<String> {
    flag.configurations
        .get(env_id)
        .map(|c| {
            collect(&Value::Array(c.conditions.clone()))
                .flags
                .iter()
                .filter_map(|(_, key)| flag_id(app, key))
                .collect()
        })
        .unwrap_or_default()
}

/// The target groups `group` refers to, by id.
fn group_references(group: &TargetGroup) -> BTreeSet<String> {
    collect(&group.conditions)
        .groups
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

/// A path from `start` back to itself when `start` would refer to `first_steps`, following
/// `next` for every other node; the path as `name` calls each node.
fn cycle_through(
    start: &str,
    first_steps: &BTreeSet<String>,
    next: impl Fn(&str) -> BTreeSet<String>,
    name: impl Fn(&String) -> String,
) -> Option<Vec<String>> {
    let mut seen = BTreeSet::new();
    // Depth-first with an explicit stack of paths, so hostile depth cannot overflow.
    let mut stack: Vec<Vec<String>> = first_steps
        .iter()
        .map(|s| vec![start.to_owned(), s.clone()])
        .collect();
    while let Some(path) = stack.pop() {
        let Some(last) = path.last() else { continue };
        if last == start {
            return Some(path.iter().map(name).collect());
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for step in next(last) {
            let mut longer = path.clone();
            longer.push(step);
            stack.push(longer);
        }
    }
    None
}

/// A flag-dependency cycle `flag_id` would close in `env_id` by depending on `deps`, as
/// flag names.
pub(crate) fn flag_cycle(
    app: &Application,
    flag_id: &str,
    env_id: &str,
    deps: &BTreeSet<String>,
) -> Option<Vec<String>> {
    cycle_through(
        flag_id,
        deps,
        |id| {
            app.flags
                .get(id)
                .map(|f| flag_dependencies(app, f, env_id))
                .unwrap_or_default()
        },
        |id| app.flags.get(id).map_or(id.clone(), |f| f.name.clone()),
    )
}

/// A target-group cycle `group_id` would close by referring to `refs`, as group names.
pub(crate) fn group_cycle(
    app: &Application,
    group_id: &str,
    group_name: &str,
    refs: &BTreeSet<String>,
) -> Option<Vec<String>> {
    cycle_through(
        group_id,
        refs,
        |id| {
            app.target_groups
                .get(id)
                .map(group_references)
                .unwrap_or_default()
        },
        |id| {
            if id == group_id {
                group_name.to_owned()
            } else {
                app.target_groups
                    .get(id)
                    .map_or(id.clone(), |g| g.name.clone())
            }
        },
    )
}

/// For every linked environment, the flags whose configuration there has a reference
/// `uses` accepts: `{environments: [{environmentId, flagUsage: [{id, name, enabled,
/// resourceId}]}]}`.
pub(crate) fn usage_per_environment(app: &Application, uses: impl Fn(&RawRefs) -> bool) -> Value {
    let environments: Vec<Value> = app
        .linked_environment_ids
        .iter()
        .map(|env_id| {
            let usage: Vec<Value> = app
                .flags_in_order()
                .into_iter()
                .filter_map(|flag| {
                    let config = flag.configurations.get(env_id)?;
                    uses(&collect(&Value::Array(config.conditions.clone()))).then(|| {
                        json!({"id": flag.id, "name": flag.name, "enabled": config.enabled, "resourceId": app.id})
                    })
                })
                .collect();
            json!({"environmentId": env_id, "flagUsage": usage})
        })
        .collect();
    json!({ "environments": environments })
}

/// Who refers to something: configurations (as "flag NAME in environment ENV") and target
/// groups.
fn referrers(data: &Data, app: &Application, uses: impl Fn(&RawRefs) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for group in app.target_groups.values() {
        if uses(&collect(&group.conditions)) {
            out.push(format!("target group {:?}", group.name));
        }
    }
    for flag in app.flags_in_order() {
        for (env_id, config) in &flag.configurations {
            if uses(&collect(&Value::Array(config.conditions.clone()))) {
                out.push(format!(
                    "flag {:?} in environment {:?}",
                    flag.name,
                    env_name(data, &app.organization_id, env_id)
                ));
            }
        }
    }
    out
}

/// Refuses a delete or rename (`FAILED_PRECONDITION`) while anything refers to what `uses`
/// accepts; `refusal` words the answer from the list of who does.
pub(crate) fn refuse_referenced(
    data: &Data,
    app: &Application,
    uses: impl Fn(&RawRefs) -> bool,
    refusal: impl FnOnce(String) -> String,
) -> Result<(), ApiError> {
    let users = referrers(data, app, uses);
    if users.is_empty() {
        Ok(())
    } else {
        Err(failed_precondition(refusal(users.join(", "))))
    }
}

/// Whether `refs` names the flag `flag` (by id or by name).
pub(crate) fn names_flag(refs: &RawRefs, flag: &Flag) -> bool {
    refs.flags.iter().any(|(_, key)| match key {
        FlagKey::Id(id) => *id == flag.id,
        FlagKey::Name(name) => *name == flag.name,
    })
}
