//! Confidence rollout manifests: the workflow instance resource plus the stable `id` that
//! GitOps needs (the server assigns its own ids; ours is stored as a label).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// The labels flagsync puts on live rollouts; reserved in manifests.
pub use flagsync_live::{DUPLICATE_OF_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ROLLOUT_ID_LABEL};

/// The `type: rollout` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum RolloutKind {
    #[default]
    #[serde(rename = "rollout")]
    Rollout,
}

/// A Confidence rollout (`type: rollout`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rollout {
    #[serde(rename = "type", default)]
    pub kind: RolloutKind,
    /// Stable key: lowercase letters, digits and `-`, so it is a valid label value. Required
    /// in manifests; a live rollout carries it in its labels instead.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The Confidence rollout this manifest adopts (`workflows/rollout/instances/<id>`), one
    /// made elsewhere without flagsync's label: the next apply labels that rollout instead
    /// of creating another. `flagsync export` writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `draft` (default) or `live` ("launched"); `ended` only appears on live rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<RolloutState>,
    /// Extra labels; flagsync adds its own ([`ROLLOUT_ID_LABEL`], [`MANAGED_BY_LABEL`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<RolloutFlags>,
    pub rollout: RolloutSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Server-managed (`workflows/rollout/instances/{id}`); rejected in manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub name: Option<String>,
    /// Server-managed; rejected in manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub create_time: Option<String>,
    /// Server-managed; rejected in manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub update_time: Option<String>,
    /// Server-managed; rejected in manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub pending_transition: Option<serde_json::Value>,
    /// Server-managed; rejected in manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub stats: Option<serde_json::Value>,
    /// The other output-only fields of the API's rollout (a manifest pasted from a GET has
    /// them); rejected in manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub creator: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub updater: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub possible_transitions: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub locked_data_keys: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub state_history: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub transition_status: Option<serde_json::Value>,
}

impl Rollout {
    /// The names of the server-managed fields this value carries (empty for a clean manifest).
    pub fn server_managed_fields(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("createTime", self.create_time.is_some()),
            ("updateTime", self.update_time.is_some()),
            ("pendingTransition", self.pending_transition.is_some()),
            ("stats", self.stats.is_some()),
            ("creator", self.creator.is_some()),
            ("updater", self.updater.is_some()),
            ("possibleTransitions", self.possible_transitions.is_some()),
            ("lockedDataKeys", self.locked_data_keys.is_some()),
            ("stateHistory", self.state_history.is_some()),
            ("transitionStatus", self.transition_status.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    Draft,
    Live,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutFlags {
    /// The evaluation-context field that identifies a unit (e.g. `targeting_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting_key_selector: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutSpec {
    /// `flags/<flag>`.
    pub flag: String,
    /// `flags/<flag>/variants/<variant>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Share of the segment exposed: a decimal fraction written as a string, `"0"` to `"1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reach: Option<String>,
}

/// Who the rollout reaches: its segment, a resource of Confidence's flags API that the
/// rollout creates (`flags.segment`); flagsync sets it with the rollout's `:updatesegment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Segment {
    /// Server-assigned `segments/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targeting: Option<Targeting>,
    /// How much of the population the segment sets aside; defaults to all of it
    /// (`proportion: {value: "1"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<Allocation>,
}

/// A segment's allocation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Allocation {
    /// The share of the population, a decimal between `"0"` and `"1"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proportion: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusivity_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusive_to: Vec<String>,
}

/// A `google.type.Decimal`: the decimal written as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decimal {
    pub value: String,
}

/// Who is in the segment: named criteria combined by an expression. Empty matches everyone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Targeting {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub criteria: BTreeMap<String, Criterion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<Expression>,
}

/// Exactly one of `attribute`, `segment` or `materializedSegment` (checked by validation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Criterion {
    /// A rule on an attribute of the evaluation context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<AttributeCriterion>,
    /// Membership in another segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentCriterion>,
    /// Membership in a materialized segment (a stored list of units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialized_segment: Option<MaterializedSegmentCriterion>,
}

impl Criterion {
    /// The names of the forms that are set.
    pub fn set_forms(&self) -> Vec<&'static str> {
        [
            ("attribute", self.attribute.is_some()),
            ("segment", self.segment.is_some()),
            ("materializedSegment", self.materialized_segment.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SegmentCriterion {
    /// `segments/<id>`.
    pub segment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MaterializedSegmentCriterion {
    /// `materializedSegments/<id>`.
    pub materialized_segment: String,
}

/// Declares a struct holding the rules that test one value, between the fields it lists
/// before and after `..`: [`Rule`], and [`AttributeCriterion`], which repeats them rather than
/// flattening a [`Rule`] (see there); the rules are written once, here.
macro_rules! with_value_rules {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$bmeta:meta])* pub $before:ident: $bty:ty,)*
            ..
            $($(#[$ameta:meta])* pub $after:ident: $aty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            $($(#[$bmeta])* pub $before: $bty,)*
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub eq_rule: Option<ValueRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub set_rule: Option<SetRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub range_rule: Option<RangeRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub starts_with_rule: Option<StringRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ends_with_rule: Option<StringRule>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub contains_rule: Option<StringRule>,
            $($(#[$ameta])* pub $after: $aty,)*
        }
    };
}

with_value_rules! {
    /// An attribute and exactly one rule (checked by validation). The rule fields sit beside
    /// `attributeName` in the API's JSON, so they are repeated here rather than flattened (serde's
    /// flatten cannot be combined with rejecting unknown fields).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    pub struct AttributeCriterion {
        pub attribute_name: String,
        ..
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub any_rule: Option<QuantifiedRule>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub all_rule: Option<QuantifiedRule>,
    }
}

with_value_rules! {
    /// The rules that test one value. At most one is set (checked by validation).
    #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
    pub struct Rule {
        ..
    }
}

impl AttributeCriterion {
    /// The rules that test the attribute's value itself (all but `anyRule`/`allRule`).
    pub fn value_rules(&self) -> Rule {
        Rule {
            eq_rule: self.eq_rule.clone(),
            set_rule: self.set_rule.clone(),
            range_rule: self.range_rule.clone(),
            starts_with_rule: self.starts_with_rule.clone(),
            ends_with_rule: self.ends_with_rule.clone(),
            contains_rule: self.contains_rule.clone(),
        }
    }

    /// The names of the rules that are set, `anyRule`/`allRule` included.
    pub fn set_rules(&self) -> Vec<&'static str> {
        let mut out = self.value_rules().set_rules();
        if self.any_rule.is_some() {
            out.push("anyRule");
        }
        if self.all_rule.is_some() {
            out.push("allRule");
        }
        out
    }
}

impl Rule {
    /// The names of the rules that are set.
    pub fn set_rules(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.eq_rule.is_some() {
            out.push("eqRule");
        }
        if self.set_rule.is_some() {
            out.push("setRule");
        }
        if self.range_rule.is_some() {
            out.push("rangeRule");
        }
        if self.starts_with_rule.is_some() {
            out.push("startsWithRule");
        }
        if self.ends_with_rule.is_some() {
            out.push("endsWithRule");
        }
        if self.contains_rule.is_some() {
            out.push("containsRule");
        }
        out
    }
}

/// `anyRule` / `allRule`: the inner rule applied to the elements of a list attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantifiedRule {
    pub rule: Rule,
}

/// `eqRule`: equal to the value. Every kind of value compares for equality; an empty value
/// (`{}`) matches an absent attribute, so `not` of it means "is set".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueRule {
    pub value: TypedValue,
}

/// `startsWithRule`, `endsWithRule`, `containsRule`: the attribute (a string) starts with,
/// ends with or contains the text. The value is a plain string, not a typed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StringRule {
    #[schemars(with = "String")]
    pub value: StringRuleValue,
}

/// What a string rule's `value` holds: text, or (wrongly) a typed value such as
/// `{stringValue: "…"}`, which earlier flagsync versions wrote. The second is read only so
/// that validation can name the fix; it is never sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StringRuleValue {
    Text(String),
    Typed(TypedValue),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRule {
    pub values: Vec<TypedValue>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RangeRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_inclusive: Option<TypedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_exclusive: Option<TypedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_inclusive: Option<TypedValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_exclusive: Option<TypedValue>,
}

/// Exactly one of the fields (checked by validation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TypedValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    // A double in the API; refused past ±2^53, where integers stop being exact.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient::exact_number"
    )]
    pub number_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bool_value: Option<bool>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_value: Option<String>,
    /// Compared as a version (`2.0.0`) by `eqRule` and `rangeRule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_value: Option<VersionValue>,
    /// A list, for attributes that hold lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_value: Option<ListValue>,
}

impl TypedValue {
    pub fn set_count(&self) -> usize {
        usize::from(self.string_value.is_some())
            + usize::from(self.number_value.is_some())
            + usize::from(self.bool_value.is_some())
            + usize::from(self.timestamp_value.is_some())
            + usize::from(self.version_value.is_some())
            + usize::from(self.list_value.is_some())
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListValue {
    #[serde(default)]
    pub values: Vec<TypedValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionValue {
    pub version: String,
}

/// A tree over criteria names. Exactly one field is set (checked by validation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expression {
    /// The name of a criterion.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Expression>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Operands>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Operands>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operands {
    #[serde(default)]
    pub operands: Vec<Expression>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment_table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// Time bucket of the analysis, e.g. `DAYS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricSpec {
    /// `metrics/<id>`.
    pub metric: String,
    pub metric_role: MetricRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_direction: Option<Direction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricRole {
    pub metric_kind: MetricKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_detectable_effect: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_inferiority_margin: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MetricKind {
    Success,
    Guardrail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    Increase,
    Decrease,
}
