//! Reading a [`Status`](super::Status) from the tables, for any schema version a mirror may
//! have: `status` does not migrate, so what an older version wrote (no change counts before
//! version 3, the citations alone before version 4) is read as it is.

use std::collections::BTreeMap;

use super::{DatasetStatus, FailedPartition, RunSummary};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::store::partitions::CURRENT_REJECTS;
use crate::store::{PartitionState, Store};

/// How many runs `status` shows.
const RUNS_SHOWN: u32 = 5;

/// The schema version of the mirror read (`PRAGMA user_version`), and what each version has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SchemaVersion(pub i64);

impl SchemaVersion {
    /// Whether the mirror may hold data set `d` (before version 4, only the citations).
    pub fn has_dataset(self, d: &Dataset) -> bool {
        self.0 >= 4 || d.is_citations()
    }

    /// The WHERE clause that picks `d`'s partitions (none before version 4: all are the
    /// citations').
    pub fn partitions_of(self, d: &Dataset) -> String {
        if self.0 >= 4 {
            format!("WHERE dataset = '{}'", d.name)
        } else {
            String::new()
        }
    }

    /// The runs' change counts (zero before version 3) and data set (the citations before
    /// version 4), as columns of a SELECT.
    pub fn run_columns(self) -> (&'static str, &'static str) {
        let changes = if self.0 >= 3 {
            "records_added, records_updated, records_deleted"
        } else {
            "0, 0, 0"
        };
        let dataset = if self.0 >= 4 {
            "dataset"
        } else {
            "'citations'"
        };
        (changes, dataset)
    }
}

/// How a failed partition is named: its window (one instant or `lo..hi`) and, below one
/// second, its id prefix.
pub(super) fn window_label(lo: String, hi: &str, prefix: &str) -> String {
    let mut window = if lo == hi { lo } else { format!("{lo}..{hi}") };
    if !prefix.is_empty() {
        window.push_str(&format!(" id:{prefix}*"));
    }
    window
}

/// Reads the parts of a status from one mirror of a known schema version.
pub(super) struct Reader<'a> {
    store: &'a Store,
    pub schema: SchemaVersion,
}

impl<'a> Reader<'a> {
    pub fn new(store: &'a Store) -> Result<Reader<'a>> {
        let version = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(Error::sqlite("read schema version"))?;
        Ok(Reader {
            store,
            schema: SchemaVersion(version),
        })
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.store.meta(key)
    }

    /// The one number `sql` returns.
    pub fn count(&self, sql: &str) -> Result<u64> {
        self.store
            .conn
            .query_row(sql, [], |r| r.get(0))
            .map_err(Error::sqlite("read status"))
    }

    /// `d`'s records in quarantine, as of each partition's latest fetch.
    pub fn rejected(&self, d: &Dataset) -> Result<u64> {
        self.count(&format!(
            "SELECT count(*) FROM {CURRENT_REJECTS} {}",
            self.schema.partitions_of(d).replace("WHERE ", "AND p.")
        ))
    }

    /// `d`'s partitions by state.
    pub fn partition_states(&self, d: &Dataset) -> Result<BTreeMap<String, u64>> {
        let mut partitions = BTreeMap::new();
        let mut stmt = self
            .store
            .conn
            .prepare(&format!(
                "SELECT state, count(*), min(partition_id) FROM partitions {} GROUP BY state",
                self.schema.partitions_of(d)
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

    /// `d`'s failed partitions, with their last error, in window order.
    pub fn failed_partitions(&self, d: &Dataset) -> Result<Vec<FailedPartition>> {
        let mut stmt = self
            .store
            .conn
            .prepare(&format!(
                "SELECT lo, hi, id_prefix, criteria, last_error FROM partitions WHERE state = ?1 {} ORDER BY lo, id_prefix",
                self.schema.partitions_of(d).replace("WHERE", "AND")
            ))
            .map_err(Error::sqlite("read status"))?;
        stmt.query_map([PartitionState::Failed], |r| {
            let (lo, hi, prefix): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(FailedPartition {
                window: window_label(lo, &hi, &prefix),
                criteria: r.get(3)?,
                last_error: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(Error::sqlite("read status"))
    }

    /// The last [`RUNS_SHOWN`] runs, newest first.
    pub fn recent_runs(&self) -> Result<Vec<RunSummary>> {
        let (changes, dataset) = self.schema.run_columns();
        self.store
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
            .map_err(Error::sqlite("read status"))
    }

    /// The status of data set `d`, or `None` when the mirror does not hold it (it has no
    /// partitions of it).
    pub fn dataset_status(&self, d: &Dataset) -> Result<Option<DatasetStatus>> {
        let partitions = self.partition_states(d)?;
        if partitions.is_empty() {
            return Ok(None);
        }
        Ok(Some(DatasetStatus {
            complete: self.meta(&d.meta_key("complete"))?.as_deref() == Some("true"),
            records: self.count(&format!("SELECT count(*) FROM {}", d.view))?,
            rejected: self.rejected(d)?,
            // `citations`, a table before migration 0007 and a view of the same columns since,
            // is the name every schema version this reads has.
            deleted: self.count(&format!(
                "SELECT count(*) FROM {} WHERE deleted_at IS NOT NULL",
                if d.is_citations() {
                    "citations"
                } else {
                    d.table
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{CITATIONS, REJECTIONS};

    #[test]
    fn older_schemas_are_read_as_they_are() {
        let v2 = SchemaVersion(2);
        assert!(v2.has_dataset(&CITATIONS));
        assert!(!v2.has_dataset(&REJECTIONS));
        assert_eq!(v2.partitions_of(&CITATIONS), "");
        assert_eq!(v2.run_columns(), ("0, 0, 0", "'citations'"));
        let v3 = SchemaVersion(3);
        assert_eq!(
            v3.run_columns(),
            (
                "records_added, records_updated, records_deleted",
                "'citations'"
            )
        );
        let v4 = SchemaVersion(4);
        assert!(v4.has_dataset(&REJECTIONS));
        assert_eq!(
            v4.partitions_of(&REJECTIONS),
            "WHERE dataset = 'rejections'"
        );
        assert_eq!(v4.run_columns().1, "dataset");
    }

    #[test]
    fn a_failed_partition_is_named_by_its_window_and_prefix() {
        let at = "2025-07-03T13:00:00";
        assert_eq!(window_label(at.into(), at, ""), at);
        assert_eq!(window_label(at.into(), at, "a3"), format!("{at} id:a3*"));
        assert_eq!(
            window_label("2019-01-01T00:00:00".into(), "2019-12-31T23:59:59", ""),
            "2019-01-01T00:00:00..2019-12-31T23:59:59"
        );
    }
}
