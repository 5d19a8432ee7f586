//! The data sets of the Office Action family, each a description the engine runs: where it
//! lives upstream, which fields it has and of what type, and which tables and views hold it.
//! Nothing here does I/O. Adding a sibling is a new [`Dataset`] here and a migration that
//! creates its tables and views; the harvest, the write path and `status` read the
//! description.
//!
//! The citations keep their own hand-tuned write path (`store::records`); every other data set
//! is written by the generic one (`store::family`), whose columns are the description's.

use serde_json::{Map, Value};

use crate::api::record::Rejected;

/// How a field's value is read. Whatever the type, `""`, JSON `null` and a missing field are
/// stored as NULL; a value of another type quarantines the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string, stored exactly as sent.
    Text,
    /// A JSON boolean, stored as 0/1.
    Bool,
    /// A JSON integer, stored as an integer.
    Int,
    /// A JSON array, stored as its compact JSON text (`serde_json::to_string`); empty is NULL.
    Array,
}

/// One upstream field stored in a column of the data set's own table.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The upstream name (`submissionDate`).
    pub name: &'static str,
    /// The column in the table and its flat view (`submission_date`).
    pub column: &'static str,
    pub kind: Kind,
}

const fn text(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Text,
    }
}
const fn flag(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Bool,
    }
}
const fn int(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Int,
    }
}
const fn array(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Array,
    }
}

/// One data set of the family.
#[derive(Debug)]
pub struct Dataset {
    /// As named on the command line, in `status` and in `partitions.dataset`.
    pub name: &'static str,
    /// The prefix below the API root (`oa_rejections/v2`).
    pub path: &'static str,
    /// The table of its records (one row per upstream `id`).
    pub table: &'static str,
    /// The flat view in upstream's shape, and the view of its deleted records.
    pub view: &'static str,
    pub deleted_view: &'static str,
    /// The fields stored in `table`'s own columns, besides `id`, `patentApplicationNumber` and
    /// `obsoleteDocumentIdentifier` (those name the office action, stored in `office_actions`).
    /// `createDateTime` must be one of them: the harvest partitions on it.
    pub fields: &'static [Field],
    /// Fields `/fields` lists that no record has been seen to carry: their absence from
    /// `/fields` does not stop a harvest.
    pub optional: &'static [&'static str],
}

/// The fields every data set of the family has, which name its record and its office action.
pub const KEY_FIELDS: [&str; 3] = [
    "id",
    "patentApplicationNumber",
    "obsoleteDocumentIdentifier",
];

/// The Office Action Citations (`oa_citations`): one record per reference cited in an action.
/// Its fields here are only what `/fields` is checked against; `store::records` writes it.
pub static CITATIONS: Dataset = Dataset {
    name: "citations",
    path: "oa_citations/v2",
    table: "citations",
    view: "oa_citations",
    deleted_view: "oa_citations_deleted",
    fields: &[
        text("referenceIdentifier", "reference_identifier"),
        text("parsedReferenceIdentifier", "parsed_reference_identifier"),
        text("actionTypeCategory", "action_type_category"),
        text("legalSectionCode", "legal_section_code"),
        text("paragraphNumber", "paragraph_number"),
        flag(
            "examinerCitedReferenceIndicator",
            "examiner_cited_reference_indicator",
        ),
        flag(
            "applicantCitedExaminerReferenceIndicator",
            "applicant_cited_examiner_reference_indicator",
        ),
        flag(
            "officeActionCitationReferenceIndicator",
            "office_action_citation_reference_indicator",
        ),
        text("groupArtUnitNumber", "group_art_unit_number"),
        text("techCenter", "tech_center"),
        text("workGroup", "work_group"),
        text("createDateTime", "create_date_time"),
        text("createUserIdentifier", "create_user_identifier"),
    ],
    optional: &["paragraphNumber"],
};

/// The Office Action Rejections (`oa_rejections`): one record per action and ground, with the
/// day the action was mailed (`submissionDate`).
pub static REJECTIONS: Dataset = Dataset {
    name: "rejections",
    path: "oa_rejections/v2",
    table: "rejections",
    view: "oa_rejections",
    deleted_view: "oa_rejections_deleted",
    fields: &[
        text(
            "legacyDocumentCodeIdentifier",
            "legacy_document_code_identifier",
        ),
        text("actionTypeCategory", "action_type_category"),
        text("legalSectionCode", "legal_section_code"),
        text("paragraphNumber", "paragraph_number"),
        text("groupArtUnitNumber", "group_art_unit_number"),
        text("nationalClass", "national_class"),
        text("nationalSubclass", "national_subclass"),
        text("createUserIdentifier", "create_user_identifier"),
        text("createDateTime", "create_date_time"),
        text("submissionDate", "submission_date"),
        array("claimNumberArrayDocument", "claim_number_array_document"),
        int("hasRej101", "has_rej101"),
        int("hasRej102", "has_rej102"),
        int("hasRej103", "has_rej103"),
        int("hasRej112", "has_rej112"),
        int("hasRejDP", "has_rej_dp"),
        int("cite103Max", "cite103_max"),
        int("cite103EQ1", "cite103_eq1"),
        int("cite103GT3", "cite103_gt3"),
        int("closingMissing", "closing_missing"),
        int("rejectFormMissmatch", "reject_form_missmatch"),
        int("formParagraphMissing", "form_paragraph_missing"),
        int("headerMissing", "header_missing"),
        flag("bilskiIndicator", "bilski_indicator"),
        flag("mayoIndicator", "mayo_indicator"),
        flag("aliceIndicator", "alice_indicator"),
        flag("myriadIndicator", "myriad_indicator"),
        flag("allowedClaimIndicator", "allowed_claim_indicator"),
    ],
    optional: &["paragraphNumber"],
};

/// The Enriched Cited Reference Metadata (`enriched_cited_reference_metadata` v3): one record
/// per reference cited in an action, with its category (X, Y, A), claims and passages.
pub static ENRICHED: Dataset = Dataset {
    name: "enriched",
    path: "enriched_cited_reference_metadata/v3",
    table: "enriched_records",
    view: "enriched_citations",
    deleted_view: "enriched_citations_deleted",
    fields: &[
        text("citedDocumentIdentifier", "cited_document_identifier"),
        text("publicationNumber", "publication_number"),
        text("kindCode", "kind_code"),
        text("countryCode", "country_code"),
        text("inventorNameText", "inventor_name_text"),
        text("officeActionDate", "office_action_date"),
        text("officeActionCategory", "office_action_category"),
        text("citationCategoryCode", "citation_category_code"),
        text("relatedClaimNumberText", "related_claim_number_text"),
        flag(
            "examinerCitedReferenceIndicator",
            "examiner_cited_reference_indicator",
        ),
        flag(
            "applicantCitedExaminerReferenceIndicator",
            "applicant_cited_examiner_reference_indicator",
        ),
        flag("nplIndicator", "npl_indicator"),
        text("workGroupNumber", "work_group_number"),
        text("groupArtUnitNumber", "group_art_unit_number"),
        text("techCenter", "tech_center"),
        text("qualitySummaryText", "quality_summary_text"),
        array("passageLocationText", "passage_location_text"),
        text("createUserIdentifier", "create_user_identifier"),
        text("createDateTime", "create_date_time"),
    ],
    optional: &[],
};

/// Every data set, in the order a harvest of several runs them.
pub static ALL: [&Dataset; 3] = [&CITATIONS, &REJECTIONS, &ENRICHED];

/// The default API root: each data set's prefix is `{root}/{path}`.
pub const DEFAULT_API_ROOT: &str = "https://api.uspto.gov/api/v1/patent/oa";

impl Dataset {
    /// The data set called `name` (`citations`, `rejections`, `enriched`).
    pub fn named(name: &str) -> Option<&'static Dataset> {
        ALL.into_iter().find(|d| d.name == name)
    }

    pub fn is_citations(&self) -> bool {
        std::ptr::eq(self, &CITATIONS)
    }

    /// Its prefix under `root` (no trailing slash).
    pub fn prefix(&self, root: &str) -> String {
        format!("{}/{}", root.trim_end_matches('/'), self.path)
    }

    /// Every field its records carry: the key fields, then its own.
    pub fn known_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        KEY_FIELDS
            .into_iter()
            .chain(self.fields.iter().map(|f| f.name))
    }

    /// Fields it stores that `listed` (upstream's `/fields`) lacks, but for the optional ones.
    pub fn missing_fields(&self, listed: &[String]) -> Vec<String> {
        self.known_fields()
            .filter(|k| !self.optional.contains(k) && !listed.iter().any(|f| f == k))
            .map(str::to_owned)
            .collect()
    }

    /// The key under which `meta` holds `key` for this data set: the citations keep the keys
    /// they always had; a sibling's are prefixed with its name (`rejections.source_prefix`).
    pub fn meta_key(&self, key: &str) -> String {
        if self.is_citations() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.name)
        }
    }
}

/// One value as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
}

/// A record of a sibling data set, read against its description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyRecord {
    pub id: String,
    pub patent_application_number: Option<String>,
    pub obsolete_document_identifier: Option<String>,
    /// One value per [`Dataset::fields`], in order.
    pub cells: Vec<Cell>,
    /// Fields the description does not know, as a JSON object, or `None`.
    pub extra: Option<String>,
}

/// Reads one record of `dataset` as the view contract says (see [`Kind`]); a record without an
/// id or with a value of the wrong type is quarantined whole.
pub fn parse(dataset: &Dataset, doc: Value) -> Result<FamilyRecord, Rejected> {
    let reject = |map: &Map<String, Value>, raw: String, reason: String| Rejected {
        id: map.get("id").and_then(Value::as_str).map(str::to_owned),
        create_date_time: map
            .get("createDateTime")
            .and_then(Value::as_str)
            .map(str::to_owned),
        raw_json: raw,
        reason,
    };
    let Value::Object(map) = doc else {
        return Err(Rejected {
            raw_json: doc.to_string(),
            reason: "record is not a JSON object".into(),
            id: None,
            create_date_time: None,
        });
    };
    match read(dataset, &map) {
        Ok(r) => Ok(r),
        Err(reason) => {
            let raw = Value::Object(map.clone()).to_string();
            Err(reject(&map, raw, reason))
        }
    }
}

fn read(dataset: &Dataset, map: &Map<String, Value>) -> Result<FamilyRecord, String> {
    let id = match map.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err("field `id` is empty".into()),
        None | Some(Value::Null) => return Err("record has no `id`".into()),
        Some(other) => return Err(format!("field `id` should be a string, got {other}")),
    };
    let key = |name: &str| -> Result<Option<String>, String> {
        match cell(name, Kind::Text, map.get(name))? {
            Cell::Text(s) => Ok(Some(s)),
            _ => Ok(None),
        }
    };
    let cells = dataset
        .fields
        .iter()
        .map(|f| cell(f.name, f.kind, map.get(f.name)))
        .collect::<Result<Vec<_>, String>>()?;
    let extra: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !dataset.known_fields().any(|f| f == k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(FamilyRecord {
        patent_application_number: key("patentApplicationNumber")?,
        obsolete_document_identifier: key("obsoleteDocumentIdentifier")?,
        id,
        cells,
        extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
    })
}

fn cell(name: &str, kind: Kind, value: Option<&Value>) -> Result<Cell, String> {
    let wrong = |want: &str, got: &Value| {
        let mut shown = got.to_string();
        if shown.len() > 60 {
            let cut = (0..=60)
                .rev()
                .find(|&i| shown.is_char_boundary(i))
                .unwrap_or(0);
            shown.truncate(cut);
            shown.push('…');
        }
        format!("field `{name}` should be {want}, got {shown}")
    };
    match (kind, value) {
        (_, None | Some(Value::Null)) => Ok(Cell::Null),
        (_, Some(Value::String(s))) if s.is_empty() => Ok(Cell::Null),
        (Kind::Text, Some(Value::String(s))) => Ok(Cell::Text(s.clone())),
        (Kind::Bool, Some(Value::Bool(b))) => Ok(Cell::Int(i64::from(*b))),
        (Kind::Int, Some(v @ Value::Number(n))) => n
            .as_i64()
            .map(Cell::Int)
            .ok_or_else(|| wrong("an integer", v)),
        (Kind::Array, Some(Value::Array(a))) if a.is_empty() => Ok(Cell::Null),
        (Kind::Array, Some(v @ Value::Array(_))) => Ok(Cell::Text(
            serde_json::to_string(v).expect("a JSON value serializes"),
        )),
        (Kind::Text, Some(v)) => Err(wrong("a string", v)),
        (Kind::Bool, Some(v)) => Err(wrong("a boolean", v)),
        (Kind::Int, Some(v)) => Err(wrong("an integer", v)),
        (Kind::Array, Some(v)) => Err(wrong("an array", v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_follow_the_view_contract() {
        let r = parse(
            &REJECTIONS,
            json!({"id": "a", "hasRej103": 1, "aliceIndicator": false, "paragraphNumber": "",
                   "claimNumberArrayDocument": ["1", "2"], "submissionDate": "2011-10-19T00:00:00",
                   "newField": 3}),
        )
        .unwrap();
        let at = |column: &str| {
            let i = REJECTIONS
                .fields
                .iter()
                .position(|f| f.column == column)
                .unwrap();
            r.cells[i].clone()
        };
        assert_eq!(at("has_rej103"), Cell::Int(1));
        assert_eq!(at("alice_indicator"), Cell::Int(0));
        assert_eq!(at("paragraph_number"), Cell::Null);
        assert_eq!(at("national_class"), Cell::Null);
        assert_eq!(
            at("claim_number_array_document"),
            Cell::Text(r#"["1","2"]"#.into())
        );
        assert_eq!(
            at("submission_date"),
            Cell::Text("2011-10-19T00:00:00".into())
        );
        assert_eq!(r.extra.as_deref(), Some(r#"{"newField":3}"#));
        let empty = parse(
            &REJECTIONS,
            json!({"id": "b", "claimNumberArrayDocument": []}),
        )
        .unwrap();
        assert!(empty.cells.iter().all(|c| *c == Cell::Null));
        let bad = parse(&REJECTIONS, json!({"id": "c", "hasRej101": "yes"})).unwrap_err();
        assert!(bad.reason.contains("hasRej101"), "{}", bad.reason);
        assert!(parse(&ENRICHED, json!({"kindCode": "A1"})).is_err());
    }

    #[test]
    fn descriptions_know_upstreams_fields() {
        for (d, file) in [
            (&REJECTIONS, "rejections_fields.json"),
            (&ENRICHED, "enriched_fields.json"),
        ] {
            let text = std::fs::read_to_string(format!(
                "{}/tests/data/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            let listed: Vec<String> = serde_json::from_value(v["fields"].clone()).unwrap();
            assert_eq!(d.missing_fields(&listed), Vec::<String>::new());
            assert_eq!(d.known_fields().count(), listed.len(), "{}", d.name);
        }
    }
}
