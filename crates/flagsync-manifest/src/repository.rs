//! What loading a repository gives: the desired state, with the file each manifest came
//! from, and every problem found.

use std::collections::BTreeMap;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, FileDiagnostics, Severity, whole_file};
use crate::model::unify;
use crate::model::{Config, Experiment, PathSeg, Rollout, TargetGroup};

/// The file name of the repository configuration.
pub const CONFIG_FILE: &str = "flagsync.yaml";
/// The environment a legacy repository (no `flagsync.yaml`) is read as.
pub const LEGACY_ENVIRONMENT: &str = "Production";
/// The folder, inside an environment's experiments directory, whose files are archived
/// flags: the format marks an archived flag by where its file is, not by a field.
pub const ARCHIVED_FOLDER: &str = "archived";

/// Whether `path` (relative to the repository, with `/`), a file under the experiments
/// directory `dir`, is in its archived folder.
pub fn in_archived_folder(dir: &str, path: &str) -> bool {
    let dir = dir.trim_matches('/');
    let rest = if dir.is_empty() || dir == "." {
        Some(path)
    } else {
        path.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
    };
    rest.and_then(|r| r.strip_prefix(ARCHIVED_FOLDER))
        .is_some_and(|r| r.starts_with('/'))
}

/// One manifest and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<T> {
    pub value: T,
    /// The file as diagnostics name it: its path in the tree, or `BRANCH:path` for a file
    /// read from another branch. A file holds one manifest.
    pub file: String,
}

/// How the repository was laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A `flagsync.yaml` at the root.
    Config,
    /// No `flagsync.yaml`: `experiments/` and `target_groups/` at the root, one environment
    /// named [`LEGACY_ENVIRONMENT`].
    Legacy,
    /// No `flagsync.yaml`: a CloudBees Unify CasC tree at
    /// [`unify::DEFAULT_CASC_DIR`], each folder of `flag-configurations/` an environment.
    Casc,
}

/// One CloudBees environment and its experiments.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// The environment name as the service spells it (`Production`).
    pub name: String,
    /// The branch its experiments were read from, when not the tree that was asked for.
    pub branch: Option<String>,
    /// Where its experiments live (in `branch` when set).
    pub experiments_dir: String,
    pub experiments: Vec<Item<Experiment>>,
}

impl Environment {
    pub fn experiment(&self, flag: &str) -> Option<&Item<Experiment>> {
        self.experiments.iter().find(|e| e.value.flag == flag)
    }
}

/// The desired state read from a repository. Items that failed to load are absent (their
/// problems are in [`Loaded::diagnostics`]); of two files declaring one identity, the first
/// by path is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    pub layout: Layout,
    /// `None` in the legacy layout, or when `flagsync.yaml` could not be read.
    pub config: Option<Config>,
    /// Application-wide target groups.
    pub target_groups: Vec<Item<TargetGroup>>,
    /// In the order of `flagsync.yaml` (sorted by name).
    pub environments: Vec<Environment>,
    pub rollouts: Vec<Item<Rollout>>,
    /// The CloudBees Unify CasC tree, when the repository is in that layout.
    pub casc: Option<Casc>,
}

/// A CloudBees Unify CasC tree (`.cloudbees/casc/feature-management/`): flags, target groups
/// and custom properties of the application, and each environment's flag configurations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Casc {
    /// Where the tree is, relative to the repository root.
    pub dir: String,
    pub properties: Vec<Item<unify::Property>>,
    pub target_groups: Vec<Item<unify::TargetGroup>>,
    pub flags: Vec<Item<unify::Flag>>,
    /// In the order of `flagsync.yaml` (sorted by name), or of the folders found.
    pub environments: Vec<CascEnvironment>,
}

/// One environment of a CasC tree: the folder `flag-configurations/<name>/`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CascEnvironment {
    /// The environment's name as CloudBees Unify spells it, which is also its folder's.
    pub name: String,
    pub configurations: Vec<Item<unify::FlagConfiguration>>,
}

impl Casc {
    pub fn flag(&self, name: &str) -> Option<&Item<unify::Flag>> {
        self.flags.iter().find(|f| f.value.flag == name)
    }

    pub fn environment(&self, name: &str) -> Option<&CascEnvironment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn configuration_count(&self) -> usize {
        self.environments
            .iter()
            .map(|e| e.configurations.len())
            .sum()
    }
}

impl Repository {
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn target_group(&self, name: &str) -> Option<&Item<TargetGroup>> {
        self.target_groups.iter().find(|t| t.value.name == name)
    }

    pub fn rollout(&self, id: &str) -> Option<&Item<Rollout>> {
        self.rollouts.iter().find(|r| r.value.id == id)
    }

    pub fn experiment_count(&self) -> usize {
        self.environments.iter().map(|e| e.experiments.len()).sum()
    }
}

/// What [`crate::load`] returns: everything that could be read, and every problem found.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub repository: Repository,
    /// Sorted by file, line, column.
    pub diagnostics: Vec<Diagnostic>,
    /// The text of every file read, by the name diagnostics use, for rendering snippets; a
    /// `*_env` value of flagsync.yaml that is not a plain variable name is masked with `*`.
    pub sources: BTreeMap<String, String>,
    /// How many files were read (manifests and `flagsync.yaml`).
    pub files_read: usize,
}

impl Loaded {
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// A diagnostic about a setting of `flagsync.yaml` found after loading (by asking a
    /// service), at the key `key_path` leads to (e.g. `cloudbees`, `environments`,
    /// `Prodution`), so that it names `file:line:col` and shows the line like every other.
    pub fn config_diagnostic(
        &self,
        key_path: &[PathSeg],
        severity: Severity,
        code: Code,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let Some(text) = self.sources.get(CONFIG_FILE) else {
            return whole_file(severity, code, CONFIG_FILE, message, help);
        };
        FileDiagnostics::new(CONFIG_FILE, text)
            .at_path(key_path, true, severity, code, message, help)
    }
}
