//! Reading one record of a sibling data set against its description, as the view contract
//! says: each field by its [`Kind`], unknown fields kept as JSON, a record that does not fit
//! quarantined whole.

use serde_json::{Map, Value};

use super::{Dataset, Kind};
use crate::api::record::Rejected;

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
    use crate::dataset::{ENRICHED, REJECTIONS};
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
}
