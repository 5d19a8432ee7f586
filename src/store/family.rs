//! Writing pages of the citations' siblings (rejections, enriched citations): the generic write
//! path, whose columns are the data set's description ([`Dataset`]), in the open batch of pages
//! with the checkpoint, as `records` does for the citations. Also the `schema_docs` rows of the
//! siblings' tables and views, written from the same descriptions.

use std::collections::HashMap;

use rusqlite::types::{ToSqlOutput, Value as Sql};
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::Store;
use crate::api::record::Rejected;
use crate::dataset::{self, Cell, Dataset, FamilyRecord};
use crate::error::{Error, Result};

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Sql::Null),
            Cell::Int(i) => ToSqlOutput::Owned(Sql::Integer(*i)),
            Cell::Text(s) => ToSqlOutput::Borrowed(s.as_str().into()),
        })
    }
}

/// The statements of one data set's write path, built once from its description.
pub(super) struct Statements {
    insert: String,
    upsert: String,
}

fn statements(d: &Dataset) -> Statements {
    let own: Vec<&str> = d.fields.iter().map(|f| f.column).collect();
    let columns = format!("id, office_action_id, {}, extra, sweep", own.join(", "));
    let marks: Vec<String> = (1..=own.len() + 4).map(|i| format!("?{i}")).collect();
    let values = format!("VALUES ({})", marks.join(", "));
    let table = d.table;
    let set: Vec<String> = own
        .iter()
        .chain(&["office_action_id", "extra"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let differs: Vec<String> = own
        .iter()
        .chain(&["office_action_id", "extra"])
        .map(|c| format!("{table}.{c} IS NOT excluded.{c}"))
        .collect();
    Statements {
        insert: format!(
            "INSERT INTO {table} ({columns}) {values} ON CONFLICT (id) DO NOTHING"
        ),
        upsert: format!(
            "INSERT INTO {table} ({columns}) {values} ON CONFLICT (id) DO UPDATE SET {}, sweep = excluded.sweep, deleted_at = NULL
             WHERE {} OR {table}.deleted_at IS NOT NULL",
            set.join(", "),
            differs.join(" OR ")
        ),
    }
}

/// The write path's state kept between pages: statements per data set and the office actions
/// already looked up.
#[derive(Default)]
pub(super) struct FamilyCaches {
    statements: HashMap<&'static str, Statements>,
    actions: HashMap<(Option<String>, Option<String>), i64>,
}

impl FamilyCaches {
    /// Forgets the office actions looked up (a batch that rolled back may have made them).
    pub(super) fn forget_actions(&mut self) {
        self.actions.clear();
    }
}

/// Entries kept in the office-action cache before it starts afresh.
const ACTION_CACHE_LIMIT: usize = 200_000;

impl Store {
    /// Stores one page of leaf `id` (fetched in `sweep`) of the current sibling data set and
    /// advances its checkpoint, in the open batch of pages: as [`Store::put_page`] does for the
    /// citations.
    pub fn put_family_page(
        &mut self,
        id: i64,
        sweep: i64,
        next_offset: u64,
        records: &[FamilyRecord],
        rejected: &[Rejected],
    ) -> Result<()> {
        self.write_a_page(|s| write_page(s, id, sweep, next_offset, records, rejected))
    }
}

fn write_page(
    store: &mut Store,
    id: i64,
    sweep: i64,
    next_offset: u64,
    records: &[FamilyRecord],
    rejected: &[Rejected],
) -> Result<()> {
    let d = store.dataset;
    let tx = &store.conn;
    let caches = &mut store.family;
    let st = caches
        .statements
        .entry(d.name)
        .or_insert_with(|| statements(d));
    let mut insert = tx
        .prepare_cached(&st.insert)
        .map_err(Error::sqlite(format!("prepare {} insert", d.table)))?;
    let mut upsert = tx
        .prepare_cached(&st.upsert)
        .map_err(Error::sqlite(format!("prepare {} upsert", d.table)))?;
    let mut stored = tx
        .prepare_cached(&format!("SELECT deleted_at FROM {} WHERE id = ?1", d.table))
        .map_err(Error::sqlite("prepare record lookup"))?;
    let mut seen = tx
        .prepare_cached(&format!("UPDATE {} SET sweep = ?2 WHERE id = ?1", d.table))
        .map_err(Error::sqlite("prepare record sweep"))?;
    let (mut added, mut updated, mut revived) = (0u64, 0u64, 0u64);
    for r in records {
        let action = action_id(tx, &mut caches.actions, r)?;
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(r.cells.len() + 4);
        values.push(&r.id);
        values.push(&action);
        values.extend(r.cells.iter().map(|c| c as &dyn ToSql));
        values.push(&r.extra);
        values.push(&sweep);
        let inserted = insert
            .execute(values.as_slice())
            .map_err(Error::sqlite(format!("store record {}", r.id)))?;
        if inserted > 0 {
            added += 1;
            continue;
        }
        let deleted_at: Option<String> = stored
            .query_row([&r.id], |row| row.get(0))
            .map_err(Error::sqlite(format!("look up record {}", r.id)))?;
        if let (Some(deleted_at), Some((_, started))) = (&deleted_at, store.run.as_ref())
            && deleted_at >= started
        {
            revived += 1;
        }
        if upsert
            .execute(values.as_slice())
            .map_err(Error::sqlite(format!("store record {}", r.id)))?
            > 0
        {
            updated += 1;
        } else {
            seen.execute(params![r.id, sweep])
                .map_err(Error::sqlite(format!("store record {}", r.id)))?;
        }
    }
    super::records::finish_page(
        tx,
        store.run.as_ref(),
        id,
        sweep,
        next_offset,
        rejected,
        (added, updated, revived),
    )
}

/// The office action a sibling record belongs to: the first row of its (document, application)
/// pair, whatever art unit a citation gave it, or a new row without art-unit columns (which the
/// first citation of the action fills in; see migration 0004).
fn action_id(
    tx: &Connection,
    cache: &mut HashMap<(Option<String>, Option<String>), i64>,
    r: &FamilyRecord,
) -> Result<i64> {
    let key = (
        r.obsolete_document_identifier.clone(),
        r.patent_application_number.clone(),
    );
    if let Some(&id) = cache.get(&key) {
        return Ok(id);
    }
    if let Some(number) = &r.patent_application_number {
        tx.prepare_cached("INSERT INTO applications (patent_application_number) VALUES (?1) ON CONFLICT DO NOTHING")
            .and_then(|mut s| s.execute([number]))
            .map_err(Error::sqlite("store application"))?;
    }
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT office_action_id FROM office_actions
             WHERE ifnull(obsolete_document_identifier, '') = ifnull(?1, '')
               AND ifnull(patent_application_number, '') = ifnull(?2, '')
             ORDER BY office_action_id LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![key.0, key.1], |row| row.get(0))
                .optional()
        })
        .map_err(Error::sqlite("look up office action"))?;
    let id = match found {
        Some(id) => id,
        None => tx
            .prepare_cached(
                "INSERT INTO office_actions (obsolete_document_identifier, patent_application_number)
                 VALUES (?1, ?2) RETURNING office_action_id",
            )
            .and_then(|mut s| s.query_row(params![key.0, key.1], |row| row.get(0)))
            .map_err(Error::sqlite("store office action"))?,
    };
    if cache.len() >= ACTION_CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, id);
    Ok(id)
}

/// Writes the `schema_docs` rows of every sibling's table and views, from its description
/// (run right after migration 4 created them).
pub(super) fn describe(tx: &Connection) -> Result<()> {
    let mut insert = tx
        .prepare("INSERT INTO schema_docs (object, column_name, description) VALUES (?1, ?2, ?3)")
        .map_err(Error::sqlite("prepare schema docs"))?;
    let mut doc = |object: &str, column: Option<&str>, text: String| {
        insert
            .execute(params![object, column, text])
            .map(drop)
            .map_err(Error::sqlite(format!("describe {object}")))
    };
    for d in dataset::ALL.into_iter().filter(|d| !d.is_citations()) {
        let upstream = d.prefix("…");
        doc(
            d.table,
            None,
            format!(
                "One row per {} record (upstream id), deleted ones included (deleted_at); the office action it belongs to is in office_actions. Upstream: {upstream}.",
                d.name
            ),
        )?;
        doc(
            d.view,
            None,
            format!(
                "The {} data set, one row per live record, in upstream's flat shape ({upstream}). \"\", null and missing values are NULL; booleans 0/1; arrays as compact JSON text.",
                d.name
            ),
        )?;
        doc(
            d.deleted_view,
            None,
            format!(
                "Records of {} that vanished upstream, in the shape of {}, with when a refresh found them gone.",
                d.name, d.view
            ),
        )?;
        let keys = [
            ("id", "Upstream record id (id)."),
            (
                "patent_application_number",
                "The application (patentApplicationNumber).",
            ),
            (
                "obsolete_document_identifier",
                "The office-action document (obsoleteDocumentIdentifier).",
            ),
        ];
        for (column, text) in keys {
            doc(d.view, Some(column), text.into())?;
            doc(d.deleted_view, Some(column), text.into())?;
        }
        doc(d.table, Some("id"), "Upstream record id (id).".into())?;
        doc(
            d.table,
            Some("office_action_id"),
            "Local key of the office action (office_actions).".into(),
        )?;
        for f in d.fields {
            let text = match f.kind {
                dataset::Kind::Text => format!("{}, exactly as sent.", f.name),
                dataset::Kind::Bool => format!("{} (0/1).", f.name),
                dataset::Kind::Int => format!("{}, an integer.", f.name),
                dataset::Kind::Array => format!(
                    "{}: the array as compact JSON text (NULL when empty).",
                    f.name
                ),
            };
            for object in [d.table, d.view, d.deleted_view] {
                doc(object, Some(f.column), text.clone())?;
            }
        }
        doc(
            d.table,
            Some("extra"),
            "Fields upstream sent that oac-mirror does not know, as JSON.".into(),
        )?;
        doc(
            d.table,
            Some("sweep"),
            "The fetch of a partition that last saw the record.".into(),
        )?;
        for object in [d.table, d.deleted_view] {
            doc(
                object,
                Some("deleted_at"),
                "When a refresh found the record gone upstream (UTC).".into(),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{ENRICHED, REJECTIONS};
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
        for sql in &super::super::MIGRATIONS[..3] {
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
            .prepare(
                "SELECT office_action_id, group_art_unit_number, tech_center FROM office_actions",
            )
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
}
