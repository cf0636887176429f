//! What an apply did, per action: the report the binary renders (human or `--format json`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use flagsync_plan::{Metadata, Operation, ResourceKey};

/// The version of the `--format json` apply report. Bump only when an existing field
/// changes meaning; adding fields does not.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// Progress notifications, in the order things happen, for a progress bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyEvent {
    /// The action's first request is about to be sent.
    Started { id: String },
    /// The action ended (`ok`: it succeeded).
    Finished { id: String, ok: bool },
    /// The action will not run because something it depends on did not succeed. Sent once
    /// per such action after everything that could run has finished, so that a progress bar
    /// sized to the plan reaches its end.
    Skipped { id: String },
}

/// How one action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    Succeeded,
    Failed {
        reason: String,
        /// A concurrent change was detected (a `test` guard or a 409): plan again.
        conflict: bool,
    },
    /// Not made because no API call can make it (a rollout delete): nothing was sent, and
    /// live state still differs from the plan. `reason` says why and what to do instead.
    Skipped {
        reason: String,
    },
    /// Not attempted because a dependency did not succeed. `blocked_by` names the actions at
    /// the root of the problem: the failed ones (or, in a malformed plan, dependency ids that
    /// are missing or form a cycle).
    NeverRan {
        blocked_by: Vec<String>,
    },
}

/// The result of one action of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    /// The plan action's id (`KIND/NAME` or `KIND/ENVIRONMENT/NAME`).
    pub action_id: String,
    pub key: ResourceKey,
    pub operation: Operation,
    #[serde(flatten)]
    pub status: Status,
    /// Rollouts: the Confidence instance id acted on (created or updated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
    /// Things the user should know although the action did not fail (e.g. the part of a
    /// rollout change that no API call can make).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self.status, Status::Succeeded)
    }
}

/// Everything an apply did, one outcome per plan action, in plan order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    pub outcomes: Vec<Outcome>,
    /// What the apply ran from and by (set by the command; planning's default otherwise).
    pub metadata: Metadata,
}

impl ApplyReport {
    pub fn succeeded(&self) -> usize {
        self.count(|s| matches!(s, Status::Succeeded))
    }

    pub fn failed(&self) -> usize {
        self.count(|s| matches!(s, Status::Failed { .. }))
    }

    /// Failed actions whose failure was a detected concurrent change.
    pub fn conflicts(&self) -> usize {
        self.count(|s| matches!(s, Status::Failed { conflict: true, .. }))
    }

    pub fn never_ran(&self) -> usize {
        self.count(|s| matches!(s, Status::NeverRan { .. }))
    }

    /// Actions that no API call can make, reported instead of attempted.
    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, Status::Skipped { .. }))
    }

    /// Every action succeeded (an empty plan is a success); a skipped one did not.
    pub fn is_success(&self) -> bool {
        self.outcomes.iter().all(Outcome::is_success)
    }

    pub fn outcome(&self, action_id: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.action_id == action_id)
    }

    /// `Apply complete: N succeeded, M failed, K never ran.`, and `, S skipped` when some
    /// were.
    pub fn summary_line(&self) -> String {
        let skipped = match self.skipped() {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        format!(
            "Apply complete: {} succeeded, {} failed, {} never ran{skipped}.",
            self.succeeded(),
            self.failed(),
            self.never_ran()
        )
    }

    /// Plain-text lines for what needs attention (failures, actions that never ran,
    /// warnings), in plan order, followed by the summary line. The binary adds colour.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for o in &self.outcomes {
            let line = match &o.status {
                Status::Succeeded => None,
                Status::Failed {
                    reason,
                    conflict: true,
                } => Some(format!(
                    "conflict  {} {}: {reason}",
                    o.operation, o.action_id
                )),
                Status::Failed { reason, .. } => Some(format!(
                    "failed    {} {}: {reason}",
                    o.operation, o.action_id
                )),
                Status::Skipped { reason } => Some(format!(
                    "skipped   {} {}: {reason}",
                    o.operation, o.action_id
                )),
                Status::NeverRan { blocked_by } => Some(format!(
                    "never ran {} {}: blocked by {}",
                    o.operation,
                    o.action_id,
                    blocked_by.join(", ")
                )),
            };
            if let Some(line) = line {
                out.push_str(&line);
                out.push('\n');
            }
            for w in &o.warnings {
                out.push_str(&format!("warning   {}: {w}\n", o.action_id));
            }
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    fn count(&self, pred: impl Fn(&Status) -> bool) -> usize {
        self.outcomes.iter().filter(|o| pred(&o.status)).count()
    }
}

/// The apply report as `--format json` spells it.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "ApplyReport")]
struct ReportDoc<'a> {
    /// The version of this document's shape.
    format_version: u32,
    metadata: &'a Metadata,
    summary: ReportSummary,
    /// One per plan action, in plan order.
    outcomes: &'a [Outcome],
}

/// How many actions ended each way.
#[derive(Serialize, JsonSchema)]
struct ReportSummary {
    succeeded: usize,
    /// Failed actions, conflicts included.
    failed: usize,
    /// Failed actions whose failure was a change made by someone else since the plan.
    conflicts: usize,
    /// Actions not attempted because something they depend on did not succeed.
    never_ran: usize,
    /// Actions no API call can make: nothing was sent for them.
    skipped: usize,
}

/// `{"format_version": 1, "metadata": {...}, "summary": {...}, "outcomes": [...]}`.
impl Serialize for ApplyReport {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ReportDoc {
            format_version: REPORT_FORMAT_VERSION,
            metadata: &self.metadata,
            summary: ReportSummary {
                succeeded: self.succeeded(),
                failed: self.failed(),
                conflicts: self.conflicts(),
                never_ran: self.never_ran(),
                skipped: self.skipped(),
            },
            outcomes: &self.outcomes,
        }
        .serialize(serializer)
    }
}

/// The JSON Schema (draft 2020-12) of the `--format json` apply report.
pub fn report_schema() -> Value {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .root_schema_for::<ReportDoc<'static>>()
        .to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome(id: &str, status: Status) -> Outcome {
        Outcome {
            action_id: id.to_owned(),
            key: ResourceKey::target_group(id),
            operation: Operation::Create,
            status,
            remote_id: None,
            warnings: Vec::new(),
        }
    }

    fn report() -> ApplyReport {
        ApplyReport {
            metadata: Metadata::default(),
            outcomes: vec![
                outcome("a", Status::Succeeded),
                outcome(
                    "b",
                    Status::Failed {
                        reason: "boom".into(),
                        conflict: true,
                    },
                ),
                outcome(
                    "c",
                    Status::NeverRan {
                        blocked_by: vec!["b".into()],
                    },
                ),
            ],
        }
    }

    #[test]
    fn counts_and_summary() {
        let r = report();
        assert_eq!((r.succeeded(), r.failed(), r.never_ran()), (1, 1, 1));
        assert_eq!(r.conflicts(), 1);
        assert!(!r.is_success());
        assert_eq!(
            r.summary_line(),
            "Apply complete: 1 succeeded, 1 failed, 1 never ran."
        );
        assert!(ApplyReport::default().is_success());
        let human = r.render_human();
        assert!(human.contains("conflict  create b: boom"), "{human}");
        assert!(
            human.contains("never ran create c: blocked by b"),
            "{human}"
        );
    }

    #[test]
    fn a_skipped_action_is_neither_a_success_nor_a_failure() {
        let mut r = report();
        r.outcomes = vec![
            outcome("a", Status::Succeeded),
            outcome(
                "d",
                Status::Skipped {
                    reason: "not possible through the API: no delete call".into(),
                },
            ),
        ];
        assert_eq!((r.succeeded(), r.failed(), r.skipped()), (1, 0, 1));
        assert!(!r.is_success());
        assert_eq!(
            r.summary_line(),
            "Apply complete: 1 succeeded, 0 failed, 0 never ran, 1 skipped."
        );
        assert!(
            r.render_human()
                .contains("skipped   create d: not possible through the API: no delete call"),
            "{}",
            r.render_human()
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["summary"]["skipped"], 1);
        assert_eq!(v["summary"]["succeeded"], 1);
        assert_eq!(
            v["outcomes"][1],
            json!({"action_id": "d", "key": {"kind": "target-group", "name": "d"},
                   "operation": "create", "status": "skipped",
                   "reason": "not possible through the API: no delete call"})
        );
    }

    #[test]
    fn json_is_versioned_and_flat() {
        let v = serde_json::to_value(report()).unwrap();
        assert_eq!(v["format_version"], json!(REPORT_FORMAT_VERSION));
        assert_eq!(
            v["summary"],
            json!({"succeeded": 1, "failed": 1, "conflicts": 1, "never_ran": 1, "skipped": 0})
        );
        assert_eq!(
            v["outcomes"][1],
            json!({"action_id": "b", "key": {"kind": "target-group", "name": "b"},
                   "operation": "create", "status": "failed", "reason": "boom", "conflict": true})
        );
        assert_eq!(v["outcomes"][2]["status"], json!("never-ran"));
        assert_eq!(v["outcomes"][2]["blocked_by"], json!(["b"]));
        // Outcomes read back (a consumer in Rust can parse them).
        let back: Outcome = serde_json::from_value(v["outcomes"][1].clone()).unwrap();
        assert_eq!(back, report().outcomes[1]);
    }
}
