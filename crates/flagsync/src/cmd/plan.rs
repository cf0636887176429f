use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;
use flagsync_manifest::model::Config;
use flagsync_pipeline::{LiveScope, Options};
use flagsync_plan::render::{self, Framing};
use flagsync_plan::{HumanOptions, Plan, TargetFilter};
use miette::{IntoDiagnostic, WrapErr};

use crate::output::GlobalArgs;
use crate::pipeline::{self, Terminal};
use crate::remote::{self, RemoteArgs};
use crate::source::RepoArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
    Markdown,
}

/// How a plan is shown (`plan`, `diff`, `show`): the format, and how `--format markdown`
/// makes a pull-request comment.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// human (coloured on a terminal), json (versioned) or markdown (a pull-request comment).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// With `--format markdown`: the first line of the comment, which the workflow finds
    /// its comment by; counted in GitHub's 65,536-character limit. `''` for none.
    #[arg(long, value_name = "TEXT", default_value = render::DEFAULT_COMMENT_MARKER)]
    pub comment_marker: String,
}

impl RenderArgs {
    /// `format` with the default comment marker.
    pub fn new(format: Format) -> Self {
        RenderArgs {
            format,
            comment_marker: render::DEFAULT_COMMENT_MARKER.to_owned(),
        }
    }
}

/// What deletes a new plan makes (`plan`, `apply`).
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Also delete live resources that the repository manages but no longer declares
    /// (default: `prune` in flagsync.yaml, else false; `--prune=false` overrides it).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub prune: Option<bool>,
    /// With prune, also delete CloudBees Unify flags that no manifest declares; prune alone
    /// keeps (and lists) them, since code may have created them.
    #[arg(long)]
    pub prune_flags: bool,
}

impl PruneArgs {
    /// The pipeline's options for these, `flagsync.yaml`'s `prune` when `--prune` is not
    /// given, the `--target`s and the `--env`s.
    pub fn options(&self, config: &Config, targets: &[TargetFilter], envs: &[String]) -> Options {
        Options {
            prune: self.prune.unwrap_or(config.prune),
            prune_flags: self.prune_flags,
            targets: targets.to_vec(),
            environments: envs.to_vec(),
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    mut_arg("dir", |a| a.help("The repository to plan")),
    mut_arg("rev", |a| a.help("Plan this git revision of the repository instead of the files on disk")),
)]
pub struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Save the plan to FILE for `flagsync apply --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub render: RenderArgs,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Only plan these resources (and what they depend on): KIND/NAME, e.g.
    /// `target-group/Beta Users`, `experiment/Production/my.flag`, `rollout/new-search`.
    #[arg(long = "target", value_name = "KIND/NAME")]
    pub targets: Vec<TargetFilter>,
    /// Only this CloudBees environment's experiments (repeatable); target groups and
    /// rollouts are planned either way.
    #[arg(long = "env", value_name = "NAME")]
    pub envs: Vec<String>,
    #[command(flatten)]
    pub prune: PruneArgs,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

pub fn run(args: &Args, global: &GlobalArgs) -> miette::Result<ExitCode> {
    let plan = compute(args)?;
    if let Some(out) = &args.out {
        let text = plan.to_json()?;
        std::fs::write(out, text)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write the plan to {}", out.display()))?;
    }
    print!(
        "{}",
        render_framed(&plan, &args.render, global, &Framing::default())
    );
    if let Some(out) = &args.out
        && args.render.format == Format::Human
    {
        println!(
            "Saved the plan to {}: apply exactly it with `flagsync apply --plan {}`.",
            out.display(),
            out.display()
        );
    }
    Ok(if args.detailed_exitcode && plan.has_differences() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Loads, validates, reads live state and plans.
fn compute(args: &Args) -> miette::Result<Plan> {
    let dir = &args.repo.dir;
    let terminal = Terminal::new();
    let source = args.repo.open()?;
    let loaded = flagsync_pipeline::load_valid(source.as_ref(), &terminal)?;
    let config = flagsync_pipeline::config(&loaded)?;
    let options = args.prune.options(config, &args.targets, &args.envs);
    check_prune_flags(&options)?;
    // Credentials are needed only for the providers the targets name.
    let scope = LiveScope::for_options(&loaded.repository, &options)?;
    let conn = remote::connect_scope(dir, config, &args.remote, &scope)?;
    remote::announce(&conn);
    let read = flagsync_pipeline::read_live(conn.services(), &loaded, &scope, &terminal);
    let snapshot = pipeline::runtime()?.block_on(read)?;
    let live = flagsync_pipeline::live_resources(&snapshot, &loaded);
    let mut plan = flagsync_pipeline::plan(&loaded, &live, &options)?;
    plan.metadata = crate::metadata::of(source.as_ref(), Some(config), &args.envs);
    Ok(plan)
}

/// `--prune-flags` widens prune; alone it would do nothing, which must not pass unnoticed.
pub fn check_prune_flags(options: &Options) -> miette::Result<()> {
    if options.prune_flags && !options.prune {
        return Err(miette::miette!(
            help = "add --prune (or `prune: true` in flagsync.yaml)",
            "--prune-flags widens --prune, which is off"
        ));
    }
    Ok(())
}

pub fn render(plan: &Plan, format: Format, global: &GlobalArgs) -> String {
    render_framed(plan, &RenderArgs::new(format), global, &Framing::default())
}

/// [`render`] as `args` say (a comment with their marker), in the words of `framing` (what
/// is compared, notes).
pub fn render_framed(
    plan: &Plan,
    args: &RenderArgs,
    global: &GlobalArgs,
    framing: &Framing,
) -> String {
    let mut text = match args.format {
        Format::Human => {
            let options = HumanOptions {
                color: global.color_stdout(),
            };
            render::render_human_framed(plan, &options, framing)
        }
        Format::Json => render::render_json_framed(plan, framing),
        Format::Markdown => {
            let options = render::MarkdownOptions {
                marker: Some(args.comment_marker.clone()),
                ..render::MarkdownOptions::default()
            };
            render::render_markdown_with(plan, &options, framing)
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}
