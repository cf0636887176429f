//! `flagsync results`: a rollout found by its manifest id (the `flagsync-id` label) or its
//! Confidence instance id, and the analysis results it names: those of its exploratory
//! analyses (`explore.exploratoryAnalyses[].analysisResults[]`, the API reference's) and
//! those of the how-to's `stats` (`analysisResult`, or `analysisResults[]` with one per
//! exposure filter), each once.

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

/// A rollout and its analysis results as the service returns them, in the order it names
/// them.
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

/// The analysis results a rollout names, in the service's order: its exploratory analyses'
/// first, then the how-to's `stats` pointers; each name once.
pub fn result_refs(rollout: &LiveRollout) -> Vec<ResultRef> {
    let mut out: Vec<ResultRef> = Vec::new();
    let mut push = |name: Option<&str>, filter: Option<&str>| {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return;
        };
        if out.iter().any(|r| r.name == name) {
            return;
        }
        out.push(ResultRef {
            name: name.to_owned(),
            exposure_filter: filter.unwrap_or_default().to_owned(),
        });
    };
    let listed = |v: &Value, key: &str| -> Vec<Value> {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let analyses = rollout
        .body
        .get("explore")
        .map(|e| listed(e, "exploratoryAnalyses"))
        .unwrap_or_default();
    for analysis in &analyses {
        for item in listed(analysis, "analysisResults") {
            push(
                item.get("analysisResult").and_then(Value::as_str),
                item.get("exposureFilterName").and_then(Value::as_str),
            );
        }
    }
    if let Some(stats) = rollout.body.get("stats") {
        push(stats.get("analysisResult").and_then(Value::as_str), None);
        for item in listed(stats, "analysisResults") {
            push(
                item.get("analysisResult").and_then(Value::as_str),
                item.get("exposureFilterName").and_then(Value::as_str),
            );
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

    #[test]
    fn exploratory_analyses_name_results_too_and_each_counts_once() {
        let r = LiveRollout::new(json!({
            "explore": {"exploratoryAnalyses": [
                {"id": "a", "analysisResults": [
                    {"analysisResult": "workflows/rollout/instances/a/analysisResults/x", "exposureFilterName": ""},
                    {"analysisResult": "workflows/rollout/instances/a/analysisResults/y", "exposureFilterName": "ios"}
                ]},
                {"id": "b"}
            ]},
            "stats": {"analysisResult": "workflows/rollout/instances/a/analysisResults/x"}
        }));
        let refs = result_refs(&r);
        let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "workflows/rollout/instances/a/analysisResults/x",
                "workflows/rollout/instances/a/analysisResults/y"
            ]
        );
        assert_eq!(refs[1].exposure_filter, "ios");
    }
}
