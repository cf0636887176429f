//! Manifest files: listing them, reading them in parallel, parsing and checking each one.

use flagsync_source::{SourceError, Tree};
use serde::de::DeserializeOwned;

use crate::code::Code;
use crate::diagnostic::{Diagnostic, FileDiagnostics, Severity, did_you_mean, whole_file};
use crate::kind::{Kind, TagField};
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
    /// The folders of a CasC tree ([`crate::Casc`]).
    Properties,
    CascTargetGroups,
    Flags,
    /// Index into [`crate::Casc::environments`]; `None` for a folder that is no configured
    /// environment (its files are read for their own problems, then left out).
    Configurations(Option<usize>),
}

impl Slot {
    /// The kind of manifest that goes there.
    fn kind(self) -> Kind {
        match self {
            Slot::Environment(_) => Kind::Experiment,
            Slot::TargetGroups => Kind::TargetGroup,
            Slot::Rollouts => Kind::Rollout,
            Slot::Properties => Kind::CustomProperty,
            Slot::CascTargetGroups => Kind::UnifyTargetGroup,
            Slot::Flags => Kind::Flag,
            Slot::Configurations(_) => Kind::FlagConfiguration,
        }
    }
}

/// One file to read.
pub(super) struct Task<'t> {
    pub(super) tree: &'t dyn Tree,
    pub(super) path: String,
    /// The name diagnostics use.
    pub(super) file: String,
    pub(super) slot: Slot,
    /// An experiment under the `archived/` folder of its environment's directory: the
    /// format's mark of an archived flag.
    pub(super) archived: bool,
}

/// Whether `path` names a manifest file.
pub(super) fn is_manifest_file(path: &str) -> bool {
    path.ends_with(".yml") || path.ends_with(".yaml")
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
    let named = |path: &str| match branch {
        Some(b) => format!("{b}:{path}"),
        None => path.to_owned(),
    };
    match tree.list(dir) {
        Ok(listing) => {
            report_refused(listing.refused, branch, diags);
            for f in listing.files {
                if !is_manifest_file(&f.path) {
                    continue;
                }
                let file = named(&f.path);
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

/// Entries a listing refused: never read, so never shown, only the path and why.
pub(super) fn report_refused(
    refused: Vec<flagsync_source::Refused>,
    branch: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) {
    for r in refused {
        let severity = if r.directory || is_manifest_file(&r.path) {
            Severity::Error
        } else {
            Severity::Warning
        };
        let file = match branch {
            Some(b) => format!("{b}:{}", r.path),
            None => r.path,
        };
        diags.push(whole_file(
            severity,
            Code::RefusedPath,
            &file,
            format!("not read: {}", r.reason),
            Some(REFUSED_HELP.into()),
        ));
    }
}

/// Why a file was not read, and what to do about it.
const REFUSED_HELP: &str = "flagsync reads only regular files inside the repository (links \
     are followed only when they stay inside it, and never in a git revision); put the file \
     itself there";

pub(super) fn read_error(file: &str, e: SourceError) -> Diagnostic {
    match e {
        SourceError::Refused { reason, .. } => whole_file(
            Severity::Error,
            Code::RefusedPath,
            file,
            format!("not read: {reason}"),
            Some(REFUSED_HELP.into()),
        ),
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
    let mut manifest = parse_manifest(task, &text, &mut diagnostics);
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
    "creator",
    "updater",
    "possibleTransitions",
    "lockedDataKeys",
    "stateHistory",
    "transitionStatus",
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
        Kind::CustomProperty => Manifest::CustomProperty(typed(text, report, &[])?),
        Kind::UnifyTargetGroup => Manifest::UnifyTargetGroup(typed(text, report, &[])?),
        Kind::Flag => Manifest::Flag(typed(text, report, &[])?),
        Kind::FlagConfiguration => Manifest::FlagConfiguration(typed(text, report, &[])?),
    })
}

/// The manifest of a file, read by the fast path when it is clean and carefully (reporting
/// every problem) when not.
fn parse_manifest(
    task: &Task<'_>,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    if let Some(manifest) = clean_manifest(task, text, diagnostics) {
        return Some(manifest);
    }
    let (file, expected, archived) = (task.file.as_str(), task.slot.kind(), task.archived);
    // Read again, reporting every problem with its span.
    let mut fd = FileDiagnostics::new(file, text);
    let result = (|| {
        let tree = document(text, &mut fd)?;
        let kind = manifest_kind(&tree, expected, &mut fd)?;
        if kind != expected {
            let field = expected.tag_field().as_str();
            let span = tree.top_scalar(field).map(|(_, s)| s).unwrap_or(0..0);
            fd.push(
                Severity::Error,
                Code::MisplacedManifest,
                span,
                format!(
                    "a {} manifest in a directory of {} manifests",
                    kind.tag(),
                    expected.tag()
                ),
                Some(format!(
                    "move it to the directory of {} manifests ({})",
                    kind.tag(),
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

/// The kind `tree` names in the field manifests of `expected`'s directory use (`type` or
/// `kind`), or `None` after reporting why there is none.
fn manifest_kind(tree: &SpanTree, expected: Kind, fd: &mut FileDiagnostics<'_>) -> Option<Kind> {
    let field = expected.tag_field();
    let (missing, unknown) = match field {
        TagField::Type => (Code::MissingType, Code::UnknownType),
        TagField::Kind => (Code::MissingKind, Code::UnknownKind),
    };
    let name = field.as_str();
    match tree.top_scalar(name) {
        None => {
            let start = tree.root().map(|r| r.span.start..r.span.start);
            // A legacy manifest (`type:`) among CasC files, or the other way round.
            let other = match field {
                TagField::Type => TagField::Kind,
                TagField::Kind => TagField::Type,
            };
            let help = match tree.top_scalar(other.as_str()) {
                Some(_) if field == TagField::Kind => format!(
                    "this looks like a legacy CloudBees manifest (`type:`); `flagsync convert --to unify` writes the CasC form, which starts with `kind: {}`",
                    expected.tag()
                ),
                Some(_) => format!(
                    "this looks like a CloudBees Unify CasC manifest (`kind:`); legacy manifests start with `type: {}`",
                    expected.tag()
                ),
                None => format!("add `{name}: {}` as the first line", expected.tag()),
            };
            fd.push(
                Severity::Error,
                missing,
                start.unwrap_or(0..0),
                format!("manifest has no `{name}`"),
                Some(help),
            );
            None
        }
        Some((t, span)) => match Kind::from_tag(field, t) {
            Some(k) => Some(k),
            None => {
                let hint = did_you_mean(t, Kind::tags(field));
                fd.push(
                    Severity::Error,
                    unknown,
                    span,
                    format!("unknown manifest {name} `{t}`"),
                    Some(match hint {
                        Some(h) => format!("did you mean `{h}`?"),
                        None => format!("expected {}", Kind::expected_tags(field)),
                    }),
                );
                None
            }
        },
    }
}

/// The fast path for the common case of a clean file: guess the kind, read it, check it; the
/// span tree is only built when something is wrong (by the rest of [`parse_manifest`]).
/// Warnings about a top-level key (an experiment's `name`, which most real files carry) are
/// positioned by a line scan when the key is plainly written, so they keep the fast path.
fn clean_manifest(
    task: &Task<'_>,
    text: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    let (file, expected, archived) = (task.file.as_str(), task.slot.kind(), task.archived);
    if yaml::guess_tag(text, expected.tag_field().as_str())? != expected.tag() {
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
        if let Some(pushed) = fd.out.last_mut() {
            pushed.secret = f.secret;
        }
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
