//! The write path driven directly, without a harvest: pages of two leaves in one batch, what a
//! failed page or commit does to the batch, and how a first harvest finds the records it stored.

use std::time::Duration;

use oac_mirror::Error;
use oac_mirror::api::record::Citation;
use oac_mirror::plan::{Stamp, Window};
use oac_mirror::replica::{Misbehaviour, Settings, synthetic};
use oac_mirror::store::writer::Writer;
use oac_mirror::store::{Partition, Store};
use serde_json::json;

use super::*;

/// A store with a run over one day split in two halves, each started as a leaf of 4 records.
fn two_leaves(db: &Path) -> (Store, Partition, Partition) {
    two_leaves_of(Store::open(db).unwrap())
}

/// [`two_leaves`] in `store`.
fn two_leaves_of(mut store: Store) -> (Store, Partition, Partition) {
    let day = Window {
        lo: Stamp::parse("2025-07-01T00:00:00").unwrap(),
        hi: Stamp::parse("2025-07-01T23:59:59").unwrap(),
        id_prefix: String::new(),
    };
    store
        .begin_run("http://127.0.0.1:1/ds", &day, &|_| String::new())
        .unwrap();
    let root = store.root().unwrap().unwrap();
    let halves: Vec<(Window, String)> = day
        .split()
        .unwrap()
        .into_iter()
        .map(|w| (w, String::new()))
        .collect();
    let children = store.split(root.id, 8, &halves).unwrap();
    let a = store.start_leaf(children[0].id, 4, None).unwrap();
    let b = store.start_leaf(children[1].id, 4, None).unwrap();
    (store, a, b)
}

/// A record of `leaf` cited by the office action of application `application`.
fn record(leaf: &Partition, id: &str, application: &str) -> Citation {
    Citation {
        id: id.into(),
        patent_application_number: Some(application.into()),
        group_art_unit_number: Some(format!("art unit of {application}")),
        reference_identifier: Some(format!("reference of {id}")),
        create_date_time: Some(leaf.window.lo.to_string()),
        ..Default::default()
    }
}

/// A page that fails half-written loses its whole batch, and nothing more is written: the
/// pages stored before it in the batch were answered as stored and their leaves went on from
/// there, so keeping any later write would put a checkpoint past records that are not there.
/// Both leaves are back at their last committed offsets, as after a kill, and the dimension
/// ids cached meanwhile are forgotten (a new store is needed to go on).
#[test]
fn a_page_that_fails_loses_its_batch_and_stops_the_writes() {
    let (_dir, db) = temp_db();
    let (mut store, a, b) = two_leaves(&db);
    store.tune_for_harvest(8).unwrap();
    store
        .conn()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON citation_records WHEN NEW.id = 'bad'
             BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .unwrap();
    let (sa, sb) = (a.sweep.unwrap(), b.sweep.unwrap());
    store
        .put_page(
            a.id,
            sa,
            2,
            &[record(&a, "a1", "1"), record(&a, "a2", "1")],
            &[],
        )
        .unwrap();
    let err = store
        .put_page(
            b.id,
            sb,
            2,
            &[record(&b, "b1", "2"), record(&b, "bad", "1")],
            &[],
        )
        .unwrap_err();
    assert!(err.report().contains("boom"), "{}", err.report());
    assert!(store.batch_lost(), "the batch is gone");
    let refused = store
        .put_page(b.id, sb, 2, &[record(&b, "b3", "3")], &[])
        .unwrap_err();
    assert!(matches!(refused, Error::WriterStopped), "{refused:?}");
    drop(store);
    let conn = read_only(&db);
    assert_eq!(half_pages(&conn), Vec::<String>::new());
    assert_eq!(soundness(&conn), ("ok".to_owned(), vec![]));
    let stored: i64 = conn
        .query_row("SELECT count(*) FROM citations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 0, "a1 and a2 were in the lost batch");
    let offsets: Vec<i64> = conn
        .prepare("SELECT next_offset FROM partitions WHERE partition_id IN (?1, ?2) ORDER BY partition_id")
        .unwrap()
        .query_map([a.id, b.id], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(offsets, [0, 0]);
    // A new store goes on from there, and the page stores cleanly.
    let mut store = Store::open(&db).unwrap();
    store.tune_for_harvest(8).unwrap();
    let a = store.partition(a.id).unwrap();
    store
        .put_page(
            a.id,
            sa,
            2,
            &[record(&a, "a1", "1"), record(&a, "a2", "1")],
            &[],
        )
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let conn = read_only(&db);
    assert_eq!(soundness(&conn), ("ok".to_owned(), vec![]));
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM oa_citations ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ids, ["a1", "a2"]);
}

/// A batch that cannot be committed stops the writer: the next page of a leaf whose last
/// page was in it must not commit a checkpoint past records that are not there.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_that_fails_to_commit_stops_the_writer() {
    let (_dir, db) = temp_db();
    let (store, a, _) = two_leaves(&db);
    // A deferred foreign key broken by one record: the statement passes, the COMMIT fails.
    store
        .conn()
        .execute_batch(
            "CREATE TABLE guard (key TEXT REFERENCES meta (key) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER poison AFTER INSERT ON citation_records WHEN NEW.id = 'poison'
             BEGIN INSERT INTO guard VALUES ('no such key'); END",
        )
        .unwrap();
    let writer = Writer::spawn(store, 1);
    let (id, sweep) = (a.id, a.sweep.unwrap());
    let page = |ids: [&str; 2]| -> Vec<Citation> { ids.map(|i| record(&a, i, "1")).to_vec() };
    let first = page(["poison", "a1"]);
    writer
        .call(move |s| s.put_page(id, sweep, 2, &first, &[]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let second = page(["a2", "a3"]);
    let after = writer
        .call(move |s| s.put_page(id, sweep, 4, &second, &[]))
        .await;
    assert!(
        matches!(after, Err(Error::WriterStopped)),
        "a page after a lost batch: {after:?}"
    );
    drop(writer.close());
    let conn = read_only(&db);
    assert_eq!(half_pages(&conn), Vec::<String>::new());
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM citations"),
        0,
        "nothing of the lost batch, nothing after it"
    );
}

/// A page whose store fails while the leaf's next request fails too: the store's error stops
/// the harvest; it is not lost behind the failed request (which only fails the leaf, and the
/// run would go on).
#[tokio::test(flavor = "multi_thread")]
async fn a_queued_page_that_fails_to_store_stops_the_harvest() {
    let hot = "2024-02-29T12:00:00";
    let mut docs = synthetic(600, 46);
    let mut crowd = synthetic(250, 47);
    for d in &mut crowd {
        d["createDateTime"] = json!(hot);
    }
    docs.extend(crowd);
    let replica = replica(
        docs,
        Settings {
            misbehaviour: Misbehaviour {
                broken_stamp: Some(hot.into()),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let (_dir, db) = temp_db();
    drop(Store::open(&db).unwrap());
    Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER boom BEFORE INSERT ON citation_records WHEN NEW.create_date_time = '{hot}'
             BEGIN SELECT RAISE(ABORT, 'boom'); END"
        ))
        .unwrap();
    let cfg = config(&replica, &db, "2017-10-01", "2025-12-31", |c| {
        c.retry_wait = Some(0.01);
        c.max_retries = Some(0);
        c.rows = Some(50);
        c.paging_cap = Some(300);
        c.concurrency = Some(1);
    });
    match harvest(&cfg).await {
        Err(e) => assert!(e.report().contains("boom"), "{}", e.report()),
        Ok(outcome) => panic!("the store's error was lost: {}", outcome.message),
    }
}

/// In a first harvest a record is found in its leaf's window, whatever its second: one whose
/// `createDateTime` upstream moved within the window is updated in place, not stored twice, and
/// one whose kind (action type, legal section) changed is updated to the new kind's row.
#[test]
fn a_record_that_moved_within_its_window_is_updated_not_copied() {
    let (_dir, db) = temp_db();
    let mut store = Store::open(&db).unwrap();
    assert!(store.defer_query_indexes().unwrap(), "a first harvest");
    let (mut store, a, _) = two_leaves_of(store);
    let sweep = a.sweep.unwrap();
    store
        .put_page(a.id, sweep, 1, &[record(&a, "first", "1")], &[])
        .unwrap();
    let mut moved = record(&a, "first", "1");
    moved.create_date_time = Some(a.window.hi.to_string());
    moved.legal_section_code = Some("103".into());
    store.put_page(a.id, sweep, 2, &[moved], &[]).unwrap();
    assert_eq!(rows_of(&store, "first"), 1);
    let row: (String, Option<String>) = store
        .conn()
        .query_row(
            "SELECT create_date_time, legal_section_code FROM citations WHERE id = 'first'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(row, (a.window.hi.to_string(), Some("103".to_owned())));
    let kinds: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM citation_kinds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kinds, 2, "the first kind and the new one");
    assert_eq!(run_changes(store.conn()), (1, 1, 0));
}

/// How many rows hold `id`, as `store` sees them.
fn rows_of(store: &Store, id: &str) -> i64 {
    store
        .conn()
        .query_row("SELECT count(*) FROM citations WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
}

/// In a first harvest (no `citations_id` yet) a record is found in its leaf's window: one
/// whose `createDateTime` moved between the fetches of its two windows is stored in both.
/// Building `citations_id` merges them into the copy the later sweep stored, and the run counts
/// an update, not an addition; a record stored again in its own window is found, not copied.
#[test]
fn a_record_that_moved_in_a_first_harvest_is_merged_when_the_id_index_is_built() {
    let (_dir, db) = temp_db();
    let (mut store, a, b) = two_leaves(&db);
    assert!(store.defer_query_indexes().unwrap(), "a first harvest");
    store
        .put_page(
            a.id,
            a.sweep.unwrap(),
            2,
            &[record(&a, "mover", "1"), record(&a, "stayer", "1")],
            &[],
        )
        .unwrap();
    // The same record again in its own second is found, not stored twice.
    let mut again = record(&a, "stayer", "1");
    again.legal_section_code = Some("102".into());
    store
        .put_page(a.id, a.sweep.unwrap(), 3, &[again], &[])
        .unwrap();
    // The mover, fetched again in b's window, where upstream now dates it.
    let mut moved = record(&b, "mover", "1");
    moved.legal_section_code = Some("103".into());
    store
        .put_page(b.id, b.sweep.unwrap(), 1, &[moved], &[])
        .unwrap();
    store.flush().unwrap();
    assert_eq!(
        (rows_of(&store, "mover"), rows_of(&store, "stayer")),
        (2, 1)
    );
    assert_eq!(run_changes(store.conn()), (3, 1, 0));

    assert!(store.build_query_indexes().unwrap() > 0);
    assert_eq!(
        (rows_of(&store, "mover"), rows_of(&store, "stayer")),
        (1, 1)
    );
    let kept: (String, Option<String>, i64) = store
        .conn()
        .query_row(
            "SELECT create_date_time, legal_section_code, sweep FROM citations WHERE id = 'mover'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        kept,
        (
            b.window.lo.to_string(),
            Some("103".to_owned()),
            b.sweep.unwrap()
        )
    );
    assert_eq!(run_changes(store.conn()), (2, 2, 0));
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM sqlite_schema WHERE name = 'citations_id'"
        ),
        1
    );
}

/// A first harvest's sweep reads its window once, at its first page, and then asks only that
/// map (and what it stored itself) whether a record is stored already: a record served twice
/// is stored once, and a row put in its window behind its back after that is not seen (the
/// database is not asked). A new sweep of a window that holds records finds them.
#[test]
fn a_first_sweep_reads_its_window_once() {
    let (_dir, db) = temp_db();
    let mut store = Store::open(&db).unwrap();
    assert!(store.defer_query_indexes().unwrap(), "a first harvest");
    let (mut store, a, b) = two_leaves_of(store);
    let (sa, sb) = (a.sweep.unwrap(), b.sweep.unwrap());
    store
        .put_page(
            a.id,
            sa,
            2,
            &[record(&a, "twice", "1"), record(&a, "once", "1")],
            &[],
        )
        .unwrap();
    let mut again = record(&a, "twice", "1");
    again.legal_section_code = Some("102".into());
    store.put_page(a.id, sa, 3, &[again], &[]).unwrap();
    assert_eq!((rows_of(&store, "twice"), rows_of(&store, "once")), (1, 1));
    assert_eq!(run_changes(store.conn()), (2, 1, 0));

    // b's first page reads its window; a row written there behind the store's back after
    // that is not seen.
    store
        .put_page(b.id, sb, 1, &[record(&b, "b1", "1")], &[])
        .unwrap();
    store
        .conn()
        .execute(
            "INSERT INTO citation_records (id, office_action_id, reference_id, kind_id, sweep, create_date_time)
             SELECT 'behind', office_action_id, reference_id, kind_id, ?1, ?2 FROM citation_records WHERE id = 'once'",
            rusqlite::params![sb, b.window.lo.to_string()],
        )
        .unwrap();
    store
        .put_page(b.id, sb, 2, &[record(&b, "behind", "1")], &[])
        .unwrap();
    assert_eq!(
        rows_of(&store, "behind"),
        2,
        "the sweep asked its map, not the database"
    );

    // a fetched again: its new sweep reads its window, and finds the records there.
    let a2 = store.start_leaf(a.id, 2, Some("again")).unwrap();
    store
        .put_page(a.id, a2.sweep.unwrap(), 1, &[record(&a, "once", "1")], &[])
        .unwrap();
    assert_eq!(rows_of(&store, "once"), 1, "found in the window");
}

/// Of two rows of one id in a window (a mirror upgraded in the middle of a first harvest may
/// hold them), a new sweep finds the live one of the latest sweep, the one the build of
/// `citations_id` keeps: it does not revive the deleted copy beside it.
#[test]
fn a_window_with_two_rows_of_an_id_finds_the_live_one() {
    let (_dir, db) = temp_db();
    let mut store = Store::open(&db).unwrap();
    assert!(store.defer_query_indexes().unwrap(), "a first harvest");
    let (mut store, a, _) = two_leaves_of(store);
    let sa = a.sweep.unwrap();
    store
        .put_page(a.id, sa, 1, &[record(&a, "x", "1")], &[])
        .unwrap();
    // A deleted copy later in the window, which the window's read meets last.
    store
        .conn()
        .execute(
            "INSERT INTO citation_records (id, office_action_id, reference_id, kind_id, sweep, create_date_time, deleted_at)
             SELECT id, office_action_id, reference_id, kind_id, sweep, ?1, '2026-01-01T00:00:00Z'
             FROM citation_records WHERE id = 'x'",
            [a.window.hi.to_string()],
        )
        .unwrap();
    let a2 = store.start_leaf(a.id, 1, Some("again")).unwrap();
    store
        .put_page(a.id, a2.sweep.unwrap(), 1, &[record(&a, "x", "1")], &[])
        .unwrap();
    let rows: Vec<(String, Option<String>, i64)> = store
        .conn()
        .prepare("SELECT create_date_time, deleted_at, sweep FROM citation_records WHERE id = 'x' ORDER BY rowid")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            (a.window.lo.to_string(), None, a2.sweep.unwrap()),
            (
                a.window.hi.to_string(),
                Some("2026-01-01T00:00:00Z".to_owned()),
                sa
            ),
        ]
    );
    assert_eq!(run_changes(store.conn()), (1, 0, 0), "no revival");
}
