//! The CloudBees Unify CasC layout: `flagsync.yaml` settings, every kind, and diagnostics
//! as good as the legacy format's (file:line:col, all problems at once, hints).

use flagsync_manifest::model::CloudbeesApi;
use flagsync_manifest::model::unify::FlagValue;
use flagsync_manifest::{Diagnostic, Layout, Loaded, Provider, Severity, load};

use crate::common::{Mem, assert_positions, codes};

const CONFIG: &str = "\
cloudbees:
  api: unify
  organization: acme
  application: f1a65ac0-0000-4000-8000-000000000100
  casc: .cloudbees/casc/feature-management
  environments: [Production, Staging]
";

const ROOT: &str = ".cloudbees/casc/feature-management";

fn file(rel: &str) -> String {
    format!("{ROOT}/{rel}")
}

/// A small clean tree: one of each kind, both environments configured.
fn clean() -> Mem {
    Mem::default()
        .with("flagsync.yaml", CONFIG)
        .with(
            &file("properties/plan.yaml"),
            "apiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: flag-properties\nname: plan\ntype: String\n",
        )
        .with(
            &file("target-groups/Beta.yaml"),
            "---\napiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: target-group\nname: Beta\nconditions:\n  allOf:\n    - property:\n        name: plan\n        operator: in-array\n        operands: [business, enterprise]\n",
        )
        .with(
            &file("flags/checkout.newFlow.yaml"),
            "apiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: flag\nflag: checkout.newFlow\nflagType: boolean\nlabels:\navailableValues: [\"false\", \"true\"]\n",
        )
        .with(
            &file("flags/ui.color.yaml"),
            "kind: flag\nflag: ui.color\nflagType: string\navailableValues: [blue, green]\n",
        )
        .with(
            &file("flag-configurations/Production/checkout.newFlow.config.yaml"),
            "\
kind: flag-configuration
flag: checkout.newFlow
enabled: true
defaultValue:
  - from: 2026-12-01T09:00:00.000Z
    percentage: 10
conditions:
  - allOf:
      - anyOf:
          - group:
              name: Beta
      - property:
          name: rox.app_release
          operator: semver-gte
          operands: [\"4.0\"]
    flagValue: true
",
        )
        .with(
            &file("flag-configurations/Staging/ui.color.config.yaml"),
            "\
kind: flag-configuration
flag: ui.color
enabled: false
stickinessProperty: plan
defaultValue: {valueWrittenInCode: true}
conditions:
  - flag: {name: checkout.newFlow, value: true}
    flagValue:
      - option: blue
        percentage: 50
      - option: green
        percentage: 50
",
        )
}

#[test]
fn a_clean_tree_loads_every_kind() {
    let loaded = load(&clean());
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    let repo = &loaded.repository;
    assert_eq!(repo.layout, Layout::Config);
    let cb = repo.config.as_ref().unwrap().cloudbees.as_ref().unwrap();
    assert_eq!(cb.api, CloudbeesApi::Unify);
    assert_eq!(cb.provider(), Provider::Unify);
    assert!(repo.environments.is_empty() && repo.target_groups.is_empty());
    let casc = repo.casc.as_ref().unwrap();
    assert_eq!(casc.dir, ROOT);
    assert_eq!(casc.properties.len(), 1);
    assert_eq!(casc.target_groups.len(), 1);
    assert_eq!(casc.flags.len(), 2);
    let envs: Vec<&str> = casc.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(envs, ["Production", "Staging"]);
    let staging = &casc.environment("Staging").unwrap().configurations[0].value;
    assert_eq!(staging.default_value, Some(FlagValue::WrittenInCode));
    assert!(matches!(
        &staging.conditions.as_ref().unwrap()[0].flag_value,
        Some(FlagValue::Split(entries)) if entries.len() == 2
    ));
    let production = &casc.environment("Production").unwrap().configurations[0].value;
    assert!(matches!(
        &production.default_value,
        Some(FlagValue::Schedule(steps)) if steps[0].from == "2026-12-01T09:00:00.000Z"
    ));
}

#[test]
fn the_unify_quickstart_is_clean_and_has_every_kind_and_form() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/unify-quickstart");
    let loaded = load(&flagsync_source::DirSource::open(dir).unwrap());
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    let casc = loaded.repository.casc.as_ref().unwrap();
    assert!(!casc.properties.is_empty() && !casc.target_groups.is_empty());
    assert_eq!(casc.flags.len(), 3);
    assert_eq!(casc.environments.len(), 2);
    // Every condition form and value form appears.
    let text: String = loaded.sources.values().cloned().collect();
    for form in [
        "allOf:",
        "anyOf:",
        "not:",
        "property:",
        "group:",
        "flag:",
        "from:",
        "option:",
        "valueWrittenInCode",
        "in-between",
        "semver-",
    ] {
        assert!(text.contains(form), "{form}");
    }
}

#[test]
fn without_flagsync_yaml_the_usual_place_is_read_and_its_folders_are_environments() {
    let mut mem = clean();
    mem.files.remove("flagsync.yaml");
    let loaded = load(&mem);
    assert_eq!(loaded.diagnostics, Vec::<Diagnostic>::new());
    assert_eq!(loaded.repository.layout, Layout::Casc);
    let casc = loaded.repository.casc.as_ref().unwrap();
    let envs: Vec<&str> = casc.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(envs, ["Production", "Staging"]);
}

/// The diagnostic with `code` in a file ending with `suffix`.
fn find<'l>(loaded: &'l Loaded, code: &str, suffix: &str) -> &'l Diagnostic {
    loaded
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == code && d.file.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {code} in {suffix}: {:#?}", loaded.diagnostics))
}

#[test]
fn every_problem_is_reported_at_once_with_its_place() {
    let mem = clean()
        // An unknown field, with a hint.
        .with(&file("flags/typo.yaml"), "kind: flag\nflag: typo\nflagTyp: string\n")
        // A target group in the folder of flags.
        .with(
            &file("flags/misplaced.yaml"),
            "kind: target-group\nname: x\nconditions: {group: {name: Beta}}\n",
        )
        // A legacy manifest among CasC files.
        .with(&file("flags/legacy.yaml"), "type: experiment\nflag: legacy\n")
        .with(&file("flags/unknown-kind.yaml"), "kind: flags\nflag: z\n")
        .with(
            &file("flags/bad-values.yaml"),
            "kind: flag\nflag: n\nflagType: number\navailableValues: [\"4\", four]\n",
        )
        .with(
            &file("target-groups/Loop.yaml"),
            "kind: target-group\nname: Loop\nconditions:\n  anyOf:\n    - group: {name: Loop2}\n    - flag: {name: ui.color, value: blue}\n",
        )
        .with(
            &file("target-groups/Loop2.yaml"),
            "kind: target-group\nname: Loop2\nconditions:\n  not:\n    group: {name: Loop}\n    property: {name: nowhere, operator: is-true}\n",
        )
        .with(
            &file("flag-configurations/Production/ui.color.config.yaml"),
            "\
kind: flag-configuration
flag: ui.color
enabled: true
defaultValue: 3
conditions:
  - group: {name: Betta}
    flagValue:
      - option: blue
        percentage: 60
      - option: green
        percentage: 30
  - property: {name: email, operator: regex}
    flagValue: [{from: 2026-01-01T00:00:00Z, percentage: 10}]
  - flag: {name: ghost, value: true}
    flagValue: red
  - flagValue: blue
",
        )
        .with(
            &file("flag-configurations/Staging/cycle.config.yaml"),
            "kind: flag-configuration\nflag: checkout.newFlow\nenabled: true\ndefaultValue: false\nconditions:\n  - flag: {name: ui.color, value: blue}\n    flagValue: true\n",
        )
        .with(
            &file("flag-configurations/Production/twice.config.yaml"),
            "kind: flag-configuration\nflag: checkout.newFlow\nenabled: true\ndefaultValue: false\n",
        )
        .with(
            &file("flag-configurations/Producton/x.config.yaml"),
            "kind: flag-configuration\nflag: nothing\nenabled: true\n",
        )
        .with(
            &file("flag-configurations/loose.config.yaml"),
            "kind: flag-configuration\nflag: ui.color\nenabled: true\ndefaultValue: blue\n",
        );
    let loaded = load(&mem);
    assert_positions(&loaded);
    let mut seen = codes(&loaded);
    seen.sort_unstable();
    seen.dedup();
    for code in [
        "unknown-field",
        "misplaced-manifest",
        "missing-kind",
        "unknown-kind",
        "value-type",
        "invalid-condition",
        "unknown-target-group",
        "unknown-property",
        "unknown-flag",
        "split-sum",
        "schedule-non-boolean",
        "missing-operand",
        "value-not-available",
        "group-cycle",
        "dependency-cycle",
        "unknown-environment",
        "missing-field",
        "duplicate-identity",
    ] {
        assert!(seen.contains(&code), "no {code}: {seen:?}");
    }

    let typo = find(&loaded, "unknown-field", "flags/typo.yaml");
    assert_eq!((typo.line, typo.column), (3, 1));
    assert_eq!(typo.help.as_deref(), Some("did you mean `flagType`?"));
    let misplaced = find(&loaded, "misplaced-manifest", "flags/misplaced.yaml");
    assert!(
        misplaced
            .help
            .as_deref()
            .unwrap()
            .contains("target-groups/")
    );
    let legacy = find(&loaded, "missing-kind", "flags/legacy.yaml");
    assert!(
        legacy
            .help
            .as_deref()
            .unwrap()
            .contains("flagsync convert --to unify")
    );
    let kind = find(&loaded, "unknown-kind", "flags/unknown-kind.yaml");
    assert_eq!(kind.help.as_deref(), Some("did you mean `flag`?"));
    let number = find(&loaded, "value-type", "flags/bad-values.yaml");
    assert_eq!((number.line, number.column), (4, 24));
    let group = find(&loaded, "unknown-target-group", "ui.color.config.yaml");
    assert_eq!((group.line, group.column), (6, 19));
    assert_eq!(group.help.as_deref(), Some("did you mean `Beta`?"));
    let split = find(&loaded, "split-sum", "ui.color.config.yaml");
    assert_eq!(split.line, 8);
    let default = find(&loaded, "value-type", "Production/ui.color.config.yaml");
    assert_eq!((default.line, default.column), (4, 15));
    let flag_in_group = find(&loaded, "invalid-condition", "target-groups/Loop.yaml");
    assert_eq!(flag_in_group.line, 6);
    let not = find(&loaded, "invalid-condition", "target-groups/Loop2.yaml");
    assert_eq!(not.line, 5);
    let folder = find(&loaded, "unknown-environment", "Producton/x.config.yaml");
    assert_eq!(
        folder.help.as_deref(),
        Some("did you mean `Production`? The folder is the environment's name")
    );
    find(
        &loaded,
        "unknown-environment",
        "flag-configurations/loose.config.yaml",
    );
    let ghost = find(&loaded, "unknown-flag", "ui.color.config.yaml");
    assert!(ghost.message.contains("ghost"), "{ghost:?}");
    let cycle = find(&loaded, "dependency-cycle", "");
    assert!(
        cycle
            .message
            .contains("checkout.newFlow → ui.color → checkout.newFlow"),
        "{cycle:?}"
    );
    assert!(cycle.message.contains("environment `Staging`"), "{cycle:?}");
    let duplicate = find(&loaded, "duplicate-identity", "twice.config.yaml");
    assert!(
        duplicate.message.contains("checkout.newFlow"),
        "{duplicate:?}"
    );
    // The condition with only a value has no test.
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.code.as_str() == "invalid-condition" && d.line == 16),
        "{:#?}",
        loaded.diagnostics
    );
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Error || d.code.as_str() == "value-not-available")
    );
}

#[test]
fn flagsync_yaml_settings_are_checked() {
    let cases = [
        // `api: unify` needs the organization.
        (
            "cloudbees:\n  api: unify\n  application: a\n  casc: c\n  environments: [P]\n",
            "missing-field",
        ),
        // The CasC layout is Unify's.
        (
            "cloudbees:\n  application: a\n  casc: c\n  environments: [P]\n",
            "invalid-value",
        ),
        // ... and has no legacy settings.
        (
            "cloudbees:\n  api: unify\n  organization: o\n  application: a\n  casc: c\n  target_groups: t\n  environments: [P]\n",
            "invalid-value",
        ),
        (
            "cloudbees:\n  api: unify\n  organization: o\n  application: a\n  casc: c\n  environments:\n    P: {experiments: e}\n",
            "invalid-value",
        ),
        (
            "cloudbees:\n  api: unify\n  organization: o\n  application: a\n  casc: /abs\n  environments: [P]\n",
            "invalid-path",
        ),
        (
            "cloudbees:\n  organization: o\n  application: a\n  environments: {P: {experiments: e}}\n",
            "invalid-value",
        ),
        (
            "cloudbees:\n  api: unfy\n  application: a\n",
            "unknown-variant",
        ),
    ];
    for (config, code) in cases {
        let loaded = load(&Mem::default().with("flagsync.yaml", config));
        assert_positions(&loaded);
        assert!(
            codes(&loaded).contains(&code),
            "{config}: {:#?}",
            loaded.diagnostics
        );
    }
    let hint = load(&Mem::default().with(
        "flagsync.yaml",
        "cloudbees:\n  api: unfy\n  application: a\n",
    ));
    let d = hint
        .diagnostics
        .iter()
        .find(|d| d.code.as_str() == "unknown-variant")
        .unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean `unify`?"));

    // A legacy repository planned against Unify: the legacy layout, `api: unify`.
    let legacy = load(
        &Mem::default()
            .with(
                "flagsync.yaml",
                "cloudbees:\n  api: unify\n  organization: o\n  application: a\n  environments:\n    Production: {experiments: experiments}\n",
            )
            .with("experiments/f.yml", "type: experiment\nflag: f\nvalue: true\n"),
    );
    assert_eq!(legacy.diagnostics, Vec::<Diagnostic>::new());
    assert!(legacy.repository.casc.is_none());
    assert_eq!(legacy.repository.experiment_count(), 1);
}
