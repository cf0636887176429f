//! CloudBees as the service really behaves, through the binary against the emulator: the
//! meaning of the format's defaults on the wire, the archived folder, plan at the request
//! floor (and the fallback where a deployment lacks the flags list), the environment check.

use std::fmt::Write as _;
use std::path::Path;

use flagsync_emulator::EmulatorConfig;
use serde_json::{Value, json};

use crate::common::{APPLICATION, Emu, enc, text};

const CONFIG: &str = "cloudbees:\n  application: APP\n  token_env: CLOUDBEES_API_TOKEN\n  target_groups: target_groups\n  environments:\n    Production: { experiments: environments/Production }\n    Staging: { experiments: environments/Staging }\n";

/// A CloudBees-only repository with `files` (path, text) besides flagsync.yaml.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "flagsync.yaml",
        &CONFIG.replace("APP", APPLICATION),
    );
    for (path, content) in files {
        write(dir.path(), path, content);
    }
    dir
}

fn write(root: &Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn count(counters: &Value, route: &str) -> u64 {
    counters["routes"][route]["count"].as_u64().unwrap_or(0)
}

const ENVIRONMENTS: &str = "GET /public-api/applications/{app}/environments";
const FLAGS: &str = "GET /public-api/applications/{app}/{env}/flags";
const EXPERIMENTS: &str = "GET /public-api/applications/{app}/{env}/experiments";
const ONE_EXPERIMENT: &str = "GET /public-api/applications/{app}/{env}/experiments/{flag}";
const TARGET_GROUPS: &str = "GET /public-api/applications/{app}/target-groups";

const TWO_CONDITIONS: &str = "type: target-group\nname: Paying teams\nconditions:\n  - property: plan\n    operator: eq\n    operand: team\n  - property: seats\n    operator: gte\n    operand: 10\n";

#[test]
fn a_target_group_without_operator_reaches_the_service_as_and() {
    let emu = Emu::start();
    let dir = repo(&[("target_groups/Paying teams.yml", TWO_CONDITIONS)]);
    let out = emu.flagsync(&["apply", "--auto-approve"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let group = emu.get(&format!(
        "/public-api/applications/{APPLICATION}/target-groups/{}",
        enc("Paying teams")
    ));
    assert_eq!(group["operator"], "and", "{group}");

    // Live, a group without operator means "any of": the plan changes it to "all of".
    emu.put_target_group(json!({
        "type": "target-group", "name": "Paying teams",
        "conditions": group["conditions"].clone()
    }));
    let plan = emu.plan_json(dir.path());
    let actions = plan["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{plan}");
    assert_eq!(actions[0]["operation"], "update");
    let sets_and = actions[0]["patch"]
        .as_array()
        .unwrap()
        .iter()
        .any(|op| op["path"] == "/operator" && op["value"] == "and");
    assert!(sets_and, "{plan}");
    let out = emu.flagsync(&["apply", "--auto-approve"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let group = emu.get(&format!(
        "/public-api/applications/{APPLICATION}/target-groups/{}",
        enc("Paying teams")
    ));
    assert_eq!(group["operator"], "and", "{group}");
    assert_eq!(emu.plan_json(dir.path())["actions"], json!([]));
}

#[test]
fn an_archived_file_stays_archived() {
    let emu = Emu::start();
    let dir = repo(&[
        (
            "environments/Production/archived/old flag.yml",
            "type: experiment\nflag: old flag\nvalue: true\n",
        ),
        (
            "environments/Production/current.yml",
            "type: experiment\nflag: current\nvalue: true\n",
        ),
    ]);
    let out = emu.flagsync(&["apply", "--auto-approve"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let old = emu.get(&format!(
        "/public-api/applications/{APPLICATION}/Production/experiments/{}",
        enc("old flag")
    ));
    assert_eq!(old["archived"], true, "{old}");
    let current = emu.get(&format!(
        "/public-api/applications/{APPLICATION}/Production/experiments/current"
    ));
    assert_eq!(current["archived"], false, "{current}");
    assert_eq!(emu.plan_json(dir.path())["actions"], json!([]));

    // Exported into a new repository, the archived flag goes into the folder, without a key.
    let fresh = repo(&[]);
    let out = emu.flagsync(&["export", "--env", "Production"], fresh.path());
    assert!(out.status.success(), "{}", text(&out));
    let exported = fresh
        .path()
        .join("environments/Production/archived/old flag.yml");
    let content = std::fs::read_to_string(&exported).expect("exported into archived/");
    assert!(!content.contains("archived"), "{content}");
    assert!(
        fresh
            .path()
            .join("environments/Production/current.yml")
            .is_file()
    );

    // A flag archived in the UI moves into the folder on the next export (with --force, as
    // it replaces a file).
    emu.patch(
        &format!("/public-api/applications/{APPLICATION}/Production/experiments/current"),
        json!([{"op": "replace", "path": "/archived", "value": true}]),
    );
    let out = emu.flagsync(&["export", "--env", "Production"], fresh.path());
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("environments/Production/current.yml (moves to"),
        "{}",
        text(&out)
    );
    let out = emu.flagsync(&["export", "--env", "Production", "--force"], fresh.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 file(s) moved"),
        "{}",
        text(&out)
    );
    assert!(
        !fresh
            .path()
            .join("environments/Production/current.yml")
            .exists()
    );
    assert!(
        fresh
            .path()
            .join("environments/Production/archived/current.yml")
            .is_file()
    );
    // Staging is exported empty; Production matches live.
    let plan = emu.plan_json(fresh.path());
    assert_eq!(plan["summary"]["create"], 0, "{plan}");
    assert_eq!(plan["summary"]["update"], 0, "{plan}");
}

/// A repository of `n` manifests: a fifth target groups (half of them without operator),
/// the rest experiments over Production and Staging, one flag in ten without a release
/// rule (the experiments list would hide it).
fn generated(n: usize) -> tempfile::TempDir {
    let dir = repo(&[]);
    let groups = n / 5;
    for g in 0..groups {
        let mut text = format!("type: target-group\nname: group {g}\n");
        if g % 2 == 0 {
            text.push_str("operator: or\n");
        }
        let _ = write!(
            text,
            "conditions:\n  - property: seats\n    operator: gte\n    operand: {g}\n  - property: plan\n    operator: eq\n    operand: team\n"
        );
        write(dir.path(), &format!("target_groups/group {g}.yml"), &text);
    }
    for e in 0..(n - groups) {
        let (flag, env) = (e / 2, ["Production", "Staging"][e % 2]);
        let text = if flag % 10 == 9 {
            format!("type: experiment\nflag: flag.{flag}\nvalue: false\n")
        } else {
            format!(
                "type: experiment\nflag: flag.{flag}\nconditions:\n  - group:\n      name: group {}\n    value: true\nvalue: false\n",
                flag % groups.max(1)
            )
        };
        write(
            dir.path(),
            &format!("environments/{env}/flag.{flag}.yml"),
            &text,
        );
    }
    dir
}

/// At the documented 1 request/s (the emulator enforces it), a first plan of 1,000
/// manifests costs the environments check, one flags list per environment and one list of
/// target groups: no GET per flag, whatever the number of flags.
#[test]
fn a_plan_of_a_fresh_account_sends_no_per_flag_get() {
    let emu = Emu::with_config(EmulatorConfig {
        cloudbees_requests_per_second: Some(1),
        ..EmulatorConfig::default()
    });
    let dir = generated(1_000);
    let out = emu
        .command(&["plan", "--format", "json"], dir.path())
        // The client's own pace, just under the service's limit.
        .env_remove("FLAGSYNC_CLOUDBEES_RPS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["summary"]["create"], 1_000, "{}", plan["summary"]);
    assert!(emu.hidden_experiments(&plan) >= 80);
    let c = emu.counters();
    assert_eq!(count(&c, ENVIRONMENTS), 1, "{c}");
    assert_eq!(count(&c, FLAGS), 2, "{c}");
    assert_eq!(count(&c, TARGET_GROUPS), 1, "{c}");
    assert_eq!(count(&c, ONE_EXPERIMENT), 0, "{c}");
    assert_eq!(count(&c, EXPERIMENTS), 0, "{c}");
    assert_eq!(c["total"], 4, "nothing else, and no 555 retried: {c}");
}

/// A deployment without the flags and environments lists (404): plan reads the older way,
/// says so once at -v, and plans the same.
#[test]
fn without_the_flags_list_plan_falls_back_and_says_so_at_v() {
    let emu = Emu::with_config(EmulatorConfig {
        cloudbees_seed_routes_only: true,
        ..EmulatorConfig::default()
    });
    let dir = generated(50);
    let quiet = emu.flagsync(&["plan", "--format", "json"], dir.path());
    assert!(quiet.status.success(), "{}", text(&quiet));
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet));
    let plan: Value = serde_json::from_slice(&quiet.stdout).unwrap();
    let hidden = emu.hidden_experiments(&plan);
    assert!(hidden > 0);

    emu.reset_counters();
    let out = emu.flagsync(&["plan", "-v", "--format", "json"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let says = |what: &str| stderr.matches(what).count();
    assert_eq!(
        says("does not serve GET /applications/{app}/{env}/flags"),
        1,
        "{stderr}"
    );
    assert_eq!(
        says("does not serve GET /applications/{app}/environments"),
        1,
        "{stderr}"
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["actions"], plan["actions"]);
    let c = emu.counters();
    assert_eq!(count(&c, EXPERIMENTS), 2, "{c}");
    // Every desired flag the lists hide gets a GET (here: every desired flag, as none is live).
    assert_eq!(
        count(&c, ONE_EXPERIMENT),
        plan["summary"]["create"].as_u64().unwrap()
            - plan["actions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["kind"] == "target-group")
                .count() as u64,
        "{c}"
    );
}

#[test]
fn an_unknown_environment_is_refused_before_anything_else() {
    let emu = Emu::start();
    let dir = repo(&[(
        "environments/Production/x.yml",
        "type: experiment\nflag: x\n",
    )]);
    write(
        dir.path(),
        "flagsync.yaml",
        &CONFIG
            .replace("APP", APPLICATION)
            .replace("    Production:", "    Prodution:"),
    );
    for command in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        emu.reset_counters();
        let out = emu.flagsync(command, dir.path());
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unknown-environment"), "{stderr}");
        assert!(stderr.contains("flagsync.yaml:6:5"), "{stderr}");
        assert!(stderr.contains("did you mean `Production`?"), "{stderr}");
        assert!(
            stderr.contains("The application has: Production,"),
            "{stderr}"
        );
        let c = emu.counters();
        assert_eq!(count(&c, ENVIRONMENTS), 1, "{c}");
        assert_eq!(c["total"], 1, "nothing else was read or sent: {c}");
    }
}

#[test]
fn an_experiment_name_is_said_to_be_ignored_and_not_sent() {
    let emu = Emu::start();
    let dir = repo(&[(
        "environments/Production/x.yml",
        "type: experiment\nflag: x\nname: Nice name\nvalue: true\n",
    )]);
    let out = emu.flagsync(&["validate", "--format", "json"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "ignored-name", "{report}");
    assert_eq!(d["severity"], "warning");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(1))
    );
    let plan = emu.plan_json(dir.path());
    assert_eq!(plan["actions"][0]["desired"].get("name"), None, "{plan}");
    let out = emu.flagsync(&["apply", "--auto-approve"], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    // The service keeps no name of its own (the flag is the only entity): nothing to plan.
    assert_eq!(emu.plan_json(dir.path())["actions"], json!([]));
}
