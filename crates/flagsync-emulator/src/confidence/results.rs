//! Analysis results, the stats API's resource:
//! `GET /v2/workflows/rollout/instances/{id}/analysisResults/{result}` in the v2 shape (see
//! [`crate::assumptions::analysis_result`]). The how-to's `/v1` path answers the same
//! document.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::S;
use crate::Shared;
use crate::assumptions::{self, ROLLOUT_NAME_PREFIX};
use crate::error::{ApiError, Names};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v2/workflows/rollout/instances/{id}/analysisResults/{result}",
            get(get_analysis_result),
        )
        .route(
            "/v1/workflows/rollout/instances/{id}/analysisResults/{result}",
            get(get_analysis_result),
        )
}

async fn get_analysis_result(
    State(app): State<Shared>,
    Names((id, result)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| {
            let stored = data.confidence.rollouts.get(&id)?;
            let launched = stored
                .resource
                .get("state")
                .and_then(Value::as_str)
                .is_some_and(|s| s != "draft");
            let result_id = stored.analysis_result_id.as_deref().filter(|_| launched)?;
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
