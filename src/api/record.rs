//! One upstream record, checked against the 16 known fields.
//!
//! The contract of the `oa_citations` view starts here: `""`, JSON `null` and a missing field
//! all become `None`; every other string is kept byte for byte; the three indicators are
//! booleans. A record that breaks the contract (no `id`, a value of the wrong type, not an
//! object at all) is not fixed up: it becomes a [`Rejected`] carrying its raw JSON and the
//! reason, for the quarantine table. Fields this tool does not know are kept as a JSON object.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The 16 fields that `/fields` lists, in upstream spelling.
pub const KNOWN_FIELDS: [&str; 16] = [
    "id",
    "patentApplicationNumber",
    "referenceIdentifier",
    "parsedReferenceIdentifier",
    "actionTypeCategory",
    "legalSectionCode",
    "paragraphNumber",
    "examinerCitedReferenceIndicator",
    "applicantCitedExaminerReferenceIndicator",
    "officeActionCitationReferenceIndicator",
    "groupArtUnitNumber",
    "techCenter",
    "workGroup",
    "obsoleteDocumentIdentifier",
    "createDateTime",
    "createUserIdentifier",
];

/// A record that passed the checks, ready to store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Citation {
    pub id: String,
    pub patent_application_number: Option<String>,
    pub reference_identifier: Option<String>,
    pub parsed_reference_identifier: Option<String>,
    pub action_type_category: Option<String>,
    pub legal_section_code: Option<String>,
    pub paragraph_number: Option<String>,
    pub examiner_cited_reference_indicator: Option<bool>,
    pub applicant_cited_examiner_reference_indicator: Option<bool>,
    pub office_action_citation_reference_indicator: Option<bool>,
    pub group_art_unit_number: Option<String>,
    pub tech_center: Option<String>,
    pub work_group: Option<String>,
    pub obsolete_document_identifier: Option<String>,
    pub create_date_time: Option<String>,
    pub create_user_identifier: Option<String>,
    /// Fields upstream sent that are not among the 16, as a JSON object; `None` when none.
    pub extra: Option<String>,
}

/// A record that cannot be stored as a citation, kept whole for the quarantine table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The record exactly as parsed from the response, re-serialized (key order kept).
    pub raw_json: String,
    pub reason: String,
    /// The `id` when it is a string, for finding the record again.
    pub id: Option<String>,
    /// The `createDateTime` when it is a string.
    pub create_date_time: Option<String>,
}

/// The common shape of a record, read straight from its text: the 16 fields and no others,
/// strings as strings (borrowed where they need no unescaping), indicators as booleans or
/// null. Anything else (another field, a value of another type, a duplicate key) is not an
/// error here: the record is read again the long way, by [`parse`], which decides.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Common<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    patent_application_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reference_identifier: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    parsed_reference_identifier: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    action_type_category: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    legal_section_code: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    paragraph_number: Option<Cow<'a, str>>,
    #[serde(default)]
    examiner_cited_reference_indicator: Option<bool>,
    #[serde(default)]
    applicant_cited_examiner_reference_indicator: Option<bool>,
    #[serde(default)]
    office_action_citation_reference_indicator: Option<bool>,
    #[serde(borrow, default)]
    group_art_unit_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tech_center: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    work_group: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    obsolete_document_identifier: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    create_date_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    create_user_identifier: Option<Cow<'a, str>>,
}

/// `""` and null are absent.
fn present(v: Option<Cow<'_, str>>) -> Option<String> {
    v.filter(|s| !s.is_empty()).map(Cow::into_owned)
}

/// Checks one element of `docs` as upstream wrote it: the common shape is read in one pass
/// into its fields; any other record goes through [`parse`], so both give the same answer.
pub fn parse_raw(raw: &RawValue) -> Result<Citation, Rejected> {
    match serde_json::from_str::<Common<'_>>(raw.get()) {
        Ok(c) if !c.id.is_empty() => Ok(Citation {
            id: c.id.into_owned(),
            patent_application_number: present(c.patent_application_number),
            reference_identifier: present(c.reference_identifier),
            parsed_reference_identifier: present(c.parsed_reference_identifier),
            action_type_category: present(c.action_type_category),
            legal_section_code: present(c.legal_section_code),
            paragraph_number: present(c.paragraph_number),
            examiner_cited_reference_indicator: c.examiner_cited_reference_indicator,
            applicant_cited_examiner_reference_indicator: c
                .applicant_cited_examiner_reference_indicator,
            office_action_citation_reference_indicator: c
                .office_action_citation_reference_indicator,
            group_art_unit_number: present(c.group_art_unit_number),
            tech_center: present(c.tech_center),
            work_group: present(c.work_group),
            obsolete_document_identifier: present(c.obsolete_document_identifier),
            create_date_time: present(c.create_date_time),
            create_user_identifier: present(c.create_user_identifier),
            extra: None,
        }),
        _ => match serde_json::from_str::<Value>(raw.get()) {
            Ok(doc) => parse(doc),
            // The page parsed, so this cannot happen; say so rather than lose the record.
            Err(e) => Err(Rejected {
                raw_json: raw.get().to_owned(),
                reason: format!("record is not valid JSON: {e}"),
                id: None,
                create_date_time: None,
            }),
        },
    }
}

/// Checks one element of `docs`.
pub fn parse(doc: Value) -> Result<Citation, Rejected> {
    let Value::Object(mut map) = doc else {
        return Err(Rejected {
            raw_json: doc.to_string(),
            reason: format!("record is a JSON {}, not an object", kind(&doc)),
            id: None,
            create_date_time: None,
        });
    };
    match take_fields(&mut map) {
        Ok(c) => Ok(c),
        Err(reason) => Err(Rejected {
            id: map.get("id").and_then(Value::as_str).map(str::to_owned),
            create_date_time: map
                .get("createDateTime")
                .and_then(Value::as_str)
                .map(str::to_owned),
            raw_json: Value::Object(map).to_string(),
            reason,
        }),
    }
}

/// Reads the known fields without consuming the map, so a rejected record stays whole.
fn take_fields(map: &mut Map<String, Value>) -> Result<Citation, String> {
    let id = match map.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err("field `id` is empty".into()),
        None | Some(Value::Null) => return Err("record has no `id`".into()),
        Some(other) => return Err(wrong_type("id", "a string", other)),
    };
    let text = |name: &str| -> Result<Option<String>, String> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong_type(name, "a string", other)),
        }
    };
    let flag = |name: &str| -> Result<Option<bool>, String> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(name, "a boolean", other)),
        }
    };
    let citation = Citation {
        patent_application_number: text("patentApplicationNumber")?,
        reference_identifier: text("referenceIdentifier")?,
        parsed_reference_identifier: text("parsedReferenceIdentifier")?,
        action_type_category: text("actionTypeCategory")?,
        legal_section_code: text("legalSectionCode")?,
        paragraph_number: text("paragraphNumber")?,
        examiner_cited_reference_indicator: flag("examinerCitedReferenceIndicator")?,
        applicant_cited_examiner_reference_indicator: flag(
            "applicantCitedExaminerReferenceIndicator",
        )?,
        office_action_citation_reference_indicator: flag("officeActionCitationReferenceIndicator")?,
        group_art_unit_number: text("groupArtUnitNumber")?,
        tech_center: text("techCenter")?,
        work_group: text("workGroup")?,
        obsolete_document_identifier: text("obsoleteDocumentIdentifier")?,
        create_date_time: text("createDateTime")?,
        create_user_identifier: text("createUserIdentifier")?,
        extra: None,
        id,
    };
    let extra: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Citation {
        extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
        ..citation
    })
}

fn wrong_type(field: &str, want: &str, got: &Value) -> String {
    let mut shown = got.to_string();
    if shown.len() > 60 {
        let cut = (0..=60)
            .rev()
            .find(|&i| shown.is_char_boundary(i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    format!(
        "field `{field}` should be {want}, got {} {shown}",
        kind(got)
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The one-pass reading and the long way agree, on every record the tests here use and on
    /// the shapes that leave the one-pass reading (escapes, extra fields, "" indicators,
    /// duplicate keys, wrong types).
    #[test]
    fn the_one_pass_reading_agrees_with_the_long_way() {
        let texts = [
            r#"{"id":"d50488aca95d581f9af0d888130835c0","referenceIdentifier":"Itagaki; Takeshi US 20150044531 A1 ","actionTypeCategory":"","legalSectionCode":null,"examinerCitedReferenceIndicator":true,"applicantCitedExaminerReferenceIndicator":false}"#,
            r#"{"id":"ab","referenceIdentifier":"Smith, Jr.; John \"JJ\" US 7654321 B2\n\u5c71","createDateTime":"2025-07-07T01:12:35"}"#,
            r#"{"id":"ab","newField":[1,2],"other":"x"}"#,
            r#"{"id":"ab","examinerCitedReferenceIndicator":""}"#,
            r#"{"id":"ab","techCenter":"2600","techCenter":"2700"}"#,
            r#"{"id":"ab","examinerCitedReferenceIndicator":"yes"}"#,
            r#"{"id":"ab","patentApplicationNumber":16123456}"#,
            r#"{"createDateTime":"2025-07-07T01:12:35","techCenter":"2600"}"#,
            r#"{"id":7}"#,
            r#"{"id":""}"#,
            r#""x""#,
            r#"[1,2]"#,
            r#"null"#,
        ];
        for text in texts {
            let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
            let doc: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse_raw(&raw), parse(doc), "{text}");
        }
        // The escapes were read, not kept as written.
        let raw: Box<RawValue> = serde_json::from_str(texts[1]).unwrap();
        assert_eq!(
            parse_raw(&raw).unwrap().reference_identifier.as_deref(),
            Some("Smith, Jr.; John \"JJ\" US 7654321 B2\n山")
        );
    }

    #[test]
    fn empty_null_and_missing_become_none_and_text_is_kept_exactly() {
        let c = parse(json!({
            "id": "d50488aca95d581f9af0d888130835c0",
            "referenceIdentifier": "Itagaki; Takeshi US 20150044531 A1 ",
            "actionTypeCategory": "",
            "legalSectionCode": null,
            "examinerCitedReferenceIndicator": true,
            "applicantCitedExaminerReferenceIndicator": false,
        }))
        .unwrap();
        assert_eq!(
            c.reference_identifier.as_deref(),
            Some("Itagaki; Takeshi US 20150044531 A1 ")
        );
        assert_eq!(c.action_type_category, None);
        assert_eq!(c.legal_section_code, None);
        assert_eq!(c.paragraph_number, None);
        assert_eq!(c.examiner_cited_reference_indicator, Some(true));
        assert_eq!(c.applicant_cited_examiner_reference_indicator, Some(false));
        assert_eq!(c.office_action_citation_reference_indicator, None);
        assert_eq!(c.extra, None);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let c = parse(json!({"id": "ab", "newField": [1, 2], "other": "x"})).unwrap();
        assert_eq!(
            c.extra.as_deref(),
            Some(r#"{"newField":[1,2],"other":"x"}"#)
        );
    }

    #[test]
    fn bad_records_are_rejected_whole_with_a_reason() {
        let r = parse(json!({"createDateTime": "2025-07-07T01:12:35", "techCenter": "2600"}))
            .unwrap_err();
        assert_eq!(r.reason, "record has no `id`");
        assert_eq!(r.create_date_time.as_deref(), Some("2025-07-07T01:12:35"));
        assert_eq!(
            r.raw_json,
            r#"{"createDateTime":"2025-07-07T01:12:35","techCenter":"2600"}"#
        );

        let r = parse(json!({"id": "ab", "examinerCitedReferenceIndicator": "yes"})).unwrap_err();
        assert_eq!(
            r.reason,
            "field `examinerCitedReferenceIndicator` should be a boolean, got string \"yes\""
        );
        assert_eq!(r.id.as_deref(), Some("ab"));

        let r = parse(json!({"id": "ab", "patentApplicationNumber": 16123456})).unwrap_err();
        assert!(
            r.reason
                .contains("`patentApplicationNumber` should be a string, got number")
        );
        assert!(parse(json!({"id": 7})).is_err());
        assert!(parse(json!({"id": ""})).is_err());
        assert_eq!(
            parse(json!("x")).unwrap_err().reason,
            "record is a JSON string, not an object"
        );
    }
}
