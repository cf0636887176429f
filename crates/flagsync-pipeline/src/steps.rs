//! Load and validate, read live state, normalize, plan.

use std::collections::BTreeMap;

use flagsync_live::LiveSnapshot;
use flagsync_manifest::model::Config;
use flagsync_manifest::{Layout, Loaded, Repository};
use flagsync_plan::{LiveResource, Plan, PlanOptions, TargetFilter, normalize};
use flagsync_remote::{
    CloudBeesClient, CloudBeesScope, ConfidenceClient, ConfidenceScope, LiveRequest, SegmentScope,
};
use flagsync_source::Source;

use crate::error::{PipelineError, Side};

/// What the pipeline reports while it runs. The binary shows it on the terminal; a
/// benchmark or a test passes [`Silent`].
pub trait Observer {
    /// The repository was read, before it is checked: its diagnostics are for showing,
    /// warnings and errors alike.
    fn loaded(&self, _loaded: &Loaded) {}
    /// Reading live state begins. Paced at the services' limits it can take minutes.
    fn reading_live_state(&self) {}
    /// Reading live state ended, successfully or not.
    fn live_state_read(&self) {}
    /// One revision of a comparison was read, before it is checked (the head's errors
    /// stop the comparison, the base's do not).
    fn revision_loaded(&self, _side: Side, _rev: &str, _loaded: &Loaded) {}
}

/// An [`Observer`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Loads the repository and stops when it has errors (after the observer saw every
/// diagnostic); warnings do not stop it.
pub fn load_valid(source: &dyn Source, observer: &dyn Observer) -> Result<Loaded, PipelineError> {
    let loaded = flagsync_manifest::load(source);
    observer.loaded(&loaded);
    if loaded.has_errors() {
        return Err(PipelineError::Invalid {
            errors: loaded.error_count(),
        });
    }
    Ok(loaded)
}

/// The configuration, required by every command that talks to a service.
pub fn config(loaded: &Loaded) -> Result<&Config, PipelineError> {
    match (&loaded.repository.layout, &loaded.repository.config) {
        (_, Some(config)) => Ok(config),
        (Layout::Legacy, None) => Err(PipelineError::NoConfig),
        (Layout::Config, None) => Err(PipelineError::UnreadableConfig),
    }
}

/// The clients to read live state with; `None` leaves that service out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Services<'a> {
    pub cloudbees: Option<&'a CloudBeesClient>,
    pub confidence: Option<&'a ConfidenceClient>,
}

/// What part of live state to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveScope {
    /// CloudBees environments whose experiments to list.
    pub environments: Vec<String>,
    /// List the application's target groups.
    pub target_groups: bool,
    /// List the rollouts (and read the segments of those flagsync manages or the repository
    /// adopts).
    pub rollouts: bool,
    /// Read the segment of every rollout, managed or not (an export writes them all).
    pub every_segment: bool,
}

impl LiveScope {
    /// Everything the repository declares: every environment, target groups, rollouts.
    pub fn of(repository: &Repository) -> Self {
        Self {
            environments: repository
                .environments
                .iter()
                .map(|e| e.name.clone())
                .collect(),
            target_groups: true,
            rollouts: true,
            every_segment: false,
        }
    }
}

/// Live state in `scope`, read with one list per environment, one for target groups, the
/// pages of rollouts, one GET per segment of a rollout in scope (its targeting), and a GET
/// only for the flags the repository declares in those environments that their list hides.
pub async fn read_live(
    services: Services<'_>,
    loaded: &Loaded,
    scope: &LiveScope,
    observer: &dyn Observer,
) -> Result<LiveSnapshot, PipelineError> {
    let desired_flags: BTreeMap<String, Vec<String>> = loaded
        .repository
        .environments
        .iter()
        .filter(|e| scope.environments.contains(&e.name))
        .map(|e| {
            (
                e.name.clone(),
                e.experiments.iter().map(|x| x.value.flag.clone()).collect(),
            )
        })
        .collect();
    let read_cloudbees = scope.target_groups || !scope.environments.is_empty();
    let adopted: Vec<String> = normalize::adoptions(&loaded.repository)
        .into_keys()
        .collect();
    let request = LiveRequest {
        cloudbees: services
            .cloudbees
            .filter(|_| read_cloudbees)
            .map(|client| CloudBeesScope {
                client,
                environments: &scope.environments,
                desired_flags: &desired_flags,
            }),
        confidence: services
            .confidence
            .filter(|_| scope.rollouts)
            .map(|client| ConfidenceScope {
                client,
                segments: if scope.every_segment {
                    SegmentScope::All
                } else {
                    SegmentScope::Managed {
                        instances: &adopted,
                    }
                },
            }),
    };
    observer.reading_live_state();
    let result = flagsync_remote::fetch_live_state(request).await;
    observer.live_state_read();
    result.map_err(PipelineError::LiveState)
}

/// Live state in canonical form. Rollouts without flagsync's id label are left out
/// (nothing can plan to change or delete them) unless a manifest of `loaded` adopts them by
/// their `instance`.
pub fn live_resources(snapshot: &LiveSnapshot, loaded: &Loaded) -> Vec<LiveResource> {
    normalize::live_resources(
        &snapshot.target_groups,
        &snapshot.experiments,
        &snapshot.rollouts,
        &normalize::adoptions(&loaded.repository),
    )
}

/// How to plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Also delete live resources that the repository manages but no longer declares.
    pub prune: bool,
    /// Only these resources (and what they depend on); empty means everything.
    pub targets: Vec<TargetFilter>,
}

/// Plans the repository against live state (already normalized). Pure: no I/O.
pub fn plan(
    loaded: &Loaded,
    live: &[LiveResource],
    options: &Options,
) -> Result<Plan, PipelineError> {
    let desired = normalize::desired_resources(&loaded.repository);
    let options = PlanOptions {
        prune: options.prune,
        targets: options.targets.clone(),
        scope: normalize::managed_scope(&loaded.repository),
    };
    let mut plan = flagsync_plan::plan(&desired, live, &options).map_err(PipelineError::Plan)?;
    plan.warnings.extend(adoption_warnings(loaded, live, &plan));
    Ok(plan)
}

/// What a manifest's `instance` promised that live state does not hold: the rollout to
/// adopt is gone (so the plan creates one), or another instance carries the manifest's id.
fn adoption_warnings(loaded: &Loaded, live: &[LiveResource], plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for item in &loaded.repository.rollouts {
        let Some(instance) = item.value.instance.as_deref() else {
            continue;
        };
        let wanted = flagsync_live::instance_id(instance);
        let key = flagsync_plan::ResourceKey::rollout(&item.value.id);
        let found = live.iter().find(|r| r.key == key);
        match found.and_then(|r| r.remote_id.as_deref()) {
            Some(id) if id != wanted => out.push(format!(
                "{key}: {} adopts instance {wanted}, but rollout {id} already carries the id \
                 {}; the plan changes {id}. Remove `instance` from the manifest, or the \
                 label from {id}",
                item.file, item.value.id
            )),
            Some(_) => {}
            None if plan.action(&key.to_string()).is_some() => out.push(format!(
                "{key}: {} adopts instance {wanted}, which no longer exists; apply creates a \
                 new rollout. Remove `instance` from the manifest to say so",
                item.file
            )),
            None => {}
        }
    }
    out
}
