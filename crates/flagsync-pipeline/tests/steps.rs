//! The steps against the emulator over loopback: load, read live state, plan, and a plan
//! that is empty once applied.

use flagsync_apply::{ApplyOptions, Clients};
use flagsync_pipeline::{LiveScope, Options, PipelineError, Silent};
use flagsync_plan::{Kind, TargetFilter};
use flagsync_source::DirSource;

use crate::common::{Live, Recorder, quickstart, runtime};

#[test]
fn a_repository_with_errors_stops_after_showing_its_diagnostics() {
    let repo = quickstart();
    std::fs::write(
        repo.path().join("target_groups/Broken.yml"),
        "type: target-group\nname: Broken\noperator: sometimes\n",
    )
    .unwrap();
    let source = DirSource::open(repo.path()).unwrap();
    let recorder = Recorder::default();
    let err = flagsync_pipeline::load_valid(&source, &recorder).unwrap_err();
    assert!(
        matches!(err, PipelineError::Invalid { errors } if errors >= 1),
        "{err:?}"
    );
    let events = recorder.events.borrow();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(events[0].starts_with("loaded: "), "{events:?}");
    assert_ne!(events[0], "loaded: 0 diagnostic(s)");
}

#[test]
fn a_legacy_repository_has_no_configuration_to_connect_with() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
    std::fs::write(
        dir.path().join("experiments/f.yml"),
        "type: experiment\nflag: f\nvalue: true\n",
    )
    .unwrap();
    let source = DirSource::open(dir.path()).unwrap();
    let loaded = flagsync_pipeline::load_valid(&source, &Silent).unwrap();
    let err = flagsync_pipeline::config(&loaded).unwrap_err();
    assert!(matches!(err, PipelineError::NoConfig), "{err:?}");
}

#[test]
fn plan_creates_everything_then_nothing_once_applied() {
    let repo = quickstart();
    let live = Live::start();
    let rt = runtime();
    let source = DirSource::open(repo.path()).unwrap();
    let recorder = Recorder::default();
    let loaded = flagsync_pipeline::load_valid(&source, &recorder).unwrap();
    flagsync_pipeline::config(&loaded).unwrap();
    let scope = LiveScope::of(&loaded.repository);
    let read = |observer| {
        let snapshot = rt
            .block_on(flagsync_pipeline::read_live(
                live.services(),
                &loaded,
                &scope,
                observer,
            ))
            .unwrap();
        flagsync_pipeline::live_resources(&snapshot, &loaded)
    };

    let before = read(&recorder);
    assert_eq!(
        *recorder.events.borrow(),
        [
            "loaded: 0 diagnostic(s)",
            "reading live state",
            "live state read"
        ]
    );
    let plan = flagsync_pipeline::plan(&loaded, &before, &Options::default()).unwrap();
    let declared = loaded.repository.target_groups.len()
        + loaded.repository.experiment_count()
        + loaded.repository.rollouts.len();
    assert_eq!(plan.summary.create, declared, "{}", plan.summary.line());

    let clients = Clients {
        cloudbees: Some(live.cloudbees.clone()),
        confidence: Some(live.confidence.clone()),
        unify: None,
    };
    let report = rt.block_on(flagsync_apply::apply(
        &plan,
        &clients,
        &ApplyOptions::default(),
        &|_| {},
    ));
    assert!(report.is_success(), "{}", report.render_human());

    let after = read(&Silent);
    let again = flagsync_pipeline::plan(&loaded, &after, &Options::default()).unwrap();
    assert!(!again.has_changes(), "{}", again.summary.line());
    live.emulator.shutdown();
}

#[test]
fn options_narrow_the_plan_and_a_scope_narrows_the_read() {
    let repo = quickstart();
    let live = Live::start();
    let rt = runtime();
    let source = DirSource::open(repo.path()).unwrap();
    let loaded = flagsync_pipeline::load_valid(&source, &Silent).unwrap();

    let only_groups = LiveScope {
        environments: Vec::new(),
        target_groups: true,
        rollouts: false,
        every_segment: false,
        unify: false,
    };
    let snapshot = rt
        .block_on(flagsync_pipeline::read_live(
            live.services(),
            &loaded,
            &only_groups,
            &Silent,
        ))
        .unwrap();
    assert!(snapshot.experiments.is_empty(), "{snapshot:?}");
    assert!(snapshot.rollouts.is_empty(), "{snapshot:?}");

    let options = Options {
        prune: false,
        targets: vec!["target-group/Beta Users".parse::<TargetFilter>().unwrap()],
        ..Default::default()
    };
    let live_now = flagsync_pipeline::live_resources(&snapshot, &loaded);
    let plan = flagsync_pipeline::plan(&loaded, &live_now, &options).unwrap();
    assert_eq!(plan.actions.len(), 1, "{}", plan.summary.line());
    assert_eq!(plan.actions[0].key.kind, Kind::TargetGroup);
    assert_eq!(plan.actions[0].key.name, "Beta Users");
    live.emulator.shutdown();
}
