//! `--format json`: the plan document, the same shape as a saved plan (`plan --out`), so a
//! tool reads one format whether it runs `plan`, `show` or `diff`, or opens a plan file.

use serde::Serialize;
use serde_json::{Map, Value};

use super::framing::{Compared, Framing, Revision};
use crate::model::Plan;

/// One revision of a `flagsync diff`, in its JSON.
#[derive(Serialize, schemars::JsonSchema)]
pub struct JsonRevision<'a> {
    /// The revision as given (`--base`, `--head`).
    pub rev: &'a str,
    /// The full commit id it resolved to; `null` when it could not be read.
    pub commit: Option<&'a str>,
}

impl<'a> From<&'a Revision> for JsonRevision<'a> {
    fn from(r: &'a Revision) -> Self {
        Self {
            rev: &r.rev,
            commit: r.commit.as_deref(),
        }
    }
}

/// The plan as pretty-printed JSON: exactly [`Plan::to_json`], the saved plan.
pub fn render_json(plan: &Plan) -> String {
    render_json_framed(plan, &Framing::default())
}

/// [`render_json`]; for two revisions (`flagsync diff`), `base` and `head` (`rev`,
/// `commit`) and `notes` follow `format_version`, and `undeclared`, which needs live
/// state, is left out.
pub fn render_json_framed(plan: &Plan, framing: &Framing) -> String {
    let value = match serde_json::to_value(plan) {
        Ok(value) => value,
        // Serializing plain data cannot fail; fall back to a valid document rather than
        // panic if it ever did.
        Err(e) => {
            return serde_json::json!({"format_version": plan.format_version, "error": e.to_string()})
                .to_string();
        }
    };
    let value = match (&framing.compared, value) {
        (Compared::Revisions { base, head }, Value::Object(fields)) => {
            let mut out = Map::new();
            for (key, field) in fields {
                match key.as_str() {
                    "undeclared" => {}
                    "format_version" => {
                        out.insert(key, field);
                        out.insert("base".into(), json(&JsonRevision::from(base)));
                        out.insert("head".into(), json(&JsonRevision::from(head)));
                        let notes: Vec<String> = framing.notes.iter().map(|n| n.plain()).collect();
                        out.insert("notes".into(), json(&notes));
                    }
                    _ => {
                        out.insert(key, field);
                    }
                }
            }
            Value::Object(out)
        }
        (_, value) => value,
    };
    serde_json::to_string_pretty(&value).unwrap_or_default()
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The JSON Schema (draft 2020-12) of the plan document: the saved plan and `--format json`
/// of `plan`, `show` and `diff` (which adds `base`, `head` and `notes`, and has no
/// `undeclared`).
pub fn plan_schema() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let schema = generator.root_schema_for::<Plan>();
    let revision = generator.subschema_for::<JsonRevision<'static>>();
    let mut value = schema.to_value();
    if let Some(root) = value.as_object_mut() {
        if let Some(Value::Object(properties)) = root.get_mut("properties") {
            let mut with_diff = Map::new();
            for (key, property) in std::mem::take(properties) {
                let format_version = key == "format_version";
                with_diff.insert(key, property);
                if format_version {
                    let mut base = revision.clone().to_value();
                    let mut head = revision.clone().to_value();
                    describe(
                        &mut base,
                        "`flagsync diff` only: the revision the change starts from.",
                    );
                    describe(
                        &mut head,
                        "`flagsync diff` only: the revision with the change.",
                    );
                    with_diff.insert("base".into(), base);
                    with_diff.insert("head".into(), head);
                    with_diff.insert(
                        "notes".into(),
                        serde_json::json!({
                            "description": "`flagsync diff` only: how environments kept on other branches were read.",
                            "type": "array",
                            "items": {"type": "string"}
                        }),
                    );
                }
            }
            *properties = with_diff;
        }
        if let Some(Value::Array(required)) = root.get_mut("required") {
            required.retain(|r| r != "undeclared");
        }
        if let Some(Value::Object(defs)) = root.get_mut("$defs") {
            for def in generator.take_definitions(true) {
                defs.entry(def.0).or_insert(def.1);
            }
        }
    }
    value
}

fn describe(schema: &mut Value, text: &str) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("description".into(), text.into());
    }
}
