//! End to end: reading live state at the CloudBees rate limit shows progress on stderr; not
//! on a terminal (here, as in CI logs), a plain line every few seconds with the requests
//! answered of those expected and an estimate. The emulator's limit is on and flagsync is
//! paced under it, so the read takes a few seconds by the pacing alone; nothing here
//! measures time.

use std::time::Duration;

use flagsync_emulator::EmulatorConfig;

use crate::common::{Emu, config_only_repo, quickstart_copy, text};

/// Flags without a release rule: on a deployment without the flags list (the emulator with
/// only the documented routes), the experiments list hides them, so each costs a GET.
const HIDDEN_FLAGS: usize = 28;

#[test]
fn a_slow_read_writes_plain_progress_lines_on_stderr() {
    let emu = Emu::with_config(EmulatorConfig {
        cloudbees_requests_per_second: Some(5),
        cloudbees_seed_routes_only: true,
        launch_duration: Duration::from_millis(20),
        ..EmulatorConfig::default()
    });
    let repo = config_only_repo();
    let dir = repo.path().join("environments/Production");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..HIDDEN_FLAGS {
        std::fs::write(
            dir.join(format!("flag-{i}.yml")),
            format!("type: experiment\nflag: progress.flag{i}\nvalue: false\n"),
        )
        .unwrap();
    }

    // Paced at 4 requests a second: the environments and flags routes (404), an experiments
    // list, a target-group list and 28 GETs take over seven seconds whatever the machine.
    let out = emu
        .command(&["plan", "--format", "json"], repo.path())
        .env("FLAGSYNC_CLOUDBEES_RPS", "4")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the plan");
    assert_eq!(plan["summary"]["create"], HIDDEN_FLAGS, "{plan}");

    let stderr = String::from_utf8_lossy(&out.stderr);
    // Target groups, two flags lists (404), two experiments lists, the GETs and the one page
    // of rollouts.
    let expected = 1 + 2 + 2 + HIDDEN_FLAGS + 1;
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("reading live state: "))
        .collect();
    assert!(!lines.is_empty(), "no progress line: {stderr}");
    for line in &lines {
        // `reading live state: 12/32 requests, about 5s left`
        let rest = line.trim_start_matches("reading live state: ");
        let (counts, estimate) = rest.split_once(" requests, ").expect(line);
        let (done, total) = counts.split_once('/').expect(line);
        let done: usize = done.parse().expect(line);
        let total: usize = total.parse().expect(line);
        assert!(done <= total && total <= expected, "{line}");
        assert!(
            estimate.starts_with("about ") && estimate.ends_with(" left"),
            "{line}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "read live state: {expected}/{expected} requests in "
        )),
        "{stderr}"
    );
    // Plain lines only: no terminal control sequences in a log.
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn a_quick_read_writes_nothing() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let out = emu.flagsync(&["plan"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("live state"),
        "{}",
        text(&out)
    );
}
