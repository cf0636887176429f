//! CloudBees Unify actions. The plan's bodies are canonical (references by name); what is
//! sent is the API's form, every reference by id, the ids resolved by the client.
//!
//! - custom properties, target groups, flags: `POST` to create, `PUT` of the whole object
//!   to update, `DELETE`. A create is not idempotent: when its outcome is unknown the name
//!   is looked up before anything is created again (and what is found is brought to the
//!   desired body), so a create happens at most once;
//! - deleting a flag disables it in every environment first (the service refuses to
//!   delete an enabled flag), then deletes it, which deletes its configurations;
//! - a configuration: `PUT` of the whole configuration with the `seed` and
//!   `variantsEnabled` it has (so that splits do not re-bucket anyone); a change of
//!   `enabled` alone is the `configstate` call, which touches nothing else. `conditions`
//!   is sent when the repository gives some or the live configuration has some to remove:
//!   an empty list is never sent for its own sake. The service keeps one configuration per
//!   flag and environment, so "deleting" one writes back what a new flag gets: disabled,
//!   no conditions, the value written in code.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use flagsync_plan::{Action, Kind, Operation, PatchOp};
use flagsync_remote::{RemoteError, UnifyClient, UnifyObject};

use crate::ApplyOptions;
use crate::execute::{ActionResult, Done, Fail};

pub(crate) async fn run(
    action: &Action,
    client: &UnifyClient,
    options: &ApplyOptions,
) -> ActionResult {
    if let Some(unsupported) = &action.unsupported {
        return Err(Fail::skipped(format!(
            "not possible through the API: {unsupported}"
        )));
    }
    let object = match action.key.kind {
        Kind::CustomProperty => UnifyObject::Property,
        Kind::UnifyTargetGroup => UnifyObject::TargetGroup,
        Kind::Flag => UnifyObject::Flag,
        Kind::FlagConfiguration => return configuration(action, client).await,
        Kind::TargetGroup | Kind::Experiment | Kind::Rollout => {
            return Err(Fail::new("not a CloudBees Unify resource"));
        }
    };
    let name = action.key.name.as_str();
    match action.operation {
        Operation::Create => {
            let body = api_body(object, desired(action)?, client).await?;
            create(client, object, name, &body, options).await
        }
        Operation::Update => {
            let body = api_body(object, desired(action)?, client).await?;
            let id = existing(client, object, name).await?;
            client
                .update(object, &id, &body)
                .await
                .map_err(|e| failure(e, object, name))?;
            Ok(Done::default())
        }
        Operation::Delete => delete(client, object, name).await,
        Operation::Adopt => Err(Fail::new(
            "only rollouts are adopted; the plan adopts a CloudBees Unify resource",
        )),
    }
}

fn desired(action: &Action) -> Result<&Value, Fail> {
    match &action.desired {
        Some(body @ Value::Object(_)) => Ok(body),
        _ => Err(Fail::new(
            "the plan carries no desired body (a JSON object) to send",
        )),
    }
}

/// The id of an object the plan expects to exist.
async fn existing(client: &UnifyClient, object: UnifyObject, name: &str) -> Result<String, Fail> {
    match client.id_of(object, name).await {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(Fail::conflict(format!(
            "{} {name:?} was deleted since the plan was made; nothing was written. Plan again.",
            object.describe()
        ))),
        Err(e) => Err(Fail::new(e.to_string())),
    }
}

fn failure(error: RemoteError, object: UnifyObject, name: &str) -> Fail {
    match error {
        RemoteError::NotFound { .. } => Fail::conflict(format!(
            "{} {name:?} was deleted since the plan was made; nothing was written. Plan again.",
            object.describe()
        )),
        other => Fail::new(other.to_string()),
    }
}

/// Creates the object at most once. When a create's outcome is unknown (the request may
/// have been carried out), the name is looked up: found, it is the one created, brought to
/// `body` (a `PUT` is safe to repeat); not found, the create is sent again, up to
/// `max_create_attempts` times. A name taken on the first attempt is someone else's.
async fn create(
    client: &UnifyClient,
    object: UnifyObject,
    name: &str,
    body: &Value,
    options: &ApplyOptions,
) -> ActionResult {
    let what = object.describe();
    let mut unknown = 0u32;
    loop {
        let error = match client.create(object, body).await {
            Ok(_) => return Ok(Done::default()),
            Err(e) => e,
        };
        let retried_own = unknown > 0 && error.status() == Some(409);
        if !error.is_ambiguous() && !retried_own {
            return Err(match error.status() {
                Some(409) => Fail::conflict(format!(
                    "{what} {name:?} was created by someone else since the plan was made ({error}); nothing was written. Plan again."
                )),
                _ => Fail::new(error.to_string()),
            });
        }
        unknown += 1;
        let found = client.by_name(object, name).await.map_err(|lookup| {
            Fail::new(format!(
                "{error}; looking the {what} up by name failed too ({lookup}); nothing else was sent. Apply again: it looks the name up before creating"
            ))
        })?;
        match found.and_then(|f| f.id) {
            Some(id) => {
                client
                    .update(object, &id, body)
                    .await
                    .map_err(|e| failure(e, object, name))?;
                return Ok(Done {
                    remote_id: None,
                    warnings: vec![format!(
                        "the answer to creating {what} {name:?} was lost ({error}); it was found by name and brought to the desired body"
                    )],
                });
            }
            None if unknown < options.max_create_attempts.max(1) => {
                tracing::warn!(%error, "a create's outcome was unknown and nothing was found by name: creating again");
            }
            None => {
                return Err(Fail::new(format!(
                    "{error}; the {what} was looked up by name after each of {unknown} attempt(s) with an unknown outcome and was not there"
                )));
            }
        }
    }
}

async fn delete(client: &UnifyClient, object: UnifyObject, name: &str) -> ActionResult {
    let id = match client.id_of(object, name).await {
        Ok(Some(id)) => id,
        // Already gone: what was asked.
        Ok(None) => return Ok(Done::default()),
        Err(e) => return Err(Fail::new(e.to_string())),
    };
    if object == UnifyObject::Flag {
        // The service refuses to delete a flag that is enabled anywhere, also in
        // environments the repository does not manage.
        let states = client
            .configuration_states(&id)
            .await
            .map_err(|e| Fail::new(e.to_string()))?;
        for (env, _) in states.iter().filter(|(_, enabled)| *enabled) {
            client
                .set_enabled(&id, env, false)
                .await
                .map_err(|e| Fail::new(format!("disabling it before deleting it: {e}")))?;
        }
    }
    client
        .delete(object, &id)
        .await
        .map_err(|e| Fail::new(e.to_string()))?;
    Ok(Done::default())
}

/// The body the API takes for a property, target group or flag, from its canonical body.
async fn api_body(
    object: UnifyObject,
    desired: &Value,
    client: &UnifyClient,
) -> Result<Value, Fail> {
    let fields: &[&str] = match object {
        UnifyObject::Property => &["name", "type", "description"],
        UnifyObject::TargetGroup => &["name", "description", "conditions"],
        UnifyObject::Flag => &[
            "name",
            "flagType",
            "description",
            "labels",
            "isPermanent",
            "variants",
        ],
    };
    let mut body = Map::new();
    for field in fields {
        let Some(value) = desired.get(*field) else {
            continue;
        };
        // No variants: the service's own (a Boolean flag's `["false", "true"]`).
        if *field == "variants" && value.as_array().is_some_and(Vec::is_empty) {
            continue;
        }
        body.insert((*field).to_owned(), value.clone());
    }
    if let Some(conditions) = body.get("conditions").cloned() {
        body.insert("conditions".into(), by_id(&conditions, client).await?);
    }
    Ok(Value::Object(body))
}

/// Conditions (or one matcher) with every reference by name replaced by its id, the API's
/// form: `{"group": {"name"}}` becomes `{"group": {"id"}}`, `{"flag": {"name", "value"}}`
/// `{"flag": {"id", "value"}}`. What is referred to exists by now (the plan runs it first).
async fn by_id(conditions: &Value, client: &UnifyClient) -> Result<Value, Fail> {
    let mut names: BTreeSet<(UnifyObject, String)> = BTreeSet::new();
    referenced(conditions, &mut names);
    let mut ids: BTreeMap<(UnifyObject, String), String> = BTreeMap::new();
    for (object, name) in names {
        match client.id_of(object, &name).await {
            Ok(Some(id)) => {
                ids.insert((object, name), id);
            }
            Ok(None) => {
                return Err(Fail::new(format!(
                    "{} {name:?}, which the conditions refer to, does not exist in CloudBees Unify",
                    object.describe()
                )));
            }
            Err(e) => return Err(Fail::new(e.to_string())),
        }
    }
    Ok(replace(conditions, &ids))
}

fn reference_kind(key: &str) -> Option<UnifyObject> {
    match key {
        "group" => Some(UnifyObject::TargetGroup),
        "flag" => Some(UnifyObject::Flag),
        _ => None,
    }
}

fn referenced(value: &Value, out: &mut BTreeSet<(UnifyObject, String)>) {
    match value {
        Value::Array(items) => items.iter().for_each(|i| referenced(i, out)),
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), reference_kind(key)) {
                    ("allOf" | "anyOf" | "not", _) => referenced(item, out),
                    (_, Some(object)) => {
                        if let Some(name) = item.get("name").and_then(Value::as_str) {
                            out.insert((object, name.to_owned()));
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn replace(value: &Value, ids: &BTreeMap<(UnifyObject, String), String>) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| replace(i, ids)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let replaced = match (key.as_str(), reference_kind(key)) {
                    ("allOf" | "anyOf" | "not", _) => replace(item, ids),
                    (_, Some(object)) => match item {
                        Value::Object(reference) => {
                            let id = reference
                                .get("name")
                                .and_then(Value::as_str)
                                .and_then(|name| ids.get(&(object, name.to_owned())));
                            let mut with_id: Map<String, Value> = reference
                                .iter()
                                .filter(|(k, _)| id.is_none() || k.as_str() != "name")
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect();
                            if let Some(id) = id {
                                with_id.insert("id".into(), json!(id));
                            }
                            Value::Object(with_id)
                        }
                        other => other.clone(),
                    },
                    _ => item.clone(),
                };
                out.insert(key.clone(), replaced);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// A flag's configuration in one environment.
async fn configuration(action: &Action, client: &UnifyClient) -> ActionResult {
    let Some(env) = action.key.env.as_deref() else {
        return Err(Fail::new(
            "the plan names no environment for this configuration",
        ));
    };
    let flag = action.key.name.as_str();
    let env_id = client
        .environment_id(env)
        .await
        .map_err(|e| Fail::new(e.to_string()))?;
    let flag_id = match client.id_of(UnifyObject::Flag, flag).await {
        Ok(Some(id)) => id,
        Ok(None) if action.operation == Operation::Delete => return Ok(Done::default()),
        Ok(None) => {
            return Err(Fail::conflict(format!(
                "flag {flag:?} does not exist, so it has no configuration in environment {env:?}; nothing was written. Plan again."
            )));
        }
        Err(e) => return Err(Fail::new(e.to_string())),
    };
    let live_conditions = action
        .live
        .as_ref()
        .and_then(|l| l.get("conditions"))
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    let desired = match action.operation {
        Operation::Delete => flagsync_plan::unify::fresh_configuration(),
        Operation::Create | Operation::Update => desired(action)?.clone(),
        Operation::Adopt => {
            return Err(Fail::new(
                "only rollouts are adopted; the plan adopts a CloudBees Unify configuration",
            ));
        }
    };
    if action.operation == Operation::Update && only_enabled(&action.patch) {
        let enabled = desired
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        client
            .set_enabled(&flag_id, &env_id, enabled)
            .await
            .map_err(|e| Fail::new(e.to_string()))?;
        return Ok(Done::default());
    }
    let mut body = Map::new();
    for field in ["enabled", "defaultValue", "stickinessProperty"] {
        if let Some(value) = desired.get(field) {
            body.insert(field.to_owned(), value.clone());
        }
    }
    let conditions = desired.get("conditions").cloned().unwrap_or(json!([]));
    if conditions.as_array().is_some_and(|c| !c.is_empty()) || live_conditions {
        body.insert("conditions".into(), by_id(&conditions, client).await?);
    }
    if let Some(kept) = client.kept_fields(&env_id, &flag_id) {
        if let Some(seed) = kept.seed {
            body.insert("seed".into(), json!(seed));
        }
        if let Some(variants_enabled) = kept.variants_enabled {
            body.insert("variantsEnabled".into(), json!(variants_enabled));
        }
    }
    client
        .put_configuration(&flag_id, &env_id, &Value::Object(body))
        .await
        .map_err(|e| match e {
            RemoteError::NotFound { .. } => Fail::conflict(format!(
                "flag {flag:?} or environment {env:?} is gone since the plan was made; nothing was written. Plan again."
            )),
            other => Fail::new(other.to_string()),
        })?;
    Ok(Done::default())
}

/// Whether the patch changes `enabled` and nothing else.
fn only_enabled(patch: &[PatchOp]) -> bool {
    let changes: Vec<&PatchOp> = patch
        .iter()
        .filter(|op| !matches!(op, PatchOp::Test { .. }))
        .collect();
    !changes.is_empty() && changes.iter().all(|op| op.path() == "/enabled")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_by_name_become_ids() {
        let conditions = json!([
            {"allOf": [{"group": {"name": "Beta"}}, {"flag": {"name": "other", "value": true}}], "flagValue": true},
            {"not": {"anyOf": [{"group": {"name": "QA"}}]}, "flagValue": {"valueWrittenInCode": true}},
            {"property": {"name": "plan", "operator": "eq", "operands": ["group"]}, "flagValue": false},
        ]);
        let mut names = BTreeSet::new();
        referenced(&conditions, &mut names);
        assert_eq!(
            names,
            BTreeSet::from([
                (UnifyObject::TargetGroup, "Beta".to_owned()),
                (UnifyObject::TargetGroup, "QA".to_owned()),
                (UnifyObject::Flag, "other".to_owned()),
            ])
        );
        let ids = BTreeMap::from([
            (
                (UnifyObject::TargetGroup, "Beta".to_owned()),
                "g-1".to_owned(),
            ),
            (
                (UnifyObject::TargetGroup, "QA".to_owned()),
                "g-2".to_owned(),
            ),
            ((UnifyObject::Flag, "other".to_owned()), "f-1".to_owned()),
        ]);
        assert_eq!(
            replace(&conditions, &ids),
            json!([
                {"allOf": [{"group": {"id": "g-1"}}, {"flag": {"value": true, "id": "f-1"}}], "flagValue": true},
                {"not": {"anyOf": [{"group": {"id": "g-2"}}]}, "flagValue": {"valueWrittenInCode": true}},
                {"property": {"name": "plan", "operator": "eq", "operands": ["group"]}, "flagValue": false},
            ])
        );
    }

    #[test]
    fn a_change_of_enabled_alone_is_a_toggle() {
        let test = |path: &str| PatchOp::Test {
            path: path.into(),
            value: json!(false),
        };
        let replace = |path: &str| PatchOp::Replace {
            path: path.into(),
            value: json!(true),
        };
        assert!(only_enabled(&[test("/enabled"), replace("/enabled")]));
        assert!(!only_enabled(&[
            replace("/enabled"),
            replace("/defaultValue")
        ]));
        assert!(!only_enabled(&[test("/enabled")]));
        assert!(!only_enabled(&[]));
    }
}
