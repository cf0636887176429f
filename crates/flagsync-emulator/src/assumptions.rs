//! Everything the emulator decides that the vendors do not document, in one place, so it is
//! easy to find and to change when the real services turn out to differ. `api-notes.md`
//! marks these *(assumed)*.
//!
//! CloudBees:
//! - The experiment list shows only experiments with a release rule: [`has_release_rule`].
//! - PUT ignores the experiment `name` (the service creates a flag): the stored name is the
//!   flag, see [`normalize_experiment`]. PATCH cannot change `flag` (400), and `name` stays
//!   the flag after a PATCH.
//! - A JSON Patch `path`/`from` without a leading `/` (the vendor documents' own example:
//!   `{"op":"add","path":"devPath",...}`) means a member of the top-level object:
//!   [`normalize_patch_pointer`].
//! - A failed `test` answers 409 (also a `test` of a path that does not exist: the value
//!   the client saw is gone); a malformed patch or a missing path 400; nothing changes.
//! - DELETE removes the experiment; a later GET answers 404 and a later PUT creates it anew.
//! - Errors are `{"code": <HTTP status>, "message"}`. PUT and PATCH answer 200 with the
//!   stored object; DELETE answers 204. Unknown applications and environments are empty.
//! - The 555 answer of the rate limit carries no `Retry-After`.
//! - An environment literally named `target-groups` is shadowed by the target-group routes.
//! - The read routes CloudBees' Jenkins plugin calls (api-notes section 3; no vendor
//!   reference documents them): `GET /public-api/applications` answers
//!   `[{"id", "name"}]`, `GET .../applications/{app}/environments` answers
//!   `[{"name", "key", "description"}]` (the plugin's models), and
//!   `GET .../applications/{app}/{env}/flags` every experiment of the environment, with or
//!   without a release rule, as `GET .../experiments/{flag}` answers it, sorted by flag.
//!   A deleted experiment is not listed (its configuration is gone).
//! - Which applications exist: every emulator has [`CLOUDBEES_DEFAULT_APPLICATION_ID`];
//!   any other application id is served too (as an account whose token sees it), and is
//!   listed once it holds something or was named by the control endpoint. Its name is
//!   [`cloudbees_application_name`] unless the control endpoint set one.
//! - An application's environments: [`CLOUDBEES_DEFAULT_ENVIRONMENTS`] unless the control
//!   endpoint set others, plus every environment an experiment was written to (writes to
//!   any environment are accepted, as before); in that order, the rest by name. An
//!   environment's `key` is [`cloudbees_environment_key`], its `description` empty.
//! - `EmulatorConfig::cloudbees_seed_routes_only` takes the three read routes away (404
//!   without a route, as on a deployment that lacks them).
//!
//! Confidence:
//! - Rollout ids: [`ROLLOUT_ID_LEN`] characters from [`ROLLOUT_ID_ALPHABET`].
//! - Fields a client cannot set: [`SERVER_MANAGED_FIELDS`] (ignored on create, 400 in an
//!   update mask).
//! - List: `pageSize` default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`], in creation
//!   order; `filter` accepts terms `state:X`, `state=X`, `labels.K:V`, `labels.K=V`
//!   joined by `AND` (or spaces); anything else is 400. See [`parse_filter`].
//! - PATCH without `updateMask` updates every field present in the body.
//! - `:launch` of a rollout that is not a draft, or has a transition under way: 400
//!   `FAILED_PRECONDITION`. The transition's steps: [`LAUNCH_STEPS`].
//! - `:updateSegment` applies at once and answers `{}`; a segment without a name gets
//!   `segments/<id>`.
//! - Analysis results: see [`analysis_result_id`] and [`analysis_result`].
//! - `reach` must be a decimal string between 0 and 1 (400 otherwise).
//! - Issued access tokens live in memory only: after a restart clients fetch a new one.
//!
//! CloudBees Unify (`api-notes-unify.md`; the notes' `[I]` items and what no source says):
//! - Routes: the feature-management paths answer under both `/v1` and `/v2`; organization
//!   lookup and services only under `/v1`, environments only under `/v2` (as the notes list
//!   them). The flag clone route and environment creation through `/v1/resources/...` are
//!   not served (their semantics are unverified); organizations, applications and
//!   environments are made by the control endpoint `POST /_emulator/unify/organizations`
//!   and the defaults ([`UNIFY_DEFAULT_ORGANIZATION_ID`] and the constants after it).
//! - Errors: `google.rpc.Status` `{code, message, details: []}` with the gRPC code mapped
//!   like grpc-gateway: 3 `INVALID_ARGUMENT` → 400, 5 `NOT_FOUND` → 404, 6 `ALREADY_EXISTS`
//!   → 409, 9 `FAILED_PRECONDITION` → 400, 8 `RESOURCE_EXHAUSTED` → 429, 13 → 500, 14 → 503.
//!   A missing or unknown token is 401 with the other envelope,
//!   [`unify_unauthorized_body`]. An unknown application, flag, target group, property,
//!   organization or environment (also one not linked to the application) is 404; ids are
//!   not checked for UUID form.
//! - Bodies: fields of the resource messages the emulator does not know (and read-only
//!   ones such as `id`, `resourceId`, `cascUrl`, `created`) are ignored, as grpc-gateway
//!   discards unknown fields; but inside `conditions` and values every field is checked
//!   (flag-service validates those with JSON Schemas that forbid extra fields). Answers
//!   always carry every field (`labels: []`, `description: ""`).
//! - Timestamps `created`/`updated` are on every resource (flags, configurations, target
//!   groups, properties); `cascUrl` is always [`UNIFY_CASC_URL`] (no repository is
//!   connected); `resourceId` is the application id for flags, configurations, target
//!   groups and properties, the organization id for environments.
//! - Lists are unpaginated, in creation order. `GET .../flags/labels` answers every label
//!   once, sorted. In the bulk read `GET .../environments/{env}/configuration`, `created`
//!   and `updated` are the configuration's.
//! - Flags: `flagType` defaults to `Boolean`; a Boolean flag created without `variants`
//!   gets [`unify_default_variants`]. Variants are strings naming values of the flag's
//!   type (`"true"`/`"false"`; a number's text). Names are unique per application (409
//!   `ALREADY_EXISTS`); neither the name nor `flagType` can change (400). `PUT` replaces
//!   description, variants, labels and isPermanent (omitted: their defaults); omitted
//!   `name`/`flagType` keep theirs. `isPermanent` does not block deletion (the spec says it
//!   only excludes a flag from stale-flag clean-up). `configStates` lists the environments
//!   named by repeated `configStateEnvs` parameters that have a configuration (unknown ids
//!   are skipped), on list, get and by-name.
//! - Deleting a flag that is enabled in any environment is refused with 400
//!   `FAILED_PRECONDITION` ("enabled flags can't be deleted", unverified): disable it first.
//!   Deleting removes its configurations.
//! - Deleting a target group, property or flag that another object refers to (a
//!   configuration's condition, a target group's condition, a flag dependency) is refused
//!   with 400 `FAILED_PRECONDITION` naming the referrers; delete in reverse order. Renaming
//!   a referenced property (conditions name properties) is refused the same way. Target
//!   groups may be renamed (conditions refer to them by id).
//! - Configurations: every flag has exactly one per environment linked to its application,
//!   made with the flag (or when an environment is linked later): disabled, serving
//!   [`unify_new_configuration_default_value`], no conditions, stickiness
//!   [`UNIFY_DEFAULT_STICKINESS`], `variantsEnabled: false`, and a server-assigned `seed`
//!   (UUID form). `PUT` replaces the configuration and requires `enabled` and
//!   `defaultValue` (flag-service's schema); omitted `conditions` become `[]`, omitted
//!   stickiness the default, an omitted `seed` keeps the current one. `PATCH` changes only
//!   the fields present; it has no `seed` (ignored). `conditions: []` wipes the rules.
//!   `configstate` requires a boolean `enabled`. Writes answer `{}`.
//! - Values: splits must sum to exactly 100 at 4 decimals; schedules (Boolean flags only)
//!   need not (legacy schedules are cumulative, e.g. 0, 10, 100; the notes state the sum
//!   rule for splits). An entry with both `option` and `from` is a mix and refused. Top-level
//!   conditions must have a `flagValue` and at least one matcher; conditions and `allOf`/
//!   `anyOf` items must not repeat (the schemas' `uniqueItems`).
//! - References: target groups by id (`{"group": {"id"}}`; the CasC `name` form is refused);
//!   flag dependencies by `id` or `name` (the notes do not know which the API uses); the
//!   dependency's value is not checked against the other flag's type. Properties must be
//!   custom properties of the application or built in: [`is_builtin_property`].
//!   `stickinessProperty` is not checked (as flag-service). Target-group cycles are global;
//!   flag-dependency cycles are per environment. A reference to something that does not
//!   exist, and a cycle, are 400 `INVALID_ARGUMENT` naming the place in the body.
//! - Target groups: `PUT` is a full replace that requires `name` and `conditions`
//!   (`description` omitted: empty); `conditions` is one object (the CasC/API form, not the
//!   legacy `{operator, conditions}` shown by one documents page).
//! - A successful per-flag configuration write adds every new plain value it serves
//!   (default, condition values, split options) to the flag's `variants` and updates the
//!   flag's `updated` (pitfall 5).
//! - Properties: `type` is one of `Boolean, String, Semver, Number, DateTime` exactly (not
//!   the CasC `Datetime`); `PUT` requires `name` and `type`; the type cannot change.
//! - Usage endpoints count direct references only (not through nested target groups) and
//!   list every environment linked to the application, with empty lists where unused.
//! - `GET /v1/organizations/{org}/services` without `typeFilter` applies
//!   `SERVICE_WITH_REPO_FILTER` (services with a repository URL; the default application
//!   has none); `APPLICATION_FILTER` and `COMPONENT_FILTER` select by type; other values are
//!   400. `GET /v1/organizations/name` matches `domainName` exactly.
//! - Rate limit (off by default; `unify_requests_per_second`): per caller IP and second,
//!   429 `RESOURCE_EXHAUSTED` without `Retry-After` (none is documented; clients back off
//!   exponentially). An injected 429 on Unify paths has no `Retry-After` either.
//! - Creates are not idempotent and names are unique, so a retried create whose first
//!   attempt was applied gets 409 `ALREADY_EXISTS`; look the name up.
//! - Ids: UUIDs (version 4 layout) derived from the fault seed and a persisted counter, so
//!   runs repeat and a restart never reuses one.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::Shared;
use crate::error::Service;
use crate::state::StoredRollout;
use crate::unify::model::FlagType;

/// The CloudBees application every emulator has (24 hex digits, like the service's ids).
pub const CLOUDBEES_DEFAULT_APPLICATION_ID: &str = "f1a65ac0f1a65ac0f1a65ac0";
/// Its name.
pub const CLOUDBEES_DEFAULT_APPLICATION_NAME: &str = "flagsync emulator";
/// The environments of a CloudBees application unless set otherwise (the names Unify's
/// default organization has too).
pub const CLOUDBEES_DEFAULT_ENVIRONMENTS: &[&str] = &["Production", "Staging", "Development"];

/// The name of a CloudBees application that was given none: its id.
pub fn cloudbees_application_name(id: &str) -> String {
    if id == CLOUDBEES_DEFAULT_APPLICATION_ID {
        CLOUDBEES_DEFAULT_APPLICATION_NAME.to_owned()
    } else {
        id.to_owned()
    }
}

/// The `key` of a CloudBees environment: 24 hex digits derived from the application and
/// the environment name, so it is stable across restarts.
pub fn cloudbees_environment_key(app: &str, env: &str) -> String {
    let digest = Sha256::digest(format!("{app}\0{env}").as_bytes());
    hex(&digest)[..24].to_owned()
}

/// The organization every emulator has (also embedded, also after a restart).
pub const UNIFY_DEFAULT_ORGANIZATION_ID: &str = "f1a65ac0-0000-4000-8000-000000000001";
/// Its `domainName`, for `GET /v1/organizations/name?name=...`.
pub const UNIFY_DEFAULT_ORGANIZATION_DOMAIN: &str = "flagsync-emulator";
/// Its `displayName`.
pub const UNIFY_DEFAULT_ORGANIZATION_DISPLAY_NAME: &str = "flagsync emulator";
/// The application of the default organization, linked to every default environment.
pub const UNIFY_DEFAULT_APPLICATION_ID: &str = "f1a65ac0-0000-4000-8000-000000000100";
/// Its `name`.
pub const UNIFY_DEFAULT_APPLICATION_NAME: &str = "flagsync-emulator-app";
/// The default organization's environments, `(id, name)`.
pub const UNIFY_DEFAULT_ENVIRONMENTS: &[(&str, &str)] = &[
    ("f1a65ac0-0000-4000-8000-000000000201", "Production"),
    ("f1a65ac0-0000-4000-8000-000000000202", "Staging"),
    ("f1a65ac0-0000-4000-8000-000000000203", "Development"),
];

/// `cascUrl` of every resource: no repository is connected.
pub const UNIFY_CASC_URL: &str = "";
/// The stickiness property of a configuration that names none.
pub const UNIFY_DEFAULT_STICKINESS: &str = "rox.distinct_id";

/// What a new configuration serves: the value written in code (the documents: "the default
/// condition for a flag is to serve the value written in the source code").
pub fn unify_new_configuration_default_value() -> Value {
    json!({"valueWrittenInCode": true})
}

/// The variants of a flag created without any: `["false", "true"]` for Boolean flags (the
/// documents' and CasC files' values; the spec says "empty"), none for the others.
pub(crate) fn unify_default_variants(flag_type: FlagType) -> Vec<String> {
    match flag_type {
        FlagType::Boolean => vec!["false".to_owned(), "true".to_owned()],
        FlagType::String | FlagType::Number => Vec::new(),
    }
}

/// Properties conditions may use without a custom property: the SDKs' `rox.*` properties
/// (the documents list `rox.distinct_id`, `rox.environment`, `rox.application`; version
/// targeting uses `rox.app_release`; real files use `rox.platform`, `rox.screen_height`)
/// and `version`.
pub fn is_builtin_property(name: &str) -> bool {
    name == "version"
        || name
            .strip_prefix("rox.")
            .is_some_and(|rest| !rest.is_empty())
}

/// The body of a Unify 401 (a third party's observation; not `google.rpc.Status`).
pub fn unify_unauthorized_body() -> Value {
    json!({"error": "you are not authorized to perform this action"})
}

/// `Retry-After` of an injected 429: none on Unify paths (undocumented there), 1 s elsewhere.
pub(crate) fn retry_after_of_injected_429(service: Service) -> Option<u64> {
    match service {
        Service::Unify => None,
        Service::CloudBees | Service::Confidence | Service::Emulator => Some(1),
    }
}

/// Tokens the Unify documents' examples carry, accepted with `preload_examples`.
pub const UNIFY_EXAMPLE_TOKENS: &[&str] = &["YOUR_TOKEN", "YOUR_API_TOKEN"];
/// The application id of the Unify documents' examples (preloaded with `preload_examples`).
pub const UNIFY_EXAMPLE_APPLICATION_ID: &str = "a3b7c5d9-2f4e-8a1c-b6d4-e9f3a7b5c8d1";
/// The environments of the Unify documents' examples, `(id, name)`; the names are ours.
pub const UNIFY_EXAMPLE_ENVIRONMENTS: &[(&str, &str)] = &[
    ("e4b7c2d9-8f5a-4c3e-b1d6-a9f3e7c5b8d2", "example-production"),
    ("e5c8d3e0-9f6b-5d4f-c2e7-b0f4e8d6c9e3", "example-staging"),
];

/// Whether an experiment counts as having "at least one release rule", which decides if
/// the list endpoint shows it: a non-empty `conditions` or `platforms`, or a `value` that
/// is a split (`[{option, percentage}]`) or a schedule (`[{from, percentage}]`).
pub fn has_release_rule(experiment: &Value) -> bool {
    let non_empty_list = |key: &str| {
        experiment
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let split_or_schedule = experiment
        .get("value")
        .and_then(Value::as_array)
        .is_some_and(|steps| {
            steps.iter().any(|step| {
                step.get("percentage").is_some()
                    && (step.get("option").is_some() || step.get("from").is_some())
            })
        });
    non_empty_list("conditions") || non_empty_list("platforms") || split_or_schedule
}

/// What PUT stores: the body with `name` replaced by the flag (the service ignores it).
pub fn normalize_experiment(mut experiment: Map<String, Value>, flag: &str) -> Value {
    experiment.insert("name".to_owned(), Value::String(flag.to_owned()));
    Value::Object(experiment)
}

/// A pointer without a leading `/` is a top-level member name (the vendor's example).
pub fn normalize_patch_pointer(pointer: &str) -> String {
    if pointer.is_empty() || pointer.starts_with('/') {
        pointer.to_owned()
    } else {
        format!("/{pointer}")
    }
}

/// The example token of the CloudBees documents, accepted with `preload_examples`.
pub const EXAMPLE_CLOUDBEES_TOKEN: &str = "b0c17g9f-79f4-69da-cc45-67db602c10d6";
/// The application id of the CloudBees documents' examples.
pub const EXAMPLE_APPLICATION: &str = "1a23bcd4e5fg6h7890i123j4";

pub const ROLLOUT_ID_LEN: usize = 20;
pub const ROLLOUT_ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const ROLLOUT_NAME_PREFIX: &str = "workflows/rollout/instances/";
pub const SERVER_MANAGED_FIELDS: &[&str] = &[
    "name",
    "state",
    "createTime",
    "updateTime",
    "pendingTransition",
    "stats",
];
pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;
pub const LAUNCH_STEPS: &[&str] = &[
    "VALIDATE_CONFIGURATION",
    "ENABLE_FLAG_RULE",
    "START_ANALYSIS",
];

/// One term of a list filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterTerm {
    State(String),
    Label(String, String),
}

/// Parses `state:live AND labels.owner=flagsync`. Values may be double-quoted.
pub fn parse_filter(filter: &str) -> Result<Vec<FilterTerm>, String> {
    let mut terms = Vec::new();
    for raw in filter.split_whitespace() {
        if raw.eq_ignore_ascii_case("AND") {
            continue;
        }
        let Some(split) = raw.find([':', '=']) else {
            return Err(format!("unsupported filter term {raw:?}"));
        };
        let (key, value) = (&raw[..split], &raw[split + 1..]);
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if value.is_empty() {
            return Err(format!("filter term {raw:?} has no value"));
        }
        if key == "state" {
            terms.push(FilterTerm::State(value.to_owned()));
        } else if let Some(label) = key.strip_prefix("labels.").filter(|l| !l.is_empty()) {
            terms.push(FilterTerm::Label(label.to_owned(), value.to_owned()));
        } else {
            return Err(format!(
                "unsupported filter field {key:?}; supported: state, labels.<key>"
            ));
        }
    }
    Ok(terms)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The analysis result id a completed launch gets: derived from the rollout id and its
/// metrics, so the same rollout with the same metrics always has the same result.
pub fn analysis_result_id(rollout_id: &str, metrics: Option<&Value>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rollout_id.as_bytes());
    hasher.update([0]);
    hasher.update(metrics.map(Value::to_string).unwrap_or_default().as_bytes());
    hex(&hasher.finalize())[..12].to_owned()
}

const STATUSES: &[&str] = &[
    "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE",
    "METRIC_RESULT_STATUS_NOT_SIGNIFICANT",
    "METRIC_RESULT_STATUS_SIGNIFICANT_NEGATIVE",
];

/// The analysis result of a launched rollout: one result per configured metric, its type
/// from the metric's `metricKind`, a status picked deterministically from a hash of the
/// rollout id and the metric, and an alpha adjusted for the number of metrics (Bonferroni).
pub fn analysis_result(id: &str, result_id: &str, rollout: &Map<String, Value>) -> Value {
    let metrics: Vec<&Value> = rollout
        .get("metrics")
        .and_then(|m| m.get("metrics"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let alpha = 0.05 / metrics.len().max(1) as f64;
    let results: Vec<Value> = metrics
        .iter()
        .enumerate()
        .map(|(i, metric)| {
            let metric_name = metric
                .get("metric")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("metrics/unnamed-{i}"));
            let kind = metric
                .get("metricRole")
                .and_then(|r| r.get("metricKind"))
                .and_then(Value::as_str)
                .unwrap_or("SUCCESS");
            let metric_type = if kind.eq_ignore_ascii_case("GUARDRAIL") {
                "METRIC_TYPE_GUARDRAIL"
            } else {
                "METRIC_TYPE_SUCCESS"
            };
            let digest = Sha256::digest(format!("{id}\0{metric_name}").as_bytes());
            let status = STATUSES[usize::from(digest[0]) % STATUSES.len()];
            json!({
                "id": metric_name,
                "statsSettings": {"method": "METHOD_Z_TEST", "adjustedAlpha": alpha},
                "result": {"status": {"status": status, "metricType": metric_type}},
            })
        })
        .collect();
    let info = if results.is_empty() {
        "No metrics configured"
    } else {
        "Analysis completed successfully"
    };
    json!({
        "name": format!("{ROLLOUT_NAME_PREFIX}{id}/analysisResults/{result_id}"),
        "exposureFilter": "",
        "annotations": [{"context": "OVERALL", "info": [info]}],
        "results": results,
    })
}

/// Loads the resources the vendor documents use in their examples (see
/// `EmulatorConfig::preload_examples`); resources that already exist are kept.
pub(crate) async fn preload_examples(app: &Shared) {
    let now = crate::time::now_rfc3339();
    let result = app
        .store
        .write(Service::Emulator, |data| {
            let cb = data
                .cloudbees
                .entry(EXAMPLE_APPLICATION.to_owned())
                .or_default();
            cb.target_groups
                .entry("fooGroup".to_owned())
                .or_insert_with(|| {
                    json!({
                        "type": "target-group",
                        "name": "fooGroup",
                        "description": "tg desc",
                        "operator": "or",
                        "conditions": [{"operator": "is-true", "property": "Foo"}],
                    })
                });
            cb.environments
                .entry("Production".to_owned())
                .or_default()
                .entry("acmeFlagControl".to_owned())
                .or_insert_with(|| {
                    json!({
                        "type": "experiment",
                        "apiVersion": "1.0",
                        "flag": "acmeFlagControl",
                        "name": "acmeFlagControl",
                        "description": "Applies foo to our Nifty App",
                        "enabled": true,
                        "labels": "do-not-merge",
                        "stickinessProperty": "fixed",
                    })
                });
            // The document's flow targets, launches and then reads the results of
            // `brcdajvw7dfuod7cj9iq`, so it starts as a draft whose launch yields the
            // document's result id; the other one is live.
            let examples = [
                ("brcdajvw7dfuod7cj9iq", "New Search Feature Rollout", "search-flag", "draft"),
                ("bnkv2onacdpvxk8cmqbm", "Mobile UI Update", "mobile-ui", "live"),
            ];
            for (id, display_name, flag, state) in examples {
                if data.confidence.rollouts.contains_key(id) {
                    continue;
                }
                let seq = data.confidence.next_seq;
                data.confidence.next_seq += 1;
                let resource = json!({
                    "name": format!("{ROLLOUT_NAME_PREFIX}{id}"),
                    "displayName": display_name,
                    "state": state,
                    "flags": {"targetingKeySelector": "targeting_key"},
                    "rollout": {
                        "flag": format!("flags/{flag}"),
                        "variant": format!("flags/{flag}/variants/enabled"),
                        "reach": "0.1",
                    },
                    "metrics": {
                        "assignmentTable": "assignmentTables/my-assignment-table",
                        "entity": "entities/user",
                        "bucket": "DAYS",
                        "metrics": [{
                            "metric": "metrics/conversion-rate",
                            "metricRole": {"metricKind": "SUCCESS", "minimumDetectableEffect": 0.01},
                            "preferredDirection": "INCREASE",
                        }],
                    },
                    "createTime": now,
                    "updateTime": now,
                });
                let Value::Object(resource) = resource else {
                    continue;
                };
                let analysis_result_id = if id == "brcdajvw7dfuod7cj9iq" {
                    "abc123".to_owned()
                } else {
                    analysis_result_id(id, resource.get("metrics"))
                };
                data.confidence.rollouts.insert(
                    id.to_owned(),
                    StoredRollout {
                        seq,
                        resource,
                        analysis_result_id: Some(analysis_result_id),
                    },
                );
            }
            Ok(())
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e.message, "could not preload the documents' examples");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_rules() {
        assert!(!has_release_rule(&json!({"flag": "a", "value": true})));
        assert!(!has_release_rule(
            &json!({"flag": "a", "conditions": [], "platforms": []})
        ));
        assert!(!has_release_rule(&json!({"flag": "a", "value": []})));
        assert!(has_release_rule(&json!({"conditions": [{"value": true}]})));
        assert!(has_release_rule(&json!({"platforms": [{"name": "iOS"}]})));
        assert!(has_release_rule(
            &json!({"value": [{"option": true, "percentage": 30}]})
        ));
        assert!(has_release_rule(
            &json!({"value": [{"from": "2024-01-01T00:00:00Z", "percentage": 10, "option": true}]})
        ));
    }

    #[test]
    fn filters() {
        assert_eq!(
            parse_filter("state:live AND labels.owner=\"flagsync\""),
            Ok(vec![
                FilterTerm::State("live".into()),
                FilterTerm::Label("owner".into(), "flagsync".into())
            ])
        );
        assert_eq!(parse_filter(""), Ok(vec![]));
        assert!(parse_filter("displayName:x").is_err());
        assert!(parse_filter("state").is_err());
        assert!(parse_filter("state:").is_err());
    }

    #[test]
    fn analysis_is_deterministic_and_follows_metrics() {
        let rollout = json!({"metrics": {"metrics": [
            {"metric": "metrics/a", "metricRole": {"metricKind": "SUCCESS"}},
            {"metric": "metrics/b", "metricRole": {"metricKind": "GUARDRAIL"}},
        ]}});
        let Value::Object(rollout) = rollout else {
            unreachable!()
        };
        let a = analysis_result("x", "r", &rollout);
        assert_eq!(a, analysis_result("x", "r", &rollout));
        assert_eq!(a["results"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            a["results"][1]["result"]["status"]["metricType"],
            "METRIC_TYPE_GUARDRAIL"
        );
        assert_eq!(a["results"][0]["statsSettings"]["adjustedAlpha"], 0.025);
        assert_ne!(
            analysis_result_id("x", rollout.get("metrics")),
            analysis_result_id("y", rollout.get("metrics"))
        );
    }
}
