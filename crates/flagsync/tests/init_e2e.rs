//! `flagsync init` through the binary: the applications and environments the token sees,
//! against a separate emulator and the embedded one.

use flagsync_emulator::EmulatorConfig;
use serde_json::json;

use crate::common::{APPLICATION, Emu, text};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_writes_flagsync_yaml_for_the_application_the_token_sees() {
    let emu = Emu::start();
    let (status, body) = emu.send(
        reqwest::Method::PUT,
        "/_emulator/cloudbees/applications/web",
        Some(json!({"name": "Web shop", "environments": ["prod", "dev"]})),
    );
    assert_eq!(status, 200, "{body}");
    emu.put_experiment(
        "Production",
        json!({"type": "experiment", "flag": "checkout", "value": true}),
    );
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");

    // Several applications and no terminal: which one must be said.
    let out = emu.flagsync(&["init"], &repo);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("web (Web shop)"), "{err}");
    assert!(err.contains(APPLICATION), "{err}");
    assert!(err.contains("--application"), "{err}");
    assert!(!repo.join("flagsync.yaml").exists());

    let out = emu.flagsync(&["init", "--application", "Web shop"], &repo);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("is the name of web; pass its id"),
        "{}",
        text(&out)
    );

    let out = emu.flagsync(&["init", "--application", "web"], &repo);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("environments prod, dev"),
        "{}",
        text(&out)
    );
    assert!(stdout(&out).contains("flagsync export"), "{}", text(&out));
    let written = std::fs::read_to_string(repo.join("flagsync.yaml")).unwrap();
    assert!(written.contains("application: web\n"), "{written}");
    assert!(
        written.contains("token_env: CLOUDBEES_API_TOKEN\n"),
        "{written}"
    );
    assert!(
        written.contains("experiments: environments/prod\n"),
        "{written}"
    );
    // The URL of the emulator is the test's, not the repository's.
    assert!(!written.contains("http"), "{written}");

    let out = emu.flagsync(&["init", "--application", APPLICATION], &repo);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("already exists"), "{}", text(&out));

    // Adopting the application with flags: init, export, and the plan is empty.
    let out = emu.flagsync(&["init", "--force", "--application", APPLICATION], &repo);
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(&["export"], &repo);
    assert!(out.status.success(), "{}", text(&out));
    assert!(repo.join("environments/Production/checkout.yml").is_file());
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], &repo);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn init_on_the_embedded_emulator_needs_no_account() {
    let emu = Emu::start();
    let dir = tempfile::tempdir().unwrap();
    let out = emu
        .command(&["init", "--emulator"], dir.path())
        .env_remove("CLOUDBEES_API_TOKEN")
        .env_remove("FLAGSYNC_CLOUDBEES_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(flagsync_emulator::CLOUDBEES_DEFAULT_APPLICATION_ID),
        "{}",
        text(&out)
    );
    let written = std::fs::read_to_string(dir.path().join("flagsync.yaml")).unwrap();
    assert!(
        written.contains("emulator:\n  state: \".flagsync/emulator\"\n"),
        "{written}"
    );
    // Its application starts empty: export writes nothing and says what comes next.
    let out = emu
        .command(&["export"], dir.path())
        .env_remove("CLOUDBEES_API_TOKEN")
        .env_remove("FLAGSYNC_CLOUDBEES_URL")
        .env_remove("FLAGSYNC_CONFIDENCE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("the account holds nothing to export yet"),
        "{}",
        text(&out)
    );
    // The repository works on the embedded emulator: a manifest applies and plans empty.
    std::fs::create_dir_all(dir.path().join("environments/Staging")).unwrap();
    std::fs::write(
        dir.path().join("environments/Staging/f.yml"),
        "type: experiment\nflag: f\nvalue: true\n",
    )
    .unwrap();
    for args in [
        &["apply", "--auto-approve"][..],
        &["plan", "--detailed-exitcode"][..],
    ] {
        let out = emu
            .command(args, dir.path())
            .env_remove("CLOUDBEES_API_TOKEN")
            .env_remove("FLAGSYNC_CLOUDBEES_URL")
            .env_remove("FLAGSYNC_CONFIDENCE_URL")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[test]
fn init_without_the_account_routes_says_what_to_do() {
    let emu = Emu::with_config(EmulatorConfig {
        cloudbees_seed_routes_only: true,
        ..EmulatorConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let out = emu.flagsync(&["init"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("does not list applications"),
        "{}",
        text(&out)
    );
    let out = emu.flagsync(&["init", "--application", APPLICATION], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("does not list environments"),
        "{}",
        text(&out)
    );
    assert!(!dir.path().join("flagsync.yaml").exists());
}

#[test]
fn init_without_a_token_names_the_variable() {
    let emu = Emu::start();
    let dir = tempfile::tempdir().unwrap();
    let out = emu
        .command(&["init"], dir.path())
        .env_remove("CLOUDBEES_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("CLOUDBEES_API_TOKEN is not set"), "{err}");
    assert!(err.contains("--emulator"), "{err}");
}

/// On a terminal with several applications, init asks until an answer names one, by
/// number or id, and writes the one chosen. The terminal is a real pseudo-terminal made by
/// util-linux `script`, fed the answers on its standard input.
#[cfg(unix)]
#[test]
fn init_on_a_terminal_asks_which_application() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!(
            "skipped: util-linux `script` (which makes the pseudo-terminal) is not installed"
        );
        return;
    }
    let emu = Emu::start();
    let (status, body) = emu.send(
        reqwest::Method::PUT,
        "/_emulator/cloudbees/applications/web",
        Some(json!({"name": "Web shop", "environments": ["prod", "dev"]})),
    );
    assert_eq!(status, 200, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");

    // The command init would run, with its environment, run inside the pseudo-terminal.
    let inner = emu.std_command(&["init"], &repo);
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let line = std::iter::once(quote(inner.get_program()))
        .chain(inner.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => script.env(key, value),
            None => script.env_remove(key),
        };
    }
    let mut child = script
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // An answer that names nothing, then the second application of the list.
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"shop\n2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("2. web (Web shop)"), "{shown}");
    assert!(
        shown.contains("Which one should this repository manage? [1-2]"),
        "{shown}"
    );
    assert!(
        shown.contains("`shop` is neither a number of the list nor an application id"),
        "{shown}"
    );
    let written = std::fs::read_to_string(repo.join("flagsync.yaml")).unwrap();
    assert!(written.contains("application: web\n"), "{written}");
}
