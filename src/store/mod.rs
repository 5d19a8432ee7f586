//! The SQLite side: opening and migrating the database, the checkpoint (partitions), record
//! upserts and the status queries. All of it is blocking; during a harvest one [`Store`] lives on
//! the writer thread ([`writer::Writer`]) and nothing else writes.
//!
//! The store never talks HTTP; it is told what upstream said (counts, pages) and records it, each
//! page in one transaction with the checkpoint that describes it.

mod family;
pub mod indexes;
pub mod lock;
mod partitions;
mod records;
mod status;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::dataset::{self, Dataset};
use crate::error::{Error, Result};

pub(crate) use partitions::{CURRENT_REJECTS, state_in};
pub use partitions::{Partition, PartitionState, RunStats};
pub use status::{DatasetStatus, FailedPartition, Packed, RunSummary, Status};

/// The numbered SQL files in `migrations/`, in order. Never edit or reorder a released one;
/// add a new one.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_handoff.sql"),
    include_str!("../../migrations/0003_refresh.sql"),
    include_str!("../../migrations/0004_family.sql"),
];

/// WAL pages between automatic checkpoints during a harvest (SQLite's default is 1,000): about
/// 80 MB of WAL with 4 KB pages.
pub const WAL_CHECKPOINT_PAGES: i64 = 20_000;
/// The size a WAL is cut back to after a checkpoint.
pub const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// An open database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    caches: records::Caches,
    /// The data set whose partitions and records the harvest methods work on (see
    /// [`Store::set_dataset`]).
    dataset: &'static Dataset,
    family: family::FamilyCaches,
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
        let mut store = Store {
            conn,
            path: path.to_owned(),
            caches: Default::default(),
            dataset: &dataset::CITATIONS,
            family: Default::default(),
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
        Ok(Store {
            conn,
            path: path.to_owned(),
            caches: Default::default(),
            dataset: &dataset::CITATIONS,
            family: Default::default(),
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

    /// Applies the migrations newer than `PRAGMA user_version`, all in one exclusive transaction.
    fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .map_err(Error::sqlite("begin migration"))?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(Error::sqlite("read schema version"))?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql)
                .map_err(Error::sqlite(format!("apply migration {}", i + 1)))?;
            after_migration(&tx, i + 1)?;
        }
        tx.pragma_update(None, "user_version", known)
            .map_err(Error::sqlite("record schema version"))?;
        tx.commit().map_err(Error::sqlite("commit migration"))
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

/// True when a read-only open failed because SQLite cannot write beside the file: a WAL
/// database needs its `-shm` file, which a read-only directory or file system refuses.
fn cannot_write_beside(e: &Error) -> bool {
    match e {
        Error::Sqlite { source, .. } => matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
        ),
        _ => false,
    }
}

/// True when nothing is waiting in a `-wal` file beside `path`, so that reading the file
/// alone (immutable) reads everything.
fn immutable_will_do(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(true, |m| m.len() == 0)
}

/// Opens `path` as an immutable file (no locks, no `-shm`): for a mirror in a directory this
/// process cannot write.
fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut uri = String::from("file:");
    for byte in absolute.to_string_lossy().bytes() {
        match byte {
            b'?' | b'#' | b'%' => uri.push_str(&format!("%{byte:02X}")),
            _ => uri.push(byte as char),
        }
    }
    uri.push_str("?immutable=1");
    Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
}

/// Refuses a `--db` that cannot hold a database: a directory, or a file in a directory that
/// does not exist (SQLite would say only "unable to open").
fn check_path(path: &Path) -> Result<()> {
    let refuse = |problem: String| {
        Err(Error::DbPath {
            path: path.to_owned(),
            problem,
        })
    };
    if path.is_dir() {
        return refuse("is a directory; name a database file".into());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.exists() {
        return refuse(format!("the directory {} does not exist", dir.display()));
    }
    if !dir.is_dir() {
        return refuse(format!("{} is not a directory", dir.display()));
    }
    Ok(())
}

/// What a file opened as a database holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// Nothing yet: a new (or empty) file.
    New,
    /// A mirror with the harvest's working tables.
    Mirror,
    /// A packed hand-off copy: a mirror without them.
    Packed,
}

/// The tables (with the columns read from them) that make a file an oac-mirror database, as
/// the first migration made them. A file with another application's tables is recognised by
/// their absence, not by its `user_version`, which any application may set.
const IDENTITY: &[(&str, &[&str])] = &[
    ("meta", &["key", "value"]),
    (
        "citations",
        &["id", "office_action_id", "reference_id", "create_date_time"],
    ),
];

/// The harvest's working table that a packed copy leaves out, with the columns read from it.
const WORKING: (&str, &[&str]) = (
    "partitions",
    &[
        "partition_id",
        "parent_id",
        "lo",
        "hi",
        "id_prefix",
        "upstream_count",
        "next_offset",
        "state",
        "sweep",
        "attempts",
    ],
);

/// Says what the file holds, reading only (no pragma that writes has run yet): a new file, or
/// an oac-mirror database of a schema this version knows, with or without the working
/// tables. Anything else is refused, so another application's file is never written to.
fn identify(conn: &Connection, path: &Path) -> Result<Found> {
    let version = schema_version(conn, path)?;
    let not_ours = |detail: String| Error::NotAMirror {
        path: path.to_owned(),
        problem: format!("it holds another application's tables ({detail})"),
    };
    if version == 0 {
        return if has_objects(conn)? {
            Err(not_ours("PRAGMA user_version is 0".into()))
        } else {
            Ok(Found::New)
        };
    }
    for (table, columns) in IDENTITY {
        if !has_columns(conn, table, columns)? {
            return Err(not_ours(format!(
                "PRAGMA user_version is {version}, but no oac-mirror table {table}"
            )));
        }
    }
    let (table, columns) = WORKING;
    let working = has_table(conn, table)?;
    if working && !has_columns(conn, table, columns)? {
        return Err(not_ours(format!(
            "its table {table} is not the one oac-mirror makes"
        )));
    }
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found: version,
            known,
        });
    }
    Ok(if working {
        Found::Mirror
    } else {
        Found::Packed
    })
}

/// True when `table` exists with at least `columns`.
fn has_columns(conn: &Connection, table: &str, columns: &[&str]) -> Result<bool> {
    let found: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .and_then(|mut stmt| {
            stmt.query_map([table], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(Error::sqlite("read the schema"))?;
    Ok(columns.iter().all(|c| found.iter().any(|f| f == c)))
}

/// `PRAGMA user_version`: 0 for a new file or another application's, else the migrations
/// applied. A file that is not SQLite at all is [`Error::NotAMirror`].
fn schema_version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|source| {
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
                Error::NotAMirror {
                    path: path.to_owned(),
                    problem: "it is not an SQLite database".into(),
                }
            } else {
                Error::Sqlite {
                    context: format!("read the schema version of {}", path.display()),
                    source,
                }
            }
        })
}

/// True when the file has any table, index or view (a new, empty file has none).
fn has_objects(conn: &Connection) -> Result<bool> {
    conn.query_row("SELECT count(*) > 0 FROM sqlite_schema", [], |r| r.get(0))
        .map_err(Error::sqlite("read the schema"))
}

fn has_table(conn: &Connection, name: &str) -> Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get(0),
    )
    .map_err(Error::sqlite("read the schema"))
}

/// The data changes a migration needs that SQL alone cannot make, run right after migration
/// `version` in the same transaction.
fn after_migration(tx: &rusqlite::Transaction<'_>, version: usize) -> Result<()> {
    match version {
        // 0002 added the parsed-reference columns; fill them for the rows already stored.
        2 => records::fill_parsed_references(tx).map(drop),
        // 0004 created the siblings' tables and views; describe them from their descriptions.
        4 => family::describe(tx),
        _ => Ok(()),
    }
}

/// Now, as stored in every `*_at` column: UTC, second resolution, RFC 3339.
pub(crate) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        drop(Store::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let v: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        store.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(store);
        assert!(matches!(
            Store::open(&path),
            Err(Error::SchemaTooNew { found: 99, .. })
        ));
    }

    /// A database harvested before 0002 gets its references parsed when it is opened.
    #[test]
    fn migration_2_parses_the_references_already_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for (text, parsed) in [
            (Some("Sabe; Kohtaro US 20070217688 A1"), Some("20070217688")),
            (
                Some("Itagaki; Takeshi US 20150044531 A1 "),
                Some("20150044531"),
            ),
            (Some("------- European Patent"), None),
            (
                Some("Smith, J., \"Neural nets\", IEEE Trans., 2019, pp. 1-10"),
                None,
            ),
            (None, None),
        ] {
            conn.execute(
                "INSERT INTO cited_references (reference_identifier, parsed_reference_identifier) VALUES (?1, ?2)",
                [text, parsed],
            )
            .unwrap();
        }
        drop(conn);
        let store = Store::open(&path).unwrap();
        type Parts = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<Parts> = store
            .conn
            .prepare("SELECT country, document_number, kind_code, first_inventor, is_npl FROM cited_references ORDER BY reference_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            rows,
            [
                (
                    s("US"),
                    s("20070217688"),
                    s("A1"),
                    s("Sabe; Kohtaro"),
                    Some(0)
                ),
                (
                    s("US"),
                    s("20150044531"),
                    s("A1"),
                    s("Itagaki; Takeshi"),
                    Some(0)
                ),
                (s("EP"), None, None, None, Some(0)),
                (None, None, None, None, Some(1)),
                (None, None, None, None, None),
            ]
        );
        let text: String = store
            .conn
            .query_row(
                "SELECT reference_identifier FROM cited_references WHERE reference_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            text, "Itagaki; Takeshi US 20150044531 A1 ",
            "the raw text is kept"
        );
    }
}
