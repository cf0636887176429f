//! `plan()`: desired and live models in, a [`Plan`] out.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::canonical::fingerprint;
use crate::dag::topo_indices;
use crate::diff::diff;
use crate::error::PlanError;
use crate::model::{
    Action, DesiredResource, FORMAT_VERSION, Kind, LiveResource, Metadata, Operation, Plan,
    PlanOptions, ResourceKey, Summary, Undeclared, Usage,
};
use crate::rollout::rollout_steps;
use crate::unify;

/// Compares the desired model with the live one and returns the actions that make live
/// match, ordered so that everything runs after what it depends on:
///
/// - creates and updates run referenced-first (a target group before what uses it, a
///   flag's experiment before the experiments whose conditions depend on it);
/// - deletes run in reverse: a resource is deleted after the deletes of what referenced it
///   and after the updates that stop referencing it;
/// - deletes appear only with `options.prune`, and only inside `options.scope`; without
///   prune, the live resources inside the scope that nothing declares are listed in
///   [`Plan::undeclared`] instead (live state does not match, and the plan says so);
/// - with `options.targets`, only matching actions are kept, plus (as Terraform does) every
///   action they depend on, transitively, so the partial plan can run on its own.
pub fn plan(
    desired: &[DesiredResource],
    live: &[LiveResource],
    options: &PlanOptions,
) -> Result<Plan, PlanError> {
    let mut desired_by_key: BTreeMap<&ResourceKey, &DesiredResource> = BTreeMap::new();
    for resource in desired {
        if desired_by_key.insert(&resource.key, resource).is_some() {
            return Err(PlanError::DuplicateDesired {
                key: resource.key.to_string(),
            });
        }
    }
    let mut live_by_key: BTreeMap<&ResourceKey, &LiveResource> = BTreeMap::new();
    for resource in live {
        if let Some(previous) = live_by_key.insert(&resource.key, resource) {
            // Typically two rollouts with one flagsync id, left by an interrupted create.
            let ids: Vec<&str> = [previous, resource]
                .iter()
                .map(|r| r.remote_id.as_deref().unwrap_or("?"))
                .collect();
            return Err(PlanError::DuplicateLive {
                key: resource.key.to_string(),
                remote_ids: ids.join(", "),
            });
        }
    }

    let still_used = unify_live_in_plan(&desired_by_key, &mut live_by_key, options);

    let targeted = |key: &ResourceKey| {
        options.targets.is_empty() || options.targets.iter().any(|t| t.matches(key))
    };

    let mut actions: Vec<Action> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut no_op = 0usize;

    for (key, want) in &desired_by_key {
        let id = key.to_string();
        let current = live_by_key.get(key);
        // A Unify flag keeps the variants the service grew on its own: they are no
        // difference, and an update sends them back.
        let want_body: Cow<'_, Value> = match current {
            Some(have) if key.kind == Kind::Flag => {
                Cow::Owned(unify::with_live_variants(&want.body, &have.body))
            }
            _ => Cow::Borrowed(&want.body),
        };
        let patch = match current {
            Some(have) => {
                let semantic = diff(&have.body, &want_body);
                // The PATCH is sent to the object as the service stores it, which may be
                // spelled differently from the canonical form: compute it from there, so
                // its paths exist and its `test` guards check what the service holds.
                match &have.patch_base {
                    Some(base) if !semantic.is_empty() => {
                        let raw = diff(base, &want_body);
                        if raw.is_empty() { semantic } else { raw }
                    }
                    _ => semantic,
                }
            }
            None => Vec::new(),
        };
        if current.is_some() && patch.is_empty() {
            if targeted(key) {
                no_op += 1;
            }
            continue;
        }
        let (steps, unsupported) = if key.kind == Kind::Rollout {
            let s = rollout_steps(current.map(|c| &c.body), &want.body);
            (s.steps, s.unsupported)
        } else {
            let immutable = current.and_then(|c| unify::immutable_change(key, &c.body, &want_body));
            (Vec::new(), immutable)
        };
        if let Some(reason) = &unsupported {
            warnings.push(format!("{id}: {reason}"));
        }
        // A live rollout without flagsync's label stands under this key only because the
        // manifest adopts it (its `instance`).
        let adopting = key.kind == Kind::Rollout
            && current.is_some_and(|c| {
                c.body
                    .get("labels")
                    .and_then(|l| l.get(flagsync_live::ROLLOUT_ID_LABEL))
                    .is_none()
            });
        actions.push(Action {
            id,
            key: (*key).clone(),
            operation: match (current.is_some(), adopting) {
                (true, true) => Operation::Adopt,
                (true, false) => Operation::Update,
                (false, _) => Operation::Create,
            },
            patch,
            desired: Some(want_body.into_owned()),
            live: current.map(|c| c.body.clone()),
            live_fingerprint: current.map(|c| fingerprint(&c.body)),
            remote_id: current.and_then(|c| c.remote_id.clone()),
            depends_on: Vec::new(),
            steps,
            unsupported,
            origin: want.origin.clone(),
            used_by: Vec::new(),
        });
    }

    let mut undeclared: Vec<Undeclared> = Vec::new();
    for (key, have) in &live_by_key {
        if desired_by_key.contains_key(key) || !options.scope.contains(key) {
            continue;
        }
        // The rollout API documents no delete call: the action is still planned (the
        // reviewer should see it) but flagged, and the applier reports it skipped.
        let unsupported = match key.kind {
            Kind::Rollout => Some(
                "the Confidence API has no call that deletes a rollout; end or remove it in \
                 Confidence, or keep its manifest"
                    .to_owned(),
            ),
            Kind::Flag if !options.prune_flags => Some(
                "--prune keeps CloudBees Unify flags no manifest declares, since code may \
                 have created them (SDKs do); --prune-flags deletes them"
                    .to_owned(),
            ),
            _ => still_used.get(*key).map(|users| {
                format!(
                    "still used by {}, which --prune keeps with its flag (--prune-flags \
                     deletes the flag)",
                    users.join(", ")
                )
            }),
        };
        if !options.prune || (key.kind == Kind::Flag && !options.prune_flags) {
            if targeted(key) {
                undeclared.push(Undeclared {
                    id: key.to_string(),
                    key: (*key).clone(),
                    remote_id: have.remote_id.clone(),
                    unsupported,
                });
            }
            continue;
        }
        if let Some(reason) = &unsupported {
            warnings.push(format!("{key}: {reason}"));
        }
        actions.push(Action {
            id: key.to_string(),
            key: (*key).clone(),
            operation: Operation::Delete,
            patch: Vec::new(),
            desired: None,
            live: Some(have.body.clone()),
            live_fingerprint: Some(fingerprint(&have.body)),
            remote_id: have.remote_id.clone(),
            depends_on: Vec::new(),
            steps: Vec::new(),
            unsupported,
            origin: None,
            used_by: Vec::new(),
        });
    }

    link_dependencies(&mut actions, &desired_by_key, &live_by_key);
    blast_radius(&mut actions, &desired_by_key, &live_by_key);

    if !options.targets.is_empty() {
        for filter in &options.targets {
            let known = desired_by_key.keys().chain(live_by_key.keys());
            if !known.into_iter().any(|k| filter.matches(k)) {
                warnings.push(format!("--target {filter} matches no resource"));
            }
        }
        actions = keep_targeted(actions, &targeted);
    }
    warnings.extend(unify::delete_notes(&actions));

    let order = topo_indices(&actions)?;
    let mut slots: Vec<Option<Action>> = actions.into_iter().map(Some).collect();
    let actions: Vec<Action> = order.into_iter().filter_map(|i| slots[i].take()).collect();

    let count = |op: Operation| actions.iter().filter(|a| a.operation == op).count();
    let summary = Summary {
        create: count(Operation::Create),
        update: count(Operation::Update),
        delete: count(Operation::Delete),
        adopt: count(Operation::Adopt),
        no_op,
        undeclared: undeclared.len(),
    };
    Ok(Plan {
        format_version: FORMAT_VERSION,
        metadata: Metadata::default(),
        actions,
        summary,
        warnings,
        undeclared,
    })
}

/// CloudBees Unify keeps exactly one configuration per flag and environment, made with the
/// flag, so a live configuration no manifest declares is not always a difference. It is
/// none when it is what the service gives a new flag ([`unify::fresh_configuration`]); when
/// its flag is not declared either, it goes with its flag: deleted (reset) when prune
/// deletes the flag, else left out of the plan. Returns, for what such a kept configuration
/// refers to, the configurations still using it: deleting it would be refused.
fn unify_live_in_plan(
    desired: &BTreeMap<&ResourceKey, &DesiredResource>,
    live: &mut BTreeMap<&ResourceKey, &LiveResource>,
    options: &PlanOptions,
) -> HashMap<ResourceKey, Vec<String>> {
    let fresh = unify::fresh_configuration();
    let prunes_flags = options.prune && options.prune_flags;
    let mut still_used: HashMap<ResourceKey, Vec<String>> = HashMap::new();
    live.retain(|key, have| {
        if key.kind != Kind::FlagConfiguration || desired.contains_key(*key) {
            return true;
        }
        if have.body == fresh {
            return false;
        }
        if desired.contains_key(&ResourceKey::flag(&key.name)) || prunes_flags {
            return true;
        }
        for target in &have.references {
            if target.kind != Kind::Flag || target.name != key.name {
                still_used
                    .entry(target.clone())
                    .or_default()
                    .push(key.to_string());
            }
        }
        false
    });
    still_used
}

fn link_dependencies(
    actions: &mut [Action],
    desired: &BTreeMap<&ResourceKey, &DesiredResource>,
    live: &BTreeMap<&ResourceKey, &LiveResource>,
) {
    let op_of: HashMap<ResourceKey, (Operation, String)> = actions
        .iter()
        .map(|a| (a.key.clone(), (a.operation, a.id.clone())))
        .collect();
    // For each key, the actions whose live object references it: they must stop
    // referencing it (update) or be gone (delete) before it is deleted.
    let mut live_referrers: HashMap<&ResourceKey, Vec<String>> = HashMap::new();
    for action in actions.iter() {
        if action.operation == Operation::Create {
            continue;
        }
        if let Some(have) = live.get(&action.key) {
            for target in &have.references {
                live_referrers
                    .entry(target)
                    .or_default()
                    .push(action.id.clone());
            }
        }
    }
    for action in actions.iter_mut() {
        let mut deps: BTreeSet<String> = BTreeSet::new();
        match action.operation {
            Operation::Create | Operation::Update | Operation::Adopt => {
                if let Some(want) = desired.get(&action.key) {
                    for target in &want.references {
                        if let Some((op, id)) = op_of.get(target)
                            && *op != Operation::Delete
                        {
                            deps.insert(id.clone());
                        }
                    }
                }
            }
            Operation::Delete => {
                if let Some(referrers) = live_referrers.get(&action.key) {
                    deps.extend(referrers.iter().cloned());
                }
            }
        }
        action.depends_on = deps.into_iter().collect();
    }
}

/// Fills each action's `used_by`: the resources whose desired or live body references its
/// resource, directly or through resources that do (a target group used by a group that
/// experiments use), counted per kind and environment.
fn blast_radius(
    actions: &mut [Action],
    desired: &BTreeMap<&ResourceKey, &DesiredResource>,
    live: &BTreeMap<&ResourceKey, &LiveResource>,
) {
    let mut users: HashMap<&ResourceKey, BTreeSet<&ResourceKey>> = HashMap::new();
    let edges = desired
        .values()
        .map(|d| (&d.key, &d.references))
        .chain(live.values().map(|l| (&l.key, &l.references)));
    for (user, references) in edges {
        for used in references {
            users.entry(used).or_default().insert(user);
        }
    }
    if users.is_empty() {
        return;
    }
    for action in actions.iter_mut() {
        let mut seen: BTreeSet<&ResourceKey> = BTreeSet::new();
        let mut stack: Vec<&ResourceKey> = vec![&action.key];
        while let Some(key) = stack.pop() {
            for user in users.get(key).into_iter().flatten() {
                if *user != &action.key && seen.insert(user) {
                    stack.push(user);
                }
            }
        }
        let mut counts: BTreeMap<(Kind, Option<&String>), usize> = BTreeMap::new();
        for user in seen {
            *counts.entry((user.kind, user.env.as_ref())).or_default() += 1;
        }
        action.used_by = counts
            .into_iter()
            .map(|((kind, environment), count)| Usage {
                kind,
                environment: environment.cloned(),
                count,
            })
            .collect();
    }
}

/// Keeps the actions matching a filter plus, transitively, what they depend on.
fn keep_targeted(actions: Vec<Action>, targeted: &dyn Fn(&ResourceKey) -> bool) -> Vec<Action> {
    let index: HashMap<&str, usize> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let mut keep = vec![false; actions.len()];
    let mut stack: Vec<usize> = actions
        .iter()
        .enumerate()
        .filter(|(_, a)| targeted(&a.key))
        .map(|(i, _)| i)
        .collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut keep[i], true) {
            continue;
        }
        for dep in &actions[i].depends_on {
            if let Some(&d) = index.get(dep.as_str()) {
                stack.push(d);
            }
        }
    }
    actions
        .into_iter()
        .zip(keep)
        .filter_map(|(a, k)| k.then_some(a))
        .collect()
}
