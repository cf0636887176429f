//! Every real CloudBees repository in the shared corpus must load: each file parses into the
//! model with no structural error. References that do not resolve inside a branch are
//! allowed (as warnings: legacy layout).

use std::path::PathBuf;

use flagsync_manifest::{Layout, Severity, load};
use flagsync_source::DirSource;

fn corpus() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/cloudbees-legacy");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus not found at {}", dir.display());
        None
    }
}

#[test]
fn every_corpus_repository_loads_without_errors() {
    let Some(dir) = corpus() else { return };
    let mut repos = 0;
    let mut manifests = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        repos += 1;
        let source = DirSource::open(&path).unwrap();
        let loaded = load(&source);
        let errors: Vec<_> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        assert_eq!(loaded.repository.layout, Layout::Legacy);
        let files = source_manifest_count(&path);
        let loaded_count =
            loaded.repository.experiment_count() + loaded.repository.target_groups.len();
        assert_eq!(
            loaded_count,
            files,
            "{}: every file becomes a manifest",
            path.display()
        );
        manifests += loaded_count;
        for d in &loaded.diagnostics {
            assert!(
                matches!(
                    d.code.as_str(),
                    "unknown-target-group"
                        | "unknown-dependency"
                        | "invalid-regex"
                        | "value-not-available"
                        | "split-under-100"
                        | "ignored-name"
                ),
                "unexpected warning {d:?}"
            );
        }
    }
    assert!(
        repos >= 10,
        "expected the corpus repositories, found {repos}"
    );
    assert!(manifests >= 20);
}

fn source_manifest_count(path: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path, n: &mut usize) {
        for e in std::fs::read_dir(p).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, n);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(path, &mut n);
    n
}

#[test]
fn corpus_details_survive() {
    let Some(dir) = corpus() else { return };
    let src = DirSource::open(dir.join("rollout__sound-redux-cac__branch-Staging")).unwrap();
    let loaded = load(&src);
    let env = loaded.repository.environment("Production").unwrap();
    let e = &env.experiment("pm_desired_feature").unwrap().value;
    match &e.value {
        Some(flagsync_manifest::model::Value::Schedule(steps)) => {
            assert_eq!(steps[0].from, "2022-02-23T11:29:53.808Z");
        }
        other => panic!("expected a schedule, got {other:?}"),
    }
    // The experiment serializes to the API's JSON with its own field names.
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["value"][1]["percentage"], 100);
    assert_eq!(json["type"], "experiment");

    let src = DirSource::open(dir.join("rollout__sound-redux-cac__commit-b69cde4")).unwrap();
    let loaded = load(&src);
    let e = &loaded.repository.environments[0].experiments[0].value;
    assert_eq!(
        e.labels.as_ref().unwrap().0,
        vec!["Gradual Rollout".to_owned()]
    );
    let json = serde_json::to_value(e).unwrap();
    // Round trip through the API's JSON.
    let back: flagsync_manifest::model::Experiment = serde_json::from_value(json).unwrap();
    assert_eq!(&back, e);
}
