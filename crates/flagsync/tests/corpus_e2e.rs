//! Real configuration files from public repositories (../shared/corpus) through the whole
//! pipeline: applied to the emulator, then planned again, which must find nothing to do.
//! Their shapes (schedules, platforms without values, `value: null`, labels as a string,
//! numeric flags) are exactly where normalization can go wrong.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::{APPLICATION, Emu, text};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/cloudbees-legacy");
    dir.is_dir().then_some(dir)
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

/// `key: value` of the first top-level line with that key, unquoted.
fn top_level(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .map(|v| v.trim().trim_matches('\'').trim_matches('"').to_owned())
}

#[test]
fn every_corpus_file_applies_and_then_plans_empty() {
    let Some(corpus) = corpus() else {
        eprintln!("skipped: ../shared/corpus/cloudbees-legacy is not present");
        return;
    };
    let mut files = Vec::new();
    yaml_files(&corpus, &mut files);
    assert!(!files.is_empty());

    // One repository holding every distinct experiment and target group of the corpus.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("experiments")).unwrap();
    std::fs::create_dir_all(repo.path().join("target_groups")).unwrap();
    let (mut flags, mut groups) = (BTreeSet::new(), BTreeSet::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.file_name().unwrap();
        let (dir, identity, seen) = match top_level(&text, "type").as_deref() {
            Some("experiment") => ("experiments", top_level(&text, "flag"), &mut flags),
            Some("target-group") => ("target_groups", top_level(&text, "name"), &mut groups),
            other => panic!("{}: unexpected type {other:?}", file.display()),
        };
        if seen.insert(identity.unwrap()) {
            std::fs::write(repo.path().join(dir).join(name), &text).unwrap();
        }
    }

    // Declare what the corpus references but leaves out (branches carry drifted copies of
    // target groups, and a dependency names a flag of another branch).
    let loaded = flagsync_manifest::load(&flagsync_source::DirSource::open(repo.path()).unwrap());
    let (mut referenced_groups, mut referenced_flags) = (BTreeSet::new(), BTreeSet::new());
    for env in &loaded.repository.environments {
        for item in &env.experiments {
            for (_, condition) in item.value.all_conditions() {
                if let Some(group) = &condition.group {
                    referenced_groups.extend(group.name.0.iter().cloned());
                }
                if let Some(dependency) = &condition.dependency {
                    referenced_flags.insert(dependency.flag.clone());
                }
            }
        }
    }
    for (i, group) in referenced_groups.difference(&groups).enumerate() {
        std::fs::write(
            repo.path().join("target_groups").join(format!("stub {i}.yml")),
            format!(
                "type: target-group\nname: '{group}'\nconditions:\n  - operator: is-true\n    property: stub\n"
            ),
        )
        .unwrap();
    }
    for (i, flag) in referenced_flags.difference(&flags).enumerate() {
        std::fs::write(
            repo.path().join("experiments").join(format!("stub {i}.yml")),
            format!(
                "type: experiment\nflag: '{flag}'\navailableValues: ['Watch Him', other]\nvalue: other\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(
        repo.path().join("flagsync.yaml"),
        format!(
            "cloudbees:\n  application: {APPLICATION}\n  target_groups: target_groups\n  environments:\n    Production: {{ experiments: experiments }}\n"
        ),
    )
    .unwrap();

    let emu = Emu::start();
    let out = emu.flagsync(&["validate"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    let declared = std::fs::read_dir(repo.path().join("experiments"))
        .unwrap()
        .count()
        + std::fs::read_dir(repo.path().join("target_groups"))
            .unwrap()
            .count();
    let out = emu.flagsync(&["apply", "--auto-approve"], repo.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "Apply complete: {declared} succeeded, 0 failed, 0 never ran."
        )),
        "{}",
        text(&out)
    );
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], repo.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
