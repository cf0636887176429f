//! Target groups and custom properties.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::model::{
    Application, CustomProperty, PropertyType, TargetGroup, property_view, target_group_view,
};
use super::rules::{self, RawRefs};
use super::{
    already_exists, application, application_mut, invalid, not_found, object, opt_string, refs,
    required_name,
};
use crate::Shared;
use crate::error::{ApiError, JsonBody, Names, Service};
use crate::state::Data;
use crate::time::now_rfc3339;

const S: Service = Service::Unify;

fn group_not_found(app_id: &str, group: &str) -> ApiError {
    not_found(format!(
        "target group {group:?} not found in application {app_id:?}"
    ))
}

fn property_not_found(app_id: &str, property: &str) -> ApiError {
    not_found(format!(
        "custom property {property:?} not found in application {app_id:?}"
    ))
}

fn find_group<'a>(data: &'a Data, app_id: &str, id: &str) -> Result<&'a TargetGroup, ApiError> {
    application(data, app_id)?
        .target_groups
        .get(id)
        .ok_or_else(|| group_not_found(app_id, id))
}

fn find_property<'a>(
    data: &'a Data,
    app_id: &str,
    id: &str,
) -> Result<&'a CustomProperty, ApiError> {
    application(data, app_id)?
        .custom_properties
        .get(id)
        .ok_or_else(|| property_not_found(app_id, id))
}

pub(super) async fn list_groups(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let mut groups: Vec<&TargetGroup> = application.target_groups.values().collect();
        groups.sort_by_key(|g| g.seq);
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|g| target_group_view(&app_id, g))
            .collect();
        Ok(Json(json!({ "targetGroups": groups })))
    })
}

pub(super) async fn get_group(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let group = find_group(data, &app_id, &id)?;
        Ok(Json(
            json!({"targetGroup": target_group_view(&app_id, group)}),
        ))
    })
}

pub(super) async fn group_by_name(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let group = application(data, &app_id)?
            .target_group_by_name(&name)
            .ok_or_else(|| group_not_found(&app_id, &name))?;
        Ok(Json(
            json!({"targetGroup": target_group_view(&app_id, group)}),
        ))
    })
}

/// Name, description and checked conditions of a target group body; the target-group ids
/// its conditions refer to.
fn group_fields(
    application: &Application,
    body: &Map<String, Value>,
) -> Result<(String, String, Value, BTreeSet<String>), ApiError> {
    let name = required_name(body, "name")?;
    let description = opt_string(body, "description")?.unwrap_or_default();
    let conditions = match body.get("conditions") {
        None | Some(Value::Null) => {
            return Err(invalid(
                "conditions: required, an object with one of allOf, anyOf, not, property, group",
            ));
        }
        Some(c) => c.clone(),
    };
    let mut raw = RawRefs::default();
    rules::check_group_conditions(&conditions, &mut raw).map_err(invalid)?;
    refs::check_exist(application, &raw)?;
    let groups = raw.groups.into_iter().map(|(_, id)| id).collect();
    Ok((name, description, conditions, groups))
}

/// Not idempotent, and names are unique: a retried create whose first attempt was applied
/// is answered 409.
pub(super) async fn create_group(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let seed = app.unify_id_seed;
    let view = app
        .store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            // A new group cannot be in a cycle: nothing refers to its id yet.
            let (name, description, conditions, _) = group_fields(application, &body)?;
            if application.target_group_by_name(&name).is_some() {
                return Err(already_exists(format!(
                    "a target group named {name:?} already exists in application {app_id:?}"
                )));
            }
            let (seq, id) = data.unify.fresh_id(seed);
            let now = now_rfc3339();
            let group = TargetGroup {
                id: id.clone(),
                name,
                description,
                conditions,
                created: now.clone(),
                updated: now,
                seq,
            };
            let view = target_group_view(&app_id, &group);
            application_mut(data, &app_id)?
                .target_groups
                .insert(id, group);
            Ok(view)
        })
        .await?;
    Ok(Json(json!({ "targetGroup": view })))
}

/// A full replace; renaming is allowed (conditions refer to groups by id).
pub(super) async fn update_group(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let view = app
        .store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            find_group(data, &app_id, &id)?;
            let (name, description, conditions, groups) = group_fields(application, &body)?;
            if application
                .target_group_by_name(&name)
                .is_some_and(|other| other.id != id)
            {
                return Err(already_exists(format!(
                    "a target group named {name:?} already exists in application {app_id:?}"
                )));
            }
            if let Some(cycle) = refs::group_cycle(application, &id, &name, &groups) {
                return Err(invalid(format!(
                    "conditions: target group cycle: {}",
                    cycle.join(" -> ")
                )));
            }
            let group = application_mut(data, &app_id)?
                .target_groups
                .get_mut(&id)
                .ok_or_else(|| group_not_found(&app_id, &id))?;
            group.name = name;
            group.description = description;
            group.conditions = conditions;
            group.updated = now_rfc3339();
            Ok(target_group_view(&app_id, group))
        })
        .await?;
    Ok(Json(json!({ "targetGroup": view })))
}

fn names_group(refs: &RawRefs, id: &str) -> bool {
    refs.groups.iter().any(|(_, g)| g == id)
}

fn names_property(refs: &RawRefs, name: &str) -> bool {
    refs.properties.iter().any(|(_, p)| p == name)
}

/// Refused while a configuration or another target group refers to it.
pub(super) async fn delete_group(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .write(S, |data| {
            let application = application(data, &app_id)?;
            let group = find_group(data, &app_id, &id)?;
            refs::refuse_referenced(
                data,
                application,
                |r| names_group(r, &id),
                |users| {
                    format!(
                        "target group {:?} is used by {users}; remove those references first",
                        group.name
                    )
                },
            )?;
            application_mut(data, &app_id)?.target_groups.remove(&id);
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}

/// Every target group with the flags whose configurations (in any environment) use it.
pub(super) async fn groups_with_usage(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let mut groups: Vec<&TargetGroup> = application.target_groups.values().collect();
        groups.sort_by_key(|g| g.seq);
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|group| {
                let usage: Vec<Value> = application
                    .flags_in_order()
                    .into_iter()
                    .filter(|flag| {
                        flag.configurations.values().any(|c| {
                            names_group(
                                &refs::collect(&Value::Array(c.conditions.clone())),
                                &group.id,
                            )
                        })
                    })
                    .map(|flag| json!({"id": flag.id, "name": flag.name, "resourceId": app_id}))
                    .collect();
                json!({
                    "id": group.id,
                    "name": group.name,
                    "flagUsage": usage,
                    "updated": group.updated,
                    "resourceId": app_id,
                    "cascUrl": crate::assumptions::UNIFY_CASC_URL,
                })
            })
            .collect();
        Ok(Json(json!({ "targetGroupsWithFlagUsage": groups })))
    })
}

pub(super) async fn group_usage(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        find_group(data, &app_id, &id)?;
        Ok(Json(refs::usage_per_environment(application, |r| {
            names_group(r, &id)
        })))
    })
}

pub(super) async fn list_properties(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let mut properties: Vec<&CustomProperty> = application.custom_properties.values().collect();
        properties.sort_by_key(|p| p.seq);
        let properties: Vec<Value> = properties
            .into_iter()
            .map(|p| property_view(&app_id, p))
            .collect();
        Ok(Json(json!({ "customProperties": properties })))
    })
}

pub(super) async fn get_property(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let property = find_property(data, &app_id, &id)?;
        Ok(Json(
            json!({"customProperty": property_view(&app_id, property)}),
        ))
    })
}

pub(super) async fn property_by_name(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let property = application(data, &app_id)?
            .property_by_name(&name)
            .ok_or_else(|| property_not_found(&app_id, &name))?;
        Ok(Json(
            json!({"customProperty": property_view(&app_id, property)}),
        ))
    })
}

fn property_fields(body: &Map<String, Value>) -> Result<(String, PropertyType, String), ApiError> {
    let name = required_name(body, "name")?;
    let property_type = match opt_string(body, "type")? {
        Some(t) => PropertyType::parse(&t).ok_or_else(|| {
            invalid(format!(
                "type: must be one of Boolean, String, Semver, Number, DateTime; got {t:?}"
            ))
        })?,
        None => {
            return Err(invalid(
                "type: required, one of Boolean, String, Semver, Number, DateTime",
            ));
        }
    };
    let description = opt_string(body, "description")?.unwrap_or_default();
    Ok((name, property_type, description))
}

/// Not idempotent, and names are unique: a retried create whose first attempt was applied
/// is answered 409.
pub(super) async fn create_property(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let (name, property_type, description) = property_fields(&body)?;
    let seed = app.unify_id_seed;
    let view = app
        .store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            if application.property_by_name(&name).is_some() {
                return Err(already_exists(format!(
                    "a custom property named {name:?} already exists in application {app_id:?}"
                )));
            }
            let (seq, id) = data.unify.fresh_id(seed);
            let now = now_rfc3339();
            let property = CustomProperty {
                id: id.clone(),
                name,
                property_type,
                description,
                created: now.clone(),
                updated: now,
                seq,
            };
            let view = property_view(&app_id, &property);
            application_mut(data, &app_id)?
                .custom_properties
                .insert(id, property);
            Ok(view)
        })
        .await?;
    Ok(Json(json!({ "customProperty": view })))
}

/// Every field is required; the type cannot change, and a referenced property cannot be
/// renamed (conditions name properties).
pub(super) async fn update_property(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let (name, property_type, description) = property_fields(&body)?;
    let view = app
        .store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            let current = find_property(data, &app_id, &id)?;
            if property_type != current.property_type {
                return Err(invalid(format!(
                    "type: the type of property {:?} is {} and cannot be changed to {}",
                    current.name,
                    current.property_type.as_str(),
                    property_type.as_str()
                )));
            }
            if name != current.name {
                if application.property_by_name(&name).is_some() {
                    return Err(already_exists(format!(
                        "a custom property named {name:?} already exists in application {app_id:?}"
                    )));
                }
                refs::refuse_referenced(
                    data,
                    application,
                    |r| names_property(r, &current.name),
                    |users| {
                        format!(
                            "property {:?} is used by {users} (conditions name properties); it cannot be renamed",
                            current.name
                        )
                    },
                )?;
            }
            let property = application_mut(data, &app_id)?
                .custom_properties
                .get_mut(&id)
                .ok_or_else(|| property_not_found(&app_id, &id))?;
            property.name = name;
            property.description = description;
            property.updated = now_rfc3339();
            Ok(property_view(&app_id, property))
        })
        .await?;
    Ok(Json(json!({ "customProperty": view })))
}

/// Refused while a configuration or a target group refers to it.
pub(super) async fn delete_property(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .write(S, |data| {
            let application = application(data, &app_id)?;
            let property = find_property(data, &app_id, &id)?;
            refs::refuse_referenced(
                data,
                application,
                |r| names_property(r, &property.name),
                |users| {
                    format!(
                        "property {:?} is used by {users}; remove those references first",
                        property.name
                    )
                },
            )?;
            application_mut(data, &app_id)?
                .custom_properties
                .remove(&id);
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn property_usage(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let name = find_property(data, &app_id, &id)?.name.clone();
        Ok(Json(refs::usage_per_environment(application, |r| {
            names_property(r, &name)
        })))
    })
}

pub(super) async fn property_group_usage(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let name = &find_property(data, &app_id, &id)?.name;
        let mut groups: Vec<&TargetGroup> = application
            .target_groups
            .values()
            .filter(|g| names_property(&refs::collect(&g.conditions), name))
            .collect();
        groups.sort_by_key(|g| g.seq);
        let usage: Vec<Value> = groups
            .into_iter()
            .map(|g| json!({"id": g.id, "name": g.name, "resourceId": app_id}))
            .collect();
        Ok(Json(json!({ "targetGroupUsage": usage })))
    })
}
