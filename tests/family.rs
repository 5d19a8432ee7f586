//! The Office Action family: rejections and enriched citations mirrored beside the citations,
//! row for row, and the join that dates every citation whose action a sibling knows.

use std::collections::BTreeMap;
use std::path::Path;

use oac_mirror::replica::{Settings, family::truth_of, synthetic};
use oac_mirror::store::Store;
use rusqlite::types::Value as Sql;
use serde_json::Value;

use crate::support::*;

/// The flat views' columns, in order, with the upstream field each comes from.
pub const REJECTION_COLUMNS: [(&str, &str); 31] = [
    ("id", "id"),
    ("patent_application_number", "patentApplicationNumber"),
    (
        "legacy_document_code_identifier",
        "legacyDocumentCodeIdentifier",
    ),
    ("action_type_category", "actionTypeCategory"),
    ("legal_section_code", "legalSectionCode"),
    ("paragraph_number", "paragraphNumber"),
    ("group_art_unit_number", "groupArtUnitNumber"),
    ("national_class", "nationalClass"),
    ("national_subclass", "nationalSubclass"),
    ("obsolete_document_identifier", "obsoleteDocumentIdentifier"),
    ("create_user_identifier", "createUserIdentifier"),
    ("create_date_time", "createDateTime"),
    ("submission_date", "submissionDate"),
    ("claim_number_array_document", "claimNumberArrayDocument"),
    ("has_rej101", "hasRej101"),
    ("has_rej102", "hasRej102"),
    ("has_rej103", "hasRej103"),
    ("has_rej112", "hasRej112"),
    ("has_rej_dp", "hasRejDP"),
    ("cite103_max", "cite103Max"),
    ("cite103_eq1", "cite103EQ1"),
    ("cite103_gt3", "cite103GT3"),
    ("closing_missing", "closingMissing"),
    ("reject_form_missmatch", "rejectFormMissmatch"),
    ("form_paragraph_missing", "formParagraphMissing"),
    ("header_missing", "headerMissing"),
    ("bilski_indicator", "bilskiIndicator"),
    ("mayo_indicator", "mayoIndicator"),
    ("alice_indicator", "aliceIndicator"),
    ("myriad_indicator", "myriadIndicator"),
    ("allowed_claim_indicator", "allowedClaimIndicator"),
];

pub const ENRICHED_COLUMNS: [(&str, &str); 22] = [
    ("id", "id"),
    ("patent_application_number", "patentApplicationNumber"),
    ("cited_document_identifier", "citedDocumentIdentifier"),
    ("publication_number", "publicationNumber"),
    ("kind_code", "kindCode"),
    ("country_code", "countryCode"),
    ("inventor_name_text", "inventorNameText"),
    ("office_action_date", "officeActionDate"),
    ("office_action_category", "officeActionCategory"),
    ("citation_category_code", "citationCategoryCode"),
    ("related_claim_number_text", "relatedClaimNumberText"),
    (
        "examiner_cited_reference_indicator",
        "examinerCitedReferenceIndicator",
    ),
    (
        "applicant_cited_examiner_reference_indicator",
        "applicantCitedExaminerReferenceIndicator",
    ),
    ("npl_indicator", "nplIndicator"),
    ("work_group_number", "workGroupNumber"),
    ("group_art_unit_number", "groupArtUnitNumber"),
    ("tech_center", "techCenter"),
    ("quality_summary_text", "qualitySummaryText"),
    ("passage_location_text", "passageLocationText"),
    ("obsolete_document_identifier", "obsoleteDocumentIdentifier"),
    ("create_user_identifier", "createUserIdentifier"),
    ("create_date_time", "createDateTime"),
];

/// What the view contracts promise for one upstream value.
fn promised(v: Option<&Value>) -> Sql {
    match v {
        None | Some(Value::Null) => Sql::Null,
        Some(Value::String(s)) if s.is_empty() => Sql::Null,
        Some(Value::String(s)) => Sql::Text(s.clone()),
        Some(Value::Bool(b)) => Sql::Integer(i64::from(*b)),
        Some(Value::Number(n)) => Sql::Integer(n.as_i64().unwrap()),
        Some(Value::Array(a)) if a.is_empty() => Sql::Null,
        Some(a @ Value::Array(_)) => Sql::Text(serde_json::to_string(a).unwrap()),
        Some(other) => panic!("{other}"),
    }
}

fn expected(docs: &[Value], columns: &[(&str, &str)]) -> Vec<Row> {
    let mut rows: Vec<Row> = docs
        .iter()
        .map(|d| columns.iter().map(|(_, f)| promised(d.get(*f))).collect())
        .collect();
    rows.sort_by_key(id_of);
    rows
}

fn rows_of(db: &Path, view: &str, columns: &[(&str, &str)]) -> Vec<Row> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {view} ORDER BY id"))
        .unwrap();
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let wanted: Vec<&str> = columns.iter().map(|c| c.0).collect();
    assert_eq!(names, wanted, "the columns of {view}, in order");
    stmt.query_map([], |r| {
        (0..columns.len()).map(|i| r.get::<_, Sql>(i)).collect()
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// The mail date the replica's siblings give each citation: its action's earliest rejections
/// date, else its earliest enriched date, else none.
fn dated_truth(
    citations: &[Value],
    rejections: &[Value],
    enriched: &[Value],
) -> BTreeMap<String, Option<String>> {
    let key = |d: &Value| {
        (
            d["obsoleteDocumentIdentifier"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            d["patentApplicationNumber"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    let earliest = |docs: &[Value], field: &str| {
        let mut m: BTreeMap<(String, String), String> = BTreeMap::new();
        for d in docs {
            let date = d[field].as_str().unwrap().to_owned();
            m.entry(key(d))
                .and_modify(|e| {
                    if date < *e {
                        *e = date.clone()
                    }
                })
                .or_insert(date);
        }
        m
    };
    let (r, e) = (
        earliest(rejections, "submissionDate"),
        earliest(enriched, "officeActionDate"),
    );
    citations
        .iter()
        .map(|c| {
            let k = key(c);
            (
                c["id"].as_str().unwrap().to_owned(),
                r.get(&k).or_else(|| e.get(&k)).cloned(),
            )
        })
        .collect()
}

fn family_config(replica: &oac_mirror::replica::Replica, db: &Path) -> oac_mirror::config::Config {
    config(replica, db, "2017-10-01", "2025-12-31", |c| {
        c.datasets = Some(vec!["all".into()]);
        c.rows = Some(500);
        c.paging_cap = Some(5_000);
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_family_harvest_equals_the_replica_row_for_row_and_dates_every_citation() {
    let citations = synthetic(6_000, 21);
    let replica = replica(citations.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let started = std::time::Instant::now();
    let outcome = harvest(&family_config(&replica, &db)).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    let elapsed = started.elapsed();
    let rejections = replica.family_docs("rejections");
    let enriched = replica.family_docs("enriched");
    assert!(
        rejections.len() > citations.len() / 8,
        "{}",
        rejections.len()
    );
    assert!(!enriched.is_empty());
    assert_eq!(view_rows(&db), expected_rows(&citations));
    assert_eq!(
        rows_of(&db, "oa_rejections", &REJECTION_COLUMNS),
        expected(&rejections, &REJECTION_COLUMNS)
    );
    assert_eq!(
        rows_of(&db, "enriched_citations", &ENRICHED_COLUMNS),
        expected(&enriched, &ENRICHED_COLUMNS)
    );
    // Every citation's mail date is the replica's truth.
    let truth = dated_truth(&citations, &rejections, &enriched);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let dated: BTreeMap<String, Option<String>> = conn
        .prepare("SELECT id, mail_date FROM oa_citations_dated")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(dated, truth);
    // The document code is the action's, wherever it came from.
    let mut codes = conn
        .prepare("SELECT obsolete_document_identifier, patent_application_number, document_code, mail_date FROM office_action_dates WHERE mail_date IS NOT NULL")
        .unwrap();
    let codes: Vec<(String, String, String, String)> = codes
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(!codes.is_empty());
    for (doc, app, code, date) in &codes {
        let t = truth_of(doc, app);
        assert_eq!((code, date), (&t.document_code, &t.mail_date));
    }
    // One office action, one row, whichever data set stored it first.
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM (SELECT 1 FROM office_actions GROUP BY obsolete_document_identifier, patent_application_number HAVING count(*) > 1)"
        ),
        0
    );
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    let with_date = dated.values().filter(|d| d.is_some()).count();
    eprintln!(
        "family harvest: {} citations, {} rejections, {} enriched; {} requests in {:.2?}; mail-date coverage {:.1}%",
        citations.len(),
        rejections.len(),
        enriched.len(),
        outcome.stats.requests,
        elapsed,
        100.0 * with_date as f64 / dated.len() as f64
    );
}

/// A refresh where only the rejections changed fetches pages only from the rejections; each
/// unchanged data set costs what an unchanged refresh costs (its /fields and a few counts).
#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_of_one_changed_data_set_costs_only_counts_on_the_others() {
    let citations = synthetic(4_000, 5);
    let replica = replica(citations.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = family_config(&replica, &db);
    assert!(harvest(&cfg).await.unwrap().complete);

    let unchanged_before = per_dataset(&replica);
    let unchanged = harvest(&cfg).await.unwrap();
    assert!(unchanged.complete, "{}", unchanged.message);
    let unchanged_cost = since(&replica, &unchanged_before);

    // Three rejections records gone, one changed, two new (in an existing load second).
    let mut rejections = replica.family_docs("rejections");
    rejections.drain(0..3);
    rejections[10]["legalSectionCode"] = Value::from("101");
    for i in 0..2 {
        let mut r = rejections[20 + i].clone();
        r["id"] = Value::from(format!("{:032x}", 0xfeed_0000_u64 + i as u64));
        rejections.push(r);
    }
    replica.replace_family("rejections", rejections.clone());
    let before = per_dataset(&replica);
    let refresh = harvest(&cfg).await.unwrap();
    assert!(refresh.complete, "{}", refresh.message);
    let cost = since(&replica, &before);
    assert_eq!(
        rows_of(&db, "oa_rejections", &REJECTION_COLUMNS),
        expected(&rejections, &REJECTION_COLUMNS)
    );
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM oa_rejections_deleted"),
        3
    );
    assert_eq!(view_rows(&db), expected_rows(&citations));
    // The unchanged data sets cost what an unchanged refresh costs: counts only.
    for name in ["citations", "enriched"] {
        assert_eq!(
            cost[name], unchanged_cost[name],
            "{name}: {cost:?} vs {unchanged_cost:?}"
        );
        assert!(cost[name] <= 3, "{name}: {cost:?}");
    }
    assert!(
        cost["rejections"] > unchanged_cost["rejections"],
        "{cost:?}"
    );
    // status reports each data set.
    let status = Store::open_read_only(&db).unwrap().status().unwrap();
    assert!(status.complete);
    let names: Vec<&str> = status.datasets.keys().map(String::as_str).collect();
    assert_eq!(names, ["citations", "enriched", "rejections"]);
    assert_eq!(
        status.datasets["rejections"].records,
        rejections.len() as u64
    );
    assert_eq!(status.datasets["rejections"].deleted, 3);
    assert_eq!(status.records, citations.len() as u64);
}

fn per_dataset(replica: &oac_mirror::replica::Replica) -> BTreeMap<&'static str, u64> {
    ["citations", "rejections", "enriched"]
        .into_iter()
        .map(|n| (n, replica.record_requests_of(n)))
        .collect()
}

fn since(
    replica: &oac_mirror::replica::Replica,
    before: &BTreeMap<&'static str, u64>,
) -> BTreeMap<&'static str, u64> {
    per_dataset(replica)
        .into_iter()
        .map(|(n, v)| (n, v - before[n]))
        .collect()
}

/// A family harvest killed partway resumes where it stopped and ends exact, in every data set.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_family_harvest_resumes_exactly() {
    use std::process::Stdio;
    let citations = synthetic(2_000, 17);
    let replica = replica(citations.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let args = |rate: &str| {
        let mut c = bin();
        c.args([
            "harvest",
            "--quiet",
            "--dataset",
            "all",
            "--rows",
            "100",
            "--paging-cap",
            "2000",
            "--rate",
            rate,
            "--db",
        ])
        .arg(&db)
        .args(["--base-url", &replica.base_url()]);
        c
    };
    // Killed once the enriched citations, harvested last, are under way.
    let mut child = args("5").stderr(Stdio::null()).spawn().unwrap();
    wait_for_rows(&db, "enriched_records", 1).await;
    child.kill().unwrap();
    assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
    let rejections = replica.family_docs("rejections");
    let enriched = replica.family_docs("enriched");
    assert!(query_i64(&db, "SELECT count(*) FROM enriched_records") < enriched.len() as i64);
    let before = per_dataset(&replica);
    let out = args("10000").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The data sets finished before the kill cost only their proof.
    let rerun = since(&replica, &before);
    assert!(
        rerun["citations"] <= 3 && rerun["rejections"] <= 3,
        "{rerun:?}"
    );
    assert_eq!(view_rows(&db), expected_rows(&citations));
    assert_eq!(
        rows_of(&db, "oa_rejections", &REJECTION_COLUMNS),
        expected(&rejections, &REJECTION_COLUMNS)
    );
    assert_eq!(
        rows_of(&db, "enriched_citations", &ENRICHED_COLUMNS),
        expected(&enriched, &ENRICHED_COLUMNS)
    );
    let out = bin()
        .args(["status", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["complete"], true);
    for name in ["citations", "rejections", "enriched"] {
        assert_eq!(status["datasets"][name]["complete"], true, "{status}");
    }
    assert_eq!(
        status["datasets"]["rejections"]["records"],
        rejections.len()
    );
}

/// The cookbook's family queries, as the README shows them.
pub const COOKBOOK: [&str; 3] = [
    // Citations per mail year.
    "SELECT substr(mail_date, 1, 4) AS mail_year, count(*) AS citations
     FROM oa_citations_dated GROUP BY mail_year ORDER BY mail_year",
    // The share of 102/103 rejections per art unit and year.
    "SELECT group_art_unit_number, substr(submission_date, 1, 4) AS year, count(*) AS rejections,
            round(avg(has_rej102 = 1 OR has_rej103 = 1), 3) AS share_102_103
     FROM oa_rejections GROUP BY group_art_unit_number, year ORDER BY group_art_unit_number, year",
    // Citations with their enriched category where the reference matches.
    "SELECT c.id, c.patent_application_number, c.reference_identifier, e.citation_category_code
     FROM oa_citations AS c
     JOIN enriched_citations AS e
       ON e.obsolete_document_identifier = c.obsolete_document_identifier
      AND e.patent_application_number = c.patent_application_number
      AND e.publication_number = c.parsed_reference_identifier",
];

/// A packed family mirror keeps every data set's tables and views, describes them, exports
/// them in every format, answers the cookbook, and looks one application up through indexes.
#[tokio::test(flavor = "multi_thread")]
async fn a_packed_family_exports_every_view_and_answers_the_cookbook() {
    use oac_mirror::export::{self, ExportRequest, Format, Output, Source};
    let citations = synthetic(1_500, 3);
    let replica = replica(citations.clone(), Settings::default()).await;
    let (dir, db) = temp_db();
    assert!(
        harvest(&family_config(&replica, &db))
            .await
            .unwrap()
            .complete
    );
    let packed = dir.path().join("handoff.db");
    oac_mirror::pack::pack(&db, &packed, &Default::default()).unwrap();
    let rejections = replica.family_docs("rejections");
    let enriched = replica.family_docs("enriched");
    assert_eq!(
        rows_of(&packed, "oa_rejections", &REJECTION_COLUMNS),
        expected(&rejections, &REJECTION_COLUMNS)
    );
    assert_eq!(
        query_i64(
            &packed,
            "SELECT count(*) FROM schema_docs WHERE object IN ('oa_rejections', 'enriched_citations', 'oa_citations_dated', 'office_action_dates')"
        ),
        4 + 31 + 22 + 18 + 5
    );
    for (view, rows) in [
        ("oa_rejections", rejections.len()),
        ("enriched_citations", enriched.len()),
        ("oa_citations_dated", citations.len()),
    ] {
        for format in [Format::Csv, Format::Ndjson, Format::Parquet] {
            let out = dir.path().join(format!("{view}.{format}"));
            let report = export::export(
                &packed,
                &ExportRequest {
                    source: Source::Table(view.into()),
                    format,
                    out: Output::Path(out.clone()),
                    partition_by: None,
                    force: false,
                },
            )
            .unwrap();
            assert_eq!(report.rows, rows as u64, "{view} as {format}");
            assert!(std::fs::metadata(&out).unwrap().len() > 0);
        }
    }
    let conn = rusqlite::Connection::open(&packed).unwrap();
    for sql in COOKBOOK {
        let n = conn
            .prepare(sql)
            .unwrap()
            .query_map([], |_| Ok(()))
            .unwrap()
            .count();
        assert!(n > 0, "{sql}");
    }
    // One application: its first and last mail date, through indexes only.
    for view in ["application_citation_counts", "citation_details"] {
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT * FROM {view} WHERE patent_application_number = ?1"
            ))
            .unwrap()
            .query_map([""], |r| r.get(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        // Only the view's own result (the one application's row) may be scanned.
        let scans: Vec<&String> = plan
            .iter()
            .filter(|l| l.contains("SCAN") && **l != format!("SCAN {view}"))
            .collect();
        assert!(scans.is_empty(), "{view}: {plan:?}");
        assert!(
            plan.iter()
                .any(|l| l.contains("office_actions_application")),
            "{plan:?}"
        );
    }
    let (app, first, last): (String, Option<String>, Option<String>) = conn
        .query_row(
            "SELECT patent_application_number, first_mail_date, last_mail_date
             FROM application_citation_counts WHERE first_mail_date IS NOT NULL LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let (min, max): (Option<String>, Option<String>) = conn
        .query_row(
            "SELECT min(mail_date), max(mail_date) FROM oa_citations_dated WHERE patent_application_number = ?1",
            [&app],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((first, last), (min, max));
}

/// A data set whose /fields lost a field it stores fails by name; the others are harvested.
#[tokio::test(flavor = "multi_thread")]
async fn a_sibling_that_lost_a_field_fails_by_name_while_the_others_go_on() {
    let citations = synthetic(800, 8);
    let replica = replica(citations.clone(), Settings::default()).await;
    let rejections: Vec<String> = oac_mirror::dataset::REJECTIONS
        .known_fields()
        .filter(|f| *f != "submissionDate")
        .map(str::to_owned)
        .collect();
    replica.update_settings(|s| {
        s.family_fields.insert("rejections".into(), rejections);
    });
    let (_dir, db) = temp_db();
    let outcome = harvest(&family_config(&replica, &db)).await.unwrap();
    assert!(!outcome.complete);
    let line = outcome
        .message
        .lines()
        .find(|l| l.starts_with("rejections:"))
        .unwrap();
    assert!(line.contains("submissionDate"), "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&citations));
    let enriched = replica.family_docs("enriched");
    assert_eq!(
        rows_of(&db, "enriched_citations", &ENRICHED_COLUMNS),
        expected(&enriched, &ENRICHED_COLUMNS)
    );
    assert_eq!(replica.record_requests_of("rejections"), 0);
    // The mirror holds the two it could harvest, both complete; the run (exit 1) was not.
    let status = Store::open_read_only(&db).unwrap().status().unwrap();
    assert!(!status.datasets.contains_key("rejections"));
    assert!(status.complete);
    assert!(status.datasets["enriched"].complete);
}

/// A sibling asked for with a --base-url whose siblings cannot be found, or a --base-url and
/// --api-root that disagree, exits 2 before any request.
#[tokio::test(flavor = "multi_thread")]
async fn a_sibling_without_a_known_prefix_exits_2_before_any_request() {
    let replica = replica(synthetic(10, 1), Settings::default()).await;
    let (_dir, db) = temp_db();
    let base = replica.base_url();
    let root = base.trim_end_matches("/oa_citations/v2").to_owned();
    for args in [
        vec![
            "--base-url",
            "http://127.0.0.1:9/citations",
            "--dataset",
            "rejections",
        ],
        vec![
            "--base-url",
            &base,
            "--api-root",
            "http://127.0.0.1:9/oa",
            "--dataset",
            "citations",
        ],
        vec!["--dataset", "everything", "--api-root", &root],
    ] {
        let out = bin()
            .args(["harvest", "--db"])
            .arg(&db)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(replica.requests(), 0);
    // Beside the citations' prefix, all three are found.
    let out = bin()
        .args([
            "harvest",
            "--quiet",
            "--rate",
            "1000",
            "--from",
            "2017-10-01",
            "--dataset",
            "all",
            "--db",
        ])
        .arg(&db)
        .args(["--base-url", &base])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `plan` counts every data set asked for and sums their requests; `verify` of a family mirror
/// compares every data set's tree and agrees.
#[tokio::test(flavor = "multi_thread")]
async fn plan_and_verify_cover_every_data_set() {
    use oac_mirror::api;
    use oac_mirror::harvest::{fetch::Fetcher, survey};
    use tokio_util::sync::CancellationToken;
    let citations = synthetic(1_000, 4);
    let replica = replica(citations.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = family_config(&replica, &db);
    let fetcher = || {
        let client = api::Client::new(&cfg.base_url, &cfg.api_key, cfg.timeouts).unwrap();
        Fetcher::new(client, (&cfg).into(), CancellationToken::new())
    };
    let plan = survey::plan(&cfg, &mut fetcher()).await.unwrap();
    for name in ["citations", "rejections", "enriched"] {
        assert!(
            plan.windows
                .iter()
                .any(|w| w.window.starts_with(&format!("{name}: "))),
            "{plan}"
        );
    }
    assert!(!db.exists(), "plan writes nothing");
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete);
    let estimate = plan.requests as f64;
    let actual = outcome.stats.requests as f64;
    assert!(
        estimate > actual * 0.5 && estimate < actual * 2.0,
        "{estimate} vs {actual}"
    );
    let store = Store::open_read_only(&db).unwrap();
    let found = survey::verify(&cfg, &mut fetcher(), store, true)
        .await
        .unwrap();
    assert!(found.agrees(), "{found}");
    let total = citations.len()
        + replica.family_docs("rejections").len()
        + replica.family_docs("enriched").len();
    assert_eq!(found.local_total, total as u64);
}
