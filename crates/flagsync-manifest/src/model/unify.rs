//! CloudBees Unify configuration as code: the four kinds CloudBees' git sync writes under
//! `.cloudbees/casc/feature-management/` (api-notes-unify §7), field for field as its
//! casc-service reads them (S10) and writes them (S11).
//!
//! References are by name (target groups, flags, properties); the API uses ids for target
//! groups. Serialized with serde these types give the CasC shape, which is also the API's
//! with names in place of ids.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use super::lenient::{Number, Scalar};

/// The `apiVersion` CloudBees writes today. Older files say `v1`; the field is informational.
pub const API_VERSION: &str = "featuremanagement.cloudbees.io/v1alpha1";

/// The root of a CasC tree in a repository.
pub const DEFAULT_CASC_DIR: &str = ".cloudbees/casc/feature-management";

/// Properties conditions may name without a `flag-properties` manifest: the SDKs' `rox.*`
/// properties (`rox.distinct_id`, `rox.app_release`, `rox.platform`, ...) and `version`.
/// The emulator's contract (`flagsync-emulator`'s assumptions) accepts exactly these.
pub fn is_builtin_property(name: &str) -> bool {
    name == "version"
        || name
            .strip_prefix("rox.")
            .is_some_and(|rest| !rest.is_empty())
}

/// The property version conditions of legacy manifests test (api-notes-unify §4.2).
pub const APP_RELEASE_PROPERTY: &str = "rox.app_release";

/// The property the platform an SDK runs on is in, which a legacy manifest's `platforms`
/// overrides test once translated. Inferred: real CasC files test it (api-notes-unify §4.2,
/// S11), no document says what it holds.
pub const PLATFORM_PROPERTY: &str = "rox.platform";

macro_rules! tag {
    ($(#[$meta:meta])* $name:ident = $tag:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            #[default]
            #[serde(rename = $tag)]
            Tag,
        }
    };
}

tag!(
    /// `kind: flag`.
    FlagTag = "flag"
);
tag!(
    /// `kind: flag-configuration`.
    ConfigurationTag = "flag-configuration"
);
tag!(
    /// `kind: target-group`.
    TargetGroupTag = "target-group"
);
tag!(
    /// `kind: flag-properties`.
    PropertyTag = "flag-properties"
);

/// A flag's type; CasC writes it in lowercase, the API capitalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FlagType {
    Boolean,
    String,
    Number,
}

impl FlagType {
    /// `Boolean`, `String`, `Number`: the API's spelling.
    pub fn api_name(self) -> &'static str {
        match self {
            FlagType::Boolean => "Boolean",
            FlagType::String => "String",
            FlagType::Number => "Number",
        }
    }

    pub fn from_api_name(name: &str) -> Option<FlagType> {
        [FlagType::Boolean, FlagType::String, FlagType::Number]
            .into_iter()
            .find(|t| t.api_name() == name)
    }

    /// `boolean`, `string`, `number`: the CasC spelling.
    pub fn casc_name(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Number => "number",
        }
    }

    /// Whether `value` is a plain value of this type.
    pub fn accepts(self, value: &Scalar) -> bool {
        matches!(
            (self, value),
            (FlagType::Boolean, Scalar::Bool(_))
                | (FlagType::String, Scalar::String(_))
                | (FlagType::Number, Scalar::Int(_) | Scalar::Float(_))
        )
    }
}

/// `kind: flag`: an application-wide flag (`flags/<name>.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Flag {
    /// Informational (`featuremanagement.cloudbees.io/v1alpha1`; older files `v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: FlagTag,
    /// The flag's name, unique in the application: its identity.
    pub flag: String,
    /// `boolean` when absent; cannot change once the flag exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_type: Option<FlagType>,
    /// Empty when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Defaults to `[]` (CloudBees writes an empty `labels:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// The flag's values (the API's `variants`), as strings also for numbers and booleans.
    /// Defaults to `[]`; the service adds every value a configuration serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_values: Option<Vec<Scalar>>,
    /// Excluded from stale-flag clean-up. Defaults to `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_permanent: Option<bool>,
}

impl Flag {
    pub fn flag_type(&self) -> FlagType {
        self.flag_type.unwrap_or(FlagType::Boolean)
    }
}

/// `kind: flag-configuration`: a flag's configuration in the environment whose folder holds
/// it (`flag-configurations/<environment>/<flag>.config.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FlagConfiguration {
    /// Informational (`featuremanagement.cloudbees.io/v1alpha1`; older files `v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: ConfigurationTag,
    /// The flag configured: its identity within the environment.
    pub flag: String,
    /// Whether the flag is on in this environment. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The property splits bucket users by. Defaults to `rox.distinct_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness_property: Option<String>,
    /// The service assigns the seed of splits; flagsync keeps the live one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// What the flag serves when no condition matches. Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<FlagValue>,
    /// Ordered: the first condition that matches gives the value. Defaults to `[]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// `kind: target-group`: an application-wide target group (`target-groups/<name>.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetGroup {
    /// Informational (`featuremanagement.cloudbees.io/v1alpha1`; older files `v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: TargetGroupTag,
    /// Unique in the application: its identity.
    pub name: String,
    /// Empty when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who belongs to the group: one matcher (`allOf`, `anyOf`, `not`, `property` or
    /// `group`). Required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Matcher>,
}

/// `kind: flag-properties`: a custom property (`properties/<name>.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Property {
    /// Informational (`featuremanagement.cloudbees.io/v1alpha1`; older files `v1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: PropertyTag,
    /// Unique in the application: its identity.
    pub name: String,
    /// Required; cannot change once the property exists.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub property_type: Option<PropertyType>,
    /// Empty when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A custom property's type. CasC writes `Datetime`, the API `DateTime`; both are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum PropertyType {
    Boolean,
    String,
    Semver,
    Number,
    #[serde(rename = "Datetime", alias = "DateTime")]
    DateTime,
}

impl PropertyType {
    pub const ALL: [PropertyType; 5] = [
        PropertyType::Boolean,
        PropertyType::String,
        PropertyType::Semver,
        PropertyType::Number,
        PropertyType::DateTime,
    ];

    /// The API's spelling (`DateTime`).
    pub fn api_name(self) -> &'static str {
        match self {
            PropertyType::Boolean => "Boolean",
            PropertyType::String => "String",
            PropertyType::Semver => "Semver",
            PropertyType::Number => "Number",
            PropertyType::DateTime => "DateTime",
        }
    }

    /// The CasC spelling (`Datetime`).
    pub fn casc_name(self) -> &'static str {
        match self {
            PropertyType::DateTime => "Datetime",
            other => other.api_name(),
        }
    }

    pub fn from_api_name(name: &str) -> Option<PropertyType> {
        PropertyType::ALL.into_iter().find(|t| t.api_name() == name)
    }
}

macro_rules! matchers {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            /// Matches when every item matches.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub all_of: Option<Vec<Matcher>>,
            /// Matches when at least one item matches.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub any_of: Option<Vec<Matcher>>,
            /// Matches when its one matcher does not.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub not: Option<Box<Matcher>>,
            /// A test of a property of the user.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub property: Option<PropertyTest>,
            /// Membership in a target group, by name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub group: Option<GroupRef>,
            /// Another flag's value (flag configurations only), by name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub flag: Option<FlagRef>,
            $($(#[$fmeta])* #[serde(default, skip_serializing_if = "Option::is_none")] pub $field: $ty,)*
        }

        impl $name {
            /// The matchers it holds (every one must match).
            pub fn parts(&self) -> Parts<'_> {
                Parts {
                    all_of: self.all_of.as_deref(),
                    any_of: self.any_of.as_deref(),
                    not: self.not.as_deref(),
                    property: self.property.as_ref(),
                    group: self.group.as_ref(),
                    flag: self.flag.as_ref(),
                }
            }
        }
    };
}

matchers!(
    /// A matcher: the object `allOf`/`anyOf` items, `not` and a target group's `conditions`
    /// are. Every matcher it holds must match.
    Matcher {}
);

matchers!(
    /// A rule of a flag configuration: matchers, and the value it serves when they match.
    Condition {
        /// What the flag serves when the condition matches. Required.
        flag_value: Option<FlagValue>,
    }
);

/// The matchers of a [`Matcher`] or [`Condition`], borrowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parts<'a> {
    pub all_of: Option<&'a [Matcher]>,
    pub any_of: Option<&'a [Matcher]>,
    pub not: Option<&'a Matcher>,
    pub property: Option<&'a PropertyTest>,
    pub group: Option<&'a GroupRef>,
    pub flag: Option<&'a FlagRef>,
}

impl Parts<'_> {
    /// How many matchers are set.
    pub fn count(&self) -> usize {
        usize::from(self.all_of.is_some())
            + usize::from(self.any_of.is_some())
            + usize::from(self.not.is_some())
            + usize::from(self.property.is_some())
            + usize::from(self.group.is_some())
            + usize::from(self.flag.is_some())
    }
}

/// `{name, operator, operands?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyTest {
    /// A custom property (declared in `properties/`) or a built-in one (`rox.*`, `version`).
    pub name: String,
    pub operator: Operator,
    /// What the operator compares with; absent for `is-undefined`, `is-true`, `is-false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operands: Option<Vec<Scalar>>,
}

/// `{name}`: membership in a target group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRef {
    pub name: String,
}

/// `{name, value}`: another flag (of the same environment) serves `value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagRef {
    pub name: String,
    pub value: Scalar,
}

property_operators!(
    /// The 20 property operators.
    Operator {
        InArray = "in-array",
        Regex = "regex",
        SemverEq = "semver-eq",
        SemverNe = "semver-ne",
        SemverGt = "semver-gt",
        SemverGte = "semver-gte",
        SemverLt = "semver-lt",
        SemverLte = "semver-lte",
        Before = "before",
        After = "after",
        InBetween = "in-between",
    }
);

/// What operands an [`Operator`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operands {
    /// No `operands` at all.
    None,
    /// One string or one number.
    StringOrNumber,
    /// One number.
    Number,
    /// At least one, all strings or all numbers, none repeated.
    List,
    /// A pattern, and optionally its flags: one or two strings.
    Pattern,
    /// One version string.
    Version,
    /// One RFC 3339 date-time.
    DateTime,
    /// Two RFC 3339 date-times.
    DateTimeRange,
}

impl Operands {
    /// What it is, for messages: "one number".
    pub fn describe(self) -> &'static str {
        match self {
            Operands::None => "no operands",
            Operands::StringOrNumber => "one string or number",
            Operands::Number => "one number",
            Operands::List => "at least one value, all strings or all numbers, none repeated",
            Operands::Pattern => "one or two strings (a pattern, then its flags)",
            Operands::Version => "one version string",
            Operands::DateTime => "one RFC 3339 date-time",
            Operands::DateTimeRange => "two RFC 3339 date-times",
        }
    }
}

impl Operator {
    pub fn from_name(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.as_str() == name)
    }

    pub fn operands(self) -> Operands {
        use Operator::*;
        match self {
            IsUndefined | IsTrue | IsFalse => Operands::None,
            Eq | Ne => Operands::StringOrNumber,
            Gt | Gte | Lt | Lte => Operands::Number,
            InArray => Operands::List,
            Regex => Operands::Pattern,
            SemverEq | SemverNe | SemverGt | SemverGte | SemverLt | SemverLte => Operands::Version,
            Before | After => Operands::DateTime,
            InBetween => Operands::DateTimeRange,
        }
    }
}

/// What a flag serves: a plain value of its type, the value written in code, a split, or a
/// schedule (Boolean flags only).
#[derive(Debug, Clone, PartialEq)]
pub enum FlagValue {
    Scalar(Scalar),
    /// `{valueWrittenInCode: true}`: the default the application's code declares.
    WrittenInCode,
    /// `[{option, percentage}, ...]`; the percentages add up to exactly 100.
    Split(Vec<SplitEntry>),
    /// `[{from, percentage}, ...]`: from each instant on, that percentage gets `true`.
    Schedule(Vec<ScheduleEntry>),
}

/// `{option, percentage}`: `percentage` percent of users get `option`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitEntry {
    pub option: Scalar,
    pub percentage: Number,
}

/// `{from, percentage}`: from the RFC 3339 instant `from` on, `percentage` percent get `true`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// Kept as written (real files leave it unquoted).
    pub from: String,
    pub percentage: Number,
}

/// A split or schedule entry before it is known to be one or the other.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    option: Option<Scalar>,
    #[serde(default)]
    from: Option<String>,
    percentage: Number,
}

const WRITTEN_IN_CODE: &str = "valueWrittenInCode";

impl Serialize for FlagValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FlagValue::Scalar(v) => v.serialize(s),
            FlagValue::WrittenInCode => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(WRITTEN_IN_CODE, &true)?;
                map.end()
            }
            FlagValue::Split(entries) => entries.serialize(s),
            FlagValue::Schedule(entries) => entries.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for FlagValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FlagValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a value, {valueWrittenInCode: true}, a split [{option, percentage}] or a schedule [{from, percentage}]",
                )
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<FlagValue, E> {
                Ok(FlagValue::Scalar(Scalar::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FlagValue, E> {
                Ok(FlagValue::Scalar(Scalar::Int(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FlagValue, E> {
                Ok(FlagValue::Scalar(
                    i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int),
                ))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<FlagValue, E> {
                Ok(FlagValue::Scalar(Scalar::Float(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FlagValue, E> {
                Ok(FlagValue::Scalar(Scalar::String(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FlagValue, A::Error> {
                let usage = "an object value is exactly {valueWrittenInCode: true}";
                let mut seen = false;
                while let Some(key) = map.next_key::<String>()? {
                    if key != WRITTEN_IN_CODE {
                        return Err(de::Error::custom(format!(
                            "unknown field `{key}`, expected `{WRITTEN_IN_CODE}`: {usage}"
                        )));
                    }
                    if !map.next_value::<bool>()? {
                        return Err(de::Error::custom(usage));
                    }
                    seen = true;
                }
                if seen {
                    Ok(FlagValue::WrittenInCode)
                } else {
                    Err(de::Error::custom(usage))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FlagValue, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<RawEntry>()? {
                    entries.push(entry);
                }
                if entries.is_empty() {
                    return Err(de::Error::custom(
                        "a split or schedule has at least one entry",
                    ));
                }
                if entries
                    .iter()
                    .any(|e| e.option.is_some() && e.from.is_some())
                {
                    return Err(de::Error::custom(
                        "an entry has `option` (a split) or `from` (a schedule), not both",
                    ));
                }
                let scheduled = entries.iter().filter(|e| e.from.is_some()).count();
                if scheduled == 0 {
                    entries
                        .into_iter()
                        .map(|e| match e.option {
                            Some(option) => Ok(SplitEntry {
                                option,
                                percentage: e.percentage,
                            }),
                            None => Err(de::Error::custom(
                                "a split entry needs `option`, a schedule entry `from`",
                            )),
                        })
                        .collect::<Result<_, _>>()
                        .map(FlagValue::Split)
                } else if scheduled == entries.len() {
                    Ok(FlagValue::Schedule(
                        entries
                            .into_iter()
                            .map(|e| ScheduleEntry {
                                from: e.from.unwrap_or_default(),
                                percentage: e.percentage,
                            })
                            .collect(),
                    ))
                } else {
                    Err(de::Error::custom(
                        "a value list mixes schedule entries (with `from`) and split entries (with `option`)",
                    ))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for FlagValue {
    fn schema_name() -> Cow<'static, str> {
        "FlagValue".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let split = g.subschema_for::<SplitEntry>();
        let schedule = g.subschema_for::<ScheduleEntry>();
        json_schema!({
            "description": "A value of the flag's type, {valueWrittenInCode: true}, a split adding up to 100, or a schedule (Boolean flags only).",
            "anyOf": [
                { "type": ["string", "number", "boolean"] },
                {
                    "type": "object",
                    "properties": { "valueWrittenInCode": { "const": true } },
                    "required": ["valueWrittenInCode"],
                    "additionalProperties": false
                },
                { "type": "array", "minItems": 1, "items": split },
                { "type": "array", "minItems": 1, "items": schedule }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(yaml: &str) -> Result<FlagValue, String> {
        serde_saphyr::from_str::<FlagValue>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn values_read_in_every_form() {
        assert_eq!(value("true"), Ok(FlagValue::Scalar(Scalar::Bool(true))));
        assert_eq!(
            value("valueWrittenInCode: true"),
            Ok(FlagValue::WrittenInCode)
        );
        assert!(value("valueWrittenInCode: false").is_err());
        assert!(value("other: true").is_err());
        let split = value("- option: a\n  percentage: 40\n- option: b\n  percentage: 60\n");
        assert!(matches!(split, Ok(FlagValue::Split(e)) if e.len() == 2));
        let schedule = value("- from: 2026-01-01T00:00:00Z\n  percentage: 10\n");
        assert!(
            matches!(schedule, Ok(FlagValue::Schedule(e)) if e[0].from == "2026-01-01T00:00:00Z")
        );
        assert!(value("- from: 2026-01-01T00:00:00Z\n  percentage: 10\n  option: true\n").is_err());
        assert!(
            value(
                "- from: 2026-01-01T00:00:00Z\n  percentage: 10\n- option: true\n  percentage: 90\n"
            )
            .is_err()
        );
        assert!(value("[]").is_err());
    }

    #[test]
    fn written_in_code_serializes_as_the_object() {
        assert_eq!(
            serde_json::to_value(FlagValue::WrittenInCode).unwrap(),
            serde_json::json!({"valueWrittenInCode": true})
        );
    }

    #[test]
    fn builtin_properties() {
        assert!(is_builtin_property("rox.app_release"));
        assert!(is_builtin_property("version"));
        assert!(!is_builtin_property("rox."));
        assert!(!is_builtin_property("plan"));
    }

    #[test]
    fn operators_round_trip() {
        for op in Operator::ALL {
            assert_eq!(Operator::from_name(op.as_str()), Some(op));
            assert_eq!(serde_json::to_value(op).unwrap(), op.as_str());
        }
    }
}
