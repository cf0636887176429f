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

use serde_json::{Map, Value};

use flagsync_live::{LiveRollout, ROLLOUT_ID_LABEL, instance_id};
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

    /// POSTs the create at most once per attempt, and a further attempt only when a lookup
    /// by the id label proved the previous one created nothing.
    async fn create(&self) -> Result<String, Fail> {
        let label = self.action.key.name.as_str();
        let body = labelled_create_body(self.desired()?, label)?;
        let attempts = self.options.max_create_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            match self.client.create_rollout(&body).await {
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
                        several => {
                            let ids: Vec<&str> = several
                                .iter()
                                .map(|r| r.instance_id.as_deref().unwrap_or("(unnamed)"))
                                .collect();
                            return Err(Fail::new(format!(
                                "{} rollouts carry the label {ROLLOUT_ID_LABEL}={label}: {}; \
                                 delete the extra copies in Confidence, then plan again",
                                ids.len(),
                                ids.join(", ")
                            )));
                        }
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
