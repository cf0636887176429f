//! End to end: the `flagsync` binary plans and applies CloudBees Unify repositories against
//! the emulator's Unify API over real loopback HTTP: examples/unify-quickstart, and the legacy
//! quickstart converted and as it is.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use flagsync_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{Emu, example_copy, text};

const CASC: &str = ".cloudbees/casc/feature-management";

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(CASC).join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn remove(dir: &Path, rel: &str) {
    std::fs::remove_file(dir.join(CASC).join(rel)).unwrap();
}

/// examples/unify-quickstart applied to `emu`, checked to plan empty.
fn applied_quickstart(emu: &Emu) -> tempfile::TempDir {
    let repo = example_copy("unify-quickstart");
    let out = emu.unify(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("Apply complete: 18 succeeded, 0 failed, 0 never ran."),
        "{}",
        text(&out)
    );
    plans_empty(emu, repo.path(), &[]);
    repo
}

fn plans_empty(emu: &Emu, dir: &Path, args: &[&str]) {
    let mut all = vec!["plan", "--detailed-exitcode"];
    all.extend_from_slice(args);
    let out = emu.unify(&all, dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("No changes. Live state matches the repository."),
        "{}",
        text(&out)
    );
}

/// On a fresh clone, with no account and no credentials: the embedded emulator serves it.
#[test]
fn unify_quickstart_applies_to_the_embedded_emulator_then_plans_no_changes() {
    let repo = example_copy("unify-quickstart");
    let run = |args: &[&str]| {
        Command::cargo_bin("flagsync")
            .unwrap()
            .args(args)
            .arg(repo.path())
            .env("NO_COLOR", "1")
            .env_remove("CLOUDBEES_API_TOKEN")
            .env_remove("FLAGSYNC_CLOUDBEES_URL")
            .env_remove("FLAGSYNC_CONFIDENCE_URL")
            .env_remove("FLAGSYNC_CONFIDENCE_IAM_URL")
            .env_remove("RUST_LOG")
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap()
    };
    let out = run(&["apply", "--auto-approve"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("Apply complete: 18 succeeded"),
        "{}",
        text(&out)
    );
    assert!(repo.path().join(".flagsync/emulator").is_dir());
    let out = run(&["plan"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("No changes. Live state matches the repository."),
        "{}",
        text(&out)
    );
}

/// A plan reads live state at the request floor: the names resolved once, three lists, one
/// bulk configuration read per environment, nothing per flag.
#[test]
fn plan_reads_unify_with_three_lists_and_one_read_per_environment() {
    let emu = Emu::start();
    let repo = applied_quickstart(&emu);
    emu.reset_counters();
    plans_empty(&emu, repo.path(), &[]);
    let counters = emu.counters();
    let routes: Vec<(&String, u64)> = counters["routes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k, v["count"].as_u64().unwrap()))
        .collect();
    let expected = [
        "GET /v1/organizations/name",
        "GET /v1/organizations/{org}/services",
        "GET /v2/organizations/{org}/environments",
        "GET /v2/applications/{app}/custom-properties",
        "GET /v2/applications/{app}/target-groups",
        "GET /v2/applications/{app}/flags",
    ];
    for route in expected {
        assert!(
            routes.contains(&(&route.to_owned(), 1)),
            "{route}: {counters:#}"
        );
    }
    assert!(
        routes.contains(&(
            &"GET /v2/applications/{app}/environments/{env}/configuration".to_owned(),
            2
        )),
        "{counters:#}"
    );
    assert_eq!(counters["total"], 8, "{counters:#}");
}

#[test]
fn an_update_reorders_conditions_and_changes_a_split_keeping_the_seed() {
    let emu = Emu::start();
    let repo = applied_quickstart(&emu);
    let before = emu.unify_configuration("ui.buttonColor", "Production");
    let seed = before["seed"].as_str().unwrap().to_owned();
    let file = "flag-configurations/Production/ui.buttonColor.config.yaml";
    let text_before = std::fs::read_to_string(repo.path().join(CASC).join(file)).unwrap();
    // The last two conditions swap places (first match wins, so this is a change), and the
    // split of the default moves.
    let release = "  - allOf:\n      - property:\n          name: rox.app_release\n          operator: semver-lt\n          operands: [\"4.0\"]\n    flagValue: blue\n";
    let signed_up = "  - allOf:\n      - property:\n          name: signedUp\n          operator: in-between\n          operands: [\"2026-01-01T00:00:00Z\", \"2026-07-01T00:00:00Z\"]\n    flagValue: orange\n";
    assert!(text_before.contains(&format!("{release}{signed_up}")));
    let changed = text_before
        .replace(
            &format!("{release}{signed_up}"),
            &format!("{signed_up}{release}"),
        )
        .replace(
            "  - option: blue\n    percentage: 50\n  - option: green\n    percentage: 50\n",
            "  - option: blue\n    percentage: 30\n  - option: green\n    percentage: 70\n",
        );
    assert_ne!(changed, text_before);
    write(repo.path(), file, &changed);

    let out = emu.unify(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains("~ update flag-configuration/Production/ui.buttonColor"),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to create, 1 to update, 0 to delete."),
        "{plan}"
    );
    // A body diff: the split's numbers, and one of the two swapped conditions leaving its
    // place and arriving at the other (which one the list diff moves is its choice).
    assert!(plan.contains("    -     percentage: 50"), "{plan}");
    assert!(plan.contains("    +     percentage: 30"), "{plan}");
    assert!(
        ["rox.app_release", "signedUp"].iter().any(|name| {
            plan.contains(&format!("    -           name: {name}"))
                && plan.contains(&format!("    +           name: {name}"))
        }),
        "{plan}"
    );
    assert!(!plan.contains("seed"), "{plan}");
    let markdown = emu.unify(&["plan", "--format", "markdown"], repo.path());
    let markdown = stdout(&markdown);
    assert!(markdown.contains("```diff"), "{markdown}");
    assert!(markdown.contains("-     percentage: 50"), "{markdown}");
    assert!(markdown.contains("+     percentage: 30"), "{markdown}");

    let out = emu.unify(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let after = emu.unify_configuration("ui.buttonColor", "Production");
    assert_eq!(after["seed"], json!(seed), "the split must not re-bucket");
    assert_eq!(
        after["conditions"][1]["allOf"][0]["property"]["name"],
        "signedUp"
    );
    assert_eq!(after["defaultValue"][0]["percentage"], 30);
    plans_empty(&emu, repo.path(), &[]);

    // A change of `enabled` alone is the configstate call: the rules are not sent again.
    let staging = "flag-configurations/Staging/ui.buttonColor.config.yaml";
    let written = std::fs::read_to_string(repo.path().join(CASC).join(staging)).unwrap();
    write(
        repo.path(),
        staging,
        &written.replace("enabled: true", "enabled: false"),
    );
    emu.reset_counters();
    let out = emu.unify(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let counters = emu.counters();
    assert_eq!(
        counters["routes"]["POST /v2/applications/{app}/flags/{flag}/configuration/environments/{env}/configstate"]
            ["count"],
        1,
        "{counters:#}"
    );
    assert!(
        counters["routes"]
            .get("PUT /v2/applications/{app}/flags/{flag}/configuration/environments/{env}")
            .is_none(),
        "{counters:#}"
    );
    plans_empty(&emu, repo.path(), &[]);
}

#[test]
fn a_type_change_is_refused_and_nothing_is_deleted() {
    let emu = Emu::start();
    let repo = applied_quickstart(&emu);
    write(
        repo.path(),
        "flags/search.resultsPerPage.yaml",
        "apiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: flag\nflag: search.resultsPerPage\nflagType: string\ndescription: How many results a search page shows\navailableValues: [\"10\", \"20\", \"50\"]\nisPermanent: true\n",
    );
    let production = "flag-configurations/Production/search.resultsPerPage.config.yaml";
    let written = std::fs::read_to_string(repo.path().join(CASC).join(production)).unwrap();
    write(
        repo.path(),
        production,
        &written
            .replace("defaultValue: 20", "defaultValue: \"20\"")
            .replace("flagValue: 50", "flagValue: \"50\""),
    );
    let id_before = emu.unify_flag("search.resultsPerPage")["id"].clone();

    let out = emu.unify(&["plan"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains("~ update flag/search.resultsPerPage"),
        "{plan}"
    );
    assert!(
        plan.contains("! not possible: the type of flag `search.resultsPerPage` is Number in CloudBees Unify and String in the repository"),
        "{plan}"
    );
    assert!(!plan.contains("- delete"), "{plan}");
    assert!(!plan.contains("+ create"), "{plan}");

    let out = emu.unify(&["apply", "--auto-approve"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report
            .contains("skipped   update flag/search.resultsPerPage: not possible through the API"),
        "{report}"
    );
    assert!(
        report.contains("never ran update flag-configuration/Production/search.resultsPerPage: blocked by flag/search.resultsPerPage"),
        "{report}"
    );
    let flag = emu.unify_flag("search.resultsPerPage");
    assert_eq!(flag["flagType"], "Number");
    assert_eq!(flag["id"], id_before, "never deleted and created again");
}

#[test]
fn prune_deletes_in_reverse_order_and_keeps_undeclared_flags_unless_asked() {
    let emu = Emu::start();
    let repo = applied_quickstart(&emu);
    let dir = repo.path();
    // Drop the flag search.resultsPerPage, the target group Large accounts (and its use by
    // checkout.newFlow), and the properties only that group used.
    remove(dir, "flags/search.resultsPerPage.yaml");
    remove(
        dir,
        "flag-configurations/Production/search.resultsPerPage.config.yaml",
    );
    remove(
        dir,
        "flag-configurations/Staging/search.resultsPerPage.config.yaml",
    );
    remove(dir, "target-groups/Large accounts.yaml");
    remove(dir, "properties/plan.yaml");
    remove(dir, "properties/seats.yaml");
    let checkout = "flag-configurations/Production/checkout.newFlow.config.yaml";
    let written = std::fs::read_to_string(dir.join(CASC).join(checkout)).unwrap();
    write(
        dir,
        checkout,
        &written.replace(
            "          - group:\n              name: Large accounts\n",
            "",
        ),
    );
    write(
        dir,
        "target-groups/Early adopters.yaml",
        "apiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: target-group\nname: Early adopters\ndescription: Beta users and the internal team\nconditions:\n  anyOf:\n    - group:\n        name: Beta Users\n    - group:\n        name: Internal team\n",
    );
    // Enabled in an environment the repository does not manage: deleting the flag must
    // disable it there first (the service refuses to delete an enabled flag).
    let flag_id = emu.unify_flag("search.resultsPerPage")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = emu.send(
        reqwest::Method::POST,
        &format!(
            "/v2/applications/{}/flags/{flag_id}/configuration/environments/{}/configstate",
            crate::common::UNIFY_APPLICATION,
            emu.unify_environment_id("Development")
        ),
        Some(json!({"enabled": true})),
    );
    assert_eq!(status, 200, "{body}");

    // --prune alone keeps the flag (code may have created it), and so cannot delete the
    // group its configuration uses: the plan says both.
    let out = emu.unify(&["plan", "--prune"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let plan = stdout(&out);
    assert!(plan.contains("? flag/search.resultsPerPage: not possible: --prune keeps CloudBees Unify flags no manifest declares"), "{plan}");
    assert!(plan.contains("--prune-flags deletes them"), "{plan}");
    assert!(
        plan.contains("- delete unify-target-group/Large accounts"),
        "{plan}"
    );
    assert!(
        plan.contains(
            "not possible: still used by flag-configuration/Production/search.resultsPerPage"
        ),
        "{plan}"
    );
    let out = emu.unify(&["plan", "--prune-flags"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--prune-flags widens --prune"),
        "{}",
        text(&out)
    );

    let out = emu.unify(
        &["apply", "--prune", "--prune-flags", "--auto-approve"],
        dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    let at = |what: &str| {
        shown
            .find(what)
            .unwrap_or_else(|| panic!("{what} not in:\n{shown}"))
    };
    // Configurations first (the one using the group is updated, the pruned flag's is
    // reset), then the flag, then the group, then its properties.
    assert!(
        at("- delete flag-configuration/Production/search.resultsPerPage")
            < at("- delete flag/search.resultsPerPage")
    );
    assert!(
        at("~ update flag-configuration/Production/checkout.newFlow")
            < at("- delete unify-target-group/Large accounts")
    );
    assert!(
        at("- delete flag-configuration/Production/search.resultsPerPage")
            < at("- delete unify-target-group/Large accounts")
    );
    assert!(
        at("~ update unify-target-group/Early adopters")
            < at("- delete unify-target-group/Large accounts")
    );
    assert!(at("- delete unify-target-group/Large accounts") < at("- delete custom-property/plan"));
    assert!(
        at("- delete unify-target-group/Large accounts") < at("- delete custom-property/seats")
    );
    assert!(
        shown.contains("Apply complete: 7 succeeded, 0 failed, 0 never ran."),
        "{shown}"
    );
    let flags = emu.unify_get("/flags")["flags"].clone();
    assert_eq!(flags.as_array().unwrap().len(), 2, "{flags}");
    plans_empty(&emu, dir, &["--prune", "--prune-flags"]);
}

#[test]
fn a_create_whose_answer_is_lost_is_looked_up_before_creating_again() {
    let emu = Emu::start();
    let repo = applied_quickstart(&emu);
    let dir = repo.path();
    write(
        dir,
        "flags/checkout.express.yaml",
        "apiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: flag\nflag: checkout.express\nflagType: boolean\ndescription: One-click checkout\n",
    );
    write(
        dir,
        "flag-configurations/Production/checkout.express.config.yaml",
        "apiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: flag-configuration\nflag: checkout.express\nenabled: true\ndefaultValue: false\nconditions:\n  - allOf:\n      - group:\n          name: Internal team\n    flagValue: true\n",
    );
    // The first write (the flag's create) is carried out, and its answer never comes.
    let (status, body) = emu.send(
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({"dropNextWrites": 1})),
    );
    assert_eq!(status, 200, "{body}");
    emu.reset_counters();
    let out = emu.unify(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains("warning   flag/checkout.express: the answer to creating flag \"checkout.express\" was lost"),
        "{report}"
    );
    let counters = emu.counters();
    assert_eq!(
        counters["routes"]["POST /v2/applications/{app}/flags"]["count"], 1,
        "created once, never blindly again: {counters:#}"
    );
    assert_eq!(
        counters["routes"]["GET /v2/applications/{app}/flags/by-name/{name}"]["count"], 1,
        "{counters:#}"
    );
    let named: Vec<Value> = emu.unify_get("/flags")["flags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"] == "checkout.express")
        .cloned()
        .collect();
    assert_eq!(named.len(), 1);
    assert_eq!(
        emu.unify_configuration("checkout.express", "Production")["enabled"],
        true
    );
    plans_empty(&emu, dir, &[]);
}

#[test]
fn rate_limited_requests_back_off_and_the_apply_converges() {
    let emu = Emu::with_config(EmulatorConfig {
        unify_requests_per_second: Some(8),
        ..EmulatorConfig::default()
    });
    // The client is told it may send 1,000 requests a second: the service's 429s slow it.
    let repo = applied_quickstart(&emu);
    assert!(emu.status_count("429") > 0, "{:#}", emu.counters());
    let _ = repo;
}

#[test]
fn an_environment_the_organization_lacks_is_refused_before_anything_is_read() {
    let emu = Emu::start();
    let repo = example_copy("unify-quickstart");
    let config = repo.path().join("flagsync.yaml");
    let text_before = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_before.replace(
            "environments: [Production, Staging]",
            "environments: [Production, Staging, Prodution]",
        ),
    )
    .unwrap();
    emu.reset_counters();
    let out = emu.unify(&["plan"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the organization has no environment named \"Prodution\""),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `Production`?"), "{stderr}");
    // Only the lookups of the organization, its applications and its environments.
    assert_eq!(emu.counters()["total"], 3, "{:#}", emu.counters());
}

/// The legacy quickstart, converted, applies to a Unify account and plans empty; the legacy
/// repository itself, planned against that account with `api: unify`, is empty too.
#[test]
fn the_legacy_quickstart_converted_and_as_it_is_plans_empty_against_unify() {
    let emu = Emu::start();
    let legacy = example_copy("quickstart");
    let converted = tempfile::tempdir().unwrap();
    let out = emu.flagsync(
        &[
            "convert",
            "--to",
            "unify",
            "--out",
            converted.path().to_str().unwrap(),
        ],
        legacy.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(&["validate"], converted.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(": 0 errors, 0 warnings"),
        "{}",
        text(&out)
    );
    let out = emu.unify(&["apply", "--auto-approve"], converted.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("Apply complete: 14 succeeded, 0 failed, 0 never ran."),
        "{}",
        text(&out)
    );
    plans_empty(&emu, converted.path(), &[]);
    // The iOS override went live as leading conditions on rox.platform.
    let color = emu.unify_configuration("ui.buttonColor", "Production");
    assert_eq!(
        color["conditions"][0],
        json!({"allOf": [{"property": {"name": "rox.platform", "operator": "eq", "operands": ["iOS"]}}], "flagValue": "orange"})
    );

    // The legacy repository, pointed at the Unify account (its CloudBees part only).
    let config = legacy.path().join("flagsync.yaml");
    std::fs::write(
        &config,
        format!(
            "cloudbees:\n  api: unify\n  organization: {}\n  application: {}\n  token_env: CLOUDBEES_API_TOKEN\n  target_groups: target_groups\n  environments:\n    Production: {{ experiments: environments/Production }}\n    Staging: {{ experiments: environments/Staging }}\n",
            flagsync_emulator::UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
            crate::common::UNIFY_APPLICATION
        ),
    )
    .unwrap();
    let out = emu.unify(&["plan", "--detailed-exitcode"], legacy.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("No changes. Live state matches the repository."),
        "{}",
        text(&out)
    );
    // What was carried over by an inferred mapping is said, not hidden.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("inferred-translation"), "{stderr}");
    assert!(
        stderr.contains("environments/Production/button-color.yml:17:5"),
        "{stderr}"
    );
}

/// `flagsync export` writes a Unify application as a CasC tree that plans empty, each
/// resource into the file that declares it.
#[test]
fn export_writes_the_casc_tree_and_it_plans_empty() {
    let emu = Emu::start();
    let _applied = applied_quickstart(&emu);
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    std::fs::write(
        dir.join("flagsync.yaml"),
        format!(
            "cloudbees:\n  api: unify\n  organization: {}\n  application: {}\n  token_env: CLOUDBEES_API_TOKEN\n  casc: {CASC}\n  environments: [Production, Staging]\n",
            flagsync_emulator::UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
            crate::common::UNIFY_APPLICATION
        ),
    )
    .unwrap();
    // One flag is already declared, in a file of another name: it is written there.
    write(
        dir,
        "flags/button.yaml",
        "apiVersion: featuremanagement.cloudbees.io/v1alpha1\nkind: flag\nflag: ui.buttonColor\nflagType: string\n",
    );

    let out = emu.unify(&["export", "--force"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("exported 5 properties, 4 target groups, 3 flags, 5 flag configurations in 2 environments"),
        "{}",
        text(&out)
    );
    let button = std::fs::read_to_string(dir.join(CASC).join("flags/button.yaml")).unwrap();
    assert!(
        button.contains("availableValues: [blue, green, orange]"),
        "{button}"
    );
    assert!(!dir.join(CASC).join("flags/ui.buttonColor.yaml").exists());
    assert!(
        dir.join(CASC)
            .join("flag-configurations/Production/checkout.newFlow.config.yaml")
            .is_file()
    );
    // Staging's search.resultsPerPage is what the service gives a new flag: not written.
    assert!(
        !dir.join(CASC)
            .join("flag-configurations/Staging/search.resultsPerPage.config.yaml")
            .exists()
    );
    let out = emu.flagsync(&["validate"], dir);
    assert!(out.status.success(), "{}", text(&out));
    plans_empty(&emu, dir, &["--prune"]);

    // A change made in the service is adopted into the file that holds it.
    let flag = emu.unify_flag("search.resultsPerPage");
    let mut body = flag.clone();
    body["description"] = json!("Results per page, changed in the UI");
    let (status, answer) = emu.send(
        reqwest::Method::PUT,
        &format!(
            "/v2/applications/{}/flags/{}",
            crate::common::UNIFY_APPLICATION,
            flag["id"].as_str().unwrap()
        ),
        Some(body),
    );
    assert_eq!(status, 200, "{answer}");
    let out = emu.unify(&["export"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = emu.unify(&["export", "--force"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let written =
        std::fs::read_to_string(dir.join(CASC).join("flags/search.resultsPerPage.yaml")).unwrap();
    assert!(written.contains("changed in the UI"), "{written}");
    plans_empty(&emu, dir, &[]);
}
