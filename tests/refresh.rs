//! Refreshing an existing mirror: cheap when nothing changed, close to the least a count-driven
//! design can do when changes are local, exact always; plan and verify.

use std::collections::BTreeSet;
use std::path::Path;

use oac_mirror::Error;
use oac_mirror::config::{Config, RawConfig};
use oac_mirror::harvest::fetch::Fetcher;
use oac_mirror::harvest::survey;
use oac_mirror::replica::{Replica, Settings, synthetic};
use oac_mirror::store::Store;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn small_pages(c: &mut RawConfig) {
    c.rows = Some(50);
    c.paging_cap = Some(1_000);
}

fn stamp(d: &Value) -> &str {
    d["createDateTime"].as_str().unwrap()
}

fn id(d: &Value) -> &str {
    d["id"].as_str().unwrap()
}

/// Records deleted upstream: kept, marked, out of the view, in a view of their own.
fn deleted_ids(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM oa_citations_deleted ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// A leaf of the partition tree as stored: its id, bounds, id prefix and sweep.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Leaf {
    id: i64,
    lo: String,
    hi: String,
    prefix: String,
    sweep: i64,
}

fn done_leaves(db: &Path) -> Vec<Leaf> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT partition_id, lo, hi, id_prefix, sweep FROM partitions WHERE state = 'done'",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Leaf {
            id: r.get(0)?,
            lo: r.get(1)?,
            hi: r.get(2)?,
            prefix: r.get(3)?,
            sweep: r.get(4)?,
        })
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// How many of `docs` fall in `leaf`'s window (stamps compare as strings, as upstream does).
fn count_in(docs: &[Value], leaf: &Leaf) -> usize {
    docs.iter()
        .filter(|d| {
            let s = stamp(d);
            leaf.lo.as_str() <= s && s <= leaf.hi.as_str() && id(d).starts_with(&leaf.prefix)
        })
        .count()
}

/// The ids of the leaves (of `before`) that the last refresh fetched again: their sweep moved
/// or they were split.
fn refetched(db: &Path, before: &[Leaf]) -> BTreeSet<i64> {
    let after = done_leaves(db);
    before
        .iter()
        .filter(|b| !after.iter().any(|a| a.id == b.id && a.sweep == b.sweep))
        .map(|b| b.id)
        .collect()
}

/// The leaves (of `before`) whose upstream count differs between `old` and `new`.
fn moved(before: &[Leaf], old: &[Value], new: &[Value]) -> BTreeSet<i64> {
    before
        .iter()
        .filter(|l| count_in(old, l) != count_in(new, l))
        .map(|l| l.id)
        .collect()
}

/// The last run's (added, updated, deleted).
fn fetcher(config: &Config) -> Fetcher {
    fetcher_for(config, CancellationToken::new())
}

async fn plan(config: &Config) -> survey::Plan {
    survey::plan(config, &mut fetcher(config)).await.unwrap()
}

async fn verify(config: &Config, quick: bool) -> survey::Verification {
    let store = Store::open_read_only(&config.db).unwrap();
    survey::verify(config, &mut fetcher(config), store, quick)
        .await
        .unwrap()
}

fn file_bytes(db: &Path) -> Vec<u8> {
    std::fs::read(db).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn refreshes_cost_what_changed_and_end_exact() {
    let v1 = synthetic(20_000, 21);
    let replica = replica(v1.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    let first = harvest(&cfg).await.unwrap();
    assert!(first.complete);
    assert_eq!(last_run_changes(&db), (20_000, 0, 0));
    let leaves = done_leaves(&db);

    // Nothing changed: a handful of count queries, no writes to the records.
    let unchanged = harvest(&cfg).await.unwrap();
    assert!(unchanged.complete, "{}", unchanged.message);
    assert!(
        unchanged.stats.requests * 50 <= first.stats.requests,
        "{} vs {}",
        unchanged.stats.requests,
        first.stats.requests
    );
    assert!(unchanged.stats.requests < leaves.len() as u64);
    assert_eq!(last_run_changes(&db), (0, 0, 0));
    assert!(refetched(&db, &leaves).is_empty());

    // Local changes: 40 records added on one late day, 5 backfilled into 2018, and one record
    // reloaded with a new stamp.
    let mut v2 = v1.clone();
    let late_day = "2025-11-20T08:00:";
    for (i, mut doc) in synthetic(45, 99).into_iter().enumerate() {
        doc["createDateTime"] = if i < 40 {
            json!(format!("{late_day}{:02}", i % 60))
        } else {
            json!(format!("2018-03-1{i}T10:00:00"))
        };
        v2.push(doc);
    }
    let reloaded = v2.iter().position(|d| stamp(d) < "2020").unwrap();
    v2[reloaded]["createDateTime"] = json!(format!("{late_day}59"));
    replica.replace_data(v2.clone());
    let plan_local = plan(&cfg).await;
    let local = harvest(&cfg).await.unwrap();
    assert!(local.complete, "{}", local.message);
    assert_eq!(view_rows(&db), expected_rows(&v2));
    assert_eq!(last_run_changes(&db), (45, 1, 0));
    assert!(deleted_ids(&db).is_empty());
    // Exactly the leaves whose counts moved were fetched again, and the plan named them.
    let expected_moved = moved(&leaves, &v1, &v2);
    assert!(!expected_moved.is_empty());
    assert_eq!(refetched(&db, &leaves), expected_moved);
    let planned: BTreeSet<String> = plan_local
        .windows
        .iter()
        .map(|w| w.window.clone())
        .collect();
    assert_eq!(planned.len(), expected_moved.len(), "{plan_local}");
    assert!(
        plan_local.windows.iter().all(|w| w.why == "moved"),
        "{plan_local}"
    );
    let (estimate, actual) = (plan_local.requests as f64, local.stats.requests as f64);
    assert!(
        estimate > actual * 0.7 && estimate < actual * 1.4,
        "plan estimated {estimate} requests, the refresh took {actual}\n{plan_local}"
    );
    assert!(
        local.stats.requests * 5 < first.stats.requests,
        "local change cost {} of {}",
        local.stats.requests,
        first.stats.requests
    );

    // Scattered deletions: every 97th record, in every window.
    let leaves = done_leaves(&db);
    let v3: Vec<Value> = v2
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 97 != 0)
        .map(|(_, d)| d.clone())
        .collect();
    let mut gone: Vec<String> = v2
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 97 == 0)
        .map(|(_, d)| id(d).to_owned())
        .collect();
    gone.sort();
    replica.replace_data(v3.clone());
    let scattered = harvest(&cfg).await.unwrap();
    assert!(scattered.complete, "{}", scattered.message);
    assert_eq!(view_rows(&db), expected_rows(&v3));
    assert_eq!(deleted_ids(&db), gone);
    assert_eq!(last_run_changes(&db), (0, 0, gone.len() as i64));
    assert_eq!(refetched(&db, &leaves), moved(&leaves, &v2, &v3));
    assert!(
        scattered.stats.requests <= first.stats.requests * 11 / 10,
        "scattered cost {} of {}",
        scattered.stats.requests,
        first.stats.requests
    );
    eprintln!(
        "refresh requests: first {} ({} leaves), unchanged {}, local {}, scattered {}",
        first.stats.requests,
        leaves.len(),
        unchanged.stats.requests,
        local.stats.requests,
        scattered.stats.requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_later_to_fetches_only_the_new_windows_and_a_window_never_shrinks() {
    let docs = synthetic(6_000, 5);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let early = config(&replica, &db, "2017-10-01", "2024-12-31", small_pages);
    assert!(harvest(&early).await.unwrap().complete);
    let before: Vec<Value> = docs
        .iter()
        .filter(|d| stamp(d) <= "2024-12-31T23:59:59")
        .cloned()
        .collect();
    assert_eq!(view_rows(&db), expected_rows(&before));

    // What fetching 2025 alone costs, into a fresh database.
    let (_dir2, fresh) = temp_db();
    let only_new = harvest(&config(
        &replica,
        &fresh,
        "2025-01-01",
        "2025-12-31",
        small_pages,
    ))
    .await
    .unwrap();
    assert!(only_new.complete);

    let grown = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    let extended = harvest(&grown).await.unwrap();
    assert!(extended.complete, "{}", extended.message);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert_eq!(
        last_run_changes(&db),
        ((docs.len() - before.len()) as i64, 0, 0)
    );
    // The new stretch costs what it costs on its own, plus the counts that prove the old
    // window unchanged.
    assert!(
        extended.stats.requests <= only_new.stats.requests + 3,
        "{} vs {}",
        extended.stats.requests,
        only_new.stats.requests
    );
    let again = harvest(&grown).await.unwrap();
    assert!(again.complete && again.stats.requests <= 2);

    let requests = replica.requests();
    for (from, to) in [("2017-10-01", "2025-06-30"), ("2018-01-01", "2025-12-31")] {
        let shrunk = config(&replica, &db, from, to, small_pages);
        let err = harvest(&shrunk).await.unwrap_err();
        assert!(matches!(err, Error::WindowMismatch { .. }), "{err}");
        assert!(err.to_string().contains("not shrink"), "{err}");
    }
    assert_eq!(replica.requests(), requests, "refused before any request");
}

#[tokio::test(flavor = "multi_thread")]
async fn quarantined_records_do_not_make_a_window_look_changed() {
    let mut docs = synthetic(2_000, 3);
    let mut bad = docs[10].clone();
    bad.as_object_mut().unwrap().remove("id");
    docs.push(bad);
    let mut wrong = docs[20].clone();
    wrong["id"] = json!("wrong-type-record");
    wrong["examinerCitedReferenceIndicator"] = json!("yes");
    docs.push(wrong);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    assert!(harvest(&cfg).await.unwrap().complete);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM rejected_records"), 2);
    let refresh = harvest(&cfg).await.unwrap();
    assert!(refresh.complete, "{}", refresh.message);
    assert_eq!(refresh.stats.requests, 2, "fields and one count");
    let v = verify(&cfg, false).await;
    assert!(v.agrees(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn recheck_recent_and_full_refresh_fetch_whatever_the_counts_say() {
    let v1 = synthetic(3_000, 8);
    let replica = replica(v1.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    let first = harvest(&cfg).await.unwrap();
    assert!(first.complete);

    // Two records edited in place: counts do not move. One is recent, one old.
    let mut v2 = v1.clone();
    let recent = (0..v2.len())
        .max_by_key(|&i| stamp(&v2[i]).to_owned())
        .unwrap();
    let old = (0..v2.len())
        .min_by_key(|&i| stamp(&v2[i]).to_owned())
        .unwrap();
    for i in [recent, old] {
        v2[i]["legalSectionCode"] = json!("edited upstream");
    }
    replica.replace_data(v2.clone());
    let edited = |db: &Path| {
        query_i64(
            db,
            "SELECT count(*) FROM oa_citations WHERE legal_section_code = 'edited upstream'",
        )
    };

    // A plain refresh cannot see edits that leave every count as it was.
    assert!(harvest(&cfg).await.unwrap().complete);
    assert_eq!(edited(&db), 0);

    // The last days of the window, whatever their counts say: the recent edit.
    let days = {
        let last =
            chrono::NaiveDate::parse_from_str(&stamp(&v2[recent])[..10], "%Y-%m-%d").unwrap();
        (chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap() - last).num_days() as u32 + 1
    };
    let recheck = harvest(&config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.recheck_recent = Some(days);
    }))
    .await
    .unwrap();
    assert!(recheck.complete, "{}", recheck.message);
    assert_eq!(edited(&db), 1);
    assert_eq!(last_run_changes(&db), (0, 1, 0));

    // Everything again: the old edit too, and the copy is exact.
    let full_cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.full_refresh = Some(true);
    });
    let planned = plan(&full_cfg).await;
    let full = harvest(&full_cfg).await.unwrap();
    assert!(full.complete, "{}", full.message);
    assert_eq!(view_rows(&db), expected_rows(&v2));
    assert_eq!(last_run_changes(&db), (0, 1, 0));
    assert!(recheck.stats.requests < full.stats.requests);
    assert!(
        full.stats.requests <= first.stats.requests,
        "{} vs {}",
        full.stats.requests,
        first.stats.requests
    );
    assert!(planned.windows.iter().all(|w| w.why == "recheck"));
    assert_eq!(
        planned.windows.len(),
        done_leaves(&db).len(),
        "a full refresh plans every leaf"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_estimates_a_first_harvest_and_writes_nothing() {
    let docs = synthetic(8_000, 13);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    let p = plan(&cfg).await;
    assert!(!db.exists(), "plan creates no database");
    assert!(p.windows.iter().all(|w| w.why == "new"));
    let listed: u64 = p.windows.iter().map(|w| w.upstream.unwrap()).sum();
    assert_eq!(listed, docs.len() as u64, "the new windows tile the window");
    let first = harvest(&cfg).await.unwrap();
    assert!(first.complete);
    let (estimate, actual) = (p.requests as f64, first.stats.requests as f64);
    assert!(
        estimate > actual * 0.7 && estimate < actual * 1.5,
        "estimated {estimate}, took {actual}\n{p}"
    );

    let bytes = file_bytes(&db);
    let p = plan(&cfg).await;
    assert!(p.windows.is_empty(), "{p}");
    assert_eq!(
        p.plan_requests, 1,
        "an unchanged mirror costs one count to plan"
    );
    let v = verify(&cfg, false).await;
    assert!(v.agrees(), "{v}");
    assert_eq!(file_bytes(&db), bytes, "plan and verify write nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_the_partitions_that_differ() {
    let v1 = synthetic(5_000, 17);
    let replica = replica(v1.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    assert!(harvest(&cfg).await.unwrap().complete);
    let leaves = done_leaves(&db);

    let full = verify(&cfg, false).await;
    assert!(full.agrees(), "{full}");
    let partitions = query_i64(&db, "SELECT count(*) FROM partitions") as u64;
    assert_eq!(full.compared, partitions);

    // One record gone from an old window, three added to a late one.
    let mut v2 = v1.clone();
    let old = v2.iter().position(|d| stamp(d) < "2019").unwrap();
    v2.remove(old);
    for (i, mut doc) in synthetic(3, 77).into_iter().enumerate() {
        doc["createDateTime"] = json!(format!("2025-10-0{}T00:00:00", i + 1));
        v2.push(doc);
    }
    replica.replace_data(v2.clone());
    let expected = moved(&leaves, &v1, &v2);
    let label = |id: i64| {
        let l = leaves.iter().find(|l| l.id == id).unwrap();
        let mut w = if l.lo == l.hi {
            l.lo.clone()
        } else {
            format!("{}..{}", l.lo, l.hi)
        };
        if !l.prefix.is_empty() {
            w.push_str(&format!(" id:{}*", l.prefix));
        }
        w
    };
    let expected: BTreeSet<String> = expected.into_iter().map(label).collect();
    for quick in [false, true] {
        let v = verify(&cfg, quick).await;
        assert!(!v.agrees());
        let found: BTreeSet<String> = v.differences.iter().map(|d| d.window.clone()).collect();
        assert_eq!(found, expected, "quick: {quick}\n{v}");
        assert_eq!(v.upstream_total, v2.len() as u64);
        assert_eq!(v.local_total, v1.len() as u64);
        if quick {
            assert!(
                v.compared < full.compared / 2,
                "{} of {}",
                v.compared,
                full.compared
            );
        }
    }
}

/// `oac-mirror <sub>` against `replica` and `db`, as cron would run it.
fn cron(replica: &Replica, db: &Path, sub: &str, extra: &[&str]) -> std::process::Output {
    bin_against(replica, db, sub)
        .args(["--rate", "10000"])
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cron_friendly_command_line() {
    let docs = synthetic(1_500, 23);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let run = |sub: &str, extra: &[&str]| cron(&replica, &db, sub, extra);

    // JSON log lines for collectors; no progress bar when stderr is not a terminal.
    let out = run("harvest", &["--log-format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    assert!(stderr.contains("complete"));

    let out = run("harvest", &["--log-format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log_format"));

    let out = run("verify", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("every count agrees"));

    let mut changed = docs.clone();
    changed.truncate(1_400);
    replica.replace_data(changed);
    let out = run("verify", &["--quick"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("differs"), "{stdout}");

    let out = run("plan", &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["requests"].as_u64().unwrap() > 0);
    assert!(!plan["windows"].as_array().unwrap().is_empty());

    let out = run("harvest", &["--quiet"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = bin()
        .args(["status", "--json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["deleted"], 100);
    assert_eq!(status["runs"][0]["records_deleted"], 100);
    assert_eq!(status["runs"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn records_that_move_between_windows_are_found() {
    let v1 = synthetic(4_000, 31);
    let replica = replica(v1.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    assert!(harvest(&cfg).await.unwrap().complete);

    // A record moves from an old window to a late one, and a new record lands where it was:
    // the old window's count is unchanged, and only the records stored show the loss.
    let mut v2 = v1.clone();
    let moved = v2.iter().position(|d| stamp(d) < "2019").unwrap();
    let old_stamp = stamp(&v2[moved]).to_owned();
    v2[moved]["createDateTime"] = json!("2025-11-01T00:00:00");
    let mut newcomer = synthetic(1, 404).remove(0);
    newcomer["createDateTime"] = json!(old_stamp);
    v2.push(newcomer);
    replica.replace_data(v2.clone());
    let refresh = harvest(&cfg).await.unwrap();
    assert!(refresh.complete, "{}", refresh.message);
    assert_eq!(view_rows(&db), expected_rows(&v2));
    assert!(verify(&cfg, false).await.agrees());

    // A record that only moves leaves every count of the larger windows as it was: a
    // refresh cannot see it, verify can, and a full refresh repairs it.
    let mut v3 = v2.clone();
    let moved = v3.iter().position(|d| stamp(d) < "2020").unwrap();
    v3[moved]["createDateTime"] = json!("2025-11-02T00:00:00");
    replica.replace_data(v3.clone());
    assert!(harvest(&cfg).await.unwrap().complete);
    let v = verify(&cfg, false).await;
    assert_eq!(v.differences.len(), 2, "{v}");
    assert!(v.to_string().contains("--full-refresh"), "{v}");
    let full = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.full_refresh = Some(true);
    });
    assert!(harvest(&full).await.unwrap().complete);
    assert_eq!(view_rows(&db), expected_rows(&v3));
    assert!(verify(&cfg, false).await.agrees());
}

/// The most levels from the root of the partition tree to a leaf.
fn tree_depth(db: &Path) -> i64 {
    query_i64(
        db,
        "WITH RECURSIVE d(id, n) AS (SELECT partition_id, 0 FROM partitions WHERE parent_id IS NULL
           UNION ALL SELECT p.partition_id, n + 1 FROM partitions p JOIN d ON p.parent_id = d.id)
         SELECT max(n) FROM d",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_window_grown_every_night_stays_cheap_to_refresh() {
    let docs = synthetic(3_000, 41);
    let (late, early): (Vec<Value>, Vec<Value>) =
        docs.iter().cloned().partition(|d| stamp(d) >= "2025-06-01");
    assert!(!late.is_empty() && !early.is_empty());
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let (_dir2, straight) = temp_db();
    assert!(
        harvest(&config(
            &replica,
            &db,
            "2017-10-01",
            "2025-06-30",
            small_pages
        ))
        .await
        .unwrap()
        .complete
    );
    // Thirty nights, each extending the window by a day.
    let mut day = chrono::NaiveDate::from_ymd_opt(2025, 6, 30).unwrap();
    for _ in 0..30 {
        day = day.succ_opt().unwrap();
        let to = day.format("%Y-%m-%d").to_string();
        let run = harvest(&config(&replica, &db, "2017-10-01", &to, small_pages))
            .await
            .unwrap();
        assert!(run.complete, "{}", run.message);
    }
    let to = day.format("%Y-%m-%d").to_string();
    let grown = config(&replica, &db, "2017-10-01", &to, small_pages);
    let expected: Vec<Value> = docs
        .iter()
        .filter(|d| stamp(d) <= format!("{to}T23:59:59").as_str())
        .cloned()
        .collect();
    assert_eq!(view_rows(&db), expected_rows(&expected));
    let depth = tree_depth(&db);
    let never_grown = config(&replica, &straight, "2017-10-01", &to, small_pages);
    assert!(harvest(&never_grown).await.unwrap().complete);
    let straight_depth = tree_depth(&straight);
    assert!(
        depth <= straight_depth + 6,
        "grown depth {depth}, straight {straight_depth}"
    );

    // One deletion in 2017: found with a few more counts than on a mirror that never grew.
    let gone = expected.iter().position(|d| stamp(d) < "2018").unwrap();
    let mut v2 = expected.clone();
    v2.remove(gone);
    v2.extend(
        docs.iter()
            .filter(|d| stamp(d) > format!("{to}T23:59:59").as_str())
            .cloned(),
    );
    replica.replace_data(v2.clone());
    let a = harvest(&grown).await.unwrap();
    let b = harvest(&never_grown).await.unwrap();
    assert!(a.complete && b.complete);
    let in_window: Vec<Value> = v2
        .iter()
        .filter(|d| stamp(d) <= format!("{to}T23:59:59").as_str())
        .cloned()
        .collect();
    assert_eq!(view_rows(&db), expected_rows(&in_window));
    assert_eq!(view_rows(&straight), expected_rows(&in_window));
    eprintln!(
        "one old deletion after 30 nightly growths: {} requests (depth {depth}); never grown: {} (depth {straight_depth})",
        a.stats.requests, b.stats.requests
    );
    assert!(
        a.stats.requests <= b.stats.requests + 12,
        "grown {} vs never grown {}",
        a.stats.requests,
        b.stats.requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recheck_counts_again_and_starts_with_fresh_attempts() {
    let v1 = synthetic(2_000, 43);
    let replica = replica(v1.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    assert!(harvest(&cfg).await.unwrap().complete);
    let last = v1.iter().map(|d| stamp(d).to_owned()).max().unwrap();
    let mut v2 = v1.clone();
    for mut doc in synthetic(3, 45) {
        doc["createDateTime"] = json!(last);
        v2.push(doc);
    }
    replica.replace_data(v2.clone());
    let days = {
        let last = chrono::NaiveDate::parse_from_str(&last[..10], "%Y-%m-%d").unwrap();
        (chrono::NaiveDate::from_ymd_opt(2025, 12, 31).unwrap() - last).num_days() as u32 + 1
    };
    let recheck = harvest(&config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.recheck_recent = Some(days);
        c.leaf_attempts = Some(1);
    }))
    .await
    .unwrap();
    assert!(recheck.complete, "{}", recheck.message);
    assert_eq!(view_rows(&db), expected_rows(&v2));
}

/// Takes a database back from schema version 7 to 6: `citations` a table again, with the
/// columns it had (but `id_key`, which 0007 does not read) and its indexes.
const UNDO_7: &str = "PRAGMA legacy_alter_table = ON;
    CREATE TABLE citations_v6 AS SELECT * FROM citations;
    DROP VIEW citations; DROP TABLE citation_records; DROP TABLE citation_kinds;
    ALTER TABLE citations_v6 RENAME TO citations;
    PRAGMA legacy_alter_table = OFF;
    DELETE FROM schema_docs WHERE object IN ('citation_records', 'citation_kinds');
    CREATE INDEX citations_create_date_time ON citations (create_date_time, sweep);
    CREATE INDEX citations_deleted ON citations (deleted_at) WHERE deleted_at IS NOT NULL;
    CREATE UNIQUE INDEX citations_id ON citations (id);
    CREATE INDEX citations_office_action ON citations (office_action_id);
    CREATE INDEX citations_reference ON citations (reference_id);";

/// A mirror of the last schema (6) is read by `status` and `verify` without being migrated,
/// and the next harvest upgrades it and finds it unchanged.
#[tokio::test(flavor = "multi_thread")]
async fn verify_reads_a_mirror_of_the_last_schema_and_harvest_migrates_it() {
    let docs = synthetic(500, 48);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    assert!(harvest(&cfg).await.unwrap().complete);
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!("{UNDO_7} PRAGMA user_version = 6;"))
        .unwrap();
    let status = Store::open_read_only(&db).unwrap().status().unwrap();
    assert_eq!(status.records, docs.len() as u64);
    let v = verify(&cfg, false).await;
    assert!(v.agrees(), "{v}");
    assert_eq!(
        query_i64(&db, "PRAGMA user_version"),
        6,
        "read, not migrated"
    );
    let refresh = harvest(&cfg).await.unwrap();
    assert!(refresh.complete, "{}", refresh.message);
    assert_eq!(query_i64(&db, "PRAGMA user_version"), 7);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert_eq!(last_run_changes(&db), (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reads_a_database_an_older_version_wrote_and_harvest_migrates_it() {
    let docs = synthetic(500, 47);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    assert!(harvest(&cfg).await.unwrap().complete);
    // Take the database back to schema version 2 (undoing 0007, 0006, 0005, 0004, then 0003).
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "{UNDO_7}
             DROP INDEX citations_create_date_time; CREATE INDEX citations_create_date_time ON citations (create_date_time);
             DROP INDEX cited_references_reference_key; ALTER TABLE cited_references DROP COLUMN reference_key;
             CREATE UNIQUE INDEX cited_references_key ON cited_references (
                 ifnull(reference_identifier, ''), ifnull(parsed_reference_identifier, ''));
             DELETE FROM schema_docs WHERE column_name IN ('id_key', 'reference_key');
             DROP VIEW oa_citations_dated; DROP VIEW office_action_dates; DROP VIEW citation_details;
             DROP VIEW application_citation_counts; DROP VIEW office_action_family;
             DROP VIEW oa_rejections; DROP VIEW oa_rejections_deleted; DROP VIEW enriched_citations;
             DROP VIEW enriched_citations_deleted; DROP TABLE rejections; DROP TABLE enriched_records;
             DROP TRIGGER office_actions_fill; DROP INDEX partitions_dataset;
             ALTER TABLE partitions DROP COLUMN dataset; ALTER TABLE runs DROP COLUMN dataset;
             DELETE FROM schema_docs WHERE object IN ('oa_citations_dated', 'office_action_dates',
                 'office_action_family', 'oa_rejections', 'oa_rejections_deleted', 'enriched_citations',
                 'enriched_citations_deleted', 'rejections', 'enriched_records')
                 OR column_name IN ('dataset', 'mail_date', 'document_code', 'first_mail_date', 'last_mail_date');
             DROP VIEW oa_citations_deleted; DROP INDEX citations_deleted;
             ALTER TABLE runs DROP COLUMN records_added; ALTER TABLE runs DROP COLUMN records_updated;
             ALTER TABLE runs DROP COLUMN records_deleted;
             DELETE FROM schema_docs WHERE object = 'oa_citations_deleted' OR column_name LIKE 'records_%ed' AND column_name <> 'records_rejected';
             PRAGMA user_version = 2;"
        ))
        .unwrap();
    let status = Store::open_read_only(&db).unwrap().status().unwrap();
    assert!(status.complete);
    assert_eq!(status.records, docs.len() as u64);
    assert_eq!(status.runs.len(), 1);
    let refresh = harvest(&cfg).await.unwrap();
    assert!(refresh.complete, "{}", refresh.message);
    assert_eq!(deleted_ids(&db), Vec::<String>::new());
    assert_eq!(last_run_changes(&db), (0, 0, 0));
}
