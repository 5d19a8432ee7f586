//! What `oac-mirror status` reports, read from the database alone (no request upstream).
//!
//! The report's types are here; reading them from the tables is `read`'s, and the plain text
//! for a person is `report`'s (`--json` serializes the types as they are).

mod read;
mod report;

use std::collections::BTreeMap;

use serde::Serialize;

use super::Store;
use crate::error::{Error, Result};
use read::Reader;

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

    /// The state of the mirror. A database an older version wrote (status does not migrate)
    /// has no change counts and only the citations: it is read as it is.
    pub fn status(&self) -> Result<Status> {
        let read = Reader::new(self)?;
        let mut datasets = BTreeMap::new();
        for d in crate::dataset::ALL {
            if !read.schema.has_dataset(d) {
                continue;
            }
            if let Some(status) = read.dataset_status(d)? {
                datasets.insert(d.name.to_owned(), status);
            }
        }
        let citations = &crate::dataset::CITATIONS;
        Ok(Status {
            complete: !datasets.is_empty() && datasets.values().all(|d| d.complete),
            records: read.count("SELECT count(*) FROM oa_citations")?,
            rejected: read.rejected(citations)?,
            partitions: read.partition_states(citations)?,
            failed: read.failed_partitions(citations)?,
            source: read.meta("source_prefix")?,
            window_from: read.meta("window_from")?,
            window_to: read.meta("window_to")?,
            upstream_total: read.meta("upstream_total")?.and_then(|t| t.parse().ok()),
            verified_at: read.meta("verified_at")?,
            deleted: read.count("SELECT count(*) FROM citations WHERE deleted_at IS NOT NULL")?,
            runs: read.recent_runs()?,
            datasets,
        })
    }
}
