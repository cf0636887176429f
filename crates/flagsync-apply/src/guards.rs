//! Checks made before anything is written: a saved plan still matches live state, and the
//! plan does not delete more than the user allowed.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use flagsync_plan::{LiveResource, Operation, Plan, ResourceKey, fingerprint};

/// Why `apply` refuses to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    #[error(
        "the plan deletes {planned} resource(s), more than the {max} allowed by --max-deletes: {}{}; \
         review the plan, then raise --max-deletes if this is intended",
        ids.join(", "),
        if *planned > ids.len() { ", …" } else { "" }
    )]
    TooManyDeletes {
        planned: usize,
        max: usize,
        /// The first deletions (at most [`MAX_LISTED`]).
        ids: Vec<String>,
    },

    #[error(
        "live state changed since the plan was made ({} resource(s)): {}; plan again",
        drifts.len(),
        drifts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    #[diagnostic(help("run `flagsync plan` again and review the new plan; nothing was written"))]
    LiveStateChanged { drifts: Vec<Drift> },
}

/// How many ids an error lists before it abbreviates.
pub const MAX_LISTED: usize = 10;

/// One way live state differs from what a saved plan was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub action_id: String,
    pub reason: String,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.action_id, self.reason)
    }
}

/// Compares a saved plan with live state read now (normalized the way the plan's live side
/// was). Pure: no I/O.
///
/// - update/delete: the live object must still exist and have the fingerprint the plan
///   recorded (and, for rollouts, be the same instance);
/// - create: nothing with that key may exist now.
pub fn check_fingerprints(plan: &Plan, live: &[LiveResource]) -> Vec<Drift> {
    let now: HashMap<&ResourceKey, &LiveResource> = live.iter().map(|r| (&r.key, r)).collect();
    let mut drifts = Vec::new();
    for action in &plan.actions {
        let current = now.get(&action.key);
        let reason = match (action.operation, current) {
            (Operation::Create, None) => None,
            (Operation::Create, Some(_)) => {
                Some("was created by someone else since the plan was made".to_owned())
            }
            (Operation::Update | Operation::Adopt | Operation::Delete, None) => {
                Some("was deleted since the plan was made".to_owned())
            }
            (Operation::Update | Operation::Adopt | Operation::Delete, Some(current)) => {
                match &action.live_fingerprint {
                    None => Some(
                        "the plan has no fingerprint of the live object, so a change cannot \
                         be ruled out"
                            .to_owned(),
                    ),
                    Some(saved) if *saved != fingerprint(&current.body) => {
                        Some("was changed since the plan was made".to_owned())
                    }
                    Some(_) => match (&action.remote_id, &current.remote_id) {
                        (Some(planned), Some(now)) if planned != now => Some(format!(
                            "is now another instance ({now}, the plan was made for {planned})"
                        )),
                        (Some(planned), None) => Some(format!(
                            "the plan was made for instance {planned}, which is no longer found"
                        )),
                        _ => None,
                    },
                }
            }
        };
        if let Some(reason) = reason {
            drifts.push(Drift {
                action_id: action.id.clone(),
                reason,
            });
        }
    }
    drifts
}

/// [`check_fingerprints`] as a `Result`, for callers that simply refuse on any drift.
pub fn ensure_unchanged(plan: &Plan, live: &[LiveResource]) -> Result<(), ApplyError> {
    let drifts = check_fingerprints(plan, live);
    if drifts.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::LiveStateChanged { drifts })
    }
}

/// Refuses a plan with more deletions than `max` (`None`: no limit).
pub fn check_max_deletes(plan: &Plan, max: Option<usize>) -> Result<(), ApplyError> {
    let Some(max) = max else {
        return Ok(());
    };
    let deletes: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| a.operation == Operation::Delete)
        .map(|a| a.id.as_str())
        .collect();
    if deletes.len() <= max {
        return Ok(());
    }
    Err(ApplyError::TooManyDeletes {
        planned: deletes.len(),
        max,
        ids: deletes
            .iter()
            .take(MAX_LISTED)
            .map(|s| (*s).to_owned())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagsync_plan::{DesiredResource, PlanOptions, plan};
    use serde_json::{Value, json};

    fn live(key: ResourceKey, body: Value, remote_id: Option<&str>) -> LiveResource {
        LiveResource {
            patch_base: None,
            key,
            body,
            remote_id: remote_id.map(str::to_owned),
            references: Vec::new(),
        }
    }

    fn prune_all() -> PlanOptions {
        PlanOptions {
            prune: true,
            prune_flags: false,
            targets: Vec::new(),
            scope: flagsync_plan::ManagedScope {
                target_groups: true,
                experiment_envs: vec!["Production".into()],
                rollouts: true,
                ..Default::default()
            },
        }
    }

    /// update of `a`, delete of `b`, create of `c`, update of rollout `r`.
    fn setup() -> (Plan, Vec<LiveResource>) {
        let live_now = vec![
            live(
                ResourceKey::target_group("a"),
                json!({"name": "a", "operator": "and"}),
                None,
            ),
            live(ResourceKey::target_group("b"), json!({"name": "b"}), None),
            live(
                ResourceKey::rollout("r"),
                json!({"displayName": "R", "rollout": {"reach": "0.1"}}),
                Some("id1"),
            ),
        ];
        let want = vec![
            DesiredResource::new(
                ResourceKey::target_group("a"),
                json!({"name": "a", "operator": "or"}),
            ),
            DesiredResource::new(ResourceKey::target_group("c"), json!({"name": "c"})),
            DesiredResource::new(
                ResourceKey::rollout("r"),
                json!({"displayName": "R", "rollout": {"reach": "0.2"}}),
            ),
        ];
        let p = plan(&want, &live_now, &prune_all()).unwrap();
        assert_eq!(p.actions.len(), 4, "{:?}", p.actions);
        (p, live_now)
    }

    fn ids(d: &[Drift]) -> Vec<&str> {
        d.iter().map(|d| d.action_id.as_str()).collect()
    }

    #[test]
    fn unchanged_live_state_has_no_drift() {
        let (p, live_now) = setup();
        assert_eq!(check_fingerprints(&p, &live_now), vec![]);
        assert_eq!(ensure_unchanged(&p, &live_now), Ok(()));
        // Key order does not matter: fingerprints are canonical.
        let mut reordered = live_now.clone();
        reordered[0].body = json!({"operator": "and", "name": "a"});
        assert_eq!(check_fingerprints(&p, &reordered), vec![]);
    }

    #[test]
    fn changed_deleted_created_and_replaced_are_drift() {
        let (p, mut live_now) = setup();
        live_now[0].body = json!({"name": "a", "operator": "nor"});
        live_now.remove(1);
        live_now.push(live(
            ResourceKey::target_group("c"),
            json!({"name": "c"}),
            None,
        ));
        live_now[1].remote_id = Some("id2".into());
        let drifts = check_fingerprints(&p, &live_now);
        let mut got = ids(&drifts);
        got.sort();
        assert_eq!(
            got,
            vec![
                "rollout/r",
                "target-group/a",
                "target-group/b",
                "target-group/c"
            ]
        );
        let text = ensure_unchanged(&p, &live_now).unwrap_err().to_string();
        assert!(text.contains("target-group/b: was deleted"), "{text}");
        assert!(text.contains("now another instance (id2"), "{text}");
    }

    #[test]
    fn missing_fingerprint_is_drift() {
        let (mut p, live_now) = setup();
        for a in &mut p.actions {
            a.live_fingerprint = None;
        }
        let mut expected: Vec<&str> = p
            .actions
            .iter()
            .filter(|a| a.operation != Operation::Create)
            .map(|a| a.id.as_str())
            .collect();
        expected.sort();
        let drifts = check_fingerprints(&p, &live_now);
        let mut got = ids(&drifts);
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn max_deletes() {
        let (p, _) = setup();
        assert_eq!(check_max_deletes(&p, None), Ok(()));
        assert_eq!(check_max_deletes(&p, Some(1)), Ok(()));
        let err = check_max_deletes(&p, Some(0)).unwrap_err();
        assert_eq!(
            err,
            ApplyError::TooManyDeletes {
                planned: 1,
                max: 0,
                ids: vec!["target-group/b".into()]
            }
        );
        assert!(
            err.to_string()
                .contains("deletes 1 resource(s), more than the 0 allowed")
        );
    }
}
