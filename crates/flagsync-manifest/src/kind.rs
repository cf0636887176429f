//! What a resource is, and which service holds it. One table ([`Kind::info`]) holds what
//! differs between kinds, so adding a kind is adding a variant and its row.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The remote service that holds a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    CloudBees,
    Confidence,
}

impl Provider {
    /// The spelling of its section in `flagsync.yaml`: `cloudbees`, `confidence`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::CloudBees => "cloudbees",
            Provider::Confidence => "confidence",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a resource (and the manifest declaring it) is. The provider follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    TargetGroup,
    Experiment,
    Rollout,
}

/// What differs between kinds.
struct Info {
    /// The spelling in manifests (`type:`), keys, `--target`, `--kind` and output.
    name: &'static str,
    provider: Provider,
    /// Where manifests of this kind live, for help text.
    directory: &'static str,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::TargetGroup, Kind::Experiment, Kind::Rollout];

    const fn info(self) -> Info {
        match self {
            Kind::TargetGroup => Info {
                name: "target-group",
                provider: Provider::CloudBees,
                directory: "target_groups, or cloudbees.target_groups",
            },
            Kind::Experiment => Info {
                name: "experiment",
                provider: Provider::CloudBees,
                directory: "an environment's experiments",
            },
            Kind::Rollout => Info {
                name: "rollout",
                provider: Provider::Confidence,
                directory: "rollouts, or confidence.rollouts",
            },
        }
    }

    /// `target-group`, `experiment`, `rollout`: the `type:` of a manifest, and the spelling
    /// in keys, `--target`, `--kind` and output.
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

    /// `target-group, experiment or rollout`, for messages that list the kinds.
    pub fn expected() -> String {
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
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
        }
        assert_eq!(Kind::expected(), "target-group, experiment or rollout");
        assert!("flag".parse::<Kind>().is_err());
        assert_eq!(Provider::CloudBees.to_string(), "cloudbees");
    }
}
