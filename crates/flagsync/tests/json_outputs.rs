//! Every `--format json` output against the JSON Schema `flagsync schema` writes for it, the
//! committed schemas against what the binary writes, one shape for a printed and a saved
//! plan, errors as JSON, and the metadata (version, revision) in each document.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use serde_json::{Value, json};

use crate::common::{Emu, example_copy, git, quickstart_copy, text};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// What `flagsync schema --out DIR` writes, by file name.
fn written_schemas() -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("flagsync")
        .unwrap()
        .args(["schema", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn committed_schemas_are_what_flagsync_schema_writes() {
    let written = written_schemas();
    for name in [
        "validate.output.schema.json",
        "plan.output.schema.json",
        "apply.output.schema.json",
        "error.output.schema.json",
    ] {
        assert!(written.contains_key(name), "{name} is not written");
    }
    for (name, content) in &written {
        let committed = std::fs::read_to_string(schemas_dir().join(name)).unwrap_or_default();
        assert!(
            &committed == content,
            "schemas/{name} is stale: run `cargo run -p flagsync -- schema --out schemas`"
        );
    }
}

/// The committed schema `name`, made strict for the test: an object may hold no property
/// its schema does not document, so an undocumented field fails.
fn validator(name: &str) -> jsonschema::Validator {
    // `branch`: a branch of `oneOf`/`anyOf`/`allOf`, whose object's other properties the
    // schema holding it evaluates.
    fn strict(v: &mut Value, branch: bool) {
        match v {
            Value::Object(map) => {
                if map.contains_key("properties") && !branch {
                    map.insert("unevaluatedProperties".into(), Value::Bool(false));
                }
                for (key, value) in map.iter_mut() {
                    let combinator = matches!(key.as_str(), "oneOf" | "anyOf" | "allOf");
                    match value {
                        Value::Array(items) if combinator => {
                            items.iter_mut().for_each(|i| strict(i, true));
                        }
                        other => strict(other, false),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| strict(i, false)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(schemas_dir().join(name)).unwrap();
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    strict(&mut schema, false);
    jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Parses stdout as JSON and checks it against schema `name`.
fn check(name: &str, out: &Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(out)));
    let errors: Vec<String> = validator(name)
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{doc:#}");
    assert_eq!(
        doc["metadata"]["flagsync_version"],
        env!("CARGO_PKG_VERSION"),
        "{doc:#}"
    );
    doc
}

fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

#[test]
fn every_json_output_matches_its_schema() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join(".gitignore"), "/.flagsync/\n/*.json\n").unwrap();
    let first = commit_all(dir, "quickstart");

    // validate, of a good and a broken repository.
    let out = emu.flagsync(&["validate", "--format", "json"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = check("validate.output.schema.json", &out);
    assert_eq!(doc["metadata"]["revision"]["commit"], first.as_str());
    let broken = example_copy("broken");
    let out = emu.flagsync(&["validate", "--format", "json"], broken.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc = check("validate.output.schema.json", &out);
    assert!(!doc["diagnostics"].as_array().unwrap().is_empty());
    assert_eq!(doc["metadata"]["revision"], Value::Null, "not in git");

    // plan: creates; printed and saved are one document.
    let saved = dir.join("plan.json");
    let out = emu.flagsync(
        &["plan", "--format", "json", "--out", saved.to_str().unwrap()],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let printed = check("plan.output.schema.json", &out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        std::fs::read_to_string(&saved).unwrap().trim_end(),
        "plan --format json prints the saved plan"
    );
    assert_eq!(printed["format_version"], 2);
    assert_eq!(
        printed["metadata"]["revision"],
        json!({"rev": "master", "commit": first, "modified": false})
    );
    assert_eq!(
        printed["metadata"]["providers"][0],
        json!({"provider": "cloudbees", "application": crate::common::APPLICATION,
               "environments": ["Production", "Staging"]})
    );
    let out = emu.flagsync(&["show", "--format", "json"], &saved);
    assert_eq!(check("plan.output.schema.json", &out), printed);

    // apply of the saved plan.
    let out = emu.flagsync(
        &[
            "apply",
            "--plan",
            saved.to_str().unwrap(),
            "--auto-approve",
            "--format",
            "json",
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = check("apply.output.schema.json", &out);
    assert_eq!(report["summary"]["succeeded"], 10, "{report:#}");
    assert_eq!(report["metadata"], printed["metadata"]);

    // Nothing to do: still a report.
    let out = emu.flagsync(&["apply", "--auto-approve", "--format", "json"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    check("apply.output.schema.json", &out);

    // An update, a manifest deleted (undeclared, then pruned), uncommitted changes.
    let group = dir.join("target_groups/Large accounts.yml");
    let changed = std::fs::read_to_string(&group)
        .unwrap()
        .replace("operand: 100", "operand: 250");
    std::fs::write(&group, changed).unwrap();
    std::fs::remove_file(dir.join("rollouts/dark-mode.yml")).unwrap();
    std::fs::remove_file(dir.join("environments/Staging/button-color.yml")).unwrap();
    let out = emu.flagsync(&["plan", "--format", "json"], dir);
    let doc = check("plan.output.schema.json", &out);
    assert_eq!(doc["summary"]["update"], 1, "{doc:#}");
    assert_eq!(doc["summary"]["undeclared"], 2, "{doc:#}");
    assert_eq!(doc["metadata"]["revision"]["modified"], true);
    let update = &doc["actions"][0];
    assert_eq!(update["operation"], "update");
    assert!(update["desired"].is_object() && update["live"].is_object());
    assert_eq!(update["origin"]["file"], "target_groups/Large accounts.yml");

    let out = emu.flagsync(&["plan", "--format", "json", "--prune"], dir);
    let doc = check("plan.output.schema.json", &out);
    assert_eq!(doc["summary"]["delete"], 2, "{doc:#}");
    let out = emu.flagsync(
        &["apply", "--prune", "--auto-approve", "--format", "json"],
        dir,
    );
    // The rollout cannot be deleted: skipped, exit 1; the rest succeeded.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = check("apply.output.schema.json", &out);
    assert_eq!(report["summary"]["skipped"], 1, "{report:#}");
    assert_eq!(report["summary"]["succeeded"], 2, "{report:#}");

    // --ref: the revision as given, and its commit.
    let second = commit_all(dir, "changes");
    let out = emu.flagsync(&["plan", "--format", "json", "--ref", "HEAD~1"], dir);
    let doc = check("plan.output.schema.json", &out);
    assert_eq!(
        doc["metadata"]["revision"],
        json!({"rev": "HEAD~1", "commit": first, "modified": false})
    );

    // diff: the plan document with its two revisions.
    let out = emu.flagsync(
        &[
            "diff", "--base", &first, "--head", "HEAD", "--format", "json",
        ],
        dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = check("plan.output.schema.json", &out);
    assert_eq!(doc["base"], json!({"rev": first, "commit": first}));
    assert_eq!(doc["head"], json!({"rev": "HEAD", "commit": second}));
    assert_eq!(doc["metadata"]["revision"]["commit"], second.as_str());
    assert!(doc.get("undeclared").is_none(), "{doc:#}");
    assert_eq!(doc["summary"]["delete"], 2, "{doc:#}");
}

/// A failure with `--format json` is a JSON document on stdout, exit 1.
fn json_error(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(1), "{}", text(out));
    let doc = check("error.output.schema.json", out);
    assert!(
        !doc["error"]["message"].as_str().unwrap().is_empty(),
        "{doc:#}"
    );
    doc
}

#[test]
fn errors_are_json_with_format_json() {
    let emu = Emu::start();
    // Invalid manifests: nothing sent, the error as JSON.
    let broken = example_copy("broken");
    let doc = json_error(&emu.flagsync(&["plan", "--format", "json"], broken.path()));
    assert!(
        doc["error"]["message"].as_str().unwrap().contains("error"),
        "{doc:#}"
    );
    // A usage error: code `usage`.
    let repo = quickstart_copy();
    let doc = json_error(&emu.flagsync(&["plan", "--format", "json", "--bogus"], repo.path()));
    assert_eq!(doc["error"]["code"], "usage");
    let doc = json_error(&emu.flagsync(
        &["apply", "--format=json", "--max-deletes", "x"],
        repo.path(),
    ));
    assert_eq!(doc["error"]["code"], "usage");
    // Not a plan file; an unknown revision.
    let not_a_plan = repo.path().join("flagsync.yaml");
    let doc = json_error(&emu.flagsync(&["show", "--format", "json"], &not_a_plan));
    assert!(
        !doc["error"]["causes"].as_array().unwrap().is_empty(),
        "{doc:#}"
    );
    json_error(&emu.flagsync(
        &["validate", "--format", "json", "--ref", "nowhere"],
        repo.path(),
    ));
    json_error(&emu.flagsync(
        &["diff", "--base", "a", "--head", "b", "--format", "json"],
        repo.path(),
    ));
    // Without --format json, stdout stays empty.
    let out = emu.flagsync(&["plan"], broken.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out));
}
