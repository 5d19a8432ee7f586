//! The SQLite side: opening and migrating the database, the checkpoint (partitions), record
//! upserts and the status queries. All of it is blocking; during a harvest one [`Store`] lives on
//! the writer thread ([`writer::Writer`]) and nothing else writes.
//!
//! The store never talks HTTP; it is told what upstream said (counts, pages) and records it, each
//! page in one transaction with the checkpoint that describes it.

mod dimensions;
mod family;
mod family_docs;
mod identity;
pub mod indexes;
pub mod key;
pub mod lock;
mod migrate;
mod partitions;
mod records;
mod status;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::dataset::{self, Dataset};
use crate::error::{Error, Result};

use identity::{
    Found, cannot_write_beside, check_path, identify, immutable_will_do, open_immutable,
};

pub(crate) use partitions::{CURRENT_REJECTS, state_in};
pub use partitions::{Partition, PartitionState, RunStats};
pub use status::{DatasetStatus, FailedPartition, Packed, RunSummary, Status};

/// WAL pages between automatic checkpoints during a harvest (SQLite's default is 1,000): about
/// 80 MB of WAL with 4 KB pages.
pub const WAL_CHECKPOINT_PAGES: i64 = 20_000;
/// The size a WAL is cut back to after a checkpoint.
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// An open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    caches: dimensions::Caches,
    /// The data set whose partitions and records the harvest methods work on (see
    /// [`Store::set_dataset`]).
    dataset: &'static Dataset,
    family: family::FamilyCaches,
    /// The table of the citations' records: `citation_records`, or, in a store opened read-only
    /// on a schema older than migration 0007, `citations` (see [`Store::table_of`]).
    citations_table: &'static str,
    /// The records stored in the windows of a first harvest's sweeps (see
    /// [`records::SweepMaps`]).
    sweeps: records::SweepMaps,
    next_sweep: i64,
    /// The run this store is recording (see `begin_run`) and when it started: pages and
    /// leaves add what they changed to its row.
    run: Option<(i64, String)>,
    /// When the open batch of pages began (see [`Store::flush`]).
    batch: Option<std::time::Instant>,
    /// Held by a store opened for harvesting: no second harvest while it lives.
    _lock: Option<lock::HarvestLock>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database for harvesting: takes the harvest
    /// lock (see [`lock`]), then WAL, `synchronous=NORMAL`, foreign keys on.
    pub fn open(path: &Path) -> Result<Store> {
        check_path(path)?;
        Store::open_with_journal(path, "WAL", true)
    }

    /// Opens and migrates a copy that is being prepared for hand-off (`oac-mirror pack`): like
    /// [`Store::open`], but with the rollback journal instead of WAL, so that the finished file
    /// is one self-contained file that opens read-only anywhere, and without the harvest lock
    /// (the copy is private to the pack, and a lock file would be left beside it).
    pub fn open_handoff(path: &Path) -> Result<Store> {
        Store::open_with_journal(path, "DELETE", false)
    }

    /// Opens `path` for writing. Nothing is written (no pragma, no lock file) before the file
    /// is known to be new or an oac-mirror database (see [`identify`]); `harvest` takes the
    /// harvest lock and refuses a packed copy.
    fn open_with_journal(path: &Path, journal_mode: &str, harvest: bool) -> Result<Store> {
        let conn =
            Connection::open(path).map_err(Error::sqlite(format!("open {}", path.display())))?;
        let found = identify(&conn, path)?;
        if harvest && found == Found::Packed {
            return Err(Error::NotAMirror {
                path: path.to_owned(),
                problem: "it is a packed hand-off copy, without the harvest's working tables; \
                          harvest into the original mirror"
                    .into(),
            });
        }
        let lock = if harvest {
            Some(lock::HarvestLock::acquire(path)?)
        } else {
            None
        };
        conn.pragma_update(None, "journal_mode", journal_mode)
            .map_err(Error::sqlite(format!("set journal mode {journal_mode}")))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(Error::sqlite("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(Error::sqlite("enable foreign keys"))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(Error::sqlite("set busy timeout"))?;
        key::register(&conn)?;
        let mut store = Store {
            citations_table: dataset::CITATIONS.table,
            conn,
            path: path.to_owned(),
            caches: Default::default(),
            dataset: &dataset::CITATIONS,
            family: Default::default(),
            sweeps: Default::default(),
            next_sweep: 0,
            run: None,
            batch: None,
            _lock: lock,
        };
        store.migrate()?;
        store.next_sweep = store
            .conn
            .query_row(
                "SELECT ifnull(max(sweep), 0) + 1 FROM partitions",
                [],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("read sweeps"))?;
        Ok(store)
    }

    /// Opens an existing database without writing to it (for `status` and exports).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        check_path(path)?;
        if !path.exists() {
            return Err(Error::NoMirror {
                path: path.to_owned(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(Error::sqlite(format!("open {}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(Error::sqlite("set busy timeout"))?;
        let (conn, found) = match identify(&conn, path) {
            Err(e) if cannot_write_beside(&e) && immutable_will_do(path) => {
                drop(conn);
                let conn = open_immutable(path).map_err(|_| e)?;
                let found = identify(&conn, path)?;
                (conn, found)
            }
            other => (conn, other?),
        };
        if found == Found::New {
            return Err(Error::NotAMirror {
                path: path.to_owned(),
                problem: "it has no oac-mirror schema (PRAGMA user_version is 0)".into(),
            });
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(Error::sqlite("read schema version"))?;
        Ok(Store {
            citations_table: if version < 7 {
                "citations"
            } else {
                dataset::CITATIONS.table
            },
            conn,
            path: path.to_owned(),
            caches: Default::default(),
            dataset: &dataset::CITATIONS,
            family: Default::default(),
            sweeps: Default::default(),
            next_sweep: 0,
            run: None,
            batch: None,
            _lock: None,
        })
    }

    /// Sizes SQLite for a harvest's bulk writes: a page cache of `cache_mb` MB, so that the
    /// index pages a page of records touches stay in memory instead of being read back; statement
    /// journals in memory; and a WAL checkpointed every [`WAL_CHECKPOINT_PAGES`] pages rather than
    /// every 1,000, then cut back to [`WAL_SIZE_LIMIT`] bytes, so that a hot index page is copied
    /// to the database file once per checkpoint, not once per commit. Foreign keys are not
    /// enforced while harvesting: the writer stores every application, action and reference
    /// before the records that point to it, in the same transaction, and checking costs two
    /// index lookups per record (the tests check the finished mirror with
    /// `PRAGMA foreign_key_check`).
    pub fn tune_for_harvest(&self, cache_mb: u32) -> Result<()> {
        self.conn
            .pragma_update(None, "foreign_keys", false)
            .map_err(Error::sqlite("set foreign_keys"))?;
        let kib = -(i64::from(cache_mb) * 1024);
        self.conn
            .pragma_update(None, "cache_size", kib)
            .map_err(Error::sqlite("set cache_size"))?;
        self.conn
            .pragma_update(None, "temp_store", "MEMORY")
            .map_err(Error::sqlite("set temp_store"))?;
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(Error::sqlite("set wal_autocheckpoint"))?;
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
            .map_err(Error::sqlite("set journal_size_limit"))
    }

    /// Opens a batch of pages unless one is open: one transaction that pages join as
    /// savepoints, committed by [`Store::flush`] within [`writer::BATCH_WINDOW`]. Every write
    /// of the store runs in a savepoint, inside the batch when one is open: a page and its
    /// checkpoint still commit together, and a kill loses at most the batch, whose pages are
    /// fetched again from the last committed checkpoint.
    pub(crate) fn begin_batch(&mut self) -> Result<()> {
        if self.batch.is_none() && self._lock.is_some() {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(Error::sqlite("begin a batch of pages"))?;
            self.batch = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// How long until the open batch is due to be committed: `None` without one, zero when due.
    pub fn batch_due_in(&self) -> Option<std::time::Duration> {
        self.batch
            .map(|started| writer::BATCH_WINDOW.saturating_sub(started.elapsed()))
    }

    /// Commits the open batch of pages, if any. When that fails nothing of the batch is kept:
    /// its pages are fetched again, and the dimension ids cached meanwhile are forgotten.
    pub fn flush(&mut self) -> Result<()> {
        if self.batch.take().is_none() {
            return Ok(());
        }
        let committed = self
            .conn
            .execute_batch("COMMIT")
            .map_err(Error::sqlite("commit a batch of pages"));
        if committed.is_err() {
            self.batch = Some(std::time::Instant::now());
            self.abandon_batch();
        }
        committed
    }

    /// True when the open batch is gone though it was never committed: SQLite rolls a
    /// transaction back by itself after some errors (a full disk, an I/O error). The pages
    /// answered as stored since the last commit are then lost, and nothing may be written on
    /// top of them (see [`writer`]).
    pub fn batch_lost(&self) -> bool {
        self.batch.is_some() && self.conn.is_autocommit()
    }

    /// Rolls the open batch back after a page failed half-written, and leaves it lost (see
    /// [`Store::batch_lost`]): the pages answered as stored since the last commit are gone with
    /// it, so nothing more may be written in this run; the writer thread stops, and the next
    /// run continues from the last commit, as after a kill.
    pub(crate) fn lose_batch(&mut self) {
        if self.batch.is_some() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.forget_cached_ids();
    }

    /// Forgets every dimension id cached since the last commit (a rollback may have taken
    /// their rows).
    fn forget_cached_ids(&mut self) {
        self.caches = Default::default();
        self.sweeps = Default::default();
        self.family.forget_actions();
    }

    /// Rolls the open batch back (the commit failed, or SQLite rolled it back itself): its
    /// checkpoints roll back with its records, so its pages are fetched again; the dimension
    /// ids cached meanwhile are forgotten.
    fn abandon_batch(&mut self) {
        if self.batch.take().is_some() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.forget_cached_ids();
    }

    /// Makes `dataset` the one the harvest methods (partitions, pages, counts, runs) work on.
    pub fn set_dataset(&mut self, dataset: &'static Dataset) {
        self.dataset = dataset;
    }

    /// The data set the harvest methods work on.
    pub fn dataset(&self) -> &'static Dataset {
        self.dataset
    }

    /// The table that holds `d`'s records: its own, but for the citations of a mirror opened
    /// read-only that this version has not migrated (before migration 0007 they were in
    /// `citations`, now a view of the same columns over `citation_records`).
    pub(super) fn table_of(&self, d: &Dataset) -> &'static str {
        if d.is_citations() {
            self.citations_table
        } else {
            d.table
        }
    }

    /// Commits the open batch, then copies the WAL into the database and empties it, so that a
    /// finished run leaves no large `-wal` file beside the mirror.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.flush()?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(Error::sqlite("checkpoint the WAL"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for tests and read-only queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map(Option::flatten)
            .map_err(Error::sqlite(format!("read meta {key}")))
    }
}

impl Drop for Store {
    /// A store dropped with an open batch commits it (a writer thread that ends normally has
    /// done so already).
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(error = %e.report(), "committing the last batch of pages failed; they are fetched again");
        }
    }
}

/// Now, as stored in every `*_at` column: UTC, second resolution, RFC 3339.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
