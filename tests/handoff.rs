//! The hand-off to analysts: `pack`, the views, the parsed references and `export`, each run
//! for real on a mirror harvested from the replica, then read back.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use oac_mirror::Error;
use oac_mirror::export::{self, ExportRequest, Format, Output, PartitionBy, Source};
use oac_mirror::pack::{self, META_KEYS, PackOptions};
use oac_mirror::reference;
use oac_mirror::replica::{Settings, synthetic};
use oac_mirror::store::Store;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::support::*;

/// A value as the tests compare them: ordered, so that rows can be sorted the same way on both
/// sides.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    Null,
    Int(i64),
    Text(String),
}

impl From<Sql> for V {
    fn from(v: Sql) -> V {
        match v {
            Sql::Null => V::Null,
            Sql::Integer(i) => V::Int(i),
            Sql::Text(s) => V::Text(s),
            other => panic!("the mirror holds no {other:?}"),
        }
    }
}

impl From<Option<String>> for V {
    fn from(v: Option<String>) -> V {
        v.map_or(V::Null, V::Text)
    }
}

impl V {
    /// As CSV writes it: NULL is an empty field.
    fn csv(&self) -> Option<String> {
        match self {
            V::Null => None,
            V::Int(i) => Some(i.to_string()),
            V::Text(s) => Some(s.clone()),
        }
    }
}

fn int(n: usize) -> V {
    V::Int(n as i64)
}

/// A harvested mirror of the real samples and `n` synthetic records, with one record marked
/// deleted (as a later fetch that no longer sees it would), and the records still live.
struct Mirror {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    db: PathBuf,
    source: String,
    /// The records the replica served.
    served: Vec<Value>,
    /// The records still live: all but `deleted`.
    docs: Vec<Value>,
    deleted: String,
}

async fn mirror(n: usize) -> Mirror {
    let mut docs = sample_docs();
    docs.extend(synthetic(n, 4));
    let replica = replica(docs.clone(), Settings::default()).await;
    let (dir, db) = temp_db();
    let outcome = harvest(&config(&replica, &db, "2017-10-01", "2025-12-31", |_| {}))
        .await
        .unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    let deleted = docs[docs.len() - 1]["id"].as_str().unwrap().to_owned();
    let marked = Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE citation_records SET deleted_at = '2025-08-01T00:00:00Z' WHERE id = ?1",
            [&deleted],
        )
        .unwrap();
    assert_eq!(marked, 1);
    let served = docs.clone();
    docs.retain(|d| d["id"] != deleted.as_str());
    Mirror {
        served,
        dir: dir.path().to_owned(),
        _dir: dir,
        db,
        source: replica.base_url(),
        docs,
        deleted,
    }
}

impl Mirror {
    fn packed(&self, name: &str, options: &PackOptions) -> PathBuf {
        let out = self.dir.join(name);
        let report = pack::pack(&self.db, &out, options).unwrap();
        assert_eq!(report.records, self.docs.len() as u64);
        assert!(report.complete);
        assert_eq!(report.bytes, std::fs::metadata(&out).unwrap().len());
        out
    }
}

fn read_only(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// Every row of `sql`, sorted.
fn rows(db: &Path, sql: &str) -> Vec<Vec<V>> {
    let conn = read_only(db);
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut rows: Vec<Vec<V>> = stmt
        .query_map([], |r| {
            (0..n).map(|i| r.get::<_, Sql>(i).map(V::from)).collect()
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    rows.sort();
    rows
}

fn text(d: &Value, field: &str) -> Option<String> {
    d.get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn count_true(group: &[&Value], field: &str) -> V {
    int(group.iter().filter(|d| d[field] == true).count())
}

fn distinct(group: &[&Value], field: &str) -> V {
    int(group
        .iter()
        .filter_map(|d| text(d, field))
        .collect::<BTreeSet<_>>()
        .len())
}

/// The docs grouped by `key` (docs whose key is `None` are left out).
fn group<K: Ord>(docs: &[Value], key: impl Fn(&Value) -> Option<K>) -> BTreeMap<K, Vec<&Value>> {
    let mut groups = BTreeMap::<K, Vec<&Value>>::new();
    for d in docs {
        if let Some(k) = key(d) {
            groups.entry(k).or_default().push(d);
        }
    }
    groups
}

fn sorted(mut rows: Vec<Vec<V>>) -> Vec<Vec<V>> {
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn a_packed_file_is_checked_not_wal_self_described_and_holds_the_same_rows() {
    let m = mirror(3_000).await;
    let packed = m.packed("handoff.db", &PackOptions::default());

    // The file itself: integrity, rollback journal (header bytes 18 and 19 are 2 in WAL mode),
    // ANALYZEd, and nothing left beside it.
    let header = std::fs::read(&packed).unwrap();
    assert_eq!((header[18], header[19]), (1, 1), "not in WAL mode");
    let conn = read_only(&packed);
    let check: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(check, ["ok"]);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "delete");
    let stats: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_stat1", [], |r| r.get(0))
        .unwrap();
    assert!(stats > 0, "ANALYZE ran");
    let mut names: Vec<String> = std::fs::read_dir(&m.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("handoff") || n.contains("partial"))
        .collect();
    names.sort();
    assert_eq!(names, ["handoff.db"]);

    // The same live rows as the mirror, read through a read-only connection.
    let live = expected_rows(&m.docs);
    assert_eq!(view_rows(&packed), live);
    assert_eq!(view_rows(&packed), view_rows(&m.db));
    let ro_count: i64 = conn
        .query_row("SELECT count(*) FROM oa_citations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ro_count, live.len() as i64);

    // Working tables left out; provenance in meta, every key described.
    let tables = rows(
        &packed,
        "SELECT name FROM sqlite_schema WHERE name IN ('partitions', 'runs', 'rejected_records')",
    );
    assert!(tables.is_empty(), "{tables:?}");
    let meta: BTreeMap<String, (Option<String>, Option<String>)> = conn
        .prepare("SELECT key, value, description FROM meta")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let value = |key: &str| meta[key].0.clone().unwrap();
    assert_eq!(value("source_prefix"), m.source);
    assert_eq!(value("window_from"), "2017-10-01T00:00:00");
    assert_eq!(value("window_to"), "2025-12-31T23:59:59");
    assert_eq!(value("complete"), "true");
    assert_eq!(value("records"), live.len().to_string());
    assert_eq!(value("records_deleted"), "1");
    // Upstream counted the deleted record too: it was served when the window was proven.
    assert_eq!(value("upstream_total"), (live.len() + 1).to_string());
    assert_eq!(value("upstream_leaf_sum"), (live.len() + 1).to_string());
    assert_eq!(value("partitions_not_done"), "0");
    assert_eq!(value("working_tables"), "left out");
    assert_eq!(value("packed_by"), env!("CARGO_PKG_VERSION"));
    let known: BTreeSet<&str> = META_KEYS.iter().map(|(k, _)| *k).collect();
    for (key, (_, description)) in &meta {
        assert!(
            known.contains(key.as_str()),
            "meta key {key} is not in META_KEYS"
        );
        assert!(description.is_some(), "meta key {key} has no description");
    }
    assert_schema_docs_cover(&packed);

    // An existing --out is refused and left alone; --force replaces it.
    let before = std::fs::read(&packed).unwrap();
    let err = pack::pack(&m.db, &packed, &PackOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::OutputExists { path } if *path == packed),
        "{err}"
    );
    assert_eq!(std::fs::read(&packed).unwrap(), before);
    let forced = PackOptions {
        force: true,
        keep_working_tables: true,
    };
    pack::pack(&m.db, &packed, &forced).unwrap();
    assert_eq!(
        query_i64(
            &packed,
            "SELECT count(*) FROM partitions WHERE state = 'done'"
        ),
        query_i64(
            &m.db,
            "SELECT count(*) FROM partitions WHERE state = 'done'"
        )
    );
    assert_schema_docs_cover(&packed);

    // A packed copy is for reading: a harvest into it is refused, naming it.
    let copy = m.packed("handoff-3.db", &PackOptions::default());
    let err = Store::open(&copy).err().expect("refused");
    assert!(matches!(err, Error::NotAMirror { .. }), "{err}");
    assert!(err.to_string().contains("handoff-3.db"), "{err}");
}

/// Every table, view and column of `db` has a row in `schema_docs`, and every row there names
/// one that exists.
fn assert_schema_docs_cover(db: &Path) {
    let objects = "SELECT t.name AS object, NULL AS column_name FROM pragma_table_list AS t
            WHERE t.schema = 'main' AND t.type IN ('table', 'view') AND t.name NOT LIKE 'sqlite%'
        UNION ALL
        SELECT t.name, c.name FROM pragma_table_list AS t JOIN pragma_table_xinfo(t.name) AS c
            WHERE t.schema = 'main' AND t.type IN ('table', 'view') AND t.name NOT LIKE 'sqlite%'";
    let undocumented = rows(
        db,
        &format!("SELECT * FROM ({objects}) EXCEPT SELECT object, column_name FROM schema_docs"),
    );
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
    let stale = rows(
        db,
        &format!("SELECT object, column_name FROM schema_docs EXCEPT SELECT * FROM ({objects})"),
    );
    assert!(stale.is_empty(), "described but absent: {stale:?}");
    assert_eq!(
        query_i64(
            db,
            "SELECT count(*) FROM schema_docs WHERE length(description) < 5"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_views_answer_the_common_questions() {
    let m = mirror(3_000).await;
    let db = m.packed("views.db", &PackOptions::default());
    let docs = &m.docs;
    let app = |d: &Value| text(d, "patentApplicationNumber");
    let action = |d: &Value| text(d, "obsoleteDocumentIdentifier");

    // Citations per application.
    let expected = group(docs, app)
        .into_iter()
        .map(|(k, g)| {
            let stamps: Vec<String> = g.iter().filter_map(|d| text(d, "createDateTime")).collect();
            vec![
                V::Text(k),
                distinct(&g, "obsoleteDocumentIdentifier"),
                int(g.len()),
                distinct(&g, "referenceIdentifier"),
                count_true(&g, "examinerCitedReferenceIndicator"),
                count_true(&g, "applicantCitedExaminerReferenceIndicator"),
                count_true(&g, "officeActionCitationReferenceIndicator"),
                V::from(stamps.iter().min().cloned()),
                V::from(stamps.iter().max().cloned()),
                // first_mail_date, last_mail_date: no sibling knows these actions.
                V::Null,
                V::Null,
            ]
        })
        .collect();
    assert_eq!(
        rows(&db, "SELECT * FROM application_citation_counts"),
        sorted(expected)
    );

    // Citations per office action.
    let expected = group(docs, action)
        .into_iter()
        .map(|(k, g)| {
            vec![
                V::Text(k),
                V::from(app(g[0])),
                int(g.len()),
                distinct(&g, "referenceIdentifier"),
                count_true(&g, "examinerCitedReferenceIndicator"),
                count_true(&g, "applicantCitedExaminerReferenceIndicator"),
                count_true(&g, "officeActionCitationReferenceIndicator"),
            ]
        })
        .collect();
    assert_eq!(
        rows(
            &db,
            "SELECT obsolete_document_identifier, patent_application_number, citations,
                distinct_references, examiner_cited, applicant_cited, cited_in_action
             FROM office_action_citation_counts"
        ),
        sorted(expected)
    );

    // Most cited references, by text and by patent document.
    let by_text = group(docs, |d| text(d, "referenceIdentifier"));
    let expected: Vec<Vec<V>> = by_text
        .iter()
        .map(|(k, g)| {
            vec![
                V::Text(k.clone()),
                int(g.len()),
                distinct(g, "patentApplicationNumber"),
                distinct(g, "obsoleteDocumentIdentifier"),
                count_true(g, "examinerCitedReferenceIndicator"),
            ]
        })
        .collect();
    assert_eq!(
        rows(
            &db,
            "SELECT reference_identifier, citations, applications, office_actions, examiner_cited
             FROM reference_citation_counts"
        ),
        sorted(expected)
    );
    let mut top: Vec<(usize, &String)> = by_text.iter().map(|(k, g)| (g.len(), k)).collect();
    top.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let conn = read_only(&db);
    let got: Vec<(usize, String)> = conn
        .prepare(
            "SELECT citations, reference_identifier FROM reference_citation_counts
             ORDER BY citations DESC, reference_identifier LIMIT 10",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let want: Vec<(usize, String)> = top[..10].iter().map(|(n, k)| (*n, (*k).clone())).collect();
    assert_eq!(got, want);
    assert!(want[0].0 > want[9].0, "the top ten differ in counts");

    let patent = |d: &Value| {
        let p = reference::parse(&text(d, "referenceIdentifier")?)?;
        Some((p.country, p.document_number?, p.kind_code))
    };
    let expected = group(docs, patent)
        .into_iter()
        .map(|((country, number, kind), g)| {
            vec![
                V::from(country),
                V::Text(number),
                V::from(kind),
                int(g.len()),
                distinct(&g, "patentApplicationNumber"),
            ]
        })
        .collect();
    assert_eq!(
        rows(
            &db,
            "SELECT country, document_number, kind_code, citations, applications
             FROM patent_citation_counts"
        ),
        sorted(expected)
    );

    // Examiner-cited versus applicant-cited.
    let cited_by = |d: &Value| {
        Some(
            match (
                d["examinerCitedReferenceIndicator"].as_bool(),
                d["applicantCitedExaminerReferenceIndicator"].as_bool(),
            ) {
                (Some(true), Some(true)) => "both",
                (Some(true), Some(false)) => "examiner",
                (Some(false), Some(true)) => "applicant",
                (Some(false), Some(false)) => "neither",
                _ => "unknown",
            },
        )
    };
    let expected: Vec<Vec<V>> = group(docs, cited_by)
        .into_iter()
        .map(|(k, g)| vec![V::Text(k.into()), int(g.len())])
        .collect();
    assert_eq!(expected.len(), 5, "the data has every kind");
    assert_eq!(
        rows(&db, "SELECT cited_by, citations FROM cited_by_counts"),
        sorted(expected)
    );

    // By tech center, art unit and legal section.
    let expected = group(docs, |d| text(d, "techCenter"))
        .into_iter()
        .map(|(k, g)| {
            vec![
                V::Text(k),
                distinct(&g, "groupArtUnitNumber"),
                distinct(&g, "patentApplicationNumber"),
                distinct(&g, "obsoleteDocumentIdentifier"),
                int(g.len()),
            ]
        })
        .collect();
    assert_eq!(
        rows(
            &db,
            "SELECT tech_center, art_units, applications, office_actions, citations
             FROM tech_center_counts"
        ),
        sorted(expected)
    );
    let unit = |d: &Value| {
        Some((
            text(d, "techCenter"),
            text(d, "workGroup"),
            text(d, "groupArtUnitNumber"),
        ))
    };
    let expected = group(docs, unit)
        .into_iter()
        .map(|((tc, wg, gau), g)| {
            vec![
                V::from(tc),
                V::from(wg),
                V::from(gau),
                distinct(&g, "obsoleteDocumentIdentifier"),
                int(g.len()),
            ]
        })
        .collect();
    assert_eq!(
        rows(
            &db,
            "SELECT tech_center, work_group, group_art_unit_number, office_actions, citations
             FROM art_unit_counts"
        ),
        sorted(expected)
    );
    let expected = group(docs, |d| Some(text(d, "legalSectionCode")))
        .into_iter()
        .map(|(k, g)| {
            let category = |c: &str| int(g.iter().filter(|d| d["actionTypeCategory"] == c).count());
            vec![
                V::from(k),
                distinct(&g, "patentApplicationNumber"),
                int(g.len()),
                category("rejected"),
                category("objected"),
            ]
        })
        .collect();
    assert_eq!(
        rows(
            &db,
            "SELECT legal_section_code, applications, citations, rejected, objected
             FROM legal_section_counts"
        ),
        sorted(expected)
    );

    // Everything about one application, through indexes only.
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT * FROM citation_details WHERE patent_application_number = ?1",
        )
        .unwrap()
        .query_map([""], |r| r.get(3))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let plan = plan.join("; ");
    assert!(
        plan.contains("office_actions_application")
            && plan.contains("citations_office_action")
            && !plan.contains("SCAN"),
        "{plan}"
    );
    let busiest = group(docs, app)
        .into_iter()
        .max_by_key(|(_, g)| g.len())
        .unwrap();
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM citation_details WHERE patent_application_number = ?1 ORDER BY id")
        .unwrap()
        .query_map([&busiest.0], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut want: Vec<String> = busiest.1.iter().map(|d| text(d, "id").unwrap()).collect();
    want.sort();
    assert!(want.len() > 1);
    assert_eq!(ids, want);
    // The deleted record is in no view.
    for view in ["citation_details", "oa_citations"] {
        assert_eq!(
            query_i64(
                &db,
                &format!("SELECT count(*) FROM {view} WHERE id = '{}'", m.deleted)
            ),
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn references_are_parsed_beside_the_raw_text() {
    let m = mirror(1_000).await;
    let parts = |text: &str| {
        rows(
            &m.db,
            &format!(
                "SELECT country, document_number, kind_code, first_inventor, is_npl
                 FROM cited_references WHERE reference_identifier = '{}'",
                text.replace('\'', "''")
            ),
        )
    };
    let t = |s: &str| V::Text(s.into());
    // The real samples, and the example.
    assert_eq!(
        parts("Sabe; Kohtaro US 20070217688 A1"),
        [vec![
            t("US"),
            t("20070217688"),
            t("A1"),
            t("Sabe; Kohtaro"),
            V::Int(0)
        ]]
    );
    assert_eq!(
        parts("Itagaki; Takeshi US 20150044531 A1 "),
        [vec![
            t("US"),
            t("20150044531"),
            t("A1"),
            t("Itagaki; Takeshi"),
            V::Int(0)
        ]]
    );
    assert_eq!(
        parts("------- European Patent"),
        [vec![t("EP"), V::Null, V::Null, V::Null, V::Int(0)]]
    );
    assert_eq!(
        parts("Smith, J., \"Neural nets for claims\", IEEE Trans., 2019, pp. 1-10"),
        [vec![V::Null, V::Null, V::Null, V::Null, V::Int(1)]]
    );
    // Every stored text is exactly as sent, and its parts are what the parser reads from it.
    let sent: BTreeSet<String> = m
        .served
        .iter()
        .filter_map(|d| text(d, "referenceIdentifier"))
        .collect();
    let stored = rows(
        &m.db,
        "SELECT reference_identifier, country, document_number, kind_code, first_inventor, is_npl
         FROM cited_references WHERE reference_identifier IS NOT NULL",
    );
    assert_eq!(stored.len(), sent.len());
    for row in stored {
        let V::Text(raw) = &row[0] else {
            panic!("{row:?}")
        };
        assert!(sent.contains(raw), "{raw:?} was not sent");
        let p = reference::parse(raw).unwrap();
        assert_eq!(
            row[1..],
            [
                V::from(p.country),
                V::from(p.document_number),
                V::from(p.kind_code),
                V::from(p.first_inventor),
                V::Int(p.is_npl as i64)
            ],
            "{raw:?}"
        );
    }
    assert_eq!(
        query_i64(
            &m.db,
            "SELECT count(*) FROM cited_references WHERE reference_identifier IS NULL AND is_npl IS NOT NULL"
        ),
        0
    );
}

fn request(source: Source, format: Format, out: &Path) -> ExportRequest {
    ExportRequest {
        source,
        format,
        out: Output::Path(out.to_owned()),
        partition_by: None,
        force: false,
    }
}

fn table(name: &str) -> Source {
    Source::Table(name.into())
}

/// The live rows of `oa_citations`, sorted.
fn live_rows(db: &Path) -> Vec<Vec<V>> {
    view_rows(db)
        .into_iter()
        .map(|r| r.into_iter().map(V::from).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_and_ndjson_read_back_to_the_same_rows() {
    let m = mirror(2_000).await;
    let expected = live_rows(&m.db);
    // The data holds what CSV and JSON must escape, so that the round trip means something.
    let texts: Vec<&String> = expected
        .iter()
        .flatten()
        .filter_map(|v| match v {
            V::Text(s) => Some(s),
            _ => None,
        })
        .collect();
    for needle in [",", "\"", "\n", "\t", "'", "山田", "Ødegård"] {
        assert!(texts.iter().any(|t| t.contains(needle)), "{needle:?}");
    }
    assert!(texts.iter().any(|t| t.ends_with(' ')));

    let csv_path = m.dir.join("oa.csv");
    let report = export::export(
        &m.db,
        &request(table("oa_citations"), Format::Csv, &csv_path),
    )
    .unwrap();
    assert_eq!(report.rows, expected.len() as u64);
    assert_eq!(report.bytes, std::fs::metadata(&csv_path).unwrap().len());
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let names: Vec<&str> = VIEW_COLUMNS.iter().map(|c| c.0).collect();
    assert_eq!(header, names);
    let mut got: Vec<Vec<Option<String>>> = reader
        .records()
        .map(|r| {
            r.unwrap()
                .iter()
                .map(|f| (!f.is_empty()).then(|| f.to_owned()))
                .collect()
        })
        .collect();
    got.sort();
    let want: Vec<Vec<Option<String>>> = expected
        .iter()
        .map(|r| r.iter().map(V::csv).collect())
        .collect();
    assert_eq!(got, want);

    let ndjson_path = m.dir.join("oa.ndjson");
    export::export(
        &m.db,
        &request(table("oa_citations"), Format::Ndjson, &ndjson_path),
    )
    .unwrap();
    let got: Vec<Vec<V>> = std::fs::read_to_string(&ndjson_path)
        .unwrap()
        .lines()
        .map(|line| {
            let object: Value = serde_json::from_str(line).unwrap();
            assert_eq!(object.as_object().unwrap().len(), names.len());
            let at: Vec<usize> = names
                .iter()
                .map(|n| line.find(&format!("\"{n}\":")).unwrap())
                .collect();
            assert!(at.is_sorted(), "keys in column order: {line}");
            names
                .iter()
                .map(|n| match object[*n].clone() {
                    Value::Null => V::Null,
                    Value::Number(n) => V::Int(n.as_i64().unwrap()),
                    Value::String(s) => V::Text(s),
                    other => panic!("{other}"),
                })
                .collect()
        })
        .collect();
    assert_eq!(sorted(got), expected);

    // A --query, with computed columns, to NDJSON.
    let query = "SELECT tech_center, count(*) AS citations FROM oa_citations GROUP BY tech_center";
    let out = m.dir.join("q.ndjson");
    export::export(
        &m.db,
        &request(Source::Query(query.into()), Format::Ndjson, &out),
    )
    .unwrap();
    let got: Vec<Vec<V>> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            vec![
                V::Text(v["tech_center"].as_str().unwrap().into()),
                V::Int(v["citations"].as_i64().unwrap()),
            ]
        })
        .collect();
    assert_eq!(sorted(got), rows(&m.db, query));
}

/// Every record batch of a Parquet file.
fn parquet_batches(path: &Path) -> (Vec<DataType>, Vec<RecordBatch>) {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
    let types = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let batches = builder.build().unwrap().map(|b| b.unwrap()).collect();
    (types, batches)
}

/// The rows of Int64 and Utf8 batches.
fn parquet_rows(batches: &[RecordBatch]) -> Vec<Vec<V>> {
    let mut rows = vec![];
    for batch in batches {
        for i in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(i) {
                            V::Null
                        } else if let Some(ints) = c.as_primitive_opt::<Int64Type>() {
                            V::Int(ints.value(i))
                        } else {
                            V::Text(c.as_string::<i32>().value(i).to_owned())
                        }
                    })
                    .collect(),
            );
        }
    }
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn parquet_keeps_rows_and_types_and_partitions_by_year() {
    let m = mirror(2_000).await;
    let expected = live_rows(&m.db);
    let out = m.dir.join("oa.parquet");
    export::export(
        &m.db,
        &request(table("oa_citations"), Format::Parquet, &out),
    )
    .unwrap();
    let (types, batches) = parquet_batches(&out);
    let want_types: Vec<DataType> = VIEW_COLUMNS
        .iter()
        .map(|(name, _)| {
            if name.ends_with("_indicator") {
                DataType::Int64
            } else {
                DataType::Utf8
            }
        })
        .collect();
    assert_eq!(types, want_types);
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        expected.len()
    );
    assert_eq!(parquet_rows(&batches), expected);

    // Types of computed columns come from their values.
    let out = m.dir.join("q.parquet");
    let query = "SELECT tech_center, count(*) AS citations,
        avg(examiner_cited_reference_indicator) AS examiner_share FROM oa_citations GROUP BY 1";
    export::export(
        &m.db,
        &request(Source::Query(query.into()), Format::Parquet, &out),
    )
    .unwrap();
    let (types, batches) = parquet_batches(&out);
    assert_eq!(types, [DataType::Utf8, DataType::Int64, DataType::Float64]);
    let share: f64 = batches
        .iter()
        .flat_map(|b| b.column(2).as_primitive::<Float64Type>().values().to_vec())
        .sum();
    let conn = read_only(&m.db);
    let want: f64 = conn
        .query_row(
            &format!("SELECT sum(examiner_share) FROM ({query})"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!((share - want).abs() < 1e-9, "{share} {want}");

    // One file per year, in directories that name the year, together the whole view.
    let dir = m.dir.join("by-year");
    let report = export::export(
        &m.db,
        &ExportRequest {
            partition_by: Some(PartitionBy::Year),
            ..request(table("oa_citations"), Format::Parquet, &dir)
        },
    )
    .unwrap();
    let stamp = VIEW_COLUMNS
        .iter()
        .position(|c| c.0 == "create_date_time")
        .unwrap();
    let years: BTreeSet<String> = expected
        .iter()
        .map(|r| match &r[stamp] {
            V::Text(s) => s[..4].to_owned(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(years.len() >= 8, "{years:?}");
    let mut all = vec![];
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let year = name.strip_prefix("year=").unwrap().to_owned();
        let files: Vec<_> = std::fs::read_dir(entry.path()).unwrap().collect();
        assert_eq!(files.len(), 1, "{name}");
        let (types, batches) = parquet_batches(&files[0].as_ref().unwrap().path());
        assert_eq!(types, want_types);
        let rows = parquet_rows(&batches);
        assert!(!rows.is_empty());
        for row in &rows {
            assert!(
                matches!(&row[stamp], V::Text(s) if s.starts_with(&year)),
                "{row:?}"
            );
        }
        all.extend(rows);
        found.insert(year);
    }
    assert_eq!(found, years);
    assert_eq!(report.files, years.len() as u64);
    assert_eq!(report.rows, expected.len() as u64);
    assert_eq!(sorted(all), expected);

    // A --query partitions too, however it ends (a semicolon, a comment).
    let query = "SELECT id, create_date_time FROM oa_citations -- all of them\n; -- done";
    let report = export::export(
        &m.db,
        &ExportRequest {
            partition_by: Some(PartitionBy::Year),
            ..request(
                Source::Query(query.into()),
                Format::Parquet,
                &m.dir.join("query-by-year"),
            )
        },
    )
    .unwrap();
    assert_eq!(report.rows, expected.len() as u64);
    assert_eq!(report.files, years.len() as u64);
}

fn cli(args: &[&str]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_output_streams_and_a_closed_pipe_ends_quietly() {
    let m = mirror(2_000).await;
    let db = m.db.to_str().unwrap();
    let out = cli(&[
        "export",
        "--db",
        db,
        "--format",
        "csv",
        "--table",
        "oa_citations",
        "--out",
        "-",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = csv::Reader::from_reader(&out.stdout[..]).records().count();
    assert_eq!(records, m.docs.len());

    // The reader takes one line and goes away; the export (far larger than a pipe's buffer)
    // ends at once, with status 0 and nothing said.
    let mut child = bin()
        .args([
            "export",
            "--db",
            db,
            "--format",
            "ndjson",
            "--table",
            "citation_details",
        ])
        .args(["--out", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0_u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"{\"id\":"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2_and_name_what_is_wrong() {
    let m = mirror(200).await;
    let db = m.db.to_str().unwrap();
    let dir = &m.dir;
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let existing = path("existing.csv");
    std::fs::write(&existing, "keep me").unwrap();
    let text_file = path("notes.txt");
    std::fs::write(
        &text_file,
        "not a database at all, just some words\n".repeat(100),
    )
    .unwrap();
    let foreign = path("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let export = |format: &str, out: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = ["export", "--db", db, "--format", format, "--out", out]
            .map(String::from)
            .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let x = path("x.csv");
    let xdir = path("x-dir");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            export("csv", &x, &["--table", "oa_citation"]),
            vec!["--table \"oa_citation\"", "no such table", "oa_citations"],
        ),
        (
            export("csv", &x, &["--query", "SELECT nope FROM oa_citations"]),
            vec!["SELECT nope FROM oa_citations", "no such column: nope"],
        ),
        (
            export("csv", &x, &["--query", "DELETE FROM citation_records"]),
            vec!["DELETE FROM citation_records", "would change the database"],
        ),
        (
            export("csv", &x, &["--query", "ATTACH 'other.db' AS other"]),
            vec!["ATTACH 'other.db' AS other", "returns no columns"],
        ),
        (
            export("csv", &existing, &["--table", "meta"]),
            vec!["existing.csv", "--force"],
        ),
        (
            export(
                "csv",
                &xdir,
                &["--table", "oa_citations", "--partition-by", "year"],
            ),
            vec!["--partition-by", "--format parquet"],
        ),
        (
            export(
                "parquet",
                "-",
                &["--table", "oa_citations", "--partition-by", "year"],
            ),
            vec!["--partition-by", "standard output"],
        ),
        (
            export(
                "parquet",
                &xdir,
                &["--table", "meta", "--partition-by", "year"],
            ),
            vec!["--partition-by", "create_date_time"],
        ),
        (
            [
                "export", "--db", &text_file, "--format", "csv", "--table", "t", "--out", &x,
            ]
            .map(String::from)
            .to_vec(),
            vec![
                "notes.txt",
                "not an oac-mirror database",
                "not an SQLite database",
            ],
        ),
        (
            [
                "export", "--db", &foreign, "--format", "csv", "--table", "t", "--out", &x,
            ]
            .map(String::from)
            .to_vec(),
            vec!["foreign.db", "not an oac-mirror database"],
        ),
        (
            ["pack", "--db", &foreign, "--out", &path("p.db")]
                .map(String::from)
                .to_vec(),
            vec!["foreign.db", "not an oac-mirror database"],
        ),
        (
            ["pack", "--db", db, "--out", &existing]
                .map(String::from)
                .to_vec(),
            vec!["existing.csv", "--force"],
        ),
        (
            ["pack", "--db", db, "--out", db, "--force"]
                .map(String::from)
                .to_vec(),
            vec!["is the database being packed"],
        ),
    ];
    for (args, fragments) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        for fragment in fragments {
            assert!(
                stderr.contains(fragment),
                "{args:?}: {fragment:?} not in {stderr}"
            );
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Nothing was written or replaced, and no partial file is left.
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    let mut left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("mirror.db"))
        .collect();
    left.sort();
    assert_eq!(left, ["existing.csv", "foreign.db", "notes.txt"]);
}
