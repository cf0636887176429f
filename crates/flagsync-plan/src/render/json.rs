//! `--format json`: a stable, versioned view of the plan for machines.

use serde::Serialize;
use serde_json::Value;

use super::framing::{Compared, Framing, Revision};
use crate::diff::PatchOp;
use crate::model::{Kind, Operation, Plan, Provider, Summary};
use crate::rollout::RolloutStep;

/// Field order is the declaration order; every field is always present (null or empty
/// when it does not apply) so consumers need no guessing.
#[derive(Serialize)]
struct JsonPlan<'a> {
    format_version: u32,
    /// `flagsync diff` only.
    #[serde(flatten)]
    revisions: Option<JsonRevisions<'a>>,
    summary: &'a Summary,
    warnings: &'a [String],
    /// Live resources in the managed scope that no manifest declares (without prune).
    /// Absent from a comparison of two revisions, which has no live side.
    #[serde(skip_serializing_if = "Option::is_none")]
    undeclared: Option<Vec<JsonUndeclared<'a>>>,
    actions: Vec<JsonAction<'a>>,
}

#[derive(Serialize)]
struct JsonUndeclared<'a> {
    id: &'a str,
    kind: Kind,
    provider: Provider,
    environment: Option<&'a str>,
    name: &'a str,
    remote_id: Option<&'a str>,
    /// Why `--prune` could not delete it either.
    unsupported: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonAction<'a> {
    id: &'a str,
    kind: Kind,
    provider: Provider,
    environment: Option<&'a str>,
    name: &'a str,
    operation: Operation,
    depends_on: &'a [String],
    live_fingerprint: Option<&'a str>,
    remote_id: Option<&'a str>,
    /// RFC 6902 operations (updates).
    patch: &'a [PatchOp],
    /// The full body to create (creates only; updates are described by `patch`).
    desired: Option<&'a Value>,
    steps: &'a [RolloutStep],
    unsupported: Option<&'a str>,
}

/// The two revisions a `flagsync diff` compares, and the notes on how they were read.
#[derive(Serialize)]
struct JsonRevisions<'a> {
    base: JsonRevision<'a>,
    head: JsonRevision<'a>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct JsonRevision<'a> {
    rev: &'a str,
    commit: Option<&'a str>,
}

impl<'a> From<&'a Revision> for JsonRevision<'a> {
    fn from(r: &'a Revision) -> Self {
        Self {
            rev: &r.rev,
            commit: r.commit.as_deref(),
        }
    }
}

/// The plan as pretty-printed JSON, `format_version` first.
pub fn render_json(plan: &Plan) -> String {
    render_json_framed(plan, &Framing::default())
}

/// [`render_json`]; for two revisions, `base` and `head` (`rev`, `commit`) and `notes`
/// follow `format_version`.
pub fn render_json_framed(plan: &Plan, framing: &Framing) -> String {
    let revisions = match &framing.compared {
        Compared::LiveState => None,
        Compared::Revisions { base, head } => Some(JsonRevisions {
            base: base.into(),
            head: head.into(),
            notes: framing.notes.iter().map(|n| n.plain()).collect(),
        }),
    };
    let view = JsonPlan {
        format_version: plan.format_version,
        revisions,
        summary: &plan.summary,
        warnings: &plan.warnings,
        undeclared: matches!(framing.compared, Compared::LiveState).then(|| {
            plan.undeclared
                .iter()
                .map(|u| JsonUndeclared {
                    id: &u.id,
                    kind: u.key.kind,
                    provider: u.key.provider(),
                    environment: u.key.env.as_deref(),
                    name: &u.key.name,
                    remote_id: u.remote_id.as_deref(),
                    unsupported: u.unsupported.as_deref(),
                })
                .collect()
        }),
        actions: plan
            .actions
            .iter()
            .map(|a| JsonAction {
                id: &a.id,
                kind: a.key.kind,
                provider: a.key.provider(),
                environment: a.key.env.as_deref(),
                name: &a.key.name,
                operation: a.operation,
                depends_on: &a.depends_on,
                live_fingerprint: a.live_fingerprint.as_deref(),
                remote_id: a.remote_id.as_deref(),
                patch: &a.patch,
                desired: match a.operation {
                    Operation::Create => a.desired.as_ref(),
                    _ => None,
                },
                steps: &a.steps,
                unsupported: a.unsupported.as_deref(),
            })
            .collect(),
    };
    // Serializing plain data into a String cannot fail; fall back to a valid document
    // rather than panic if it ever did.
    serde_json::to_string_pretty(&view).unwrap_or_else(|e| {
        serde_json::json!({"format_version": plan.format_version, "error": e.to_string()})
            .to_string()
    })
}
