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
//! Confidence (`api-notes-confidence.md`; its INFERRED and UNVERIFIED items, and what no
//! source says):
//! - Hosts: one port serves the rollouts (`experiments`), segments (`flags`), results
//!   (`stats`, `/v2`) and token (`iam`) APIs; `/v1` paths of Unify and Confidence never
//!   clash.
//! - Rollout ids: [`ROLLOUT_ID_LEN`] characters from [`ROLLOUT_ID_ALPHABET`]; segment, rule
//!   and assignment ids too. Create is served at `POST /v1/workflows/rollout/instances`
//!   (the how-to) and `POST /v1/workflows/rollout` (the abtest reference's form); `name` in
//!   a create body is ignored (the server names rollouts).
//! - Output-only: the envelope fields [`ROLLOUT_OUTPUT_ONLY_FIELDS`] and the server-computed
//!   sections [`ROLLOUT_SERVER_SECTIONS`] are refused (400 `INVALID_ARGUMENT`) when a
//!   client sends them, on create and on PATCH (the notes: "an emulator must not accept
//!   them from clients"). The data-section fields the server fills (`rollout.controlVariant`,
//!   the assignment ids, `flags.flag`/`segment`/`rule`) are not refused: they are part of
//!   their section, which a PATCH replaces as a whole.
//! - What a create fills in: [`fill_new_rollout`] (`owner` defaults to the caller;
//!   `workflowVersion` [`WORKFLOW_VERSION`]; `jobQueue` off; `transitionStatus` `{}`, its
//!   shape being unknown; the server-computed sections `recommendations` (empty lists) and
//!   `samplesize` (`{}`, its fields being cut off in the reference);
//!   `rollout.controlVariant` [`control_variant`]; new assignment ids;
//!   `flags.flag` and `flags.segment`, a segment made at create so targeting can be set on
//!   a draft). `creator`/`updater` are `apiClients/<clientId>` for a token from
//!   `/v1/oauth/token`, [`TOKEN_IDENTITY`] for a configured token.
//! - PATCH takes a comma-separated `updateMask`; each path (a section such as `rollout`, or
//!   a nested path such as `rollout.reach`) is replaced with the body's value, and a masked
//!   field the body lacks is cleared (FieldMask semantics). Without a mask every field a
//!   client may set is replaced (AIP-134's empty mask). `name` in the body must be the
//!   rollout's. Sections in `lockedDataKeys` are refused with 400 `FAILED_PRECONDITION`:
//!   see [`locked_data_keys`] (a live rollout's `flags`, which `:updatesegment` changes
//!   instead; everything once ended).
//! - States are the strings `draft`, `live`, `ended`; `possibleTransitions` per state:
//!   [`possible_transitions`]. `:launch` (draft) and `:end` (live; no document shows it)
//!   answer `{}` at once and complete after the launch duration, shown in
//!   `pendingTransition` meanwhile ([`LAUNCH_STEPS`], [`END_STEPS`]); a rollout in another
//!   state, or with a transition under way, is refused with 400 `FAILED_PRECONDITION`.
//!   `stateHistory` gains an entry per state entered.
//! - Launching fills [`fill_launched`]: `flags.rule`, `exposure` (zero counts, as int64
//!   strings), an exploratory analysis in `explore.exploratoryAnalyses[]` whose
//!   `analysisResults[]` names the rollout's analysis result, and allocates the segment.
//!   Only the documents' preloaded example rollouts also carry the how-to's
//!   `stats.analysisResult` (the reference shows no `stats` section).
//! - Segments: `/v1/segments` as the flags admin API has them. A rollout's segment covers
//!   everyone until targeted, with allocation [`rollout_segment_allocation`], `UNALLOCATED`
//!   until the launch. Output-only fields ([`SEGMENT_OUTPUT_ONLY_FIELDS`]) in a body are
//!   refused; updates may name [`SEGMENT_MUTABLE_FIELDS`]. Targeting is checked against the
//!   resolver protos, unknown fields refused (a strict proto-JSON reader), an empty
//!   criterion and a value with no kind allowed (the resolver's test state has both), a
//!   range with neither end refused. The list does not filter (400 on a `filter`).
//! - `:updatesegment` requires `{"parameters": {...}}` with only the documented parameters;
//!   the how-to's `:updateSegment` is served too, with or without the wrapper. A
//!   `segment.name` other than the rollout's segment is refused (400); a rollout whose
//!   `flags.segment` was cleared gets a new segment. `updateMask` is relative to the segment
//!   (no mask: every mutable field, as for PATCH). The change applies at once, whatever the
//!   segment's allocation; `targetingKeySelector`, `stickyAssignments` and
//!   `ignoreTargetingForSticky` set the rollout's `flags` fields. The answer is
//!   `{"pathAimedToUpdate": "<segment name>"}`.
//! - List: `pageSize` default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`], in creation
//!   order; `filter` accepts terms `state:X`, `state=X`, `labels.K:V`, `labels.K=V`
//!   joined by `AND` (or spaces); anything else is 400. See [`parse_filter`]. The sources
//!   give no default, maximum or parsing of `pageSize` (api-notes-confidence: UNVERIFIED),
//!   and the two lists read it differently: rollouts read an i64 (any spelling of 0 is the
//!   default, a negative size 400, a larger one capped); segments (`GET /v1/segments`)
//!   read a usize, where only `"0"` itself is the default, `"00"` an empty page, and a
//!   size past i64 is capped rather than refused.
//! - Analysis results: see [`analysis_result_id`] and [`analysis_result`]; served at the
//!   documented `/v2/...` path and at the how-to's `/v1/...` path, the same document.
//! - `reach` must be a decimal string between 0 and 1 (400 otherwise); a segment's
//!   `allocation.proportion` a `{"value": "<decimal>"}` object between 0 and 1.
//! - The token endpoint takes the camelCase body (and the snake_case spellings a proto-JSON
//!   reader also accepts) and answers `expiresIn` as an int64 string. Issued access tokens
//!   live in memory only: after a restart clients fetch a new one.
//! - The flags API's documented limit (50 requests per second per account) is off unless
//!   the runtime knob `confidenceFlagsRequestsPerSecond` sets one: then 429
//!   `RESOURCE_EXHAUSTED` without `Retry-After` (none is documented) beyond it, per caller IP.
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
//!
//! Both (limits the vendors do not publish):
//! - A request body nested deeper than [`crate::MAX_BODY_DEPTH`] (64) arrays and objects is
//!   400, and so is a JSON Patch whose result would be: no real flag or rollout comes
//!   close, and the state file must read back (see `state.rs`).
//! - A request body that has not fully arrived [`crate::BODY_READ_TIMEOUT`] (10 s) after its
//!   headers is answered 408 (`DEADLINE_EXCEEDED` for Confidence) with
//!   `Connection: close`: a trickling client cannot hold a connection forever.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::Shared;
use crate::error::Service;
use crate::state::{StoredRollout, StoredSegment};
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
pub const SEGMENT_PREFIX: &str = "segments/";
/// `creator`/`updater` of a request made with a configured (not issued) token.
pub const TOKEN_IDENTITY: &str = "identities/emulator-user";
/// `workflowVersion` of a rollout whose create did not name one.
pub const WORKFLOW_VERSION: &str = "1";
/// Envelope fields only the server writes (absent from the PATCH request schema).
pub const ROLLOUT_OUTPUT_ONLY_FIELDS: &[&str] = &[
    "state",
    "createTime",
    "updateTime",
    "deleteTime",
    "creator",
    "updater",
    "pendingTransition",
    "transitionStatus",
    "possibleTransitions",
    "lockedDataKeys",
    "checks",
    "stateHistory",
    "stats",
];
/// Data sections the server computes.
pub const ROLLOUT_SERVER_SECTIONS: &[&str] = &["exposure", "samplesize", "recommendations"];
/// Every data section of the reference.
pub const ROLLOUT_DATA_SECTIONS: &[&str] = &[
    "rollout",
    "flags",
    "metrics",
    "explore",
    "exposure",
    "planning",
    "recommendations",
    "reviews",
    "samplesize",
];
/// Segment fields only the server writes (OUTPUT_ONLY in the protos).
pub const SEGMENT_OUTPUT_ONLY_FIELDS: &[&str] = &[
    "state",
    "bitsetAllocation",
    "createTime",
    "updateTime",
    "creator",
    "updater",
];
/// Segment fields an update may name.
pub const SEGMENT_MUTABLE_FIELDS: &[&str] = &[
    "targeting",
    "allocation",
    "labels",
    "displayName",
    "description",
];
pub const DEFAULT_PAGE_SIZE: usize = 100;
pub const MAX_PAGE_SIZE: usize = 1000;
pub const LAUNCH_STEPS: &[&str] = &[
    "VALIDATE_CONFIGURATION",
    "ENABLE_FLAG_RULE",
    "START_ANALYSIS",
];
pub const END_STEPS: &[&str] = &["DISABLE_FLAG_RULE", "STOP_ANALYSIS"];

/// The documents' example rollouts (`preload_examples`), which carry the how-to's `stats`.
pub const EXAMPLE_ROLLOUTS: &[&str] = &["brcdajvw7dfuod7cj9iq", "bnkv2onacdpvxk8cmqbm"];

/// The transitions a rollout in `state` offers.
pub fn possible_transitions(state: &str) -> Value {
    match state {
        "draft" => json!(["launch"]),
        "live" => json!(["end"]),
        _ => json!([]),
    }
}

/// The data sections frozen in `state`: a live rollout's `flags` (its targeting and flag
/// settings change through `:updatesegment`, which carries them), every section once ended.
pub fn locked_data_keys(state: &str) -> Value {
    match state {
        "draft" => json!([]),
        "live" => json!(["flags"]),
        _ => json!(ROLLOUT_DATA_SECTIONS),
    }
}

/// The control variant the server picks for a rollout of `flag`.
pub fn control_variant(flag: &str) -> String {
    format!("{flag}/variants/control")
}

/// The allocation of the segment a rollout makes: the whole population.
pub fn rollout_segment_allocation() -> Value {
    json!({"proportion": {"value": "1"}})
}

/// A created rollout: the client's fields with the server's filled in.
pub(crate) fn fill_new_rollout(
    name: &str,
    client: Map<String, Value>,
    segment: &str,
    assignment_ids: &[String; 2],
    who: &str,
    now: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.extend(client);
    out.entry("owner").or_insert_with(|| json!(who));
    out.entry("workflowVersion")
        .or_insert_with(|| json!(WORKFLOW_VERSION));
    out.entry("jobQueue")
        .or_insert_with(|| json!({"isEnabled": false, "items": []}));
    out.insert("createTime".into(), json!(now));
    out.insert("updateTime".into(), json!(now));
    out.insert("creator".into(), json!(who));
    out.insert("updater".into(), json!(who));
    out.insert("checks".into(), json!([]));
    out.insert("transitionStatus".into(), json!({}));
    out.insert("stateHistory".into(), json!([]));
    out.insert(
        "recommendations".into(),
        json!({"recommendations": [], "treatmentRecommendations": []}),
    );
    out.insert("samplesize".into(), json!({}));
    enter_state(&mut out, "draft", now);
    let rollout = section(&mut out, "rollout");
    let flag = rollout
        .get("flag")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(flag) = &flag {
        rollout
            .entry("controlVariant")
            .or_insert_with(|| json!(control_variant(flag)));
    }
    rollout.insert("variantAssignmentId".into(), json!(assignment_ids[0]));
    rollout.insert("controlAssignmentId".into(), json!(assignment_ids[1]));
    let flags = section(&mut out, "flags");
    if let Some(flag) = flag {
        flags.insert("flag".into(), json!(flag));
    }
    flags.insert("segment".into(), json!(segment));
    out
}

/// The section `key` of `resource`, made an empty object when missing.
fn section<'m>(resource: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    let entry = resource
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("made an object above"),
    }
}

/// Puts a rollout into `state`: the state, its transitions and locks, and a `stateHistory`
/// entry (the previous one closed).
pub(crate) fn enter_state(resource: &mut Map<String, Value>, state: &str, now: &str) {
    resource.insert("state".into(), json!(state));
    resource.insert("possibleTransitions".into(), possible_transitions(state));
    resource.insert("lockedDataKeys".into(), locked_data_keys(state));
    resource.insert("updateTime".into(), json!(now));
    if let Some(Value::Array(history)) = resource.get_mut("stateHistory") {
        if let Some(Value::Object(last)) = history.last_mut() {
            last.insert("exitedTime".into(), json!(now));
            last.insert("actualExitedTime".into(), json!(now));
        }
        history.push(json!({
            "state": state,
            "enteredTime": now,
            "actualEnteredTime": now,
            "checks": [],
        }));
    }
}

/// What a completed launch adds: the flag rule, exposure counts, the exploratory analysis
/// naming the analysis result (and the how-to's `stats` for the documents' examples).
pub(crate) fn fill_launched(
    resource: &mut Map<String, Value>,
    id: &str,
    result_id: &str,
    rule_id: &str,
    now: &str,
) {
    let result_name = format!("{ROLLOUT_NAME_PREFIX}{id}/analysisResults/{result_id}");
    let rollout = resource.get("rollout").cloned().unwrap_or(Value::Null);
    let text = |k: &str| rollout.get(k).and_then(Value::as_str).map(str::to_owned);
    let flag = text("flag");
    let who = resource.get("updater").cloned().unwrap_or(Value::Null);
    let metrics: Vec<Value> = resource
        .get("metrics")
        .and_then(|m| m.get("metrics"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m.get("metric").cloned())
                .collect()
        })
        .unwrap_or_default();
    if let Some(flag) = &flag {
        section(resource, "flags").insert("rule".into(), json!(format!("{flag}/rules/{rule_id}")));
    }
    let treatments: Vec<Value> = [text("variant"), text("controlVariant")]
        .into_iter()
        .flatten()
        .map(|t| json!({"treatment": t, "totalExposureCount": "0", "exposureFilter": ""}))
        .collect();
    resource.insert("exposure".into(), json!({"exposure": treatments}));
    let explore = section(resource, "explore");
    let analyses = explore
        .entry("exploratoryAnalyses")
        .or_insert_with(|| json!([]));
    if let Value::Array(analyses) = analyses {
        analyses.push(json!({
            "id": result_id,
            "name": format!("{ROLLOUT_NAME_PREFIX}{id}/exploratoryAnalyses/{result_id}"),
            "state": "DONE",
            "metrics": metrics,
            "analysisResults": [{"analysisResult": result_name, "exposureFilterName": ""}],
            "createdBy": who,
            "createTime": now,
            "updateTime": now,
        }));
    }
    if EXAMPLE_ROLLOUTS.contains(&id) {
        resource.insert("stats".into(), json!({"analysisResult": result_name}));
    }
}

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

/// The analysis result of a launched rollout, in the stats API's v2 shape: one result per
/// configured metric, its type from the metric's `metricKind`, an alpha adjusted for the
/// number of metrics (Bonferroni), and one comparison (`result[]`) of the rollout's variant
/// against its control, whose status and estimates are picked deterministically from a hash
/// of the rollout id and the metric. The `{"value": x}` wrappers are written as the
/// reference draws them. Only the `*_UNSPECIFIED` members of the enums are documented; the
/// others used here are assumed.
pub fn analysis_result(id: &str, result_id: &str, rollout: &Map<String, Value>) -> Value {
    let metrics: Vec<&Value> = rollout
        .get("metrics")
        .and_then(|m| m.get("metrics"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let text = |path: &[&str]| {
        let mut v = Value::Object(rollout.clone());
        for p in path {
            v = v.get(*p).cloned().unwrap_or(Value::Null);
        }
        v.as_str().map(str::to_owned)
    };
    let baseline = text(&["rollout", "controlVariant"]).unwrap_or_else(|| "control".to_owned());
    let compared = text(&["rollout", "variant"]).unwrap_or_else(|| "treatment".to_owned());
    let launched = rollout
        .get("stateHistory")
        .and_then(Value::as_array)
        .and_then(|h| h.iter().find(|e| e.get("state") == Some(&json!("live"))))
        .and_then(|e| e.get("enteredTime"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| text(&["createTime"]))
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
            let significant = status != "METRIC_RESULT_STATUS_NOT_SIGNIFICANT";
            let base = 0.1 + f64::from(digest[1]) / 2550.0;
            let lift = (f64::from(digest[2]) - 127.5) / 2550.0;
            let round = |x: f64| (x * 1e6).round() / 1e6;
            json!({
                "id": metric_name,
                "statsSettings": {
                    "method": "METHOD_Z_TEST",
                    "adjustedAlpha": alpha,
                    "adjustedBeta": {"value": 0.2},
                    "hasVarianceReduction": false,
                },
                "result": [{
                    "status": {
                        "status": status,
                        "message": "",
                        "metricType": metric_type,
                        "decisionPowered": {"value": true},
                        "decisionIsSignificant": {"value": significant},
                        "validationIsSignificant": {"value": false},
                    },
                    "groups": {"baseline": baseline, "compared": compared},
                    "result": [{
                        "resultTime": launched,
                        "baselineEstimateAbs": {"value": round(base)},
                        "comparedEstimateAbs": {"value": round(base + lift)},
                        "differenceEstimateAbs": {"value": round(lift)},
                        "differenceEstimateRel": {"value": round(lift / base)},
                    }],
                }],
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
        "createTime": launched,
        "creator": text(&["creator"]).unwrap_or_default(),
        "annotations": [{
            "context": [{"key": "STATS_ANNOTATION_CONTEXT_OVERALL", "value": "overall"}],
            "info": info,
        }],
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
            // document's result id and whose segment has the document's name; the other
            // one is live.
            let examples = [
                ("brcdajvw7dfuod7cj9iq", "New Search Feature Rollout", "search-flag", "pztjlarivt3tyfie5gsb"),
                ("bnkv2onacdpvxk8cmqbm", "Mobile UI Update", "mobile-ui", "mobileuisegment00001"),
            ];
            for (id, display_name, flag, segment_id) in examples {
                if data.confidence.rollouts.contains_key(id) {
                    continue;
                }
                let client = json!({
                    "displayName": display_name,
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
                });
                let Value::Object(client) = client else {
                    continue;
                };
                let name = format!("{ROLLOUT_NAME_PREFIX}{id}");
                let segment_name = format!("{SEGMENT_PREFIX}{segment_id}");
                let ids = [format!("{id}-variant"), format!("{id}-control")];
                let mut resource =
                    fill_new_rollout(&name, client, &segment_name, &ids, TOKEN_IDENTITY, &now);
                let mut segment = Map::new();
                segment.insert("name".into(), json!(segment_name));
                segment.insert("allocation".into(), rollout_segment_allocation());
                segment.insert("state".into(), json!("UNALLOCATED"));
                segment.insert("workflowInstance".into(), json!(name));
                segment.insert("flag".into(), json!(format!("flags/{flag}")));
                for (k, v) in [("createTime", &now), ("updateTime", &now)] {
                    segment.insert(k.into(), json!(v));
                }
                for k in ["creator", "updater"] {
                    segment.insert(k.into(), json!(TOKEN_IDENTITY));
                }
                let analysis_result_id = if id == "brcdajvw7dfuod7cj9iq" {
                    "abc123".to_owned()
                } else {
                    enter_state(&mut resource, "live", &now);
                    let result = analysis_result_id(id, resource.get("metrics"));
                    fill_launched(&mut resource, id, &result, "mobileuirule00000001", &now);
                    segment.insert("state".into(), json!("ALLOCATED"));
                    result
                };
                let seq = data.confidence.next_seq;
                data.confidence.next_seq += 2;
                data.confidence.segments.insert(
                    segment_id.to_owned(),
                    StoredSegment {
                        seq,
                        resource: segment,
                    },
                );
                data.confidence.rollouts.insert(
                    id.to_owned(),
                    StoredRollout {
                        seq: seq + 1,
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
            a["results"][1]["result"][0]["status"]["metricType"],
            "METRIC_TYPE_GUARDRAIL"
        );
        assert!(a["annotations"][0]["info"].is_string());
        assert_eq!(a["results"][0]["statsSettings"]["adjustedAlpha"], 0.025);
        assert_ne!(
            analysis_result_id("x", rollout.get("metrics")),
            analysis_result_id("y", rollout.get("metrics"))
        );
    }
}
