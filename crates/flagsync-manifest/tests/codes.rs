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
