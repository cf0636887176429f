//! `flagsync.yaml` (or the legacy layout without it): what to read, and from where.

use flagsync_source::{Source, SourceError, Tree};

use super::files::{decode, is_manifest_file, parse_typed, read_error};
use crate::code::Code;
use crate::diagnostic::{Diagnostic, FileDiagnostics, Severity};
use crate::model::{Config, PathSeg, unify};
use crate::repository::{CONFIG_FILE, Environment, LEGACY_ENVIRONMENT, Layout, Repository};
use crate::rules;
use crate::yaml::SpanTree;

/// `flagsync.yaml` as read: the configuration when it is valid, its text for snippets
/// (lossily decoded when it is not UTF-8), and the problems found in it.
pub(super) struct ConfigFile {
    pub(super) config: Option<Config>,
    pub(super) text: String,
    pub(super) diagnostics: Vec<Diagnostic>,
}

pub(super) fn read_config(root: &dyn Tree) -> ConfigFile {
    let mut diagnostics = Vec::new();
    let bytes = match root.read(CONFIG_FILE) {
        Ok(b) => b,
        Err(e) => {
            return ConfigFile {
                config: None,
                text: String::new(),
                diagnostics: vec![read_error(CONFIG_FILE, e)],
            };
        }
    };
    let text = match decode(CONFIG_FILE, bytes, &mut diagnostics) {
        Ok(text) => text,
        Err(lossy) => {
            return ConfigFile {
                config: None,
                text: lossy,
                diagnostics,
            };
        }
    };
    let config = parse_typed::<Config>(CONFIG_FILE, &text, &mut diagnostics, rules::config);
    ConfigFile {
        config,
        text: mask_secrets(text),
        diagnostics,
    }
}

/// `text` with every `*_env` value that is not a plain variable name (a pasted token, say)
/// replaced by `*`, one per byte so that every span stays right: the snippet of any other
/// problem shows the lines around its own. Found in the YAML tree, so also when
/// flagsync.yaml does not deserialize and no rule looked at the value.
fn mask_secrets(mut text: String) -> String {
    let tree = SpanTree::parse_quiet(&text);
    let spans: Vec<_> = tree
        .scalar_values(|key| key.ends_with("_env"))
        .into_iter()
        .filter(|(value, _)| !rules::is_showable_env_name(value))
        .map(|(_, span)| span)
        .collect();
    for span in spans {
        if span.start <= span.end
            && text.is_char_boundary(span.start)
            && text.is_char_boundary(span.end)
        {
            let stars = "*".repeat(span.len());
            text.replace_range(span, &stars);
        }
    }
    text
}

/// The directories to read manifests from, decided by the layout.
#[derive(Default)]
pub(super) struct Directories {
    pub(super) target_groups: Option<String>,
    pub(super) rollouts: Option<String>,
    /// Environments whose experiments are in the tree that was asked for.
    pub(super) local: Vec<LocalExperiments>,
    /// Environments whose experiments are on another branch.
    pub(super) branches: Vec<BranchExperiments>,
    /// A CloudBees Unify CasC tree, and the environments flagsync.yaml names (`None`: every
    /// folder of its `flag-configurations/`).
    pub(super) casc: Option<(String, Option<Vec<String>>)>,
}

pub(super) struct LocalExperiments {
    /// Index into [`Repository::environments`].
    pub(super) env: usize,
    pub(super) dir: String,
}

pub(super) struct BranchExperiments {
    /// Index into [`Repository::environments`].
    pub(super) env: usize,
    pub(super) tree: Box<dyn Tree>,
}

/// Adds the environments `config` names to `repository` and decides what to read. A branch
/// that cannot be opened is reported against its line in `flagsync.yaml`.
pub(super) fn directories(
    source: &dyn Source,
    config: &Config,
    text: &str,
    repository: &mut Repository,
    diagnostics: &mut Vec<Diagnostic>,
) -> Directories {
    let mut dirs = Directories {
        target_groups: None,
        rollouts: config.confidence.as_ref().map(|cf| cf.rollouts.clone()),
        local: Vec::new(),
        branches: Vec::new(),
        casc: None,
    };
    let Some(cb) = &config.cloudbees else {
        return dirs;
    };
    if let Some(dir) = &cb.casc {
        let names = cb.environments.keys().cloned().collect();
        dirs.casc = Some((dir.clone(), Some(names)));
        return dirs;
    }
    dirs.target_groups = Some(cb.target_groups_dir().to_owned());
    for (name, env) in &cb.environments {
        let index = repository.environments.len();
        repository.environments.push(Environment {
            name: name.clone(),
            branch: env.branch.clone(),
            experiments_dir: env.experiments_dir().to_owned(),
            experiments: Vec::new(),
        });
        match &env.branch {
            Some(branch) => match source.branch(branch) {
                Ok(tree) => dirs.branches.push(BranchExperiments { env: index, tree }),
                Err(e) => branch_unavailable(name, &e, text, diagnostics),
            },
            None => dirs.local.push(LocalExperiments {
                env: index,
                dir: env.experiments_dir().to_owned(),
            }),
        }
    }
    dirs
}

/// A legacy repository: `target_groups/` and one environment in `experiments/`.
pub(super) fn legacy_directories(repository: &mut Repository) -> Directories {
    repository.layout = Layout::Legacy;
    repository.environments.push(Environment {
        name: LEGACY_ENVIRONMENT.to_owned(),
        branch: None,
        experiments_dir: "experiments".to_owned(),
        experiments: Vec::new(),
    });
    Directories {
        target_groups: Some("target_groups".to_owned()),
        rollouts: None,
        local: vec![LocalExperiments {
            env: 0,
            dir: "experiments".to_owned(),
        }],
        branches: Vec::new(),
        casc: None,
    }
}

/// A CasC tree at the usual place and no `flagsync.yaml`: every folder of
/// `flag-configurations/` is an environment.
pub(super) fn casc_directories(repository: &mut Repository) -> Directories {
    repository.layout = Layout::Casc;
    Directories {
        casc: Some((unify::DEFAULT_CASC_DIR.to_owned(), None)),
        ..Directories::default()
    }
}

/// Whether `root` holds a CasC tree at the usual place.
pub(super) fn has_casc_tree(root: &dyn Tree) -> bool {
    root.files_under(unify::DEFAULT_CASC_DIR)
        .is_ok_and(|files| files.iter().any(|f| is_manifest_file(&f.path)))
}

fn branch_unavailable(
    env: &str,
    err: &SourceError,
    config_text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let path = [
        PathSeg::key("cloudbees"),
        PathSeg::key("environments"),
        PathSeg::owned(env),
        PathSeg::key("branch"),
    ];
    let span = SpanTree::parse_quiet(config_text).span_of(&path, false);
    let mut fd = FileDiagnostics::new(CONFIG_FILE, config_text);
    fd.push(
        Severity::Error,
        Code::BranchUnavailable,
        span,
        format!("cannot read the experiments of environment `{env}`: {err}"),
        Some("validate the git repository (`--ref REV`), or point the environment at a directory with `experiments: DIR`".into()),
    );
    diagnostics.extend(fd.out);
}
