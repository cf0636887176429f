//! `flagsync results`: a rollout found by its manifest id (the `flagsync-id` label) or its
//! Confidence instance id, and the analysis results its `stats` name: one
//! (`analysisResult`), or one per exposure filter (`analysisResults[]`).

use flagsync_live::LiveRollout;
use flagsync_remote::{ConfidenceClient, RemoteError};
use serde_json::Value;

use crate::error::PipelineError;

/// One analysis result a rollout's `stats` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRef {
    pub name: String,
    /// Empty for the single, unfiltered result.
    pub exposure_filter: String,
}

/// A rollout and its analysis results as the service returns them, in the order its
/// `stats` name them.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutResults {
    pub rollout: LiveRollout,
    pub results: Vec<(ResultRef, Value)>,
}

/// Finds the rollout `wanted` names and reads each analysis result it names.
pub async fn rollout_results(
    client: &ConfidenceClient,
    wanted: &str,
) -> Result<RolloutResults, PipelineError> {
    let rollout = find_rollout(client, wanted).await?;
    let mut results = Vec::new();
    for r in result_refs(&rollout) {
        let fetched = client
            .get_analysis_result(&r.name)
            .await
            .map_err(|source| PipelineError::ReadAnalysisResult {
                name: r.name.clone(),
                source,
            })?;
        results.push((r, fetched));
    }
    Ok(RolloutResults { rollout, results })
}

/// By flagsync id first (the manifest id), then as an instance id.
pub async fn find_rollout(
    client: &ConfidenceClient,
    wanted: &str,
) -> Result<LiveRollout, PipelineError> {
    let mut labelled = client
        .find_rollouts_by_flagsync_id(wanted)
        .await
        .map_err(PipelineError::ListRollouts)?;
    match labelled.len() {
        0 => {}
        1 => return Ok(labelled.remove(0)),
        _ => {
            return Err(PipelineError::AmbiguousRollout {
                wanted: wanted.to_owned(),
                names: labelled.into_iter().filter_map(|r| r.name).collect(),
            });
        }
    }
    match client.get_rollout(wanted).await {
        Ok(Some(rollout)) => Ok(rollout),
        Ok(None) | Err(RemoteError::InvalidName { .. }) => Err(PipelineError::RolloutNotFound {
            wanted: wanted.to_owned(),
        }),
        Err(source) => Err(PipelineError::ReadRollout {
            wanted: wanted.to_owned(),
            source,
        }),
    }
}

/// The analysis results a rollout's `stats` name, in the service's order.
pub fn result_refs(rollout: &LiveRollout) -> Vec<ResultRef> {
    let Some(stats) = rollout.body.get("stats") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(name) = stats.get("analysisResult").and_then(Value::as_str)
        && !name.is_empty()
    {
        out.push(ResultRef {
            name: name.to_owned(),
            exposure_filter: String::new(),
        });
    }
    if let Some(items) = stats.get("analysisResults").and_then(Value::as_array) {
        for item in items {
            let Some(name) = item.get("analysisResult").and_then(Value::as_str) else {
                continue;
            };
            let filter = item
                .get("exposureFilterName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if out.iter().any(|r: &ResultRef| r.name == name) {
                continue;
            }
            out.push(ResultRef {
                name: name.to_owned(),
                exposure_filter: filter.to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stats_name_one_result_or_one_per_exposure_filter() {
        let one = LiveRollout::new(
            json!({"stats": {"analysisResult": "workflows/rollout/instances/a/analysisResults/r"}}),
        );
        assert_eq!(
            result_refs(&one),
            vec![ResultRef {
                name: "workflows/rollout/instances/a/analysisResults/r".into(),
                exposure_filter: String::new()
            }]
        );
        let many = LiveRollout::new(json!({"stats": {"analysisResults": [
            {"analysisResult": "workflows/rollout/instances/a/analysisResults/r1", "exposureFilterName": "mobile"},
            {"analysisResult": "workflows/rollout/instances/a/analysisResults/r2", "exposureFilterName": "web"},
            {"exposureFilterName": "broken"}
        ]}}));
        let refs = result_refs(&many);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].exposure_filter, "web");
        assert!(result_refs(&LiveRollout::new(json!({"state": "draft"}))).is_empty());
    }
}
