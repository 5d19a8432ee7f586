//! The first harvest: exact rows, splitting, empty windows, quarantine, keys, resume after a kill.

use std::process::Stdio;

use oac_mirror::Error;
use oac_mirror::replica::{Settings, synthetic};
use oac_mirror::store::Store;
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn real_samples_are_stored_exactly_as_the_view_contract_says() {
    let docs = sample_docs();
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let outcome = harvest(&config(&replica, &db, "2025-07-01", "2025-07-31", |_| {}))
        .await
        .unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    let rows = view_rows(&db);
    assert_eq!(rows.len(), 9);
    assert_eq!(rows, expected_rows(&docs));
    // Spot checks of the contract on real values.
    let sql = |q: &str| query_i64(&db, q);
    assert_eq!(
        sql(
            "SELECT count(*) FROM oa_citations WHERE reference_identifier = 'Itagaki; Takeshi US 20150044531 A1 '"
        ),
        1
    );
    assert_eq!(
        sql(
            "SELECT count(*) FROM oa_citations WHERE reference_identifier = '------- European Patent'"
        ),
        2
    );
    assert_eq!(
        sql(
            "SELECT count(*) FROM oa_citations WHERE paragraph_number IS NOT NULL OR reference_identifier = ''"
        ),
        0
    );
    // All citations of one office action share one office_actions row.
    assert_eq!(
        sql(
            "SELECT count(*) FROM office_actions WHERE obsolete_document_identifier = 'K87AK41FRXEAPX5'"
        ),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multi_window_harvest_equals_the_service_row_for_row() {
    let docs = synthetic(25_000, 42);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        c.paging_cap = Some(2_000);
        c.rows = Some(500);
    });
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    let sql = |q: &str| query_i64(&db, q);
    assert!(
        sql("SELECT count(*) FROM partitions WHERE state = 'done' AND upstream_count > 0") >= 13
    );
    assert!(
        sql("SELECT count(*) FROM partitions WHERE state = 'done' AND upstream_count = 0") > 0,
        "some windows are empty"
    );
    assert_eq!(
        sql("SELECT sum(upstream_count) FROM partitions WHERE state = 'done'"),
        25_000
    );
    assert_eq!(
        sql("SELECT max(upstream_count) FROM partitions WHERE state = 'done'"),
        sql("SELECT max(next_offset) FROM partitions")
    );
    assert!(sql("SELECT max(upstream_count) FROM partitions WHERE state = 'done'") <= 2_000);
    assert_eq!(
        outcome.stats.requests,
        replica.requests(),
        "every request goes through the fetcher's counters"
    );
    // Nothing is fetched twice when upstream holds still.
    let status = Store::open_read_only(&db).unwrap().status().unwrap();
    assert!(status.complete);
    assert_eq!((status.records, status.rejected), (25_000, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crowded_second_splits_by_id_prefix() {
    let docs = synthetic(3_000, 3);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2025-07-03", "2025-07-03", |c| {
        c.paging_cap = Some(8);
        c.rows = Some(8);
    });
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    let in_window: Vec<Value> = docs
        .into_iter()
        .filter(|d| {
            d["createDateTime"]
                .as_str()
                .unwrap()
                .starts_with("2025-07-03")
        })
        .collect();
    assert!(in_window.len() > 1_000);
    assert_eq!(view_rows(&db), expected_rows(&in_window));
    let sql = |q: &str| query_i64(&db, q);
    assert!(
        sql("SELECT count(*) FROM partitions WHERE state = 'done' AND length(id_prefix) = 2") > 0,
        "split two hex digits deep"
    );
    assert!(
        sql("SELECT count(*) FROM partitions WHERE state = 'split' AND lo = hi AND id_prefix = ''")
            >= 1
    );
    assert_eq!(
        sql("SELECT count(*) FROM partitions WHERE criteria LIKE '%AND id:%' AND id_prefix = ''"),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_window_is_complete_not_an_error() {
    let replica = replica(synthetic(500, 1), Settings::default()).await;
    let (_dir, db) = temp_db();
    let outcome = harvest(&config(&replica, &db, "2016-01-01", "2016-12-31", |_| {}))
        .await
        .unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM oa_citations"), 0);
    assert_eq!(
        query_i64(
            &db,
            "SELECT upstream_count FROM partitions WHERE parent_id IS NULL"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_records_are_quarantined_counted_and_never_fatal() {
    let mut docs = sample_docs();
    docs.push(json!({"createDateTime": "2025-07-07T01:12:35", "techCenter": "2600"}));
    docs.push(json!({"id": "0000000000000000000000000000beef", "createDateTime": "2025-07-07T01:12:35", "examinerCitedReferenceIndicator": "yes"}));
    docs.push(json!({"id": "0000000000000000000000000000cafe", "createDateTime": "2025-07-07T01:12:36", "newField": {"nested": [1, "two"]}}));
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let outcome = harvest(&config(&replica, &db, "2025-07-01", "2025-07-31", |_| {}))
        .await
        .unwrap();
    assert!(
        outcome.complete,
        "quarantined records count toward the proof: {}",
        outcome.message
    );
    let status = Store::open_read_only(&db).unwrap().status().unwrap();
    assert_eq!((status.records, status.rejected), (10, 2));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let reasons: Vec<String> = conn
        .prepare("SELECT reason FROM rejected_records ORDER BY reason")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "field `examinerCitedReferenceIndicator` should be a boolean, got string \"yes\"",
            "record has no `id`"
        ]
    );
    let raw: String = conn
        .query_row(
            "SELECT raw_json FROM rejected_records WHERE record_id IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&raw).unwrap(), docs[9]);
    let extra: String = conn
        .query_row(
            "SELECT extra FROM citations WHERE id LIKE '%cafe'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(extra, r#"{"newField":{"nested":[1,"two"]}}"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_stops_the_run_with_one_clear_line() {
    let replica = replica(sample_docs(), Settings::default()).await;
    replica.update_settings(|s| s.require_key = Some("another-key".into()));
    let (_dir, db) = temp_db();
    let err = harvest(&config(&replica, &db, "2025-07-01", "2025-07-31", |_| {}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { status: 403, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("USPTO_API_KEY") && !text.contains(KEY),
        "{text}"
    );
    assert_eq!(replica.requests(), 1, "no retry after 403");
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_exit_2_before_any_request() {
    let replica = replica(sample_docs(), Settings::default()).await;
    let (_dir, db) = temp_db();
    for (flag, value, key) in [
        ("--rate", "-1", "`rate`"),
        ("--from", "2025-13-01", "`from`"),
        ("--rows", "0", "`rows`"),
    ] {
        let out = bin()
            .args(["harvest", "--db"])
            .arg(&db)
            .args(["--base-url", &replica.base_url(), flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key) && stderr.contains(value), "{stderr}");
    }
    let out = bin()
        .args(["harvest", "--frm", "2020-01-01"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown flag is a usage error"
    );
    let out = bin()
        .args(["harvest", "--db"])
        .arg(&db)
        .env_remove("USPTO_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("USPTO_API_KEY"), "{stderr}");
    assert_eq!(replica.requests(), 0);
    assert!(
        !db.exists(),
        "nothing is written before the configuration is valid"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_key_never_reaches_help_logs_or_the_database() {
    let secret = "k3y-that-must-not-leak";
    let replica = replica(sample_docs(), Settings::default()).await;
    replica.update_settings(|s| s.require_key = Some(secret.into()));
    let (_dir, db) = temp_db();
    let help = bin()
        .env("USPTO_API_KEY", secret)
        .args(["harvest", "--help"])
        .output()
        .unwrap();
    let out = bin()
        .env("USPTO_API_KEY", secret)
        .env("OAC_MIRROR_LOG", "trace")
        .args([
            "harvest",
            "--from",
            "2025-07-01",
            "--to",
            "2025-07-31",
            "--rate",
            "1000",
            "--db",
        ])
        .arg(&db)
        .args(["--base-url", &replica.base_url()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for bytes in [
        help.stdout,
        help.stderr,
        out.stdout,
        out.stderr,
        std::fs::read(&db).unwrap(),
    ] {
        assert!(!String::from_utf8_lossy(&bytes).contains(secret));
    }
}

/// Kills a harvest with SIGKILL partway, reruns it, and checks the copy is exact and that the
/// rerun continued rather than started over.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_harvest_resumes_and_ends_exact() {
    let docs = synthetic(20_000, 9);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let args = |rate: &str| {
        let mut c = bin();
        c.args([
            "harvest",
            "--quiet",
            "--rows",
            "100",
            "--paging-cap",
            "2000",
            "--rate",
            rate,
            "--db",
        ])
        .arg(&db)
        .args(["--base-url", &replica.base_url()]);
        c
    };
    let mut child = args("150").stderr(Stdio::null()).spawn().unwrap();
    wait_for_records(&db, 5_000).await;
    child.kill().unwrap(); // SIGKILL
    assert!(child.wait().unwrap().code().is_none(), "killed by a signal");
    assert!(
        query_i64(&db, "SELECT count(*) FROM citations") < 20_000,
        "killed partway"
    );
    let before = replica.record_requests();

    let out = args("10000").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rerun_requests = replica.record_requests() - before;
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert_eq!(
        query_i64(&db, "SELECT count(*) - count(DISTINCT id) FROM citations"),
        0
    );

    // A fresh harvest of the same data needs more requests than the rerun did.
    let (_dir2, fresh) = temp_db();
    let cfg = config(&replica, &fresh, "2017-10-01", "2025-12-31", |c| {
        c.rows = Some(100);
        c.paging_cap = Some(2_000);
    });
    let full = harvest(&cfg).await.unwrap();
    assert!(
        rerun_requests + 40 < full.stats.requests,
        "rerun {rerun_requests} vs full {}",
        full.stats.requests
    );

    let out = bin()
        .args(["status", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["complete"], true);
    assert_eq!(status["records"], 20_000);
    assert_eq!(status["rejected"], 0);
    assert!(status["partitions"]["done"].as_u64().unwrap() > 10);
    let text = bin().args(["status", "--db"]).arg(&db).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("complete:   yes"));
}
