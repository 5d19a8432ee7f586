//! The partition tree's descent as a whole run sees it: which windows a harvest asks upstream
//! to count, against a service whose records all sit in one second.

use std::sync::Arc;

use serde_json::Value;

use crate::support::hostile::{Answer, Asked, Hostile, doc};
use crate::support::{bin, query_i64, temp_db};

const FROM: &str = "2025-07-01";
const TO: &str = "2025-07-02";
/// The last second of the window, where every record is.
const LAST: &str = "2025-07-02T23:59:59";

/// `n` records in the last second, their ids spread over the sixteen first hex digits.
fn hot_second(n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| doc(&format!("{:x}{:031x}", i % 16, i), LAST))
        .collect()
}

/// The window (`lo`, `hi`, id prefix) a criteria string asks for.
fn window(criteria: &str) -> (String, String, String) {
    let range = criteria
        .strip_prefix("createDateTime:[")
        .and_then(|r| r.split_once(']'))
        .expect("a range on createDateTime");
    let (lo, hi) = range.0.split_once(" TO ").expect("lo TO hi");
    let prefix = range
        .1
        .strip_prefix(" AND id:")
        .map(|p| p.trim_end_matches('*').to_owned())
        .unwrap_or_default();
    (lo.to_owned(), hi.to_owned(), prefix)
}

/// An honest service holding `docs`: counts and pages what the criteria select, and answers 404
/// where they select nothing, as the real one does.
fn honest(docs: &[Value], asked: &Asked) -> Option<Answer> {
    if !asked.is_records() {
        return None;
    }
    let (lo, hi, prefix) = window(asked.criteria.as_deref()?);
    let selected: Vec<Value> = docs
        .iter()
        .filter(|d| {
            let t = d["createDateTime"].as_str().unwrap();
            let id = d["id"].as_str().unwrap();
            lo.as_str() <= t && t <= hi.as_str() && id.starts_with(&prefix)
        })
        .cloned()
        .collect();
    if selected.is_empty() {
        return None;
    }
    let start = (asked.start as usize).min(selected.len());
    let end = (start + asked.rows as usize).min(selected.len());
    Some(Answer::Records {
        num_found: selected.len() as u64,
        docs: selected[start..end].to_vec(),
    })
}

/// Halving the window puts every record in its second half, level after level: the first half
/// is counted (empty), and the second half, which its split shows must split again, is not
/// counted at all; its own halves check its count. The mirror is still complete.
#[tokio::test(flavor = "multi_thread")]
async fn a_part_its_split_shows_must_split_again_is_not_counted() {
    let docs = Arc::new(hot_second(160));
    let service = {
        let docs = Arc::clone(&docs);
        Hostile::start(move |a| honest(&docs, a)).await
    };
    let (_dir, db) = temp_db();
    let out = tokio::task::spawn_blocking({
        let (url, db) = (service.base_url(), db.clone());
        move || {
            bin()
                .args(["harvest", "--db"])
                .arg(&db)
                .args(["--base-url", &url, "--from", FROM, "--to", TO])
                .args(["--rate", "1000", "--paging-cap", "100", "--rows", "100"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(query_i64(&db, "SELECT count(*) FROM citations"), 160);

    let asked: Vec<(String, String, String)> = service
        .asked()
        .iter()
        .filter(|a| a.is_records())
        .map(|a| window(a.criteria.as_deref().unwrap()))
        .collect();
    let root = (format!("{FROM}T00:00:00"), LAST.to_owned());
    let second_halves = asked
        .iter()
        .filter(|(lo, hi, _)| hi == LAST && lo != &root.0 && lo != LAST)
        .count();
    assert_eq!(second_halves, 0, "asked: {asked:?}");
    // The halvings down to the last second: each split's first half, counted once.
    let halvings = query_i64(
        &db,
        "SELECT count(*) FROM partitions WHERE state = 'split' AND id_prefix = '' AND lo < hi",
    ) as usize;
    let first_halves = asked
        .iter()
        .filter(|(_, hi, p)| p.is_empty() && hi != LAST)
        .count();
    assert!(halvings >= 17, "{halvings} halvings of two days");
    assert_eq!(first_halves, halvings, "asked: {asked:?}");
}
