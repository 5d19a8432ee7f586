//! What a page's records must be before they are stored: inside the window (and id prefix)
//! that was asked for, and in the data set's contract. A record that is not is quarantined
//! with the reason, never stored; the harvest counts the ones outside the window against the
//! leaf's proof. Pure: no I/O; run on the writer thread, beside the write.

use serde_json::value::RawValue;
use tracing::warn;

use crate::api::record;
use crate::plan::Window;

/// Checks a page's records: the ones outside `window` and the ones that break the contract
/// are quarantined. Returns the records to store, the quarantined ones, and how many lay
/// outside the window.
pub(super) fn check_page(
    window: &Window,
    docs: Vec<Box<RawValue>>,
) -> (Vec<record::Citation>, Vec<record::Rejected>, u64) {
    let bounds = Bounds::of(window);
    let mut citations = Vec::with_capacity(docs.len());
    let mut rejected = vec![];
    let mut outside = 0;
    for raw in docs {
        let checked = match record::parse_raw(&raw) {
            Ok(c) => match bounds.outside(c.create_date_time.as_deref(), Some(&c.id)) {
                None => Ok(c),
                Some(reason) => {
                    outside += 1;
                    Err(record::Rejected {
                        raw_json: reserialized(&raw),
                        reason,
                        id: Some(c.id),
                        create_date_time: c.create_date_time,
                    })
                }
            },
            // A record outside the window is quarantined for that first, whatever else is
            // wrong with it.
            Err(mut r) => {
                if let Some(reason) = bounds.outside(r.create_date_time.as_deref(), r.id.as_deref())
                {
                    outside += 1;
                    r.reason = reason;
                }
                Err(r)
            }
        };
        match checked {
            Ok(c) => citations.push(c),
            Err(r) => {
                warn!(partition = %window, reason = %r.reason, id = r.id.as_deref().unwrap_or("-"), "record quarantined");
                rejected.push(r);
            }
        }
    }
    (citations, rejected, outside)
}

/// [`check_page`] for a sibling data set: each record is read as JSON, quarantined first when
/// it lies outside `window`, then when it breaks `dataset`'s contract.
pub(super) fn check_family_page(
    dataset: &crate::dataset::Dataset,
    window: &Window,
    docs: Vec<Box<RawValue>>,
) -> (
    Vec<crate::dataset::FamilyRecord>,
    Vec<record::Rejected>,
    u64,
) {
    let bounds = Bounds::of(window);
    let mut records = Vec::with_capacity(docs.len());
    let mut rejected = vec![];
    let mut outside = 0;
    for raw in docs {
        let checked = match serde_json::from_str::<serde_json::Value>(raw.get()) {
            Err(e) => Err(record::Rejected {
                raw_json: raw.get().to_owned(),
                reason: format!("record is not valid JSON: {e}"),
                id: None,
                create_date_time: None,
            }),
            Ok(doc) => {
                let text = |key: &str| doc.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                let (id, stamp) = (text("id"), text("createDateTime"));
                match bounds.outside(stamp.as_deref(), id.as_deref()) {
                    Some(reason) => {
                        outside += 1;
                        Err(record::Rejected {
                            raw_json: doc.to_string(),
                            reason,
                            id,
                            create_date_time: stamp,
                        })
                    }
                    None => crate::dataset::parse(dataset, doc),
                }
            }
        };
        match checked {
            Ok(r) => records.push(r),
            Err(r) => {
                warn!(dataset = dataset.name, partition = %window, reason = %r.reason, id = r.id.as_deref().unwrap_or("-"), "record quarantined");
                rejected.push(r);
            }
        }
    }
    (records, rejected, outside)
}

/// A record as the quarantine keeps it: parsed and written again (keys in order).
fn reserialized(raw: &RawValue) -> String {
    serde_json::from_str::<serde_json::Value>(raw.get())
        .map_or_else(|_| raw.get().to_owned(), |v| v.to_string())
}

/// A window's bounds as upstream compares them (as strings), written out once per page.
struct Bounds<'a> {
    window: &'a Window,
    lo: String,
    hi: String,
}

impl<'a> Bounds<'a> {
    fn of(window: &'a Window) -> Bounds<'a> {
        Bounds {
            window,
            lo: window.lo.to_string(),
            hi: window.hi.to_string(),
        }
    }

    /// Why a record with this `createDateTime` and `id` does not belong to the window, if it
    /// does not: the stamp is missing or outside the range, or the id does not start with the
    /// window's prefix.
    fn outside(&self, stamp: Option<&str>, id: Option<&str>) -> Option<String> {
        let in_range = stamp.is_some_and(|s| self.lo.as_str() <= s && s <= self.hi.as_str());
        if !in_range {
            return Some(format!(
                "createDateTime {} is outside the window asked for ({})",
                stamp.map_or("missing".into(), |s| format!("{s:?}")),
                self.window
            ));
        }
        let prefix = &self.window.id_prefix;
        if !prefix.is_empty() {
            let id = id.unwrap_or_default();
            if !id.starts_with(prefix.as_str()) {
                return Some(format!(
                    "id {id:?} does not start with {prefix:?}, the prefix asked for"
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Stamp;
    use serde_json::json;

    #[test]
    fn records_outside_the_window_or_prefix_are_told_apart() {
        let lo = Stamp::parse("2025-07-04T10:00:00").unwrap();
        let mut w = Window {
            lo,
            hi: Stamp(lo.0 + 9),
            id_prefix: String::new(),
        };
        let outside =
            |w: &Window, id: &str, stamp: Option<&str>| Bounds::of(w).outside(stamp, Some(id));
        assert_eq!(outside(&w, "ab", Some("2025-07-04T10:00:00")), None);
        assert_eq!(outside(&w, "ab", Some("2025-07-04T10:00:09")), None);
        for stamp in [
            "2025-07-04T09:59:59",
            "2025-07-04T10:00:10",
            // upstream compares strings: a fraction sorts after the last whole second
            "2025-07-04T10:00:09.5",
        ] {
            let why = outside(&w, "ab", Some(stamp)).unwrap();
            assert!(why.contains("outside the window"), "{why}");
        }
        assert!(outside(&w, "ab", None).unwrap().contains("missing"));
        w.id_prefix = "a".into();
        assert_eq!(outside(&w, "ab", Some("2025-07-04T10:00:01")), None);
        let why = outside(&w, "bb", Some("2025-07-04T10:00:01")).unwrap();
        assert!(why.contains("prefix"), "{why}");
    }

    /// A page's records are stored, quarantined for breaking the contract, or quarantined for
    /// lying outside the window (that reason first), and only the last are counted as outside.
    #[test]
    fn a_page_is_checked_record_by_record() {
        let lo = Stamp::parse("2025-07-04T10:00:00").unwrap();
        let w = Window {
            lo,
            hi: Stamp(lo.0 + 9),
            id_prefix: String::new(),
        };
        let docs: Vec<Box<RawValue>> = [
            json!({"id": "a1", "createDateTime": "2025-07-04T10:00:01"}),
            json!({"id": "a2", "createDateTime": "2025-07-04T10:00:01", "techCenter": 2600}),
            json!({"id": "a3", "createDateTime": "2025-07-05T00:00:00"}),
            json!({"id": 4, "createDateTime": "2025-07-05T00:00:00"}),
            json!("not a record"),
        ]
        .iter()
        .map(|d| serde_json::value::to_raw_value(d).unwrap())
        .collect();
        let (stored, quarantined, outside) = check_page(&w, docs);
        assert_eq!(
            stored.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["a1"]
        );
        let reasons: Vec<&str> = quarantined.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(
            reasons[0].contains("`techCenter` should be a string"),
            "{reasons:?}"
        );
        for r in &reasons[1..] {
            assert!(r.contains("outside the window"), "{reasons:?}");
        }
        assert_eq!(outside, 3);
        assert_eq!(quarantined[1].id.as_deref(), Some("a3"));
        assert_eq!(
            quarantined[1].raw_json,
            r#"{"createDateTime":"2025-07-05T00:00:00","id":"a3"}"#
        );
    }

    /// A sibling's page is checked as the citations' are: outside the window first (counted),
    /// then the data set's contract.
    #[test]
    fn a_sibling_page_is_checked_record_by_record() {
        let lo = Stamp::parse("2025-07-04T10:00:00").unwrap();
        let w = Window {
            lo,
            hi: Stamp(lo.0 + 9),
            id_prefix: String::new(),
        };
        let docs: Vec<Box<RawValue>> = [
            json!({"id": "r1", "createDateTime": "2025-07-04T10:00:01", "hasRej103": 1}),
            json!({"id": "", "createDateTime": "2025-07-04T10:00:02"}),
            json!({"id": "r3", "createDateTime": "2025-07-05T00:00:00"}),
            json!("not a record"),
        ]
        .iter()
        .map(|d| serde_json::value::to_raw_value(d).unwrap())
        .collect();
        let (stored, quarantined, outside) =
            check_family_page(&crate::dataset::REJECTIONS, &w, docs);
        assert_eq!(stored.len(), 1);
        let reasons: Vec<&str> = quarantined.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(!reasons[0].contains("outside the window"), "{reasons:?}");
        for r in &reasons[1..] {
            assert!(r.contains("outside the window"), "{reasons:?}");
        }
        assert_eq!(outside, 2);
        assert_eq!(quarantined[1].id.as_deref(), Some("r3"));
        assert_eq!(
            quarantined[1].raw_json,
            r#"{"createDateTime":"2025-07-05T00:00:00","id":"r3"}"#
        );
    }
}
