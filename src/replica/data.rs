//! Synthetic records shaped like the real samples: citations grouped into office actions that
//! share one second, most of them crowded into a few July 2025 "reload" minutes (the real set
//! was reloaded then), one very crowded second, and a sparse tail over the earlier years.
//! Values are messy the way real ones are: empty strings, trailing spaces, quotes, commas,
//! newlines, non-Latin scripts, SQL-looking text, absent `paragraphNumber`.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use crate::plan::Stamp;

const TECH_CENTERS: [u32; 9] = [1600, 1700, 2100, 2400, 2600, 2800, 2900, 3600, 3700];
const SECTIONS: [&str; 7] = [
    "102",
    "103",
    "103",
    "112",
    "101",
    "nonstatutory double patenting",
    "",
];
const NAMES: [&str; 10] = [
    "Sabe; Kohtaro",
    "Itagaki; Takeshi",
    "Müller; Jürgen",
    "山田; 太郎",
    "O'Brien; Seán",
    "Ødegård; Åse",
    "Nguyễn; Văn An",
    "Smith, Jr.; John \"JJ\"",
    "Robert'); DROP TABLE citations;--",
    "Лебедев; Иван",
];
const COUNTRIES: [(&str, &str); 5] = [
    ("US", "A1"),
    ("US", "B2"),
    ("EP", "A1"),
    ("JP", "A"),
    ("WO", "A1"),
];
const NPL: [&str; 5] = [
    "------- European Patent",
    "Smith, J., \"Neural nets for claims\", IEEE Trans., 2019, pp. 1-10",
    "Office action, 'final'; see also: SELECT * FROM oa_citations WHERE 1=1",
    "Line one of a note\nline two, with a tab\there",
    "  leading and trailing spaces  ",
];

/// `n` synthetic records from `seed`; the same arguments give the same records, in the same
/// order. Ids are unique.
pub fn synthetic(n: usize, seed: u64) -> Vec<Value> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut ids = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    let reload = Stamp::parse("2025-07-03T13:00:00").expect("valid stamp").0;
    // About 50 records a second over the reload, like the real set's crowded days.
    let reload_span = (n as i64 * 6 / 10 / 50).max(1);
    let tail_lo = Stamp::parse("2017-10-01T00:00:00").expect("valid stamp").0;
    let tail_hi = Stamp::parse("2025-06-30T23:59:59").expect("valid stamp").0;
    let hot_second = Stamp(reload + reload_span / 2);
    let hot_target = n / 20;
    let mut hot_count = 0;
    while out.len() < n {
        let stamp = if hot_count < hot_target {
            hot_second
        } else if rng.f64() < 0.6 {
            Stamp(reload + rng.i64(0..reload_span))
        } else {
            Stamp(rng.i64(tail_lo..=tail_hi))
        };
        let size = (1 + rng.usize(0..16)).min(n - out.len());
        if stamp == hot_second {
            hot_count += size;
        }
        let action = Action::random(&mut rng, stamp);
        for _ in 0..size {
            let id = loop {
                let id = format!("{:032x}", rng.u128(..));
                if ids.insert(id.clone()) {
                    break id;
                }
            };
            out.push(action.citation(&mut rng, id));
        }
    }
    out
}

/// What the citations of one office action share.
struct Action {
    application: String,
    document: String,
    art_unit: String,
    tech_center: String,
    work_group: String,
    stamp: String,
}

impl Action {
    fn random(rng: &mut fastrand::Rng, stamp: Stamp) -> Action {
        let tc = TECH_CENTERS[rng.usize(..TECH_CENTERS.len())];
        let wg = tc + 10 * rng.u32(1..9);
        let document: String = (0..15)
            .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rng.usize(..36)]))
            .collect();
        Action {
            application: format!("{}", rng.u32(12_000_000..19_000_000)),
            document,
            art_unit: (wg + rng.u32(1..9)).to_string(),
            tech_center: tc.to_string(),
            work_group: wg.to_string(),
            stamp: stamp.to_string(),
        }
    }

    fn citation(&self, rng: &mut fastrand::Rng, id: String) -> Value {
        let (reference, parsed) = reference(rng);
        let flag = |rng: &mut fastrand::Rng| {
            if rng.u8(..100) == 0 {
                Value::Null
            } else {
                Value::Bool(rng.bool())
            }
        };
        let mut m = Map::new();
        m.insert("applicantCitedExaminerReferenceIndicator".into(), flag(rng));
        m.insert("createUserIdentifier".into(), json!("ETL_SYS"));
        m.insert("workGroup".into(), json!(self.work_group));
        m.insert("officeActionCitationReferenceIndicator".into(), flag(rng));
        m.insert("referenceIdentifier".into(), json!(reference));
        m.insert("patentApplicationNumber".into(), json!(self.application));
        m.insert(
            "actionTypeCategory".into(),
            json!(match rng.u8(..20) {
                0..=11 => "rejected",
                12 => "objected",
                _ => "",
            }),
        );
        m.insert(
            "legalSectionCode".into(),
            json!(SECTIONS[rng.usize(..SECTIONS.len())]),
        );
        m.insert("groupArtUnitNumber".into(), json!(self.art_unit));
        m.insert("createDateTime".into(), json!(self.stamp));
        m.insert("techCenter".into(), json!(self.tech_center));
        m.insert("obsoleteDocumentIdentifier".into(), json!(self.document));
        m.insert("parsedReferenceIdentifier".into(), json!(parsed));
        m.insert("id".into(), json!(id));
        m.insert("examinerCitedReferenceIndicator".into(), flag(rng));
        if rng.u8(..100) == 0 {
            m.insert(
                "paragraphNumber".into(),
                json!(format!("[{:04}]", rng.u16(1..200))),
            );
        }
        Value::Object(m)
    }
}

/// A reference text and its parsed number ("" when there is none), in the shapes seen upstream.
fn reference(rng: &mut fastrand::Rng) -> (String, String) {
    match rng.u8(..10) {
        0..=2 => (String::new(), String::new()),
        3 => (NPL[rng.usize(..NPL.len())].to_owned(), String::new()),
        _ => {
            let name = NAMES[rng.usize(..NAMES.len())];
            let (country, kind) = COUNTRIES[rng.usize(..COUNTRIES.len())];
            let number = if country == "US" && kind == "A1" {
                format!("{}{:07}", rng.u32(2001..2025), rng.u32(..10_000_000))
            } else {
                format!("{}", rng.u32(1_000_000..12_000_000))
            };
            // Real texts sometimes end in a space.
            let tail = if rng.u8(..4) == 0 { " " } else { "" };
            (format!("{name} {country} {number} {kind}{tail}"), number)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_deterministic_unique_and_crowded() {
        let a = synthetic(2_000, 7);
        assert_eq!(a, synthetic(2_000, 7));
        assert_ne!(a, synthetic(2_000, 8));
        assert_eq!(a.len(), 2_000);
        let ids: HashSet<_> = a
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 2_000);
        let mut per_second = std::collections::HashMap::<&str, usize>::new();
        for d in &a {
            *per_second
                .entry(d["createDateTime"].as_str().unwrap())
                .or_default() += 1;
        }
        assert!(
            per_second.values().max().unwrap() >= &100,
            "one second must hold many records"
        );
        assert!(a.iter().any(|d| d["referenceIdentifier"] == ""));
        assert!(
            a.iter()
                .any(|d| d["createDateTime"].as_str().unwrap() < "2025")
        );
    }
}
