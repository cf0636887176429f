//! Loading repositories: layouts, every rule through real files, and bad input.

use std::path::PathBuf;

use flagsync_manifest::{Diagnostic, Layout, Loaded, Severity, load};
use flagsync_source::{DirSource, MAX_FILE_BYTES};

use crate::common::{Mem, assert_positions, codes};

fn one(path: &str, text: &str) -> Loaded {
    load(&Mem::default().with(path, text))
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn quickstart_is_clean_and_complete() {
    let src = DirSource::open(workspace().join("examples/quickstart")).unwrap();
    let loaded = load(&src);
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    let repo = &loaded.repository;
    assert_eq!(repo.layout, Layout::Config);
    let config = repo.config.as_ref().unwrap();
    assert_eq!(
        config.emulator.as_ref().unwrap().state,
        ".flagsync/emulator"
    );
    assert_eq!(
        config.cloudbees.as_ref().unwrap().token_env,
        "CLOUDBEES_API_TOKEN"
    );
    assert_eq!(repo.environments.len(), 2);
    assert_eq!(repo.environment("Staging").unwrap().experiments.len(), 2);
    assert_eq!(repo.target_groups.len(), 4);
    assert_eq!(repo.rollouts.len(), 2);
    let search = &repo.rollout("new-search").unwrap().value;
    // `NO` stays a string under strict booleans.
    let json = serde_json::to_value(search).unwrap();
    assert_eq!(
        json["segment"]["targeting"]["criteria"]["country"]["attribute"]["setRule"]["values"][1]["stringValue"],
        "NO"
    );
    assert_eq!(json["rollout"]["reach"], "0.5");
}

#[test]
fn broken_reports_every_class_of_mistake() {
    let src = DirSource::open(workspace().join("examples/broken")).unwrap();
    let loaded = load(&src);
    assert_positions(&loaded);
    let got = codes(&loaded);
    for code in [
        "unknown-field",
        "unknown-variant",
        "invalid-operand",
        "invalid-semver",
        "percentage-range",
        "reach-range",
        "schedule-non-boolean",
        "unknown-target-group",
        "unknown-dependency",
        "dependency-cycle",
        "group-cycle",
        "duplicate-identity",
        "unknown-ref",
        "yaml-syntax",
        "duplicate-key",
        "missing-type",
        "unknown-type",
        "invalid-type",
        "empty-file",
        "invalid-id",
        "invalid-regex",
        "value-not-available",
        "split-under-100",
    ] {
        assert!(got.contains(&code), "missing {code} in {got:?}");
    }
    // In a flagsync.yaml repository a dangling reference is an error.
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "unknown-target-group")
        .unwrap();
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.help.as_deref(), Some("did you mean `Beta Users`?"));
    assert_eq!(
        (d.file.as_str(), d.line, d.column),
        ("experiments/unknown-group.yml", 5, 13)
    );
}

#[test]
fn legacy_dangling_references_are_warnings() {
    let loaded = load(
        &Mem::default()
            .with("experiments/a.yml", "type: experiment\nflag: a\nconditions:\n  - group:\n      name: Nobody\n    value: true\n  - dependency:\n      flag: gone\n      value: 'x'\n    value: false\n"),
    );
    assert_eq!(
        codes(&loaded),
        ["unknown-target-group", "unknown-dependency"]
    );
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning)
    );
    assert_eq!(loaded.repository.environments[0].name, "Production");
    assert_eq!(loaded.repository.experiment_count(), 1);
}

#[test]
fn branch_environments_read_the_branch_or_report_it() {
    let config = "cloudbees:\n  application: app\n  environments:\n    Production: { experiments: experiments }\n    Staging: { branch: Staging }\n";
    let staging = Mem::default().with("experiments/x.yml", "type: experiment\nflag: x\n");
    let mut mem = Mem::default()
        .with("flagsync.yaml", config)
        .with("experiments/y.yml", "type: experiment\nflag: y\n");
    mem.branches.insert("Staging".into(), staging);
    let loaded = load(&mem);
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    let env = loaded.repository.environment("Staging").unwrap();
    assert_eq!(env.experiments[0].file, "Staging:experiments/x.yml");
    assert_eq!(env.branch.as_deref(), Some("Staging"));

    // A plain directory cannot read branches: a diagnostic at the `branch:` line.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flagsync.yaml"), config).unwrap();
    std::fs::create_dir(dir.path().join("experiments")).unwrap();
    std::fs::write(
        dir.path().join("experiments/y.yml"),
        "type: experiment\nflag: y\n",
    )
    .unwrap();
    let loaded = load(&DirSource::open(dir.path()).unwrap());
    assert_eq!(codes(&loaded), ["branch-unavailable"]);
    let d = &loaded.diagnostics[0];
    assert_eq!(
        (d.file.as_str(), d.line, d.column),
        ("flagsync.yaml", 5, 24)
    );
    assert_eq!(
        loaded
            .repository
            .environment("Production")
            .unwrap()
            .experiments
            .len(),
        1
    );
}

#[test]
fn bad_input_is_a_diagnostic_never_a_panic() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "syntax",
            b"type: experiment\nflag: [a\n".to_vec(),
            "yaml-syntax",
        ),
        (
            "dup",
            b"type: experiment\nflag: a\nflag: b\n".to_vec(),
            "duplicate-key",
        ),
        ("empty", Vec::new(), "empty-file"),
        ("comments only", b"# nothing\n".to_vec(), "empty-file"),
        ("scalar", b"just text\n".to_vec(), "invalid-type"),
        (
            "non-utf8",
            b"type: experiment\nflag: \xff\xfe\n".to_vec(),
            "invalid-utf8",
        ),
        ("no type", b"flag: a\n".to_vec(), "missing-type"),
        (
            "bad type",
            b"type: rolout\nid: a\n".to_vec(),
            "unknown-type",
        ),
        (
            "misplaced",
            b"type: target-group\nname: g\n".to_vec(),
            "misplaced-manifest",
        ),
        (
            "two docs",
            b"type: experiment\nflag: a\n---\ntype: experiment\nflag: b\n".to_vec(),
            "multiple-documents",
        ),
        (
            "deep",
            format!(
                "type: experiment\nflag: a\nvalue: {}{}\n",
                "[".repeat(200),
                "]".repeat(200)
            )
            .into_bytes(),
            "yaml-too-deep",
        ),
        (
            "deep map",
            {
                let mut s = String::from("type: experiment\nflag: a\ndescription:\n");
                for i in 0..100 {
                    s.push_str(&format!("{}k:\n", "  ".repeat(i + 1)));
                }
                s.into_bytes()
            },
            "yaml-too-deep",
        ),
    ];
    for (name, bytes, code) in cases {
        let loaded = load(&Mem::default().with("experiments/x.yml", bytes));
        assert_positions(&loaded);
        assert!(
            codes(&loaded).contains(&code),
            "{name}: {:?}",
            loaded.diagnostics
        );
        assert!(loaded.has_errors(), "{name}");
    }
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut s =
        String::from("type: experiment\nflag: a\nlabels: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        s.push_str(&format!("l{i}: &l{i} [*l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}]\n"));
    }
    s.push_str("description: *l11\n");
    let loaded = one("experiments/bomb.yml", &s);
    assert_positions(&loaded);
    assert!(loaded.has_errors(), "{:?}", loaded.diagnostics);
}

#[test]
fn oversized_file_is_refused() {
    let big = vec![b'#'; MAX_FILE_BYTES as usize + 1];
    let loaded = load(
        &Mem::default()
            .with("experiments/big.yml", big)
            .with("experiments/ok.yml", "type: experiment\nflag: ok\n"),
    );
    assert_eq!(codes(&loaded), ["file-too-large"]);
    assert_eq!(loaded.repository.experiment_count(), 1);
}

#[test]
fn empty_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let loaded = load(&DirSource::open(dir.path()).unwrap());
    assert_eq!(codes(&loaded), ["no-manifests"]);
}

#[test]
fn other_extensions_are_ignored_and_names_may_be_unicode() {
    let loaded = load(
        &Mem::default()
            .with(
                "target_groups/Bêta users & co.yaml",
                "type: target-group\nname: Bêta users & co\nconditions: []\n",
            )
            .with("target_groups/README.md", "not yaml: [")
            .with(
                "experiments/archived/old flag.yml",
                "type: experiment\nflag: old flag\narchived: true\n",
            ),
    );
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    assert_eq!(
        loaded.repository.target_groups[0].value.name,
        "Bêta users & co"
    );
    assert_eq!(loaded.repository.experiment_count(), 1);
}

#[test]
fn lenient_where_real_files_are() {
    let loaded = one(
        "experiments/x.yml",
        "type: experiment\nversion: 1.0\nflag: x\nlabels: one\nvalue:\n  - option: true\n    percentage: '30'\nconditions:\n  - version:\n      operator: semver-gte\n      semver: 1.1\n    value: true\n  - version:\n      operator: semver-lt\n      semver: null\n  - value: false\n",
    );
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    let e = &loaded.repository.environments[0].experiments[0].value;
    assert_eq!(e.version.as_deref(), Some("1.0"));
    assert_eq!(
        e.conditions[0].version.as_ref().unwrap().semver.as_deref(),
        Some("1.1")
    );
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["labels"], serde_json::json!(["one"]));
    assert_eq!(json["value"][0]["percentage"], 30);
}

#[test]
fn semantic_diagnostics_point_at_the_offending_node() {
    let text = "type: target-group\nname: g\nconditions:\n  - property: n\n    operator: lt\n    operand: lots\n";
    let loaded = one("target_groups/g.yml", text);
    assert_eq!(codes(&loaded), ["invalid-operand"]);
    let d = &loaded.diagnostics[0];
    assert_eq!((d.line, d.column), (6, 14));
    assert_eq!(&text[d.span.clone()], "lots");
}

#[test]
fn config_problems_are_reported() {
    let loaded = load(
        &Mem::default()
            .with("flagsync.yaml", "cloudbees:\n  application: app\n  token_env: abc-123-secret\n  environments:\n    Production: {}\n  target_groups: ../elsewhere\nconfidence:\n  token_env: T\n  client_id_env: C\n")
            .with("experiments/x.yml", "type: experiment\nflag: x\n"),
    );
    let got = codes(&loaded);
    for code in [
        "invalid-env-name",
        "invalid-environment",
        "invalid-path",
        "invalid-auth",
    ] {
        assert!(got.contains(&code), "{code} missing from {got:?}");
    }
    // The value that may be a pasted secret is never repeated in a message.
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| !d.message.contains("abc-123-secret"))
    );
    // Nor in the text kept for snippets, which show the lines around other problems; every
    // position in it stays where it was.
    let kept = &loaded.sources["flagsync.yaml"];
    assert!(!kept.contains("abc-123-secret"), "{kept}");
    assert!(kept.contains("  token_env: **************\n"), "{kept}");
    assert!(kept.contains("  target_groups: ../elsewhere\n"), "{kept}");
}

/// A flagsync.yaml that does not deserialize (no rule ever sees its values) still has a
/// pasted token masked in the text kept for snippets; a plain variable name is kept.
#[test]
fn a_token_is_masked_even_when_flagsync_yaml_does_not_deserialize() {
    let token = "ghx7Kq2LmN9pR4sT6vW8yZ1a";
    let loaded = one(
        "flagsync.yaml",
        &format!(
            "confidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: \"{token}\"\n  rollouts: rollouts\n  region: mars\n"
        ),
    );
    assert!(loaded.repository.config.is_none());
    assert_eq!(codes(&loaded), ["unknown-variant"]);
    let kept = &loaded.sources["flagsync.yaml"];
    assert!(!kept.contains(token), "{kept}");
    assert!(
        kept.contains("client_id_env: CONFIDENCE_CLIENT_ID\n"),
        "{kept}"
    );
    assert!(
        kept.contains(&format!(
            "client_secret_env: {}\n",
            "*".repeat(token.len() + 2)
        )),
        "{kept}"
    );
}

#[test]
fn rollout_rules() {
    let text = "type: rollout\nid: r\nrollout:\n  flag: flags/f\n  variant: flags/g/variants/on\n  reach: half\nsegment:\n  targeting:\n    criteria:\n      a:\n        attribute:\n          attributeName: x\n          eqRule: { value: { stringValue: s, numberValue: 1 } }\n          setRule: { values: [] }\n      b: {}\n    expression:\n      and:\n        operands: [ { ref: a }, { ref: c } ]\nlabels:\n  flagsync-id: r\n  flagsync-duplicate-of: r\ncreateTime: '2024-01-01T00:00:00Z'\n";
    let loaded = load(
        &Mem::default()
            .with(
                "flagsync.yaml",
                "confidence:\n  token_env: CONFIDENCE_TOKEN\n",
            )
            .with("rollouts/r.yml", text),
    );
    let mut got = codes(&loaded);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "invalid-criterion",
            "invalid-criterion",
            "invalid-reach",
            "invalid-value",
            "invalid-value",
            "reserved-label",
            "reserved-label",
            "server-managed-field",
            "unknown-ref",
            "unused-criterion",
        ]
    );
}

#[test]
fn rollout_targeting_vocabulary_and_adoption_rules() {
    let config = "confidence:\n  token_env: CONFIDENCE_TOKEN\n";
    let clean = "type: rollout\nid: clean\ninstance: workflows/rollout/instances/abc\nrollout:\n  flag: flags/f\nsegment:\n  allocation: {proportion: {value: \"0.5\"}}\n  targeting:\n    criteria:\n      a: {attribute: {attributeName: a, startsWithRule: {value: x}}}\n      l: {attribute: {attributeName: l, eqRule: {value: {listValue: {values: [{numberValue: 1}, {versionValue: {version: \"1.2\"}}]}}}}}\n      s: {segment: {segment: segments/beta}}\n      m: {materializedSegment: {materializedSegment: materializedSegments/ids}}\n      n: {attribute: {attributeName: n, eqRule: {value: {}}}}\n      q: {attribute: {attributeName: q, allRule: {rule: {containsRule: {value: y}}}}}\n    expression: {or: {operands: [{ref: a}, {ref: l}, {ref: s}, {ref: m}, {not: {ref: n}}, {ref: q}]}}\n";
    let loaded = load(
        &Mem::default()
            .with("flagsync.yaml", config)
            .with("rollouts/clean.yml", clean),
    );
    assert_eq!(
        codes(&loaded),
        Vec::<&str>::new(),
        "{:?}",
        loaded.diagnostics
    );

    let wrong = "type: rollout\nid: wrong\ninstance: \"a/b\"\nrollout:\n  flag: flags/f\nsegment:\n  allocation: {proportion: {value: \"2\"}}\n  targeting:\n    criteria:\n      a: {attribute: {attributeName: a, endsWithRule: {value: {stringValue: \"@x.com\"}}}}\n      l: {attribute: {attributeName: l, setRule: {values: [{listValue: {values: [{}]}}]}}}\n      m: {materializedSegment: {materializedSegment: ids}}\n      v: {attribute: {attributeName: v, rangeRule: {startInclusive: {versionValue: {version: \"2\"}}}}}\n      t: {attribute: {attributeName: t, setRule: {values: [{}]}}}\n    expression: {and: {operands: [{ref: a}, {ref: l}, {ref: m}, {ref: v}, {ref: t}]}}\n";
    let loaded = load(
        &Mem::default()
            .with("flagsync.yaml", config)
            .with("rollouts/wrong.yml", wrong),
    );
    let mut got = codes(&loaded);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "invalid-value",
            "invalid-value",
            "invalid-value",
            "invalid-value",
            "invalid-value",
            "invalid-value",
            "string-rule-value",
        ],
        "{:?}",
        loaded.diagnostics
    );
    let fix = loaded
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "string-rule-value")
        .and_then(|d| d.help.clone())
        .unwrap_or_default();
    assert!(fix.contains(r#"endsWithRule: {value: "@x.com"}"#), "{fix}");

    // One instance, two manifests adopting it.
    let twice = |id: &str| {
        format!(
            "type: rollout\nid: {id}\ninstance: workflows/rollout/instances/abc\nrollout:\n  flag: flags/f\n"
        )
    };
    let loaded = load(
        &Mem::default()
            .with("flagsync.yaml", config)
            .with("rollouts/a.yml", twice("a"))
            .with("rollouts/b.yml", twice("b")),
    );
    assert_eq!(
        codes(&loaded),
        ["duplicate-identity"],
        "{:?}",
        loaded.diagnostics
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = "type: experiment\nflag: checkout.new\navailableValues: [a, b]\nconditions:\n  - group:\n      name: [G1, G2]\n      operator: nor\n    value: a\n  - version: { operator: semver-gte, semver: '1.2' }\n    property:\n      name: plan\n      operator: in-array\n      operand: [x, 2]\n    value: [ { option: a, percentage: 50 } ]\nplatforms:\n  - name: iOS\n    value: b\nvalue: b\n";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let loaded = load(&Mem::default().with("experiments/x.yml", bytes));
            assert_positions(&loaded);
        }

        #[test]
        fn mutated_manifests_never_panic(
            cut in 0usize..VALID.len(),
            len in 0usize..12,
            insert in "[ -~\n\t:{}\\[\\]&*!|>'\"#-]{0,8}",
        ) {
            let mut bytes = VALID.as_bytes().to_vec();
            let end = (cut + len).min(bytes.len());
            bytes.splice(cut..end, insert.bytes());
            let loaded = load(&Mem::default().with("experiments/x.yml", bytes));
            assert_positions(&loaded);
        }
    }
}

#[test]
fn live_api_objects_read_through_the_same_types() {
    use flagsync_manifest::model::{Experiment, TargetGroup};
    // The vendor's own examples (seeds 002 and 003).
    let e: Experiment = serde_json::from_str(
        r#"{"type":"experiment","apiVersion":"1.0","flag":"acmeFlagControl","name":"acmeExperimentFoo","description":"Applies foo to our Nifty App","enabled":true,"labels":"do-not-merge","stickinessProperty":"fixed"}"#,
    )
    .unwrap();
    assert_eq!(e.labels.unwrap().0, ["do-not-merge"]);
    let t: TargetGroup = serde_json::from_str(
        r#"{"conditions":[{"operator":"is-true","property":"Foo","operand":"run"}],"apiVersion":"1.0","type":"target-group","name":"tg","description":"tg desc","operator":"or","value":"0"}"#,
    )
    .unwrap();
    let back = serde_json::to_value(&t).unwrap();
    assert!(back.get("value").is_none());
    assert_eq!(back["conditions"][0]["operand"], "run");
}

#[test]
fn clean_and_problem_files_give_the_same_model() {
    // The first file takes the fast path; the second has a warning, so it is read carefully.
    let clean = "type: experiment\nflag: a\navailableValues: [x, y]\nvalue: x\n";
    let warned = "type: experiment\nflag: a\navailableValues: [x, y]\nvalue: z\n";
    let a = one("experiments/a.yml", clean);
    let b = one("experiments/a.yml", warned);
    assert!(a.diagnostics.is_empty());
    assert_eq!(codes(&b), ["value-not-available"]);
    let (ia, ib) = (
        &a.repository.environments[0].experiments[0],
        &b.repository.environments[0].experiments[0],
    );
    assert_eq!(ia.value.available_values, ib.value.available_values);
}

#[test]
fn cycles_are_reported_once_each() {
    let tg = |name: &str, inc: &str| {
        format!("type: target-group\nname: {name}\nconditions:\n  - group:\n      name: [{inc}]\n")
    };
    let loaded = load(
        &Mem::default()
            .with("target_groups/a.yml", tg("A", "B"))
            .with("target_groups/b.yml", tg("B", "C"))
            .with("target_groups/c.yml", tg("C", "A"))
            .with("target_groups/d.yml", tg("D", "A"))
            .with(
                "experiments/self.yml",
                "type: experiment\nflag: self\nplatforms:\n  - name: iOS\n    conditions:\n      - dependency: { flag: self, value: 'true' }\n        value: true\n",
            )
            .with("experiments/z-dup.yml", "type: experiment\nflag: self\n"),
    );
    let mut got = codes(&loaded);
    got.sort_unstable();
    assert_eq!(
        got,
        ["dependency-cycle", "duplicate-identity", "group-cycle"]
    );
    let cycle = loaded
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "group-cycle")
        .unwrap();
    assert!(cycle.message.contains("A → B → C → A"), "{}", cycle.message);
    assert_eq!(cycle.file, "target_groups/a.yml");
    let dep = loaded
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "dependency-cycle")
        .unwrap();
    assert_eq!((dep.file.as_str(), dep.line), ("experiments/self.yml", 6));
}

/// The shapes CloudBees' own git integration writes load, with the meaning the format
/// reference gives them.
#[test]
fn shapes_the_service_writes_load() {
    use flagsync_manifest::model::{GroupOperator, Value};
    let loaded = load(
        &Mem::default()
            .with(
                "experiments/a.yml",
                "type: experiment\nflag: a\nconditions:\n  - {}\n  - version:\n      operator: semver-gte\n      semver: 26.1.18.8\n    value: true\n  - group:\n      name: [g1, g2]\n      operator: not\n    value: true\n",
            )
            .with(
                "experiments/b.yml",
                "type: experiment\nflag: b\nvalue:\n  - option: true\n",
            )
            .with(
                "experiments/c.yml",
                "type: experiment\nflag: c\nvalue:\n  - percentage: 70 \n",
            )
            .with("target_groups/g1.yml", "type: target-group\nname: g1\nconditions:\n \n")
            .with("target_groups/g2.yml", "type: target-group\nname: g2\n"),
    );
    assert_positions(&loaded);
    // `- {}` is loaded and said: it serves the code default to everyone.
    assert_eq!(codes(&loaded), ["empty-condition"]);
    assert_eq!(loaded.diagnostics[0].severity, Severity::Warning);
    assert_eq!(
        (loaded.diagnostics[0].line, loaded.diagnostics[0].column),
        (4, 5)
    );
    let env = &loaded.repository.environments[0];
    let a = &env.experiment("a").unwrap().value;
    assert_eq!(
        a.conditions[2].group.as_ref().unwrap().operator,
        Some(GroupOperator::Not)
    );
    match &env.experiment("b").unwrap().value.value {
        Some(Value::Split(steps)) => {
            assert_eq!(steps[0].percentage, None);
            assert_eq!(steps[0].percentage().as_f64(), 100.0);
        }
        other => panic!("expected a split, got {other:?}"),
    }
    match &env.experiment("c").unwrap().value.value {
        Some(Value::Split(steps)) => assert_eq!(steps[0].option, None),
        other => panic!("expected a split, got {other:?}"),
    }
    assert!(
        loaded.repository.target_groups[0]
            .value
            .conditions
            .is_empty()
    );
}

#[test]
fn what_the_sdks_cannot_compare_or_serve_is_still_refused() {
    let loaded = load(
        &Mem::default()
            .with(
                "experiments/v.yml",
                "type: experiment\nflag: v\nconditions:\n  - version:\n      operator: semver-gte\n      semver: '1,2,0'\n    value: true\n",
            )
            .with(
                "experiments/s.yml",
                "type: experiment\nflag: s\navailableValues: [red, blue]\nvalue:\n  - percentage: 50\n    option: red\n  - percentage: 50\n",
            ),
    );
    assert_positions(&loaded);
    assert_eq!(codes(&loaded), ["missing-field", "invalid-semver"]);
    assert!(loaded.diagnostics[0].message.contains("no `option`"));
}

#[test]
fn the_archived_folder_archives() {
    let loaded = load(
        &Mem::default()
            .with("experiments/live.yml", "type: experiment\nflag: live\n")
            .with(
                "experiments/archived/old.yml",
                "type: experiment\nflag: old\n",
            ),
    );
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    let env = &loaded.repository.environments[0];
    assert_eq!(env.experiment("old").unwrap().value.archived, Some(true));
    assert_eq!(env.experiment("live").unwrap().value.archived, None);

    // A key that contradicts the folder is an error, on the key's line.
    let loaded = load(
        &Mem::default()
            .with(
                "experiments/here.yml",
                "type: experiment\nflag: here\narchived: true\n",
            )
            .with(
                "experiments/archived/gone.yml",
                "type: experiment\nflag: gone\narchived: false\n",
            ),
    );
    assert_positions(&loaded);
    assert_eq!(codes(&loaded), ["archived-conflict", "archived-conflict"]);
    assert!(loaded.diagnostics.iter().all(|d| d.line == 3));

    // In a flagsync.yaml repository the folder is inside each environment's directory.
    let loaded = load(
        &Mem::default()
            .with(
                "flagsync.yaml",
                "cloudbees:\n  application: app\n  token_env: T\n  environments:\n    Production: { experiments: envs/prod }\n",
            )
            .with("envs/prod/archived/x.yml", "type: experiment\nflag: x\n"),
    );
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    assert_eq!(
        loaded.repository.environments[0].experiments[0]
            .value
            .archived,
        Some(true)
    );
}

#[test]
fn an_experiment_name_is_said_to_be_ignored() {
    let loaded = one(
        "experiments/x.yml",
        "type: experiment\nflag: x\nname: A nice name\n",
    );
    assert_positions(&loaded);
    assert_eq!(codes(&loaded), ["ignored-name"]);
    let d = &loaded.diagnostics[0];
    assert_eq!((d.severity, d.line, d.column), (Severity::Warning, 3, 1));
    assert!(d.message.contains("ignored by the service"), "{d:?}");
}

/// The `ignored-name` warning is positioned alike whether the file is otherwise clean (a
/// line scan) or has another problem (the span tree).
#[test]
fn the_name_warning_is_placed_alike_on_both_paths() {
    let clean =
        "# a comment\ntype: experiment\nflag: x\nname: Nice\ndescription: |\n  name: not the key\n";
    let with_error = format!("{clean}value: [{{percentage: 500, option: true}}]\n");
    let name_of = |text: &str| {
        let loaded = one("experiments/x.yml", text);
        assert_positions(&loaded);
        loaded
            .diagnostics
            .into_iter()
            .find(|d| d.code.as_str() == "ignored-name")
            .unwrap()
    };
    let fast = name_of(clean);
    let slow = name_of(&with_error);
    assert_eq!(
        (fast.line, fast.column, fast.span.clone()),
        (4, 1, slow.span.clone())
    );
    assert_eq!((slow.line, slow.column), (4, 1));
    // Written as a flow mapping, the key is found by the span tree.
    let flow = name_of("{type: experiment, flag: x, name: Nice}\n");
    assert_eq!((flow.line, flow.column), (1, 29));
}

/// A `name` that only spells the flag as a label is what CloudBees' git integration writes:
/// no warning, so `validate --strict` passes on a repository the service keeps. Any other
/// name is warned about.
#[test]
fn a_name_the_service_writes_is_quiet_and_another_is_warned_about() {
    for (flag, name) in [
        (
            "IgnoreApiUpdatesWithSameValues",
            "Ignore Api Updates With Same Values",
        ),
        ("916_EnableSubFlow", "916_ Enable Sub Flow"),
        ("default.followingView", "following view"),
        ("titleColors42", "title colors 42"),
    ] {
        let loaded = one(
            "experiments/x.yml",
            &format!("type: experiment\nflag: {flag}\nname: {name}\n"),
        );
        assert!(
            codes(&loaded).is_empty(),
            "{flag} / {name}: {:?}",
            loaded.diagnostics
        );
    }
    for (flag, name) in [("defaultEL.repeat", "Repeat During Shuffle"), ("x", "\"\"")] {
        let loaded = one(
            "experiments/x.yml",
            &format!("type: experiment\nflag: {flag}\nname: {name}\n"),
        );
        assert_eq!(codes(&loaded), ["ignored-name"], "{flag} / {name}");
    }
}
