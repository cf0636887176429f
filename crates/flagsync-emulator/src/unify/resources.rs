//! Target groups and custom properties.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::model::{
    Application, CustomProperty, Object, PropertyType, TargetGroup, in_creation_order,
    property_view, target_group_view,
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

/// Target groups and custom properties: named objects of an application, kept by id, listed
/// in creation order and served under a key of their own. Listing, reading, creating and
/// deleting them and their usage per environment work alike, so those handlers are generic
/// over this; their bodies and updates differ.
pub(super) trait Resource: Object + Sized {
    /// What messages call one.
    const WHAT: &'static str;
    /// What a refused delete calls one.
    const IN_USE: &'static str;
    /// The key one is served under, and the key of the list.
    const ONE: &'static str;
    const MANY: &'static str;
    fn all(app: &Application) -> &BTreeMap<String, Self>;
    fn all_mut(app: &mut Application) -> &mut BTreeMap<String, Self>;
    fn view(&self, app_id: &str) -> Value;
    /// Whether conditions with these references refer to this one.
    fn named_in(&self, refs: &RawRefs) -> bool;
}

impl Resource for TargetGroup {
    const WHAT: &'static str = "target group";
    const IN_USE: &'static str = "target group";
    const ONE: &'static str = "targetGroup";
    const MANY: &'static str = "targetGroups";
    fn all(app: &Application) -> &BTreeMap<String, Self> {
        &app.target_groups
    }
    fn all_mut(app: &mut Application) -> &mut BTreeMap<String, Self> {
        &mut app.target_groups
    }
    fn view(&self, app_id: &str) -> Value {
        target_group_view(app_id, self)
    }
    /// Conditions name a target group by id.
    fn named_in(&self, refs: &RawRefs) -> bool {
        refs.groups.iter().any(|(_, g)| *g == self.id)
    }
}

impl Resource for CustomProperty {
    const WHAT: &'static str = "custom property";
    const IN_USE: &'static str = "property";
    const ONE: &'static str = "customProperty";
    const MANY: &'static str = "customProperties";
    fn all(app: &Application) -> &BTreeMap<String, Self> {
        &app.custom_properties
    }
    fn all_mut(app: &mut Application) -> &mut BTreeMap<String, Self> {
        &mut app.custom_properties
    }
    fn view(&self, app_id: &str) -> Value {
        property_view(app_id, self)
    }
    /// Conditions name a property by name.
    fn named_in(&self, refs: &RawRefs) -> bool {
        refs.properties.iter().any(|(_, p)| *p == self.name)
    }
}

/// The routes both kinds have under `base` (`{app}/target-groups`, `{app}/custom-properties`):
/// the list and `create`, one by name, one by id (read, `update`, delete), and its usage
/// per environment.
pub(super) fn routes<T: Resource + Send + Sync + 'static>(
    router: Router<Shared>,
    base: &str,
    create: MethodRouter<Shared>,
    update: MethodRouter<Shared>,
) -> Router<Shared> {
    router
        .route(base, get(list::<T>).merge(create))
        .route(&format!("{base}/by-name/{{name}}"), get(get_by_name::<T>))
        .route(
            &format!("{base}/{{id}}"),
            get(get_one::<T>).merge(update).delete(delete::<T>),
        )
        .route(
            &format!("{base}/{{id}}/flag-usage-per-environment"),
            get(usage::<T>),
        )
}

fn not_found_in<T: Resource>(app_id: &str, id_or_name: &str) -> ApiError {
    not_found(format!(
        "{} {id_or_name:?} not found in application {app_id:?}",
        T::WHAT
    ))
}

fn find<'a, T: Resource>(data: &'a Data, app_id: &str, id: &str) -> Result<&'a T, ApiError> {
    T::all(application(data, app_id)?)
        .get(id)
        .ok_or_else(|| not_found_in::<T>(app_id, id))
}

fn find_mut<'a, T: Resource>(
    data: &'a mut Data,
    app_id: &str,
    id: &str,
) -> Result<&'a mut T, ApiError> {
    T::all_mut(application_mut(data, app_id)?)
        .get_mut(id)
        .ok_or_else(|| not_found_in::<T>(app_id, id))
}

fn by_name<'a, T: Resource>(application: &'a Application, name: &str) -> Option<&'a T> {
    T::all(application).values().find(|o| o.name() == name)
}

/// Names are unique in an application: refused when one other than `id` has `name`.
fn refuse_taken<T: Resource>(
    application: &Application,
    app_id: &str,
    name: &str,
    id: Option<&str>,
) -> Result<(), ApiError> {
    match by_name::<T>(application, name) {
        Some(other) if Some(other.id()) != id => Err(already_exists(format!(
            "a {} named {name:?} already exists in application {app_id:?}",
            T::WHAT
        ))),
        _ => Ok(()),
    }
}

/// An answer with one field, like `{"targetGroup": ...}`.
fn keyed(key: &str, value: Value) -> Json<Value> {
    Json(Value::Object(Map::from_iter([(key.to_owned(), value)])))
}

async fn list<T: Resource>(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let views: Vec<Value> = in_creation_order(T::all(application(data, &app_id)?).values())
            .into_iter()
            .map(|o| o.view(&app_id))
            .collect();
        Ok(keyed(T::MANY, Value::Array(views)))
    })
}

async fn get_one<T: Resource>(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .read(|data| Ok(keyed(T::ONE, find::<T>(data, &app_id, &id)?.view(&app_id))))
}

async fn get_by_name<T: Resource>(
    State(app): State<Shared>,
    Names((app_id, name)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let found = by_name::<T>(application(data, &app_id)?, &name)
            .ok_or_else(|| not_found_in::<T>(&app_id, &name))?;
        Ok(keyed(T::ONE, found.view(&app_id)))
    })
}

/// Stores a new one named `name` (unless the name is taken), made by `make` from its id,
/// name, creation number and time; answers it. Not idempotent, and names are unique: a
/// retried create whose first attempt was applied is answered 409.
fn create_new<T: Resource>(
    data: &mut Data,
    app_id: &str,
    seed: u64,
    name: String,
    make: impl FnOnce(String, String, u64, String) -> T,
) -> Result<Json<Value>, ApiError> {
    refuse_taken::<T>(application(data, app_id)?, app_id, &name, None)?;
    let (seq, id) = data.unify.fresh_id(seed);
    let created = make(id.clone(), name, seq, now_rfc3339());
    let view = created.view(app_id);
    T::all_mut(application_mut(data, app_id)?).insert(id, created);
    Ok(keyed(T::ONE, view))
}

/// Refused while a configuration or another target group refers to it.
async fn delete<T: Resource>(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store
        .write(S, |data| {
            let application = application(data, &app_id)?;
            let found = find::<T>(data, &app_id, &id)?;
            refs::refuse_referenced(
                data,
                application,
                |r| found.named_in(r),
                |users| {
                    format!(
                        "{} {:?} is used by {users}; remove those references first",
                        T::IN_USE,
                        found.name()
                    )
                },
            )?;
            T::all_mut(application_mut(data, &app_id)?).remove(&id);
            Ok(())
        })
        .await?;
    Ok(Json(json!({})))
}

/// The flags that use it, per environment.
async fn usage<T: Resource>(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let found = find::<T>(data, &app_id, &id)?;
        Ok(Json(refs::usage_per_environment(application, |r| {
            found.named_in(r)
        })))
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

pub(super) async fn create_group(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let seed = app.unify_id_seed;
    app.store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            // A new group cannot be in a cycle: nothing refers to its id yet.
            let (name, description, conditions, _) = group_fields(application, &body)?;
            create_new(data, &app_id, seed, name, |id, name, seq, now| {
                TargetGroup {
                    id,
                    name,
                    description,
                    conditions,
                    created: now.clone(),
                    updated: now,
                    seq,
                }
            })
        })
        .await
}

/// A full replace; renaming is allowed (conditions refer to groups by id).
pub(super) async fn update_group(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    app.store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            find::<TargetGroup>(data, &app_id, &id)?;
            let (name, description, conditions, groups) = group_fields(application, &body)?;
            refuse_taken::<TargetGroup>(application, &app_id, &name, Some(&id))?;
            if let Some(cycle) = refs::group_cycle(application, &id, &name, &groups) {
                return Err(invalid(format!(
                    "conditions: target group cycle: {}",
                    cycle.join(" -> ")
                )));
            }
            let group = find_mut::<TargetGroup>(data, &app_id, &id)?;
            group.name = name;
            group.description = description;
            group.conditions = conditions;
            group.updated = now_rfc3339();
            Ok(keyed(TargetGroup::ONE, group.view(&app_id)))
        })
        .await
}

/// Every target group with the flags whose configurations (in any environment) use it.
pub(super) async fn groups_with_usage(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let groups: Vec<Value> = in_creation_order(application.target_groups.values())
            .into_iter()
            .map(|group| {
                let usage: Vec<Value> = application
                    .flags_in_order()
                    .into_iter()
                    .filter(|flag| {
                        flag.configurations.values().any(|c| {
                            group.named_in(&refs::collect(&Value::Array(c.conditions.clone())))
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

pub(super) async fn create_property(
    State(app): State<Shared>,
    Names(app_id): Names<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let body = object(body)?;
    let (name, property_type, description) = property_fields(&body)?;
    let seed = app.unify_id_seed;
    app.store
        .write(S, move |data| {
            create_new(data, &app_id, seed, name, |id, name, seq, now| {
                CustomProperty {
                    id,
                    name,
                    property_type,
                    description,
                    created: now.clone(),
                    updated: now,
                    seq,
                }
            })
        })
        .await
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
    app.store
        .write(S, move |data| {
            let application = application(data, &app_id)?;
            let current = find::<CustomProperty>(data, &app_id, &id)?;
            if property_type != current.property_type {
                return Err(invalid(format!(
                    "type: the type of property {:?} is {} and cannot be changed to {}",
                    current.name,
                    current.property_type.as_str(),
                    property_type.as_str()
                )));
            }
            if name != current.name {
                refuse_taken::<CustomProperty>(application, &app_id, &name, Some(&id))?;
                refs::refuse_referenced(
                    data,
                    application,
                    |r| current.named_in(r),
                    |users| {
                        format!(
                            "property {:?} is used by {users} (conditions name properties); it cannot be renamed",
                            current.name
                        )
                    },
                )?;
            }
            let property = find_mut::<CustomProperty>(data, &app_id, &id)?;
            property.name = name;
            property.description = description;
            property.updated = now_rfc3339();
            Ok(keyed(CustomProperty::ONE, property.view(&app_id)))
        })
        .await
}

/// The target groups whose conditions name the property.
pub(super) async fn property_group_usage(
    State(app): State<Shared>,
    Names((app_id, id)): Names<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    app.store.read(|data| {
        let application = application(data, &app_id)?;
        let property = find::<CustomProperty>(data, &app_id, &id)?;
        let usage: Vec<Value> = in_creation_order(
            application
                .target_groups
                .values()
                .filter(|g| property.named_in(&refs::collect(&g.conditions))),
        )
        .into_iter()
        .map(|g| json!({"id": g.id, "name": g.name, "resourceId": app_id}))
        .collect();
        Ok(Json(json!({ "targetGroupUsage": usage })))
    })
}
