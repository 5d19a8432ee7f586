//! The steps of a partition's life: what is observed about a node, what it becomes, and the
//! one function between them ([`step`]). Pure: no I/O.

use super::{Failure, Leaf, Limits, Node};
use crate::plan::Window;

/// Why upstream refused a request for records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 413: the answer would be too large.
    TooLarge,
    /// 400: the page size or the offset is refused.
    BadRequest,
}

/// What was observed about a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Upstream's count of the node's window.
    Counted(u64),
    /// The parts of the node's split were counted: the node `count`, its parts `parts`.
    /// `earlier` is the node's first count when these are the second counts, taken because
    /// the first ones did not add up.
    Parts {
        count: u64,
        parts: Vec<u64>,
        earlier: Option<u64>,
    },
    /// A page at `start`, `ask` records asked for: `served` came, upstream now claims
    /// `num_found`, and `repeated` when its records are the last page's, byte for byte.
    Page {
        start: u64,
        ask: u64,
        served: u64,
        num_found: u64,
        repeated: bool,
    },
    /// A request at `start` for `ask` records was refused.
    Refused {
        start: u64,
        ask: u64,
        refusal: Refusal,
    },
    /// The leaf was counted again (`count`) over a page that did not fit (`problem`).
    Recounted { count: u64, problem: String },
    /// The sweep reached the count; `outside` records came from outside the window.
    Swept { outside: u64 },
    /// The records the sweep stored, plus its quarantined ones.
    Stored { local: u64 },
    /// The proof compared the node with upstream: the mirror holds `local`, upstream `upstream`.
    Compared { local: u64, upstream: u64 },
}

/// What happens to a node next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Nothing changes.
    Stay,
    /// Counted above the cap: count `parts`, which tile its window.
    Split { count: u64, parts: Vec<Window> },
    /// The parts add up to `count`: the node becomes a split over `parts`, each new.
    Children { count: u64, parts: Vec<Window> },
    /// Count the node (and its parts, for a split) once more; `problem` says why.
    CountAgain { problem: String },
    /// Page it from the start against `count`, in a new sweep; with a `reason`, this is a
    /// fetch again, and counts as an attempt.
    Page { count: u64, reason: Option<String> },
    /// Store the page with the leaf's next offset; with `rows`, upstream serves at most that
    /// many a page: ask for no more from now on.
    Store { next_offset: u64, rows: Option<u64> },
    /// Ask again at the same offset for `rows` records. With `run_rows`, the page size itself
    /// was refused: the run asks for no more than that from now on.
    Retry { rows: u64, run_rows: Option<u64> },
    /// Upstream pages no further than `cap`: the run lowers its cap (and the leaf is counted
    /// again, to split, on its next step).
    LowerCap { cap: u64 },
    /// Send it back to be counted (and split): its count no longer fits one query.
    Recount { reason: String },
    /// The sweep is over: compare what it stored with the count.
    Check,
    /// Its stored ids equal its count.
    Done,
    /// The request's own error stands (the node fails with it).
    Refuse,
    /// It fails for this run.
    Fail(Failure),
}

/// The one decision: what `node`, in `window`, becomes after `observation`, under `limits`.
pub fn step(
    node: &Node,
    window: &Window,
    observation: &Observation,
    limits: &Limits,
) -> Transition {
    use Observation as O;
    match (node, observation) {
        (Node::Leaf(leaf), _) => leaf_step(leaf, window, observation, limits),
        (Node::Split { .. } | Node::Join, O::Compared { .. }) => Transition::Stay,
        (Node::New { .. } | Node::Failed | Node::Done { .. }, O::Compared { local, upstream }) => {
            moved(*local, *upstream, limits)
        }
        (Node::New { .. } | Node::Failed, O::Counted(count)) => counted(window, *count, limits),
        (Node::New { .. } | Node::Failed, O::Refused { ask, refusal, .. }) => {
            first_refused(*ask, *refusal, limits)
        }
        (
            Node::Split { .. } | Node::New { .. } | Node::Failed,
            O::Parts {
                count,
                parts,
                earlier,
            },
        ) => parts_counted(window, *count, parts, *earlier, limits),
        // What does not apply to a node leaves it as it is: a count of a split or a done leaf
        // is a comparison (see `Compared`), and pages come only to leaves.
        (
            Node::Split { .. } | Node::Join | Node::Done { .. },
            O::Counted(_)
            | O::Refused { .. }
            | O::Page { .. }
            | O::Recounted { .. }
            | O::Swept { .. }
            | O::Stored { .. },
        )
        | (Node::Join | Node::Done { .. }, O::Parts { .. })
        | (
            Node::New { .. } | Node::Failed,
            O::Page { .. } | O::Recounted { .. } | O::Swept { .. } | O::Stored { .. },
        ) => Transition::Stay,
    }
}

/// [`step`] for a leaf being paged.
fn leaf_step(
    leaf: &Leaf,
    window: &Window,
    observation: &Observation,
    limits: &Limits,
) -> Transition {
    use Observation as O;
    match observation {
        O::Page { .. } => page(leaf, observation, limits),
        O::Refused {
            start,
            ask,
            refusal,
        } => refused(*start, *ask, *refusal, limits),
        O::Recounted { count, problem } if *count == leaf.count => Transition::Fail(
            Failure::Unverified(format!("{problem}; counted again, it still claims {count}")),
        ),
        O::Recounted { count, problem } => {
            let reason = format!("{problem}; counted again: {count}");
            again(leaf, *count, reason, limits)
        }
        O::Swept { outside } => swept(leaf, window, *outside, limits),
        O::Stored { local } if *local == leaf.count => Transition::Done,
        O::Stored { local } => {
            let reason = format!(
                "upstream counts {} records but {local} distinct ones were stored",
                leaf.count
            );
            again(leaf, leaf.count, reason, limits)
        }
        // A leaf counted again (not over a page): it starts again against the new count.
        O::Counted(count) if *count == leaf.count => Transition::Stay,
        O::Counted(count) => {
            let reason = format!("upstream count moved from {} to {count}", leaf.count);
            again(leaf, *count, reason, limits)
        }
        O::Compared { local, upstream } => moved(*local, *upstream, limits),
        O::Parts { .. } => Transition::Stay,
    }
}

/// A new node counted `count`: split when one query cannot page through it, else page it.
fn counted(window: &Window, count: u64, limits: &Limits) -> Transition {
    if count <= limits.cap {
        return Transition::Page {
            count,
            reason: None,
        };
    }
    match window.split() {
        Some(parts) => Transition::Split { count, parts },
        None => Transition::Fail(Failure::CannotSplit {
            count,
            cap: limits.cap,
        }),
    }
}

/// A new node's first request (a full page) was refused: ask for the count alone; a refused
/// page size is lowered for the run.
fn first_refused(ask: u64, refusal: Refusal, limits: &Limits) -> Transition {
    if ask <= 1 {
        return Transition::Refuse;
    }
    let run_rows = match refusal {
        Refusal::TooLarge => None,
        Refusal::BadRequest => Some((ask / 2).max(limits.min_rows)),
    };
    Transition::Retry { rows: 1, run_rows }
}

/// The parts of a split of `window`, whose count is `count`, counted `parts`: they must add up
/// to it, or be counted once more; twice wrong, upstream's counts cannot be trusted here.
fn parts_counted(
    window: &Window,
    count: u64,
    parts: &[u64],
    earlier: Option<u64>,
    limits: &Limits,
) -> Transition {
    let sum: u64 = parts.iter().sum();
    if sum == count {
        return match window.split() {
            Some(parts) => Transition::Children { count, parts },
            None => Transition::Fail(Failure::CannotSplit {
                count,
                cap: limits.cap,
            }),
        };
    }
    let Some(earlier) = earlier else {
        return Transition::CountAgain {
            problem: format!("the parts of a split ({sum}) do not add up to it ({count})"),
        };
    };
    let each: Vec<String> = parts.iter().map(u64::to_string).collect();
    Transition::Fail(Failure::Unverified(format!(
        "upstream's counts do not add up: it claims {count} records in {window} (before: {earlier}) but {sum} in its {} parts ({}), counted twice; its counts cannot be trusted here",
        parts.len(),
        each.join(" + ")
    )))
}

/// A page came for `leaf`: checked against the count, then stored.
fn page(leaf: &Leaf, page: &Observation, limits: &Limits) -> Transition {
    let &Observation::Page {
        start,
        ask,
        served,
        num_found,
        repeated,
    } = page
    else {
        return Transition::Stay;
    };
    let count = leaf.count;
    if num_found != count {
        let reason = format!("upstream count moved from {count} to {num_found} while paging");
        return again(leaf, num_found, reason, limits);
    }
    let wanted = ask.min(count - start.min(count));
    let problem = if served == 0 {
        Some(format!(
            "upstream claims {count} records but sent an empty page at offset {start}"
        ))
    } else if repeated {
        Some(format!(
            "upstream claims {count} records but sent the same {served} again at offset {start}"
        ))
    } else if served < wanted && served < limits.min_rows {
        Some(format!(
            "upstream claims {count} records but sent {served} of the {ask} asked for at offset {start} (fewer than {} a page)",
            limits.min_rows
        ))
    } else {
        None
    };
    match problem {
        Some(problem) if leaf.recounted => Transition::Fail(Failure::Unverified(format!(
            "{problem}, again after counting once more"
        ))),
        Some(problem) => Transition::CountAgain { problem },
        // A consistent short page: upstream serves at most this many a page.
        None => Transition::Store {
            next_offset: start + served,
            rows: (served < wanted).then_some(served),
        },
    }
}

/// A page request of a leaf was refused: too large halves the page; a 400 for a page larger
/// than upstream ever served (or at offset 0) refuses the page size; a 400 further in refuses
/// the offset, so upstream's cap is lower than configured.
fn refused(start: u64, ask: u64, refusal: Refusal, limits: &Limits) -> Transition {
    match refusal {
        Refusal::TooLarge if ask > 1 => Transition::Retry {
            rows: (ask / 2).max(1),
            run_rows: None,
        },
        Refusal::BadRequest if ask > limits.min_rows && (start == 0 || ask > limits.served_max) => {
            let rows = (ask / 2).max(limits.min_rows);
            Transition::Retry {
                rows,
                run_rows: Some(rows),
            }
        }
        Refusal::BadRequest if start >= limits.min_rows => Transition::LowerCap { cap: start },
        Refusal::TooLarge | Refusal::BadRequest => Transition::Refuse,
    }
}

/// The sweep reached the count. Records upstream sent outside the window prove nothing about
/// it: the leaf is not verified (and nothing in it marked deleted) on their account.
fn swept(leaf: &Leaf, window: &Window, outside: u64, limits: &Limits) -> Transition {
    if outside == 0 {
        return Transition::Check;
    }
    let reason = format!(
        "upstream sent {outside} record(s) outside the window asked for ({window}); they are quarantined in rejected_records, not stored"
    );
    again(leaf, leaf.count, reason, limits)
}

/// The leaf must be fetched again (`reason` says why), now against `count`: from the start in a
/// new sweep, or, when `count` no longer fits one query, by counting it again. It fails once it
/// has used its attempts for this run.
fn again(leaf: &Leaf, count: u64, reason: String, limits: &Limits) -> Transition {
    if leaf.attempts + 1 >= limits.leaf_attempts {
        return Transition::Fail(Failure::Unverified(format!(
            "{reason}, after {} fetches",
            leaf.attempts + 1
        )));
    }
    if count > limits.cap {
        return Transition::Recount { reason };
    }
    Transition::Page {
        count,
        reason: Some(reason),
    }
}

/// The proof found the mirror's `local` and upstream's `upstream` differ (or agree) for a node
/// that is not split: it is fetched again (counted again when it outgrew one query).
fn moved(local: u64, upstream: u64, limits: &Limits) -> Transition {
    if local == upstream {
        return Transition::Stay;
    }
    if upstream <= limits.cap {
        return Transition::Page {
            count: upstream,
            reason: None,
        };
    }
    Transition::Recount {
        reason: format!("upstream count moved from {local} to {upstream}"),
    }
}
