//! The provenance a packed file carries in `meta`: which keys pack writes, where each value
//! comes from ([`provenance`], pure), and writing them with their descriptions
//! ([`stamp_provenance`]). Every key `meta` may hold is described in [`META_KEYS`].

use rusqlite::{Connection, OptionalExtension};

use super::count;
use crate::dataset::CITATIONS;
use crate::error::{Error, Result};
use crate::store::{CURRENT_REJECTS, PartitionState, state_in};

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

/// Where the value of a provenance key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Fact {
    /// The one integer this query returns, read from the copy.
    Count(String),
    /// The outcome of the latest harvest run, if any.
    LastRunOutcome,
    /// `PRAGMA user_version` of the copy.
    SchemaVersion,
    /// The time of packing (UTC).
    Now,
    /// A value known without reading the copy.
    Text(&'static str),
}

/// The keys pack writes into `meta`, in the order it writes them, and where each value comes
/// from. The citations' partition figures stay the citations' (the siblings' rows are counted
/// on their own keys).
pub(super) fn provenance(keep_working_tables: bool) -> Vec<(&'static str, Fact)> {
    let count = |sql: &str| Fact::Count(sql.to_owned());
    let citations = format!("dataset = '{}'", CITATIONS.name);
    let done = state_in(&[PartitionState::Done]);
    vec![
        (
            "upstream_leaf_sum",
            count(&format!(
                "SELECT ifnull(sum(upstream_count), 0) FROM partitions WHERE {done} AND {citations}"
            )),
        ),
        (
            "partitions_done",
            count(&format!(
                "SELECT count(*) FROM partitions WHERE {done} AND {citations}"
            )),
        ),
        (
            "partitions_not_done",
            count(&format!(
                "SELECT count(*) FROM partitions WHERE {} AND {citations}",
                state_in(&PartitionState::NOT_DONE)
            )),
        ),
        ("harvest_runs", count("SELECT count(*) FROM runs")),
        ("last_run_outcome", Fact::LastRunOutcome),
        ("records", count("SELECT count(*) FROM oa_citations")),
        (
            "records_deleted",
            count("SELECT count(*) FROM citations WHERE deleted_at IS NOT NULL"),
        ),
        (
            // As `status` counts them: the quarantine of each partition's latest fetch.
            "records_rejected",
            count(&format!(
                "SELECT count(*) FROM {CURRENT_REJECTS} AND p.{citations}"
            )),
        ),
        (
            "rejections.records",
            count("SELECT count(*) FROM oa_rejections"),
        ),
        (
            "enriched.records",
            count("SELECT count(*) FROM enriched_citations"),
        ),
        ("applications", count("SELECT count(*) FROM applications")),
        (
            "office_actions",
            count("SELECT count(*) FROM office_actions"),
        ),
        (
            "cited_references",
            count("SELECT count(*) FROM cited_references"),
        ),
        (
            "patent_references",
            count("SELECT count(*) FROM cited_references WHERE is_npl = 0"),
        ),
        (
            "npl_references",
            count("SELECT count(*) FROM cited_references WHERE is_npl = 1"),
        ),
        ("schema_version", Fact::SchemaVersion),
        ("packed_at", Fact::Now),
        ("packed_by", Fact::Text(env!("CARGO_PKG_VERSION"))),
        (
            "working_tables",
            Fact::Text(if keep_working_tables {
                "kept"
            } else {
                "left out"
            }),
        ),
    ]
}

impl Fact {
    /// The value, read from the copy where it must be.
    fn read(&self, conn: &Connection) -> Result<Option<String>> {
        match self {
            Fact::Count(sql) => count(conn, sql).map(|n| Some(n.to_string())),
            Fact::LastRunOutcome => conn
                .query_row(
                    "SELECT outcome FROM runs ORDER BY run_id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()
                .map(Option::flatten)
                .map_err(Error::sqlite("read the last run")),
            Fact::SchemaVersion => conn
                .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
                .map(|v| Some(v.to_string()))
                .map_err(Error::sqlite("read schema version")),
            Fact::Now => Ok(Some(crate::store::now())),
            Fact::Text(text) => Ok(Some((*text).to_owned())),
        }
    }
}

/// Writes the provenance keys that only pack knows (counts, when, by what) and describes every
/// key, in one transaction. Every value is read before the first is written.
pub(super) fn stamp_provenance(conn: &Connection, keep_working_tables: bool) -> Result<()> {
    let tx = conn
        .unchecked_transaction()
        .map_err(Error::sqlite("begin provenance"))?;
    let values = provenance(keep_working_tables)
        .into_iter()
        .map(|(key, fact)| Ok((key, fact.read(&tx)?)))
        .collect::<Result<Vec<_>>>()?;
    for (key, value) in values {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_pack_writes_is_described_once() {
        let described: Vec<&str> = META_KEYS.iter().map(|(k, _)| *k).collect();
        let mut unique = described.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), described.len(), "a key described twice");
        let written = provenance(false);
        for (key, _) in &written {
            assert!(
                described.contains(key),
                "{key} is written but not described"
            );
        }
        let mut keys: Vec<&str> = written.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), written.len(), "a key written twice");
    }

    #[test]
    fn the_working_tables_key_says_whether_they_were_kept() {
        let working = |keep| {
            provenance(keep)
                .into_iter()
                .find(|(k, _)| *k == "working_tables")
                .map(|(_, fact)| fact)
        };
        assert_eq!(working(true), Some(Fact::Text("kept")));
        assert_eq!(working(false), Some(Fact::Text("left out")));
    }

    #[test]
    fn partition_figures_are_the_citations_only() {
        for (key, fact) in provenance(false) {
            if key.starts_with("partitions_") || key == "upstream_leaf_sum" {
                let Fact::Count(sql) = fact else {
                    panic!("{key} is not counted")
                };
                assert!(sql.contains("dataset = 'citations'"), "{key}: {sql}");
            }
        }
    }

    #[test]
    fn facts_are_read_from_the_copy() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE runs (run_id INTEGER PRIMARY KEY, outcome TEXT);
             INSERT INTO runs VALUES (1, 'error'), (2, 'complete');
             PRAGMA user_version = 7;",
        )
        .unwrap();
        let read = |fact: Fact| fact.read(&conn).unwrap();
        assert_eq!(read(Fact::LastRunOutcome).as_deref(), Some("complete"));
        assert_eq!(read(Fact::SchemaVersion).as_deref(), Some("7"));
        assert_eq!(
            read(Fact::Count("SELECT count(*) FROM runs".into())).as_deref(),
            Some("2")
        );
        assert_eq!(read(Fact::Text("kept")).as_deref(), Some("kept"));
        conn.execute("DELETE FROM runs", []).unwrap();
        assert_eq!(read(Fact::LastRunOutcome), None);
    }
}
