//! End to end: a live resource in the managed scope that no manifest declares is never
//! reported as "no changes": plan lists and counts it in every format, `--detailed-exitcode`
//! reports it, and `prune: true` in flagsync.yaml (or `--prune`) deletes it.

use crate::common::{APPLICATION, Emu, quickstart_copy, text};
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_deleted_manifest_is_a_difference_until_pruned() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    std::fs::remove_file(repo.path().join("environments/Staging/button-color.yml")).unwrap();
    let live_path =
        format!("/public-api/applications/{APPLICATION}/Staging/experiments/ui.buttonColor");

    // Human: listed, counted, and never "No changes".
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let human = stdout(&out);
    assert!(
        human.contains(
            "1 live resource is not declared; `--prune` would delete it:\n  ? experiment/Staging/ui.buttonColor\n"
        ),
        "{human}"
    );
    assert!(
        human.ends_with(
            "Plan: 0 to create, 0 to update, 0 to delete; 1 live resource not declared.\n"
        ),
        "{human}"
    );
    assert!(!human.contains("No changes"), "{human}");

    // JSON: counted in the summary and listed.
    let plan = emu.plan_json(repo.path());
    assert_eq!(plan["summary"]["undeclared"], 1, "{plan}");
    assert_eq!(plan["actions"], Value::Array(Vec::new()), "{plan}");
    assert_eq!(
        plan["undeclared"][0]["id"], "experiment/Staging/ui.buttonColor",
        "{plan}"
    );

    // Markdown: the summary line and a callout naming it.
    let out = emu.flagsync(&["plan", "--format", "markdown"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let md = stdout(&out);
    assert!(
        md.starts_with("<!-- flagsync-plan -->\n### flagsync plan"),
        "{md}"
    );
    assert!(
        md.contains(
            "\nPlan: 0 to create, 0 to update, 0 to delete; 1 live resource not declared.\n"
        ),
        "{md}"
    );
    assert!(
        md.contains("> 1 live resource is not declared; `--prune` would delete it: <code>experiment/Staging/ui.buttonColor</code>"),
        "{md}"
    );

    // Apply without prune leaves it and says why live state still differs.
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("1 live resource not declared"),
        "{}",
        text(&out)
    );
    assert_eq!(emu.get(&live_path)["flag"], "ui.buttonColor");

    // `prune: true` in flagsync.yaml plans the delete; `--prune=false` overrides it.
    let config = repo.path().join("flagsync.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{yaml}prune: true\n")).unwrap();
    let out = emu.flagsync(
        &["plan", "--prune=false", "--detailed-exitcode"],
        repo.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stdout(&out).contains("1 live resource not declared"),
        "{}",
        text(&out)
    );
    let out = emu.flagsync(&["plan"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("- delete experiment/Staging/ui.buttonColor"),
        "{}",
        text(&out)
    );
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(emu.send(reqwest::Method::GET, &live_path, None).0, 404);

    // Now live state does match.
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout(&out).contains("No changes. Live state matches the repository."));
}
