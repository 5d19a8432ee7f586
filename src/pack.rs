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
//! read.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::store::{CURRENT_REJECTS, PartitionState, Store, state_in};

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

/// Every key `meta` may hold, with what it means. A test checks that every key in a packed file
/// is described here.
pub const META_KEYS: &[(&str, &str)] = &[
    (
        "source_prefix",
        "Dataset prefix the records were fetched from (URL/records, URL/fields).",
    ),
    (
        "window_from",
        "First createDateTime of the mirrored window (inclusive).",
    ),
    (
        "window_to",
        "Last createDateTime of the mirrored window (inclusive).",
    ),
    (
        "tool_version",
        "Version of oac-mirror that ran the latest harvest.",
    ),
    ("first_run_at", "When the first harvest run started (UTC)."),
    ("last_run_at", "When the latest harvest run started (UTC)."),
    (
        "complete",
        "true when the latest run proved the whole window: records + records_rejected equal upstream_total.",
    ),
    (
        "upstream_total",
        "Upstream's count of the whole window (numFound) that the mirror was last proven against.",
    ),
    (
        "verified_at",
        "When the mirror was last proven complete (UTC).",
    ),
    (
        "upstream_leaf_sum",
        "Sum of upstream's counts of the partitions that are done: what the stored records were checked against, partition by partition.",
    ),
    (
        "partitions_done",
        "Partitions whose stored ids equal their upstream count.",
    ),
    (
        "partitions_not_done",
        "Partitions still to count, page or retry (0 for a complete mirror).",
    ),
    ("harvest_runs", "Harvest runs that wrote to the mirror."),
    ("last_run_outcome", "Outcome of the latest harvest run."),
    (
        "records",
        "Rows in oa_citations (live records) when the file was packed.",
    ),
    (
        "records_deleted",
        "Records upstream no longer serves (citations.deleted_at set); left out of every view.",
    ),
    (
        "records_rejected",
        "Records upstream served that could not be stored (the harvest's quarantine).",
    ),
    ("applications", "Rows in applications."),
    ("office_actions", "Rows in office_actions."),
    (
        "cited_references",
        "Rows in cited_references (distinct reference texts).",
    ),
    (
        "patent_references",
        "Rows in cited_references that name a patent document (is_npl = 0).",
    ),
    (
        "npl_references",
        "Rows in cited_references that are non-patent literature (is_npl = 1).",
    ),
    (
        "schema_version",
        "Schema version of the file (PRAGMA user_version; the migrations applied).",
    ),
    ("packed_at", "When oac-mirror pack made this file (UTC)."),
    (
        "packed_by",
        "Version of oac-mirror that made this file with pack.",
    ),
    (
        "working_tables",
        "kept or left out: whether the harvest's partitions, runs and rejected_records are in this file.",
    ),
    (
        "rejections.records",
        "Rows in oa_rejections (live rejections records) when the file was packed.",
    ),
    (
        "enriched.records",
        "Rows in enriched_citations (live enriched records) when the file was packed.",
    ),
    (
        "rejections.source_prefix",
        "Prefix the rejections records were fetched from.",
    ),
    (
        "rejections.window_from",
        "First createDateTime of the rejections window (inclusive).",
    ),
    (
        "rejections.window_to",
        "Last createDateTime of the rejections window (inclusive).",
    ),
    (
        "rejections.complete",
        "true when the latest run proved the whole rejections window by count.",
    ),
    (
        "rejections.upstream_total",
        "Upstream's count of the whole rejections window that it was last proven against.",
    ),
    (
        "rejections.verified_at",
        "When the rejections data set was last proven complete (UTC).",
    ),
    (
        "enriched.source_prefix",
        "Prefix the enriched records were fetched from.",
    ),
    (
        "enriched.window_from",
        "First createDateTime of the enriched window (inclusive).",
    ),
    (
        "enriched.window_to",
        "Last createDateTime of the enriched window (inclusive).",
    ),
    (
        "enriched.complete",
        "true when the latest run proved the whole enriched window by count.",
    ),
    (
        "enriched.upstream_total",
        "Upstream's count of the whole enriched window that it was last proven against.",
    ),
    (
        "enriched.verified_at",
        "When the enriched data set was last proven complete (UTC).",
    ),
];

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

/// Writes the provenance keys that only pack knows (counts, when, by what) and describes every
/// key, in one transaction.
fn stamp_provenance(conn: &Connection, keep_working_tables: bool) -> Result<()> {
    let tx = conn
        .unchecked_transaction()
        .map_err(Error::sqlite("begin provenance"))?;
    let n = |sql: &str| count(&tx, sql).map(|n| n.to_string());
    let last_outcome: Option<String> = tx
        .query_row(
            "SELECT outcome FROM runs ORDER BY run_id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map(Option::flatten)
        .map_err(Error::sqlite("read the last run"))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(Error::sqlite("read schema version"))?;
    // The citations' partition figures stay the citations' (the siblings' rows are counted
    // below).
    let citations = format!("dataset = '{}'", crate::dataset::CITATIONS.name);
    let facts = [
        (
            "upstream_leaf_sum",
            Some(n(&format!(
                "SELECT ifnull(sum(upstream_count), 0) FROM partitions WHERE {} AND {citations}",
                state_in(&[PartitionState::Done])
            ))?),
        ),
        (
            "partitions_done",
            Some(n(&format!(
                "SELECT count(*) FROM partitions WHERE {} AND {citations}",
                state_in(&[PartitionState::Done])
            ))?),
        ),
        (
            "partitions_not_done",
            Some(n(&format!(
                "SELECT count(*) FROM partitions WHERE {} AND {citations}",
                state_in(&PartitionState::NOT_DONE)
            ))?),
        ),
        ("harvest_runs", Some(n("SELECT count(*) FROM runs")?)),
        ("last_run_outcome", last_outcome),
        ("records", Some(n("SELECT count(*) FROM oa_citations")?)),
        (
            "records_deleted",
            Some(n(
                "SELECT count(*) FROM citations WHERE deleted_at IS NOT NULL",
            )?),
        ),
        (
            // As `status` counts them: the quarantine of each partition's latest fetch.
            "records_rejected",
            Some(n(&format!(
                "SELECT count(*) FROM {CURRENT_REJECTS} AND p.{citations}"
            ))?),
        ),
        (
            "rejections.records",
            Some(n("SELECT count(*) FROM oa_rejections")?),
        ),
        (
            "enriched.records",
            Some(n("SELECT count(*) FROM enriched_citations")?),
        ),
        (
            "applications",
            Some(n("SELECT count(*) FROM applications")?),
        ),
        (
            "office_actions",
            Some(n("SELECT count(*) FROM office_actions")?),
        ),
        (
            "cited_references",
            Some(n("SELECT count(*) FROM cited_references")?),
        ),
        (
            "patent_references",
            Some(n("SELECT count(*) FROM cited_references WHERE is_npl = 0")?),
        ),
        (
            "npl_references",
            Some(n("SELECT count(*) FROM cited_references WHERE is_npl = 1")?),
        ),
        ("schema_version", Some(version.to_string())),
        ("packed_at", Some(crate::store::now())),
        ("packed_by", Some(env!("CARGO_PKG_VERSION").to_owned())),
        (
            "working_tables",
            Some(
                if keep_working_tables {
                    "kept"
                } else {
                    "left out"
                }
                .to_owned(),
            ),
        ),
    ];
    for (key, value) in facts {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        .map_err(Error::sqlite(format!("write meta {key}")))?;
    }
    for (key, description) in META_KEYS {
        tx.execute(
            "UPDATE meta SET description = ?2 WHERE key = ?1",
            (key, description),
        )
        .map_err(Error::sqlite(format!("describe meta {key}")))?;
    }
    tx.commit().map_err(Error::sqlite("commit provenance"))
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
