//! Canonical JSON text: sorted object keys, no whitespace. Used for fingerprints and for
//! comparing array elements in the diff, because `serde_json` keeps insertion order
//! (`preserve_order`) and two equal objects may have their keys in different orders.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Serializes `value` with object keys sorted (by their UTF-8 bytes) and no whitespace.
pub fn canonical_string(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        // Scalars other than strings have one serialization already.
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    // Serializing a `str` through serde_json escapes it exactly as JSON requires.
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// The fingerprint of a live object: lowercase hex SHA-256 of its canonical serialization.
///
/// `apply --plan` compares it with the fingerprint of the object it reads back, to refuse
/// a saved plan when live state changed since the plan was made.
pub fn fingerprint(live_body: &Value) -> String {
    let digest = Sha256::digest(canonical_string(live_body).as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_recursively() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "s"}});
        assert_eq!(
            canonical_string(&a),
            r#"{"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn fingerprint_ignores_key_order_but_not_values() {
        let a = json!({"name": "g", "conditions": [{"operator": "eq"}]});
        let b = json!({"conditions": [{"operator": "eq"}], "name": "g"});
        let c = json!({"conditions": [{"operator": "ne"}], "name": "g"});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&c));
        assert_eq!(fingerprint(&a).len(), 64);
        assert!(
            fingerprint(&a)
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn fingerprint_of_empty_object_is_sha256_of_braces() {
        // sha256("{}")
        assert_eq!(
            fingerprint(&json!({})),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
