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
    for (name, json) in flagsync_manifest::schemas() {
        let schema: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(schema["additionalProperties"], false, "{name}");
        if name != "flagsync.schema.json" {
            let required = schema["required"].as_array().unwrap();
            assert!(required.contains(&"type".into()), "{name}");
        }
    }
}
