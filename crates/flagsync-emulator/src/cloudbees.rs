//! CloudBees Feature Management public API: experiments per application and environment,
//! target groups per application, and the reads CloudBees' Jenkins plugin uses
//! (applications, an application's environments, every flag of an environment).

use std::collections::BTreeSet;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::assumptions::{
    CLOUDBEES_DEFAULT_APPLICATION_ID, CLOUDBEES_DEFAULT_ENVIRONMENTS, cloudbees_application_name,
    cloudbees_environment_key, has_release_rule, normalize_experiment, normalize_patch_pointer,
};
use crate::error::{ApiError, JsonBody, Names, Service};
use crate::state::{CloudBeesApp, Data};

const S: Service = Service::CloudBees;

/// The API routes; without the read routes the seed documents do not show when
/// `seed_routes_only`.
pub(crate) fn routes(seed_routes_only: bool) -> Router<Shared> {
    let router = Router::new();
    let router = if seed_routes_only {
        router
    } else {
        router
            .route("/public-api/applications", get(list_applications))
            .route(
                "/public-api/applications/{app}/environments",
                get(list_environments),
            )
            .route(
                "/public-api/applications/{app}/{env}/flags",
                get(list_flags),
            )
    };
    router
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

/// The control endpoint that names an application and sets its environments.
pub(crate) fn control_routes() -> Router<Shared> {
    Router::new().route(
        "/_emulator/cloudbees/applications/{app}",
        put(put_application),
    )
}

/// The applications: the default one, and every other that holds something or was named.
async fn list_applications(State(app): State<Shared>) -> Json<Value> {
    let list = app.store.read(|data| {
        let mut ids: Vec<&str> = vec![CLOUDBEES_DEFAULT_APPLICATION_ID];
        ids.extend(
            data.cloudbees
                .keys()
                .map(String::as_str)
                .filter(|id| *id != CLOUDBEES_DEFAULT_APPLICATION_ID),
        );
        ids.into_iter()
            .map(|id| json!({"id": id, "name": application_name(data, id)}))
            .collect::<Vec<_>>()
    });
    Json(Value::Array(list))
}

fn application_name(data: &Data, id: &str) -> String {
    data.cloudbees
        .get(id)
        .and_then(|a| a.name.clone())
        .unwrap_or_else(|| cloudbees_application_name(id))
}

/// An application's environment names: as set, else the defaults; then every environment
/// an experiment was written to.
fn environment_names(app: Option<&CloudBeesApp>) -> Vec<String> {
    let mut names: Vec<String> = match app.and_then(|a| a.environment_names.clone()) {
        Some(names) => names,
        None => CLOUDBEES_DEFAULT_ENVIRONMENTS
            .iter()
            .map(|n| (*n).to_owned())
            .collect(),
    };
    let known: BTreeSet<String> = names.iter().cloned().collect();
    if let Some(app) = app {
        names.extend(
            app.environments
                .keys()
                .filter(|env| !known.contains(*env))
                .cloned(),
        );
    }
    names
}

fn environments_json(app_id: &str, names: &[String]) -> Value {
    Value::Array(
        names
            .iter()
            .map(|name| {
                json!({
                    "name": name,
                    "key": cloudbees_environment_key(app_id, name),
                    "description": "",
                })
            })
            .collect(),
    )
}

async fn list_environments(State(app): State<Shared>, Names(app_id): Names<String>) -> Json<Value> {
    let names = app
        .store
        .read(|data| environment_names(data.cloudbees.get(&app_id)));
    Json(environments_json(&app_id, &names))
}

/// Every flag of the environment, release rule or not, as `GET .../experiments/{flag}`
/// answers each.
async fn list_flags(
    State(app): State<Shared>,
    Names((app_id, env)): Names<(String, String)>,
) -> Json<Value> {
    let list = app.store.read(|data| {
        data.cloudbees
            .get(&app_id)
            .and_then(|a| a.environments.get(&env))
            .map(|experiments| experiments.values().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    });
    Json(Value::Array(list))
}

async fn put_application(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    const E: Service = Service::Emulator;
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(E, "the body must be a JSON object"));
    };
    if let Some(key) = body
        .keys()
        .find(|k| !["name", "environments"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(
            E,
            format!("unknown field {key:?}; expected name, environments"),
        ));
    }
    let name = match body.get("name") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                E,
                "\"name\" must be a non-empty string",
            ));
        }
    };
    let environments = match body.get("environments") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(ApiError::bad_request(
                        E,
                        "\"environments\" must be a list of non-empty names",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                E,
                "\"environments\" must be a list of names",
            ));
        }
    };
    let id = app_id.clone();
    let answer = app
        .store
        .write(E, move |data| {
            let entry = data.cloudbees.entry(id.clone()).or_default();
            if name.is_some() {
                entry.name = name;
            }
            if environments.is_some() {
                entry.environment_names = environments;
            }
            let names = environment_names(Some(entry));
            Ok(json!({
                "id": id,
                "name": application_name(data, &id),
                "environments": names,
            }))
        })
        .await?;
    Ok(Json(answer))
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
