//! The siblings' write path and schema docs, checked against the real samples and the
//! view contracts.

use super::*;
use crate::dataset::{self, ENRICHED, REJECTIONS};
use crate::plan::Window;
use serde_json::Value;

fn sample(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["response"]["docs"].as_array().unwrap().clone()
}

/// Stores `docs` as one page of a leaf of `d`'s tree.
fn store(store: &mut Store, d: &'static Dataset, docs: &[Value]) {
    store.set_dataset(d);
    let window = Window::days(
        chrono::NaiveDate::from_ymd_opt(2025, 7, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2025, 7, 31).unwrap(),
    );
    store
        .begin_run(
            &d.prefix("http://127.0.0.1:1"),
            &window,
            &crate::api::query::criteria,
        )
        .unwrap();
    let root = store.root().unwrap().unwrap();
    let leaf = store.start_leaf(root.id, docs.len() as u64, None).unwrap();
    let (records, rejected): (Vec<_>, Vec<_>) = docs
        .iter()
        .map(|doc| dataset::parse(d, doc.clone()))
        .partition(|r| r.is_ok());
    let records: Vec<FamilyRecord> = records.into_iter().map(|r| r.unwrap()).collect();
    let rejected: Vec<Rejected> = rejected.into_iter().map(|r| r.unwrap_err()).collect();
    store
        .put_family_page(
            leaf.id,
            leaf.sweep.unwrap(),
            docs.len() as u64,
            &records,
            &rejected,
        )
        .unwrap();
    store.flush().unwrap();
}

/// What the view contract promises for one upstream value.
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

fn view_rows(store: &Store, view: &str, columns: &[(&str, &str)]) -> Vec<Vec<Sql>> {
    let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let mut stmt = store
        .conn()
        .prepare(&format!("SELECT * FROM {view} ORDER BY id"))
        .unwrap();
    let got: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    assert_eq!(got, names, "the columns of {view}, in order");
    stmt.query_map([], |r| {
        (0..names.len()).map(|i| r.get::<_, Sql>(i)).collect()
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

fn expected(docs: &[Value], columns: &[(&str, &str)]) -> Vec<Vec<Sql>> {
    let mut rows: Vec<Vec<Sql>> = docs
        .iter()
        .map(|d| columns.iter().map(|(_, f)| promised(d.get(*f))).collect())
        .collect();
    rows.sort_by_key(|r| match &r[0] {
        Sql::Text(s) => s.clone(),
        _ => unreachable!(),
    });
    rows
}

pub(crate) const REJECTION_COLUMNS: [(&str, &str); 31] = [
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

pub(crate) const ENRICHED_COLUMNS: [(&str, &str); 22] = [
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

#[test]
fn real_sibling_samples_are_stored_as_the_view_contracts_say() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("m.db")).unwrap();
    let rejections = sample("rejections_app_12190351.json");
    let enriched = sample("enriched_star_query_excerpt.json");
    store(&mut s, &REJECTIONS, &rejections);
    store(&mut s, &ENRICHED, &enriched);
    assert_eq!(
        view_rows(&s, "oa_rejections", &REJECTION_COLUMNS),
        expected(&rejections, &REJECTION_COLUMNS)
    );
    assert_eq!(
        view_rows(&s, "enriched_citations", &ENRICHED_COLUMNS),
        expected(&enriched, &ENRICHED_COLUMNS)
    );
    // The three rejections share one action: one row in office_actions, with its date.
    let dates: Vec<(String, String, String, String)> = s
        .conn()
        .prepare("SELECT obsolete_document_identifier, mail_date, document_code, date_source FROM office_action_dates ORDER BY 1")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        dates[0],
        (
            "GTYKOVWIPPOPPY5".into(),
            "2011-10-19T00:00:00".into(),
            "CTNF".into(),
            "rejections".into()
        )
    );
    assert_eq!(
        dates[1],
        (
            "J02FRPALRXEAPX0".into(),
            "2017-03-13T00:00:00".into(),
            "CTNF".into(),
            "enriched".into()
        )
    );
    assert_eq!(dates.len(), 4);
    // Stored again unchanged: nothing added or updated.
    store(&mut s, &REJECTIONS, &rejections);
    assert_eq!(
        view_rows(&s, "oa_rejections", &REJECTION_COLUMNS),
        expected(&rejections, &REJECTION_COLUMNS)
    );
}

/// A mirror harvested before the family upgrades in place: its office actions stay one row
/// each, and the siblings' records of them join them and date their citations.
#[test]
fn a_citations_mirror_upgrades_in_place_and_its_actions_get_dates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let conn = Connection::open(&path).unwrap();
    for sql in &super::super::migrate::MIGRATIONS[..3] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(
        "PRAGMA user_version = 3;
         INSERT INTO applications VALUES ('12190351');
         INSERT INTO office_actions (obsolete_document_identifier, patent_application_number,
             group_art_unit_number, tech_center, work_group)
         VALUES ('GTYKOVWIPPOPPY5', '12190351', '1713', '1700', '1710');
         INSERT INTO cited_references (reference_identifier) VALUES ('Sabe; Kohtaro US 20070217688 A1');
         INSERT INTO citations (id, office_action_id, reference_id, sweep) VALUES ('c1', 1, 1, 1);",
    )
    .unwrap();
    drop(conn);
    let mut s = Store::open(&path).unwrap();
    store(&mut s, &REJECTIONS, &sample("rejections_app_12190351.json"));
    let conn = s.conn();
    let actions: i64 = conn
        .query_row("SELECT count(*) FROM office_actions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(actions, 1);
    let dated: (String, String) = conn
        .query_row(
            "SELECT mail_date, document_code FROM oa_citations_dated WHERE id = 'c1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(dated, ("2011-10-19T00:00:00".into(), "CTNF".into()));
    let dataset: String = conn
        .query_row(
            "SELECT dataset FROM runs ORDER BY run_id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dataset, "rejections");
}

/// An action a sibling stored first (without art unit) and a citation of it later are one
/// office_actions row, which the citation's art-unit columns fill in.
#[test]
fn an_action_is_one_row_across_the_family() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("m.db")).unwrap();
    let rejections = sample("rejections_app_12190351.json");
    store(&mut s, &REJECTIONS, &rejections);
    let conn = s.conn();
    let insert = "INSERT INTO office_actions (obsolete_document_identifier, patent_application_number, group_art_unit_number,
        tech_center, work_group) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING RETURNING office_action_id";
    let returned: Option<i64> = conn
        .query_row(
            insert,
            ["GTYKOVWIPPOPPY5", "12190351", "1713", "1700", "1710"],
            |r| r.get(0),
        )
        .optional()
        .unwrap();
    assert_eq!(
        returned, None,
        "the row that exists is filled in, not a second one added"
    );
    let rows: Vec<(i64, Option<String>, Option<String>)> = conn
        .prepare("SELECT office_action_id, group_art_unit_number, tech_center FROM office_actions")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows, [(1, Some("1713".into()), Some("1700".into()))]);
    // A citation of the same action in another art unit keeps its own row.
    let other: Option<i64> = conn
        .query_row(
            insert,
            ["GTYKOVWIPPOPPY5", "12190351", "2100", "2100", "2110"],
            |r| r.get(0),
        )
        .optional()
        .unwrap();
    assert_eq!(other, Some(2));
    // The rejections view still reads its own art unit.
    let unit: String = conn
        .query_row(
            "SELECT DISTINCT group_art_unit_number FROM oa_rejections",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unit, "1713");
}
