//! Live resources as manifests.
//!
//! Each manifest is built from the resource's *canonical* live body (the normalizer's), not
//! from the raw JSON: the canonical form already drops what the server manages and unifies
//! spellings, so writing it back with defaults left out gives a manifest whose own canonical
//! form is the same, and `plan` right after an export is empty. [`check`] proves that for
//! every exported resource by normalizing the manifest again.

use serde_json::{Map, Value, json};

use crate::defaults::experiment::{self, CONDITION_VALUE, PLATFORM_CONDITIONS, PLATFORM_VALUE};
use crate::defaults::{omitted_from_export, rollout, target_group};
use crate::kind::Kind;
use crate::model::{MANAGED_BY_LABEL, Manifest, ROLLOUT_ID_LABEL};

/// The order keys are written in. Keys not listed follow, alphabetically. Maps whose keys
/// are user data (labels, targeting criteria) are written alphabetically.
const KEY_ORDER: &[&str] = &[
    "type",
    "id",
    "instance",
    "flag",
    "name",
    "displayName",
    "description",
    "state",
    "enabled",
    "labels",
    "availableValues",
    "stickinessProperty",
    "group",
    "dependency",
    "version",
    "property",
    "operator",
    "operand",
    "semver",
    "propertyConditions",
    "platforms",
    "conditions",
    "from",
    "option",
    "percentage",
    "value",
    "archived",
    "flags",
    "targetingKeySelector",
    "rollout",
    "variant",
    "reach",
    "segment",
    "targeting",
    "criteria",
    "expression",
    "attribute",
    "attributeName",
    "allocation",
    "metrics",
    "assignmentTable",
    "entity",
    "bucket",
    "metric",
    "metricRole",
    "metricKind",
    "minimumDetectableEffect",
    "nonInferiorityMargin",
    "preferredDirection",
];

/// Keys whose values are maps of user-chosen names.
const USER_MAPS: [&str; 2] = ["labels", "criteria"];

/// A manifest of `kind`: `type` (and a rollout's `id`) first, then each field of the
/// canonical body that `field` keeps, as it returns it, in [`KEY_ORDER`].
fn manifest_of(
    kind: Kind,
    id: Option<&str>,
    canonical: &Value,
    field: impl Fn(&str, &Value) -> Option<Value>,
) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(kind.as_str()));
    if let Some(id) = id {
        out.insert("id".into(), json!(id));
    }
    if let Value::Object(body) = canonical {
        for (key, value) in body.iter().filter(|(k, _)| k.as_str() != "type") {
            if let Some(value) = field(key, value) {
                out.insert(key.clone(), value);
            }
        }
    }
    ordered(Value::Object(out), None)
}

/// A target group's manifest from its canonical body.
fn target_group(canonical: &Value) -> Value {
    manifest_of(Kind::TargetGroup, None, canonical, |key, value| {
        (!omitted_from_export(target_group::TOP_LEVEL, key, value)).then(|| value.clone())
    })
}

/// An experiment's manifest from its canonical body: documented defaults left out, the
/// experiment `name` (ignored by the service) not written, and neither is `archived`: the
/// folder says it (an archived flag's file goes into `archived/`, see [`is_archived`]).
fn experiment(canonical: &Value) -> Value {
    manifest_of(Kind::Experiment, None, canonical, |key, value| {
        if key == "name"
            || key == experiment::ARCHIVED.field
            || omitted_from_export(experiment::TOP_LEVEL, key, value)
        {
            return None;
        }
        Some(match key {
            "platforms" => map_items(value, platform),
            "conditions" => map_items(value, condition),
            _ => value.clone(),
        })
    })
}

/// A rollout's manifest from its canonical body and its flagsync id. flagsync's own labels
/// are left out (planning adds them), and so is a segment with nothing but the default
/// allocation.
fn rollout(id: &str, canonical: &Value) -> Value {
    manifest_of(Kind::Rollout, Some(id), canonical, |key, value| {
        match (key, value) {
            ("labels", Value::Object(labels)) => {
                let own: Map<String, Value> = labels
                    .iter()
                    .filter(|(k, _)| {
                        k.as_str() != ROLLOUT_ID_LABEL && k.as_str() != MANAGED_BY_LABEL
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let own = Value::Object(own);
                (!rollout::LABELS.omitted_from_export(&own)).then_some(own)
            }
            ("segment", Value::Object(segment)) => {
                let kept: Map<String, Value> = segment
                    .iter()
                    .filter(|(k, v)| !omitted_from_export(&[rollout::SEGMENT_ALLOCATION], k, v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (!kept.is_empty()).then_some(Value::Object(kept))
            }
            _ => Some(value.clone()),
        }
    })
}

/// The manifest of a rollout made elsewhere (no flagsync label), to be adopted: its
/// manifest under `id`, naming the `instance` it comes from.
pub fn adopted_rollout(id: &str, instance: &str, canonical: &Value) -> Value {
    let mut manifest = rollout(id, canonical);
    if let Value::Object(map) = &mut manifest {
        map.insert("instance".into(), json!(instance));
    }
    ordered(manifest, None)
}

fn map_items(value: &Value, f: fn(&Value) -> Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(f).collect()),
        other => other.clone(),
    }
}

fn platform(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let mut out = Map::new();
    for (key, v) in map {
        if omitted_from_export(&[PLATFORM_CONDITIONS, PLATFORM_VALUE], key, v) {
            continue;
        }
        let v = match key.as_str() {
            "conditions" => map_items(v, condition),
            _ => v.clone(),
        };
        out.insert(key.clone(), v);
    }
    Value::Object(out)
}

/// A release rule without the defaults the canonical form spells out (`value: null`).
fn condition(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    Value::Object(
        map.iter()
            .filter(|(k, v)| !omitted_from_export(&[CONDITION_VALUE], k, v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// `value` with every map's keys in the order manifests are written in (`type`, the
/// identity, ... as export writes them): how reviews show bodies.
pub fn in_manifest_order(value: Value) -> Value {
    ordered(value, None)
}

/// Reorders every map's keys per [`KEY_ORDER`], recursively.
fn ordered(value: Value, parent: Option<&str>) -> Value {
    match value {
        Value::Object(map) => {
            let user_map = parent.is_some_and(|p| USER_MAPS.contains(&p));
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| {
                let rank = |k: &str| {
                    // The list of metrics reads best after the settings that apply to all.
                    if user_map || (parent == Some("metrics") && k == "metrics") {
                        KEY_ORDER.len()
                    } else {
                        KEY_ORDER
                            .iter()
                            .position(|o| *o == k)
                            .unwrap_or(KEY_ORDER.len())
                    }
                };
                (rank(a), a).cmp(&(rank(b), b))
            });
            // A schedule step reads best as "from, percentage, option", like real files.
            if entries.iter().any(|(k, _)| k == "from") {
                let pos = |k: &str| {
                    ["from", "percentage", "option"]
                        .iter()
                        .position(|o| *o == k)
                };
                entries.sort_by_key(|(k, _)| pos(k).unwrap_or(3));
            }
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let v = ordered(v, Some(&k));
                        (k, v)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| ordered(v, parent)).collect())
        }
        other => other,
    }
}

/// The manifest of a live resource of `kind` from its canonical body; `identity` is a
/// rollout's flagsync id or a flag configuration's flag (the other kinds carry theirs in the
/// body).
pub fn manifest(kind: Kind, identity: &str, canonical: &Value) -> Value {
    match kind {
        Kind::TargetGroup => target_group(canonical),
        Kind::Experiment => experiment(canonical),
        Kind::Rollout => rollout(identity, canonical),
        Kind::CustomProperty => super::casc::property(canonical),
        Kind::UnifyTargetGroup => super::casc::target_group(canonical),
        Kind::Flag => super::casc::flag(canonical),
        Kind::FlagConfiguration => super::casc::configuration(identity, canonical),
    }
}

/// Turns a typed manifest into its canonical body. That is normalization, which lives above
/// this crate: callers pass `flagsync_plan::normalize::manifest_body`.
pub type Canonicalize<'a> = &'a dyn Fn(&Manifest) -> Value;

/// Why an exported manifest does not reproduce live state.
#[derive(Debug, thiserror::Error)]
pub enum Mismatch {
    #[error("flagsync cannot read it as a manifest: {0}")]
    Unreadable(#[source] serde_json::Error),
    /// The top-level fields that differ, e.g. `labels (managed-by)`.
    #[error("differs in {}", .0.join(", "))]
    Differs(Vec<String>),
}

/// Whether the canonical body of an experiment is an archived flag's, whose manifest goes
/// into the `archived/` folder of its environment.
pub fn is_archived(kind: Kind, canonical: &Value) -> bool {
    kind == Kind::Experiment
        && canonical.get(experiment::ARCHIVED.field) == Some(&Value::Bool(true))
}

/// Whether a manifest, read back through the model and normalized, equals the live
/// canonical body. An archived flag's manifest is read as the loader reads it from the
/// `archived/` folder.
pub fn check(
    kind: Kind,
    manifest: &Value,
    canonical: &Value,
    canonicalize: Canonicalize<'_>,
) -> Result<(), Mismatch> {
    let mut typed = Manifest::from_json(kind, manifest.clone()).map_err(Mismatch::Unreadable)?;
    if let Manifest::Experiment(e) = &mut typed
        && is_archived(kind, canonical)
    {
        e.archived = Some(true);
    }
    let again = canonicalize(&typed);
    if &again == canonical {
        return Ok(());
    }
    Err(Mismatch::Differs(differences(&again, canonical)))
}

/// The top-level fields that differ, e.g. `labels (managed-by)`.
fn differences(ours: &Value, live: &Value) -> Vec<String> {
    let empty = Map::new();
    let a = ours.as_object().unwrap_or(&empty);
    let b = live.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| match (a.get(k), b.get(k)) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut inner: Vec<&String> = x
                    .keys()
                    .chain(y.keys())
                    .filter(|ik| x.get(*ik) != y.get(*ik))
                    .collect();
                inner.sort();
                inner.dedup();
                let inner: Vec<&str> = inner.into_iter().map(String::as_str).collect();
                format!("{k} ({})", inner.join(", "))
            }
            _ => k.clone(),
        })
        .collect()
}
