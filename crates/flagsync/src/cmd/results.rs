//! `flagsync results ROLLOUT`: a rollout's analysis results, readable.
//!
//! `flagsync_pipeline::results` finds the rollout (by its manifest id, the `flagsync-id`
//! label, or its Confidence instance id) and reads each analysis result its `stats` name;
//! this module shows them per metric.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
}

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

        let rows: Vec<[String; 5]> = result
            .get("results")
            .and_then(Value::as_array)
            .map(|items| items.iter().map(metric_row).collect())
            .unwrap_or_default();
        if rows.is_empty() {
            out.push_str("  no metric results\n");
        } else {
            let header = [
                "METRIC".to_owned(),
                "METHOD".to_owned(),
                "ADJUSTED ALPHA".to_owned(),
                "STATUS".to_owned(),
                "TYPE".to_owned(),
            ];
            let mut widths = [0usize; 5];
            for row in std::iter::once(&header).chain(rows.iter()) {
                for (w, cell) in widths.iter_mut().zip(row.iter()) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |row: &[String; 5], status_style: Option<&Style>| {
                let mut text = String::from(" ");
                for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                    let padded = if i == 4 {
                        cell.clone()
                    } else {
                        format!("{cell:<w$}")
                    };
                    text.push(' ');
                    match (i, status_style) {
                        (3, Some(s)) => text.push_str(&s.apply_to(padded).to_string()),
                        _ => text.push_str(&padded),
                    }
                    if i < 4 {
                        text.push(' ');
                    }
                }
                format!("{}\n", text.trim_end())
            };
            out.push_str(&dim.apply_to(line(&header, None)).to_string());
            for row in &rows {
                let s = style(status_style(&row[3]));
                out.push_str(&line(row, Some(&s)));
            }
        }

        if let Some(annotations) = result.get("annotations").and_then(Value::as_array)
            && !annotations.is_empty()
        {
            out.push_str("  Annotations:\n");
            for a in annotations {
                let context = a
                    .get("context")
                    .and_then(Value::as_str)
                    .unwrap_or("(no context)");
                let info: Vec<String> = a
                    .get("info")
                    .and_then(Value::as_array)
                    .map(|i| i.iter().map(scalar_text).collect())
                    .unwrap_or_default();
                out.push_str(&format!("    {}: {}\n", clean(context), info.join("; ")));
            }
        }
    }
    out
}

/// metric id, method, adjusted alpha, status, metric type.
fn metric_row(item: &Value) -> [String; 5] {
    let get = |path: &[&str]| {
        let mut v = item;
        for p in path {
            v = v.get(*p).unwrap_or(&Value::Null);
        }
        v.clone()
    };
    let id = get(&["id"]);
    let method = get(&["statsSettings", "method"]);
    let alpha = get(&["statsSettings", "adjustedAlpha"]);
    let status = get(&["result", "status", "status"]);
    let metric_type = get(&["result", "status", "metricType"]);
    [
        if id.is_null() {
            "(no id)".to_owned()
        } else {
            scalar_text(&id)
        },
        humanize(&scalar_text(&method), "METHOD_").replace(' ', "-"),
        if alpha.is_null() {
            "-".to_owned()
        } else {
            scalar_text(&alpha)
        },
        humanize(&scalar_text(&status), "METRIC_RESULT_STATUS_"),
        humanize(&scalar_text(&metric_type), "METRIC_TYPE_"),
    ]
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
    fn a_draft_has_no_results_yet() {
        let rollout = LiveRollout::new(json!({"name": "x", "state": "draft"}));
        let text = render_human(&rollout, &[], false);
        assert!(
            text.contains("no results yet: the rollout is a draft; launch it first"),
            "{text}"
        );
    }
}
