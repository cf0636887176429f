//! Live resources as manifests.
//!
//! Each manifest is built from the resource's *canonical* live body (the normalizer's), not
//! from the raw JSON: the canonical form already drops what the server manages and unifies
//! spellings, so writing it back with defaults left out gives a manifest whose own canonical
//! form is the same, and `plan` right after an export is empty. [`check`] proves that for
//! every exported resource by normalizing the manifest again.

use flagsync_manifest::Kind;
use flagsync_manifest::defaults::experiment::{
    self, CONDITION_VALUE, PLATFORM_CONDITIONS, PLATFORM_VALUE,
};
use flagsync_manifest::defaults::{omitted_from_export, rollout, target_group};
use flagsync_manifest::model::{
    Experiment, MANAGED_BY_LABEL, ROLLOUT_ID_LABEL, Rollout, TargetGroup,
};
use flagsync_plan::normalize;
use serde_json::{Map, Value, json};

/// The order keys are written in. Keys not listed follow, alphabetically. Maps whose keys
/// are user data (labels, targeting criteria) are written alphabetically.
const KEY_ORDER: &[&str] = &[
    "type",
    "id",
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

/// A target group's manifest from its canonical body.
pub fn target_group(canonical: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!("target-group"));
    let Value::Object(body) = canonical else {
        return Value::Object(out);
    };
    for (key, value) in body {
        if key != "type" && !omitted_from_export(target_group::TOP_LEVEL, key, value) {
            out.insert(key.clone(), value.clone());
        }
    }
    ordered(Value::Object(out), None)
}

/// An experiment's manifest from its canonical body: documented defaults left out, the
/// experiment `name` (ignored by the service) not written.
pub fn experiment(canonical: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!("experiment"));
    let Value::Object(body) = canonical else {
        return Value::Object(out);
    };
    for (key, value) in body {
        // `type` is written first; the service ignores `name`.
        if key == "type" || key == "name" || omitted_from_export(experiment::TOP_LEVEL, key, value)
        {
            continue;
        }
        let value = match key.as_str() {
            "platforms" => map_items(value, platform),
            "conditions" => map_items(value, condition),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    ordered(Value::Object(out), None)
}

/// A rollout's manifest from its canonical body and its flagsync id. flagsync's own labels
/// are left out: planning adds them.
pub fn rollout(id: &str, canonical: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!("rollout"));
    out.insert("id".into(), json!(id));
    let Value::Object(body) = canonical else {
        return Value::Object(out);
    };
    for (key, value) in body {
        match (key.as_str(), value) {
            ("labels", Value::Object(labels)) => {
                let own: Map<String, Value> = labels
                    .iter()
                    .filter(|(k, _)| {
                        k.as_str() != ROLLOUT_ID_LABEL && k.as_str() != MANAGED_BY_LABEL
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let own = Value::Object(own);
                if !rollout::LABELS.omitted_from_export(&own) {
                    out.insert(key.clone(), own);
                }
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    ordered(Value::Object(out), None)
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

/// Whether a manifest, read back through the model and normalized, equals the live
/// canonical body. `Err` says what differs (or why the model cannot read it).
pub fn check(kind: Kind, manifest: &Value, canonical: &Value) -> Result<(), String> {
    let again = match kind {
        Kind::TargetGroup => serde_json::from_value::<TargetGroup>(manifest.clone())
            .map(|m| normalize::target_group_body(&m)),
        Kind::Experiment => serde_json::from_value::<Experiment>(manifest.clone())
            .map(|m| normalize::experiment_body(&m)),
        Kind::Rollout => {
            serde_json::from_value::<Rollout>(manifest.clone()).map(|m| normalize::rollout_body(&m))
        }
    }
    .map_err(|e| format!("flagsync cannot read it as a manifest: {e}"))?;
    if &again == canonical {
        return Ok(());
    }
    Err(describe_difference(&again, canonical))
}

/// The top-level fields that differ, e.g. `labels (managed-by)`.
fn describe_difference(ours: &Value, live: &Value) -> String {
    let empty = Map::new();
    let a = ours.as_object().unwrap_or(&empty);
    let b = live.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let fields: Vec<String> = keys
        .into_iter()
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
        .collect();
    format!("differs in {}", fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_round_trips_with_defaults_left_out() {
        let live = json!({
            "flag": "price", "name": "price", "labels": "beta", "enabled": true,
            "availableValues": ["low", 10.5, "NO"], "description": "",
            "stickinessProperty": "rox.distinct_id", "archived": false,
            "platforms": [{"name": "iOS", "value": "low", "conditions": []}],
            "conditions": [
                {"group": {"name": "Beta Users"}, "value": [{"option": "low", "percentage": 30}, {"option": 10.5, "percentage": 70}]},
                {"dependency": {"flag": "other", "value": "true"}}
            ],
            "value": null
        });
        let canonical = normalize::canonical_experiment(&live);
        let manifest = experiment(&canonical);
        assert_eq!(manifest.get("name"), None);
        assert_eq!(manifest.get("enabled"), None);
        assert_eq!(manifest.get("value"), None);
        assert_eq!(manifest["labels"], json!(["beta"]));
        let keys: Vec<&str> = manifest
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "type",
                "flag",
                "labels",
                "availableValues",
                "platforms",
                "conditions"
            ]
        );
        assert_eq!(check(Kind::Experiment, &manifest, &canonical), Ok(()));
    }

    #[test]
    fn schedules_keep_their_timestamps_as_strings() {
        let live = json!({"flag": "s", "value": [
            {"from": "2024-01-15T10:00:00Z", "percentage": 10, "option": true},
            {"from": "2024-02-01T00:00:00.000Z", "percentage": 100, "option": true}
        ]});
        let canonical = normalize::canonical_experiment(&live);
        let manifest = experiment(&canonical);
        let step: Vec<&str> = manifest["value"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(step, ["from", "percentage", "option"]);
        assert_eq!(check(Kind::Experiment, &manifest, &canonical), Ok(()));
    }

    #[test]
    fn target_group_keeps_its_operator_and_nested_groups() {
        let live = json!({"name": "NO", "conditions": [
            {"group": {"name": ["Beta Users"], "operator": "any-groups"}},
            {"property": "plan", "operator": "in-array", "operand": ["pro", 3]}
        ]});
        let canonical = normalize::canonical_target_group(&live);
        let manifest = target_group(&canonical);
        assert_eq!(manifest["operator"], "or");
        assert_eq!(manifest["conditions"][1]["operand"], json!(["pro", 3]));
        assert_eq!(check(Kind::TargetGroup, &manifest, &canonical), Ok(()));
    }

    #[test]
    fn rollout_leaves_flagsync_labels_to_the_planner() {
        let live = json!({
            "name": "workflows/rollout/instances/abc", "displayName": "Search",
            "state": "live", "createTime": "2024-01-15T10:00:00Z",
            "labels": {"flagsync-id": "search", "managed-by": "flagsync", "team": "growth"},
            "rollout": {"flag": "flags/s", "variant": "flags/s/variants/on", "reach": "0.50"},
            "segment": {"name": "segments/x", "targeting": {"criteria": {"c": {"attribute": {"attributeName": "country", "eqRule": {"value": {"stringValue": "SE"}}}}}, "expression": {"ref": "c"}}},
            "metrics": {"entity": "entities/user", "metrics": [{"metric": "metrics/m", "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01}, "preferredDirection": "INCREASE"}]},
            "stats": {"analysisResult": "x"}
        });
        let canonical = normalize::canonical_rollout(&live);
        let manifest = rollout("search", &canonical);
        assert_eq!(manifest["labels"], json!({"team": "growth"}));
        assert_eq!(manifest["rollout"]["reach"], "0.5");
        let keys: Vec<&str> = manifest
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "type",
                "id",
                "displayName",
                "state",
                "labels",
                "rollout",
                "segment",
                "metrics"
            ]
        );
        let metric_keys: Vec<&str> = manifest["metrics"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(metric_keys, ["entity", "metrics"]);
        assert_eq!(check(Kind::Rollout, &manifest, &canonical), Ok(()));
    }

    #[test]
    fn a_missing_managed_by_label_is_reported() {
        let live = json!({
            "displayName": "Search", "labels": {"flagsync-id": "search"},
            "rollout": {"flag": "flags/s"}
        });
        let canonical = normalize::canonical_rollout(&live);
        let manifest = rollout("search", &canonical);
        let err = check(Kind::Rollout, &manifest, &canonical).unwrap_err();
        assert!(err.contains("labels (managed-by)"), "{err}");
    }
}
