//! `flagsync fmt`: manifests rewritten in the form export writes, without changing what
//! they mean (a plan against the emulator stays empty), comments kept or refused, and
//! nothing written outside the repository.

use std::path::Path;
use std::process::Output;

use crate::common::{Emu, quickstart_copy, text, tree};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn fmt_writes_the_canonical_form_and_changes_no_meaning() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));

    let before = tree(dir);
    let out = emu.flagsync(&["fmt", "--check"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("would reformat target_groups/Internal team.yml\n"),
        "{}",
        text(&out)
    );
    assert_eq!(tree(dir), before, "--check writes nothing");

    let out = emu.flagsync(&["fmt"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("formatted environments/Production/new-checkout.yml\n"),
        "{}",
        text(&out)
    );
    // The emitter's form: one label list in flow style, the group's operator written.
    let checkout =
        std::fs::read_to_string(dir.join("environments/Production/new-checkout.yml")).unwrap();
    assert!(
        checkout.starts_with("type: experiment\nflag: checkout.newFlow\n"),
        "{checkout}"
    );
    assert!(
        checkout.contains("labels: [checkout, gradual-rollout]\n"),
        "{checkout}"
    );
    // Same meaning: live state still matches.
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Formatting is stable.
    let formatted = tree(dir);
    let out = emu.flagsync(&["fmt", "--check"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = emu.flagsync(&["fmt"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(tree(dir), formatted);
}

#[test]
fn comments_are_kept_at_the_top_and_refused_elsewhere() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    let header = "# yaml-language-server: $schema=../schemas/target-group.schema.json\n\n";
    let headed = dir.join("target_groups/Internal team.yml");
    let body = std::fs::read_to_string(&headed).unwrap();
    std::fs::write(&headed, format!("{header}{body}")).unwrap();
    let commented = dir.join("target_groups/Large accounts.yml");
    let original = std::fs::read_to_string(&commented)
        .unwrap()
        .replace("operand: 100", "operand: 100 # seats, not users");
    std::fs::write(&commented, &original).unwrap();

    let out = emu.flagsync(&["fmt"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("target_groups/Large accounts.yml: not formatted: it has comments (line 6)"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&commented).unwrap(), original);
    let formatted = std::fs::read_to_string(&headed).unwrap();
    assert!(formatted.starts_with(header), "{formatted}");
    assert!(formatted.contains("operator: and\n"), "{formatted}");

    let out = emu.flagsync(&["fmt", "--force"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let forced = std::fs::read_to_string(&commented).unwrap();
    assert!(
        !forced.contains('#') && forced.contains("operand: 100\n"),
        "{forced}"
    );
}

#[test]
fn fmt_refuses_invalid_manifests_and_never_writes_outside_the_repository() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("group.yml");
    let text_outside =
        "type: target-group\nname: Outside\nconditions:\n  - property: a\n    operator: is-true\n";
    std::fs::write(&target, text_outside).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, dir.join("target_groups/Outside.yml")).unwrap();

    let before = tree(dir);
    let out = emu.flagsync(&["fmt"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing was formatted"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), text_outside);
    assert_eq!(tree(dir), before);
    assert!(Path::new(&target).exists());
}
