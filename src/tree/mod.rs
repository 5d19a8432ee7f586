//! The partition tree's lifecycle, as pure decisions: what a partition becomes after a count, a
//! page, a refused request, the end of a sweep or a comparison with upstream.
//!
//! A partition is a window of `createDateTime` (and, below one second, an `id` prefix). Its life:
//!
//! ```text
//!  New ──count > cap──▶ Split ──parts add up──▶ its parts, each New
//!   │
//!   └──count ≤ cap──▶ Leaf (paged from next_offset, in a sweep) ──ids = count──▶ Done
//!                      │  ▲                                                      │
//!                      │  └── fetched again: count moved, bad page, mismatch ◀───┘ (refresh)
//!                      └──── attempts used up ──▶ Failed (the next run retries it)
//! ```
//!
//! [`step`] is the one function from a node and what was observed about it to what happens
//! next (a [`Transition`]); the harvest only fetches, steps and applies, and the store applies a
//! transition in one transaction. Nothing here does I/O, so every decision is unit-tested on
//! typed values. [`PartitionState`] is the stored form of a node's kind; [`Node`] adds what the
//! kind implies (a leaf has a count and a sweep; a join has no count of its own).

mod ask;
mod step;

pub use ask::{Next, first_rows, inferred_last, next};
pub use step::{Observation, Refusal, Transition, step};

use crate::plan::Window;

/// Where a partition is in its life, stored in `partitions.state` as the text of
/// [`PartitionState::as_str`], the one mapping to and from the column. SQL names a state only
/// through it: bound as a parameter, or built in with `store::state_in`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartitionState {
    /// Not counted yet (or sent back to be counted again).
    New,
    /// Counted above the paging cap and replaced by its children; a split without a count is
    /// a join that window growth put over earlier parts.
    Split,
    /// A leaf being paged, from `next_offset`, in its sweep.
    Pending,
    /// A leaf whose stored ids equal its upstream count.
    Done,
    /// A leaf that used its attempts in this run; the next run retries it.
    Failed,
}

impl PartitionState {
    /// Every state, in the order of their life.
    pub const ALL: [PartitionState; 5] = [
        PartitionState::New,
        PartitionState::Split,
        PartitionState::Pending,
        PartitionState::Done,
        PartitionState::Failed,
    ];

    /// The partitions a harvest still has to do something about: not split and not done.
    pub const NOT_DONE: [PartitionState; 3] = [
        PartitionState::New,
        PartitionState::Pending,
        PartitionState::Failed,
    ];

    /// The stored text of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionState::New => "new",
            PartitionState::Split => "split",
            PartitionState::Pending => "pending",
            PartitionState::Done => "done",
            PartitionState::Failed => "failed",
        }
    }

    /// The state a stored text names; `None` for a text no state has.
    pub fn parse(text: &str) -> Option<PartitionState> {
        PartitionState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One row of the `partitions` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub id: i64,
    pub parent: Option<i64>,
    pub window: Window,
    pub count: Option<u64>,
    pub next_offset: u64,
    pub state: PartitionState,
    pub sweep: Option<i64>,
    pub attempts: u32,
}

/// A partition's kind with what it implies, read from its row by [`Partition::node`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Not counted yet; `hint` is the count it had before it was sent back, if any (a hint
    /// that it likely fits one query, so that its count comes with a full first page).
    New { hint: Option<u64> },
    /// Counted `count`, more than one query pages through, and replaced by its parts.
    Split { count: u64 },
    /// A node window growth put over earlier parts: no count of its own.
    Join,
    /// Being paged against `count`.
    Leaf(Leaf),
    /// Its stored ids equal `count`.
    Done { count: u64 },
    /// Used its attempts in this run.
    Failed,
}

/// A leaf being paged, with what its sweep learned so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Upstream's count, which the sweep must store.
    pub count: u64,
    /// Where the next page starts.
    pub next_offset: u64,
    /// Fetches of this leaf that failed to verify, in this run.
    pub attempts: u32,
    /// Whether this sweep already counted the leaf again over a page that did not fit.
    pub recounted: bool,
}

impl Partition {
    /// The node this row is; `None` when the row contradicts its state (a pending leaf
    /// without a count or a sweep), which only a damaged database holds.
    pub fn node(&self) -> Option<Node> {
        Some(match self.state {
            PartitionState::New => Node::New { hint: self.count },
            PartitionState::Split => match self.count {
                Some(count) => Node::Split { count },
                None => Node::Join,
            },
            PartitionState::Pending => {
                self.sweep?;
                Node::Leaf(Leaf {
                    count: self.count?,
                    next_offset: self.next_offset,
                    attempts: self.attempts,
                    recounted: false,
                })
            }
            PartitionState::Done => Node::Done { count: self.count? },
            PartitionState::Failed => Node::Failed,
        })
    }
}

impl Partition {
    /// The error for a row whose state contradicts its columns (see [`Partition::node`]):
    /// only a damaged database holds one.
    pub fn damaged(&self) -> crate::error::Error {
        crate::error::Error::UnknownState {
            partition: self.id,
            state: format!(
                "{} with count {:?} and sweep {:?}",
                self.state.as_str(),
                self.count,
                self.sweep
            ),
        }
    }
}

/// The run's limits a decision depends on. Some move during a run (upstream may page less far
/// or serve smaller pages than configured), so the harvest reads them afresh for each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most records one query may page through.
    pub cap: u64,
    /// The smallest page believed (a service that serves fewer is not).
    pub min_rows: u64,
    /// The largest page upstream served in this run.
    pub served_max: u64,
    /// Fetches of a leaf per run before it fails.
    pub leaf_attempts: u32,
}

/// What a partition cannot become, and why: the harvest fails it for this run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// More records share one id prefix at one second than one query pages through.
    CannotSplit { count: u64, cap: u64 },
    /// Upstream's answers cannot be reconciled with its count.
    Unverified(String),
}

impl From<Failure> for crate::error::Error {
    fn from(f: Failure) -> Self {
        match f {
            Failure::CannotSplit { count, cap } => crate::error::Error::CannotSplit { count, cap },
            Failure::Unverified(text) => crate::error::Error::Unverified(text),
        }
    }
}

#[cfg(test)]
mod tests;
