//! Load and validate, read live state, normalize, plan.

use std::collections::BTreeMap;

use flagsync_live::LiveSnapshot;
use flagsync_manifest::model::{Config, PathSeg};
use flagsync_manifest::{Code, Diagnostic, Layout, Loaded, Repository, Severity, did_you_mean};
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
    /// Problems of the repository found by asking a service (configured environments the
    /// CloudBees application does not have), before the step stops: for showing, like the
    /// diagnostics of [`Observer::loaded`].
    fn checked(&self, _loaded: &Loaded, _diagnostics: &[Diagnostic]) {}
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

/// Checks the environments of `scope` against those of the CloudBees application, before
/// anything else is read: an environment the application does not have (a typo such as
/// `Prodution`) would otherwise plan every flag as new there while the real one silently
/// stops being managed. Refuses with one diagnostic per unknown environment, at its line in
/// flagsync.yaml, naming the known ones and the closest. One request. Where the deployment
/// does not serve the environments list (404), says so at `info` (`-v`) and skips the check.
pub async fn check_environments(
    client: &CloudBeesClient,
    loaded: &Loaded,
    environments: &[String],
    observer: &dyn Observer,
) -> Result<(), PipelineError> {
    if environments.is_empty() {
        return Ok(());
    }
    let known = match client.list_environments().await {
        Ok(Some(known)) => known,
        Ok(None) => {
            tracing::info!(
                application = client.application(),
                "this CloudBees deployment does not serve GET /applications/{{app}}/environments \
                 (404): the environments flagsync.yaml names are not checked against the \
                 application's"
            );
            return Ok(());
        }
        Err(source) => return Err(PipelineError::ListEnvironments(source)),
    };
    let names: Vec<&str> = known.iter().map(|e| e.name.as_str()).collect();
    let unknown: Vec<&String> = environments
        .iter()
        .filter(|e| !names.contains(&e.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let listed = if names.is_empty() {
        "The application has none.".to_owned()
    } else {
        format!("The application has: {}.", names.join(", "))
    };
    let diagnostics: Vec<Diagnostic> = unknown
        .iter()
        .map(|env| {
            let help = match did_you_mean(env, names.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? {listed}"),
                None => format!("{listed} Names are case-sensitive."),
            };
            loaded.config_diagnostic(
                &[
                    PathSeg::key("cloudbees"),
                    PathSeg::key("environments"),
                    PathSeg::owned(env),
                ],
                Severity::Error,
                Code::UnknownEnvironment,
                format!(
                    "`{env}` is not an environment of CloudBees application {}",
                    client.application()
                ),
                Some(help),
            )
        })
        .collect();
    observer.checked(loaded, &diagnostics);
    Err(PipelineError::UnknownEnvironments {
        application: client.application().to_owned(),
        unknown: unknown.into_iter().cloned().collect(),
        known: names.into_iter().map(str::to_owned).collect(),
    })
}

/// Live state in `scope`: first the check of its environments against the application
/// ([`check_environments`]), then one flags list per environment, one list of target groups
/// and the pages of rollouts (where a deployment lacks the flags list, the experiments list
/// and a GET for each flag the repository declares in those environments that it hides).
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
    if let Some(client) = services.cloudbees {
        check_environments(client, loaded, &scope.environments, observer).await?;
    }
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
