//! The diagnostic codes are the contract of `validate --format json`: README.md lists every
//! one, with the severity and meaning the code documents.

use std::path::PathBuf;

use flagsync_manifest::Code;

#[test]
fn readme_lists_every_diagnostic_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    // Only the codes table: the section under its heading, up to the next heading.
    let section = readme
        .split("### `validate --format json`")
        .nth(1)
        .expect("README.md has a `validate --format json` section");
    let section = section.split("\n#").next().unwrap_or(section);
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    for code in Code::ALL {
        let row = format!(
            "| `{}` | {} | {} |",
            code.as_str(),
            code.documented_severity(),
            code.meaning()
        );
        assert!(
            rows.contains(&row.as_str()),
            "README.md lacks the row\n{row}"
        );
    }
    // Rows of the codes table: the first cell is one backticked word.
    let listed: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.strip_prefix("| `")?.split('`').next())
        .filter(|word| !word.contains(' '))
        .collect();
    let known: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        listed, known,
        "README.md lists other codes, or another order"
    );
}

/// README.md's table of defaults is the defaults table: every field, with its value on each
/// side and what export does with it, and no other row.
#[test]
fn readme_lists_every_default() {
    use flagsync_manifest::Kind;
    use flagsync_manifest::defaults::{self, Export, Side};

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let section = readme
        .split("### What the CloudBees format means")
        .nth(1)
        .expect("README.md has a `What the CloudBees format means` section");
    let section = section.split("\n#").next().unwrap_or(section);
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("` | `"))
        .collect();
    let mut expected = Vec::new();
    for kind in Kind::ALL {
        for d in defaults::table(kind) {
            let value = |side| serde_json::to_string(&d.value(side)).unwrap();
            expected.push(format!(
                "| {} | `{}` | `{}` | `{}` | {} |",
                d.object,
                d.field,
                value(Side::Manifest),
                value(Side::Live),
                match d.export {
                    Export::Omitted => "omitted",
                    Export::Written => "written",
                }
            ));
        }
    }
    assert_eq!(rows, expected, "README.md's table of defaults");
}
