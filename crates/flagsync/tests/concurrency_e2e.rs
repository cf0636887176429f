//! Issue 11, 5: two applies of one repository at once never leave a rollout twice, and
//! rollouts that exist twice are reported all at once, with `flagsync dedupe` to keep one.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Emu, quickstart_copy, text};

const INSTANCES: &str = "/v1/workflows/rollout/instances";
const LIST: &str = "GET /v1/workflows/rollout/instances";

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every rollout, as the list answers.
fn rollouts(emu: &Emu) -> Vec<Value> {
    emu.get(&format!("{INSTANCES}?pageSize=1000"))["rollouts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn bare(rollout: &Value) -> String {
    rollout["name"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

/// Instance ids by the value of `label`.
fn by_label(emu: &Emu, label: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rollouts(emu) {
        if let Some(id) = r["labels"][label].as_str() {
            out.entry(id.to_owned()).or_default().push(bare(&r));
        }
    }
    out
}

fn count(emu: &Emu, route: &str) -> u64 {
    emu.counters()["routes"][route]["count"]
        .as_u64()
        .unwrap_or(0)
}

fn set_latency(emu: &Emu, ms: u64, jitter: u64) {
    let (status, body) = emu.send(
        reqwest::Method::PUT,
        "/_emulator/faults",
        Some(json!({"latencyMs": ms, "latencyJitterMs": jitter})),
    );
    assert_eq!(status, 200, "{body}");
}

/// A repository that manages one Confidence rollout, `search`.
fn search_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flagsync.yaml"),
        "confidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: CONFIDENCE_CLIENT_SECRET\n  rollouts: rollouts\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("rollouts")).unwrap();
    std::fs::write(
        dir.path().join("rollouts/search.yml"),
        "type: rollout\nid: search\ndisplayName: Search\nstate: draft\nrollout:\n  flag: flags/search\n  variant: flags/search/variants/on\n  reach: \"0.5\"\n",
    )
    .unwrap();
    dir
}

/// A rollout carrying `flagsync-id: id`, made through the API as another run (or tool)
/// would; its instance id.
fn copy(emu: &Emu, id: &str) -> String {
    emu.create_rollout(
        json!({"displayName": "Search", "labels": {"flagsync-id": id, "managed-by": "flagsync"}}),
        None,
        false,
    )
}

/// Every answer waits this long first; the apply's requests follow one another, so a
/// request the test sends half of it after the apply's `n`-th answer is handled between
/// the apply's next two.
const LATENCY: u64 = 1000;

/// Starts `apply --auto-approve` in the background, waits until the emulator answered
/// `route` `n` times, then half the latency more.
fn apply_after(emu: &Emu, dir: &Path, route: &str, n: u64) -> std::process::Child {
    let child = emu
        .std_command(&["apply", "--auto-approve"], dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while count(emu, route) < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the apply never sent {route} {n} time(s)"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(LATENCY / 2));
    child
}

#[test]
fn two_applies_at_once_never_keep_a_rollout_twice() {
    let emu = Emu::start();
    let repo = quickstart_copy();
    let dir = repo.path();
    // Every answer waits, so the two runs' reads and creates overlap.
    set_latency(&emu, 80, 60);
    let start = || {
        emu.std_command(&["apply", "--auto-approve"], dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    set_latency(&emu, 0, 0);

    let labelled = by_label(&emu, "flagsync-id");
    for (id, copies) in &labelled {
        assert_eq!(
            copies.len(),
            1,
            "rollout {id} is kept twice: {copies:?}\n{}\n{}",
            text(&outs[0]),
            text(&outs[1])
        );
    }
    for out in &outs {
        let all = all_output(out);
        assert!(
            out.status.success() || all.contains("conflict"),
            "a run failed without reporting a conflict: {}",
            text(out)
        );
        // A copy that stepped back is never launched.
        assert!(!all.contains("panicked"), "{all}");
    }
    for copy in by_label(&emu, "flagsync-duplicate-of").values().flatten() {
        let r = emu.get(&format!("{INSTANCES}/{copy}"));
        assert_eq!(r["state"], "draft", "{r:#}");
    }

    // Whatever the interleaving, one more apply converges and the plan is then empty.
    let out = emu.flagsync(&["apply", "--auto-approve"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let labelled = by_label(&emu, "flagsync-id");
    assert_eq!(
        labelled.keys().collect::<Vec<_>>(),
        ["dark-mode", "new-search"]
    );
    assert!(labelled.values().all(|c| c.len() == 1), "{labelled:?}");
    let out = emu.flagsync(&["plan", "--detailed-exitcode"], dir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_rollout_another_run_created_after_the_plan_is_a_conflict_not_a_second_copy() {
    let emu = Emu::start();
    let repo = search_repo();
    set_latency(&emu, LATENCY, 0);
    // Another run's create lands after the apply read live state (its first rollout list,
    // which follows its token) and before its lookup right before creating.
    let apply = apply_after(&emu, repo.path(), "POST /v1/oauth/token", 1);
    let theirs = copy(&emu, "search");
    let out = apply.wait_with_output().unwrap();
    set_latency(&emu, 0, 0);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = all_output(&out);
    assert!(all.contains("conflict  create rollout/search"), "{all}");
    assert!(all.contains(&theirs), "{all}");
    assert!(
        all.contains("another apply of this repository is probably running"),
        "{all}"
    );
    assert!(all.contains("Nothing was created"), "{all}");
    assert_eq!(rollouts(&emu).len(), 1, "nothing was created");
}

#[test]
fn a_copy_created_between_the_lookup_and_the_create_is_found_at_once() {
    let emu = Emu::start();
    let repo = search_repo();
    set_latency(&emu, LATENCY, 0);
    // Another run's create lands after the apply's lookup right before its create (its
    // second rollout list), and before the apply's own create.
    let apply = apply_after(&emu, repo.path(), LIST, 1);
    let theirs = copy(&emu, "search");
    let out = apply.wait_with_output().unwrap();
    set_latency(&emu, 0, 0);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = all_output(&out);
    assert!(all.contains("conflict  create rollout/search"), "{all}");
    assert!(all.contains("stepped back"), "{all}");
    assert!(all.contains(&theirs), "{all}");

    // The older copy is kept; the apply's own lost the label and says whose copy it is.
    assert_eq!(
        by_label(&emu, "flagsync-id"),
        BTreeMap::from([("search".to_owned(), vec![theirs.clone()])])
    );
    let stepped_back = by_label(&emu, "flagsync-duplicate-of");
    let mine = &stepped_back["search"];
    assert_eq!(mine.len(), 1);
    let r = emu.get(&format!("{INSTANCES}/{}", mine[0]));
    assert_eq!(r["state"], "draft");
    assert!(r["labels"].get("managed-by").is_none(), "{r:#}");
    assert!(all.contains(&mine[0]), "{all}");
}

#[test]
fn copies_are_reported_all_at_once_and_dedupe_keeps_one_of_each() {
    let emu = Emu::start();
    let repo = search_repo();
    let dir = repo.path();
    std::fs::write(
        dir.join("rollouts/checkout.yml"),
        "type: rollout\nid: checkout\ndisplayName: Search\nstate: draft\nrollout:\n  flag: flags/checkout\n",
    )
    .unwrap();
    let a1 = copy(&emu, "search");
    std::thread::sleep(Duration::from_millis(5));
    let a2 = copy(&emu, "search");
    let b1 = copy(&emu, "checkout");
    std::thread::sleep(Duration::from_millis(5));
    let b2 = copy(&emu, "checkout");
    let everyone = [&a1, &a2, &b1, &b2];

    // plan and apply name every copy of every id in one run, and send nothing.
    emu.reset_counters();
    for args in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let out = emu.flagsync(args, dir);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("rollout/search"), "{err}");
        assert!(err.contains("rollout/checkout"), "{err}");
        for id in everyone {
            assert!(err.contains(id.as_str()), "{id} missing: {err}");
        }
        assert!(err.contains("flagsync dedupe --keep INSTANCE"), "{err}");
    }
    let c = emu.counters();
    for route in [
        "POST /v1/workflows/rollout/instances",
        "PATCH /v1/workflows/rollout/instances/{id}",
    ] {
        assert!(c["routes"].get(route).is_none(), "{route} sent: {c:#}");
    }

    // dedupe lists them, oldest first, and suggests one of each.
    let out = emu.flagsync(&["dedupe"], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("rollout/search is carried by 2 rollouts"),
        "{listing}"
    );
    assert!(
        listing.find(a1.as_str()) < listing.find(a2.as_str()),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("flagsync dedupe --keep {b1} --keep {a1}")),
        "{listing}"
    );

    // A --keep that is no copy, or two copies of one id, is refused before anything is sent.
    for keep in [vec!["nope"], vec![a1.as_str(), a2.as_str()]] {
        let mut args = vec!["dedupe", "--auto-approve"];
        for k in &keep {
            args.extend(["--keep", k]);
        }
        let out = emu.flagsync(&args, dir);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    }
    // Without a terminal it needs --auto-approve.
    let out = emu.flagsync(&["dedupe", "--keep", &a2], dir);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--auto-approve"),
        "{}",
        text(&out)
    );
    assert_eq!(by_label(&emu, "flagsync-id")["search"].len(), 2);

    let full = format!("workflows/rollout/instances/{b1}");
    let out = emu.flagsync(
        &["dedupe", "--keep", &a2, "--keep", &full, "--auto-approve"],
        dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        by_label(&emu, "flagsync-id"),
        BTreeMap::from([
            ("checkout".to_owned(), vec![b1.clone()]),
            ("search".to_owned(), vec![a2.clone()]),
        ])
    );
    assert_eq!(
        by_label(&emu, "flagsync-duplicate-of"),
        BTreeMap::from([
            ("checkout".to_owned(), vec![b2.clone()]),
            ("search".to_owned(), vec![a1.clone()]),
        ])
    );
    let out = emu.flagsync(&["dedupe"], dir);
    assert!(out.status.success(), "{}", text(&out));
    let out = emu.flagsync(&["plan"], dir);
    assert!(out.status.success(), "{}", text(&out));

    // The copies set aside are not offered for adoption by export.
    let out = emu.flagsync(&["export", "--force"], dir);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("2 rollout(s) labelled flagsync-duplicate-of"),
        "{}",
        text(&out)
    );
    let mut files: Vec<String> = std::fs::read_dir(dir.join("rollouts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["checkout.yml", "search.yml"]);
}
