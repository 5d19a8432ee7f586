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
    /// Checks that this database mirrors `source` over a window that `window` contains, and
    /// returns its root (none in a new database) with the stretches the window grows by.
    pub fn check_mirror(
        &self,
        source: &str,
        window: &Window,
    ) -> Result<(Option<Partition>, Vec<Window>)> {
        self.check_source(source)?;
        let Some(root) = self.root()? else {
            return Ok((None, vec![]));
        };
        match root.window.growth(window) {
            Some(growth) => Ok((Some(root), growth)),
            None => Err(Error::WindowMismatch {
                path: self.path.clone(),
                problem: format!(
                    "it mirrors {}; this run asks for {}, which does not contain it. A mirror's window can grow (an earlier --from, a later --to) but not shrink: use another --db for a smaller window",
                    root.window, window
                ),
            }),
        }
    }

    /// Waits (at most a second) until `now()` is later than every stamp an earlier run left:
    /// a record is revived in this run when its `deleted_at` is not before the run's start, so
    /// a run must not start in the second an earlier one deleted something.
    fn wait_for_a_new_second(&self) -> Result<()> {
        let last: Option<String> = self
            .conn
            .query_row(
                &format!(
                    "SELECT max(x) FROM (SELECT max(started_at) AS x FROM runs
                     UNION ALL SELECT max(ended_at) FROM runs
                     UNION ALL SELECT max(deleted_at) FROM {})",
                    self.dataset.table
                ),
                [],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("read the last run's stamps"))?;
        if let Some(last) = last {
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1100);
            while now() <= last && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Starts a run over `window` from `source` (see [`Store::check_mirror`]): creates the
    /// root partition on first use, or, when the window grew, a new root over the old one and
    /// the new stretches (counted and split like any new partition; what was mirrored stays
    /// and is checked by count from the new root down). Records the run and returns its id. A
    /// database holding a finished mirror is marked not complete until this run proves it
    /// again.
    pub fn begin_run(
        &mut self,
        source: &str,
        window: &Window,
        criteria: &dyn Fn(&Window) -> String,
    ) -> Result<i64> {
        let (root, growth) = self.check_mirror(source, window)?;
        self.wait_for_a_new_second()?;
        let at = now();
        let dataset = self.dataset;
        let tx = self.conn.savepoint().map_err(Error::sqlite("begin run"))?;
        let insert = |parent: Option<i64>, w: &Window, state: PartitionState| {
            tx.execute(
                "INSERT INTO partitions (parent_id, lo, hi, id_prefix, criteria, state, created_at, updated_at, dataset)
                 VALUES (?1, ?2, ?3, '', ?4, ?5, ?6, ?6, ?7)",
                params![parent, w.lo.to_string(), w.hi.to_string(), criteria(w), state, at, dataset.name],
            )
            .map(|_| tx.last_insert_rowid())
            .map_err(Error::sqlite("create partition"))
        };
        match &root {
            None => {
                insert(None, window, PartitionState::New)?;
            }
            Some(root) if !growth.is_empty() => {
                // The mirror's parts in window order: the old root, or, when earlier growth put
                // it under joins of its own, the parts those joins held; then the new stretches,
                // counted and split like any new partition. A balanced tree of joins goes over
                // them, so that a window grown every night stays shallow and a change anywhere
                // is found with a few counts.
                let mut parts = vec![];
                let mut joins = vec![];
                growth_parts(&tx, root, &mut parts, &mut joins)?;
                for w in &growth {
                    parts.push((insert(None, w, PartitionState::New)?, w.clone()));
                }
                parts.sort_by_key(|(_, w)| w.lo);
                for (id, _) in &parts {
                    tx.execute(
                        "UPDATE partitions SET parent_id = NULL WHERE partition_id = ?1",
                        [id],
                    )
                    .map_err(Error::sqlite("detach the mirror's parts"))?;
                }
                // Children before their parents (the joins were collected top down).
                for id in joins.into_iter().rev() {
                    tx.execute("DELETE FROM partitions WHERE partition_id = ?1", [id])
                        .map_err(Error::sqlite("drop an old join"))?;
                }
                join(&tx, &parts, &insert)?;
            }
            Some(_) => {}
        }
        let set = |key: &str, value: &str, overwrite: bool| {
            let key = &match key {
                "source_prefix" | "window_from" | "window_to" | "complete" => dataset.meta_key(key),
                _ => key.to_owned(),
            };
            let sql = if overwrite {
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            } else {
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING"
            };
            tx.execute(sql, params![key, value])
                .map(|_| ())
                .map_err(Error::sqlite(format!("write meta {key}")))
        };
        set("source_prefix", source, true)?;
        set("window_from", &window.lo.to_string(), true)?;
        set("window_to", &window.hi.to_string(), true)?;
        set("tool_version", env!("CARGO_PKG_VERSION"), true)?;
        set("first_run_at", &at, false)?;
        set("last_run_at", &at, true)?;
        set("complete", "false", true)?;
        // A new run gives partitions a fresh set of attempts; a failed one goes back
        // to paging from its checkpoint, or to counting when it failed before it was counted.
        // Done leaves too: one fetched again by this run (its count moved) starts afresh.
        tx.execute(
            &format!(
                "UPDATE partitions SET attempts = 0, updated_at = ?1,
                    state = CASE WHEN state <> ?2 THEN state WHEN sweep IS NULL THEN ?3 ELSE ?4 END
                 WHERE dataset = ?5 AND ({} OR attempts > 0)",
                state_in(&PartitionState::NOT_DONE)
            ),
            params![
                at,
                PartitionState::Failed,
                PartitionState::New,
                PartitionState::Pending,
                dataset.name
            ],
        )
        .map_err(Error::sqlite("reset failed partitions"))?;
        tx.execute(
            "INSERT INTO runs (started_at, window_from, window_to, dataset) VALUES (?1, ?2, ?3, ?4)",
            params![at, window.lo.to_string(), window.hi.to_string(), dataset.name],
        )
        .map_err(Error::sqlite("record run"))?;
        let run = tx.last_insert_rowid();
        tx.commit().map_err(Error::sqlite("commit run start"))?;
        self.run = Some((run, at));
        Ok(run)
    }

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
        self.partition(id)
    }

    /// What the leaf's sweep holds: the records it stored plus the ones it quarantined, to be
    /// compared with its upstream count (see [`crate::tree::Observation::Stored`]).
    pub fn swept(&self, leaf: &Partition) -> Result<u64> {
        let sweep = leaf.sweep.ok_or_else(|| not_a_leaf(leaf))?;
        let (range, args) = range_clause(&leaf.window);
        let stored: u64 = self
            .conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {range} AND sweep = ?",
                    self.dataset.table
                ),
                rusqlite::params_from_iter(args.iter().chain([&sweep.to_string()])),
                |r| r.get(0),
            )
            .map_err(Error::sqlite("count leaf records"))?;
        let rejected: u64 = self
            .conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {CURRENT_REJECTS} AND p.partition_id = ?1 AND p.sweep = ?2"
                ),
                params![leaf.id, sweep],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("count leaf rejects"))?;
        Ok(stored + rejected)
    }

    /// Marks a verified leaf done, and the records stored earlier in its window that its sweep
    /// did not see deleted (they vanished upstream or moved out of the window).
    pub fn finish_leaf(&mut self, leaf: &Partition) -> Result<()> {
        let sweep = leaf.sweep.ok_or_else(|| not_a_leaf(leaf))?;
        let (range, args) = range_clause(&leaf.window);
        let tx = self
            .conn
            .savepoint()
            .map_err(Error::sqlite("begin leaf check"))?;
        let at = now();
        let vanished = tx.execute(
            &format!("UPDATE {} SET deleted_at = ? WHERE {range} AND sweep <> ? AND deleted_at IS NULL", self.dataset.table),
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

    /// The sum of the upstream counts of the done leaves under `id` (itself included), and
    /// how many leaves under it are not done.
    pub fn leaf_totals(&self, id: i64) -> Result<(u64, u64)> {
        self.conn
            .query_row(
                &format!(
                    "WITH RECURSIVE sub(id) AS (SELECT ?1 UNION ALL SELECT p.partition_id FROM partitions p JOIN sub ON p.parent_id = sub.id)
                     SELECT ifnull(sum(CASE WHEN state = ?2 THEN upstream_count END), 0),
                            count(CASE WHEN {} THEN 1 END)
                     FROM partitions JOIN sub ON partitions.partition_id = sub.id",
                    state_in(&PartitionState::NOT_DONE)
                ),
                params![id, PartitionState::Done],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(Error::sqlite("sum leaf counts"))
    }

    /// Records mirrored in `window` (not deleted), plus the quarantined records of the leaves
    /// inside it: the local side of a count comparison with upstream.
    pub fn local_count(&self, window: &Window) -> Result<u64> {
        let (range, args) = range_clause(window);
        let stored: u64 = self
            .conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {range} AND deleted_at IS NULL",
                    self.dataset.table
                ),
                rusqlite::params_from_iter(args.iter()),
                |r| r.get(0),
            )
            .map_err(Error::sqlite("count window records"))?;
        let rejected: u64 = self
            .conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {CURRENT_REJECTS}
                     AND p.lo >= ?1 AND p.hi <= ?2 AND substr(p.id_prefix, 1, length(?3)) = ?3
                     AND p.dataset = ?4"
                ),
                params![
                    window.lo.to_string(),
                    window.hi.to_string(),
                    window.id_prefix,
                    self.dataset.name
                ],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("count window rejects"))?;
        Ok(stored + rejected)
    }

    /// Ends a run: its counters, how it ended, and, when the whole window was proven, the
    /// `complete` flag and the upstream total it was checked against.
    pub fn end_run(
        &mut self,
        run: i64,
        stats: &RunStats,
        outcome: &str,
        message: &str,
        proven_total: Option<u64>,
    ) -> Result<()> {
        let at = now();
        let tx = self
            .conn
            .savepoint()
            .map_err(Error::sqlite("begin run end"))?;
        tx.execute(
            "UPDATE runs SET ended_at = ?2, outcome = ?3, message = ?4, requests = ?5, retries = ?6, rate_limited = ?7,
                records_written = ?8, records_rejected = ?9 WHERE run_id = ?1",
            params![run, at, outcome, message, stats.requests, stats.retries, stats.rate_limited, stats.records_written, stats.records_rejected],
        )
        .map_err(Error::sqlite("record run end"))?;
        let complete = proven_total.is_some();
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = ?2",
            [complete.to_string(), self.dataset.meta_key("complete")],
        )
        .map_err(Error::sqlite("write meta complete"))?;
        if let Some(total) = proven_total {
            for (key, value) in [
                ("upstream_total", total.to_string()),
                ("verified_at", at.clone()),
            ] {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![self.dataset.meta_key(key), value],
                )
                .map_err(Error::sqlite("write meta"))?;
            }
        }
        tx.commit().map_err(Error::sqlite("commit run end"))
    }
}

/// Collects, in `parts`, the partitions directly under `node` that are not joins made by
/// window growth (a `split` without a count of its own), descending through those joins, which
/// are collected in `joins`.
fn growth_parts(
    tx: &rusqlite::Connection,
    node: &Partition,
    parts: &mut Vec<(i64, Window)>,
    joins: &mut Vec<i64>,
) -> Result<()> {
    if !(node.state == PartitionState::Split && node.count.is_none()) {
        parts.push((node.id, node.window.clone()));
        return Ok(());
    }
    joins.push(node.id);
    let children = tx
        .prepare(&format!(
            "SELECT {COLUMNS} FROM partitions WHERE parent_id = ?1"
        ))
        .and_then(|mut stmt| {
            stmt.query_map([node.id], from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(Error::sqlite("read the joins of earlier growth"))?;
    for child in &children {
        growth_parts(tx, child, parts, joins)?;
    }
    Ok(())
}

/// Inserts a partition (parent, window, state) and returns its id.
type InsertPartition<'a> = dyn Fn(Option<i64>, &Window, PartitionState) -> Result<i64> + 'a;

/// Puts a balanced tree of joins (`split` partitions without a count) over `parts`, which tile
/// a window in order; the top is the root. Returns the top's id.
fn join(
    tx: &rusqlite::Connection,
    parts: &[(i64, Window)],
    insert: &InsertPartition<'_>,
) -> Result<i64> {
    if let [(id, _)] = parts {
        return Ok(*id);
    }
    let (left, right) = parts.split_at(parts.len() / 2);
    let (l, r) = (join(tx, left, insert)?, join(tx, right, insert)?);
    let window = Window {
        lo: parts[0].1.lo,
        hi: parts[parts.len() - 1].1.hi,
        id_prefix: String::new(),
    };
    let top = insert(None, &window, PartitionState::Split)?;
    tx.execute(
        "UPDATE partitions SET parent_id = ?1 WHERE partition_id IN (?2, ?3)",
        params![top, l, r],
    )
    .map_err(Error::sqlite("join the mirror's parts"))?;
    Ok(top)
}

/// The error for a row that should be a leaf and is not: only a damaged database holds one.
fn not_a_leaf(p: &Partition) -> Error {
    Error::UnknownState {
        partition: p.id,
        state: format!("{} without a sweep", p.state.as_str()),
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
mod tests {
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn each_state_has_one_stored_text_and_back() {
        for state in PartitionState::ALL {
            assert_eq!(PartitionState::parse(state.as_str()), Some(state));
        }
        for text in ["", "New", "bogus", "done "] {
            assert_eq!(PartitionState::parse(text), None, "{text:?}");
        }
        assert!(!PartitionState::NOT_DONE.contains(&PartitionState::Split));
        assert!(!PartitionState::NOT_DONE.contains(&PartitionState::Done));
        assert_eq!(
            state_in(&PartitionState::NOT_DONE),
            "state IN ('new', 'pending', 'failed')"
        );
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 7, d).unwrap()
    }

    /// A new mirror of 2025-07-01..=02 with its root split in two leaves.
    fn two_leaves() -> (tempfile::TempDir, Store, Partition, Partition) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("p.db")).unwrap();
        let window = Window::days(day(1), day(2));
        store.begin_run("src", &window, &|_| "q".into()).unwrap();
        let root = store.root().unwrap().unwrap();
        assert_eq!(root.state, PartitionState::New);
        let parts = vec![
            (Window::days(day(1), day(1)), "a".to_owned()),
            (Window::days(day(2), day(2)), "b".to_owned()),
        ];
        let children = store.split(root.id, 20, &parts).unwrap();
        assert_eq!(
            store.partition(root.id).unwrap().state,
            PartitionState::Split
        );
        let [a, b] = <[Partition; 2]>::try_from(children).unwrap();
        assert_eq!(
            (a.state, b.state),
            (PartitionState::New, PartitionState::New)
        );
        (dir, store, a, b)
    }

    fn states(store: &Store, ids: &[i64]) -> Vec<PartitionState> {
        ids.iter()
            .map(|&id| store.partition(id).unwrap().state)
            .collect()
    }

    #[test]
    fn a_leaf_goes_from_new_through_pending_to_done_or_failed() {
        let (_dir, mut store, a, b) = two_leaves();
        assert_eq!(store.unfinished().unwrap().len(), 2);
        // An empty leaf agrees with a count of 0 at once.
        let a = store.start_leaf(a.id, 0, None).unwrap();
        assert_eq!(a.state, PartitionState::Pending);
        assert_eq!(store.swept(&a).unwrap(), 0);
        store.finish_leaf(&a).unwrap();
        // A quarantined record of the leaf's sweep counts; one of an older sweep does not.
        let b = store.start_leaf(b.id, 2, None).unwrap();
        for sweep in [b.sweep.unwrap(), b.sweep.unwrap() - 100] {
            store
                .conn
                .execute(
                    "INSERT INTO rejected_records (partition_id, sweep, reason, raw_json, seen_at)
                     VALUES (?1, ?2, 'bad', '{}', '')",
                    params![b.id, sweep],
                )
                .unwrap();
        }
        assert_eq!(store.swept(&b).unwrap(), 1);
        assert_eq!(store.local_count(&b.window).unwrap(), 1);
        store.fail(b.id, "gave up").unwrap();
        assert_eq!(
            states(&store, &[a.id, b.id]),
            [PartitionState::Done, PartitionState::Failed]
        );
        assert!(store.unfinished().unwrap().is_empty());
        assert_eq!(store.unfinished_or_failed().unwrap().len(), 1);
        let root = store.root().unwrap().unwrap();
        assert_eq!(store.leaf_totals(root.id).unwrap(), (0, 1));

        // The next run sends the failed leaf (it has a sweep) back to paging.
        store
            .begin_run("src", &root.window, &|_| "q".into())
            .unwrap();
        assert_eq!(states(&store, &[b.id]), [PartitionState::Pending]);
        // A count that moved sends a leaf back to counting.
        store.recount(b.id, "moved").unwrap();
        assert_eq!(states(&store, &[b.id]), [PartitionState::New]);
    }

    #[test]
    fn done_leaves_can_be_sent_back_to_be_fetched_again() {
        let (_dir, mut store, a, b) = two_leaves();
        for leaf in [a, b] {
            let leaf = store.start_leaf(leaf.id, 0, None).unwrap();
            store.finish_leaf(&leaf).unwrap();
        }
        let root = store.root().unwrap().unwrap();
        assert_eq!(store.leaf_totals(root.id).unwrap(), (0, 0));
        let since = Some(Stamp::start_of(day(2)));
        let recent = store.done_since(since).unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(store.refetch_done(since).unwrap(), 1);
        assert_eq!(states(&store, &[recent[0].id]), [PartitionState::New]);
        assert_eq!(store.done_since(None).unwrap().len(), 1);
    }

    #[test]
    fn an_unknown_stored_state_is_an_error() {
        let (_dir, store, a, _) = two_leaves();
        store
            .conn
            .execute_batch("PRAGMA ignore_check_constraints = ON")
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE partitions SET state = 'bogus' WHERE partition_id = ?1",
                [a.id],
            )
            .unwrap();
        let e = store.partition(a.id).unwrap_err();
        let text = crate::error::report(&e);
        assert!(text.contains("unknown state \"bogus\""), "{text}");
        let e = store.status().unwrap_err();
        assert!(
            matches!(&e, Error::UnknownState { partition, .. } if *partition == a.id),
            "{e}"
        );
    }
}
