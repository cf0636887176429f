//! Live objects as the services store them, typed once where they are read
//! (`flagsync-remote`), so that no other crate digs in the services' JSON for what
//! identifies them: a rollout's instance id, its flagsync id, its state and pending
//! transition. The stored body is kept as the service returned it; turning it into the
//! canonical form is the planner's job (`flagsync-plan::normalize`).
//!
//! CloudBees Unify objects are read the same way: an object's server id and name
//! ([`LiveUnifyObject`]), a configuration's flag, `seed` and `variantsEnabled`
//! ([`LiveFlagConfiguration`]), and the ids of the organization, application and
//! environments ([`LiveUnify`]).
//!
//! The labels flagsync puts on the rollouts it manages live here too, so that the loader
//! (which reserves them), the planner (which sets them) and the remote side (which reads
//! and searches by them) share one definition.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::Value;

/// The label that carries a rollout's manifest `id` on the live rollout: flagsync manages
/// only rollouts that have it, and finds an interrupted create again by it.
pub const ROLLOUT_ID_LABEL: &str = "flagsync-id";
/// The label that marks a live rollout as owned by flagsync.
pub const MANAGED_BY_LABEL: &str = "managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "flagsync";
/// The label a rollout gets in place of [`ROLLOUT_ID_LABEL`] when flagsync stops managing
/// it because another rollout carries the same id (a duplicate left by two applies at once,
/// or resolved by `flagsync dedupe`): the value is the id, so the copies are easy to find
/// in Confidence, which has no call that deletes them.
pub const DUPLICATE_OF_LABEL: &str = "flagsync-duplicate-of";

/// What a rollout's resource name starts with; the instance id follows.
pub const ROLLOUT_NAME_PREFIX: &str = "workflows/rollout/instances/";

/// The bare instance id of a rollout given by its full resource name
/// (`workflows/rollout/instances/{id}`) or already bare.
pub fn instance_id(name: &str) -> &str {
    name.strip_prefix(ROLLOUT_NAME_PREFIX).unwrap_or(name)
}

/// A CloudBees target group as the service stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveTargetGroup {
    pub body: Value,
}

impl LiveTargetGroup {
    pub fn new(body: Value) -> Self {
        Self { body }
    }

    /// `name`, its identity, when it is a string.
    pub fn name(&self) -> Option<&str> {
        self.body.get("name").and_then(Value::as_str)
    }
}

/// A CloudBees experiment (a flag's configuration in one environment) as the service
/// stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveExperiment {
    pub body: Value,
}

impl LiveExperiment {
    pub fn new(body: Value) -> Self {
        Self { body }
    }

    /// `flag`, its identity within the environment, when it is a string.
    pub fn flag(&self) -> Option<&str> {
        self.body.get("flag").and_then(Value::as_str)
    }
}

/// A CloudBees application the token can see (`GET /applications`: `{id, name}`, the
/// shape CloudBees' Jenkins plugin reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveApplication {
    /// The application id: `{app}` in every path.
    pub id: String,
    pub name: Option<String>,
}

impl LiveApplication {
    /// Reads one entry of the list; `None` when it has no string `id`.
    pub fn from_body(body: &Value) -> Option<Self> {
        Some(Self {
            id: body.get("id")?.as_str()?.to_owned(),
            name: body.get("name").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// One environment of a CloudBees application (`GET /applications/{app}/environments`:
/// `{name, key, description}`). Paths name an environment by its `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveEnvironment {
    pub name: String,
    /// The service's id for it.
    pub key: Option<String>,
    pub description: Option<String>,
}

impl LiveEnvironment {
    /// Reads one entry of the list; `None` when it has no string `name`.
    pub fn from_body(body: &Value) -> Option<Self> {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            name: text("name")?,
            key: text("key"),
            description: text("description"),
        })
    }
}

/// A Confidence rollout (a workflow instance) as the service stores it, with the segment
/// that holds its targeting (a resource of the flags API) when it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveRollout {
    /// The full resource name, `workflows/rollout/instances/{id}`.
    pub name: Option<String>,
    /// The bare instance id the service assigned (the last part of `name`).
    pub instance_id: Option<String>,
    /// The [`ROLLOUT_ID_LABEL`] label: the manifest id. `None` for a rollout flagsync does
    /// not manage.
    pub flagsync_id: Option<String>,
    /// `state`: `draft`, `live`, `ended`, …
    pub state: Option<String>,
    /// `pendingTransition`: an action (a launch, say) still running in the background.
    pub pending_transition: Option<PendingTransition>,
    /// `flags.segment`: the name (`segments/{id}`) of the segment with its targeting.
    pub segment_name: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `createTime`: when the service created it (RFC 3339).
    pub create_time: Option<String>,
    /// `updateTime` and `updater`: when and by whom it last changed.
    pub update_time: Option<String>,
    pub updater: Option<String>,
    /// `lockedDataKeys`: the data sections that cannot change in its state.
    pub locked_data_keys: Vec<String>,
    /// Everything, as stored.
    pub body: Value,
    /// The segment named by `segment_name`, as the flags API stores it; `None` when it was
    /// not read (or the rollout names none).
    pub segment: Option<Value>,
}

/// A rollout's `pendingTransition`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTransition {
    /// `targetState`: where the transition leads.
    pub target_state: Option<String>,
    /// `failedSteps[]`: a transition with failed steps will not finish.
    pub failed_steps: Vec<FailedStep>,
}

/// One failed step of a rollout transition (`pendingTransition.failedSteps[]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedStep {
    /// `actionStep` as reported by the service.
    pub action_step: String,
    /// `failuresMessages[]`.
    pub messages: Vec<String>,
}

impl fmt::Display for FailedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.messages.is_empty() {
            write!(f, "{}", self.action_step)
        } else {
            write!(f, "{}: {}", self.action_step, self.messages.join("; "))
        }
    }
}

impl LiveRollout {
    /// Reads what identifies the rollout and where it stands from its stored body; fields
    /// of the wrong type read as absent.
    pub fn new(body: Value) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let name = text(body.get("name"));
        let instance_id = name
            .as_deref()
            .map(instance_id)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let flagsync_id = labels(&body).remove(ROLLOUT_ID_LABEL);
        let state = text(body.get("state"));
        let segment_name =
            text(body.get("flags").and_then(|f| f.get("segment"))).filter(|s| !s.is_empty());
        let locked_data_keys = body
            .get("lockedDataKeys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let pending_transition = body
            .get("pendingTransition")
            .filter(|p| !p.is_null())
            .map(|p| PendingTransition {
                target_state: text(p.get("targetState")),
                failed_steps: failed_steps(p),
            });
        Self {
            name,
            instance_id,
            flagsync_id,
            state,
            pending_transition,
            segment_name,
            display_name: text(body.get("displayName")),
            create_time: text(body.get("createTime")),
            update_time: text(body.get("updateTime")),
            updater: text(body.get("updater")),
            locked_data_keys,
            body,
            segment: None,
        }
    }

    /// The rollout with its segment as read from the flags API.
    pub fn with_segment(mut self, segment: Option<Value>) -> Self {
        self.segment = segment;
        self
    }
}

/// A rollout's `labels` as a map. The API reference draws them like its other maps, which
/// are JSON objects, but they are read as a list of `{key, value}` too (how exploratory
/// analyses spell theirs); entries that are not strings are left out.
pub fn labels(body: &Value) -> BTreeMap<String, String> {
    match body.get("labels") {
        Some(Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let key = item.get("key")?.as_str()?;
                let value = item.get("value")?.as_str()?;
                Some((key.to_owned(), value.to_owned()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The labels of a rollout that flagsync stops managing because another rollout carries
/// its id: `flagsync-id` and `managed-by: flagsync` removed, [`DUPLICATE_OF_LABEL`] set to
/// the id, every other label kept. Sent as a map, the shape the API reference draws.
pub fn unmanaged_labels(body: &Value, id: &str) -> BTreeMap<String, String> {
    let mut out = labels(body);
    out.remove(ROLLOUT_ID_LABEL);
    if out.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_VALUE) {
        out.remove(MANAGED_BY_LABEL);
    }
    out.insert(DUPLICATE_OF_LABEL.to_owned(), id.to_owned());
    out
}

/// Rollouts oldest first: by `createTime` when both have one in UTC (`…Z`), else rollouts with one
/// first, then by instance id, so every run orders the same copies the same way.
pub fn creation_order(a: &LiveRollout, b: &LiveRollout) -> std::cmp::Ordering {
    let key = |r: &LiveRollout| {
        let time = r.create_time.as_deref().and_then(utc_sort_key);
        (time.is_none(), time, r.instance_id.clone())
    };
    key(a).cmp(&key(b))
}

/// `2026-01-02T03:04:05.5Z` as `("2026-01-02T03:04:05", "500000000")`, which sort like the
/// instants; `None` for anything else (another offset, another shape).
fn utc_sort_key(time: &str) -> Option<(String, String)> {
    let time = time.strip_suffix('Z').or_else(|| time.strip_suffix('z'))?;
    let (main, fraction) = time.split_once('.').unwrap_or((time, ""));
    let shape_ok = main.len() == 19
        && main.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T' || b == b't',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok || fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((main.to_ascii_uppercase(), format!("{fraction:0<9}")))
}

fn failed_steps(pending: &Value) -> Vec<FailedStep> {
    let Some(steps) = pending.get("failedSteps").and_then(Value::as_array) else {
        return Vec::new();
    };
    steps
        .iter()
        .map(|s| FailedStep {
            action_step: s
                .get("actionStep")
                .map(|a| match a {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "unknown step".to_owned()),
            messages: s
                .get("failuresMessages")
                .or_else(|| s.get("failureMessages"))
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// A CloudBees Unify object that has a server-assigned id and a name unique in its
/// application: a flag, a target group or a custom property, as the service stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveUnifyObject {
    /// `id`, the server's UUID, when it is a string.
    pub id: Option<String>,
    /// `name`, its identity, when it is a string.
    pub name: Option<String>,
    pub body: Value,
}

impl LiveUnifyObject {
    pub fn new(body: Value) -> Self {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            id: text("id"),
            name: text("name"),
            body,
        }
    }
}

/// A CloudBees Unify flag's configuration in one environment, as one entry of the bulk read
/// (`GET .../environments/{env}/configuration`) gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveFlagConfiguration {
    /// `flagId`: the configured flag's id.
    pub flag_id: Option<String>,
    /// `flagName`.
    pub flag_name: Option<String>,
    /// The configuration's `seed` (splits bucket users by it): written back unchanged so
    /// that an update does not re-bucket anyone.
    pub seed: Option<String>,
    /// `variantsEnabled`, which configuration as code cannot say: written back unchanged.
    pub variants_enabled: Option<bool>,
    /// The `configuration` object as stored.
    pub body: Value,
}

impl LiveFlagConfiguration {
    /// From one entry of the bulk read: `{flagId, flagName, ..., configuration}`.
    pub fn new(entry: Value) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let body = entry.get("configuration").cloned().unwrap_or(Value::Null);
        Self {
            flag_id: text(entry.get("flagId")),
            flag_name: text(entry.get("flagName")),
            seed: text(body.get("seed")),
            variants_enabled: body.get("variantsEnabled").and_then(Value::as_bool),
            body,
        }
    }
}

/// What was read of a CloudBees Unify application: the ids names were resolved to, and its
/// objects as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiveUnify {
    pub organization_id: String,
    pub application_id: String,
    /// Environment name to id, for the environments read.
    pub environments: BTreeMap<String, String>,
    pub properties: Vec<LiveUnifyObject>,
    pub target_groups: Vec<LiveUnifyObject>,
    pub flags: Vec<LiveUnifyObject>,
    /// Per environment name: every flag's configuration there.
    pub configurations: BTreeMap<String, Vec<LiveFlagConfiguration>>,
}

/// The live state as read: every object typed, bodies as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiveSnapshot {
    /// All target groups of the application (empty when CloudBees was not read).
    pub target_groups: Vec<LiveTargetGroup>,
    /// Per environment name: its experiments, every flag from the flags list; or, where the
    /// deployment lacks it, those from the experiments list first, then the hidden desired
    /// ones found by GET. Every requested environment has an entry.
    pub experiments: BTreeMap<String, Vec<LiveExperiment>>,
    /// All rollouts (every page; empty when Confidence was not read).
    pub rollouts: Vec<LiveRollout>,
    /// The CloudBees Unify application, when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unify: Option<LiveUnify>,
}

// Each object serializes as its stored body.
macro_rules! serialize_as_body {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.body.serialize(serializer)
            }
        }
    )*};
}
serialize_as_body!(
    LiveTargetGroup,
    LiveExperiment,
    LiveRollout,
    LiveUnifyObject,
    LiveFlagConfiguration
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rollout_is_read_once() {
        let r = LiveRollout::new(json!({
            "name": "workflows/rollout/instances/abc",
            "state": "draft",
            "labels": {"flagsync-id": "new-search", "managed-by": "flagsync"},
            "pendingTransition": {"targetState": "live", "failedSteps": []}
        }));
        assert_eq!(r.name.as_deref(), Some("workflows/rollout/instances/abc"));
        assert_eq!(r.instance_id.as_deref(), Some("abc"));
        assert_eq!(r.flagsync_id.as_deref(), Some("new-search"));
        assert_eq!(r.state.as_deref(), Some("draft"));
        assert_eq!(r.segment_name, None);
        assert!(r.locked_data_keys.is_empty());
        let live = LiveRollout::new(json!({
            "labels": [{"key": "flagsync-id", "value": "listed"}],
            "flags": {"segment": "segments/s"},
            "lockedDataKeys": ["flags"],
            "updateTime": "2026-01-01T00:00:00Z",
            "updater": "identities/x"
        }))
        .with_segment(Some(json!({"name": "segments/s"})));
        assert_eq!(live.flagsync_id.as_deref(), Some("listed"));
        assert_eq!(live.segment_name.as_deref(), Some("segments/s"));
        assert_eq!(live.locked_data_keys, vec!["flags"]);
        assert_eq!(live.update_time.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(live.updater.as_deref(), Some("identities/x"));
        assert!(live.segment.is_some());
        assert_eq!(
            r.pending_transition,
            Some(PendingTransition {
                target_state: Some("live".into()),
                failed_steps: Vec::new()
            })
        );
    }

    #[test]
    fn missing_or_odd_fields_read_as_absent() {
        let r = LiveRollout::new(json!({
            "name": "workflows/rollout/instances/",
            "labels": {"flagsync-id": 3},
            "pendingTransition": null
        }));
        assert_eq!(r.instance_id, None);
        assert_eq!(r.flagsync_id, None);
        assert_eq!(r.pending_transition, None);
        let empty = LiveRollout::new(json!({}));
        assert_eq!((empty.name, empty.instance_id), (None, None));
        assert_eq!(instance_id("abc"), "abc");
        assert_eq!(instance_id("workflows/rollout/instances/abc"), "abc");
    }

    #[test]
    fn a_duplicate_loses_the_id_and_says_whose_copy_it_is() {
        let body = json!({
            "labels": {"flagsync-id": "search", "managed-by": "flagsync", "team": "a"},
            "createTime": "2026-01-01T00:00:00.001Z",
            "displayName": "Search"
        });
        let r = LiveRollout::new(body.clone());
        assert_eq!(r.create_time.as_deref(), Some("2026-01-01T00:00:00.001Z"));
        assert_eq!(r.display_name.as_deref(), Some("Search"));
        let labels = unmanaged_labels(&body, "search");
        assert_eq!(
            labels.into_iter().collect::<Vec<_>>(),
            vec![
                ("flagsync-duplicate-of".to_owned(), "search".to_owned()),
                ("team".to_owned(), "a".to_owned()),
            ]
        );
        // A `managed-by` of someone else's is not flagsync's to remove.
        let other = json!({"labels": [{"key": "managed-by", "value": "terraform"}]});
        assert_eq!(
            unmanaged_labels(&other, "x")
                .get("managed-by")
                .map(String::as_str),
            Some("terraform")
        );
    }

    #[test]
    fn creation_times_sort_like_instants() {
        let at = |t: &str, id: &str| {
            LiveRollout::new(
                json!({"createTime": t, "name": format!("workflows/rollout/instances/{id}")}),
            )
        };
        use std::cmp::Ordering::Less;
        assert_eq!(
            creation_order(
                &at("2026-01-01T00:00:00Z", "b"),
                &at("2026-01-01T00:00:00.5Z", "a")
            ),
            Less
        );
        assert_eq!(
            creation_order(
                &at("2026-01-01T00:00:00.25Z", "b"),
                &at("2026-01-01T00:00:00.3Z", "a")
            ),
            Less
        );
        // Equal times, then the instance id; a time in another form sorts after known ones.
        assert_eq!(
            creation_order(
                &at("2026-01-01T00:00:00Z", "a"),
                &at("2026-01-01T00:00:00Z", "b")
            ),
            Less
        );
        assert_eq!(
            creation_order(
                &at("2026-01-01T00:00:00Z", "z"),
                &at("2026-01-01T01:00:00+02:00", "a")
            ),
            Less
        );
        assert_eq!(utc_sort_key("2026-01-01 00:00:00Z"), None);
        assert_eq!(utc_sort_key("2026-01-01T00:00:00.1234567890Z"), None);
    }

    #[test]
    fn failed_steps_are_read() {
        let pending = json!({
            "transitionAction": "launch",
            "failedSteps": [
                {"actionStep": "VALIDATE", "failuresMessages": ["no metrics", "no flag"]},
                {"failuresMessages": []}
            ]
        });
        let steps = failed_steps(&pending);
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].action_step, "VALIDATE");
        assert_eq!(steps[0].messages, vec!["no metrics", "no flag"]);
        assert_eq!(steps[1].action_step, "unknown step");
        assert!(failed_steps(&json!({"failedSteps": []})).is_empty());
        let none = LiveRollout::new(json!({"state": "live"}));
        assert_eq!(none.pending_transition, None);
    }

    #[test]
    fn applications_and_environments_are_read_once() {
        assert_eq!(
            LiveApplication::from_body(&json!({"id": "a1", "name": "Web"})),
            Some(LiveApplication {
                id: "a1".into(),
                name: Some("Web".into())
            })
        );
        assert_eq!(LiveApplication::from_body(&json!({"name": "no id"})), None);
        let env = LiveEnvironment::from_body(&json!({"name": "Production", "key": "k"})).unwrap();
        assert_eq!(
            (env.name.as_str(), env.key.as_deref()),
            ("Production", Some("k"))
        );
        assert_eq!(LiveEnvironment::from_body(&json!({"key": "k"})), None);
    }

    #[test]
    fn objects_serialize_as_their_body() {
        let body = json!({"flag": "f", "enabled": true});
        let e = LiveExperiment::new(body.clone());
        assert_eq!(serde_json::to_value(&e).unwrap(), body);
        assert_eq!(e.flag(), Some("f"));
        assert_eq!(LiveTargetGroup::new(json!({"name": "g"})).name(), Some("g"));
    }

    #[test]
    fn unify_objects_are_read_once() {
        let flag =
            LiveUnifyObject::new(json!({"id": "f-1", "name": "checkout", "flagType": "Boolean"}));
        assert_eq!(flag.id.as_deref(), Some("f-1"));
        assert_eq!(flag.name.as_deref(), Some("checkout"));
        let odd = LiveUnifyObject::new(json!({"id": 7}));
        assert_eq!((odd.id, odd.name), (None, None));

        let entry = json!({
            "flagId": "f-1", "flagName": "checkout", "labels": [],
            "configuration": {"enabled": true, "seed": "s-1", "variantsEnabled": true, "conditions": []}
        });
        let config = LiveFlagConfiguration::new(entry.clone());
        assert_eq!(config.flag_id.as_deref(), Some("f-1"));
        assert_eq!(config.flag_name.as_deref(), Some("checkout"));
        assert_eq!(config.seed.as_deref(), Some("s-1"));
        assert_eq!(config.variants_enabled, Some(true));
        assert_eq!(config.body, entry["configuration"]);
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            entry["configuration"]
        );
        let empty = LiveFlagConfiguration::new(json!({}));
        assert_eq!((empty.seed, empty.body), (None, Value::Null));
    }
}
