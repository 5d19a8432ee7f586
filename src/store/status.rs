//! What `oac-mirror status` reports, read from the database alone (no request upstream).

use std::collections::BTreeMap;

use serde::Serialize;

use super::partitions::CURRENT_REJECTS;
use super::{PartitionState, Store};
use crate::error::{Error, Result};

/// The state of a mirror.
#[derive(Debug, Serialize)]
pub struct Status {
    /// True when the last run proved the whole window: every leaf's stored ids equal its
    /// upstream count and the leaf counts add up to one count of the whole window.
    pub complete: bool,
    /// Rows in the `oa_citations` view.
    pub records: u64,
    /// Records in quarantine (`rejected_records`).
    pub rejected: u64,
    /// Partitions by state (`new`, `split`, `pending`, `done`, `failed`).
    pub partitions: BTreeMap<String, u64>,
    /// Leaves that failed, with their last error.
    pub failed: Vec<FailedPartition>,
    pub source: Option<String>,
    pub window_from: Option<String>,
    pub window_to: Option<String>,
    /// The upstream count of the whole window that the last complete run was checked against.
    pub upstream_total: Option<u64>,
    pub verified_at: Option<String>,
    /// Records that vanished upstream (the `oa_citations_deleted` view).
    pub deleted: u64,
    /// The last runs, newest first.
    pub runs: Vec<RunSummary>,
    /// Each data set the mirror holds (`citations`, `rejections`, `enriched`), on its own; the
    /// keys above are the citations', but `complete`, which is true only when every data set
    /// here is.
    pub datasets: BTreeMap<String, DatasetStatus>,
}

/// One data set of a mirror.
#[derive(Debug, Serialize)]
pub struct DatasetStatus {
    /// Its whole window proven by count.
    pub complete: bool,
    /// Rows in its flat view.
    pub records: u64,
    /// Its records in quarantine.
    pub rejected: u64,
    /// Its records that vanished upstream.
    pub deleted: u64,
    /// Its partitions by state.
    pub partitions: BTreeMap<String, u64>,
    pub source: Option<String>,
    pub upstream_total: Option<u64>,
    pub verified_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct FailedPartition {
    pub window: String,
    pub criteria: String,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    /// The data set the run harvested.
    pub dataset: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub outcome: Option<String>,
    pub requests: u64,
    /// Records stored (fetched) by the run, changed or not.
    pub records_written: u64,
    /// Records the run stored for the first time, changed, and found vanished upstream.
    pub records_added: u64,
    pub records_updated: u64,
    pub records_deleted: u64,
    pub message: Option<String>,
}

/// A packed hand-off copy: no harvest state to report, only what its `meta` says.
#[derive(Debug, Serialize)]
pub struct Packed {
    pub db: std::path::PathBuf,
    /// Always true: tells this report from a mirror's in JSON.
    pub packed: bool,
    pub meta: BTreeMap<String, Option<String>>,
}

impl std::fmt::Display for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

/// How many runs `status` shows.
const RUNS_SHOWN: u32 = 5;

impl Store {
    /// What a packed hand-off copy (made by `oac-mirror pack`) says of itself; `None` for a
    /// mirror.
    pub fn packed(&self) -> Result<Option<Packed>> {
        if self.meta("packed_at")?.is_none() {
            return Ok(None);
        }
        let meta = self
            .conn
            .prepare("SELECT key, value FROM meta ORDER BY key")
            .and_then(|mut stmt| {
                stmt.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })?
                .collect::<rusqlite::Result<BTreeMap<_, _>>>()
            })
            .map_err(Error::sqlite("read meta"))?;
        Ok(Some(Packed {
            db: self.path.clone(),
            packed: true,
            meta,
        }))
    }

    /// The data set prefix this mirror was harvested from, once a harvest reached it.
    pub fn source(&self) -> Result<Option<String>> {
        self.meta("source_prefix")
    }

    pub fn status(&self) -> Result<Status> {
        let q = |sql: &str| -> Result<u64> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(Error::sqlite("read status"))
        };
        // A database an older version wrote (status does not migrate) has no change counts
        // and only the citations.
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(Error::sqlite("read schema version"))?;
        let citations = if version >= 4 {
            "WHERE dataset = 'citations'"
        } else {
            ""
        };
        let mut datasets = BTreeMap::new();
        for d in crate::dataset::ALL {
            if version < 4 && !d.is_citations() {
                continue;
            }
            if let Some(status) = self.dataset_status(d, version)? {
                datasets.insert(d.name.to_owned(), status);
            }
        }
        let partitions = self.partition_states(citations)?;
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT lo, hi, id_prefix, criteria, last_error FROM partitions WHERE state = ?1 {} ORDER BY lo, id_prefix",
                citations.replace("WHERE", "AND")
            ))
            .map_err(Error::sqlite("read status"))?;
        let failed = stmt
            .query_map([PartitionState::Failed], |r| {
                let (lo, hi, prefix): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
                let mut window = if lo == hi { lo } else { format!("{lo}..{hi}") };
                if !prefix.is_empty() {
                    window.push_str(&format!(" id:{prefix}*"));
                }
                Ok(FailedPartition {
                    window,
                    criteria: r.get(3)?,
                    last_error: r.get(4)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(Error::sqlite("read status"))?;
        let changes = if version >= 3 {
            "records_added, records_updated, records_deleted"
        } else {
            "0, 0, 0"
        };
        let dataset = if version >= 4 {
            "dataset"
        } else {
            "'citations'"
        };
        let runs = self
            .conn
            .prepare(&format!(
                "SELECT run_id, started_at, ended_at, outcome, requests, records_written, {changes}, message, {dataset}
                 FROM runs ORDER BY run_id DESC LIMIT ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_map([RUNS_SHOWN], |r| {
                    Ok(RunSummary {
                        run_id: r.get(0)?,
                        started_at: r.get(1)?,
                        ended_at: r.get(2)?,
                        outcome: r.get(3)?,
                        requests: r.get(4)?,
                        records_written: r.get(5)?,
                        records_added: r.get(6)?,
                        records_updated: r.get(7)?,
                        records_deleted: r.get(8)?,
                        message: r.get(9)?,
                        dataset: r.get(10)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(Error::sqlite("read status"))?;
        Ok(Status {
            complete: !datasets.is_empty() && datasets.values().all(|d| d.complete),
            records: q("SELECT count(*) FROM oa_citations")?,
            rejected: q(&format!(
                "SELECT count(*) FROM {CURRENT_REJECTS} {}",
                citations.replace("WHERE ", "AND p.")
            ))?,
            partitions,
            failed,
            source: self.meta("source_prefix")?,
            window_from: self.meta("window_from")?,
            window_to: self.meta("window_to")?,
            upstream_total: self.meta("upstream_total")?.and_then(|t| t.parse().ok()),
            verified_at: self.meta("verified_at")?,
            deleted: q("SELECT count(*) FROM citations WHERE deleted_at IS NOT NULL")?,
            runs,
            datasets,
        })
    }

    /// Partitions by state, under `clause` (a WHERE clause or nothing).
    fn partition_states(&self, clause: &str) -> Result<BTreeMap<String, u64>> {
        let mut partitions = BTreeMap::new();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT state, count(*), min(partition_id) FROM partitions {clause} GROUP BY state"
            ))
            .map_err(Error::sqlite("read status"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(Error::sqlite("read status"))?;
        for row in rows {
            let (text, n, partition) = row.map_err(Error::sqlite("read status"))?;
            let state = PartitionState::parse(&text).ok_or(Error::UnknownState {
                partition,
                state: text,
            })?;
            partitions.insert(state.as_str().to_owned(), n);
        }
        Ok(partitions)
    }

    /// The status of data set `d`, or `None` when the mirror does not hold it (it has no
    /// partitions of it).
    fn dataset_status(
        &self,
        d: &crate::dataset::Dataset,
        version: i64,
    ) -> Result<Option<DatasetStatus>> {
        let clause = if version >= 4 {
            format!("WHERE dataset = '{}'", d.name)
        } else {
            String::new()
        };
        let partitions = self.partition_states(&clause)?;
        if partitions.is_empty() {
            return Ok(None);
        }
        let q = |sql: &str| -> Result<u64> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(Error::sqlite("read status"))
        };
        Ok(Some(DatasetStatus {
            complete: self.meta(&d.meta_key("complete"))?.as_deref() == Some("true"),
            records: q(&format!("SELECT count(*) FROM {}", d.view))?,
            rejected: q(&format!(
                "SELECT count(*) FROM {CURRENT_REJECTS} {}",
                clause.replace("WHERE ", "AND p.")
            ))?,
            deleted: q(&format!(
                "SELECT count(*) FROM {} WHERE deleted_at IS NOT NULL",
                d.table
            ))?,
            partitions,
            source: self.meta(&d.meta_key("source_prefix"))?,
            upstream_total: self
                .meta(&d.meta_key("upstream_total"))?
                .and_then(|t| t.parse().ok()),
            verified_at: self.meta(&d.meta_key("verified_at"))?,
        }))
    }
}

impl std::fmt::Display for Status {
    /// The plain `status` report, for a person.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
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
            )?;
        } else {
            writeln!(f, "complete:   no (rerun `oac-mirror harvest` to continue)")?;
        }
        writeln!(f, "records:    {} in oa_citations", self.records)?;
        writeln!(
            f,
            "rejected:   {} in quarantine (table rejected_records)",
            self.rejected
        )?;
        let states: Vec<String> = self
            .partitions
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        writeln!(
            f,
            "partitions: {}",
            if states.is_empty() {
                "none".into()
            } else {
                states.join(", ")
            }
        )?;
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
        )?;
        for (name, d) in self
            .datasets
            .iter()
            .filter(|(name, _)| *name != "citations")
        {
            writeln!(
                f,
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
            )?;
        }
        if !self.runs.is_empty() {
            writeln!(f, "runs:       newest first")?;
        }
        for (i, run) in self.runs.iter().enumerate() {
            writeln!(
                f,
                "  #{} {} {} .. {}: {}; {} requests, {} records added, {} updated, {} deleted",
                run.run_id,
                run.dataset,
                run.started_at,
                run.ended_at.as_deref().unwrap_or("?"),
                run.outcome.as_deref().unwrap_or("did not finish (killed?)"),
                run.requests,
                run.records_added,
                run.records_updated,
                run.records_deleted,
            )?;
            if i == 0
                && let Some(message) = &run.message
            {
                writeln!(f, "     {message}")?;
            }
        }
        Ok(())
    }
}
