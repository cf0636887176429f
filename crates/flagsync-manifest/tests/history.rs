//! Every version of every manifest ever committed to two real CloudBees repositories
//! (`../shared/corpus/cloudbees-history`, read in place): the format as the service really
//! writes it. Each file that is YAML loads without an error, except the plain human
//! mistakes listed below with their reason; the files people committed with broken YAML
//! give a diagnostic at a position in the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use flagsync_manifest::load;
use flagsync_source::DirSource;

/// Versions whose error is a person's mistake, not a shape of the format: the folder of
/// the version (`<blob12>`), the code it must get, and why.
const HUMAN_MISTAKES: &[(&str, &str, &str)] = &[(
    "64fe224277c6",
    "invalid-semver",
    "a version typed with commas (`1,2,0`): no SDK compares it as a version",
)];

fn corpus() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/cloudbees-history");
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        println!(
            "skipped: the history corpus is not at {} (it lives in ../shared)",
            dir.display()
        );
        None
    }
}

/// One row of MANIFEST.tsv.
struct Version {
    /// `<owner>__<repo>/<blob12>`: a legacy repository holding the one file.
    repository: PathBuf,
    blob12: String,
    /// The file's path inside that repository.
    path: String,
    parses: bool,
}

fn versions(root: &Path) -> Vec<Version> {
    let manifest = std::fs::read_to_string(root.join("MANIFEST.tsv")).unwrap();
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (local, parses) = (col("local_path"), col("parses"));
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let mut parts = cells[local].splitn(3, '/');
            let (repo, blob12, path) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            Version {
                repository: root.join(repo).join(blob12),
                blob12: blob12.to_owned(),
                path: path.to_owned(),
                parses: cells[parses] == "yes",
            }
        })
        .collect()
}

#[test]
fn every_version_of_two_real_repositories_loads() {
    let Some(root) = corpus() else { return };
    let versions = versions(&root);
    assert_eq!(
        versions.len(),
        4345,
        "the corpus README counts 4,345 versions"
    );
    let mut warnings: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut broken, mut archived, mut mistakes) = (0, 0, 0);
    for v in &versions {
        let loaded = load(&DirSource::open(&v.repository).unwrap());
        let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
        let where_ = format!("{}/{}", v.blob12, v.path);
        if !v.parses {
            // Broken YAML: a diagnostic at a place in the file, never a panic.
            broken += 1;
            let d = errors
                .first()
                .unwrap_or_else(|| panic!("{where_}: no error"));
            assert_eq!(d.code.as_str(), "yaml-syntax", "{where_}: {d:?}");
            assert_eq!(d.file, v.path, "{where_}");
            assert!(d.line >= 1 && d.column >= 1, "{where_}: {d:?}");
            continue;
        }
        if let Some((_, code, _reason)) = HUMAN_MISTAKES.iter().find(|m| m.0 == v.blob12) {
            mistakes += 1;
            let codes: Vec<&str> = errors.iter().map(|d| d.code.as_str()).collect();
            assert_eq!(codes, [*code], "{where_}");
            continue;
        }
        assert!(errors.is_empty(), "{where_}: {errors:#?}");
        let repo = &loaded.repository;
        assert_eq!(
            repo.experiment_count() + repo.target_groups.len(),
            1,
            "{where_}: the file is a manifest"
        );
        if v.path.starts_with("experiments/archived/") {
            archived += 1;
            let e = &repo.environments[0].experiments[0].value;
            assert_eq!(e.archived, Some(true), "{where_}: the folder archives");
        }
        for d in &loaded.diagnostics {
            *warnings.entry(d.code.as_str()).or_default() += 1;
        }
    }
    assert_eq!(broken, 8, "the corpus README counts 8 broken-YAML versions");
    assert_eq!(mistakes, HUMAN_MISTAKES.len());
    assert_eq!(archived, 54);
    // What a real repository draws besides errors: each a warning flagsync means to give.
    for code in warnings.keys() {
        assert!(
            matches!(
                *code,
                "ignored-name"
                    | "empty-condition"
                    | "unknown-target-group"
                    | "unknown-dependency"
                    | "invalid-regex"
                    | "value-not-available"
                    | "split-under-100"
            ),
            "unexpected diagnostic {code}: {warnings:?}"
        );
    }
    println!("{} versions loaded; warnings: {warnings:?}", versions.len());
}
