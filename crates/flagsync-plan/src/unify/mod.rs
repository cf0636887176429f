//! CloudBees Unify: the canonical form of Unify resources, desired and live, and
//! ([`translate`]) the legacy layout's desired state in that form.
//!
//! # The canonical form
//!
//! One JSON body per resource, compared for equality like the legacy kinds' (see
//! [`crate::normalize`]). It is the body of the Unify API (api-notes-unify §3-§6) with:
//!
//! - **every reference by name** instead of id: a condition's `{"group": {"name": "Beta"}}`
//!   (the API's `{"group": {"id": "<uuid>"}}`), `{"flag": {"name": "f", "value": true}}`,
//!   `{"property": {"name": "plan", ...}}`. The live side resolves ids to names first;
//! - **the identity in the [`ResourceKey`]**, not the body, for a configuration: the key is
//!   `flag-configuration/<environment name>/<flag name>`; properties, target groups and flags
//!   carry their `name` in the body as well;
//! - **server-managed fields left out**: `id`, `resourceId`, `cascUrl`, `created`,
//!   `updated`, `configStates`, and a configuration's `seed` (the live one is kept on writes
//!   so that splits do not re-bucket) and `variantsEnabled` (CasC cannot say it);
//! - **defaults filled** from `flagsync_manifest::defaults::unify`;
//! - **keys sorted** in every object; **arrays in their order** (the order of `conditions`
//!   is meaning: the first that matches serves), except the sets noted below;
//! - numbers that are whole written as integers (`5.0` is `5`).
//!
//! Shapes, every field always present:
//!
//! ```text
//! custom-property            {"description": "", "name": "plan", "type": "String"}
//!     type: Boolean | String | Semver | Number | DateTime (the API's spelling)
//! unify-target-group         {"conditions": <matcher>, "description": "", "name": "Beta"}
//! flag                       {"description": "", "flagType": "Boolean", "isPermanent": false,
//!                             "labels": [], "name": "f", "variants": []}
//!     labels: a set (sorted, no repeats)
//!     variants: a set of strings (booleans "false" < "true"; numbers in their shortest
//!       form, "2" not "2.0", in numeric order; strings sorted); compared as "at least
//!       these": see [`reconcile_variants`] and [`with_live_variants`]
//! flag-configuration         {"conditions": [<condition>...], "defaultValue": <value>,
//!                             "enabled": false, "stickinessProperty": "rox.distinct_id"}
//!
//! <matcher>    an object with any of: "allOf": [<matcher>...], "anyOf": [<matcher>...],
//!              "not": <matcher>, "property": {"name", "operator", "operands"?},
//!              "group": {"name"}, "flag": {"name", "value"}
//! <condition>  a <matcher> with "flagValue": <value>
//! <value>      true | "text" | 4 | {"valueWrittenInCode": true}
//!              | [{"option": <v>, "percentage": <n>}...]   a split, in its order
//!              | [{"from": "<RFC 3339>", "percentage": <n>}...]   a schedule, in its order
//! ```
//!
//! A desired body comes from a CasC manifest ([`flag_body`], ...: its fields converted to
//! the API's names and spellings, `flag` to `name`, `availableValues` to `variants`,
//! `boolean` to `Boolean`, `Datetime` to `DateTime`) or from a legacy repository
//! ([`translate`]); a live body from the API's JSON after ids are resolved to names
//! ([`canonical_flag`], ...). Both go through the same functions.

mod live;
pub mod translate;

pub use live::{delete_notes, fresh_configuration, immutable_change, live_resources};

use std::collections::BTreeSet;

use flagsync_manifest::Casc;
use flagsync_manifest::defaults::{self, Side};
use flagsync_manifest::model::unify::{self, FlagType, is_builtin_property};
use serde_json::{Map, Value, json};

use crate::model::{DesiredResource, Origin, ResourceKey};
use crate::normalize::{project, unify_numbers};

const PROPERTY_FIELDS: [&str; 3] = ["name", "type", "description"];
const TARGET_GROUP_FIELDS: [&str; 3] = ["name", "description", "conditions"];
const FLAG_FIELDS: [&str; 6] = [
    "name",
    "description",
    "flagType",
    "variants",
    "labels",
    "isPermanent",
];
const CONFIGURATION_FIELDS: [&str; 4] = [
    "enabled",
    "defaultValue",
    "conditions",
    "stickinessProperty",
];

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    // The model serializes to plain JSON (string keys, finite numbers); an empty object
    // keeps the function total all the same.
    serde_json::to_value(value).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// Canonical body of a custom property from its manifest.
pub fn property_body(property: &unify::Property) -> Value {
    let mut raw = Map::new();
    raw.insert("name".into(), json!(property.name));
    if let Some(t) = property.property_type {
        raw.insert("type".into(), json!(t.api_name()));
    }
    if let Some(d) = &property.description {
        raw.insert("description".into(), json!(d));
    }
    property_canonical(&Value::Object(raw), Side::Manifest)
}

/// Canonical body of a target group from its manifest.
pub fn target_group_body(group: &unify::TargetGroup) -> Value {
    let mut raw = Map::new();
    raw.insert("name".into(), json!(group.name));
    if let Some(d) = &group.description {
        raw.insert("description".into(), json!(d));
    }
    if let Some(c) = &group.conditions {
        raw.insert("conditions".into(), to_json(c));
    }
    target_group_canonical(&Value::Object(raw), Side::Manifest)
}

/// Canonical body of a flag from its manifest.
pub fn flag_body(flag: &unify::Flag) -> Value {
    let mut raw = Map::new();
    raw.insert("name".into(), json!(flag.flag));
    if let Some(t) = flag.flag_type {
        raw.insert("flagType".into(), json!(t.api_name()));
    }
    if let Some(d) = &flag.description {
        raw.insert("description".into(), json!(d));
    }
    if let Some(l) = &flag.labels {
        raw.insert("labels".into(), json!(l));
    }
    if let Some(v) = &flag.available_values {
        raw.insert("variants".into(), to_json(v));
    }
    if let Some(p) = flag.is_permanent {
        raw.insert("isPermanent".into(), json!(p));
    }
    flag_canonical(&Value::Object(raw), Side::Manifest)
}

/// Canonical body of a flag configuration from its manifest (the flag it configures is in
/// its key).
pub fn configuration_body(config: &unify::FlagConfiguration) -> Value {
    let mut raw = Map::new();
    if let Some(e) = config.enabled {
        raw.insert("enabled".into(), json!(e));
    }
    if let Some(v) = &config.default_value {
        raw.insert("defaultValue".into(), to_json(v));
    }
    if let Some(c) = &config.conditions {
        raw.insert("conditions".into(), to_json(c));
    }
    if let Some(s) = &config.stickiness_property {
        raw.insert("stickinessProperty".into(), json!(s));
    }
    configuration_canonical(&Value::Object(raw), Side::Manifest)
}

/// Canonical form of a custom property given as the API's JSON.
pub fn canonical_property(raw: &Value) -> Value {
    property_canonical(raw, Side::Live)
}

/// Canonical form of a target group given as the API's JSON, its group references already
/// by name.
pub fn canonical_target_group(raw: &Value) -> Value {
    target_group_canonical(raw, Side::Live)
}

/// Canonical form of a flag given as the API's JSON. Compare it with a desired flag after
/// [`reconcile_variants`].
pub fn canonical_flag(raw: &Value) -> Value {
    flag_canonical(raw, Side::Live)
}

/// Canonical form of a flag configuration given as the API's JSON, its references already
/// by name.
pub fn canonical_configuration(raw: &Value) -> Value {
    configuration_canonical(raw, Side::Live)
}

fn property_canonical(raw: &Value, side: Side) -> Value {
    let mut map = project(raw, &PROPERTY_FIELDS);
    defaults::unify::PROPERTY_DESCRIPTION.fill(&mut map, side);
    finish(map)
}

fn target_group_canonical(raw: &Value, side: Side) -> Value {
    let mut map = project(raw, &TARGET_GROUP_FIELDS);
    defaults::unify::TARGET_GROUP_DESCRIPTION.fill(&mut map, side);
    if map.get("conditions").is_none_or(Value::is_null) {
        map.insert("conditions".into(), Value::Object(Map::new()));
    }
    finish(map)
}

fn flag_canonical(raw: &Value, side: Side) -> Value {
    use defaults::unify::*;
    let mut map = project(raw, &FLAG_FIELDS);
    FLAG_DESCRIPTION.fill(&mut map, side);
    FLAG_TYPE.fill(&mut map, side);
    FLAG_IS_PERMANENT.fill(&mut map, side);
    FLAG_LABELS.fill(&mut map, side);
    let labels: BTreeSet<String> = strings(map.remove("labels")).into_iter().collect();
    map.insert("labels".into(), json!(labels));
    FLAG_VARIANTS.fill(&mut map, side);
    let flag_type = map
        .get("flagType")
        .and_then(Value::as_str)
        .and_then(FlagType::from_api_name);
    let variants = variants(map.remove("variants"), flag_type);
    map.insert("variants".into(), json!(variants));
    finish(map)
}

fn configuration_canonical(raw: &Value, side: Side) -> Value {
    use defaults::unify::*;
    let mut map = project(raw, &CONFIGURATION_FIELDS);
    CONFIGURATION_ENABLED.fill(&mut map, side);
    CONFIGURATION_DEFAULT_VALUE.fill(&mut map, side);
    CONFIGURATION_CONDITIONS.fill(&mut map, side);
    CONFIGURATION_STICKINESS_PROPERTY.fill(&mut map, side);
    finish(map)
}

/// Keys sorted and nulls dropped in every object, whole floats as integers.
fn finish(map: Map<String, Value>) -> Value {
    let mut value = Value::Object(map);
    tidy(&mut value);
    value
}

fn tidy(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map)
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (_, v) in &mut entries {
                tidy(v);
            }
            *map = entries.into_iter().collect();
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        Value::Number(_) => unify_numbers(value),
        _ => {}
    }
}

/// The strings of a list (or of one value), `null` being none.
fn strings(raw: Option<Value>) -> Vec<String> {
    let items = match raw {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => vec![other],
    };
    items.iter().filter_map(variant_text).collect()
}

/// A value as the variant string the service keeps: `true` is `"true"`, `2.0` is `"2"`.
pub fn variant_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(number_text(n.as_f64()?).unwrap_or_else(|| n.to_string())),
        _ => None,
    }
}

/// The shortest text of a finite number: `2`, `2.5`.
fn number_text(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    Some(if f.fract() == 0.0 && f.abs() < 9.0e15 {
        (f as i64).to_string()
    } else {
        f.to_string()
    })
}

/// Variants as a sorted set: numbers of a Number flag in their shortest text and numeric
/// order, others as strings in string order.
fn variants(raw: Option<Value>, flag_type: Option<FlagType>) -> Vec<String> {
    let texts = strings(raw);
    if flag_type == Some(FlagType::Number) {
        let mut numbers: Vec<(f64, String)> = Vec::new();
        let mut others: BTreeSet<String> = BTreeSet::new();
        for t in texts {
            match t
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|f| Some((f, number_text(f)?)))
            {
                Some((f, text)) if !numbers.iter().any(|(_, s)| *s == text) => {
                    numbers.push((f, text))
                }
                Some(_) => {}
                None => {
                    others.insert(t);
                }
            }
        }
        numbers.sort_by(|a, b| a.0.total_cmp(&b.0));
        numbers.into_iter().map(|(_, s)| s).chain(others).collect()
    } else {
        texts
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Makes a live flag's canonical `variants` the desired ones when live has every desired
/// variant: the service adds every value a configuration serves to its flag's variants on
/// its own (api-notes-unify §10.5), so a live flag with more variants than the repository
/// lists is not a difference. A live flag missing a desired variant keeps its own list and
/// differs. Call it for each flag before comparing.
pub fn reconcile_variants(desired: &Value, live: &mut Value) {
    let set = |v: &Value| -> BTreeSet<String> {
        v.get("variants")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (want, have) = (set(desired), set(live));
    if want.is_subset(&have)
        && let (Some(d), Value::Object(l)) = (desired.get("variants"), live)
    {
        l.insert("variants".into(), d.clone());
    }
}

/// The desired flag body with the live flag's variants added: what an update of the flag
/// sends, so that it never takes away a variant the service grew (and comparing with the
/// live body shows only what the repository adds). Equal to the live variants when the live
/// flag has every desired one, which is then no difference.
pub fn with_live_variants(desired: &Value, live: &Value) -> Value {
    let list = |v: &Value| {
        v.get("variants")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut all = list(desired);
    all.extend(list(live));
    let flag_type = desired
        .get("flagType")
        .and_then(Value::as_str)
        .and_then(FlagType::from_api_name);
    let mut out = desired.clone();
    if let Value::Object(map) = &mut out {
        map.insert(
            "variants".into(),
            json!(variants(Some(Value::Array(all)), flag_type)),
        );
    }
    out
}

/// Names a canonical condition tree (conditions of a configuration, or a target group's
/// `conditions`) refers to.
#[derive(Debug, Default)]
struct Names {
    groups: Vec<String>,
    flags: Vec<String>,
    properties: Vec<String>,
}

fn collect_names(value: &Value, out: &mut Names) {
    match value {
        Value::Array(items) => items.iter().for_each(|i| collect_names(i, out)),
        Value::Object(map) => {
            let name = |key: &str| {
                map.get(key)
                    .and_then(|o| o.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            out.groups.extend(name("group"));
            out.flags.extend(name("flag"));
            out.properties.extend(name("property"));
            for key in ["allOf", "anyOf", "not"] {
                if let Some(inner) = map.get(key) {
                    collect_names(inner, out);
                }
            }
        }
        _ => {}
    }
}

/// What must exist before a resource with these conditions: the target groups, the flags
/// and the custom properties it names (built-in properties exist already, unless the
/// repository declares them).
fn references_of(conditions: &Value, declared_properties: &BTreeSet<String>) -> Vec<ResourceKey> {
    let mut names = Names::default();
    collect_names(conditions, &mut names);
    let mut refs: Vec<ResourceKey> = names
        .groups
        .into_iter()
        .map(ResourceKey::unify_target_group)
        .chain(names.flags.into_iter().map(ResourceKey::flag))
        .chain(
            names
                .properties
                .into_iter()
                .filter(|p| !is_builtin_property(p) || declared_properties.contains(p))
                .map(ResourceKey::custom_property),
        )
        .collect();
    refs.sort();
    refs.dedup();
    refs
}

/// The references of a desired or live Unify resource, from its canonical body: a target
/// group's groups and properties; a configuration's flag, and the groups, flags and
/// properties of its conditions. `declared_properties`: properties the repository declares.
pub fn references(
    key: &ResourceKey,
    body: &Value,
    declared_properties: &BTreeSet<String>,
) -> Vec<ResourceKey> {
    use flagsync_manifest::Kind;
    match key.kind {
        Kind::UnifyTargetGroup => {
            let mut refs = references_of(&body["conditions"], declared_properties);
            refs.retain(|r| r != key);
            refs
        }
        Kind::FlagConfiguration => {
            let mut refs = references_of(&body["conditions"], declared_properties);
            refs.push(ResourceKey::flag(&key.name));
            refs.sort();
            refs.dedup();
            refs
        }
        _ => Vec::new(),
    }
}

/// A desired Unify resource declared in `file`, with the references its canonical `body`
/// makes (`declared`: the custom properties the repository declares).
pub(crate) fn resource(
    key: ResourceKey,
    body: Value,
    file: &str,
    declared: &BTreeSet<String>,
) -> DesiredResource {
    DesiredResource {
        references: references(&key, &body, declared),
        key,
        body,
        origin: Some(Origin::file(file)),
    }
}

/// The desired resources of a CasC tree, canonical, with their references and origin.
pub fn casc_resources(casc: &Casc) -> Vec<DesiredResource> {
    let declared: BTreeSet<String> = casc
        .properties
        .iter()
        .map(|p| p.value.name.clone())
        .collect();
    let mut out = Vec::new();
    let mut push = |key: ResourceKey, body: Value, file: &str| {
        out.push(resource(key, body, file, &declared));
    };
    for p in &casc.properties {
        push(
            ResourceKey::custom_property(&p.value.name),
            property_body(&p.value),
            &p.file,
        );
    }
    for t in &casc.target_groups {
        push(
            ResourceKey::unify_target_group(&t.value.name),
            target_group_body(&t.value),
            &t.file,
        );
    }
    for f in &casc.flags {
        push(
            ResourceKey::flag(&f.value.flag),
            flag_body(&f.value),
            &f.file,
        );
    }
    for env in &casc.environments {
        for c in &env.configurations {
            push(
                ResourceKey::flag_configuration(&env.name, &c.value.flag),
                configuration_body(&c.value),
                &c.file,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
