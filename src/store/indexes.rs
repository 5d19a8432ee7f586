//! The indexes only queries need: the harvest never reads through them, so a first harvest
//! goes without them and builds them once, sorted, when the mirror is first proven complete.
//! Maintaining them record by record costs a first harvest a third of its writes; building one
//! from the finished table is a single sorted pass. A mirror that has been complete once keeps
//! them for good (a refresh maintains them as it goes), and `pack` builds any that are missing
//! in the copy it hands off.

use rusqlite::Connection;

use super::Store;
use crate::error::{Error, Result};

/// Each index's name and definition, exactly as the migrations create them.
pub const QUERY_INDEXES: [(&str, &str); 8] = [
    // A record by its id: for the people who query the mirror, and for a refresh, which finds
    // by it a record wherever it moved; it holds the ids unique once the mirror is complete.
    (
        "citations_id",
        "CREATE UNIQUE INDEX IF NOT EXISTS citations_id ON citation_records (id)",
    ),
    (
        "citations_office_action",
        "CREATE INDEX IF NOT EXISTS citations_office_action ON citation_records (office_action_id)",
    ),
    (
        "citations_reference",
        "CREATE INDEX IF NOT EXISTS citations_reference ON citation_records (reference_id)",
    ),
    (
        "cited_references_parsed",
        "CREATE INDEX IF NOT EXISTS cited_references_parsed ON cited_references (parsed_reference_identifier)",
    ),
    (
        "cited_references_document",
        "CREATE INDEX IF NOT EXISTS cited_references_document ON cited_references (document_number, country)",
    ),
    (
        "office_actions_application",
        "CREATE INDEX IF NOT EXISTS office_actions_application ON office_actions (patent_application_number)",
    ),
    (
        "office_actions_document",
        "CREATE INDEX IF NOT EXISTS office_actions_document ON office_actions (obsolete_document_identifier)",
    ),
    (
        "office_actions_art_unit",
        "CREATE INDEX IF NOT EXISTS office_actions_art_unit ON office_actions (tech_center, group_art_unit_number)",
    ),
];

impl Store {
    /// Drops the query indexes when this mirror has never been proven complete (its first
    /// harvest, or the rest of one that was stopped): records then cost only the writes the
    /// harvest needs. Returns whether it did.
    ///
    /// A mirror proven complete keeps them, and builds any that are missing: the run that
    /// proved it commits that before it builds them, so a kill in between leaves a complete
    /// mirror without them, which a later run that ends incomplete would not otherwise mend.
    pub fn defer_query_indexes(&mut self) -> Result<bool> {
        if self.meta("verified_at")?.is_some() {
            self.build_query_indexes()?;
            return Ok(false);
        }
        let tx = self
            .conn
            .savepoint()
            .map_err(Error::sqlite("begin dropping the query indexes"))?;
        for (name, _) in QUERY_INDEXES {
            tx.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))
                .map_err(Error::sqlite(format!("drop index {name}")))?;
        }
        tx.commit()
            .map_err(Error::sqlite("commit dropping the query indexes"))?;
        Ok(true)
    }

    /// Builds the query indexes that are missing; returns how many it built. The copies of a
    /// record that moved during a first harvest are merged first (see [`merge_moved`]), and
    /// the run being recorded counts the merge as the update it was.
    pub fn build_query_indexes(&mut self) -> Result<usize> {
        self.flush()?;
        // A merge of moved copies removes rows that the sweeps' maps may name.
        self.sweeps = Default::default();
        build(&self.conn, self.run.as_ref())
    }
}

/// Builds the query indexes missing from `conn`'s database; returns how many it built.
pub fn build_missing(conn: &Connection) -> Result<usize> {
    build(conn, None)
}

fn build(conn: &Connection, run: Option<&(i64, String)>) -> Result<usize> {
    bounded_sorts(conn, || build_each(conn, run))
}

/// The memory, in KiB, an index build's sorts hold before they spill to a file.
const SORT_KIB: i64 = 16 * 1024;

/// Runs `work`, whose sorts (an index built, duplicates found) then hold at most
/// [`SORT_KIB`] before they spill to a temporary file, with the page cache cut to as much
/// meanwhile (SQLite sizes a sorter's memory by the page cache). With `temp_store = MEMORY`,
/// which a harvest sets for its statement journals, SQLite's sorter never spills: building
/// `citations_id` held every id of the table in memory at once (about 60 bytes a record: 8 GB
/// at 133 M records). The bound is small because the memory the page cache gives up is not
/// handed back to the system: a sorter's memory comes on top of it (measured: half of a 128 MB
/// cache for sorting put the peak of a 1,000,000-record harvest in its index builds).
pub(super) fn bounded_sorts<T>(conn: &Connection, work: impl FnOnce() -> Result<T>) -> Result<T> {
    let read = |pragma: &str| -> Result<i64> {
        conn.pragma_query_value(None, pragma, |r| r.get(0))
            .map_err(Error::sqlite(format!("read {pragma}")))
    };
    let set = |pragma: &str, value: i64| -> Result<()> {
        conn.pragma_update(None, pragma, value)
            .map_err(Error::sqlite(format!("set {pragma}")))
    };
    let (temp_store, cache_size) = (read("temp_store")?, read("cache_size")?);
    // A cache size is in KiB when negative and in pages when positive; a smaller cache than
    // the bound stays as it is.
    let kib = if cache_size < 0 {
        -cache_size
    } else {
        cache_size * read("page_size")? / 1024
    };
    // Both settings come back whatever failed: the work, or cutting them.
    let restore = || {
        let cache = set("cache_size", cache_size);
        let temp = set("temp_store", temp_store);
        cache.and(temp)
    };
    // temp_store 1 is FILE.
    if let Err(e) = set("temp_store", 1).and_then(|()| set("cache_size", -kib.min(SORT_KIB))) {
        let _ = restore();
        return Err(e);
    }
    give_back_freed_memory(conn);
    let result = work();
    let restored = restore();
    let value = result?;
    restored.map(|()| value)
}

/// Hands the memory of the page cache just cut back to the system: SQLite frees the pages to
/// the C allocator, which keeps them, so that an index build's sorter came on top of the whole
/// cache (measured: the builds were the peak RSS of a 1,000,000-record harvest, 20 to 40 MB
/// above the harvest's own). Best effort: on a system without glibc the memory stays where it
/// is.
fn give_back_freed_memory(conn: &Connection) {
    let _ = conn.execute_batch("PRAGMA shrink_memory");
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the C allocator to the system; it
    // touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn build_each(conn: &Connection, run: Option<&(i64, String)>) -> Result<usize> {
    let mut built = 0;
    for (name, sql) in QUERY_INDEXES {
        if has_index(conn, name)? {
            continue;
        }
        let first = conn.execute_batch(sql);
        let unique_failed = matches!(&first, Err(e)
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation));
        if name == "citations_id" && unique_failed {
            let merged = merge_moved(conn, run)?;
            tracing::info!(
                merged,
                "merged the copies of records that moved between windows during the first harvest"
            );
            conn.execute_batch(sql)
        } else {
            first
        }
        .map_err(Error::sqlite(format!("build index {name}")))?;
        built += 1;
    }
    Ok(built)
}

/// True when `conn`'s database has the index `name`.
pub(super) fn has_index(conn: &Connection, name: &str) -> Result<bool> {
    conn.prepare_cached("SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'index' AND name = ?1")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)))
        .map_err(Error::sqlite("read the schema"))
}

/// Of the rows of one id, the one kept (by [`merge_moved`], and by a first harvest's sweep that
/// finds them both in its window) comes first in this order: the live one (not marked deleted)
/// of the latest sweep, the newest of those.
pub(super) const KEPT_FIRST: &str = "deleted_at IS NOT NULL, sweep DESC, rowid DESC";

/// Merges the rows that share an id into one, and returns how many rows it removed.
///
/// Before the mirror has `citations_id`, the write path finds a record in its leaf's window
/// (see `store::records`): a record whose `create_date_time` upstream changed between the
/// fetches of its old and its new window is stored twice, once in each.
/// Of such rows the one kept is the first in [`KEPT_FIRST`]: what the update in place of a
/// found record would have left. For the run recording (`run`),
/// each removed row was an update, not an addition, and a removed row this run had marked
/// deleted was not a deletion either.
fn merge_moved(conn: &Connection, run: Option<&(i64, String)>) -> Result<u64> {
    let sql = format!(
        "CREATE TEMP TABLE merged_away AS
        SELECT rowid AS row, deleted_at FROM (
            SELECT rowid, deleted_at, row_number() OVER (PARTITION BY id ORDER BY {KEPT_FIRST}) AS n
            FROM citation_records WHERE id IN (SELECT id FROM citation_records GROUP BY id HAVING count(*) > 1))
        WHERE n > 1"
    );
    let merge = || -> rusqlite::Result<u64> {
        conn.execute_batch(&sql)?;
        if let Some((run, started)) = run {
            conn.execute(
                "UPDATE runs SET records_added = records_added - m.n, records_updated = records_updated + m.n,
                    records_deleted = records_deleted - m.revived
                 FROM (SELECT count(*) AS n, count(CASE WHEN deleted_at >= ?2 THEN 1 END) AS revived
                       FROM temp.merged_away) AS m
                 WHERE run_id = ?1",
                rusqlite::params![run, started],
            )?;
        }
        let removed = conn.execute(
            "DELETE FROM citation_records WHERE rowid IN (SELECT row FROM temp.merged_away)",
            [],
        )?;
        conn.execute_batch("DROP TABLE temp.merged_away")?;
        Ok(removed as u64)
    };
    // A savepoint, not a transaction: `pack` builds the indexes inside one of its own.
    conn.execute_batch("SAVEPOINT merge_moved")
        .map_err(Error::sqlite("begin merging moved records"))?;
    match merge() {
        Ok(removed) => conn
            .execute_batch("RELEASE merge_moved")
            .map(|()| removed)
            .map_err(Error::sqlite("commit merging moved records")),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO merge_moved; RELEASE merge_moved");
            Err(Error::sqlite("merge moved records")(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definitions here are the migrations' own: a mirror whose indexes were dropped and
    /// built again has the schema a new one has.
    #[test]
    fn rebuilt_indexes_match_the_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut store = Store::open(&path).unwrap();
        let schema = |store: &Store| -> Vec<(String, String)> {
            store
                .conn
                .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        let before = schema(&store);
        for (name, _) in QUERY_INDEXES {
            assert!(
                before.iter().any(|(n, _)| n == name),
                "{name} is not in the migrations"
            );
        }
        assert!(
            store.defer_query_indexes().unwrap(),
            "a new mirror defers them"
        );
        let deferred = schema(&store);
        assert_eq!(deferred.len(), before.len() - QUERY_INDEXES.len());
        assert_eq!(store.build_query_indexes().unwrap(), QUERY_INDEXES.len());
        assert_eq!(store.build_query_indexes().unwrap(), 0, "built once");
        let normalize = |v: Vec<(String, String)>| -> Vec<(String, String)> {
            v.into_iter()
                .map(|(n, sql)| (n, sql.replace("IF NOT EXISTS ", "")))
                .collect()
        };
        assert_eq!(normalize(schema(&store)), normalize(before));
    }

    /// The sorts of an index build spill to a file past [`SORT_KIB`], and the page cache is
    /// cut to as much meanwhile: with the harvest's `temp_store = MEMORY` SQLite's sorter
    /// would hold every key in memory. Both settings come back after, also when the work fails.
    #[test]
    fn index_builds_sort_in_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.db")).unwrap();
        store.tune_for_harvest(64).unwrap();
        let conn = &store.conn;
        let settings = || -> (i64, i64) {
            (
                conn.pragma_query_value(None, "temp_store", |r| r.get(0))
                    .unwrap(),
                conn.pragma_query_value(None, "cache_size", |r| r.get(0))
                    .unwrap(),
            )
        };
        assert_eq!(settings(), (2, -64 * 1024), "the harvest's settings");
        let during = bounded_sorts(conn, || Ok(settings())).unwrap();
        assert_eq!(during, (1, -SORT_KIB), "a file past a small cache");
        assert_eq!(settings(), (2, -64 * 1024), "restored");
        let failed: Result<()> = bounded_sorts(conn, || Err(Error::Interrupted));
        assert!(failed.is_err());
        assert_eq!(settings(), (2, -64 * 1024), "restored after a failure");
    }

    /// In a first harvest (no `citations_id`) a leaf's window is read through the index in
    /// time order, and a leaf's records of one sweep are counted from that index alone.
    #[test]
    fn a_first_harvest_reads_the_index_in_time_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        assert!(store.defer_query_indexes().unwrap());
        let plan = |sql: &str| -> String {
            store
                .conn
                .query_row(&format!("EXPLAIN QUERY PLAN {sql}"), [], |r| r.get(3))
                .unwrap()
        };
        let window = plan(
            "SELECT id, rowid, deleted_at FROM citation_records WHERE create_date_time >= '1' AND create_date_time <= '2'",
        );
        assert!(
            window.contains(
                "INDEX citations_create_date_time (create_date_time>? AND create_date_time<?)"
            ),
            "{window}"
        );
        let swept = plan(
            "SELECT count(*) FROM citation_records WHERE create_date_time >= '1' AND create_date_time <= '2' AND sweep = 1",
        );
        assert!(
            swept.contains("COVERING INDEX citations_create_date_time"),
            "{swept}"
        );
    }

    /// A mirror that was proven complete once keeps its indexes.
    #[test]
    fn a_complete_mirror_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("m.db")).unwrap();
        store
            .conn
            .execute(
                "INSERT INTO meta (key, value) VALUES ('verified_at', '2026-01-01T00:00:00Z')
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [],
            )
            .unwrap();
        assert!(!store.defer_query_indexes().unwrap());
        assert_eq!(store.build_query_indexes().unwrap(), 0);
    }
}
