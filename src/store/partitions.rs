//! The checkpoint: the planner's tree of partitions, persisted, and the run bookkeeping.
//!
//! Every state change of a partition is one transaction; a page of records is written in the
//! same transaction as the `next_offset` it advances to (see `records.rs`), so a killed run
//! loses at most the page that was in flight.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, now};
use crate::error::{Error, Result};
use crate::plan::{Stamp, Window};
use crate::tree::Transition;

mod counts;
mod runs;
pub use crate::tree::{Partition, PartitionState};

impl rusqlite::ToSql for PartitionState {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

/// `state IN ('new', ...)` for SQL, from [`PartitionState::as_str`] (whose texts hold no
/// quote), for the places where a set of states is part of the statement's shape.
pub(crate) fn state_in(states: &[PartitionState]) -> String {
    let texts: Vec<String> = states.iter().map(|s| format!("'{}'", s.as_str())).collect();
    format!("state IN ({})", texts.join(", "))
}

/// The quarantined records that count, for `status`, `pack` and the comparisons with
/// upstream: those of each partition's current sweep (an older sweep's were superseded). More
/// conditions on `p` (the partition) and `r` may follow with `AND`.
pub(crate) const CURRENT_REJECTS: &str =
    "rejected_records r JOIN partitions p USING (partition_id) WHERE r.sweep = p.sweep";

/// Counters of one run, written to the `runs` table at its end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub records_written: u64,
    pub records_rejected: u64,
}

/// The leaves in state `?1` (done) that reach `?2` (a stamp as text; "" for all of them).
const DONE_SINCE: &str = "state = ?1 AND hi >= ?2";

fn since_text(since: Option<Stamp>) -> String {
    since.map(|s| s.to_string()).unwrap_or_default()
}

const COLUMNS: &str = "partition_id, parent_id, lo, hi, id_prefix, upstream_count, next_offset, state, sweep, attempts";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Partition> {
    let stamp = |i: usize| -> rusqlite::Result<Stamp> {
        let text: String = row.get(i)?;
        Stamp::parse(&text).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Text,
                format!("bad stamp {text:?}").into(),
            )
        })
    };
    Ok(Partition {
        id: row.get(0)?,
        parent: row.get(1)?,
        window: Window {
            lo: stamp(2)?,
            hi: stamp(3)?,
            id_prefix: row.get(4)?,
        },
        count: row.get(5)?,
        next_offset: row.get(6)?,
        state: {
            let text: String = row.get(7)?;
            PartitionState::parse(&text).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    7,
                    rusqlite::types::Type::Text,
                    Box::new(Error::UnknownState {
                        partition: row.get(0).unwrap_or_default(),
                        state: text,
                    }),
                )
            })?
        },
        sweep: row.get(8)?,
        attempts: row.get(9)?,
    })
}

impl Store {
    /// The partition without a parent, if the database has one.
    pub fn root(&self) -> Result<Option<Partition>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM partitions WHERE parent_id IS NULL AND dataset = ?1"
                ),
                [self.dataset.name],
                from_row,
            )
            .optional()
            .map_err(Error::sqlite("read root partition"))
    }

    /// Partitions that still need work: not counted, or leaves not yet done, in window order.
    pub fn unfinished(&self) -> Result<Vec<Partition>> {
        self.select(
            &format!(
                "WHERE dataset = ?1 AND {} ORDER BY lo, id_prefix",
                state_in(&[PartitionState::New, PartitionState::Pending])
            ),
            [self.dataset.name],
        )
    }

    /// Partitions a harvest would work on: [`Store::unfinished`] and the failed ones (a new
    /// run retries them), in window order.
    pub fn unfinished_or_failed(&self) -> Result<Vec<Partition>> {
        self.select(
            &format!(
                "WHERE dataset = ?1 AND {} ORDER BY lo, id_prefix",
                state_in(&PartitionState::NOT_DONE)
            ),
            [self.dataset.name],
        )
    }

    /// Checks that the mirror's records (if any) come from `source` (`meta.source_prefix`).
    pub fn check_source(&self, source: &str) -> Result<()> {
        match self.meta(&self.dataset.meta_key("source_prefix"))? {
            Some(stored) if stored != source => Err(Error::SourceMismatch {
                path: self.path.clone(),
                stored,
                asked: source.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// The direct children of a split partition, in window order.
    pub fn children(&self, id: i64) -> Result<Vec<Partition>> {
        self.select("WHERE parent_id = ?1 ORDER BY lo, id_prefix", [id])
    }

    pub fn partition(&self, id: i64) -> Result<Partition> {
        self.select("WHERE partition_id = ?1", [id])?
            .pop()
            .ok_or(Error::NoPartition(id))
    }

    fn select<P: rusqlite::Params>(&self, clause: &str, p: P) -> Result<Vec<Partition>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM partitions {clause}"))
            .map_err(Error::sqlite("read partitions"))?;
        let rows = stmt
            .query_map(p, from_row)
            .map_err(Error::sqlite("read partitions"))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(Error::sqlite("read partitions"))
    }

    /// Records that `id` counted `count` records, more than one query may page through, and
    /// replaces it by `children` (windows with their criteria), which tile it. Records the
    /// partition held as a leaf stay; its children's fetches see them again.
    pub fn split(
        &mut self,
        id: i64,
        count: u64,
        children: &[(Window, String)],
    ) -> Result<Vec<Partition>> {
        self.sweeps.end(id);
        let at = now();
        let tx = self
            .conn
            .savepoint()
            .map_err(Error::sqlite("begin split"))?;
        tx.execute(
            "UPDATE partitions SET state = ?4, upstream_count = ?2, next_offset = 0, sweep = NULL, updated_at = ?3 WHERE partition_id = ?1",
            params![id, count, at, PartitionState::Split],
        )
        .map_err(Error::sqlite("mark partition split"))?;
        tx.execute("DELETE FROM rejected_records WHERE partition_id = ?1", [id])
            .map_err(Error::sqlite("clear split partition's rejected records"))?;
        for (w, criteria) in children {
            tx.execute(
                "INSERT INTO partitions (parent_id, lo, hi, id_prefix, criteria, state, created_at, updated_at, dataset)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, dataset FROM partitions WHERE partition_id = ?1",
                params![id, w.lo.to_string(), w.hi.to_string(), w.id_prefix, criteria, PartitionState::New, at],
            )
            .map_err(Error::sqlite("create child partition"))?;
        }
        tx.commit().map_err(Error::sqlite("commit split"))?;
        self.children(id)
    }

    /// Makes `id` a leaf to be paged from offset 0 against `count`, in a new sweep. Used for a
    /// freshly counted partition and for one that must be fetched again (`reason` says why,
    /// and counts as an attempt). Quarantined records of the old sweep are dropped: the new
    /// sweep meets them again if upstream still has them.
    pub fn start_leaf(&mut self, id: i64, count: u64, reason: Option<&str>) -> Result<Partition> {
        let sweep = self.next_sweep;
        self.next_sweep += 1;
        let tx = self.conn.savepoint().map_err(Error::sqlite("begin leaf"))?;
        tx.execute(
            "UPDATE partitions SET state = ?7, upstream_count = ?2, next_offset = 0, sweep = ?3,
                attempts = attempts + ?4, last_error = coalesce(?5, last_error), updated_at = ?6 WHERE partition_id = ?1",
            params![id, count, sweep, reason.is_some() as i64, reason, now(), PartitionState::Pending],
        )
        .map_err(Error::sqlite("start leaf"))?;
        tx.execute("DELETE FROM rejected_records WHERE partition_id = ?1", [id])
            .map_err(Error::sqlite("clear leaf's rejected records"))?;
        tx.commit().map_err(Error::sqlite("commit leaf start"))?;
        // The window is read again at the new sweep's first page (see [`Store::put_page`]).
        self.sweeps.end(id);
        self.partition(id)
    }

    /// The records stored in `leaf`'s window, by id: what its sweep's pages are looked up in,
    /// in a first harvest (see [`super::records::SweepMaps`]). One read of the window; none
    /// when it holds no records. Of two rows of one id (a mirror upgraded in the middle of a
    /// first harvest may hold them, when a record moved within its window) the map names the
    /// one the build of `citations_id` keeps (see [`super::indexes::KEPT_FIRST`]).
    pub(super) fn window_records(&self, leaf: &Partition) -> Result<super::records::WindowMap> {
        let (range, args) = range_clause(&leaf.window);
        let mut select = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, rowid, deleted_at FROM {} WHERE {range} ORDER BY {}",
                self.table_of(self.dataset),
                super::indexes::KEPT_FIRST
            ))
            .map_err(Error::sqlite("prepare reading a leaf's window"))?;
        let rows = select
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?)))
            })
            .map_err(Error::sqlite("read a leaf's window"))?;
        let mut map = super::records::WindowMap::default();
        for row in rows {
            let (id, row) = row.map_err(Error::sqlite("read a leaf's window"))?;
            map.entry(id.into_boxed_str()).or_insert(row);
        }
        Ok(map)
    }

    /// Marks a verified leaf done, and the records stored earlier in its window that its sweep
    /// did not see deleted (they vanished upstream or moved out of the window).
    pub fn finish_leaf(&mut self, leaf: &Partition) -> Result<()> {
        let sweep = leaf.sweep.ok_or_else(|| leaf.damaged())?;
        self.sweeps.end(leaf.id);
        let (range, args) = range_clause(&leaf.window);
        let table = self.table_of(self.dataset);
        let tx = self
            .conn
            .savepoint()
            .map_err(Error::sqlite("begin leaf check"))?;
        let at = now();
        let vanished = tx.execute(
            &format!("UPDATE {} SET deleted_at = ? WHERE {range} AND sweep <> ? AND deleted_at IS NULL", table),
            rusqlite::params_from_iter([&at].into_iter().chain(args.iter()).chain([&sweep.to_string()])),
        )
        .map_err(Error::sqlite("mark vanished records"))?;
        if let Some((run, _)) = &self.run
            && vanished > 0
        {
            tx.execute(
                "UPDATE runs SET records_deleted = records_deleted + ?2 WHERE run_id = ?1",
                params![run, vanished],
            )
            .map_err(Error::sqlite("count the run's deletions"))?;
        }
        tx.execute(
            "UPDATE partitions SET state = ?3, last_error = NULL, done_at = ?2, updated_at = ?2 WHERE partition_id = ?1",
            params![leaf.id, at, PartitionState::Done],
        )
        .map_err(Error::sqlite("mark leaf done"))?;
        tx.commit().map_err(Error::sqlite("commit leaf check"))
    }

    /// Applies what the tree decided for `p` (see [`crate::tree::step`]), in one transaction,
    /// and returns the partitions it made or changed: the parts of a split, else `p` as it now
    /// is. A transition that is not the store's to apply (a retry; a page, which is stored
    /// with its records) changes nothing and returns nothing.
    pub fn apply(&mut self, p: &Partition, t: &Transition) -> Result<Vec<Partition>> {
        match t {
            Transition::Children { count, parts } => {
                let parts: Vec<(Window, String)> = parts
                    .iter()
                    .map(|w| (w.clone(), crate::api::query::criteria(w)))
                    .collect();
                self.split(p.id, *count, &parts)
            }
            Transition::Page { count, reason } => {
                Ok(vec![self.start_leaf(p.id, *count, reason.as_deref())?])
            }
            Transition::Recount { reason } => {
                self.recount(p.id, reason)?;
                Ok(vec![self.partition(p.id)?])
            }
            Transition::Done => {
                self.finish_leaf(p)?;
                Ok(vec![self.partition(p.id)?])
            }
            Transition::Fail(failure) => {
                self.fail(p.id, &Error::from(failure.clone()).report())?;
                Ok(vec![self.partition(p.id)?])
            }
            Transition::Stay
            | Transition::Split { .. }
            | Transition::CountAgain { .. }
            | Transition::Store { .. }
            | Transition::Retry { .. }
            | Transition::LowerCap { .. }
            | Transition::Check
            | Transition::Refuse => Ok(vec![]),
        }
    }

    /// Gives up on a partition for this run, keeping its progress and the reason.
    pub fn fail(&mut self, id: i64, error: &str) -> Result<()> {
        self.sweeps.end(id);
        self.conn
            .execute(
                "UPDATE partitions SET state = ?4, last_error = ?2, updated_at = ?3 WHERE partition_id = ?1",
                params![id, error, now(), PartitionState::Failed],
            )
            .map(|_| ())
            .map_err(Error::sqlite("mark partition failed"))
    }

    /// Sends the done leaves that reach `since` or later (all of them for `None`) back to be
    /// fetched again whatever their counts say (`--recheck-recent`, `--full-refresh`), and
    /// returns how many. They are counted again first: their old count is only a hint, and
    /// upstream may now hold more than one query may page through.
    pub fn refetch_done(&mut self, since: Option<Stamp>) -> Result<usize> {
        // Their sweeps end: none of their maps can serve again.
        self.sweeps = Default::default();
        self.conn
            .execute(
                &format!(
                    "UPDATE partitions SET state = ?3, sweep = NULL, next_offset = 0, attempts = 0, updated_at = ?4
                     WHERE dataset = ?5 AND {DONE_SINCE}"
                ),
                params![
                    PartitionState::Done,
                    since_text(since),
                    PartitionState::New,
                    now(),
                    self.dataset.name
                ],
            )
            .map_err(Error::sqlite("send leaves back to be fetched again"))
    }

    /// The done leaves that reach `since` or later (all of them for `None`), in window order:
    /// what [`Store::refetch_done`] sends back.
    pub fn done_since(&self, since: Option<Stamp>) -> Result<Vec<Partition>> {
        self.select(
            &format!("WHERE {DONE_SINCE} AND dataset = ?3 ORDER BY lo, id_prefix"),
            params![PartitionState::Done, since_text(since), self.dataset.name],
        )
    }

    /// Sends a leaf back to be counted again (its count moved; it may now need splitting).
    pub fn recount(&mut self, id: i64, reason: &str) -> Result<()> {
        self.sweeps.end(id);
        self.conn
            .execute(
                "UPDATE partitions SET state = ?4, sweep = NULL, next_offset = 0, last_error = ?2, updated_at = ?3
                 WHERE partition_id = ?1",
                params![id, reason, now(), PartitionState::New],
            )
            .map(|_| ())
            .map_err(Error::sqlite("send partition back to counting"))
    }

    /// Records an error against a partition without changing its state (a split whose
    /// children do not add up, a retry).
    pub fn note_error(&mut self, id: i64, error: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE partitions SET last_error = ?2, updated_at = ?3 WHERE partition_id = ?1",
                params![id, error, now()],
            )
            .map(|_| ())
            .map_err(Error::sqlite("note partition error"))
    }
}

/// `create_date_time` between the window's bounds and, below one second, `id` within its
/// prefix; with the text arguments in order.
fn range_clause(w: &Window) -> (String, Vec<String>) {
    let mut clause = "create_date_time >= ? AND create_date_time <= ?".to_owned();
    let mut args = vec![w.lo.to_string(), w.hi.to_string()];
    if let Some(upper) = w.id_upper() {
        clause.push_str(" AND id >= ? AND id < ?");
        args.push(w.id_prefix.clone());
        args.push(upper);
    }
    (clause, args)
}

#[cfg(test)]
mod tests;
