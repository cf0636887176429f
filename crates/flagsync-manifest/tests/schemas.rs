//! The committed JSON Schemas in `schemas/` must be what the types generate
//! (regenerate with `flagsync schema --out schemas`).

use std::path::PathBuf;

#[test]
fn committed_schemas_are_up_to_date() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    for (name, generated) in flagsync_manifest::schemas() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/{name} is stale: run `cargo run -p flagsync -- schema --out schemas`"
        );
    }
}

#[test]
fn manifest_schemas_require_type_and_reject_unknown_fields() {
    use flagsync_manifest::{Kind, TagField};
    let mut kinds = 0;
    for (name, json) in flagsync_manifest::schemas() {
        let schema: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(schema["additionalProperties"], false, "{name}");
        if name == "flagsync.schema.json" {
            continue;
        }
        // Legacy manifests and rollouts name their kind with `type`, Unify CasC ones with
        // `kind`.
        let kind: Kind = name.trim_end_matches(".schema.json").parse().unwrap();
        let required = schema["required"].as_array().unwrap();
        assert!(
            required.contains(&kind.tag_field().as_str().into()),
            "{name}"
        );
        if kind.tag_field() == TagField::Kind {
            assert!(schema["properties"]["kind"]["$ref"].is_string(), "{name}");
        }
        kinds += 1;
    }
    assert_eq!(kinds, Kind::ALL.len(), "a schema per kind");
}

/// A default the schema documents ("defaults to `x`") is the one the defaults table holds.
#[test]
fn documented_defaults_are_the_tables() {
    use flagsync_manifest::Kind;
    use flagsync_manifest::defaults::{self, Side};
    use serde_json::Value;

    // `[false, true]`, `or`: how the model's comments write a value.
    fn written(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => format!(
                "[{}]",
                items.iter().map(written).collect::<Vec<_>>().join(", ")
            ),
            other => other.to_string(),
        }
    }

    let schemas: std::collections::BTreeMap<String, String> = flagsync_manifest::schemas()
        .into_iter()
        .map(|(name, json)| (name.to_owned(), json))
        .collect();
    let mut checked = 0;
    for kind in [
        Kind::Experiment,
        Kind::TargetGroup,
        Kind::Flag,
        Kind::FlagConfiguration,
        Kind::UnifyTargetGroup,
        Kind::CustomProperty,
    ] {
        let schema: Value =
            serde_json::from_str(&schemas[&format!("{}.schema.json", kind.as_str())]).unwrap();
        for d in defaults::table(kind).filter(|d| d.object == kind.as_str()) {
            let description = schema["properties"][d.field]["description"]
                .as_str()
                .unwrap_or_default();
            if description.to_lowercase().contains("defaults to") {
                let value = format!("`{}`", written(&d.value(Side::Manifest)));
                assert!(
                    description.contains(&value),
                    "{kind}.{}: {description:?} does not say {value}",
                    d.field
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "only {checked} documented defaults found");
}
