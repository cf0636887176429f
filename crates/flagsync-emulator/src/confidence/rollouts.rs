//! Rollouts: workflow instances (`/v1/workflows/rollout/instances`), their envelope and data
//! sections, field-mask updates, and the actions `:updatesegment`, `:launch` and `:end`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::{
    Paging, Patch, Resource, S, caller_name, check_field, failed_precondition, find, find_mut,
    get_one, id_and_action, invalid, is_string_list, is_string_map, mask, new_id, patch_one,
    segments, unknown_action, writable_body,
};
use crate::Shared;
use crate::assumptions::{
    self, DEFAULT_PAGE_SIZE, END_STEPS, FilterTerm, LAUNCH_STEPS, MAX_PAGE_SIZE,
    ROLLOUT_NAME_PREFIX, ROLLOUT_OUTPUT_ONLY_FIELDS, ROLLOUT_SERVER_SECTIONS, SEGMENT_PREFIX,
};
use crate::error::{ApiError, JsonBody, Names, OptionalJsonBody};
use crate::faults::Caller;
use crate::state::{Data, StoredRollout, StoredSegment};
use crate::time::now_rfc3339;

const INSTANCES: &str = "/v1/workflows/rollout/instances";

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(INSTANCES, get(list_rollouts).post(create_rollout))
        // The abtest reference creates without `/instances`; both forms are served.
        .route("/v1/workflows/rollout", post(create_rollout))
        .route(
            &format!("{INSTANCES}/{{id}}"),
            get(get_one::<StoredRollout>)
                .patch(patch_one::<StoredRollout>)
                .post(rollout_action),
        )
}

fn text<'v>(map: &'v Map<String, Value>, path: &[&str]) -> Option<&'v str> {
    let (last, parents) = path.split_last()?;
    let mut m = map;
    for p in parents {
        m = m.get(*p)?.as_object()?;
    }
    m.get(*last)?.as_str()
}

/// Checks what a client may set: `rollout.reach` a decimal string in 0..=1, `labels` a
/// string map, `surfaces` a string list, the data sections objects.
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
    check_field(
        resource,
        "labels",
        is_string_map,
        "labels must be a map of strings",
    )?;
    check_field(
        resource,
        "surfaces",
        is_string_list,
        "surfaces must be a list of strings",
    )?;
    for section in assumptions::ROLLOUT_DATA_SECTIONS {
        check_field(
            resource,
            section,
            Value::is_object,
            format!("{section} must be an object"),
        )?;
    }
    Ok(())
}

/// Sets `updateTime`/`updater`.
fn touch(resource: &mut Map<String, Value>, who: Option<&str>, now: &str) {
    resource.insert("updateTime".into(), json!(now));
    if let Some(who) = who {
        resource.insert("updater".into(), json!(who));
    }
}

/// Not idempotent: every POST creates a new rollout, and a segment of its own for its
/// targeting. The server fills the envelope and the fields of the data sections it manages
/// (see [`assumptions::fill_new_rollout`]).
async fn create_rollout(
    State(app): State<Shared>,
    caller: Option<Extension<Caller>>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut resource = writable_body::<StoredRollout>(body)?;
    // The server names a new rollout.
    resource.remove("name");
    validate_rollout(&resource)?;
    let who = caller_name(caller);
    let app2 = app.clone();
    let created = app
        .store
        .write(S, move |data| {
            let id = new_id(&app2, |id| data.confidence.rollouts.contains_key(id));
            let segment_id = new_id(&app2, |id| data.confidence.segments.contains_key(id));
            let assignment_ids = [new_id(&app2, |_| false), new_id(&app2, |_| false)];
            let now = now_rfc3339();
            let name = format!("{ROLLOUT_NAME_PREFIX}{id}");
            let segment_name = format!("{SEGMENT_PREFIX}{segment_id}");
            let full = assumptions::fill_new_rollout(
                &name,
                resource,
                &segment_name,
                &assignment_ids,
                &who,
                &now,
            );
            let flag = full.get("rollout").and_then(|r| r.get("flag"));
            let segment = segments::for_rollout(&segment_name, &name, flag, &who, &now);
            segments::insert(data, segment_id, segment);
            let seq = segments::next_seq(data);
            data.confidence.rollouts.insert(
                id,
                StoredRollout {
                    seq,
                    resource: full.clone(),
                    analysis_result_id: None,
                },
            );
            Ok(Value::Object(full))
        })
        .await?;
    Ok(Json(created))
}

async fn list_rollouts(
    State(app): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    // An i64: any spelling of 0 is the default, a negative size refused, a larger one capped.
    let paging = Paging::parse(&params, |s| match s.parse::<i64>() {
        Ok(0) => Some(DEFAULT_PAGE_SIZE),
        Ok(n) if n > 0 => Some(
            usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
        ),
        _ => None,
    })?;
    let filter = assumptions::parse_filter(params.get("filter").map_or("", String::as_str))
        .map_err(invalid)?;
    let (rollouts, next) = app.store.read(|data| {
        paging.page(data, |r: &StoredRollout| {
            filter.iter().all(|term| matches(term, &r.resource))
        })
    });
    Ok(Json(json!({"rollouts": rollouts, "nextPageToken": next})))
}

fn matches(term: &FilterTerm, resource: &Map<String, Value>) -> bool {
    match term {
        FilterTerm::State(state) => text(resource, &["state"]) == Some(state.as_str()),
        FilterTerm::Label(key, value) => text(resource, &["labels", key]) == Some(value.as_str()),
    }
}

impl Resource for StoredRollout {
    const KIND: &'static str = "rollout";
    fn not_found(id: &str) -> ApiError {
        ApiError::not_found(S, format!("rollout {ROLLOUT_NAME_PREFIX}{id} not found"))
    }

    /// The output-only envelope fields and server-computed sections.
    fn refuse_output_only(body: &Map<String, Value>) -> Result<(), ApiError> {
        let sent = ROLLOUT_OUTPUT_ONLY_FIELDS
            .iter()
            .chain(ROLLOUT_SERVER_SECTIONS)
            .find(|f| body.get(**f).is_some_and(|v| !v.is_null()));
        match sent {
            Some(f) => Err(invalid(format!("{f} is output only and cannot be set"))),
            None => Ok(()),
        }
    }

    /// The name, output-only fields and server sections.
    fn refuse_mask(paths: Option<&[String]>) -> Result<(), ApiError> {
        for path in paths.iter().copied().flatten() {
            let top = mask::top(path);
            if top == "name"
                || ROLLOUT_OUTPUT_ONLY_FIELDS.contains(&top)
                || ROLLOUT_SERVER_SECTIONS.contains(&top)
            {
                return Err(invalid(format!("{top} cannot be updated")));
            }
        }
        Ok(())
    }

    /// Each masked path is replaced with the body's value (a path naming a data section
    /// replaces the whole section; a masked field the body lacks is cleared); without a
    /// mask, every field a client may set is replaced. Sections listed in
    /// `lockedDataKeys` are refused.
    fn patch(&mut self, patch: Patch<'_>) -> Result<(), ApiError> {
        let name = format!("{ROLLOUT_NAME_PREFIX}{}", patch.id);
        if let Some(sent) = patch.body.get("name").filter(|n| !n.is_null())
            && sent.as_str() != Some(&name)
        {
            return Err(invalid(format!("the body names {sent}, not {name}")));
        }
        let paths: Vec<String> = match patch.paths {
            Some(p) => p,
            // Every field a client may set, stored or sent.
            None => self
                .resource
                .keys()
                .chain(patch.body.keys())
                .filter(|k| {
                    k.as_str() != "name"
                        && !ROLLOUT_OUTPUT_ONLY_FIELDS.contains(&k.as_str())
                        && !ROLLOUT_SERVER_SECTIONS.contains(&k.as_str())
                })
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let locked = string_list(self.resource.get("lockedDataKeys"));
        if let Some(path) = paths.iter().find(|p| locked.contains(&mask::top(p))) {
            let state = text(&self.resource, &["state"]).unwrap_or("unknown");
            return Err(failed_precondition(format!(
                "{} is locked while the rollout is {state} (lockedDataKeys); {}",
                mask::top(path),
                if mask::top(path) == "flags" {
                    "change its targeting and flag settings with :updatesegment"
                } else {
                    "it cannot change in this state"
                }
            )));
        }
        let mut resource = self.resource.clone();
        for path in &paths {
            mask::copy(&mut resource, patch.body, path);
        }
        validate_rollout(&resource)?;
        touch(&mut resource, Some(patch.who), &now_rfc3339());
        self.resource = resource;
        Ok(())
    }
}

fn string_list(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `POST .../instances/{id}:action`: the id segment carries the action.
async fn rollout_action(
    State(app): State<Shared>,
    caller: Option<Extension<Caller>>,
    Names(id_action): Names<String>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, action) = id_and_action::<StoredRollout>(&id_action, ":launch or :updatesegment")?;
    let who = caller_name(caller);
    match action {
        "launch" => transition(&app, id, "launch", &who).await,
        "end" => transition(&app, id, "end", &who).await,
        // The reference's spelling takes `{"parameters": {...}}`; the how-to's camelCase one
        // is served too, with or without the wrapper.
        "updatesegment" => update_segment(&app, id, body, true, &who).await,
        "updateSegment" => update_segment(&app, id, body, false, &who).await,
        other => Err(unknown_action::<StoredRollout>(other)),
    }
}

/// `:launch` (draft → live) and `:end` (live → ended): answered at once, the transition
/// shown in `pendingTransition` until it completes in the background.
async fn transition(
    app: &Shared,
    id: &str,
    action: &str,
    who: &str,
) -> Result<Json<Value>, ApiError> {
    let (from, to, steps) = match action {
        "launch" => ("draft", "live", LAUNCH_STEPS),
        _ => ("live", "ended", END_STEPS),
    };
    app.store
        .write(S, |data| {
            let stored: &mut StoredRollout = find_mut(data, id)?;
            if stored
                .resource
                .get("pendingTransition")
                .is_some_and(|p| !transition_failed(p))
            {
                return Err(failed_precondition("a transition is already in progress"));
            }
            let state = text(&stored.resource, &["state"]).unwrap_or_default();
            if state != from {
                return Err(failed_precondition(format!(
                    "only a {from} rollout can {action}; this one is {state}"
                )));
            }
            stored.resource.insert(
                "pendingTransition".to_owned(),
                json!({
                    "transitionAction": action,
                    "targetState": to,
                    "succeededSteps": [],
                    "failedSteps": [],
                    "unprocessedSteps": steps,
                }),
            );
            touch(&mut stored.resource, Some(who), &now_rfc3339());
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
/// knob `launchFailureRate`, fails a launch instead: `failedSteps` filled, state unchanged.
fn schedule_completion(app: &Shared, id: String) {
    let delay = app.runtime().launch_duration;
    let app2 = app.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let fail = app2.runtime().draw_launch_failure();
        let app3 = app2.clone();
        let result = app2
            .store
            .write(S, move |data| {
                complete_transition(&app3, data, &id, fail);
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

fn complete_transition(app: &Shared, data: &mut Data, id: &str, fail: bool) {
    let rule_id = new_id(app, |_| false);
    let Some(stored) = data.confidence.rollouts.get_mut(id) else {
        return;
    };
    let Some(pending) = stored.resource.get("pendingTransition").cloned() else {
        return;
    };
    if transition_failed(&pending) {
        return;
    }
    let now = now_rfc3339();
    let target = pending
        .get("targetState")
        .and_then(Value::as_str)
        .unwrap_or("live")
        .to_owned();
    let steps: Vec<Value> = pending
        .get("unprocessedSteps")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if fail && target == "live" && steps.len() >= 2 {
        let (done, rest) = steps.split_at(1);
        let (failed, unprocessed) = rest.split_at(1);
        stored.resource.insert(
            "pendingTransition".into(),
            json!({
                "transitionAction": pending.get("transitionAction"),
                "targetState": target,
                "succeededSteps": done,
                "failedSteps": [{"actionStep": failed.first(), "failuresMessages": ["injected launch failure"]}],
                "unprocessedSteps": unprocessed,
            }),
        );
        touch(&mut stored.resource, None, &now);
        return;
    }
    stored.resource.remove("pendingTransition");
    assumptions::enter_state(&mut stored.resource, &target, &now);
    if target == "live" {
        // A preloaded example may carry the id its document uses.
        let result_id = stored
            .analysis_result_id
            .get_or_insert_with(|| {
                assumptions::analysis_result_id(id, stored.resource.get("metrics"))
            })
            .clone();
        assumptions::fill_launched(&mut stored.resource, id, &result_id, &rule_id, &now);
        if let Some(segment) = text(&stored.resource, &["flags", "segment"])
            .and_then(|s| s.strip_prefix(SEGMENT_PREFIX))
            .and_then(|s| data.confidence.segments.get_mut(s))
        {
            segment.resource.insert("state".into(), json!("ALLOCATED"));
            segment.resource.insert("updateTime".into(), json!(now));
        }
    }
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

/// The parameters `:updatesegment` takes.
const UPDATE_SEGMENT_PARAMETERS: [&str; 5] = [
    "segment",
    "updateMask",
    "targetingKeySelector",
    "stickyAssignments",
    "ignoreTargetingForSticky",
];

/// `:updatesegment`: updates the rollout's segment (the masked fields, relative to the
/// segment) whatever its allocation, and the rollout's flag settings given beside it.
/// Answers `{"pathAimedToUpdate": <segment name>}`.
async fn update_segment(
    app: &Shared,
    id: &str,
    body: Option<Value>,
    wrapped_only: bool,
    who: &str,
) -> Result<Json<Value>, ApiError> {
    let Some(Value::Object(mut body)) = body else {
        return Err(invalid(
            "the body must be {\"parameters\": {\"segment\": ..., \"updateMask\": ...}}",
        ));
    };
    let parameters = match body.remove("parameters") {
        Some(Value::Object(p)) if body.is_empty() => p,
        Some(_) => return Err(invalid("parameters must be an object and the only field")),
        None if wrapped_only => {
            return Err(invalid(
                "the action's fields go inside {\"parameters\": {...}}",
            ));
        }
        None => body,
    };
    if let Some(k) = parameters
        .keys()
        .find(|k| !UPDATE_SEGMENT_PARAMETERS.contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "unknown parameter {k:?} (expected {})",
            UPDATE_SEGMENT_PARAMETERS.join(", ")
        )));
    }
    let Some(Value::Object(segment)) = parameters.get("segment") else {
        return Err(invalid(
            "parameters.segment is required and must be an object",
        ));
    };
    let paths = match parameters.get("updateMask") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => mask::paths(Some(s)).map_err(invalid)?,
        Some(_) => return Err(invalid("updateMask must be a string")),
    };
    check_field(
        &parameters,
        "targetingKeySelector",
        Value::is_string,
        "targetingKeySelector must be a string",
    )?;
    for flag in ["stickyAssignments", "ignoreTargetingForSticky"] {
        check_field(
            &parameters,
            flag,
            Value::is_boolean,
            format!("{flag} must be a boolean"),
        )?;
    }
    let app2 = app.clone();
    let answer = app
        .store
        .write(S, |data| {
            let rollout_name = format!("{ROLLOUT_NAME_PREFIX}{id}");
            let stored: &StoredRollout = find(data, id)?;
            let own = text(&stored.resource, &["flags", "segment"]).map(str::to_owned);
            let flag = stored
                .resource
                .get("rollout")
                .and_then(|r| r.get("flag"))
                .cloned();
            let given = segment.get("name").and_then(Value::as_str);
            let name = match (&own, given) {
                (Some(own), Some(given)) if own != given => {
                    return Err(invalid(format!(
                        "{given} is not this rollout's segment ({own})"
                    )));
                }
                (Some(own), _) => own.clone(),
                // A rollout whose `flags.segment` was cleared gets a new segment.
                (None, _) => {
                    let segment_id = new_id(&app2, |s| data.confidence.segments.contains_key(s));
                    let name = format!("{SEGMENT_PREFIX}{segment_id}");
                    let fresh = segments::for_rollout(
                        &name,
                        &rollout_name,
                        flag.as_ref(),
                        who,
                        &now_rfc3339(),
                    );
                    segments::insert(data, segment_id, fresh);
                    name
                }
            };
            let segment_id = name.strip_prefix(SEGMENT_PREFIX).unwrap_or(&name);
            let stored_segment: &mut StoredSegment = find_mut(data, segment_id)?;
            let mut next_segment = stored_segment.resource.clone();
            segments::update(&mut next_segment, segment, paths.clone(), who)?;
            stored_segment.resource = next_segment;
            let stored: &mut StoredRollout = find_mut(data, id)?;
            let flags = stored
                .resource
                .entry("flags")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(flags) = flags.as_object_mut() {
                flags.insert("segment".into(), json!(name));
                for field in &UPDATE_SEGMENT_PARAMETERS[2..] {
                    if let Some(v) = parameters.get(*field).filter(|v| !v.is_null()) {
                        flags.insert((*field).to_owned(), v.clone());
                    }
                }
            }
            touch(&mut stored.resource, Some(who), &now_rfc3339());
            Ok(json!({"pathAimedToUpdate": name}))
        })
        .await?;
    Ok(Json(answer))
}
