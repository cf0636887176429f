//! CloudBees Feature Management manifests: the service's own YAML, whose serialization is the
//! JSON body its public API takes (same camelCase field names).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};

use super::lenient::{LenientString, Number, Operand, Scalar, StringList, exact_f64, exact_int};
use crate::defaults::{self, Side};

/// The `type: experiment` tag. Optional when reading the API's JSON, required in files (the
/// loader checks it before deserializing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ExperimentKind {
    #[default]
    #[serde(rename = "experiment")]
    Experiment,
}

/// The `type: target-group` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum TargetGroupKind {
    #[default]
    #[serde(rename = "target-group")]
    TargetGroup,
}

/// One flag's configuration in one environment (`type: experiment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Experiment {
    /// Informational format version (`1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// What the API calls `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: ExperimentKind,
    /// The flag this configures: the experiment's identity within its environment.
    pub flag: String,
    /// Ignored by the service, which has only flags since experiments were deprecated:
    /// flagsync neither sends, compares nor exports it, and warns where a file sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Defaults to `true`; the service writes `false` when a flag is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// One label or a list of labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringList>,
    /// Defaults to `[false, true]` (a boolean flag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_values: Option<Vec<Scalar>>,
    /// Defaults to `rox.distinct_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness_property: Option<String>,
    /// Per-SDK-platform overrides.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
    /// Ordered: the first condition that matches gives the value.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The value when no condition matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Whether the flag is archived. In a repository the folder says it: a file under
    /// `experiments/archived/` is archived (the loader sets this), any other is not, and a
    /// value that contradicts the folder is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

impl Experiment {
    /// Whether the flag is boolean: only booleans in its `availableValues` (or in their
    /// default, when it has none).
    pub fn is_boolean(&self) -> bool {
        let values = match &self.available_values {
            Some(v) => Cow::Borrowed(v),
            None => Cow::Owned(defaults::experiment::available_values(Side::Manifest)),
        };
        values.iter().all(|s| matches!(s, Scalar::Bool(_)))
    }

    /// Every condition of the experiment, the top-level ones and each platform's, with the
    /// JSON-pointer-like path of each.
    pub fn all_conditions(&self) -> Vec<(Vec<PathSeg>, &Condition)> {
        let mut out = Vec::new();
        for (i, c) in self.conditions.iter().enumerate() {
            out.push((vec![PathSeg::key("conditions"), PathSeg::Index(i)], c));
        }
        for (p, platform) in self.platforms.iter().enumerate() {
            for (i, c) in platform.conditions.iter().enumerate() {
                out.push((
                    vec![
                        PathSeg::key("platforms"),
                        PathSeg::Index(p),
                        PathSeg::key("conditions"),
                        PathSeg::Index(i),
                    ],
                    c,
                ));
            }
        }
        out
    }
}

/// One step of a path into a manifest, used to point diagnostics at a YAML node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(Cow<'static, str>),
    Index(usize),
}

impl PathSeg {
    pub fn key(k: &'static str) -> Self {
        PathSeg::Key(Cow::Borrowed(k))
    }
    pub fn owned(k: &str) -> Self {
        PathSeg::Key(Cow::Owned(k.to_owned()))
    }
}

/// A per-platform override of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Platform {
    /// The platform name as the SDK reports it (`iOS`, `Android`, `Browser`, ...).
    pub name: String,
    /// Overrides the flag name on this platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// A release rule: every part present must match (AND); `value` is what it yields. A
/// condition with only `value` matches all users; one without `value` yields the code
/// default, so `{}` (which the service writes) serves the code default to everyone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependency: Option<DependencyCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<PropertyCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// Membership in target groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupCondition {
    /// One target group name or a list of them.
    pub name: StringList,
    /// Absent means "any of" (`or`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<GroupOperator>,
}

/// How the groups of a group condition combine. The format reference lists `or`, `and`
/// and `not`; real files also use `nor`. Each is kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupOperator {
    /// Any of the groups.
    Or,
    /// All of the groups.
    And,
    /// Not in the groups (the format reference's word).
    Not,
    /// None of the groups (the word real files use).
    Nor,
}

/// Another flag of the same environment has a given value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DependencyCondition {
    pub flag: String,
    pub value: LenientString,
}

/// The app release version compared with a semantic version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionCondition {
    pub operator: SemverOperator,
    /// Dot-separated numbers with an optional pre-release (`2`, `1.1`, `4.6.2-beta`,
    /// `26.1.18.8`): what the SDKs compare part by part.
    #[serde(default)]
    pub semver: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SemverOperator {
    SemverGt,
    SemverGte,
    SemverEq,
    SemverNe,
    SemverLt,
    SemverLte,
}

/// A custom-property test, in the classic form `{name, operator, operand?}` or the newer one
/// `{propertyConditions: [...]}` (AND-ed). Validation requires exactly one form.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PropertyCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<PropertyOperator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operand: Option<Operand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property_conditions: Option<Vec<PropertyRule>>,
}

/// `{property, operator, operand?}`: one test of a custom property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyRule {
    pub property: String,
    pub operator: PropertyOperator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operand: Option<Operand>,
}

property_operators!(
    /// Operators of property tests. Each takes one operand shape (see [`OperandKind`]).
    PropertyOperator {
        Regex = "regex",
        InArray = "in-array",
        SemverGt = "semver-gt",
        SemverGte = "semver-gte",
        SemverEq = "semver-eq",
        SemverNe = "semver-ne",
        SemverLt = "semver-lt",
        SemverLte = "semver-lte",
    }
);

/// The operand shape a [`PropertyOperator`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandKind {
    None,
    StringOrNumber,
    Number,
    Pattern,
    List,
    Version,
}

impl PropertyOperator {
    pub fn operand_kind(self) -> OperandKind {
        use PropertyOperator::*;
        match self {
            IsUndefined | IsTrue | IsFalse => OperandKind::None,
            Eq | Ne => OperandKind::StringOrNumber,
            Gt | Gte | Lt | Lte => OperandKind::Number,
            Regex => OperandKind::Pattern,
            InArray => OperandKind::List,
            SemverGt | SemverGte | SemverEq | SemverNe | SemverLt | SemverLte => {
                OperandKind::Version
            }
        }
    }
}

/// An application-wide target group (`type: target-group`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetGroup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: TargetGroupKind,
    /// The identity of the target group within its application.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// How the conditions combine. Defaults to `and` (all of them) in a manifest; in the
    /// REST body the service returns, an absent operator means `or`. flagsync always sends
    /// it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<TargetGroupOperator>,
    /// Absent or left empty (`conditions:`): none.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schemars(with = "Option<Vec<TargetGroupCondition>>")]
    pub conditions: Vec<TargetGroupCondition>,
    /// Accepted because the vendor's own PUT example sends it (`"value":"0"`), but it means
    /// nothing for a target group: never serialized, and a warning in a manifest.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub value: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetGroupOperator {
    And,
    Or,
}

/// `{property, operator, operand?}`, or `{group: {name: [...], operator: any-groups}}`.
/// Validation requires exactly one form.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<PropertyOperator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operand: Option<Operand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupMembership>,
}

/// Membership in other target groups, inside a target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembership {
    pub name: StringList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<GroupMembershipOperator>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GroupMembershipOperator {
    AnyGroups,
}

/// What a flag yields: a scalar, the code default (`[]` or `null`), a percentage split, or a
/// schedule (boolean flags only).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    /// `[]`: the default written in code. (`null` reads as an absent value.)
    CodeDefault,
    Split(Vec<SplitStep>),
    Schedule(Vec<ScheduleStep>),
}

/// `{option, percentage}`: `percentage` percent of users get `option`. Both are kept as
/// written; an absent `percentage` means 100, an absent `option` `true` (the defaults
/// table).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SplitStep {
    /// Absent: `true` (boolean flags only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option: Option<Scalar>,
    /// Absent: 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Number>,
}

/// `{from, percentage, option}`: from the instant `from` on, `percentage` percent get `option`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ScheduleStep {
    /// An ISO-8601 instant, kept as written (real files leave it unquoted).
    pub from: String,
    /// Absent: 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Number>,
    /// Absent: `true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option: Option<Scalar>,
}

impl SplitStep {
    /// The percentage, its default when absent.
    pub fn percentage(&self) -> Number {
        self.percentage
            .unwrap_or_else(|| defaults::experiment::step_percentage(Side::Manifest))
    }
}

impl ScheduleStep {
    /// The percentage, its default when absent.
    pub fn percentage(&self) -> Number {
        self.percentage
            .unwrap_or_else(|| defaults::experiment::step_percentage(Side::Manifest))
    }
}

/// One entry of a value list before it is known to be a split or a schedule step.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    percentage: Option<Number>,
    #[serde(default)]
    option: Option<Scalar>,
}

/// A list that real files sometimes leave empty (`conditions:` with nothing after it): null
/// reads as an empty list.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Scalar(v) => v.serialize(s),
            Value::CodeDefault => s.serialize_seq(Some(0))?.end(),
            Value::Split(steps) => steps.serialize(s),
            Value::Schedule(steps) => steps.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value, a split [{option, percentage}] or a schedule [{from, percentage, option}]")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Scalar(Scalar::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                exact_int(v.into()).map(|i| Value::Scalar(Scalar::Int(i)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                exact_int(v.into()).map(|i| Value::Scalar(Scalar::Int(i)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                exact_f64(v).map(|f| Value::Scalar(Scalar::Float(f)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Scalar(Scalar::String(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut steps = Vec::new();
                while let Some(step) = seq.next_element::<RawStep>()? {
                    steps.push(step);
                }
                if steps.is_empty() {
                    return Ok(Value::CodeDefault);
                }
                let scheduled = steps.iter().filter(|s| s.from.is_some()).count();
                if scheduled == 0 {
                    Ok(Value::Split(
                        steps
                            .into_iter()
                            .map(|s| SplitStep {
                                option: s.option,
                                percentage: s.percentage,
                            })
                            .collect(),
                    ))
                } else if scheduled == steps.len() {
                    Ok(Value::Schedule(
                        steps
                            .into_iter()
                            .map(|s| ScheduleStep {
                                from: s.from.unwrap_or_default(),
                                percentage: s.percentage,
                                option: s.option,
                            })
                            .collect(),
                    ))
                } else {
                    Err(de::Error::custom(
                        "a value list mixes schedule steps (with `from`) and split entries (without)",
                    ))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Value {
    fn schema_name() -> Cow<'static, str> {
        "Value".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let split = g.subschema_for::<SplitStep>();
        let schedule = g.subschema_for::<ScheduleStep>();
        json_schema!({
            "description": "A scalar, null or [] (the code default), a split or a schedule.",
            "anyOf": [
                { "type": ["string", "number", "boolean", "null"] },
                { "type": "array", "maxItems": 0 },
                { "type": "array", "items": split },
                { "type": "array", "items": schedule }
            ]
        })
    }
}
