//! Every observation on every node kind, without HTTP or SQLite.

use super::*;
use crate::plan::{ID_LEN, Stamp};

const LIMITS: Limits = Limits {
    cap: 10_000,
    min_rows: 100,
    served_max: 1_000,
    leaf_attempts: 3,
};

fn day() -> Window {
    Window {
        lo: Stamp(1_700_000_000),
        hi: Stamp(1_700_086_399),
        id_prefix: String::new(),
    }
}

/// A single second narrowed to one whole id: it cannot split.
fn one_id() -> Window {
    Window {
        lo: Stamp(1_700_000_000),
        hi: Stamp(1_700_000_000),
        id_prefix: "a".repeat(ID_LEN),
    }
}

fn leaf(count: u64, next_offset: u64) -> Leaf {
    Leaf {
        count,
        next_offset,
        attempts: 0,
        recounted: false,
    }
}

fn page(start: u64, ask: u64, served: u64, num_found: u64) -> Observation {
    Observation::Page {
        start,
        ask,
        served,
        num_found,
        repeated: false,
    }
}

fn fails_with(t: &Transition, text: &str) -> bool {
    matches!(t, Transition::Fail(Failure::Unverified(m)) if m.contains(text))
}

/// One of each node kind, and one of each observation.
fn kinds() -> Vec<Node> {
    vec![
        Node::New { hint: None },
        Node::Split { count: 20_000 },
        Node::Join,
        Node::Leaf(leaf(500, 0)),
        Node::Done { count: 500 },
        Node::Failed,
    ]
}

fn observations() -> Vec<Observation> {
    vec![
        Observation::Counted(500),
        Observation::Parts {
            count: 20_000,
            parts: vec![12_000, 8_000],
            earlier: None,
        },
        page(0, 1_000, 500, 500),
        Observation::Refused {
            start: 0,
            ask: 1_000,
            refusal: Refusal::TooLarge,
        },
        Observation::Recounted {
            count: 600,
            problem: "a short page".into(),
        },
        Observation::Swept { outside: 0 },
        Observation::Stored { local: 500 },
        Observation::Compared {
            local: 500,
            upstream: 500,
        },
    ]
}

/// What a transition is expected to be.
type Expect = fn(&Transition) -> bool;

#[test]
fn every_observation_on_every_node_kind_has_one_meaning() {
    use Transition as T;
    let expected: [[Expect; 8]; 6] = [
        // New: counted → paged; parts → children; refused first page → count alone.
        [
            |t| {
                *t == T::Page {
                    count: 500,
                    reason: None,
                }
            },
            |t| matches!(t, T::Children { count: 20_000, parts } if parts.len() == 2),
            |t| *t == T::Stay,
            |t| {
                *t == T::Retry {
                    rows: 1,
                    run_rows: None,
                }
            },
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
        ],
        // Split: only its parts' counts mean anything; a comparison walks into it.
        [
            |t| *t == T::Stay,
            |t| matches!(t, T::Children { count: 20_000, parts } if parts.len() == 2),
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
        ],
        // Join: nothing of its own.
        [|t| *t == T::Stay; 8],
        // Leaf of 500 at offset 0.
        [
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| {
                *t == T::Store {
                    next_offset: 500,
                    rows: None,
                }
            },
            |t| {
                *t == T::Retry {
                    rows: 500,
                    run_rows: None,
                }
            },
            |t| matches!(t, T::Page { count: 600, reason: Some(r) } if r.contains("counted again: 600")),
            |t| *t == T::Check,
            |t| *t == T::Done,
            |t| *t == T::Stay,
        ],
        // Done: only a comparison moves it.
        [
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
        ],
        // Failed: retried like a new node.
        [
            |t| {
                *t == T::Page {
                    count: 500,
                    reason: None,
                }
            },
            |t| matches!(t, T::Children { count: 20_000, parts } if parts.len() == 2),
            |t| *t == T::Stay,
            |t| {
                *t == T::Retry {
                    rows: 1,
                    run_rows: None,
                }
            },
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
            |t| *t == T::Stay,
        ],
    ];
    for (node, row) in kinds().iter().zip(expected) {
        for (obs, ok) in observations().iter().zip(row) {
            let t = step(node, &day(), obs, &LIMITS);
            assert!(ok(&t), "{node:?} after {obs:?} became {t:?}");
        }
    }
}

#[test]
fn a_count_over_the_cap_splits_unless_the_window_cannot() {
    let new = Node::New { hint: None };
    let over = Observation::Counted(10_001);
    assert_eq!(
        step(&new, &day(), &over, &LIMITS),
        Transition::Split {
            count: 10_001,
            parts: day().split().unwrap()
        }
    );
    assert_eq!(
        step(&new, &one_id(), &over, &LIMITS),
        Transition::Fail(Failure::CannotSplit {
            count: 10_001,
            cap: 10_000
        })
    );
    assert_eq!(
        step(&new, &one_id(), &Observation::Counted(10_000), &LIMITS),
        Transition::Page {
            count: 10_000,
            reason: None
        }
    );
}

#[test]
fn parts_that_do_not_add_up_are_counted_once_more_then_fail() {
    let split = Node::Split { count: 20_000 };
    let first = Observation::Parts {
        count: 20_000,
        parts: vec![12_000, 7_000],
        earlier: None,
    };
    assert!(matches!(
        step(&split, &day(), &first, &LIMITS),
        Transition::CountAgain { .. }
    ));
    let settled = Observation::Parts {
        count: 19_000,
        parts: vec![12_000, 7_000],
        earlier: Some(20_000),
    };
    assert_eq!(
        step(&split, &day(), &settled, &LIMITS),
        Transition::Children {
            count: 19_000,
            parts: day().split().unwrap()
        }
    );
    let still = Observation::Parts {
        count: 20_000,
        parts: vec![12_000, 7_000],
        earlier: Some(20_000),
    };
    let t = step(&split, &day(), &still, &LIMITS);
    assert!(fails_with(&t, "12000 + 7000"), "{t:?}");
    assert!(fails_with(&t, "do not add up"), "{t:?}");
}

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

#[test]
fn a_row_becomes_the_node_its_state_says_or_none_when_it_contradicts_it() {
    let row = |state, count, sweep| Partition {
        id: 1,
        parent: None,
        window: day(),
        count,
        next_offset: 7,
        state,
        sweep,
        attempts: 1,
    };
    assert_eq!(
        row(PartitionState::New, Some(5), None).node(),
        Some(Node::New { hint: Some(5) })
    );
    assert_eq!(
        row(PartitionState::Split, None, None).node(),
        Some(Node::Join)
    );
    assert_eq!(
        row(PartitionState::Split, Some(9), None).node(),
        Some(Node::Split { count: 9 })
    );
    assert_eq!(
        row(PartitionState::Pending, Some(9), Some(2)).node(),
        Some(Node::Leaf(Leaf {
            count: 9,
            next_offset: 7,
            attempts: 1,
            recounted: false
        }))
    );
    assert_eq!(row(PartitionState::Pending, None, Some(2)).node(), None);
    assert_eq!(row(PartitionState::Pending, Some(9), None).node(), None);
    assert_eq!(
        row(PartitionState::Done, Some(9), Some(2)).node(),
        Some(Node::Done { count: 9 })
    );
    assert_eq!(
        row(PartitionState::Failed, None, None).node(),
        Some(Node::Failed)
    );
}
