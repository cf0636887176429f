//! CloudBees Feature Management public API: experiments per application and environment,
//! target groups per application, and the reads CloudBees' Jenkins plugin uses
//! (applications, an application's environments, every flag of an environment).

use std::collections::{BTreeMap, BTreeSet};

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
    list_objects(&app, Place::Experiments(&app_id, &env), |_| true)
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

/// What differs between the two kinds of objects the handlers below share.
struct Kind {
    /// What messages call one.
    what: &'static str,
    /// The `type` of a body: required (experiments), or checked only when present (target
    /// groups).
    type_name: &'static str,
    type_required: bool,
    /// The body field that identifies one: its key, the last segment of its path.
    identity_key: &'static str,
}

const EXPERIMENT: Kind = Kind {
    what: "experiment",
    type_name: "experiment",
    type_required: true,
    identity_key: "flag",
};

const TARGET_GROUP: Kind = Kind {
    what: "target group",
    type_name: "target-group",
    type_required: false,
    identity_key: "name",
};

/// Where objects of one kind are kept: an application's experiments in one environment (by
/// flag), or its target groups (by name). Both kinds are listed, read, put, patched and
/// deleted alike.
#[derive(Clone, Copy)]
enum Place<'a> {
    /// Application id and environment.
    Experiments(&'a str, &'a str),
    /// Application id.
    TargetGroups(&'a str),
}

impl<'a> Place<'a> {
    fn kind(self) -> &'static Kind {
        match self {
            Place::Experiments(..) => &EXPERIMENT,
            Place::TargetGroups(_) => &TARGET_GROUP,
        }
    }

    fn app_id(self) -> &'a str {
        match self {
            Place::Experiments(app_id, _) | Place::TargetGroups(app_id) => app_id,
        }
    }

    /// The objects, when anything was ever put there.
    fn objects(self, data: &Data) -> Option<&BTreeMap<String, Value>> {
        match self {
            Place::Experiments(app_id, env) => data.cloudbees.get(app_id)?.environments.get(env),
            Place::TargetGroups(app_id) => Some(&data.cloudbees.get(app_id)?.target_groups),
        }
    }

    fn objects_mut(self, data: &mut Data) -> Option<&mut BTreeMap<String, Value>> {
        let app = data.cloudbees.get_mut(self.app_id())?;
        match self {
            Place::Experiments(_, env) => app.environments.get_mut(env),
            Place::TargetGroups(_) => Some(&mut app.target_groups),
        }
    }

    /// The objects, made when missing.
    fn objects_entry(self, data: &mut Data) -> &mut BTreeMap<String, Value> {
        let app = data.cloudbees.entry(self.app_id().to_owned()).or_default();
        match self {
            Place::Experiments(_, env) => app.environments.entry(env.to_owned()).or_default(),
            Place::TargetGroups(_) => &mut app.target_groups,
        }
    }

    /// An object as stored: an experiment normalized, a target group as sent.
    fn stored(self, object: Map<String, Value>, id: &str) -> Value {
        match self {
            Place::Experiments(..) => normalize_experiment(object, id),
            Place::TargetGroups(_) => Value::Object(object),
        }
    }

    fn not_found(self, id: &str) -> ApiError {
        let message = match self {
            Place::Experiments(app_id, env) => format!(
                "experiment for flag {id:?} not found in environment {env:?} of application {app_id:?}"
            ),
            Place::TargetGroups(app_id) => {
                format!("target group {id:?} not found in application {app_id:?}")
            }
        };
        ApiError::not_found(S, message)
    }
}

/// The body as an object with the `type` of `kind` and a non-empty string identity.
fn validated_object(body: Value, kind: &Kind) -> Result<(Map<String, Value>, String), ApiError> {
    let Kind {
        type_name: expected_type,
        type_required,
        identity_key,
        ..
    } = kind;
    let Value::Object(object) = body else {
        return Err(ApiError::bad_request(S, "the body must be a JSON object"));
    };
    match object.get("type") {
        Some(Value::String(t)) if t == expected_type => {}
        None if !*type_required => {}
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
    let identity = match object.get(*identity_key) {
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

/// The objects `keep` accepts (none where nothing was put yet).
fn list_objects(app: &Shared, place: Place<'_>, keep: fn(&Value) -> bool) -> Json<Value> {
    let list = app.store.read(|data| {
        place
            .objects(data)
            .map(|objects| objects.values().filter(|o| keep(o)).cloned().collect())
            .unwrap_or_default()
    });
    Json(Value::Array(list))
}

fn get_object(app: &Shared, place: Place<'_>, id: &str) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| place.objects(data).and_then(|o| o.get(id)).cloned())
        .map(Json)
        .ok_or_else(|| place.not_found(id))
}

/// Creates or replaces the object the body identifies; answers it as stored.
async fn put_object(app: &Shared, place: Place<'_>, body: Value) -> Result<Json<Value>, ApiError> {
    let (object, id) = validated_object(body, place.kind())?;
    let stored = place.stored(object, &id);
    let answer = stored.clone();
    app.store
        .write(S, move |data| {
            place.objects_entry(data).insert(id, stored);
            Ok(())
        })
        .await?;
    Ok(Json(answer))
}

/// Applies a JSON Patch; the result must stay an object with the same identity.
async fn patch_object(
    app: &Shared,
    place: Place<'_>,
    id: &str,
    body: Value,
) -> Result<Json<Value>, ApiError> {
    let patch = parse_patch(body)?;
    let Kind {
        what, identity_key, ..
    } = place.kind();
    let updated = app
        .store
        .write(S, |data| {
            let slot = place
                .objects_mut(data)
                .and_then(|o| o.get_mut(id))
                .ok_or_else(|| place.not_found(id))?;
            let Value::Object(object) = apply_patch(slot, &patch)? else {
                return Err(ApiError::bad_request(
                    S,
                    format!("the patched {what} must stay an object"),
                ));
            };
            if object.get(*identity_key).and_then(Value::as_str) != Some(id) {
                return Err(ApiError::bad_request(
                    S,
                    format!("\"{identity_key}\" identifies the {what} and cannot be patched"),
                ));
            }
            let patched = place.stored(object, id);
            *slot = patched.clone();
            Ok(patched)
        })
        .await?;
    Ok(Json(updated))
}

async fn delete_object(app: &Shared, place: Place<'_>, id: &str) -> Result<Response, ApiError> {
    app.store
        .write(S, |data| {
            place
                .objects_mut(data)
                .and_then(|o| o.remove(id))
                .map(|_| ())
                .ok_or_else(|| place.not_found(id))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_experiments(
    State(app): State<Shared>,
    Names((app_id, env)): Names<(String, String)>,
) -> Json<Value> {
    list_objects(&app, Place::Experiments(&app_id, &env), has_release_rule)
}

async fn put_experiment(
    State(app): State<Shared>,
    Names((app_id, env)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    put_object(&app, Place::Experiments(&app_id, &env), body).await
}

async fn get_experiment(
    State(app): State<Shared>,
    Names((app_id, env, flag)): Names<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_object(&app, Place::Experiments(&app_id, &env), &flag)
}

async fn patch_experiment(
    State(app): State<Shared>,
    Names((app_id, env, flag)): Names<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    patch_object(&app, Place::Experiments(&app_id, &env), &flag, body).await
}

async fn delete_experiment(
    State(app): State<Shared>,
    Names((app_id, env, flag)): Names<(String, String, String)>,
) -> Result<Response, ApiError> {
    delete_object(&app, Place::Experiments(&app_id, &env), &flag).await
}

async fn list_target_groups(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Json<Value> {
    list_objects(&app, Place::TargetGroups(&app_id), |_| true)
}

async fn put_target_group(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    put_object(&app, Place::TargetGroups(&app_id), body).await
}

async fn get_target_group(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    get_object(&app, Place::TargetGroups(&app_id), &name)
}

async fn patch_target_group(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    patch_object(&app, Place::TargetGroups(&app_id), &name, body).await
}

async fn delete_target_group(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
) -> Result<Response, ApiError> {
    delete_object(&app, Place::TargetGroups(&app_id), &name).await
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
