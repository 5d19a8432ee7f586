//! The terminal side of the `oac-mirror` command, kept out of `main.rs` so that it stays
//! parsing, dispatch and exit codes: log lines on stderr (text, coloured on a terminal, or JSON
//! lines, filtered by `OAC_MIRROR_LOG`), the run's last words ([`say`]), the harvest's
//! progress line, written so that they stay out of each other's way, and what Ctrl-C does
//! ([`stop_on_signal`]). It parses no arguments and runs no command.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{Config, LogFormat};
use crate::harvest;

/// Logs to stderr: text (coloured on a terminal) or JSON lines, filtered by `OAC_MIRROR_LOG`
/// (default `info`, `warn` when quiet). With a progress bar, each line is written with the bar
/// out of the way.
pub fn init_logging(quiet: bool, format: LogFormat, bar: Option<ProgressBar>) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("OAC_MIRROR_LOG")
        .unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr(bar))
        .with_target(false);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => {
            builder.json().with_ansi(false).init();
            JSON_LOG.store(true, Ordering::Relaxed);
        }
    }
}

/// Set when the log is JSON lines, so that the last words are one too.
static JSON_LOG: AtomicBool = AtomicBool::new(false);

/// The run's last words on stderr: `oac-mirror: text`, or with `--log-format json` an error
/// event like every other line.
pub fn say(text: &str) {
    if JSON_LOG.load(Ordering::Relaxed) {
        tracing::error!("{text}");
    } else {
        eprintln!("oac-mirror: {text}");
    }
}

/// stderr for the log, one event at a time, with the progress bar (if any) suspended.
#[derive(Clone)]
struct Stderr(Option<ProgressBar>);

struct StderrEvent {
    bar: Option<ProgressBar>,
    line: Vec<u8>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = StderrEvent;
    fn make_writer(&'a self) -> StderrEvent {
        StderrEvent {
            bar: self.0.clone(),
            line: vec![],
        }
    }
}

impl Write for StderrEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for StderrEvent {
    fn drop(&mut self) {
        let write = || drop(std::io::stderr().write_all(&self.line));
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// A spinner with the harvest's counters, for a person watching a terminal: only when stderr
/// is one, the log is text and the run is not quiet (under cron there is none).
pub fn progress_bar(config: &Config) -> Option<ProgressBar> {
    let wanted =
        !config.quiet && config.log_format == LogFormat::Text && std::io::stderr().is_terminal();
    wanted.then(spinner)
}

fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// Shows the harvest's counters on `bar` as they change.
pub fn observer(bar: ProgressBar) -> harvest::Observer {
    Box::new(move |p: harvest::Progress| {
        bar.set_message(format!(
            "{} records stored · {} requests · {} retries · {} partitions to go",
            p.records, p.requests, p.retries, p.queued
        ))
    })
}

/// Cancels `shutdown` on SIGINT or SIGTERM: no new requests are sent, requests in flight are
/// dropped, and the run ends with its progress committed. A second signal exits at once with
/// status 130 (a page is stored with its checkpoint or not at all: the batch of pages not yet
/// committed, at most a second's, is fetched again by the next run).
pub async fn stop_on_signal(shutdown: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::warn!(
        "signal received: stopping (requests in flight are dropped); a second Ctrl-C exits at once"
    );
    shutdown.cancel();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!(
        "oac-mirror: second signal: exiting at once; rerunning continues from the last page stored"
    );
    std::process::exit(130);
}
