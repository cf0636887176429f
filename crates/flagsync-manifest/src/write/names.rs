//! File names for exported manifests: the resource's identity, made safe on every OS; and
//! the manifest id of a rollout made elsewhere, from its display name.
//!
//! Spaces and non-ASCII letters are kept (real repositories name files `Beta Users.yml`);
//! what Windows, macOS or Linux cannot store, or stores under another name, is replaced.
//! Collisions, including those that differ only by case (case-insensitive file systems),
//! are made unique with a suffix derived from the identity, so a name does not depend on
//! which other resources happen to exist.

use std::collections::BTreeSet;

/// Bytes kept of a long name, well below the usual 255-byte limit once a suffix and `.yml`
/// are added.
const MAX_STEM_BYTES: usize = 120;

const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Characters kept of a display name in a rollout id, leaving room for a suffix within a
/// label value's 63.
const MAX_ROLLOUT_SLUG: usize = 40;

/// A rollout manifest id (a valid label value: lowercase letters, digits and `-`) from a
/// display name: `New Search Feature!` → `new-search-feature`; with `suffix` (part of an
/// instance id, to tell apart rollouts of one name) `new-search-feature-brcdajvw`. A name
/// with nothing usable gives `rollout`.
pub fn rollout_id(display_name: &str, suffix: Option<&str>) -> String {
    let mut slug = String::new();
    for c in display_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_ROLLOUT_SLUG);
    let mut slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        slug.push_str("rollout");
    }
    if let Some(suffix) = suffix {
        let suffix: String = suffix
            .chars()
            .flat_map(char::to_lowercase)
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(63 - slug.len() - 1)
            .collect();
        let suffix = suffix.trim_matches('-');
        if !suffix.is_empty() {
            slug.push('-');
            slug.push_str(suffix);
        }
    }
    slug
}

/// The identity as a file stem that every common file system accepts unchanged.
pub fn safe_stem(identity: &str) -> String {
    let mut stem: String = identity
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    // Windows drops trailing dots and spaces; a leading dot hides the file on Unix.
    let kept = stem.trim_end_matches(['.', ' ']).len();
    if kept < stem.len() {
        stem.truncate(kept);
        stem.push('_');
    }
    if stem.starts_with('.') {
        stem.replace_range(0..1, "_");
    }
    if stem.is_empty() {
        stem.push('_');
    }
    // `CON`, `con.txt`, `Lpt1.yml`: reserved whatever the case and the extension.
    let base = stem.split('.').next().unwrap_or_default().trim_end();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(base)) {
        stem.insert(0, '_');
    }
    if stem.len() > MAX_STEM_BYTES {
        let mut cut = MAX_STEM_BYTES;
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        stem.truncate(cut);
        stem.push('~');
        stem.push_str(&short_hash(identity));
    }
    stem
}

/// Chooses a file name (`<stem><ending>`: `.yml`, `.yaml`, `.config.yaml`) for each
/// identity, avoiding `taken` (names already used in the directory, compared
/// case-insensitively) and each other. Deterministic: the same identities and taken names
/// give the same names.
pub fn assign_with(identities: &[String], taken: &BTreeSet<String>, ending: &str) -> Vec<String> {
    let mut used: BTreeSet<String> = taken.iter().map(|n| n.to_lowercase()).collect();
    let mut out = Vec::with_capacity(identities.len());
    for identity in identities {
        let stem = safe_stem(identity);
        let mut name = format!("{stem}{ending}");
        if used.contains(&name.to_lowercase()) {
            name = format!("{stem}~{}{ending}", short_hash(identity));
            let mut n = 2u32;
            while used.contains(&name.to_lowercase()) {
                name = format!("{stem}~{}-{n}{ending}", short_hash(identity));
                n += 1;
            }
        }
        used.insert(name.to_lowercase());
        out.push(name);
    }
    out
}

/// Eight hex digits of FNV-1a over the identity: stable across runs and platforms.
fn short_hash(identity: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in identity.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:08x}", (hash >> 32) ^ (hash & 0xffff_ffff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_characters_are_replaced_and_letters_kept() {
        assert_eq!(safe_stem("a/b"), "a_b");
        assert_eq!(safe_stem(r#"a\b:c*d?e"f<g>h|i"#), "a_b_c_d_e_f_g_h_i");
        assert_eq!(safe_stem("Bêta users"), "Bêta users");
        assert_eq!(safe_stem("tab\there"), "tab_here");
        assert_eq!(safe_stem("ui.buttonColor"), "ui.buttonColor");
    }

    #[test]
    fn reserved_names_and_trailing_dots_are_avoided() {
        assert_eq!(safe_stem("CON"), "_CON");
        assert_eq!(safe_stem("con.txt"), "_con.txt");
        assert_eq!(safe_stem("Lpt9"), "_Lpt9");
        assert_eq!(safe_stem("CONSOLE"), "CONSOLE");
        assert_eq!(safe_stem("name."), "name_");
        assert_eq!(safe_stem("name. ."), "name_");
        assert_eq!(safe_stem("..."), "_");
        assert_eq!(safe_stem(".hidden"), "_hidden");
        assert_eq!(safe_stem(""), "_");
        assert_eq!(safe_stem(".."), "_");
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(200);
        let stem = safe_stem(&long);
        assert!(stem.len() <= MAX_STEM_BYTES + 9, "{}", stem.len());
        assert_ne!(
            safe_stem(&format!("{long}a")),
            safe_stem(&format!("{long}b"))
        );
    }

    #[test]
    fn collisions_are_unique_case_insensitively_and_deterministic() {
        let ids = vec!["a/b".to_owned(), "a:b".to_owned(), "A_B".to_owned()];
        let taken = BTreeSet::from(["other.yml".to_owned()]);
        let names = assign_with(&ids, &taken, ".yml");
        assert_eq!(names[0], "a_b.yml");
        let lower: BTreeSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(lower.len(), 3, "{names:?}");
        assert_eq!(names, assign_with(&ids, &taken, ".yml"));
        let names = assign_with(&["Other".to_owned()], &taken, ".yml");
        assert_ne!(names[0].to_lowercase(), "other.yml");
    }

    #[test]
    fn rollout_ids_from_display_names() {
        assert_eq!(
            rollout_id("New Search Feature Rollout", None),
            "new-search-feature-rollout"
        );
        assert_eq!(rollout_id("  Größe / 2.0 ", None), "gr-e-2-0");
        assert_eq!(rollout_id("!!!", None), "rollout");
        assert_eq!(
            rollout_id("Mobile UI", Some("BNKV2onacdpvxk8cmqbm")),
            "mobile-ui-bnkv2onacdpvxk8cmqbm"
        );
        let long = rollout_id(&"x".repeat(100), Some(&"y".repeat(100)));
        assert_eq!(long.len(), 63);
        assert!(crate::rules::is_valid_rollout_id(&long));
        for id in [rollout_id("-a-", None), rollout_id("A b", Some("--c--"))] {
            assert!(crate::rules::is_valid_rollout_id(&id), "{id}");
        }
    }
}
