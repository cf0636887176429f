//! Which Confidence API calls a rollout change needs, and what flagsync owns of a rollout.
//!
//! The canonical rollout body (desired and live, produced by the normalizer) holds only the
//! fields a manifest manages, [`ROLLOUT_MANAGED`] and [`SEGMENT_MANAGED`]:
//!
//! ```json
//! { "displayName": "…", "state": "draft" | "live" | "ended", "labels": { "flagsync-id": "…" },
//!   "flags": { "targetingKeySelector": "…" },
//!   "rollout": { "flag": "flags/…", "variant": "flags/…/variants/…", "reach": "0.5" },
//!   "segment": { "targeting": { "criteria": {…}, "expression": {…} }, "allocation": {…} },
//!   "metrics": { "assignmentTable": "…", "entity": "…", "bucket": "…", "metrics": [ … ] } }
//! ```
//!
//! `segment` is the rollout's segment, a resource of the flags API (`flags.segment` names
//! it). Everything else the service stores (the envelope's server fields, the control
//! variant and assignment ids, the flag rule, exposure, analyses) is the service's: it is
//! never compared, and every update keeps it, because a PATCH replaces each section its
//! `updateMask` names and so carries the whole section as read just before
//! ([`patch_body`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use flagsync_manifest::defaults::{Side, rollout as rollout_defaults};

/// The fields of a JSON object flagsync manages, as a tree.
#[derive(Debug)]
pub enum Managed {
    /// The value as a whole.
    Field,
    /// These fields of an object, each managed as its spec says; the others are not.
    Fields(&'static [(&'static str, Managed)]),
    /// A list of objects each identified by the value of a field; each managed as the
    /// spec says.
    ListBy(&'static str, &'static Managed),
}

const METRIC_MANAGED: Managed = Managed::Fields(&[
    ("metric", Managed::Field),
    (
        "metricRole",
        Managed::Fields(&[
            ("metricKind", Managed::Field),
            ("minimumDetectableEffect", Managed::Field),
            ("nonInferiorityMargin", Managed::Field),
        ]),
    ),
    ("preferredDirection", Managed::Field),
]);

/// What flagsync manages of a rollout resource (its segment aside).
pub const ROLLOUT_MANAGED: Managed = Managed::Fields(&[
    ("displayName", Managed::Field),
    ("state", Managed::Field),
    ("labels", Managed::Field),
    (
        "flags",
        Managed::Fields(&[("targetingKeySelector", Managed::Field)]),
    ),
    (
        "rollout",
        Managed::Fields(&[
            ("flag", Managed::Field),
            ("variant", Managed::Field),
            ("reach", Managed::Field),
        ]),
    ),
    (
        "metrics",
        Managed::Fields(&[
            ("assignmentTable", Managed::Field),
            ("entity", Managed::Field),
            ("bucket", Managed::Field),
            ("metrics", Managed::ListBy("metric", &METRIC_MANAGED)),
        ]),
    ),
]);

/// What flagsync manages of a rollout's segment.
pub const SEGMENT_MANAGED: Managed = Managed::Fields(&[
    ("targeting", Managed::Field),
    ("allocation", Managed::Field),
]);

impl Managed {
    /// The managed part of `value` (`None` when it has none).
    pub fn project(&self, value: &Value) -> Option<Value> {
        match (self, value) {
            (_, Value::Null) => None,
            (Managed::Field, v) => Some(v.clone()),
            (Managed::Fields(fields), Value::Object(map)) => {
                let out: Map<String, Value> = fields
                    .iter()
                    .filter_map(|(name, spec)| {
                        let v = map.get(*name)?;
                        Some(((*name).to_owned(), spec.project(v)?))
                    })
                    .collect();
                Some(Value::Object(out))
            }
            (Managed::ListBy(_, item), Value::Array(items)) => Some(Value::Array(
                items
                    .iter()
                    .map(|i| item.project(i).unwrap_or(Value::Null))
                    .collect(),
            )),
            // A value of another shape than the spec expects is compared as it is.
            (_, other) => Some(other.clone()),
        }
    }

    /// `fresh` (what the service stores now) with every managed field replaced by its
    /// value in `desired`, and removed where `desired` has none; what flagsync does not
    /// manage stays as it is. `None` when nothing is left.
    pub fn overlay(&self, fresh: Option<&Value>, desired: Option<&Value>) -> Option<Value> {
        match self {
            Managed::Field => desired.filter(|d| !d.is_null()).cloned(),
            Managed::Fields(fields) => {
                let mut out = match fresh {
                    Some(Value::Object(map)) => map.clone(),
                    _ => Map::new(),
                };
                let desired = desired.and_then(Value::as_object);
                for (name, spec) in *fields {
                    let merged = spec.overlay(out.get(*name), desired.and_then(|d| d.get(*name)));
                    match merged {
                        Some(v) => {
                            out.insert((*name).to_owned(), v);
                        }
                        None => {
                            out.shift_remove(*name);
                        }
                    }
                }
                (!out.is_empty() || desired.is_some()).then_some(Value::Object(out))
            }
            Managed::ListBy(key, item) => {
                let desired = desired.and_then(Value::as_array)?;
                let fresh: &[Value] = fresh.and_then(Value::as_array).map_or(&[], Vec::as_slice);
                Some(Value::Array(
                    desired
                        .iter()
                        .map(|d| {
                            let same = fresh
                                .iter()
                                .find(|f| f.get(*key).is_some() && f.get(*key) == d.get(*key));
                            item.overlay(same, Some(d)).unwrap_or_else(|| d.clone())
                        })
                        .collect(),
                ))
            }
        }
    }

    fn field(&self, name: &str) -> Option<&Managed> {
        match self {
            Managed::Fields(fields) => fields.iter().find(|(n, _)| *n == name).map(|(_, s)| s),
            _ => None,
        }
    }
}

/// One API call (or wait) in applying a rollout action, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "call", rename_all = "kebab-case")]
pub enum RolloutStep {
    /// `POST /v1/workflows/rollout/instances` with [`create_body`] (labels included). Not
    /// idempotent: after an ambiguous failure, look the rollout up by its label first.
    Create,
    /// `POST …/{id}:updatesegment` with [`segment_parameters`]: the masked fields of the
    /// rollout's segment and, with `flag_settings`, the `flags` section's managed fields
    /// (which a live rollout locks against PATCH).
    UpdateSegment {
        update_mask: String,
        #[serde(default, skip_serializing_if = "is_false")]
        flag_settings: bool,
    },
    /// `PATCH …/{id}?updateMask=…` with [`patch_body`].
    PatchRollout { update_mask: String },
    /// `POST …/{id}:launch` (returns at once; the transition runs in the background).
    Launch,
    /// Poll GET until `pendingTransition` is gone (and check it did not fail).
    WaitForTransition,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl RolloutStep {
    /// Short human description, e.g. `PATCH (updateMask=rollout)`.
    pub fn describe(&self) -> String {
        match self {
            RolloutStep::Create => "create (POST, draft)".to_owned(),
            RolloutStep::UpdateSegment {
                update_mask,
                flag_settings,
            } => {
                let mut text = format!(":updatesegment (updateMask={update_mask})");
                if *flag_settings {
                    text.push_str(" with the flag settings");
                }
                text
            }
            RolloutStep::PatchRollout { update_mask } => {
                format!("PATCH (updateMask={update_mask})")
            }
            RolloutStep::Launch => ":launch".to_owned(),
            RolloutStep::WaitForTransition => "wait for the transition to finish".to_owned(),
        }
    }

    /// Whether the call writes (every step but the wait).
    pub fn writes(&self) -> bool {
        !matches!(self, RolloutStep::WaitForTransition)
    }
}

/// Blocks a PATCH can change, in the order they are listed in an updateMask.
pub const PATCHABLE_BLOCKS: [&str; 5] = ["displayName", "flags", "rollout", "metrics", "labels"];
/// Data sections (as opposed to envelope fields): frozen once a rollout has ended.
const DATA_SECTIONS: [&str; 4] = ["flags", "rollout", "metrics", SEGMENT];
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

/// The segment parts (`targeting`, `allocation`) of `desired` that a new rollout's segment
/// does not already have: targeting that is not everyone, an allocation other than the
/// default.
fn segment_parts_to_set(desired: &Map<String, Value>) -> Vec<String> {
    let mut mask = Vec::new();
    if desired
        .get("targeting")
        .is_some_and(|t| !t.is_null() && t.as_object().is_none_or(|m| !m.is_empty()))
    {
        mask.push("targeting".to_owned());
    }
    if let Some(allocation) = desired.get("allocation").filter(|a| !a.is_null())
        && !rollout_defaults::SEGMENT_ALLOCATION.is_default(allocation, Side::Live)
    {
        mask.push("allocation".to_owned());
    }
    mask
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
///
/// A draft takes every change by PATCH; a live rollout locks its `flags` section (the
/// reference's `lockedDataKeys`), whose settings then travel with `:updatesegment`; an
/// ended rollout keeps its data sections as they are.
pub fn rollout_steps(live: Option<&Value>, desired: &Value) -> RolloutSteps {
    let empty = Map::new();
    let desired_segment = field(desired, SEGMENT)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = RolloutSteps::default();
    let Some(live) = live else {
        out.steps.push(RolloutStep::Create);
        let mask = segment_parts_to_set(desired_segment);
        if !mask.is_empty() {
            out.steps.push(RolloutStep::UpdateSegment {
                update_mask: mask.join(","),
                flag_settings: false,
            });
        }
        if state_of(desired) == "live" {
            out.steps.push(RolloutStep::Launch);
            out.steps.push(RolloutStep::WaitForTransition);
        }
        return out;
    };

    let live_state = state_of(live);
    let differs = |key: &str| field(live, key) != field(desired, key);
    let mut problems = Vec::new();
    if live_state == "ended" {
        let frozen: Vec<&str> = DATA_SECTIONS.into_iter().filter(|k| differs(k)).collect();
        if !frozen.is_empty() {
            problems.push(format!(
                "the rollout has ended, so its {} can no longer change",
                frozen
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let writable = |key: &str| live_state != "ended" || !DATA_SECTIONS.contains(&key);

    let live_segment = field(live, SEGMENT)
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut segment_mask: Vec<String> = if writable(SEGMENT) {
        live_segment
            .keys()
            .chain(desired_segment.keys())
            .filter(|k| live_segment.get(*k) != desired_segment.get(*k))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    segment_mask.sort();
    segment_mask.dedup();
    segment_mask_order(&mut segment_mask);
    // A live rollout's flag settings travel with `:updatesegment`.
    let flag_settings = live_state == "live" && differs("flags");
    if flag_settings && segment_mask.is_empty() {
        // The segment's targeting is sent as it is: the call needs a segment field.
        segment_mask.push("targeting".to_owned());
    }
    if !segment_mask.is_empty() {
        out.steps.push(RolloutStep::UpdateSegment {
            update_mask: segment_mask.join(","),
            flag_settings,
        });
    }

    let patch_mask: Vec<&str> = PATCHABLE_BLOCKS
        .into_iter()
        .filter(|block| differs(block) && writable(block))
        .filter(|block| !(flag_settings && *block == "flags"))
        .collect();
    if !patch_mask.is_empty() {
        out.steps.push(RolloutStep::PatchRollout {
            update_mask: patch_mask.join(","),
        });
    }

    match (live_state, state_of(desired)) {
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
        if !known && differs(key) && !other.contains(&key.as_str()) {
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
/// starts as a draft; launching is its own call) and `segment` (its own resource, set by
/// `:updatesegment`). The service fills in the rest.
pub fn create_body(desired: &Value) -> Value {
    let mut body = desired.clone();
    if let Some(map) = body.as_object_mut() {
        map.shift_remove(STATE);
        map.shift_remove(SEGMENT);
    }
    body
}

/// The masks's blocks, trimmed.
fn blocks(update_mask: &str) -> impl Iterator<Item = &str> {
    update_mask
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
}

/// The body of `PATCH ?updateMask=<mask>`: each masked block complete, as `fresh` (the
/// rollout as the service stores it, read just before) has it, with only the fields
/// flagsync manages replaced by `desired`'s. A PATCH replaces every block its mask names,
/// so what the service filled in (the control variant, the assignment ids, the flag rule,
/// …) must be sent back or it is cleared.
pub fn patch_body(desired: &Value, fresh: &Value, update_mask: &str) -> Value {
    let mut body = Map::new();
    for block in blocks(update_mask) {
        let spec = ROLLOUT_MANAGED.field(block).unwrap_or(&Managed::Field);
        if let Some(value) = spec.overlay(fresh.get(block), desired.get(block)) {
            body.insert(block.to_owned(), value);
        }
    }
    Value::Object(body)
}

/// The parameters of `:updatesegment`: the segment (its `name`, when known, and the masked
/// fields as `desired` has them), the mask, and with `flag_settings` the managed fields of
/// the `flags` section.
pub fn segment_parameters(
    desired: &Value,
    segment_name: Option<&str>,
    update_mask: &str,
    flag_settings: bool,
) -> Value {
    let mut segment = Map::new();
    if let Some(name) = segment_name {
        segment.insert("name".to_owned(), Value::String(name.to_owned()));
    }
    for part in blocks(update_mask) {
        if let Some(value) = desired.get(SEGMENT).and_then(|s| s.get(part)) {
            segment.insert(part.to_owned(), value.clone());
        }
    }
    let mut parameters = Map::new();
    parameters.insert("segment".to_owned(), Value::Object(segment));
    parameters.insert(
        "updateMask".to_owned(),
        Value::String(update_mask.to_owned()),
    );
    if flag_settings && let Some(Value::Object(flags)) = desired.get("flags") {
        for (k, v) in flags {
            parameters.insert(k.clone(), v.clone());
        }
    }
    Value::Object(parameters)
}

/// What `base` (a canonical body) becomes once `step` has been applied for `desired`: the
/// state the next step expects to find.
pub fn after_step(base: &Value, desired: &Value, step: &RolloutStep) -> Value {
    let mut next = base.clone();
    let Some(map) = next.as_object_mut() else {
        return next;
    };
    let set = |map: &mut Map<String, Value>, key: &str, value: Option<&Value>| match value {
        Some(v) => {
            map.insert(key.to_owned(), v.clone());
        }
        None => {
            map.shift_remove(key);
        }
    };
    match step {
        RolloutStep::PatchRollout { update_mask } => {
            for block in blocks(update_mask) {
                set(map, block, desired.get(block));
            }
        }
        RolloutStep::UpdateSegment {
            update_mask,
            flag_settings,
        } => {
            let segment = map
                .entry(SEGMENT)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(segment) = segment.as_object_mut() {
                for part in blocks(update_mask) {
                    set(
                        segment,
                        part,
                        desired.get(SEGMENT).and_then(|s| s.get(part)),
                    );
                }
            }
            if *flag_settings {
                set(map, "flags", desired.get("flags"));
            }
        }
        RolloutStep::Launch | RolloutStep::WaitForTransition => {
            if let Some(state) = desired.get(STATE) {
                map.insert(STATE.to_owned(), state.clone());
            }
        }
        RolloutStep::Create => {}
    }
    if map
        .get(SEGMENT)
        .is_some_and(|s| s.as_object().is_some_and(Map::is_empty))
    {
        map.shift_remove(SEGMENT);
    }
    next
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
            "segment": {"allocation": {"proportion": {"value": "1"}}},
            "metrics": {"entity": "entities/user"}
        })
    }

    fn with(mut v: Value, pointer: &str, new: Value) -> Value {
        if let Some(slot) = v.pointer_mut(pointer) {
            *slot = new;
        }
        v
    }

    fn segment(mask: &str) -> RolloutStep {
        RolloutStep::UpdateSegment {
            update_mask: mask.into(),
            flag_settings: false,
        }
    }

    fn patch(mask: &str) -> RolloutStep {
        RolloutStep::PatchRollout {
            update_mask: mask.into(),
        }
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
            json!({"targeting": {"criteria": {"c": {}}, "expression": {"ref": "c"}}, "allocation": {"proportion": {"value": "0.5"}}}),
        );
        let s = rollout_steps(None, &desired);
        assert_eq!(
            s.steps,
            vec![
                RolloutStep::Create,
                segment("targeting,allocation"),
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
        assert_eq!(s.steps, vec![patch("rollout")]);
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
        assert_eq!(s.steps, vec![patch("displayName,rollout,labels")]);
    }

    #[test]
    fn targeting_change_is_update_segment() {
        let desired = with(
            base(),
            "/segment",
            json!({"targeting": {"criteria": {"a": {}}}, "allocation": {"proportion": {"value": "1"}}}),
        );
        let s = rollout_steps(Some(&base()), &desired);
        assert_eq!(s.steps, vec![segment("targeting")]);
    }

    #[test]
    fn a_live_rollouts_flag_settings_travel_with_update_segment() {
        let live = with(base(), "/state", json!("live"));
        let desired = with(
            live.clone(),
            "/flags/targetingKeySelector",
            json!("user_id"),
        );
        let s = rollout_steps(Some(&live), &desired);
        assert_eq!(
            s.steps,
            vec![RolloutStep::UpdateSegment {
                update_mask: "targeting".into(),
                flag_settings: true
            }]
        );
        // A draft takes them by PATCH.
        let draft = with(desired.clone(), "/state", json!("draft"));
        assert_eq!(
            rollout_steps(Some(&base()), &draft).steps,
            vec![patch("flags")]
        );
        let parameters = segment_parameters(&desired, Some("segments/s"), "targeting", true);
        assert_eq!(
            parameters,
            json!({"segment": {"name": "segments/s"}, "updateMask": "targeting", "targetingKeySelector": "user_id"})
        );
    }

    #[test]
    fn an_ended_rollout_only_takes_its_name_and_labels() {
        let ended = with(base(), "/state", json!("ended"));
        let desired = with(ended.clone(), "/rollout/reach", json!("0.9"));
        let desired = with(desired, "/displayName", json!("Done"));
        let s = rollout_steps(Some(&ended), &desired);
        assert_eq!(s.steps, vec![patch("displayName")]);
        assert!(s.unsupported.unwrap_or_default().contains("has ended"));
    }

    #[test]
    fn draft_to_live_launches_after_other_changes() {
        let desired = with(base(), "/state", json!("live"));
        let desired = with(desired, "/rollout/reach", json!("0.2"));
        let s = rollout_steps(Some(&base()), &desired);
        assert_eq!(
            s.steps,
            vec![
                patch("rollout"),
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
        assert_eq!(s.steps, vec![patch("rollout")]);
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
    fn a_patch_sends_whole_sections_with_what_the_service_filled_in() {
        let desired = with(base(), "/rollout/reach", json!("0.5"));
        let fresh = json!({
            "name": "workflows/rollout/instances/abc",
            "state": "live",
            "rollout": {"flag": "flags/search", "variant": "flags/search/variants/on", "reach": "0.1",
                        "controlVariant": "flags/search/variants/control", "variantAssignmentId": "v1",
                        "controlAssignmentId": "c1"},
            "metrics": {"entity": "entities/user", "exposureCalculation": "X",
                        "metrics": [{"metric": "m", "metricRole": {"metricKind": "SUCCESS"}, "extra": 1}]},
            "labels": {"flagsync-id": "new-search", "ui": "x"}
        });
        let body = patch_body(&desired, &fresh, "rollout,labels");
        assert_eq!(
            body,
            json!({
                "rollout": {"flag": "flags/search", "variant": "flags/search/variants/on", "reach": "0.5",
                            "controlVariant": "flags/search/variants/control", "variantAssignmentId": "v1",
                            "controlAssignmentId": "c1"},
                "labels": {"flagsync-id": "new-search"}
            })
        );
        // Unmanaged fields of list items stay; removed managed fields go.
        let desired = with(
            base(),
            "/metrics",
            json!({"metrics": [{"metric": "m", "metricRole": {"metricKind": "GUARDRAIL"}}, {"metric": "n", "metricRole": {"metricKind": "SUCCESS"}}]}),
        );
        let body = patch_body(&desired, &fresh, "metrics");
        assert_eq!(
            body["metrics"],
            json!({"exposureCalculation": "X", "metrics": [
                {"metric": "m", "metricRole": {"metricKind": "GUARDRAIL"}, "extra": 1},
                {"metric": "n", "metricRole": {"metricKind": "SUCCESS"}}
            ]})
        );
    }

    #[test]
    fn managed_projection_keeps_only_what_manifests_manage() {
        let raw = json!({
            "name": "x", "creator": "y", "state": "live",
            "rollout": {"flag": "f", "controlVariant": "c", "reach": "0.1"},
            "flags": {"segment": "segments/s", "rule": "r", "targetingKeySelector": "k"},
            "metrics": {"metrics": [{"metric": "m", "metricRole": {"metricKind": "SUCCESS", "x": 1}}]}
        });
        assert_eq!(
            ROLLOUT_MANAGED.project(&raw),
            Some(json!({
                "state": "live",
                "flags": {"targetingKeySelector": "k"},
                "rollout": {"flag": "f", "reach": "0.1"},
                "metrics": {"metrics": [{"metric": "m", "metricRole": {"metricKind": "SUCCESS"}}]}
            }))
        );
    }

    #[test]
    fn steps_change_the_expected_state() {
        let desired = with(base(), "/state", json!("live"));
        let desired = with(desired, "/rollout/reach", json!("0.5"));
        let desired = with(
            desired,
            "/segment",
            json!({"targeting": {"criteria": {}}, "allocation": {"proportion": {"value": "1"}}}),
        );
        let after = after_step(&base(), &desired, &patch("rollout"));
        assert_eq!(after["rollout"]["reach"], "0.5");
        assert_eq!(after["state"], "draft");
        let after = after_step(&after, &desired, &segment("targeting"));
        assert_eq!(after["segment"]["targeting"], json!({"criteria": {}}));
        let after = after_step(&after, &desired, &RolloutStep::Launch);
        assert_eq!(after, desired);
    }

    #[test]
    fn bodies_for_the_calls() {
        let desired = with(base(), "/state", json!("live"));
        let create = create_body(&desired);
        assert!(create.get("state").is_none() && create.get("segment").is_none());
        assert_eq!(create["labels"], json!({"flagsync-id": "new-search"}));
        assert_eq!(
            segment_parameters(&desired, None, "allocation", false),
            json!({"segment": {"allocation": {"proportion": {"value": "1"}}}, "updateMask": "allocation"})
        );
    }
}
