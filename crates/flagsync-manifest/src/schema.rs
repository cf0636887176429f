//! JSON Schemas of every manifest kind and of `flagsync.yaml`, generated from the types so
//! editors complete and check manifests exactly as flagsync reads them.

use schemars::{JsonSchema, Schema};

use crate::model::unify;
use crate::model::{Config, Experiment, Rollout, TargetGroup};

/// `(file name, pretty JSON)` for each schema, in a stable order: the legacy CloudBees kinds,
/// rollouts, `flagsync.yaml`, then the CloudBees Unify CasC kinds (`<kind>.schema.json`).
pub fn schemas() -> Vec<(&'static str, String)> {
    vec![
        ("experiment.schema.json", render::<Experiment>(&["type"])),
        ("target-group.schema.json", render::<TargetGroup>(&["type"])),
        ("rollout.schema.json", render::<Rollout>(&["type", "id"])),
        ("flagsync.schema.json", render::<Config>(&[])),
        (
            "custom-property.schema.json",
            render::<unify::Property>(&["kind", "type"]),
        ),
        (
            "unify-target-group.schema.json",
            render::<unify::TargetGroup>(&["kind", "conditions"]),
        ),
        ("flag.schema.json", render::<unify::Flag>(&["kind"])),
        (
            "flag-configuration.schema.json",
            render::<unify::FlagConfiguration>(&["kind", "enabled", "defaultValue"]),
        ),
    ]
}

/// `required`: fields optional in the APIs' JSON or in the model (which reports their
/// absence with a diagnostic: `type`, a rollout's `id`, a CasC `kind`) that a manifest file
/// must have.
fn render<T: JsonSchema>(required: &[&str]) -> String {
    let mut schema: Schema = schemars::schema_for!(T);
    if let Some(obj) = schema.as_object_mut()
        && !required.is_empty()
    {
        let list = obj
            .entry("required")
            .or_insert_with(|| serde_json::json!([]));
        if let Some(list) = list.as_array_mut() {
            for (i, field) in required.iter().enumerate() {
                list.insert(i, (*field).into());
            }
        }
    }
    let mut out = serde_json::to_string_pretty(&schema).unwrap_or_default();
    out.push('\n');
    out
}
