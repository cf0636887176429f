//! What a resource is, and which service holds it. One table ([`Kind::info`]) holds what
//! differs between kinds, so adding a kind is adding a variant and its row.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The remote service that holds a resource.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// CloudBees Feature Management through the legacy Rollout.io API.
    CloudBees,
    Confidence,
    /// CloudBees Feature Management through the CloudBees Unify API.
    Unify,
}

impl Provider {
    /// `cloudbees`, `confidence`, `unify`: the spelling in plans and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::CloudBees => "cloudbees",
            Provider::Confidence => "confidence",
            Provider::Unify => "unify",
        }
    }

    /// The section of `flagsync.yaml` that configures it: both CloudBees APIs share
    /// `cloudbees` (its `api` says which).
    pub fn section(self) -> &'static str {
        match self {
            Provider::CloudBees | Provider::Unify => "cloudbees",
            Provider::Confidence => "confidence",
        }
    }

    /// What `flagsync.yaml` must say for this provider, for messages: "`cloudbees`
    /// provider", "`cloudbees` provider with `api: unify`".
    pub fn setting(self) -> String {
        match self {
            Provider::Unify => format!("`{}` provider with `api: unify`", self.section()),
            other => format!("`{}` provider", other.section()),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a resource (and the manifest declaring it) is. The provider follows from it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    TargetGroup,
    Experiment,
    Rollout,
    /// A CloudBees Unify custom property (CasC `kind: flag-properties`).
    CustomProperty,
    /// A CloudBees Unify target group (CasC `kind: target-group`).
    UnifyTargetGroup,
    /// A CloudBees Unify flag, application-wide (CasC `kind: flag`).
    Flag,
    /// A CloudBees Unify flag's configuration in one environment (CasC `kind:
    /// flag-configuration`).
    FlagConfiguration,
}

/// The field of a manifest file that names its kind: legacy manifests and rollouts say
/// `type: experiment`, Unify CasC manifests `kind: flag`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagField {
    Type,
    Kind,
}

impl TagField {
    pub fn as_str(self) -> &'static str {
        match self {
            TagField::Type => "type",
            TagField::Kind => "kind",
        }
    }
}

/// What differs between kinds.
struct Info {
    /// The spelling in keys, `--target`, `--kind` and output.
    name: &'static str,
    provider: Provider,
    /// Where manifests of this kind live, for help text.
    directory: &'static str,
    /// The field naming the kind in a manifest file, and its value there.
    tag_field: TagField,
    tag: &'static str,
    /// Its folder in a Unify CasC tree.
    casc_folder: Option<&'static str>,
    /// One per environment (identity `ENV/NAME`) rather than application-wide.
    per_environment: bool,
}

impl Kind {
    /// Every kind, in the order a plan applies them when nothing else decides: legacy
    /// CloudBees, Confidence, then Unify in its processing order (properties, target groups,
    /// flags, configurations).
    pub const ALL: [Kind; 7] = [
        Kind::TargetGroup,
        Kind::Experiment,
        Kind::Rollout,
        Kind::CustomProperty,
        Kind::UnifyTargetGroup,
        Kind::Flag,
        Kind::FlagConfiguration,
    ];

    const fn info(self) -> Info {
        match self {
            Kind::TargetGroup => Info {
                name: "target-group",
                provider: Provider::CloudBees,
                directory: "target_groups, or cloudbees.target_groups",
                tag_field: TagField::Type,
                tag: "target-group",
                casc_folder: None,
                per_environment: false,
            },
            Kind::Experiment => Info {
                name: "experiment",
                provider: Provider::CloudBees,
                directory: "an environment's experiments",
                tag_field: TagField::Type,
                tag: "experiment",
                casc_folder: None,
                per_environment: true,
            },
            Kind::Rollout => Info {
                name: "rollout",
                provider: Provider::Confidence,
                directory: "rollouts, or confidence.rollouts",
                tag_field: TagField::Type,
                tag: "rollout",
                casc_folder: None,
                per_environment: false,
            },
            Kind::CustomProperty => Info {
                name: "custom-property",
                provider: Provider::Unify,
                directory: "properties/ of the CasC tree",
                tag_field: TagField::Kind,
                tag: "flag-properties",
                casc_folder: Some("properties"),
                per_environment: false,
            },
            Kind::UnifyTargetGroup => Info {
                name: "unify-target-group",
                provider: Provider::Unify,
                directory: "target-groups/ of the CasC tree",
                tag_field: TagField::Kind,
                tag: "target-group",
                casc_folder: Some("target-groups"),
                per_environment: false,
            },
            Kind::Flag => Info {
                name: "flag",
                provider: Provider::Unify,
                directory: "flags/ of the CasC tree",
                tag_field: TagField::Kind,
                tag: "flag",
                casc_folder: Some("flags"),
                per_environment: false,
            },
            Kind::FlagConfiguration => Info {
                name: "flag-configuration",
                provider: Provider::Unify,
                directory: "flag-configurations/<environment>/ of the CasC tree",
                tag_field: TagField::Kind,
                tag: "flag-configuration",
                casc_folder: Some("flag-configurations"),
                per_environment: true,
            },
        }
    }

    /// `target-group`, `experiment`, `rollout`, `flag`, ...: the spelling in keys,
    /// `--target`, `--kind` and output.
    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    pub fn provider(self) -> Provider {
        self.info().provider
    }

    /// Where manifests of this kind live (`target_groups, or cloudbees.target_groups`).
    pub fn directory(self) -> &'static str {
        self.info().directory
    }

    /// The field that names the kind in a manifest file (`type` or `kind`).
    pub fn tag_field(self) -> TagField {
        self.info().tag_field
    }

    /// The value of that field: `experiment`, or the CasC spelling (`flag-properties`).
    pub fn tag(self) -> &'static str {
        self.info().tag
    }

    /// Its folder in a Unify CasC tree (`flags`, `flag-configurations`, ...).
    pub fn casc_folder(self) -> Option<&'static str> {
        self.info().casc_folder
    }

    /// Whether it exists once per environment (its identity is `ENV/NAME`).
    pub fn per_environment(self) -> bool {
        self.info().per_environment
    }

    /// Its position in [`Kind::ALL`]: the order of kinds in plans.
    pub fn rank(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The kind a manifest file names with `field: tag`.
    pub fn from_tag(field: TagField, tag: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.tag_field() == field && k.tag() == tag)
    }

    /// The values `field` takes, for hints: `target-group`, `experiment`, `rollout`.
    pub fn tags(field: TagField) -> impl Iterator<Item = &'static str> {
        Kind::ALL
            .into_iter()
            .filter(move |k| k.tag_field() == field)
            .map(Kind::tag)
    }

    /// `target-group, experiment or rollout`: the values `field` takes, for messages.
    pub fn expected_tags(field: TagField) -> String {
        or_list(Kind::tags(field).collect())
    }

    /// Every kind's name, `target-group, experiment, ... or flag-configuration`, for
    /// messages that list the kinds.
    pub fn expected() -> String {
        or_list(Kind::ALL.iter().map(|k| k.as_str()).collect())
    }
}

/// `a, b or c`.
fn or_list(names: Vec<&str>) -> String {
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that names no [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("unknown kind `{input}`; expected {}", Kind::expected())]
pub struct UnknownKind {
    pub input: String,
}

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
            assert_eq!(Kind::from_tag(kind.tag_field(), kind.tag()), Some(kind));
        }
        assert_eq!(
            Kind::expected_tags(TagField::Type),
            "target-group, experiment or rollout"
        );
        assert_eq!(
            Kind::expected_tags(TagField::Kind),
            "flag-properties, target-group, flag or flag-configuration"
        );
        assert!("flag-properties".parse::<Kind>().is_err());
        assert_eq!(
            Kind::from_tag(TagField::Kind, "target-group"),
            Some(Kind::UnifyTargetGroup)
        );
        assert_eq!(Provider::CloudBees.to_string(), "cloudbees");
        assert_eq!(Provider::Unify.section(), "cloudbees");
    }

    #[test]
    fn unify_kinds_follow_the_unify_processing_order() {
        let unify: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| k.provider() == Provider::Unify)
            .collect();
        assert_eq!(
            unify,
            [
                Kind::CustomProperty,
                Kind::UnifyTargetGroup,
                Kind::Flag,
                Kind::FlagConfiguration
            ]
        );
        assert!(Kind::Flag.rank() < Kind::FlagConfiguration.rank());
    }
}
