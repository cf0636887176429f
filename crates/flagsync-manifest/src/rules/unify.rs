//! Checks of one CloudBees Unify CasC manifest on its own: what casc-service and the API
//! refuse (S10, api-notes-unify §4-§7) that the types alone do not. What needs another file
//! (a value against its flag's type, references, cycles) is in `load::casc`.

use super::{Findings, is_valid_semver, k, with};
use crate::code::Code;
use crate::model::PathSeg;
use crate::model::unify::*;
use crate::model::{Number, Scalar};

/// Splits must add up to exactly 100, compared at 4 decimals (flag-service's scale).
const SPLIT_SCALE: f64 = 10_000.0;

/// Whether the percentages add up to exactly 100 as the service compares them.
pub fn split_adds_up(percentages: impl IntoIterator<Item = f64>) -> bool {
    let sum: f64 = percentages.into_iter().sum();
    (sum * SPLIT_SCALE).round() == 100.0 * SPLIT_SCALE
}

/// An RFC 3339 date-time (`2026-01-01T09:00:00Z`, `...00.5+01:00`): what the service takes
/// for schedules and the date operators. Stricter than the legacy format's instants, which
/// may be a date alone.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let at = |i: usize, c: u8| b.get(i).is_some_and(|x| x.eq_ignore_ascii_case(&c));
    let date_time = (|| {
        num(0, 4)?;
        let (month, day) = (num(5, 2)?, num(8, 2)?);
        let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
        Some(
            at(4, b'-')
                && at(7, b'-')
                && at(10, b'T')
                && at(13, b':')
                && at(16, b':')
                && (1..=12).contains(&month)
                && (1..=31).contains(&day)
                && hour < 24
                && minute < 60
                && second <= 60,
        )
    })();
    if date_time != Some(true) {
        return false;
    }
    let mut i = 19;
    if at(i, b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && num(i + 1, 2).is_some_and(|h| h < 24)
                && at(i + 3, b':')
                && num(i + 4, 2).is_some_and(|m| m < 60)
        }
        _ => false,
    }
}

pub(crate) fn flag(f: &Flag) -> Findings {
    let mut out = Findings::default();
    if f.flag.trim().is_empty() {
        out.error(Code::InvalidValue, vec![k("flag")], "`flag` is empty");
    }
    if let Some(labels) = &f.labels {
        for (i, label) in labels.iter().enumerate() {
            if labels[..i].contains(label) {
                out.error(
                    Code::InvalidValue,
                    vec![k("labels"), PathSeg::Index(i)],
                    format!("label `{label}` is listed twice"),
                );
            }
        }
    }
    let flag_type = f.flag_type();
    if let Some(values) = &f.available_values {
        for (i, v) in values.iter().enumerate() {
            let path = vec![k("availableValues"), PathSeg::Index(i)];
            if !is_variant_of(v, flag_type) {
                out.error(
                    Code::ValueType,
                    path.clone(),
                    format!(
                        "`{}` is not a value of a {} flag",
                        v.as_display(),
                        flag_type.casc_name()
                    ),
                )
                .help(match flag_type {
                    FlagType::Boolean => "a boolean flag's values are \"false\" and \"true\"",
                    FlagType::Number => "a number flag's values are numbers (written as strings)",
                    FlagType::String => "",
                });
            }
            if values[..i].iter().any(|w| w.as_display() == v.as_display()) {
                out.error(
                    Code::InvalidValue,
                    path,
                    format!("`{}` is listed twice", v.as_display()),
                );
            }
        }
    }
    out
}

/// Whether `v` names a value of a flag of `flag_type` (variants are strings; CloudBees
/// quotes them, but an unquoted `true` or `4` means the same).
fn is_variant_of(v: &Scalar, flag_type: FlagType) -> bool {
    match flag_type {
        FlagType::Boolean => matches!(v.as_display().as_str(), "true" | "false"),
        FlagType::Number => v
            .as_display()
            .trim()
            .parse::<f64>()
            .is_ok_and(f64::is_finite),
        FlagType::String => !matches!(v, Scalar::Bool(_)),
    }
}

pub(crate) fn configuration(c: &FlagConfiguration) -> Findings {
    let mut out = Findings::default();
    if c.flag.trim().is_empty() {
        out.error(Code::InvalidValue, vec![k("flag")], "`flag` is empty");
    }
    if c.enabled.is_none() {
        out.error(
            Code::MissingField,
            vec![],
            "flag configuration has no `enabled`",
        )
        .help("add `enabled: true` or `enabled: false`");
    }
    match &c.default_value {
        None => {
            out.error(
                Code::MissingField,
                vec![],
                "flag configuration has no `defaultValue`",
            )
            .help("add the value served when no condition matches, e.g. `defaultValue: false` or `defaultValue: {valueWrittenInCode: true}`");
        }
        Some(v) => value(&mut out, &[k("defaultValue")], v),
    }
    if c.seed.is_some() {
        out.warn(
            Code::UnusedField,
            vec![k("seed")],
            "`seed` is assigned by the service and is not sent",
        )
        .at_key()
        .help(
            "flagsync keeps the live seed so that splits do not re-bucket users; remove the line",
        );
    }
    if c.stickiness_property
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        out.error(
            Code::InvalidValue,
            vec![k("stickinessProperty")],
            "`stickinessProperty` is empty",
        );
    }
    let conditions = c.conditions.as_deref().unwrap_or_default();
    for (i, cond) in conditions.iter().enumerate() {
        let path = vec![k("conditions"), PathSeg::Index(i)];
        let parts = cond.parts();
        match &cond.flag_value {
            Some(v) => value(&mut out, &with(&path, [k("flagValue")]), v),
            None if parts.count() == 0 => {
                out.error(
                    Code::EmptyCondition,
                    path.clone(),
                    "condition has neither a test nor a `flagValue`",
                );
            }
            None => {
                out.error(
                    Code::MissingField,
                    path.clone(),
                    "condition has no `flagValue`",
                )
                .help("add the value the flag serves when the condition matches");
            }
        }
        if parts.count() == 0 && cond.flag_value.is_some() {
            out.error(
                Code::InvalidCondition,
                path.clone(),
                "condition has a `flagValue` but no test",
            )
            .help("add allOf, anyOf, not, property, group or flag; to serve a value to everyone, make it the `defaultValue`");
        }
        matchers(&mut out, &path, parts, true);
        if let Some(first) = conditions[..i].iter().position(|c| c == cond) {
            out.error(
                Code::InvalidCondition,
                path,
                format!("this condition repeats condition {}", first + 1),
            )
            .help("conditions are evaluated in order, so the second one never matches; remove it");
        }
    }
    out
}

pub(crate) fn target_group(t: &TargetGroup) -> Findings {
    let mut out = Findings::default();
    if t.name.trim().is_empty() {
        out.error(Code::InvalidValue, vec![k("name")], "`name` is empty");
    }
    match &t.conditions {
        None => {
            out.error(
                Code::MissingField,
                vec![],
                "target group has no `conditions`",
            )
            .help("add who belongs to it, e.g. conditions: {allOf: [{property: {name: plan, operator: eq, operands: [enterprise]}}]}");
        }
        Some(m) => {
            let parts = m.parts();
            if parts.count() == 0 {
                out.error(
                    Code::EmptyCondition,
                    vec![k("conditions")],
                    "`conditions` holds no test",
                )
                .help("write one of allOf, anyOf, not, property, group");
            }
            matchers(&mut out, &[k("conditions")], parts, false);
        }
    }
    out
}

pub(crate) fn property(p: &Property) -> Findings {
    let mut out = Findings::default();
    if p.name.trim().is_empty() {
        out.error(Code::InvalidValue, vec![k("name")], "`name` is empty");
    }
    if p.property_type.is_none() {
        out.error(Code::MissingField, vec![], "property has no `type`")
            .help("add `type:` Boolean, String, Semver, Number or Datetime");
    }
    out
}

/// The matchers of one object at `path`: every nested object, operand and reference form.
/// `flags`: whether `flag` may be used (flag configurations, not target groups).
fn matchers(out: &mut Findings, path: &[PathSeg], parts: Parts<'_>, flags: bool) {
    for (name, items) in [("allOf", parts.all_of), ("anyOf", parts.any_of)] {
        let Some(items) = items else { continue };
        for (i, item) in items.iter().enumerate() {
            let ip = with(path, [PathSeg::key(name), PathSeg::Index(i)]);
            let inner = item.parts();
            if inner.count() == 0 {
                out.error(
                    Code::EmptyCondition,
                    ip.clone(),
                    format!("an item of `{name}` holds no test"),
                )
                .help("write one of allOf, anyOf, not, property, group, or remove the item");
            }
            if let Some(first) = items[..i].iter().position(|x| x == item) {
                out.error(
                    Code::InvalidCondition,
                    ip.clone(),
                    format!("this item repeats item {} of `{name}`", first + 1),
                );
            }
            matchers(out, &ip, inner, flags);
        }
    }
    if let Some(not) = parts.not {
        let np = with(path, [k("not")]);
        let inner = not.parts();
        if inner.count() != 1 || inner.not.is_some() {
            out.error(
                Code::InvalidCondition,
                np.clone(),
                "`not` holds exactly one of allOf, anyOf, property, group or flag",
            )
            .help("to negate several tests, wrap them: not: {allOf: [...]}");
        }
        matchers(out, &np, inner, flags);
    }
    if let Some(p) = parts.property {
        property_test(out, &with(path, [k("property")]), p);
    }
    if let Some(g) = parts.group
        && g.name.trim().is_empty()
    {
        out.error(
            Code::InvalidValue,
            with(path, [k("group"), k("name")]),
            "empty target group name",
        );
    }
    if let Some(f) = parts.flag {
        let fp = with(path, [k("flag")]);
        if !flags {
            out.error(
                Code::InvalidCondition,
                fp,
                "a target group cannot depend on a flag",
            )
            .at_key()
            .help("flag conditions belong in flag configurations");
        } else if f.name.trim().is_empty() {
            out.error(
                Code::InvalidValue,
                with(&fp, [k("name")]),
                "empty flag name",
            );
        }
    }
}

fn property_test(out: &mut Findings, path: &[PathSeg], p: &PropertyTest) {
    if p.name.trim().is_empty() {
        out.error(
            Code::InvalidValue,
            with(path, [k("name")]),
            "empty property name",
        );
    }
    let op = p.operator.as_str();
    let expected = p.operator.operands();
    let at = with(path, [k("operands")]);
    let Some(operands) = &p.operands else {
        if expected != Operands::None {
            out.error(
                Code::MissingOperand,
                path.to_vec(),
                format!("`{op}` needs operands: {}", expected.describe()),
            )
            .help("add `operands:` as a list, e.g. operands: [value]");
        }
        return;
    };
    let wrong = |out: &mut Findings, help: Option<&str>| {
        let f = out.error(
            Code::InvalidOperand,
            at.clone(),
            format!("`{op}` takes {}", expected.describe()),
        );
        if let Some(help) = help {
            f.help(help);
        }
    };
    let strings = operands.iter().all(|o| matches!(o, Scalar::String(_)));
    let numbers = operands
        .iter()
        .all(|o| matches!(o, Scalar::Int(_) | Scalar::Float(_)));
    let n = operands.len();
    match expected {
        Operands::None => wrong(out, Some("remove `operands`")),
        Operands::StringOrNumber => {
            if n != 1 || !(strings || numbers) {
                wrong(out, None);
            }
        }
        Operands::Number => {
            if n != 1 || !numbers {
                let quoted = n == 1 && strings;
                wrong(
                    out,
                    quoted.then_some("the operand is a string; write the number unquoted"),
                );
            }
        }
        Operands::List => {
            if n == 0 || !(strings || numbers) {
                wrong(out, None);
            }
            for (i, o) in operands.iter().enumerate() {
                if operands[..i].contains(o) {
                    out.error(
                        Code::InvalidOperand,
                        with(&at, [PathSeg::Index(i)]),
                        format!("`{}` is listed twice", o.as_display()),
                    );
                }
            }
        }
        Operands::Pattern => {
            if !(1..=2).contains(&n) || !strings {
                wrong(out, None);
            } else if let Scalar::String(pattern) = &operands[0]
                && let Err(e) = regex_syntax::Parser::new().parse(pattern)
            {
                let reason = e.to_string();
                let reason = reason.lines().last().unwrap_or_default().trim().to_owned();
                out.warn(
                    Code::InvalidRegex,
                    with(&at, [PathSeg::Index(0)]),
                    format!("`{pattern}` may not be a valid regular expression: {reason}"),
                )
                .help("checked with Rust's regex syntax; the service's engine may differ");
            }
        }
        Operands::Version => {
            if n != 1 || !strings {
                let unquoted = n == 1 && numbers;
                wrong(
                    out,
                    unquoted.then_some("quote the version, e.g. \"2\" or \"1.4\""),
                );
            } else if let Scalar::String(v) = &operands[0]
                && !is_valid_semver(v)
            {
                out.error(
                    Code::InvalidSemver,
                    with(&at, [PathSeg::Index(0)]),
                    format!("`{v}` is not a version"),
                )
                .help("write 1 to 3 numbers separated by dots, optionally with a pre-release: 2, 1.1, 4.6.2-beta");
            }
        }
        Operands::DateTime | Operands::DateTimeRange => {
            let want = if expected == Operands::DateTime { 1 } else { 2 };
            if n != want || !strings {
                wrong(out, None);
            } else {
                for (i, o) in operands.iter().enumerate() {
                    let text = o.as_display();
                    if !is_rfc3339(&text) {
                        out.error(
                            Code::InvalidTimestamp,
                            with(&at, [PathSeg::Index(i)]),
                            format!("`{text}` is not an RFC 3339 date-time"),
                        )
                        .help("write it like 2026-03-01T09:00:00Z");
                    }
                }
            }
        }
    }
}

/// A value on its own: percentages, sums, timestamps. Its type against the flag's is
/// checked across files.
fn value(out: &mut Findings, path: &[PathSeg], v: &FlagValue) {
    let percentage = |out: &mut Findings, path: Vec<PathSeg>, p: Number| {
        if !(0.0..=100.0).contains(&p.as_f64()) {
            out.error(
                Code::PercentageRange,
                path,
                format!("percentage {p} is outside 0..100"),
            );
        }
    };
    match v {
        FlagValue::Scalar(_) | FlagValue::WrittenInCode => {}
        FlagValue::Split(entries) => {
            for (i, e) in entries.iter().enumerate() {
                percentage(
                    out,
                    with(path, [PathSeg::Index(i), k("percentage")]),
                    e.percentage,
                );
            }
            let ps = entries.iter().map(|e| e.percentage.as_f64());
            if !split_adds_up(ps.clone()) {
                let sum: f64 = ps.sum();
                out.error(
                    Code::SplitSum,
                    path.to_vec(),
                    format!("split percentages add up to {sum}, not 100"),
                )
                .help("CloudBees Unify splits add up to exactly 100");
            }
        }
        FlagValue::Schedule(entries) => {
            for (i, e) in entries.iter().enumerate() {
                percentage(
                    out,
                    with(path, [PathSeg::Index(i), k("percentage")]),
                    e.percentage,
                );
                if !is_rfc3339(&e.from) {
                    out.error(
                        Code::InvalidTimestamp,
                        with(path, [PathSeg::Index(i), k("from")]),
                        format!("`{}` is not an RFC 3339 date-time", e.from),
                    )
                    .help("write it like 2026-03-01T09:00:00.000Z");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        for ok in [
            "2026-01-01T00:00:00Z",
            "2026-12-01T09:00:00.000Z",
            "2024-02-01T00:00:00.5+01:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "soon",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn splits_add_up_at_four_decimals() {
        assert!(split_adds_up([33.3333, 33.3333, 33.3334]));
        assert!(split_adds_up([50.0, 50.0, 0.00004]));
        assert!(!split_adds_up([33.33, 33.33, 33.33]));
        assert!(!split_adds_up([50.0]));
    }

    fn codes(findings: Findings) -> Vec<&'static str> {
        findings.0.iter().map(|f| f.code.as_str()).collect()
    }

    fn test(operator: Operator, operands: Option<Vec<Scalar>>) -> Vec<&'static str> {
        let group = TargetGroup {
            api_version: None,
            kind: TargetGroupTag::Tag,
            name: "g".into(),
            description: None,
            conditions: Some(Matcher {
                property: Some(PropertyTest {
                    name: "p".into(),
                    operator,
                    operands,
                }),
                ..Matcher::default()
            }),
        };
        codes(target_group(&group))
    }

    #[test]
    fn operands_follow_each_operator() {
        use Operator::*;
        let s = |x: &str| Scalar::String(x.into());
        let n = |x: i64| Scalar::Int(x);
        assert!(test(IsTrue, None).is_empty());
        assert_eq!(test(IsTrue, Some(vec![])), ["invalid-operand"]);
        assert_eq!(test(Eq, None), ["missing-operand"]);
        assert!(test(Eq, Some(vec![s("a")])).is_empty());
        assert!(test(Ne, Some(vec![n(1)])).is_empty());
        assert_eq!(test(Eq, Some(vec![s("a"), s("b")])), ["invalid-operand"]);
        assert!(test(Gte, Some(vec![n(18)])).is_empty());
        assert_eq!(test(Gte, Some(vec![s("18")])), ["invalid-operand"]);
        assert!(test(InArray, Some(vec![s("a"), s("b")])).is_empty());
        assert_eq!(test(InArray, Some(vec![s("a"), n(1)])), ["invalid-operand"]);
        assert_eq!(
            test(InArray, Some(vec![s("a"), s("a")])),
            ["invalid-operand"]
        );
        assert_eq!(test(InArray, Some(vec![])), ["invalid-operand"]);
        assert!(test(Regex, Some(vec![s("^a"), s("i")])).is_empty());
        assert_eq!(test(Regex, Some(vec![s("*x")])), ["invalid-regex"]);
        assert_eq!(test(Regex, None), ["missing-operand"]);
        assert!(test(SemverGte, Some(vec![s("1.2.3")])).is_empty());
        assert_eq!(test(SemverGte, Some(vec![s("1.x")])), ["invalid-semver"]);
        assert_eq!(test(SemverEq, Some(vec![n(2)])), ["invalid-operand"]);
        assert!(test(Before, Some(vec![s("2026-01-01T00:00:00Z")])).is_empty());
        assert_eq!(test(After, Some(vec![s("soon")])), ["invalid-timestamp"]);
        assert!(
            test(
                InBetween,
                Some(vec![s("2026-01-01T00:00:00Z"), s("2026-02-01T00:00:00Z")])
            )
            .is_empty()
        );
        assert_eq!(
            test(InBetween, Some(vec![s("2026-01-01T00:00:00Z")])),
            ["invalid-operand"]
        );
    }
}
