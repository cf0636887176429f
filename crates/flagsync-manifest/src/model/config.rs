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
    /// Plans (and so applies) also delete the live resources in the managed scope that no
    /// manifest declares, as `--prune` does; `--prune=false` overrides it. Default `false`:
    /// they are listed as not declared and left alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
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
    /// Defaults to `https://api.confidence.dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Defaults to `https://iam.confidence.dev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_url: Option<String>,
    /// Directory of rollout manifests, relative to the repository root.
    #[serde(default = "default_rollouts")]
    pub rollouts: String,
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
