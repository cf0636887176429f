//! Segments, the flags admin API's resource (`/v1/segments`): who is targeted
//! (`targeting`) and how much of the population is set aside (`allocation`). A rollout
//! creates one and names it in `flags.segment`; its targeting changes through the rollout's
//! `:updatesegment` action, because a segment can only be updated directly while it is
//! `UNALLOCATED`, and launching allocates it.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::{
    Paging, Patch, Resource, S, caller_name, check_field, failed_precondition, find_mut, get_one,
    id_and_action, invalid, is_string_list, is_string_map, mask, new_id, patch_one, targeting,
    unknown_action, writable_body,
};
use crate::Shared;
use crate::assumptions::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SEGMENT_MUTABLE_FIELDS, SEGMENT_OUTPUT_ONLY_FIELDS,
    SEGMENT_PREFIX, rollout_segment_allocation,
};
use crate::error::{ApiError, JsonBody, Names, OptionalJsonBody, grpc};
use crate::faults::Caller;
use crate::state::{Data, StoredSegment};
use crate::time::now_rfc3339;

const SEGMENTS: &str = "/v1/segments";

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(SEGMENTS, get(list).post(create)).route(
        &format!("{SEGMENTS}/{{id}}"),
        get(get_one::<StoredSegment>)
            .patch(patch_one::<StoredSegment>)
            .post(action),
    )
}

/// The segment a rollout creates: everyone (no targeting), the rollout's allocation, not
/// yet allocated.
pub(super) fn for_rollout(
    name: &str,
    rollout_name: &str,
    flag: Option<&Value>,
    who: &str,
    now: &str,
) -> Map<String, Value> {
    let mut segment = Map::new();
    segment.insert("name".into(), json!(name));
    segment.insert("allocation".into(), rollout_segment_allocation());
    segment.insert("state".into(), json!("UNALLOCATED"));
    segment.insert("workflowInstance".into(), json!(rollout_name));
    if let Some(flag) = flag.filter(|f| f.is_string()) {
        segment.insert("flag".into(), flag.clone());
    }
    stamp(&mut segment, who, now, true);
    segment
}

/// Sets `updateTime`/`updater` (and `createTime`/`creator` on creation).
pub(super) fn stamp(resource: &mut Map<String, Value>, who: &str, now: &str, created: bool) {
    if created {
        resource.insert("createTime".into(), json!(now));
        resource.insert("creator".into(), json!(who));
    }
    resource.insert("updateTime".into(), json!(now));
    resource.insert("updater".into(), json!(who));
}

/// What a client may set: targeting as the protos define it, an allocation whose
/// proportion is a `google.type.Decimal` between 0 and 1, labels as a string map.
pub(super) fn check(segment: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(t) = segment.get("targeting").filter(|t| !t.is_null()) {
        targeting::check(t).map_err(|e| invalid(format!("segment.{e}")))?;
    }
    if let Some(a) = segment.get("allocation").filter(|a| !a.is_null()) {
        check_allocation(a)?;
    }
    check_field(
        segment,
        "labels",
        is_string_map,
        "segment.labels must be a map of strings",
    )?;
    for text in ["displayName", "description"] {
        check_field(
            segment,
            text,
            Value::is_string,
            format!("segment.{text} must be a string"),
        )?;
    }
    Ok(())
}

fn check_allocation(allocation: &Value) -> Result<(), ApiError> {
    let Some(map) = allocation.as_object() else {
        return Err(invalid("segment.allocation must be an object"));
    };
    if let Some(k) = map
        .keys()
        .find(|k| !["proportion", "exclusivityTags", "exclusiveTo"].contains(&k.as_str()))
    {
        return Err(invalid(format!("segment.allocation: unknown field {k:?}")));
    }
    if let Some(p) = map.get("proportion").filter(|p| !p.is_null()) {
        // A google.type.Decimal: an object holding the decimal as a string.
        let ok = p
            .as_object()
            .filter(|o| o.keys().all(|k| k == "value"))
            .and_then(|o| o.get("value"))
            .and_then(Value::as_str)
            .and_then(|s| s.trim().parse::<f64>().ok())
            .is_some_and(|x| (0.0..=1.0).contains(&x));
        if !ok {
            return Err(invalid(format!(
                "segment.allocation.proportion must be {{\"value\": \"<decimal between 0 and 1>\"}}, got {p}"
            )));
        }
    }
    for list in ["exclusivityTags", "exclusiveTo"] {
        check_field(
            map,
            list,
            is_string_list,
            format!("segment.allocation.{list} must be a list of strings"),
        )?;
    }
    Ok(())
}

/// Replaces the masked fields of `stored` with the body's, as field masks do (no mask: every
/// mutable field, those the body lacks cleared), and checks the result. Nothing changes on
/// an error.
pub(super) fn update(
    stored: &mut Map<String, Value>,
    body: &Map<String, Value>,
    paths: Option<Vec<String>>,
    who: &str,
) -> Result<(), ApiError> {
    let paths = paths.unwrap_or_else(|| {
        SEGMENT_MUTABLE_FIELDS
            .iter()
            .map(|f| (*f).to_owned())
            .collect()
    });
    let mut next = stored.clone();
    for path in &paths {
        let top = mask::top(path);
        if !SEGMENT_MUTABLE_FIELDS.contains(&top) {
            return Err(invalid(format!(
                "segment field {top} cannot be updated (mutable: {})",
                SEGMENT_MUTABLE_FIELDS.join(", ")
            )));
        }
        mask::copy(&mut next, body, path);
    }
    check(&next)?;
    stamp(&mut next, who, &now_rfc3339(), false);
    *stored = next;
    Ok(())
}

fn id_of(name: &str) -> &str {
    name.strip_prefix(SEGMENT_PREFIX).unwrap_or(name)
}

/// `POST /v1/segments?segmentId=`: a segment of its own (not a rollout's), unallocated.
async fn create(
    State(app): State<Shared>,
    caller: Option<Extension<Caller>>,
    Query(params): Query<HashMap<String, String>>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut body = writable_body::<StoredSegment>(body)?;
    body.remove("name");
    check(&body)?;
    let who = caller_name(caller);
    let wanted = params.get("segmentId").map(|s| s.trim().to_owned());
    if let Some(id) = &wanted {
        let ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(invalid(format!(
                "segmentId {id:?} must be lowercase letters, digits and -"
            )));
        }
    }
    let app2 = app.clone();
    let created = app
        .store
        .write(S, move |data| {
            let id = match wanted {
                Some(id) if data.confidence.segments.contains_key(&id) => {
                    return Err(ApiError::new(
                        S,
                        axum::http::StatusCode::CONFLICT,
                        format!("segment {SEGMENT_PREFIX}{id} already exists"),
                    )
                    .with_grpc(grpc::ALREADY_EXISTS));
                }
                Some(id) => id,
                None => new_id(&app2, |id| data.confidence.segments.contains_key(id)),
            };
            let mut resource = Map::new();
            resource.insert("name".into(), json!(format!("{SEGMENT_PREFIX}{id}")));
            resource.extend(body);
            resource.insert("state".into(), json!("UNALLOCATED"));
            stamp(&mut resource, &who, &now_rfc3339(), true);
            insert(data, id, resource.clone());
            Ok(Value::Object(resource))
        })
        .await?;
    Ok(Json(created))
}

pub(super) fn next_seq(data: &mut Data) -> u64 {
    let seq = data.confidence.next_seq;
    data.confidence.next_seq += 1;
    seq
}

/// Stores a new segment, next in creation order.
pub(super) fn insert(data: &mut Data, id: String, resource: Map<String, Value>) {
    let seq = next_seq(data);
    data.confidence
        .segments
        .insert(id, StoredSegment { seq, resource });
}

/// `GET /v1/segments`: in creation order, paged like rollouts. `view` (`BASIC`, `FULL`) is
/// accepted and every view is the full resource; `filter` is not supported (400).
async fn list(
    State(app): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if params.get("filter").is_some_and(|f| !f.trim().is_empty()) {
        return Err(invalid("the emulator does not filter segments"));
    }
    // Read unlike rollouts' list: see the list entry in `assumptions`.
    let paging = Paging::parse(&params, |s| match s {
        "0" => Some(DEFAULT_PAGE_SIZE),
        _ => s.parse::<usize>().ok().map(|n| n.min(MAX_PAGE_SIZE)),
    })?;
    let (segments, next) = app
        .store
        .read(|data| paging.page(data, |_: &StoredSegment| true));
    Ok(Json(json!({"segments": segments, "nextPageToken": next})))
}

impl Resource for StoredSegment {
    const KIND: &'static str = "segment";
    fn not_found(id: &str) -> ApiError {
        ApiError::not_found(S, format!("segment {SEGMENT_PREFIX}{id} not found"))
    }

    fn refuse_output_only(body: &Map<String, Value>) -> Result<(), ApiError> {
        match SEGMENT_OUTPUT_ONLY_FIELDS
            .iter()
            .find(|f| body.get(**f).is_some_and(|v| !v.is_null()))
        {
            Some(f) => Err(invalid(format!(
                "segment field {f} is output only and cannot be set"
            ))),
            None => Ok(()),
        }
    }

    /// `PATCH /v1/segments/{id}?updateMask=`: only while `UNALLOCATED` (the reference:
    /// "Only segments in state UNALLOCATED can be updated"); see [`update`].
    fn patch(&mut self, patch: Patch<'_>) -> Result<(), ApiError> {
        let name = format!("{SEGMENT_PREFIX}{}", patch.id);
        if let Some(sent) = patch.body.get("name").and_then(Value::as_str)
            && id_of(sent) != patch.id
        {
            return Err(invalid(format!("the body names {sent}, not {name}")));
        }
        let state = self.resource.get("state").and_then(Value::as_str);
        if state != Some("UNALLOCATED") {
            return Err(failed_precondition(format!(
                "only segments in state UNALLOCATED can be updated; {name} is {}",
                state.unwrap_or("in no state")
            )));
        }
        update(&mut self.resource, patch.body, patch.paths, patch.who)
    }
}

/// `POST /v1/segments/{id}:allocate` (`UNALLOCATED` → `ALLOCATED`) and `:archive`
/// (`ALLOCATED`, referenced by no rule → `ARCHIVED`).
async fn action(
    State(app): State<Shared>,
    caller: Option<Extension<Caller>>,
    Names(id_action): Names<String>,
    OptionalJsonBody(_body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, action) = id_and_action::<StoredSegment>(&id_action, ":allocate")?;
    let (from, to) = match action {
        "allocate" => ("UNALLOCATED", "ALLOCATED"),
        "archive" => ("ALLOCATED", "ARCHIVED"),
        other => return Err(unknown_action::<StoredSegment>(other)),
    };
    let who = caller_name(caller);
    let answer = app
        .store
        .write(S, |data| {
            let name = format!("{SEGMENT_PREFIX}{id}");
            // A launched rollout's rule references its segment.
            let referenced = data.confidence.rollouts.values().any(|r| {
                r.resource.get("flags").is_some_and(|f| {
                    f.get("segment") == Some(&json!(name)) && f.get("rule").is_some()
                })
            });
            let stored: &mut StoredSegment = find_mut(data, id)?;
            let state = stored.resource.get("state").and_then(Value::as_str);
            if state != Some(from) {
                return Err(failed_precondition(format!(
                    ":{action} needs a segment in state {from}; {name} is {}",
                    state.unwrap_or("in no state")
                )));
            }
            if action == "archive" && referenced {
                return Err(failed_precondition(format!(
                    "{name} is referenced by a rule and cannot be archived"
                )));
            }
            stored.resource.insert("state".into(), json!(to));
            stamp(&mut stored.resource, &who, &now_rfc3339(), false);
            Ok(Value::Object(stored.resource.clone()))
        })
        .await?;
    Ok(Json(answer))
}
