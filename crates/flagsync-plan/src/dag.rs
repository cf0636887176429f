//! The dependency graph over a plan's actions: validation, a deterministic topological
//! order and the levels of actions that can run in parallel.

use std::collections::{BTreeSet, HashMap};

use crate::error::PlanError;
use crate::model::{Action, Plan};

/// Tie-break among actions that are ready at the same time, so output is stable:
/// the order of `Kind::ALL` (target groups, experiments, rollouts, then CloudBees Unify's
/// properties, target groups, flags, configurations); by environment and name within a kind.
fn sort_key(action: &Action) -> (usize, &Option<String>, &str, u8) {
    (
        action.key.kind.rank(),
        &action.key.env,
        action.key.name.as_str(),
        action.operation as u8,
    )
}

/// Indices of `actions` in execution order (every action after all it depends on), or
/// the error that makes the graph unusable.
pub(crate) fn topo_indices(actions: &[Action]) -> Result<Vec<usize>, PlanError> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(actions.len());
    for (i, action) in actions.iter().enumerate() {
        if index.insert(action.id.as_str(), i).is_some() {
            return Err(PlanError::DuplicateActionId {
                id: action.id.clone(),
            });
        }
    }
    let mut indegree = vec![0usize; actions.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); actions.len()];
    for (i, action) in actions.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for dep in &action.depends_on {
            let Some(&d) = index.get(dep.as_str()) else {
                return Err(PlanError::UnknownDependency {
                    action: action.id.clone(),
                    missing: dep.clone(),
                });
            };
            if seen.insert(d) {
                indegree[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut ready: BTreeSet<(_, usize)> = actions
        .iter()
        .enumerate()
        .filter(|(i, _)| indegree[*i] == 0)
        .map(|(i, a)| (sort_key(a), i))
        .collect();
    let mut order = Vec::with_capacity(actions.len());
    while let Some((_, i)) = ready.pop_first() {
        order.push(i);
        for &next in &dependents[i] {
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.insert((sort_key(&actions[next]), next));
            }
        }
    }
    if order.len() != actions.len() {
        let mut stuck: Vec<String> = actions
            .iter()
            .enumerate()
            .filter(|(i, _)| indegree[*i] > 0)
            .map(|(_, a)| a.id.clone())
            .collect();
        stuck.sort();
        return Err(PlanError::Cycle { actions: stuck });
    }
    Ok(order)
}

impl Plan {
    /// Sets of actions that could run in parallel: everything in level `n` depends only on
    /// actions in levels before `n`; how many there are is the depth of the graph. Apply
    /// does not run level by level: it starts each action as soon as everything in its
    /// `depends_on` has succeeded (`flagsync-apply`'s executor).
    pub fn levels(&self) -> Result<Vec<Vec<&Action>>, PlanError> {
        let order = topo_indices(&self.actions)?;
        let index: HashMap<&str, usize> = self
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i))
            .collect();
        let mut level = vec![0usize; self.actions.len()];
        let mut levels: Vec<Vec<&Action>> = Vec::new();
        for i in order {
            let action = &self.actions[i];
            let l = action
                .depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()))
                .map(|&d| level[d] + 1)
                .max()
                .unwrap_or(0);
            level[i] = l;
            if levels.len() <= l {
                levels.resize_with(l + 1, Vec::new);
            }
            levels[l].push(action);
        }
        Ok(levels)
    }
}
