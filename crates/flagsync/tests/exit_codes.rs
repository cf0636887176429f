//! Exit codes: 2 is only `--detailed-exitcode`'s "there are changes"; a usage error, like
//! every other failure, is 1.

use std::process::Output;

use assert_cmd::Command;

use crate::common::{Emu, quickstart_copy, text};

fn flagsync(args: &[&str]) -> Output {
    Command::cargo_bin("flagsync")
        .unwrap()
        .args(args)
        .env("RUST_LOG", "off")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn usage_errors_exit_1_never_2() {
    for args in [
        &["plan", "--detailed-exitcode", "--prnue"][..],
        &["diff", "--detailed-exitcode", "--head", "HEAD"],
        &["validate", "--format", "yaml"],
        &["apply", "--concurrency", "many"],
        &["no-such-command"],
        &["schema", "--out"],
        &[],
    ] {
        let out = flagsync(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "flagsync {args:?}: {}",
            text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        let expected = if args.is_empty() { "Usage:" } else { "error:" };
        assert!(err.contains(expected), "flagsync {args:?}: {}", text(&out));
        assert!(out.stdout.is_empty(), "flagsync {args:?}: {}", text(&out));
    }
    for args in [
        &["--help"][..],
        &["plan", "--help"],
        &["-V"],
        &["help", "plan"],
    ] {
        let out = flagsync(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "flagsync {args:?}: {}",
            text(&out)
        );
        assert!(!out.stdout.is_empty());
    }
    let help = stdout(&flagsync(&["--help"]));
    assert!(
        help.contains("Exit status:\n  0  success; with --detailed-exitcode (plan, diff): no changes\n  1  any failure"),
        "{help}"
    );
}

#[test]
fn a_mistyped_flag_in_a_drift_job_is_an_error_and_reads_nothing() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    emu.reset_counters();
    let out = emu.flagsync(&["plan", "--detailed-exitcode", "--prnue"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unexpected argument '--prnue'"),
        "{}",
        text(&out)
    );
    assert_eq!(emu.counters()["total"], 0);
    // The same job spelled right reports the changes with 2.
    let out = emu.flagsync(&["plan", "--detailed-exitcode", "--prune"], repo.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A failure after parsing (invalid manifests) is 1 as well.
    std::fs::write(
        repo.path().join("target_groups/Broken.yml"),
        "type: target-group\nnmae: x\n",
    )
    .unwrap();
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}
