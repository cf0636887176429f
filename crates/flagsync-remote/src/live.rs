//! Reading the whole live state with as few requests as the APIs allow.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use flagsync_live::{
    LiveExperiment, LiveFlagConfiguration, LiveRollout, LiveSnapshot, LiveTargetGroup, LiveUnify,
    LiveUnifyObject,
};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::cloudbees::CloudBeesClient;
use crate::confidence::ConfidenceClient;
use crate::error::{RemoteError, Result};
use crate::unify::{UnifyClient, UnifyObject};

/// GETs of hidden experiments in flight at once. Pacing bounds the rate, not the number of
/// open requests: against an unpaced endpoint (the emulator) 10,000 concurrent GETs ran into
/// the open-file limit and took 50 times longer.
const MAX_HIDDEN_GETS_IN_FLIGHT: usize = 16;

/// What to read from CloudBees.
#[derive(Clone, Copy, Debug)]
pub struct CloudBeesScope<'a> {
    pub client: &'a CloudBeesClient,
    /// Environments to list. Environments that appear only as keys of `desired_flags` are
    /// listed too.
    pub environments: &'a [String],
    /// Per environment, the flags the desired state declares. The experiments list hides flags
    /// without release rules, so each of these that the list does not show gets one GET of its
    /// own (a 404 there means truly absent).
    pub desired_flags: &'a BTreeMap<String, Vec<String>>,
}

/// What to read from CloudBees Unify: the application's properties, target groups and
/// flags, and every flag's configuration in `environments`.
#[derive(Clone, Copy, Debug)]
pub struct UnifyScope<'a> {
    pub client: &'a UnifyClient,
    /// Environment names; each must exist in the organization and be linked to the
    /// application, or nothing else is read ([`RemoteError::UnknownEnvironment`]).
    pub environments: &'a [String],
}

/// What [`fetch_live_state`] should read; `None` skips a service.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveRequest<'a> {
    pub cloudbees: Option<CloudBeesScope<'a>>,
    pub confidence: Option<&'a ConfidenceClient>,
    pub unify: Option<UnifyScope<'a>>,
}

enum Piece {
    TargetGroups(Vec<LiveTargetGroup>),
    Experiments(String, Vec<LiveExperiment>),
    Hidden(String, Option<LiveExperiment>),
    Rollouts(Vec<LiveRollout>),
    /// The Unify account resolved (`requests` sent for it), and the environments' ids.
    UnifyAccount {
        requests: usize,
        live: LiveUnify,
    },
    UnifyObjects(UnifyObject, Vec<LiveUnifyObject>),
    UnifyConfigurations(String, Vec<LiveFlagConfiguration>),
}

/// How far reading live state is: requests answered, and requests known to be needed so
/// far. `expected` grows as reading goes (the GETs of flags a list hides are known once the
/// lists are in; each page of rollouts announces the next); `done <= expected`. A request
/// sent again after a failure counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveProgress {
    pub done: usize,
    pub expected: usize,
}

/// What a reader task reports while it runs.
enum Event {
    /// A page of rollouts was answered; `more`: another follows.
    RolloutPage { more: bool },
}

/// Reads everything the planner needs.
///
/// Requests: one experiments list per environment, one target-group list, every page of
/// rollouts, then one GET per desired experiment that its environment's list did not show.
/// For CloudBees Unify: the organization, application and environments (first, so that an
/// unknown environment stops everything), then one list each of properties, target groups
/// and flags and one bulk configuration read per environment, never a request per flag.
/// Everything runs concurrently; each client's pacer keeps its service under its rate. The
/// first error cancels the rest and is returned.
pub async fn fetch_live_state(request: LiveRequest<'_>) -> Result<LiveSnapshot> {
    fetch_live_state_with_progress(request, &|_| {}).await
}

/// [`fetch_live_state`], calling `on_progress` (from this future, never concurrently) each
/// time a request is answered or more requests become known.
pub async fn fetch_live_state_with_progress(
    request: LiveRequest<'_>,
    on_progress: &dyn Fn(LiveProgress),
) -> Result<LiveSnapshot> {
    let mut snapshot = LiveSnapshot::default();
    let mut tasks: JoinSet<Result<Piece>> = JoinSet::new();
    let (events, mut incoming) = mpsc::unbounded_channel::<Event>();
    let mut progress = LiveProgress::default();

    let mut envs: BTreeSet<String> = BTreeSet::new();
    if let Some(scope) = request.cloudbees {
        envs.extend(scope.environments.iter().cloned());
        envs.extend(scope.desired_flags.keys().cloned());
        let client = scope.client.clone();
        tasks.spawn(async move { Ok(Piece::TargetGroups(client.list_target_groups().await?)) });
        progress.expected += 1;
        for env in &envs {
            let client = scope.client.clone();
            let env = env.clone();
            tasks.spawn(async move {
                let list = client.list_experiments(&env).await?;
                Ok(Piece::Experiments(env, list))
            });
            progress.expected += 1;
        }
    }
    if let Some(confidence) = request.confidence {
        let client = confidence.clone();
        let events = events.clone();
        tasks.spawn(async move {
            let on_page = move |more| {
                // The receiver lives as long as this function; a send can only fail once
                // it returned, when nobody is listening any more.
                let _ = events.send(Event::RolloutPage { more });
            };
            Ok(Piece::Rollouts(
                client.list_rollouts_paged(None, &on_page).await?,
            ))
        });
        progress.expected += 1;
    }
    if let Some(scope) = request.unify {
        let client = scope.client.clone();
        let names = scope.environments.to_vec();
        let requests = client.account_requests();
        tasks.spawn(async move {
            let environments = client.environment_ids(&names).await?;
            let account = client.account().await?;
            Ok(Piece::UnifyAccount {
                requests,
                live: LiveUnify {
                    organization_id: account.organization_id.clone(),
                    application_id: account.application_id.clone(),
                    environments: environments.into_iter().collect(),
                    ..LiveUnify::default()
                },
            })
        });
        progress.expected += requests;
    }
    on_progress(progress);

    let mut hidden: Vec<(String, LiveExperiment)> = Vec::new();
    collect(
        &mut tasks,
        &mut incoming,
        &mut progress,
        on_progress,
        &mut snapshot,
        &mut hidden,
    )
    .await?;

    if let (Some(scope), Some(live)) = (request.unify, &snapshot.unify) {
        for kind in [
            UnifyObject::Property,
            UnifyObject::TargetGroup,
            UnifyObject::Flag,
        ] {
            let client = scope.client.clone();
            tasks.spawn(async move { Ok(Piece::UnifyObjects(kind, client.list(kind).await?)) });
            progress.expected += 1;
        }
        for (name, id) in &live.environments {
            let client = scope.client.clone();
            let (name, id) = (name.clone(), id.clone());
            tasks.spawn(async move {
                let list = client.environment_configurations(&id).await?;
                Ok(Piece::UnifyConfigurations(name, list))
            });
            progress.expected += 1;
        }
    }
    if let Some(scope) = request.cloudbees {
        let permits = Arc::new(Semaphore::new(MAX_HIDDEN_GETS_IN_FLIGHT));
        for (env, flags) in scope.desired_flags {
            let listed: BTreeSet<&str> = snapshot
                .experiments
                .get(env)
                .map(|exps| exps.iter().filter_map(LiveExperiment::flag).collect())
                .unwrap_or_default();
            let mut asked: BTreeSet<&str> = BTreeSet::new();
            for flag in flags {
                if listed.contains(flag.as_str()) || !asked.insert(flag.as_str()) {
                    continue;
                }
                let client = scope.client.clone();
                let env = env.clone();
                let flag = flag.clone();
                let permits = Arc::clone(&permits);
                tasks.spawn(async move {
                    // The semaphore is never closed, so acquiring cannot fail.
                    let _permit = permits.acquire_owned().await.ok();
                    let found = client.get_experiment(&env, &flag).await?;
                    Ok(Piece::Hidden(env, found))
                });
                progress.expected += 1;
            }
        }
    }
    on_progress(progress);
    collect(
        &mut tasks,
        &mut incoming,
        &mut progress,
        on_progress,
        &mut snapshot,
        &mut hidden,
    )
    .await?;
    if request.cloudbees.is_some() {
        // Keep the answers in request order so the snapshot does not depend on timing.
        hidden.sort_by(|(env_a, a), (env_b, b)| {
            (env_a, a.flag().unwrap_or_default()).cmp(&(env_b, b.flag().unwrap_or_default()))
        });
        for (env, exp) in hidden {
            snapshot.experiments.entry(env).or_default().push(exp);
        }
    }
    Ok(snapshot)
}

/// Waits for every task, storing what each read (hidden experiments into `hidden`) and
/// reporting progress as requests are answered.
async fn collect(
    tasks: &mut JoinSet<Result<Piece>>,
    incoming: &mut mpsc::UnboundedReceiver<Event>,
    progress: &mut LiveProgress,
    on_progress: &dyn Fn(LiveProgress),
    snapshot: &mut LiveSnapshot,
    hidden: &mut Vec<(String, LiveExperiment)>,
) -> Result<()> {
    let apply = |event: Event, progress: &mut LiveProgress| match event {
        Event::RolloutPage { more } => {
            progress.done += 1;
            if more {
                progress.expected += 1;
            }
        }
    };
    loop {
        tokio::select! {
            Some(event) = incoming.recv() => {
                apply(event, progress);
                on_progress(*progress);
            }
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break };
                match join(joined)? {
                    // Its pages were counted as they came.
                    piece @ Piece::Rollouts(_) => store(snapshot, piece),
                    Piece::UnifyAccount { requests, live } => {
                        progress.done += requests;
                        on_progress(*progress);
                        snapshot.unify = Some(live);
                    }
                    Piece::Hidden(env, found) => {
                        progress.done += 1;
                        on_progress(*progress);
                        if let Some(exp) = found {
                            hidden.push((env, exp));
                        }
                    }
                    piece => {
                        progress.done += 1;
                        on_progress(*progress);
                        store(snapshot, piece);
                    }
                }
            }
        }
    }
    // Pages reported just before their task ended.
    while let Ok(event) = incoming.try_recv() {
        apply(event, progress);
        on_progress(*progress);
    }
    Ok(())
}

fn join(joined: std::result::Result<Result<Piece>, tokio::task::JoinError>) -> Result<Piece> {
    match joined {
        Ok(r) => r,
        // A panicking task is a bug in this crate; report it rather than propagate the panic.
        Err(e) => Err(RemoteError::Internal {
            reason: format!("a live-state reader task failed: {e}"),
        }),
    }
}

fn store(snapshot: &mut LiveSnapshot, piece: Piece) {
    match piece {
        Piece::TargetGroups(groups) => snapshot.target_groups = groups,
        Piece::Experiments(env, list) => {
            snapshot.experiments.insert(env, list);
        }
        Piece::Rollouts(rollouts) => snapshot.rollouts = rollouts,
        Piece::Hidden(env, Some(exp)) => snapshot.experiments.entry(env).or_default().push(exp),
        Piece::Hidden(_, None) => {}
        Piece::UnifyAccount { live, .. } => snapshot.unify = Some(live),
        Piece::UnifyObjects(kind, objects) => {
            if let Some(live) = snapshot.unify.as_mut() {
                match kind {
                    UnifyObject::Property => live.properties = objects,
                    UnifyObject::TargetGroup => live.target_groups = objects,
                    UnifyObject::Flag => live.flags = objects,
                }
            }
        }
        Piece::UnifyConfigurations(env, list) => {
            if let Some(live) = snapshot.unify.as_mut() {
                live.configurations.insert(env, list);
            }
        }
    }
}
