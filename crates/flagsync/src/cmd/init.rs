//! `flagsync init`: start a repository for a CloudBees application the token can see. Lists
//! the applications and the chosen one's environments, and writes `flagsync.yaml`; then
//! `flagsync export` writes the live state as manifests.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use flagsync_manifest::write::{File, NewConfig, RepoFiles};
use flagsync_manifest::{CONFIG_FILE, did_you_mean};
use flagsync_remote::{CloudBeesClient, LiveApplication};
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::output::GlobalArgs;
use crate::pipeline;
use crate::remote::{self, RemoteArgs};

/// Where `--emulator` keeps the embedded emulator's state, relative to the repository.
const EMULATOR_STATE: &str = ".flagsync/emulator";

/// Write a first flagsync.yaml for a CloudBees application the API token can see.
///
/// Lists the applications (when there are several, it asks which one on a terminal;
/// otherwise pass --application ID) and the environments of the chosen one, and writes
/// flagsync.yaml
/// with one experiments directory per environment. Then `flagsync export` writes live state
/// as manifests. With --emulator, no account is needed: the embedded emulator answers,
/// and flagsync.yaml says so.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository to start (created when missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The application to manage (its id); asked on a terminal when not given.
    #[arg(long, value_name = "ID")]
    pub application: Option<String>,
    /// The environment variable that holds the API token (flagsync.yaml records the name,
    /// never the token).
    #[arg(long, value_name = "NAME", default_value = "CLOUDBEES_API_TOKEN")]
    pub token_env: String,
    /// Use the embedded local emulator (state in .flagsync/emulator) instead of an account.
    #[arg(long)]
    pub emulator: bool,
    /// Replace an existing flagsync.yaml.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &Args, _global: &GlobalArgs) -> miette::Result<ExitCode> {
    let target = args.dir.join(CONFIG_FILE);
    if target.exists() && !args.force {
        return Err(miette!(
            help = "pass --force to replace it, or edit it by hand",
            "{} already exists",
            target.display()
        ));
    }
    if args.emulator && args.remote.cloudbees_url.is_some() {
        return Err(miette!(
            "--emulator and --cloudbees-url (or FLAGSYNC_CLOUDBEES_URL) name two services; give one"
        ));
    }
    std::fs::create_dir_all(&args.dir)
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot create {}", args.dir.display()))?;
    // Written like export writes: every path confined to the directory, no link followed.
    let files = RepoFiles::open(&args.dir)?;
    let embedded = if args.emulator {
        Some(remote::start_embedded(&files.directory(EMULATOR_STATE)?)?)
    } else {
        None
    };
    let account = remote::cloudbees_account(&args.remote, &args.token_env, embedded.as_ref())?;
    let runtime = pipeline::runtime()?;

    let applications = runtime
        .block_on(account.list_applications())
        .wrap_err("listing the CloudBees applications")?;
    let application = choose(args.application.as_deref(), applications.as_deref())?;
    let client = account
        .for_application(&application.id)
        .wrap_err("cannot address the application")?;
    let environments = environments(&runtime, &client)?;

    let config = NewConfig {
        application: application.id.clone(),
        application_name: application.name.clone(),
        token_env: args.token_env.clone(),
        environments,
        emulator_state: args.emulator.then(|| EMULATOR_STATE.to_owned()),
    };
    // Whether it may be replaced was decided above (--force).
    let file = File {
        rel: CONFIG_FILE.to_owned(),
        content: config.to_yaml(),
        replaces: None,
    };
    files.write_all(&[file], true)?;
    report(&args.dir, &target, &application, &config, args);
    Ok(ExitCode::SUCCESS)
}

/// The application: `wanted` (an id, checked against the list when there is one), the only
/// one, or the user's choice on a terminal.
fn choose(
    wanted: Option<&str>,
    listed: Option<&[LiveApplication]>,
) -> miette::Result<LiveApplication> {
    let Some(listed) = listed else {
        // The deployment does not list applications: trust the id given.
        return match wanted {
            Some(id) => Ok(LiveApplication {
                id: id.to_owned(),
                name: None,
            }),
            None => Err(miette!(
                help = "pass --application ID (the id is in the CloudBees dashboard's URL)",
                "this CloudBees deployment does not list applications (GET /applications answered 404)"
            )),
        };
    };
    if listed.is_empty() {
        return Err(miette!(
            help =
                "create an application in CloudBees, or check which account the token belongs to",
            "the token sees no CloudBees application"
        ));
    }
    let menu = menu(listed);
    if let Some(id) = wanted {
        return match listed.iter().find(|a| a.id == id) {
            Some(app) => Ok(app.clone()),
            None => {
                let by_name = listed.iter().find(|a| a.name.as_deref() == Some(id));
                let hint = match by_name {
                    Some(app) => format!("`{id}` is the name of {}; pass its id", app.id),
                    None => match did_you_mean(id, listed.iter().map(|a| a.id.as_str())) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => "pass one of the ids above".to_owned(),
                    },
                };
                Err(miette!(
                    help = hint,
                    "no application {id} among those the token sees:\n{menu}"
                ))
            }
        };
    }
    if let [only] = listed {
        return Ok(only.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err(miette!(
            help = format!("pass --application ID, e.g. --application {}", listed[0].id),
            "which application? The token sees:\n{menu}"
        ));
    }
    ask(listed, &menu)
}

/// `  1. 5f3c… (Web shop)` per application.
fn menu(listed: &[LiveApplication]) -> String {
    listed
        .iter()
        .enumerate()
        .map(|(i, app)| match &app.name {
            Some(name) if name != &app.id => format!("  {}. {} ({name})", i + 1, app.id),
            _ => format!("  {}. {}", i + 1, app.id),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asks on the terminal (stderr, so that stdout stays the report) until an answer names an
/// application, by number or id.
fn ask(listed: &[LiveApplication], menu: &str) -> miette::Result<LiveApplication> {
    eprintln!("The token sees these CloudBees applications:\n{menu}");
    let stdin = std::io::stdin();
    loop {
        eprint!(
            "Which one should this repository manage? [1-{}] ",
            listed.len()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let read = stdin.lock().read_line(&mut answer).into_diagnostic()?;
        if read == 0 {
            return Err(miette!("no answer; nothing was written"));
        }
        let answer = answer.trim();
        let by_number = answer
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| listed.get(i));
        if let Some(app) = by_number.or_else(|| listed.iter().find(|a| a.id == answer)) {
            return Ok(app.clone());
        }
        eprintln!("`{answer}` is neither a number of the list nor an application id");
    }
}

/// The application's environments; an error when the deployment cannot list them.
fn environments(
    runtime: &tokio::runtime::Runtime,
    client: &CloudBeesClient,
) -> miette::Result<Vec<String>> {
    let listed = runtime
        .block_on(client.list_environments())
        .wrap_err("listing the application's environments")?;
    match listed {
        Some(envs) if !envs.is_empty() => Ok(envs.into_iter().map(|e| e.name).collect()),
        Some(_) => Err(miette!(
            help = "create an environment in CloudBees first",
            "application {} has no environments",
            client.application()
        )),
        None => Err(miette!(
            help = "write flagsync.yaml by hand, naming the environments as the dashboard spells them (see examples/quickstart/flagsync.yaml)",
            "this CloudBees deployment does not list environments (GET /applications/{}/environments answered 404)",
            client.application()
        )),
    }
}

/// What was written, and what to do next.
fn report(
    dir: &Path,
    target: &Path,
    application: &LiveApplication,
    config: &NewConfig,
    args: &Args,
) {
    let named = match &application.name {
        Some(name) if name != &application.id => format!(" ({name})"),
        _ => String::new(),
    };
    println!(
        "wrote {}: CloudBees application {}{named}, environments {}",
        target.display(),
        application.id,
        config.environments.join(", ")
    );
    let dir = dir.display();
    if args.remote.cloudbees_url.is_some() {
        println!(
            "note: flagsync.yaml does not record --cloudbees-url; give it (or FLAGSYNC_CLOUDBEES_URL) to the next commands too, or add `url:` under `cloudbees:`"
        );
    }
    println!(
        "next: `flagsync export {dir}` writes the live state as manifests; `flagsync plan {dir}` should then show no changes"
    );
}
