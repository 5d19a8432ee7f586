use chrono::NaiveDate;

use super::*;

#[test]
fn each_state_has_one_stored_text_and_back() {
    for state in PartitionState::ALL {
        assert_eq!(PartitionState::parse(state.as_str()), Some(state));
    }
    for text in ["", "New", "bogus", "done "] {
        assert_eq!(PartitionState::parse(text), None, "{text:?}");
    }
    assert!(!PartitionState::NOT_DONE.contains(&PartitionState::Split));
    assert!(!PartitionState::NOT_DONE.contains(&PartitionState::Done));
    assert_eq!(
        state_in(&PartitionState::NOT_DONE),
        "state IN ('new', 'pending', 'failed')"
    );
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 7, d).unwrap()
}

/// A new mirror of 2025-07-01..=02 with its root split in two leaves.
fn two_leaves() -> (tempfile::TempDir, Store, Partition, Partition) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("p.db")).unwrap();
    let window = Window::days(day(1), day(2));
    store.begin_run("src", &window, &|_| "q".into()).unwrap();
    let root = store.root().unwrap().unwrap();
    assert_eq!(root.state, PartitionState::New);
    let parts = vec![
        (Window::days(day(1), day(1)), "a".to_owned()),
        (Window::days(day(2), day(2)), "b".to_owned()),
    ];
    let children = store.split(root.id, 20, &parts).unwrap();
    assert_eq!(
        store.partition(root.id).unwrap().state,
        PartitionState::Split
    );
    let [a, b] = <[Partition; 2]>::try_from(children).unwrap();
    assert_eq!(
        (a.state, b.state),
        (PartitionState::New, PartitionState::New)
    );
    (dir, store, a, b)
}

fn states(store: &Store, ids: &[i64]) -> Vec<PartitionState> {
    ids.iter()
        .map(|&id| store.partition(id).unwrap().state)
        .collect()
}

#[test]
fn a_leaf_goes_from_new_through_pending_to_done_or_failed() {
    let (_dir, mut store, a, b) = two_leaves();
    assert_eq!(store.unfinished().unwrap().len(), 2);
    // An empty leaf agrees with a count of 0 at once.
    let a = store.start_leaf(a.id, 0, None).unwrap();
    assert_eq!(a.state, PartitionState::Pending);
    assert_eq!(store.swept(&a).unwrap(), 0);
    store.finish_leaf(&a).unwrap();
    // A quarantined record of the leaf's sweep counts; one of an older sweep does not.
    let b = store.start_leaf(b.id, 2, None).unwrap();
    for sweep in [b.sweep.unwrap(), b.sweep.unwrap() - 100] {
        store
            .conn
            .execute(
                "INSERT INTO rejected_records (partition_id, sweep, reason, raw_json, seen_at)
                 VALUES (?1, ?2, 'bad', '{}', '')",
                params![b.id, sweep],
            )
            .unwrap();
    }
    assert_eq!(store.swept(&b).unwrap(), 1);
    assert_eq!(store.local_count(&b.window).unwrap(), 1);
    store.fail(b.id, "gave up").unwrap();
    assert_eq!(
        states(&store, &[a.id, b.id]),
        [PartitionState::Done, PartitionState::Failed]
    );
    assert!(store.unfinished().unwrap().is_empty());
    assert_eq!(store.unfinished_or_failed().unwrap().len(), 1);
    let root = store.root().unwrap().unwrap();
    assert_eq!(store.leaf_totals(root.id).unwrap(), (0, 1));

    // The next run sends the failed leaf (it has a sweep) back to paging.
    store
        .begin_run("src", &root.window, &|_| "q".into())
        .unwrap();
    assert_eq!(states(&store, &[b.id]), [PartitionState::Pending]);
    // A count that moved sends a leaf back to counting.
    store.recount(b.id, "moved").unwrap();
    assert_eq!(states(&store, &[b.id]), [PartitionState::New]);
}

#[test]
fn done_leaves_can_be_sent_back_to_be_fetched_again() {
    let (_dir, mut store, a, b) = two_leaves();
    for leaf in [a, b] {
        let leaf = store.start_leaf(leaf.id, 0, None).unwrap();
        store.finish_leaf(&leaf).unwrap();
    }
    let root = store.root().unwrap().unwrap();
    assert_eq!(store.leaf_totals(root.id).unwrap(), (0, 0));
    let since = Some(Stamp::start_of(day(2)));
    let recent = store.done_since(since).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(store.refetch_done(since).unwrap(), 1);
    assert_eq!(states(&store, &[recent[0].id]), [PartitionState::New]);
    assert_eq!(store.done_since(None).unwrap().len(), 1);
}

#[test]
fn an_unknown_stored_state_is_an_error() {
    let (_dir, store, a, _) = two_leaves();
    store
        .conn
        .execute_batch("PRAGMA ignore_check_constraints = ON")
        .unwrap();
    store
        .conn
        .execute(
            "UPDATE partitions SET state = 'bogus' WHERE partition_id = ?1",
            [a.id],
        )
        .unwrap();
    let e = store.partition(a.id).unwrap_err();
    let text = crate::error::report(&e);
    assert!(text.contains("unknown state \"bogus\""), "{text}");
    let e = store.status().unwrap_err();
    assert!(
        matches!(&e, Error::UnknownState { partition, .. } if *partition == a.id),
        "{e}"
    );
}
