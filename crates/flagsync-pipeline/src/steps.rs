//! Load and validate, read live state, normalize, plan.

use std::collections::BTreeMap;

use flagsync_live::LiveSnapshot;
use flagsync_manifest::model::Config;
use flagsync_manifest::{Layout, Loaded, Repository};
use flagsync_plan::{LiveResource, Plan, PlanOptions, TargetFilter, normalize};
use flagsync_remote::{CloudBeesClient, CloudBeesScope, ConfidenceClient, LiveRequest};
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

/// Reads and checks the repository ([`flagsync_manifest::load`]). A legacy repository
/// planned against CloudBees Unify (`api: unify` without a CasC tree) is translated too, and
/// what does not translate as written is reported among its diagnostics.
pub fn load(source: &dyn Source) -> Loaded {
    let mut loaded = flagsync_manifest::load(source);
    let repository = &loaded.repository;
    if repository.casc.is_none() && normalize::targets_unify(repository) {
        let translation = flagsync_plan::unify::translate::translate(repository);
        loaded
            .diagnostics
            .extend(translation.diagnostics(&loaded.sources));
        loaded.diagnostics.sort_by(|a, b| {
            (a.file.as_str(), a.line, a.column, a.code.as_str()).cmp(&(
                b.file.as_str(),
                b.line,
                b.column,
                b.code.as_str(),
            ))
        });
        loaded.diagnostics.dedup();
    }
    loaded
}

/// Loads the repository ([`load`]) and stops when it has errors (after the observer saw
/// every diagnostic); warnings do not stop it.
pub fn load_valid(source: &dyn Source, observer: &dyn Observer) -> Result<Loaded, PipelineError> {
    let loaded = load(source);
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
        (Layout::Legacy | Layout::Casc, None) => Err(PipelineError::NoConfig),
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
    /// List the rollouts.
    pub rollouts: bool,
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
        }
    }
}

/// Live state in `scope`, read with one list per environment, one for target groups, the
/// pages of rollouts, and a GET only for the flags the repository declares in those
/// environments that their list hides.
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
    let request = LiveRequest {
        cloudbees: services
            .cloudbees
            .filter(|_| read_cloudbees)
            .map(|client| CloudBeesScope {
                client,
                environments: &scope.environments,
                desired_flags: &desired_flags,
            }),
        confidence: services.confidence.filter(|_| scope.rollouts),
    };
    observer.reading_live_state();
    let result = flagsync_remote::fetch_live_state(request).await;
    observer.live_state_read();
    result.map_err(PipelineError::LiveState)
}

/// Live state in canonical form. Rollouts without flagsync's id label are left out:
/// nothing can plan to change or delete them.
pub fn live_resources(snapshot: &LiveSnapshot) -> Vec<LiveResource> {
    normalize::live_resources(
        &snapshot.target_groups,
        &snapshot.experiments,
        &snapshot.rollouts,
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
    flagsync_plan::plan(&desired, live, &options).map_err(PipelineError::Plan)
}
