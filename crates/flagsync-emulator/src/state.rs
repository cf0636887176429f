//! The emulator's state, and its persistence: one JSON file for everything, replaced
//! atomically (temporary file, fsync, rename, fsync of the directory) so that a crash at
//! any moment leaves either the old or the new state, never a broken file.
//!
//! One background writer writes the whole state after mutations, coalescing the mutations
//! that arrive meanwhile into one file write, so 1,000 quick writes cost far fewer than
//! 1,000 fsyncs. By default a request is answered before its change reaches the file
//! (write-behind, a few milliseconds; a clean shutdown writes everything): a hard kill can
//! lose the last moment of acknowledged writes but never corrupts the state. With
//! `EmulatorConfig::sync_writes`, a mutating request is answered only once a state file
//! containing it is durable (group commit).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::error::{ApiError, Service};
use crate::faults::{Counters, RateLimit, Runtime};
use crate::{EmulatorConfig, EmulatorError, MAX_BODY_DEPTH};

pub(crate) const STATE_FILE: &str = "emulator-state.json";

/// How far down the state file a stored object sits: at most 7 levels, for a Unify flag
/// configuration (`{unify: {applications: {app: {flags: {flag: {configurations: {env:
/// <configuration>}}}}}}}`); a legacy experiment sits 5 deep, rollouts less. One level of
/// margin. Every stored object nests at
/// most [`MAX_BODY_DEPTH`] levels (bodies and patch results are refused past it), so the
/// file stays within the 128 levels `serde_json` reads back: what was written loads.
const STATE_WRAPPER_DEPTH: usize = 8;
const SERDE_JSON_DEPTH: usize = 128;
const _: () = assert!(MAX_BODY_DEPTH + STATE_WRAPPER_DEPTH <= SERDE_JSON_DEPTH);
/// 2 added `unify`, 3 Confidence segments. A file of an older format loads (what it lacks
/// starts empty) and is rewritten in this one; an older emulator refuses this format
/// instead of dropping the data it does not know on its next write.
const FORMAT_VERSION: u32 = 3;
const WRITE_BEHIND_DELAY: std::time::Duration = std::time::Duration::from_millis(5);

/// Everything that persists.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Data {
    #[serde(default)]
    pub format_version: u32,
    /// Application id to its CloudBees resources.
    #[serde(default)]
    pub cloudbees: BTreeMap<String, CloudBeesApp>,
    #[serde(default)]
    pub confidence: ConfidenceData,
    /// CloudBees Unify: organizations, environments, applications and their resources.
    #[serde(default)]
    pub unify: crate::unify::model::UnifyData,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CloudBeesApp {
    /// The application's name, when set through the control endpoint (see
    /// `assumptions::cloudbees_application_name` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The application's environments, when set through the control endpoint (see
    /// `assumptions::cloudbees_environments` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_names: Option<Vec<String>>,
    /// Environment name to flag to experiment object.
    #[serde(default)]
    pub environments: BTreeMap<String, BTreeMap<String, Value>>,
    /// Target group name to target group object.
    #[serde(default)]
    pub target_groups: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfidenceData {
    /// Creation counter: list order and page tokens.
    #[serde(default)]
    pub next_seq: u64,
    /// Rollout id to rollout.
    #[serde(default)]
    pub rollouts: BTreeMap<String, StoredRollout>,
    /// Segment id (the part after `segments/`) to segment: the flags API's resource. Each
    /// rollout owns one, named by its `flags.segment`.
    #[serde(default)]
    pub segments: BTreeMap<String, StoredSegment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredSegment {
    /// Creation order (the list order); shares the rollouts' counter.
    pub seq: u64,
    /// The resource as served.
    pub resource: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredRollout {
    pub seq: u64,
    /// The resource as served.
    pub resource: serde_json::Map<String, Value>,
    /// Set when a launch completes; names the analysis result.
    #[serde(default)]
    pub analysis_result_id: Option<String>,
}

/// Progress of the background writer, published to waiting requests.
#[derive(Debug, Clone, Default)]
struct PersistStatus {
    /// Highest data version known to be in the state file.
    durable: u64,
    /// Highest version whose write was attempted, and the error if that attempt failed.
    attempted: u64,
    error: Option<String>,
}

struct Persister {
    path: PathBuf,
    /// Answer mutations only once they are durable.
    sync: bool,
    wake: Notify,
    status: watch::Sender<PersistStatus>,
}

/// The data behind a lock, plus its version counter and optional persistence.
pub(crate) struct Store {
    inner: Mutex<(Data, u64)>,
    persister: Option<Arc<Persister>>,
}

impl Store {
    /// Opens the state in `state_dir` (creating it when missing), or in memory.
    pub(crate) fn open(state_dir: Option<&Path>, sync: bool) -> Result<Self, EmulatorError> {
        let Some(dir) = state_dir else {
            return Ok(Self {
                inner: Mutex::new((fresh_data(), 0)),
                persister: None,
            });
        };
        let dir_error = |source| EmulatorError::StateDir {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(dir_error)?;
        let path = dir.join(STATE_FILE);
        // A link or a special file planted at the state file's name would make the emulator
        // read (or block on) something else: only a regular file is read.
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(EmulatorError::StateFileKind {
                    path,
                    what: if meta.file_type().is_symlink() {
                        "a symbolic link"
                    } else if meta.is_dir() {
                        "a directory"
                    } else {
                        "a special file"
                    },
                });
            }
            _ => {}
        }
        let mut data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Data>(&bytes).map_err(|source| {
                EmulatorError::CorruptState {
                    path: path.clone(),
                    source,
                }
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh_data(),
            Err(e) => return Err(dir_error(e)),
        };
        if data.format_version > FORMAT_VERSION {
            return Err(EmulatorError::NewerState {
                path,
                version: data.format_version,
            });
        }
        data.format_version = FORMAT_VERSION;
        // Leftovers of a crash during a write are never read; remove them.
        remove_temp_files(dir);
        let (status, _) = watch::channel(PersistStatus::default());
        Ok(Self {
            inner: Mutex::new((data, 0)),
            persister: Some(Arc::new(Persister {
                path,
                sync,
                wake: Notify::new(),
                status,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, (Data, u64)> {
        // A panic while holding the lock cannot leave half a mutation: handlers change data
        // only after validating, so the data is still consistent and we keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the data.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Data) -> T) -> T {
        f(&self.lock().0)
    }

    /// Runs a mutation and schedules its persistence; with `sync_writes`, returns only once
    /// the change is durable. `f` must validate before it modifies (all or nothing).
    pub(crate) async fn write<T>(
        &self,
        service: Service,
        f: impl FnOnce(&mut Data) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (value, version) = {
            let mut guard = self.lock();
            let value = f(&mut guard.0)?;
            guard.1 += 1;
            (value, guard.1)
        };
        if let Some(persister) = &self.persister {
            persister.wake.notify_one();
            if !persister.sync {
                return Ok(value);
            }
            wait_durable(persister, version).await.map_err(|e| {
                ApiError::internal(service, format!("the change could not be persisted: {e}"))
            })?;
        }
        Ok(value)
    }

    /// Starts the background writer (when persisting). It stops when `stop` turns true,
    /// after writing what is pending.
    pub(crate) fn spawn_writer(
        self: &Arc<Self>,
        mut stop: watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let persister = self.persister.clone()?;
        let store = Arc::clone(self);
        Some(tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = persister.wake.notified() => false,
                    _ = stop.changed() => true,
                };
                if !stopping && !persister.sync {
                    // Lets a burst of mutations share one file write.
                    tokio::time::sleep(WRITE_BEHIND_DELAY).await;
                }
                store.write_pending(&persister).await;
                if stopping || *stop.borrow() {
                    break;
                }
            }
            // Mutations that arrived during the last write.
            store.write_pending(&persister).await;
        }))
    }

    async fn write_pending(&self, persister: &Arc<Persister>) {
        let (bytes, version) = {
            let guard = self.lock();
            if guard.1 <= persister.status.borrow().attempted {
                return;
            }
            (serde_json::to_vec_pretty(&guard.0), guard.1)
        };
        let result = match bytes {
            Ok(bytes) => {
                let path = persister.path.clone();
                tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
                    .await
                    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = &result {
            tracing::error!(path = %persister.path.display(), error = %e, "cannot write emulator state");
        }
        persister.status.send_modify(|s| {
            s.attempted = version;
            match result {
                Ok(()) => {
                    s.durable = version;
                    s.error = None;
                }
                Err(e) => s.error = Some(e),
            }
        });
    }
}

async fn wait_durable(persister: &Persister, version: u64) -> Result<(), String> {
    let mut rx = persister.status.subscribe();
    loop {
        {
            let s = rx.borrow_and_update();
            if s.durable >= version {
                return Ok(());
            }
            if s.attempted >= version
                && let Some(e) = &s.error
            {
                return Err(e.clone());
            }
        }
        if rx.changed().await.is_err() {
            return Err("the emulator is shutting down".to_owned());
        }
    }
}

fn fresh_data() -> Data {
    Data {
        format_version: FORMAT_VERSION,
        ..Data::default()
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn remove_temp_files(dir: &Path) {
    let temp = temp_path(&dir.join(STATE_FILE));
    if temp.exists() {
        let _ = std::fs::remove_file(temp);
    }
}

/// Temporary file, fsync, rename over the old file, fsync the directory. The temporary file
/// is created exclusively, so nothing planted at its name (a link) is followed.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = temp_path(path);
    {
        match std::fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    if let Some(dir) = path.parent() {
        // Makes the rename itself durable; not possible on every platform, hence optional.
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Everything the handlers share.
pub(crate) struct AppState {
    pub store: Arc<Store>,
    configured_tokens: HashSet<String>,
    /// Issued by `/v1/oauth/token`; in memory only (tokens are never stored on disk), so a
    /// client re-authenticates after a restart, as it would when a token expires.
    /// Each issued token with the client id it was issued to.
    issued_tokens: Mutex<HashMap<String, String>>,
    pub client_credentials: Vec<(String, String)>,
    runtime: Mutex<Runtime>,
    rate_windows: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    unify_rate_windows: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    flags_rate_windows: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    /// Mixed into Unify ids and seeds (see `unify::model::UnifyData::next_id`).
    pub unify_id_seed: u64,
    counters: Mutex<Counters>,
    /// Rollout ids and issued tokens; seeded, so runs repeat.
    id_rng: Mutex<StdRng>,
    /// Background launch transitions, aborted on shutdown (they resume on restart).
    pub tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Serve only the CloudBees routes of the seed documents (`EmulatorConfig`).
    pub cloudbees_seed_routes_only: bool,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    pub(crate) fn new(config: &EmulatorConfig, store: Store) -> Self {
        let mut configured_tokens: HashSet<String> = config
            .tokens
            .iter()
            .filter(|t| !t.is_empty())
            .cloned()
            .collect();
        if config.preload_examples {
            configured_tokens.insert(crate::assumptions::EXAMPLE_CLOUDBEES_TOKEN.to_owned());
            configured_tokens.extend(
                crate::assumptions::UNIFY_EXAMPLE_TOKENS
                    .iter()
                    .map(|t| (*t).to_owned()),
            );
        }
        Self {
            store: Arc::new(store),
            configured_tokens,
            issued_tokens: Mutex::new(HashMap::new()),
            client_credentials: config.client_credentials.clone(),
            runtime: Mutex::new(Runtime::new(
                config.faults.clone(),
                config.launch_duration,
                config.cloudbees_requests_per_second,
                config.unify_requests_per_second,
            )),
            rate_windows: Mutex::new(HashMap::new()),
            unify_rate_windows: Mutex::new(HashMap::new()),
            flags_rate_windows: Mutex::new(HashMap::new()),
            unify_id_seed: config.faults.seed,
            counters: Mutex::new(Counters::default()),
            id_rng: Mutex::new(StdRng::seed_from_u64(config.faults.seed ^ 0x05ee_d1d5)),
            tasks: Mutex::new(Vec::new()),
            cloudbees_seed_routes_only: config.cloudbees_seed_routes_only,
        }
    }

    pub(crate) fn runtime(&self) -> MutexGuard<'_, Runtime> {
        relock(&self.runtime)
    }
    pub(crate) fn counters(&self) -> MutexGuard<'_, Counters> {
        relock(&self.counters)
    }
    /// The request windows `limit` counts in.
    pub(crate) fn rate_windows(
        &self,
        limit: RateLimit,
    ) -> MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        relock(match limit {
            RateLimit::CloudBees => &self.rate_windows,
            RateLimit::Unify => &self.unify_rate_windows,
            RateLimit::ConfidenceFlags => &self.flags_rate_windows,
        })
    }
    pub(crate) fn id_rng(&self) -> MutexGuard<'_, StdRng> {
        relock(&self.id_rng)
    }

    /// Who a token belongs to, when it is accepted: `apiClients/{clientId}` for a token
    /// issued by `/v1/oauth/token`, [`crate::assumptions::TOKEN_IDENTITY`] for a configured
    /// one. Confidence writes it into `creator`/`updater`.
    pub(crate) fn caller(&self, token: &str) -> Option<String> {
        if let Some(client) = relock(&self.issued_tokens).get(token) {
            return Some(format!("apiClients/{client}"));
        }
        self.configured_tokens
            .contains(token)
            .then(|| crate::assumptions::TOKEN_IDENTITY.to_owned())
    }

    pub(crate) fn issue_token(&self, token: String, client_id: &str) {
        relock(&self.issued_tokens).insert(token, client_id.to_owned());
    }
}
