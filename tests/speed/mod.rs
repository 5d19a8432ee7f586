//! The write path of a bulk load, checked from the outside: pages committed in batches with
//! their checkpoints (never half a page, for a reader during the harvest or whenever the process
//! dies), a finished mirror whose foreign keys hold although the harvest does not enforce them,
//! the run's counts of what it added, updated and deleted, the query indexes a first harvest
//! leaves out until it is complete; and what a failed page, a batch that cannot be committed
//! and a page whose store fails behind a failed request do to the batch and the run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oac_mirror::config::RawConfig;
use oac_mirror::pack::{self, PackOptions};
use oac_mirror::replica::{Misbehaviour, Replica, Settings, synthetic};
use oac_mirror::store::indexes::QUERY_INDEXES;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};

use crate::support::*;

/// Small pages and a low cap: many pages, many leaves, many of them in one batch.
fn small_pages(c: &mut RawConfig) {
    c.rows = Some(50);
    c.paging_cap = Some(400);
    c.concurrency = Some(3);
}

/// `PRAGMA integrity_check`'s answer and every row of `PRAGMA foreign_key_check`.
fn soundness(conn: &Connection) -> (String, Vec<String>) {
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    let orphans: Vec<String> = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |r| {
            Ok(format!(
                "{} rowid {:?} -> {}",
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?
            ))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    (integrity, orphans)
}

/// The leaves whose stored records disagree with their checkpoint, as one consistent read:
/// a pending leaf's sweep must hold exactly `next_offset` records less its quarantined ones
/// (every page committed whole, with the offset it advanced to), a done leaf's exactly its
/// upstream count less them.
fn half_pages(conn: &Connection) -> Vec<String> {
    conn.prepare(
        "SELECT p.partition_id, p.state, p.next_offset, p.upstream_count,
                (SELECT count(*) FROM citations c WHERE c.sweep = p.sweep),
                (SELECT count(*) FROM rejected_records r WHERE r.partition_id = p.partition_id AND r.sweep = p.sweep)
         FROM partitions p WHERE p.state IN ('pending', 'done')",
    )
    .unwrap()
    .query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .filter(|(_, state, next, count, stored, rejected)| {
        let expected = if state == "done" { count } else { next };
        stored + rejected != *expected
    })
    .map(|(id, state, next, count, stored, rejected)| {
        format!(
            "partition {id} ({state}): next_offset {next}, count {count}, {stored} stored, {rejected} quarantined"
        )
    })
    .collect()
}

fn read_only(db: &Path) -> Connection {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

/// The query indexes `db` has.
fn query_indexes(db: &Path) -> Vec<String> {
    let conn = read_only(db);
    QUERY_INDEXES
        .iter()
        .map(|(name, _)| name.to_string())
        .filter(|name| {
            conn.query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'index' AND name = ?1",
                [name],
                |r| r.get::<_, bool>(0),
            )
            .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_harvest_keeps_its_foreign_keys_and_is_sound() {
    let docs = synthetic(4_000, 41);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", small_pages);
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&docs));
    let conn = read_only(&db);
    assert_eq!(soundness(&conn), ("ok".to_owned(), vec![]));
    assert_eq!(half_pages(&conn), Vec::<String>::new());
    // Every dimension row is used: nothing of a rolled-back page or a stale cache is left.
    for (table, column) in [
        ("office_actions", "office_action_id"),
        ("cited_references", "reference_id"),
    ] {
        let unused: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM citations c WHERE c.{column} = t.{column})"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unused, 0, "{table} rows no citation uses");
    }
    let wal = std::fs::metadata(db.with_extension("db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the run ends with the WAL checkpointed and emptied");
}

/// `oac-mirror harvest` of `replica` into `db` at `rate` requests a second, in small pages.
fn paged_harvest(replica: &Replica, db: &Path, rate: &str) -> Command {
    let mut c = bin_against(replica, db, "harvest");
    c.args(["--rows", "50", "--paging-cap", "1000", "--concurrency", "2"])
        .args(["--rate", rate]);
    c
}

/// Leaves paged part of the way: where a half-committed page would show.
fn partly_paged(conn: &Connection) -> i64 {
    conn.query_row(
        "SELECT count(*) FROM partitions WHERE state = 'pending' AND next_offset > 0",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Records committed to `db` so far (0 before it has its schema).
fn committed(db: &Path) -> i64 {
    Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM citations", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Watches `child`'s database from another connection, checking every committed state it
/// sees for half-written pages, until `done` says so or `child` exits. Returns how many of
/// those states had a leaf paged part of the way.
async fn watch(db: &Path, child: &mut Child, mut done: impl FnMut() -> bool) -> i64 {
    let mut partly = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() && child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the harvest made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok(conn) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
            continue;
        };
        let has_schema = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'partitions'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .is_ok_and(|n| n == 1);
        if !has_schema {
            continue;
        }
        assert_eq!(
            half_pages(&conn),
            Vec::<String>::new(),
            "a reader during the harvest"
        );
        partly += partly_paged(&conn).min(1);
    }
    partly
}

#[tokio::test(flavor = "multi_thread")]
async fn a_harvest_killed_at_random_instants_never_leaves_half_a_page() {
    let docs = synthetic(12_000, 42);
    let replica = replica(docs.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills = 0;
    let mut partly = 0;
    for _ in 0..4 {
        let mut child = paged_harvest(&replica, &db, "40")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Once this run has committed a batch, anywhere in the next one or two: mid-page,
        // mid-batch, or right after a commit.
        let before = committed(&db);
        partly += watch(&db, &mut child, || committed(&db) > before).await;
        let at = Duration::from_millis(rng.u64(0..1_000));
        let until = Instant::now() + at;
        partly += watch(&db, &mut child, || Instant::now() >= until).await;
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        assert!(child.wait().unwrap().code().is_none(), "killed by SIGKILL");
        kills += 1;
        let conn = read_only(&db);
        assert_eq!(
            half_pages(&conn),
            Vec::<String>::new(),
            "after a SIGKILL {at:?} after a commit (seed {seed})"
        );
        assert_eq!(
            soundness(&conn),
            ("ok".to_owned(), vec![]),
            "after a SIGKILL {at:?} after a commit (seed {seed})"
        );
        partly += partly_paged(&conn).min(1);
    }
    eprintln!("{kills} kills, {partly} states with a leaf paged part of the way (seed {seed})");
    assert!(kills >= 2, "killed only {kills} times (seed {seed})");
    assert!(
        partly > 0,
        "no state checked had a leaf paged part of the way (seed {seed})"
    );
    let out = paged_harvest(&replica, &db, "2000").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(view_rows(&db), expected_rows(&docs));
    let conn = read_only(&db);
    assert_eq!(half_pages(&conn), Vec::<String>::new());
    assert_eq!(soundness(&conn), ("ok".to_owned(), vec![]));
    let added: i64 = conn
        .query_row("SELECT sum(records_added) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        added,
        docs.len() as i64,
        "the runs together added each record once: a killed batch's count went with it"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_count_exactly_what_they_added_updated_and_deleted() {
    let v1 = synthetic(3_000, 43);
    let replica = replica(v1.clone(), Settings::default()).await;
    let (_dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.concurrency = Some(1);
    });
    assert!(harvest(&cfg).await.unwrap().complete);
    assert_eq!(last_run_changes(&db), (v1.len() as i64, 0, 0));

    // Four records edited in place, three moved to another office action (a new dimension
    // row), one moved to the latest second (a leaf fetched later: its old leaf marks it
    // deleted, the new one revives it, and it counts once, as updated), five removed, two new
    // ones. A full refresh sends every stored record down the conflict path of the insert.
    let mut v2 = v1.clone();
    for d in &mut v2[100..104] {
        d["createUserIdentifier"] = json!("EDITED");
    }
    for d in &mut v2[200..203] {
        d["groupArtUnitNumber"] = json!("9999");
    }
    let latest = v1
        .iter()
        .map(|d| d["createDateTime"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    v2[300]["createDateTime"] = json!(latest);
    let removed: Vec<Value> = v2.drain(400..405).collect();
    for (i, d) in v1[500..502].iter().enumerate() {
        let mut new = d.clone();
        new["id"] = json!(format!("{:032x}", 0xfeed_0000_u128 + i as u128));
        v2.push(new);
    }
    replica.replace_data(v2.clone());
    let refresh = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        small_pages(c);
        c.concurrency = Some(1);
        c.full_refresh = Some(true);
    });
    let outcome = harvest(&refresh).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&v2));
    assert_eq!(last_run_changes(&db), (2, 4 + 3 + 1, 5));
    let deleted = query_i64(
        &db,
        "SELECT count(*) FROM citations WHERE deleted_at IS NOT NULL",
    );
    assert_eq!(deleted, removed.len() as i64);

    // Nothing changed: a full refresh touches every record and counts none of them.
    let outcome = harvest(&refresh).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(last_run_changes(&db), (0, 0, 0));

    // The removed records come back: stored already, they are updated (revived), not added.
    let mut v3 = v2.clone();
    v3.extend(removed);
    replica.replace_data(v3.clone());
    let outcome = harvest(&refresh).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(view_rows(&db), expected_rows(&v3));
    assert_eq!(last_run_changes(&db), (0, 5, 0));
    let conn = read_only(&db);
    assert_eq!(soundness(&conn), ("ok".to_owned(), vec![]));
}

#[tokio::test(flavor = "multi_thread")]
async fn query_indexes_wait_for_the_run_that_proves_the_mirror_complete() {
    let docs = synthetic(1_500, 44);
    let hot = docs
        .iter()
        .map(|d| d["createDateTime"].as_str().unwrap().to_owned())
        .max_by_key(|s| {
            docs.iter()
                .filter(|d| d["createDateTime"] == s.as_str())
                .count()
        });
    let replica = replica(
        docs.clone(),
        Settings {
            misbehaviour: Misbehaviour {
                broken_stamp: hot.clone(),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let (dir, db) = temp_db();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        c.retry_wait = Some(0.01);
        c.max_retries = Some(2);
        c.rows = Some(50);
        c.paging_cap = Some(300);
    });
    let all: Vec<String> = QUERY_INDEXES.iter().map(|(n, _)| n.to_string()).collect();

    let outcome = harvest(&cfg).await.unwrap();
    assert!(!outcome.complete, "{}", outcome.message);
    assert_eq!(query_indexes(&db), Vec::<String>::new(), "incomplete");
    assert!(query_i64(&db, "SELECT count(*) FROM citations") > 500);

    let packed = dir.path().join("handoff.db");
    let report = pack::pack(&db, &packed, &PackOptions::default()).unwrap();
    assert!(!report.complete);
    assert_eq!(query_indexes(&packed), all, "the packed copy has them");
    assert_eq!(
        query_indexes(&db),
        Vec::<String>::new(),
        "packing leaves the mirror as it was"
    );
    assert_eq!(
        soundness(&read_only(&packed)),
        ("ok".to_owned(), vec![]),
        "the packed copy is sound"
    );

    // Still incomplete: the indexes stay away.
    let outcome = harvest(&cfg).await.unwrap();
    assert!(!outcome.complete, "{}", outcome.message);
    assert_eq!(query_indexes(&db), Vec::<String>::new());

    replica.update_settings(|s| s.misbehaviour.broken_stamp = None);
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(
        query_indexes(&db),
        all,
        "built by the run that completes it"
    );
    assert_eq!(view_rows(&db), expected_rows(&docs));
    assert_eq!(soundness(&read_only(&db)), ("ok".to_owned(), vec![]));
    // An analyst's look-up of one record by its id goes through an index, not a scan.
    let plan: String = read_only(&db)
        .query_row(
            "EXPLAIN QUERY PLAN SELECT * FROM citations WHERE id = 'x'",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("USING INDEX citations_id"), "{plan}");

    // A complete mirror keeps them through a refresh.
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(query_indexes(&db), all);

    // A complete mirror without one (a run killed after proving it complete, before building
    // them) gets it back from the next run, even one that ends incomplete.
    Connection::open(&db)
        .unwrap()
        .execute_batch("DROP INDEX citations_reference")
        .unwrap();
    replica.update_settings(|s| s.misbehaviour.broken_stamp = hot.clone());
    let refresh = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        c.retry_wait = Some(0.01);
        c.max_retries = Some(2);
        c.rows = Some(50);
        c.paging_cap = Some(300);
        c.full_refresh = Some(true);
    });
    let outcome = harvest(&refresh).await.unwrap();
    assert!(!outcome.complete, "{}", outcome.message);
    assert_eq!(query_indexes(&db), all);
}

mod writes;
