//! Every observation on every node kind, without HTTP or SQLite.

mod leaf;

use super::*;
use crate::plan::{ID_LEN, Stamp};

pub(super) const LIMITS: Limits = Limits {
    cap: 10_000,
    min_rows: 100,
    served_max: 1_000,
    leaf_attempts: 3,
};

pub(super) fn day() -> Window {
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

pub(super) fn leaf(count: u64, next_offset: u64) -> Leaf {
    Leaf {
        count,
        next_offset,
        attempts: 0,
        recounted: false,
    }
}

pub(super) fn page(start: u64, ask: u64, served: u64, num_found: u64) -> Observation {
    Observation::Page {
        start,
        ask,
        served,
        num_found,
        repeated: false,
    }
}

pub(super) fn fails_with(t: &Transition, text: &str) -> bool {
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

/// What each node kind (in the order of [`kinds`]) becomes after each observation (in the
/// order of [`observations`]).
fn expected() -> [[Expect; 8]; 6] {
    use Transition as T;
    let stay: Expect = |t| *t == T::Stay;
    let children: Expect =
        |t| matches!(t, T::Children { count: 20_000, parts } if parts.len() == 2);
    // New (and Failed, retried like it): counted → paged; parts → children; a refused first
    // page → the count alone.
    let new: [Expect; 8] = [
        |t| {
            matches!(
                t,
                T::Page {
                    count: 500,
                    reason: None
                }
            )
        },
        children,
        stay,
        |t| {
            matches!(
                t,
                T::Retry {
                    rows: 1,
                    run_rows: None
                }
            )
        },
        stay,
        stay,
        stay,
        stay,
    ];
    // Split: only its parts' counts mean anything; a comparison walks into it.
    let split = [stay, children, stay, stay, stay, stay, stay, stay];
    // A leaf of 500 at offset 0.
    let leaf: [Expect; 8] = [
        stay,
        stay,
        |t| {
            matches!(
                t,
                T::Store {
                    next_offset: 500,
                    rows: None
                }
            )
        },
        |t| {
            matches!(
                t,
                T::Retry {
                    rows: 500,
                    run_rows: None
                }
            )
        },
        |t| matches!(t, T::Page { count: 600, reason: Some(r) } if r.contains("counted again: 600")),
        |t| *t == T::Check,
        |t| *t == T::Done,
        stay,
    ];
    // Join: nothing of its own. Done: only a comparison moves it (see the moved nodes' test).
    [new, split, [stay; 8], leaf, [stay; 8], new]
}

#[test]
fn every_observation_on_every_node_kind_has_one_meaning() {
    for (node, row) in kinds().iter().zip(expected()) {
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

#[test]
fn the_last_part_is_inferred_only_when_it_must_split_again() {
    // 25,000 in the split, 3,000 in the first half: the second holds 22,000, over the cap.
    assert_eq!(inferred_last(25_000, &[3_000], &LIMITS), Some(22_000));
    // A second half that may be a leaf is counted: nothing else checks a leaf's count.
    assert_eq!(inferred_last(25_000, &[16_000], &LIMITS), None);
    assert_eq!(inferred_last(20_000, &[10_000], &LIMITS), None);
    // Parts that already hold more than the split: counting shows what upstream says.
    assert_eq!(inferred_last(25_000, &[26_000], &LIMITS), None);
    let lowered = Limits {
        cap: 1_000,
        ..LIMITS
    };
    assert_eq!(inferred_last(25_000, &[16_000], &lowered), Some(9_000));
}
