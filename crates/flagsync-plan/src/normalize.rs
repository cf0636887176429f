//! Normalization: one canonical JSON form for the desired model (typed manifests) and for
//! live state (the services' JSON), so that equal meaning compares equal.
//!
//! Both sides go through the same functions: a desired manifest is serialized to the JSON
//! the service takes and then canonicalized exactly like a live object. The canonical form
//! fills every default the service applies, unifies equivalent spellings (`labels: x` ==
//! `labels: [x]`, `value: []` == `value: null`, a quoted number == the number), and drops
//! what the server manages or ignores (`createTime`, `pendingTransition`, the experiment
//! `name`, which the service ignores since flags replaced experiments). A plan right after
//! a successful apply must be empty; a difference here is a bug.
//!
//! The defaults filled in come from one table per kind, [`flagsync_manifest::defaults`]
//! (validation and export use the same), with the value of the side the body comes from: a
//! manifest ([`experiment_body`], ...) or the service's JSON ([`canonical_experiment`], ...).
//! Empty rollout targeting matches everyone (no segment).

use std::collections::BTreeMap;

use flagsync_live::{LiveExperiment, LiveRollout, LiveTargetGroup};
use flagsync_manifest::defaults::{self, Side};
use flagsync_manifest::model::{
    Experiment, MANAGED_BY_LABEL, MANAGED_BY_VALUE, Manifest, ROLLOUT_ID_LABEL, Rollout,
    TargetGroup,
};
use flagsync_manifest::{Item, Provider, Repository};
use serde_json::{Map, Value};

use crate::model::{DesiredResource, LiveResource, ManagedScope, Origin, ResourceKey};
use crate::rollout::{ROLLOUT_MANAGED, SEGMENT_MANAGED};
use crate::unify;

const EXPERIMENT_FIELDS: [&str; 11] = [
    "type",
    "flag",
    "description",
    "enabled",
    "labels",
    "availableValues",
    "stickinessProperty",
    "platforms",
    "conditions",
    "value",
    "archived",
];
const TARGET_GROUP_FIELDS: [&str; 5] = ["type", "name", "description", "operator", "conditions"];

/// Canonical body of an experiment from its manifest.
pub fn experiment_body(experiment: &Experiment) -> Value {
    experiment_canonical(&to_json(experiment), Side::Manifest)
}

/// Canonical body of a target group from its manifest.
pub fn target_group_body(group: &TargetGroup) -> Value {
    target_group_canonical(&to_json(group), Side::Manifest)
}

/// Canonical body of a rollout from its manifest, with flagsync's labels added.
pub fn rollout_body(rollout: &Rollout) -> Value {
    let mut raw = to_json(rollout);
    if let Value::Object(map) = &mut raw {
        let labels = map
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(labels) = labels {
            labels.insert(ROLLOUT_ID_LABEL.into(), Value::String(rollout.id.clone()));
            labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
        }
        if !map.contains_key("displayName") {
            map.insert("displayName".into(), Value::String(rollout.id.clone()));
        }
    }
    let segment = raw.get("segment").cloned();
    rollout_canonical(&raw, segment.as_ref(), Side::Manifest)
}

/// Canonical body of a manifest of any kind (the CloudBees Unify kinds' are
/// [`crate::unify`]'s).
pub fn manifest_body(manifest: &Manifest) -> Value {
    match manifest {
        Manifest::TargetGroup(group) => target_group_body(group),
        Manifest::Experiment(experiment) => experiment_body(experiment),
        Manifest::Rollout(rollout) => rollout_body(rollout),
        Manifest::CustomProperty(property) => unify::property_body(property),
        Manifest::UnifyTargetGroup(group) => unify::target_group_body(group),
        Manifest::Flag(flag) => unify::flag_body(flag),
        Manifest::FlagConfiguration(config) => unify::configuration_body(config),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // The manifest types serialize to plain JSON (string keys, finite numbers), so this
    // cannot fail; an empty object keeps the function total all the same.
    serde_json::to_value(value).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// The `fields` of `raw` without the informational `version` and `apiVersion`. Going
/// through the manifest type `T` unifies spellings (quoted numbers, one label as a string);
/// a live object the model cannot read keeps its projected JSON.
fn typed_fields<T: serde::de::DeserializeOwned + serde::Serialize>(
    raw: &Value,
    fields: &[&str],
) -> Map<String, Value> {
    let mut map = project(raw, fields);
    if let Ok(typed) = serde_json::from_value::<T>(Value::Object(map.clone()))
        && let Value::Object(m) = to_json(&typed)
    {
        map = m;
    }
    map.remove("version");
    map.remove("apiVersion");
    map
}

/// Canonical form of an experiment given as the service's JSON.
pub fn canonical_experiment(raw: &Value) -> Value {
    experiment_canonical(raw, Side::Live)
}

fn experiment_canonical(raw: &Value, side: Side) -> Value {
    use defaults::experiment::*;
    let mut map = typed_fields::<Experiment>(raw, &EXPERIMENT_FIELDS);
    map.remove("name");
    map.insert("type".into(), "experiment".into());
    DESCRIPTION.fill(&mut map, side);
    ENABLED.fill(&mut map, side);
    LABELS.fill(&mut map, side);
    let labels = string_list(map.remove("labels"), true);
    map.insert("labels".into(), labels);
    AVAILABLE_VALUES.fill(&mut map, side);
    STICKINESS_PROPERTY.fill(&mut map, side);
    PLATFORMS.fill(&mut map, side);
    let platforms = match map.remove("platforms") {
        Some(Value::Array(items)) => items.iter().map(|p| canonical_platform(p, side)).collect(),
        _ => Vec::new(),
    };
    map.insert("platforms".into(), Value::Array(platforms));
    CONDITIONS.fill(&mut map, side);
    let conditions = canonical_conditions(map.remove("conditions"), side);
    map.insert("conditions".into(), conditions);
    VALUE.fill(&mut map, side);
    let value = canonical_flag_value(map.remove("value"), side);
    map.insert("value".into(), value);
    ARCHIVED.fill(&mut map, side);
    let mut value = Value::Object(sorted(map));
    unify_numbers(&mut value);
    value
}

fn canonical_platform(raw: &Value, side: Side) -> Value {
    use defaults::experiment::{PLATFORM_CONDITIONS, PLATFORM_VALUE};
    let Value::Object(source) = raw else {
        return raw.clone();
    };
    let mut map = source.clone();
    if map.get("flag").is_some_and(Value::is_null) {
        map.remove("flag");
    }
    PLATFORM_CONDITIONS.fill(&mut map, side);
    let conditions = canonical_conditions(map.remove("conditions"), side);
    map.insert("conditions".into(), conditions);
    PLATFORM_VALUE.fill(&mut map, side);
    let value = canonical_flag_value(map.remove("value"), side);
    map.insert("value".into(), value);
    Value::Object(sorted(map))
}

fn canonical_conditions(raw: Option<Value>, side: Side) -> Value {
    match raw {
        Some(Value::Array(items)) => {
            Value::Array(items.iter().map(|c| canonical_condition(c, side)).collect())
        }
        _ => Value::Array(Vec::new()),
    }
}

fn canonical_condition(raw: &Value, side: Side) -> Value {
    use defaults::experiment::{CONDITION_GROUP_OPERATOR, CONDITION_VALUE};
    let Value::Object(source) = raw else {
        return raw.clone();
    };
    let mut map = drop_nulls(source);
    if let Some(Value::Object(group)) = map.get_mut("group") {
        let names = string_list(group.remove("name"), false);
        group.insert("name".into(), names);
        CONDITION_GROUP_OPERATOR.fill(group, side);
        *group = sorted(std::mem::take(group));
    }
    if let Some(Value::Object(property)) = map.get_mut("property") {
        *property = drop_nulls(property);
    }
    CONDITION_VALUE.fill(&mut map, side);
    let value = canonical_flag_value(map.remove("value"), side);
    map.insert("value".into(), value);
    Value::Object(sorted(map))
}

/// `null`, `[]` and an absent value all mean "the default written in code". The steps of a
/// split or schedule get the defaults of a step (`percentage` 100, `option` true).
fn canonical_flag_value(raw: Option<Value>, side: Side) -> Value {
    use defaults::experiment::{STEP_OPTION, STEP_PERCENTAGE};
    match raw {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Array(items)) if items.is_empty() => Value::Null,
        Some(Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|step| match step {
                    Value::Object(m) => {
                        let mut m = drop_nulls(&m);
                        STEP_PERCENTAGE.fill(&mut m, side);
                        STEP_OPTION.fill(&mut m, side);
                        Value::Object(sorted(m))
                    }
                    other => other,
                })
                .collect(),
        ),
        Some(other) => other,
    }
}

/// Canonical form of a target group given as the service's JSON.
pub fn canonical_target_group(raw: &Value) -> Value {
    target_group_canonical(raw, Side::Live)
}

fn target_group_canonical(raw: &Value, side: Side) -> Value {
    use defaults::target_group::*;
    let mut map = typed_fields::<TargetGroup>(raw, &TARGET_GROUP_FIELDS);
    map.insert("type".into(), "target-group".into());
    DESCRIPTION.fill(&mut map, side);
    OPERATOR.fill(&mut map, side);
    CONDITIONS.fill(&mut map, side);
    let conditions = match map.remove("conditions") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| match c {
                Value::Object(m) => {
                    let mut m = drop_nulls(m);
                    if let Some(Value::Object(group)) = m.get_mut("group") {
                        let names = string_list(group.remove("name"), false);
                        group.insert("name".into(), names);
                        CONDITION_GROUP_OPERATOR.fill(group, side);
                        *group = sorted(std::mem::take(group));
                    }
                    Value::Object(sorted(m))
                }
                other => other.clone(),
            })
            .collect(),
        _ => Vec::new(),
    };
    map.insert("conditions".into(), Value::Array(conditions));
    let mut value = Value::Object(sorted(map));
    unify_numbers(&mut value);
    value
}

/// Canonical form of a live rollout: the fields a manifest manages of the rollout and of
/// its segment (the flags API's resource, read with it).
pub fn canonical_rollout(rollout: &LiveRollout) -> Value {
    rollout_canonical(&rollout.body, rollout.segment.as_ref(), Side::Live)
}

/// `raw` is the service's JSON, or a serialized manifest with flagsync's labels added;
/// `segment` the segment (the service's, or the manifest's `segment`).
fn rollout_canonical(raw: &Value, segment: Option<&Value>, side: Side) -> Value {
    use defaults::rollout::*;
    let mut map = match ROLLOUT_MANAGED.project(raw) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    // Labels are a map; a list of `{key, value}` reads as one too.
    let labels = flagsync_live::labels(raw);
    if labels.is_empty() {
        map.shift_remove("labels");
    } else {
        let labels: Map<String, Value> = labels
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        map.insert("labels".into(), Value::Object(labels));
    }
    STATE.fill(&mut map, side);
    if let Some(Value::Object(spec)) = map.get_mut("rollout") {
        let reach = spec
            .get("reach")
            .and_then(canonical_reach)
            .map_or_else(|| REACH.value(side), Value::String);
        spec.insert(REACH.field.into(), reach);
    }
    let flags = map
        .entry("flags")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(flags) = flags {
        TARGETING_KEY_SELECTOR.fill(flags, side);
    }
    let mut segment = match segment.and_then(|s| SEGMENT_MANAGED.project(s)) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let targeting = segment.shift_remove("targeting");
    SEGMENT_ALLOCATION.fill(&mut segment, side);
    if let Some(Value::Object(allocation)) = segment.get_mut("allocation")
        && let Some(Value::Object(proportion)) = allocation.get_mut("proportion")
        && let Some(value) = proportion.get("value").and_then(canonical_reach)
    {
        proportion.insert("value".into(), Value::String(value));
    }
    map.insert("segment".into(), Value::Object(segment));
    let mut value = Value::Object(map);
    prune_empty(&mut value);
    unify_numbers(&mut value);
    if let Value::Object(map) = &mut value {
        // Targeting keeps its empty objects (a criterion or a value with nothing set means
        // something); it is canonicalized on its own.
        if let Some(targeting) = targeting.and_then(canonical_targeting) {
            let segment = map
                .entry("segment")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(segment) = segment {
                segment.insert("targeting".into(), targeting);
                *segment = sorted(std::mem::take(segment));
            }
        }
        // Labels stay even when empty, so that a plan always shows them.
        LABELS.fill(map, side);
        return Value::Object(sorted(std::mem::take(map)));
    }
    value
}

/// A segment's targeting in one form: nulls and empty lists dropped (proto JSON leaves out
/// an empty repeated field), empty objects kept (an empty criterion, an `eqRule` on no
/// value), numbers unified; no criteria and no expression is no targeting (everyone).
fn canonical_targeting(targeting: Value) -> Option<Value> {
    fn clean(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for v in map.values_mut() {
                    clean(v);
                }
                map.retain(|_, v| !v.is_null() && !v.as_array().is_some_and(Vec::is_empty));
            }
            Value::Array(items) => items.iter_mut().for_each(clean),
            _ => {}
        }
    }
    let mut targeting = targeting;
    clean(&mut targeting);
    unify_numbers(&mut targeting);
    let map = targeting.as_object_mut()?;
    if map
        .get("criteria")
        .is_some_and(|c| c.as_object().is_some_and(Map::is_empty))
    {
        map.shift_remove("criteria");
    }
    (!map.is_empty()).then_some(targeting)
}

/// `5`, `5.0` and `5e0` are one number: a float with no fraction becomes an integer, so a
/// service that prints doubles without a fraction (proto JSON does) compares equal to a
/// manifest that wrote `5.0`. CloudBees Unify's canonical form ([`crate::unify`]) does the same.
pub(crate) fn unify_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64()
                && !n.is_i64()
                && !n.is_u64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unify_numbers),
        Value::Object(map) => map.values_mut().for_each(unify_numbers),
        _ => {}
    }
}

/// `"0.50"`, `0.5` and `".5"` are one reach: the shortest decimal that reads back the same.
fn canonical_reach(raw: &Value) -> Option<String> {
    let number = match raw {
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    if !number.is_finite() {
        return None;
    }
    Some(format!("{number}"))
}

/// Drops nulls and empty objects and arrays, recursively: the proto JSON of the Confidence
/// API leaves out what is unset, and a manifest may spell it out.
fn prune_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                prune_empty(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                prune_empty(v);
            }
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The fields of `raw` (an object) named in `fields`, as they are; canonical bodies of every
/// provider start from it.
pub(crate) fn project(raw: &Value, fields: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(map) = raw {
        for (k, v) in map {
            if fields.contains(&k.as_str()) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn drop_nulls(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A string or a list of strings as a list; labels are a set (sorted, deduplicated), group
/// names keep their order.
fn string_list(raw: Option<Value>, as_set: bool) -> Value {
    let mut items: Vec<Value> = match raw {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
    };
    if as_set {
        items.sort_by_key(Value::to_string);
        items.dedup();
    }
    Value::Array(items)
}

fn sorted(map: Map<String, Value>) -> Map<String, Value> {
    let ordered: BTreeMap<String, Value> = map.into_iter().collect();
    ordered.into_iter().collect()
}

/// The names of the target groups an experiment condition list mentions.
fn group_names(conditions: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Value::Array(items) = conditions {
        for condition in items {
            if let Some(Value::Array(names)) = condition.get("group").and_then(|g| g.get("name")) {
                out.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
            }
        }
    }
    out
}

fn experiment_references(env: &str, body: &Value) -> Vec<ResourceKey> {
    let mut groups = group_names(&body["conditions"]);
    let mut flags = Vec::new();
    let mut collect_dependencies = |conditions: &Value| {
        if let Value::Array(items) = conditions {
            for c in items {
                if let Some(flag) = c
                    .get("dependency")
                    .and_then(|d| d.get("flag"))
                    .and_then(Value::as_str)
                {
                    flags.push(flag.to_owned());
                }
            }
        }
    };
    collect_dependencies(&body["conditions"]);
    if let Value::Array(platforms) = &body["platforms"] {
        for platform in platforms {
            groups.extend(group_names(&platform["conditions"]));
            collect_dependencies(&platform["conditions"]);
        }
    }
    let own_flag = body["flag"].as_str().unwrap_or_default();
    let mut refs: Vec<ResourceKey> = groups.into_iter().map(ResourceKey::target_group).collect();
    refs.extend(
        flags
            .into_iter()
            .filter(|f| f != own_flag)
            .map(|f| ResourceKey::experiment(env, f)),
    );
    refs.sort();
    refs.dedup();
    refs
}

fn target_group_references(body: &Value) -> Vec<ResourceKey> {
    let own = body["name"].as_str().unwrap_or_default();
    let mut refs: Vec<ResourceKey> = group_names(&body["conditions"])
        .into_iter()
        .filter(|n| n != own)
        .map(ResourceKey::target_group)
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

/// Whether the repository's CloudBees resources are planned against CloudBees Unify: a
/// CasC tree, or the legacy layout with `api: unify` (translated, see
/// [`unify::translate`]).
pub fn targets_unify(repository: &Repository) -> bool {
    repository.casc.is_some()
        || repository
            .config
            .as_ref()
            .and_then(|c| c.cloudbees.as_ref())
            .is_some_and(|cb| cb.provider() == Provider::Unify)
}

/// The desired resources of a loaded repository, canonical, with their references and the
/// file they were declared in (a file holds one manifest, so its origin is its first line).
/// A repository planned against CloudBees Unify gives Unify resources: its CasC tree's, or
/// its legacy manifests translated (whose findings loading reports, see
/// `flagsync_pipeline::load`).
pub fn desired_resources(repository: &Repository) -> Vec<DesiredResource> {
    let mut out = match &repository.casc {
        Some(casc) => unify::casc_resources(casc),
        None if targets_unify(repository) => unify::translate::translate(repository).resources,
        None => legacy_resources(repository),
    };
    for Item { value, file } in &repository.rollouts {
        out.push(DesiredResource {
            key: ResourceKey::rollout(&value.id),
            references: Vec::new(),
            body: rollout_body(value),
            origin: Some(Origin::file(file)),
        });
    }
    out
}

/// The legacy CloudBees target groups and experiments.
fn legacy_resources(repository: &Repository) -> Vec<DesiredResource> {
    let mut out = Vec::new();
    for Item { value, file } in &repository.target_groups {
        let body = target_group_body(value);
        out.push(DesiredResource {
            key: ResourceKey::target_group(&value.name),
            references: target_group_references(&body),
            body,
            origin: Some(Origin::file(file)),
        });
    }
    for env in &repository.environments {
        for Item { value, file } in &env.experiments {
            let body = experiment_body(value);
            out.push(DesiredResource {
                key: ResourceKey::experiment(&env.name, &value.flag),
                references: experiment_references(&env.name, &body),
                body,
                origin: Some(Origin::file(file)),
            });
        }
    }
    out
}

/// What the repository manages: prune deletes only inside this scope.
pub fn managed_scope(repository: &Repository) -> ManagedScope {
    let config = repository.config.as_ref();
    let cloudbees = config.is_none_or(|c| c.cloudbees.is_some());
    let unify = cloudbees && targets_unify(repository);
    let env_names: Vec<String> = match &repository.casc {
        Some(casc) => casc.environments.iter().map(|e| e.name.clone()).collect(),
        None => repository
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
    };
    let legacy = cloudbees && !unify;
    ManagedScope {
        target_groups: legacy,
        experiment_envs: if legacy {
            env_names.clone()
        } else {
            Vec::new()
        },
        rollouts: config.is_some_and(|c| c.confidence.is_some()),
        unify,
        unify_envs: if unify { env_names } else { Vec::new() },
    }
}

/// The rollouts a repository adopts: instance id (bare) to the manifest id that claims it
/// with `instance`.
pub fn adoptions(repository: &Repository) -> BTreeMap<String, String> {
    repository
        .rollouts
        .iter()
        .filter_map(|item| {
            let instance = item.value.instance.as_deref()?;
            Some((
                flagsync_live::instance_id(instance).to_owned(),
                item.value.id.clone(),
            ))
        })
        .collect()
}

/// Live state in canonical form. A rollout without flagsync's id label is not managed: it
/// is left out, so nothing can plan to change or delete it, unless a manifest adopts it
/// (`adoptions`, from [`adoptions`]): then it stands under that manifest's id, without the
/// label, and the plan adopts it.
pub fn live_resources(
    target_groups: &[LiveTargetGroup],
    experiments: &BTreeMap<String, Vec<LiveExperiment>>,
    rollouts: &[LiveRollout],
    adoptions: &BTreeMap<String, String>,
) -> Vec<LiveResource> {
    let mut out = Vec::new();
    for LiveTargetGroup { body: raw } in target_groups {
        let body = canonical_target_group(raw);
        let Some(name) = body["name"].as_str() else {
            continue;
        };
        out.push(LiveResource {
            key: ResourceKey::target_group(name),
            references: target_group_references(&body),
            remote_id: None,
            patch_base: Some(Value::Object(project(raw, &TARGET_GROUP_FIELDS))),
            body,
        });
    }
    for (env, items) in experiments {
        for LiveExperiment { body: raw } in items {
            let body = canonical_experiment(raw);
            let Some(flag) = body["flag"].as_str() else {
                continue;
            };
            out.push(LiveResource {
                key: ResourceKey::experiment(env, flag),
                references: experiment_references(env, &body),
                remote_id: None,
                patch_base: Some(Value::Object(project(raw, &EXPERIMENT_FIELDS))),
                body,
            });
        }
    }
    // A manifest whose id a labelled rollout already carries manages that one; the instance
    // it names is then not adopted (the pipeline warns).
    let labelled: std::collections::BTreeSet<&str> = rollouts
        .iter()
        .filter_map(|r| r.flagsync_id.as_deref())
        .collect();
    for rollout in rollouts {
        let adopted = rollout
            .instance_id
            .as_ref()
            .and_then(|instance| adoptions.get(instance))
            .filter(|id| !labelled.contains(id.as_str()));
        let Some(id) = rollout.flagsync_id.as_ref().or(adopted) else {
            continue;
        };
        out.push(LiveResource {
            key: ResourceKey::rollout(id),
            references: Vec::new(),
            remote_id: rollout.instance_id.clone(),
            // Rollouts change through their own calls (steps), never a JSON Patch.
            patch_base: None,
            body: canonical_rollout(rollout),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn experiment(yaml_json: Value) -> Experiment {
        serde_json::from_value(yaml_json).unwrap()
    }

    #[test]
    fn equivalent_experiment_spellings_compare_equal() {
        let desired = experiment_body(&experiment(json!({
            "type": "experiment", "flag": "f", "name": "ignored", "labels": "x",
            "value": [], "conditions": [{"group": {"name": "Beta"}, "value": true}]
        })));
        let live = canonical_experiment(&json!({
            "flag": "f", "name": "f", "labels": ["x"], "enabled": true, "description": "",
            "availableValues": [false, true], "stickinessProperty": "rox.distinct_id",
            "platforms": [], "value": null, "archived": false, "createdAt": "2024-01-01",
            "conditions": [{"group": {"name": ["Beta"], "operator": "or"}, "value": true}]
        }));
        assert_eq!(desired, live);
    }

    #[test]
    fn experiment_differences_survive_normalization() {
        let a = canonical_experiment(&json!({"flag": "f", "value": true}));
        let b = canonical_experiment(&json!({"flag": "f", "value": false}));
        assert_ne!(a, b);
        let c = canonical_experiment(&json!({"flag": "f", "labels": ["a", "b"]}));
        let d = canonical_experiment(&json!({"flag": "f", "labels": ["b", "a", "a"]}));
        assert_eq!(c, d, "labels are a set");
    }

    #[test]
    fn target_group_operator_defaults_to_or_in_a_live_body() {
        let a = canonical_target_group(&json!({"name": "g", "conditions": []}));
        let b = canonical_target_group(&json!({
            "type": "target-group", "name": "g", "operator": "or", "description": "",
            "conditions": []
        }));
        assert_eq!(a, b);
        assert_eq!(a["operator"], "or");
    }

    #[test]
    fn target_group_operator_defaults_to_and_in_a_manifest() {
        let group: TargetGroup = serde_json::from_value(json!({
            "type": "target-group", "name": "g",
            "conditions": [
                {"property": "a", "operator": "is-true"},
                {"property": "b", "operator": "is-true"}
            ]
        }))
        .unwrap();
        let desired = target_group_body(&group);
        assert_eq!(desired["operator"], "and");
        // The live body the service returns for it says `and`, and compares equal; one
        // without an operator means `or`, and does not.
        let mut live = desired.clone();
        assert_eq!(canonical_target_group(&live), desired);
        live.as_object_mut().unwrap().remove("operator");
        assert_ne!(canonical_target_group(&live), desired);
    }

    #[test]
    fn value_steps_get_their_defaults() {
        let desired = experiment_body(&experiment(json!({
            "flag": "f", "value": [{"option": true}],
            "conditions": [{"group": {"name": "g", "operator": "not"}, "value": [{"percentage": 70}]}]
        })));
        assert_eq!(
            desired["value"],
            json!([{"option": true, "percentage": 100}])
        );
        assert_eq!(
            desired["conditions"][0]["value"],
            json!([{"option": true, "percentage": 70}])
        );
        assert_eq!(desired["conditions"][0]["group"]["operator"], "not");
    }

    #[test]
    fn live_rollout_drops_server_fields_and_matches_manifest() {
        let manifest: Rollout = serde_json::from_value(json!({
            "type": "rollout", "id": "new-search", "displayName": "New Search",
            "state": "live",
            "rollout": {"flag": "flags/s", "variant": "flags/s/variants/on", "reach": "0.50"}
        }))
        .unwrap();
        let desired = rollout_body(&manifest);
        let live_raw = json!({
            "name": "workflows/rollout/instances/abc123",
            "displayName": "New Search", "state": "live",
            "labels": {"flagsync-id": "new-search", "managed-by": "flagsync"},
            "rollout": {"flag": "flags/s", "variant": "flags/s/variants/on", "reach": "0.5",
                        "controlVariant": "flags/s/variants/control", "variantAssignmentId": "a"},
            "flags": {"flag": "flags/s", "segment": "segments/xyz", "rule": "flags/s/rules/r"},
            "createTime": "2024-01-15T10:00:00Z", "updateTime": "2024-01-15T10:00:00Z",
            "creator": "identities/x", "possibleTransitions": ["end"], "lockedDataKeys": ["flags"],
            "exposure": {"exposure": []}, "explore": {"exploratoryAnalyses": []},
            "stats": {"analysisResult": "x"}
        });
        let segment = json!({"name": "segments/xyz", "state": "ALLOCATED",
            "allocation": {"proportion": {"value": "1.0"}}, "workflowInstance": "w"});
        let live = live_resources(
            &[],
            &BTreeMap::new(),
            &[LiveRollout::new(live_raw).with_segment(Some(segment))],
            &BTreeMap::new(),
        );
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].key, ResourceKey::rollout("new-search"));
        assert_eq!(live[0].remote_id.as_deref(), Some("abc123"));
        assert_eq!(live[0].body, desired);
    }

    fn live_rollout(body: Value) -> Value {
        canonical_rollout(&LiveRollout::new(body))
    }

    #[test]
    fn whole_floats_and_integers_are_one_number() {
        let manifest = live_rollout(json!({
            "rollout": {"flag": "flags/f"},
            "metrics": {"metrics": [{"metric": "m", "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 1.0}}]}
        }));
        let live = live_rollout(json!({
            "rollout": {"flag": "flags/f"},
            "metrics": {"metrics": [{"metric": "m", "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 1}}]}
        }));
        assert_eq!(manifest, live);
        let a =
            canonical_experiment(&json!({"flag": "n", "availableValues": [1, 10.5], "value": 1.0}));
        let b =
            canonical_experiment(&json!({"flag": "n", "availableValues": [1.0, 10.5], "value": 1}));
        assert_eq!(a, b);
        assert_ne!(
            a,
            canonical_experiment(
                &json!({"flag": "n", "availableValues": [1, 10.5], "value": 10.5})
            )
        );
    }

    #[test]
    fn unlabelled_live_rollouts_are_not_managed_unless_adopted() {
        let manual = [LiveRollout::new(
            json!({"name": "workflows/rollout/instances/x", "displayName": "manual"}),
        )];
        let live = live_resources(&[], &BTreeMap::new(), &manual, &BTreeMap::new());
        assert!(live.is_empty());
        let claims = BTreeMap::from([("x".to_owned(), "manual".to_owned())]);
        let live = live_resources(&[], &BTreeMap::new(), &manual, &claims);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].key, ResourceKey::rollout("manual"));
        assert_eq!(live[0].remote_id.as_deref(), Some("x"));
        assert_eq!(live[0].body["labels"], json!({}));
        // Another rollout already carries the id: it is the managed one.
        let both = [
            manual[0].clone(),
            LiveRollout::new(json!({"name": "workflows/rollout/instances/y",
                "labels": {"flagsync-id": "manual"}})),
        ];
        let live = live_resources(&[], &BTreeMap::new(), &both, &claims);
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].remote_id.as_deref(), Some("y"));
    }

    #[test]
    fn targeting_keeps_its_empty_objects_and_drops_empty_lists() {
        let with_targeting = |targeting: Value| {
            canonical_rollout(
                &LiveRollout::new(json!({"rollout": {"flag": "flags/f"}}))
                    .with_segment(Some(json!({"targeting": targeting}))),
            )
        };
        let a = with_targeting(json!({
            "criteria": {"set": {"attribute": {"attributeName": "a", "eqRule": {"value": {}}}},
                         "l": {"attribute": {"attributeName": "b", "setRule": {"values": []}}}},
            "expression": {"not": {"ref": "set"}}
        }));
        assert_eq!(
            a["segment"]["targeting"]["criteria"]["set"]["attribute"]["eqRule"],
            json!({"value": {}})
        );
        assert_eq!(
            a["segment"]["targeting"]["criteria"]["l"]["attribute"]["setRule"],
            json!({})
        );
        let everyone = with_targeting(json!({"criteria": {}}));
        assert!(everyone["segment"].get("targeting").is_none(), "{everyone}");
        assert_eq!(
            everyone["segment"]["allocation"],
            json!({"proportion": {"value": "1"}})
        );
        assert_eq!(everyone["flags"]["targetingKeySelector"], "targeting_key");
    }

    #[test]
    fn labels_listed_as_pairs_read_as_a_map() {
        let a = live_rollout(json!({"labels": [{"key": "team", "value": "a"}]}));
        let b = live_rollout(json!({"labels": {"team": "a"}}));
        assert_eq!(a, b);
    }

    #[test]
    fn references_cover_groups_dependencies_and_platforms() {
        let body = experiment_body(&experiment(json!({
            "flag": "f",
            "conditions": [{"dependency": {"flag": "g", "value": "true"}, "value": true}],
            "platforms": [{"name": "iOS", "conditions": [{"group": {"name": ["QA", "DJ"]}, "value": true}]}]
        })));
        let refs = experiment_references("Production", &body);
        assert_eq!(
            refs,
            vec![
                ResourceKey::target_group("DJ"),
                ResourceKey::target_group("QA"),
                ResourceKey::experiment("Production", "g"),
            ]
        );
    }
}
