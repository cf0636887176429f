//! The terminal side of the library pipeline (`flagsync-pipeline`): what plan, apply and
//! export show while its steps run, and the async runtime they run on.

use std::io::IsTerminal;

use flagsync_manifest::{Diagnostic, Loaded};
use indicatif::{ProgressBar, ProgressDrawTarget};
use miette::{IntoDiagnostic, WrapErr};

/// Shows the repository's diagnostics on stderr, and a spinner on stderr while live state
/// is read: paced at the services' limits, a first plan can take minutes. The spinner
/// shows on a terminal only, so piped output stays clean.
pub struct Terminal {
    spinner: ProgressBar,
}

impl Terminal {
    pub fn new() -> Self {
        let spinner = ProgressBar::new_spinner();
        if !std::io::stderr().is_terminal() {
            spinner.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self { spinner }
    }
}

impl flagsync_pipeline::Observer for Terminal {
    fn loaded(&self, loaded: &Loaded) {
        if !loaded.diagnostics.is_empty() {
            crate::diagnostics::print_human(loaded);
        }
    }

    fn reading_live_state(&self) {
        if std::io::stderr().is_terminal() {
            self.spinner.set_message("reading live state");
            self.spinner
                .enable_steady_tick(std::time::Duration::from_millis(120));
        }
    }

    fn live_state_read(&self) {
        self.spinner.finish_and_clear();
    }

    fn checked(&self, loaded: &Loaded, diagnostics: &[Diagnostic]) {
        for d in diagnostics {
            eprintln!("{:?}", crate::diagnostics::report(d, &loaded.sources));
        }
    }
}

/// A tokio runtime for one command.
pub fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
        .wrap_err("cannot start the async runtime")
}
