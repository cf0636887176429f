//! The terminal side of the library pipeline (`flagsync-pipeline`): what plan, apply and
//! export show while its steps run, and the async runtime they run on.

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use flagsync_manifest::{Diagnostic, Loaded};
use flagsync_pipeline::LiveProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::{IntoDiagnostic, WrapErr};

/// How often a plain progress line is written when stderr is not a terminal (CI logs); a
/// read shorter than this writes none.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Shows the repository's diagnostics on stderr, and the progress of reading live state:
/// paced at the services' limits, a first plan can take minutes. On a terminal, a bar with
/// the requests answered of those known and an estimate of the time left; elsewhere (CI
/// logs) a plain line every few seconds, so piped output stays readable.
pub struct Terminal {
    bar: ProgressBar,
    on_terminal: bool,
    /// When reading began, and when the last plain line was written.
    started: Cell<Option<Instant>>,
    last_line: Cell<Option<Instant>>,
    latest: Cell<LiveProgress>,
}

impl Terminal {
    pub fn new() -> Self {
        let on_terminal = std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if !on_terminal {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} reading live state: {pos}/{len} requests, {msg}",
        ) {
            bar.set_style(style);
        }
        Self {
            bar,
            on_terminal,
            started: Cell::new(None),
            last_line: Cell::new(None),
            latest: Cell::new(LiveProgress::default()),
        }
    }

    /// A plain line for a log, when the last one (or the start) is [`PLAIN_EVERY`] ago.
    fn plain_line(&self, progress: LiveProgress) {
        let Some(started) = self.started.get() else {
            return;
        };
        let now = Instant::now();
        let since = self.last_line.get().unwrap_or(started);
        if now.duration_since(since) < PLAIN_EVERY {
            return;
        }
        self.last_line.set(Some(now));
        eprintln!(
            "reading live state: {}/{} requests, {}",
            progress.done,
            progress.expected,
            estimate(progress, now.duration_since(started))
        );
    }
}

impl flagsync_pipeline::Observer for Terminal {
    fn loaded(&self, loaded: &Loaded) {
        if !loaded.diagnostics.is_empty() {
            crate::diagnostics::print_human(loaded);
        }
    }

    fn reading_live_state(&self) {
        self.started.set(Some(Instant::now()));
        if self.on_terminal {
            self.bar.set_message("estimating the time left");
            self.bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    fn live_progress(&self, progress: LiveProgress) {
        self.latest.set(progress);
        if self.on_terminal {
            self.bar.set_length(progress.expected as u64);
            self.bar.set_position(progress.done as u64);
            if let Some(started) = self.started.get() {
                self.bar.set_message(estimate(progress, started.elapsed()));
            }
        } else {
            self.plain_line(progress);
        }
    }

    fn checked(&self, loaded: &Loaded, diagnostics: &[Diagnostic]) {
        for d in diagnostics {
            eprintln!("{:?}", crate::diagnostics::report(d, &loaded.sources));
        }
    }

    fn live_state_read(&self) {
        self.bar.finish_and_clear();
        // A log that showed progress also says when it ended.
        if let (Some(started), Some(_)) = (self.started.get(), self.last_line.get()) {
            let progress = self.latest.get();
            eprintln!(
                "read live state: {}/{} requests in {}",
                progress.done,
                progress.expected,
                duration(started.elapsed())
            );
        }
    }
}

/// `about 2m 10s left`, from the rate so far; `estimating the time left` before the first
/// answer.
fn estimate(progress: LiveProgress, elapsed: Duration) -> String {
    if progress.done == 0 {
        return "estimating the time left".to_owned();
    }
    let remaining = progress.expected.saturating_sub(progress.done);
    let per_request = elapsed.as_secs_f64() / progress.done as f64;
    let left = Duration::from_secs_f64(per_request * remaining as f64);
    format!("about {} left", duration(left))
}

/// `1h 2m`, `2m 10s`, `12s`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs / 60 % 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_from_the_rate_so_far() {
        let at = |done, expected| LiveProgress { done, expected };
        assert_eq!(
            estimate(at(0, 10), Duration::from_secs(3)),
            "estimating the time left"
        );
        assert_eq!(
            estimate(at(10, 610), Duration::from_secs(10)),
            "about 10m 0s left"
        );
        assert_eq!(estimate(at(5, 5), Duration::from_secs(5)), "about 0s left");
        assert_eq!(duration(Duration::from_secs(3725)), "1h 2m");
    }
}
