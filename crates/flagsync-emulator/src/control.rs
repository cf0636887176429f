//! `/_emulator/` control endpoints (no authentication: a loopback tool), and the answers to
//! unknown routes and wrong methods.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::Shared;
use crate::error::{ApiError, JsonBody, Service};
use crate::faults::FaultSettings;

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/counters", get(counters))
        .route("/_emulator/counters/reset", post(reset_counters))
        .route("/_emulator/faults", get(get_faults).put(put_faults))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn counters(State(app): State<Shared>) -> Json<Value> {
    Json(app.counters().to_json())
}

async fn reset_counters(State(app): State<Shared>) -> Json<Value> {
    let mut counters = app.counters();
    counters.reset();
    Json(counters.to_json())
}

async fn get_faults(State(app): State<Shared>) -> Json<FaultSettings> {
    Json(app.runtime().view())
}

async fn put_faults(
    State(app): State<Shared>,
    JsonBody(body): JsonBody,
) -> Result<Json<FaultSettings>, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            Service::Emulator,
            "fault settings must be a JSON object",
        ));
    }
    let update: FaultSettings = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(Service::Emulator, format!("invalid fault settings: {e}"))
    })?;
    let mut runtime = app.runtime();
    runtime
        .apply(&update)
        .map_err(|e| ApiError::bad_request(Service::Emulator, e))?;
    Ok(Json(runtime.view()))
}

pub(crate) async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(
        Service::of_path(uri.path()),
        format!("no route for {method} {}", uri.path()),
    )
}

pub(crate) async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        Service::of_path(uri.path()),
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}
