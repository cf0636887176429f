//! End to end: `flagsync doctor` checks each configured provider against the emulator, and
//! a wrong base URL gives errors that name the method, the URL and the status, with the
//! base URL shape expected.

use crate::common::{APPLICATION, Emu, quickstart_copy, text};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `text` holds `expected`, whitespace left out of both: miette wraps long lines on
/// stderr, URLs included.
fn holds(text: &[u8], expected: &str) -> bool {
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    compact(&String::from_utf8_lossy(text)).contains(&compact(expected))
}

#[test]
fn doctor_checks_urls_credentials_application_and_environments() {
    let emu = Emu::start();
    let repo = quickstart_copy();

    // An empty account: reachable and accepted; existence cannot be told apart.
    let out = emu.flagsync(&["doctor"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = stdout(&out);
    let cloudbees_line = format!(
        "CloudBees: application {APPLICATION} at {}\n",
        emu.emulator.cloudbees_url()
    );
    assert!(report.starts_with(&cloudbees_line), "{report}");
    assert!(
        report.contains("  ok           API and credentials: "),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "  not checked  application {APPLICATION}: no target group and no experiment listed"
        )),
        "{report}"
    );
    assert!(
        report.contains("  ok           client credentials: "),
        "{report}"
    );
    assert!(
        report.ends_with("\n4 passed, 0 failed, 3 not checked.\n")
            || report.contains(" 0 failed, "),
        "{report}"
    );

    // Once the repository is applied, the application and its environments are found.
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(&["doctor"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains(&format!(
            "  ok           application {APPLICATION}: it has 4 target group(s)\n"
        )),
        "{report}"
    );
    assert!(
        report.contains("  ok           environment Production: "),
        "{report}"
    );
    assert!(report.contains(", 0 failed, "), "{report}");
    assert!(!report.contains("emulator-secret"), "{report}");
}

#[test]
fn doctor_fails_on_a_wrong_base_url_wrong_credentials_or_a_missing_one() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let root = emu.emulator.base_url();

    // The emulator's root instead of its `/public-api`.
    let out = emu
        .command(&["doctor"], repo.path())
        .env("FLAGSYNC_CLOUDBEES_URL", &root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains(&format!(
            "  FAILED       base URL: target groups not found: HTTP 404 on GET {root}/applications/{APPLICATION}/target-groups\n"
        )),
        "{report}"
    );
    assert!(
        report.contains("expected to end in `/public-api`"),
        "{report}"
    );
    // Confidence is checked all the same.
    assert!(
        report.contains("  ok           API and credentials: "),
        "{report}"
    );

    // A token the service refuses: never shown.
    let out = emu
        .command(&["doctor"], repo.path())
        .env("CLOUDBEES_API_TOKEN", "wrong-token-77aa")
        .env("CONFIDENCE_CLIENT_SECRET", "wrong-secret-88bb")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains(
            "  FAILED       credentials: CloudBees rejected the credentials (HTTP 401 on GET "
        ),
        "{report}"
    );
    assert!(
        report.contains("  FAILED       client credentials: Confidence rejected the credentials (HTTP 401 on POST "),
        "{report}"
    );
    assert!(!text(&out).contains("wrong-token-77aa") && !text(&out).contains("wrong-secret-88bb"));

    // No token at all: that provider fails its setup, the other one is still checked.
    let out = emu
        .command(&["doctor"], repo.path())
        .env_remove("CLOUDBEES_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report
            .contains("  FAILED       setup: environment variable CLOUDBEES_API_TOKEN is not set"),
        "{report}"
    );
    assert!(
        report.contains("  ok           client credentials: "),
        "{report}"
    );
}

#[test]
fn a_wrong_base_url_names_method_url_status_and_the_shape_expected() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let root = emu.emulator.base_url();
    let out = emu
        .command(&["plan"], repo.path())
        .env("FLAGSYNC_CLOUDBEES_URL", &root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for expected in [
        "reading live state",
        "not found: HTTP 404 on GET",
        &format!("{root}/applications/{APPLICATION}/"),
        "the base URL is expected to end in `/public-api`",
    ] {
        assert!(holds(&out.stderr, expected), "{expected}: {}", text(&out));
    }

    // Confidence with a path it does not have.
    let out = emu
        .command(&["plan"], repo.path())
        .env("FLAGSYNC_CONFIDENCE_URL", format!("{root}/v1"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for expected in [
        &format!("rollouts not found: HTTP 404 on GET {root}/v1/v1/workflows/rollout/instances"),
        "the API's root, without a path",
    ] {
        assert!(holds(&out.stderr, expected), "{expected}: {}", text(&out));
    }
}

/// An environment the application's environments list lacks fails, with the closest name,
/// as plan refuses it; where a deployment does not serve that list, the experiments lists
/// cannot tell, and it is not checked.
#[test]
fn an_environment_the_application_lacks_fails_where_the_list_is_served() {
    let repo = quickstart_copy();
    let config = repo.path().join("flagsync.yaml");
    let text_of = std::fs::read_to_string(&config).unwrap();
    assert!(text_of.contains("    Staging:"), "{text_of}");
    std::fs::write(&config, text_of.replace("    Staging:", "    Stagin:")).unwrap();

    let emu = Emu::start();
    let out = emu.flagsync(&["doctor"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains(&format!(
            "  FAILED       environment Stagin: not an environment of application {APPLICATION}"
        )),
        "{report}"
    );
    assert!(report.contains("did you mean `Staging`?"), "{report}");
    assert!(
        report.contains("  ok           environment Production: "),
        "{report}"
    );

    let emu = Emu::with_config(flagsync_emulator::EmulatorConfig {
        cloudbees_seed_routes_only: true,
        ..Default::default()
    });
    let out = emu.flagsync(&["doctor"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("  not checked  environment Stagin: no experiment listed"),
        "{}",
        text(&out)
    );
}
