//! CloudBees Unify CasC manifests from canonical Unify bodies (the form
//! `flagsync_plan::unify` defines: the API's shapes with names for references), and the
//! files of a whole CasC tree: `flags/<flag>.yaml`,
//! `flag-configurations/<environment>/<flag>.config.yaml`, `target-groups/<name>.yaml`,
//! `properties/<name>.yaml`, as CloudBees' git sync lays them out.
//!
//! Like the legacy manifests, each is written without the defaults the table marks
//! `Omitted`, in a fixed key order, and proved to read back to the same canonical body.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::manifest::{Canonicalize, Mismatch, check};
use super::{File, names, to_yaml};
use crate::defaults::{FieldDefault, omitted_from_export, unify as defaults};
use crate::kind::Kind;
use crate::model::unify::{API_VERSION, FlagType, PropertyType};

/// The order keys are written in, the one CloudBees' own files use. Keys not listed follow,
/// alphabetically.
const KEY_ORDER: &[&str] = &[
    "apiVersion",
    "kind",
    "flag",
    "name",
    "flagType",
    "type",
    "description",
    "labels",
    "availableValues",
    "isPermanent",
    "enabled",
    "stickinessProperty",
    "defaultValue",
    "conditions",
    "allOf",
    "anyOf",
    "not",
    "property",
    "group",
    "operator",
    "operands",
    "value",
    "flagValue",
    "from",
    "option",
    "percentage",
];

/// `apiVersion` and `kind`, `first`, then each field of the canonical body that `field`
/// keeps, under the name it returns.
fn manifest_of(
    kind: Kind,
    first: &[(&str, Value)],
    canonical: &Value,
    field: impl Fn(&str, &Value) -> Option<(String, Value)>,
) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(API_VERSION));
    out.insert("kind".into(), json!(kind.tag()));
    for (key, value) in first {
        out.insert((*key).to_owned(), value.clone());
    }
    if let Value::Object(body) = canonical {
        for (key, value) in body {
            if let Some((key, value)) = field(key, value) {
                out.insert(key, value);
            }
        }
    }
    ordered(Value::Object(out))
}

/// The field as it is, unless it has the default the table leaves out.
fn kept(defaults: &[FieldDefault], key: &str, value: &Value) -> Option<(String, Value)> {
    (!omitted_from_export(defaults, key, value)).then(|| (key.to_owned(), value.clone()))
}

/// A flag's manifest: `name` is written `flag`, `variants` `availableValues`, the type in
/// lowercase.
pub(super) fn flag(canonical: &Value) -> Value {
    let name = canonical.get("name").cloned().unwrap_or(Value::Null);
    manifest_of(
        Kind::Flag,
        &[("flag", name)],
        canonical,
        |key, value| match key {
            "name" => None,
            "flagType" => {
                let casc = value
                    .as_str()
                    .and_then(FlagType::from_api_name)
                    .map_or_else(|| value.clone(), |t| json!(t.casc_name()));
                Some((key.to_owned(), casc))
            }
            "variants" => {
                kept(defaults::FLAG, key, value).map(|(_, v)| ("availableValues".into(), v))
            }
            _ => kept(defaults::FLAG, key, value),
        },
    )
}

/// A flag configuration's manifest; `flag` names the flag it configures.
pub(super) fn configuration(flag: &str, canonical: &Value) -> Value {
    manifest_of(
        Kind::FlagConfiguration,
        &[("flag", json!(flag))],
        canonical,
        |key, value| kept(defaults::CONFIGURATION, key, value),
    )
}

pub(super) fn target_group(canonical: &Value) -> Value {
    manifest_of(Kind::UnifyTargetGroup, &[], canonical, |key, value| {
        kept(defaults::TARGET_GROUP, key, value)
    })
}

/// A custom property's manifest, its type in the CasC spelling (`Datetime`).
pub(super) fn property(canonical: &Value) -> Value {
    manifest_of(
        Kind::CustomProperty,
        &[],
        canonical,
        |key, value| match key {
            "type" => {
                let casc = value
                    .as_str()
                    .and_then(PropertyType::from_api_name)
                    .map_or_else(|| value.clone(), |t| json!(t.casc_name()));
                Some((key.to_owned(), casc))
            }
            _ => kept(defaults::PROPERTY, key, value),
        },
    )
}

/// Reorders every map's keys per [`KEY_ORDER`], recursively.
fn ordered(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            let rank = |k: &str| {
                KEY_ORDER
                    .iter()
                    .position(|o| *o == k)
                    .unwrap_or(KEY_ORDER.len())
            };
            entries.sort_by(|(a, _), (b, _)| (rank(a), a).cmp(&(rank(b), b)));
            Value::Object(entries.into_iter().map(|(k, v)| (k, ordered(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(ordered).collect()),
        other => other,
    }
}

/// One resource of a CasC tree to write.
#[derive(Debug, Clone, Copy)]
pub struct CascResource<'a> {
    pub kind: Kind,
    /// A flag configuration's environment.
    pub env: Option<&'a str>,
    /// The name (a configuration's flag).
    pub identity: &'a str,
    pub canonical: &'a Value,
}

/// The files of a CasC tree, and the resources whose manifest would not reproduce their
/// body exactly.
#[derive(Debug)]
pub struct CascTree {
    pub files: Vec<File>,
    pub not_reproduced: Vec<(String, Mismatch)>,
}

/// Why a tree cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum CascError {
    /// The folder of an environment is its name, so the name must be one a folder can have.
    #[error(
        "environment `{name}` cannot be a folder name: a CasC tree keeps its configurations in flag-configurations/<environment>/"
    )]
    #[diagnostic(help(
        "CloudBees Unify reads the folder's name as the environment's; rename the environment"
    ))]
    EnvironmentName { name: String },
    #[error("a {kind} resource belongs to no folder of a CasC tree")]
    NotCasc { kind: Kind },
}

/// Lays `resources` out as the files of a CasC tree at `dir`, named after their identities
/// (made safe on every OS; configurations end `.config.yaml`). Names are chosen among the
/// tree's own files only, so the same resources always give the same files.
pub fn casc_tree(
    dir: &str,
    resources: &[CascResource<'_>],
    canonicalize: Canonicalize<'_>,
) -> Result<CascTree, CascError> {
    let mut folders: BTreeMap<String, Vec<(&CascResource<'_>, Value)>> = BTreeMap::new();
    let mut not_reproduced = Vec::new();
    for r in resources {
        let Some(sub) = r.kind.casc_folder() else {
            return Err(CascError::NotCasc { kind: r.kind });
        };
        let mut folder = join(dir, sub);
        if let Some(env) = r.env {
            if names::safe_stem(env) != env || env.contains('/') {
                return Err(CascError::EnvironmentName {
                    name: env.to_owned(),
                });
            }
            folder = join(&folder, env);
        }
        let manifest = super::manifest(r.kind, r.identity, r.canonical);
        if let Err(mismatch) = check(r.kind, &manifest, r.canonical, canonicalize) {
            let label = match r.env {
                Some(env) => format!("{} {env}/{}", r.kind, r.identity),
                None => format!("{} {}", r.kind, r.identity),
            };
            not_reproduced.push((label, mismatch));
        }
        folders.entry(folder).or_default().push((r, manifest));
    }
    let mut files = Vec::new();
    for (folder, mut items) in folders {
        items.sort_by(|a, b| a.0.identity.cmp(b.0.identity));
        let ending = match items.first().map(|(r, _)| r.kind) {
            Some(Kind::FlagConfiguration) => ".config.yaml",
            _ => ".yaml",
        };
        let identities: Vec<String> = items.iter().map(|(r, _)| r.identity.to_owned()).collect();
        let file_names = names::assign_with(&identities, &BTreeSet::new(), ending);
        for ((_, manifest), name) in items.into_iter().zip(file_names) {
            files.push(File {
                rel: join(&folder, &name),
                content: to_yaml(&manifest),
                replaces: None,
            });
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(CascTree {
        files,
        not_reproduced,
    })
}

fn join(dir: &str, sub: &str) -> String {
    match dir.trim_end_matches('/') {
        "" | "." => sub.to_owned(),
        d => format!("{d}/{sub}"),
    }
}
