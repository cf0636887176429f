//! Confidence, on the emulator's one port: rollouts (workflow instances, served by
//! `experiments.confidence.dev`), segments (the flags admin API, `flags.{eu,us}`), analysis
//! results (`stats.{eu,us}`, `/v2`) and the IAM token endpoint (`iam.{eu,us}`).
//!
//! The resources follow `api-notes-confidence.md`: the workflow envelope with its
//! server-managed fields filled in, data sections replaced as field masks say, output-only
//! fields refused, a rollout's targeting in a segment of its own. What the notes leave open
//! is decided in [`crate::assumptions`].

mod mask;
mod results;
mod rollouts;
mod segments;
mod targeting;

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Json, Router};
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::Shared;
use crate::assumptions::{DEFAULT_PAGE_SIZE, ROLLOUT_ID_ALPHABET, ROLLOUT_ID_LEN, TOKEN_IDENTITY};
use crate::error::{ApiError, JsonBody, Names, Service, grpc};
use crate::faults::Caller;
use crate::state::{Data, StoredRollout, StoredSegment};

pub(crate) use rollouts::resume_transitions;

const S: Service = Service::Confidence;

/// Rollouts and analysis results (the workflows and stats APIs).
pub(crate) fn routes() -> Router<Shared> {
    rollouts::routes().merge(results::routes())
}

/// Segments (the flags admin API), kept apart for its own rate limit.
pub(crate) fn segment_routes() -> Router<Shared> {
    segments::routes()
}

/// The token endpoint needs no bearer token.
pub(crate) fn token_routes() -> Router<Shared> {
    Router::new().route("/v1/oauth/token", post(issue_token))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::INVALID_ARGUMENT)
}

fn failed_precondition(message: impl Into<String>) -> ApiError {
    ApiError::bad_request(S, message).with_grpc(grpc::FAILED_PRECONDITION)
}

/// Rollouts and segments as stored: kept by id, numbered in creation order (their list
/// order and page tokens), each holding the resource as served.
trait Stored: Sized {
    fn all(data: &Data) -> &BTreeMap<String, Self>;
    fn all_mut(data: &mut Data) -> &mut BTreeMap<String, Self>;
    /// Its creation number and resource.
    fn parts(&self) -> (u64, &Map<String, Value>);
}

/// Both keep `seq` and `resource`, each kind in its own map of `data.confidence`.
macro_rules! impl_stored {
    ($($kind:ty => $map:ident),+) => {$(
        impl Stored for $kind {
            fn all(data: &Data) -> &BTreeMap<String, Self> {
                &data.confidence.$map
            }
            fn all_mut(data: &mut Data) -> &mut BTreeMap<String, Self> {
                &mut data.confidence.$map
            }
            fn parts(&self) -> (u64, &Map<String, Value>) {
                (self.seq, &self.resource)
            }
        }
    )+};
}

impl_stored!(StoredRollout => rollouts, StoredSegment => segments);

/// What a rollout or a segment says for the handlers they share: reading one, and a PATCH
/// as resource-oriented APIs take it (the resource in the body, the paths to change in
/// `updateMask`) around each kind's own rules.
trait Resource: Stored {
    /// What messages call one: `rollout`, `segment`.
    const KIND: &'static str;
    fn not_found(id: &str) -> ApiError;
    /// Refuses the output-only fields a client sent.
    fn refuse_output_only(body: &Map<String, Value>) -> Result<(), ApiError>;
    /// Refuses, before anything is read, update-mask paths no PATCH may name.
    fn refuse_mask(_paths: Option<&[String]>) -> Result<(), ApiError> {
        Ok(())
    }
    /// Applies a PATCH to the one stored. Nothing changes on an error.
    fn patch(&mut self, patch: Patch<'_>) -> Result<(), ApiError>;
}

/// A PATCH as its handler read it.
struct Patch<'a> {
    /// The id in the path.
    id: &'a str,
    /// An object without output-only fields.
    body: &'a Map<String, Value>,
    /// The paths of `updateMask`; `None` without one.
    paths: Option<Vec<String>>,
    /// Who sent it.
    who: &'a str,
}

/// A create or PATCH body: an object of the kind, without output-only fields.
fn writable_body<T: Resource>(body: Value) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(body) = body else {
        return Err(invalid(format!("the body must be a {} object", T::KIND)));
    };
    T::refuse_output_only(&body)?;
    Ok(body)
}

/// `PATCH …/{id}?updateMask=` of a rollout or segment (see each [`Resource::patch`]);
/// answers the resource as stored.
async fn patch_one<T: Resource>(
    State(app): State<Shared>,
    caller: Option<Extension<Caller>>,
    Names(id): Names<String>,
    Query(params): Query<HashMap<String, String>>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = writable_body::<T>(body)?;
    let paths = mask::paths(params.get("updateMask").map(String::as_str)).map_err(invalid)?;
    T::refuse_mask(paths.as_deref())?;
    let who = caller_name(caller);
    let updated = app
        .store
        .write(S, |data| {
            let stored: &mut T = find_mut(data, &id)?;
            stored.patch(Patch {
                id: &id,
                body: &body,
                paths,
                who: &who,
            })?;
            Ok(Value::Object(stored.parts().1.clone()))
        })
        .await?;
    Ok(Json(updated))
}

fn find<'a, T: Resource>(data: &'a Data, id: &str) -> Result<&'a T, ApiError> {
    T::all(data).get(id).ok_or_else(|| T::not_found(id))
}

fn find_mut<'a, T: Resource>(data: &'a mut Data, id: &str) -> Result<&'a mut T, ApiError> {
    T::all_mut(data).get_mut(id).ok_or_else(|| T::not_found(id))
}

/// `POST …/{id}:action`: the id segment carries the action. Without one the answer is
/// 405, naming `example` actions.
fn id_and_action<'a, T: Resource>(
    id_action: &'a str,
    example: &str,
) -> Result<(&'a str, &'a str), ApiError> {
    id_action.rsplit_once(':').ok_or_else(|| {
        ApiError::new(
            S,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("POST on a {} needs an action, like {example}", T::KIND),
        )
    })
}

/// An action the kind does not have.
fn unknown_action<T: Resource>(action: &str) -> ApiError {
    ApiError::not_found(S, format!("unknown {} action {action:?}", T::KIND))
        .with_grpc(grpc::UNIMPLEMENTED)
}

/// `GET` of one rollout or segment.
async fn get_one<T: Resource>(
    State(app): State<Shared>,
    Names(id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| {
            T::all(data)
                .get(&id)
                .map(|stored| Value::Object(stored.parts().1.clone()))
        })
        .map(Json)
        .ok_or_else(|| T::not_found(&id))
}

/// A list request's `pageSize` and `pageToken` (`after-<seq>`, from the previous page).
struct Paging {
    size: usize,
    after: Option<u64>,
}

impl Paging {
    /// `size` reads a `pageSize` that is given (trimmed, not empty): `None` refuses it.
    fn parse(
        params: &HashMap<String, String>,
        size: impl FnOnce(&str) -> Option<usize>,
    ) -> Result<Self, ApiError> {
        let size = match params.get("pageSize").map(|s| s.trim()) {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(s) => size(s).ok_or_else(|| {
                invalid(format!(
                    "pageSize must be a non-negative integer, got {s:?}"
                ))
            })?,
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
        Ok(Self { size, after })
    }

    /// The page of what `keep` accepts, in creation order, and the next page's token
    /// (empty on the last page).
    fn page<T: Stored>(&self, data: &Data, keep: impl Fn(&T) -> bool) -> (Vec<Value>, String) {
        let mut matching: Vec<&T> = T::all(data)
            .values()
            .filter(|s| self.after.is_none_or(|a| s.parts().0 > a))
            .filter(|s| keep(s))
            .collect();
        matching.sort_by_key(|s| s.parts().0);
        let more = matching.len() > self.size;
        matching.truncate(self.size);
        let next = match (more, matching.last()) {
            (true, Some(last)) => format!("after-{}", last.parts().0),
            _ => String::new(),
        };
        let items = matching
            .iter()
            .map(|s| Value::Object(s.parts().1.clone()))
            .collect();
        (items, next)
    }
}

/// Refuses `field` of `object` when it is set (present and not null) to a value `ok` does
/// not accept.
fn check_field(
    object: &Map<String, Value>,
    field: &str,
    ok: impl Fn(&Value) -> bool,
    refusal: impl Into<String>,
) -> Result<(), ApiError> {
    match object.get(field) {
        Some(value) if !value.is_null() && !ok(value) => Err(invalid(refusal)),
        _ => Ok(()),
    }
}

/// A map of strings, like `labels`.
fn is_string_map(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| m.values().all(Value::is_string))
}

/// A list of strings.
fn is_string_list(value: &Value) -> bool {
    value
        .as_array()
        .is_some_and(|items| items.iter().all(Value::is_string))
}

/// Who wrote: `creator`/`updater`.
fn caller_name(caller: Option<Extension<Caller>>) -> String {
    caller.map_or_else(|| TOKEN_IDENTITY.to_owned(), |Extension(Caller(c))| c)
}

/// A new id of [`ROLLOUT_ID_LEN`] characters that `taken` does not know. Seeded, so runs
/// repeat.
fn new_id(app: &Shared, taken: impl Fn(&str) -> bool) -> String {
    let mut rng = app.id_rng();
    loop {
        let id: String = (0..ROLLOUT_ID_LEN)
            .map(|_| {
                char::from(ROLLOUT_ID_ALPHABET[rng.random_range(0..ROLLOUT_ID_ALPHABET.len())])
            })
            .collect();
        if !taken(&id) {
            return id;
        }
    }
}

/// `POST /v1/oauth/token`: `{grantType, clientId, clientSecret}` in camelCase (the proto
/// JSON names; the snake_case spellings a proto-JSON reader also takes are accepted too)
/// answers `{accessToken, expiresIn}` with the lifetime as an int64 string.
async fn issue_token(
    State(app): State<Shared>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let field = |camel: &str, snake: &str| {
        body.get(camel)
            .or_else(|| body.get(snake))
            .and_then(Value::as_str)
    };
    if field("grantType", "grant_type") != Some("client_credentials") {
        return Err(invalid("grantType must be \"client_credentials\""));
    }
    let (Some(id), Some(secret)) = (
        field("clientId", "client_id"),
        field("clientSecret", "client_secret"),
    ) else {
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
    app.issue_token(token.clone(), id);
    Ok(Json(json!({"accessToken": token, "expiresIn": "86400"})))
}
