//! A segment's `targeting`, checked as the resolver protos define it
//! (`confidence/flags/types/v1/target.proto`): criteria keyed by name, each exactly one of
//! `attribute`, `segment` or `materializedSegment` (or empty); an attribute with exactly one
//! rule; values with at most one kind; an expression over the criteria's names. Unknown
//! fields are refused, as a strict proto-JSON reader does, so a client that sends a rule in
//! the wrong shape (a `Value` where the proto takes a plain string) hears about it.

use serde_json::{Map, Value};

/// Deeper than this is refused: hostile input must not recurse without bound.
const MAX_DEPTH: usize = 64;

/// Why a targeting is refused; the text names the place, e.g.
/// `targeting.criteria.c1.attribute.startsWithRule.value`.
pub(crate) type Refusal = String;

/// Checks a whole `targeting` object.
pub(crate) fn check(targeting: &Value) -> Result<(), Refusal> {
    let path = "targeting";
    let map = object(targeting, path)?;
    only(map, &["criteria", "expression"], path)?;
    let empty = Map::new();
    let criteria = match map.get("criteria") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(c)) => c,
        Some(_) => {
            return Err(format!(
                "{path}.criteria must be an object keyed by criterion name"
            ));
        }
    };
    for (name, criterion) in criteria {
        check_criterion(criterion, &format!("{path}.criteria.{name}"))?;
    }
    match map.get("expression") {
        None | Some(Value::Null) => Ok(()),
        Some(expression) => {
            check_expression(expression, criteria, &format!("{path}.expression"), 0)
        }
    }
}

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, Refusal> {
    value
        .as_object()
        .ok_or_else(|| format!("{path} must be an object"))
}

fn only(map: &Map<String, Value>, allowed: &[&str], path: &str) -> Result<(), Refusal> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{path}: unknown field {k:?} (expected one of {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

/// The one field of a oneof that is set (`None` when none is).
fn one_of<'m>(
    map: &'m Map<String, Value>,
    fields: &[&'static str],
    path: &str,
) -> Result<Option<(&'static str, &'m Value)>, Refusal> {
    let set: Vec<(&'static str, &Value)> = fields
        .iter()
        .filter_map(|f| map.get(*f).filter(|v| !v.is_null()).map(|v| (*f, v)))
        .collect();
    match set.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(format!(
            "{path}: only one of {} may be set, found {}",
            fields.join(", "),
            many.iter().map(|(f, _)| *f).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn check_criterion(criterion: &Value, path: &str) -> Result<(), Refusal> {
    let map = object(criterion, path)?;
    const KINDS: [&str; 3] = ["attribute", "segment", "materializedSegment"];
    only(map, &KINDS, path)?;
    // An empty criterion is valid proto (the resolver's test state has one).
    match one_of(map, &KINDS, path)? {
        None => Ok(()),
        Some(("attribute", attribute)) => check_attribute(attribute, &format!("{path}.attribute")),
        Some(("segment", segment)) => {
            check_reference(segment, "segment", "segments/", &format!("{path}.segment"))
        }
        Some((_, materialized)) => check_reference(
            materialized,
            "materializedSegment",
            "materializedSegments/",
            &format!("{path}.materializedSegment"),
        ),
    }
}

/// `{"segment": "segments/x"}` or `{"materializedSegment": "materializedSegments/x"}`.
fn check_reference(value: &Value, field: &str, prefix: &str, path: &str) -> Result<(), Refusal> {
    let map = object(value, path)?;
    only(map, &[field], path)?;
    match map.get(field).and_then(Value::as_str) {
        Some(name) if name.strip_prefix(prefix).is_some_and(|id| !id.is_empty()) => Ok(()),
        _ => Err(format!("{path}.{field} must be a name like {prefix}<id>")),
    }
}

const VALUE_RULES: [&str; 6] = [
    "eqRule",
    "setRule",
    "rangeRule",
    "startsWithRule",
    "endsWithRule",
    "containsRule",
];

fn check_attribute(attribute: &Value, path: &str) -> Result<(), Refusal> {
    let map = object(attribute, path)?;
    let mut fields = vec!["attributeName"];
    fields.extend(VALUE_RULES);
    fields.extend(["anyRule", "allRule"]);
    only(map, &fields, path)?;
    match map.get("attributeName") {
        Some(Value::String(name)) if !name.is_empty() => {}
        _ => return Err(format!("{path}.attributeName must be a non-empty string")),
    }
    let mut rules: Vec<&str> = VALUE_RULES.to_vec();
    rules.extend(["anyRule", "allRule"]);
    match one_of(map, &rules, path)? {
        None => Err(format!("{path} needs a rule: one of {}", rules.join(", "))),
        Some((quantifier @ ("anyRule" | "allRule"), rule)) => {
            let qpath = format!("{path}.{quantifier}");
            let q = object(rule, &qpath)?;
            only(q, &["rule"], &qpath)?;
            let inner = q
                .get("rule")
                .ok_or_else(|| format!("{qpath}.rule is required"))?;
            let ipath = format!("{qpath}.rule");
            let inner_map = object(inner, &ipath)?;
            // any and all do not nest: the inner rule is one of the value rules.
            only(inner_map, &VALUE_RULES, &ipath)?;
            match one_of(inner_map, &VALUE_RULES, &ipath)? {
                Some((name, rule)) => check_value_rule(name, rule, &format!("{ipath}.{name}")),
                None => Err(format!("{ipath} needs one of {}", VALUE_RULES.join(", "))),
            }
        }
        Some((name, rule)) => check_value_rule(name, rule, &format!("{path}.{name}")),
    }
}

fn check_value_rule(name: &str, rule: &Value, path: &str) -> Result<(), Refusal> {
    let map = object(rule, path)?;
    match name {
        "eqRule" => {
            only(map, &["value"], path)?;
            match map.get("value") {
                Some(v) => check_value(v, &format!("{path}.value"), 0),
                None => Err(format!("{path}.value is required")),
            }
        }
        "setRule" => {
            only(map, &["values"], path)?;
            match map.get("values") {
                None | Some(Value::Null) => Ok(()),
                Some(Value::Array(values)) => values
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, v)| check_value(v, &format!("{path}.values[{i}]"), 0)),
                Some(_) => Err(format!("{path}.values must be a list of values")),
            }
        }
        "rangeRule" => {
            const BOUNDS: [&str; 4] = [
                "startInclusive",
                "startExclusive",
                "endInclusive",
                "endExclusive",
            ];
            only(map, &BOUNDS, path)?;
            one_of(map, &BOUNDS[..2], path)?;
            one_of(map, &BOUNDS[2..], path)?;
            // Either end may be left open; a range open at both ends is refused as meaningless.
            if BOUNDS
                .iter()
                .all(|b| map.get(*b).is_none_or(Value::is_null))
            {
                return Err(format!("{path} needs a start or an end"));
            }
            for bound in BOUNDS {
                if let Some(v) = map.get(bound).filter(|v| !v.is_null()) {
                    check_value(v, &format!("{path}.{bound}"), 0)?;
                }
            }
            Ok(())
        }
        // starts_with, ends_with and contains take a plain string, not a Value.
        _ => {
            only(map, &["value"], path)?;
            match map.get("value") {
                Some(Value::String(_)) => Ok(()),
                Some(Value::Object(_)) => Err(format!(
                    "{path}.value must be a plain string (this rule takes a string, not a Value like {{\"stringValue\": ...}})"
                )),
                _ => Err(format!("{path}.value must be a string")),
            }
        }
    }
}

const VALUE_KINDS: [&str; 6] = [
    "boolValue",
    "numberValue",
    "stringValue",
    "timestampValue",
    "versionValue",
    "listValue",
];

/// A `Value`: at most one kind (`{}` is the "no value" an `eqRule` wrapped in `not` uses as
/// an "is set" test).
fn check_value(value: &Value, path: &str, depth: usize) -> Result<(), Refusal> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested too deeply"));
    }
    let map = object(value, path)?;
    only(map, &VALUE_KINDS, path)?;
    let Some((kind, v)) = one_of(map, &VALUE_KINDS, path)? else {
        return Ok(());
    };
    let vpath = format!("{path}.{kind}");
    let ok = match kind {
        "boolValue" => v.is_boolean(),
        "numberValue" => v.is_number(),
        "stringValue" => v.is_string(),
        "timestampValue" => v.as_str().is_some_and(is_rfc3339),
        "versionValue" => {
            let m = object(v, &vpath)?;
            only(m, &["version"], &vpath)?;
            m.get("version")
                .and_then(Value::as_str)
                .is_some_and(is_version)
        }
        _ => {
            let m = object(v, &vpath)?;
            only(m, &["values"], &vpath)?;
            return match m.get("values") {
                None | Some(Value::Null) => Ok(()),
                Some(Value::Array(items)) => items.iter().enumerate().try_for_each(|(i, item)| {
                    check_value(item, &format!("{vpath}.values[{i}]"), depth + 1)
                }),
                Some(_) => Err(format!("{vpath}.values must be a list of values")),
            };
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{vpath} is not a valid {kind}"))
    }
}

/// `2022-11-17T15:16:17.118Z`, `2022-11-17T15:16:17+01:00`.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let head = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b'T' | b't'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !head {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        "Z" | "z" => true,
        offset => {
            let o = offset.as_bytes();
            o.len() == 6
                && matches!(o[0], b'+' | b'-')
                && o[1..3].iter().all(u8::is_ascii_digit)
                && o[3] == b':'
                && o[4..6].iter().all(u8::is_ascii_digit)
        }
    }
}

/// Two to four numbers, with a `-pre` suffix the resolver strips.
fn is_version(s: &str) -> bool {
    let core = s.split_once('-').map_or(s, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    (2..=4).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_expression(
    expression: &Value,
    criteria: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<(), Refusal> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested too deeply"));
    }
    let map = object(expression, path)?;
    const OPS: [&str; 4] = ["ref", "not", "and", "or"];
    only(map, &OPS, path)?;
    match one_of(map, &OPS, path)? {
        None => Err(format!("{path} needs one of ref, not, and, or")),
        Some(("ref", reference)) => match reference.as_str() {
            Some(name) if criteria.contains_key(name) => Ok(()),
            Some(name) => Err(format!(
                "{path}.ref names {name:?}, which is not a criterion"
            )),
            None => Err(format!("{path}.ref must be a string")),
        },
        Some(("not", inner)) => {
            check_expression(inner, criteria, &format!("{path}.not"), depth + 1)
        }
        Some((op, group)) => {
            let gpath = format!("{path}.{op}");
            let g = object(group, &gpath)?;
            only(g, &["operands"], &gpath)?;
            let Some(operands) = g.get("operands").and_then(Value::as_array) else {
                return Err(format!("{gpath}.operands must be a list"));
            };
            operands.iter().enumerate().try_for_each(|(i, o)| {
                check_expression(o, criteria, &format!("{gpath}.operands[{i}]"), depth + 1)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attribute(rule: Value) -> Value {
        let mut a = json!({"attributeName": "x"});
        if let (Some(a), Some(r)) = (a.as_object_mut(), rule.as_object()) {
            a.extend(r.clone());
        }
        json!({"criteria": {"c": {"attribute": a}}, "expression": {"ref": "c"}})
    }

    #[test]
    fn every_rule_and_value_kind_of_the_protos_is_accepted() {
        for rule in [
            json!({"eqRule": {"value": {"stringValue": "SE"}}}),
            json!({"eqRule": {"value": {}}}),
            json!({"setRule": {"values": [{"numberValue": 1}, {"boolValue": true}]}}),
            json!({"rangeRule": {"startInclusive": {"versionValue": {"version": "2.0.0"}}}}),
            json!({"rangeRule": {"endExclusive": {"timestampValue": "2022-11-17T15:16:17.118Z"}}}),
            json!({"startsWithRule": {"value": "a"}}),
            json!({"endsWithRule": {"value": "b"}}),
            json!({"containsRule": {"value": "c"}}),
            json!({"anyRule": {"rule": {"eqRule": {"value": {"stringValue": "x"}}}}}),
            json!({"allRule": {"rule": {"startsWithRule": {"value": "x"}}}}),
            json!({"eqRule": {"value": {"listValue": {"values": [{"stringValue": "a"}]}}}}),
        ] {
            assert_eq!(check(&attribute(rule.clone())), Ok(()), "{rule}");
        }
        let others = json!({
            "criteria": {
                "s": {"segment": {"segment": "segments/beta"}},
                "m": {"materializedSegment": {"materializedSegment": "materializedSegments/ids"}},
                "e": {}
            },
            "expression": {"or": {"operands": [{"ref": "s"}, {"and": {"operands": [{"ref": "m"}, {"not": {"ref": "e"}}]}}]}}
        });
        assert_eq!(check(&others), Ok(()));
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for rule in [
            json!({"startsWithRule": {"value": {"stringValue": "a"}}}),
            json!({"eqRule": {"value": {"stringValue": "a", "numberValue": 1}}}),
            json!({"eqRule": {"value": {"timestampValue": "yesterday"}}}),
            json!({"rangeRule": {}}),
            json!({"rangeRule": {"startInclusive": {"numberValue": 1}, "startExclusive": {"numberValue": 1}}}),
            json!({"anyRule": {"rule": {"anyRule": {}}}}),
            json!({"eqRule": {"value": {"stringValue": "a"}}, "setRule": {"values": []}}),
            json!({"fuzzyRule": {}}),
            json!({}),
        ] {
            assert!(check(&attribute(rule.clone())).is_err(), "{rule}");
        }
        let dangling = json!({"criteria": {}, "expression": {"ref": "nope"}});
        assert!(check(&dangling).is_err());
        let two = json!({"criteria": {"c": {"segment": {"segment": "segments/a"}, "attribute": {"attributeName": "a", "eqRule": {"value": {}}}}}});
        assert!(check(&two).is_err());
        assert!(check(&json!({"criteria": []})).is_err());
    }

    #[test]
    fn timestamps_and_versions() {
        assert!(is_rfc3339("2022-11-17T15:16:17Z"));
        assert!(is_rfc3339("2022-11-17T15:16:17.5+01:00"));
        assert!(!is_rfc3339("2022-11-17"));
        assert!(!is_rfc3339("2022-11-17T15:16:17"));
        assert!(is_version("2.0") && is_version("1.2.3.4") && is_version("2.0.0-beta"));
        assert!(!is_version("2") && !is_version("1.2.3.4.5") && !is_version("v1.2"));
    }
}
