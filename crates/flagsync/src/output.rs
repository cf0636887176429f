//! Global output options (colour, verbosity) and the one place errors are printed.

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// `--format` of the commands that print text for people or a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum HumanOrJson {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to use colour: auto honours NO_COLOR and whether stdout is a terminal.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

impl GlobalArgs {
    /// Whether human output on stdout should be coloured.
    pub fn color_stdout(&self) -> bool {
        self.color_on(console::Term::stdout())
    }

    /// Whether human output on stderr (diagnostics, progress) should be coloured.
    pub fn color_stderr(&self) -> bool {
        self.color_on(console::Term::stderr())
    }

    fn color_on(&self, term: console::Term) -> bool {
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && term.is_term()
            }
        }
    }
}

/// Writes `bytes` to stdout, flushed; an error says it could not write `what`.
pub fn write_stdout(bytes: &[u8], what: &str) -> miette::Result<()> {
    use miette::{IntoDiagnostic, WrapErr};
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot write the {what}"))
}

/// Sets up logging on stderr and the miette theme according to the colour choice.
pub fn init(global: &GlobalArgs) {
    let default_level = match global.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(global.color_stderr())
        .try_init();

    let color = global.color_stderr();
    let _ = miette::set_hook(Box::new(move |_| {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        Box::new(
            miette::MietteHandlerOpts::new()
                .graphical_theme(theme)
                .context_lines(1)
                .build(),
        )
    }));
}

/// Prints a top-level error on stderr; with `--format json`, also the error document on
/// stdout, where a tool reading the output looks for it.
pub fn print_report(report: &miette::Report, json: bool) {
    eprintln!("{report:?}");
    if json {
        let error = ErrorObject {
            message: report.to_string(),
            code: report.code().map(|c| c.to_string()),
            help: report.help().map(|h| h.to_string()),
            causes: report.chain().skip(1).map(|c| c.to_string()).collect(),
        };
        println!("{}", error_json(error));
    }
}

/// The document a command given `--format json` prints on stdout when it fails.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "ErrorOutput")]
pub struct ErrorDoc {
    /// The version of this document's shape.
    format_version: u32,
    metadata: flagsync_plan::Metadata,
    error: ErrorObject,
}

/// What went wrong.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ErrorObject {
    /// The error, one line.
    message: String,
    /// A stable identifier of the kind of error when it has one (`usage` for a command
    /// line flagsync could not parse).
    code: Option<String>,
    /// What to do about it, when flagsync knows.
    help: Option<String>,
    /// The errors that caused it, outermost first.
    causes: Vec<String>,
}

fn error_json(error: ErrorObject) -> String {
    let doc = ErrorDoc {
        format_version: 1,
        metadata: flagsync_plan::Metadata::default(),
        error,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Whether the command line asks for `--format json` (read from the raw arguments, for
/// errors found before or while parsing them).
pub fn wants_json() -> bool {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.iter().any(|a| a == "--format=json")
        || args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "json")
}

/// Parses the command line. A usage error exits 1, like every other failure: clap's own
/// code for it, 2, is what `--detailed-exitcode` means by "there are changes", and a
/// mistyped flag in a drift job must not read as drift. `--help` and `--version` exit 0.
///
/// A panic on the main thread also exits 1 (Rust's default is 101). Panics on other
/// threads are left alone: the tokio tasks that read live state turn them into errors.
pub fn parse_args<P: clap::Parser>() -> P {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        if std::thread::current().name() == Some("main") {
            std::process::exit(1);
        }
    }));
    P::try_parse().unwrap_or_else(|e| {
        let _ = e.print();
        if e.use_stderr() && wants_json() {
            let text = e.render().to_string();
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let message = lines
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned();
            let help: Vec<&str> = lines.map(str::trim).collect();
            println!(
                "{}",
                error_json(ErrorObject {
                    message,
                    code: Some("usage".to_owned()),
                    help: (!help.is_empty()).then(|| help.join("\n")),
                    causes: Vec::new(),
                })
            );
        }
        std::process::exit(if e.use_stderr() { 1 } else { 0 })
    })
}

/// What every command's exit code means (README.md has them per command).
pub const EXIT_CODES: [(u8, &str); 3] = [
    (
        0,
        "success; with --detailed-exitcode (plan, diff): no changes",
    ),
    (
        1,
        "any failure: a usage error, invalid manifests, an error from a service, a failed or refused apply, a bug",
    ),
    (
        2,
        "only with --detailed-exitcode (plan, diff): there are changes",
    ),
];

/// The exit codes at the end of `flagsync --help`.
pub fn exit_status_help() -> String {
    let mut text = "Exit status:".to_owned();
    for (code, meaning) in EXIT_CODES {
        text.push_str(&format!("\n  {code}  {meaning}"));
    }
    text
}
