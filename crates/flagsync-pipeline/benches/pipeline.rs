//! Benchmarks of `plan` and `apply` over generated repositories, against the emulator on
//! loopback, through the library pipeline the binary uses (`flagsync-pipeline`): load +
//! validate, read live state, normalize + plan; then `flagsync_apply::apply`.
//!
//! ```text
//! # plan: 1,000 and 10,000 resources, against an empty and a full account
//! cargo bench -p flagsync-pipeline --bench pipeline -- plan 1000 10000 --reps 3
//! # plan at CloudBees' documented 1 request/s, which the emulator then enforces too
//! cargo bench -p flagsync-pipeline --bench pipeline -- plan 100 1000 \
//!     --cloudbees-rps 0.95 --emulator-limit 1
//! # the same against a deployment without the flags list (list + a GET per hidden flag)
//! cargo bench -p flagsync-pipeline --bench pipeline -- plan 100 1000 \
//!     --cloudbees-rps 0.95 --emulator-limit 1 --seed-routes-only
//! # apply: 100 and 1,000 changes (creates, then updates), 20 ms per request, paced clients
//! cargo bench -p flagsync-pipeline --bench pipeline -- apply 100 1000 \
//!     --latency-ms 20 --cloudbees-rps 50 --confidence-rps 50 --concurrency 8
//! # apply at CloudBees' documented 1 request/s, which the emulator then enforces too
//! cargo bench -p flagsync-pipeline --bench pipeline -- apply 100 \
//!     --scenario create --cloudbees-rps 1 --emulator-limit 1
//! # plan a CloudBees Unify CasC tree: 1,000 flags configured in 3 environments
//! cargo bench -p flagsync-pipeline --bench pipeline -- plan 1000 --api unify --environments 3
//! ```
//!
//! Repositories are 20% target groups (a tenth of them nesting other groups), 70%
//! experiments (each flag in two environments; conditions on a group, a fifth of the flags
//! depending on another flag, a tenth with no release rule, which the experiments list
//! hides), 10% rollouts (targeting and metrics; half of them live, i.e. launched).
//!
//! With `--api unify` the size is a number of flags, in a CloudBees Unify CasC tree: three
//! custom properties, a target group per ten flags (a tenth nesting two others), every flag
//! configured in each of `--environments` environments (a condition on a group, a fifth of
//! them depending on the flag before, a split by app version); a tenth of the flags are
//! String flags.
//!
//! Each plan measurement runs in a fresh child process (this program run again with
//! `plan-child`), so that its peak resident memory (VmHWM) is its own; the emulator lives in
//! the parent, so the child's memory is the pipeline's alone. Results go to stdout as
//! markdown tables; progress to stderr.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use flagsync_apply::{ApplyEvent, ApplyOptions, ApplyReport, Clients};
use flagsync_emulator::{BackgroundEmulator, DEFAULT_TOKEN, EmulatorConfig, spawn_background};
use flagsync_live::LiveSnapshot;
use flagsync_manifest::Loaded;
use flagsync_pipeline::{LiveScope, Observer, Options, Services, Silent};
use flagsync_plan::{Kind, Plan, Provider, RolloutStep};
use flagsync_remote::{
    CloudBeesClient, CloudBeesSettings, ConfidenceAuth, ConfidenceClient, ConfidenceSettings,
    Secret, UnifyClient, UnifySettings,
};
use flagsync_source::DirSource;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, Error>;

const APPLICATION: &str = "bench-app";
const ENVIRONMENTS: [&str; 2] = ["Production", "Staging"];

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Res<()> {
    let Some(mode) = cli.mode else {
        // A plain `cargo bench` (or `cargo test --all-targets`) lands here: the runs take
        // minutes and their sizes are the caller's choice, so say how to start one.
        eprintln!("{}", Cli::command().render_help());
        return Ok(());
    };
    match mode {
        Mode::Plan(args) => plan_bench(&args),
        Mode::Apply(args) => apply_bench(&args),
        Mode::PlanChild {
            dir,
            emulator,
            reps,
            cloudbees_rps,
        } => plan_child(&dir, &emulator, reps, cloudbees_rps),
    }
}

// ---- options ------------------------------------------------------------------------------

#[derive(Debug, Parser)]
#[command(
    name = "cargo bench -p flagsync-pipeline --bench pipeline --",
    about = "Benchmarks of plan and apply against the emulator on loopback"
)]
struct Cli {
    /// Passed by `cargo bench`; nothing to do with this program.
    #[arg(long, global = true, hide = true)]
    bench: bool,
    /// Without one, prints this help.
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Load, read live state and plan, against an empty account and one that holds
    /// everything; each size and account in a fresh child process.
    Plan(PlanArgs),
    /// Apply paced plans of creates and of updates, against the emulator's latency and
    /// (optionally) its rate limit, and compare with the lower bounds the plan allows.
    Apply(ApplyArgs),
    /// One size and account, in the child process: prints a JSON line.
    #[command(hide = true)]
    PlanChild {
        dir: PathBuf,
        emulator: String,
        reps: u32,
        cloudbees_rps: f64,
    },
}

#[derive(Debug, clap::Args)]
struct PlanArgs {
    /// Resources per generated repository (with `--api unify`: flags).
    #[arg(default_values_t = [1_000, 10_000])]
    sizes: Vec<usize>,
    /// The CloudBees API the repository is planned against: a legacy repository, or a
    /// CloudBees Unify CasC tree.
    #[arg(long, value_enum, default_value_t = Api::Legacy)]
    api: Api,
    /// CloudBees Unify: the environments each flag is configured in (the emulator's
    /// default organization has three).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
    environments: u8,
    /// Timed runs per size and account (the median and the minimum are shown).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    reps: u32,
    /// The CloudBees client's pace (`inf`: unpaced, as against the embedded emulator).
    #[arg(long, default_value_t = f64::INFINITY)]
    cloudbees_rps: f64,
    /// A CloudBees rate limit the emulator enforces while plans are timed (HTTP 555
    /// above it); the floor of a plan is then its CloudBees requests divided by it.
    #[arg(long)]
    emulator_limit: Option<u32>,
    /// The emulator serves only the CloudBees routes of the seed documents: no flags or
    /// environments list, so live state is read with the experiments lists and a GET per
    /// flag they hide.
    #[arg(long)]
    seed_routes_only: bool,
}

#[derive(Debug, clap::Args)]
struct ApplyArgs {
    /// Changes per plan.
    #[arg(default_values_t = [100, 1_000])]
    sizes: Vec<usize>,
    /// Latency the emulator adds to every answer.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// The CloudBees client's pace (`inf`: unpaced).
    #[arg(long, default_value_t = 50.0)]
    cloudbees_rps: f64,
    /// The Confidence client's pace (`inf`: unpaced).
    #[arg(long, default_value_t = flagsync_remote::DEFAULT_CONFIDENCE_REQUESTS_PER_SECOND)]
    confidence_rps: f64,
    /// Actions in flight at once, per service.
    #[arg(long, default_value_t = flagsync_apply::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// A CloudBees rate limit the emulator enforces (HTTP 555 above it).
    #[arg(long)]
    emulator_limit: Option<u32>,
    /// How long a launch takes in the emulator.
    #[arg(long, default_value_t = 200)]
    launch_ms: u64,
    #[arg(long, value_enum, default_value_t = Scenarios::Both)]
    scenario: Scenarios,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Api {
    Legacy,
    Unify,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenarios {
    Create,
    Update,
    Both,
}

impl Scenarios {
    fn list(self) -> Vec<Scenario> {
        match self {
            Scenarios::Create => vec![Scenario::Create],
            Scenarios::Update => vec![Scenario::Update],
            Scenarios::Both => vec![Scenario::Create, Scenario::Update],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Every change is a create, into an empty account.
    Create,
    /// Every change is an update of a resource that exists.
    Update,
}

// ---- the generated repository ---------------------------------------------------------------

/// How many resources of each kind a repository of `n` holds.
#[derive(Debug, Clone, Copy)]
struct Counts {
    groups: usize,
    experiments: usize,
    rollouts: usize,
}

impl Counts {
    fn of(n: usize) -> Counts {
        let groups = (n * 20 / 100).max(1);
        let rollouts = n * 10 / 100;
        Counts {
            groups,
            experiments: n.saturating_sub(groups + rollouts),
            rollouts,
        }
    }
}

/// Writes a repository of `n` resources under `root`. `rev` changes every resource's
/// content (descriptions, rollout reach) without changing any identity, so that
/// generating `rev + 1` over `rev` makes every resource an update.
fn generate(root: &Path, n: usize, rev: u32) -> Res<Counts> {
    let counts = Counts::of(n);
    for d in [
        "target_groups",
        "environments/Production",
        "environments/Staging",
        "rollouts",
    ] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::write(
        root.join("flagsync.yaml"),
        format!(
            "cloudbees:\n  application: {APPLICATION}\n  token_env: FLAGSYNC_BENCH_TOKEN\n  target_groups: target_groups\n  environments:\n    Production: {{ experiments: environments/Production }}\n    Staging: {{ experiments: environments/Staging }}\nconfidence:\n  token_env: FLAGSYNC_BENCH_TOKEN\n  rollouts: rollouts\n"
        ),
    )?;

    let group_name = |g: usize| format!("group {g:05}");
    for g in 0..counts.groups {
        let mut text = format!(
            "type: target-group\nname: {}\ndescription: generated r{rev}\n",
            group_name(g)
        );
        if g % 10 == 9 {
            // Nested: a group of two earlier groups (one more level in the plan's DAG).
            let _ = write!(
                text,
                "operator: or\nconditions:\n  - group:\n      name:\n        - {}\n        - {}\n      operator: any-groups\n",
                group_name(g - 1),
                group_name(g - 2)
            );
        } else {
            let _ = write!(
                text,
                "operator: and\nconditions:\n  - property: plan\n    operator: in-array\n    operand: [team, business]\n  - property: seats\n    operator: gte\n    operand: {g}\n  - property: rox.app_release\n    operator: semver-gte\n    operand: 1.{}.0\n",
                g % 50
            );
        }
        std::fs::write(
            root.join(format!("target_groups/{}.yml", group_name(g))),
            text,
        )?;
    }

    for e in 0..counts.experiments {
        // Each flag exists in both environments, as in real repositories.
        let f = e / 2;
        let env = ENVIRONMENTS[e % 2];
        let mut text =
            format!("type: experiment\nflag: flag.{f:05}\ndescription: generated r{rev}\n");
        if f % 10 == 9 {
            // No release rule: the experiments list does not show it.
            text.push_str("value: false\n");
        } else {
            let _ = write!(
                text,
                "labels: [generated, team-{}]\nconditions:\n  - group:\n      name: {}\n    value: true\n",
                f % 7,
                group_name(f % counts.groups)
            );
            if f % 5 == 1 {
                // Depends on the flag before it (itself free of dependencies): depth 2.
                let _ = write!(
                    text,
                    "  - dependency:\n      flag: flag.{:05}\n      value: 'true'\n    value: false\n",
                    f - 1
                );
            }
            text.push_str(
                "  - version:\n      operator: semver-gte\n      semver: '2.1'\n    value:\n      - option: true\n        percentage: 25\nvalue: false\n",
            );
        }
        std::fs::write(
            root.join(format!("environments/{env}/flag.{f:05}.yml")),
            text,
        )?;
    }

    for r in 0..counts.rollouts {
        let state = if r.is_multiple_of(2) { "live" } else { "draft" };
        let reach = if rev.is_multiple_of(2) { "0.5" } else { "0.6" };
        let country = ["SE", "NO", "DK", "FI"][r % 4];
        let text = format!(
            "type: rollout\nid: rollout-{r:05}\ndisplayName: Rollout {r}\nstate: {state}\nflags:\n  targetingKeySelector: targeting_key\nrollout:\n  flag: flags/f{r}\n  variant: flags/f{r}/variants/on\n  reach: \"{reach}\"\nsegment:\n  targeting:\n    criteria:\n      country:\n        attribute:\n          attributeName: country\n          eqRule: {{ value: {{ stringValue: {country} }} }}\n    expression: {{ and: {{ operands: [ {{ ref: country }} ] }} }}\nmetrics:\n  assignmentTable: assignmentTables/bench\n  entity: entities/user\n  bucket: DAYS\n  metrics:\n    - metric: metrics/conversion-rate\n      metricRole: {{ metricKind: SUCCESS, minimumDetectableEffect: 0.01 }}\n      preferredDirection: INCREASE\n"
        );
        std::fs::write(root.join(format!("rollouts/rollout-{r:05}.yml")), text)?;
    }
    Ok(counts)
}

/// How many resources of each kind a generated CloudBees Unify tree holds.
#[derive(Clone, Copy)]
struct UnifyCounts {
    properties: usize,
    groups: usize,
    flags: usize,
    configurations: usize,
}

/// Writes a CloudBees Unify CasC tree of `flags` flags, each configured in the first
/// `environments` of the emulator's default environments.
fn generate_unify(root: &Path, flags: usize, environments: usize) -> Res<UnifyCounts> {
    let envs: Vec<&str> = flagsync_emulator::UNIFY_DEFAULT_ENVIRONMENTS
        .iter()
        .take(environments)
        .map(|(_, name)| *name)
        .collect();
    let casc = root.join(".cloudbees/casc/feature-management");
    for d in ["properties", "target-groups", "flags"] {
        std::fs::create_dir_all(casc.join(d))?;
    }
    for env in &envs {
        std::fs::create_dir_all(casc.join("flag-configurations").join(env))?;
    }
    std::fs::write(
        root.join("flagsync.yaml"),
        format!(
            "cloudbees:\n  api: unify\n  organization: {}\n  application: {}\n  token_env: FLAGSYNC_BENCH_TOKEN\n  casc: .cloudbees/casc/feature-management\n  environments: [{}]\n",
            flagsync_emulator::UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
            flagsync_emulator::UNIFY_DEFAULT_APPLICATION_ID,
            envs.join(", ")
        ),
    )?;
    const HEADER: &str = "apiVersion: featuremanagement.cloudbees.io/v1alpha1\n";
    let properties = [("plan", "String"), ("seats", "Number"), ("beta", "Boolean")];
    for (name, t) in properties {
        std::fs::write(
            casc.join(format!("properties/{name}.yaml")),
            format!("{HEADER}kind: flag-properties\nname: {name}\ntype: {t}\n"),
        )?;
    }
    let groups = (flags / 10).max(1);
    let group_name = |g: usize| format!("group {g:05}");
    for g in 0..groups {
        let conditions = if g % 10 == 9 {
            format!(
                "  anyOf:\n    - group:\n        name: {}\n    - group:\n        name: {}\n",
                group_name(g - 1),
                group_name(g - 2)
            )
        } else {
            format!(
                "  allOf:\n    - property:\n        name: plan\n        operator: in-array\n        operands: [team, business]\n    - property:\n        name: seats\n        operator: gte\n        operands: [{g}]\n    - property:\n        name: beta\n        operator: is-true\n"
            )
        };
        std::fs::write(
            casc.join(format!("target-groups/{}.yaml", group_name(g))),
            format!(
                "{HEADER}kind: target-group\nname: {}\ndescription: generated\nconditions:\n{conditions}",
                group_name(g)
            ),
        )?;
    }
    for f in 0..flags {
        let string = f % 10 == 3;
        let flag = format!(
            "{HEADER}kind: flag\nflag: flag.{f:05}\nflagType: {}\ndescription: generated\nlabels: [generated, team-{}]\n{}",
            if string { "string" } else { "boolean" },
            f % 7,
            if string {
                "availableValues: [red, green]\n"
            } else {
                ""
            }
        );
        std::fs::write(casc.join(format!("flags/flag.{f:05}.yaml")), flag)?;
        let (on, off) = if string {
            ("red", "green")
        } else {
            ("true", "false")
        };
        for env in &envs {
            let mut conditions = format!(
                "  - allOf:\n      - group:\n          name: {}\n    flagValue: {on}\n",
                group_name(f % groups)
            );
            if f % 5 == 1 {
                // Depends on the flag before it, a Boolean flag.
                let _ = write!(
                    conditions,
                    "  - allOf:\n      - flag:\n          name: flag.{:05}\n          value: true\n    flagValue: {off}\n",
                    f - 1
                );
            }
            let _ = write!(
                conditions,
                "  - allOf:\n      - property:\n          name: rox.app_release\n          operator: semver-gte\n          operands: [\"2.1\"]\n    flagValue:\n      - option: {on}\n        percentage: 25\n      - option: {off}\n        percentage: 75\n"
            );
            std::fs::write(
                casc.join(format!("flag-configurations/{env}/flag.{f:05}.config.yaml")),
                format!(
                    "{HEADER}kind: flag-configuration\nflag: flag.{f:05}\nenabled: true\ndefaultValue: {off}\nconditions:\n{conditions}"
                ),
            )?;
        }
    }
    Ok(UnifyCounts {
        properties: properties.len(),
        groups,
        flags,
        configurations: flags * envs.len(),
    })
}

// ---- the pipeline's steps ----------------------------------------------------------------

/// Load and validate; the generated repository must be clean.
fn load_valid(dir: &Path) -> Res<Loaded> {
    let source = DirSource::open(dir)?;
    Ok(flagsync_pipeline::load_valid(&source, &FirstError)?)
}

/// Shows the first error of a generated repository that has one (a bug of the generator).
struct FirstError;

impl Observer for FirstError {
    fn loaded(&self, loaded: &Loaded) {
        if let Some(d) = loaded.diagnostics.iter().find(|d| d.is_error()) {
            eprintln!("{}:{}: {}", d.file, d.line, d.message);
        }
    }
}

#[derive(Clone)]
struct Conn {
    cloudbees: CloudBeesClient,
    confidence: ConfidenceClient,
    unify: UnifyClient,
}

impl Conn {
    fn new(emulator: &str, cloudbees_rps: f64, confidence_rps: f64) -> Res<Conn> {
        let mut cb = CloudBeesSettings::new(APPLICATION, Secret::new(DEFAULT_TOKEN));
        cb.base_url = format!("{emulator}/public-api");
        cb.http.requests_per_second = cloudbees_rps;
        let mut cf = ConfidenceSettings::new(ConfidenceAuth::Token(Secret::new(DEFAULT_TOKEN)));
        cf.urls = flagsync_remote::ConfidenceUrls::all(emulator);
        cf.http.requests_per_second = confidence_rps;
        // Segments are read on the flags API, paced like the rest here.
        cf.flags_requests_per_second = confidence_rps;
        let mut unify = UnifySettings::new(
            flagsync_emulator::UNIFY_DEFAULT_ORGANIZATION_DOMAIN,
            flagsync_emulator::UNIFY_DEFAULT_APPLICATION_ID,
            Secret::new(DEFAULT_TOKEN),
        );
        unify.base_url = emulator.to_owned();
        unify.http.requests_per_second = cloudbees_rps;
        Ok(Conn {
            cloudbees: CloudBeesClient::new(cb)?,
            confidence: ConfidenceClient::new(cf)?,
            unify: UnifyClient::new(unify)?,
        })
    }

    fn services(&self) -> Services<'_> {
        Services {
            cloudbees: Some(&self.cloudbees),
            confidence: Some(&self.confidence),
            unify: Some(&self.unify),
        }
    }

    fn clients(&self) -> Clients {
        Clients {
            cloudbees: Some(self.cloudbees.clone()),
            confidence: Some(self.confidence.clone()),
            unify: Some(self.unify.clone()),
        }
    }
}

/// Live state of everything the repository declares.
async fn read_live(conn: &Conn, loaded: &Loaded) -> Res<LiveSnapshot> {
    let mut scope = LiveScope::of(&loaded.repository);
    // As the binary: rollouts only when flagsync.yaml configures Confidence.
    scope.rollouts &= loaded
        .repository
        .config
        .as_ref()
        .is_some_and(|c| c.confidence.is_some());
    Ok(flagsync_pipeline::read_live(conn.services(), loaded, &scope, &Silent).await?)
}

/// Normalize both sides and plan (no prune, no targets). Pure.
fn make_plan(loaded: &Loaded, snapshot: &LiveSnapshot) -> Res<Plan> {
    let live = flagsync_pipeline::live_resources(snapshot, loaded);
    Ok(flagsync_pipeline::plan(loaded, &live, &Options::default())?)
}

fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

// ---- the emulator's control endpoints -----------------------------------------------------

async fn control(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Res<Value> {
    let mut req = reqwest::Client::new().request(method, format!("{base}/_emulator/{path}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let value: Value = resp.json().await?;
    if !status.is_success() {
        return Err(format!("/_emulator/{path}: {status}: {value}").into());
    }
    Ok(value)
}

async fn reset_counters(base: &str) -> Res<()> {
    control(base, reqwest::Method::POST, "counters/reset", None).await?;
    Ok(())
}

async fn counters(base: &str) -> Res<Value> {
    control(base, reqwest::Method::GET, "counters", None).await
}

async fn set_faults(base: &str, settings: Value) -> Res<()> {
    control(base, reqwest::Method::PUT, "faults", Some(settings)).await?;
    Ok(())
}

/// Requests per route label.
fn routes(counters: &Value) -> BTreeMap<String, u64> {
    counters["routes"]
        .as_object()
        .map(|routes| {
            routes
                .iter()
                .map(|(k, v)| (k.clone(), v["count"].as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Answers with this status (e.g. `"555"`) over every route.
fn with_status(counters: &Value, status: &str) -> u64 {
    counters["routes"]
        .as_object()
        .map(|routes| {
            routes
                .values()
                .map(|r| r["statuses"][status].as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn is_cloudbees_route(route: &str) -> bool {
    route.contains("/public-api/")
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.trim_start_matches("VmHWM:")
                    .trim()
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn min(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

// ---- plan benchmark -----------------------------------------------------------------------

fn plan_bench(opts: &PlanArgs) -> Res<()> {
    let exe = std::env::current_exe()?;
    let mut rows: Vec<(usize, &str, Value)> = Vec::new();
    for &n in &opts.sizes {
        let dir = tempfile::tempdir()?;
        match opts.api {
            Api::Legacy => {
                let counts = generate(dir.path(), n, 0)?;
                eprintln!("plan {n}: generated {counts:?}");
            }
            Api::Unify => {
                let c = generate_unify(dir.path(), n, usize::from(opts.environments))?;
                eprintln!(
                    "plan {n}: generated {} properties, {} target groups, {} flags, {} configurations",
                    c.properties, c.groups, c.flags, c.configurations
                );
            }
        }
        let emulator = spawn_background(EmulatorConfig {
            launch_duration: Duration::from_millis(5),
            cloudbees_seed_routes_only: opts.seed_routes_only,
            ..EmulatorConfig::default()
        })?;
        let base = emulator.base_url();
        let limit = |on: bool| -> Res<()> {
            let limit = opts.emulator_limit.filter(|_| on);
            runtime()?.block_on(set_faults(
                &base,
                json!({"cloudbeesRequestsPerSecond": limit}),
            ))
        };
        let child = |case: &str| -> Res<Value> {
            // The limit holds while the plans are timed only: the untimed preload is unpaced.
            limit(true)?;
            let out = Command::new(&exe)
                .arg("plan-child")
                .arg(dir.path())
                .args([
                    &base,
                    &opts.reps.to_string(),
                    &opts.cloudbees_rps.to_string(),
                ])
                .output()?;
            limit(false)?;
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                return Err(format!("plan child ({case}, {n}) failed: {}", out.status).into());
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let line = stdout.lines().last().ok_or("plan child printed nothing")?;
            Ok(serde_json::from_str(line)?)
        };
        rows.push((n, "empty account (all creates)", child("empty")?));

        let started = Instant::now();
        preload(dir.path(), &emulator, 64)?;
        eprintln!(
            "plan {n}: preloaded in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        rows.push((n, "account holds everything (no changes)", child("full")?));
        emulator.shutdown();
    }

    let (what, size): (&str, Box<dyn Fn(usize) -> String>) = match opts.api {
        Api::Legacy => ("resources", Box::new(|n: usize| n.to_string())),
        Api::Unify => {
            let envs = opts.environments;
            (
                "flags × environments (CloudBees Unify)",
                Box::new(move |n: usize| format!("{n} × {envs}")),
            )
        }
    };
    println!(
        "### Plan: wall time (median of {} runs; min in brackets)\n",
        opts.reps
    );
    println!(
        "| {what} | live account | plan | load + validate | read live state | normalize + plan | total | peak RSS |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|---:|");
    for (n, case, r) in &rows {
        let col = |k: &str| -> String {
            let xs: Vec<f64> = r[k]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            format!("{:.0} ms ({:.0})", median(&xs), min(&xs))
        };
        let s = &r["summary"];
        println!(
            "| {} | {case} | {} create, {} update, {} no-op | {} | {} | {} | {} | {:.0} MiB |",
            size(*n),
            s["create"],
            s["update"],
            s["no_op"],
            col("load_ms"),
            col("fetch_ms"),
            col("plan_ms"),
            col("total_ms"),
            r["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
        );
    }
    println!("\n### Plan: peak RSS as it stood after each phase (first run)\n");
    println!(
        "| {what} | live account | after load + validate | after reading live state | after normalize + plan |"
    );
    println!("|---:|---|---:|---:|---:|");
    for (n, case, r) in &rows {
        let peaks: Vec<String> = r["phase_peaks_kib"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| format!("{:.0} MiB", v.as_f64().unwrap_or(0.0) / 1024.0))
                    .collect()
            })
            .unwrap_or_default();
        println!("| {} | {case} | {} |", size(*n), peaks.join(" | "));
    }
    println!("\n### Plan: requests to read live state, by route\n");
    let mut all_routes: Vec<String> = rows
        .iter()
        .flat_map(|(_, _, r)| {
            r["routes"]
                .as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    all_routes.sort();
    all_routes.dedup();
    let header: Vec<String> = rows
        .iter()
        .map(|(n, case, _)| {
            format!(
                "{}, {}",
                size(*n),
                if case.starts_with("empty") {
                    "empty"
                } else {
                    "full"
                }
            )
        })
        .collect();
    println!("| route | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(rows.len()));
    for route in &all_routes {
        let cells: Vec<String> = rows
            .iter()
            .map(|(_, _, r)| r["routes"][route].as_u64().unwrap_or(0).to_string())
            .collect();
        println!("| `{route}` | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = rows
        .iter()
        .map(|(_, _, r)| format!("**{}**", r["requests"]))
        .collect();
    println!("| total | {} |", totals.join(" | "));

    if let Some(limit) = opts.emulator_limit {
        println!(
            "\n### Plan: reading live state against CloudBees' limit ({limit} request/s enforced by the emulator, client paced at {}/s)\n",
            opts.cloudbees_rps
        );
        println!(
            "| resources | live account | CloudBees requests | floor (requests ÷ limit) | read live state, median (min) | 555 answers |"
        );
        println!("|---:|---|---:|---:|---:|---:|");
        for (n, case, r) in &rows {
            let requests = r["cloudbees_requests"].as_u64().unwrap_or(0);
            let xs: Vec<f64> = r["fetch_ms"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            println!(
                "| {n} | {case} | {requests} | {:.1} s | {:.1} s ({:.1}) | {} |",
                requests as f64 / f64::from(limit),
                median(&xs) / 1e3,
                min(&xs) / 1e3,
                r["status_555"]
            );
        }
    }
    Ok(())
}

/// Applies the repository once with unpaced clients (untimed setup) and checks that it
/// converged.
fn preload(dir: &Path, emulator: &BackgroundEmulator, concurrency: usize) -> Res<()> {
    let rt = runtime()?;
    let conn = Conn::new(&emulator.base_url(), f64::INFINITY, f64::INFINITY)?;
    let loaded = load_valid(dir)?;
    let snapshot = rt.block_on(read_live(&conn, &loaded))?;
    let plan = make_plan(&loaded, &snapshot)?;
    let options = ApplyOptions {
        concurrency,
        ..ApplyOptions::default()
    };
    let report = rt.block_on(flagsync_apply::apply(
        &plan,
        &conn.clients(),
        &options,
        &|_| {},
    ));
    if !report.is_success() {
        return Err(format!("preload failed: {}", report.summary_line()).into());
    }
    Ok(())
}

/// One size, one live account: `plan-child DIR EMULATOR_URL REPS CLOUDBEES_RPS`; prints a
/// JSON line.
fn plan_child(dir: &Path, base: &str, reps: u32, cloudbees_rps: f64) -> Res<()> {
    let rt = runtime()?;
    let (mut load_ms, mut fetch_ms, mut plan_ms, mut total_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = json!({});
    // Peak memory (VmHWM) as it stood after each phase of the first run.
    let mut phase_peaks = Vec::new();
    for rep in 0..reps {
        rt.block_on(reset_counters(base))?;
        let t0 = Instant::now();
        let loaded = load_valid(dir)?;
        let t1 = Instant::now();
        if rep == 0 {
            phase_peaks.push(peak_rss_kib());
        }
        // Confidence unpaced, as the binary talks to the embedded emulator; CloudBees as
        // asked. New clients each run, as each run of the binary has (a Unify client
        // resolves names once per run).
        let conn = Conn::new(base, cloudbees_rps, f64::INFINITY)?;
        let snapshot = rt.block_on(read_live(&conn, &loaded))?;
        let t2 = Instant::now();
        if rep == 0 {
            phase_peaks.push(peak_rss_kib());
        }
        let plan = make_plan(&loaded, &snapshot)?;
        let t3 = Instant::now();
        if rep == 0 {
            phase_peaks.push(peak_rss_kib());
        }
        // Read after the plan so that this request is not part of the timed phases.
        let c = rt.block_on(counters(base))?;
        load_ms.push(ms(t1 - t0));
        fetch_ms.push(ms(t2 - t1));
        plan_ms.push(ms(t3 - t2));
        total_ms.push(ms(t3 - t0));
        last = json!({
            "files": loaded.files_read,
            "summary": {
                "create": plan.summary.create,
                "update": plan.summary.update,
                "delete": plan.summary.delete,
                "no_op": plan.summary.no_op,
            },
            "routes": routes(&c),
            "requests": c["total"],
            "cloudbees_requests": routes(&c)
                .iter()
                .filter(|(route, _)| is_cloudbees_route(route))
                .map(|(_, n)| n)
                .sum::<u64>(),
            "status_555": with_status(&c, "555"),
        });
    }
    last["load_ms"] = json!(load_ms);
    last["fetch_ms"] = json!(fetch_ms);
    last["plan_ms"] = json!(plan_ms);
    last["total_ms"] = json!(total_ms);
    last["peak_rss_kib"] = json!(peak_rss_kib());
    last["phase_peaks_kib"] = json!(phase_peaks);
    println!("{last}");
    Ok(())
}

// ---- apply benchmark ----------------------------------------------------------------------

/// What pacing and the dependency graph allow at best, from the plan alone.
#[derive(Debug, Default)]
struct Bounds {
    /// Fewest requests each service must receive.
    cloudbees_requests: usize,
    confidence_requests: usize,
    /// Actions on the longest dependency chain.
    levels: usize,
    /// Longest chain of requests (each at least the injected latency) plus launch waits.
    depth: Duration,
    /// Sum over a service's actions of their minimal duration, divided by the concurrency:
    /// the limit the tool's own `--concurrency` sets (not a property of the services).
    concurrency_cloudbees: Duration,
    concurrency_confidence: Duration,
}

/// Fewest requests an action sends, and how long it must wait besides (a launch).
fn action_cost(action: &flagsync_plan::Action, launch: Duration) -> (usize, Duration) {
    match action.key.kind {
        Kind::TargetGroup
        | Kind::Experiment
        | Kind::CustomProperty
        | Kind::UnifyTargetGroup
        | Kind::Flag
        | Kind::FlagConfiguration => (1, Duration::ZERO),
        Kind::Rollout => {
            let mut requests = 0;
            let mut wait = Duration::ZERO;
            for step in &action.steps {
                requests += match step {
                    // The create, then a read of the rollout and its segment (what the next
                    // step's guard expects).
                    RolloutStep::Create => 3,
                    // Every other write is guarded: the rollout and its segment are read
                    // right before it (the API has no etag).
                    RolloutStep::UpdateSegment { .. }
                    | RolloutStep::PatchRollout { .. }
                    | RolloutStep::Launch => 3,
                    RolloutStep::WaitForTransition => {
                        wait = launch;
                        1
                    }
                };
            }
            (requests, wait)
        }
    }
}

fn bounds(plan: &Plan, latency: Duration, launch: Duration, concurrency: usize) -> Bounds {
    let index: HashMap<&str, usize> = plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let cost: Vec<(usize, Duration)> = plan
        .actions
        .iter()
        .map(|a| action_cost(a, launch))
        .collect();
    let own = |i: usize| latency * cost[i].0 as u32 + cost[i].1;
    // Longest path ending at each action (levels, time), memoized; the plan is acyclic.
    let mut memo: Vec<Option<(usize, Duration)>> = vec![None; plan.actions.len()];
    fn longest(
        i: usize,
        plan: &Plan,
        index: &HashMap<&str, usize>,
        own: &dyn Fn(usize) -> Duration,
        memo: &mut Vec<Option<(usize, Duration)>>,
    ) -> (usize, Duration) {
        if let Some(v) = memo[i] {
            return v;
        }
        let mut best = (0, Duration::ZERO);
        for dep in &plan.actions[i].depends_on {
            if let Some(&j) = index.get(dep.as_str()) {
                let (l, d) = longest(j, plan, index, own, memo);
                best = (best.0.max(l), best.1.max(d));
            }
        }
        let v = (best.0 + 1, best.1 + own(i));
        memo[i] = Some(v);
        v
    }
    let mut b = Bounds::default();
    let mut slot_time = [Duration::ZERO, Duration::ZERO];
    for (i, action) in plan.actions.iter().enumerate() {
        let (levels, depth) = longest(i, plan, &index, &own, &mut memo);
        b.levels = b.levels.max(levels);
        b.depth = b.depth.max(depth);
        match action.key.provider() {
            // Both CloudBees APIs share the vendor's limits here.
            Provider::CloudBees | Provider::Unify => {
                b.cloudbees_requests += cost[i].0;
                slot_time[0] += own(i);
            }
            Provider::Confidence => {
                b.confidence_requests += cost[i].0;
                slot_time[1] += own(i);
            }
        }
    }
    let c = concurrency.max(1) as u32;
    b.concurrency_cloudbees = slot_time[0] / c;
    b.concurrency_confidence = slot_time[1] / c;
    b
}

/// The pacer spaces requests `1/rps` apart from the first one: the last leaves after
/// `(requests - 1) / rps` and then takes at least the injected latency.
fn paced(requests: usize, rps: f64, latency: Duration) -> Duration {
    if rps.is_finite() && rps > 0.0 && requests > 0 {
        Duration::from_secs_f64((requests - 1) as f64 / rps) + latency
    } else {
        Duration::ZERO
    }
}

/// Most actions of each service in flight at once, from the event stream.
fn max_in_flight(plan: &Plan, events: &[ApplyEvent]) -> (usize, usize) {
    let provider: HashMap<&str, Provider> = plan
        .actions
        .iter()
        .map(|a| (a.id.as_str(), a.key.provider()))
        .collect();
    let slot = |id: &str| match provider.get(id) {
        Some(Provider::CloudBees | Provider::Unify) => Some(0),
        Some(Provider::Confidence) => Some(1),
        None => None,
    };
    let mut now = [0usize; 2];
    let mut max = [0usize; 2];
    for e in events {
        match e {
            ApplyEvent::Started { id } => {
                if let Some(s) = slot(id) {
                    now[s] += 1;
                    max[s] = max[s].max(now[s]);
                }
            }
            ApplyEvent::Finished { id, .. } => {
                if let Some(s) = slot(id) {
                    now[s] = now[s].saturating_sub(1);
                }
            }
            ApplyEvent::Skipped { .. } => {}
        }
    }
    (max[0], max[1])
}

struct ApplyRow {
    changes: usize,
    scenario: Scenario,
    plan_line: String,
    wall: Duration,
    bounds: Bounds,
    cloudbees_sent: u64,
    confidence_sent: u64,
    status_555: u64,
    status_5xx: u64,
    in_flight: (usize, usize),
    report: ApplyReport,
    converged: bool,
}

fn apply_bench(opts: &ApplyArgs) -> Res<()> {
    let latency = Duration::from_millis(opts.latency_ms);
    let launch = Duration::from_millis(opts.launch_ms);
    let mut rows = Vec::new();
    for &n in &opts.sizes {
        for scenario in opts.scenario.list() {
            rows.push(apply_one(opts, n, scenario, latency, launch)?);
        }
    }
    println!(
        "### Apply: CloudBees client {} req/s, Confidence client {} req/s, emulator limit {}, {} ms per request, launch {} ms, concurrency {} per service\n",
        opts.cloudbees_rps,
        opts.confidence_rps,
        opts.emulator_limit
            .map_or_else(|| "none".to_owned(), |l| format!("{l} req/s")),
        opts.latency_ms,
        opts.launch_ms,
        opts.concurrency
    );
    println!(
        "| changes | plan | requests CloudBees / Confidence (min by plan) | levels | pacing bound CB / CF | depth bound | lower bound | wall | wall / bound | concurrency bound CB / CF | max in flight CB / CF | 555 / 5xx | result |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        let b = &r.bounds;
        let latency = Duration::from_millis(opts.latency_ms);
        let pace_cb = paced(b.cloudbees_requests, opts.cloudbees_rps, latency);
        let pace_cf = paced(b.confidence_requests, opts.confidence_rps, latency);
        let lower = pace_cb.max(pace_cf).max(b.depth);
        let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        println!(
            "| {} {} | {} | {} / {} ({} / {}) | {} | {} / {} | {} | **{}** | **{}** | {:.2} | {} / {} | {} / {} | {} / {} | {}{} |",
            r.changes,
            match r.scenario {
                Scenario::Create => "creates",
                Scenario::Update => "updates",
            },
            r.plan_line,
            r.cloudbees_sent,
            r.confidence_sent,
            b.cloudbees_requests,
            b.confidence_requests,
            b.levels,
            secs(pace_cb),
            secs(pace_cf),
            secs(b.depth),
            secs(lower),
            secs(r.wall),
            r.wall.as_secs_f64() / lower.as_secs_f64().max(1e-9),
            secs(b.concurrency_cloudbees),
            secs(b.concurrency_confidence),
            r.in_flight.0,
            r.in_flight.1,
            r.status_555,
            r.status_5xx,
            format_args!(
                "{} ok, {} failed, {} never ran",
                r.report.succeeded(),
                r.report.failed(),
                r.report.never_ran()
            ),
            if r.converged {
                "; re-plan empty"
            } else {
                "; RE-PLAN NOT EMPTY"
            }
        );
    }
    Ok(())
}

fn apply_one(
    opts: &ApplyArgs,
    n: usize,
    scenario: Scenario,
    latency: Duration,
    launch: Duration,
) -> Res<ApplyRow> {
    let dir = tempfile::tempdir()?;
    let emulator = spawn_background(EmulatorConfig {
        launch_duration: launch,
        ..EmulatorConfig::default()
    })?;
    let base = emulator.base_url();
    let rt = runtime()?;
    let fast = Conn::new(&base, f64::INFINITY, f64::INFINITY)?;
    generate(dir.path(), n, 0)?;
    if scenario == Scenario::Update {
        preload(dir.path(), &emulator, 32)?;
        generate(dir.path(), n, 1)?;
    }
    let loaded = load_valid(dir.path())?;
    let snapshot = rt.block_on(read_live(&fast, &loaded))?;
    let plan = make_plan(&loaded, &snapshot)?;
    let b = bounds(&plan, latency, launch, opts.concurrency);

    // Latency and the rate limit only for the timed apply.
    rt.block_on(set_faults(
        &base,
        json!({
            "latencyMs": opts.latency_ms,
            "cloudbeesRequestsPerSecond": opts.emulator_limit,
        }),
    ))?;
    rt.block_on(reset_counters(&base))?;
    let conn = Conn::new(&base, opts.cloudbees_rps, opts.confidence_rps)?;
    let apply_options = ApplyOptions {
        concurrency: opts.concurrency,
        ..ApplyOptions::default()
    };
    let events = Mutex::new(Vec::new());
    let on_event = |e: ApplyEvent| {
        events.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    };
    eprintln!(
        "apply {n} {scenario:?}: {} ({} actions, {} levels)",
        plan.summary.line(),
        plan.actions.len(),
        b.levels
    );
    let started = Instant::now();
    let report = rt.block_on(flagsync_apply::apply(
        &plan,
        &conn.clients(),
        &apply_options,
        &on_event,
    ));
    let wall = started.elapsed();
    let c = rt.block_on(counters(&base))?;
    eprintln!(
        "apply {n} {scenario:?}: {:.2} s, {}",
        wall.as_secs_f64(),
        report.summary_line()
    );

    let mut cloudbees_sent = 0;
    let mut confidence_sent = 0;
    for (route, count) in routes(&c) {
        if is_cloudbees_route(&route) {
            cloudbees_sent += count;
        } else {
            confidence_sent += count;
        }
    }
    let status_5xx = ["500", "502", "503", "504"]
        .iter()
        .map(|s| with_status(&c, s))
        .sum();
    let events = events.into_inner().unwrap_or_else(|p| p.into_inner());
    let in_flight = max_in_flight(&plan, &events);

    // Correctness check, untimed: without latency, a new plan must be empty.
    rt.block_on(set_faults(
        &base,
        json!({"latencyMs": 0, "cloudbeesRequestsPerSecond": null}),
    ))?;
    let after = rt.block_on(read_live(&fast, &loaded))?;
    let converged = !make_plan(&loaded, &after)?.has_changes();
    drop(rt);
    emulator.shutdown();

    Ok(ApplyRow {
        changes: plan.actions.len(),
        scenario,
        plan_line: format!(
            "{} create, {} update",
            plan.summary.create, plan.summary.update
        ),
        wall,
        bounds: b,
        cloudbees_sent,
        confidence_sent,
        status_555: with_status(&c, "555"),
        status_5xx,
        in_flight,
        report,
        converged,
    })
}
