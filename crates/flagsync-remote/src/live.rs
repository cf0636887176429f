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

/// GETs of hidden experiments (or of rollouts' segments) in flight at once. Pacing bounds the
/// rate, not the number of open requests: against an unpaced endpoint (the emulator) 10,000 concurrent GETs ran into
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
    pub confidence: Option<ConfidenceScope<'a>>,
    pub unify: Option<UnifyScope<'a>>,
}

enum Piece {
    TargetGroups(Vec<LiveTargetGroup>),
    /// Every flag of an environment; `None` when the deployment lacks the flags list.
    Flags(String, Option<Vec<LiveExperiment>>),
    Experiments(String, Vec<LiveExperiment>),
    Hidden(String, Option<LiveExperiment>),
    Rollouts(Vec<LiveRollout>),
    Segment(usize, Option<serde_json::Value>),
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
/// Requests: one target-group list, one flags list per environment (every flag, release
/// rule or not), every page of rollouts: against CloudBees 1 + (number of environments),
/// whatever the number of flags; then one GET per rollout segment in scope. Where a
/// deployment answers the flags list with 404, that environment is read the older way
/// instead (said once at `info`): its experiments list, then one GET per desired experiment
/// the list did not show (it hides flags without a release rule). For CloudBees Unify: the
/// organization, application and environments (first, so that an unknown environment stops
/// everything), then one list each of properties, target groups and flags and one bulk
/// configuration read per environment, never a request per flag. Everything runs
/// concurrently; each client's pacer keeps its service under its rate. The first error
/// cancels the rest and is returned.
pub async fn fetch_live_state(request: LiveRequest<'_>) -> Result<LiveSnapshot> {
    fetch_live_state_with_progress(request, &|_| {}).await
}

/// [`fetch_live_state`], calling `on_progress` (from this future, never concurrently) each
/// time a request is answered or more requests become known.
pub async fn fetch_live_state_with_progress(
    request: LiveRequest<'_>,
    on_progress: &dyn Fn(LiveProgress),
) -> Result<LiveSnapshot> {
    let (events, incoming) = mpsc::unbounded_channel::<Event>();
    let mut reading = Reading {
        tasks: JoinSet::new(),
        incoming,
        progress: LiveProgress::default(),
        on_progress,
        snapshot: LiveSnapshot::default(),
        hidden: Vec::new(),
        without_flags: Vec::new(),
    };

    let mut envs: BTreeSet<String> = BTreeSet::new();
    if let Some(scope) = request.cloudbees {
        envs.extend(scope.environments.iter().cloned());
        envs.extend(scope.desired_flags.keys().cloned());
        let client = scope.client.clone();
        reading.spawn(async move { Ok(Piece::TargetGroups(client.list_target_groups().await?)) });
        for env in &envs {
            let client = scope.client.clone();
            let env = env.clone();
            reading.spawn(async move {
                let list = client.list_flags(&env).await?;
                Ok(Piece::Flags(env, list))
            });
        }
    }
    if let Some(confidence) = request.confidence {
        let client = confidence.client.clone();
        let events = events.clone();
        reading.spawn(async move {
            let on_page = move |more| {
                // The receiver lives as long as this function; a send can only fail once
                // it returned, when nobody is listening any more.
                let _ = events.send(Event::RolloutPage { more });
            };
            Ok(Piece::Rollouts(
                client.list_rollouts_paged(None, &on_page).await?,
            ))
        });
    }
    if let Some(scope) = request.unify {
        let client = scope.client.clone();
        let names = scope.environments.to_vec();
        let requests = client.account_requests();
        reading.spawn_counted(requests, async move {
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
    }
    reading.collect().await?;

    if let Some(scope) = request.unify {
        let environments: Vec<(String, String)> = reading
            .snapshot
            .unify
            .as_ref()
            .map(|live| live.environments.clone().into_iter().collect())
            .unwrap_or_default();
        for kind in [
            UnifyObject::Property,
            UnifyObject::TargetGroup,
            UnifyObject::Flag,
        ] {
            let client = scope.client.clone();
            reading.spawn(async move { Ok(Piece::UnifyObjects(kind, client.list(kind).await?)) });
        }
        for (name, id) in environments {
            let client = scope.client.clone();
            reading.spawn(async move {
                let list = client.environment_configurations(&id).await?;
                Ok(Piece::UnifyConfigurations(name, list))
            });
        }
    }
    if let Some(confidence) = request.confidence {
        // A rollout's targeting lives in its segment, on the flags API: one GET each,
        // paced by the client under that API's limit.
        let permits = Arc::new(Semaphore::new(MAX_HIDDEN_GETS_IN_FLIGHT));
        let wanted: Vec<(usize, String)> = reading
            .snapshot
            .rollouts
            .iter()
            .enumerate()
            .filter(|(_, rollout)| confidence.segments.wants(rollout))
            .filter_map(|(i, rollout)| Some((i, rollout.segment_name.clone()?)))
            .collect();
        for (i, name) in wanted {
            let client = confidence.client.clone();
            let permits = Arc::clone(&permits);
            reading.spawn(async move {
                let _permit = permits.acquire_owned().await.ok();
                Ok(Piece::Segment(i, client.get_segment(&name).await?))
            });
        }
    }
    reading.collect().await?;

    let Some(scope) = request
        .cloudbees
        .filter(|_| !reading.without_flags.is_empty())
    else {
        return Ok(reading.snapshot);
    };
    let mut fallback = std::mem::take(&mut reading.without_flags);
    fallback.sort();
    tracing::info!(
        environments = %fallback.join(", "),
        "this CloudBees deployment does not serve GET /applications/{{app}}/{{env}}/flags (404): \
         reading the experiments list of each environment instead, and one GET per desired \
         flag it hides"
    );
    for env in &fallback {
        let client = scope.client.clone();
        let env = env.clone();
        reading.spawn(async move {
            let list = client.list_experiments(&env).await?;
            Ok(Piece::Experiments(env, list))
        });
    }
    reading.collect().await?;

    let permits = Arc::new(Semaphore::new(MAX_HIDDEN_GETS_IN_FLIGHT));
    for (env, flags) in scope
        .desired_flags
        .iter()
        .filter(|(env, _)| fallback.contains(env))
    {
        let listed: BTreeSet<&str> = reading
            .snapshot
            .experiments
            .get(env)
            .map(|exps| exps.iter().filter_map(LiveExperiment::flag).collect())
            .unwrap_or_default();
        let mut asked: BTreeSet<&str> = BTreeSet::new();
        let mut missing = Vec::new();
        for flag in flags {
            if listed.contains(flag.as_str()) || !asked.insert(flag.as_str()) {
                continue;
            }
            missing.push(flag.clone());
        }
        for flag in missing {
            let client = scope.client.clone();
            let env = env.clone();
            let permits = Arc::clone(&permits);
            reading.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = permits.acquire_owned().await.ok();
                let found = client.get_experiment(&env, &flag).await?;
                Ok(Piece::Hidden(env, found))
            });
        }
    }
    reading.collect().await?;
    // Keep the answers in request order so the snapshot does not depend on timing.
    let mut hidden = std::mem::take(&mut reading.hidden);
    hidden.sort_by(|(env_a, a), (env_b, b)| {
        (env_a, a.flag().unwrap_or_default()).cmp(&(env_b, b.flag().unwrap_or_default()))
    });
    for (env, exp) in hidden {
        reading
            .snapshot
            .experiments
            .entry(env)
            .or_default()
            .push(exp);
    }
    Ok(reading.snapshot)
}

/// The state of one read: the requests in flight, what they returned so far, and progress.
struct Reading<'p> {
    tasks: JoinSet<Result<Piece>>,
    incoming: mpsc::UnboundedReceiver<Event>,
    progress: LiveProgress,
    on_progress: &'p dyn Fn(LiveProgress),
    snapshot: LiveSnapshot,
    /// Experiments found by a GET of their own (a flag the experiments list hides).
    hidden: Vec<(String, LiveExperiment)>,
    /// Environments whose flags list the deployment does not serve.
    without_flags: Vec<String>,
}

impl Reading<'_> {
    /// Starts one request (a paged list counts its further pages as they come).
    fn spawn(&mut self, task: impl std::future::Future<Output = Result<Piece>> + Send + 'static) {
        self.spawn_counted(1, task);
    }

    /// Starts a task that sends `requests` requests.
    fn spawn_counted(
        &mut self,
        requests: usize,
        task: impl std::future::Future<Output = Result<Piece>> + Send + 'static,
    ) {
        self.tasks.spawn(task);
        self.progress.expected += requests;
    }

    /// Waits for every task, storing what each read and reporting progress as requests are
    /// answered.
    async fn collect(&mut self) -> Result<()> {
        (self.on_progress)(self.progress);
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
                Some(event) = self.incoming.recv() => {
                    apply(event, &mut self.progress);
                    (self.on_progress)(self.progress);
                }
                joined = self.tasks.join_next() => {
                    let Some(joined) = joined else { break };
                    let piece = join(joined)?;
                    // A paged list's pages were counted as they came.
                    let answered = match &piece {
                        Piece::Rollouts(_) => 0,
                        Piece::UnifyAccount { requests, .. } => *requests,
                        _ => 1,
                    };
                    if answered > 0 {
                        self.progress.done += answered;
                        (self.on_progress)(self.progress);
                    }
                    match piece {
                        Piece::Hidden(env, found) => {
                            self.hidden.extend(found.map(|exp| (env, exp)));
                        }
                        Piece::Flags(env, None) => self.without_flags.push(env),
                        piece => store(&mut self.snapshot, piece),
                    }
                }
            }
        }
        // Pages reported just before their task ended.
        while let Ok(event) = self.incoming.try_recv() {
            apply(event, &mut self.progress);
            (self.on_progress)(self.progress);
        }
        Ok(())
    }
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
        Piece::Flags(env, Some(list)) | Piece::Experiments(env, list) => {
            snapshot.experiments.insert(env, list);
        }
        Piece::Rollouts(rollouts) => snapshot.rollouts = rollouts,
        Piece::Segment(i, segment) => {
            if let Some(rollout) = snapshot.rollouts.get_mut(i) {
                rollout.segment = segment;
            }
        }
        Piece::Hidden(env, Some(exp)) => snapshot.experiments.entry(env).or_default().push(exp),
        Piece::Hidden(_, None) | Piece::Flags(_, None) => {}
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
