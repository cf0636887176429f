//! Confidence rollout actions: the plan's steps in order, with the non-idempotent calls
//! (create, launch) made at most once per intent: after an unknown outcome the rollout is
//! read back before anything is sent again.
//!
//! The rollout API has no etag, so every write is guarded by a read right before it: the
//! rollout and its segment are read, and when the fields flagsync manages are no longer
//! what the plan saw (plus what this action's earlier steps changed), someone changed the
//! rollout meanwhile and the step is refused as a conflict, like a failed `test` of a
//! CloudBees JSON Patch, instead of overwriting the change. The same read is what a PATCH
//! body is built from (each masked section complete, as the service holds it).
//!
//! Two applies of one repository at once must never both keep a copy of a rollout. The
//! rollout API documents nothing atomic to build a lock or lease on (no conditional
//! create, no etag, no id the client picks, no delete to release one), so a create is
//! checked on both sides instead:
//!
//! 1. right before the POST, the rollouts carrying the id label are listed: one made since
//!    the plan read live state (another run's create in flight) is a conflict, and nothing
//!    is created;
//! 2. right after it, they are listed again. A run that sees only its own copy keeps it. A
//!    run that sees others steps back (its copy loses the label, see [`unmanaged_labels`])
//!    unless its copy is the oldest, which then waits for the others to step back.
//!
//! With a list that shows every create finished before it (as a single service's list
//! does), two copies are never both kept: of two creates, the later one's list shows the
//! earlier copy, so that run keeps its own only when it is the oldest and the other was
//! un-labelled, which the other run does only when it steps back. Creation times are only
//! used to choose who waits, so that in the usual case one run keeps its copy at once.

use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use flagsync_live::{
    DUPLICATE_OF_LABEL, LiveRollout, ROLLOUT_ID_LABEL, creation_order, instance_id,
    unmanaged_labels,
};
use flagsync_plan::normalize::canonical_rollout;
use flagsync_plan::rollout::{after_step, create_body, patch_body, segment_parameters};
use flagsync_plan::{Action, Operation, PatchOp, RolloutStep, diff};
use flagsync_remote::{ConfidenceClient, RemoteError};

use crate::ApplyOptions;
use crate::cloudbees::short;
use crate::execute::{ActionResult, Done, Fail};

/// Launch attempts when each one ends with an unknown outcome and a read shows the rollout
/// still a draft with nothing under way.
const MAX_LAUNCH_ATTEMPTS: u32 = 3;

pub(crate) async fn run(
    action: &Action,
    client: &ConfidenceClient,
    options: &ApplyOptions,
) -> ActionResult {
    let remote_id = || {
        action
            .remote_id
            .as_deref()
            .map(instance_id)
            .map(str::to_owned)
    };
    if action.operation == Operation::Delete {
        // The planner marks it unsupported (and warns at plan time): nothing is sent, and it
        // is reported skipped, never succeeded, since the rollout is still there. Without
        // that mark the plan asked for something impossible: fail.
        if let Some(unsupported) = &action.unsupported {
            return Err(Fail {
                remote_id: remote_id(),
                ..Fail::skipped(format!("not possible through the API: {unsupported}"))
            });
        }
        return Err(Fail::new(
            "the Confidence API has no call that deletes a rollout; end or remove it in \
             Confidence, or keep its manifest",
        ));
    }
    // Every part of the change is one no call can make: skipped as a whole.
    if action.steps.is_empty()
        && let Some(unsupported) = &action.unsupported
    {
        return Err(Fail {
            remote_id: remote_id(),
            ..Fail::skipped(format!("not possible through the API: {unsupported}"))
        });
    }
    let mut run = Run {
        action,
        client,
        options,
        id: action
            .remote_id
            .as_deref()
            .map(instance_id)
            .map(str::to_owned),
        expected: action.live.clone(),
        written: false,
        warnings: Vec::new(),
    };
    if let Some(unsupported) = &action.unsupported {
        run.warnings.push(format!(
            "not applied (no API call can do it): {unsupported}"
        ));
    }
    match run.steps().await {
        Ok(()) => Ok(Done {
            remote_id: run.id,
            warnings: run.warnings,
        }),
        Err(mut fail) => {
            fail.remote_id = run.id;
            fail.warnings = run.warnings;
            Err(fail)
        }
    }
}

struct Run<'a> {
    action: &'a Action,
    client: &'a ConfidenceClient,
    options: &'a ApplyOptions,
    /// The bare instance id, once known.
    id: Option<String>,
    /// The canonical body the next write expects to find: what the plan saw, then what
    /// this action's own steps made of it. `None` before a create.
    expected: Option<Value>,
    /// Whether a step of this action has written already.
    written: bool,
    warnings: Vec<String>,
}

impl Run<'_> {
    async fn steps(&mut self) -> Result<(), Fail> {
        for step in &self.action.steps {
            let what = step.describe();
            match step {
                RolloutStep::Create => {
                    if let Some(id) = &self.id {
                        return Err(Fail::new(format!(
                            "the plan creates a rollout that already has an id ({id})"
                        )));
                    }
                    let id = self.create().await?;
                    self.id = Some(id.clone());
                    self.written = true;
                    // Later steps expect the rollout as it was just created.
                    let created = self.read(&what).await?;
                    self.expected = Some(canonical_rollout(&created));
                }
                RolloutStep::UpdateSegment {
                    update_mask,
                    flag_settings,
                } => {
                    let id = self.id()?;
                    let fresh = self.guard(&what).await?;
                    let parameters = segment_parameters(
                        self.desired()?,
                        fresh.segment_name.as_deref(),
                        update_mask,
                        *flag_settings,
                    );
                    self.client
                        .update_segment(&id, &parameters)
                        .await
                        .map_err(|e| step_failed(&what, e))?;
                }
                RolloutStep::PatchRollout { update_mask } => {
                    let id = self.id()?;
                    let fresh = self.guard(&what).await?;
                    let locked: Vec<&str> = update_mask
                        .split(',')
                        .map(str::trim)
                        .filter(|b| fresh.locked_data_keys.iter().any(|k| k == b))
                        .collect();
                    if !locked.is_empty() {
                        return Err(Fail::conflict(format!(
                            "{what}: {} cannot change while the rollout is {} (the service \
                             locks it); {}. Plan again.",
                            locked.join(", "),
                            fresh.state.as_deref().unwrap_or("in this state"),
                            self.nothing_written()
                        )));
                    }
                    let body = patch_body(self.desired()?, &fresh.body, update_mask);
                    self.client
                        .patch_rollout(&id, update_mask, &body)
                        .await
                        .map_err(|e| step_failed(&what, e))?;
                }
                RolloutStep::Launch => self.launch().await?,
                RolloutStep::WaitForTransition => {
                    let id = self.id()?;
                    let rollout = self
                        .client
                        .wait_for_transition(&id, self.options.transition_deadline)
                        .await
                        .map_err(|e| step_failed(&what, e))?;
                    // The transition ended without failed steps; check it reached the state
                    // the plan wants.
                    let want = self
                        .action
                        .desired
                        .as_ref()
                        .and_then(|d| d.get("state"))
                        .and_then(Value::as_str);
                    let now = rollout.state.as_deref();
                    if let Some(want) = want
                        && now != Some(want)
                    {
                        return Err(Fail::new(format!(
                            "the transition finished but the rollout is {}, not {want}",
                            now.unwrap_or("in an unknown state")
                        )));
                    }
                }
            }
            if step.writes() {
                self.written = true;
            }
            if let Some(expected) = &self.expected {
                let desired = self.desired()?;
                self.expected = Some(after_step(expected, desired, step));
            }
        }
        Ok(())
    }

    fn id(&self) -> Result<String, Fail> {
        self.id
            .clone()
            .ok_or_else(|| Fail::new("the plan gives no remote id for this rollout"))
    }

    fn desired(&self) -> Result<&Value, Fail> {
        self.action
            .desired
            .as_ref()
            .filter(|d| d.is_object())
            .ok_or_else(|| Fail::new("the plan carries no desired rollout body"))
    }

    fn nothing_written(&self) -> &'static str {
        if self.written {
            "the earlier steps of this action were applied, this one was not sent"
        } else {
            "nothing was written"
        }
    }

    /// The rollout with its segment, read now.
    async fn read(&self, what: &str) -> Result<LiveRollout, Fail> {
        let id = self.id()?;
        match self.client.read_rollout(&id).await {
            Ok(Some(rollout)) => Ok(rollout),
            Ok(None) => Err(Fail::conflict(format!(
                "{what}: rollout {id} was deleted since the plan was made; {}. Plan again.",
                self.nothing_written()
            ))),
            Err(e) => Err(Fail::new(format!(
                "{what}: reading rollout {id} before writing failed: {e}"
            ))),
        }
    }

    /// Reads the rollout and refuses when what flagsync manages of it is not what this
    /// write expects (someone changed it since the plan was made).
    async fn guard(&self, what: &str) -> Result<LiveRollout, Fail> {
        let fresh = self.read(what).await?;
        let Some(expected) = &self.expected else {
            return Ok(fresh);
        };
        let now = canonical_rollout(&fresh);
        if &now == expected {
            return Ok(fresh);
        }
        // A field that changed to what the plan wants anyway overwrites nothing (an earlier,
        // interrupted run, say).
        let changes = changed_fields(expected, &now, self.desired()?);
        if changes.is_empty() {
            return Ok(fresh);
        }
        let by = match (&fresh.update_time, &fresh.updater) {
            (Some(time), Some(who)) => format!(" (last updated {time} by {who})"),
            (Some(time), None) => format!(" (last updated {time})"),
            _ => String::new(),
        };
        Err(Fail::conflict(format!(
            "rollout {} changed since the plan was made{by}: {}; {}. Plan again to see the \
             change.",
            self.id.as_deref().unwrap_or("?"),
            changes.join("; "),
            self.nothing_written()
        )))
    }

    /// Creates the rollout unless a rollout with its id label exists already (another run's
    /// create since the plan), then makes sure no copy made at the same moment by another
    /// run keeps the label too (see the module's documentation).
    async fn create(&mut self) -> Result<String, Fail> {
        let label = self.action.key.name.clone();
        let body = labelled_create_body(self.desired()?, &label)?;
        let existing = self
            .client
            .find_rollouts_by_flagsync_id(&label)
            .await
            .map_err(|e| {
                Fail::new(format!(
                    "create: looking for a rollout with label {ROLLOUT_ID_LABEL}={label} right                      before creating it failed, so nothing was created: {e}"
                ))
            })?;
        if !existing.is_empty() {
            return Err(created_elsewhere(&label, &existing));
        }
        let id = self.post(&body, &label).await?;
        self.settle(&label, &id).await?;
        Ok(id)
    }

    /// POSTs the create at most once per attempt, and a further attempt only when a lookup
    /// by the id label proved the previous one created nothing.
    async fn post(&self, body: &Value, label: &str) -> Result<String, Fail> {
        let attempts = self.options.max_create_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.client.create_rollout(body).await {
                Ok(created) => {
                    return created.instance_id.ok_or_else(|| {
                        Fail::new(format!(
                            "the rollout was created but the answer names no instance; find it \
                             by its label {ROLLOUT_ID_LABEL}={label} and plan again"
                        ))
                    });
                }
                Err(e) if e.is_ambiguous() => {
                    tracing::warn!(
                        rollout = label,
                        attempt,
                        "create outcome unknown; looking the rollout up by its label"
                    );
                    let found = self
                        .client
                        .find_rollouts_by_flagsync_id(label)
                        .await
                        .map_err(|lookup| {
                            Fail::new(format!(
                                "{e}; looking it up by its label {ROLLOUT_ID_LABEL}={label} then \
                                 failed too ({lookup}): check Confidence for a rollout with that \
                                 label before applying again"
                            ))
                        })?;
                    match found.as_slice() {
                        [] => last = e.to_string(),
                        [one] => {
                            return one.instance_id.clone().ok_or_else(|| {
                                Fail::new(format!(
                                    "a rollout with label {ROLLOUT_ID_LABEL}={label} exists but \
                                     names no instance"
                                ))
                            });
                        }
                        several => return Err(copies_fail(label, several, "")),
                    }
                }
                Err(e) => return Err(step_failed("create", e)),
            }
        }
        Err(Fail::new(format!(
            "create: the outcome was unknown {attempts} time(s) and each time no rollout was \
             found afterwards; last error: {last}"
        )))
    }

    /// After creating `own`: keeps it when no other rollout carries `label`; otherwise
    /// steps back (un-labels `own`) unless `own` is the oldest copy, which waits up to
    /// [`ApplyOptions::duplicate_wait`] for the others to step back, and then steps back
    /// itself (their run saw its copy alone and keeps it).
    async fn settle(&mut self, label: &str, own: &str) -> Result<(), Fail> {
        let seen = self.copies(label, own).await?;
        let others: Vec<&LiveRollout> = seen
            .iter()
            .filter(|r| r.instance_id.as_deref() != Some(own))
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let mine = seen
            .iter()
            .find(|r| r.instance_id.as_deref() == Some(own))
            .ok_or_else(|| Fail::new("internal error: the rollout just created went missing"))?;
        let oldest = seen.iter().min_by(|a, b| creation_order(a, b));
        if oldest.and_then(|r| r.instance_id.as_deref()) != Some(own) {
            return Err(self.step_back(label, mine, &others).await);
        }
        tracing::warn!(
            rollout = label,
            copies = seen.len(),
            "another run created the same rollout at the same moment; waiting for it to step back"
        );
        let deadline = Instant::now() + self.options.duplicate_wait;
        let mut delay = Duration::from_millis(100);
        let mut remaining: Vec<&LiveRollout> = others.clone();
        loop {
            let mut still = Vec::new();
            for other in remaining {
                let id = other.instance_id.as_deref().unwrap_or_default();
                match self.client.get_rollout(id).await {
                    Ok(Some(now)) if now.flagsync_id.as_deref() != Some(label) => {}
                    Ok(None) => {}
                    // Still labelled, or unknown: it may still be kept.
                    Ok(Some(_)) | Err(_) => still.push(other),
                }
            }
            if still.is_empty() {
                self.warnings.push(format!(
                    "another apply created this rollout at the same moment; its copy {} \
                     stepped back and carries {DUPLICATE_OF_LABEL}={label} now (Confidence \
                     cannot delete it: remove it there)",
                    names(&others)
                ));
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.step_back(label, mine, &still).await);
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_secs(1));
            remaining = still;
        }
    }

    /// The rollouts carrying `label`, from a list that shows `own` (just created): a list
    /// that does not show it yet cannot show a copy made at the same moment either.
    async fn copies(&self, label: &str, own: &str) -> Result<Vec<LiveRollout>, Fail> {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=4 {
            let found = self
                .client
                .find_rollouts_by_flagsync_id(label)
                .await
                .map_err(|e| {
                    Fail::new(format!(
                        "created rollout {own}, then listing the rollouts with label \
                         {ROLLOUT_ID_LABEL}={label} to check that no other run created one at \
                         the same moment failed: {e}; nothing more was written. Plan again: \
                         it reports copies"
                    ))
                })?;
            if found.iter().any(|r| r.instance_id.as_deref() == Some(own)) {
                return Ok(found);
            }
            if attempt < 4 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
        Err(Fail::new(format!(
            "created rollout {own}, but the rollout list does not show it yet, so whether \
             another run created one at the same moment cannot be told; nothing more was \
             written. Plan again: it reports copies"
        )))
    }

    /// Un-labels this run's copy `mine` (another run keeps its own), and says so as a
    /// conflict; when that fails, the copies are left for `flagsync dedupe`.
    async fn step_back(&self, label: &str, mine: &LiveRollout, others: &[&LiveRollout]) -> Fail {
        let own = mine.instance_id.as_deref().unwrap_or_default();
        let body = json!({"labels": unmanaged_labels(&mine.body, label)});
        match self.client.patch_rollout(own, "labels", &body).await {
            Ok(_) => Fail::conflict(format!(
                "another apply created this rollout at the same moment and keeps its copy {}; \
                 this run's copy {own} stepped back: it lost its {ROLLOUT_ID_LABEL} label and \
                 carries {DUPLICATE_OF_LABEL}={label}, a draft never launched (Confidence \
                 cannot delete it: remove it there). Nothing else was written; plan again \
                 once the other apply is done",
                names(others)
            )),
            Err(e) => {
                let mut all: Vec<&LiveRollout> = others.to_vec();
                all.push(mine);
                copies_fail(
                    label,
                    &all.into_iter().cloned().collect::<Vec<_>>(),
                    &format!(
                        " (another apply created one at the same moment, and un-labelling this \
                         run's copy {own} failed: {e})"
                    ),
                )
            }
        }
    }

    /// Launches unless a read shows it already live or launching (an earlier, interrupted
    /// run); after an unknown outcome, reads again before deciding. The first read is the
    /// write's guard.
    async fn launch(&self) -> Result<(), Fail> {
        let id = self.id()?;
        let mut last = String::new();
        for attempt in 0..MAX_LAUNCH_ATTEMPTS {
            let current = if attempt == 0 {
                self.guard(":launch").await?
            } else {
                self.read(":launch").await?
            };
            match launch_state(&current) {
                LaunchState::Live | LaunchState::Launching => return Ok(()),
                LaunchState::Draft => {}
                LaunchState::Other(what) => {
                    return Err(Fail::new(format!("cannot launch: the rollout is {what}")));
                }
            }
            match self.client.launch(&id).await {
                Ok(()) => return Ok(()),
                Err(e) if e.is_ambiguous() => last = e.to_string(),
                Err(e) => return Err(step_failed(":launch", e)),
            }
        }
        Err(Fail::new(format!(
            ":launch: the outcome was unknown {MAX_LAUNCH_ATTEMPTS} time(s) and the rollout \
             stayed a draft; last error: {last}"
        )))
    }
}

/// A rollout with the id label appeared after the plan read live state: another apply's
/// create (or copies made elsewhere). Nothing was created.
fn created_elsewhere(label: &str, existing: &[LiveRollout]) -> Fail {
    match existing {
        [one] => {
            let when = match (&one.create_time, &one.updater) {
                (Some(time), Some(who)) => format!(" (created {time}, last updated by {who})"),
                (Some(time), None) => format!(" (created {time})"),
                _ => String::new(),
            };
            Fail::conflict(format!(
                "rollout {} already carries {ROLLOUT_ID_LABEL}={label}{when}, though none did \
                 when this plan read live state: another apply of this repository is probably \
                 running. Nothing was created; plan again once it is done",
                one.instance_id.as_deref().unwrap_or("(unnamed)")
            ))
        }
        several => copies_fail(label, several, "; nothing was created"),
    }
}

/// Several rollouts carry one id: which, and the command that keeps one.
fn copies_fail(label: &str, copies: &[LiveRollout], context: &str) -> Fail {
    let refs: Vec<&LiveRollout> = copies.iter().collect();
    Fail::conflict(format!(
        "{} rollouts carry {ROLLOUT_ID_LABEL}={label}: {}{context}. Keep one with `flagsync \
         dedupe --keep INSTANCE` (it un-labels the others; `flagsync dedupe` lists them), then \
         plan again",
        copies.len(),
        names(&refs)
    ))
}

/// `abc (draft, created 2026-…), def (live)`.
fn names(rollouts: &[&LiveRollout]) -> String {
    rollouts
        .iter()
        .map(|r| {
            let id = r.instance_id.as_deref().unwrap_or("(unnamed)");
            match (&r.state, &r.create_time) {
                (Some(state), Some(time)) => format!("{id} ({state}, created {time})"),
                (Some(state), None) => format!("{id} ({state})"),
                (None, Some(time)) => format!("{id} (created {time})"),
                (None, None) => id.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/rollout/reach: the plan saw "0.5", now "0.7"` for every managed field that differs
/// from what was expected, unless it now holds what `desired` wants.
fn changed_fields(expected: &Value, now: &Value, desired: &Value) -> Vec<String> {
    let mut out: Vec<String> = diff(expected, now)
        .iter()
        .filter_map(|op| {
            let path = match op {
                PatchOp::Test { .. } => return None,
                other => other.path(),
            };
            let saw = expected.pointer(path);
            let is = now.pointer(path);
            if is == desired.pointer(path) {
                return None;
            }
            Some(format!(
                "{path}: the plan saw {}, now {}",
                saw.map_or_else(|| "nothing".to_owned(), short),
                is.map_or_else(|| "nothing".to_owned(), short)
            ))
        })
        .collect();
    out.dedup();
    out
}

/// The create body with the id label set, so an interrupted create can be found again.
fn labelled_create_body(desired: &Value, label: &str) -> Result<Value, Fail> {
    let mut body = create_body(desired);
    let Some(map) = body.as_object_mut() else {
        return Err(Fail::new("the desired rollout body is not an object"));
    };
    let labels = map
        .entry("labels")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(labels) = labels.as_object_mut() else {
        return Err(Fail::new("the desired rollout's `labels` is not a map"));
    };
    match labels.get(ROLLOUT_ID_LABEL) {
        None => {
            labels.insert(ROLLOUT_ID_LABEL.to_owned(), Value::String(label.to_owned()));
        }
        Some(Value::String(v)) if v == label => {}
        Some(other) => {
            return Err(Fail::new(format!(
                "the desired rollout's label {ROLLOUT_ID_LABEL} is {other}, but the action is \
                 for rollout {label:?}"
            )));
        }
    }
    Ok(body)
}

enum LaunchState {
    Draft,
    Launching,
    Live,
    Other(String),
}

fn launch_state(rollout: &LiveRollout) -> LaunchState {
    let state = rollout.state.as_deref().unwrap_or("");
    if let Some(pending) = &rollout.pending_transition {
        let target = pending.target_state.as_deref().unwrap_or("");
        return if target == "live" {
            LaunchState::Launching
        } else {
            LaunchState::Other(format!("{state} with a transition to {target:?} under way"))
        };
    }
    match state {
        "live" => LaunchState::Live,
        "draft" => LaunchState::Draft,
        other => LaunchState::Other(format!("{other:?}")),
    }
}

fn step_failed(step: &str, e: RemoteError) -> Fail {
    match e {
        RemoteError::Conflict { .. } => Fail::conflict(format!("{step}: {e}; plan again")),
        // The plan's rollout is gone: changed since the plan, like a failed guard.
        RemoteError::NotFound { .. } => Fail::conflict(format!(
            "{step}: {e} (deleted since the plan was made?); plan again"
        )),
        e => Fail::new(format!("{step}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_gets_the_label_and_loses_state_and_segment() {
        let desired =
            json!({"displayName": "X", "state": "live", "segment": {}, "labels": {"team": "a"}});
        let body = labelled_create_body(&desired, "x").unwrap();
        assert_eq!(
            body,
            json!({"displayName": "X", "labels": {"team": "a", "flagsync-id": "x"}})
        );
        let wrong = json!({"labels": {"flagsync-id": "y"}});
        assert!(labelled_create_body(&wrong, "x").is_err());
        assert!(labelled_create_body(&json!({"labels": []}), "x").is_err());
    }

    #[test]
    fn launch_states() {
        assert!(matches!(
            launch_state(&LiveRollout::new(json!({"state": "draft"}))),
            LaunchState::Draft
        ));
        assert!(matches!(
            launch_state(&LiveRollout::new(json!({"state": "live"}))),
            LaunchState::Live
        ));
        assert!(matches!(
            launch_state(&LiveRollout::new(
                json!({"state": "draft", "pendingTransition": {"targetState": "live"}})
            )),
            LaunchState::Launching
        ));
        assert!(matches!(
            launch_state(&LiveRollout::new(
                json!({"state": "live", "pendingTransition": {"targetState": "ended"}})
            )),
            LaunchState::Other(_)
        ));
        assert!(matches!(
            launch_state(&LiveRollout::new(json!({"state": "ended"}))),
            LaunchState::Other(_)
        ));
    }

    fn client() -> ConfidenceClient {
        use flagsync_remote::{ConfidenceAuth, ConfidenceSettings, ConfidenceUrls, Secret};
        ConfidenceClient::new(ConfidenceSettings {
            // Nothing listens there: these actions must not send anything.
            urls: ConfidenceUrls::all("http://127.0.0.1:9"),
            ..ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new("t")))
        })
        .unwrap()
    }

    fn delete(unsupported: Option<&str>) -> Action {
        Action {
            id: "rollout/old".into(),
            key: flagsync_plan::ResourceKey::rollout("old"),
            operation: Operation::Delete,
            patch: Vec::new(),
            desired: None,
            live: Some(json!({})),
            live_fingerprint: None,
            remote_id: Some("workflows/rollout/instances/abc".into()),
            depends_on: Vec::new(),
            steps: Vec::new(),
            unsupported: unsupported.map(str::to_owned),
            origin: None,
            used_by: Vec::new(),
        }
    }

    #[test]
    fn changed_fields_name_each_path_with_both_values() {
        let saw = json!({"rollout": {"reach": "0.5"}, "labels": {"a": "b"}, "state": "draft"});
        let now = json!({"rollout": {"reach": "0.7"}, "labels": {}, "state": "live"});
        let desired = json!({"rollout": {"reach": "0.6"}, "labels": {"a": "b"}, "state": "live"});
        assert_eq!(
            changed_fields(&saw, &now, &desired),
            vec![
                r#"/rollout/reach: the plan saw "0.5", now "0.7""#.to_owned(),
                r#"/labels/a: the plan saw "b", now nothing"#.to_owned(),
            ]
        );
        // Already what the plan wants: no conflict.
        assert!(changed_fields(&saw, &desired, &desired).is_empty());
    }

    /// A client of a fresh emulator (kept alive by the first value).
    fn emulated() -> (flagsync_emulator::BackgroundEmulator, ConfidenceClient) {
        use flagsync_remote::{ConfidenceAuth, ConfidenceSettings, ConfidenceUrls, Secret};
        let emulator = flagsync_emulator::spawn_background(flagsync_emulator::EmulatorConfig {
            launch_duration: Duration::from_millis(10),
            ..flagsync_emulator::EmulatorConfig::default()
        })
        .unwrap();
        let client = ConfidenceClient::new(ConfidenceSettings {
            urls: ConfidenceUrls::all(&emulator.confidence_url()),
            ..ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new(
                flagsync_emulator::DEFAULT_TOKEN,
            )))
        })
        .unwrap();
        (emulator, client)
    }

    /// Creates a rollout carrying `label` the way another run would; its instance id.
    async fn other_copy(client: &ConfidenceClient, label: &str) -> String {
        let body =
            json!({"displayName": "X", "labels": {"flagsync-id": label, "managed-by": "flagsync"}});
        let created = client.create_rollout(&body).await.unwrap();
        // Creation times have millisecond precision: keep the copies apart.
        tokio::time::sleep(Duration::from_millis(5)).await;
        created.instance_id.unwrap()
    }

    fn create(label: &str) -> Action {
        Action {
            id: format!("rollout/{label}"),
            key: flagsync_plan::ResourceKey::rollout(label),
            operation: Operation::Create,
            desired: Some(json!({"displayName": "X", "state": "draft"})),
            live: None,
            remote_id: None,
            steps: vec![RolloutStep::Create],
            ..delete(None)
        }
    }

    async fn labelled(client: &ConfidenceClient, label: &str) -> Vec<String> {
        let mut ids: Vec<String> = client
            .find_rollouts_by_flagsync_id(label)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|r| r.instance_id)
            .collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn a_rollout_created_since_the_plan_is_a_conflict_and_not_created_again() {
        let (_emulator, client) = emulated();
        let theirs = other_copy(&client, "x").await;
        let fail = run(&create("x"), &client, &ApplyOptions::default())
            .await
            .unwrap_err();
        assert!(fail.conflict, "{fail:?}");
        assert!(fail.reason.contains(&theirs), "{}", fail.reason);
        assert!(
            fail.reason
                .contains("another apply of this repository is probably running"),
            "{}",
            fail.reason
        );
        assert_eq!(client.list_rollouts(None).await.unwrap().len(), 1);

        // Copies that exist are all named, with the command that keeps one.
        let second = other_copy(&client, "x").await;
        let fail = run(&create("x"), &client, &ApplyOptions::default())
            .await
            .unwrap_err();
        assert!(fail.reason.contains(&theirs) && fail.reason.contains(&second));
        assert!(
            fail.reason.contains("flagsync dedupe --keep INSTANCE"),
            "{}",
            fail.reason
        );
        assert_eq!(client.list_rollouts(None).await.unwrap().len(), 2);
    }

    /// A run settling the create of `own`, as right after its POST.
    async fn settle(
        client: &ConfidenceClient,
        own: &str,
        wait: Duration,
    ) -> (Result<(), Fail>, Vec<String>) {
        let action = create("x");
        let options = ApplyOptions {
            duplicate_wait: wait,
            ..ApplyOptions::default()
        };
        let mut run = Run {
            action: &action,
            client,
            options: &options,
            id: Some(own.to_owned()),
            expected: None,
            written: true,
            warnings: Vec::new(),
        };
        let result = run.settle("x", own).await;
        (result, run.warnings)
    }

    #[tokio::test]
    async fn alone_a_copy_is_kept() {
        let (_emulator, client) = emulated();
        let own = other_copy(&client, "x").await;
        let (result, warnings) = settle(&client, &own, Duration::from_secs(5)).await;
        assert!(result.is_ok() && warnings.is_empty());
        assert_eq!(labelled(&client, "x").await, vec![own]);
    }

    #[tokio::test]
    async fn the_newer_of_two_copies_steps_back() {
        let (_emulator, client) = emulated();
        let theirs = other_copy(&client, "x").await;
        let own = other_copy(&client, "x").await;
        let (result, _) = settle(&client, &own, Duration::from_secs(5)).await;
        let fail = result.unwrap_err();
        assert!(fail.conflict, "{fail:?}");
        assert!(fail.reason.contains(&theirs), "{}", fail.reason);
        assert!(fail.reason.contains("stepped back"), "{}", fail.reason);
        assert_eq!(labelled(&client, "x").await, vec![theirs]);
        let mine = client.get_rollout(&own).await.unwrap().unwrap();
        assert_eq!(
            flagsync_live::labels(&mine.body),
            [("flagsync-duplicate-of".to_owned(), "x".to_owned())]
                .into_iter()
                .collect()
        );
    }

    #[tokio::test]
    async fn the_older_copy_is_kept_once_the_newer_one_stepped_back() {
        let (_emulator, client) = emulated();
        let own = other_copy(&client, "x").await;
        let theirs = other_copy(&client, "x").await;
        let other = client.clone();
        let stepping_back = theirs.clone();
        let background = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let body = json!({"labels": {"flagsync-duplicate-of": "x"}});
            other
                .patch_rollout(&stepping_back, "labels", &body)
                .await
                .unwrap();
        });
        let (result, warnings) = settle(&client, &own, Duration::from_secs(30)).await;
        background.await.unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(
            warnings.len() == 1 && warnings[0].contains(&theirs),
            "{warnings:?}"
        );
        assert_eq!(labelled(&client, "x").await, vec![own]);
    }

    #[tokio::test]
    async fn the_older_copy_steps_back_when_the_newer_one_is_kept() {
        // The newer copy's run saw it alone (its list came before this create), so it keeps
        // it: after the wait, the older copy steps back and one copy stays labelled.
        let (_emulator, client) = emulated();
        let own = other_copy(&client, "x").await;
        let theirs = other_copy(&client, "x").await;
        let (result, _) = settle(&client, &own, Duration::from_millis(300)).await;
        let fail = result.unwrap_err();
        assert!(
            fail.conflict && fail.reason.contains("stepped back"),
            "{fail:?}"
        );
        assert_eq!(labelled(&client, "x").await, vec![theirs]);
    }

    #[tokio::test]
    async fn a_rollout_delete_sends_nothing_and_is_skipped() {
        let options = ApplyOptions::default();
        let skipped = run(&delete(Some("no delete call")), &client(), &options)
            .await
            .unwrap_err();
        assert!(skipped.skipped);
        assert_eq!(skipped.remote_id.as_deref(), Some("abc"));
        assert_eq!(
            skipped.reason,
            "not possible through the API: no delete call"
        );
        let fail = run(&delete(None), &client(), &options).await.unwrap_err();
        assert!(!fail.skipped);
        assert!(fail.reason.contains("no call that deletes a rollout"));

        // An update whose every part is impossible is skipped too.
        let mut update = delete(Some("a launched rollout cannot be un-launched"));
        update.operation = Operation::Update;
        update.desired = Some(json!({}));
        let skipped = run(&update, &client(), &options).await.unwrap_err();
        assert!(skipped.skipped, "{skipped:?}");
    }
}
