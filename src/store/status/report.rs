//! The plain `status` report, for a person: a [`Status`] or a [`Packed`] copy as lines of
//! text (`--json` prints the same types serialized).

use std::collections::BTreeMap;
use std::fmt::{self, Display, Formatter};

use super::{DatasetStatus, Packed, RunSummary, Status};

impl Display for Packed {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: a packed hand-off copy made by `oac-mirror pack`, not a mirror being harvested (query or export it; `status` of the original mirror shows the harvest). Its meta:",
            self.db.display()
        )?;
        for (key, value) in &self.meta {
            writeln!(f, "  {key}: {}", value.as_deref().unwrap_or("-"))?;
        }
        Ok(())
    }
}

impl Display for Status {
    /// The plain `status` report, for a person.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.fmt_proof(f)?;
        self.fmt_citations(f)?;
        for (name, d) in self
            .datasets
            .iter()
            .filter(|(name, _)| *name != "citations")
        {
            writeln!(f, "{}", sibling_line(name, d))?;
        }
        if !self.runs.is_empty() {
            writeln!(f, "runs:       newest first")?;
        }
        for (i, run) in self.runs.iter().enumerate() {
            writeln!(f, "  {}", run_line(run))?;
            if i == 0
                && let Some(message) = &run.message
            {
                writeln!(f, "     {message}")?;
            }
        }
        Ok(())
    }
}

impl Status {
    /// Where the mirror comes from, its window and whether it is proven complete.
    fn fmt_proof(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "source:     {}", or_none(&self.source))?;
        writeln!(
            f,
            "window:     {} .. {}",
            or_none(&self.window_from),
            or_none(&self.window_to)
        )?;
        if self.complete {
            writeln!(
                f,
                "complete:   yes, checked against an upstream count of {} at {}",
                self.upstream_total.unwrap_or_default(),
                or_none(&self.verified_at)
            )
        } else {
            writeln!(f, "complete:   no (rerun `oac-mirror harvest` to continue)")
        }
    }

    /// The citations' records, quarantine, partitions (with the failed ones) and deletions.
    fn fmt_citations(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "records:    {} in oa_citations", self.records)?;
        writeln!(
            f,
            "rejected:   {} in quarantine (table rejected_records)",
            self.rejected
        )?;
        writeln!(f, "partitions: {}", partition_counts(&self.partitions))?;
        for p in &self.failed {
            writeln!(
                f,
                "  failed {}: {}",
                p.window,
                p.last_error.as_deref().unwrap_or("no error recorded")
            )?;
        }
        writeln!(
            f,
            "deleted:    {} vanished upstream (view oa_citations_deleted)",
            self.deleted
        )
    }
}

fn or_none(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

/// `31 done, 30 split`, or `none`.
fn partition_counts(partitions: &BTreeMap<String, u64>) -> String {
    if partitions.is_empty() {
        return "none".into();
    }
    partitions
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line for a data set beside the citations.
fn sibling_line(name: &str, d: &DatasetStatus) -> String {
    format!(
        "{name}: {}, {} records, {} rejected, {} deleted (source {})",
        if d.complete {
            "complete"
        } else {
            "not complete"
        },
        d.records,
        d.rejected,
        d.deleted,
        or_none(&d.source)
    )
}

/// One line for a run: when, how it ended, what it changed.
fn run_line(run: &RunSummary) -> String {
    format!(
        "#{} {} {} .. {}: {}; {} requests, {} records added, {} updated, {} deleted",
        run.run_id,
        run.dataset,
        run.started_at,
        run.ended_at.as_deref().unwrap_or("?"),
        run.outcome.as_deref().unwrap_or("did not finish (killed?)"),
        run.requests,
        run.records_added,
        run.records_updated,
        run.records_deleted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Option<&str>, message: Option<&str>) -> RunSummary {
        RunSummary {
            run_id: 2,
            dataset: "citations".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: outcome.map(|_| "2026-01-01T00:01:00Z".into()),
            outcome: outcome.map(str::to_owned),
            requests: 9,
            records_written: 5,
            records_added: 4,
            records_updated: 1,
            records_deleted: 0,
            message: message.map(str::to_owned),
        }
    }

    #[test]
    fn counts_and_runs_read_as_one_line_each() {
        assert_eq!(partition_counts(&BTreeMap::new()), "none");
        let states = BTreeMap::from([("done".to_owned(), 3), ("split".to_owned(), 1)]);
        assert_eq!(partition_counts(&states), "3 done, 1 split");
        assert_eq!(
            run_line(&run(None, None)),
            "#2 citations 2026-01-01T00:00:00Z .. ?: did not finish (killed?); 9 requests, 4 records added, 1 updated, 0 deleted"
        );
    }

    #[test]
    fn only_the_newest_runs_message_is_shown() {
        let status = Status {
            complete: false,
            records: 5,
            rejected: 0,
            partitions: BTreeMap::new(),
            failed: vec![],
            source: None,
            window_from: None,
            window_to: None,
            upstream_total: None,
            verified_at: None,
            deleted: 0,
            runs: vec![
                run(Some("error"), Some("newest says this")),
                run(Some("complete"), Some("older says that")),
            ],
            datasets: BTreeMap::new(),
        };
        let text = status.to_string();
        assert!(text.contains("\n     newest says this\n"), "{text}");
        assert!(!text.contains("older says that"), "{text}");
        assert!(text.starts_with("source:     -\nwindow:     - .. -\ncomplete:   no"));
    }
}
