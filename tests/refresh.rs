//! Refreshing an existing mirror: cheap when nothing changed, close to the least a count-driven
//! design can do when changes are local, exact always.

use oac_mirror::config::RawConfig;
use oac_mirror::replica::{Settings, synthetic};
use serde_json::{Value, json};

use crate::support::*;

fn small_pages(c: &mut RawConfig) {
    c.rows = Some(50);
    c.paging_cap = Some(1_000);
}

fn stamp(d: &Value) -> &str {
    d["createDateTime"].as_str().unwrap()
}

/// Records deleted upstream: kept, marked, out of the view, in a view of their own.
fn deleted_ids(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM oa_citations_deleted ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn refreshes_cost_what_changed() {
    let v1 = synthetic(20_000, 21);
    let replica = replica(v1.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    let first = harvest(&cfg).await.unwrap();
    assert!(first.complete);
    let leaves = query_i64(&db, "SELECT count(*) FROM partitions WHERE state = 'done'") as u64;

    // Nothing changed: a handful of count queries.
    let unchanged = harvest(&cfg).await.unwrap();
    assert!(unchanged.complete, "{}", unchanged.message);
    assert!(
        unchanged.stats.requests * 50 <= first.stats.requests,
        "{} vs {}",
        unchanged.stats.requests,
        first.stats.requests
    );
    assert!(unchanged.stats.requests < leaves);

    // Local changes: 40 records added on one late day, and one office action's records
    // reloaded with a new stamp on the same day.
    let mut v2 = v1.clone();
    let late_day = "2025-11-20T08:00:";
    for (i, mut doc) in synthetic(40, 99).into_iter().enumerate() {
        doc["createDateTime"] = json!(format!("{late_day}{:02}", i % 60));
        v2.push(doc);
    }
    let reloaded = v2.iter().position(|d| stamp(d) < "2020").unwrap();
    v2[reloaded]["createDateTime"] = json!(format!("{late_day}59"));
    replica.replace_data(v2.clone());
    let local = harvest(&cfg).await.unwrap();
    assert!(local.complete, "{}", local.message);
    assert_eq!(view_rows(&db), expected_rows(&v2));
    assert!(
        local.stats.requests * 5 < first.stats.requests,
        "local change cost {} of {}",
        local.stats.requests,
        first.stats.requests
    );

    // Scattered deletions: every 97th record, in every window.
    let v3: Vec<Value> = v2
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 97 != 0)
        .map(|(_, d)| d.clone())
        .collect();
    let gone: Vec<String> = {
        let mut g: Vec<String> = v2
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 97 == 0)
            .map(|(_, d)| d["id"].as_str().unwrap().to_owned())
            .collect();
        g.sort();
        g
    };
    replica.replace_data(v3.clone());
    let scattered = harvest(&cfg).await.unwrap();
    assert!(scattered.complete, "{}", scattered.message);
    assert_eq!(view_rows(&db), expected_rows(&v3));
    assert_eq!(deleted_ids(&db), gone);
    assert!(
        scattered.stats.requests < first.stats.requests * 3 / 2,
        "scattered cost {} of {}",
        scattered.stats.requests,
        first.stats.requests
    );
    eprintln!(
        "refresh requests: first {} ({leaves} leaves), unchanged {}, local {}, scattered {}",
        first.stats.requests,
        unchanged.stats.requests,
        local.stats.requests,
        scattered.stats.requests
    );
}
