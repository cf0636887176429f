//! CloudBees Feature Management public API: experiments per application and environment,
//! target groups per application.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

use crate::Shared;
use crate::assumptions::{has_release_rule, normalize_experiment, normalize_patch_pointer};
use crate::error::{ApiError, JsonBody, Names, Service};

const S: Service = Service::CloudBees;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/public-api/applications/{app}/target-groups",
            get(list_target_groups).put(put_target_group),
        )
        .route(
            "/public-api/applications/{app}/target-groups/{name}",
            get(get_target_group)
                .patch(patch_target_group)
                .delete(delete_target_group),
        )
        .route(
            "/public-api/applications/{app}/{env}/experiments",
            get(list_experiments).put(put_experiment),
        )
        .route(
            "/public-api/applications/{app}/{env}/experiments/{flag}",
            get(get_experiment)
                .patch(patch_experiment)
                .delete(delete_experiment),
        )
}

async fn list_experiments(
    State(app): State<Shared>,
    Names((app_id, env)): Names<(String, String)>,
) -> Json<Value> {
    let list = app.store.read(|data| {
        data.cloudbees
            .get(&app_id)
            .and_then(|a| a.environments.get(&env))
            .map(|experiments| {
                experiments
                    .values()
                    .filter(|e| has_release_rule(e))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    });
    Json(Value::Array(list))
}

/// The body as an object with a `type` of `expected_type` (required for experiments, checked
/// when present for target groups) and a non-empty string `identity_key`.
fn validated_object(
    body: Value,
    expected_type: &str,
    type_required: bool,
    identity_key: &str,
) -> Result<(Map<String, Value>, String), ApiError> {
    let Value::Object(object) = body else {
        return Err(ApiError::bad_request(S, "the body must be a JSON object"));
    };
    match object.get("type") {
        Some(Value::String(t)) if t == expected_type => {}
        None if !type_required => {}
        None => {
            return Err(ApiError::bad_request(
                S,
                format!("\"type\" is required and must be \"{expected_type}\""),
            ));
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                S,
                format!("\"type\" must be \"{expected_type}\", got {other}"),
            ));
        }
    }
    let identity = match object.get(identity_key) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ApiError::bad_request(
                S,
                format!("\"{identity_key}\" is required and must be a non-empty string"),
            ));
        }
    };
    Ok((object, identity))
}

async fn put_experiment(
    State(app): State<Shared>,
    Names((app_id, env)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (object, flag) = validated_object(body, "experiment", true, "flag")?;
    let stored = normalize_experiment(object, &flag);
    let answer = stored.clone();
    app.store
        .write(S, move |data| {
            data.cloudbees
                .entry(app_id)
                .or_default()
                .environments
                .entry(env)
                .or_default()
                .insert(flag, stored);
            Ok(())
        })
        .await?;
    Ok(Json(answer))
}

fn experiment_not_found(app_id: &str, env: &str, flag: &str) -> ApiError {
    ApiError::not_found(
        S,
        format!(
            "experiment for flag {flag:?} not found in environment {env:?} of application {app_id:?}"
        ),
    )
}

async fn get_experiment(
    State(app): State<Shared>,
    Names((app_id, env, flag)): Names<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| {
            data.cloudbees
                .get(&app_id)
                .and_then(|a| a.environments.get(&env))
                .and_then(|e| e.get(&flag))
                .cloned()
        })
        .map(Json)
        .ok_or_else(|| experiment_not_found(&app_id, &env, &flag))
}

async fn patch_experiment(
    State(app): State<Shared>,
    Names((app_id, env, flag)): Names<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let patch = parse_patch(body)?;
    let updated = app
        .store
        .write(S, |data| {
            let slot = data
                .cloudbees
                .get_mut(&app_id)
                .and_then(|a| a.environments.get_mut(&env))
                .and_then(|e| e.get_mut(&flag))
                .ok_or_else(|| experiment_not_found(&app_id, &env, &flag))?;
            let patched = apply_patch(slot, &patch)?;
            let Value::Object(object) = patched else {
                return Err(ApiError::bad_request(
                    S,
                    "the patched experiment must stay an object",
                ));
            };
            if object.get("flag").and_then(Value::as_str) != Some(flag.as_str()) {
                return Err(ApiError::bad_request(
                    S,
                    "\"flag\" identifies the experiment and cannot be patched",
                ));
            }
            let patched = normalize_experiment(object, &flag);
            *slot = patched.clone();
            Ok(patched)
        })
        .await?;
    Ok(Json(updated))
}

async fn delete_experiment(
    State(app): State<Shared>,
    Names((app_id, env, flag)): Names<(String, String, String)>,
) -> Result<Response, ApiError> {
    app.store
        .write(S, |data| {
            data.cloudbees
                .get_mut(&app_id)
                .and_then(|a| a.environments.get_mut(&env))
                .and_then(|e| e.remove(&flag))
                .map(|_| ())
                .ok_or_else(|| experiment_not_found(&app_id, &env, &flag))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_target_groups(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Json<Value> {
    let list = app.store.read(|data| {
        data.cloudbees
            .get(&app_id)
            .map(|a| a.target_groups.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    });
    Json(Value::Array(list))
}

async fn put_target_group(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (object, name) = validated_object(body, "target-group", false, "name")?;
    let stored = Value::Object(object);
    let answer = stored.clone();
    app.store
        .write(S, move |data| {
            data.cloudbees
                .entry(app_id)
                .or_default()
                .target_groups
                .insert(name, stored);
            Ok(())
        })
        .await?;
    Ok(Json(answer))
}

fn target_group_not_found(app_id: &str, name: &str) -> ApiError {
    ApiError::not_found(
        S,
        format!("target group {name:?} not found in application {app_id:?}"),
    )
}

async fn get_target_group(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| {
            data.cloudbees
                .get(&app_id)
                .and_then(|a| a.target_groups.get(&name))
                .cloned()
        })
        .map(Json)
        .ok_or_else(|| target_group_not_found(&app_id, &name))
}

async fn patch_target_group(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let patch = parse_patch(body)?;
    let updated = app
        .store
        .write(S, |data| {
            let slot = data
                .cloudbees
                .get_mut(&app_id)
                .and_then(|a| a.target_groups.get_mut(&name))
                .ok_or_else(|| target_group_not_found(&app_id, &name))?;
            let patched = apply_patch(slot, &patch)?;
            if !patched.is_object() {
                return Err(ApiError::bad_request(
                    S,
                    "the patched target group must stay an object",
                ));
            }
            if patched.get("name").and_then(Value::as_str) != Some(name.as_str()) {
                return Err(ApiError::bad_request(
                    S,
                    "\"name\" identifies the target group and cannot be patched",
                ));
            }
            *slot = patched.clone();
            Ok(patched)
        })
        .await?;
    Ok(Json(updated))
}

async fn delete_target_group(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
) -> Result<Response, ApiError> {
    app.store
        .write(S, |data| {
            data.cloudbees
                .get_mut(&app_id)
                .and_then(|a| a.target_groups.remove(&name))
                .map(|_| ())
                .ok_or_else(|| target_group_not_found(&app_id, &name))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// An RFC 6902 patch from the body, with the vendor's slash-less pointers accepted.
fn parse_patch(body: Value) -> Result<json_patch::Patch, ApiError> {
    let Value::Array(mut ops) = body else {
        return Err(ApiError::bad_request(
            S,
            "a JSON Patch must be an array of operations",
        ));
    };
    for op in &mut ops {
        let Some(op) = op.as_object_mut() else {
            return Err(ApiError::bad_request(
                S,
                "every patch operation must be an object",
            ));
        };
        for key in ["path", "from"] {
            // `from` only means something for move and copy; elsewhere it is ignored, as in
            // the vendor's example of an `add` carrying one.
            if key == "from"
                && !matches!(op.get("op").and_then(Value::as_str), Some("move" | "copy"))
            {
                continue;
            }
            if let Some(Value::String(pointer)) = op.get(key) {
                let normalized = normalize_patch_pointer(pointer);
                op.insert(key.to_owned(), Value::String(normalized));
            }
        }
    }
    serde_json::from_value(Value::Array(ops))
        .map_err(|e| ApiError::bad_request(S, format!("malformed JSON Patch: {e}")))
}

/// Applies the whole patch to a copy, or nothing: a failed `test` is 409, anything else 400.
fn apply_patch(current: &Value, patch: &json_patch::Patch) -> Result<Value, ApiError> {
    let mut copy = current.clone();
    match json_patch::patch(&mut copy, patch) {
        // Each patch could nest deeper than the last: the stored object keeps the limit.
        Ok(()) => {
            crate::error::check_depth(&copy, S, "the patched object")?;
            Ok(copy)
        }
        // A `test` that fails for any reason (also a missing path: the value the client saw
        // is gone) is the concurrency guard tripping: 409.
        Err(e)
            if matches!(e.kind, json_patch::PatchErrorKind::TestFailed)
                || matches!(
                    patch.0.get(e.operation),
                    Some(json_patch::PatchOperation::Test(_))
                ) =>
        {
            Err(ApiError::new(
                S,
                StatusCode::CONFLICT,
                format!("JSON Patch test failed: {e}"),
            ))
        }
        Err(e) => Err(ApiError::bad_request(
            S,
            format!("JSON Patch cannot be applied: {e}"),
        )),
    }
}
