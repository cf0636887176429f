//! Manifest files: listing them, reading them in parallel, parsing and checking each one.

use flagsync_source::{SourceError, Tree};
use serde::de::DeserializeOwned;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, FileDiagnostics, Severity, did_you_mean, whole_file};
use crate::kind::Kind;
use crate::model::*;
use crate::repository::in_archived_folder;
use crate::rules::{self, Finding};
use crate::yaml::{self, SpanTree};

/// Where a file's manifest goes.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    /// Index into [`crate::Repository::environments`].
    Environment(usize),
    TargetGroups,
    Rollouts,
}

impl Slot {
    /// The kind of manifest that goes there.
    fn kind(self) -> Kind {
        match self {
            Slot::Environment(_) => Kind::Experiment,
            Slot::TargetGroups => Kind::TargetGroup,
            Slot::Rollouts => Kind::Rollout,
        }
    }
}

/// One file to read.
pub(super) struct Task<'t> {
    tree: &'t dyn Tree,
    path: String,
    /// The name diagnostics use.
    file: String,
    pub(super) slot: Slot,
    /// An experiment under the `archived/` folder of its environment's directory: the
    /// format's mark of an archived flag.
    archived: bool,
}

/// What reading one file gave.
pub(super) struct Outcome {
    pub(super) file: String,
    /// `None` when the file could not be read at all.
    pub(super) text: Option<String>,
    pub(super) diagnostics: Vec<Diagnostic>,
    pub(super) manifest: Option<Manifest>,
}

/// Adds the `.yml`/`.yaml` files under `dir` of `tree` to `tasks`. Files of another branch
/// are named `BRANCH:path`.
pub(super) fn list_files<'t>(
    tasks: &mut Vec<Task<'t>>,
    tree: &'t dyn Tree,
    branch: Option<&str>,
    dir: &str,
    slot: Slot,
    diags: &mut Vec<Diagnostic>,
) {
    match tree.files_under(dir) {
        Ok(files) => {
            for f in files {
                if !(f.path.ends_with(".yml") || f.path.ends_with(".yaml")) {
                    continue;
                }
                let file = match branch {
                    Some(b) => format!("{b}:{}", f.path),
                    None => f.path.clone(),
                };
                let archived =
                    matches!(slot, Slot::Environment(_)) && in_archived_folder(dir, &f.path);
                tasks.push(Task {
                    tree,
                    path: f.path,
                    file,
                    slot,
                    archived,
                });
            }
        }
        Err(e) => diags.push(whole_file(
            Severity::Error,
            Code::ReadError,
            dir,
            e.to_string(),
            None,
        )),
    }
}

/// Reads files in parallel: parsing dominates on large repositories, and files are
/// independent. Results keep the order of `tasks`.
pub(super) fn run_tasks(tasks: &[Task<'_>]) -> Vec<Outcome> {
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
pub(super) fn decode(
    file: &str,
    bytes: Vec<u8>,
    diags: &mut Vec<Diagnostic>,
) -> Result<String, String> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let mut fd = FileDiagnostics::new(file, &text);
            fd.push(
                Severity::Error,
                Code::InvalidUtf8,
                at..at,
                format!("file is not UTF-8 text (invalid byte at offset {at})"),
                Some("save the file as UTF-8".into()),
            );
            diags.extend(fd.out);
            Err(text)
        }
    }
}

pub(super) fn read_error(file: &str, e: SourceError) -> Diagnostic {
    match e {
        SourceError::TooLarge { size, max, .. } => whole_file(
            Severity::Error,
            Code::FileTooLarge,
            file,
            format!("file is {size} bytes; manifests may have at most {max}"),
            Some("a manifest this large is almost certainly not one; remove it from the manifest directory".into()),
        ),
        other => whole_file(Severity::Error, Code::ReadError, file, format!("cannot read: {other}"), None),
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
    let mut manifest = parse_manifest(
        &task.file,
        &text,
        task.slot.kind(),
        task.archived,
        &mut diagnostics,
    );
    if task.archived
        && let Some(Manifest::Experiment(e)) = &mut manifest
    {
        e.archived = Some(true);
    }
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
            Code::EmptyFile,
            0..0,
            "file is empty",
            Some("delete it, or write a manifest with a `type`".into()),
        );
        return None;
    };
    if !matches!(root.kind, yaml::Kind::Map(_)) {
        fd.push(
            Severity::Error,
            Code::InvalidType,
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

/// The manifest of `kind` in `text`, or `None` after reporting why not into `report` (when
/// given).
fn typed_manifest(
    kind: Kind,
    text: &str,
    report: Option<&mut FileDiagnostics<'_>>,
) -> Option<Manifest> {
    fn typed<T: DeserializeOwned>(
        text: &str,
        report: Option<&mut FileDiagnostics<'_>>,
        hidden: &[&str],
    ) -> Option<T> {
        match report {
            Some(fd) => yaml::typed(text, fd, hidden),
            None => yaml::typed_quiet(text),
        }
    }
    Some(match kind {
        Kind::Experiment => Manifest::Experiment(typed(text, report, &[])?),
        Kind::TargetGroup => Manifest::TargetGroup(typed(text, report, &["value"])?),
        Kind::Rollout => Manifest::Rollout(Box::new(typed(text, report, ROLLOUT_SERVER_FIELDS)?)),
    })
}

/// The manifest of a file, read by the fast path when it is clean and carefully (reporting
/// every problem) when not.
fn parse_manifest(
    file: &str,
    text: &str,
    expected: Kind,
    archived: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    if let Some(manifest) = clean_manifest(file, text, expected, archived, diagnostics) {
        return Some(manifest);
    }
    // Read again, reporting every problem with its span.
    let mut fd = FileDiagnostics::new(file, text);
    let result = (|| {
        let tree = document(text, &mut fd)?;
        let kind = match tree.top_scalar("type") {
            None => {
                fd.push(
                    Severity::Error,
                    Code::MissingType,
                    tree.root()
                        .map(|r| r.span.start..r.span.start)
                        .unwrap_or(0..0),
                    "manifest has no `type`",
                    Some(format!(
                        "add `type: {}` as the first line",
                        expected.as_str()
                    )),
                );
                return None;
            }
            Some((t, span)) => match t.parse::<Kind>() {
                Ok(k) => k,
                Err(_) => {
                    let hint = did_you_mean(t, Kind::ALL.iter().map(|k| k.as_str()));
                    fd.push(
                        Severity::Error,
                        Code::UnknownType,
                        span,
                        format!("unknown manifest type `{t}`"),
                        Some(match hint {
                            Some(h) => format!("did you mean `{h}`?"),
                            None => format!("expected {}", Kind::expected()),
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
                Code::MisplacedManifest,
                span,
                format!(
                    "a {} manifest in a directory of {} manifests",
                    kind.as_str(),
                    expected.as_str()
                ),
                Some(format!(
                    "move it to the directory of {kind} manifests ({})",
                    kind.directory()
                )),
            );
            return None;
        }
        if tree.duplicates {
            return None;
        }
        let manifest = typed_manifest(kind, text, Some(&mut fd))?;
        push_findings(&mut fd, &tree, checks(&manifest, archived).0);
        Some(manifest)
    })();
    diagnostics.extend(fd.out);
    result
}

/// The fast path for the common case of a clean file: guess the kind, read it, check it; the
/// span tree is only built when something is wrong (by the rest of [`parse_manifest`]).
/// Warnings about a top-level key (an experiment's `name`, which most real files carry) are
/// positioned by a line scan when the key is plainly written, so they keep the fast path.
fn clean_manifest(
    file: &str,
    text: &str,
    expected: Kind,
    archived: bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    if yaml::guess_type(text)? != expected.as_str() {
        return None;
    }
    let manifest = typed_manifest(expected, text, None)?;
    let findings = checks(&manifest, archived).0;
    let mut placed = Vec::with_capacity(findings.len());
    for f in findings {
        let key = match f.path.as_slice() {
            [PathSeg::Key(key)] if f.at_key && f.severity == Severity::Warning => key,
            _ => return None,
        };
        placed.push((yaml::top_level_key_span(text, key)?, f));
    }
    if !placed.is_empty() {
        let mut fd = FileDiagnostics::new(file, text);
        for (span, f) in placed {
            fd.push(f.severity, f.code, span, f.message, f.help);
        }
        diagnostics.extend(fd.out);
    }
    Some(manifest)
}

/// The checks of one manifest; an experiment's also against the folder it is in.
fn checks(manifest: &Manifest, archived: bool) -> rules::Findings {
    match manifest {
        Manifest::Experiment(e) => rules::experiment_file(e, archived),
        other => rules::manifest(other),
    }
}

fn push_findings(fd: &mut FileDiagnostics<'_>, tree: &SpanTree, findings: Vec<Finding>) {
    for f in findings {
        let span = tree.span_of(&f.path, f.at_key);
        fd.push(f.severity, f.code, span, f.message, f.help);
    }
}

pub(super) fn parse_typed<T: DeserializeOwned>(
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
