//! Which Confidence API calls a rollout change needs.
//!
//! The canonical rollout body (desired and live, produced by the normalizer) is
//!
//! ```json
//! { "displayName": "…", "state": "draft" | "live", "labels": { "flagsync-id": "…" },
//!   "flags": { "targetingKeySelector": "…" },
//!   "rollout": { "flag": "flags/…", "variant": "flags/…/variants/…", "reach": "0.5" },
//!   "segment": { "targeting": { "criteria": {…}, "expression": {…} }, "allocation": {…}? },
//!   "metrics": { … } }
//! ```
//!
//! Server-managed fields (`name`, `createTime`, `updateTime`, `pendingTransition`,
//! `stats`, the segment's `name`) are not part of it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One API call (or wait) in applying a rollout action, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum RolloutStep {
    /// `POST /v1/workflows/rollout/instances` with [`create_body`] (labels included). Not
    /// idempotent: after an ambiguous failure, look the rollout up by its label first.
    Create,
    /// `POST …/{id}:updateSegment` with [`segment_body`].
    UpdateSegment { update_mask: String },
    /// `PATCH …/{id}?updateMask=…` with [`patch_body`].
    PatchRollout { update_mask: String },
    /// `POST …/{id}:launch` (returns at once; the transition runs in the background).
    Launch,
    /// Poll GET until `pendingTransition` is gone (and check it did not fail).
    WaitForTransition,
}

impl RolloutStep {
    /// Short human description, e.g. `PATCH ?updateMask=rollout`.
    pub fn describe(&self) -> String {
        match self {
            RolloutStep::Create => "create (POST, draft)".to_owned(),
            RolloutStep::UpdateSegment { update_mask } => {
                format!(":updateSegment (updateMask={update_mask})")
            }
            RolloutStep::PatchRollout { update_mask } => {
                format!("PATCH (updateMask={update_mask})")
            }
            RolloutStep::Launch => ":launch".to_owned(),
            RolloutStep::WaitForTransition => "wait for the transition to finish".to_owned(),
        }
    }
}

/// Top-level blocks a PATCH can change, in the order they are listed in an updateMask.
pub const PATCHABLE_BLOCKS: [&str; 5] = ["displayName", "flags", "rollout", "metrics", "labels"];
/// Blocks handled by their own calls.
const STATE: &str = "state";
const SEGMENT: &str = "segment";

/// The calls for one rollout, plus what cannot be done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutSteps {
    pub steps: Vec<RolloutStep>,
    /// Why part of the change cannot be made through the API (e.g. un-launching).
    pub unsupported: Option<String>,
}

fn state_of(body: &Value) -> &str {
    body.get(STATE).and_then(Value::as_str).unwrap_or("draft")
}

fn field<'a>(body: &'a Value, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

/// Empty targeting (absent, null, `{}`, or only empty parts) matches everyone and needs no
/// `:updateSegment` after a create.
fn is_empty_value(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(map)) => map.values().all(|v| is_empty_value(Some(v))),
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    }
}

/// Segment sub-blocks listed in an updateMask, targeting first.
fn segment_mask_order(keys: &mut [String]) {
    keys.sort_by_key(|k| match k.as_str() {
        "targeting" => (0, String::new()),
        "allocation" => (1, String::new()),
        other => (2, other.to_owned()),
    });
}

/// The steps that turn `live` (absent: the rollout does not exist) into `desired`.
pub fn rollout_steps(live: Option<&Value>, desired: &Value) -> RolloutSteps {
    let empty = Map::new();
    let desired_segment = field(desired, SEGMENT)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = RolloutSteps::default();
    let Some(live) = live else {
        out.steps.push(RolloutStep::Create);
        let mut mask = Vec::new();
        if !is_empty_value(desired_segment.get("targeting")) {
            mask.push("targeting".to_owned());
        }
        if desired_segment
            .get("allocation")
            .is_some_and(|v| !v.is_null())
        {
            mask.push("allocation".to_owned());
        }
        if !mask.is_empty() {
            out.steps.push(RolloutStep::UpdateSegment {
                update_mask: mask.join(","),
            });
        }
        if state_of(desired) == "live" {
            out.steps.push(RolloutStep::Launch);
            out.steps.push(RolloutStep::WaitForTransition);
        }
        return out;
    };

    let live_segment = field(live, SEGMENT)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut segment_mask: Vec<String> = live_segment
        .keys()
        .chain(desired_segment.keys())
        .filter(|k| live_segment.get(*k) != desired_segment.get(*k))
        .cloned()
        .collect();
    segment_mask.sort();
    segment_mask.dedup();
    segment_mask_order(&mut segment_mask);
    if !segment_mask.is_empty() {
        out.steps.push(RolloutStep::UpdateSegment {
            update_mask: segment_mask.join(","),
        });
    }

    let patch_mask: Vec<&str> = PATCHABLE_BLOCKS
        .into_iter()
        .filter(|block| field(live, block) != field(desired, block))
        .collect();
    if !patch_mask.is_empty() {
        out.steps.push(RolloutStep::PatchRollout {
            update_mask: patch_mask.join(","),
        });
    }

    let mut problems = Vec::new();
    match (state_of(live), state_of(desired)) {
        (from, to) if from == to => {}
        ("draft", "live") => {
            out.steps.push(RolloutStep::Launch);
            out.steps.push(RolloutStep::WaitForTransition);
        }
        (from, to) => problems.push(format!(
            "the rollout is {from} and cannot be made {to} through the API \
             (a launched rollout cannot be un-launched); change it in Confidence or set \
             `state: {from}` in the manifest"
        )),
    }

    // Anything else that differs has no API call that changes it.
    let mut other: Vec<&str> = Vec::new();
    for key in live
        .as_object()
        .into_iter()
        .flat_map(Map::keys)
        .chain(desired.as_object().into_iter().flat_map(Map::keys))
    {
        let known = key == STATE || key == SEGMENT || PATCHABLE_BLOCKS.contains(&key.as_str());
        if !known && field(live, key) != field(desired, key) && !other.contains(&key.as_str()) {
            other.push(key);
        }
    }
    if !other.is_empty() {
        problems.push(format!(
            "no API call can change {}",
            other
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !problems.is_empty() {
        out.unsupported = Some(problems.join("; "));
    }
    out
}

/// The body of the create POST: the desired rollout without `state` (a new rollout
/// starts as a draft; launching is its own call) and `segment` (set by `:updateSegment`).
pub fn create_body(desired: &Value) -> Value {
    let mut body = desired.clone();
    if let Some(map) = body.as_object_mut() {
        map.shift_remove(STATE);
        map.shift_remove(SEGMENT);
    }
    body
}

/// The body of `PATCH ?updateMask=<mask>`: the masked top-level blocks of `desired`.
pub fn patch_body(desired: &Value, update_mask: &str) -> Value {
    let mut body = Map::new();
    for block in update_mask
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        if let Some(value) = desired.get(block) {
            body.insert(block.to_owned(), value.clone());
        }
    }
    Value::Object(body)
}

/// The body of `:updateSegment`: `{updateMask, segment: {<masked sub-blocks>}}`. The
/// segment's server-assigned `name` is not in the canonical body; the applier adds it from
/// the live rollout when the API needs it.
pub fn segment_body(desired: &Value, update_mask: &str) -> Value {
    let mut segment = Map::new();
    for block in update_mask
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        if let Some(value) = desired.get(SEGMENT).and_then(|s| s.get(block)) {
            segment.insert(block.to_owned(), value.clone());
        }
    }
    let mut body = Map::new();
    body.insert(
        "updateMask".to_owned(),
        Value::String(update_mask.to_owned()),
    );
    body.insert("segment".to_owned(), Value::Object(segment));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "displayName": "New Search",
            "state": "draft",
            "labels": {"flagsync-id": "new-search"},
            "flags": {"targetingKeySelector": "targeting_key"},
            "rollout": {"flag": "flags/search", "variant": "flags/search/variants/on", "reach": "0.1"},
            "segment": {"targeting": {}},
            "metrics": {"entity": "entities/user"}
        })
    }

    fn with(mut v: Value, pointer: &str, new: Value) -> Value {
        if let Some(slot) = v.pointer_mut(pointer) {
            *slot = new;
        }
        v
    }

    #[test]
    fn create_draft_without_targeting_is_one_post() {
        let s = rollout_steps(None, &base());
        assert_eq!(s.steps, vec![RolloutStep::Create]);
        assert_eq!(s.unsupported, None);
    }

    #[test]
    fn create_live_with_targeting_sets_segment_then_launches_and_waits() {
        let desired = with(base(), "/state", json!("live"));
        let desired = with(
            desired,
            "/segment",
            json!({"targeting": {"criteria": {"c": {}}, "expression": {"ref": "c"}}, "allocation": {"proportion": "1"}}),
        );
        let s = rollout_steps(None, &desired);
        assert_eq!(
            s.steps,
            vec![
                RolloutStep::Create,
                RolloutStep::UpdateSegment {
                    update_mask: "targeting,allocation".into()
                },
                RolloutStep::Launch,
                RolloutStep::WaitForTransition,
            ]
        );
    }

    #[test]
    fn equal_bodies_need_no_steps() {
        assert_eq!(
            rollout_steps(Some(&base()), &base()),
            RolloutSteps::default()
        );
    }

    #[test]
    fn reach_change_is_a_patch_with_rollout_mask() {
        let desired = with(base(), "/rollout/reach", json!("0.5"));
        let s = rollout_steps(Some(&base()), &desired);
        assert_eq!(
            s.steps,
            vec![RolloutStep::PatchRollout {
                update_mask: "rollout".into()
            }]
        );
    }

    #[test]
    fn several_blocks_are_listed_in_one_mask() {
        let desired = with(
            base(),
            "/rollout/variant",
            json!("flags/search/variants/off"),
        );
        let desired = with(desired, "/displayName", json!("Renamed"));
        let desired = with(
            desired,
            "/labels",
            json!({"flagsync-id": "new-search", "team": "x"}),
        );
        let s = rollout_steps(Some(&base()), &desired);
        assert_eq!(
            s.steps,
            vec![RolloutStep::PatchRollout {
                update_mask: "displayName,rollout,labels".into()
            }]
        );
    }

    #[test]
    fn targeting_change_is_update_segment() {
        let desired = with(base(), "/segment/targeting", json!({"criteria": {"a": {}}}));
        let s = rollout_steps(Some(&base()), &desired);
        assert_eq!(
            s.steps,
            vec![RolloutStep::UpdateSegment {
                update_mask: "targeting".into()
            }]
        );
    }

    #[test]
    fn draft_to_live_launches_after_other_changes() {
        let desired = with(base(), "/state", json!("live"));
        let desired = with(desired, "/rollout/reach", json!("0.2"));
        let s = rollout_steps(Some(&base()), &desired);
        assert_eq!(
            s.steps,
            vec![
                RolloutStep::PatchRollout {
                    update_mask: "rollout".into()
                },
                RolloutStep::Launch,
                RolloutStep::WaitForTransition,
            ]
        );
        assert_eq!(s.unsupported, None);
    }

    #[test]
    fn live_to_draft_is_unsupported_but_other_changes_still_run() {
        let live = with(base(), "/state", json!("live"));
        let desired = with(base(), "/rollout/reach", json!("0.3"));
        let s = rollout_steps(Some(&live), &desired);
        assert_eq!(
            s.steps,
            vec![RolloutStep::PatchRollout {
                update_mask: "rollout".into()
            }]
        );
        let reason = s.unsupported.unwrap_or_default();
        assert!(reason.contains("cannot be un-launched"), "{reason}");
    }

    #[test]
    fn unknown_differing_field_is_reported() {
        let mut desired = base();
        if let Some(map) = desired.as_object_mut() {
            map.insert("owner".into(), json!("team-a"));
        }
        let s = rollout_steps(Some(&base()), &desired);
        assert!(s.steps.is_empty());
        assert!(s.unsupported.unwrap_or_default().contains("`owner`"));
    }

    #[test]
    fn bodies_for_the_calls() {
        let desired = with(base(), "/state", json!("live"));
        let create = create_body(&desired);
        assert!(create.get("state").is_none() && create.get("segment").is_none());
        assert_eq!(create["labels"], json!({"flagsync-id": "new-search"}));
        assert_eq!(
            patch_body(&desired, "rollout,labels"),
            json!({"rollout": desired["rollout"], "labels": desired["labels"]})
        );
        assert_eq!(
            segment_body(&desired, "targeting"),
            json!({"updateMask": "targeting", "segment": {"targeting": {}}})
        );
    }
}
