//! Field masks (`google.protobuf.FieldMask`, sent as a comma-separated string): each path
//! names a field, and an update replaces exactly those fields with what the request body
//! holds, a path naming a message replacing the whole message. A masked field the body
//! does not have is cleared.

use serde_json::{Map, Value};

/// The paths of a mask string; `None` for an absent or empty mask.
pub(crate) fn paths(mask: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let Some(mask) = mask.map(str::trim).filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for path in mask.split(',').map(str::trim) {
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(format!("invalid update mask path {path:?} in {mask:?}"));
        }
        out.push(path.to_owned());
    }
    Ok(Some(out))
}

/// The first component of a path (`rollout` of `rollout.reach`).
pub(crate) fn top(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// Sets `path` of `target` to its value in `source`, or removes it when `source` lacks it.
pub(crate) fn copy(target: &mut Map<String, Value>, source: &Map<String, Value>, path: &str) {
    let parts: Vec<&str> = path.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    let mut from = Some(source);
    for part in parents {
        from = from.and_then(|m| m.get(*part)).and_then(Value::as_object);
    }
    let value = from.and_then(|m| m.get(*last)).filter(|v| !v.is_null());
    let mut to = target;
    for part in parents {
        let entry = to
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        to = next;
    }
    match value {
        Some(v) => {
            to.insert((*last).to_owned(), v.clone());
        }
        None => {
            to.remove(*last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_message_path_replaces_the_message_and_clears_what_the_body_lacks() {
        let mut stored =
            map(json!({"rollout": {"flag": "f", "controlVariant": "c", "reach": "0.1"}}));
        copy(
            &mut stored,
            &map(json!({"rollout": {"flag": "f", "reach": "0.5"}})),
            "rollout",
        );
        assert_eq!(
            stored,
            map(json!({"rollout": {"flag": "f", "reach": "0.5"}}))
        );
        copy(
            &mut stored,
            &map(json!({"rollout": {"reach": "0.7"}})),
            "rollout.reach",
        );
        assert_eq!(stored["rollout"]["flag"], "f");
        assert_eq!(stored["rollout"]["reach"], "0.7");
        copy(&mut stored, &map(json!({})), "labels");
        copy(&mut stored, &map(json!({})), "rollout.flag");
        assert_eq!(stored, map(json!({"rollout": {"reach": "0.7"}})));
    }

    #[test]
    fn masks_parse() {
        assert_eq!(paths(None), Ok(None));
        assert_eq!(paths(Some(" ")), Ok(None));
        assert_eq!(
            paths(Some("rollout, labels")),
            Ok(Some(vec!["rollout".into(), "labels".into()]))
        );
        assert!(paths(Some("rollout,,labels")).is_err());
        assert!(paths(Some("rollout.")).is_err());
        assert_eq!(top("rollout.reach"), "rollout");
    }
}
