//! `flagsync show PLANFILE`: a saved plan rendered as `plan` renders it.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use crate::common::{Emu, quickstart_copy, text};

fn show(args: &[&str], plan: &Path) -> Output {
    Command::cargo_bin("flagsync")
        .unwrap()
        .arg("show")
        .arg(plan)
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

#[test]
fn a_saved_plan_shows_as_plan_printed_it_in_every_format() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let file = repo.path().join("saved-plan.json");
    let out = emu.flagsync(
        &["plan", "--out", file.to_str().unwrap(), "--format", "json"],
        repo.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let printed_json = out.stdout;

    for (format, printed) in [
        ("json", printed_json),
        ("human", emu.flagsync(&["plan"], repo.path()).stdout),
        (
            "markdown",
            emu.flagsync(&["plan", "--format", "markdown"], repo.path())
                .stdout,
        ),
    ] {
        let shown = show(&["--format", format], &file);
        assert_eq!(shown.status.code(), Some(0), "{}", text(&shown));
        assert!(shown.stderr.is_empty(), "{}", text(&shown));
        assert_eq!(
            String::from_utf8_lossy(&shown.stdout),
            String::from_utf8_lossy(&printed),
            "{format}"
        );
    }
    let human = String::from_utf8_lossy(&show(&[], &file).stdout).into_owned();
    assert!(
        human.contains("+ create target-group/Beta Users"),
        "{human}"
    );
    // Showing reads only the file: nothing reached a service.
    emu.reset_counters();
    show(&[], &file);
    assert_eq!(emu.counters()["total"], 0);
}

#[test]
fn what_is_not_a_plan_is_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.json");
    let out = show(&[], &missing);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot read the plan {}", missing.display())),
        "{err}"
    );

    let other = dir.path().join("other.json");
    std::fs::write(&other, "{\"format_version\": 99, \"actions\": []}").unwrap();
    let out = show(&[], &other);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a flagsync plan"), "{err}");
    assert!(err.contains("unsupported plan format version 99"), "{err}");
    assert!(err.contains("flagsync plan --out FILE"), "{err}");
    assert!(out.stdout.is_empty());

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let out = show(&["--format", "markdown"], &garbage);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
