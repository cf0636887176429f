//! CloudBees Feature Management public API client (experiments and target groups).

use std::sync::Arc;

use flagsync_live::{LiveApplication, LiveEnvironment, LiveExperiment, LiveTargetGroup};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::error::{RemoteError, Result, Service};
use crate::http::{HttpSettings, Request, Safety, TokenTransport};
use crate::secret::Secret;
use crate::url::{BaseUrl, encode_segment};

/// The public API's base URL.
pub const DEFAULT_CLOUDBEES_URL: &str = "https://x-api.rollout.io/public-api";

/// A 404 on a list: the base URL (or the application id in it) is wrong.
const LIST_404_HELP: &str = "a list answered 404, so the CloudBees base URL or the application id is wrong: the base URL is expected to end in `/public-api`, like https://x-api.rollout.io/public-api (a local emulator: http://127.0.0.1:PORT/public-api)";

/// Default pacing, just under the documented limit of one request per second per caller IP
/// (above it: HTTP 555). Requests spaced exactly 1 s apart still arrive closer together now
/// and then (network jitter), and a sliding-window limiter answers those with 555: 100
/// creates paced at 1.0/s drew 54 of them and took 61% longer than at 0.95/s, which drew
/// none (BENCHMARKS.md).
pub const DEFAULT_CLOUDBEES_REQUESTS_PER_SECOND: f64 = 0.95;

/// How to reach one CloudBees application.
#[derive(Clone, Debug)]
pub struct CloudBeesSettings {
    /// Default [`DEFAULT_CLOUDBEES_URL`].
    pub base_url: String,
    /// The application id (`{app}` in every path). Empty for a client of the account only
    /// ([`CloudBeesClient::list_applications`]; see [`CloudBeesClient::for_application`]).
    pub application: String,
    /// The API token (`authorization: Bearer …`).
    pub token: Secret,
    /// Pace (default [`DEFAULT_CLOUDBEES_REQUESTS_PER_SECOND`]), retries, URL policy, timeout.
    pub http: HttpSettings,
}

impl CloudBeesSettings {
    /// Settings with every default: public URL, 0.95 request/s, default retries, 30 s timeout.
    pub fn new(application: impl Into<String>, token: Secret) -> Self {
        Self {
            base_url: DEFAULT_CLOUDBEES_URL.to_owned(),
            application: application.into(),
            token,
            http: HttpSettings::new(DEFAULT_CLOUDBEES_REQUESTS_PER_SECOND),
        }
    }
}

/// A CloudBees client. Cheap to clone; clones share the pacer, so every task of one process
/// together stays under the configured rate.
#[derive(Clone, Debug)]
pub struct CloudBeesClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    base: BaseUrl,
    application: String,
    /// `None` for a client of the account only.
    app_segment: Option<String>,
    /// Shared with the clients of other applications ([`CloudBeesClient::for_application`]).
    transport: Arc<TokenTransport>,
}

impl CloudBeesClient {
    /// Checks the settings (URL policy, rate, retry) and builds the client. Sends nothing.
    pub fn new(settings: CloudBeesSettings) -> Result<Self> {
        let base = BaseUrl::parse(&settings.base_url, settings.http.allow_insecure_http)?;
        let app_segment = match settings.application.as_str() {
            "" => None,
            id => Some(encode_segment("application", id)?),
        };
        let transport = TokenTransport::new(Service::CloudBees, settings.http, settings.token)?;
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                application: settings.application,
                app_segment,
                transport: Arc::new(transport),
            }),
        })
    }

    /// A client of another application of the same account: same URL and token, and the
    /// same pacer, so that the two together stay under the rate.
    pub fn for_application(&self, application: &str) -> Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                base: self.inner.base.clone(),
                application: application.to_owned(),
                app_segment: Some(encode_segment("application", application)?),
                transport: Arc::clone(&self.inner.transport),
            }),
        })
    }

    /// The application id this client talks to (empty for a client of the account only).
    pub fn application(&self) -> &str {
        &self.inner.application
    }

    /// The base URL requests go to (never carries a credential).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    // ---- the account -------------------------------------------------------------------

    /// `GET /applications`: the applications the token can see. `None` when the deployment
    /// does not serve the route (404): it is not in the vendor's reference, only CloudBees'
    /// Jenkins plugin calls it.
    pub async fn list_applications(&self) -> Result<Option<Vec<LiveApplication>>> {
        let url = self.inner.base.join("/applications", &[])?;
        let req = Request::new(
            Method::GET,
            url,
            Safety::Idempotent,
            "the list of applications".to_owned(),
        );
        let Some(value) = self.json_unless_absent(&req).await? else {
            return Ok(None);
        };
        Ok(Some(
            expect_array(value, &req)?
                .iter()
                .filter_map(LiveApplication::from_body)
                .collect(),
        ))
    }

    /// `GET /applications/{app}/environments`: the application's environments. `None` when
    /// the deployment does not serve the route (404; a deployment cannot tell that from an
    /// unknown application).
    pub async fn list_environments(&self) -> Result<Option<Vec<LiveEnvironment>>> {
        let path = format!("/applications/{}/environments", self.app_segment()?);
        let req = Request::new(
            Method::GET,
            self.inner.base.join(&path, &[])?,
            Safety::Idempotent,
            format!(
                "the environments of application {:?}",
                self.inner.application
            ),
        );
        let Some(value) = self.json_unless_absent(&req).await? else {
            return Ok(None);
        };
        Ok(Some(
            expect_array(value, &req)?
                .iter()
                .filter_map(LiveEnvironment::from_body)
                .collect(),
        ))
    }

    // ---- experiments -------------------------------------------------------------------

    /// `GET /applications/{app}/{env}/experiments`. Note: the service lists only flags with
    /// at least one release rule; a flag missing here may still exist (use
    /// [`Self::get_experiment`], or [`crate::fetch_live_state`] which does it for you).
    pub async fn list_experiments(&self, env: &str) -> Result<Vec<LiveExperiment>> {
        let url = self.experiments_url(env, None)?;
        let req = Request::new(
            Method::GET,
            url,
            Safety::Idempotent,
            format!("experiments of environment {env:?}"),
        )
        .listing(LIST_404_HELP);
        let value = self.json(&req).await?;
        Ok(expect_array(value, &req)?
            .into_iter()
            .map(LiveExperiment::new)
            .collect())
    }

    /// `GET /applications/{app}/{env}/flags`: every flag of the environment, with a release
    /// rule or without, in the experiment body shape: one request where the experiments list
    /// needs a GET per hidden flag. `None` when the deployment does not serve the route
    /// (404).
    pub async fn list_flags(&self, env: &str) -> Result<Option<Vec<LiveExperiment>>> {
        let path = format!(
            "/applications/{}/{}/flags",
            self.app_segment()?,
            encode_segment("environment", env)?
        );
        let req = Request::new(
            Method::GET,
            self.inner.base.join(&path, &[])?,
            Safety::Idempotent,
            format!("flags of environment {env:?}"),
        );
        let Some(value) = self.json_unless_absent(&req).await? else {
            return Ok(None);
        };
        Ok(Some(
            expect_array(value, &req)?
                .into_iter()
                .map(LiveExperiment::new)
                .collect(),
        ))
    }

    /// `GET …/experiments/{flag}`; `None` on 404.
    pub async fn get_experiment(&self, env: &str, flag: &str) -> Result<Option<LiveExperiment>> {
        let req = Request::new(
            Method::GET,
            self.experiments_url(env, Some(flag))?,
            Safety::Idempotent,
            experiment_resource(env, flag),
        );
        match self.json(&req).await {
            Ok(v) => Ok(Some(LiveExperiment::new(v))),
            Err(RemoteError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT …/experiments`: create, or override the experiment with the same `flag`.
    pub async fn put_experiment(&self, env: &str, experiment: &Value) -> Result<()> {
        let flag = experiment
            .get("flag")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let req = Request::new(
            Method::PUT,
            self.experiments_url(env, None)?,
            Safety::Idempotent,
            experiment_resource(env, flag),
        )
        .json_body(experiment)?;
        self.send(&req).await.map(drop)
    }

    /// `PATCH …/experiments/{flag}` with an RFC 6902 patch (a JSON array of operations:
    /// `&[Value]`, a `Value::Array`, or a `json_patch::Patch`). A failing `test` answers 409:
    /// [`RemoteError::Conflict`]. A retried PATCH whose first attempt was applied fails its
    /// `test` the same way; the caller re-reads.
    pub async fn patch_experiment<P: Serialize + ?Sized>(
        &self,
        env: &str,
        flag: &str,
        patch: &P,
    ) -> Result<()> {
        let req = Request::new(
            Method::PATCH,
            self.experiments_url(env, Some(flag))?,
            Safety::Idempotent,
            experiment_resource(env, flag),
        )
        .json_body(patch)?;
        self.send(&req).await.map(drop)
    }

    /// `DELETE …/experiments/{flag}`. Returns `true` when deleted now, `false` when it was
    /// already absent (404), which also makes a retried DELETE converge.
    pub async fn delete_experiment(&self, env: &str, flag: &str) -> Result<bool> {
        let req = Request::new(
            Method::DELETE,
            self.experiments_url(env, Some(flag))?,
            Safety::Idempotent,
            experiment_resource(env, flag),
        );
        absent_is_false(self.send(&req).await)
    }

    // ---- target groups -----------------------------------------------------------------

    /// `GET /applications/{app}/target-groups` (application-wide).
    pub async fn list_target_groups(&self) -> Result<Vec<LiveTargetGroup>> {
        let req = Request::new(
            Method::GET,
            self.target_groups_url(None)?,
            Safety::Idempotent,
            "target groups".to_owned(),
        )
        .listing(LIST_404_HELP);
        let value = self.json(&req).await?;
        Ok(expect_array(value, &req)?
            .into_iter()
            .map(LiveTargetGroup::new)
            .collect())
    }

    /// `GET …/target-groups/{name}`; `None` on 404.
    pub async fn get_target_group(&self, name: &str) -> Result<Option<LiveTargetGroup>> {
        let req = Request::new(
            Method::GET,
            self.target_groups_url(Some(name))?,
            Safety::Idempotent,
            target_group_resource(name),
        );
        match self.json(&req).await {
            Ok(v) => Ok(Some(LiveTargetGroup::new(v))),
            Err(RemoteError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT …/target-groups`: create, or override the group with the same `name`.
    pub async fn put_target_group(&self, group: &Value) -> Result<()> {
        let name = group.get("name").and_then(Value::as_str).unwrap_or("?");
        let req = Request::new(
            Method::PUT,
            self.target_groups_url(None)?,
            Safety::Idempotent,
            target_group_resource(name),
        )
        .json_body(group)?;
        self.send(&req).await.map(drop)
    }

    /// `PATCH …/target-groups/{name}` (RFC 6902; 409 → [`RemoteError::Conflict`]).
    pub async fn patch_target_group<P: Serialize + ?Sized>(
        &self,
        name: &str,
        patch: &P,
    ) -> Result<()> {
        let req = Request::new(
            Method::PATCH,
            self.target_groups_url(Some(name))?,
            Safety::Idempotent,
            target_group_resource(name),
        )
        .json_body(patch)?;
        self.send(&req).await.map(drop)
    }

    /// `DELETE …/target-groups/{name}`; `false` when it was already absent.
    pub async fn delete_target_group(&self, name: &str) -> Result<bool> {
        let req = Request::new(
            Method::DELETE,
            self.target_groups_url(Some(name))?,
            Safety::Idempotent,
            target_group_resource(name),
        );
        absent_is_false(self.send(&req).await)
    }

    // ---- plumbing ----------------------------------------------------------------------

    fn experiments_url(&self, env: &str, flag: Option<&str>) -> Result<reqwest::Url> {
        let mut path = format!(
            "/applications/{}/{}/experiments",
            self.app_segment()?,
            encode_segment("environment", env)?
        );
        if let Some(flag) = flag {
            path.push('/');
            path.push_str(&encode_segment("flag", flag)?);
        }
        self.inner.base.join(&path, &[])
    }

    fn target_groups_url(&self, name: Option<&str>) -> Result<reqwest::Url> {
        let mut path = format!("/applications/{}/target-groups", self.app_segment()?);
        if let Some(name) = name {
            path.push('/');
            path.push_str(&encode_segment("target group", name)?);
        }
        self.inner.base.join(&path, &[])
    }

    /// The application's path segment; an account-only client has none.
    fn app_segment(&self) -> Result<&str> {
        self.inner
            .app_segment
            .as_deref()
            .ok_or_else(|| RemoteError::InvalidName {
                what: "application",
                name: String::new(),
                reason: "the name is empty",
            })
    }

    /// The answer's JSON, or `None` on 404.
    async fn json_unless_absent(&self, req: &Request) -> Result<Option<Value>> {
        match self.json(req).await {
            Ok(v) => Ok(Some(v)),
            Err(RemoteError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn send(&self, req: &Request) -> Result<crate::http::Response> {
        self.inner.transport.send(req).await
    }

    async fn json(&self, req: &Request) -> Result<Value> {
        self.inner.transport.json(req).await
    }
}

fn experiment_resource(env: &str, flag: &str) -> String {
    format!("experiment {flag:?} in environment {env:?}")
}

fn target_group_resource(name: &str) -> String {
    format!("target group {name:?}")
}

fn absent_is_false(r: Result<crate::http::Response>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(RemoteError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(crate) fn expect_array(value: Value, req: &Request) -> Result<Vec<Value>> {
    match value {
        Value::Array(items) => Ok(items),
        // An empty body means an empty list.
        Value::Null => Ok(Vec::new()),
        other => Err(req.decode_error(
            Service::CloudBees,
            format!("expected a JSON array, got {}", kind(&other)),
        )),
    }
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
