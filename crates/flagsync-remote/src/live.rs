//! Reading the whole live state with as few requests as the APIs allow.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::Arc;

use flagsync_live::{LiveExperiment, LiveRollout, LiveSnapshot, LiveTargetGroup};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::cloudbees::CloudBeesClient;
use crate::confidence::ConfidenceClient;
use crate::error::{RemoteError, Result};

/// GETs of hidden experiments (or of rollouts' segments) in flight at once. Pacing bounds the rate, not the number of
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

/// What to read from Confidence.
#[derive(Clone, Copy, Debug)]
pub struct ConfidenceScope<'a> {
    pub client: &'a ConfidenceClient,
    /// Whose segments (their targeting, on the flags API) to read: one GET each.
    pub segments: SegmentScope<'a>,
}

/// Which rollouts' segments [`fetch_live_state`] reads.
#[derive(Clone, Copy, Debug)]
pub enum SegmentScope<'a> {
    /// Every rollout's (an export).
    All,
    /// Those of rollouts flagsync manages (the `flagsync-id` label) and of the instances
    /// listed (bare ids: rollouts a repository adopts).
    Managed { instances: &'a [String] },
}

impl SegmentScope<'_> {
    fn wants(&self, rollout: &LiveRollout) -> bool {
        match self {
            SegmentScope::All => true,
            SegmentScope::Managed { instances } => {
                rollout.flagsync_id.is_some()
                    || rollout
                        .instance_id
                        .as_ref()
                        .is_some_and(|id| instances.contains(id))
            }
        }
    }
}

/// What [`fetch_live_state`] should read; `None` skips a service.
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveRequest<'a> {
    pub cloudbees: Option<CloudBeesScope<'a>>,
    pub confidence: Option<ConfidenceScope<'a>>,
}

enum Piece {
    TargetGroups(Vec<LiveTargetGroup>),
    Experiments(String, Vec<LiveExperiment>),
    Hidden(String, Option<LiveExperiment>),
    Rollouts(Vec<LiveRollout>),
    Segment(usize, Option<serde_json::Value>),
}

/// Reads everything the planner needs.
///
/// Requests: one experiments list per environment, one target-group list, every page of
/// rollouts, then one GET per rollout segment in scope and one per desired experiment that
/// its environment's list did not show.
/// Everything runs concurrently; each client's pacer keeps its service under its rate. The
/// first error cancels the rest and is returned.
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
                let list = client.list_experiments(&env).await?;
                Ok(Piece::Experiments(env, list))
            });
        }
    }
    if let Some(confidence) = request.confidence {
        let client = confidence.client.clone();
        tasks.spawn(async move { Ok(Piece::Rollouts(client.list_rollouts(None).await?)) });
    }

    collect(&mut tasks, &mut snapshot).await?;

    if let Some(confidence) = request.confidence {
        // A rollout's targeting lives in its segment, on the flags API: one GET each,
        // paced by the client under that API's limit.
        let permits = Arc::new(Semaphore::new(MAX_HIDDEN_GETS_IN_FLIGHT));
        for (i, rollout) in snapshot.rollouts.iter().enumerate() {
            let Some(name) = rollout.segment_name.clone() else {
                continue;
            };
            if !confidence.segments.wants(rollout) {
                continue;
            }
            let client = confidence.client.clone();
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.ok();
                Ok(Piece::Segment(i, client.get_segment(&name).await?))
            });
        }
        collect(&mut tasks, &mut snapshot).await?;
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
        Piece::Experiments(env, list) => {
            snapshot.experiments.insert(env, list);
        }
        Piece::Rollouts(rollouts) => snapshot.rollouts = rollouts,
        Piece::Segment(i, segment) => {
            if let Some(rollout) = snapshot.rollouts.get_mut(i) {
                rollout.segment = segment;
            }
        }
        Piece::Hidden(env, Some(exp)) => snapshot.experiments.entry(env).or_default().push(exp),
        Piece::Hidden(_, None) => {}
    }
}
