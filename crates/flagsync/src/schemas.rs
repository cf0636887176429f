//! The JSON Schemas of flagsync's `--format json` outputs, written by `flagsync schema` beside
//! those of the manifests. Each is generated from the types the output is serialized from,
//! so it cannot drift from what flagsync prints; a test checks real outputs against them.

use serde_json::{Value, json};

use crate::diagnostics::JsonOutput;
use crate::output::ErrorDoc;

/// `(file name, pretty JSON)` of each output schema, in a stable order.
pub fn outputs() -> Vec<(&'static str, String)> {
    vec![
        (
            "validate.output.schema.json",
            finish(
                validate(),
                "flagsync validate --format json",
                "The problems `flagsync validate` found, each at file:line:col with a stable code.",
            ),
        ),
        (
            "plan.output.schema.json",
            finish(
                flagsync_plan::render::plan_schema(),
                "flagsync plan document",
                "A plan: the file `flagsync plan --out FILE` saves and `apply --plan FILE` reads, \
                 and what `flagsync plan`, `flagsync show` and `flagsync diff` print with \
                 `--format json` (diff adds `base`, `head` and `notes`, and has no `undeclared`).",
            ),
        ),
        (
            "apply.output.schema.json",
            finish(
                flagsync_apply::report_schema(),
                "flagsync apply --format json",
                "What `flagsync apply` did, one outcome per action of the plan.",
            ),
        ),
        (
            "error.output.schema.json",
            finish(
                generator().root_schema_for::<ErrorDoc>().to_value(),
                "flagsync error (--format json)",
                "What every command given `--format json` prints on stdout when it fails (exit \
                 status 1) instead of its document.",
            ),
        ),
    ]
}

fn generator() -> schemars::SchemaGenerator {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
}

/// The validate document, its `code` listing every diagnostic code.
fn validate() -> Value {
    let mut schema = generator()
        .root_schema_for::<JsonOutput<'static>>()
        .to_value();
    let codes: Vec<&str> = flagsync_manifest::Code::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    if let Some(code) = schema.pointer_mut("/$defs/Diagnostic/properties/code")
        && let Some(obj) = code.as_object_mut()
    {
        obj.insert("enum".into(), json!(codes));
    }
    schema
}

/// Sets the title and description, and ends the text with a newline.
fn finish(mut schema: Value, title: &str, description: &str) -> String {
    if let Some(obj) = schema.as_object_mut() {
        let mut out = serde_json::Map::new();
        for (key, value) in std::mem::take(obj) {
            if key == "title" || key == "description" {
                continue;
            }
            let first = key == "$schema";
            out.insert(key, value);
            if first {
                out.insert("title".into(), title.into());
                out.insert("description".into(), description.into());
            }
        }
        *obj = out;
    }
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
