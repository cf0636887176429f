//! The CloudBees Unify CasC layout: its four folders, the environment folders of
//! `flag-configurations/`, and the checks across its files (one file per identity, the flag
//! of each configuration, values against their flag's type, references by name, cycles).

use std::collections::{BTreeMap, HashMap, HashSet};

use flagsync_source::Tree;

use super::crossref::{CrossFinding, Edge, Edges, Identity, cycles, dedup, report};
use super::files::{Slot, Task, is_manifest_file, list_files, report_refused};
use crate::code::Code;
use crate::diagnostic::{Diagnostic, Severity, did_you_mean, whole_file};
use crate::kind::Kind;
use crate::model::PathSeg;
use crate::model::unify::{Flag, FlagRef, FlagType, FlagValue, Parts, is_builtin_property};
use crate::repository::{Casc, CascEnvironment};

/// `dir/sub`, where `dir` may be the root (`""` or `.`).
fn join(dir: &str, sub: &str) -> String {
    match dir.trim_end_matches('/') {
        "" | "." => sub.to_owned(),
        d => format!("{d}/{sub}"),
    }
}

fn folder(casc: &Casc, kind: Kind) -> String {
    join(&casc.dir, kind.casc_folder().unwrap_or_default())
}

/// Adds the files of the tree to `tasks`, and its environments to `casc`: those of
/// `configured` (flagsync.yaml's), or every folder of `flag-configurations/` when `None`.
pub(super) fn list<'t>(
    tasks: &mut Vec<Task<'t>>,
    root: &'t dyn Tree,
    casc: &mut Casc,
    configured: Option<&[String]>,
    diags: &mut Vec<Diagnostic>,
) {
    for (kind, slot) in [
        (Kind::CustomProperty, Slot::Properties),
        (Kind::UnifyTargetGroup, Slot::CascTargetGroups),
        (Kind::Flag, Slot::Flags),
    ] {
        list_files(tasks, root, None, &folder(casc, kind), slot, diags);
    }
    if let Some(names) = configured {
        casc.environments = names
            .iter()
            .map(|name| CascEnvironment {
                name: name.clone(),
                configurations: Vec::new(),
            })
            .collect();
    }
    let base = folder(casc, Kind::FlagConfiguration);
    let files = match root.list(&base) {
        Ok(listing) => {
            report_refused(listing.refused, None, diags);
            listing.files
        }
        Err(e) => {
            diags.push(whole_file(
                Severity::Error,
                Code::ReadError,
                &base,
                e.to_string(),
                None,
            ));
            return;
        }
    };
    // Folders that are no configured environment, with the first file of each.
    let mut unknown: BTreeMap<String, String> = BTreeMap::new();
    for f in files.into_iter().filter(|f| is_manifest_file(&f.path)) {
        let rel = f.path[base.len()..].trim_start_matches('/');
        let slot = match rel.split_once('/') {
            None => {
                diags.push(whole_file(
                    Severity::Error,
                    Code::UnknownEnvironment,
                    &f.path,
                    "a flag configuration outside an environment's folder",
                    Some(format!(
                        "move it to {base}/<environment>/, the folder named after the environment it configures"
                    )),
                ));
                Slot::Configurations(None)
            }
            Some((env, _)) => match casc.environments.iter().position(|e| e.name == env) {
                Some(i) => Slot::Configurations(Some(i)),
                None if configured.is_none() => {
                    casc.environments.push(CascEnvironment {
                        name: env.to_owned(),
                        configurations: Vec::new(),
                    });
                    Slot::Configurations(Some(casc.environments.len() - 1))
                }
                None => {
                    unknown
                        .entry(env.to_owned())
                        .or_insert_with(|| f.path.clone());
                    Slot::Configurations(None)
                }
            },
        };
        tasks.push(Task {
            tree: root,
            file: f.path.clone(),
            path: f.path,
            slot,
            // The legacy format's archived folder means nothing in a CasC tree.
            archived: false,
        });
    }
    let names: Vec<&str> = configured
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    for (env, file) in unknown {
        let help = match did_you_mean(&env, names.iter().copied()) {
            Some(h) => format!("did you mean `{h}`? The folder is the environment's name"),
            None => format!(
                "add `{env}` to cloudbees.environments in flagsync.yaml, or remove the folder"
            ),
        };
        diags.push(whole_file(
            Severity::Error,
            Code::UnknownEnvironment,
            &file,
            format!(
                "`{env}` (the folder of this file) is no environment flagsync.yaml names; its configurations are not read"
            ),
            Some(help),
        ));
    }
}

/// What a condition tree refers to.
enum Ref<'a> {
    Group(&'a str),
    Property(&'a str),
    Flag(&'a FlagRef),
}

/// Every reference under `parts`, with the path of the name that makes it.
fn references<'a>(parts: Parts<'a>, path: &[PathSeg], out: &mut Vec<(Ref<'a>, Vec<PathSeg>)>) {
    let at = |more: [&'static str; 2]| {
        let mut p = path.to_vec();
        p.extend(more.map(PathSeg::key));
        p
    };
    if let Some(g) = parts.group {
        out.push((Ref::Group(&g.name), at(["group", "name"])));
    }
    if let Some(p) = parts.property {
        out.push((Ref::Property(&p.name), at(["property", "name"])));
    }
    if let Some(f) = parts.flag {
        out.push((Ref::Flag(f), at(["flag", "name"])));
    }
    for (key, items) in [("allOf", parts.all_of), ("anyOf", parts.any_of)] {
        for (i, item) in items.unwrap_or_default().iter().enumerate() {
            let mut p = path.to_vec();
            p.extend([PathSeg::key(key), PathSeg::Index(i)]);
            references(item.parts(), &p, out);
        }
    }
    if let Some(not) = parts.not {
        let mut p = path.to_vec();
        p.push(PathSeg::key("not"));
        references(not.parts(), &p, out);
    }
}

/// `did you mean` among `known`, or `otherwise`.
fn hint<'k>(name: &str, known: impl IntoIterator<Item = &'k str>, otherwise: String) -> String {
    match did_you_mean(name, known) {
        Some(h) => format!("did you mean `{h}`?"),
        None => otherwise,
    }
}

/// The checks across the files of a CasC tree.
pub(super) fn check(
    casc: &mut Casc,
    sources: &BTreeMap<String, String>,
    out: &mut Vec<Diagnostic>,
) {
    let mut found: Vec<CrossFinding> = Vec::new();
    let identity = |what, field| Identity {
        what,
        field,
        scope: String::new(),
    };
    dedup(
        &mut casc.properties,
        |p| p.name.clone(),
        &identity("property", "name"),
        &mut found,
    );
    dedup(
        &mut casc.target_groups,
        |t| t.name.clone(),
        &identity("target group", "name"),
        &mut found,
    );
    dedup(
        &mut casc.flags,
        |f| f.flag.clone(),
        &identity("flag", "flag"),
        &mut found,
    );
    for env in &mut casc.environments {
        let configuration = Identity {
            scope: format!(" for environment `{}`", env.name),
            ..identity("a configuration of flag", "flag")
        };
        dedup(
            &mut env.configurations,
            |c| c.flag.clone(),
            &configuration,
            &mut found,
        );
    }

    let properties: HashSet<&str> = casc
        .properties
        .iter()
        .map(|p| p.value.name.as_str())
        .collect();
    let groups: HashSet<&str> = casc
        .target_groups
        .iter()
        .map(|t| t.value.name.as_str())
        .collect();
    let flags: HashMap<&str, &Flag> = casc
        .flags
        .iter()
        .map(|f| (f.value.flag.as_str(), &f.value))
        .collect();
    let error =
        |code, file: &str, path: Vec<PathSeg>, message: String, help: String| CrossFinding {
            severity: Severity::Error,
            code,
            file: file.to_owned(),
            path,
            message,
            help: Some(help),
        };
    // A reference that resolves nowhere (group and property; flags need more context).
    let dangling = |r: &Ref<'_>, file: &str, path: &[PathSeg]| -> Option<CrossFinding> {
        match r {
            Ref::Group(name) if !groups.contains(name) => Some(error(
                Code::UnknownTargetGroup,
                file,
                path.to_vec(),
                format!("target group `{name}` is not declared"),
                hint(
                    name,
                    groups.iter().copied(),
                    "declare it in target-groups/, or remove the reference".into(),
                ),
            )),
            Ref::Property(name) if !properties.contains(name) && !is_builtin_property(name) => {
                Some(error(
                    Code::UnknownProperty,
                    file,
                    path.to_vec(),
                    format!("property `{name}` is neither declared nor built in"),
                    hint(
                        name,
                        properties.iter().copied(),
                        format!(
                            "declare it in properties/{name}.yaml (kind: flag-properties); built-in properties are `rox.*` and `version`"
                        ),
                    ),
                ))
            }
            _ => None,
        }
    };

    let mut group_edges: Edges<'_> = BTreeMap::new();
    for t in &casc.target_groups {
        let Some(conditions) = &t.value.conditions else {
            continue;
        };
        let mut refs = Vec::new();
        references(conditions.parts(), &[PathSeg::key("conditions")], &mut refs);
        for (r, path) in refs {
            if let Some(f) = dangling(&r, &t.file, &path) {
                found.push(f);
            } else if let Ref::Group(name) = r {
                group_edges
                    .entry(t.value.name.as_str())
                    .or_default()
                    .push(Edge {
                        to: name,
                        file: &t.file,
                        path,
                    });
            }
        }
    }
    for cycle in cycles(&group_edges) {
        found.push(cycle.finding(
            Code::GroupCycle,
            "target groups include each other in a cycle",
            "a target group cannot contain itself, directly or through others",
        ));
    }

    for env in &casc.environments {
        let mut dep_edges: Edges<'_> = BTreeMap::new();
        for c in &env.configurations {
            let (file, config) = (c.file.as_str(), &c.value);
            let flag = flags.get(config.flag.as_str()).copied();
            if flag.is_none() && !config.flag.trim().is_empty() {
                found.push(error(
                    Code::UnknownFlag,
                    file,
                    vec![PathSeg::key("flag")],
                    format!("flag `{}` is not declared", config.flag),
                    hint(
                        &config.flag,
                        flags.keys().copied(),
                        "declare it in flags/ (kind: flag), or remove this configuration".into(),
                    ),
                ));
            }
            if let Some(flag) = flag {
                if let Some(v) = &config.default_value {
                    value_of(
                        flag,
                        v,
                        vec![PathSeg::key("defaultValue")],
                        file,
                        &mut found,
                    );
                }
                for (i, cond) in config.conditions.iter().flatten().enumerate() {
                    if let Some(v) = &cond.flag_value {
                        let path = vec![
                            PathSeg::key("conditions"),
                            PathSeg::Index(i),
                            PathSeg::key("flagValue"),
                        ];
                        value_of(flag, v, path, file, &mut found);
                    }
                }
            }
            let mut refs = Vec::new();
            for (i, cond) in config.conditions.iter().flatten().enumerate() {
                let path = [PathSeg::key("conditions"), PathSeg::Index(i)];
                references(cond.parts(), &path, &mut refs);
            }
            for (r, path) in refs {
                if let Some(f) = dangling(&r, file, &path) {
                    found.push(f);
                    continue;
                }
                let Ref::Flag(dep) = r else { continue };
                if flags.contains_key(dep.name.as_str()) {
                    dep_edges
                        .entry(config.flag.as_str())
                        .or_default()
                        .push(Edge {
                            to: &dep.name,
                            file,
                            path,
                        });
                } else if !dep.name.trim().is_empty() {
                    found.push(error(
                        Code::UnknownFlag,
                        file,
                        path,
                        format!("depends on flag `{}`, which is not declared", dep.name),
                        hint(
                            &dep.name,
                            flags.keys().copied(),
                            "declare it in flags/ (kind: flag), or remove the condition".into(),
                        ),
                    ));
                }
            }
        }
        for cycle in cycles(&dep_edges) {
            found.push(cycle.finding(
                Code::DependencyCycle,
                &format!(
                    "flags depend on each other in a cycle in environment `{}`",
                    env.name
                ),
                "no flag can be evaluated first; remove one of the dependencies",
            ));
        }
    }

    report(found, sources, out);
}

/// A value against its flag: its type, schedules on Boolean flags only, and (a warning)
/// values the flag does not list.
fn value_of(
    flag: &Flag,
    value: &FlagValue,
    path: Vec<PathSeg>,
    file: &str,
    found: &mut Vec<CrossFinding>,
) {
    let flag_type = flag.flag_type();
    let listed: Vec<String> = flag
        .available_values
        .iter()
        .flatten()
        .map(|v| v.as_display())
        .collect();
    let mut scalar = |s: &crate::model::Scalar, path: Vec<PathSeg>| {
        if !flag_type.accepts(s) {
            let quoted = matches!(s, crate::model::Scalar::String(text)
                if (flag_type == FlagType::Boolean && matches!(text.as_str(), "true" | "false"))
                    || (flag_type == FlagType::Number && text.trim().parse::<f64>().is_ok()));
            found.push(CrossFinding {
                severity: Severity::Error,
                code: Code::ValueType,
                file: file.to_owned(),
                path,
                message: format!(
                    "`{}` is not a {} value; flag `{}` is a {} flag",
                    s.as_display(),
                    flag_type.casc_name(),
                    flag.flag,
                    flag_type.casc_name()
                ),
                help: Some(if quoted {
                    "it is written as a string; remove the quotes".to_owned()
                } else {
                    format!("serve a {} value, or change the flag's flagType (a new flag: the type of an existing one cannot change)", flag_type.casc_name())
                }),
            });
        } else if !listed.is_empty() && !listed.contains(&s.as_display()) {
            found.push(CrossFinding {
                severity: Severity::Warning,
                code: Code::ValueNotAvailable,
                file: file.to_owned(),
                path,
                message: format!(
                    "`{}` is not one of the available values of `{}`",
                    s.as_display(),
                    flag.flag
                ),
                help: Some(format!("availableValues: [{}]", listed.join(", "))),
            });
        }
    };
    match value {
        FlagValue::Scalar(s) => scalar(s, path),
        FlagValue::WrittenInCode => {}
        FlagValue::Split(entries) => {
            for (i, e) in entries.iter().enumerate() {
                let mut p = path.clone();
                p.extend([PathSeg::Index(i), PathSeg::key("option")]);
                scalar(&e.option, p);
            }
        }
        FlagValue::Schedule(_) if flag_type != FlagType::Boolean => {
            found.push(CrossFinding {
                severity: Severity::Error,
                code: Code::ScheduleNonBoolean,
                file: file.to_owned(),
                path,
                message: format!(
                    "`{}` is a {} flag, and schedules only apply to boolean flags",
                    flag.flag,
                    flag_type.casc_name()
                ),
                help: Some("use a split".into()),
            });
        }
        FlagValue::Schedule(_) => {}
    }
}
