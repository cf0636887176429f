//! `flagsync results ROLLOUT`: a rollout's analysis results, readable.
//!
//! `flagsync_pipeline::results` finds the rollout (by its manifest id, the `flagsync-id`
//! label, or its Confidence instance id) and reads each analysis result it names (its
//! exploratory analyses', or the how-to's `stats`); this module shows them per metric and
//! comparison. Results are read in the stats API's v2 shape (`result` a list of
//! comparisons, `info` a string, `context` a list of pairs); the how-to's older shape (one
//! `result` object, `info` a list, `context` a string) is read too, and `{"value": x}`
//! wrappers as well as bare values.

use std::path::PathBuf;
use std::process::ExitCode;

use console::Style;
use flagsync_pipeline::results::{ResultRef, RolloutResults};
use flagsync_remote::LiveRollout;
use miette::{IntoDiagnostic, miette};
use serde_json::{Value, json};

use crate::output::GlobalArgs;
use crate::pipeline;
use crate::remote::{self, RemoteArgs};

/// Version of the `--format json` document.
const FORMAT_VERSION: u32 = 1;

pub use crate::output::HumanOrJson as Format;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The rollout: its manifest id (the `flagsync-id` label) or its Confidence instance id.
    pub rollout: String,
    /// The repository whose flagsync.yaml says how to reach Confidence.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// human (coloured on a terminal) or json (the analysis results as the service returns
    /// them, in a versioned document).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    // Only flagsync.yaml matters here: problems in manifests do not stop reading results.
    let source = crate::source::open(&args.dir, None)?;
    let loaded = flagsync_manifest::load(source.as_ref());
    let config = flagsync_pipeline::config(&loaded)?;
    let Some(_) = &config.confidence else {
        return Err(miette!(
            help = "add a `confidence:` section (see examples/quickstart/flagsync.yaml)",
            "flagsync.yaml configures no Confidence provider, so there are no rollouts to read"
        ));
    };
    let mut needed = config.clone();
    needed.cloudbees = None;
    let conn = remote::connect(&args.dir, &needed, &args.remote)?;
    remote::announce(&conn);
    let Some(client) = conn.confidence.as_ref() else {
        return Err(miette!("no Confidence client"));
    };

    let read = flagsync_pipeline::results::rollout_results(client, &args.rollout);
    let RolloutResults { rollout, results } = pipeline::runtime()?.block_on(read)?;

    match args.format {
        Format::Json => {
            let doc = json!({
                "format_version": FORMAT_VERSION,
                "rollout": summary_json(&rollout),
                "message": if results.is_empty() { Value::String(no_results_message(&rollout)) } else { Value::Null },
                "analysisResults": results
                    .iter()
                    .map(|(r, v)| json!({"exposureFilterName": r.exposure_filter, "analysisResult": v}))
                    .collect::<Vec<_>>(),
            });
            let text = serde_json::to_string_pretty(&doc).into_diagnostic()?;
            println!("{text}");
        }
        Format::Human => print!(
            "{}",
            render_human(&rollout, &results, global.color_stdout())
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn state_of(rollout: &LiveRollout) -> &str {
    rollout.state.as_deref().unwrap_or("draft")
}

fn no_results_message(rollout: &LiveRollout) -> String {
    match state_of(rollout) {
        "draft" => "no results yet: the rollout is a draft; launch it first".to_owned(),
        state => format!(
            "no results yet: the rollout is {} and the service names no analysis result; check again later",
            clean(state)
        ),
    }
}

fn summary_json(rollout: &LiveRollout) -> Value {
    json!({
        "name": rollout.name,
        "displayName": rollout.body.get("displayName").cloned().unwrap_or(Value::Null),
        "state": state_of(rollout),
        "flagsyncId": rollout.flagsync_id,
    })
}

/// The human report: a heading, then per exposure filter a table of metrics and the
/// annotations.
pub fn render_human(rollout: &LiveRollout, results: &[(ResultRef, Value)], color: bool) -> String {
    // Forced: the caller decided (--color, NO_COLOR, terminal), not console's own detection.
    let style = |s: Style| {
        if color {
            s.force_styling(true)
        } else {
            Style::new()
        }
    };
    let bold = style(Style::new().bold());
    let dim = style(Style::new().dim());
    let mut out = String::new();

    let name = rollout.name.as_deref().unwrap_or("(unnamed rollout)");
    let display = rollout.body.get("displayName").and_then(Value::as_str);
    let id = rollout.flagsync_id.as_deref();
    let mut heading = format!("Rollout {}", clean(display.unwrap_or(name)));
    if let Some(id) = id {
        heading.push_str(&format!(" (id {})", clean(id)));
    }
    out.push_str(&format!("{}\n", bold.apply_to(heading)));
    out.push_str(&format!(
        "{}\n",
        dim.apply_to(format!(
            "{}, state {}",
            clean(name),
            clean(state_of(rollout))
        ))
    ));

    if results.is_empty() {
        out.push_str(&format!("\n{}\n", no_results_message(rollout)));
        return out;
    }

    for (r, result) in results {
        let filter = if r.exposure_filter.is_empty() {
            result
                .get("exposureFilter")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        } else {
            r.exposure_filter.clone()
        };
        let title = if filter.is_empty() {
            "All exposures".to_owned()
        } else {
            format!("Exposure filter {}", clean(&filter))
        };
        out.push_str(&format!("\n{}\n", bold.apply_to(title)));

        let rows: Vec<Row> = result
            .get("results")
            .and_then(Value::as_array)
            .map(|items| items.iter().flat_map(metric_rows).collect())
            .unwrap_or_default();
        if rows.is_empty() {
            out.push_str("  no metric results\n");
        } else {
            let header: Row = [
                "METRIC".to_owned(),
                "COMPARISON".to_owned(),
                "METHOD".to_owned(),
                "ADJUSTED ALPHA".to_owned(),
                "LIFT".to_owned(),
                "STATUS".to_owned(),
                "TYPE".to_owned(),
            ];
            let mut widths = [0usize; COLUMNS];
            for row in std::iter::once(&header).chain(rows.iter()) {
                for (w, cell) in widths.iter_mut().zip(row.iter()) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |row: &Row, status_style: Option<&Style>| {
                let mut text = String::from(" ");
                for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                    let padded = if i == COLUMNS - 1 {
                        cell.clone()
                    } else {
                        format!("{cell:<w$}")
                    };
                    text.push(' ');
                    match (i, status_style) {
                        (STATUS, Some(s)) => text.push_str(&s.apply_to(padded).to_string()),
                        _ => text.push_str(&padded),
                    }
                    if i < COLUMNS - 1 {
                        text.push(' ');
                    }
                }
                format!("{}\n", text.trim_end())
            };
            out.push_str(&dim.apply_to(line(&header, None)).to_string());
            for row in &rows {
                let s = style(status_style(&row[STATUS]));
                out.push_str(&line(row, Some(&s)));
            }
        }

        if let Some(annotations) = result.get("annotations").and_then(Value::as_array)
            && !annotations.is_empty()
        {
            out.push_str("  Annotations:\n");
            for a in annotations {
                out.push_str(&format!("    {}\n", annotation_text(a)));
            }
        }
    }
    out
}

const COLUMNS: usize = 7;
/// The column of the status, which is coloured.
const STATUS: usize = 5;
type Row = [String; COLUMNS];

/// `{"value": x}` (a protobuf wrapper as drawn) or `x` itself.
fn unwrap_value(v: &Value) -> &Value {
    match v {
        Value::Object(map) if map.len() == 1 => map.get("value").unwrap_or(v),
        other => other,
    }
}

/// One row per comparison of a metric's result: `result` is a list of comparisons (v2),
/// or one object (the how-to's shape).
fn metric_rows(item: &Value) -> Vec<Row> {
    let get = |v: &Value, path: &[&str]| {
        let mut v = v;
        for p in path {
            v = v.get(*p).unwrap_or(&Value::Null);
        }
        unwrap_value(v).clone()
    };
    let id = get(item, &["id"]);
    let method = get(item, &["statsSettings", "method"]);
    let alpha = get(item, &["statsSettings", "adjustedAlpha"]);
    let comparisons: Vec<&Value> = match item.get("result") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    let row = |comparison: &Value| {
        let baseline = get(comparison, &["groups", "baseline"]);
        let compared = get(comparison, &["groups", "compared"]);
        let groups = match (baseline.as_str(), compared.as_str()) {
            (Some(b), Some(c)) => format!("{} vs {}", clean(short_name(c)), clean(short_name(b))),
            _ => "-".to_owned(),
        };
        // The latest point of the comparison's time series.
        let lift = comparison
            .get("result")
            .and_then(Value::as_array)
            .and_then(|series| series.last())
            .map(|point| get(point, &["differenceEstimateRel"]))
            .and_then(|v| v.as_f64())
            .map_or_else(|| "-".to_owned(), |x| format!("{:+.2}%", x * 100.0));
        [
            if id.is_null() {
                "(no id)".to_owned()
            } else {
                scalar_text(&id)
            },
            groups,
            humanize(&scalar_text(&method), "METHOD_").replace(' ', "-"),
            if alpha.is_null() {
                "-".to_owned()
            } else {
                scalar_text(&alpha)
            },
            lift,
            humanize(
                &scalar_text(&get(comparison, &["status", "status"])),
                "METRIC_RESULT_STATUS_",
            ),
            humanize(
                &scalar_text(&get(comparison, &["status", "metricType"])),
                "METRIC_TYPE_",
            ),
        ]
    };
    if comparisons.is_empty() {
        return vec![row(&Value::Null)];
    }
    comparisons.into_iter().map(row).collect()
}

/// `flags/search/variants/on` → `on`.
fn short_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// `OVERALL: Analysis completed` from an annotation: its context (a list of `{key, value}`
/// pairs, or one string) and its message (`info`, `warning`, or `error.details`; a string
/// or a list of them).
fn annotation_text(a: &Value) -> String {
    let context = match a.get("context") {
        Some(Value::String(s)) => clean(s),
        Some(Value::Array(pairs)) => pairs
            .iter()
            .map(|p| {
                let key = p.get("key").and_then(Value::as_str).unwrap_or_default();
                let key = humanize(key, "STATS_ANNOTATION_CONTEXT_");
                match p
                    .get("value")
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                {
                    Some(value) => format!("{key} {}", clean(value)),
                    None => key,
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) if !s.is_empty() => Some(clean(s)),
            Value::Array(items) if !items.is_empty() => {
                Some(items.iter().map(scalar_text).collect::<Vec<_>>().join("; "))
            }
            _ => None,
        }
    };
    let mut message = Vec::new();
    if let Some(info) = text(a.get("info")) {
        message.push(info);
    }
    if let Some(warning) = text(a.get("warning")) {
        message.push(format!("warning: {warning}"));
    }
    if let Some(error) = text(a.get("error").and_then(|e| e.get("details"))) {
        message.push(format!("error: {error}"));
    }
    let context = if context.is_empty() {
        "(no context)".to_owned()
    } else {
        context
    };
    format!("{context}: {}", message.join("; "))
}

/// `METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE` → `significant positive`.
fn humanize(raw: &str, prefix: &str) -> String {
    if raw.is_empty() {
        return "-".to_owned();
    }
    raw.strip_prefix(prefix)
        .unwrap_or(raw)
        .to_lowercase()
        .replace('_', " ")
}

fn status_style(status: &str) -> Style {
    if status.contains("negative") {
        Style::new().red().bold()
    } else if status.contains("positive") {
        Style::new().green().bold()
    } else if status.contains("not significant") {
        Style::new().yellow()
    } else {
        Style::new()
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => clean(s),
        Value::Null => String::new(),
        other => clean(&other.to_string()),
    }
}

/// Text from the service reaches a terminal: control characters (an ANSI escape, a
/// carriage return) are shown escaped instead of acting.
fn clean(text: &str) -> String {
    flagsync_plan::render::printable(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_report_shows_each_metric_status_and_annotations() {
        let rollout = json!({"name": "workflows/rollout/instances/a", "displayName": "Search", "state": "live",
            "labels": {"flagsync-id": "search"}});
        let result = json!({
            "exposureFilter": "",
            "annotations": [{"context": "OVERALL", "info": ["Analysis completed successfully"]}],
            "results": [
                {"id": "metrics/conversion-rate", "statsSettings": {"method": "METHOD_Z_TEST", "adjustedAlpha": 0.025},
                 "result": {"status": {"status": "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE", "metricType": "METRIC_TYPE_SUCCESS"}}},
                {"id": "metrics/latency\u{1b}[31m", "result": {"status": {"status": "METRIC_RESULT_STATUS_NOT_SIGNIFICANT"}}}
            ]
        });
        let refs = vec![(
            ResultRef {
                name: "n".into(),
                exposure_filter: String::new(),
            },
            result,
        )];
        let rollout = LiveRollout::new(rollout);
        let text = render_human(&rollout, &refs, false);
        assert!(text.contains("Rollout Search (id search)"), "{text}");
        assert!(text.contains("All exposures"), "{text}");
        let line = text
            .lines()
            .find(|l| l.contains("conversion-rate"))
            .unwrap();
        for part in ["z-test", "0.025", "significant positive", "success"] {
            assert!(line.contains(part), "{line}");
        }
        assert!(text.contains("not significant"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(
            text.contains("OVERALL: Analysis completed successfully"),
            "{text}"
        );
        let coloured = render_human(&rollout, &refs, true);
        assert!(coloured.contains('\u{1b}'));
    }

    #[test]
    fn the_v2_shape_shows_every_comparison() {
        let rollout =
            LiveRollout::new(json!({"name": "workflows/rollout/instances/a", "state": "live"}));
        let result = json!({
            "annotations": [
                {"context": [{"key": "STATS_ANNOTATION_CONTEXT_OVERALL", "value": "overall"}], "info": "Analysis done"},
                {"context": [], "warning": "Sample ratio mismatch"},
                {"error": {"details": "No exposure", "category": "STATS_ANNOTATION_ERROR_CATEGORY_X"}}
            ],
            "results": [{
                "id": "metrics/conversion",
                "statsSettings": {"method": "METHOD_Z_TEST", "adjustedAlpha": 0.05},
                "result": [
                    {"status": {"status": "METRIC_RESULT_STATUS_SIGNIFICANT_POSITIVE", "metricType": "METRIC_TYPE_SUCCESS"},
                     "groups": {"baseline": "flags/f/variants/control", "compared": "flags/f/variants/on"},
                     "result": [{"differenceEstimateRel": {"value": 0.01}}, {"differenceEstimateRel": {"value": 0.0421}}]},
                    {"status": {"status": "METRIC_RESULT_STATUS_NOT_SIGNIFICANT", "metricType": "METRIC_TYPE_SUCCESS"},
                     "groups": {"baseline": "flags/f/variants/control", "compared": "flags/f/variants/other"},
                     "result": [{"differenceEstimateRel": -0.002}]}
                ]
            }]
        });
        let refs = vec![(
            ResultRef {
                name: "n".into(),
                exposure_filter: "ios".into(),
            },
            result,
        )];
        let text = render_human(&rollout, &refs, false);
        assert!(text.contains("Exposure filter ios"), "{text}");
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("metrics/conversion"))
            .collect();
        assert_eq!(rows.len(), 2, "{text}");
        for part in ["on vs control", "+4.21%", "significant positive"] {
            assert!(rows[0].contains(part), "{}", rows[0]);
        }
        for part in ["other vs control", "-0.20%", "not significant"] {
            assert!(rows[1].contains(part), "{}", rows[1]);
        }
        assert!(text.contains("overall overall: Analysis done"), "{text}");
        assert!(text.contains("warning: Sample ratio mismatch"), "{text}");
        assert!(text.contains("(no context): error: No exposure"), "{text}");
    }

    #[test]
    fn a_draft_has_no_results_yet() {
        let rollout = LiveRollout::new(json!({"name": "x", "state": "draft"}));
        let text = render_human(&rollout, &[], false);
        assert!(
            text.contains("no results yet: the rollout is a draft; launch it first"),
            "{text}"
        );
    }
}
