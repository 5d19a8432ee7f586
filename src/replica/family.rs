//! The citations' siblings as the replica serves them, made from its citations so that the
//! family is consistent: every office action of the citations gets a mail date (2008–2025) and
//! a document code; most get 1 to 3 rejections records carrying them; part of the citations get
//! an enriched record, dated with the action. The values are shaped like the real samples:
//! integers 0/1, booleans, arrays of strings (sometimes empty), empty strings, absent keys.
//!
//! Nothing is made until a sibling is first asked for (see `Replica`), so serving the citations
//! alone costs nothing more.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

const CODES: [&str; 5] = ["CTNF", "CTFR", "CTNF", "CTRS", "NOA"];
const CATEGORIES: [&str; 3] = ["X", "Y", "A"];
const SECTIONS: [&str; 5] = ["101", "102", "103", "112", ""];

/// What the replica holds for one office action of its citations: the truth the siblings
/// carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionTruth {
    pub mail_date: String,
    pub document_code: String,
}

/// One office action of the citations, as its siblings' records name and date it.
struct Action<'a> {
    document: &'a str,
    application: &'a str,
    truth: ActionTruth,
    /// The `createDateTime` of its first citation, which its sibling records share.
    stamp: Value,
}

/// The citations by office action (`obsoleteDocumentIdentifier`, `patentApplicationNumber`),
/// in key order; a citation without both keys names no action and is left out.
fn by_action(citations: &[Value]) -> BTreeMap<(String, String), Vec<&Value>> {
    let mut actions: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for c in citations {
        let key = |f: &str| c.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
        let (document, application) = (
            key("obsoleteDocumentIdentifier"),
            key("patentApplicationNumber"),
        );
        if document.is_empty() || application.is_empty() {
            continue;
        }
        actions.entry((document, application)).or_default().push(c);
    }
    actions
}

/// The rejections and the enriched records for `citations`, deterministic in them and `seed`.
pub fn siblings(citations: &[Value], seed: u64) -> (Vec<Value>, Vec<Value>) {
    let mut maker = Maker {
        rng: fastrand::Rng::with_seed(seed ^ 0x0f_a3_11_e5),
        id: 0,
    };
    let (mut rejections, mut enriched) = (vec![], vec![]);
    for ((document, application), cited) in &by_action(citations) {
        let first = cited[0];
        let action = Action {
            document,
            application,
            truth: truth_of(document, application),
            stamp: first.get("createDateTime").cloned().unwrap_or(json!("")),
        };
        // Most actions have rejections records; the rest are dated by their enriched ones, if any.
        let grounds = match maker.rng.u8(..10) {
            0 => 0,
            1..=4 => 1,
            5..=7 => 2,
            _ => 3,
        };
        for _ in 0..grounds {
            rejections.push(maker.rejection(&action, first));
        }
        // Enriched records for part of the citations (the real sets are not supersets).
        for c in cited {
            if maker.rng.u8(..10) >= 4 {
                continue;
            }
            enriched.push(maker.enriched(&action, c));
        }
    }
    (rejections, enriched)
}

/// Makes sibling records from one stream of random numbers, so that the same citations and
/// seed always give the same records.
struct Maker {
    rng: fastrand::Rng,
    /// Records made so far: the tail of each id, which keeps ids unique.
    id: u64,
}

impl Maker {
    fn next_id(&mut self) -> String {
        self.id += 1;
        format!("{:016x}{:016x}", self.rng.u64(..), self.id)
    }

    /// One rejections record of `action`, on the group art unit of its `first` citation.
    fn rejection(&mut self, action: &Action<'_>, first: &Value) -> Value {
        let mut m = Map::new();
        let section = SECTIONS[self.rng.usize(..SECTIONS.len())];
        let bit = |on: bool| json!(i64::from(on));
        m.insert("id".into(), json!(self.next_id()));
        let rng = &mut self.rng;
        m.insert("patentApplicationNumber".into(), json!(action.application));
        m.insert("obsoleteDocumentIdentifier".into(), json!(action.document));
        m.insert(
            "legacyDocumentCodeIdentifier".into(),
            json!(action.truth.document_code),
        );
        m.insert("submissionDate".into(), json!(action.truth.mail_date));
        m.insert("createDateTime".into(), action.stamp.clone());
        m.insert("createUserIdentifier".into(), json!("ETL_SYS"));
        m.insert(
            "groupArtUnitNumber".into(),
            first
                .get("groupArtUnitNumber")
                .cloned()
                .unwrap_or(json!("")),
        );
        m.insert(
            "actionTypeCategory".into(),
            json!(if rng.bool() { "rejected" } else { "" }),
        );
        m.insert("legalSectionCode".into(), json!(section));
        m.insert(
            "paragraphNumber".into(),
            json!(if rng.u8(..4) == 0 { "a" } else { "" }),
        );
        m.insert(
            "nationalClass".into(),
            json!(format!("{}", rng.u32(100..800))),
        );
        m.insert(
            "nationalSubclass".into(),
            json!(format!("{:06}", rng.u32(..1_000_000))),
        );
        let claims: Vec<String> = (0..rng.usize(0..3))
            .map(|_| format!("{},{}", rng.u8(1..10), rng.u8(10..30)))
            .collect();
        m.insert("claimNumberArrayDocument".into(), json!(claims));
        m.insert("hasRej101".into(), bit(section == "101"));
        m.insert("hasRej102".into(), bit(section == "102"));
        m.insert("hasRej103".into(), bit(section == "103"));
        m.insert("hasRej112".into(), bit(section == "112"));
        m.insert("hasRejDP".into(), bit(rng.u8(..10) == 0));
        m.insert("cite103Max".into(), json!(rng.i64(0..5)));
        m.insert("cite103EQ1".into(), bit(rng.bool()));
        m.insert("cite103GT3".into(), bit(rng.u8(..8) == 0));
        for f in [
            "closingMissing",
            "rejectFormMissmatch",
            "formParagraphMissing",
            "headerMissing",
        ] {
            m.insert(f.into(), bit(rng.u8(..20) == 0));
        }
        for f in [
            "bilskiIndicator",
            "mayoIndicator",
            "aliceIndicator",
            "myriadIndicator",
            "allowedClaimIndicator",
        ] {
            m.insert(f.into(), json!(rng.u8(..20) == 0));
        }
        Value::Object(m)
    }

    /// The enriched record of citation `c` of `action`.
    fn enriched(&mut self, action: &Action<'_>, c: &Value) -> Value {
        let get = |f: &str| c.get(f).cloned().unwrap_or(json!(""));
        let parsed = get("parsedReferenceIdentifier");
        let mut m = Map::new();
        m.insert("id".into(), json!(self.next_id()));
        let rng = &mut self.rng;
        m.insert("patentApplicationNumber".into(), json!(action.application));
        m.insert("obsoleteDocumentIdentifier".into(), json!(action.document));
        m.insert("officeActionDate".into(), json!(action.truth.mail_date));
        m.insert(
            "officeActionCategory".into(),
            json!(action.truth.document_code),
        );
        m.insert("createDateTime".into(), action.stamp.clone());
        m.insert("createUserIdentifier".into(), json!("ETL_SYS"));
        m.insert(
            "citationCategoryCode".into(),
            json!(CATEGORIES[rng.usize(..CATEGORIES.len())]),
        );
        if parsed != json!("") && rng.u8(..5) > 0 {
            m.insert(
                "citedDocumentIdentifier".into(),
                json!(format!("US {} A1", parsed.as_str().unwrap_or(""))),
            );
            m.insert("countryCode".into(), json!("US"));
            m.insert("kindCode".into(), json!("A1"));
            m.insert("inventorNameText".into(), json!("Sabe; Kohtaro"));
        } else {
            m.insert("countryCode".into(), json!(""));
            m.insert("kindCode".into(), json!(""));
        }
        m.insert("publicationNumber".into(), parsed);
        m.insert(
            "relatedClaimNumberText".into(),
            json!(format!("{}-{}", rng.u8(1..5), rng.u8(5..30))),
        );
        for f in [
            "examinerCitedReferenceIndicator",
            "applicantCitedExaminerReferenceIndicator",
        ] {
            m.insert(f.into(), get(f));
        }
        m.insert("nplIndicator".into(), json!(rng.u8(..10) == 0));
        m.insert("workGroupNumber".into(), get("workGroup"));
        m.insert("groupArtUnitNumber".into(), get("groupArtUnitNumber"));
        m.insert("techCenter".into(), get("techCenter"));
        m.insert("qualitySummaryText".into(), json!("AOK"));
        let passages: Vec<String> = match rng.u8(..4) {
            0 => vec![],
            _ => vec![format!(
                "paragraph [{:04}]|fig. {}|claim {}",
                rng.u16(1..200),
                rng.u8(1..9),
                rng.u8(1..20)
            )],
        };
        m.insert("passageLocationText".into(), json!(passages));
        Value::Object(m)
    }
}

/// The mail date and document code the replica gives the office action (`document`,
/// `application`): a hash of the keys, so that it needs no table.
pub fn truth_of(document: &str, application: &str) -> ActionTruth {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in document.bytes().chain([0]).chain(application.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let days = (h % 6_574) as i64; // 2008-01-01 + up to 18 years
    let date =
        chrono::NaiveDate::from_ymd_opt(2008, 1, 1).expect("valid") + chrono::Duration::days(days);
    ActionTruth {
        mail_date: format!("{}T00:00:00", date.format("%Y-%m-%d")),
        document_code: CODES[((h >> 32) % CODES.len() as u64) as usize].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_are_deterministic_and_carry_each_actions_truth() {
        let citations = super::super::synthetic(300, 4);
        let (rejections, enriched) = siblings(&citations, 0);
        assert_eq!(
            (rejections.clone(), enriched.clone()),
            siblings(&citations, 0)
        );
        assert!(!rejections.is_empty() && !enriched.is_empty());
        let text = |v: &Value, f: &str| v[f].as_str().unwrap_or("").to_owned();
        for r in &rejections {
            let truth = truth_of(
                &text(r, "obsoleteDocumentIdentifier"),
                &text(r, "patentApplicationNumber"),
            );
            assert_eq!(text(r, "submissionDate"), truth.mail_date);
            assert_eq!(text(r, "legacyDocumentCodeIdentifier"), truth.document_code);
        }
        for e in &enriched {
            let truth = truth_of(
                &text(e, "obsoleteDocumentIdentifier"),
                &text(e, "patentApplicationNumber"),
            );
            assert_eq!(text(e, "officeActionDate"), truth.mail_date);
        }
        let mut ids: Vec<String> = rejections
            .iter()
            .chain(&enriched)
            .map(|v| text(v, "id"))
            .collect();
        let all = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all, "ids are unique");
    }

    #[test]
    fn a_citation_without_both_action_keys_names_no_action() {
        let c = |doc: &str, app: &str| serde_json::json!({"obsoleteDocumentIdentifier": doc, "patentApplicationNumber": app});
        let citations = [
            c("D1", "A1"),
            c("", "A1"),
            c("D1", ""),
            c("D1", "A1"),
            c("D2", "A1"),
        ];
        let actions = by_action(&citations);
        let sizes: Vec<(&str, usize)> = actions
            .iter()
            .map(|((d, _), cited)| (d.as_str(), cited.len()))
            .collect();
        assert_eq!(sizes, [("D1", 2), ("D2", 1)]);
    }
}
