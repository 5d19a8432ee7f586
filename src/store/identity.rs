//! Telling what a file opened as a database is (new, a mirror, a packed copy, or someone
//! else's) before anything is written to it, and opening a mirror that cannot be written beside.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::migrate::MIGRATIONS;
use crate::error::{Error, Result};

/// True when a read-only open failed because SQLite cannot write beside the file: a WAL
/// database needs its `-shm` file, which a read-only directory or file system refuses.
pub(super) fn cannot_write_beside(e: &Error) -> bool {
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
pub(super) fn immutable_will_do(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(true, |m| m.len() == 0)
}

/// Opens `path` as an immutable file (no locks, no `-shm`): for a mirror in a directory this
/// process cannot write.
pub(super) fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
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
pub(super) fn check_path(path: &Path) -> Result<()> {
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
pub(super) enum Found {
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
pub(super) fn identify(conn: &Connection, path: &Path) -> Result<Found> {
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
