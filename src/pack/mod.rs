//! `oac-mirror pack`: a compact, consistent, self-describing copy of a mirror for hand-off.
//!
//! The copy is taken with `VACUUM INTO` (one consistent snapshot, even while a harvest writes),
//! migrated to the current schema (so a mirror harvested by an older version gains the views,
//! the parsed references and `schema_docs`), stamped with provenance in `meta`, stripped of the
//! harvest's working tables unless asked to keep them, vacuumed, `ANALYZE`d, checked with
//! `PRAGMA integrity_check` and `PRAGMA foreign_key_check`, and left in rollback-journal mode
//! (not WAL) so that it is one file that opens read-only anywhere. It is built beside `--out`
//! under a temporary name and renamed into place only when it passed, so a failed pack leaves
//! nothing behind and never half-replaces an earlier file.
//!
//! This module owns the hand-off file; it does not harvest, and the source database is only
//! read. What the file says of itself (the `meta` keys pack writes and their descriptions) is
//! in [`meta`].

mod meta;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

pub use meta::META_KEYS;
use meta::stamp_provenance;

use crate::error::{Error, Result};
use crate::store::Store;

/// Choices of `oac-mirror pack`.
#[derive(Clone, Debug, Default)]
pub struct PackOptions {
    /// Replace `--out` if it exists.
    pub force: bool,
    /// Keep `partitions`, `runs` and `rejected_records` (the checkpoint, the run log and the
    /// quarantine), which an analyst does not need.
    pub keep_working_tables: bool,
}

/// What `pack` made.
#[derive(Clone, Debug)]
pub struct PackReport {
    pub out: PathBuf,
    /// Rows in `oa_citations`.
    pub records: u64,
    /// Size of the packed file.
    pub bytes: u64,
    /// Whether the mirror was proven complete (meta `complete`).
    pub complete: bool,
}

/// The harvest's working tables, in an order that drops no row another still refers to.
const WORKING_TABLES: [&str; 3] = ["rejected_records", "runs", "partitions"];

/// Packs the mirror `db` into a new file `out`.
pub fn pack(db: &Path, out: &Path, options: &PackOptions) -> Result<PackReport> {
    if let Some(packed) = Store::open_read_only(db)?.packed()? {
        let at = packed.meta.get("packed_at").cloned().flatten();
        return Err(Error::Usage {
            flag: "--db".into(),
            value: db.display().to_string(),
            problem: format!(
                "is packed already (by `oac-mirror pack` at {}): it is the hand-off file; copy it as it is, or pack the original mirror",
                at.as_deref().unwrap_or("an unknown time")
            ),
        });
    }
    check_out(db, out, options.force)?;
    let tmp = partial_path(out);
    let mut report = match build(db, &tmp, options) {
        Ok(report) => report,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            let _ = std::fs::remove_file(journal_path(&tmp));
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out).map_err(|source| Error::Io {
        path: out.to_owned(),
        source,
    })?;
    report.out = out.to_owned();
    report.bytes = std::fs::metadata(out)
        .map_err(|source| Error::Io {
            path: out.to_owned(),
            source,
        })?
        .len();
    Ok(report)
}

/// Refuses an `out` that is the database itself or a directory, and one that exists unless
/// `force`.
fn check_out(db: &Path, out: &Path, force: bool) -> Result<()> {
    let Ok(found) = std::fs::symlink_metadata(out) else {
        return Ok(());
    };
    let usage = |problem: &str| Error::Usage {
        flag: "--out".into(),
        value: out.display().to_string(),
        problem: problem.into(),
    };
    if let Some(kind) = crate::export::special_kind(&found) {
        return Err(usage(&crate::export::refusal(kind)));
    }
    let same = match (db.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(usage("is the database being packed; name a new file"));
    }
    if found.is_dir() {
        return Err(usage("is a directory; name a file"));
    }
    if !force {
        return Err(Error::OutputExists {
            path: out.to_owned(),
        });
    }
    Ok(())
}

/// Where the copy is built: a hidden file beside `out`, so the final rename stays on one file
/// system.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "oac-mirror.db".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn journal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-journal");
    PathBuf::from(name)
}

/// Builds the packed copy at `tmp`.
fn build(db: &Path, tmp: &Path, options: &PackOptions) -> Result<PackReport> {
    let _ = std::fs::remove_file(tmp);
    let tmp_text = tmp.to_str().ok_or_else(|| Error::Usage {
        flag: "--out".into(),
        value: tmp.display().to_string(),
        problem: "is not valid UTF-8, which SQLite's VACUUM INTO needs".into(),
    })?;
    {
        let source = Store::open_read_only(db)?;
        source
            .conn()
            .execute("VACUUM INTO ?1", [tmp_text])
            .map_err(Error::sqlite(format!(
                "copy {} with VACUUM INTO",
                db.display()
            )))?;
    }
    let store = Store::open_handoff(tmp)?;
    let conn = store.conn();
    stamp_provenance(conn, options.keep_working_tables)?;
    if !options.keep_working_tables {
        drop_working_tables(conn)?;
    }
    // A mirror whose first harvest has not finished goes without its query indexes.
    crate::store::indexes::build_missing(conn)?;
    conn.execute_batch("VACUUM; ANALYZE;")
        .map_err(Error::sqlite("vacuum and analyze the packed copy"))?;
    check(conn, tmp)?;
    let records = count(conn, "SELECT count(*) FROM oa_citations")?;
    let complete = conn
        .query_row("SELECT value FROM meta WHERE key = 'complete'", [], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()
        .map(|v| v.flatten().as_deref() == Some("true"))
        .map_err(Error::sqlite("read meta complete"))?;
    Ok(PackReport {
        out: tmp.to_owned(),
        records,
        bytes: 0,
        complete,
    })
}

fn drop_working_tables(conn: &Connection) -> Result<()> {
    let tx = conn
        .unchecked_transaction()
        .map_err(Error::sqlite("begin dropping working tables"))?;
    for table in WORKING_TABLES {
        tx.execute_batch(&format!("DROP TABLE {table}"))
            .map_err(Error::sqlite(format!("drop {table}")))?;
        tx.execute("DELETE FROM schema_docs WHERE object = ?1", [table])
            .map_err(Error::sqlite(format!("drop the docs of {table}")))?;
    }
    tx.commit()
        .map_err(Error::sqlite("commit dropping working tables"))
}

/// `PRAGMA integrity_check` must say `ok` and `PRAGMA foreign_key_check` must find nothing.
fn check(conn: &Connection, path: &Path) -> Result<()> {
    let lines: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(Error::sqlite("run integrity_check"))?;
    if lines != ["ok"] {
        return Err(Error::Integrity {
            path: path.to_owned(),
            check: "integrity check",
            report: lines.join("; "),
        });
    }
    let violations: Vec<String> = conn
        .prepare("PRAGMA foreign_key_check")
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok(format!(
                    "{} row {} -> {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?.unwrap_or_default(),
                    r.get::<_, String>(2)?
                ))
            })?
            .collect()
        })
        .map_err(Error::sqlite("run foreign_key_check"))?;
    if !violations.is_empty() {
        return Err(Error::Integrity {
            path: path.to_owned(),
            check: "foreign key check",
            report: violations.join("; "),
        });
    }
    Ok(())
}

fn count(conn: &Connection, sql: &str) -> Result<u64> {
    conn.query_row(sql, [], |r| r.get(0))
        .map_err(Error::sqlite(format!("count: {sql}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_built_hidden_beside_out() {
        let partial = partial_path(Path::new("/data/handoff.db"));
        assert_eq!(partial.parent(), Some(Path::new("/data")));
        let name = partial.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name, format!(".handoff.db.partial-{}", std::process::id()));
        assert_eq!(
            journal_path(&partial),
            PathBuf::from(format!("/data/{name}-journal"))
        );
    }

    #[test]
    fn the_checks_name_what_they_found() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id));
             INSERT INTO parent VALUES (1);
             INSERT INTO child VALUES (10, 1);",
        )
        .unwrap();
        let path = Path::new("x.db");
        check(&conn, path).unwrap();
        conn.execute("INSERT INTO child VALUES (11, 2)", [])
            .unwrap();
        match check(&conn, path) {
            Err(Error::Integrity { check, report, .. }) => {
                assert_eq!(check, "foreign key check");
                assert_eq!(report, "child row 11 -> parent");
            }
            other => panic!("expected a foreign key violation, got {other:?}"),
        }
    }
}
