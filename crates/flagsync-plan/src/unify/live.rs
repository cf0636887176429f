//! Live CloudBees Unify state in the canonical form: the ids the API refers by are resolved
//! to names (a condition's `{"group": {"id"}}` becomes `{"group": {"name"}}`, a flag
//! dependency's `id` its `name`), then each object goes through the same canonical function
//! as the desired side ([`super::canonical_property`], ...). A reference to an id the
//! application does not have is kept as written, so it differs from anything desired and
//! the plan shows it.
//!
//! What the planner does besides (pure, no I/O): a live flag's `variants` the service grew
//! on its own are no difference ([`super::reconcile_variants`]); a flag's or property's type
//! cannot change ([`immutable_change`]); a configuration no manifest declares that is what
//! the service gives a new flag is no difference ([`fresh_configuration`]).

use std::collections::{BTreeSet, HashMap};

use flagsync_live::LiveUnify;
use flagsync_manifest::Kind;
use flagsync_manifest::defaults::Side;
use serde_json::{Map, Value, json};

use super::{
    canonical_configuration, canonical_flag, canonical_property, canonical_target_group,
    configuration_canonical, references,
};
use crate::model::{Action, LiveResource, Operation, ResourceKey};

/// Ids to names, for the references of conditions.
struct Names {
    groups: HashMap<String, String>,
    flags: HashMap<String, String>,
}

impl Names {
    fn of(live: &LiveUnify) -> Self {
        let map = |objects: &[flagsync_live::LiveUnifyObject]| {
            objects
                .iter()
                .filter_map(|o| Some((o.id.clone()?, o.name.clone()?)))
                .collect::<HashMap<_, _>>()
        };
        let mut flags = map(&live.flags);
        for c in live.configurations.values().flatten() {
            if let (Some(id), Some(name)) = (&c.flag_id, &c.flag_name) {
                flags.entry(id.clone()).or_insert_with(|| name.clone());
            }
        }
        Names {
            groups: map(&live.target_groups),
            flags,
        }
    }

    /// `value` (conditions, or one matcher) with ids replaced by names.
    fn resolve(&self, value: &Value) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(|i| self.resolve(i)).collect()),
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let resolved = match key.as_str() {
                        "allOf" | "anyOf" | "not" => self.resolve(item),
                        "group" => by_name(item, &self.groups),
                        "flag" => by_name(item, &self.flags),
                        _ => item.clone(),
                    };
                    out.insert(key.clone(), resolved);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

/// `{"id": X, ...}` as `{"name": <X's name>, ...}` when X is known; anything else as it is.
fn by_name(reference: &Value, names: &HashMap<String, String>) -> Value {
    let Value::Object(map) = reference else {
        return reference.clone();
    };
    let Some(name) = map
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| names.get(id))
    else {
        return reference.clone();
    };
    let mut out: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert("name".into(), json!(name));
    Value::Object(out)
}

/// `raw` with its `conditions` resolved to names.
fn with_resolved_conditions(raw: &Value, names: &Names) -> Value {
    let mut raw = raw.clone();
    if let Some(conditions) = raw.get("conditions").map(|c| names.resolve(c))
        && let Value::Object(map) = &mut raw
    {
        map.insert("conditions".into(), conditions);
    }
    raw
}

/// The live Unify resources in canonical form, with their references (what a delete must
/// wait for). Objects without a name are left out: nothing can declare them.
pub fn live_resources(live: &LiveUnify) -> Vec<LiveResource> {
    let names = Names::of(live);
    let properties: BTreeSet<String> = live
        .properties
        .iter()
        .filter_map(|p| p.name.clone())
        .collect();
    let resource = |key: ResourceKey, body: Value| LiveResource {
        references: references(&key, &body, &properties),
        key,
        body,
        remote_id: None,
        patch_base: None,
    };
    let mut out = Vec::new();
    for p in &live.properties {
        if let Some(name) = &p.name {
            out.push(resource(
                ResourceKey::custom_property(name),
                canonical_property(&p.body),
            ));
        }
    }
    for g in &live.target_groups {
        if let Some(name) = &g.name {
            let raw = with_resolved_conditions(&g.body, &names);
            out.push(resource(
                ResourceKey::unify_target_group(name),
                canonical_target_group(&raw),
            ));
        }
    }
    for f in &live.flags {
        if let Some(name) = &f.name {
            out.push(resource(ResourceKey::flag(name), canonical_flag(&f.body)));
        }
    }
    for (env, configurations) in &live.configurations {
        for c in configurations {
            let name = c
                .flag_name
                .clone()
                .or_else(|| names.flags.get(c.flag_id.as_deref()?).cloned());
            if let Some(name) = name {
                let raw = with_resolved_conditions(&c.body, &names);
                out.push(resource(
                    ResourceKey::flag_configuration(env, name),
                    canonical_configuration(&raw),
                ));
            }
        }
    }
    out
}

/// The canonical configuration the service gives a flag in every environment when it is
/// created: disabled, no conditions, serving the value written in code. A live
/// configuration like it that no manifest declares is no difference; "deleting" a
/// configuration (the service keeps one per flag and environment) writes it back.
pub fn fresh_configuration() -> Value {
    configuration_canonical(&json!({}), Side::Live)
}

/// Why the change from `live` to `desired` of the resource `key` cannot be made: a flag's
/// `flagType` and a custom property's `type` are fixed when it is created (api-notes-unify
/// §10.3). Planned as a refused update, never as a delete and a create: deleting a flag
/// deletes its configurations everywhere, and code may still ask for it.
pub fn immutable_change(key: &ResourceKey, live: &Value, desired: &Value) -> Option<String> {
    let (field, what, instead) = match key.kind {
        Kind::Flag => (
            "flagType",
            "flag",
            "keep its type, or declare a flag of another name with the new type (and, once no code asks for this one, delete it with --prune --prune-flags)",
        ),
        Kind::CustomProperty => (
            "type",
            "custom property",
            "keep its type, or declare a property of another name with the new type and move the conditions to it",
        ),
        _ => return None,
    };
    let (have, want) = (live.get(field)?, desired.get(field)?);
    (have != want).then(|| {
        format!(
            "the type of {what} `{}` is {} in CloudBees Unify and {} in the repository, and CloudBees Unify cannot change a {what}'s type; nothing is sent for it: {instead}",
            key.name,
            text(have),
            text(want),
        )
    })
}

/// What the deletes of Unify flags and configurations in `actions` do besides deleting, for
/// the plan's warnings (one line each, not one per action): a configuration cannot be
/// deleted, only reset; a flag is disabled everywhere before it is deleted.
pub fn delete_notes(actions: &[Action]) -> Vec<String> {
    let deletes = |kind: Kind| {
        actions
            .iter()
            .filter(|a| a.operation == Operation::Delete && a.key.kind == kind)
            .count()
    };
    let mut notes = Vec::new();
    match deletes(Kind::FlagConfiguration) {
        0 => {}
        n => notes.push(format!(
            "{n} flag configuration delete(s): CloudBees Unify keeps one configuration per flag and environment, so apply resets each to what a new flag gets (disabled, no conditions, the value written in code)"
        )),
    }
    match deletes(Kind::Flag) {
        0 => {}
        n => notes.push(format!(
            "{n} flag delete(s): apply first disables each flag in every environment it is enabled in, those flagsync.yaml does not name included (CloudBees Unify refuses to delete an enabled flag), then deletes it with all its configurations"
        )),
    }
    notes
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagsync_live::{LiveFlagConfiguration, LiveUnifyObject};
    use std::collections::BTreeMap;

    fn account() -> LiveUnify {
        LiveUnify {
            organization_id: "org".into(),
            application_id: "app".into(),
            environments: BTreeMap::from([("Production".into(), "env-1".into())]),
            properties: vec![LiveUnifyObject::new(
                json!({"id": "p-1", "name": "plan", "type": "String", "description": ""}),
            )],
            target_groups: vec![
                LiveUnifyObject::new(json!({
                    "id": "g-1", "name": "Beta", "description": "",
                    "conditions": {"property": {"name": "plan", "operator": "eq", "operands": ["beta"]}},
                })),
                LiveUnifyObject::new(json!({
                    "id": "g-2", "name": "Early", "cascUrl": "",
                    "conditions": {"anyOf": [{"group": {"id": "g-1"}}, {"group": {"id": "gone"}}]},
                })),
            ],
            flags: vec![
                LiveUnifyObject::new(
                    json!({"id": "f-1", "name": "a", "flagType": "Boolean", "variants": ["false", "true"]}),
                ),
                LiveUnifyObject::new(
                    json!({"id": "f-2", "name": "b", "flagType": "String", "variants": ["x"]}),
                ),
            ],
            configurations: BTreeMap::from([(
                "Production".into(),
                vec![
                    LiveFlagConfiguration::new(json!({
                        "flagId": "f-2", "flagName": "b",
                        "configuration": {
                            "enabled": true, "defaultValue": "x", "seed": "s", "variantsEnabled": false,
                            "stickinessProperty": "rox.distinct_id",
                            "conditions": [
                                {"allOf": [{"group": {"id": "g-2"}}, {"flag": {"id": "f-1", "value": true}}], "flagValue": "y"},
                                {"not": {"group": {"id": "g-1"}}, "flagValue": "z"},
                            ],
                        },
                    })),
                    LiveFlagConfiguration::new(json!({
                        "flagId": "f-1", "flagName": "a",
                        "configuration": {"enabled": false, "defaultValue": {"valueWrittenInCode": true}, "conditions": [], "seed": "t"},
                    })),
                ],
            )]),
        }
    }

    fn find<'a>(all: &'a [LiveResource], key: &str) -> &'a LiveResource {
        all.iter()
            .find(|r| r.key.to_string() == key)
            .unwrap_or_else(|| panic!("{key} is not among the live resources"))
    }

    #[test]
    fn ids_become_names_and_unknown_ids_stay() {
        let all = live_resources(&account());
        assert_eq!(all.len(), 7);
        let early = find(&all, "unify-target-group/Early");
        assert_eq!(
            early.body["conditions"],
            json!({"anyOf": [{"group": {"name": "Beta"}}, {"group": {"id": "gone"}}]})
        );
        assert_eq!(
            early.references,
            vec![ResourceKey::unify_target_group("Beta")]
        );
        let b = find(&all, "flag-configuration/Production/b");
        assert_eq!(
            b.body["conditions"],
            json!([
                {"allOf": [{"group": {"name": "Early"}}, {"flag": {"name": "a", "value": true}}], "flagValue": "y"},
                {"not": {"group": {"name": "Beta"}}, "flagValue": "z"},
            ])
        );
        assert!(b.body.get("seed").is_none(), "the seed is the service's");
        assert_eq!(
            b.references,
            vec![
                ResourceKey::unify_target_group("Beta"),
                ResourceKey::unify_target_group("Early"),
                ResourceKey::flag("a"),
                ResourceKey::flag("b"),
            ]
        );
        let beta = find(&all, "unify-target-group/Beta");
        assert_eq!(beta.references, vec![ResourceKey::custom_property("plan")]);
        assert_eq!(
            find(&all, "flag-configuration/Production/a").body,
            fresh_configuration()
        );
    }

    #[test]
    fn types_cannot_change() {
        let key = ResourceKey::flag("f");
        let boolean = json!({"flagType": "Boolean"});
        let string = json!({"flagType": "String"});
        let why = immutable_change(&key, &boolean, &string).unwrap();
        assert!(
            why.contains("is Boolean in CloudBees Unify and String"),
            "{why}"
        );
        assert_eq!(immutable_change(&key, &boolean, &boolean), None);
        let property = ResourceKey::custom_property("p");
        assert!(
            immutable_change(
                &property,
                &json!({"type": "String"}),
                &json!({"type": "Number"})
            )
            .is_some()
        );
        let group = ResourceKey::unify_target_group("g");
        assert_eq!(immutable_change(&group, &boolean, &string), None);
    }
}
