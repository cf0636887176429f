//! CloudBees Unify data as stored in the state file, and the JSON the API serves for it.
//!
//! Every object keeps a creation sequence number: lists are served in creation order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::assumptions::{UNIFY_CASC_URL, UNIFY_DEFAULT_STICKINESS};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnifyData {
    /// Counter behind every server-assigned id and seed. Persisted and never reused, so ids
    /// stay unique across restarts even though they derive from a fixed seed.
    #[serde(default)]
    pub next_seq: u64,
    /// Organization id to organization.
    #[serde(default)]
    pub organizations: BTreeMap<String, Organization>,
    /// Application id to application (each names its organization).
    #[serde(default)]
    pub applications: BTreeMap<String, Application>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Organization {
    pub id: String,
    pub domain_name: String,
    pub display_name: String,
    /// Environment id to environment: environments belong to the organization and are
    /// linked to applications.
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    #[serde(default)]
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Environment {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub is_disabled: bool,
    #[serde(default)]
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Application {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub repository_url: String,
    #[serde(default)]
    pub default_branch: String,
    #[serde(default)]
    pub endpoint_id: String,
    /// `APPLICATION` or `COMPONENT`.
    pub service_type: String,
    #[serde(default)]
    pub linked_environment_ids: Vec<String>,
    #[serde(default)]
    pub seq: u64,
    /// Flag id to flag (with its configurations).
    #[serde(default)]
    pub flags: BTreeMap<String, Flag>,
    /// Target group id to target group.
    #[serde(default)]
    pub target_groups: BTreeMap<String, TargetGroup>,
    /// Custom property id to custom property.
    #[serde(default)]
    pub custom_properties: BTreeMap<String, CustomProperty>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FlagType {
    Boolean,
    String,
    Number,
}

impl FlagType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "Boolean" => Some(Self::Boolean),
            "String" => Some(Self::String),
            "Number" => Some(Self::Number),
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Boolean => "Boolean",
            Self::String => "String",
            Self::Number => "Number",
        }
    }
    /// What a value of this type is in JSON, for messages.
    pub(crate) fn json_kind(self) -> &'static str {
        match self {
            Self::Boolean => "a JSON boolean",
            Self::String => "a JSON string",
            Self::Number => "a JSON number",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PropertyType {
    Boolean,
    String,
    Semver,
    Number,
    DateTime,
}

impl PropertyType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "Boolean" => Some(Self::Boolean),
            "String" => Some(Self::String),
            "Semver" => Some(Self::Semver),
            "Number" => Some(Self::Number),
            "DateTime" => Some(Self::DateTime),
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Boolean => "Boolean",
            Self::String => "String",
            Self::Semver => "Semver",
            Self::Number => "Number",
            Self::DateTime => "DateTime",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Flag {
    pub id: String,
    pub name: String,
    pub description: String,
    pub flag_type: FlagType,
    pub variants: Vec<String>,
    pub labels: Vec<String>,
    pub is_permanent: bool,
    pub created: String,
    pub updated: String,
    pub seq: u64,
    /// Environment id to this flag's configuration there: exactly one per linked
    /// environment, made with the flag (or with the environment's link).
    #[serde(default)]
    pub configurations: BTreeMap<String, FlagConfiguration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FlagConfiguration {
    pub enabled: bool,
    pub default_value: Value,
    pub conditions: Vec<Value>,
    pub seed: String,
    pub stickiness_property: String,
    pub variants_enabled: bool,
    pub created: String,
    pub updated: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TargetGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub conditions: Value,
    pub created: String,
    pub updated: String,
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomProperty {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub property_type: PropertyType,
    pub description: String,
    pub created: String,
    pub updated: String,
    pub seq: u64,
}

impl UnifyData {
    /// The next sequence number and a UUID (version 4 layout) derived from it and `seed`.
    pub(crate) fn next_id(&mut self, seed: u64) -> (u64, String) {
        self.next_seq += 1;
        let seq = self.next_seq;
        let digest = Sha256::new()
            .chain_update(b"flagsync-emulator unify id\0")
            .chain_update(seed.to_le_bytes())
            .chain_update(seq.to_le_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let id = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        (seq, id)
    }

    /// Whether any organization, environment, application or application resource has `id`.
    pub(crate) fn id_in_use(&self, id: &str) -> bool {
        self.organizations
            .values()
            .any(|o| o.id == id || o.environments.contains_key(id))
            || self.applications.values().any(|a| {
                a.id == id
                    || a.flags.contains_key(id)
                    || a.target_groups.contains_key(id)
                    || a.custom_properties.contains_key(id)
            })
    }

    /// A fresh id: one no object has (a client-chosen id of the control endpoints could
    /// otherwise collide).
    pub(crate) fn fresh_id(&mut self, seed: u64) -> (u64, String) {
        loop {
            let (seq, id) = self.next_id(seed);
            if !self.id_in_use(&id) {
                return (seq, id);
            }
        }
    }

    pub(crate) fn environment(&self, org_id: &str, env_id: &str) -> Option<&Environment> {
        self.organizations.get(org_id)?.environments.get(env_id)
    }
}

/// What every object kept in an organization has: an id, a name (unique among its kind
/// there) and its creation number.
pub(crate) trait Object {
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    fn seq(&self) -> u64;
}

/// The fields have the same names in every kind, so one implementation serves them all.
macro_rules! impl_object {
    ($($kind:ty),+) => {$(
        impl Object for $kind {
            fn id(&self) -> &str {
                &self.id
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn seq(&self) -> u64 {
                self.seq
            }
        }
    )+};
}

impl_object!(Environment, Application, Flag, TargetGroup, CustomProperty);

/// `objects` in creation order, the order lists are served in.
pub(crate) fn in_creation_order<'a, T: Object>(
    objects: impl IntoIterator<Item = &'a T>,
) -> Vec<&'a T> {
    let mut objects: Vec<&T> = objects.into_iter().collect();
    objects.sort_by_key(|o| o.seq());
    objects
}

impl Application {
    pub(crate) fn flag_by_name(&self, name: &str) -> Option<&Flag> {
        self.flags.values().find(|f| f.name == name)
    }
    pub(crate) fn target_group_by_name(&self, name: &str) -> Option<&TargetGroup> {
        self.target_groups.values().find(|g| g.name == name)
    }
    pub(crate) fn property_by_name(&self, name: &str) -> Option<&CustomProperty> {
        self.custom_properties.values().find(|p| p.name == name)
    }
    pub(crate) fn is_linked(&self, env_id: &str) -> bool {
        self.linked_environment_ids.iter().any(|e| e == env_id)
    }
    /// Flags in creation order.
    pub(crate) fn flags_in_order(&self) -> Vec<&Flag> {
        in_creation_order(self.flags.values())
    }
}

/// The configuration a flag gets in an environment it has none in yet: disabled, serving
/// the value written in code, with a fresh seed.
pub(crate) fn new_configuration(seed: String, now: &str) -> FlagConfiguration {
    FlagConfiguration {
        enabled: false,
        default_value: crate::assumptions::unify_new_configuration_default_value(),
        conditions: Vec::new(),
        seed,
        stickiness_property: UNIFY_DEFAULT_STICKINESS.to_owned(),
        variants_enabled: false,
        created: now.to_owned(),
        updated: now.to_owned(),
    }
}

/// Whether the flag is enabled in each of `envs` where it has a configuration, and since
/// when: the `configStates` of a flag, and the configuration-state endpoint.
pub(crate) fn config_states(flag: &Flag, envs: &[String]) -> Vec<Value> {
    envs.iter()
        .filter_map(|env| {
            flag.configurations
                .get(env)
                .map(|c| json!({"environmentId": env, "enabled": c.enabled, "updated": c.updated}))
        })
        .collect()
}

/// A flag as served. `config_state_envs`: the environments whose state `configStates` shows.
pub(crate) fn flag_view(app_id: &str, flag: &Flag, config_state_envs: &[String]) -> Value {
    let states = config_states(flag, config_state_envs);
    json!({
        "id": flag.id,
        "name": flag.name,
        "description": flag.description,
        "flagType": flag.flag_type.as_str(),
        "variants": flag.variants,
        "resourceId": app_id,
        "labels": flag.labels,
        "isPermanent": flag.is_permanent,
        "cascUrl": UNIFY_CASC_URL,
        "created": flag.created,
        "updated": flag.updated,
        "configStates": states,
    })
}

pub(crate) fn configuration_view(app_id: &str, config: &FlagConfiguration) -> Value {
    json!({
        "enabled": config.enabled,
        "defaultValue": config.default_value,
        "conditions": config.conditions,
        "seed": config.seed,
        "stickinessProperty": config.stickiness_property,
        "variantsEnabled": config.variants_enabled,
        "resourceId": app_id,
        "cascUrl": UNIFY_CASC_URL,
        "created": config.created,
        "updated": config.updated,
    })
}

pub(crate) fn target_group_view(app_id: &str, group: &TargetGroup) -> Value {
    json!({
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "conditions": group.conditions,
        "resourceId": app_id,
        "cascUrl": UNIFY_CASC_URL,
        "created": group.created,
        "updated": group.updated,
    })
}

pub(crate) fn property_view(app_id: &str, property: &CustomProperty) -> Value {
    json!({
        "id": property.id,
        "name": property.name,
        "type": property.property_type.as_str(),
        "description": property.description,
        "resourceId": app_id,
        "cascUrl": UNIFY_CASC_URL,
        "created": property.created,
        "updated": property.updated,
    })
}

pub(crate) fn environment_view(org_id: &str, env: &Environment) -> Value {
    json!({
        "id": env.id,
        "name": env.name,
        "resourceId": org_id,
        "isDisabled": env.is_disabled,
    })
}

pub(crate) fn service_view(app: &Application) -> Value {
    json!({
        "id": app.id,
        "name": app.name,
        "description": app.description,
        "endpointId": app.endpoint_id,
        "repositoryUrl": app.repository_url,
        "defaultBranch": app.default_branch,
        "organizationId": app.organization_id,
        "serviceType": app.service_type,
        "linkedComponentIds": [],
        "linkedEnvironmentIds": app.linked_environment_ids,
    })
}

/// The organization as `GET /v1/organizations/name` serves it: the spec names the id `id`,
/// the documents' example `organizationId`; both are given.
pub(crate) fn organization_view(org: &Organization) -> Value {
    json!({
        "id": org.id,
        "organizationId": org.id,
        "displayName": org.display_name,
        "domainName": org.domain_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_never_repeat() {
        let mut data = UnifyData::default();
        let (s1, a) = data.next_id(0);
        let (s2, b) = data.next_id(0);
        assert_eq!((s1, s2), (1, 2));
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "version 4: {a}");
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
        // The same seed and counter give the same id: runs repeat.
        let mut again = UnifyData::default();
        assert_eq!(again.next_id(0).1, a);
        let mut other = UnifyData::default();
        assert_ne!(other.next_id(1).1, a);
    }
}
