//! Shell completions and manual pages, generated from the command definition.

use std::process::Output;

use assert_cmd::Command;

use crate::common::text;

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

/// Every command a completion script must offer.
const COMMANDS: [&str; 16] = [
    "validate",
    "plan",
    "apply",
    "diff",
    "export",
    "fmt",
    "convert",
    "doctor",
    "init",
    "dedupe",
    "results",
    "emulator",
    "schema",
    "show",
    "completions",
    "man",
];

#[test]
fn completions_for_every_shell_know_every_command() {
    for (shell, marker) in [
        ("bash", "complete -F _flagsync"),
        ("zsh", "#compdef flagsync"),
        ("fish", "complete -c flagsync"),
        (
            "powershell",
            "Register-ArgumentCompleter -Native -CommandName 'flagsync'",
        ),
        ("elvish", "set edit:completion:arg-completer[flagsync]"),
    ] {
        let out = flagsync(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in COMMANDS {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
        assert!(script.contains("detailed-exitcode"), "{shell}");
    }
    let out = flagsync(&["completions", "nushell"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

/// What bash completes for the words typed so far, with the script loaded as a user loads it.
fn bash_complete(script: &str, words: &[&str]) -> String {
    let words = words.join(" ");
    let cword = words.split(' ').count() - 1;
    let program = format!(
        "source /dev/stdin\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\n_flagsync flagsync \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"\necho \"${{COMPREPLY[*]}}\""
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .stdin_bytes(script)
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    stdout(&out).trim().to_owned()
}

trait StdinBytes {
    fn stdin_bytes(&mut self, input: &str) -> std::io::Result<Output>;
}

impl StdinBytes for std::process::Command {
    fn stdin_bytes(&mut self, input: &str) -> std::io::Result<Output> {
        use std::io::Write;
        let mut child = self
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        child.stdin.take().unwrap().write_all(input.as_bytes())?;
        child.wait_with_output()
    }
}

#[test]
fn bash_completes_commands_options_and_values() {
    let script = stdout(&flagsync(&["completions", "bash"]));
    assert_eq!(bash_complete(&script, &["flagsync", "sh"]), "show");
    assert_eq!(
        bash_complete(&script, &["flagsync", "plan", "--detailed"]),
        "--detailed-exitcode"
    );
    assert_eq!(
        bash_complete(&script, &["flagsync", "validate", "--format", "g"]),
        "github"
    );
    assert_eq!(
        bash_complete(&script, &["flagsync", "completions", "p"]),
        "powershell"
    );
}

#[test]
fn man_prints_flagsync_1_and_writes_a_page_per_command() {
    let out = flagsync(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH flagsync 1"), "{page}");
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    assert!(
        page.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))),
        "{page}"
    );
    assert_groff_clean(&page);

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = flagsync(&["man", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut written: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut expected: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("flagsync-{c}.1"))
        .chain(["flagsync.1".to_owned()])
        .collect();
    expected.sort();
    assert_eq!(written, expected);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("flagsync.1")).unwrap(),
        page
    );
    let plan = std::fs::read_to_string(out_dir.join("flagsync-plan.1")).unwrap();
    assert!(plan.contains(".TH flagsync-plan 1"), "{plan}");
    assert!(plan.contains("detailed\\-exitcode"), "{plan}");
    assert_groff_clean(&plan);
}

/// groff (on every machine of this project, with man) reads the page without a warning.
fn assert_groff_clean(page: &str) {
    let out = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin_bytes(page)
        .expect("groff runs");
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
}
