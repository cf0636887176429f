//! `flagsync fmt`: every manifest of a repository in its canonical form, the form export
//! writes. Each file is read through the model, normalized, and written back by the same
//! functions and emitter as export; the result is proved to normalize to the same body, so
//! formatting never changes what a manifest means.
//!
//! Comments: the emitter writes values, and a comment belongs to no value it knows, so
//! only a file's leading block of comments (a schema modeline, a licence) is kept. A file
//! with any other comment is reported and left alone unless the caller accepts losing them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::manifest::{Canonicalize, Mismatch, check, in_manifest_order, manifest};
use super::yaml::to_yaml;
use crate::kind::Kind;
use crate::model::{Manifest, Resource};
use crate::repository::{Item, Repository};
use crate::yaml::comments;

/// One manifest file and its canonical text.
#[derive(Debug)]
pub struct Formatted {
    /// Relative to the repository, with `/`.
    pub file: String,
    /// The canonical text: the file's leading comments, then the manifest as export writes
    /// it.
    pub content: String,
    /// The file's text is not the canonical one.
    pub changed: bool,
    /// The line of the first comment that formatting would drop.
    pub comment_line: Option<usize>,
    /// Why the canonical text would not mean what the file means (then it must not be
    /// written).
    pub mismatch: Option<Mismatch>,
}

/// Every manifest file of `repo` read from this tree (not from other branches), with its
/// canonical text; `sources` holds the files' texts as loaded.
pub fn format(
    repo: &Repository,
    sources: &BTreeMap<String, String>,
    canonicalize: Canonicalize<'_>,
) -> Vec<Formatted> {
    let mut out = Vec::new();
    let mut add = |kind: Kind, identity: &str, file: &str, typed: Manifest| {
        let Some(text) = sources.get(file) else {
            return;
        };
        let canonical = canonicalize(&typed);
        let mut written = manifest(kind, identity, &canonical);
        // An experiment's `name` means nothing to the service (the canonical form drops
        // it), but it is the file's to say: kept where export writes nothing.
        if let (Manifest::Experiment(e), Value::Object(map)) = (&typed, &mut written)
            && let Some(name) = &e.name
        {
            map.insert("name".into(), Value::String(name.clone()));
            written = in_manifest_order(written);
        }
        let mismatch = check(kind, &written, &canonical, canonicalize).err();
        let found = comments(text);
        let content = format!("{}{}", found.header, to_yaml(&written));
        out.push(Formatted {
            file: file.to_owned(),
            changed: content != *text,
            content,
            comment_line: found.first_inner,
            mismatch,
        });
    };
    fn each<T: Resource + Clone>(
        items: &[Item<T>],
        wrap: fn(T) -> Manifest,
        add: &mut dyn FnMut(Kind, &str, &str, Manifest),
    ) {
        for item in items {
            add(
                T::KIND,
                item.value.identity(),
                &item.file,
                wrap(item.value.clone()),
            );
        }
    }
    each(&repo.target_groups, Manifest::TargetGroup, &mut add);
    for env in repo.environments.iter().filter(|e| e.branch.is_none()) {
        each(&env.experiments, Manifest::Experiment, &mut add);
    }
    each(&repo.rollouts, |r| Manifest::Rollout(Box::new(r)), &mut add);
    if let Some(casc) = &repo.casc {
        // Only files of the tree itself, never files a tree was translated from.
        let prefix = format!("{}/", casc.dir.trim_end_matches('/'));
        let mut add = |kind: Kind, identity: &str, file: &str, typed: Manifest| {
            if casc.dir.is_empty() || casc.dir == "." || file.starts_with(&prefix) {
                add(kind, identity, file, typed);
            }
        };
        each(&casc.properties, Manifest::CustomProperty, &mut add);
        each(&casc.target_groups, Manifest::UnifyTargetGroup, &mut add);
        each(&casc.flags, Manifest::Flag, &mut add);
        for env in &casc.environments {
            each(&env.configurations, Manifest::FlagConfiguration, &mut add);
        }
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}
