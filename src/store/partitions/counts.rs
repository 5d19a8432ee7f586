//! Counting what the mirror holds, for comparisons with upstream's counts: a leaf's sweep, the
//! done leaves under a node, the records in a window.

use rusqlite::params;

use super::{CURRENT_REJECTS, range_clause, state_in};
use crate::error::{Error, Result};
use crate::plan::Window;
use crate::store::{Partition, PartitionState, Store};

impl Store {
    /// What the leaf's sweep holds: the records it stored plus the ones it quarantined, to be
    /// compared with its upstream count (see [`crate::tree::Observation::Stored`]).
    pub fn swept(&self, leaf: &Partition) -> Result<u64> {
        let sweep = leaf.sweep.ok_or_else(|| leaf.damaged())?;
        let (range, args) = range_clause(&leaf.window);
        let stored: u64 = self
            .conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {range} AND sweep = ?",
                    self.table_of(self.dataset)
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
                    self.table_of(self.dataset)
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
}
