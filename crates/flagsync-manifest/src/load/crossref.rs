//! Checks across files: one file per identity, references that resolve, and no cycles
//! among target groups or among flag dependencies.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::code::Code;
use crate::diagnostic::{Diagnostic, FileDiagnostics, Severity, did_you_mean};
use crate::model::PathSeg;
use crate::repository::{Item, Layout, Repository};
use crate::yaml::SpanTree;

/// A problem found across files, reported in `file` at `path`.
pub(super) struct CrossFinding {
    pub(super) severity: Severity,
    pub(super) code: Code,
    pub(super) file: String,
    pub(super) path: Vec<PathSeg>,
    pub(super) message: String,
    pub(super) help: Option<String>,
}

/// Duplicate identities (the first file by path is kept), dangling references and cycles.
pub(super) fn check(
    repo: &mut Repository,
    sources: &BTreeMap<String, String>,
    out: &mut Vec<Diagnostic>,
) {
    let mut found: Vec<CrossFinding> = Vec::new();
    // Dangling references: see `load`.
    let dangling = match repo.layout {
        Layout::Config | Layout::Casc => Severity::Error,
        Layout::Legacy => Severity::Warning,
    };

    // One identity, two files: keep the first by path, report the others.
    let identity = |what, field| Identity {
        what,
        field,
        scope: String::new(),
    };
    dedup(
        &mut repo.target_groups,
        |t| t.name.clone(),
        &identity("target group", "name"),
        &mut found,
    );
    dedup(
        &mut repo.rollouts,
        |r| r.id.clone(),
        &identity("rollout", "id"),
        &mut found,
    );
    // One live rollout can be adopted by one manifest only.
    dedup(
        &mut repo.rollouts,
        |r| {
            r.instance
                .as_deref()
                .map(|i| flagsync_live::instance_id(i).to_owned())
                .unwrap_or_default()
        },
        &identity("rollout instance", "instance"),
        &mut found,
    );
    for env in &mut repo.environments {
        let flag = Identity {
            scope: format!(" for environment `{}`", env.name),
            ..identity("flag", "flag")
        };
        dedup(&mut env.experiments, |e| e.flag.clone(), &flag, &mut found);
    }

    let groups: HashSet<&str> = repo
        .target_groups
        .iter()
        .map(|t| t.value.name.as_str())
        .collect();
    let unknown_group = |name: &str,
                         file: &str,
                         path: Vec<PathSeg>,
                         found: &mut Vec<CrossFinding>| {
        let hint = did_you_mean(name, groups.iter().copied());
        found.push(CrossFinding {
            severity: dangling,
            code: Code::UnknownTargetGroup,
            file: file.to_owned(),
            path,
            message: format!("target group `{name}` is not declared"),
            help: Some(match hint {
                Some(h) => format!("did you mean `{h}`?"),
                None => "declare it in the target groups directory, or remove the reference".into(),
            }),
        });
    };

    // Target groups that include other groups: references and cycles.
    let mut group_edges: Edges<'_> = BTreeMap::new();
    for t in &repo.target_groups {
        for (i, c) in t.value.conditions.iter().enumerate() {
            let Some(g) = &c.group else { continue };
            for (j, name) in g.name.iter().enumerate() {
                let path = name_path(
                    vec![
                        PathSeg::key("conditions"),
                        PathSeg::Index(i),
                        PathSeg::key("group"),
                    ],
                    j,
                    g.name.0.len(),
                );
                if groups.contains(name) {
                    group_edges
                        .entry(t.value.name.as_str())
                        .or_default()
                        .push(Edge {
                            to: name,
                            file: t.file.as_str(),
                            path,
                        });
                } else {
                    unknown_group(name, &t.file, path, &mut found);
                }
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

    for env in &repo.environments {
        let flags: HashSet<&str> = env
            .experiments
            .iter()
            .map(|e| e.value.flag.as_str())
            .collect();
        let mut dep_edges: Edges<'_> = BTreeMap::new();
        for e in &env.experiments {
            for (path, c) in e.value.all_conditions() {
                if let Some(g) = &c.group {
                    for (j, name) in g.name.iter().enumerate() {
                        let mut p = path.clone();
                        p.push(PathSeg::key("group"));
                        let p = name_path(p, j, g.name.0.len());
                        if !groups.contains(name) {
                            unknown_group(name, &e.file, p, &mut found);
                        }
                    }
                }
                if let Some(d) = &c.dependency {
                    let mut p = path.clone();
                    p.extend([PathSeg::key("dependency"), PathSeg::key("flag")]);
                    if flags.contains(d.flag.as_str()) {
                        dep_edges
                            .entry(e.value.flag.as_str())
                            .or_default()
                            .push(Edge {
                                to: d.flag.as_str(),
                                file: e.file.as_str(),
                                path: p,
                            });
                    } else {
                        let hint = did_you_mean(&d.flag, flags.iter().copied());
                        found.push(CrossFinding {
                            severity: dangling,
                            code: Code::UnknownDependency,
                            file: e.file.clone(),
                            path: p,
                            message: format!(
                                "depends on flag `{}`, which environment `{}` does not configure",
                                d.flag, env.name
                            ),
                            help: Some(match hint {
                                Some(h) => format!("did you mean `{h}`?"),
                                None => format!(
                                    "add an experiment for `{}` to this environment",
                                    d.flag
                                ),
                            }),
                        });
                    }
                }
            }
        }
        for cycle in cycles(&dep_edges) {
            found.push(cycle.finding(
                Code::DependencyCycle,
                "flags depend on each other in a cycle",
                "no flag can be evaluated first; remove one of the dependencies",
            ));
        }
    }

    report(found, sources, out);
}

/// The diagnostics of `found`: paths mapped to spans, parsing each concerned file once.
pub(super) fn report(
    found: Vec<CrossFinding>,
    sources: &BTreeMap<String, String>,
    out: &mut Vec<Diagnostic>,
) {
    let mut trees: HashMap<String, SpanTree> = HashMap::new();
    for f in found {
        let text = sources.get(&f.file).map(String::as_str).unwrap_or("");
        let tree = trees
            .entry(f.file.clone())
            .or_insert_with(|| SpanTree::parse_quiet(text));
        let span = tree.span_of(&f.path, false);
        let mut fd = FileDiagnostics::new(&f.file, text);
        fd.push(f.severity, f.code, span, f.message, f.help);
        out.extend(fd.out);
    }
}

/// The path of the `j`th of `n` names under `name` (a single name is a scalar, not a list).
fn name_path(mut p: Vec<PathSeg>, j: usize, n: usize) -> Vec<PathSeg> {
    p.push(PathSeg::key("name"));
    if n > 1 || j > 0 {
        p.push(PathSeg::Index(j));
    }
    p
}

/// What an identity is called in messages, e.g. `flag` in `flag` ` for environment `X``.
pub(super) struct Identity {
    pub(super) what: &'static str,
    /// The field holding it.
    pub(super) field: &'static str,
    /// Appended to messages.
    pub(super) scope: String,
}

pub(super) fn dedup<T>(
    items: &mut Vec<Item<T>>,
    key: impl Fn(&T) -> String,
    what: &Identity,
    found: &mut Vec<CrossFinding>,
) {
    let mut first: HashMap<String, String> = HashMap::new();
    items.retain(|item| {
        let k = key(&item.value);
        if k.is_empty() {
            return true;
        }
        match first.get(&k) {
            None => {
                first.insert(k, item.file.clone());
                true
            }
            Some(other) => {
                found.push(CrossFinding {
                    severity: Severity::Error,
                    code: Code::DuplicateIdentity,
                    file: item.file.clone(),
                    path: vec![PathSeg::key(what.field)],
                    message: format!(
                        "{} `{k}` is also declared in {other}{}",
                        what.what, what.scope
                    ),
                    help: Some(
                        "each identity is declared by exactly one file; remove or rename one"
                            .into(),
                    ),
                });
                false
            }
        }
    });
}

/// A reference from one name to another: the `to` of a graph keyed by name.
pub(super) struct Edge<'a> {
    pub(super) to: &'a str,
    /// Where the reference is written.
    pub(super) file: &'a str,
    pub(super) path: Vec<PathSeg>,
}

/// A graph by name.
pub(super) type Edges<'a> = BTreeMap<&'a str, Vec<Edge<'a>>>;

/// A cycle, reported at the edge that leaves its smallest member.
pub(super) struct Cycle<'a> {
    file: &'a str,
    path: Vec<PathSeg>,
    /// The members from the smallest, back to it: `a → b → a`.
    names: Vec<String>,
}

impl Cycle<'_> {
    /// The error for this cycle: `what: a → b → a`.
    pub(super) fn finding(self, code: Code, what: &str, help: &str) -> CrossFinding {
        CrossFinding {
            severity: Severity::Error,
            code,
            file: self.file.to_owned(),
            path: self.path,
            message: format!("{what}: {}", self.names.join(" → ")),
            help: Some(help.to_owned()),
        }
    }
}

/// Every cycle of a graph, each reported once.
pub(super) fn cycles<'a>(edges: &Edges<'a>) -> Vec<Cycle<'a>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut mark: HashMap<&str, Mark> = HashMap::new();
    let mut out = Vec::new();
    let mut reported: HashSet<Vec<&str>> = HashSet::new();
    for &start in edges.keys() {
        if mark.get(start).copied().unwrap_or(Mark::New) != Mark::New {
            continue;
        }
        // Iterative depth-first search: the stack holds (node, next edge index).
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        mark.insert(start, Mark::Active);
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let next = edges.get(node).and_then(|v| v.get(top.1));
            top.1 += 1;
            match next {
                None => {
                    mark.insert(node, Mark::Done);
                    stack.pop();
                }
                Some(Edge { to, .. }) => match mark.get(to).copied().unwrap_or(Mark::New) {
                    Mark::New => {
                        mark.insert(to, Mark::Active);
                        stack.push((to, 0));
                    }
                    Mark::Active => {
                        let pos = stack.iter().position(|(n, _)| n == to).unwrap_or(0);
                        let members: Vec<&str> = stack[pos..].iter().map(|(n, _)| *n).collect();
                        let mut key = members.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            // Report at the edge leaving the smallest member.
                            let min_at = members
                                .iter()
                                .enumerate()
                                .min_by_key(|(_, n)| **n)
                                .map(|(i, _)| i)
                                .unwrap_or(0);
                            let from = members[min_at];
                            let target = members[(min_at + 1) % members.len()];
                            let edge = edges
                                .get(from)
                                .and_then(|v| v.iter().find(|e| e.to == target));
                            let mut names: Vec<String> = members[min_at..]
                                .iter()
                                .chain(&members[..min_at])
                                .map(|s| s.to_string())
                                .collect();
                            names.push(from.to_owned());
                            if let Some(edge) = edge {
                                out.push(Cycle {
                                    file: edge.file,
                                    path: edge.path.clone(),
                                    names,
                                });
                            }
                        }
                    }
                    Mark::Done => {}
                },
            }
        }
    }
    out
}
