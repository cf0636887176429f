//! `flagsync.yaml`: which providers, where each one's manifests live, and the names of the
//! environment variables that hold credentials (never the secrets themselves).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::Provider;

/// The root `flagsync.yaml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudbees: Option<CloudbeesConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<ConfidenceConfig>,
    /// Serve both providers from the embedded local emulator instead of the real services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulator: Option<EmulatorConfig>,
    /// Plans (and so applies) also delete the live resources in the managed scope that no
    /// manifest declares, as `--prune` does; `--prune=false` overrides it. Default `false`:
    /// they are listed as not declared and left alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudbeesConfig {
    /// Which CloudBees API flagsync talks to: `legacy` (Rollout.io, the default) or `unify`
    /// (CloudBees Unify).
    #[serde(default, skip_serializing_if = "CloudbeesApi::is_legacy")]
    pub api: CloudbeesApi,
    /// CloudBees Unify: the organization, by id (a UUID) or domain name. Required with
    /// `api: unify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The application id.
    pub application: String,
    /// The environment variable holding the API token.
    #[serde(default = "default_cloudbees_token_env")]
    pub token_env: String,
    /// Defaults to the public API, `https://x-api.rollout.io/public-api` (legacy) or
    /// `https://api.cloudbees.io` (Unify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Client-side pacing; the legacy service allows one request per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
    /// The legacy layout: directory of target-group manifests, relative to the repository
    /// root. Defaults to `target_groups`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_groups: Option<String>,
    /// The Unify CasC layout (`api: unify` only): the directory of the CasC tree, usually
    /// `.cloudbees/casc/feature-management`. Without it, the legacy layout is read (and, with
    /// `api: unify`, translated to Unify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub casc: Option<String>,
    /// The legacy layout: environment name (as the service spells it) to where its
    /// experiments live. The CasC layout: the environments flagsync manages, a list of names
    /// (each one a folder of `flag-configurations/`).
    #[serde(
        default,
        deserialize_with = "environments::deserialize",
        serialize_with = "environments::serialize"
    )]
    #[schemars(schema_with = "environments::schema")]
    pub environments: BTreeMap<String, EnvironmentConfig>,
}

impl CloudbeesConfig {
    /// The target-groups directory of the legacy layout.
    pub fn target_groups_dir(&self) -> &str {
        self.target_groups
            .as_deref()
            .unwrap_or(DEFAULT_TARGET_GROUPS)
    }

    /// The provider its resources belong to.
    pub fn provider(&self) -> Provider {
        match self.api {
            CloudbeesApi::Legacy => Provider::CloudBees,
            CloudbeesApi::Unify => Provider::Unify,
        }
    }
}

/// `cloudbees.api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CloudbeesApi {
    /// The Rollout.io public API (`x-api.rollout.io`).
    #[default]
    Legacy,
    /// The CloudBees Unify API (`api.cloudbees.io`).
    Unify,
}

impl CloudbeesApi {
    fn is_legacy(&self) -> bool {
        *self == CloudbeesApi::Legacy
    }
}

/// `environments:` is a map of environment settings (the legacy layout) or a list of names
/// (the CasC layout, where each environment is a folder and needs no setting).
mod environments {
    use std::collections::BTreeMap;
    use std::fmt;

    use schemars::{Schema, SchemaGenerator, json_schema};
    use serde::de::{MapAccess, SeqAccess, Visitor};
    use serde::ser::{SerializeMap, SerializeSeq};
    use serde::{Deserializer, Serializer};

    use super::EnvironmentConfig;

    type Environments = BTreeMap<String, EnvironmentConfig>;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Environments, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Environments;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of environment names to settings, or a list of names")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Environments, E> {
                Ok(Environments::new())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Environments, A::Error> {
                let mut out = Environments::new();
                while let Some(name) = map.next_key::<String>()? {
                    // `Production:` with nothing after it: no settings.
                    let settings = map.next_value::<Option<EnvironmentConfig>>()?;
                    out.insert(name, settings.unwrap_or_default());
                }
                Ok(out)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Environments, A::Error> {
                let mut out = Environments::new();
                while let Some(name) = seq.next_element::<String>()? {
                    if out
                        .insert(name.clone(), EnvironmentConfig::default())
                        .is_some()
                    {
                        return Err(serde::de::Error::custom(format!(
                            "environment `{name}` is listed twice"
                        )));
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }

    /// A list when no environment has settings, else the map.
    pub(super) fn serialize<S: Serializer>(envs: &Environments, s: S) -> Result<S::Ok, S::Error> {
        if envs.values().all(|e| *e == EnvironmentConfig::default()) {
            let mut seq = s.serialize_seq(Some(envs.len()))?;
            for name in envs.keys() {
                seq.serialize_element(name)?;
            }
            seq.end()
        } else {
            let mut map = s.serialize_map(Some(envs.len()))?;
            for (name, settings) in envs {
                map.serialize_entry(name, settings)?;
            }
            map.end()
        }
    }

    pub(super) fn schema(g: &mut SchemaGenerator) -> Schema {
        let settings = g.subschema_for::<EnvironmentConfig>();
        json_schema!({
            "description": "The legacy layout: environment name to `{experiments: DIR}` or `{branch: NAME}`. The CasC layout: a list of environment names.",
            "anyOf": [
                { "type": "object", "additionalProperties": settings },
                { "type": "array", "items": { "type": "string" }, "uniqueItems": true }
            ]
        })
    }
}

/// `{experiments: DIR}` (a directory of this tree) or `{branch: NAME, experiments?: DIR}`
/// (the directory, default `experiments`, of another branch). Exactly one form (checked by
/// validation). In the CasC layout an environment has no settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiments: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl EnvironmentConfig {
    /// The experiments directory, in this tree or in the branch.
    pub fn experiments_dir(&self) -> &str {
        self.experiments.as_deref().unwrap_or("experiments")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceConfig {
    /// The environment variable holding a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// With `client_secret_env`: client credentials exchanged for a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// The account's region: it picks the hosts of the flags, stats and token APIs
    /// (`flags.eu.confidence.dev`, ...). Defaults to `eu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<ConfidenceRegion>,
    /// One base URL for every Confidence API (an emulator, a proxy); the `*_url` settings
    /// override it per API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The rollouts API. Defaults to `https://experiments.confidence.dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiments_url: Option<String>,
    /// The flags API (segments). Defaults to `https://flags.<region>.confidence.dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags_url: Option<String>,
    /// The stats API (analysis results). Defaults to `https://stats.<region>.confidence.dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_url: Option<String>,
    /// The token endpoint's host. Defaults to `https://iam.<region>.confidence.dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_url: Option<String>,
    /// Directory of rollout manifests, relative to the repository root.
    #[serde(default = "default_rollouts")]
    pub rollouts: String,
}

/// A Confidence account's region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConfidenceRegion {
    Eu,
    Us,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// State directory, relative to the repository root.
    pub state: String,
}

/// The default of `cloudbees.token_env`.
pub const DEFAULT_CLOUDBEES_TOKEN_ENV: &str = "CLOUDBEES_API_TOKEN";

fn default_cloudbees_token_env() -> String {
    DEFAULT_CLOUDBEES_TOKEN_ENV.to_owned()
}

/// The default of `cloudbees.target_groups`.
pub const DEFAULT_TARGET_GROUPS: &str = "target_groups";

fn default_rollouts() -> String {
    "rollouts".to_owned()
}
