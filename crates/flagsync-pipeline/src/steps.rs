//! Load and validate, read live state, normalize, plan.

use std::collections::BTreeMap;

use flagsync_live::LiveSnapshot;
use flagsync_manifest::model::{Config, PathSeg};
use flagsync_manifest::{Code, Diagnostic, Layout, Loaded, Repository, Severity, did_you_mean};
use flagsync_plan::{
    DesiredResource, Kind, LiveResource, Plan, PlanOptions, Provider, ResourceKey, TargetFilter,
    normalize,
};
use flagsync_remote::{
    CloudBeesClient, CloudBeesScope, ConfidenceClient, ConfidenceScope, LiveProgress, LiveRequest,
    RemoteError, SegmentScope, UnifyClient, UnifyScope,
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
    /// A request of the live read was answered, or more became known.
    fn live_progress(&self, _progress: LiveProgress) {}
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
    pub unify: Option<&'a UnifyClient>,
}

/// What part of live state to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveScope {
    /// CloudBees environments to read: whose experiments to list, or (CloudBees Unify)
    /// whose flag configurations.
    pub environments: Vec<String>,
    /// Read the application-wide CloudBees resources: the target groups, or (CloudBees
    /// Unify) the custom properties, target groups and flags.
    pub target_groups: bool,
    /// List the rollouts (and read the segments of those flagsync manages or the repository
    /// adopts).
    pub rollouts: bool,
    /// Read the segment of every rollout, managed or not (an export writes them all).
    pub every_segment: bool,
    /// The CloudBees resources are read through the CloudBees Unify API.
    pub unify: bool,
}

/// The CloudBees environments a repository configures: a CasC tree's, else those of
/// flagsync.yaml (or the legacy layout's one).
fn cloudbees_environments(repository: &Repository) -> Vec<&str> {
    match &repository.casc {
        Some(casc) => casc.environments.iter().map(|e| e.name.as_str()).collect(),
        None => repository
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect(),
    }
}

impl LiveScope {
    /// Everything the repository declares: every environment, target groups, rollouts.
    pub fn of(repository: &Repository) -> Self {
        Self {
            environments: cloudbees_environments(repository)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            target_groups: true,
            rollouts: true,
            every_segment: false,
            unify: normalize::targets_unify(repository),
        }
    }

    /// What a plan with `options` needs read: the providers its `--target`s name (every
    /// provider without targets), and of CloudBees' environments those `--env` selects.
    /// An `--env` that flagsync.yaml does not configure is an error, with the close name.
    pub fn for_options(repository: &Repository, options: &Options) -> Result<Self, PipelineError> {
        let known = cloudbees_environments(repository);
        let cloudbees = repository
            .config
            .as_ref()
            .is_none_or(|c| c.cloudbees.is_some());
        if !options.environments.is_empty() && !cloudbees {
            return Err(PipelineError::EnvironmentsWithoutCloudBees);
        }
        if let Some(name) = options
            .environments
            .iter()
            .find(|name| !known.contains(&name.as_str()))
        {
            return Err(PipelineError::UnknownEnvironment {
                name: name.clone(),
                help: unknown_environment_help(name, &known),
            });
        }
        let in_scope = |provider: Provider| {
            options.targets.is_empty()
                || options
                    .targets
                    .iter()
                    .any(|t| t.kind.provider() == provider)
        };
        let unify = normalize::targets_unify(repository);
        let provider = if unify {
            Provider::Unify
        } else {
            Provider::CloudBees
        };
        let cloudbees = cloudbees && in_scope(provider);
        Ok(Self {
            environments: known
                .iter()
                .filter(|_| cloudbees)
                .filter(|name| {
                    options.environments.is_empty()
                        || options.environments.iter().any(|e| e == *name)
                })
                .map(|name| (*name).to_owned())
                .collect(),
            target_groups: cloudbees,
            rollouts: in_scope(Provider::Confidence),
            every_segment: false,
            unify,
        })
    }

    /// What a saved plan's actions need read to check that live state did not change.
    pub fn for_plan(plan: &Plan) -> Self {
        let mut environments: Vec<String> = plan
            .actions
            .iter()
            .filter_map(|a| a.key.env.clone())
            .collect();
        environments.sort();
        environments.dedup();
        let has = |kind: Kind| plan.actions.iter().any(|a| a.key.kind == kind);
        let unify = plan
            .actions
            .iter()
            .any(|a| a.key.provider() == Provider::Unify);
        Self {
            environments,
            // Unify configurations are read with the flags and target groups they refer to.
            target_groups: has(Kind::TargetGroup) || unify,
            rollouts: has(Kind::Rollout),
            every_segment: false,
            unify,
        }
    }

    /// Whether anything of `provider` is read.
    pub fn reads(&self, provider: Provider) -> bool {
        let cloudbees = self.target_groups || !self.environments.is_empty();
        match provider {
            Provider::CloudBees => !self.unify && cloudbees,
            Provider::Unify => self.unify && cloudbees,
            Provider::Confidence => self.rollouts,
        }
    }

    fn contains(&self, key: &ResourceKey) -> bool {
        let in_env = || {
            key.env
                .as_ref()
                .is_some_and(|env| self.environments.contains(env))
        };
        match key.kind {
            Kind::TargetGroup => !self.unify && self.target_groups,
            Kind::Rollout => self.rollouts,
            Kind::Experiment => !self.unify && in_env(),
            Kind::CustomProperty | Kind::UnifyTargetGroup | Kind::Flag => {
                self.unify && self.target_groups
            }
            Kind::FlagConfiguration => self.unify && in_env(),
        }
    }
}

/// `did you mean `Production`? flagsync.yaml configures: Production, Staging`.
fn unknown_environment_help(name: &str, known: &[&str]) -> String {
    let configured = if known.is_empty() {
        "flagsync.yaml configures no environment".to_owned()
    } else {
        format!("flagsync.yaml configures: {}", known.join(", "))
    };
    match did_you_mean(name, known.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? {configured}"),
        None => configured,
    }
}

/// A CloudBees Unify environment flagsync.yaml names that the organization does not have:
/// refused before anything else is read, with the closest of its environments.
fn unify_environment_error(error: RemoteError) -> PipelineError {
    match error {
        RemoteError::UnknownEnvironment { name, known, help } => {
            let close = did_you_mean(&name, known.iter().map(String::as_str));
            PipelineError::UnknownUnifyEnvironment {
                help: match close {
                    Some(close) => format!("did you mean `{close}`? {help}"),
                    None => help,
                },
                name,
            }
        }
        other => PipelineError::LiveState(other),
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
/// ([`check_environments`]), then one flags list per environment, one list of target groups,
/// the pages of rollouts and one GET per segment of a rollout in scope (its targeting);
/// where a deployment lacks the flags list, the experiments list and a GET for each flag the
/// repository declares in those environments that it hides. For CloudBees Unify, what
/// [`flagsync_remote::fetch_live_state`] says (an environment the organization lacks is
/// refused before the rest is read).
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
    let cloudbees = services
        .cloudbees
        .filter(|_| scope.reads(Provider::CloudBees));
    if let Some(client) = cloudbees {
        check_environments(client, loaded, &scope.environments, observer).await?;
    }
    let adopted: Vec<String> = normalize::adoptions(&loaded.repository)
        .into_keys()
        .collect();
    let request = LiveRequest {
        cloudbees: cloudbees.map(|client| CloudBeesScope {
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
        unify: services
            .unify
            .filter(|_| scope.reads(Provider::Unify))
            .map(|client| UnifyScope {
                client,
                environments: &scope.environments,
            }),
    };
    observer.reading_live_state();
    let result = flagsync_remote::fetch_live_state_with_progress(request, &|progress| {
        observer.live_progress(progress);
    })
    .await;
    observer.live_state_read();
    result.map_err(unify_environment_error)
}

/// Live state in canonical form. Rollouts without flagsync's id label are left out
/// (nothing can plan to change or delete them) unless a manifest of `loaded` adopts them by
/// their `instance`.
pub fn live_resources(snapshot: &LiveSnapshot, loaded: &Loaded) -> Vec<LiveResource> {
    let mut live = normalize::live_resources(
        &snapshot.target_groups,
        &snapshot.experiments,
        &snapshot.rollouts,
        &normalize::adoptions(&loaded.repository),
    );
    if let Some(unify) = &snapshot.unify {
        live.extend(flagsync_plan::unify::live_resources(unify));
    }
    live
}

/// How to plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Also delete live resources that the repository manages but no longer declares.
    pub prune: bool,
    /// With `prune`, also delete CloudBees Unify flags no manifest declares (code may have
    /// created them, so `prune` alone keeps them).
    pub prune_flags: bool,
    /// Only these resources (and what they depend on); empty means everything.
    pub targets: Vec<TargetFilter>,
    /// Only these CloudBees environments' experiments (`--env`); empty means every one.
    /// Target groups and rollouts are planned either way.
    pub environments: Vec<String>,
}

/// Plans the repository against live state (already normalized). Pure: no I/O.
///
/// Only what [`LiveScope::for_options`] reads is planned: the experiments of environments
/// `--env` leaves out, and the resources of a provider no `--target` names, are neither
/// created nor deleted nor listed, since their live state was not read.
pub fn plan(
    loaded: &Loaded,
    live: &[LiveResource],
    options: &Options,
) -> Result<Plan, PipelineError> {
    let read = LiveScope::for_options(&loaded.repository, options)?;
    let desired: Vec<_> = normalize::desired_resources(&loaded.repository)
        .into_iter()
        .filter(|d| read.contains(&d.key))
        .collect();
    let mut scope = normalize::managed_scope(&loaded.repository);
    scope.target_groups &= read.target_groups;
    scope.rollouts &= read.rollouts;
    scope
        .experiment_envs
        .retain(|env| read.environments.contains(env));
    scope.unify &= read.target_groups;
    scope
        .unify_envs
        .retain(|env| read.environments.contains(env));
    check_targets(&options.targets, &desired, live)?;
    check_duplicates(live)?;
    let options = PlanOptions {
        prune: options.prune,
        prune_flags: options.prune_flags,
        targets: options.targets.clone(),
        scope,
    };
    let mut plan = flagsync_plan::plan(&desired, live, &options).map_err(PipelineError::Plan)?;
    plan.warnings.extend(adoption_warnings(loaded, live, &plan));
    Ok(plan)
}

/// Refuses live state in which one identity is held by several live objects (rollouts
/// carrying one `flagsync-id`, left by two applies at once or made by another tool), naming
/// every one of them at once, so that one `flagsync dedupe` resolves them all. `plan`
/// calls it; `apply --plan FILE` calls it before checking a saved plan.
pub fn check_duplicates(live: &[LiveResource]) -> Result<(), PipelineError> {
    let mut by_key: BTreeMap<&ResourceKey, Vec<&LiveResource>> = BTreeMap::new();
    for resource in live {
        by_key.entry(&resource.key).or_default().push(resource);
    }
    let duplicates: Vec<Duplicate> = by_key
        .into_iter()
        .filter(|(_, copies)| copies.len() > 1)
        .map(|(key, copies)| Duplicate {
            key: key.to_string(),
            copies: copies
                .iter()
                .map(|c| {
                    let id = c
                        .remote_id
                        .as_deref()
                        .map_or("(unnamed)", flagsync_live::instance_id);
                    match c.body.get("state").and_then(serde_json::Value::as_str) {
                        Some(state) => format!("{id} ({state})"),
                        None => id.to_owned(),
                    }
                })
                .collect(),
        })
        .collect();
    if duplicates.is_empty() {
        Ok(())
    } else {
        Err(PipelineError::Duplicates { duplicates })
    }
}

/// One identity that several live objects hold: `rollout/search` and its copies
/// (`abc (live)`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    pub copies: Vec<String>,
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

/// A `--target` that names nothing declared or live (a typo) would make an empty plan that
/// reads as "no changes": refuse it, with the closest name.
fn check_targets(
    targets: &[TargetFilter],
    desired: &[DesiredResource],
    live: &[LiveResource],
) -> Result<(), PipelineError> {
    let keys: Vec<&ResourceKey> = desired
        .iter()
        .map(|d| &d.key)
        .chain(live.iter().map(|l| &l.key))
        .collect();
    for target in targets {
        if keys.iter().any(|k| target.matches(k)) {
            continue;
        }
        let mut names: Vec<String> = keys.iter().map(ToString::to_string).collect();
        // `experiment/FLAG` (every environment) is a name too.
        names.extend(
            keys.iter()
                .filter(|k| k.kind == Kind::Experiment)
                .map(|k| format!("{}/{}", k.kind, k.name)),
        );
        let wanted = target.to_string();
        return Err(PipelineError::UnknownTarget {
            help: match did_you_mean(&wanted, names.iter().map(String::as_str)) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "no {} of that name is declared or live{}",
                    target.kind,
                    if target.kind == Kind::Experiment {
                        " (experiment/ENVIRONMENT/FLAG, or experiment/FLAG for every environment)"
                    } else {
                        ""
                    }
                ),
            },
            target: wanted,
        });
    }
    Ok(())
}
