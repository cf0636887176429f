//! Reading a repository: the layout (`config`), every manifest file in parallel with its own
//! checks (`files`), then the checks across files (`crossref`).

mod casc;
mod config;
mod crossref;
mod files;

use std::collections::BTreeMap;

use flagsync_source::Source;

use self::config::{
    Directories, casc_directories, directories, has_casc_tree, legacy_directories, read_config,
};
use self::files::{Slot, Task, list_files, run_tasks};
use crate::code::Code;
use crate::diagnostic::{Severity, whole_file};
use crate::model::Manifest;
use crate::repository::{CONFIG_FILE, Casc, Item, Layout, Loaded, Repository};

/// Reads and validates the repository `source`. Never stops at the first problem, never
/// fails: what cannot be read becomes a diagnostic.
///
/// Dangling references (a target group or dependency flag that no manifest declares) are
/// errors in a `flagsync.yaml` repository, where applying them would break production, and
/// warnings in a legacy repository, whose branches carry drifted copies of target groups and
/// must still load (`validate --strict` refuses them too).
pub fn load(source: &dyn Source) -> Loaded {
    let root = source.root();
    let mut diagnostics = Vec::new();
    let mut sources = BTreeMap::new();
    let mut files_read = 0usize;

    let mut repository = Repository {
        layout: Layout::Config,
        config: None,
        target_groups: Vec::new(),
        environments: Vec::new(),
        rollouts: Vec::new(),
        casc: None,
    };
    let dirs = if root.is_file(CONFIG_FILE) {
        files_read += 1;
        let file = read_config(root);
        diagnostics.extend(file.diagnostics);
        let dirs = match &file.config {
            Some(config) => directories(
                source,
                config,
                &file.text,
                &mut repository,
                &mut diagnostics,
            ),
            None => Directories::default(),
        };
        repository.config = file.config;
        sources.insert(CONFIG_FILE.to_owned(), file.text);
        dirs
    } else if has_casc_tree(root) {
        casc_directories(&mut repository)
    } else {
        legacy_directories(&mut repository)
    };

    // Every manifest file to read, in a stable order. The branch trees in `dirs` outlive
    // the tasks that borrow them.
    let mut tasks: Vec<Task<'_>> = Vec::new();
    if let Some(dir) = &dirs.target_groups {
        list_files(
            &mut tasks,
            root,
            None,
            dir,
            Slot::TargetGroups,
            &mut diagnostics,
        );
    }
    for local in &dirs.local {
        let slot = Slot::Environment(local.env);
        list_files(&mut tasks, root, None, &local.dir, slot, &mut diagnostics);
    }
    for branch in &dirs.branches {
        let env = &repository.environments[branch.env];
        let (tree, dir) = (branch.tree.as_ref(), &env.experiments_dir);
        let slot = Slot::Environment(branch.env);
        list_files(
            &mut tasks,
            tree,
            env.branch.as_deref(),
            dir,
            slot,
            &mut diagnostics,
        );
    }
    if let Some(dir) = &dirs.rollouts {
        list_files(
            &mut tasks,
            root,
            None,
            dir,
            Slot::Rollouts,
            &mut diagnostics,
        );
    }

    if let Some((dir, configured)) = &dirs.casc {
        let casc = repository.casc.insert(Casc {
            dir: dir.clone(),
            ..Casc::default()
        });
        casc::list(
            &mut tasks,
            root,
            casc,
            configured.as_deref(),
            &mut diagnostics,
        );
    }

    if tasks.is_empty() && repository.layout == Layout::Legacy {
        diagnostics.push(whole_file(
            Severity::Error,
            Code::NoManifests,
            ".",
            format!("no manifests in {}: no {CONFIG_FILE}, and no .yml/.yaml files under experiments/ or target_groups/", root.describe()),
            Some(format!("create {CONFIG_FILE} (see examples/quickstart), or run this in a repository of manifests")),
        ));
    } else if tasks.is_empty() && repository.config.is_some() {
        diagnostics.push(whole_file(
            Severity::Error,
            Code::NoManifests,
            CONFIG_FILE,
            "no manifest files in any of the directories flagsync.yaml names",
            None,
        ));
    }

    files_read += tasks.len();
    let outcomes = run_tasks(&tasks);
    for (task, outcome) in tasks.iter().zip(outcomes) {
        diagnostics.extend(outcome.diagnostics);
        if let Some(text) = outcome.text {
            sources.insert(outcome.file.clone(), text);
        }
        let Some(manifest) = outcome.manifest else {
            continue;
        };
        let file = outcome.file;
        match (manifest, task.slot) {
            (Manifest::Experiment(value), Slot::Environment(i)) => repository.environments[i]
                .experiments
                .push(Item { value, file }),
            (Manifest::TargetGroup(value), Slot::TargetGroups) => {
                repository.target_groups.push(Item { value, file })
            }
            (Manifest::Rollout(value), Slot::Rollouts) => repository.rollouts.push(Item {
                value: *value,
                file,
            }),
            (manifest, slot) => {
                if let Some(casc) = repository.casc.as_mut() {
                    place_casc(casc, manifest, slot, file);
                }
            }
        }
    }

    crossref::check(&mut repository, &sources, &mut diagnostics);
    if let Some(casc) = repository.casc.as_mut() {
        casc::check(casc, &sources, &mut diagnostics);
    }

    diagnostics.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.code.as_str()).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.code.as_str(),
        ))
    });
    diagnostics.dedup();
    Loaded {
        repository,
        diagnostics,
        sources,
        files_read,
    }
}

/// Puts a manifest read from a CasC folder into the tree. The kind was checked against the
/// folder already; a configuration of a folder that is no environment is left out.
fn place_casc(casc: &mut Casc, manifest: Manifest, slot: Slot, file: String) {
    match (manifest, slot) {
        (Manifest::CustomProperty(value), Slot::Properties) => {
            casc.properties.push(Item { value, file })
        }
        (Manifest::UnifyTargetGroup(value), Slot::CascTargetGroups) => {
            casc.target_groups.push(Item { value, file })
        }
        (Manifest::Flag(value), Slot::Flags) => casc.flags.push(Item { value, file }),
        (Manifest::FlagConfiguration(value), Slot::Configurations(Some(env))) => {
            if let Some(env) = casc.environments.get_mut(env) {
                env.configurations.push(Item { value, file });
            }
        }
        _ => {}
    }
}
