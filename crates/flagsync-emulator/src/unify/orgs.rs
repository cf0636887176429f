//! Organizations, their applications and environments: the lookups a client uses to turn
//! names into ids, the control endpoints that make them, the defaults every emulator has,
//! and the Unify documents' examples.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{
    Application, CustomProperty, Environment, Flag, FlagType, Organization, PropertyType,
    TargetGroup, environment_view, in_creation_order, new_configuration, organization_view,
    service_view,
};
use super::{QueryPairs, invalid, not_found};
use crate::Shared;
use crate::assumptions::{
    UNIFY_DEFAULT_APPLICATION_ID, UNIFY_DEFAULT_APPLICATION_NAME, UNIFY_DEFAULT_ENVIRONMENTS,
    UNIFY_DEFAULT_ORGANIZATION_DISPLAY_NAME, UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
    UNIFY_DEFAULT_ORGANIZATION_ID, UNIFY_EXAMPLE_APPLICATION_ID, UNIFY_EXAMPLE_ENVIRONMENTS,
};
use crate::error::{ApiError, JsonBody, Names, Service};
use crate::state::Data;
use crate::time::now_rfc3339;

fn organization_not_found(org_id: &str) -> ApiError {
    not_found(format!("organization {org_id:?} not found"))
}

/// `GET /v1/organizations/name?name=<domainName>`.
pub(super) async fn organization_by_name(
    State(app): State<Shared>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let Some(name) = query.first("name").filter(|n| !n.is_empty()) else {
        return Err(invalid("name: required, the organization's domain name"));
    };
    app.store.read(|data| {
        data.unify
            .organizations
            .values()
            .find(|o| o.domain_name == name)
            .map(|o| Json(json!({"organization": organization_view(o)})))
            .ok_or_else(|| not_found(format!("no organization with domain name {name:?}")))
    })
}

/// `GET /v1/organizations/{org}/services?typeFilter=APPLICATION_FILTER`.
pub(super) async fn services(
    State(app): State<Shared>,
    Names(org_id): Names<String>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let filter = query
        .first("typeFilter")
        .unwrap_or("SERVICE_WITH_REPO_FILTER")
        .to_owned();
    let keep: fn(&Application) -> bool = match filter.as_str() {
        "SERVICE_WITH_REPO_FILTER" => |a| !a.repository_url.is_empty(),
        "APPLICATION_FILTER" => |a| a.service_type == "APPLICATION",
        "COMPONENT_FILTER" => |a| a.service_type == "COMPONENT",
        other => {
            return Err(invalid(format!(
                "typeFilter: unknown filter {other:?}; use APPLICATION_FILTER, COMPONENT_FILTER or SERVICE_WITH_REPO_FILTER"
            )));
        }
    };
    app.store.read(|data| {
        if !data.unify.organizations.contains_key(&org_id) {
            return Err(organization_not_found(&org_id));
        }
        let services: Vec<Value> = in_creation_order(
            data.unify
                .applications
                .values()
                .filter(|a| a.organization_id == org_id && keep(a)),
        )
        .into_iter()
        .map(service_view)
        .collect();
        Ok(Json(json!({ "service": services })))
    })
}

/// `GET /v2/organizations/{org}/environments[?name=]`.
pub(super) async fn environments(
    State(app): State<Shared>,
    Names(org_id): Names<String>,
    query: QueryPairs,
) -> Result<Json<Value>, ApiError> {
    let name = query
        .first("name")
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    app.store.read(|data| {
        let org = data
            .unify
            .organizations
            .get(&org_id)
            .ok_or_else(|| organization_not_found(&org_id))?;
        let envs: Vec<Value> = in_creation_order(
            org.environments
                .values()
                .filter(|e| name.as_deref().is_none_or(|n| e.name == n)),
        )
        .into_iter()
        .map(|e| environment_view(&org_id, e))
        .collect();
        Ok(Json(json!({ "environments": envs })))
    })
}

/// Body of `POST /_emulator/unify/organizations`: what should exist. Missing parts are
/// made; existing ones (matched by id, else by name) are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OrganizationSpec {
    #[serde(default)]
    pub id: Option<String>,
    pub domain_name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub environments: Vec<EnvironmentSpec>,
    #[serde(default)]
    pub applications: Vec<ApplicationSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EnvironmentSpec {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub is_disabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ApplicationSpec {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub repository_url: String,
    #[serde(default)]
    pub default_branch: String,
    /// `APPLICATION` (default) or `COMPONENT`.
    #[serde(default)]
    pub service_type: Option<String>,
    /// Names of the organization's environments to link; absent: all of them.
    #[serde(default)]
    pub environments: Option<Vec<String>>,
}

/// Makes what `spec` describes exist; answers the organization's id. All or nothing: it
/// checks everything before changing anything.
pub(crate) fn ensure_organization(
    data: &mut Data,
    id_seed: u64,
    spec: &OrganizationSpec,
) -> Result<String, String> {
    let unify = &data.unify;
    let by_id = spec.id.as_ref().and_then(|id| unify.organizations.get(id));
    let by_domain = unify
        .organizations
        .values()
        .find(|o| o.domain_name == spec.domain_name);
    let existing = match (by_id, by_domain, &spec.id) {
        (Some(a), Some(b), _) if a.id != b.id => {
            return Err(format!(
                "domain name {:?} belongs to organization {:?}",
                spec.domain_name, b.id
            ));
        }
        (Some(a), _, _) if a.domain_name != spec.domain_name => {
            return Err(format!(
                "organization {:?} has domain name {:?}",
                a.id, a.domain_name
            ));
        }
        (Some(a), _, _) => Some(a),
        (None, Some(b), Some(id)) => {
            return Err(format!(
                "domain name {:?} belongs to organization {:?}, not {id:?}",
                spec.domain_name, b.id
            ));
        }
        (None, found, _) => found,
    };
    if spec.domain_name.trim().is_empty() {
        return Err("domainName must not be empty".to_owned());
    }
    // Every client-chosen id of something new must be free.
    let new_ids = existing
        .is_none()
        .then_some(&spec.id)
        .into_iter()
        .flatten()
        .chain(spec.environments.iter().filter_map(|e| {
            let known = existing.is_some_and(|o| o.environments.values().any(|x| x.name == e.name));
            (!known).then_some(e.id.as_ref()).flatten()
        }))
        .chain(spec.applications.iter().filter_map(|a| {
            let known = existing.is_some_and(|o| {
                unify
                    .applications
                    .values()
                    .any(|x| x.organization_id == o.id && x.name == a.name)
            });
            (!known).then_some(a.id.as_ref()).flatten()
        }));
    for id in new_ids {
        if id.trim().is_empty() || unify.id_in_use(id) {
            return Err(format!("id {id:?} is empty or already in use"));
        }
    }
    for env in &spec.environments {
        if env.name.trim().is_empty() {
            return Err("an environment name must not be empty".to_owned());
        }
        if let (Some(org), Some(id)) = (existing, &env.id)
            && let Some(found) = org.environments.values().find(|x| x.name == env.name)
            && found.id != *id
        {
            return Err(format!(
                "environment {:?} already exists with id {:?}",
                env.name, found.id
            ));
        }
    }
    let mut env_names: Vec<String> = existing
        .map(|o| o.environments.values().map(|e| e.name.clone()).collect())
        .unwrap_or_default();
    env_names.extend(spec.environments.iter().map(|e| e.name.clone()));
    for app in &spec.applications {
        if app.name.trim().is_empty() {
            return Err("an application name must not be empty".to_owned());
        }
        if let Some(t) = &app.service_type
            && !matches!(t.as_str(), "APPLICATION" | "COMPONENT")
        {
            return Err(format!(
                "serviceType must be APPLICATION or COMPONENT, got {t:?}"
            ));
        }
        for name in app.environments.iter().flatten() {
            if !env_names.contains(name) {
                return Err(format!(
                    "application {:?} links environment {name:?}, which the organization does not have",
                    app.name
                ));
            }
        }
        if let (Some(org), Some(id)) = (existing, &app.id)
            && let Some(found) = unify
                .applications
                .values()
                .find(|x| x.organization_id == org.id && x.name == app.name)
            && found.id != *id
        {
            return Err(format!(
                "application {:?} already exists with id {:?}",
                app.name, found.id
            ));
        }
    }

    // Checked: now make it.
    let org_id = match existing {
        Some(org) => org.id.clone(),
        None => {
            let (seq, fresh) = data.unify.fresh_id(id_seed);
            let id = spec.id.clone().unwrap_or(fresh);
            data.unify.organizations.insert(
                id.clone(),
                Organization {
                    id: id.clone(),
                    domain_name: spec.domain_name.clone(),
                    display_name: spec
                        .display_name
                        .clone()
                        .unwrap_or_else(|| spec.domain_name.clone()),
                    environments: Default::default(),
                    seq,
                },
            );
            id
        }
    };
    for env in &spec.environments {
        let known = data
            .unify
            .organizations
            .get(&org_id)
            .is_some_and(|o| o.environments.values().any(|x| x.name == env.name));
        if known {
            continue;
        }
        let (seq, fresh) = data.unify.fresh_id(id_seed);
        let id = env.id.clone().unwrap_or(fresh);
        if let Some(org) = data.unify.organizations.get_mut(&org_id) {
            org.environments.insert(
                id.clone(),
                Environment {
                    id,
                    name: env.name.clone(),
                    is_disabled: env.is_disabled,
                    seq,
                },
            );
        }
    }
    let org_envs: Vec<(String, String)> = data
        .unify
        .organizations
        .get(&org_id)
        .map(|o| {
            in_creation_order(o.environments.values())
                .into_iter()
                .map(|e| (e.id.clone(), e.name.clone()))
                .collect()
        })
        .unwrap_or_default();
    for spec_app in &spec.applications {
        let app_id = match data
            .unify
            .applications
            .values()
            .find(|x| x.organization_id == org_id && x.name == spec_app.name)
        {
            Some(found) => found.id.clone(),
            None => {
                let (seq, fresh) = data.unify.fresh_id(id_seed);
                let (_, endpoint_id) = data.unify.next_id(id_seed);
                let id = spec_app.id.clone().unwrap_or(fresh);
                data.unify.applications.insert(
                    id.clone(),
                    Application {
                        id: id.clone(),
                        organization_id: org_id.clone(),
                        name: spec_app.name.clone(),
                        description: spec_app.description.clone(),
                        repository_url: spec_app.repository_url.clone(),
                        default_branch: spec_app.default_branch.clone(),
                        endpoint_id,
                        service_type: spec_app
                            .service_type
                            .clone()
                            .unwrap_or_else(|| "APPLICATION".to_owned()),
                        linked_environment_ids: Vec::new(),
                        seq,
                        flags: Default::default(),
                        target_groups: Default::default(),
                        custom_properties: Default::default(),
                    },
                );
                id
            }
        };
        let wanted: Vec<String> = org_envs
            .iter()
            .filter(|(_, name)| {
                spec_app
                    .environments
                    .as_ref()
                    .is_none_or(|names| names.contains(name))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for env_id in wanted {
            link_environment(data, id_seed, &app_id, &env_id);
        }
    }
    Ok(org_id)
}

/// Links an environment to an application, giving each of its flags a configuration there.
fn link_environment(data: &mut Data, id_seed: u64, app_id: &str, env_id: &str) {
    let Some(app) = data.unify.applications.get(app_id) else {
        return;
    };
    if app.is_linked(env_id) {
        return;
    }
    let flag_ids: Vec<String> = app.flags.keys().cloned().collect();
    let seeds: Vec<String> = flag_ids
        .iter()
        .map(|_| data.unify.next_id(id_seed).1)
        .collect();
    let now = now_rfc3339();
    if let Some(app) = data.unify.applications.get_mut(app_id) {
        app.linked_environment_ids.push(env_id.to_owned());
        for (flag_id, seed) in flag_ids.iter().zip(seeds) {
            if let Some(flag) = app.flags.get_mut(flag_id) {
                flag.configurations
                    .entry(env_id.to_owned())
                    .or_insert_with(|| new_configuration(seed, &now));
            }
        }
    }
}

fn default_organization() -> OrganizationSpec {
    OrganizationSpec {
        id: Some(UNIFY_DEFAULT_ORGANIZATION_ID.to_owned()),
        domain_name: UNIFY_DEFAULT_ORGANIZATION_DOMAIN.to_owned(),
        display_name: Some(UNIFY_DEFAULT_ORGANIZATION_DISPLAY_NAME.to_owned()),
        environments: UNIFY_DEFAULT_ENVIRONMENTS
            .iter()
            .map(|(id, name)| EnvironmentSpec {
                id: Some((*id).to_owned()),
                name: (*name).to_owned(),
                is_disabled: false,
            })
            .collect(),
        applications: vec![ApplicationSpec {
            id: Some(UNIFY_DEFAULT_APPLICATION_ID.to_owned()),
            name: UNIFY_DEFAULT_APPLICATION_NAME.to_owned(),
            description: "The emulator's default application".to_owned(),
            repository_url: String::new(),
            default_branch: String::new(),
            service_type: None,
            environments: Some(
                UNIFY_DEFAULT_ENVIRONMENTS
                    .iter()
                    .map(|(_, name)| (*name).to_owned())
                    .collect(),
            ),
        }],
    }
}

/// Makes the default organization, application and environments exist (at every start;
/// nothing is written when they already do).
pub(crate) async fn ensure_defaults(app: &Shared) {
    let present = app.store.read(|data| {
        data.unify
            .applications
            .get(UNIFY_DEFAULT_APPLICATION_ID)
            .is_some_and(|a| {
                UNIFY_DEFAULT_ENVIRONMENTS
                    .iter()
                    .all(|(id, _)| a.is_linked(id))
            })
    });
    if present {
        return;
    }
    let seed = app.unify_id_seed;
    let result = app
        .store
        .write(Service::Emulator, |data| {
            ensure_organization(data, seed, &default_organization())
                .map_err(|e| ApiError::internal(Service::Emulator, e))
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e.message, "could not create the default Unify organization");
    }
}

/// Loads the resources the Unify documents use in their examples into the default
/// organization (see `EmulatorConfig::preload_examples`); what exists is kept.
pub(crate) async fn preload_examples(app: &Shared) {
    let seed = app.unify_id_seed;
    let result = app
        .store
        .write(Service::Emulator, |data| {
            let mut spec = default_organization();
            spec.environments
                .extend(
                    UNIFY_EXAMPLE_ENVIRONMENTS
                        .iter()
                        .map(|(id, name)| EnvironmentSpec {
                            id: Some((*id).to_owned()),
                            name: (*name).to_owned(),
                            is_disabled: false,
                        }),
                );
            spec.applications = vec![ApplicationSpec {
                id: Some(UNIFY_EXAMPLE_APPLICATION_ID.to_owned()),
                name: "docs-example-application".to_owned(),
                description: "The application of the Unify documents' examples".to_owned(),
                repository_url: String::new(),
                default_branch: String::new(),
                service_type: None,
                environments: Some(
                    UNIFY_EXAMPLE_ENVIRONMENTS
                        .iter()
                        .map(|(_, name)| (*name).to_owned())
                        .collect(),
                ),
            }];
            ensure_organization(data, seed, &spec)
                .map_err(|e| ApiError::internal(Service::Emulator, e))?;
            add_example_resources(data, seed);
            Ok(())
        })
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e.message, "could not preload the Unify documents' examples");
    }
}

/// The documents' custom properties, their `BetaTesters` target group and the
/// `default.newDashboard` flag, enabled in the first example environment.
fn add_example_resources(data: &mut Data, seed: u64) {
    let now = now_rfc3339();
    let next = |data: &mut Data| data.unify.next_id(seed);
    let properties = [
        ("age", PropertyType::Number, ""),
        ("country", PropertyType::String, ""),
        (
            "exampleProperty",
            PropertyType::String,
            "Example description",
        ),
    ];
    let mut new_properties = Vec::new();
    for (name, property_type, description) in properties {
        let (seq, id) = next(data);
        new_properties.push(CustomProperty {
            id,
            name: name.to_owned(),
            property_type,
            description: description.to_owned(),
            created: now.clone(),
            updated: now.clone(),
            seq,
        });
    }
    let (group_seq, _) = next(data);
    let (flag_seq, _) = next(data);
    let seeds: Vec<String> = UNIFY_EXAMPLE_ENVIRONMENTS
        .iter()
        .map(|_| next(data).1)
        .collect();
    let Some(app) = data
        .unify
        .applications
        .get_mut(UNIFY_EXAMPLE_APPLICATION_ID)
    else {
        return;
    };
    for property in new_properties {
        if app.property_by_name(&property.name).is_none() {
            app.custom_properties.insert(property.id.clone(), property);
        }
    }
    const GROUP_ID: &str = "12345678-1234-5678-1234-56781234abcd";
    if app.target_group_by_name("BetaTesters").is_none()
        && !app.target_groups.contains_key(GROUP_ID)
    {
        app.target_groups.insert(
            GROUP_ID.to_owned(),
            TargetGroup {
                id: GROUP_ID.to_owned(),
                name: "BetaTesters".to_owned(),
                description: String::new(),
                conditions: json!({"allOf": [
                    {"property": {"name": "age", "operator": "gte", "operands": [18]}},
                    {"property": {"name": "country", "operator": "in-array", "operands": ["US", "CA"]}},
                ]}),
                created: now.clone(),
                updated: now.clone(),
                seq: group_seq,
            },
        );
    }
    const FLAG_ID: &str = "f7d3c8a1-4b2e-5f9a-b6c4-e1d8f3a7b5c2";
    if app.flag_by_name("default.newDashboard").is_none() && !app.flags.contains_key(FLAG_ID) {
        let configurations = UNIFY_EXAMPLE_ENVIRONMENTS
            .iter()
            .zip(seeds)
            .enumerate()
            .map(|(i, ((env, _), seed))| {
                let mut config = new_configuration(seed, &now);
                if i == 0 {
                    config.enabled = true;
                    config.default_value = json!(false);
                }
                ((*env).to_owned(), config)
            })
            .collect();
        app.flags.insert(
            FLAG_ID.to_owned(),
            Flag {
                id: FLAG_ID.to_owned(),
                name: "default.newDashboard".to_owned(),
                description: "Enables the new dashboard experience".to_owned(),
                flag_type: FlagType::Boolean,
                variants: vec!["false".to_owned(), "true".to_owned()],
                labels: vec!["frontend".to_owned(), "q1-release".to_owned()],
                is_permanent: false,
                created: now.clone(),
                updated: now,
                seq: flag_seq,
                configurations,
            },
        );
    }
}

pub(crate) fn control_routes() -> Router<Shared> {
    Router::new().route(
        "/_emulator/unify/organizations",
        get(list_organizations).post(post_organization),
    )
}

fn organization_tree(data: &Data, org: &Organization) -> Value {
    let envs = in_creation_order(org.environments.values());
    let apps = in_creation_order(
        data.unify
            .applications
            .values()
            .filter(|a| a.organization_id == org.id),
    );
    json!({
        "id": org.id,
        "domainName": org.domain_name,
        "displayName": org.display_name,
        "environments": envs.into_iter().map(|e| environment_view(&org.id, e)).collect::<Vec<_>>(),
        "applications": apps.into_iter().map(service_view).collect::<Vec<_>>(),
    })
}

/// `GET /_emulator/unify/organizations`: every organization with its environments and
/// applications.
async fn list_organizations(State(app): State<Shared>) -> Json<Value> {
    app.store.read(|data| {
        let mut orgs: Vec<&Organization> = data.unify.organizations.values().collect();
        orgs.sort_by_key(|o| o.seq);
        let orgs: Vec<Value> = orgs
            .into_iter()
            .map(|o| organization_tree(data, o))
            .collect();
        Json(json!({ "organizations": orgs }))
    })
}

/// `POST /_emulator/unify/organizations`: makes an organization, its environments and
/// applications exist (see [`OrganizationSpec`]); answers the organization as
/// `GET /_emulator/unify/organizations` lists it.
async fn post_organization(
    State(app): State<Shared>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let spec: OrganizationSpec = serde_json::from_value(body).map_err(|e| {
        ApiError::bad_request(Service::Emulator, format!("invalid organization: {e}"))
    })?;
    let seed = app.unify_id_seed;
    let tree = app
        .store
        .write(Service::Emulator, |data| {
            let org_id = ensure_organization(data, seed, &spec)
                .map_err(|e| ApiError::bad_request(Service::Emulator, e))?;
            Ok(data
                .unify
                .organizations
                .get(&org_id)
                .map(|o| organization_tree(data, o))
                .unwrap_or(Value::Null))
        })
        .await?;
    Ok(Json(tree))
}
