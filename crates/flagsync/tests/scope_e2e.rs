//! End to end: `--target` needs the credentials of the providers it names only, and `--env`
//! narrows CloudBees environments (and nothing else) for plan and apply.

use crate::common::{Emu, quickstart_copy, text};
use serde_json::Value;

fn route_count(counters: &Value, label: &str) -> u64 {
    counters["routes"]
        .get(label)
        .map_or(0, |r| r["count"].as_u64().unwrap())
}

fn confidence_requests(counters: &Value) -> u64 {
    counters["routes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(label, _)| label.contains("/v1/"))
        .map(|(_, r)| r["count"].as_u64().unwrap())
        .sum()
}

fn cloudbees_requests(counters: &Value) -> u64 {
    counters["routes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(label, _)| label.contains("/public-api/"))
        .map(|(_, r)| r["count"].as_u64().unwrap())
        .sum()
}

fn ids(plan: &Value) -> Vec<String> {
    plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_target_needs_only_the_credentials_of_its_provider() {
    let emu = Emu::start();
    let repo = quickstart_copy();

    emu.reset_counters();
    let out = emu
        .command(
            &[
                "plan",
                "--format",
                "json",
                "--target",
                "target-group/Beta Users",
            ],
            repo.path(),
        )
        .env_remove("CONFIDENCE_CLIENT_ID")
        .env_remove("CONFIDENCE_CLIENT_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&plan), vec!["target-group/Beta Users"], "{plan}");
    assert_eq!(
        confidence_requests(&emu.counters()),
        0,
        "{}",
        emu.counters()
    );

    emu.reset_counters();
    let out = emu
        .command(
            &["plan", "--format", "json", "--target", "rollout/new-search"],
            repo.path(),
        )
        .env_remove("CLOUDBEES_API_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&plan), vec!["rollout/new-search"], "{plan}");
    assert_eq!(cloudbees_requests(&emu.counters()), 0, "{}", emu.counters());

    // Apply too: a targeted apply without the other provider's credentials.
    let out = emu
        .command(
            &["apply", "--auto-approve", "--target", "rollout/new-search"],
            repo.path(),
        )
        .env_remove("CLOUDBEES_API_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Without a target, both are needed, and the error names the variable.
    let out = emu
        .command(&["plan"], repo.path())
        .env_remove("CLOUDBEES_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("CLOUDBEES_API_TOKEN is not set"),
        "{}",
        text(&out)
    );
}

#[test]
fn env_narrows_cloudbees_environments_only() {
    let emu = Emu::start();
    let repo = quickstart_copy();

    emu.reset_counters();
    let out = emu.flagsync(
        &["plan", "--format", "json", "--env", "Staging"],
        repo.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = ids(&plan);
    assert!(
        ids.iter().any(|id| id.starts_with("experiment/Staging/")),
        "{ids:?}"
    );
    assert!(
        !ids.iter()
            .any(|id| id.starts_with("experiment/Production/")),
        "{ids:?}"
    );
    assert!(
        ids.iter().any(|id| id.starts_with("target-group/")),
        "{ids:?}"
    );
    assert!(ids.iter().any(|id| id.starts_with("rollout/")), "{ids:?}");
    let counters = emu.counters();
    assert_eq!(
        route_count(&counters, "GET /public-api/applications/{app}/{env}/flags"),
        1,
        "only Staging is listed: {counters}"
    );

    // Apply one environment; the other still waits.
    let out = emu.flagsync(
        &["apply", "--auto-approve", "--env", "Staging"],
        repo.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(
        &["plan", "--detailed-exitcode", "--env", "Staging"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = emu.plan_json(repo.path());
    let left = self::ids(&plan);
    assert!(
        !left.is_empty()
            && left
                .iter()
                .all(|id| id.starts_with("experiment/Production/")),
        "{left:?}"
    );
    // Production's experiments are not "undeclared" in a plan of Staging either.
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_file(repo.path().join("environments/Production/button-color.yml")).unwrap();
    let out = emu.flagsync(
        &["plan", "--detailed-exitcode", "--env", "Staging"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_unknown_env_or_target_is_refused_with_the_close_name() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    emu.reset_counters();
    for args in [
        &["plan", "--env", "Prodution"][..],
        &[
            "apply",
            "--auto-approve",
            "--env",
            "Staging",
            "--env",
            "Prodution",
        ],
    ] {
        let out = emu.flagsync(args, repo.path());
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        // miette wraps long lines: compare words.
        let err = String::from_utf8_lossy(&out.stderr)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            err.contains("--env Prodution: no such CloudBees environment"),
            "{err}"
        );
        assert!(err.contains("did you mean `Production`?"), "{err}");
        assert!(
            err.contains("flagsync.yaml configures: Production, Staging"),
            "{err}"
        );
    }
    assert_eq!(emu.counters()["total"], 0);

    // A target naming nothing would plan nothing and read as "no changes": refused too.
    for (target, close) in [
        ("target-group/Beta User", "target-group/Beta Users"),
        (
            "experiment/Prodution/ui.buttonColor",
            "experiment/Production/ui.buttonColor",
        ),
    ] {
        let out = emu.flagsync(
            &["plan", "--detailed-exitcode", "--target", target],
            repo.path(),
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        // miette wraps long lines (and marks the continuation): compare words.
        let err = String::from_utf8_lossy(&out.stderr)
            .split_whitespace()
            .filter(|w| *w != "│")
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            err.contains(&format!(
                "--target {target} matches no resource declared or live"
            )),
            "{err}"
        );
        assert!(err.contains(&format!("did you mean `{close}`?")), "{err}");
    }
}
