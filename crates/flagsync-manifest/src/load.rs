//! Reading a repository: layout, files in parallel, per-file checks, then checks across files.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use flagsync_source::{Source, SourceError, Tree};
use serde::de::DeserializeOwned;

use crate::diagnostic::{Diagnostic, FileDiagnostics, Severity, did_you_mean, whole_file};
use crate::model::*;
use crate::rules::{self, Finding};
use crate::yaml::{self, SpanTree};

/// The file name of the repository configuration.
pub const CONFIG_FILE: &str = "flagsync.yaml";
/// The environment a legacy repository (no `flagsync.yaml`) is read as.
pub const LEGACY_ENVIRONMENT: &str = "Production";

/// One manifest and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<T> {
    pub value: T,
    /// The file as diagnostics name it: its path in the tree, or `BRANCH:path` for a file
    /// read from another branch.
    pub file: String,
    /// Byte span of the YAML document in that file (one document per file: the whole text).
    pub span: Range<usize>,
}

/// How the repository was laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A `flagsync.yaml` at the root.
    Config,
    /// No `flagsync.yaml`: `experiments/` and `target_groups/` at the root, one environment
    /// named [`LEGACY_ENVIRONMENT`].
    Legacy,
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

/// What [`load`] returns: everything that could be read, and every problem found.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub repository: Repository,
    /// Sorted by file, line, column.
    pub diagnostics: Vec<Diagnostic>,
    /// The text of every file read, by the name diagnostics use, for rendering snippets.
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ManifestKind {
    Experiment,
    TargetGroup,
    Rollout,
}

impl ManifestKind {
    const ALL: [(&'static str, ManifestKind); 3] = [
        ("experiment", ManifestKind::Experiment),
        ("target-group", ManifestKind::TargetGroup),
        ("rollout", ManifestKind::Rollout),
    ];

    fn name(self) -> &'static str {
        match self {
            ManifestKind::Experiment => "experiment",
            ManifestKind::TargetGroup => "target-group",
            ManifestKind::Rollout => "rollout",
        }
    }
}

enum Manifest {
    Experiment(Experiment),
    TargetGroup(TargetGroup),
    Rollout(Box<Rollout>),
}

/// Where a file's manifest goes.
#[derive(Clone, Copy)]
enum Slot {
    Environment(usize),
    TargetGroups,
    Rollouts,
}

struct Task<'t> {
    tree: &'t dyn Tree,
    path: String,
    file: String,
    expected: ManifestKind,
    slot: Slot,
}

struct Outcome {
    file: String,
    text: Option<String>,
    diagnostics: Vec<Diagnostic>,
    manifest: Option<(Manifest, Range<usize>)>,
}

/// Problems that concern a branch are reported against `flagsync.yaml` at this path.
struct ConfigRef {
    text: String,
    path: Vec<PathSeg>,
}

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
        layout: Layout::Legacy,
        config: None,
        target_groups: Vec::new(),
        environments: Vec::new(),
        rollouts: Vec::new(),
    };
    // Branch trees must outlive the tasks that read them.
    let mut branch_trees: Vec<(usize, Box<dyn Tree>)> = Vec::new();
    let mut pending_envs: Vec<(usize, Option<String>, String)> = Vec::new();
    let mut rollouts_dir = None;
    let mut target_groups_dir = None;
    let mut branch_problems: Vec<(usize, SourceError, ConfigRef)> = Vec::new();

    if root.is_file(CONFIG_FILE) {
        repository.layout = Layout::Config;
        files_read += 1;
        let outcome = read_config(root);
        diagnostics.extend(outcome.1);
        let text = outcome.2.unwrap_or_default();
        if let Some(config) = outcome.0 {
            if let Some(cb) = &config.cloudbees {
                target_groups_dir = Some(cb.target_groups.clone());
                for (name, env) in &cb.environments {
                    let idx = repository.environments.len();
                    repository.environments.push(Environment {
                        name: name.clone(),
                        branch: env.branch.clone(),
                        experiments_dir: env.experiments_dir().to_owned(),
                        experiments: Vec::new(),
                    });
                    match &env.branch {
                        Some(branch) => match source.branch(branch) {
                            Ok(tree) => branch_trees.push((idx, tree)),
                            Err(e) => branch_problems.push((
                                idx,
                                e,
                                ConfigRef {
                                    text: text.clone(),
                                    path: vec![
                                        PathSeg::key("cloudbees"),
                                        PathSeg::key("environments"),
                                        PathSeg::owned(name),
                                        PathSeg::key("branch"),
                                    ],
                                },
                            )),
                        },
                        None => pending_envs.push((idx, None, env.experiments_dir().to_owned())),
                    }
                }
            }
            if let Some(cf) = &config.confidence {
                rollouts_dir = Some(cf.rollouts.clone());
            }
            repository.config = Some(config);
        }
        sources.insert(CONFIG_FILE.to_owned(), text);
    } else {
        target_groups_dir = Some("target_groups".to_owned());
        repository.environments.push(Environment {
            name: LEGACY_ENVIRONMENT.to_owned(),
            branch: None,
            experiments_dir: "experiments".to_owned(),
            experiments: Vec::new(),
        });
        pending_envs.push((0, None, "experiments".to_owned()));
    }

    for (idx, err, at) in branch_problems {
        let env = &repository.environments[idx];
        let mut fd = FileDiagnostics::new(CONFIG_FILE, &at.text);
        let span = SpanTree::parse_quiet(&at.text).span_of(&at.path, false);
        fd.push(
            Severity::Error,
            "branch-unavailable",
            span,
            format!("cannot read the experiments of environment `{}`: {err}", env.name),
            Some("validate the git repository (`--ref REV`), or point the environment at a directory with `experiments: DIR`".into()),
        );
        diagnostics.extend(fd.out);
    }

    // List every manifest file to read, in a stable order.
    let mut tasks: Vec<Task<'_>> = Vec::new();
    if let Some(dir) = &target_groups_dir {
        list_files(
            &mut tasks,
            root,
            None,
            dir,
            ManifestKind::TargetGroup,
            Slot::TargetGroups,
            &mut diagnostics,
        );
    }
    for (idx, _, dir) in &pending_envs {
        list_files(
            &mut tasks,
            root,
            None,
            dir,
            ManifestKind::Experiment,
            Slot::Environment(*idx),
            &mut diagnostics,
        );
    }
    for (idx, tree) in &branch_trees {
        let env = &repository.environments[*idx];
        list_files(
            &mut tasks,
            tree.as_ref(),
            env.branch.as_deref(),
            &env.experiments_dir,
            ManifestKind::Experiment,
            Slot::Environment(*idx),
            &mut diagnostics,
        );
    }
    if let Some(dir) = &rollouts_dir {
        list_files(
            &mut tasks,
            root,
            None,
            dir,
            ManifestKind::Rollout,
            Slot::Rollouts,
            &mut diagnostics,
        );
    }

    if tasks.is_empty() && repository.layout == Layout::Legacy {
        diagnostics.push(whole_file(
            Severity::Error,
            "no-manifests",
            ".",
            format!("no manifests in {}: no {CONFIG_FILE}, and no .yml/.yaml files under experiments/ or target_groups/", root.describe()),
            Some(format!("create {CONFIG_FILE} (see examples/quickstart), or run this in a repository of manifests")),
        ));
    } else if tasks.is_empty() && repository.config.is_some() {
        diagnostics.push(whole_file(
            Severity::Error,
            "no-manifests",
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
        let Some((manifest, span)) = outcome.manifest else {
            continue;
        };
        let file = outcome.file;
        match (manifest, task.slot) {
            (Manifest::Experiment(value), Slot::Environment(i)) => repository.environments[i]
                .experiments
                .push(Item { value, file, span }),
            (Manifest::TargetGroup(value), Slot::TargetGroups) => {
                repository.target_groups.push(Item { value, file, span })
            }
            (Manifest::Rollout(value), Slot::Rollouts) => repository.rollouts.push(Item {
                value: *value,
                file,
                span,
            }),
            // The kind was checked against the directory already.
            _ => {}
        }
    }

    crossref(&mut repository, &sources, &mut diagnostics);

    diagnostics.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.code).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.code,
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

/// Adds the `.yml`/`.yaml` files under `dir` of `tree` to `tasks`.
fn list_files<'t>(
    tasks: &mut Vec<Task<'t>>,
    tree: &'t dyn Tree,
    prefix: Option<&str>,
    dir: &str,
    expected: ManifestKind,
    slot: Slot,
    diags: &mut Vec<Diagnostic>,
) {
    let is_manifest = |path: &str| path.ends_with(".yml") || path.ends_with(".yaml");
    let named = |path: &str| match prefix {
        Some(b) => format!("{b}:{path}"),
        None => path.to_owned(),
    };
    match tree.list(dir) {
        Ok(listing) => {
            // Never read, so never shown: only the path and why.
            for r in listing.refused {
                let severity = if r.directory || is_manifest(&r.path) {
                    Severity::Error
                } else {
                    Severity::Warning
                };
                diags.push(whole_file(
                    severity,
                    "refused-path",
                    &named(&r.path),
                    format!("not read: {}", r.reason),
                    Some(REFUSED_HELP.into()),
                ));
            }
            for f in listing.files {
                if !is_manifest(&f.path) {
                    continue;
                }
                let file = named(&f.path);
                tasks.push(Task {
                    tree,
                    path: f.path,
                    file,
                    expected,
                    slot,
                });
            }
        }
        Err(e) => diags.push(whole_file(
            Severity::Error,
            "read-error",
            dir,
            e.to_string(),
            None,
        )),
    }
}

/// Reads files in parallel: parsing dominates on large repositories, and files are
/// independent. Results keep the order of `tasks`.
fn run_tasks(tasks: &[Task<'_>]) -> Vec<Outcome> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if workers <= 1 || tasks.len() < 64 {
        return tasks.iter().map(read_manifest).collect();
    }
    let chunk = tasks.len().div_ceil(workers);
    std::thread::scope(|s| {
        let handles: Vec<_> = tasks
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(read_manifest).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for (h, part) in handles.into_iter().zip(tasks.chunks(chunk)) {
            match h.join() {
                Ok(v) => out.extend(v),
                // A panic here is a bug of ours; read that part again on this thread
                // rather than losing files.
                Err(_) => out.extend(part.iter().map(read_manifest)),
            }
        }
        out
    })
}

/// Bytes to text. Text that is not UTF-8 is reported and returned lossily decoded, for
/// rendering only.
fn decode(file: &str, bytes: Vec<u8>, diags: &mut Vec<Diagnostic>) -> Result<String, String> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let mut fd = FileDiagnostics::new(file, &text);
            fd.push(
                Severity::Error,
                "invalid-utf8",
                at..at,
                format!("file is not UTF-8 text (invalid byte at offset {at})"),
                Some("save the file as UTF-8".into()),
            );
            diags.extend(fd.out);
            Err(text)
        }
    }
}

/// Why a file was not read, and what to do about it.
const REFUSED_HELP: &str = "flagsync reads only regular files inside the repository (links \
     are followed only when they stay inside it, and never in a git revision); put the file \
     itself there";

fn read_error(file: &str, e: SourceError) -> Diagnostic {
    match e {
        SourceError::Refused { reason, .. } => whole_file(
            Severity::Error,
            "refused-path",
            file,
            format!("not read: {reason}"),
            Some(REFUSED_HELP.into()),
        ),
        SourceError::TooLarge { size, max, .. } => whole_file(
            Severity::Error,
            "file-too-large",
            file,
            format!("file is {size} bytes; manifests may have at most {max}"),
            Some("a manifest this large is almost certainly not one; remove it from the manifest directory".into()),
        ),
        other => whole_file(Severity::Error, "read-error", file, format!("cannot read: {other}"), None),
    }
}

fn read_manifest(task: &Task<'_>) -> Outcome {
    let mut diagnostics = Vec::new();
    let bytes = match task.tree.read(&task.path) {
        Ok(b) => b,
        Err(e) => {
            diagnostics.push(read_error(&task.file, e));
            return Outcome {
                file: task.file.clone(),
                text: None,
                diagnostics,
                manifest: None,
            };
        }
    };
    let text = match decode(&task.file, bytes, &mut diagnostics) {
        Ok(text) => text,
        Err(lossy) => {
            return Outcome {
                file: task.file.clone(),
                text: Some(lossy),
                diagnostics,
                manifest: None,
            };
        }
    };
    let manifest = parse_manifest(&task.file, &text, task.expected, &mut diagnostics);
    Outcome {
        file: task.file.clone(),
        text: Some(text),
        diagnostics,
        manifest,
    }
}

/// The tree, or `None` after reporting why the file holds no usable manifest.
fn document(text: &str, fd: &mut FileDiagnostics<'_>) -> Option<SpanTree> {
    let tree = SpanTree::parse(text, fd).ok()?;
    let Some(root) = tree.root() else {
        fd.push(
            Severity::Error,
            "empty-file",
            0..0,
            "file is empty",
            Some("delete it, or write a manifest with a `type`".into()),
        );
        return None;
    };
    if !matches!(root.kind, yaml::Kind::Map(_)) {
        fd.push(
            Severity::Error,
            "invalid-type",
            root.span.clone(),
            "a manifest is a mapping of fields (`key: value` lines)",
            None,
        );
        return None;
    }
    Some(tree)
}

/// Rollout fields only the server writes: accepted from the API, never suggested.
const ROLLOUT_SERVER_FIELDS: &[&str] = &[
    "name",
    "createTime",
    "updateTime",
    "pendingTransition",
    "stats",
];

/// The fast path for the common case of a clean file: guess the kind, read it, check it; the
/// span tree is only built when something is wrong (by [`parse_manifest_carefully`]).
fn parse_manifest(
    file: &str,
    text: &str,
    expected: ManifestKind,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Manifest, Range<usize>)> {
    let quick = (|| {
        if yaml::guess_type(text)? != expected.name() {
            return None;
        }
        let manifest = match expected {
            ManifestKind::Experiment => {
                let e: Experiment = yaml::typed_quiet(text)?;
                rules::experiment(&e)
                    .0
                    .is_empty()
                    .then_some(Manifest::Experiment(e))?
            }
            ManifestKind::TargetGroup => {
                let t: TargetGroup = yaml::typed_quiet(text)?;
                rules::target_group(&t)
                    .0
                    .is_empty()
                    .then_some(Manifest::TargetGroup(t))?
            }
            ManifestKind::Rollout => {
                let r: Rollout = yaml::typed_quiet(text)?;
                rules::rollout(&r)
                    .0
                    .is_empty()
                    .then(|| Manifest::Rollout(Box::new(r)))?
            }
        };
        Some((manifest, 0..text.len()))
    })();
    quick.or_else(|| parse_manifest_carefully(file, text, expected, diagnostics))
}

fn parse_manifest_carefully(
    file: &str,
    text: &str,
    expected: ManifestKind,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Manifest, Range<usize>)> {
    let mut fd = FileDiagnostics::new(file, text);
    let result = (|| {
        let tree = document(text, &mut fd)?;
        let kind = match tree.top_scalar("type") {
            None => {
                fd.push(
                    Severity::Error,
                    "missing-type",
                    tree.root()
                        .map(|r| r.span.start..r.span.start)
                        .unwrap_or(0..0),
                    "manifest has no `type`",
                    Some(format!("add `type: {}` as the first line", expected.name())),
                );
                return None;
            }
            Some((t, span)) => match ManifestKind::ALL.iter().find(|(n, _)| *n == t) {
                Some((_, k)) => *k,
                None => {
                    let hint = did_you_mean(t, ManifestKind::ALL.iter().map(|(n, _)| *n));
                    fd.push(
                        Severity::Error,
                        "unknown-type",
                        span,
                        format!("unknown manifest type `{t}`"),
                        Some(match hint {
                            Some(h) => format!("did you mean `{h}`?"),
                            None => "expected experiment, target-group or rollout".into(),
                        }),
                    );
                    return None;
                }
            },
        };
        if kind != expected {
            let span = tree.top_scalar("type").map(|(_, s)| s).unwrap_or(0..0);
            fd.push(
                Severity::Error,
                "misplaced-manifest",
                span,
                format!(
                    "a {} manifest in a directory of {} manifests",
                    kind.name(),
                    expected.name()
                ),
                Some(format!(
                    "move it to the directory of {} manifests ({})",
                    kind.name(),
                    match kind {
                        ManifestKind::Experiment => "an environment's experiments",
                        ManifestKind::TargetGroup => "target_groups, or cloudbees.target_groups",
                        ManifestKind::Rollout => "rollouts, or confidence.rollouts",
                    }
                )),
            );
            return None;
        }
        if tree.duplicates {
            return None;
        }
        let doc_span = 0..text.len();
        let (manifest, findings) = match kind {
            ManifestKind::Experiment => {
                let e: Experiment = yaml::typed(text, &mut fd, &[])?;
                let f = rules::experiment(&e);
                (Manifest::Experiment(e), f)
            }
            ManifestKind::TargetGroup => {
                let t: TargetGroup = yaml::typed(text, &mut fd, &["value"])?;
                let f = rules::target_group(&t);
                (Manifest::TargetGroup(t), f)
            }
            ManifestKind::Rollout => {
                let r: Rollout = yaml::typed(text, &mut fd, ROLLOUT_SERVER_FIELDS)?;
                let f = rules::rollout(&r);
                (Manifest::Rollout(Box::new(r)), f)
            }
        };
        push_findings(&mut fd, &tree, findings.0);
        Some((manifest, doc_span))
    })();
    diagnostics.extend(fd.out);
    result
}

fn push_findings(fd: &mut FileDiagnostics<'_>, tree: &SpanTree, findings: Vec<Finding>) {
    for f in findings {
        let span = tree.span_of(&f.path, f.at_key);
        fd.push(f.severity, f.code, span, f.message, f.help);
        if let Some(pushed) = fd.out.last_mut() {
            pushed.secret = f.secret;
        }
    }
}

fn read_config(root: &dyn Tree) -> (Option<Config>, Vec<Diagnostic>, Option<String>) {
    let mut diagnostics = Vec::new();
    let bytes = match root.read(CONFIG_FILE) {
        Ok(b) => b,
        Err(e) => return (None, vec![read_error(CONFIG_FILE, e)], None),
    };
    let text = match decode(CONFIG_FILE, bytes, &mut diagnostics) {
        Ok(text) => text,
        Err(lossy) => return (None, diagnostics, Some(lossy)),
    };
    let config = parse_typed::<Config>(CONFIG_FILE, &text, &mut diagnostics, rules::config);
    (config, diagnostics, Some(text))
}

fn parse_typed<T: DeserializeOwned>(
    file: &str,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
    check: fn(&T) -> rules::Findings,
) -> Option<T> {
    let mut fd = FileDiagnostics::new(file, text);
    let value = (|| {
        let tree = document(text, &mut fd)?;
        if tree.duplicates {
            return None;
        }
        let v: T = yaml::typed(text, &mut fd, &[])?;
        push_findings(&mut fd, &tree, check(&v).0);
        Some(v)
    })();
    diagnostics.extend(fd.out);
    value
}

/// A problem found across files, reported in `file` at `path`.
struct CrossFinding {
    severity: Severity,
    code: &'static str,
    file: String,
    path: Vec<PathSeg>,
    message: String,
    help: Option<String>,
}

fn crossref(repo: &mut Repository, sources: &BTreeMap<String, String>, out: &mut Vec<Diagnostic>) {
    let mut found: Vec<CrossFinding> = Vec::new();
    // Dangling references: see `load`.
    let dangling = match repo.layout {
        Layout::Config => Severity::Error,
        Layout::Legacy => Severity::Warning,
    };

    // One identity, two files: keep the first by path, report the others.
    dedup(
        &mut repo.target_groups,
        |t| t.name.clone(),
        ("target group", "name", ""),
        &mut found,
    );
    dedup(
        &mut repo.rollouts,
        |r| r.id.clone(),
        ("rollout", "id", ""),
        &mut found,
    );
    for env in &mut repo.environments {
        let scope = format!(" for environment `{}`", env.name);
        dedup(
            &mut env.experiments,
            |e| e.flag.clone(),
            ("flag", "flag", &scope),
            &mut found,
        );
    }

    let groups: HashSet<&str> = repo
        .target_groups
        .iter()
        .map(|t| t.value.name.as_str())
        .collect();
    let unknown_group = |name: &str,
                         file: &str,
                         path: Vec<PathSeg>,
                         found: &mut Vec<CrossFinding>| {
        let hint = did_you_mean(name, groups.iter().copied());
        found.push(CrossFinding {
            severity: dangling,
            code: "unknown-target-group",
            file: file.to_owned(),
            path,
            message: format!("target group `{name}` is not declared"),
            help: Some(match hint {
                Some(h) => format!("did you mean `{h}`?"),
                None => "declare it in the target groups directory, or remove the reference".into(),
            }),
        });
    };

    // Target groups that include other groups: references and cycles.
    let mut group_edges: Edges<'_> = BTreeMap::new();
    for t in &repo.target_groups {
        for (i, c) in t.value.conditions.iter().enumerate() {
            let Some(g) = &c.group else { continue };
            for (j, name) in g.name.iter().enumerate() {
                let path = name_path(
                    vec![
                        PathSeg::key("conditions"),
                        PathSeg::Index(i),
                        PathSeg::key("group"),
                    ],
                    j,
                    g.name.0.len(),
                );
                if groups.contains(name) {
                    group_edges.entry(t.value.name.as_str()).or_default().push((
                        name,
                        t.file.as_str(),
                        path,
                    ));
                } else {
                    unknown_group(name, &t.file, path, &mut found);
                }
            }
        }
    }
    for cycle in cycles(&group_edges) {
        let (file, path, names) = cycle;
        found.push(CrossFinding {
            severity: Severity::Error,
            code: "group-cycle",
            file: file.to_owned(),
            path,
            message: format!(
                "target groups include each other in a cycle: {}",
                names.join(" → ")
            ),
            help: Some("a target group cannot contain itself, directly or through others".into()),
        });
    }

    for env in &repo.environments {
        let flags: HashSet<&str> = env
            .experiments
            .iter()
            .map(|e| e.value.flag.as_str())
            .collect();
        let mut dep_edges: Edges<'_> = BTreeMap::new();
        for e in &env.experiments {
            for (path, c) in e.value.all_conditions() {
                if let Some(g) = &c.group {
                    for (j, name) in g.name.iter().enumerate() {
                        let mut p = path.clone();
                        p.push(PathSeg::key("group"));
                        let p = name_path(p, j, g.name.0.len());
                        if !groups.contains(name) {
                            unknown_group(name, &e.file, p, &mut found);
                        }
                    }
                }
                if let Some(d) = &c.dependency {
                    let mut p = path.clone();
                    p.extend([PathSeg::key("dependency"), PathSeg::key("flag")]);
                    if flags.contains(d.flag.as_str()) {
                        dep_edges.entry(e.value.flag.as_str()).or_default().push((
                            d.flag.as_str(),
                            e.file.as_str(),
                            p,
                        ));
                    } else {
                        let hint = did_you_mean(&d.flag, flags.iter().copied());
                        found.push(CrossFinding {
                            severity: dangling,
                            code: "unknown-dependency",
                            file: e.file.clone(),
                            path: p,
                            message: format!(
                                "depends on flag `{}`, which environment `{}` does not configure",
                                d.flag, env.name
                            ),
                            help: Some(match hint {
                                Some(h) => format!("did you mean `{h}`?"),
                                None => format!(
                                    "add an experiment for `{}` to this environment",
                                    d.flag
                                ),
                            }),
                        });
                    }
                }
            }
        }
        for (file, path, names) in cycles(&dep_edges) {
            found.push(CrossFinding {
                severity: Severity::Error,
                code: "dependency-cycle",
                file: file.to_owned(),
                path,
                message: format!(
                    "flags depend on each other in a cycle: {}",
                    names.join(" → ")
                ),
                help: Some("no flag can be evaluated first; remove one of the dependencies".into()),
            });
        }
    }

    // Map paths to spans, parsing each concerned file once.
    let mut trees: HashMap<String, SpanTree> = HashMap::new();
    for f in found {
        let text = sources.get(&f.file).map(String::as_str).unwrap_or("");
        let tree = trees
            .entry(f.file.clone())
            .or_insert_with(|| SpanTree::parse_quiet(text));
        let span = tree.span_of(&f.path, false);
        let mut fd = FileDiagnostics::new(&f.file, text);
        fd.push(f.severity, f.code, span, f.message, f.help);
        out.extend(fd.out);
    }
}

/// The path of the `j`th of `n` names under `name` (a single name is a scalar, not a list).
fn name_path(mut p: Vec<PathSeg>, j: usize, n: usize) -> Vec<PathSeg> {
    p.push(PathSeg::key("name"));
    if n > 1 || j > 0 {
        p.push(PathSeg::Index(j));
    }
    p
}

/// `what` is (the kind of identity, the field holding it, a scope for the message).
fn dedup<T>(
    items: &mut Vec<Item<T>>,
    key: impl Fn(&T) -> String,
    what: (&str, &'static str, &str),
    found: &mut Vec<CrossFinding>,
) {
    let mut first: HashMap<String, String> = HashMap::new();
    items.retain(|item| {
        let k = key(&item.value);
        if k.is_empty() {
            return true;
        }
        match first.get(&k) {
            None => {
                first.insert(k, item.file.clone());
                true
            }
            Some(other) => {
                found.push(CrossFinding {
                    severity: Severity::Error,
                    code: "duplicate-identity",
                    file: item.file.clone(),
                    path: vec![PathSeg::key(what.1)],
                    message: format!("{} `{k}` is also declared in {other}{}", what.0, what.2),
                    help: Some(
                        "each identity is declared by exactly one file; remove or rename one"
                            .into(),
                    ),
                });
                false
            }
        }
    });
}

/// A graph by name: each edge is (target, file of the reference, path of the reference).
type Edges<'a> = BTreeMap<&'a str, Vec<(&'a str, &'a str, Vec<PathSeg>)>>;

/// Every cycle of a graph (each reported once, from its smallest member), with the file and
/// path of the edge that starts it.
fn cycles<'a>(edges: &Edges<'a>) -> Vec<(&'a str, Vec<PathSeg>, Vec<String>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark: HashMap<&str, Mark> = HashMap::new();
    let mut out = Vec::new();
    let mut reported: HashSet<Vec<&str>> = HashSet::new();
    for &start in edges.keys() {
        if mark.get(start).copied().unwrap_or(Mark::New) != Mark::New {
            continue;
        }
        // Iterative depth-first search: the stack holds (node, next edge index).
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        mark.insert(start, Mark::Active);
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let next = edges.get(node).and_then(|v| v.get(top.1));
            top.1 += 1;
            match next {
                None => {
                    mark.insert(node, Mark::Done);
                    stack.pop();
                }
                Some((to, _, _)) => match mark.get(to).copied().unwrap_or(Mark::New) {
                    Mark::New => {
                        mark.insert(to, Mark::Active);
                        stack.push((to, 0));
                    }
                    Mark::Active => {
                        let pos = stack.iter().position(|(n, _)| n == to).unwrap_or(0);
                        let members: Vec<&str> = stack[pos..].iter().map(|(n, _)| *n).collect();
                        let mut key = members.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            // Report at the edge leaving the smallest member.
                            let min_at = members
                                .iter()
                                .enumerate()
                                .min_by_key(|(_, n)| **n)
                                .map(|(i, _)| i)
                                .unwrap_or(0);
                            let from = members[min_at];
                            let target = members[(min_at + 1) % members.len()];
                            let edge = edges
                                .get(from)
                                .and_then(|v| v.iter().find(|(t, _, _)| *t == target));
                            let mut names: Vec<String> = members[min_at..]
                                .iter()
                                .chain(&members[..min_at])
                                .map(|s| s.to_string())
                                .collect();
                            names.push(from.to_owned());
                            if let Some((_, file, path)) = edge {
                                out.push((*file, path.clone(), names));
                            }
                        }
                    }
                    Mark::Done => {}
                },
            }
        }
    }
    out
}
