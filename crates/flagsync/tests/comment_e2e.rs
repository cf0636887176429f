//! The pull-request comment (`plan --format markdown`) from a real plan against the
//! emulator: what was planned, grouped with Production first, each change's manifest, the
//! blast radius of a target group, creates and deletes without vendor defaults, an inserted
//! condition whole, and the whole comment, the workflow's marker included, within GitHub's
//! limit.

use std::path::Path;

use crate::common::{Emu, git, quickstart_copy, text};

fn markdown(emu: &Emu, args: &[&str], dir: &Path) -> String {
    let mut all = vec!["plan", "--format", "markdown"];
    all.extend_from_slice(args);
    let out = emu.flagsync(&all, dir);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// The `<details>` section of action `id`.
fn section<'a>(md: &'a str, id: &str) -> &'a str {
    let start = md
        .find(&format!("</code> {id}"))
        .unwrap_or_else(|| panic!("no section for {id}:\n{md}"));
    let end = md[start..].find("</details>").unwrap() + start;
    &md[start..end]
}

fn position(md: &str, needle: &str) -> usize {
    md.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{md}"))
}

#[test]
fn the_comment_says_what_was_planned_production_first() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join(".gitignore"), "/.flagsync/\n").unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "quickstart"]);
    let commit = git(dir, &["rev-parse", "HEAD"]);
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));

    // A condition inserted between two others, a target group changed, a new experiment
    // and a deleted manifest.
    let checkout = dir.join("environments/Production/new-checkout.yml");
    let changed = std::fs::read_to_string(&checkout).unwrap().replace(
        "  - group:\n      name:\n        - Beta Users",
        "  - group:\n      name: Early adopters\n    value: true\n  - group:\n      name:\n        - Beta Users",
    );
    std::fs::write(&checkout, changed).unwrap();
    let group = dir.join("target_groups/Beta Users.yml");
    let changed = std::fs::read_to_string(&group)
        .unwrap()
        .replace("4.6.0", "4.7.0");
    std::fs::write(&group, changed).unwrap();
    std::fs::write(
        dir.join("environments/Staging/search.yml"),
        "type: experiment\nflag: search.v2\nvalue: true\n",
    )
    .unwrap();
    std::fs::remove_file(dir.join("environments/Production/button-color.yml")).unwrap();

    let md = markdown(&emu, &["--prune"], dir);
    // The marker first, then what was planned: applications and revision.
    assert!(
        md.starts_with(
            "<!-- flagsync-plan -->\n### flagsync plan: CloudBees application \
             `5f3c2a1b9d8e7f6a5b4c3d2e` (Production, Staging) and Confidence\n"
        ),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "Repository at `master` (`{}`), with uncommitted changes.",
            &commit[..7]
        )),
        "{md}"
    );
    assert!(md.contains("\nPlan: 1 to create, 2 to update, 1 to delete.\n"));

    // Grouped by provider and environment, Production first, application-wide last.
    let production = position(&md, "#### CloudBees · Production");
    let staging = position(&md, "#### CloudBees · Staging");
    let app_wide = position(&md, "#### CloudBees · application-wide");
    assert!(production < staging && staging < app_wide, "{md}");
    assert!(position(&md, "experiment/Production/ui.buttonColor") < staging);
    assert!(position(&md, "</code> experiment/Staging/search.v2") > staging);
    assert!(position(&md, "</code> target-group/Beta Users") > app_wide);

    // The manifest of each change, and the blast radius of the target group (from the
    // desired and the live state: the deleted experiment used it through its dependency).
    let update = section(&md, "experiment/Production/checkout.newFlow");
    assert!(
        update.contains("<code>environments/Production/new-checkout.yml</code>"),
        "{update}"
    );
    let tg = section(&md, "target-group/Beta Users");
    assert!(
        tg.contains("<code>target&#95;groups/Beta Users.yml</code>"),
        "{tg}"
    );
    assert!(
        tg.contains("used by 2 experiments in Production, 1 in Staging and 1 target group"),
        "{tg}"
    );

    // The inserted condition whole, its neighbours as context.
    assert!(
        update.contains(
            "      value: true\n\
             +   - group:\n\
             +       name:\n\
             +         - Early adopters\n\
             +       operator: or\n\
             +     value: true\n    - group:\n"
        ),
        "{update}"
    );
    assert_eq!(update.matches("\n- ").count(), 0, "{update}");

    // Creates and deletes say what a manifest says, not the vendor defaults.
    let create = section(&md, "experiment/Staging/search.v2");
    assert!(
        create.contains("+ type: experiment\n+ flag: search.v2\n+ value: true\n"),
        "{create}"
    );
    let delete = section(&md, "experiment/Production/ui.buttonColor");
    assert!(delete.contains("- flag: ui.buttonColor\n"), "{delete}");
    for default in [
        "enabled: true",
        "stickinessProperty",
        "archived",
        "labels: []",
        "description: \"\"",
        "platforms: []",
    ] {
        assert!(!create.contains(default), "{default}: {create}");
        assert!(!delete.contains(default), "{default}: {delete}");
    }

    // Another marker, or none.
    let md = markdown(&emu, &["--comment-marker", "<!-- mine -->"], dir);
    assert!(md.starts_with("<!-- mine -->\n### flagsync plan"), "{md}");
    let md = markdown(&emu, &["--comment-marker", ""], dir);
    assert!(md.starts_with("### flagsync plan"), "{md}");
}

#[test]
fn the_whole_comment_fits_a_github_comment_with_its_marker() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    // Far more than a comment holds, with characters JavaScript counts twice.
    for i in 0..400 {
        std::fs::write(
            dir.join(format!("environments/Production/big-{i:03}.yml")),
            format!(
                "type: experiment\nflag: big.flag{i:03}\ndescription: \"{}\"\nlabels: [a, b, c]\nvalue: true\n",
                "🚀 launch ".repeat(20)
            ),
        )
        .unwrap();
    }
    let out = emu.flagsync(&["plan", "--format", "markdown"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let md = String::from_utf8(out.stdout).unwrap();
    // GitHub's limit, counted as the workflow's script counts (UTF-16 units), marker
    // included: the script never truncates it, so the closing note is always there.
    let units = md.encode_utf16().count();
    assert!(units <= 65_536, "{units} UTF-16 units");
    assert!(units > 60_000, "the budget is used: {units}");
    assert!(md.starts_with("<!-- flagsync-plan -->\n"), "{md}");
    assert!(
        md.trim_end().ends_with(
            "to fit in a GitHub comment. Run `flagsync plan --format human` to see the full plan._"
        ),
        "{}",
        &md[md.len() - 300..]
    );
}
