//! What `flagsync export` writes from: live state in canonical form, without what a
//! repository should not adopt, and which problems of a repository stop an export.

use flagsync_manifest::model::DUPLICATE_OF_LABEL;
use flagsync_manifest::write::{Live, LiveRollout, LiveUnifyResource};
use flagsync_manifest::{Code, Kind, Loaded};
use flagsync_plan::normalize;
use flagsync_remote::LiveSnapshot;

/// Whether a diagnostic with `code` stops an export. "No manifests yet" is what an export
/// fixes, and environments kept on other branches are skipped, so neither does.
pub fn stops_export(code: Code) -> bool {
    !matches!(code, Code::NoManifests | Code::BranchUnavailable)
}

/// Live state in the canonical form export writes from. A CloudBees Unify configuration
/// that is what the service gives every new flag is written only when the repository
/// declares it: the service keeps one per flag and environment, and a plan needs none of
/// these declared.
pub fn live_for_export(snapshot: &LiveSnapshot, loaded: &Loaded) -> Live {
    let declared = |env: &str, flag: &str| {
        loaded.repository.casc.as_ref().is_some_and(|casc| {
            casc.environment(env)
                .is_some_and(|e| e.configurations.iter().any(|c| c.value.flag == flag))
        })
    };
    let fresh = flagsync_plan::unify::fresh_configuration();
    let unify = snapshot
        .unify
        .as_ref()
        .map(flagsync_plan::unify::live_resources)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r.key.kind != Kind::FlagConfiguration
                || r.body != fresh
                || r.key
                    .env
                    .as_deref()
                    .is_some_and(|e| declared(e, &r.key.name))
        })
        .map(|r| LiveUnifyResource {
            kind: r.key.kind,
            env: r.key.env,
            name: r.key.name,
            canonical: r.body,
        })
        .collect();
    Live {
        unify,
        target_groups: snapshot
            .target_groups
            .iter()
            .map(|live| normalize::canonical_target_group(&live.body))
            .collect(),
        experiments: snapshot
            .experiments
            .iter()
            .map(|(env, list)| {
                let list = list
                    .iter()
                    .map(|live| normalize::canonical_experiment(&live.body))
                    .collect();
                (env.clone(), list)
            })
            .collect(),
        rollouts: snapshot
            .rollouts
            .iter()
            .filter(|r| !set_aside(r))
            .map(live_rollout)
            .collect(),
    }
}

/// A copy flagsync un-labelled because another rollout carries its id (`flagsync dedupe`,
/// or an apply that stepped back): exporting it would offer it for adoption again.
pub fn set_aside(live: &flagsync_remote::LiveRollout) -> bool {
    live.flagsync_id.is_none()
        && flagsync_remote::labels(&live.body).contains_key(DUPLICATE_OF_LABEL)
}

fn live_rollout(live: &flagsync_remote::LiveRollout) -> LiveRollout {
    LiveRollout {
        instance: live.name.clone().unwrap_or_else(|| "(unnamed)".to_owned()),
        flagsync_id: live.flagsync_id.clone(),
        transition: live
            .pending_transition
            .as_ref()
            .map(|p| p.target_state.clone()),
        canonical: normalize::canonical_rollout(live),
    }
}
