//! How a harvest ended: the outcome of one data set's run, recorded in the store, and of the
//! family's.

use tracing::info;

use super::Harvest;
use super::fetch::Fetcher;
use super::proof::Proof;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::RunStats;

/// What an interrupted run says.
pub(super) const INTERRUPTED: &str = "interrupted: progress is saved; rerunning `oac-mirror harvest` continues where this run stopped";

/// How a harvest ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The whole window is mirrored and the counts agree.
    pub complete: bool,
    /// One line for the person or the cron mail.
    pub message: String,
    pub stats: RunStats,
}

/// One outcome for the data sets harvested: the only one's, or all of theirs together.
pub(super) fn family_outcome(
    config: &Config,
    fetcher: &Fetcher,
    outcomes: Vec<(&'static str, Outcome)>,
) -> Outcome {
    if config.datasets.len() == 1
        && let [(_, only)] = outcomes.as_slice()
    {
        return only.clone();
    }
    let complete =
        outcomes.len() == config.datasets.len() && outcomes.iter().all(|(_, o)| o.complete);
    let mut stats = fetcher.stats();
    stats.records_written = outcomes.iter().map(|(_, o)| o.stats.records_written).sum();
    stats.records_rejected = outcomes.iter().map(|(_, o)| o.stats.records_rejected).sum();
    let message = if outcomes.is_empty() {
        INTERRUPTED.to_owned()
    } else {
        let lines: Vec<String> = outcomes
            .iter()
            .map(|(name, o)| format!("{name}: {}", o.message))
            .collect();
        lines.join("\n")
    };
    Outcome {
        complete,
        message,
        stats,
    }
}

/// Ends run `run_id` in the store with how `result` says it went, builds the query indexes of
/// a mirror proven complete, and returns the outcome.
pub(super) async fn end(
    config: &Config,
    h: &Harvest,
    run_id: i64,
    result: Result<Proof>,
    stats: RunStats,
) -> Result<Outcome> {
    let window = config.window();
    let (outcome, message, proven) = match &result {
        Ok(Proof::Complete { total }) => (
            "complete",
            format!(
                "complete: {total} records in {}..{}, equal to upstream's count ({} requests)",
                window.lo, window.hi, stats.requests
            ),
            Some(*total),
        ),
        Ok(Proof::Incomplete(why)) => {
            let quarantined = match stats.records_rejected {
                0 => String::new(),
                n => format!("; {n} record(s) quarantined by this run (see rejected_records)"),
            };
            let message = format!(
                "incomplete: {why}{quarantined}; rerunning `oac-mirror harvest` continues where this run stopped"
            );
            ("incomplete", message, None)
        }
        Err(Error::Interrupted) => ("interrupted", INTERRUPTED.to_owned(), None),
        Err(e) => ("error", format!("stopped: {}", e.report()), None),
    };
    let citations = h.dataset.is_citations();
    let ended = {
        let (stats, message) = (stats.clone(), message.clone());
        h.writer
            .call(move |s| {
                s.end_run(run_id, &stats, outcome, &message, proven)?;
                if proven.is_some() && citations {
                    let built = s.build_query_indexes()?;
                    if built > 0 {
                        info!(indexes = built, "built the query indexes");
                    }
                }
                s.checkpoint()
            })
            .await
    };
    match result {
        Ok(_) | Err(Error::Interrupted) => ended.map(|()| Outcome {
            complete: proven.is_some(),
            message,
            stats,
        }),
        Err(e) => Err(e),
    }
}
