//! `flagsync dedupe`: the rollouts that carry one flagsync id, and keeping one of each.
//!
//! flagsync manages one rollout per id; copies appear when two applies ran at once (and one
//! could not step back) or when another tool copied a rollout with its labels. Confidence
//! has no call that deletes a rollout, so a copy is resolved by removing its `flagsync-id`
//! label: it then carries `flagsync-duplicate-of` instead (see
//! [`flagsync_live::unmanaged_labels`]) and flagsync no longer manages it.

use std::collections::BTreeMap;

use serde_json::json;

use flagsync_live::{LiveRollout, creation_order, instance_id, unmanaged_labels};
use flagsync_remote::{ConfidenceClient, RemoteError};

use crate::error::PipelineError;

/// The rollouts carrying one flagsync id, oldest first.
#[derive(Debug, Clone)]
pub struct Copies {
    pub id: String,
    pub rollouts: Vec<LiveRollout>,
}

impl Copies {
    /// The one to keep when nobody says otherwise: a live one (it serves traffic), else the
    /// oldest.
    pub fn suggested(&self) -> &LiveRollout {
        self.rollouts
            .iter()
            .find(|r| r.state.as_deref() == Some("live"))
            .unwrap_or(&self.rollouts[0])
    }
}

/// Every flagsync id that more than one rollout carries, by id, from one full list.
pub async fn find(client: &ConfidenceClient) -> Result<Vec<Copies>, PipelineError> {
    let all = client
        .list_rollouts(None)
        .await
        .map_err(PipelineError::ListRollouts)?;
    Ok(copies(all))
}

fn copies(all: Vec<LiveRollout>) -> Vec<Copies> {
    let mut by_id: BTreeMap<String, Vec<LiveRollout>> = BTreeMap::new();
    for rollout in all {
        if let Some(id) = rollout.flagsync_id.clone() {
            by_id.entry(id).or_default().push(rollout);
        }
    }
    by_id
        .into_iter()
        .filter(|(_, rollouts)| rollouts.len() > 1)
        .map(|(id, mut rollouts)| {
            rollouts.sort_by(creation_order);
            Copies { id, rollouts }
        })
        .collect()
}

/// For one id: the copy kept and those that lose the label.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub id: String,
    pub keep: LiveRollout,
    pub unlabel: Vec<LiveRollout>,
}

/// What `--keep INSTANCE…` asks, checked before anything is sent: each instance must be a
/// copy of some id, at most one per id. Returns the resolutions and the ids left as they
/// are (no `--keep` names one of their copies).
pub fn resolve<'a>(
    found: &'a [Copies],
    keep: &[String],
) -> Result<(Vec<Resolution>, Vec<&'a Copies>), PipelineError> {
    let mut chosen: BTreeMap<&str, &LiveRollout> = BTreeMap::new();
    for wanted in keep {
        let bare = instance_id(wanted.trim());
        let hit = found.iter().find_map(|c| {
            c.rollouts
                .iter()
                .find(|r| r.instance_id.as_deref() == Some(bare))
                .map(|r| (c, r))
        });
        let Some((copies, rollout)) = hit else {
            return Err(PipelineError::KeepNotACopy {
                instance: bare.to_owned(),
                copies: found
                    .iter()
                    .flat_map(|c| c.rollouts.iter())
                    .filter_map(|r| r.instance_id.clone())
                    .collect(),
            });
        };
        if let Some(other) = chosen.insert(copies.id.as_str(), rollout)
            && other.instance_id != rollout.instance_id
        {
            return Err(PipelineError::KeepTwice {
                id: copies.id.clone(),
                first: other.instance_id.clone().unwrap_or_default(),
                second: bare.to_owned(),
            });
        }
    }
    let mut resolutions = Vec::new();
    let mut left = Vec::new();
    for copies in found {
        match chosen.get(copies.id.as_str()) {
            Some(keep) => resolutions.push(Resolution {
                id: copies.id.clone(),
                keep: (*keep).clone(),
                unlabel: copies
                    .rollouts
                    .iter()
                    .filter(|r| r.instance_id != keep.instance_id)
                    .cloned()
                    .collect(),
            }),
            None => left.push(copies),
        }
    }
    Ok((resolutions, left))
}

/// What happened to one copy.
#[derive(Debug)]
pub enum Unlabelled {
    /// It lost the label; `live`: it still serves traffic (end it in Confidence).
    Done { instance: String, live: bool },
    /// Read again just before, it no longer carries the id: someone changed it meanwhile,
    /// and it was left alone.
    Changed { instance: String },
    Failed {
        instance: String,
        error: RemoteError,
    },
}

/// Removes the id label from each copy of `resolution` that still carries it, reading each
/// right before its write.
pub async fn unlabel(client: &ConfidenceClient, resolution: &Resolution) -> Vec<Unlabelled> {
    let mut out = Vec::new();
    for copy in &resolution.unlabel {
        let instance = copy.instance_id.clone().unwrap_or_default();
        let fresh = match client.get_rollout(&instance).await {
            Ok(Some(fresh)) if fresh.flagsync_id.as_deref() == Some(resolution.id.as_str()) => {
                fresh
            }
            Ok(_) => {
                out.push(Unlabelled::Changed { instance });
                continue;
            }
            Err(error) => {
                out.push(Unlabelled::Failed { instance, error });
                continue;
            }
        };
        let body = json!({"labels": unmanaged_labels(&fresh.body, &resolution.id)});
        out.push(
            match client.patch_rollout(&instance, "labels", &body).await {
                Ok(_) => Unlabelled::Done {
                    live: fresh.state.as_deref() == Some("live"),
                    instance,
                },
                Err(error) => Unlabelled::Failed { instance, error },
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(id: &str, label: Option<&str>, state: &str, time: &str) -> LiveRollout {
        let mut body = json!({
            "name": format!("workflows/rollout/instances/{id}"),
            "state": state,
            "createTime": time,
        });
        if let Some(label) = label {
            body["labels"] = json!({"flagsync-id": label});
        }
        LiveRollout::new(body)
    }

    fn found() -> Vec<Copies> {
        copies(vec![
            rollout("b", Some("x"), "draft", "2026-01-01T00:00:02Z"),
            rollout("a", Some("x"), "draft", "2026-01-01T00:00:01Z"),
            rollout("c", Some("y"), "draft", "2026-01-01T00:00:01Z"),
            rollout("d", Some("y"), "live", "2026-01-01T00:00:03Z"),
            rollout("e", Some("z"), "live", "2026-01-01T00:00:03Z"),
            rollout("f", None, "live", "2026-01-01T00:00:03Z"),
        ])
    }

    #[test]
    fn copies_are_grouped_by_id_oldest_first_and_a_live_one_is_suggested() {
        let found = found();
        let ids: Vec<(&str, Vec<&str>)> = found
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.rollouts
                        .iter()
                        .map(|r| r.instance_id.as_deref().unwrap())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(ids, vec![("x", vec!["a", "b"]), ("y", vec!["c", "d"])]);
        assert_eq!(found[0].suggested().instance_id.as_deref(), Some("a"));
        assert_eq!(found[1].suggested().instance_id.as_deref(), Some("d"));
    }

    #[test]
    fn keep_names_one_copy_per_id() {
        let found = found();
        let (resolutions, left) =
            resolve(&found, &["workflows/rollout/instances/b".to_owned()]).unwrap();
        assert_eq!(resolutions.len(), 1);
        assert_eq!(resolutions[0].keep.instance_id.as_deref(), Some("b"));
        assert_eq!(resolutions[0].unlabel.len(), 1);
        assert_eq!(resolutions[0].unlabel[0].instance_id.as_deref(), Some("a"));
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].id, "y");
        assert!(matches!(
            resolve(&found, &["e".to_owned()]),
            Err(PipelineError::KeepNotACopy { .. })
        ));
        assert!(matches!(
            resolve(&found, &["a".to_owned(), "b".to_owned()]),
            Err(PipelineError::KeepTwice { .. })
        ));
        // The same instance twice is one choice.
        assert!(resolve(&found, &["a".to_owned(), "a".to_owned()]).is_ok());
    }
}
