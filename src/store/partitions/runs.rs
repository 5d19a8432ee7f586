//! The runs: starting one (the root, window growth, `meta`), and ending one (its counters and,
//! when proven, the mirror's `complete` flag).

use rusqlite::params;

use super::{COLUMNS, from_row, state_in};
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::plan::Window;
use crate::store::{Partition, PartitionState, RunStats, Store, now};

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
                    self.table_of(self.dataset)
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
            Some(root) if !growth.is_empty() => grow(&tx, root, &growth, &insert)?,
            Some(_) => {}
        }
        write_run_meta(&tx, dataset, source, window, &at)?;
        reset_attempts(&tx, dataset, &at)?;
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

/// Puts the mirror's parts and the stretches `growth` adds under a new root. The mirror's
/// parts, in window order: the old root, or, when earlier growth put it under joins of its own,
/// the parts those joins held; then the new stretches, counted and split like any new
/// partition. A balanced tree of joins goes over them, so that a window grown every night stays
/// shallow and a change anywhere is found with a few counts.
fn grow(
    tx: &rusqlite::Connection,
    root: &Partition,
    growth: &[Window],
    insert: &InsertPartition<'_>,
) -> Result<()> {
    let mut parts = vec![];
    let mut joins = vec![];
    growth_parts(tx, root, &mut parts, &mut joins)?;
    for w in growth {
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
    join(tx, &parts, insert)?;
    Ok(())
}

/// Writes what a run's start says about the mirror into `meta`: its source and window, the
/// tool's version, when runs started, and that it is not complete until this run proves it.
fn write_run_meta(
    tx: &rusqlite::Connection,
    dataset: &Dataset,
    source: &str,
    window: &Window,
    at: &str,
) -> Result<()> {
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
    set("first_run_at", at, false)?;
    set("last_run_at", at, true)?;
    set("complete", "false", true)
}

/// A new run gives partitions a fresh set of attempts; a failed one goes back to paging from
/// its checkpoint, or to counting when it failed before it was counted. Done leaves too: one
/// fetched again by this run (its count moved) starts afresh.
fn reset_attempts(tx: &rusqlite::Connection, dataset: &Dataset, at: &str) -> Result<()> {
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
    .map(|_| ())
    .map_err(Error::sqlite("reset failed partitions"))
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
