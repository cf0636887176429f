//! CloudBees Unify API client (api-notes-unify): the organization, application and
//! environments an account is addressed by, the application's custom properties, target
//! groups and flags, and each flag's configuration per environment.
//!
//! Unify addresses everything by server-assigned ids, while a repository names things. The
//! client resolves names to ids once per run: the organization (by domain name, unless given
//! as an id), the application (by id or name, among the organization's applications) and the
//! environments (by name, through the organization's environment list) on first use
//! ([`UnifyClient::account`]); the ids of properties, target groups and flags as it lists,
//! creates and deletes them ([`UnifyClient::id_of`] asks the service for a name it has not
//! seen). A configuration's `seed` and `variantsEnabled`, which a repository does not say,
//! are kept from the bulk read and written back unchanged ([`UnifyClient::kept_fields`]).
//!
//! Feature-management calls use the `/v2` paths of the API reference; the organization
//! lookup and the application list `/v1`, the environment list `/v2`, as the notes list
//! them. Writes follow the reference: creates are `POST` (not idempotent: a create whose
//! outcome is unknown is [`RemoteError::Ambiguous`], and the caller looks the name up before
//! creating again), updates `PUT` of the whole object, deletes `DELETE`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flagsync_live::{LiveFlagConfiguration, LiveUnifyObject};
use reqwest::{Method, Url};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::cloudbees::kind;
use crate::error::{RemoteError, Result, Service};
use crate::http::{HttpSettings, Request, Response, Safety, TokenTransport};
use crate::secret::Secret;
use crate::url::{BaseUrl, encode_segment};

/// The API's base URL.
pub const DEFAULT_UNIFY_URL: &str = "https://api.cloudbees.io";

/// Default pacing. CloudBees documents a 429 for Unify but no number; the pacer settles
/// under whatever the service allows (it slows down on each 429 and speeds up again).
pub const DEFAULT_UNIFY_REQUESTS_PER_SECOND: f64 = 10.0;

/// A 404 on a list: the base URL, or the organization or application in the path, is wrong.
const LIST_404_HELP: &str = "a list answered 404, so the CloudBees Unify base URL, the organization or the application is wrong: the base URL is expected to be the API's root, https://api.cloudbees.io (a local emulator: http://127.0.0.1:PORT)";

/// How to reach one CloudBees Unify application.
#[derive(Clone, Debug)]
pub struct UnifySettings {
    /// Default [`DEFAULT_UNIFY_URL`].
    pub base_url: String,
    /// The organization: its id (a UUID) or its domain name.
    pub organization: String,
    /// The application: its id or its name.
    pub application: String,
    /// The API token or personal access token (`authorization: Bearer …`).
    pub token: Secret,
    /// Pace (default [`DEFAULT_UNIFY_REQUESTS_PER_SECOND`]), retries, URL policy, timeout.
    pub http: HttpSettings,
}

impl UnifySettings {
    /// Settings with every default: public URL, default pace and retries, 30 s timeout.
    pub fn new(
        organization: impl Into<String>,
        application: impl Into<String>,
        token: Secret,
    ) -> Self {
        Self {
            base_url: DEFAULT_UNIFY_URL.to_owned(),
            organization: organization.into(),
            application: application.into(),
            token,
            http: HttpSettings::new(DEFAULT_UNIFY_REQUESTS_PER_SECOND),
        }
    }
}

/// The kinds of Unify objects that have an id and a unique name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnifyObject {
    Property,
    TargetGroup,
    Flag,
}

impl UnifyObject {
    /// The path segment under `/applications/{app}`.
    fn segment(self) -> &'static str {
        match self {
            UnifyObject::Property => "custom-properties",
            UnifyObject::TargetGroup => "target-groups",
            UnifyObject::Flag => "flags",
        }
    }

    /// The field that holds one object in an answer.
    fn one(self) -> &'static str {
        match self {
            UnifyObject::Property => "customProperty",
            UnifyObject::TargetGroup => "targetGroup",
            UnifyObject::Flag => "flag",
        }
    }

    /// The field that holds the list in an answer.
    fn many(self) -> &'static str {
        match self {
            UnifyObject::Property => "customProperties",
            UnifyObject::TargetGroup => "targetGroups",
            UnifyObject::Flag => "flags",
        }
    }

    /// What messages call it.
    pub fn describe(self) -> &'static str {
        match self {
            UnifyObject::Property => "custom property",
            UnifyObject::TargetGroup => "target group",
            UnifyObject::Flag => "flag",
        }
    }
}

/// The organization, application and environments names were resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnifyAccount {
    pub organization_id: String,
    pub application_id: String,
    pub application_name: String,
    /// Every environment of the organization.
    pub environments: Vec<UnifyEnvironment>,
}

/// One environment of the organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnifyEnvironment {
    pub id: String,
    pub name: String,
    /// Linked to the application, so that its flags have a configuration there.
    pub linked: bool,
}

/// What a configuration keeps that a repository does not say: written back unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeptFields {
    pub seed: Option<String>,
    pub variants_enabled: Option<bool>,
}

/// A CloudBees Unify client. Cheap to clone; clones share the pacer, the resolved account
/// and the ids learnt, so one run resolves each name once.
#[derive(Clone, Debug)]
pub struct UnifyClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    base: BaseUrl,
    organization: String,
    application: String,
    transport: TokenTransport,
    account: OnceCell<UnifyAccount>,
    ids: Mutex<Ids>,
}

/// Names to ids learnt so far, and the kept fields of configurations read.
#[derive(Debug, Default)]
struct Ids {
    objects: HashMap<(UnifyObject, String), String>,
    /// `(environment id, flag id)` to the configuration's kept fields.
    kept: HashMap<(String, String), KeptFields>,
}

impl UnifyClient {
    /// Checks the settings (URL policy, rate, retry) and builds the client. Sends nothing.
    pub fn new(settings: UnifySettings) -> Result<Self> {
        let base = BaseUrl::parse(&settings.base_url, settings.http.allow_insecure_http)?;
        for (what, value) in [
            ("organization", &settings.organization),
            ("application", &settings.application),
        ] {
            if value.trim().is_empty() {
                return Err(RemoteError::InvalidName {
                    what,
                    name: value.clone(),
                    reason: "the name is empty",
                });
            }
        }
        let transport = TokenTransport::new(Service::Unify, settings.http, settings.token)?;
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                organization: settings.organization,
                application: settings.application,
                transport,
                account: OnceCell::new(),
                ids: Mutex::new(Ids::default()),
            }),
        })
    }

    /// The base URL requests go to (never carries a credential).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The organization as configured (an id or a domain name).
    pub fn organization(&self) -> &str {
        &self.inner.organization
    }

    /// The application as configured (an id or a name).
    pub fn application(&self) -> &str {
        &self.inner.application
    }

    // ---- the account ---------------------------------------------------------------------

    /// How many requests [`Self::account`] still has to send: none once resolved, else the
    /// organization lookup (unless the organization is given as an id), the applications
    /// and the environments.
    pub fn account_requests(&self) -> usize {
        match self.inner.account.get() {
            Some(_) => 0,
            None if looks_like_uuid(&self.inner.organization) => 2,
            None => 3,
        }
    }

    /// The organization, application and environments, resolved on first use and kept for
    /// the life of the client (and its clones).
    pub async fn account(&self) -> Result<&UnifyAccount> {
        self.inner
            .account
            .get_or_try_init(|| self.resolve_account())
            .await
    }

    async fn resolve_account(&self) -> Result<UnifyAccount> {
        let org = &self.inner.organization;
        let organization_id = if looks_like_uuid(org) {
            org.clone()
        } else {
            let req = Request::new(
                Method::GET,
                self.inner
                    .base
                    .join("/v1/organizations/name", &[("name", org)])?,
                Safety::Idempotent,
                format!("organization {org:?}"),
            );
            let value = self.json(&req).await?;
            let found = value.get("organization").unwrap_or(&Value::Null);
            // The spec names it `id`, the documents' example `organizationId`.
            found
                .get("id")
                .or_else(|| found.get("organizationId"))
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| decode(&req, "no organization id in the answer".to_owned()))?
        };
        let org_segment = encode_segment("organization", &organization_id)?;

        let req = Request::new(
            Method::GET,
            self.inner.base.join(
                &format!("/v1/organizations/{org_segment}/services"),
                &[("typeFilter", "APPLICATION_FILTER")],
            )?,
            Safety::Idempotent,
            format!("applications of organization {organization_id}"),
        )
        .listing(LIST_404_HELP);
        let services = list_field(self.json(&req).await?, "service", &req)?;
        let wanted = &self.inner.application;
        let text = |s: &Value, k: &str| s.get(k).and_then(Value::as_str).map(str::to_owned);
        let application = services
            .iter()
            .find(|s| text(s, "id").as_ref() == Some(wanted))
            .or_else(|| {
                services
                    .iter()
                    .find(|s| text(s, "name").as_ref() == Some(wanted))
            })
            .ok_or_else(|| {
                let known: Vec<String> = services
                    .iter()
                    .filter_map(|s| Some(format!("{} ({})", text(s, "name")?, text(s, "id")?)))
                    .collect();
                RemoteError::UnknownApplication {
                    application: wanted.clone(),
                    organization: organization_id.clone(),
                    help: if known.is_empty() {
                        "the organization lists no application".to_owned()
                    } else {
                        format!("its applications: {}", known.join(", "))
                    },
                }
            })?;
        let application_id = text(application, "id").unwrap_or_default();
        let application_name = text(application, "name").unwrap_or_default();
        let linked: Vec<String> = application
            .get("linkedEnvironmentIds")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();

        let req = Request::new(
            Method::GET,
            self.inner.base.join(
                &format!("/v2/organizations/{org_segment}/environments"),
                &[],
            )?,
            Safety::Idempotent,
            format!("environments of organization {organization_id}"),
        )
        .listing(LIST_404_HELP);
        let environments = list_field(self.json(&req).await?, "environments", &req)?
            .iter()
            .filter_map(|e| {
                let id = text(e, "id")?;
                Some(UnifyEnvironment {
                    linked: linked.contains(&id),
                    name: text(e, "name").unwrap_or_default(),
                    id,
                })
            })
            .collect();
        Ok(UnifyAccount {
            organization_id,
            application_id,
            application_name,
            environments,
        })
    }

    /// The ids of the environments named, each of which must exist in the organization and
    /// be linked to the application; in the order given.
    pub async fn environment_ids(&self, names: &[String]) -> Result<Vec<(String, String)>> {
        let account = self.account().await?;
        names
            .iter()
            .map(|name| {
                let Some(env) = account.environments.iter().find(|e| e.name == *name) else {
                    let known: Vec<String> = account
                        .environments
                        .iter()
                        .map(|e| e.name.clone())
                        .collect();
                    return Err(RemoteError::UnknownEnvironment {
                        name: name.clone(),
                        help: if known.is_empty() {
                            "the organization has no environment".to_owned()
                        } else {
                            format!("its environments: {}", known.join(", "))
                        },
                        known,
                    });
                };
                if !env.linked {
                    return Err(RemoteError::EnvironmentNotLinked {
                        name: name.clone(),
                        application: account.application_id.clone(),
                    });
                }
                Ok((name.clone(), env.id.clone()))
            })
            .collect()
    }

    /// The id of one environment (see [`Self::environment_ids`]).
    pub async fn environment_id(&self, name: &str) -> Result<String> {
        let mut ids = self.environment_ids(&[name.to_owned()]).await?;
        Ok(ids.pop().map(|(_, id)| id).unwrap_or_default())
    }

    // ---- properties, target groups, flags ------------------------------------------------

    /// `GET …/{kind}`: every object of the kind. The API documents no pagination for these
    /// lists.
    pub async fn list(&self, kind: UnifyObject) -> Result<Vec<LiveUnifyObject>> {
        let req = Request::new(
            Method::GET,
            self.object_url(kind, None).await?,
            Safety::Idempotent,
            format!("{}s", kind.describe()),
        )
        .listing(LIST_404_HELP);
        let items = list_field(self.json(&req).await?, kind.many(), &req)?;
        let objects: Vec<LiveUnifyObject> = items.into_iter().map(LiveUnifyObject::new).collect();
        let mut ids = self.ids();
        for o in &objects {
            if let (Some(name), Some(id)) = (&o.name, &o.id) {
                ids.objects.insert((kind, name.clone()), id.clone());
            }
        }
        Ok(objects)
    }

    /// `POST …/{kind}`: creates one and answers it. Not idempotent: when the outcome is
    /// unknown ([`RemoteError::Ambiguous`]) look the name up ([`Self::by_name`]) before
    /// creating again; a name in use answers 409 ([`RemoteError::Conflict`]).
    pub async fn create(&self, kind: UnifyObject, body: &Value) -> Result<LiveUnifyObject> {
        let name = body.get("name").and_then(Value::as_str).unwrap_or("?");
        let req = Request::new(
            Method::POST,
            self.object_url(kind, None).await?,
            Safety::NonIdempotent,
            format!("{} {name:?}", kind.describe()),
        )
        .json_body(body)?;
        let created = self.object_from(kind, self.json(&req).await?, &req)?;
        Ok(created)
    }

    /// `PUT …/{kind}/{id}`: replaces the object's fields.
    pub async fn update(&self, kind: UnifyObject, id: &str, body: &Value) -> Result<()> {
        let name = body.get("name").and_then(Value::as_str).unwrap_or(id);
        let req = Request::new(
            Method::PUT,
            self.object_url(kind, Some(id)).await?,
            Safety::Idempotent,
            format!("{} {name:?}", kind.describe()),
        )
        .json_body(body)?;
        self.send(&req).await.map(drop)
    }

    /// `DELETE …/{kind}/{id}`: `true` when deleted now, `false` when it was already absent
    /// (404), which also makes a retried DELETE converge.
    pub async fn delete(&self, kind: UnifyObject, id: &str) -> Result<bool> {
        let req = Request::new(
            Method::DELETE,
            self.object_url(kind, Some(id)).await?,
            Safety::Idempotent,
            format!("{} {id}", kind.describe()),
        );
        let deleted = match self.send(&req).await {
            Ok(_) => true,
            Err(RemoteError::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        self.ids()
            .objects
            .retain(|(k, _), v| !(*k == kind && v.as_str() == id));
        Ok(deleted)
    }

    /// `GET …/{kind}/by-name/{name}`; `None` on 404.
    pub async fn by_name(&self, kind: UnifyObject, name: &str) -> Result<Option<LiveUnifyObject>> {
        let path = format!(
            "/v2/applications/{}/{}/by-name/{}",
            self.app_segment().await?,
            kind.segment(),
            encode_segment(kind.describe(), name)?
        );
        let url = self.inner.base.join(&path, &[])?;
        let req = Request::new(
            Method::GET,
            url,
            Safety::Idempotent,
            format!("{} {name:?}", kind.describe()),
        );
        match self.json(&req).await {
            Ok(value) => Ok(Some(self.object_from(kind, value, &req)?)),
            Err(RemoteError::NotFound { .. }) => {
                self.ids().objects.remove(&(kind, name.to_owned()));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The id of the object named `name`: known from a list, a create or an earlier lookup,
    /// else asked for by name. `None` when there is none.
    pub async fn id_of(&self, kind: UnifyObject, name: &str) -> Result<Option<String>> {
        if let Some(id) = self.ids().objects.get(&(kind, name.to_owned())) {
            return Ok(Some(id.clone()));
        }
        Ok(self.by_name(kind, name).await?.and_then(|o| o.id))
    }

    // ---- configurations ------------------------------------------------------------------

    /// `GET …/environments/{envId}/configuration`: every flag's configuration in one
    /// environment, in one request.
    pub async fn environment_configurations(
        &self,
        env_id: &str,
    ) -> Result<Vec<LiveFlagConfiguration>> {
        let path = format!(
            "/v2/applications/{}/environments/{}/configuration",
            self.app_segment().await?,
            encode_segment("environment", env_id)?
        );
        let req = Request::new(
            Method::GET,
            self.inner.base.join(&path, &[])?,
            Safety::Idempotent,
            format!("configurations of environment {env_id}"),
        )
        .listing(LIST_404_HELP);
        let items = list_field(self.json(&req).await?, "configurations", &req)?;
        let configurations: Vec<LiveFlagConfiguration> =
            items.into_iter().map(LiveFlagConfiguration::new).collect();
        let mut ids = self.ids();
        for c in &configurations {
            if let Some(flag_id) = &c.flag_id {
                ids.kept.insert(
                    (env_id.to_owned(), flag_id.clone()),
                    KeptFields {
                        seed: c.seed.clone(),
                        variants_enabled: c.variants_enabled,
                    },
                );
                if let Some(name) = &c.flag_name {
                    ids.objects
                        .insert((UnifyObject::Flag, name.clone()), flag_id.clone());
                }
            }
        }
        Ok(configurations)
    }

    /// The fields of a configuration that a repository does not say, as last read.
    pub fn kept_fields(&self, env_id: &str, flag_id: &str) -> Option<KeptFields> {
        self.ids()
            .kept
            .get(&(env_id.to_owned(), flag_id.to_owned()))
            .cloned()
    }

    /// `PUT …/flags/{flagId}/configuration/environments/{envId}`: replaces the
    /// configuration (the body is the configuration itself, not wrapped).
    pub async fn put_configuration(&self, flag_id: &str, env_id: &str, body: &Value) -> Result<()> {
        let req = Request::new(
            Method::PUT,
            self.configuration_url(flag_id, env_id, "").await?,
            Safety::Idempotent,
            format!("the configuration of flag {flag_id} in environment {env_id}"),
        )
        .json_body(body)?;
        self.send(&req).await.map(drop)
    }

    /// `POST …/configuration/environments/{envId}/configstate`: turns the flag on or off in
    /// one environment. Setting a state twice sets it once, so it is retried like a PUT.
    pub async fn set_enabled(&self, flag_id: &str, env_id: &str, enabled: bool) -> Result<()> {
        let req = Request::new(
            Method::POST,
            self.configuration_url(flag_id, env_id, "/configstate")
                .await?,
            Safety::Idempotent,
            format!("the configuration of flag {flag_id} in environment {env_id}"),
        )
        .json_body(&json!({ "enabled": enabled }))?;
        self.send(&req).await.map(drop)
    }

    /// `GET …/flags/{flagId}/configuration-state`: `(environment id, enabled)` in every
    /// environment the flag has a configuration in.
    pub async fn configuration_states(&self, flag_id: &str) -> Result<Vec<(String, bool)>> {
        let path = format!(
            "/v2/applications/{}/flags/{}/configuration-state",
            self.app_segment().await?,
            encode_segment("flag", flag_id)?
        );
        let req = Request::new(
            Method::GET,
            self.inner.base.join(&path, &[])?,
            Safety::Idempotent,
            format!("flag {flag_id}"),
        );
        let states = list_field(self.json(&req).await?, "configurationStates", &req)?;
        Ok(states
            .iter()
            .filter_map(|s| {
                let env = s.get("environmentId").and_then(Value::as_str)?;
                Some((
                    env.to_owned(),
                    s.get("enabled").and_then(Value::as_bool).unwrap_or(false),
                ))
            })
            .collect())
    }

    // ---- plumbing ------------------------------------------------------------------------

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.inner
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn app_segment(&self) -> Result<String> {
        let account = self.account().await?;
        encode_segment("application", &account.application_id)
    }

    async fn object_url(&self, kind: UnifyObject, id: Option<&str>) -> Result<Url> {
        let mut path = format!(
            "/v2/applications/{}/{}",
            self.app_segment().await?,
            kind.segment()
        );
        if let Some(id) = id {
            path.push('/');
            path.push_str(&encode_segment(kind.describe(), id)?);
        }
        self.inner.base.join(&path, &[])
    }

    async fn configuration_url(&self, flag_id: &str, env_id: &str, tail: &str) -> Result<Url> {
        let path = format!(
            "/v2/applications/{}/flags/{}/configuration/environments/{}{tail}",
            self.app_segment().await?,
            encode_segment("flag", flag_id)?,
            encode_segment("environment", env_id)?
        );
        self.inner.base.join(&path, &[])
    }

    /// The object of an answer `{<kind>: {...}}`, its id remembered.
    fn object_from(
        &self,
        kind: UnifyObject,
        value: Value,
        req: &Request,
    ) -> Result<LiveUnifyObject> {
        let body = match value {
            Value::Object(mut map) => map.remove(kind.one()),
            _ => None,
        }
        .filter(Value::is_object)
        .ok_or_else(|| decode(req, format!("expected {{\"{}\": {{...}}}}", kind.one())))?;
        let object = LiveUnifyObject::new(body);
        if let (Some(name), Some(id)) = (&object.name, &object.id) {
            self.ids().objects.insert((kind, name.clone()), id.clone());
        }
        Ok(object)
    }

    async fn send(&self, req: &Request) -> Result<Response> {
        self.inner.transport.send(req).await
    }

    async fn json(&self, req: &Request) -> Result<Value> {
        self.inner.transport.json(req).await
    }
}

/// The list in `field` of an answer. A missing field (or `null`) is an empty list: proto
/// JSON leaves empty lists out. The API documents no pagination for these lists, so an
/// answer that says more pages follow is refused rather than read as the whole list (a
/// plan would then create what exists).
fn list_field(value: Value, field: &str, req: &Request) -> Result<Vec<Value>> {
    if let Some(hint) = more_pages(&value) {
        return Err(decode(
            req,
            format!(
                "the answer says more pages follow ({hint}), and the API documents no way to ask for them, so flagsync reads unpaginated lists only"
            ),
        ));
    }
    let Value::Object(mut map) = value else {
        return match value {
            Value::Null => Ok(Vec::new()),
            other => Err(decode(
                req,
                format!("expected a JSON object, got {}", kind(&other)),
            )),
        };
    };
    match map.remove(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(decode(
            req,
            format!("expected `{field}` to be an array, got {}", kind(&other)),
        )),
    }
}

/// What in an answer says that the list goes on: a next-page token (the overview page
/// mentions one, with no name), or the `pagination.lastPage: false` of other Unify lists.
fn more_pages(value: &Value) -> Option<String> {
    let token = |v: &Value| {
        ["nextPageToken", "next_page_token"].into_iter().find(|k| {
            v.get(*k)
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
        })
    };
    if let Some(key) = token(value) {
        return Some(format!("`{key}`"));
    }
    let pagination = value.get("pagination")?;
    if let Some(key) = token(pagination) {
        return Some(format!("`pagination.{key}`"));
    }
    (pagination.get("lastPage") == Some(&Value::Bool(false)))
        .then(|| "`pagination.lastPage: false`".to_owned())
}

fn decode(req: &Request, reason: String) -> RemoteError {
    req.decode_error(Service::Unify, reason)
}

/// `8-4-4-4-12` hexadecimal digits: an id rather than a domain name.
pub fn looks_like_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_uuids() {
        assert!(looks_like_uuid("f1a65ac0-0000-4000-8000-000000000001"));
        assert!(!looks_like_uuid("acme"));
        assert!(!looks_like_uuid("f1a65ac0-0000-4000-8000-00000000000g"));
        assert!(!looks_like_uuid("f1a65ac0x0000-4000-8000-000000000001"));
    }

    #[test]
    fn an_answer_with_more_pages_is_not_taken_for_the_whole_list() {
        assert_eq!(more_pages(&json!({"flags": []})), None);
        assert_eq!(more_pages(&json!({"flags": [], "nextPageToken": ""})), None);
        assert!(more_pages(&json!({"flags": [], "nextPageToken": "abc"})).is_some());
        assert!(more_pages(&json!({"pagination": {"lastPage": false}})).is_some());
        assert_eq!(more_pages(&json!({"pagination": {"lastPage": true}})), None);
        assert!(more_pages(&json!({"pagination": {"nextPageToken": "x"}})).is_some());
    }

    #[test]
    fn empty_names_are_refused_before_anything_is_sent() {
        let settings = UnifySettings::new(" ", "app", Secret::new("t"));
        assert!(matches!(
            UnifyClient::new(settings),
            Err(RemoteError::InvalidName {
                what: "organization",
                ..
            })
        ));
    }
}
