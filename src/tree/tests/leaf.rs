//! A leaf's steps: pages, refusals, recounts, the end of a sweep and a comparison.

use super::{LIMITS, day, fails_with, leaf, page};
use crate::tree::*;

#[test]
fn a_leaf_asks_for_the_rest_up_to_the_cap_and_stops_at_the_count() {
    let l = leaf(9_500, 9_000);
    assert_eq!(
        next(&l, 2_000, &LIMITS),
        Next::Page {
            start: 9_000,
            ask: 1_000
        }
    );
    assert_eq!(
        next(&leaf(500, 0), 2_000, &LIMITS),
        Next::Page {
            start: 0,
            ask: 2_000
        }
    );
    assert_eq!(next(&leaf(500, 500), 2_000, &LIMITS), Next::Swept);
    let lowered = Limits { cap: 400, ..LIMITS };
    assert!(
        matches!(next(&leaf(500, 0), 100, &lowered), Next::Recount { reason } if reason.contains("(400)"))
    );
}

#[test]
fn the_first_request_is_a_full_page_only_when_the_hint_fits() {
    assert_eq!(first_rows(Some(9_000), 2_000, &LIMITS), 2_000);
    assert_eq!(first_rows(Some(9_000), 20_000, &LIMITS), 10_000);
    assert_eq!(first_rows(Some(10_001), 2_000, &LIMITS), 1);
    assert_eq!(first_rows(None, 2_000, &LIMITS), 1);
}

#[test]
fn a_page_that_does_not_fit_the_count_has_the_leaf_counted_again_once() {
    let l = Node::Leaf(leaf(400, 200));
    let empty = step(&l, &day(), &page(200, 200, 0, 400), &LIMITS);
    assert!(
        matches!(&empty, Transition::CountAgain { problem } if problem.contains("empty page at offset 200"))
    );
    let repeated = Observation::Page {
        start: 200,
        ask: 200,
        served: 200,
        num_found: 400,
        repeated: true,
    };
    assert!(matches!(
        step(&l, &day(), &repeated, &LIMITS),
        Transition::CountAgain { problem } if problem.contains("the same 200 again")
    ));
    let short = step(&l, &day(), &page(200, 200, 50, 400), &LIMITS);
    assert!(
        matches!(&short, Transition::CountAgain { problem } if problem.contains("fewer than 100"))
    );
    let twice = Node::Leaf(Leaf {
        recounted: true,
        ..leaf(400, 200)
    });
    let t = step(&twice, &day(), &page(200, 200, 0, 400), &LIMITS);
    assert!(fails_with(&t, "again after counting once more"), "{t:?}");
}

#[test]
fn a_recount_that_did_not_move_fails_the_leaf() {
    let l = Node::Leaf(leaf(400, 200));
    let same = Observation::Recounted {
        count: 400,
        problem: "p".into(),
    };
    assert!(fails_with(
        &step(&l, &day(), &same, &LIMITS),
        "still claims 400"
    ));
    let over = Observation::Recounted {
        count: 10_001,
        problem: "p".into(),
    };
    assert!(matches!(
        step(&l, &day(), &over, &LIMITS),
        Transition::Recount { .. }
    ));
}

#[test]
fn a_consistent_short_page_lowers_the_page_size() {
    let l = Node::Leaf(leaf(5_000, 0));
    assert_eq!(
        step(&l, &day(), &page(0, 2_000, 1_000, 5_000), &LIMITS),
        Transition::Store {
            next_offset: 1_000,
            rows: Some(1_000)
        }
    );
    // The last page is short by nature.
    assert_eq!(
        step(&l, &day(), &page(4_500, 2_000, 500, 5_000), &LIMITS),
        Transition::Store {
            next_offset: 5_000,
            rows: None
        }
    );
}

#[test]
fn a_count_that_moves_while_paging_restarts_the_leaf_or_splits_it() {
    let l = Node::Leaf(leaf(5_000, 1_000));
    assert!(matches!(
        step(&l, &day(), &page(1_000, 1_000, 1_000, 5_001), &LIMITS),
        Transition::Page { count: 5_001, reason: Some(r) } if r.contains("while paging")
    ));
    assert!(matches!(
        step(&l, &day(), &page(1_000, 1_000, 1_000, 10_001), &LIMITS),
        Transition::Recount { .. }
    ));
    let spent = Node::Leaf(Leaf {
        attempts: 2,
        ..leaf(5_000, 1_000)
    });
    assert!(fails_with(
        &step(&spent, &day(), &page(1_000, 1_000, 1_000, 5_001), &LIMITS),
        "after 3 fetches"
    ));
}

#[test]
fn refused_pages_halve_lower_the_run_or_lower_the_cap() {
    let l = Node::Leaf(leaf(9_000, 0));
    let refused = |start, ask, refusal| Observation::Refused {
        start,
        ask,
        refusal,
    };
    assert_eq!(
        step(&l, &day(), &refused(3_000, 1, Refusal::TooLarge), &LIMITS),
        Transition::Refuse
    );
    // A 400 for a page larger than ever served: the page size.
    assert_eq!(
        step(
            &l,
            &day(),
            &refused(3_000, 2_000, Refusal::BadRequest),
            &LIMITS
        ),
        Transition::Retry {
            rows: 1_000,
            run_rows: Some(1_000)
        }
    );
    assert_eq!(
        step(&l, &day(), &refused(0, 150, Refusal::BadRequest), &LIMITS),
        Transition::Retry {
            rows: 100,
            run_rows: Some(100)
        }
    );
    // A 400 for a page size served before, further in: the offset.
    assert_eq!(
        step(
            &l,
            &day(),
            &refused(3_000, 1_000, Refusal::BadRequest),
            &LIMITS
        ),
        Transition::LowerCap { cap: 3_000 }
    );
    // A 400 near the start at the smallest page proves nothing: the error stands.
    assert_eq!(
        step(&l, &day(), &refused(50, 100, Refusal::BadRequest), &LIMITS),
        Transition::Refuse
    );
    // The first request of a new node falls back to the count alone.
    let new = Node::New { hint: Some(9_000) };
    assert_eq!(
        step(
            &new,
            &day(),
            &refused(0, 2_000, Refusal::BadRequest),
            &LIMITS
        ),
        Transition::Retry {
            rows: 1,
            run_rows: Some(1_000)
        }
    );
    assert_eq!(
        step(&new, &day(), &refused(0, 1, Refusal::TooLarge), &LIMITS),
        Transition::Refuse
    );
}

#[test]
fn a_sweep_is_checked_unless_records_came_from_outside_the_window() {
    let l = Node::Leaf(leaf(500, 500));
    assert_eq!(
        step(&l, &day(), &Observation::Swept { outside: 0 }, &LIMITS),
        Transition::Check
    );
    assert!(matches!(
        step(&l, &day(), &Observation::Swept { outside: 3 }, &LIMITS),
        Transition::Page { count: 500, reason: Some(r) } if r.contains("3 record(s) outside")
    ));
}

#[test]
fn a_mismatch_fetches_again_against_the_same_count_until_attempts_run_out() {
    let l = Node::Leaf(leaf(500, 500));
    assert!(matches!(
        step(&l, &day(), &Observation::Stored { local: 499 }, &LIMITS),
        Transition::Page { count: 500, reason: Some(r) } if r.contains("499 distinct")
    ));
    // Even when the cap was lowered meanwhile: counted again then, not a panic.
    let lowered = Limits { cap: 400, ..LIMITS };
    assert!(matches!(
        step(&l, &day(), &Observation::Stored { local: 499 }, &lowered),
        Transition::Recount { .. }
    ));
    let spent = Node::Leaf(Leaf {
        attempts: 2,
        ..leaf(500, 500)
    });
    assert!(fails_with(
        &step(&spent, &day(), &Observation::Stored { local: 499 }, &LIMITS),
        "after 3 fetches"
    ));
}

#[test]
fn a_moved_node_is_fetched_again_or_counted_again_and_a_split_is_walked_into() {
    let moved = |local, upstream| Observation::Compared { local, upstream };
    for node in [
        Node::Done { count: 500 },
        Node::Leaf(leaf(500, 500)),
        Node::New { hint: None },
        Node::Failed,
    ] {
        assert_eq!(
            step(&node, &day(), &moved(500, 600), &LIMITS),
            Transition::Page {
                count: 600,
                reason: None
            }
        );
        assert!(matches!(
            step(&node, &day(), &moved(500, 10_001), &LIMITS),
            Transition::Recount { reason } if reason.contains("from 500 to 10001")
        ));
        assert_eq!(
            step(&node, &day(), &moved(500, 500), &LIMITS),
            Transition::Stay
        );
    }
    for node in [Node::Split { count: 20_000 }, Node::Join] {
        assert_eq!(
            step(&node, &day(), &moved(500, 600), &LIMITS),
            Transition::Stay
        );
    }
}
