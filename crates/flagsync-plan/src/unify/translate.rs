//! A legacy repository's desired state as CloudBees Unify resources, by the field map of
//! api-notes-unify §8. It reads the legacy *canonical* bodies ([`crate::normalize`]), so the
//! legacy defaults (a group condition's `or`, a target group's operator, `enabled`, the
//! code default of a missing value, an archived file) are decided in one place.
//!
//! | legacy | Unify |
//! |---|---|
//! | a branch or directory per environment | `flag-configurations/<environment>/` |
//! | an experiment (flag and configuration in one, per environment) | one flag (`availableValues` of every environment; the type from them) and a configuration per environment |
//! | `value`, a condition's `value` (absent: the code default) | `defaultValue`, `flagValue` (`{valueWrittenInCode: true}`) |
//! | a condition's `dependency`, `group`, `version`, `property` (AND-ed) | items of one `allOf`, in that order |
//! | `group` `or`, `and`, `nor`/`not` | `anyOf`, `allOf`, `not: {anyOf}` of `{group: {name}}` |
//! | `version: {operator, semver}` | `property: {name: rox.app_release, operator, operands: [semver]}` |
//! | `dependency: {flag, value}` | `flag: {name, value}`, the value typed like the other flag |
//! | a condition with only `value` (everyone) | the `defaultValue` (what follows it was never reached) |
//! | a target group's `operator` `and`/`or` | `conditions: {allOf}`/`{anyOf}` |
//! | a split adding up to less than 100 (Boolean) | the rest to the other value |
//! | a schedule step `{from, percentage, option: true}` | `{from, percentage}` |
//! | a property a condition tests (not `rox.*`) | a `flag-properties` declaration, its type from the operators |
//! | `platforms[]` (a platform's own conditions and value) | leading conditions on `rox.platform` (`eq NAME`): each of its conditions AND-ed with it, then one serving its value; reported as inferred |
//!
//! What has no Unify equivalent (a platform override's flag name, a schedule step serving
//! `false`, a split whose rest is unspecified, a reference that resolves nowhere, ...) is
//! left out and reported as a [`Finding`] at its place in the legacy file, never dropped in
//! silence; what is carried over by an inferred mapping is reported as a warning.

use std::collections::{BTreeMap, BTreeSet};

use flagsync_manifest::model::PathSeg;
use flagsync_manifest::model::unify::{
    APP_RELEASE_PROPERTY, FlagType, Operands, Operator, PLATFORM_PROPERTY, PropertyType,
    is_builtin_property,
};
use flagsync_manifest::{Code, Diagnostic, Repository, Severity, is_rfc3339, split_adds_up};
use serde_json::{Map, Value, json};

use super::{
    configuration_canonical, flag_canonical, property_canonical, resource, target_group_canonical,
    variant_text,
};
use crate::model::{DesiredResource, ResourceKey};
use crate::normalize;
use flagsync_manifest::defaults::Side;

/// The translated resources, and what did not translate as written.
#[derive(Debug, Clone, Default)]
pub struct Translation {
    /// Custom properties, target groups, flags, then configurations by environment.
    pub resources: Vec<DesiredResource>,
    pub findings: Vec<Finding>,
}

/// Something of a legacy manifest that was not carried over, or not as written, at `path`
/// in `file` (a name as diagnostics use it, `BRANCH:path` for another branch's file).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    pub file: String,
    pub path: Vec<PathSeg>,
    pub message: String,
    pub help: Option<String>,
}

impl Finding {
    /// The diagnostic at its place in `text`, the file's text.
    pub fn diagnostic(&self, text: &str) -> Diagnostic {
        Diagnostic::at(
            &self.file,
            text,
            &self.path,
            self.severity,
            self.code,
            self.message.clone(),
            self.help.clone(),
        )
    }
}

impl Translation {
    /// Every finding as a diagnostic; `sources` are the texts of the files by name (what
    /// loading gives).
    pub fn diagnostics(&self, sources: &BTreeMap<String, String>) -> Vec<Diagnostic> {
        self.findings
            .iter()
            .map(|f| f.diagnostic(sources.get(&f.file).map_or("", String::as_str)))
            .collect()
    }
}

fn k(key: &'static str) -> PathSeg {
    PathSeg::key(key)
}

fn at(path: &[PathSeg], more: impl IntoIterator<Item = PathSeg>) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.extend(more);
    p
}

/// The path of the `j`th of `n` target group names under `group` (one name is written as a
/// scalar, several as a list).
fn name_path(group: &[PathSeg], j: usize, n: usize) -> Vec<PathSeg> {
    let mut p = at(group, [k("name")]);
    if n > 1 {
        p.push(PathSeg::Index(j));
    }
    p
}

/// A flag as its experiments in every environment describe it.
struct FlagInfo {
    file: String,
    flag_type: FlagType,
    variants: Vec<Value>,
    labels: BTreeSet<String>,
    description: String,
}

/// A property conditions test, and what its operators say its type is.
struct PropertyUse {
    file: String,
    property_type: Option<PropertyType>,
}

#[derive(Default)]
struct Translator {
    findings: Vec<Finding>,
    properties: BTreeMap<String, PropertyUse>,
}

impl Translator {
    fn find(
        &mut self,
        severity: Severity,
        code: Code,
        file: &str,
        path: Vec<PathSeg>,
        message: String,
        help: Option<&str>,
    ) {
        self.findings.push(Finding {
            severity,
            code,
            file: file.to_owned(),
            path,
            message,
            help: help.map(str::to_owned),
        });
    }

    fn error(&mut self, code: Code, file: &str, path: Vec<PathSeg>, message: String) {
        self.find(Severity::Error, code, file, path, message, None);
    }

    fn use_property(&mut self, name: &str, property_type: Option<PropertyType>, file: &str) {
        if is_builtin_property(name) {
            return;
        }
        let entry = self
            .properties
            .entry(name.to_owned())
            .or_insert_with(|| PropertyUse {
                file: file.to_owned(),
                property_type: None,
            });
        entry.property_type = match (entry.property_type, property_type) {
            (None, t) | (t, None) => t,
            (Some(a), Some(b)) if a == b => Some(a),
            // Used as two types: only a string property takes every operand written.
            _ => Some(PropertyType::String),
        };
    }

    /// `{"property": {...}}` for a legacy property test at `path` (the object holding
    /// `operator` and `operand`), or `None` after reporting why it does not translate.
    fn property(
        &mut self,
        name: &str,
        operator: &str,
        operand: Option<&Value>,
        file: &str,
        path: &[PathSeg],
        consequence: &str,
    ) -> Option<Value> {
        let Some(op) = Operator::from_name(operator) else {
            self.error(
                Code::NoUnifyEquivalent,
                file,
                at(path, [k("operator")]),
                format!("operator `{operator}` has no CloudBees Unify equivalent; {consequence}"),
            );
            return None;
        };
        let number = |v: &Value| match v {
            Value::Number(_) => Some(v.clone()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(number_value),
            _ => None,
        };
        let operands: Option<Vec<Value>> = match (op.operands(), operand) {
            (Operands::None, _) => Some(Vec::new()),
            (Operands::StringOrNumber, Some(v @ (Value::String(_) | Value::Number(_)))) => {
                Some(vec![v.clone()])
            }
            (Operands::Number, Some(v)) => number(v).map(|n| vec![n]),
            (Operands::Pattern, Some(v @ Value::String(_))) => Some(vec![v.clone()]),
            (Operands::Version, Some(v @ (Value::String(_) | Value::Number(_)))) => {
                variant_text(v).map(|t| vec![json!(t)])
            }
            (Operands::List, Some(Value::Array(items))) => {
                let mut unique: Vec<Value> = Vec::new();
                for item in items {
                    if !unique.contains(item) {
                        unique.push(item.clone());
                    }
                }
                let all = |f: fn(&Value) -> bool| unique.iter().all(f);
                (!unique.is_empty() && (all(Value::is_string) || all(Value::is_number)))
                    .then_some(unique)
            }
            (Operands::List, Some(v @ (Value::String(_) | Value::Number(_)))) => {
                Some(vec![v.clone()])
            }
            _ => None,
        };
        let Some(operands) = operands else {
            let written = operand.map_or_else(|| "none".to_owned(), Value::to_string);
            self.error(
                Code::NoUnifyEquivalent,
                file,
                at(path, [k("operand")]),
                format!(
                    "`{operator}` with the operand {written}: CloudBees Unify takes {}; {consequence}",
                    op.operands().describe()
                ),
            );
            return None;
        };
        let property_type = match op.operands() {
            Operands::Version => Some(PropertyType::Semver),
            Operands::Number => Some(PropertyType::Number),
            Operands::Pattern => Some(PropertyType::String),
            Operands::StringOrNumber | Operands::List => match operands.first() {
                Some(Value::Number(_)) => Some(PropertyType::Number),
                _ => Some(PropertyType::String),
            },
            Operands::DateTime | Operands::DateTimeRange => Some(PropertyType::DateTime),
            Operands::None => match op {
                Operator::IsTrue | Operator::IsFalse => Some(PropertyType::Boolean),
                _ => None,
            },
        };
        self.use_property(name, property_type, file);
        let mut test = Map::new();
        test.insert("name".into(), json!(name));
        test.insert("operator".into(), json!(op.as_str()));
        if op.operands() != Operands::None {
            test.insert("operands".into(), Value::Array(operands));
        }
        Some(json!({ "property": test }))
    }

    /// A legacy value (canonical: `null` is the code default) as a Unify value of a flag of
    /// `flag_type`, or `None` after reporting why it does not translate; `consequence` says
    /// what happens instead.
    fn value(
        &mut self,
        value: &Value,
        flag_type: FlagType,
        file: &str,
        path: &[PathSeg],
        consequence: &str,
    ) -> Option<Value> {
        let entries = match value {
            Value::Null => return Some(json!({"valueWrittenInCode": true})),
            Value::Array(entries) => entries,
            scalar => {
                let typed = typed(scalar, flag_type);
                if typed.is_none() {
                    self.error(
                        Code::ValueType,
                        file,
                        path.to_vec(),
                        format!(
                            "{scalar} is not a value of the {} flag this becomes; {consequence}",
                            flag_type.casc_name()
                        ),
                    );
                }
                return typed;
            }
        };
        let scheduled = entries.iter().any(|e| e.get("from").is_some());
        let mut out = Vec::new();
        let mut ok = true;
        for (i, e) in entries.iter().enumerate() {
            let ep = at(path, [PathSeg::Index(i)]);
            let percentage = e.get("percentage").cloned().unwrap_or(json!(0));
            if scheduled {
                let from = e.get("from").and_then(Value::as_str).unwrap_or_default();
                let option = e.get("option").unwrap_or(&Value::Null);
                if typed(option, FlagType::Boolean) != Some(json!(true)) {
                    self.error(
                        Code::NoUnifyEquivalent,
                        file,
                        at(&ep, [k("option")]),
                        format!("a schedule step that serves {option}: a CloudBees Unify schedule only says how many users get `true`; {consequence}"),
                    );
                    ok = false;
                } else if !is_rfc3339(from) {
                    self.error(
                        Code::InvalidTimestamp,
                        file,
                        at(&ep, [k("from")]),
                        format!("`{from}` is not an RFC 3339 date-time, which a CloudBees Unify schedule needs; {consequence}"),
                    );
                    ok = false;
                }
                out.push(json!({"from": from, "percentage": percentage}));
            } else {
                let option = e.get("option").unwrap_or(&Value::Null);
                match typed(option, flag_type) {
                    Some(option) => out.push(json!({"option": option, "percentage": percentage})),
                    None => {
                        self.error(
                            Code::ValueType,
                            file,
                            at(&ep, [k("option")]),
                            format!(
                                "{option} is not a value of the {} flag this becomes; {consequence}",
                                flag_type.casc_name()
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        if !ok {
            return None;
        }
        if scheduled && flag_type != FlagType::Boolean {
            self.error(
                Code::ScheduleNonBoolean,
                file,
                path.to_vec(),
                format!(
                    "a schedule of a {} flag; {consequence}",
                    flag_type.casc_name()
                ),
            );
            return None;
        }
        if !scheduled {
            let percentages: Vec<f64> = out
                .iter()
                .filter_map(|e| e["percentage"].as_f64())
                .collect();
            if !split_adds_up(percentages.iter().copied()) {
                let sum: f64 = percentages.iter().sum();
                let options: BTreeSet<String> = out
                    .iter()
                    .filter_map(|e| variant_text(&e["option"]))
                    .collect();
                let only = options.iter().next().filter(|_| options.len() == 1);
                match only.map(String::as_str) {
                    // The legacy format gives the rest of a Boolean split to the other value.
                    Some(one @ ("true" | "false"))
                        if sum < 100.0 && flag_type == FlagType::Boolean =>
                    {
                        out.push(json!({"option": one == "false", "percentage": number_value(100.0 - sum)}));
                    }
                    _ => {
                        self.error(
                            Code::NoUnifyEquivalent,
                            file,
                            path.to_vec(),
                            format!("the split adds up to {sum}, and what the rest of the users get is not said; a CloudBees Unify split adds up to exactly 100; {consequence}"),
                        );
                        return None;
                    }
                }
            }
        }
        Some(Value::Array(out))
    }
}

/// A number as JSON, whole numbers as integers.
fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        json!(f)
    }
}

/// A legacy scalar as a value of a Unify flag of `flag_type`: quoted booleans and numbers
/// (real files write them) become typed; a string flag's values are their text.
fn typed(value: &Value, flag_type: FlagType) -> Option<Value> {
    match (flag_type, value) {
        (FlagType::Boolean, Value::Bool(_)) | (FlagType::Number, Value::Number(_)) => {
            Some(value.clone())
        }
        (FlagType::Boolean, Value::String(s)) => match s.as_str() {
            "true" => Some(json!(true)),
            "false" => Some(json!(false)),
            _ => None,
        },
        (FlagType::Number, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(number_value),
        (FlagType::String, Value::String(_)) => Some(value.clone()),
        (FlagType::String, Value::Number(_) | Value::Bool(_)) => {
            variant_text(value).map(Value::String)
        }
        _ => None,
    }
}

/// The type of a flag whose values are `values`: Boolean, Number or String when they all
/// are, else `None` (a mix).
fn type_of(values: &[Value]) -> Option<FlagType> {
    let all = |f: fn(&Value) -> bool| values.iter().all(f);
    if all(Value::is_boolean) {
        Some(FlagType::Boolean)
    } else if all(Value::is_number) {
        Some(FlagType::Number)
    } else if all(Value::is_string) {
        Some(FlagType::String)
    } else {
        None
    }
}

/// One experiment of one environment, canonical.
struct Experiment<'r> {
    env: &'r str,
    file: &'r str,
    body: Value,
}

/// The Unify desired state of a legacy repository: every environment's experiments and the
/// target groups, translated.
pub fn translate(repository: &Repository) -> Translation {
    let mut t = Translator::default();
    let groups: BTreeSet<&str> = repository
        .target_groups
        .iter()
        .map(|g| g.value.name.as_str())
        .collect();
    let experiments: Vec<Experiment<'_>> = repository
        .environments
        .iter()
        .flat_map(|env| {
            env.experiments.iter().map(|item| Experiment {
                env: &env.name,
                file: &item.file,
                body: normalize::experiment_body(&item.value),
            })
        })
        .collect();

    let flags = flags(&mut t, &experiments);
    let mut target_groups = Vec::new();
    for item in &repository.target_groups {
        let body = normalize::target_group_body(&item.value);
        target_groups.push((target_group(&mut t, &body, &item.file, &groups), &item.file));
    }
    let mut configurations = Vec::new();
    for e in &experiments {
        let name = e.body["flag"].as_str().unwrap_or_default();
        let Some(info) = flags.get(name) else {
            continue;
        };
        let body = configuration(&mut t, e, info.flag_type, &flags, &groups);
        configurations.push((ResourceKey::flag_configuration(e.env, name), body, e.file));
    }

    let declared: BTreeSet<String> = t.properties.keys().cloned().collect();
    let mut resources = Vec::new();
    let mut push = |key: ResourceKey, body: Value, file: &str| {
        resources.push(resource(key, body, file, &declared));
    };
    for (name, used) in &t.properties {
        let body = json!({
            "name": name,
            "type": used.property_type.unwrap_or(PropertyType::String).api_name(),
        });
        push(
            ResourceKey::custom_property(name),
            property_canonical(&body, Side::Manifest),
            &used.file,
        );
    }
    for (body, file) in target_groups {
        let name = body["name"].as_str().unwrap_or_default().to_owned();
        push(ResourceKey::unify_target_group(name), body, file);
    }
    for (name, info) in &flags {
        let body = json!({
            "name": name,
            "description": info.description,
            "flagType": info.flag_type.api_name(),
            "variants": info.variants,
            "labels": info.labels,
        });
        push(
            ResourceKey::flag(name),
            flag_canonical(&body, Side::Manifest),
            &info.file,
        );
    }
    for (key, body, file) in configurations {
        push(key, body, file);
    }
    Translation {
        resources,
        findings: t.findings,
    }
}

/// One flag per flag name, from its experiments in every environment.
fn flags(t: &mut Translator, experiments: &[Experiment<'_>]) -> BTreeMap<String, FlagInfo> {
    let mut by_name: BTreeMap<String, Vec<&Experiment<'_>>> = BTreeMap::new();
    for e in experiments {
        if let Some(name) = e.body["flag"].as_str() {
            by_name.entry(name.to_owned()).or_default().push(e);
        }
    }
    let mut out = BTreeMap::new();
    for (name, list) in by_name {
        let mut values: Vec<Value> = Vec::new();
        for e in &list {
            for v in e.body["availableValues"].as_array().into_iter().flatten() {
                if !values.contains(v) {
                    values.push(v.clone());
                }
            }
        }
        let flag_type = match type_of(&values) {
            Some(t) => t,
            None => {
                t.find(
                    Severity::Error,
                    Code::NoUnifyEquivalent,
                    list[0].file,
                    vec![k("availableValues")],
                    format!("the values of `{name}` mix types; a CloudBees Unify flag has one type: carried over as a string flag"),
                    Some("give the flag values of one type"),
                );
                FlagType::String
            }
        };
        let variants = values.iter().filter_map(|v| typed(v, flag_type)).collect();
        let labels = list
            .iter()
            .flat_map(|e| e.body["labels"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        let description_of = |e: &Experiment<'_>| {
            e.body["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let chosen = list
            .iter()
            .find(|e| !description_of(e).is_empty())
            .copied()
            .unwrap_or(list[0]);
        let description = description_of(chosen);
        for e in &list {
            let other = description_of(e);
            if !other.is_empty() && other != description {
                t.find(
                    Severity::Warning,
                    Code::NoUnifyEquivalent,
                    e.file,
                    vec![k("description")],
                    format!(
                        "a CloudBees Unify flag has one description for every environment: `{name}` keeps the one of environment `{}` ({})",
                        chosen.env,
                        chosen.file
                    ),
                    None,
                );
            }
        }
        for e in &list {
            if e.body["archived"] == json!(true) {
                t.find(
                    Severity::Warning,
                    Code::NoUnifyEquivalent,
                    e.file,
                    vec![k("archived")],
                    format!("`{name}` is archived in environment `{}`, and CloudBees Unify has no archived flags: carried over as a flag like any other", e.env),
                    Some("delete the file if the flag is no longer used"),
                );
            }
        }
        out.insert(
            name,
            FlagInfo {
                file: list[0].file.to_owned(),
                flag_type,
                variants,
                labels,
                description,
            },
        );
    }
    out
}

/// A target group's canonical Unify body from its legacy canonical body.
fn target_group(t: &mut Translator, body: &Value, file: &str, groups: &BTreeSet<&str>) -> Value {
    let name = body["name"].as_str().unwrap_or_default();
    let mut items = Vec::new();
    for (i, c) in body["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = vec![k("conditions"), PathSeg::Index(i)];
        if let Some(group) = c.get("group") {
            let gp = at(&path, [k("group")]);
            let names: Vec<&str> = group["name"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let consequence = format!("this condition is left out of target group `{name}`");
            if !unknown_groups(t, &names, groups, file, &gp, &consequence) {
                let refs: Vec<Value> = names
                    .iter()
                    .map(|n| json!({"group": {"name": n}}))
                    .collect();
                items.push(match refs.as_slice() {
                    [one] => one.clone(),
                    _ => json!({ "anyOf": refs }),
                });
            }
            continue;
        }
        let property = c["property"].as_str().unwrap_or_default();
        let operator = c["operator"].as_str().unwrap_or_default();
        let consequence = format!("this condition is left out of target group `{name}`");
        if let Some(part) = t.property(
            property,
            operator,
            c.get("operand"),
            file,
            &path,
            &consequence,
        ) {
            items.push(part);
        }
    }
    let combine = match body["operator"].as_str() {
        Some("and") => "allOf",
        _ => "anyOf",
    };
    let raw = json!({
        "name": name,
        "description": body["description"],
        "conditions": { combine: items },
    });
    target_group_canonical(&raw, Side::Manifest)
}

/// Reports the names of `names` that are no target group; whether there were any.
fn unknown_groups(
    t: &mut Translator,
    names: &[&str],
    groups: &BTreeSet<&str>,
    file: &str,
    group_path: &[PathSeg],
    consequence: &str,
) -> bool {
    let mut any = false;
    for (j, n) in names.iter().enumerate() {
        if !groups.contains(n) {
            any = true;
            t.error(
                Code::UnknownTargetGroup,
                file,
                name_path(group_path, j, names.len()),
                format!(
                    "target group `{n}` is not declared, so nothing can refer to it; {consequence}"
                ),
            );
        }
    }
    any
}

/// A configuration's canonical Unify body from the experiment's legacy canonical body.
fn configuration(
    t: &mut Translator,
    e: &Experiment<'_>,
    flag_type: FlagType,
    flags: &BTreeMap<String, FlagInfo>,
    groups: &BTreeSet<&str>,
) -> Value {
    let (body, file) = (&e.body, e.file);
    let refs = Refs { flags, groups };
    let mut default = t
        .value(
            &body["value"],
            flag_type,
            file,
            &[k("value")],
            "not carried over: the configuration serves the value written in code instead",
        )
        .unwrap_or_else(|| json!({"valueWrittenInCode": true}));
    // Platform overrides first: on its platform an override replaces the flag's own
    // conditions and value, and the first condition that matches wins.
    let mut conditions = Vec::new();
    for (j, p) in body["platforms"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        conditions.extend(platform(
            t,
            p,
            &[k("platforms"), PathSeg::Index(j)],
            file,
            flag_type,
            &refs,
        ));
    }
    let written = body["conditions"].as_array().cloned().unwrap_or_default();
    for (i, c) in written.iter().enumerate() {
        let path = vec![k("conditions"), PathSeg::Index(i)];
        let tests = ["dependency", "group", "version", "property"];
        if !tests.iter().any(|p| c.get(*p).is_some()) {
            // Everyone matches: it serves every user who gets this far, like a default.
            let served = t.value(
                &c["value"],
                flag_type,
                file,
                &at(&path, [k("value")]),
                "not carried over",
            );
            if let Some(v) = served {
                default = v;
                let unreachable = written.len() - i - 1;
                if unreachable > 0 || !body["value"].is_null() {
                    t.find(
                        Severity::Warning,
                        Code::NoUnifyEquivalent,
                        file,
                        path,
                        format!("this condition matches every user: carried over as the `defaultValue`; the {unreachable} condition(s) after it and `value` were never reached and are not carried over"),
                        Some("a CloudBees Unify condition needs a test; remove what is never reached"),
                    );
                }
            }
            break;
        }
        let consequence = "not carried over: the condition is left out";
        let parts = condition_parts(t, c, &path, file, &refs, consequence);
        let served = t.value(
            &c["value"],
            flag_type,
            file,
            &at(&path, [k("value")]),
            consequence,
        );
        if let (Some(parts), Some(v)) = (parts, served) {
            conditions.push(json!({"allOf": parts, "flagValue": v}));
        }
    }
    let raw = json!({
        "enabled": body["enabled"],
        "defaultValue": default,
        "conditions": conditions,
        "stickinessProperty": body["stickinessProperty"],
    });
    configuration_canonical(&raw, Side::Manifest)
}

/// What a condition may refer to: the flags and target groups of the repository.
struct Refs<'a> {
    flags: &'a BTreeMap<String, FlagInfo>,
    groups: &'a BTreeSet<&'a str>,
}

/// The translated parts of a legacy condition (`dependency`, `group`, `version`,
/// `property`), to be AND-ed in one `allOf`; `None` after reporting a part that does not
/// translate (the condition is then left out).
fn condition_parts(
    t: &mut Translator,
    c: &Value,
    path: &[PathSeg],
    file: &str,
    refs: &Refs<'_>,
    consequence: &str,
) -> Option<Vec<Value>> {
    let mut parts = Vec::new();
    let mut ok = true;
    if let Some(d) = c.get("dependency") {
        let other = d["flag"].as_str().unwrap_or_default();
        match refs.flags.get(other) {
            Some(info) => {
                let value = &d["value"];
                let value = typed(value, info.flag_type).unwrap_or_else(|| value.clone());
                parts.push(json!({"flag": {"name": other, "value": value}}));
            }
            None => {
                t.error(
                    Code::UnknownDependency,
                    file,
                    at(path, [k("dependency"), k("flag")]),
                    format!("flag `{other}` is configured in no environment, so nothing can depend on it; {consequence}"),
                );
                ok = false;
            }
        }
    }
    if let Some(g) = c.get("group") {
        let gp = at(path, [k("group")]);
        let names: Vec<&str> = g["name"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if unknown_groups(t, &names, refs.groups, file, &gp, consequence) {
            ok = false;
        } else {
            let group_refs: Vec<Value> = names
                .iter()
                .map(|n| json!({"group": {"name": n}}))
                .collect();
            parts.push(match g["operator"].as_str() {
                Some("and") => json!({ "allOf": group_refs }),
                Some("nor" | "not") => json!({"not": {"anyOf": group_refs}}),
                _ => json!({ "anyOf": group_refs }),
            });
        }
    }
    if let Some(v) = c.get("version") {
        let vp = at(path, [k("version")]);
        let operator = v["operator"].as_str().unwrap_or_default();
        match &v["semver"] {
            Value::Null => {
                t.error(
                    Code::NoUnifyEquivalent,
                    file,
                    vp,
                    format!("a version condition without `semver`: CloudBees Unify compares with a version; {consequence}"),
                );
                ok = false;
            }
            semver => {
                let semver = json!(variant_text(semver).unwrap_or_default());
                let operand = Some(&semver);
                match t.property(
                    APP_RELEASE_PROPERTY,
                    operator,
                    operand,
                    file,
                    &vp,
                    consequence,
                ) {
                    Some(part) => parts.push(part),
                    None => ok = false,
                }
            }
        }
    }
    if let Some(p) = c.get("property") {
        let pp = at(path, [k("property")]);
        match p.get("propertyConditions").and_then(Value::as_array) {
            Some(rules) => {
                for (j, r) in rules.iter().enumerate() {
                    let rp = at(&pp, [k("propertyConditions"), PathSeg::Index(j)]);
                    let name = r["property"].as_str().unwrap_or_default();
                    let op = r["operator"].as_str().unwrap_or_default();
                    match t.property(name, op, r.get("operand"), file, &rp, consequence) {
                        Some(part) => parts.push(part),
                        None => ok = false,
                    }
                }
            }
            None => {
                let name = p["name"].as_str().unwrap_or_default();
                let op = p["operator"].as_str().unwrap_or_default();
                match t.property(name, op, p.get("operand"), file, &pp, consequence) {
                    Some(part) => parts.push(part),
                    None => ok = false,
                }
            }
        }
    }
    ok.then_some(parts)
}

/// The conditions of one platform override (`platforms[j]` at `path`): each of its
/// conditions AND-ed with a test of [`PLATFORM_PROPERTY`], then one that serves the
/// override's value to the rest of the platform. That the SDKs report the platform in
/// `rox.platform` under the name the override uses is inferred, so every translation is
/// reported as a warning ([`Code::InferredTranslation`]). An override that renames the flag
/// on its platform (`flag`) has no equivalent: it is left out, as an error.
fn platform(
    t: &mut Translator,
    p: &Value,
    path: &[PathSeg],
    file: &str,
    flag_type: FlagType,
    refs: &Refs<'_>,
) -> Vec<Value> {
    let name = p["name"].as_str().unwrap_or_default();
    if let Some(other) = p.get("flag").and_then(Value::as_str) {
        t.find(
            Severity::Error,
            Code::NoUnifyEquivalent,
            file,
            at(path, [k("flag")]),
            format!("the override for platform `{name}` uses the flag name `{other}` there; a CloudBees Unify flag has one name on every platform: the override is not carried over"),
            Some("declare the flag under one name, or keep the override in a separate flag"),
        );
        return Vec::new();
    }
    let on_platform =
        json!({"property": {"name": PLATFORM_PROPERTY, "operator": "eq", "operands": [name]}});
    let consequence = format!(
        "not carried over: the condition is left out of the override for platform `{name}`"
    );
    let mut out = Vec::new();
    let mut catch_all = None;
    let written = p["conditions"].as_array().cloned().unwrap_or_default();
    for (i, c) in written.iter().enumerate() {
        let cp = at(path, [k("conditions"), PathSeg::Index(i)]);
        let tests = ["dependency", "group", "version", "property"];
        if !tests.iter().any(|part| c.get(*part).is_some()) {
            // Everyone on the platform: it serves the rest of the platform.
            catch_all = Some((&c["value"], at(&cp, [k("value")])));
            let unreachable = written.len() - i - 1;
            if unreachable > 0 || !p["value"].is_null() {
                t.find(
                    Severity::Warning,
                    Code::NoUnifyEquivalent,
                    file,
                    cp,
                    format!("this condition matches every user on platform `{name}`: it serves the rest of the platform; the {unreachable} condition(s) after it and the override's `value` were never reached and are not carried over"),
                    None,
                );
            }
            break;
        }
        let parts = condition_parts(t, c, &cp, file, refs, &consequence);
        let served = t.value(
            &c["value"],
            flag_type,
            file,
            &at(&cp, [k("value")]),
            &consequence,
        );
        if let (Some(parts), Some(v)) = (parts, served) {
            let mut all = vec![on_platform.clone()];
            all.extend(parts);
            out.push(json!({"allOf": all, "flagValue": v}));
        }
    }
    let (value, value_path) = catch_all.unwrap_or((&p["value"], at(path, [k("value")])));
    let served = t
        .value(
            value,
            flag_type,
            file,
            &value_path,
            &format!("the rest of platform `{name}` gets the value written in code instead"),
        )
        .unwrap_or_else(|| json!({"valueWrittenInCode": true}));
    out.push(json!({"allOf": [on_platform], "flagValue": served}));
    t.find(
        Severity::Warning,
        Code::InferredTranslation,
        file,
        path.to_vec(),
        format!("the override for platform `{name}` is carried over as {} condition(s) on the property {PLATFORM_PROPERTY} (`eq {name}`), ahead of the flag's own conditions; that CloudBees Unify SDKs report the platform in {PLATFORM_PROPERTY} under this name is inferred, not documented", out.len()),
        Some("check what your SDKs send in rox.platform before switching; `flagsync plan` shows the conditions"),
    );
    out
}
