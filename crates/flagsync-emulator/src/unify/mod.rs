//! CloudBees Unify: the feature-management API under `/v1` and `/v2`
//! (`/v{1,2}/applications/{app}/...`: flags, per-environment flag configurations, target
//! groups, custom properties), the organization lookups (`/v1/organizations/name`,
//! `/v1/organizations/{org}/services`, `/v2/organizations/{org}/environments`), and the
//! control endpoints under `/_emulator/unify/`.
//!
//! Every choice the sources leave open is in [`crate::assumptions`].

mod flags;
pub(crate) mod model;
mod orgs;
mod refs;
mod resources;
pub(crate) mod rules;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use serde_json::{Map, Value};

use crate::Shared;
use crate::error::{ApiError, Service, grpc};
use crate::state::Data;
use model::{Application, CustomProperty, TargetGroup};

pub(crate) use orgs::{control_routes, ensure_defaults, preload_examples};

const S: Service = Service::Unify;

/// The feature-management routes, under both prefixes.
pub(crate) fn routes() -> Router<Shared> {
    let mut router = Router::new();
    for prefix in ["/v1", "/v2"] {
        let app = format!("{prefix}/applications/{{app}}");
        router = router
            .route(
                &format!("{app}/flags"),
                get(flags::list).post(flags::create),
            )
            .route(&format!("{app}/flags/labels"), get(flags::labels))
            .route(
                &format!("{app}/flags/by-name/{{name}}"),
                get(flags::by_name),
            )
            .route(
                &format!("{app}/flags/{{flag}}"),
                get(flags::get).put(flags::update).delete(flags::delete),
            )
            .route(
                &format!("{app}/flags/{{flag}}/configuration-state"),
                get(flags::configuration_state),
            )
            .route(
                &format!("{app}/flags/{{flag}}/flag-usage-per-environment"),
                get(flags::usage),
            )
            .route(
                &format!("{app}/flags/{{flag}}/configuration/environments/{{env}}"),
                get(flags::get_configuration)
                    .put(flags::put_configuration)
                    .patch(flags::patch_configuration),
            )
            .route(
                &format!("{app}/flags/{{flag}}/configuration/environments/{{env}}/configstate"),
                post(flags::set_config_state),
            )
            .route(
                &format!("{app}/environments/{{env}}/configuration"),
                get(flags::environment_configurations),
            )
            .route(
                &format!("{app}/target-groups/with-flags-usage"),
                get(resources::groups_with_usage),
            )
            .route(
                &format!("{app}/custom-properties/{{id}}/target-group-usage"),
                get(resources::property_group_usage),
            );
        router = resources::routes::<TargetGroup>(
            router,
            &format!("{app}/target-groups"),
            post(resources::create_group),
            put(resources::update_group),
        );
        router = resources::routes::<CustomProperty>(
            router,
            &format!("{app}/custom-properties"),
            post(resources::create_property),
            put(resources::update_property),
        );
    }
    router
        .route("/v1/organizations/name", get(orgs::organization_by_name))
        .route("/v1/organizations/{org}/services", get(orgs::services))
        .route(
            "/v2/organizations/{org}/environments",
            get(orgs::environments),
        )
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::INVALID_ARGUMENT)
}

pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::not_found(S, message).with_grpc(grpc::NOT_FOUND)
}

pub(crate) fn already_exists(message: impl Into<String>) -> ApiError {
    ApiError::new(S, StatusCode::CONFLICT, message).with_grpc(grpc::ALREADY_EXISTS)
}

pub(crate) fn failed_precondition(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::FAILED_PRECONDITION)
}

pub(crate) fn application<'a>(data: &'a Data, app_id: &str) -> Result<&'a Application, ApiError> {
    data.unify
        .applications
        .get(app_id)
        .ok_or_else(|| not_found(format!("application {app_id:?} not found")))
}

pub(crate) fn application_mut<'a>(
    data: &'a mut Data,
    app_id: &str,
) -> Result<&'a mut Application, ApiError> {
    data.unify
        .applications
        .get_mut(app_id)
        .ok_or_else(|| not_found(format!("application {app_id:?} not found")))
}

/// The name of an environment for messages (its id when unknown).
pub(crate) fn env_name(data: &Data, org_id: &str, env_id: &str) -> String {
    data.unify
        .environment(org_id, env_id)
        .map_or_else(|| env_id.to_owned(), |e| e.name.clone())
}

/// The environment, which must be linked to the application.
pub(crate) fn linked_environment(app: &Application, env_id: &str) -> Result<(), ApiError> {
    if app.is_linked(env_id) {
        Ok(())
    } else {
        Err(not_found(format!(
            "environment {env_id:?} not found among the environments linked to application {:?}",
            app.id
        )))
    }
}

/// The request body as a JSON object.
pub(crate) fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(object) => Ok(object),
        _ => Err(invalid("the body must be a JSON object")),
    }
}

/// A field that may be absent (or null) and must otherwise be a string.
pub(crate) fn opt_string(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!("{key}: must be a string, got {other}"))),
    }
}

/// A required non-empty string field.
pub(crate) fn required_name(object: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match opt_string(object, key)? {
        Some(name) if !name.trim().is_empty() => Ok(name),
        _ => Err(invalid(format!("{key}: required, a non-empty string"))),
    }
}

pub(crate) fn opt_bool(object: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid(format!("{key}: must be a boolean, got {other}"))),
    }
}

pub(crate) fn opt_array<'a>(
    object: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Vec<Value>>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(invalid(format!("{key}: must be an array, got {other}"))),
    }
}

pub(crate) fn opt_strings(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(items) = opt_array(object, key)? else {
        return Ok(None);
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(format!("{key}[{i}]: must be a string, got {item}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The query string as name/value pairs (repeated names kept), e.g. `configStateEnvs`.
pub(crate) struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<St: Send + Sync> FromRequestParts<St> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, Self::Rejection> {
        let service = Service::of_path(parts.uri.path());
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| QueryPairs(pairs))
            .map_err(|e| {
                ApiError::bad_request(service, format!("invalid query string: {}", e.body_text()))
                    .with_grpc(grpc::INVALID_ARGUMENT)
            })
    }
}
