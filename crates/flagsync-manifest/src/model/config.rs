//! `flagsync.yaml`: which providers, where each one's manifests live, and the names of the
//! environment variables that hold credentials (never the secrets themselves).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudbeesConfig {
    /// The application id.
    pub application: String,
    /// The environment variable holding the API token.
    #[serde(default = "default_cloudbees_token_env")]
    pub token_env: String,
    /// Defaults to the public API, `https://x-api.rollout.io/public-api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Client-side pacing; the service allows one request per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<f64>,
    /// Directory of target-group manifests, relative to the repository root.
    #[serde(default = "default_target_groups")]
    pub target_groups: String,
    /// Environment name (as the service spells it) to where its experiments live.
    #[serde(default)]
    pub environments: BTreeMap<String, EnvironmentConfig>,
}

/// `{experiments: DIR}` (a directory of this tree) or `{branch: NAME, experiments?: DIR}`
/// (the directory, default `experiments`, of another branch). Exactly one form (checked by
/// validation).
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

fn default_target_groups() -> String {
    "target_groups".to_owned()
}

fn default_rollouts() -> String {
    "rollouts".to_owned()
}
