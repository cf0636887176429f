//! Reading the whole live state with as few requests as the APIs allow.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use flagsync_live::{LiveExperiment, LiveRollout, LiveSnapshot, LiveTargetGroup};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cloudbees::CloudBeesClient;
use crate::confidence::ConfidenceClient;
use crate::error::{RemoteError, Result};

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
    /// Per environment, the flags the desired state declares. Only needed where the
    /// deployment lacks the flags list: the experiments list hides flags without release
    /// rules, so each of these that it does not show then gets one GET of its own (a 404
    /// there means truly absent).
    pub desired_flags: &'a BTreeMap<String, Vec<String>>,
}

/// What [`fetch_live_state`] should read; `None` skips a service.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveRequest<'a> {
    pub cloudbees: Option<CloudBeesScope<'a>>,
    pub confidence: Option<&'a ConfidenceClient>,
}

enum Piece {
    TargetGroups(Vec<LiveTargetGroup>),
    /// Every flag of an environment; `None` when the deployment lacks the flags list.
    Flags(String, Option<Vec<LiveExperiment>>),
    Experiments(String, Vec<LiveExperiment>),
    Hidden(String, Option<LiveExperiment>),
    Rollouts(Vec<LiveRollout>),
}

/// Reads everything the planner needs.
///
/// Requests: one target-group list, one flags list per environment (every flag, release
/// rule or not), every page of rollouts: against CloudBees 1 + (number of environments),
/// whatever the number of flags. Where a deployment answers the flags list with 404, that
/// environment is read the older way instead (said once at `info`): its experiments list,
/// then one GET per desired experiment the list did not show (it hides flags without a
/// release rule). Everything runs concurrently; each client's pacer keeps its service
/// under its rate. The first error cancels the rest and is returned.
pub async fn fetch_live_state(request: LiveRequest<'_>) -> Result<LiveSnapshot> {
    let mut snapshot = LiveSnapshot::default();
    let mut tasks: JoinSet<Result<Piece>> = JoinSet::new();

    let mut envs: BTreeSet<String> = BTreeSet::new();
    if let Some(scope) = request.cloudbees {
        envs.extend(scope.environments.iter().cloned());
        envs.extend(scope.desired_flags.keys().cloned());
        let client = scope.client.clone();
        tasks.spawn(async move { Ok(Piece::TargetGroups(client.list_target_groups().await?)) });
        for env in &envs {
            let client = scope.client.clone();
            let env = env.clone();
            tasks.spawn(async move {
                let list = client.list_flags(&env).await?;
                Ok(Piece::Flags(env, list))
            });
        }
    }
    if let Some(confidence) = request.confidence {
        let client = confidence.clone();
        tasks.spawn(async move { Ok(Piece::Rollouts(client.list_rollouts(None).await?)) });
    }

    // Environments whose flags list the deployment does not serve.
    let mut without_flags: Vec<String> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match join(joined)? {
            Piece::Flags(env, None) => without_flags.push(env),
            piece => store(&mut snapshot, piece),
        }
    }
    let Some(scope) = request.cloudbees.filter(|_| !without_flags.is_empty()) else {
        return Ok(snapshot);
    };
    without_flags.sort();
    tracing::info!(
        environments = %without_flags.join(", "),
        "this CloudBees deployment does not serve GET /applications/{{app}}/{{env}}/flags (404): \
         reading the experiments list of each environment instead, and one GET per desired \
         flag it hides"
    );
    for env in &without_flags {
        let client = scope.client.clone();
        let env = env.clone();
        tasks.spawn(async move {
            let list = client.list_experiments(&env).await?;
            Ok(Piece::Experiments(env, list))
        });
    }
    collect(&mut tasks, &mut snapshot).await?;

    let permits = Arc::new(Semaphore::new(MAX_HIDDEN_GETS_IN_FLIGHT));
    let fallback: BTreeSet<&String> = without_flags.iter().collect();
    for (env, flags) in scope
        .desired_flags
        .iter()
        .filter(|(env, _)| fallback.contains(env))
    {
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
        }
    }
    // Keep the answers in request order so the snapshot does not depend on timing.
    let mut hidden: Vec<(String, LiveExperiment)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match join(joined)? {
            Piece::Hidden(env, Some(exp)) => hidden.push((env, exp)),
            Piece::Hidden(_, None) => {}
            other => store(&mut snapshot, other),
        }
    }
    hidden.sort_by(|(env_a, a), (env_b, b)| {
        (env_a, a.flag().unwrap_or_default()).cmp(&(env_b, b.flag().unwrap_or_default()))
    });
    for (env, exp) in hidden {
        snapshot.experiments.entry(env).or_default().push(exp);
    }
    Ok(snapshot)
}

async fn collect(tasks: &mut JoinSet<Result<Piece>>, snapshot: &mut LiveSnapshot) -> Result<()> {
    while let Some(joined) = tasks.join_next().await {
        let piece = join(joined)?;
        store(snapshot, piece);
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
        Piece::Experiments(env, list) | Piece::Flags(env, Some(list)) => {
            snapshot.experiments.insert(env, list);
        }
        Piece::Flags(_, None) => {}
        Piece::Rollouts(rollouts) => snapshot.rollouts = rollouts,
        Piece::Hidden(env, Some(exp)) => snapshot.experiments.entry(env).or_default().push(exp),
        Piece::Hidden(_, None) => {}
    }
}
