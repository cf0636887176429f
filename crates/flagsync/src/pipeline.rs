//! The steps plan, apply and export share: load and validate the repository (nothing is sent
//! anywhere when that fails), read live state, normalize both sides and plan.

use std::collections::BTreeMap;
use std::path::Path;

use flagsync_manifest::model::Config;
use flagsync_manifest::{Layout, Loaded};
use flagsync_plan::normalize;
use flagsync_plan::{LiveResource, Plan, PlanOptions, TargetFilter};
use flagsync_remote::{CloudBeesScope, LiveRequest, LiveSnapshot};
use miette::miette;

use crate::remote::Connection;

/// Loads the repository and stops, after printing every diagnostic, when it has errors.
/// Warnings are printed and do not stop.
pub fn load_valid(dir: &Path, rev: Option<&str>) -> miette::Result<Loaded> {
    let source = crate::source::open(dir, rev)?;
    let loaded = flagsync_manifest::load(source.as_ref());
    if !loaded.diagnostics.is_empty() {
        crate::diagnostics::print_human(&loaded);
    }
    if loaded.has_errors() {
        return Err(miette!(
            help = "run `flagsync validate` for the full report; nothing was sent to any service",
            "the repository has {} error(s)",
            loaded.error_count()
        ));
    }
    Ok(loaded)
}

/// The configuration, required by every command that talks to a service.
pub fn config(loaded: &Loaded) -> miette::Result<&Config> {
    match (&loaded.repository.layout, &loaded.repository.config) {
        (_, Some(config)) => Ok(config),
        (Layout::Legacy, None) => Err(miette!(
            help = "add a flagsync.yaml naming the CloudBees application and the token's environment variable (see examples/quickstart/flagsync.yaml)",
            "this repository has no flagsync.yaml, so flagsync does not know which application to talk to"
        )),
        (Layout::Config, None) => Err(miette!("flagsync.yaml could not be read")),
    }
}

/// What part of live state to read.
pub struct LiveScope {
    /// CloudBees environments whose experiments to list.
    pub environments: Vec<String>,
    /// List the application's target groups.
    pub target_groups: bool,
    /// List the rollouts.
    pub rollouts: bool,
}

/// Live state, read with one list per environment, one for target groups, the pages of
/// rollouts, and a GET only for desired experiments the lists hide.
pub async fn fetch_live(conn: &Connection, loaded: &Loaded) -> miette::Result<LiveSnapshot> {
    let scope = LiveScope {
        environments: loaded
            .repository
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect(),
        target_groups: true,
        rollouts: true,
    };
    fetch_live_in(conn, loaded, &scope).await
}

/// [`fetch_live`] narrowed to `scope`; the flags the repository declares in those
/// environments are looked up when their environment's list hides them.
pub async fn fetch_live_in(
    conn: &Connection,
    loaded: &Loaded,
    scope: &LiveScope,
) -> miette::Result<LiveSnapshot> {
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
        cloudbees: conn
            .cloudbees
            .as_ref()
            .filter(|_| read_cloudbees)
            .map(|client| CloudBeesScope {
                client,
                environments: &scope.environments,
                desired_flags: &desired_flags,
            }),
        confidence: conn.confidence.as_ref().filter(|_| scope.rollouts),
    };
    // Paced at the services' limits, a first plan can take minutes: say what is happening
    // (on a terminal only, on stderr, so piped output stays clean).
    let spinner = indicatif::ProgressBar::new_spinner();
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        spinner.set_message("reading live state");
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    } else {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let result = flagsync_remote::fetch_live_state(request).await;
    spinner.finish_and_clear();
    result.map_err(|e| miette!("reading live state: {e}"))
}

/// Live state in canonical form.
pub fn live_resources(snapshot: &LiveSnapshot) -> Vec<LiveResource> {
    normalize::live_resources(
        &snapshot.target_groups,
        &snapshot.experiments,
        &snapshot.rollouts,
    )
}

/// Plans the repository against live state. Pure: no I/O.
pub fn plan(
    loaded: &Loaded,
    live: &[LiveResource],
    prune: bool,
    targets: &[TargetFilter],
) -> miette::Result<Plan> {
    let desired = normalize::desired_resources(&loaded.repository);
    let options = PlanOptions {
        prune,
        targets: targets.to_vec(),
        scope: normalize::managed_scope(&loaded.repository),
    };
    flagsync_plan::plan(&desired, live, &options).map_err(|e| miette!("planning: {e}"))
}

/// A tokio runtime for one command.
pub fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| miette!("cannot start the async runtime: {e}"))
}
