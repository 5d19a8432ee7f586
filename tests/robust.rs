//! Surviving the real service: every kind of fault, limits, oversized pages, a lower paging
//! cap, a partition that keeps failing, signals, overlapping runs, schema drift, and a seeded
//! run with all of it and two SIGKILLs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oac_mirror::Error;
use oac_mirror::config::RawConfig;
use oac_mirror::replica::{Fault, Misbehaviour, Replica, Settings, synthetic};
use oac_mirror::store::Store;
use serde_json::Value;

use crate::support::*;

/// How long a test that runs the binary allows for what should take a moment: generous, so
/// that a loaded machine does not fail it. What the test proves rests on other checks.
const GENEROUS: Duration = Duration::from_secs(30);

/// Small pages, and retries enough for 30% of requests failing.
fn small_pages(c: &mut RawConfig) {
    c.max_retries = Some(12);
    c.rows = Some(50);
    c.paging_cap = Some(300);
}

/// Harvests 1,500 records through a replica that meets `kind` on 30% of requests; the copy must
/// be exact and the fault must have happened.
///
/// On tokio's paused clock, with the default clocks (half a second of back-off, doubling; five
/// seconds after a 429; a two-minute timeout), the waits cost no real time. They are not
/// measured here: while the store's writer thread works the runtime looks idle and the clock
/// jumps to its next timer, so a harvest's virtual time says little. `waiting.rs` measures
/// each wait, on a fetcher alone, exactly.
async fn survives(kind: Fault, label: &str) {
    let docs = synthetic(1_500, 11);
    let misbehaviour = Misbehaviour {
        fault_rate: 0.3,
        kinds: vec![kind],
        seed: 5,
        ..Default::default()
    };
    let replica = replica(
        docs.clone(),
        Settings {
            misbehaviour,
            ..Default::default()
        },
    )
    .await;
    let (_dir, db) = temp_db();
    let outcome = harvest(&config(
        &replica,
        &db,
        "2017-10-01",
        "2025-12-31",
        small_pages,
    ))
    .await
    .unwrap();
    assert!(outcome.complete, "{label}: {}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&docs), "{label}");
    let injected = replica.injected().get(label).copied().unwrap_or(0);
    assert!(injected >= 5, "{label} injected {injected} times");
    assert!(
        outcome.stats.retries >= injected,
        "{label}: {} retries for {injected} faults",
        outcome.stats.retries
    );
}

#[tokio::test(start_paused = true)]
async fn survives_http_500() {
    survives(Fault::Status(500), "500").await;
}

#[tokio::test(start_paused = true)]
async fn survives_http_502() {
    survives(Fault::Status(502), "502").await;
}

#[tokio::test(start_paused = true)]
async fn survives_http_503() {
    survives(Fault::Status(503), "503").await;
}

#[tokio::test(start_paused = true)]
async fn survives_http_504() {
    survives(Fault::Status(504), "504").await;
}

#[tokio::test(start_paused = true)]
async fn survives_injected_429() {
    survives(Fault::Status(429), "429").await;
}

/// Answers slower than the default two-minute timeout.
#[tokio::test(start_paused = true)]
async fn survives_timeouts() {
    survives(Fault::Slow(Duration::from_secs(200)), "timeout").await;
}

#[tokio::test(start_paused = true)]
async fn survives_connections_cut_mid_body() {
    survives(Fault::Cut, "cut").await;
}

#[tokio::test(start_paused = true)]
async fn survives_malformed_json() {
    survives(Fault::Malformed, "malformed").await;
}

#[tokio::test(start_paused = true)]
async fn limits_answer_429_and_the_shared_limiter_backs_off() {
    let docs = synthetic(1_500, 12);
    let misbehaviour = Misbehaviour {
        max_in_flight: Some(1),
        max_per_second: Some(40),
        rate_limit_penalty: Some(Duration::from_secs(3)),
        // The service time of the real service: requests overlap, in virtual time too.
        latency: Duration::from_millis(300),
        ..Default::default()
    };
    let replica = replica(
        docs.clone(),
        Settings {
            misbehaviour,
            ..Default::default()
        },
    )
    .await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.concurrency = Some(3);
    });
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert!(outcome.stats.rate_limited > 0, "the limits were never hit");
    assert_eq!(
        outcome.stats.rate_limited,
        replica.injected()["429 (limit)"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_responses_halve_the_page() {
    let docs = synthetic(1_500, 13);
    let misbehaviour = Misbehaviour {
        max_response_bytes: Some(12_000),
        ..Default::default()
    };
    let replica = replica(
        docs.clone(),
        Settings {
            misbehaviour,
            ..Default::default()
        },
    )
    .await;
    let (_dir, db) = temp_db();
    let outcome = harvest(&config(
        &replica,
        &db,
        "2017-10-01",
        "2025-12-31",
        small_pages,
    ))
    .await
    .unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert!(replica.injected()["413"] > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lower_upstream_paging_cap_splits_instead_of_failing() {
    let docs = synthetic(3_000, 14);
    let replica = replica(
        docs.clone(),
        Settings {
            paging_cap: 150,
            ..Default::default()
        },
    )
    .await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.paging_cap = Some(1_000);
        c.rows = Some(100);
    });
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert!(
        query_i64(
            &db,
            "SELECT max(upstream_count) FROM partitions WHERE state = 'done'"
        ) <= 150
    );
    assert!(
        query_i64(
            &db,
            "SELECT count(*) FROM partitions WHERE state = 'split' AND upstream_count <= 1000"
        ) > 0
    );
}

#[tokio::test(start_paused = true)]
async fn a_partition_that_keeps_failing_is_reported_and_retried_next_run() {
    let docs = synthetic(1_500, 15);
    let hot = docs
        .iter()
        .map(|d| d["createDateTime"].as_str().unwrap().to_owned())
        .max_by_key(|s| {
            docs.iter()
                .filter(|d| d["createDateTime"] == s.as_str())
                .count()
        });
    let misbehaviour = Misbehaviour {
        broken_stamp: hot.clone(),
        ..Default::default()
    };
    let replica = replica(
        docs.clone(),
        Settings {
            misbehaviour,
            ..Default::default()
        },
    )
    .await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.max_retries = Some(2);
    });
    let outcome = harvest(&cfg).await.unwrap();
    assert!(!outcome.complete);
    assert!(
        outcome.message.contains("1 partition(s) failed") && outcome.message.contains("rerunning"),
        "{}",
        outcome.message
    );
    let status = Store::open_read_only(&db).unwrap().status().unwrap();
    assert_eq!(status.failed.len(), 1);
    assert!(
        status.failed[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("503"),
        "{:?}",
        status.failed
    );
    assert!(
        status.partitions["done"] > 5,
        "the other partitions carried on"
    );
    let kept = query_i64(
        &db,
        "SELECT next_offset FROM partitions WHERE state = 'failed'",
    );
    assert!(kept > 0, "the failed partition keeps its progress");

    replica.update_settings(|s| s.misbehaviour.broken_stamp = None);
    let before = replica.record_requests();
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert!(
        replica.record_requests() - before < 15,
        "the rerun only finished the failed partition"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_drift_keeps_new_fields_and_stops_on_missing_ones() {
    let replica = replica(sample_docs(), Settings::default()).await;
    replica.update_settings(|s| s.fields.push("brandNewField".into()));
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2025-07-01", "2025-07-31", |_| {});
    assert!(harvest(&cfg).await.unwrap().complete);
    replica.update_settings(|s| s.fields.retain(|f| f != "createDateTime"));
    let err = harvest(&cfg).await.unwrap_err();
    assert!(
        matches!(&err, Error::SchemaDrift { missing, .. } if missing == &["createDateTime"]),
        "{err}"
    );
}

/// `oac-mirror harvest` of `replica` into `db` at `rate`, in small pages.
fn harvest_bin(replica: &Replica, db: &std::path::Path, rate: &str) -> Command {
    let mut c = bin_against(replica, db, "harvest");
    c.args(["--rows", "50", "--paging-cap", "1000", "--rate", rate]);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_and_a_rerun_continues() {
    let docs = synthetic(6_000, 16);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let child = harvest_bin(&replica, &db, "100")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_records(&db, 500).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < GENEROUS, "{:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("rerunning"),
        "{stderr}"
    );
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM runs WHERE outcome = 'interrupted'"
        ),
        1
    );
    let out = harvest_bin(&replica, &db, "5000").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(view_rows(&db), expected_rows(&docs));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_harvest_on_the_same_database_exits_at_once() {
    let docs = synthetic(4_000, 17);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    // Slow enough (80 pages at 30 a second) to be running still when its first batch of pages
    // is committed, a second after it starts.
    let mut first = harvest_bin(&replica, &db, "30")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_records(&db, 100).await;
    let started = Instant::now();
    let second = harvest_bin(&replica, &db, "150").output().unwrap();
    assert!(started.elapsed() < GENEROUS, "{:?}", started.elapsed());
    assert!(
        first.try_wait().unwrap().is_none(),
        "the second harvest did not wait for the first to end"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by another harvest")
            && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "the first harvest is unharmed");
    assert_eq!(view_rows(&db), expected_rows(&docs));
}

/// About 8% of requests fail across every kind, strict limits answer 429, pages can be too
/// large, upstream's cap is lower than configured, and the process is killed twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_seeded_chaos_run_killed_twice_ends_exact() {
    let docs = synthetic(12_000, 18);
    let misbehaviour = Misbehaviour {
        max_in_flight: Some(1),
        max_per_second: Some(150),
        rate_limit_penalty: Some(Duration::from_millis(10)),
        max_response_bytes: Some(25_000),
        fault_rate: 0.08,
        kinds: Fault::all(Duration::from_millis(400)),
        seed: 2026,
        ..Default::default()
    };
    let replica = replica(
        docs.clone(),
        Settings {
            misbehaviour,
            paging_cap: 800,
            ..Default::default()
        },
    )
    .await;
    let (_dir, db) = temp_db();
    let run = || {
        let mut c = harvest_bin(&replica, &db, "300");
        c.args([
            "--concurrency",
            "2",
            "--retry-wait",
            "0.01",
            "--rate-limit-wait",
            "0.02",
            "--max-retries",
            "15",
        ])
        .args(["--request-timeout", "0.25", "--leaf-attempts", "5"]);
        c
    };
    let started = Instant::now();
    for at_least in [3_000, 7_000] {
        let mut child = run().stderr(Stdio::null()).spawn().unwrap();
        wait_for_records(&db, at_least).await;
        child.kill().unwrap();
        assert!(child.wait().unwrap().code().is_none(), "killed by SIGKILL");
    }
    let out = run().output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert_eq!(
        query_i64(&db, "SELECT count(*) - count(DISTINCT id) FROM citations"),
        0
    );
    let injected = replica.injected();
    let faults: u64 = injected
        .iter()
        .filter(|(k, _)| !k.starts_with("429 (limit)") && *k != "413")
        .map(|(_, v)| v)
        .sum();
    let share = faults as f64 / replica.record_requests() as f64;
    assert!((0.05..0.12).contains(&share), "fault share {share}");
    let last: Value = serde_json::from_slice(
        &bin()
            .args(["status", "--json", "--db"])
            .arg(&db)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(last["complete"], true);
    eprintln!(
        "chaos run: {} requests ({} to /records), injected {:?}, {:.1}s",
        replica.requests(),
        replica.record_requests(),
        injected,
        started.elapsed().as_secs_f64()
    );
}
