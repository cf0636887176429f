//! Flags and their per-environment configurations.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::model::{
    Application, Flag, FlagConfiguration, FlagType, config_states, configuration_view, flag_view,
    new_configuration,
};
use super::rules::{self, RawRefs};
use super::{
    QueryPairs, already_exists, application, application_mut, env_name, failed_precondition,
    invalid, linked_environment, not_found, object, opt_array, opt_bool, opt_string, opt_strings,
    refs, required_name,
};
use crate::Shared;
use crate::assumptions::{UNIFY_DEFAULT_STICKINESS, unify_default_variants};
use crate::error::{ApiError, JsonBody, Names, Service};
use crate::state::Data;
use crate::time::now_rfc3339;

const S: Service = Service::Unify;

fn flag_not_found(app_id: &str, flag: &str) -> ApiError {
    not_found(format!("flag {flag:?} not found in application {app_id:?}"))
}

/// The application and its flag `flag_id`.
fn find_flag<'a>(
    data: &'a Data,
    app_id: &str,
    flag_id: &str,
) -> Result<(&'a Application, &'a Flag), ApiError> {
    let application = application(data, app_id)?;
    let flag = application
        .flags
        .get(flag_id)
        .ok_or_else(|| flag_not_found(app_id, flag_id))?;
    Ok((application, flag))
}

fn no_configuration(flag_id: &str, env_id: &str) -> ApiError {
    not_found(format!(
        "flag {flag_id:?} has no configuration in environment {env_id:?}"
    ))
}

/// The application, its flag `flag_id` and the flag's configuration in `env_id`, which
/// must be linked to the application.
fn find_configuration<'a>(
    data: &'a Data,
    app_id: &str,
    flag_id: &str,
    env_id: &str,
) -> Result<(&'a Application, &'a Flag, &'a FlagConfiguration), ApiError> {
    let (application, flag) = find_flag(data, app_id, flag_id)?;
    linked_environment(application, env_id)?;
    let config = flag
        .configurations
        .get(env_id)
        .ok_or_else(|| no_configuration(flag_id, env_id))?;
    Ok((application, flag, config))
}

pub(super) async fn list(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let envs = query.all("configStateEnvs");
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let flags: Vec<Value> = application
            .flags_in_order()
            .into_iter()
            .map(|f| flag_view(&app_id, f, &envs))
            .collect();
        Ok(Json(json!({ "flags": flags })))
    })
}

pub(super) async fn get(
    State(app): State<Shared>,
    Names((app_id, flag_id)): Names<(String, String)>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let envs = query.all("configStateEnvs");
    app.store.read(|data| {
        let (_, flag) = find_flag(data, &app_id, &flag_id)?;
        Ok(Json(json!({"flag": flag_view(&app_id, flag, &envs)})))
    })
}

pub(super) async fn by_name(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let envs = query.all("configStateEnvs");
    app.store.read(|data| {
        let flag = application(data, &app_id)?
            .flag_by_name(&name)
            .ok_or_else(|| flag_not_found(&app_id, &name))?;
        Ok(Json(json!({"flag": flag_view(&app_id, flag, &envs)})))
    })
}

/// The writable fields of a flag body.
struct FlagFields {
    name: Option<String>,
    flag_type: Option<FlagType>,
    description: String,
    variants: Option<Vec<String>>,
    labels: Vec<String>,
    is_permanent: bool,
}

fn flag_fields(
    body: &Map<String, Value>,
    current_type: Option<FlagType>,
) -> Result<FlagFields, ApiError> {
    let flag_type = match opt_string(body, "flagType")? {
        None => None,
        Some(t) => Some(FlagType::parse(&t).ok_or_else(|| {
            invalid(format!(
                "flagType: must be one of Boolean, String, Number; got {t:?}"
            ))
        })?),
    };
    let effective = flag_type.or(current_type).unwrap_or(FlagType::Boolean);
    let variants = match opt_array(body, "variants")? {
        None => None,
        Some(items) => Some(rules::check_variants(items, effective).map_err(invalid)?),
    };
    let name = match opt_string(body, "name")? {
        Some(n) if n.trim().is_empty() => {
            return Err(invalid("name: must be a non-empty string"));
        }
        other => other,
    };
    Ok(FlagFields {
        name,
        flag_type,
        description: opt_string(body, "description")?.unwrap_or_default(),
        variants,
        labels: opt_strings(body, "labels")?.unwrap_or_default(),
        is_permanent: opt_bool(body, "isPermanent")?.unwrap_or(false),
    })
}

/// Not idempotent, and names are unique: a retried create whose first attempt was applied
/// is answered 409.
pub(super) async fn create(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let name = required_name(&body, "name")?;
    let fields = flag_fields(&body, None)?;
    let flag_type = fields.flag_type.unwrap_or(FlagType::Boolean);
    let seed = app.unify_id_seed;
    let view = app
        .store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            if application.flag_by_name(&name).is_some() {
                return Err(already_exists(format!(
                    "a flag named {name:?} already exists in application {app_id:?}"
                )));
            }
            let envs = application.linked_environment_ids.clone();
            let now = now_rfc3339();
            let (seq, id) = data.unify.fresh_id(seed);
            let configurations = envs
                .into_iter()
                .map(|env| {
                    let (_, config_seed) = data.unify.next_id(seed);
                    (env, new_configuration(config_seed, &now))
                })
                .collect();
            let flag = Flag {
                id: id.clone(),
                name,
                description: fields.description,
                flag_type,
                variants: fields
                    .variants
                    .unwrap_or_else(|| unify_default_variants(flag_type)),
                labels: fields.labels,
                is_permanent: fields.is_permanent,
                created: now.clone(),
                updated: now,
                seq,
                configurations,
            };
            let view = flag_view(&app_id, &flag, &[]);
            application_mut(data, &app_id)?.flags.insert(id, flag);
            Ok(view)
        })
        .await?;
    Ok(Json(json!({ "flag": view })))
}

/// Replaces description, variants, labels and isPermanent; name and type cannot change.
pub(super) async fn update(
    State(app): State<Shared>,
    Names((app_id, flag_id)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let view = app
        .store
        .write(S, move |data| {
            let (_, current) = find_flag(data, &app_id, &flag_id)?;
            let fields = flag_fields(&body, Some(current.flag_type))?;
            if let Some(name) = &fields.name
                && *name != current.name
            {
                return Err(invalid(format!(
                    "name: flag names cannot be changed (flag {:?}); create a new flag instead",
                    current.name
                )));
            }
            if let Some(t) = fields.flag_type
                && t != current.flag_type
            {
                return Err(invalid(format!(
                    "flagType: the type of flag {:?} is {} and cannot be changed to {}; create a new flag instead",
                    current.name,
                    current.flag_type.as_str(),
                    t.as_str()
                )));
            }
            let flag_type = current.flag_type;
            let flag = application_mut(data, &app_id)?
                .flags
                .get_mut(&flag_id)
                .ok_or_else(|| flag_not_found(&app_id, &flag_id))?;
            flag.description = fields.description;
            flag.variants = fields
                .variants
                .unwrap_or_else(|| unify_default_variants(flag_type));
            flag.labels = fields.labels;
            flag.is_permanent = fields.is_permanent;
            flag.updated = now_rfc3339();
            Ok(flag_view(&app_id, flag, &[]))
        })
        .await?;
    Ok(Json(json!({ "flag": view })))
}

/// Refused while the flag is enabled anywhere or another flag depends on it; removes its
/// configurations.
pub(super) async fn delete(
    State(app): State<Shared>,
    Names((app_id, flag_id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .write(S, |data| {
            let (application, flag) = find_flag(data, &app_id, &flag_id)?;
            let org = &application.organization_id;
            let enabled: Vec<String> = flag
                .configurations
                .iter()
                .filter(|(_, c)| c.enabled)
                .map(|(env, _)| env_name(data, org, env))
                .collect();
            if !enabled.is_empty() {
                return Err(failed_precondition(format!(
                    "flag {:?} is enabled in {}; disable it there before deleting it",
                    flag.name,
                    enabled.join(", ")
                )));
            }
            // A flag never depends on itself (cycles are refused), so every user is another.
            refs::refuse_referenced(
                data,
                application,
                |r| refs::names_flag(r, flag),
                |users| {
                    format!(
                        "flag {:?} is a dependency of {users}; remove those conditions first",
                        flag.name
                    )
                },
            )?;
            application_mut(data, &app_id)?.flags.remove(&flag_id);
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn labels(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let labels: BTreeSet<&String> = application(data, &app_id)?
            .flags
            .values()
            .flat_map(|f| f.labels.iter())
            .collect();
        Ok(Json(json!({ "labels": labels })))
    })
}

pub(super) async fn configuration_state(
    State(app): State<Shared>,
    Names((app_id, flag_id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let (application, flag) = find_flag(data, &app_id, &flag_id)?;
        let states = config_states(flag, &application.linked_environment_ids);
        Ok(Json(json!({ "configurationStates": states })))
    })
}

/// The flags that depend on this one, per environment.
pub(super) async fn usage(
    State(app): State<Shared>,
    Names((app_id, flag_id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let (application, flag) = find_flag(data, &app_id, &flag_id)?;
        Ok(Json(refs::usage_per_environment(application, |r| {
            refs::names_flag(r, flag)
        })))
    })
}

pub(super) async fn get_configuration(
    State(app): State<Shared>,
    Names((app_id, flag_id, env_id)): Names<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let (_, _, config) = find_configuration(data, &app_id, &flag_id, &env_id)?;
        Ok(Json(
            json!({"configuration": configuration_view(&app_id, config)}),
        ))
    })
}

/// Validates a candidate configuration of `flag_id` in `env_id`, stores it, and grows the
/// flag's variants with the new values it serves.
fn store_configuration(
    data: &mut Data,
    app_id: &str,
    flag_id: &str,
    env_id: &str,
    build: impl FnOnce(&FlagConfiguration) -> Result<FlagConfiguration, ApiError>,
) -> Result<(), ApiError> {
    let (application, flag, current) = find_configuration(data, app_id, flag_id, env_id)?;
    let mut candidate = build(current)?;
    rules::check_value(&candidate.default_value, flag.flag_type, "defaultValue")
        .map_err(invalid)?;
    let mut raw = RawRefs::default();
    rules::check_flag_conditions(&candidate.conditions, flag.flag_type, &mut raw)
        .map_err(invalid)?;
    let deps = refs::check_exist(application, &raw)?;
    if let Some(cycle) = refs::flag_cycle(application, flag_id, env_id, &deps) {
        return Err(invalid(format!(
            "conditions: flag dependency cycle in environment {:?}: {}",
            env_name(data, &application.organization_id, env_id),
            cycle.join(" -> ")
        )));
    }
    let now = now_rfc3339();
    candidate.updated.clone_from(&now);
    let served = rules::served_values(&candidate.default_value, &candidate.conditions);
    let flag = application_mut(data, app_id)?
        .flags
        .get_mut(flag_id)
        .ok_or_else(|| flag_not_found(app_id, flag_id))?;
    let mut grew = false;
    for value in served {
        let flag_type = flag.flag_type;
        if !flag
            .variants
            .iter()
            .any(|v| rules::same_variant(flag_type, v, &value))
        {
            flag.variants.push(value);
            grew = true;
        }
    }
    if grew {
        flag.updated.clone_from(&now);
    }
    flag.configurations.insert(env_id.to_owned(), candidate);
    Ok(())
}

fn required_conditions(body: &Map<String, Value>) -> Result<Option<Vec<Value>>, ApiError> {
    Ok(opt_array(body, "conditions")?.cloned())
}

fn stickiness(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match opt_string(body, "stickinessProperty")? {
        Some(s) if s.is_empty() => Err(invalid(
            "stickinessProperty: must be a non-empty property name",
        )),
        other => Ok(other),
    }
}

/// Replaces the configuration; `enabled` and `defaultValue` are required, an omitted `seed`
/// keeps the current one.
pub(super) async fn put_configuration(
    State(app): State<Shared>,
    Names((app_id, flag_id, env_id)): Names<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let enabled = opt_bool(&body, "enabled")?
        .ok_or_else(|| invalid("enabled: required (PUT replaces the whole configuration)"))?;
    let default_value = match body.get("defaultValue") {
        None | Some(Value::Null) => {
            return Err(invalid(
                "defaultValue: required (PUT replaces the whole configuration)",
            ));
        }
        Some(v) => v.clone(),
    };
    let conditions = required_conditions(&body)?.unwrap_or_default();
    let stickiness = stickiness(&body)?.unwrap_or_else(|| UNIFY_DEFAULT_STICKINESS.to_owned());
    let variants_enabled = opt_bool(&body, "variantsEnabled")?.unwrap_or(false);
    let seed = match opt_string(&body, "seed")? {
        Some(s) if s.is_empty() => return Err(invalid("seed: must be a non-empty string")),
        other => other,
    };
    app.store
        .write(S, |data| {
            store_configuration(data, &app_id, &flag_id, &env_id, |current| {
                Ok(FlagConfiguration {
                    enabled,
                    default_value,
                    conditions,
                    seed: seed.unwrap_or_else(|| current.seed.clone()),
                    stickiness_property: stickiness,
                    variants_enabled,
                    created: current.created.clone(),
                    updated: current.updated.clone(),
                })
            })
        })
        .await?;
    Ok(Json(json!({})))
}

/// Changes the fields present; `conditions: []` wipes the rules.
pub(super) async fn patch_configuration(
    State(app): State<Shared>,
    Names((app_id, flag_id, env_id)): Names<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let enabled = opt_bool(&body, "enabled")?;
    let default_value = body.get("defaultValue").filter(|v| !v.is_null()).cloned();
    let conditions = required_conditions(&body)?;
    let stickiness = stickiness(&body)?;
    let variants_enabled = opt_bool(&body, "variantsEnabled")?;
    app.store
        .write(S, |data| {
            store_configuration(data, &app_id, &flag_id, &env_id, |current| {
                let mut next = current.clone();
                if let Some(enabled) = enabled {
                    next.enabled = enabled;
                }
                if let Some(value) = default_value {
                    next.default_value = value;
                }
                if let Some(conditions) = conditions {
                    next.conditions = conditions;
                }
                if let Some(stickiness) = stickiness {
                    next.stickiness_property = stickiness;
                }
                if let Some(variants_enabled) = variants_enabled {
                    next.variants_enabled = variants_enabled;
                }
                Ok(next)
            })
        })
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn set_config_state(
    State(app): State<Shared>,
    Names((app_id, flag_id, env_id)): Names<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let enabled =
        opt_bool(&body, "enabled")?.ok_or_else(|| invalid("enabled: required, a boolean"))?;
    app.store
        .write(S, |data| {
            find_configuration(data, &app_id, &flag_id, &env_id)?;
            let config = application_mut(data, &app_id)?
                .flags
                .get_mut(&flag_id)
                .and_then(|f| f.configurations.get_mut(&env_id))
                .ok_or_else(|| no_configuration(&flag_id, &env_id))?;
            config.enabled = enabled;
            config.updated = now_rfc3339();
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}

/// Every flag's configuration in one environment, in one request.
pub(super) async fn environment_configurations(
    State(app): State<Shared>,
    Names((app_id, env_id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        linked_environment(application, &env_id)?;
        let configurations: Vec<Value> = application
            .flags_in_order()
            .into_iter()
            .filter_map(|flag| {
                let config = flag.configurations.get(&env_id)?;
                Some(json!({
                    "flagId": flag.id,
                    "flagName": flag.name,
                    "description": flag.description,
                    "labels": flag.labels,
                    "created": config.created,
                    "updated": config.updated,
                    "configuration": configuration_view(&app_id, config),
                }))
            })
            .collect();
        Ok(Json(json!({ "configurations": configurations })))
    })
}
