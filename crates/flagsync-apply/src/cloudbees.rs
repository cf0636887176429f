//! CloudBees actions: target groups and experiments (PUT to create, guarded JSON Patch to
//! update, DELETE to delete).

use serde_json::{Map, Value};

use flagsync_plan::{Action, Kind, Operation, PatchOp};
use flagsync_remote::{CloudBeesClient, RemoteError};

use crate::execute::{ActionResult, Done, Fail};

/// Which CloudBees object an action addresses.
enum Target<'a> {
    Group { name: &'a str },
    Experiment { env: &'a str, flag: &'a str },
}

impl Target<'_> {
    /// The `type` the PUT body carries, and the body field that names the object.
    fn type_and_identity(&self) -> (&'static str, &'static str) {
        match self {
            Target::Group { .. } => ("target-group", "name"),
            Target::Experiment { .. } => ("experiment", "flag"),
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::Group { name } => name,
            Target::Experiment { flag, .. } => flag,
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::Group { name } => format!("target group {name:?}"),
            Target::Experiment { env, flag } => {
                format!("experiment {flag:?} in environment {env:?}")
            }
        }
    }

    async fn put(&self, client: &CloudBeesClient, body: &Value) -> Result<(), RemoteError> {
        match self {
            Target::Group { .. } => client.put_target_group(body).await,
            Target::Experiment { env, .. } => client.put_experiment(env, body).await,
        }
    }

    async fn patch(&self, client: &CloudBeesClient, ops: &[PatchOp]) -> Result<(), RemoteError> {
        match self {
            Target::Group { name } => client.patch_target_group(name, ops).await,
            Target::Experiment { env, flag } => client.patch_experiment(env, flag, ops).await,
        }
    }

    /// The object's body as the service stores it; `None` when it is gone.
    async fn get(&self, client: &CloudBeesClient) -> Result<Option<Value>, RemoteError> {
        Ok(match self {
            Target::Group { name } => client.get_target_group(name).await?.map(|g| g.body),
            Target::Experiment { env, flag } => {
                client.get_experiment(env, flag).await?.map(|e| e.body)
            }
        })
    }

    async fn delete(&self, client: &CloudBeesClient) -> Result<bool, RemoteError> {
        match self {
            Target::Group { name } => client.delete_target_group(name).await,
            Target::Experiment { env, flag } => client.delete_experiment(env, flag).await,
        }
    }
}

pub(crate) async fn run(action: &Action, client: &CloudBeesClient) -> ActionResult {
    let key = &action.key;
    let target = match (key.kind, key.env.as_deref()) {
        (Kind::TargetGroup, _) => Target::Group { name: &key.name },
        (Kind::Experiment, Some(env)) => Target::Experiment {
            env,
            flag: &key.name,
        },
        (Kind::Experiment, None) => {
            return Err(Fail::new(
                "the plan names no environment for this experiment",
            ));
        }
        (Kind::Rollout, _) => {
            return Err(Fail::new("a rollout is not a CloudBees resource"));
        }
        (
            Kind::CustomProperty | Kind::UnifyTargetGroup | Kind::Flag | Kind::FlagConfiguration,
            _,
        ) => {
            return Err(Fail::new(
                "a CloudBees Unify resource is not one of the legacy API's",
            ));
        }
    };
    match action.operation {
        Operation::Create => {
            let body = put_body(action.desired.as_ref(), &target)?;
            target
                .put(client, &body)
                .await
                .map_err(|e| Fail::new(e.to_string()))?;
            Ok(Done::default())
        }
        Operation::Update => update(action, &target, client).await,
        Operation::Adopt => Err(Fail::new(
            "only rollouts are adopted; the plan adopts a CloudBees resource",
        )),
        Operation::Delete => {
            let deleted_now = target
                .delete(client)
                .await
                .map_err(|e| Fail::new(e.to_string()))?;
            if !deleted_now {
                // 404: already gone, which is what was asked (also after a retried DELETE).
                tracing::debug!(action = %action.id, "already absent");
            }
            Ok(Done::default())
        }
    }
}

/// The desired body as the PUT needs it: with `type`, and naming the object of the key.
fn put_body(desired: Option<&Value>, target: &Target<'_>) -> Result<Value, Fail> {
    let (type_name, identity) = target.type_and_identity();
    let Some(Value::Object(desired)) = desired else {
        return Err(Fail::new(
            "the plan carries no desired body (a JSON object) to create",
        ));
    };
    let mut body: Map<String, Value> = desired.clone();
    match body.get(identity) {
        None => {
            body.insert(identity.to_owned(), Value::String(target.name().to_owned()));
        }
        Some(Value::String(s)) if s == target.name() => {}
        Some(other) => {
            // Sending it would create or override another object than the plan says.
            return Err(Fail::new(format!(
                "the desired body's `{identity}` is {other}, but the action is for {}",
                target.describe()
            )));
        }
    }
    if !body.contains_key("type") {
        body.insert("type".to_owned(), Value::String(type_name.to_owned()));
    }
    Ok(Value::Object(body))
}

async fn update(action: &Action, target: &Target<'_>, client: &CloudBeesClient) -> ActionResult {
    if action.patch.is_empty() {
        return Ok(Done::default());
    }
    match target.patch(client, &action.patch).await {
        Ok(()) => Ok(Done::default()),
        Err(RemoteError::Conflict { message, .. }) => {
            resolve_conflict(action, target, client, &message).await
        }
        Err(RemoteError::NotFound { .. }) => Err(Fail::conflict(format!(
            "{} was deleted since the plan was made; nothing was written. Plan again.",
            target.describe()
        ))),
        Err(e) => Err(Fail::new(e.to_string())),
    }
}

/// A guard (`test`) failed. Either someone changed the object since the plan (report which
/// guarded values differ, write nothing), or the change is already in place (a PATCH whose
/// first attempt was applied but unanswered, retried by the client: its `test`s then fail
/// against our own write). Only a read decides; nothing is sent again.
async fn resolve_conflict(
    action: &Action,
    target: &Target<'_>,
    client: &CloudBeesClient,
    server_message: &str,
) -> ActionResult {
    let current = match target.get(client).await {
        Ok(Some(current)) => current,
        Ok(None) => {
            return Err(Fail::conflict(format!(
                "{} was deleted since the plan was made; nothing was written. Plan again.",
                target.describe()
            )));
        }
        Err(e) => {
            return Err(Fail::conflict(format!(
                "{} changed since the plan was made ({server_message}); nothing was written. \
                 Re-reading it to tell more failed: {e}. Plan again.",
                target.describe()
            )));
        }
    };
    let in_place = patch_is_noop(&current, &action.patch)
        || action
            .desired
            .as_ref()
            .is_some_and(|desired| already_applied(&current, desired, &action.patch));
    if in_place {
        tracing::debug!(action = %action.id, "the patched values are already in place");
        return Ok(Done::default());
    }
    let changed = changed_guards(&current, &action.patch);
    let details = if changed.is_empty() {
        // The guarded values match again now (changed and changed back, or a race).
        format!("the server refused the patch ({server_message})")
    } else {
        changed.join("; ")
    };
    Err(Fail::conflict(format!(
        "{} changed since the plan was made: {details}; nothing was written. Plan again to \
         see the change.",
        target.describe()
    )))
}

/// Whether every top-level field the patch touches already has its desired value in
/// `current`. Compares the service's raw object with the canonical desired body: any
/// difference in form makes this false, which reports a conflict rather than a false
/// success.
fn already_applied(current: &Value, desired: &Value, patch: &[PatchOp]) -> bool {
    let mut checked_any = false;
    for op in patch {
        let path = op.path();
        if path.is_empty() {
            return current == desired;
        }
        let Some(token) = path
            .strip_prefix('/')
            .map(|p| p.split('/').next().unwrap_or(p))
        else {
            return false;
        };
        let field = token.replace("~1", "/").replace("~0", "~");
        if current.get(&field) != desired.get(&field) {
            return false;
        }
        checked_any = true;
    }
    checked_any
}

/// Whether applying the patch's changes to `current` would change nothing: every `replace`
/// and object-member `add` finds its value already there, every object-member `remove` finds
/// the member gone. Inserting into or removing from an array is not repeatable (it shifts
/// the elements), so it never counts as in place.
fn patch_is_noop(current: &Value, patch: &[PatchOp]) -> bool {
    let parent_is_object = |path: &str| {
        path.rsplit_once('/')
            .and_then(|(parent, _)| current.pointer(parent))
            .is_some_and(Value::is_object)
    };
    let mut changes = 0usize;
    for op in patch {
        let in_place = match op {
            PatchOp::Test { .. } => continue,
            // Earlier operations were all no-ops, so positions have not shifted.
            PatchOp::Replace { path, value } => current.pointer(path) == Some(value),
            PatchOp::Add { path, value } => {
                parent_is_object(path) && current.pointer(path) == Some(value)
            }
            PatchOp::Remove { path } => parent_is_object(path) && current.pointer(path).is_none(),
        };
        if !in_place {
            return false;
        }
        changes += 1;
    }
    changes > 0
}

/// `"/conditions/0/operand": the plan saw "a", now "c"` for every guard that no longer holds.
fn changed_guards(current: &Value, patch: &[PatchOp]) -> Vec<String> {
    patch
        .iter()
        .filter_map(|op| match op {
            PatchOp::Test { path, value } => {
                let now = current.pointer(path);
                (now != Some(value)).then(|| {
                    format!(
                        "{path}: the plan saw {}, now {}",
                        short(value),
                        now.map_or_else(|| "absent".to_owned(), short)
                    )
                })
            }
            _ => None,
        })
        .collect()
}

/// A JSON value in at most ~80 characters, for messages.
pub(crate) fn short(value: &Value) -> String {
    const MAX: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn test(path: &str, value: Value) -> PatchOp {
        PatchOp::Test {
            path: path.into(),
            value,
        }
    }
    fn replace(path: &str, value: Value) -> PatchOp {
        PatchOp::Replace {
            path: path.into(),
            value,
        }
    }

    #[test]
    fn put_body_adds_type_and_checks_identity() {
        let group = Target::Group { name: "beta" };
        let body = put_body(Some(&json!({"name": "beta", "operator": "and"})), &group).unwrap();
        assert_eq!(
            body,
            json!({"name": "beta", "operator": "and", "type": "target-group"})
        );
        let exp = Target::Experiment {
            env: "Production",
            flag: "f1",
        };
        let body = put_body(Some(&json!({"enabled": true, "type": "experiment"})), &exp).unwrap();
        assert_eq!(
            body,
            json!({"enabled": true, "type": "experiment", "flag": "f1"})
        );
        let err = put_body(Some(&json!({"flag": "f2"})), &exp).unwrap_err();
        assert!(err.reason.contains("\"f2\""), "{}", err.reason);
        assert!(put_body(None, &exp).is_err());
        assert!(put_body(Some(&json!([1])), &exp).is_err());
    }

    #[test]
    fn already_applied_compares_touched_top_level_fields() {
        let patch = vec![
            test("/conditions/0/operand", json!("a")),
            replace("/conditions/0/operand", json!("b")),
        ];
        let desired = json!({"name": "g", "conditions": [{"operand": "b"}]});
        let applied =
            json!({"name": "g", "type": "target-group", "conditions": [{"operand": "b"}]});
        let other = json!({"name": "g", "conditions": [{"operand": "c"}]});
        assert!(already_applied(&applied, &desired, &patch));
        assert!(!already_applied(&other, &desired, &patch));
        assert!(!already_applied(&applied, &desired, &[]));
        // Escaped tokens.
        let patch = vec![PatchOp::Add {
            path: "/a~1b".into(),
            value: json!(1),
        }];
        assert!(already_applied(
            &json!({"a/b": 1}),
            &json!({"a/b": 1}),
            &patch
        ));
    }

    #[test]
    fn a_patch_whose_changes_are_all_there_is_a_noop() {
        let current = json!({"name": "g", "labels": ["x"], "conditions": [{"operand": "b"}]});
        let replace_operand = vec![
            test("/conditions/0/operand", json!("a")),
            replace("/conditions/0/operand", json!("b")),
        ];
        assert!(patch_is_noop(&current, &replace_operand));
        let add_member = vec![PatchOp::Add {
            path: "/labels".into(),
            value: json!(["x"]),
        }];
        assert!(patch_is_noop(&current, &add_member));
        let remove_gone = vec![PatchOp::Remove {
            path: "/description".into(),
        }];
        assert!(patch_is_noop(&current, &remove_gone));
        // Array positions: an insert or a removal is never "already there".
        let insert = vec![PatchOp::Add {
            path: "/labels/0".into(),
            value: json!("x"),
        }];
        assert!(!patch_is_noop(&current, &insert));
        assert!(patch_is_noop(&current, &[replace("/labels/0", json!("x"))]));
        let remove_item = vec![PatchOp::Remove {
            path: "/labels/1".into(),
        }];
        assert!(!patch_is_noop(&current, &remove_item));
        // Not there yet, or only guards.
        assert!(!patch_is_noop(
            &current,
            &[replace("/conditions/0/operand", json!("c"))]
        ));
        assert!(!patch_is_noop(&current, &[test("/name", json!("g"))]));
    }

    #[test]
    fn changed_guards_name_path_and_values() {
        let patch = vec![
            test("/conditions/0/operand", json!("a")),
            replace("/conditions/0/operand", json!("b")),
            test("/enabled", json!(true)),
            test("/gone", json!(1)),
        ];
        let current = json!({"conditions": [{"operand": "c"}], "enabled": true});
        assert_eq!(
            changed_guards(&current, &patch),
            vec![
                r#"/conditions/0/operand: the plan saw "a", now "c""#.to_owned(),
                "/gone: the plan saw 1, now absent".to_owned()
            ]
        );
        assert!(short(&json!("x".repeat(200))).ends_with('…'));
    }
}
