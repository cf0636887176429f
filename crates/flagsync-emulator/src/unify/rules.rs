//! The Unify validation rules that need no stored state: the shape of values (scalars of
//! the flag's type, `valueWrittenInCode`, splits, schedules) and of condition trees (flag
//! conditions and target-group conditions, property operators and their operands). They
//! collect what a tree refers to; whether those exist, and cycles, are checked by the
//! handlers against the application (see `super::refs`).
//!
//! Sources: the notes' §4.1, §4.2 and §5, which follow the flag-service schemas as ported by
//! `casc-fm-validate-action` (S10).

use serde_json::{Map, Value};

use super::model::FlagType;

/// How deep a condition tree may nest; bounds recursion on hostile input.
const MAX_DEPTH: usize = 64;

/// Splits must sum to exactly 100, compared at 4 decimals (flag-service's scale).
const SPLIT_SCALE: f64 = 10_000.0;

/// The property operators, and what their operands must be.
pub(crate) const PROPERTY_OPERATORS: &[&str] = &[
    "is-undefined",
    "is-true",
    "is-false",
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in-array",
    "regex",
    "semver-eq",
    "semver-ne",
    "semver-gt",
    "semver-gte",
    "semver-lt",
    "semver-lte",
    "before",
    "after",
    "in-between",
];

/// A flag dependency as written: by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlagKey {
    Id(String),
    Name(String),
}

/// What a condition tree refers to, each with where (for messages).
#[derive(Debug, Default, Clone)]
pub(crate) struct RawRefs {
    /// Target group ids.
    pub groups: Vec<(String, String)>,
    /// Property names.
    pub properties: Vec<(String, String)>,
    /// Flag dependencies.
    pub flags: Vec<(String, FlagKey)>,
}

/// Checks a value (`defaultValue` or a condition's `flagValue`) against the flag's type.
pub(crate) fn check_value(value: &Value, flag_type: FlagType, at: &str) -> Result<(), String> {
    match value {
        Value::Null => Err(format!("{at}: a value is required")),
        Value::Object(object) => {
            if object.len() == 1 && object.get("valueWrittenInCode") == Some(&Value::Bool(true)) {
                Ok(())
            } else {
                Err(format!(
                    "{at}: an object value must be exactly {{\"valueWrittenInCode\": true}}"
                ))
            }
        }
        Value::Array(items) => check_split_or_schedule(items, flag_type, at),
        scalar => check_scalar(scalar, flag_type, at),
    }
}

fn check_scalar(value: &Value, flag_type: FlagType, at: &str) -> Result<(), String> {
    let matches = match flag_type {
        FlagType::Boolean => value.is_boolean(),
        FlagType::String => value.is_string(),
        FlagType::Number => value.is_number(),
    };
    if matches {
        Ok(())
    } else {
        Err(format!(
            "{at}: {value} does not match the flag type {} (expected {})",
            flag_type.as_str(),
            flag_type.json_kind()
        ))
    }
}

/// A field of `object` that is none of `known`.
fn unknown_field<'a>(object: &'a Map<String, Value>, known: &[&str]) -> Option<&'a String> {
    object.keys().find(|k| !known.contains(&k.as_str()))
}

fn check_split_or_schedule(items: &[Value], flag_type: FlagType, at: &str) -> Result<(), String> {
    if items.is_empty() {
        return Err(format!("{at}: a split or schedule must not be empty"));
    }
    let (mut splits, mut schedules) = (0usize, 0usize);
    let mut sum = 0.0;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let Some(entry) = item.as_object() else {
            return Err(format!(
                "{at}: each entry is an object: {{option, percentage}} (a split) or {{from, percentage}} (a schedule)"
            ));
        };
        if let Some(key) = unknown_field(entry, &["option", "from", "percentage"]) {
            return Err(format!(
                "{at}: unknown field {key:?} (a split entry has option and percentage, a schedule entry from and percentage)"
            ));
        }
        let percentage = match entry.get("percentage").and_then(Value::as_f64) {
            Some(p) if (0.0..=100.0).contains(&p) => p,
            _ => {
                return Err(format!(
                    "{at}.percentage: required, a number between 0 and 100"
                ));
            }
        };
        sum += percentage;
        match (entry.get("option"), entry.get("from")) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "{at}: an entry is a split (option) or a schedule (from), not both; splits and schedules cannot be mixed"
                ));
            }
            (Some(option), None) => {
                splits += 1;
                check_scalar(option, flag_type, &format!("{at}.option"))?;
            }
            (None, Some(from)) => {
                schedules += 1;
                if !from.as_str().is_some_and(crate::time::is_rfc3339) {
                    return Err(format!(
                        "{at}.from: must be an RFC 3339 date-time string, got {from}"
                    ));
                }
            }
            (None, None) => {
                return Err(format!("{at}: needs option (a split) or from (a schedule)"));
            }
        }
    }
    if splits > 0 && schedules > 0 {
        return Err(format!(
            "{at}: splits (option) and schedules (from) cannot be mixed in one value"
        ));
    }
    if schedules > 0 && flag_type != FlagType::Boolean {
        return Err(format!(
            "{at}: schedules are only supported for Boolean flags, this flag is {}",
            flag_type.as_str()
        ));
    }
    if splits > 0 && (sum * SPLIT_SCALE).round() != 100.0 * SPLIT_SCALE {
        return Err(format!(
            "{at}: split percentages sum to {sum}; they must sum to exactly 100"
        ));
    }
    Ok(())
}

/// Checks a configuration's `conditions` (each with a `flagValue` and at least one matcher)
/// and collects what they refer to.
pub(crate) fn check_flag_conditions(
    conditions: &[Value],
    flag_type: FlagType,
    refs: &mut RawRefs,
) -> Result<(), String> {
    for (i, condition) in conditions.iter().enumerate() {
        let at = format!("conditions[{i}]");
        let Some(object) = condition.as_object() else {
            return Err(format!(
                "{at}: a condition is an object with a flagValue and matchers (allOf, anyOf, not, property, group, flag)"
            ));
        };
        let Some(flag_value) = object.get("flagValue") else {
            return Err(format!("{at}: flagValue is required"));
        };
        check_value(flag_value, flag_type, &format!("{at}.flagValue"))?;
        let mut matchers = object.clone();
        matchers.remove("flagValue");
        if matchers.is_empty() {
            return Err(format!(
                "{at}: a condition needs at least one of allOf, anyOf, not, property, group, flag"
            ));
        }
        check_matchers(&matchers, &at, true, refs, 0)?;
        if let Some(first) = conditions[..i].iter().position(|c| c == condition) {
            return Err(format!("{at}: repeats conditions[{first}]"));
        }
    }
    Ok(())
}

/// Checks a target group's `conditions` object and collects what it refers to.
pub(crate) fn check_group_conditions(conditions: &Value, refs: &mut RawRefs) -> Result<(), String> {
    let Some(object) = conditions.as_object() else {
        return Err(
            "conditions: required, an object with one of allOf, anyOf, not, property, group"
                .to_owned(),
        );
    };
    check_matchers(object, "conditions", false, refs, 0)
}

fn check_matchers(
    object: &Map<String, Value>,
    at: &str,
    flags_allowed: bool,
    refs: &mut RawRefs,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: conditions nested too deeply"));
    }
    for (key, value) in object {
        let here = format!("{at}.{key}");
        match key.as_str() {
            "allOf" | "anyOf" => {
                let Some(items) = value.as_array() else {
                    return Err(format!("{here}: must be an array of conditions"));
                };
                for (i, item) in items.iter().enumerate() {
                    let item_at = format!("{here}[{i}]");
                    let Some(item_object) = item.as_object() else {
                        return Err(format!("{item_at}: must be an object"));
                    };
                    check_matchers(item_object, &item_at, flags_allowed, refs, depth + 1)?;
                    if let Some(first) = items[..i].iter().position(|c| c == item) {
                        return Err(format!("{item_at}: repeats {here}[{first}]"));
                    }
                }
            }
            "not" => {
                let Some(inner) = value.as_object() else {
                    return Err(format!("{here}: must be an object"));
                };
                if inner.len() != 1 || inner.contains_key("not") {
                    return Err(format!(
                        "{here}: must hold exactly one of allOf, anyOf, property, group{}",
                        if flags_allowed { ", flag" } else { "" }
                    ));
                }
                check_matchers(inner, &here, flags_allowed, refs, depth + 1)?;
            }
            "property" => check_property(value, &here, refs)?,
            "group" => {
                let id = value.as_object().and_then(|g| {
                    (g.len() == 1)
                        .then(|| g.get("id").and_then(Value::as_str))
                        .flatten()
                });
                match id {
                    Some(id) if !id.is_empty() => {
                        refs.groups.push((here, id.to_owned()));
                    }
                    _ if value.get("name").is_some() => {
                        return Err(format!(
                            "{here}: the API refers to target groups by id: {{\"group\": {{\"id\": \"<target group id>\"}}}} (names are the CasC form)"
                        ));
                    }
                    _ => {
                        return Err(format!("{here}: must be {{\"id\": \"<target group id>\"}}"));
                    }
                }
            }
            "flag" if flags_allowed => {
                let key = check_flag_dependency(value, &here)?;
                refs.flags.push((here, key));
            }
            "flag" => {
                return Err(format!(
                    "{here}: target group conditions cannot depend on flags"
                ));
            }
            "flagValue" => {
                return Err(format!(
                    "{here}: flagValue belongs on a top-level condition only"
                ));
            }
            other => {
                return Err(format!(
                    "{at}: unknown field {other:?}; expected allOf, anyOf, not, property, group{}",
                    if flags_allowed { ", flag" } else { "" }
                ));
            }
        }
    }
    Ok(())
}

fn check_flag_dependency(value: &Value, at: &str) -> Result<FlagKey, String> {
    let usage = "must be {\"id\": \"<flag id>\", \"value\": <value>} or {\"name\": \"<flag name>\", \"value\": <value>}";
    let Some(object) = value.as_object() else {
        return Err(format!("{at}: {usage}"));
    };
    if let Some(other) = unknown_field(object, &["id", "name", "value"]) {
        return Err(format!("{at}: unknown field {other:?}; {usage}"));
    }
    match object.get("value") {
        Some(Value::String(_) | Value::Number(_) | Value::Bool(_)) => {}
        _ => {
            return Err(format!("{at}.value: required, a string, number or boolean"));
        }
    }
    let text = |k: &str| {
        object
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (object.contains_key("id"), object.contains_key("name")) {
        (true, false) => text("id")
            .map(|id| FlagKey::Id(id.to_owned()))
            .ok_or_else(|| format!("{at}.id: must be a non-empty string")),
        (false, true) => text("name")
            .map(|name| FlagKey::Name(name.to_owned()))
            .ok_or_else(|| format!("{at}.name: must be a non-empty string")),
        _ => Err(format!("{at}: {usage}")),
    }
}

fn check_property(value: &Value, at: &str, refs: &mut RawRefs) -> Result<(), String> {
    let Some(object) = value.as_object() else {
        return Err(format!(
            "{at}: must be an object with name, operator and (for most operators) operands"
        ));
    };
    if let Some(other) = unknown_field(object, &["name", "operator", "operands"]) {
        return Err(format!(
            "{at}: unknown field {other:?}; a property condition has name, operator, operands"
        ));
    }
    let name = match object.get("name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => name,
        _ => return Err(format!("{at}.name: required, a non-empty string")),
    };
    let operator = match object.get("operator").and_then(Value::as_str) {
        Some(op) if PROPERTY_OPERATORS.contains(&op) => op,
        Some(op) => {
            return Err(format!(
                "{at}.operator: unknown operator {op:?}; one of {}",
                PROPERTY_OPERATORS.join(", ")
            ));
        }
        None => return Err(format!("{at}.operator: required")),
    };
    check_operands(operator, object.get("operands"), &format!("{at}.operands"))?;
    refs.properties.push((at.to_owned(), name.to_owned()));
    Ok(())
}

fn check_operands(operator: &str, operands: Option<&Value>, at: &str) -> Result<(), String> {
    if matches!(operator, "is-undefined" | "is-true" | "is-false") {
        return match operands {
            None => Ok(()),
            Some(_) => Err(format!("{at}: {operator} takes no operands")),
        };
    }
    let Some(items) = operands.and_then(Value::as_array) else {
        return Err(format!("{at}: {operator} needs an operands array"));
    };
    let all = |pred: fn(&Value) -> bool| items.iter().all(pred);
    let count = |min: usize, max: usize| (min..=max).contains(&items.len());
    let unique = items
        .iter()
        .enumerate()
        .all(|(i, item)| !items[..i].contains(item));
    let date = |v: &Value| v.as_str().is_some_and(crate::time::is_rfc3339);
    let (ok, expected) = match operator {
        "eq" | "ne" => (
            count(1, 1) && (all(Value::is_string) || all(Value::is_number)),
            "one string or number",
        ),
        "gt" | "gte" | "lt" | "lte" => (count(1, 1) && all(Value::is_number), "one number"),
        "in-array" => (
            count(1, usize::MAX) && unique && (all(Value::is_string) || all(Value::is_number)),
            "at least one value, all strings or all numbers, without repeats",
        ),
        "regex" => (
            count(1, 2) && all(Value::is_string),
            "one or two strings (pattern, flags)",
        ),
        "before" | "after" => (count(1, 1) && all(date), "one RFC 3339 date-time"),
        "in-between" => (count(2, 2) && all(date), "two RFC 3339 date-times"),
        // The semver operators.
        _ => (count(1, 1) && all(Value::is_string), "one version string"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{at}: {operator} needs {expected}, got {}",
            Value::Array(items.clone())
        ))
    }
}

/// The values a configuration serves that are plain values (the default, each condition's
/// value, every split option), as the variant strings the service keeps.
pub(crate) fn served_values(default_value: &Value, conditions: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let mut collect = |value: &Value| match value {
        Value::Array(items) => {
            for option in items.iter().filter_map(|i| i.get("option")) {
                if let Some(text) = variant_text(option) {
                    out.push(text);
                }
            }
        }
        other => {
            if let Some(text) = variant_text(other) {
                out.push(text);
            }
        }
    };
    collect(default_value);
    for condition in conditions {
        if let Some(value) = condition.get("flagValue") {
            collect(value);
        }
    }
    out
}

fn variant_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether two variant strings name the same value of a flag of this type (numbers compare
/// as numbers: "2" and "2.0" are one variant).
pub(crate) fn same_variant(flag_type: FlagType, a: &str, b: &str) -> bool {
    match flag_type {
        FlagType::Number => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        },
        FlagType::Boolean | FlagType::String => a == b,
    }
}

/// Checks a flag's `variants`: strings (even for Number flags) that name values of its type.
pub(crate) fn check_variants(
    variants: &[Value],
    flag_type: FlagType,
) -> Result<Vec<String>, String> {
    let mut out = Vec::with_capacity(variants.len());
    for (i, variant) in variants.iter().enumerate() {
        let Some(text) = variant.as_str() else {
            return Err(format!(
                "variants[{i}]: variants are strings, also for {} flags; got {variant}",
                flag_type.as_str()
            ));
        };
        let fits = match flag_type {
            FlagType::Boolean => matches!(text, "true" | "false"),
            FlagType::Number => text.trim().parse::<f64>().is_ok_and(f64::is_finite),
            FlagType::String => true,
        };
        if !fits {
            return Err(format!(
                "variants[{i}]: {text:?} is not a value of a {} flag",
                flag_type.as_str()
            ));
        }
        out.push(text.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn value(v: Value, t: FlagType) -> Result<(), String> {
        check_value(&v, t, "defaultValue")
    }

    #[test]
    fn splits_sum_to_100_at_four_decimals() {
        let split = |a: f64, b: f64, c: f64| json!([{"option": "a", "percentage": a}, {"option": "b", "percentage": b}, {"option": "c", "percentage": c}]);
        assert!(value(split(33.3333, 33.3333, 33.3334), FlagType::String).is_ok());
        assert!(value(split(33.33333, 33.33333, 33.33334), FlagType::String).is_ok());
        assert!(value(split(33.33, 33.33, 33.33), FlagType::String).is_err());
        assert!(value(split(50.0, 50.0, 0.0001), FlagType::String).is_err());
        assert!(value(split(50.0, 50.0, 0.00004), FlagType::String).is_ok());
    }

    #[test]
    fn schedules_and_mixing() {
        let schedule = json!([{"from": "2024-01-01T00:00:00Z", "percentage": 10}, {"from": "2024-02-01T00:00:00.5+01:00", "percentage": 100}]);
        assert!(value(schedule.clone(), FlagType::Boolean).is_ok());
        assert!(value(schedule, FlagType::String).is_err());
        let mixed = json!([{"from": "2024-01-01T00:00:00Z", "percentage": 50}, {"option": true, "percentage": 50}]);
        assert!(value(mixed, FlagType::Boolean).is_err());
        let both = json!([{"from": "2024-01-01T00:00:00Z", "option": true, "percentage": 100}]);
        assert!(value(both, FlagType::Boolean).is_err());
        let bad_date = json!([{"from": "yesterday", "percentage": 100}]);
        assert!(value(bad_date, FlagType::Boolean).is_err());
    }

    #[test]
    fn operands_follow_their_operator() {
        let mut refs = RawRefs::default();
        let mut ok =
            |property: Value| check_group_conditions(&json!({"property": property}), &mut refs);
        assert!(ok(json!({"name": "a", "operator": "is-true"})).is_ok());
        assert!(ok(json!({"name": "a", "operator": "is-true", "operands": []})).is_err());
        assert!(ok(json!({"name": "a", "operator": "in-array", "operands": ["x", "y"]})).is_ok());
        assert!(ok(json!({"name": "a", "operator": "in-array", "operands": ["x", 1]})).is_err());
        assert!(ok(json!({"name": "a", "operator": "in-array", "operands": ["x", "x"]})).is_err());
        assert!(ok(json!({"name": "a", "operator": "in-array", "operands": []})).is_err());
        assert!(ok(json!({"name": "a", "operator": "gte", "operands": [18]})).is_ok());
        assert!(ok(json!({"name": "a", "operator": "gte", "operands": ["18"]})).is_err());
        assert!(ok(json!({"name": "a", "operator": "semver-gte", "operands": ["1.2.3"]})).is_ok());
        assert!(ok(json!({"name": "a", "operator": "in-between", "operands": ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"]})).is_ok());
        assert!(ok(json!({"name": "a", "operator": "before", "operands": ["soon"]})).is_err());
        assert!(ok(json!({"name": "a", "operator": "regex", "operands": ["^a", "i"]})).is_ok());
        assert!(ok(json!({"name": "a", "operator": "like", "operands": ["x"]})).is_err());
        assert_eq!(refs.properties.len(), 6);
    }

    #[test]
    fn condition_trees() {
        let mut refs = RawRefs::default();
        let conditions = vec![json!({
            "allOf": [
                {"allOf": [{"group": {"id": "g1"}}]},
                {"not": {"flag": {"name": "other", "value": true}}},
                {"anyOf": [{"property": {"name": "p", "operator": "is-false"}}]},
            ],
            "flagValue": true,
        })];
        check_flag_conditions(&conditions, FlagType::Boolean, &mut refs).expect("valid");
        assert_eq!(refs.groups[0].1, "g1");
        assert_eq!(refs.flags[0].1, FlagKey::Name("other".into()));
        assert_eq!(refs.properties[0].1, "p");
        for bad in [
            json!({"group": {"id": "g"}}),
            json!({"flagValue": true}),
            json!({"group": {"name": "Beta"}, "flagValue": true}),
            json!({"group": {"id": "g"}, "value": true, "flagValue": true}),
            json!({"not": {"group": {"id": "g"}, "property": {"name": "a", "operator": "is-true"}}, "flagValue": true}),
            json!({"allOf": [{"flagValue": true}], "flagValue": true}),
            json!({"flag": {"id": "x", "name": "y", "value": 1}, "flagValue": true}),
        ] {
            let mut refs = RawRefs::default();
            assert!(
                check_flag_conditions(std::slice::from_ref(&bad), FlagType::Boolean, &mut refs)
                    .is_err(),
                "{bad}"
            );
        }
        let twice = vec![
            json!({"group": {"id": "g"}, "flagValue": true}),
            json!({"group": {"id": "g"}, "flagValue": true}),
        ];
        assert!(check_flag_conditions(&twice, FlagType::Boolean, &mut RawRefs::default()).is_err());
        assert!(
            check_group_conditions(
                &json!({"flag": {"name": "f", "value": true}}),
                &mut RawRefs::default()
            )
            .is_err()
        );
    }

    #[test]
    fn variants_and_served_values() {
        assert!(check_variants(&[json!("1"), json!("2.5")], FlagType::Number).is_ok());
        assert!(check_variants(&[json!(1)], FlagType::Number).is_err());
        assert!(check_variants(&[json!("x")], FlagType::Number).is_err());
        assert!(check_variants(&[json!("yes")], FlagType::Boolean).is_err());
        assert!(same_variant(FlagType::Number, "2", "2.0"));
        assert!(!same_variant(FlagType::String, "2", "2.0"));
        let served = served_values(
            &json!([{"option": 1, "percentage": 50}, {"option": 2.5, "percentage": 50}]),
            &[
                json!({"flagValue": 3, "group": {"id": "g"}}),
                json!({"flagValue": {"valueWrittenInCode": true}, "group": {"id": "h"}}),
            ],
        );
        assert_eq!(served, ["1", "2.5", "3"]);
    }
}
