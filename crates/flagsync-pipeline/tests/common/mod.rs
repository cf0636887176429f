//! A copy of examples/quickstart in a temp dir, the emulator on loopback and clients
//! pointed at it.

use std::cell::RefCell;
use std::path::Path;

use flagsync_emulator::{BackgroundEmulator, DEFAULT_TOKEN, EmulatorConfig, spawn_background};
use flagsync_manifest::Loaded;
use flagsync_pipeline::{Observer, Services, Side};
use flagsync_remote::{
    CloudBeesClient, CloudBeesSettings, ConfidenceAuth, ConfidenceClient, ConfidenceSettings,
    Secret,
};

/// The application id of examples/quickstart/flagsync.yaml.
pub const APPLICATION: &str = "5f3c2a1b9d8e7f6a5b4c3d2e";

/// examples/quickstart copied into a temp dir, without its `emulator:` section.
pub fn quickstart() -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let dir = tempfile::tempdir().expect("temp dir");
    copy(&from, dir.path());
    let config = dir.path().join("flagsync.yaml");
    let text = std::fs::read_to_string(&config).expect("flagsync.yaml");
    let text = text
        .split("\nemulator:")
        .next()
        .expect("text before emulator:")
        .to_owned();
    std::fs::write(&config, text + "\n").expect("write flagsync.yaml");
    dir
}

fn copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

pub struct Live {
    pub emulator: BackgroundEmulator,
    pub cloudbees: CloudBeesClient,
    pub confidence: ConfidenceClient,
}

impl Live {
    pub fn start() -> Self {
        let emulator = spawn_background(EmulatorConfig {
            launch_duration: std::time::Duration::from_millis(5),
            ..EmulatorConfig::default()
        })
        .expect("emulator starts");
        let mut cb = CloudBeesSettings::new(APPLICATION, Secret::new(DEFAULT_TOKEN));
        cb.base_url = emulator.cloudbees_url();
        cb.http.requests_per_second = f64::INFINITY;
        let mut cf = ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new(DEFAULT_TOKEN)));
        cf.urls = flagsync_remote::ConfidenceUrls::all(&emulator.confidence_url());
        cf.http.requests_per_second = f64::INFINITY;
        cf.flags_requests_per_second = f64::INFINITY;
        Live {
            emulator,
            cloudbees: CloudBeesClient::new(cb).expect("cloudbees client"),
            confidence: ConfidenceClient::new(cf).expect("confidence client"),
        }
    }

    pub fn services(&self) -> Services<'_> {
        Services {
            cloudbees: Some(&self.cloudbees),
            confidence: Some(&self.confidence),
            unify: None,
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Records what the pipeline reported, in order.
#[derive(Default)]
pub struct Recorder {
    pub events: RefCell<Vec<String>>,
}

impl Observer for Recorder {
    fn loaded(&self, loaded: &Loaded) {
        self.events.borrow_mut().push(format!(
            "loaded: {} diagnostic(s)",
            loaded.diagnostics.len()
        ));
    }

    fn reading_live_state(&self) {
        self.events.borrow_mut().push("reading live state".into());
    }

    fn live_state_read(&self) {
        self.events.borrow_mut().push("live state read".into());
    }

    fn revision_loaded(&self, side: Side, rev: &str, loaded: &Loaded) {
        self.events.borrow_mut().push(format!(
            "{side} {rev}: {} diagnostic(s)",
            loaded.diagnostics.len()
        ));
    }
}
