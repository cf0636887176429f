//! A first `flagsync.yaml`, for `flagsync init`: the CloudBees application and its
//! environments as the service lists them, one experiments directory per environment.

use std::collections::BTreeSet;

use super::names;
use super::yaml::scalar_string;

/// Where each kind lives in a repository `flagsync init` starts.
pub const TARGET_GROUPS_DIR: &str = "target_groups";
/// The parent of every environment's experiments directory.
pub const ENVIRONMENTS_DIR: &str = "environments";

/// What a first `flagsync.yaml` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfig {
    /// The CloudBees application id.
    pub application: String,
    /// Its name, written as a comment.
    pub application_name: Option<String>,
    /// The environment variable that holds the API token.
    pub token_env: String,
    /// The application's environments, as the service spells them.
    pub environments: Vec<String>,
    /// The embedded emulator's state directory, when the repository starts on it.
    pub emulator_state: Option<String>,
}

impl NewConfig {
    /// Each environment with its experiments directory, `environments/<name>`: the name
    /// made safe on every OS, and unique (also case-insensitively).
    pub fn experiments_dirs(&self) -> Vec<(String, String)> {
        let dirs = names::assign_with(&self.environments, &BTreeSet::new(), "");
        self.environments
            .iter()
            .zip(dirs)
            .map(|(env, stem)| (env.clone(), format!("{ENVIRONMENTS_DIR}/{stem}")))
            .collect()
    }

    /// The text of `flagsync.yaml`.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from(
            "# Written by `flagsync init`. flagsync.yaml names the providers, where each one's\n\
             # manifests live, and the environment variables that hold credentials (never the\n\
             # secrets themselves). `flagsync export` writes the live state into these folders.\n",
        );
        out.push_str("cloudbees:\n");
        if let Some(name) = &self.application_name {
            // A comment ends at the line: control characters would end it early.
            let name: String = name.chars().filter(|c| !c.is_control()).collect();
            out.push_str(&format!("  # {name}\n"));
        }
        out.push_str(&format!(
            "  application: {}\n",
            scalar_string(&self.application)
        ));
        out.push_str(&format!(
            "  token_env: {}\n",
            scalar_string(&self.token_env)
        ));
        out.push_str(&format!("  target_groups: {TARGET_GROUPS_DIR}\n"));
        out.push_str("  environments:\n");
        for (env, dir) in self.experiments_dirs() {
            out.push_str(&format!(
                "    {}:\n      experiments: {}\n",
                scalar_string(&env),
                scalar_string(&dir)
            ));
        }
        if let Some(state) = &self.emulator_state {
            out.push_str(&format!(
                "# Served by the embedded emulator: remove this to talk to the real service.\nemulator:\n  state: {}\n",
                scalar_string(state)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load;
    use flagsync_source::DirSource;

    #[test]
    fn the_file_loads_back_as_what_was_asked() {
        let config = NewConfig {
            application: "5f3c2a1b9d8e7f6a5b4c3d2e".into(),
            application_name: Some("Web shop\n# not a line".into()),
            token_env: "CLOUDBEES_API_TOKEN".into(),
            environments: vec![
                "Production".into(),
                "QA: nightly".into(),
                "qa: nightly".into(),
                "true".into(),
            ],
            emulator_state: Some(".flagsync/emulator".into()),
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("flagsync.yaml"), config.to_yaml()).unwrap();
        let loaded = load(&DirSource::open(dir.path()).unwrap());
        // Only "no manifests yet", which `flagsync export` fixes.
        let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["no-manifests"], "{}", config.to_yaml());
        let read = loaded.repository.config.unwrap();
        let cb = read.cloudbees.unwrap();
        assert_eq!(cb.application, config.application);
        assert_eq!(cb.token_env, config.token_env);
        let dirs: Vec<(String, String)> = cb
            .environments
            .iter()
            .map(|(name, env)| (name.clone(), env.experiments_dir().to_owned()))
            .collect();
        let mut expected = config.experiments_dirs();
        expected.sort();
        assert_eq!(dirs, expected);
        // Safe and distinct directories.
        assert!(expected.iter().all(|(_, d)| !d.contains(':')));
        assert_ne!(expected[1].1.to_lowercase(), expected[2].1.to_lowercase());
        assert_eq!(read.emulator.unwrap().state, ".flagsync/emulator");
    }
}
