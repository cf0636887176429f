//! Checks of one manifest on its own (values, operands, forms). Checks across files
//! (references, cycles, duplicates) are in `crossref`. Each finding names a path into the
//! document; the loader maps it to the span of that node.

mod unify;

pub use self::unify::{is_rfc3339, split_adds_up};

use crate::code::Code;
use crate::defaults::{self, Side};
use crate::diagnostic::{Severity, did_you_mean};
use crate::model::*;

#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    pub(crate) code: Code,
    pub(crate) path: Vec<PathSeg>,
    /// Point at the key of the last path step rather than at its value.
    pub(crate) at_key: bool,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
    /// The value may be a secret: the diagnostic shows no snippet.
    pub(crate) secret: bool,
}

#[derive(Default)]
pub(crate) struct Findings(pub(crate) Vec<Finding>);

impl Findings {
    fn error(
        &mut self,
        code: Code,
        path: Vec<PathSeg>,
        message: impl Into<String>,
    ) -> &mut Finding {
        self.push(Severity::Error, code, path, message)
    }
    fn warn(&mut self, code: Code, path: Vec<PathSeg>, message: impl Into<String>) -> &mut Finding {
        self.push(Severity::Warning, code, path, message)
    }
    fn push(
        &mut self,
        severity: Severity,
        code: Code,
        path: Vec<PathSeg>,
        message: impl Into<String>,
    ) -> &mut Finding {
        self.0.push(Finding {
            severity,
            code,
            path,
            at_key: false,
            message: message.into(),
            help: None,
            secret: false,
        });
        let last = self.0.len() - 1;
        &mut self.0[last]
    }
}

impl Finding {
    fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
    fn at_key(&mut self) -> &mut Self {
        self.at_key = true;
        self
    }
    fn secret(&mut self) -> &mut Self {
        self.secret = true;
        self
    }
}

fn with(path: &[PathSeg], more: impl IntoIterator<Item = PathSeg>) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.extend(more);
    p
}

fn k(name: &'static str) -> PathSeg {
    PathSeg::key(name)
}

/// `1` to `3` numeric components, then an optional `-pre.release` and `+build`: a semantic
/// version, as Confidence's `versionValue` takes it (`2`, `1.1`, `4.6.2`).
pub fn is_valid_semver(s: &str) -> bool {
    is_version(s, Some(3))
}

/// A version CloudBees' SDKs compare: any number of dot-separated numeric parts, compared
/// part by part (`26.1.18.8`; the PHP SDK uses `version_compare`, the Go SDK
/// `hashicorp/go-version`), with an optional `-pre.release` and `+build`. What one of them
/// cannot compare as numbers (`1.x`, `1,2,0`, `v2`) is refused.
pub fn is_comparable_version(s: &str) -> bool {
    is_version(s, None)
}

fn is_version(s: &str, max_parts: Option<usize>) -> bool {
    let core_end = s.find(['-', '+']).unwrap_or(s.len());
    let (core, rest) = s.split_at(core_end);
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || max_parts.is_some_and(|max| parts.len() > max)
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    let ident_ok = |x: &str| {
        !x.is_empty()
            && x.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    match rest.strip_prefix('-') {
        Some(pre) => match pre.split_once('+') {
            Some((pre, build)) => ident_ok(pre) && ident_ok(build),
            None => ident_ok(pre),
        },
        None => match rest.strip_prefix('+') {
            Some(build) => ident_ok(build),
            None => rest.is_empty(),
        },
    }
}

const VERSION_HELP: &str =
    "write numbers separated by dots, optionally with a pre-release: 2, 1.1, 4.6.2-beta, 26.1.18.8";

/// A light ISO-8601 instant check: a calendar date, then optionally `T`/space and a time.
fn is_iso_instant(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    if !(digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10))
    {
        return false;
    }
    match b.get(10) {
        None => true,
        Some(b'T' | b't' | b' ') => digits(11..13) && b.get(13) == Some(&b':') && digits(14..16),
        Some(_) => false,
    }
}

/// The checks of a manifest of any kind.
pub(crate) fn manifest(m: &Manifest) -> Findings {
    match m {
        Manifest::TargetGroup(t) => target_group(t),
        Manifest::Experiment(e) => experiment(e),
        Manifest::Rollout(r) => rollout(r),
        Manifest::CustomProperty(p) => unify::property(p),
        Manifest::UnifyTargetGroup(t) => unify::target_group(t),
        Manifest::Flag(f) => unify::flag(f),
        Manifest::FlagConfiguration(c) => unify::configuration(c),
    }
}

/// The checks of an experiment read from a file `in_archived_folder` or not: the folder
/// decides whether the flag is archived, and an `archived:` that says otherwise is an error.
pub(crate) fn experiment_file(e: &Experiment, in_archived_folder: bool) -> Findings {
    let mut f = experiment(e);
    match (e.archived, in_archived_folder) {
        (Some(false), true) => {
            f.error(
                Code::ArchivedConflict,
                vec![k("archived")],
                "`archived: false` in the archived folder: files under `archived/` are archived flags",
            )
            .help("remove the line, or move the file out of `archived/` to un-archive the flag");
        }
        (Some(true), false) => {
            f.error(
                Code::ArchivedConflict,
                vec![k("archived")],
                "`archived: true` outside the archived folder: the folder decides, and this file is not in `archived/`",
            )
            .help("move the file into the `archived/` folder of its environment and remove the line");
        }
        _ => {}
    }
    f
}

/// Whether an experiment's `name` is the flag's name written as a label, as CloudBees' git
/// integration writes it: `Ignore Api Updates` for `IgnoreApiUpdates`, `following view` for
/// `default.followingView` (letters and digits alike, case aside; the namespace may be
/// left out). 3,051 of the 3,105 names in the corpus's whole history are.
fn spells_flag(name: &str, flag: &str) -> bool {
    let letters = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let name = letters(name);
    let without_namespace = flag.rsplit('.').next().unwrap_or(flag);
    !name.is_empty() && (name == letters(flag) || name == letters(without_namespace))
}

pub(crate) fn experiment(e: &Experiment) -> Findings {
    let mut f = Findings::default();
    if e.flag.trim().is_empty() {
        f.error(Code::InvalidValue, vec![k("flag")], "`flag` is empty");
    }
    unaddressable(&mut f, vec![k("flag")], &e.flag, "flag");
    if e.name
        .as_deref()
        .is_some_and(|name| !spells_flag(name, &e.flag))
    {
        // Seed 003: creating an experiment "creates a corresponding Flag, ignoring
        // Experiment name"; reading and patching ignore it too. A name that only spells the
        // flag is what CloudBees' git integration writes itself, so it goes unremarked.
        f.warn(
            Code::IgnoredName,
            vec![k("name")],
            "`name` is ignored by the service (it has only flags since experiments were deprecated): flagsync does not send, compare or export it",
        )
        .help("remove the line; the flag's name is `flag`")
        .at_key();
    }
    let allowed: Vec<Scalar> = e
        .available_values
        .clone()
        .unwrap_or_else(|| defaults::experiment::available_values(Side::Manifest));
    let ctx = ValueCtx {
        boolean: e.is_boolean(),
        allowed: &allowed,
        flag: &e.flag,
    };
    if let Some(v) = &e.value {
        check_value(&mut f, &[k("value")], v, &ctx);
    }
    for (path, c) in e.all_conditions() {
        check_condition(&mut f, &path, c, &ctx);
    }
    let mut seen = std::collections::HashSet::new();
    for (i, p) in e.platforms.iter().enumerate() {
        let path = vec![k("platforms"), PathSeg::Index(i)];
        if p.name.trim().is_empty() {
            f.error(
                Code::InvalidValue,
                with(&path, [k("name")]),
                "platform `name` is empty",
            );
        } else if !seen.insert(p.name.as_str()) {
            f.error(
                Code::DuplicateIdentity,
                with(&path, [k("name")]),
                format!(
                    "platform `{}` is configured twice in this experiment",
                    p.name
                ),
            );
        }
        if let Some(v) = &p.value {
            check_value(&mut f, &with(&path, [k("value")]), v, &ctx);
        }
    }
    f
}

struct ValueCtx<'a> {
    boolean: bool,
    allowed: &'a [Scalar],
    flag: &'a str,
}

fn check_available(f: &mut Findings, path: Vec<PathSeg>, v: &Scalar, ctx: &ValueCtx<'_>) {
    if !ctx.allowed.iter().any(|a| a.same_value(v)) {
        let list: Vec<String> = ctx.allowed.iter().map(Scalar::as_display).collect();
        f.warn(
            Code::ValueNotAvailable,
            path,
            format!(
                "`{}` is not one of the available values of `{}`",
                v.as_display(),
                ctx.flag
            ),
        )
        .help(format!("availableValues: [{}]", list.join(", ")));
    }
}

fn check_percentage(f: &mut Findings, path: Vec<PathSeg>, p: Option<Number>) {
    let Some(p) = p else {
        return;
    };
    let x = p.as_f64();
    if !(0.0..=100.0).contains(&x) {
        f.error(
            Code::PercentageRange,
            path,
            format!("percentage {p} is outside 0..100"),
        );
    }
}

/// A step without `option` gives `true` (the defaults table), which only a boolean flag
/// can serve.
fn check_step_option(
    f: &mut Findings,
    path: &[PathSeg],
    i: usize,
    option: Option<&Scalar>,
    ctx: &ValueCtx<'_>,
) {
    match option {
        Some(option) => {
            check_available(f, with(path, [PathSeg::Index(i), k("option")]), option, ctx)
        }
        None if ctx.boolean => {}
        None => {
            f.error(
                Code::MissingField,
                with(path, [PathSeg::Index(i)]),
                format!(
                    "this step has no `option`; a step without one gives `true`, and `{}` is not a boolean flag",
                    ctx.flag
                ),
            )
            .help("write the value this share of users gets: `option: ...`");
        }
    }
}

fn check_value(f: &mut Findings, path: &[PathSeg], v: &Value, ctx: &ValueCtx<'_>) {
    match v {
        Value::Scalar(s) => check_available(f, path.to_vec(), s, ctx),
        Value::CodeDefault => {}
        Value::Split(steps) => {
            let mut sum = 0.0;
            for (i, s) in steps.iter().enumerate() {
                check_percentage(
                    f,
                    with(path, [PathSeg::Index(i), k("percentage")]),
                    s.percentage,
                );
                check_step_option(f, path, i, s.option.as_ref(), ctx);
                sum += s.percentage().as_f64();
            }
            if sum > 100.0 + 1e-9 {
                f.error(
                    Code::PercentageRange,
                    path.to_vec(),
                    format!("split percentages add up to {sum}, more than 100"),
                );
            } else if sum < 100.0 - 1e-9 && !ctx.boolean {
                // For a boolean flag the rest goes to the opposite value; for other flags
                // what the rest gets is not documented.
                f.warn(
                    Code::SplitUnder100,
                    path.to_vec(),
                    format!("split percentages add up to {sum}, less than 100"),
                )
                .help("the remaining users get an unspecified value; make the split add up to 100");
            }
        }
        Value::Schedule(steps) => {
            if !ctx.boolean {
                f.error(
                    Code::ScheduleNonBoolean,
                    path.to_vec(),
                    format!(
                        "`{}` is not a boolean flag, and schedules only apply to boolean flags",
                        ctx.flag
                    ),
                )
                .help("use a split, or make the flag boolean (no availableValues)");
            }
            for (i, s) in steps.iter().enumerate() {
                check_percentage(
                    f,
                    with(path, [PathSeg::Index(i), k("percentage")]),
                    s.percentage,
                );
                if !is_iso_instant(&s.from) {
                    f.error(
                        Code::InvalidTimestamp,
                        with(path, [PathSeg::Index(i), k("from")]),
                        format!("`{}` is not an ISO-8601 instant", s.from),
                    )
                    .help("write it like 2024-03-01T09:00:00.000Z");
                }
                if ctx.boolean {
                    check_step_option(f, path, i, s.option.as_ref(), ctx);
                }
            }
        }
    }
}

fn check_condition(f: &mut Findings, path: &[PathSeg], c: &Condition, ctx: &ValueCtx<'_>) {
    if c.group.is_none()
        && c.dependency.is_none()
        && c.version.is_none()
        && c.property.is_none()
        && c.value.is_none()
    {
        // The service itself writes `- {}`. No test matches everyone, and no value is the
        // code default (the defaults table), so it is loaded with that meaning, and said.
        f.warn(
            Code::EmptyCondition,
            path.to_vec(),
            "condition has neither a test nor a value: it matches every user and serves the value written in code, so no condition after it applies",
        )
        .help("remove it, or give it a test and a `value`");
    }
    if let Some(g) = &c.group
        && (g.name.is_empty() || g.name.iter().any(|n| n.trim().is_empty()))
    {
        f.error(
            Code::InvalidValue,
            with(path, [k("group"), k("name")]),
            "empty target group name",
        );
    }
    if let Some(d) = &c.dependency
        && d.flag.trim().is_empty()
    {
        f.error(
            Code::InvalidValue,
            with(path, [k("dependency"), k("flag")]),
            "empty dependency flag",
        );
    }
    if let Some(v) = &c.version
        && let Some(s) = &v.semver
        && !is_comparable_version(s)
    {
        f.error(
            Code::InvalidSemver,
            with(path, [k("version"), k("semver")]),
            format!("`{s}` is not a version the SDKs can compare"),
        )
        .help(VERSION_HELP);
    }
    if let Some(p) = &c.property {
        let pp = with(path, [k("property")]);
        let classic = p.name.is_some() || p.operator.is_some() || p.operand.is_some();
        match (&p.property_conditions, classic) {
            (Some(_), true) => {
                f.error(
                    Code::InvalidCondition,
                    pp.clone(),
                    "property condition mixes `name`/`operator` with `propertyConditions`",
                )
                .help("use one form");
            }
            (Some(rules), false) => {
                if rules.is_empty() {
                    f.error(
                        Code::InvalidCondition,
                        with(&pp, [k("propertyConditions")]),
                        "`propertyConditions` is empty",
                    );
                }
                for (i, r) in rules.iter().enumerate() {
                    let rp = with(&pp, [k("propertyConditions"), PathSeg::Index(i)]);
                    if r.property.trim().is_empty() {
                        f.error(
                            Code::InvalidValue,
                            with(&rp, [k("property")]),
                            "empty property name",
                        );
                    }
                    check_operand(f, &rp, r.operator, r.operand.as_ref());
                }
            }
            (None, _) => {
                if p.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
                    f.error(
                        Code::MissingField,
                        pp.clone(),
                        "property condition has no `name`",
                    );
                }
                match p.operator {
                    None => {
                        f.error(
                            Code::MissingField,
                            pp.clone(),
                            "property condition has no `operator`",
                        );
                    }
                    Some(op) => check_operand(f, &pp, op, p.operand.as_ref()),
                }
            }
        }
    }
    if let Some(v) = &c.value {
        check_value(f, &with(path, [k("value")]), v, ctx);
    }
}

/// Checks that `operand` has the shape `op` takes. `path` is the object holding both.
fn check_operand(
    f: &mut Findings,
    path: &[PathSeg],
    op: PropertyOperator,
    operand: Option<&Operand>,
) {
    let at = with(path, [k("operand")]);
    let name = op.as_str();
    let wrong = |f: &mut Findings, what: &str| {
        f.error(
            Code::InvalidOperand,
            at.clone(),
            format!("`{name}` takes {what}"),
        );
    };
    let Some(operand) = operand else {
        if op.operand_kind() != OperandKind::None {
            f.error(
                Code::MissingOperand,
                path.to_vec(),
                format!("`{name}` needs an operand"),
            );
        }
        return;
    };
    match (op.operand_kind(), operand) {
        (OperandKind::None, _) => {
            f.warn(
                Code::UnusedOperand,
                at.clone(),
                format!("`{name}` takes no operand; it is ignored"),
            );
        }
        (
            OperandKind::StringOrNumber,
            Operand::Scalar(Scalar::String(_) | Scalar::Int(_) | Scalar::Float(_)),
        ) => {}
        (OperandKind::StringOrNumber, _) => wrong(f, "a string or a number"),
        (OperandKind::Number, Operand::Scalar(Scalar::Int(_) | Scalar::Float(_))) => {}
        (OperandKind::Number, Operand::Scalar(Scalar::String(s)))
            if s.trim().parse::<f64>().is_ok() => {}
        (OperandKind::Number, _) => wrong(f, "a number"),
        (OperandKind::Pattern, Operand::Scalar(Scalar::String(p))) => {
            if let Err(e) = regex_syntax::Parser::new().parse(p) {
                let reason = e.to_string();
                let reason = reason.lines().last().unwrap_or_default().trim().to_owned();
                f.warn(
                    Code::InvalidRegex,
                    at.clone(),
                    format!("`{p}` may not be a valid regular expression: {reason}"),
                )
                .help("checked with Rust's regex syntax; the service's engine may differ");
            }
        }
        (OperandKind::Pattern, _) => wrong(f, "a pattern string"),
        (OperandKind::List, Operand::List(items)) => {
            if items.iter().any(|s| matches!(s, Scalar::Bool(_))) {
                wrong(f, "a list of strings or numbers");
            }
        }
        (OperandKind::List, Operand::Scalar(_)) => {
            f.error(
                Code::InvalidOperand,
                at.clone(),
                format!("`{name}` takes a list"),
            )
            .help("write the operand as a list, e.g. [a, b]");
        }
        (
            OperandKind::Version,
            Operand::Scalar(s @ (Scalar::String(_) | Scalar::Int(_) | Scalar::Float(_))),
        ) => {
            let text = s.as_display();
            if !is_comparable_version(&text) {
                f.error(
                    Code::InvalidSemver,
                    at.clone(),
                    format!("`{text}` is not a version the SDKs can compare"),
                )
                .help(VERSION_HELP);
            }
        }
        (OperandKind::Version, _) => wrong(f, "a version string"),
    }
}

pub(crate) fn target_group(t: &TargetGroup) -> Findings {
    let mut f = Findings::default();
    if t.name.trim().is_empty() {
        f.error(Code::InvalidValue, vec![k("name")], "`name` is empty");
    }
    unaddressable(&mut f, vec![k("name")], &t.name, "target group");
    if t.value.is_some() {
        f.warn(
            Code::UnusedField,
            vec![k("value")],
            "`value` has no meaning for a target group and is not sent",
        )
        .at_key();
    }
    for (i, c) in t.conditions.iter().enumerate() {
        let path = vec![k("conditions"), PathSeg::Index(i)];
        let prop = c.property.is_some() || c.operator.is_some() || c.operand.is_some();
        match (&c.group, prop) {
            (Some(_), true) => {
                f.error(
                    Code::InvalidCondition,
                    path,
                    "condition mixes a property test with `group`",
                )
                .help("write `{property, operator, operand}` or `{group: {name: [...]}}`");
            }
            (Some(g), false) => {
                if g.name.is_empty() || g.name.iter().any(|n| n.trim().is_empty()) {
                    f.error(
                        Code::InvalidValue,
                        with(&path, [k("group"), k("name")]),
                        "empty target group name",
                    );
                }
            }
            (None, _) => {
                if c.property.as_deref().is_none_or(|p| p.trim().is_empty()) {
                    f.error(
                        Code::MissingField,
                        path.clone(),
                        "condition has no `property`",
                    );
                }
                match c.operator {
                    None => {
                        f.error(
                            Code::MissingField,
                            path.clone(),
                            "condition has no `operator`",
                        );
                    }
                    Some(op) => check_operand(&mut f, &path, op, c.operand.as_ref()),
                }
            }
        }
    }
    f
}

/// Whether `id` is a valid rollout id: lowercase letters, digits and `-`, starting with a
/// letter or digit, at most 63 characters (a valid label value).
pub fn is_valid_rollout_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

pub(crate) fn rollout(r: &Rollout) -> Findings {
    let mut f = Findings::default();
    if r.id.is_empty() {
        f.error(Code::MissingField, vec![], "rollout has no `id`")
            .help("add a stable `id:` (lowercase letters, digits, -); it finds the live rollout again");
    } else if !is_valid_rollout_id(&r.id) {
        f.error(
            Code::InvalidId,
            vec![k("id")],
            format!("`{}` is not a valid rollout id", r.id),
        )
        .help("use lowercase letters, digits and `-` (at most 63), e.g. new-search");
    }
    if r.state == Some(RolloutState::Ended) {
        f.error(
            Code::InvalidValue,
            vec![k("state")],
            "`ended` cannot be desired",
        )
        .help("a manifest's state is `draft` or `live`; remove the file to stop managing it");
    }
    for field in r.server_managed_fields() {
        f.error(
            Code::ServerManagedField,
            vec![PathSeg::key(field)],
            format!("`{field}` is set by the server and cannot be written in a manifest"),
        )
        .at_key();
    }
    for key in r.labels.keys() {
        if key == ROLLOUT_ID_LABEL || key == MANAGED_BY_LABEL || key == DUPLICATE_OF_LABEL {
            f.error(
                Code::ReservedLabel,
                vec![k("labels"), PathSeg::owned(key)],
                format!("label `{key}` is set by flagsync"),
            )
            .at_key();
        }
    }
    if !r.rollout.flag.starts_with("flags/") {
        f.warn(
            Code::InvalidValue,
            vec![k("rollout"), k("flag")],
            format!("`{}` does not look like flags/<name>", r.rollout.flag),
        );
    }
    if let Some(v) = &r.rollout.variant
        && !v.starts_with(&format!("{}/variants/", r.rollout.flag))
    {
        f.error(
            Code::InvalidValue,
            vec![k("rollout"), k("variant")],
            format!("variant `{v}` is not a variant of `{}`", r.rollout.flag),
        )
        .help(format!("write {}/variants/<name>", r.rollout.flag));
    }
    if let Some(reach) = &r.rollout.reach {
        let path = vec![k("rollout"), k("reach")];
        match reach.trim().parse::<f64>() {
            Ok(x) if (0.0..=1.0).contains(&x) => {}
            Ok(x) if x.is_finite() => {
                f.error(
                    Code::ReachRange,
                    path,
                    format!("reach {reach} is outside 0..1"),
                )
                .help(if x > 1.0 && x <= 100.0 {
                    format!("reach is a fraction: {x}% is \"{}\"", x / 100.0)
                } else {
                    "reach is a fraction between \"0\" and \"1\"".to_owned()
                });
            }
            _ => {
                f.error(
                    Code::InvalidReach,
                    path,
                    format!("reach `{reach}` is not a decimal fraction"),
                )
                .help("write it like \"0.25\"");
            }
        }
    }
    if let Some(instance) = &r.instance
        && !is_instance_name(instance)
    {
        f.error(
            Code::InvalidValue,
            vec![k("instance")],
            format!("`{instance}` does not name a rollout instance"),
        )
        .help("write workflows/rollout/instances/<id>, as `flagsync export` does");
    }
    if let Some(seg) = &r.segment {
        if let Some(allocation) = &seg.allocation
            && let Some(p) = &allocation.proportion
            && !p
                .value
                .trim()
                .parse::<f64>()
                .is_ok_and(|x| (0.0..=1.0).contains(&x))
        {
            f.error(
                Code::InvalidValue,
                vec![k("segment"), k("allocation"), k("proportion"), k("value")],
                format!("proportion `{}` is not a decimal between 0 and 1", p.value),
            )
            .help("write it like \"0.5\"");
        }
        if seg.name.is_some() {
            f.error(
                Code::ServerManagedField,
                vec![k("segment"), k("name")],
                "`segment.name` is set by the server and cannot be written in a manifest",
            )
            .at_key();
        }
        if let Some(t) = &seg.targeting {
            targeting(&mut f, &[k("segment"), k("targeting")], t);
        }
    }
    if let Some(m) = &r.metrics {
        for (i, spec) in m.metrics.iter().enumerate() {
            let path = vec![
                k("metrics"),
                k("metrics"),
                PathSeg::Index(i),
                k("metricRole"),
            ];
            for (name, v) in [
                (
                    "minimumDetectableEffect",
                    spec.metric_role.minimum_detectable_effect,
                ),
                (
                    "nonInferiorityMargin",
                    spec.metric_role.non_inferiority_margin,
                ),
            ] {
                if let Some(v) = v
                    && !(v.is_finite() && v >= 0.0)
                {
                    f.error(
                        Code::InvalidValue,
                        with(&path, [PathSeg::key(name)]),
                        format!("`{name}` must be a non-negative number"),
                    );
                }
            }
        }
    }
    f
}

/// `instance`: `workflows/rollout/instances/<id>` (or the bare id).
fn is_instance_name(name: &str) -> bool {
    let id = name
        .strip_prefix(flagsync_live::ROLLOUT_NAME_PREFIX)
        .unwrap_or(name);
    !id.is_empty() && !id.contains('/') && !id.chars().any(char::is_whitespace)
}

/// A version the resolver compares: 2 to 4 numbers, with a `-pre` suffix it strips.
fn is_resolver_version(s: &str) -> bool {
    let core = s.split_once('-').map_or(s, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A value with exactly one kind; `may_be_empty` for `eqRule`, whose empty value tests for
/// an absent attribute.
fn typed_value(f: &mut Findings, path: Vec<PathSeg>, v: &TypedValue, may_be_empty: bool) {
    typed_value_at(f, path, v, may_be_empty, 0);
}

fn typed_value_at(
    f: &mut Findings,
    path: Vec<PathSeg>,
    v: &TypedValue,
    may_be_empty: bool,
    depth: usize,
) {
    let count = v.set_count();
    if count > 1 || (count == 0 && !may_be_empty) {
        f.error(
            Code::InvalidValue,
            path.clone(),
            "a value has exactly one of stringValue, numberValue, boolValue, timestampValue, versionValue, listValue",
        );
    }
    if let Some(ver) = &v.version_value
        && !is_resolver_version(&ver.version)
    {
        f.error(
            Code::InvalidValue,
            with(&path, [k("versionValue"), k("version")]),
            format!("`{}` is not a version", ver.version),
        )
        .help("2 to 4 numbers, like 2.0 or 1.4.2, with an optional -suffix");
    }
    if let Some(list) = &v.list_value {
        // The YAML reader bounds nesting already; this keeps the walk bounded regardless.
        if depth < 32 {
            for (i, item) in list.values.iter().enumerate() {
                typed_value_at(
                    f,
                    with(&path, [k("listValue"), k("values"), PathSeg::Index(i)]),
                    item,
                    false,
                    depth + 1,
                );
            }
        }
    }
    if let Some(ts) = &v.timestamp_value
        && !is_iso_instant(ts)
    {
        f.error(
            Code::InvalidTimestamp,
            with(&path, [k("timestampValue")]),
            format!("`{ts}` is not an RFC 3339 timestamp"),
        );
    }
}

fn rule_values(f: &mut Findings, path: &[PathSeg], rule: &Rule) {
    if let Some(r) = &rule.eq_rule {
        typed_value(f, with(path, [k("eqRule"), k("value")]), &r.value, true);
    }
    for (name, r) in [
        ("startsWithRule", &rule.starts_with_rule),
        ("endsWithRule", &rule.ends_with_rule),
        ("containsRule", &rule.contains_rule),
    ] {
        if let Some(StringRule {
            value: StringRuleValue::Typed(typed),
        }) = r
        {
            let fix = match &typed.string_value {
                Some(text) => format!(
                    "write the text itself: `{name}: {{value: {}}}`",
                    crate::write::yaml::scalar_string(text)
                ),
                None => format!("write the text itself: `{name}: {{value: <text>}}`"),
            };
            f.error(
                Code::StringRuleValue,
                with(path, [PathSeg::key(name), k("value")]),
                format!("`{name}` takes a plain string, not a typed value"),
            )
            .help(fix);
        }
    }
    if let Some(s) = &rule.set_rule {
        for (i, v) in s.values.iter().enumerate() {
            typed_value(
                f,
                with(path, [k("setRule"), k("values"), PathSeg::Index(i)]),
                v,
                false,
            );
        }
    }
    if let Some(r) = &rule.range_rule {
        let bounds = [
            ("startInclusive", &r.start_inclusive),
            ("startExclusive", &r.start_exclusive),
            ("endInclusive", &r.end_inclusive),
            ("endExclusive", &r.end_exclusive),
        ];
        if (r.start_inclusive.is_some() && r.start_exclusive.is_some())
            || (r.end_inclusive.is_some() && r.end_exclusive.is_some())
            || bounds.iter().all(|(_, b)| b.is_none())
        {
            f.error(
                Code::InvalidCriterion,
                with(path, [k("rangeRule")]),
                "a range has at most one start bound and one end bound, and at least one bound",
            );
        }
        for (name, b) in bounds {
            if let Some(b) = b {
                typed_value(
                    f,
                    with(path, [k("rangeRule"), PathSeg::key(name)]),
                    b,
                    false,
                );
            }
        }
    }
}

fn targeting(f: &mut Findings, path: &[PathSeg], t: &Targeting) {
    for (name, c) in &t.criteria {
        let cp = with(path, [k("criteria"), PathSeg::owned(name)]);
        if c.set_forms().len() != 1 {
            f.error(
                Code::InvalidCriterion,
                cp,
                format!(
                    "criterion `{name}` needs exactly one of `attribute`, `segment` or `materializedSegment`"
                ),
            )
            .at_key();
            continue;
        }
        if let Some(s) = &c.segment
            && s.segment
                .strip_prefix("segments/")
                .is_none_or(str::is_empty)
        {
            f.error(
                Code::InvalidValue,
                with(&cp, [k("segment"), k("segment")]),
                format!("`{}` does not name a segment", s.segment),
            )
            .help("write segments/<id>");
        }
        if let Some(m) = &c.materialized_segment
            && m.materialized_segment
                .strip_prefix("materializedSegments/")
                .is_none_or(str::is_empty)
        {
            f.error(
                Code::InvalidValue,
                with(&cp, [k("materializedSegment"), k("materializedSegment")]),
                format!(
                    "`{}` does not name a materialized segment",
                    m.materialized_segment
                ),
            )
            .help("write materializedSegments/<id>");
        }
        if let Some(a) = &c.attribute {
            let ap = with(&cp, [k("attribute")]);
            let rules = a.set_rules();
            if rules.len() != 1 {
                f.error(
                    Code::InvalidCriterion,
                    ap.clone(),
                    format!("criterion `{name}` needs exactly one rule, found {}", rules.len()),
                )
                .help("one of eqRule, setRule, rangeRule, startsWithRule, endsWithRule, containsRule, anyRule, allRule");
            }
            rule_values(f, &ap, &a.value_rules());
            for (qn, q) in [("anyRule", &a.any_rule), ("allRule", &a.all_rule)] {
                if let Some(q) = q {
                    let qp = with(&ap, [PathSeg::key(qn), k("rule")]);
                    if q.rule.set_rules().len() != 1 {
                        f.error(
                            Code::InvalidCriterion,
                            qp.clone(),
                            format!("`{qn}` needs exactly one inner rule"),
                        );
                    }
                    rule_values(f, &qp, &q.rule);
                }
            }
        }
    }
    let mut used = std::collections::HashSet::new();
    if let Some(e) = &t.expression {
        expression(f, &with(path, [k("expression")]), e, t, &mut used);
        for name in t.criteria.keys() {
            if !used.contains(name.as_str()) {
                f.warn(
                    Code::UnusedCriterion,
                    with(path, [k("criteria"), PathSeg::owned(name)]),
                    format!("criterion `{name}` is not used by the expression"),
                )
                .at_key();
            }
        }
    } else if !t.criteria.is_empty() {
        f.error(
            Code::InvalidExpression,
            path.to_vec(),
            "targeting has criteria but no `expression` combining them",
        );
    }
}

fn expression<'t>(
    f: &mut Findings,
    path: &[PathSeg],
    e: &'t Expression,
    t: &Targeting,
    used: &mut std::collections::HashSet<&'t str>,
) {
    let set = usize::from(e.reference.is_some())
        + usize::from(e.not.is_some())
        + usize::from(e.and.is_some())
        + usize::from(e.or.is_some());
    if set != 1 {
        f.error(
            Code::InvalidExpression,
            path.to_vec(),
            "an expression node has exactly one of `ref`, `not`, `and`, `or`",
        );
    }
    if let Some(r) = &e.reference {
        used.insert(r.as_str());
        if !t.criteria.contains_key(r) {
            let hint = did_you_mean(r, t.criteria.keys().map(String::as_str));
            let finding = f.error(
                Code::UnknownRef,
                with(path, [k("ref")]),
                format!("`ref: {r}` names no criterion of this targeting"),
            );
            match hint {
                Some(h) => finding.help(format!("did you mean `{h}`?")),
                None => finding.help("add it under `criteria`"),
            };
        }
    }
    if let Some(n) = &e.not {
        expression(f, &with(path, [k("not")]), n, t, used);
    }
    for (name, ops) in [("and", &e.and), ("or", &e.or)] {
        if let Some(ops) = ops {
            if ops.operands.is_empty() {
                f.error(
                    Code::InvalidExpression,
                    with(path, [PathSeg::key(name)]),
                    format!("`{name}` has no operands"),
                );
            }
            for (i, o) in ops.operands.iter().enumerate() {
                expression(
                    f,
                    &with(path, [PathSeg::key(name), k("operands"), PathSeg::Index(i)]),
                    o,
                    t,
                    used,
                );
            }
        }
    }
}

/// `.` and `..`: the services address flags and target groups by name in a URL path,
/// where these two mean "this folder" and "the parent folder", so no request can name them.
fn unaddressable(f: &mut Findings, path: Vec<PathSeg>, name: &str, what: &str) {
    if name == "." || name == ".." {
        f.error(
            Code::InvalidName,
            path,
            format!("`{name}` cannot be a {what} name: the service's API addresses it in a URL path, where `{name}` names a folder"),
        )
        .help("choose another name");
    }
}

fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A well-formed name that reads like a token rather than a variable name: long, with
/// digits and lower-case letters and no `_` (variable names are words joined by `_`).
fn looks_like_secret(s: &str) -> bool {
    s.len() >= 20
        && !s.contains('_')
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars().any(|c| c.is_ascii_lowercase())
}

/// Whether a `*_env` value of flagsync.yaml may be repeated in a message: a variable name
/// that does not look like a secret. Commands that do not validate flagsync.yaml first
/// (doctor, results) ask this before naming the variable.
pub fn is_showable_env_name(s: &str) -> bool {
    is_env_var_name(s) && !looks_like_secret(s)
}

fn is_relative_dir(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('/') && !s.contains('\\') && !s.split('/').any(|p| p == "..")
}

pub(crate) fn config(c: &Config) -> Findings {
    let mut f = Findings::default();
    // The value is never repeated nor shown in a snippet: it may be a pasted secret.
    let env_var = |f: &mut Findings, path: Vec<PathSeg>, v: &str| {
        let help = "never write a secret in flagsync.yaml; write e.g. CLOUDBEES_API_TOKEN and export that variable";
        if !is_env_var_name(v) {
            f.error(
                Code::InvalidEnvName,
                path,
                "this names the environment variable that holds the secret, and is not a valid variable name",
            )
            .help(help)
            .secret();
        } else if looks_like_secret(v) {
            f.error(
                Code::InvalidEnvName,
                path,
                "this names the environment variable that holds the secret, and looks like a secret itself",
            )
            .help(help)
            .secret();
        }
    };
    let dir = |f: &mut Findings, path: Vec<PathSeg>, v: &str| {
        if !is_relative_dir(v) {
            f.error(
                Code::InvalidPath,
                path,
                format!("`{v}` must be a relative path inside the repository"),
            );
        }
    };
    if let Some(cb) = &c.cloudbees {
        let p = vec![k("cloudbees")];
        if cb.application.trim().is_empty() {
            f.error(
                Code::InvalidValue,
                with(&p, [k("application")]),
                "`application` is empty",
            );
        }
        env_var(&mut f, with(&p, [k("token_env")]), &cb.token_env);
        if let Some(d) = &cb.target_groups {
            dir(&mut f, with(&p, [k("target_groups")]), d);
        }
        if let Some(r) = cb.requests_per_second
            && !(r.is_finite() && r > 0.0)
        {
            f.error(
                Code::InvalidValue,
                with(&p, [k("requests_per_second")]),
                "`requests_per_second` must be positive",
            );
        }
        match (cb.api, &cb.organization) {
            (CloudbeesApi::Unify, None) => {
                f.error(
                    Code::MissingField,
                    p.clone(),
                    "`api: unify` needs the `organization`",
                )
                .help("add `organization:` with the organization's id or domain name");
            }
            (CloudbeesApi::Unify, Some(o)) if o.trim().is_empty() => {
                f.error(
                    Code::InvalidValue,
                    with(&p, [k("organization")]),
                    "`organization` is empty",
                );
            }
            (CloudbeesApi::Legacy, Some(_)) => {
                f.error(
                    Code::InvalidValue,
                    with(&p, [k("organization")]),
                    "`organization` is a setting of CloudBees Unify",
                )
                .at_key()
                .help("add `api: unify` to talk to CloudBees Unify, or remove `organization`");
            }
            _ => {}
        }
        let casc = cb.casc.is_some();
        if let Some(d) = &cb.casc {
            dir(&mut f, with(&p, [k("casc")]), d);
            if cb.api == CloudbeesApi::Legacy {
                f.error(
                    Code::InvalidValue,
                    with(&p, [k("casc")]),
                    "the CasC layout is CloudBees Unify's; the legacy API cannot take it",
                )
                .at_key()
                .help("add `api: unify`");
            }
            if cb.target_groups.is_some() {
                f.error(
                    Code::InvalidValue,
                    with(&p, [k("target_groups")]),
                    "`target_groups` is a setting of the legacy layout; a CasC tree keeps its target groups in target-groups/",
                )
                .at_key()
                .help("remove `target_groups`");
            }
        }
        if cb.environments.is_empty() {
            f.warn(
                Code::NoEnvironments,
                p.clone(),
                "`cloudbees` lists no environments",
            )
            .help(if casc {
                "add environments: [Production]"
            } else {
                "add environments: {Production: {experiments: environments/Production}}"
            });
        }
        for (name, env) in &cb.environments {
            let ep = with(&p, [k("environments"), PathSeg::owned(name)]);
            if casc {
                if env.experiments.is_some() || env.branch.is_some() {
                    f.error(
                        Code::InvalidValue,
                        ep.clone(),
                        format!("in the CasC layout environment `{name}` is the folder flag-configurations/{name}/ and takes no settings"),
                    )
                    .help("list the environments by name: environments: [Production, Staging]");
                }
                continue;
            }
            if env.experiments.is_none() && env.branch.is_none() {
                f.error(
                    Code::InvalidEnvironment,
                    ep.clone(),
                    format!("environment `{name}` needs `experiments: DIR` or `branch: NAME`"),
                );
            }
            if let Some(d) = &env.experiments {
                dir(&mut f, with(&ep, [k("experiments")]), d);
            }
            if let Some(b) = &env.branch
                && b.trim().is_empty()
            {
                f.error(
                    Code::InvalidValue,
                    with(&ep, [k("branch")]),
                    "`branch` is empty",
                );
            }
        }
    }
    if let Some(cf) = &c.confidence {
        let p = vec![k("confidence")];
        match (&cf.token_env, &cf.client_id_env, &cf.client_secret_env) {
            (Some(t), None, None) => env_var(&mut f, with(&p, [k("token_env")]), t),
            (None, Some(id), Some(secret)) => {
                env_var(&mut f, with(&p, [k("client_id_env")]), id);
                env_var(&mut f, with(&p, [k("client_secret_env")]), secret);
            }
            (None, None, None) if c.emulator.is_some() => {}
            _ => {
                f.error(
                    Code::InvalidAuth,
                    p.clone(),
                    "confidence needs `token_env`, or both `client_id_env` and `client_secret_env`",
                );
            }
        }
        dir(&mut f, with(&p, [k("rollouts")]), &cf.rollouts);
    }
    if let Some(e) = &c.emulator {
        dir(&mut f, vec![k("emulator"), k("state")], &e.state);
    }
    if c.cloudbees.is_none() && c.confidence.is_none() {
        f.error(
            Code::NoProviders,
            vec![],
            "flagsync.yaml configures neither `cloudbees` nor `confidence`",
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_accepts_partial_versions_and_prereleases() {
        for ok in ["2", "1.1", "4.6.2", "1.0.0-beta.1", "1.2.3+build", "1-rc"] {
            assert!(is_valid_semver(ok), "{ok}");
            assert!(is_comparable_version(ok), "{ok}");
        }
        for bad in ["", "1.2.3.4", "v1", "1..2", "1.x", "1.2-", "abc"] {
            assert!(!is_valid_semver(bad), "{bad}");
        }
    }

    #[test]
    fn cloudbees_versions_have_any_number_of_parts() {
        for ok in ["26.1.18.8", "1.2.3.4.5-beta", "2"] {
            assert!(is_comparable_version(ok), "{ok}");
        }
        for bad in ["", "1,2,0", "v2", "1..2", "1.x", "1.2-", "4.6."] {
            assert!(!is_comparable_version(bad), "{bad}");
        }
    }

    #[test]
    fn instants() {
        assert!(is_iso_instant("2022-02-23T11:29:53.808Z"));
        assert!(is_iso_instant("2022-02-23"));
        assert!(!is_iso_instant("tomorrow"));
        assert!(!is_iso_instant("2022-2-3"));
    }

    #[test]
    fn rollout_ids() {
        assert!(is_valid_rollout_id("new-search-2"));
        assert!(!is_valid_rollout_id("New Search"));
        assert!(!is_valid_rollout_id("-x"));
        assert!(!is_valid_rollout_id(""));
    }

    fn tg_condition(op: PropertyOperator, operand: Option<Operand>) -> Vec<&'static str> {
        let t = TargetGroup {
            version: None,
            api_version: None,
            kind: TargetGroupKind::TargetGroup,
            name: "g".into(),
            description: None,
            operator: None,
            value: None,
            conditions: vec![TargetGroupCondition {
                property: Some("p".into()),
                operator: Some(op),
                operand,
                group: None,
            }],
        };
        target_group(&t).0.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn operand_types_per_operator() {
        use PropertyOperator::*;
        let s = |x: &str| Some(Operand::Scalar(Scalar::String(x.into())));
        let n = Some(Operand::Scalar(Scalar::Int(3)));
        assert!(tg_condition(Gte, n.clone()).is_empty());
        assert!(tg_condition(Gte, s("10")).is_empty());
        assert_eq!(tg_condition(Gte, s("ten")), ["invalid-operand"]);
        assert_eq!(tg_condition(InArray, s("x")), ["invalid-operand"]);
        assert!(
            tg_condition(
                InArray,
                Some(Operand::List(vec![Scalar::String("a".into())]))
            )
            .is_empty()
        );
        assert_eq!(tg_condition(SemverEq, s("4.x")), ["invalid-semver"]);
        assert!(tg_condition(SemverEq, s("4.6.2")).is_empty());
        assert_eq!(tg_condition(Eq, None), ["missing-operand"]);
        assert_eq!(tg_condition(IsTrue, s("run")), ["unused-operand"]);
        assert_eq!(tg_condition(Regex, s("*@x.com")), ["invalid-regex"]);
        assert!(tg_condition(Regex, s("cloudbees-.*")).is_empty());
        assert_eq!(
            tg_condition(Eq, Some(Operand::Scalar(Scalar::Bool(true)))),
            ["invalid-operand"]
        );
    }
}
