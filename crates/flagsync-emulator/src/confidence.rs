//! Confidence rollout workflows and the IAM token endpoint.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::assumptions::{
    self, DEFAULT_PAGE_SIZE, FilterTerm, LAUNCH_STEPS, MAX_PAGE_SIZE, ROLLOUT_ID_ALPHABET,
    ROLLOUT_ID_LEN, ROLLOUT_NAME_PREFIX, SERVER_MANAGED_FIELDS,
};
use crate::error::{ApiError, JsonBody, Names, OptionalJsonBody, Service, grpc};
use crate::state::{Data, StoredRollout};
use crate::time::now_rfc3339;

const S: Service = Service::Confidence;
const INSTANCES: &str = "/v1/workflows/rollout/instances";

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(INSTANCES, get(list_rollouts).post(create_rollout))
        .route(
            &format!("{INSTANCES}/{{id}}"),
            get(get_rollout).patch(patch_rollout).post(rollout_action),
        )
        .route(
            &format!("{INSTANCES}/{{id}}/analysisResults/{{result}}"),
            get(get_analysis_result),
        )
}

/// The token endpoint needs no bearer token.
pub(crate) fn token_routes() -> Router<Shared> {
    Router::new().route("/v1/oauth/token", post(issue_token))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(S, format!("rollout {ROLLOUT_NAME_PREFIX}{id} not found"))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::INVALID_ARGUMENT)
}

fn failed_precondition(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::FAILED_PRECONDITION)
}

/// The analysis result id of a rollout that has been launched (a draft has none).
fn launched_result_id(stored: &StoredRollout) -> Option<&str> {
    let state = stored.resource.get("state").and_then(Value::as_str);
    match state {
        Some("draft") | None => None,
        Some(_) => stored.analysis_result_id.as_deref(),
    }
}

/// The rollout as served: the stored resource plus `stats` once it has been launched.
fn view(id: &str, stored: &StoredRollout) -> Value {
    let mut resource = stored.resource.clone();
    if let Some(result_id) = launched_result_id(stored) {
        resource.insert(
            "stats".to_owned(),
            json!({"analysisResult": format!("{ROLLOUT_NAME_PREFIX}{id}/analysisResults/{result_id}")}),
        );
    }
    Value::Object(resource)
}

async fn issue_token(
    State(app): State<Shared>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let field = |key: &str| body.get(key).and_then(Value::as_str);
    if field("grantType") != Some("client_credentials") {
        return Err(invalid("grantType must be \"client_credentials\""));
    }
    let (Some(id), Some(secret)) = (field("clientId"), field("clientSecret")) else {
        return Err(invalid("clientId and clientSecret are required"));
    };
    let known = app
        .client_credentials
        .iter()
        .any(|(known_id, known_secret)| known_id == id && known_secret == secret);
    if !known {
        return Err(ApiError::new(
            S,
            StatusCode::UNAUTHORIZED,
            "invalid client credentials",
        ));
    }
    // Not from the seeded generator: a token must not be predictable.
    let mut rng = rand::rng();
    let token: String = (0..48)
        .map(|_| char::from(rng.sample(rand::distr::Alphanumeric)))
        .collect();
    app.issue_token(token.clone());
    Ok(Json(json!({"accessToken": token, "expiresIn": "86400"})))
}

/// Checks what a client may set: `reach` a decimal string in 0..=1, `labels` a string map,
/// and every `ref` of a segment's targeting names one of its criteria.
fn validate_rollout(resource: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(reach) = resource.get("rollout").and_then(|r| r.get("reach")) {
        let ok = reach
            .as_str()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .is_some_and(|r| (0.0..=1.0).contains(&r));
        if !ok {
            return Err(invalid(format!(
                "rollout.reach must be a decimal string between \"0\" and \"1\", got {reach}"
            )));
        }
    }
    if let Some(labels) = resource.get("labels") {
        let ok = labels
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_string));
        if !ok {
            return Err(invalid("labels must be a map of strings"));
        }
    }
    if let Some(segment) = resource.get("segment") {
        validate_segment(segment)?;
    }
    Ok(())
}

fn validate_segment(segment: &Value) -> Result<(), ApiError> {
    if !segment.is_object() {
        return Err(invalid("segment must be an object"));
    }
    let Some(targeting) = segment.get("targeting") else {
        return Ok(());
    };
    let criteria = match targeting.get("criteria") {
        None => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(_) => return Err(invalid("segment.targeting.criteria must be an object")),
    };
    match targeting.get("expression") {
        None => Ok(()),
        Some(expression) => check_expression(expression, &criteria, 0),
    }
}

fn check_expression(
    expr: &Value,
    criteria: &Map<String, Value>,
    depth: usize,
) -> Result<(), ApiError> {
    // Bounds recursion on hostile input.
    if depth > 64 {
        return Err(invalid("targeting expression nested too deeply"));
    }
    let Some(object) = expr.as_object() else {
        return Err(invalid("a targeting expression must be an object"));
    };
    if let Some(reference) = object.get("ref") {
        return match reference.as_str() {
            Some(name) if criteria.contains_key(name) => Ok(()),
            Some(name) => Err(invalid(format!(
                "targeting expression refers to {name:?}, which is not a criterion"
            ))),
            None => Err(invalid("a targeting ref must be a string")),
        };
    }
    if let Some(inner) = object.get("not") {
        return check_expression(inner, criteria, depth + 1);
    }
    for op in ["and", "or"] {
        if let Some(group) = object.get(op) {
            let Some(operands) = group.get("operands").and_then(Value::as_array) else {
                return Err(invalid(format!("targeting {op} needs an operands list")));
            };
            for operand in operands {
                check_expression(operand, criteria, depth + 1)?;
            }
            return Ok(());
        }
    }
    if object.is_empty() {
        return Ok(());
    }
    Err(invalid(
        "a targeting expression is one of ref, not, and, or",
    ))
}

fn new_rollout_id(app: &Shared, data: &Data) -> String {
    let mut rng = app.id_rng();
    loop {
        let id: String = (0..ROLLOUT_ID_LEN)
            .map(|_| {
                char::from(ROLLOUT_ID_ALPHABET[rng.random_range(0..ROLLOUT_ID_ALPHABET.len())])
            })
            .collect();
        if !data.confidence.rollouts.contains_key(&id) {
            return id;
        }
    }
}

/// Not idempotent: every POST creates a new rollout.
async fn create_rollout(
    State(app): State<Shared>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(mut resource) = body else {
        return Err(invalid("the body must be a rollout object"));
    };
    for field in SERVER_MANAGED_FIELDS {
        resource.remove(*field);
    }
    validate_rollout(&resource)?;
    let app2 = app.clone();
    let created = app
        .store
        .write(S, move |data| {
            let id = new_rollout_id(&app2, data);
            let now = now_rfc3339();
            let mut full = Map::new();
            full.insert(
                "name".to_owned(),
                Value::String(format!("{ROLLOUT_NAME_PREFIX}{id}")),
            );
            full.insert("state".to_owned(), Value::String("draft".to_owned()));
            full.extend(resource);
            full.insert("createTime".to_owned(), Value::String(now.clone()));
            full.insert("updateTime".to_owned(), Value::String(now));
            let seq = data.confidence.next_seq;
            data.confidence.next_seq += 1;
            let stored = StoredRollout {
                seq,
                resource: full,
                analysis_result_id: None,
            };
            let answer = view(&id, &stored);
            data.confidence.rollouts.insert(id, stored);
            Ok(answer)
        })
        .await?;
    Ok(Json(created))
}

async fn get_rollout(
    State(app): State<Shared>,
    Names(id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| data.confidence.rollouts.get(&id).map(|r| view(&id, r)))
        .map(Json)
        .ok_or_else(|| not_found(&id))
}

async fn list_rollouts(
    State(app): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let page_size = match params.get("pageSize").map(|s| s.trim()) {
        None | Some("") => DEFAULT_PAGE_SIZE,
        Some(s) => match s.parse::<i64>() {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) if n > 0 => usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
            _ => {
                return Err(invalid(format!(
                    "pageSize must be a non-negative integer, got {s:?}"
                )));
            }
        },
    };
    let after = match params.get("pageToken").map(|s| s.trim()) {
        None | Some("") => None,
        Some(token) => Some(
            token
                .strip_prefix("after-")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| invalid("invalid pageToken"))?,
        ),
    };
    let filter = assumptions::parse_filter(params.get("filter").map_or("", String::as_str))
        .map_err(invalid)?;
    let page = app.store.read(|data| {
        let mut matching: Vec<(&String, &StoredRollout)> = data
            .confidence
            .rollouts
            .iter()
            .filter(|(_, r)| after.is_none_or(|a| r.seq > a))
            .filter(|(_, r)| filter.iter().all(|term| matches(term, &r.resource)))
            .collect();
        matching.sort_by_key(|(_, r)| r.seq);
        let more = matching.len() > page_size;
        matching.truncate(page_size);
        let next = if more {
            matching
                .last()
                .map(|(_, r)| format!("after-{}", r.seq))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let rollouts: Vec<Value> = matching.iter().map(|(id, r)| view(id, r)).collect();
        (rollouts, next)
    });
    Ok(Json(json!({"rollouts": page.0, "nextPageToken": page.1})))
}

fn matches(term: &FilterTerm, resource: &Map<String, Value>) -> bool {
    match term {
        FilterTerm::State(state) => {
            resource.get("state").and_then(Value::as_str) == Some(state.as_str())
        }
        FilterTerm::Label(key, value) => {
            resource
                .get("labels")
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
                == Some(value.as_str())
        }
    }
}

/// Copies `path` (dotted) from `source` into `target`, or removes it when `source` lacks it.
fn copy_masked(
    target: &mut Map<String, Value>,
    source: &Map<String, Value>,
    path: &str,
) -> Result<(), ApiError> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid(format!("invalid update mask path {path:?}")));
    }
    let mut src: Option<&Value> = None;
    let mut src_map = Some(source);
    for (i, part) in parts.iter().enumerate() {
        let found = src_map.and_then(|m| m.get(*part));
        if i + 1 == parts.len() {
            src = found;
        } else {
            src_map = found.and_then(Value::as_object);
        }
    }
    let Some((last, parents)) = parts.split_last() else {
        return Err(invalid("empty update mask path"));
    };
    let mut dst = target;
    for part in parents {
        let entry = dst
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return Err(invalid(format!("invalid update mask path {path:?}")));
        };
        dst = next;
    }
    match src {
        Some(value) => {
            dst.insert((*last).to_owned(), value.clone());
        }
        None => {
            dst.remove(*last);
        }
    }
    Ok(())
}

fn mask_paths(mask: Option<&str>) -> Option<Vec<String>> {
    let mask = mask?.trim();
    if mask.is_empty() {
        return None;
    }
    Some(
        mask.split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

async fn patch_rollout(
    State(app): State<Shared>,
    Names(id): Names<String>,
    Query(params): Query<HashMap<String, String>>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let Value::Object(body) = body else {
        return Err(invalid("the body must be a rollout object"));
    };
    let paths = mask_paths(params.get("updateMask").map(String::as_str)).unwrap_or_else(|| {
        body.keys()
            .filter(|k| !SERVER_MANAGED_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect()
    });
    for path in &paths {
        let top = path.split('.').next().unwrap_or_default();
        if SERVER_MANAGED_FIELDS.contains(&top) {
            return Err(invalid(format!("{top} cannot be updated")));
        }
    }
    let updated = app
        .store
        .write(S, |data| {
            let stored = data
                .confidence
                .rollouts
                .get_mut(&id)
                .ok_or_else(|| not_found(&id))?;
            let mut resource = stored.resource.clone();
            for path in &paths {
                copy_masked(&mut resource, &body, path)?;
            }
            validate_rollout(&resource)?;
            resource.insert("updateTime".to_owned(), Value::String(now_rfc3339()));
            stored.resource = resource;
            Ok(view(&id, stored))
        })
        .await?;
    Ok(Json(updated))
}

/// `POST .../instances/{id}:action`: the id segment carries the action.
async fn rollout_action(
    State(app): State<Shared>,
    Names(id_action): Names<String>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    let Some((id, action)) = id_action.rsplit_once(':') else {
        return Err(ApiError::new(
            S,
            StatusCode::METHOD_NOT_ALLOWED,
            "POST on a rollout needs an action, like :launch or :updateSegment",
        ));
    };
    match action {
        "launch" => launch(&app, id).await,
        "updateSegment" | "updatesegment" => update_segment(&app, id, body).await,
        other => Err(
            ApiError::not_found(S, format!("unknown rollout action {other:?}"))
                .with_grpc(grpc::UNIMPLEMENTED),
        ),
    }
}

async fn launch(app: &Shared, id: &str) -> Result<Json<Value>, ApiError> {
    app.store
        .write(S, |data| {
            let stored = data
                .confidence
                .rollouts
                .get_mut(id)
                .ok_or_else(|| not_found(id))?;
            if stored
                .resource
                .get("pendingTransition")
                .is_some_and(|p| !transition_failed(p))
            {
                return Err(failed_precondition("a transition is already in progress"));
            }
            let state = stored
                .resource
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if state != "draft" {
                return Err(failed_precondition(format!(
                    "only a draft rollout can be launched; this one is {state}"
                )));
            }
            stored.resource.insert(
                "pendingTransition".to_owned(),
                json!({
                    "transitionAction": "launch",
                    "targetState": "live",
                    "succeededSteps": [],
                    "failedSteps": [],
                    "unprocessedSteps": LAUNCH_STEPS,
                }),
            );
            stored
                .resource
                .insert("updateTime".to_owned(), Value::String(now_rfc3339()));
            Ok(())
        })
        .await?;
    schedule_completion(app, id.to_owned());
    Ok(Json(json!({})))
}

/// A transition that ended in failure: it stays visible, and a new launch may replace it.
fn transition_failed(pending: &Value) -> bool {
    pending
        .get("failedSteps")
        .and_then(Value::as_array)
        .is_some_and(|steps| !steps.is_empty())
}

/// Finishes a pending transition after the configured launch duration; with the runtime
/// knob `launchFailureRate`, fails it instead: `failedSteps` filled, state unchanged.
fn schedule_completion(app: &Shared, id: String) {
    let delay = app.runtime().launch_duration;
    let app2 = app.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let fail = app2.runtime().draw_launch_failure();
        let result = app2
            .store
            .write(S, |data| {
                let Some(stored) = data.confidence.rollouts.get_mut(&id) else {
                    return Ok(());
                };
                let Some(pending) = stored.resource.get_mut("pendingTransition") else {
                    return Ok(());
                };
                if transition_failed(pending) {
                    return Ok(());
                }
                if fail {
                    let (done, rest) = LAUNCH_STEPS.split_at(1);
                    let (failed, unprocessed) = rest.split_at(1);
                    if let Some(p) = pending.as_object_mut() {
                        p.insert("succeededSteps".to_owned(), json!(done));
                        p.insert(
                            "failedSteps".to_owned(),
                            json!([{"actionStep": failed.first(), "failuresMessages": ["injected launch failure"]}]),
                        );
                        p.insert("unprocessedSteps".to_owned(), json!(unprocessed));
                    }
                    stored
                        .resource
                        .insert("updateTime".to_owned(), Value::String(now_rfc3339()));
                    return Ok(());
                }
                let Some(pending) = stored.resource.remove("pendingTransition") else {
                    return Ok(());
                };
                let target = pending
                    .get("targetState")
                    .and_then(Value::as_str)
                    .unwrap_or("live")
                    .to_owned();
                stored
                    .resource
                    .insert("state".to_owned(), Value::String(target));
                stored
                    .resource
                    .insert("updateTime".to_owned(), Value::String(now_rfc3339()));
                // A preloaded example may carry the id its document uses.
                if stored.analysis_result_id.is_none() {
                    stored.analysis_result_id = Some(assumptions::analysis_result_id(
                        &id,
                        stored.resource.get("metrics"),
                    ));
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e.message, "could not complete a rollout transition");
        }
    });
    let mut tasks = app.tasks.lock().unwrap_or_else(|p| p.into_inner());
    tasks.retain(|t| !t.is_finished());
    tasks.push(task);
}

/// Transitions that were under way when the emulator stopped complete after a restart.
pub(crate) fn resume_transitions(app: &Shared) {
    let pending: Vec<String> = app.store.read(|data| {
        data.confidence
            .rollouts
            .iter()
            .filter(|(_, r)| {
                r.resource
                    .get("pendingTransition")
                    .is_some_and(|p| !transition_failed(p))
            })
            .map(|(id, _)| id.clone())
            .collect()
    });
    for id in pending {
        schedule_completion(app, id);
    }
}

async fn update_segment(
    app: &Shared,
    id: &str,
    body: Option<Value>,
) -> Result<Json<Value>, ApiError> {
    let Some(Value::Object(mut body)) = body else {
        return Err(invalid(
            "the body must be an object with updateMask and segment",
        ));
    };
    // The vendor reference wraps the request in {"parameters": {...}}; the guide does not.
    if let Some(Value::Object(parameters)) = body.remove("parameters") {
        body = parameters;
    }
    let Some(Value::Object(segment)) = body.get("segment") else {
        return Err(invalid("segment is required and must be an object"));
    };
    let mask = match body.get("updateMask") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => mask_paths(Some(s)),
        Some(_) => return Err(invalid("updateMask must be a string")),
    };
    let paths = mask.unwrap_or_else(|| segment.keys().filter(|k| *k != "name").cloned().collect());
    let app2 = app.clone();
    app.store
        .write(S, |data| {
            let new_segment_id = {
                let id: String = new_rollout_id(&app2, data);
                format!("segments/{id}")
            };
            let stored = data
                .confidence
                .rollouts
                .get_mut(id)
                .ok_or_else(|| not_found(id))?;
            let mut current = match stored.resource.get("segment") {
                Some(Value::Object(s)) => s.clone(),
                _ => Map::new(),
            };
            for path in &paths {
                copy_masked(&mut current, segment, path)?;
            }
            if !current.contains_key("name") {
                let name = segment
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or(new_segment_id, str::to_owned);
                current.insert("name".to_owned(), Value::String(name));
            }
            let mut resource = stored.resource.clone();
            resource.insert("segment".to_owned(), Value::Object(current));
            validate_rollout(&resource)?;
            resource.insert("updateTime".to_owned(), Value::String(now_rfc3339()));
            stored.resource = resource;
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}

async fn get_analysis_result(
    State(app): State<Shared>,
    Names((id, result)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| {
            let stored = data.confidence.rollouts.get(&id)?;
            let result_id = launched_result_id(stored)?;
            (result_id == result)
                .then(|| assumptions::analysis_result(&id, result_id, &stored.resource))
        })
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(
                S,
                format!(
                    "analysis result {ROLLOUT_NAME_PREFIX}{id}/analysisResults/{result} not found"
                ),
            )
        })
}
