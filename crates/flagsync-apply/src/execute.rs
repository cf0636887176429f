//! The scheduler: runs the plan's DAG with bounded concurrency per service.

use std::collections::{BTreeSet, HashMap, VecDeque};

use tokio::task::{Id, JoinSet};

use flagsync_plan::{Action, Plan, Provider};

use crate::report::{ApplyEvent, ApplyReport, Outcome, Status};
use crate::{ApplyOptions, Clients, cloudbees, rollout, unify};

/// An action that did what it should.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub remote_id: Option<String>,
    pub warnings: Vec<String>,
}

/// An action that failed, or that was not attempted because no API call can make it
/// (`skipped`). `remote_id` and `warnings` keep what was learnt before the failure (e.g. the
/// id of a rollout created before its launch failed).
#[derive(Debug)]
pub(crate) struct Fail {
    pub reason: String,
    pub conflict: bool,
    pub skipped: bool,
    pub remote_id: Option<String>,
    pub warnings: Vec<String>,
}

impl Fail {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            conflict: false,
            skipped: false,
            remote_id: None,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn conflict(reason: impl Into<String>) -> Self {
        Self {
            conflict: true,
            ..Self::new(reason)
        }
    }

    /// Nothing was sent: the change cannot be made through the API.
    pub(crate) fn skipped(reason: impl Into<String>) -> Self {
        Self {
            skipped: true,
            ..Self::new(reason)
        }
    }
}

pub(crate) type ActionResult = Result<Done, Fail>;

/// Executes `plan` and reports every action's outcome, in plan order.
///
/// An action starts as soon as all of its `depends_on` have succeeded (not level by level),
/// with at most `options.concurrency` actions in flight per service. Dependents of an action
/// that failed never start; they are reported as never ran, naming the failed action(s).
/// A malformed graph (unknown dependency ids, cycles) does not panic: the affected actions
/// never run. `on_event` is called from this task (never concurrently) as actions start and
/// end.
///
/// CloudBees creates are a PUT, which the service treats as create-or-override: an object
/// created by someone else between reading live state and the PUT is overwritten (the API
/// offers no conditional create). `apply --plan` narrows that window with
/// [`crate::check_fingerprints`]; updates are guarded by the plan's `test` operations.
///
/// Dropping the returned future cancels the actions in flight (their current request may
/// still complete on the server; running apply again converges).
pub async fn apply(
    plan: &Plan,
    clients: &Clients,
    options: &ApplyOptions,
    on_event: &(dyn Fn(ApplyEvent) + Send + Sync),
) -> ApplyReport {
    let actions = &plan.actions;
    let graph = Graph::new(actions);
    let limit = options.concurrency.max(1);

    let mut waiting = graph.waiting.clone();
    let mut results: Vec<Option<ActionResult>> = actions.iter().map(|_| None).collect();
    let mut ready: HashMap<Provider, VecDeque<usize>> = HashMap::new();
    for i in 0..actions.len() {
        if waiting[i] == 0 && graph.unknown[i].is_empty() {
            ready
                .entry(actions[i].key.provider())
                .or_default()
                .push_back(i);
        }
    }
    let mut in_flight: HashMap<Provider, usize> = HashMap::new();
    let mut tasks: JoinSet<ActionResult> = JoinSet::new();
    let mut task_action: HashMap<Id, usize> = HashMap::new();

    loop {
        // Fill every service's free slots, in plan order within a service.
        for (provider, queue) in ready.iter_mut() {
            let busy = in_flight.entry(*provider).or_default();
            while *busy < limit {
                let Some(i) = queue.pop_front() else { break };
                *busy += 1;
                let action = actions[i].clone();
                on_event(ApplyEvent::Started {
                    id: action.id.clone(),
                });
                tracing::debug!(action = %action.id, "starting");
                let clients = clients.clone();
                let options = options.clone();
                let handle =
                    tasks.spawn(async move { run_action(&action, &clients, &options).await });
                task_action.insert(handle.id(), i);
            }
        }

        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let (task, result) = match joined {
            Ok((task, result)) => (task, result),
            // A panic in an action is a bug; report it on that action instead of unwinding.
            Err(e) => (
                e.id(),
                Err(Fail::new(format!(
                    "internal error: the action's task failed: {e}"
                ))),
            ),
        };
        let Some(i) = task_action.remove(&task) else {
            continue;
        };
        if let Some(busy) = in_flight.get_mut(&actions[i].key.provider()) {
            *busy = busy.saturating_sub(1);
        }
        let ok = result.is_ok();
        match &result {
            Ok(_) => tracing::debug!(action = %actions[i].id, "succeeded"),
            Err(f) => tracing::debug!(action = %actions[i].id, reason = %f.reason, "failed"),
        }
        on_event(ApplyEvent::Finished {
            id: actions[i].id.clone(),
            ok,
        });
        results[i] = Some(result);
        if ok {
            for &d in &graph.dependents[i] {
                waiting[d] = waiting[d].saturating_sub(1);
                if waiting[d] == 0 && graph.unknown[d].is_empty() {
                    ready
                        .entry(actions[d].key.provider())
                        .or_default()
                        .push_back(d);
                }
            }
        }
    }

    let blocked = graph.blocked_by(&results);
    let mut outcomes = Vec::with_capacity(actions.len());
    for (i, (action, result)) in actions.iter().zip(results).enumerate() {
        let (status, remote_id, warnings) = match result {
            Some(Ok(done)) => (Status::Succeeded, done.remote_id, done.warnings),
            Some(Err(fail)) if fail.skipped => (
                Status::Skipped {
                    reason: fail.reason,
                },
                fail.remote_id,
                fail.warnings,
            ),
            Some(Err(fail)) => (
                Status::Failed {
                    reason: fail.reason,
                    conflict: fail.conflict,
                },
                fail.remote_id,
                fail.warnings,
            ),
            None => {
                on_event(ApplyEvent::Skipped {
                    id: action.id.clone(),
                });
                (
                    Status::NeverRan {
                        blocked_by: blocked.get(&i).cloned().unwrap_or_default(),
                    },
                    None,
                    Vec::new(),
                )
            }
        };
        outcomes.push(Outcome {
            action_id: action.id.clone(),
            key: action.key.clone(),
            operation: action.operation,
            status,
            remote_id,
            warnings,
        });
    }
    ApplyReport {
        outcomes,
        metadata: plan.metadata.clone(),
    }
}

async fn run_action(action: &Action, clients: &Clients, options: &ApplyOptions) -> ActionResult {
    match action.key.provider() {
        Provider::CloudBees => match &clients.cloudbees {
            Some(client) => cloudbees::run(action, client).await,
            None => Err(Fail::new(
                "no CloudBees client is configured (is `cloudbees` set in flagsync.yaml?)",
            )),
        },
        Provider::Confidence => match &clients.confidence {
            Some(client) => rollout::run(action, client, options).await,
            None => Err(Fail::new(
                "no Confidence client is configured (is `confidence` set in flagsync.yaml?)",
            )),
        },
        Provider::Unify => match &clients.unify {
            Some(client) => unify::run(action, client, options).await,
            None => Err(Fail::new(
                "no CloudBees Unify client is configured (is `cloudbees` set with `api: unify` in flagsync.yaml?)",
            )),
        },
    }
}

/// The dependency graph by action index.
struct Graph {
    /// Distinct known dependencies of each action.
    deps: Vec<Vec<usize>>,
    /// Dependency ids of each action that name no action of the plan.
    unknown: Vec<Vec<String>>,
    dependents: Vec<Vec<usize>>,
    /// How many dependencies have not succeeded yet.
    waiting: Vec<usize>,
    ids: Vec<String>,
}

impl Graph {
    fn new(actions: &[Action]) -> Self {
        // Ids should be unique (`Plan::from_json` checks); if not, a dependency on a shared
        // id waits for every action carrying it.
        let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, a) in actions.iter().enumerate() {
            by_id.entry(a.id.as_str()).or_default().push(i);
        }
        let n = actions.len();
        let mut deps = vec![Vec::new(); n];
        let mut unknown = vec![Vec::new(); n];
        let mut dependents = vec![Vec::new(); n];
        for (i, a) in actions.iter().enumerate() {
            let mut seen = BTreeSet::new();
            for dep in &a.depends_on {
                match by_id.get(dep.as_str()) {
                    Some(targets) => {
                        for &d in targets {
                            if seen.insert(d) {
                                deps[i].push(d);
                                dependents[d].push(i);
                            }
                        }
                    }
                    None => {
                        if !unknown[i].contains(dep) {
                            unknown[i].push(dep.clone());
                        }
                    }
                }
            }
        }
        let waiting = deps.iter().map(Vec::len).collect();
        Graph {
            deps,
            unknown,
            dependents,
            waiting,
            ids: actions.iter().map(|a| a.id.clone()).collect(),
        }
    }

    /// For each action that never ran: the root causes, i.e. the failed actions it
    /// (transitively) depends on through other never-ran actions, plus unknown dependency
    /// ids; for actions caught in a cycle, the never-ran dependencies inside it.
    fn blocked_by(&self, results: &[Option<ActionResult>]) -> HashMap<usize, Vec<String>> {
        let never: Vec<usize> = (0..results.len())
            .filter(|&i| results[i].is_none())
            .collect();
        if never.is_empty() {
            return HashMap::new();
        }
        // Kahn's order over the never-ran subgraph, so causes are known before dependents.
        let in_never = |i: usize| results[i].is_none();
        let mut pending: HashMap<usize, usize> = never
            .iter()
            .map(|&i| (i, self.deps[i].iter().filter(|&&d| in_never(d)).count()))
            .collect();
        let mut queue: VecDeque<usize> = never
            .iter()
            .copied()
            .filter(|i| pending.get(i) == Some(&0))
            .collect();
        let mut roots: HashMap<usize, BTreeSet<String>> = HashMap::new();
        // `done`: actions resolved in dependency order; a dependency not among them is inside
        // (or behind) a cycle and is named itself.
        let resolve =
            |i: usize, roots: &mut HashMap<usize, BTreeSet<String>>, done: &BTreeSet<usize>| {
                let mut set: BTreeSet<String> = self.unknown[i].iter().cloned().collect();
                for &d in &self.deps[i] {
                    match &results[d] {
                        Some(Err(_)) => {
                            set.insert(self.ids[d].clone());
                        }
                        Some(Ok(_)) => {}
                        None => match roots.get(&d).filter(|_| done.contains(&d)) {
                            Some(r) => set.extend(r.iter().cloned()),
                            None => {
                                set.insert(self.ids[d].clone());
                            }
                        },
                    }
                }
                roots.insert(i, set);
            };
        let mut done: BTreeSet<usize> = BTreeSet::new();
        while let Some(i) = queue.pop_front() {
            resolve(i, &mut roots, &done);
            done.insert(i);
            for &next in &self.dependents[i] {
                if let Some(p) = pending.get_mut(&next) {
                    *p = p.saturating_sub(1);
                    if *p == 0 {
                        queue.push_back(next);
                    }
                }
            }
        }
        for &i in &never {
            if !done.contains(&i) {
                resolve(i, &mut roots, &done);
            }
        }
        roots
            .into_iter()
            .map(|(i, set)| (i, set.into_iter().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagsync_plan::{Operation, ResourceKey};

    fn action(id: &str, deps: &[&str]) -> Action {
        Action {
            id: id.to_owned(),
            key: ResourceKey::target_group(id),
            operation: Operation::Create,
            patch: Vec::new(),
            desired: None,
            live: None,
            live_fingerprint: None,
            remote_id: None,
            depends_on: deps.iter().map(|s| (*s).to_owned()).collect(),
            steps: Vec::new(),
            unsupported: None,
            origin: None,
            used_by: Vec::new(),
        }
    }

    #[test]
    fn blocked_by_names_root_failures_unknown_ids_and_cycles() {
        let actions = vec![
            action("a", &[]),
            action("b", &["a"]),
            action("c", &["b"]),
            action("d", &["ghost"]),
            action("e", &["f"]),
            action("f", &["e"]),
            action("g", &["a", "ok"]),
            action("ok", &[]),
        ];
        let g = Graph::new(&actions);
        let results: Vec<Option<ActionResult>> = vec![
            Some(Err(Fail::new("x"))),
            None,
            None,
            None,
            None,
            None,
            None,
            Some(Ok(Done::default())),
        ];
        let b = g.blocked_by(&results);
        assert_eq!(b[&1], vec!["a"]);
        assert_eq!(b[&2], vec!["a"]);
        assert_eq!(b[&3], vec!["ghost"]);
        assert_eq!(b[&4], vec!["f"]);
        assert_eq!(b[&5], vec!["e"]);
        assert_eq!(b[&6], vec!["a"]);
        assert_eq!(b.len(), 6);
    }

    #[tokio::test]
    async fn malformed_graph_and_missing_clients_do_not_panic() {
        let plan = Plan {
            format_version: flagsync_plan::FORMAT_VERSION,
            metadata: Default::default(),
            actions: vec![
                action("a", &[]),
                action("b", &["a"]),
                action("c", &["nowhere"]),
                action("d", &["e"]),
                action("e", &["d"]),
            ],
            summary: Default::default(),
            warnings: Vec::new(),
            undeclared: Vec::new(),
        };
        let events = std::sync::Mutex::new(Vec::new());
        let report = apply(&plan, &Clients::default(), &ApplyOptions::default(), &|e| {
            events.lock().unwrap().push(e)
        })
        .await;
        assert_eq!(
            (report.succeeded(), report.failed(), report.never_ran()),
            (0, 1, 4)
        );
        match &report.outcomes[0].status {
            Status::Failed { reason, conflict } => {
                assert!(reason.contains("no CloudBees client"), "{reason}");
                assert!(!conflict);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            report.outcomes[1].status,
            Status::NeverRan {
                blocked_by: vec!["a".into()]
            }
        );
        assert_eq!(
            report.outcomes[2].status,
            Status::NeverRan {
                blocked_by: vec!["nowhere".into()]
            }
        );
        let events = events.into_inner().unwrap();
        assert_eq!(
            events,
            vec![
                ApplyEvent::Started { id: "a".into() },
                ApplyEvent::Finished {
                    id: "a".into(),
                    ok: false
                },
                ApplyEvent::Skipped { id: "b".into() },
                ApplyEvent::Skipped { id: "c".into() },
                ApplyEvent::Skipped { id: "d".into() },
                ApplyEvent::Skipped { id: "e".into() },
            ]
        );
    }
}
