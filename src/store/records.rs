//! Writing pages of records: the insert, or the update of a record stored already, and the
//! quarantine, in one transaction with the checkpoint.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use rustc_hash::FxHashMap;

use super::dimensions::{Caches, action_id, kind_id, reference_id};
use super::{Store, now};
use crate::api::record::{Citation, Rejected};
use crate::error::{Error, Result};

/// The records stored in the window of each sweep of a first harvest (a mirror without
/// `citations_id`), by id, with their rows: a record served in a leaf's page is stored already
/// only if it is in the leaf's window, so the window is read once, at the sweep's first page,
/// and the map answers for every record after that (and learns what the sweep stores). A record
/// whose `createDateTime` moved within its window is found too; one that moved to another
/// window is stored there again, and its copies are merged when `citations_id` is built (see
/// [`super::indexes`]). Maps are dropped whenever what they say may no longer hold (a batch
/// rolled back), or when there are more of them than [`SWEEP_MAPS`] (leaves that stopped
/// without finishing), and read again when needed. Each holds a leaf's window: at most about
/// `paging_cap` records.
#[derive(Default)]
pub(super) struct SweepMaps(HashMap<i64, (i64, WindowMap)>);

/// A window's records by id: their rowid, and when they were marked deleted.
pub(super) type WindowMap = FxHashMap<Box<str>, (i64, Option<String>)>;

/// The most sweep maps kept at once: more than the leaves a harvest pages together.
const SWEEP_MAPS: usize = 64;

impl SweepMaps {
    /// Follows sweep `sweep` of leaf `leaf`, whose window holds `stored`; past [`SWEEP_MAPS`]
    /// another leaf's map is dropped (read again if its leaf needs it).
    pub(super) fn begin(&mut self, leaf: i64, sweep: i64, stored: WindowMap) {
        if self.0.len() >= SWEEP_MAPS && !self.0.contains_key(&leaf) {
            let other = self.0.keys().next().copied();
            if let Some(other) = other {
                self.0.remove(&other);
            }
        }
        self.0.insert(leaf, (sweep, stored));
    }

    /// Stops following leaf `leaf`.
    pub(super) fn end(&mut self, leaf: i64) {
        self.0.remove(&leaf);
    }

    /// The map of sweep `sweep` of leaf `leaf`, when it is followed.
    pub(super) fn of(&mut self, leaf: i64, sweep: i64) -> Option<&mut WindowMap> {
        match self.0.get_mut(&leaf) {
            Some((s, map)) if *s == sweep => Some(map),
            _ => None,
        }
    }
}

impl Store {
    /// Stores one page of leaf `id` (fetched in `sweep`) and advances its checkpoint to
    /// `next_offset`, in the open batch of pages (see [`Store::flush`]), or in its own
    /// transaction in a store that does not harvest (which has no batches): the page and its
    /// checkpoint commit together or not at all.
    ///
    /// A page that fails half-written loses its whole batch (see [`Store::lose_batch`]): the
    /// pages already stored in the batch were answered as stored, so nothing more is written
    /// in this run, and the next one continues from the last commit, as after a kill.
    pub fn put_page(
        &mut self,
        id: i64,
        sweep: i64,
        next_offset: u64,
        citations: &[Citation],
        rejected: &[Rejected],
    ) -> Result<()> {
        self.write_a_page(|s| {
            // A mirror with `citations_id` finds a record by its id, wherever it was stored; a
            // first harvest's, in the map of its leaf's window.
            let by_id = super::indexes::has_index(&s.conn, "citations_id")?;
            if !by_id && s.sweeps.of(id, sweep).is_none() {
                let stored = s.window_records(&s.partition(id)?)?;
                s.sweeps.begin(id, sweep, stored);
            }
            let stored = if by_id { None } else { s.sweeps.of(id, sweep) };
            write_page(
                &s.conn,
                &mut s.caches,
                stored,
                s.run.as_ref(),
                (id, sweep, next_offset),
                citations,
                rejected,
            )
        })
    }

    /// Runs `write`, which writes one page and its checkpoint, in the open batch of pages, or,
    /// in a store that does not harvest (which has no batches), in a transaction of its own.
    /// The one way every data set's pages are written.
    ///
    /// In a batch the page has no savepoint of its own: SQLite makes a savepoint inside a large
    /// transaction cost more than the page (measured: 36 s of CPU per 100,000 records instead
    /// of 3), so a page that fails half-written loses its whole batch instead and stops the
    /// writes (see [`Store::lose_batch`]).
    pub(super) fn write_a_page(
        &mut self,
        write: impl FnOnce(&mut Store) -> Result<()>,
    ) -> Result<()> {
        if self.batch_lost() {
            return Err(Error::WriterStopped);
        }
        self.begin_batch()?;
        let alone = self.batch.is_none();
        if alone {
            self.conn
                .execute_batch("BEGIN")
                .map_err(Error::sqlite("begin a page"))?;
        }
        match (alone, write(self)) {
            (true, Ok(())) => self
                .conn
                .execute_batch("COMMIT")
                .map_err(Error::sqlite("commit a page")),
            (true, Err(e)) => {
                // The dimension rows the page added are gone, and so must be the ids cached
                // for them.
                let _ = self.conn.execute_batch("ROLLBACK");
                self.forget_cached_ids();
                Err(e)
            }
            (false, Ok(())) => Ok(()),
            (false, Err(e)) => {
                self.lose_batch();
                Err(e)
            }
        }
    }
}

/// Stores a record whose id is not stored yet.
const INSERT: &str =
    "INSERT INTO citation_records (id, office_action_id, reference_id, kind_id, paragraph_number,
    examiner_cited_reference_indicator, applicant_cited_examiner_reference_indicator,
    office_action_citation_reference_indicator, create_date_time, extra, sweep)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The stored row of an id, and whether it is marked deleted, once the mirror has
/// `citations_id`: by the id alone, wherever its `create_date_time` went. (A single
/// `INSERT ... SELECT ... WHERE NOT EXISTS` would need a statement journal, which costs more in
/// a large transaction than the lookup.)
const LOOKUP_BY_ID: &str = "SELECT rowid, deleted_at FROM citation_records WHERE id = ?1";

/// Changes the stored row ?12 when upstream changed the record (or it was marked deleted); the
/// other parameters are those of [`INSERT`].
const UPDATE: &str = "UPDATE citation_records SET office_action_id = ?2, reference_id = ?3, kind_id = ?4,
    paragraph_number = ?5, examiner_cited_reference_indicator = ?6,
    applicant_cited_examiner_reference_indicator = ?7, office_action_citation_reference_indicator = ?8,
    create_date_time = ?9, extra = ?10, sweep = ?11, deleted_at = NULL
    WHERE rowid = ?12 AND ?1 = id AND (
        office_action_id IS NOT ?2 OR reference_id IS NOT ?3 OR kind_id IS NOT ?4
        OR paragraph_number IS NOT ?5 OR examiner_cited_reference_indicator IS NOT ?6
        OR applicant_cited_examiner_reference_indicator IS NOT ?7
        OR office_action_citation_reference_indicator IS NOT ?8 OR create_date_time IS NOT ?9
        OR extra IS NOT ?10 OR deleted_at IS NOT NULL)";

/// Where [`UPDATE`] takes the sweep.
const SWEEP_PARAMETER: usize = 10;

fn write_page(
    tx: &Connection,
    caches: &mut Caches,
    mut stored: Option<&mut WindowMap>,
    run: Option<&(i64, String)>,
    page: (i64, i64, u64),
    citations: &[Citation],
    rejected: &[Rejected],
) -> Result<()> {
    let (id, sweep, next_offset) = page;
    // Most records are new: the map or the lookup finds nothing and one insert stores them;
    // only an id already stored (a refresh, a leaf fetched again, a record that moved between
    // windows) takes the path of `stored_again`.
    let mut lookup = tx
        .prepare_cached(LOOKUP_BY_ID)
        .map_err(Error::sqlite("prepare citation lookup"))?;
    let mut insert = tx
        .prepare_cached(INSERT)
        .map_err(Error::sqlite("prepare citation insert"))?;
    let mut changed = (0u64, 0u64, 0u64);
    for c in citations {
        let action = action_id(tx, caches, c)?;
        let reference = reference_id(tx, caches, c)?;
        let kind = kind_id(tx, caches, c)?;
        let found: Option<(i64, Option<String>)> = match &stored {
            Some(map) => map.get(c.id.as_str()).cloned(),
            None => lookup
                .query_row(params![c.id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(Error::sqlite_with(|| format!("look up record {}", c.id)))?,
        };
        let values = params![
            c.id,
            action,
            reference,
            kind,
            c.paragraph_number,
            c.examiner_cited_reference_indicator,
            c.applicant_cited_examiner_reference_indicator,
            c.office_action_citation_reference_indicator,
            c.create_date_time,
            c.extra,
            sweep,
        ];
        match found {
            None => {
                insert
                    .execute(values)
                    .map_err(Error::sqlite_with(|| format!("store record {}", c.id)))?;
                if let Some(map) = stored.as_deref_mut() {
                    map.insert(c.id.as_str().into(), (tx.last_insert_rowid(), None));
                }
                changed.0 += 1;
            }
            Some(row) => {
                stored_again(tx, run, c, values, row, &mut changed)?;
                // Revived, if it was marked deleted.
                if let Some(found) = stored.as_deref_mut().and_then(|m| m.get_mut(c.id.as_str())) {
                    found.1 = None;
                }
            }
        }
    }
    finish_page(tx, run, id, sweep, next_offset, rejected, changed)
}

/// A record whose id is stored already: updated when upstream changed it (and counted in
/// `changed.1`), else only moved to this sweep; revived (`changed.2`) when this run had marked
/// it deleted (it moved to a window fetched later).
fn stored_again(
    tx: &Connection,
    run: Option<&(i64, String)>,
    c: &Citation,
    values: &[&dyn rusqlite::ToSql],
    (rowid, deleted_at): (i64, Option<String>),
    changed: &mut (u64, u64, u64),
) -> Result<()> {
    if let (Some(deleted_at), Some((_, started))) = (&deleted_at, run)
        && deleted_at >= started
    {
        changed.2 += 1;
    }
    let mut all: Vec<&dyn rusqlite::ToSql> = values.to_vec();
    all.push(&rowid);
    let updated = tx
        .prepare_cached(UPDATE)
        .and_then(|mut s| s.execute(all.as_slice()))
        .map_err(Error::sqlite_with(|| format!("store record {}", c.id)))?;
    if updated > 0 {
        changed.1 += 1;
    } else {
        // The update leaves an unchanged record alone; it still moves to this sweep.
        let sweep = values[SWEEP_PARAMETER];
        let moved = tx
            .prepare_cached("UPDATE citation_records SET sweep = ?2 WHERE rowid = ?1 AND id = ?3")
            .and_then(|mut s| s.execute(params![rowid, sweep, c.id]))
            .map_err(Error::sqlite_with(|| format!("store record {}", c.id)))?;
        if moved != 1 {
            // The row found is not this record's (a map that outlived its rows): the page
            // fails, its batch is lost, and the next run goes on from the last commit.
            return Err(Error::Sqlite {
                context: format!(
                    "store record {}: its row {rowid} holds another record",
                    c.id
                ),
                source: rusqlite::Error::QueryReturnedNoRows,
            });
        }
    }
    Ok(())
}

/// The end of every data set's page, in its transaction: the run's counts of what the page
/// `changed` (added, updated, revived), its quarantined records, and the leaf's checkpoint
/// moved to `next_offset`, which must still be in `sweep`.
pub(super) fn finish_page(
    tx: &Connection,
    run: Option<&(i64, String)>,
    id: i64,
    sweep: i64,
    next_offset: u64,
    rejected: &[Rejected],
    changed: (u64, u64, u64),
) -> Result<()> {
    let (added, updated, revived) = changed;
    if let Some((run, _)) = run
        && added + updated + revived > 0
    {
        tx.prepare_cached(
            "UPDATE runs SET records_added = records_added + ?2, records_updated = records_updated + ?3,
                records_deleted = records_deleted - ?4 WHERE run_id = ?1",
        )
        .and_then(|mut s| s.execute(params![run, added, updated, revived]))
        .map_err(Error::sqlite("count the run's changes"))?;
    }
    let at = now();
    let mut quarantine = tx
        .prepare_cached(
            "INSERT INTO rejected_records (partition_id, sweep, record_id, create_date_time, reason, raw_json, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(Error::sqlite("prepare quarantine"))?;
    for r in rejected {
        quarantine
            .execute(params![
                id,
                sweep,
                r.id,
                r.create_date_time,
                r.reason,
                r.raw_json,
                at
            ])
            .map_err(Error::sqlite("quarantine record"))?;
    }
    let moved = tx
        .execute(
            "UPDATE partitions SET next_offset = ?3, updated_at = ?4 WHERE partition_id = ?1 AND sweep = ?2",
            params![id, sweep, next_offset, at],
        )
        .map_err(Error::sqlite("advance checkpoint"))?;
    if moved != 1 {
        return Err(Error::SweepConflict {
            partition: id,
            sweep,
        });
    }
    Ok(())
}
