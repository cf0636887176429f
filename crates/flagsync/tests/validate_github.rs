//! `flagsync validate --format github`: GitHub Actions workflow commands that the runner
//! turns into annotations on the pull request's lines.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validate_github(cwd: &Path, dir: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("flagsync")
        .unwrap()
        .current_dir(cwd)
        .env("RUST_LOG", "off")
        .args(["validate", dir, "--format", "github"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("UTF-8"),
    )
}

#[test]
fn broken_gives_one_annotation_per_diagnostic_on_its_lines() {
    let (code, stdout) = validate_github(&workspace(), "examples/broken", &[]);
    assert_eq!(code, Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let (summary, commands) = lines.split_last().unwrap();
    assert_eq!(
        *summary,
        "validated 27 files (9 experiments in 1 environment, 4 target groups, 3 rollouts): 22 errors, 3 warnings"
    );
    assert_eq!(commands.len(), 25, "{stdout}");
    assert_eq!(
        commands
            .iter()
            .filter(|l| l.starts_with("::error "))
            .count(),
        22
    );
    assert_eq!(
        commands
            .iter()
            .filter(|l| l.starts_with("::warning "))
            .count(),
        3
    );
    // Paths are relative to the working directory (the checkout), not to the repository.
    assert!(
        commands
            .iter()
            .all(|l| l.contains(" file=examples/broken/")),
        "{stdout}"
    );
    // A span on one line: line, columns and end; help on a second line of the message.
    assert!(
        lines.contains(
            &"::error file=examples/broken/experiments/unknown-field.yml,line=3,col=1,endLine=3,endColumn=17,title=flagsync unknown-field::unknown field `stickinessProprty`%0Ahelp: did you mean `stickinessProperty`?"
        ),
        "{stdout}"
    );
    // A span over several lines: no columns (GitHub takes them only on one line).
    assert!(
        lines.contains(
            &"::error file=examples/broken/experiments/percentage.yml,line=5,endLine=8,title=flagsync percentage-range::split percentages add up to 120, more than 100"
        ),
        "{stdout}"
    );
    // `%` in a message is escaped, or the runner would decode it.
    assert!(stdout.contains("reach is a fraction: 50%25 is"), "{stdout}");
    assert!(
        lines.iter().any(|l| l.starts_with(
            "::warning file=examples/broken/experiments/warnings.yml,line=9,col=12,endLine=9,endColumn=17,title=flagsync value-not-available::"
        )),
        "{stdout}"
    );
}

#[test]
fn properties_escape_separators_and_warnings_fail_only_when_strict() {
    // A legacy repository whose file name holds the property separators.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("experiments")).unwrap();
    std::fs::create_dir_all(repo.path().join("target_groups")).unwrap();
    std::fs::write(
        repo.path().join("experiments/a,b:c%.yml"),
        "type: experiment\nflag: f.one\navailableValues: [red, blue]\nvalue:\n  - option: red\n    percentage: 40\n  - option: blue\n    percentage: 40\n",
    )
    .unwrap();
    let (code, stdout) = validate_github(repo.path(), ".", &[]);
    assert_eq!(code, Some(0), "a warning alone passes: {stdout}");
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with("::warning file=experiments/a%2Cb%3Ac%25.yml,line=5,endLine=8,"),
        "{stdout}"
    );
    assert!(
        first.contains(",title=flagsync split-under-100::split percentages add up to 80, less than 100%0Ahelp: "),
        "{stdout}"
    );
    assert!(stdout.ends_with(": 0 errors, 1 warning\n"), "{stdout}");

    let (code, _) = validate_github(repo.path(), ".", &["--strict"]);
    assert_eq!(code, Some(1));

    // The repository given as an absolute path inside the working directory.
    let abs = repo.path().to_str().unwrap();
    let (_, stdout) = validate_github(repo.path(), abs, &[]);
    assert!(
        stdout.starts_with("::warning file=experiments/a%2Cb%3Ac%25.yml,"),
        "{stdout}"
    );
}
