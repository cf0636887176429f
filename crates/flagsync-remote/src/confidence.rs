//! Confidence client: the rollouts (workflows) API, the flags API for the segments that
//! hold rollouts' targeting, the stats API for analysis results, and the IAM token
//! endpoint, each on its own host, with client-credentials authentication.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use flagsync_live::{FailedStep, LiveRollout, instance_id};

use crate::cloudbees::kind;
use crate::error::{RemoteError, Result, Service};
use crate::http::{HttpSettings, Request, Response, Safety, Transport, shown_url};
use crate::secret::Secret;
use crate::url::{BaseUrl, encode_segment};

/// The rollouts (workflows) API. Every document shows this global host; no regional one is
/// documented.
pub const DEFAULT_CONFIDENCE_EXPERIMENTS_URL: &str = "https://experiments.confidence.dev";
/// The flags API's documented limit per account (`rps_limit = 50` on `FlagAdminService`).
pub const CONFIDENCE_FLAGS_REQUESTS_PER_SECOND: f64 = 50.0;
/// The pace of the flags API: a tenth under its limit, so that requests bunched by the
/// network on their way still arrive within it.
pub const DEFAULT_CONFIDENCE_FLAGS_REQUESTS_PER_SECOND: f64 = 45.0;
/// The pace of the other Confidence APIs, which publish no limit: the flags API's.
pub const DEFAULT_CONFIDENCE_REQUESTS_PER_SECOND: f64 = 50.0;

const ROLLOUTS_PATH: &str = "/v1/workflows/rollout/instances";
/// A 404 on the rollout list: the base URL is not the API's root.
const LIST_404_HELP: &str = "the rollout list answered 404, so the Confidence base URL is wrong: it is expected to be the API's root, without a path, like https://experiments.confidence.dev (a local emulator: http://127.0.0.1:PORT)";
const SEGMENTS_PATH: &str = "/v1/segments";
const PAGE_SIZE: &str = "100";
/// A server that keeps returning pages is broken; stop instead of looping forever.
const MAX_PAGES: usize = 10_000;

/// The region of a Confidence account: which `flags`, `stats` and `iam` hosts serve it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConfidenceRegion {
    /// `*.eu.confidence.dev`, the first server every API reference lists.
    #[default]
    Eu,
    /// `*.us.confidence.dev`.
    Us,
}

impl ConfidenceRegion {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfidenceRegion::Eu => "eu",
            ConfidenceRegion::Us => "us",
        }
    }

    fn host(self, api: &str) -> String {
        format!("https://{api}.{}.confidence.dev", self.as_str())
    }
}

/// The base URL of each Confidence API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfidenceUrls {
    /// Rollouts: `/v1/workflows/rollout/instances…`.
    pub experiments: String,
    /// Segments: `/v1/segments…`.
    pub flags: String,
    /// Analysis results: `/v2/workflows/rollout/instances/{id}/analysisResults/{r}`.
    pub stats: String,
    /// Tokens: `/v1/oauth/token`.
    pub iam: String,
}

impl ConfidenceUrls {
    /// The documented hosts of `region`.
    pub fn for_region(region: ConfidenceRegion) -> Self {
        Self {
            experiments: DEFAULT_CONFIDENCE_EXPERIMENTS_URL.to_owned(),
            flags: region.host("flags"),
            stats: region.host("stats"),
            iam: region.host("iam"),
        }
    }

    /// One base URL for every API (an emulator serves them all on one port).
    pub fn all(url: &str) -> Self {
        Self {
            experiments: url.to_owned(),
            flags: url.to_owned(),
            stats: url.to_owned(),
            iam: url.to_owned(),
        }
    }
}

/// How the client authenticates.
#[derive(Clone, Debug)]
pub enum ConfidenceAuth {
    /// A ready bearer token.
    Token(Secret),
    /// Exchange client credentials for a token at `{iam}/v1/oauth/token`; the token is
    /// cached, refreshed before it expires and once more when the API answers 401.
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
    },
}

/// How to reach Confidence.
#[derive(Clone, Debug)]
pub struct ConfidenceSettings {
    /// Default: the hosts of [`ConfidenceRegion::Eu`].
    pub urls: ConfidenceUrls,
    pub auth: ConfidenceAuth,
    /// Retries, URL policy (of every URL), timeout, and the pace of the rollouts, stats and
    /// token APIs: default [`DEFAULT_CONFIDENCE_REQUESTS_PER_SECOND`].
    pub http: HttpSettings,
    /// The pace of the flags API (segments). Default
    /// [`DEFAULT_CONFIDENCE_FLAGS_REQUESTS_PER_SECOND`], under its documented limit.
    pub flags_requests_per_second: f64,
}

impl ConfidenceSettings {
    /// Settings with every default for the given authentication.
    pub fn new(auth: ConfidenceAuth) -> Self {
        Self {
            urls: ConfidenceUrls::for_region(ConfidenceRegion::default()),
            auth,
            http: HttpSettings::new(DEFAULT_CONFIDENCE_REQUESTS_PER_SECOND),
            flags_requests_per_second: DEFAULT_CONFIDENCE_FLAGS_REQUESTS_PER_SECOND,
        }
    }
}

/// A Confidence client. Cheap to clone; clones share the pacers and the token cache.
#[derive(Clone, Debug)]
pub struct ConfidenceClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    experiments: BaseUrl,
    flags: BaseUrl,
    stats: BaseUrl,
    /// The rollouts, stats and token requests.
    transport: Transport,
    /// The flags API's requests, under its own limit.
    flags_transport: Transport,
    auth: Auth,
}

#[derive(Debug)]
enum Auth {
    Static(Secret),
    Credentials(TokenSource),
}

#[derive(Debug)]
struct TokenSource {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    token: Secret,
    refresh_at: Instant,
    generation: u64,
}

/// Which API a request goes to (for pacing).
#[derive(Clone, Copy)]
enum Api {
    Workflows,
    Flags,
}

impl ConfidenceClient {
    /// Checks the settings and builds the client. Sends nothing (a token is fetched on the
    /// first request).
    pub fn new(settings: ConfidenceSettings) -> Result<Self> {
        let insecure = settings.http.allow_insecure_http;
        let urls = &settings.urls;
        let experiments = BaseUrl::parse(&urls.experiments, insecure)?;
        let flags = BaseUrl::parse(&urls.flags, insecure)?;
        let stats = BaseUrl::parse(&urls.stats, insecure)?;
        let secrets = match &settings.auth {
            ConfidenceAuth::Token(t) => vec![t.clone()],
            ConfidenceAuth::ClientCredentials {
                client_id,
                client_secret,
            } => vec![Secret::new(client_id.clone()), client_secret.clone()],
        };
        let auth = match settings.auth {
            ConfidenceAuth::Token(t) => Auth::Static(t),
            ConfidenceAuth::ClientCredentials {
                client_id,
                client_secret,
            } => {
                let iam = BaseUrl::parse(&urls.iam, insecure)?;
                Auth::Credentials(TokenSource {
                    token_url: iam.join("/v1/oauth/token", &[])?,
                    client_id,
                    client_secret,
                    cached: Mutex::new(None),
                })
            }
        };
        let http = &settings.http;
        let transport = Transport::new(
            Service::Confidence,
            http.requests_per_second,
            http.retry.clone(),
            http.timeout,
            secrets.clone(),
        )?;
        let flags_transport = Transport::new(
            Service::Confidence,
            settings.flags_requests_per_second,
            http.retry.clone(),
            http.timeout,
            secrets,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                experiments,
                flags,
                stats,
                transport,
                flags_transport,
                auth,
            }),
        })
    }

    /// The base URL rollout requests go to (never carries a credential).
    pub fn base_url(&self) -> &str {
        self.inner.experiments.as_str()
    }

    /// The token endpoint, when the client exchanges client credentials for tokens.
    pub fn token_url(&self) -> Option<String> {
        match &self.inner.auth {
            Auth::Static(_) => None,
            Auth::Credentials(source) => Some(shown_url(&source.token_url)),
        }
    }

    /// With client credentials, fetches a token now (the cached one when it is still
    /// fresh), which proves the token endpoint accepts them; `false` for a bearer token,
    /// which only a request to the API can check.
    pub async fn authenticate(&self) -> Result<bool> {
        match &self.inner.auth {
            Auth::Static(_) => Ok(false),
            Auth::Credentials(source) => {
                source.token(&self.inner.transport).await?;
                Ok(true)
            }
        }
    }

    /// The first page of rollouts, of at most `page_size`: one request, which proves the
    /// API answers and accepts the credentials.
    pub async fn first_rollouts(&self, page_size: usize) -> Result<Vec<LiveRollout>> {
        let size = page_size.max(1).to_string();
        let url = self
            .inner
            .experiments
            .join(ROLLOUTS_PATH, &[("pageSize", &size)])?;
        let req = Request::new(Method::GET, url, Safety::Idempotent, "rollouts".to_owned())
            .listing(LIST_404_HELP);
        match self.json(&req, Api::Workflows).await? {
            Value::Null => Ok(Vec::new()),
            Value::Object(mut page) => match page.remove("rollouts") {
                Some(Value::Array(items)) => Ok(items.into_iter().map(LiveRollout::new).collect()),
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(other) => Err(decode(
                    &req,
                    format!("`rollouts` is {}, expected an array", kind(&other)),
                )),
            },
            other => Err(decode(
                &req,
                format!("expected an object, got {}", kind(&other)),
            )),
        }
    }

    /// All rollouts, following `nextPageToken` until it is empty (pages of 100), without
    /// their segments. `filter` is passed through (e.g. `state:live`).
    pub async fn list_rollouts(&self, filter: Option<&str>) -> Result<Vec<LiveRollout>> {
        self.list_rollouts_paged(filter, &|_| {}).await
    }

    /// [`Self::list_rollouts`], calling `on_page(more)` as each page is answered (`more`:
    /// another page follows), for progress.
    pub(crate) async fn list_rollouts_paged(
        &self,
        filter: Option<&str>,
        on_page: &(dyn Fn(bool) + Send + Sync),
    ) -> Result<Vec<LiveRollout>> {
        let mut all = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("pageSize", PAGE_SIZE)];
            if !token.is_empty() {
                query.push(("pageToken", token.as_str()));
            }
            if let Some(f) = filter {
                query.push(("filter", f));
            }
            let url = self.inner.experiments.join(ROLLOUTS_PATH, &query)?;
            let req = Request::new(Method::GET, url, Safety::Idempotent, "rollouts".to_owned())
                .listing(LIST_404_HELP);
            let page = self.json(&req, Api::Workflows).await?;
            let more = page
                .get("nextPageToken")
                .and_then(Value::as_str)
                .is_some_and(|next| !next.is_empty());
            on_page(more);
            let Value::Object(mut page) = page else {
                if page.is_null() {
                    return Ok(all);
                }
                return Err(decode(
                    &req,
                    format!("expected an object, got {}", kind(&page)),
                ));
            };
            match page.remove("rollouts") {
                Some(Value::Array(items)) => all.extend(items.into_iter().map(LiveRollout::new)),
                None | Some(Value::Null) => {}
                Some(other) => {
                    return Err(decode(
                        &req,
                        format!("`rollouts` is {}, expected an array", kind(&other)),
                    ));
                }
            }
            let next = match page.remove("nextPageToken") {
                Some(Value::String(s)) => s,
                None | Some(Value::Null) => String::new(),
                Some(other) => {
                    return Err(decode(
                        &req,
                        format!("`nextPageToken` is {}, expected a string", kind(&other)),
                    ));
                }
            };
            if next.is_empty() {
                return Ok(all);
            }
            if next == token {
                return Err(decode(
                    &req,
                    "the server returned the same page token twice".to_owned(),
                ));
            }
            token = next;
        }
        Err(RemoteError::Decode {
            service: Service::Confidence,
            method: "GET".to_owned(),
            url: self
                .inner
                .experiments
                .join(ROLLOUTS_PATH, &[])
                .map_or_else(|_| ROLLOUTS_PATH.to_owned(), |u| shown_url(&u)),
            reason: format!("more than {MAX_PAGES} pages of rollouts"),
        })
    }

    /// One rollout, without its segment; `None` on 404. `id` is the bare id or the full
    /// `workflows/rollout/instances/{id}` name.
    pub async fn get_rollout(&self, id: &str) -> Result<Option<LiveRollout>> {
        let req = Request::new(
            Method::GET,
            self.rollout_url(id, "")?,
            Safety::Idempotent,
            rollout_resource(id),
        );
        match self.json(&req, Api::Workflows).await {
            Ok(v) => Ok(Some(LiveRollout::new(v))),
            Err(RemoteError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One rollout with its segment (a second GET, on the flags API): everything a plan
    /// compares. `None` when the rollout is gone.
    pub async fn read_rollout(&self, id: &str) -> Result<Option<LiveRollout>> {
        let Some(rollout) = self.get_rollout(id).await? else {
            return Ok(None);
        };
        let segment = match &rollout.segment_name {
            Some(name) => self.get_segment(name).await?,
            None => None,
        };
        Ok(Some(rollout.with_segment(segment)))
    }

    /// A segment of the flags API by its name (`segments/{id}`); `None` on 404.
    pub async fn get_segment(&self, name: &str) -> Result<Option<Value>> {
        let id = segment_id(name)?;
        let path = format!("{SEGMENTS_PATH}/{}", encode_segment("segment", id)?);
        let req = Request::new(
            Method::GET,
            self.inner.flags.join(&path, &[])?,
            Safety::Idempotent,
            format!("segment {name:?}"),
        );
        match self.json(&req, Api::Flags).await {
            Ok(v) if v.is_object() => Ok(Some(v)),
            Ok(other) => Err(decode(
                &req,
                format!("expected a segment object, got {}", kind(&other)),
            )),
            Err(RemoteError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a rollout (POST; the server assigns the id) and returns it.
    ///
    /// Not idempotent, so retried only when the request certainly did not take effect (429 or
    /// a connection never established). A timeout, a reset or a 5xx answer returns
    /// [`RemoteError::Ambiguous`]: look the rollout up with [`Self::find_rollouts_by_flagsync_id`]
    /// before creating again.
    pub async fn create_rollout(&self, rollout: &Value) -> Result<LiveRollout> {
        let url = self.inner.experiments.join(ROLLOUTS_PATH, &[])?;
        let name = rollout
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let req = Request::new(
            Method::POST,
            url,
            Safety::NonIdempotent,
            format!("new rollout {name:?}"),
        )
        .json_body(rollout)?;
        let created = self.json(&req, Api::Workflows).await?;
        if created.is_object() {
            Ok(LiveRollout::new(created))
        } else {
            // It was created, but we cannot tell which one it is: same situation as a timeout.
            Err(RemoteError::Ambiguous {
                service: Service::Confidence,
                method: "POST".to_owned(),
                url: shown_url(&req.url),
                reason: format!("the answer was {}, not the created rollout", kind(&created)),
            })
        }
    }

    /// Rollouts whose flagsync id ([`flagsync_live::ROLLOUT_ID_LABEL`]) is `id` (lists
    /// everything, filters here).
    pub async fn find_rollouts_by_flagsync_id(&self, id: &str) -> Result<Vec<LiveRollout>> {
        let all = self.list_rollouts(None).await?;
        Ok(all
            .into_iter()
            .filter(|r| r.flagsync_id.as_deref() == Some(id))
            .collect())
    }

    /// `PATCH {id}?updateMask=…` with the given body: each masked path is replaced by the
    /// body's value (a section named in the mask is replaced whole, so send it complete).
    /// Returns the updated rollout.
    pub async fn patch_rollout(
        &self,
        id: &str,
        update_mask: &str,
        body: &Value,
    ) -> Result<LiveRollout> {
        let mut url = self.rollout_url(id, "")?;
        url.query_pairs_mut().append_pair("updateMask", update_mask);
        let req = Request::new(Method::PATCH, url, Safety::Idempotent, rollout_resource(id))
            .json_body(body)?;
        let answer = self.json(&req, Api::Workflows).await?;
        if answer.is_object() {
            Ok(LiveRollout::new(answer))
        } else {
            Err(decode(
                &req,
                format!("expected the updated rollout, got {}", kind(&answer)),
            ))
        }
    }

    /// `POST {id}:updatesegment` with `{"parameters": parameters}` (the reference's
    /// spelling and wrapper; `parameters` holds `segment`, `updateMask` relative to the
    /// segment, and the flag settings `targetingKeySelector`, …). The answer only names the
    /// path it aims to update: read the rollout and its segment again to see the result.
    ///
    /// Retried like an idempotent write: it sets the segment to the given value, so sending it
    /// twice has the effect of sending it once.
    pub async fn update_segment(&self, id: &str, parameters: &Value) -> Result<Value> {
        let req = Request::new(
            Method::POST,
            self.rollout_url(id, ":updatesegment")?,
            Safety::Idempotent,
            rollout_resource(id),
        )
        .json_body(&json!({ "parameters": parameters }))?;
        self.json(&req, Api::Workflows).await
    }

    /// `POST {id}:launch`. Returns at once; the transition runs in the background (see
    /// [`Self::wait_for_transition`]). Retried only on 429 or a connection never established;
    /// any other unclear failure is [`RemoteError::Ambiguous`] (GET the rollout to see whether
    /// it started).
    pub async fn launch(&self, id: &str) -> Result<()> {
        let req = Request::new(
            Method::POST,
            self.rollout_url(id, ":launch")?,
            Safety::NonIdempotent,
            rollout_resource(id),
        );
        self.send(&req, Api::Workflows).await.map(drop)
    }

    /// Polls the rollout with backoff until `pendingTransition` is gone, and returns it.
    ///
    /// Failed steps (while pending or after) give [`RemoteError::TransitionFailed`]; a
    /// rollout that disappears gives [`RemoteError::NotFound`]; `deadline` (measured from the
    /// call) passing gives [`RemoteError::DeadlineExceeded`].
    pub async fn wait_for_transition(&self, id: &str, deadline: Duration) -> Result<LiveRollout> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut polls: u32 = 0;
        loop {
            polls += 1;
            let rollout = self
                .get_rollout(id)
                .await?
                .ok_or_else(|| RemoteError::NotFound {
                    resource: rollout_resource(id),
                    method: "GET".to_owned(),
                    url: self
                        .rollout_url(id, "")
                        .map_or_else(|_| id.to_owned(), |u| shown_url(&u)),
                    help: None,
                })?;
            match transition_of(&rollout) {
                Transition::Done => return Ok(rollout),
                Transition::Failed(steps) => {
                    return Err(RemoteError::TransitionFailed {
                        rollout: instance_id(id).to_owned(),
                        steps,
                    });
                }
                Transition::Pending => {}
            }
            let elapsed = started.elapsed();
            if elapsed >= deadline {
                return Err(RemoteError::DeadlineExceeded {
                    operation: format!(
                        "waiting for rollout {} to finish its transition",
                        instance_id(id)
                    ),
                    attempts: polls,
                    elapsed,
                    last: None,
                });
            }
            tracing::debug!(rollout = instance_id(id), polls, "transition pending");
            tokio::time::sleep(delay.min(deadline - elapsed)).await;
            delay = (delay * 3 / 2).min(Duration::from_secs(5));
        }
    }

    /// An analysis result by its full name
    /// (`workflows/rollout/instances/{id}/analysisResults/{r}`, as a rollout's
    /// `explore.exploratoryAnalyses[].analysisResults[]` or `stats` name it), from the stats
    /// API's `/v2`. 404 is [`RemoteError::NotFound`].
    pub async fn get_analysis_result(&self, name: &str) -> Result<Value> {
        let name = name.trim_start_matches('/');
        let parts: Vec<&str> = name.split('/').collect();
        let shape_ok = parts.len() == 6
            && parts[..3] == ["workflows", "rollout", "instances"]
            && parts[4] == "analysisResults";
        if !shape_ok {
            return Err(RemoteError::InvalidName {
                what: "analysis result",
                name: name.to_owned(),
                reason: "expected workflows/rollout/instances/{id}/analysisResults/{result}",
            });
        }
        let path = format!(
            "/v2/workflows/rollout/instances/{}/analysisResults/{}",
            encode_segment("rollout", parts[3])?,
            encode_segment("analysis result", parts[5])?
        );
        let req = Request::new(
            Method::GET,
            self.inner.stats.join(&path, &[])?,
            Safety::Idempotent,
            format!("analysis result {name:?}"),
        );
        self.json(&req, Api::Workflows).await
    }

    // ---- plumbing ----------------------------------------------------------------------

    fn rollout_url(&self, id: &str, action: &str) -> Result<Url> {
        let path = format!(
            "{ROLLOUTS_PATH}/{}{action}",
            encode_segment("rollout", instance_id(id))?
        );
        self.inner.experiments.join(&path, &[])
    }

    async fn json(&self, req: &Request, api: Api) -> Result<Value> {
        let resp = self.send(req, api).await?;
        resp.json(Service::Confidence, req)
    }

    /// Sends with the current bearer token; with client credentials, a 401 refreshes the
    /// token once and sends again (a rejected token means the request was not acted on).
    async fn send(&self, req: &Request, api: Api) -> Result<Response> {
        let transport = match api {
            Api::Workflows => &self.inner.transport,
            Api::Flags => &self.inner.flags_transport,
        };
        match &self.inner.auth {
            Auth::Static(token) => transport.send(req, Some(token)).await,
            Auth::Credentials(source) => {
                // Tokens are fetched on the workflows transport, whatever the request.
                let cached = source.token(&self.inner.transport).await?;
                match transport.send(req, Some(&cached.token)).await {
                    Err(RemoteError::Unauthorized { status: 401, .. }) => {
                        tracing::debug!("access token rejected; fetching a new one");
                        source.invalidate(cached.generation).await;
                        let fresh = source.token(&self.inner.transport).await?;
                        transport.send(req, Some(&fresh.token)).await
                    }
                    other => other,
                }
            }
        }
    }
}

/// The bare id of a segment name (`segments/{id}`).
fn segment_id(name: &str) -> Result<&str> {
    match name.strip_prefix("segments/") {
        Some(id) if !id.is_empty() && !id.contains('/') => Ok(id),
        _ => Err(RemoteError::InvalidName {
            what: "segment",
            name: name.to_owned(),
            reason: "expected segments/{id}",
        }),
    }
}

impl TokenSource {
    /// The cached token, or a new one when none is cached or it is due for refresh. The lock is
    /// held while fetching, so concurrent tasks wait for a single token request.
    async fn token(&self, transport: &Transport) -> Result<CachedToken> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.clone());
        }
        let generation = cached.as_ref().map_or(0, |c| c.generation + 1);
        let (token, lifetime) = self.fetch(transport).await?;
        // Refresh a tenth of the lifetime early (at most five minutes), so a token never
        // expires between the check and the request.
        let now = Instant::now();
        let fresh = CachedToken {
            token,
            refresh_at: now.checked_add(refresh_after(lifetime)).unwrap_or(now),
            generation,
        };
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn invalidate(&self, generation: u64) {
        let mut cached = self.cached.lock().await;
        // Another task may already have replaced the rejected token.
        if let Some(c) = cached.as_mut()
            && c.generation == generation
        {
            c.refresh_at = Instant::now();
        }
    }

    async fn fetch(&self, transport: &Transport) -> Result<(Secret, Duration)> {
        let body = json!({
            "grantType": "client_credentials",
            "clientId": self.client_id,
            "clientSecret": self.client_secret.expose(),
        });
        // Asking twice for a token is harmless, so the token request retries like a read.
        let req = Request::new(
            Method::POST,
            self.token_url.clone(),
            Safety::Idempotent,
            "access token".to_owned(),
        )
        .json_body(&body)?;
        let resp = transport.send(&req, None).await.map_err(|e| match e {
            // The IAM endpoint answers 400/404 for unknown clients on some deployments.
            RemoteError::NotFound { .. } => RemoteError::Unauthorized {
                service: Service::Confidence,
                status: 404,
                method: "POST".to_owned(),
                url: shown_url(&req.url),
                message: Some("token endpoint not found".to_owned()),
            },
            other => other,
        })?;
        let value = resp
            .json(Service::Confidence, &req)
            .map_err(|_| decode(&req, "the token answer is not JSON".to_owned()))?;
        let token = value
            .get("accessToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| decode(&req, "no `accessToken` in the token answer".to_owned()))?;
        let lifetime = value
            .get("expiresIn")
            .and_then(parse_expires_in)
            // Unknown lifetime: assume short and let a 401 refresh it if needed.
            .unwrap_or(Duration::from_secs(300));
        Ok((Secret::new(token), lifetime))
    }
}

/// `expiresIn`: seconds as a string (`"86400"`), a number, or a protobuf duration (`"86400s"`).
fn parse_expires_in(v: &Value) -> Option<Duration> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('s').parse::<f64>().ok()?,
        _ => return None,
    };
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// How long a token with `lifetime` is used before a new one is fetched: a tenth of the
/// lifetime early (at most five minutes), so it never expires between the check and the
/// request; lifetimes over 30 days are treated as 30 days.
fn refresh_after(lifetime: Duration) -> Duration {
    let lifetime = lifetime.min(Duration::from_secs(30 * 24 * 60 * 60));
    let margin = (lifetime / 10).min(Duration::from_secs(300));
    lifetime.saturating_sub(margin)
}

/// Where a rollout's asynchronous action stands.
#[derive(Debug, PartialEq)]
enum Transition {
    /// No `pendingTransition`: the action (if any) finished.
    Done,
    Pending,
    /// `failedSteps` present (whether or not the transition is still listed as pending).
    Failed(Vec<FailedStep>),
}

fn transition_of(rollout: &LiveRollout) -> Transition {
    match &rollout.pending_transition {
        None => Transition::Done,
        Some(pending) if pending.failed_steps.is_empty() => Transition::Pending,
        Some(pending) => Transition::Failed(pending.failed_steps.clone()),
    }
}

fn rollout_resource(id: &str) -> String {
    format!("rollout {:?}", instance_id(id))
}

fn decode(req: &Request, reason: String) -> RemoteError {
    req.decode_error(Service::Confidence, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_forms() {
        assert_eq!(
            parse_expires_in(&json!("86400")),
            Some(Duration::from_secs(86400))
        );
        assert_eq!(
            parse_expires_in(&json!("3600s")),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(parse_expires_in(&json!(60)), Some(Duration::from_secs(60)));
        assert_eq!(parse_expires_in(&json!("0")), None);
        assert_eq!(parse_expires_in(&json!("soon")), None);
        assert_eq!(parse_expires_in(&json!(null)), None);
    }

    #[test]
    fn transitions() {
        assert_eq!(
            transition_of(&LiveRollout::new(json!({"state": "live"}))),
            Transition::Done
        );
        assert_eq!(
            transition_of(&LiveRollout::new(json!({"pendingTransition": null}))),
            Transition::Done
        );
        assert_eq!(
            transition_of(&LiveRollout::new(json!({"pendingTransition": {
                "transitionAction": "launch", "targetState": "live",
                "succeededSteps": [], "failedSteps": [], "unprocessedSteps": ["A"]
            }}))),
            Transition::Pending
        );
        let failed = transition_of(&LiveRollout::new(json!({"pendingTransition": {
            "failedSteps": [{"actionStep": "START", "failuresMessages": ["flag missing"]}]
        }})));
        let Transition::Failed(steps) = failed else {
            panic!("expected a failure, got {failed:?}");
        };
        let err = RemoteError::TransitionFailed {
            rollout: "abc".to_owned(),
            steps,
        };
        assert_eq!(
            err.to_string(),
            "rollout abc: transition failed: START: flag missing"
        );
    }

    #[test]
    fn tokens_are_refreshed_early() {
        assert_eq!(
            refresh_after(Duration::from_secs(86400)),
            Duration::from_secs(86100)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(60)),
            Duration::from_secs(54)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(u64::MAX)),
            Duration::from_secs(30 * 24 * 60 * 60 - 300)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn ids_and_names() {
        assert_eq!(instance_id("workflows/rollout/instances/abc"), "abc");
        assert_eq!(instance_id("abc"), "abc");
        let c = ConfidenceClient::new(ConfidenceSettings {
            urls: ConfidenceUrls::all("http://127.0.0.1:1"),
            ..ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new("t")))
        })
        .unwrap();
        assert_eq!(
            c.rollout_url("workflows/rollout/instances/abc", ":launch")
                .unwrap()
                .path(),
            "/v1/workflows/rollout/instances/abc:launch"
        );
        assert_eq!(
            c.rollout_url("a/b", "").unwrap().path(),
            "/v1/workflows/rollout/instances/a%2Fb"
        );
    }

    #[test]
    fn hosts_by_region() {
        let eu = ConfidenceUrls::for_region(ConfidenceRegion::Eu);
        assert_eq!(eu.experiments, "https://experiments.confidence.dev");
        assert_eq!(eu.flags, "https://flags.eu.confidence.dev");
        assert_eq!(eu.stats, "https://stats.eu.confidence.dev");
        assert_eq!(eu.iam, "https://iam.eu.confidence.dev");
        let us = ConfidenceUrls::for_region(ConfidenceRegion::Us);
        assert_eq!(us.flags, "https://flags.us.confidence.dev");
        assert_eq!(us.experiments, eu.experiments);
        assert_eq!(segment_id("segments/abc").unwrap(), "abc");
        assert!(segment_id("abc").is_err() && segment_id("segments/a/b").is_err());
    }

    #[test]
    fn insecure_iam_url_is_refused() {
        let err = ConfidenceClient::new(ConfidenceSettings {
            urls: ConfidenceUrls {
                iam: "http://iam.example.com".to_owned(),
                ..ConfidenceUrls::all("http://127.0.0.1:1")
            },
            ..ConfidenceSettings::new(ConfidenceAuth::ClientCredentials {
                client_id: "id".to_owned(),
                client_secret: Secret::new("s"),
            })
        })
        .unwrap_err();
        assert!(matches!(err, RemoteError::InsecureUrl { .. }), "{err}");
    }
}
