//! What to ask upstream next: a leaf's next page, how large a new partition's first request
//! is, and which part of a split needs no count of its own. Pure: no I/O.

use super::{Leaf, Limits};

/// What a leaf asks for next, before it is fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// The page at `start` of `ask` records.
    Page { start: u64, ask: u64 },
    /// Nothing: the sweep reached the count.
    Swept,
    /// Its count no longer fits one query (the cap was lowered): count it again, to split.
    Recount { reason: String },
}

/// What `leaf`, asking `rows` a page, fetches next.
pub fn next(leaf: &Leaf, rows: u64, limits: &Limits) -> Next {
    if leaf.next_offset >= leaf.count {
        return Next::Swept;
    }
    if leaf.count > limits.cap {
        return Next::Recount {
            reason: format!(
                "{} records are more than upstream pages through ({})",
                leaf.count, limits.cap
            ),
        };
    }
    let ask = rows.min(limits.cap - leaf.next_offset).max(1);
    Next::Page {
        start: leaf.next_offset,
        ask,
    }
}

/// How many records a new node's first request asks for: a full page when its `hint` says it
/// likely fits one query (the count comes with its first page), else one (just the count).
pub fn first_rows(hint: Option<u64>, rows: u64, limits: &Limits) -> u64 {
    if hint.is_some_and(|n| n <= limits.cap) {
        rows.min(limits.cap)
    } else {
        1
    }
}

/// The count of the last of a split's parts, from the split's `count` and the counts of the
/// parts before it, when that says it must split again (more than the cap): it is then not
/// counted, as its own parts, which must add up to it, check it. `None` when it must be counted:
/// it may be a leaf (whose count is checked by no one else), or the others already hold more
/// than the split (upstream's counts disagree, to be seen by counting).
pub fn inferred_last(count: u64, others: &[u64], limits: &Limits) -> Option<u64> {
    let rest = count.checked_sub(others.iter().sum())?;
    (rest > limits.cap).then_some(rest)
}
