//! Counting a new partition: with a full first page when it likely fits one query, then, as
//! the tree decides, a leaf paged from that page or a split whose parts are counted (with their
//! own first pages) and must add up to it.

use tracing::{debug, warn};

use super::{First, Harvest, Known, Work};
use crate::api::query;
use crate::error::{Error, Result};
use crate::plan::Window;
use crate::store::Partition;
use crate::tree::{self, Node, Observation, Refusal, Transition, step};

impl Harvest {
    /// Does the work one partition needs; returns new partitions to work on. A partition that
    /// fails (anything but a fatal error) is marked failed with its reason, for the next run.
    pub(super) async fn process(
        &self,
        p: Partition,
        hint: Option<u64>,
        known: Option<Known>,
    ) -> Result<Vec<Work>> {
        let id = p.id;
        let label = p.window.clone();
        let result = match p.node() {
            Some(Node::New { .. }) => self.count_and_plan(p, hint, known).await,
            Some(Node::Leaf(_)) => {
                let first = match known {
                    Some(Known::Page(first)) => Some(first),
                    Some(Known::Inferred(_)) | None => None,
                };
                self.page_leaf(p, first).await
            }
            Some(Node::Split { .. } | Node::Join | Node::Done { .. } | Node::Failed) => Ok(vec![]),
            None => Err(p.damaged()),
        };
        match result {
            Err(e) if !e.is_fatal() => {
                let text = e.report();
                warn!(partition = %label, error = %text, "partition failed; it is retried on the next run");
                self.writer.call(move |s| s.fail(id, &text)).await?;
                Ok(vec![])
            }
            other => other,
        }
    }

    /// Counts a new partition, with a full first page when it is likely a leaf. Splits it
    /// when it holds more than one query may page through; otherwise pages it.
    async fn count_and_plan(
        &self,
        p: Partition,
        hint: Option<u64>,
        known: Option<Known>,
    ) -> Result<Vec<Work>> {
        let (first, count) = match known {
            Some(Known::Inferred(count)) => (None, count),
            Some(Known::Page(first)) => {
                let count = first.0.num_found;
                (Some(first), count)
            }
            None => {
                let first = self.first_page(&p.window, hint).await?;
                let count = first.0.num_found;
                (Some(first), count)
            }
        };
        match step(
            &Node::New { hint },
            &p.window,
            &Observation::Counted(count),
            &self.limits(),
        ) {
            Transition::Split { count, parts } => self.split(&p, count, parts).await,
            t @ Transition::Page { .. } => {
                let leaf = self.apply(&p, t).await?.pop().ok_or_else(|| p.damaged())?;
                self.page_leaf(leaf, first).await
            }
            Transition::Fail(failure) => Err(failure.into()),
            other => unreachable!("a counted new partition became {other:?}"),
        }
    }

    /// The page at offset 0 of `window`: a full one when `hint` says it likely fits one query,
    /// else one record (just the count).
    async fn first_page(&self, window: &Window, hint: Option<u64>) -> Result<First> {
        let criteria = query::criteria(window);
        let limits = self.limits();
        let rows = tree::first_rows(hint, self.rows(), &limits);
        let e = match self.fetch.records(window, &criteria, 0, rows).await {
            Ok(page) => return Ok((page, rows)),
            Err(e) => e,
        };
        let Some(refusal) = refusal(&e) else {
            return Err(e);
        };
        let refused = Observation::Refused {
            start: 0,
            ask: rows,
            refusal,
        };
        match step(&Node::New { hint }, window, &refused, &limits) {
            Transition::Retry { rows, run_rows } => {
                if let Some(run_rows) = run_rows {
                    let rows = self.lower_rows(run_rows);
                    warn!(partition = %window, rows, "upstream refused the page size; asking for fewer rows");
                }
                Ok((self.fetch.records(window, &criteria, 0, rows).await?, rows))
            }
            _ => Err(e),
        }
    }

    /// Counts `parts`, which tile `p`'s window, whose upstream count is `count`, and has the
    /// tree decide: they add up, and `p` becomes a split over them (each queued with its count
    /// and first page); they do not, and they are counted once more with `p`; they still do
    /// not, and `p` fails. The last part is not counted when the others say it must split
    /// again (see [`tree::inferred_last`]): its own parts check its count.
    async fn split(&self, p: &Partition, count: u64, parts: Vec<Window>) -> Result<Vec<Work>> {
        let hint = count / parts.len() as u64;
        let mut firsts = Vec::with_capacity(parts.len());
        let mut counts = Vec::with_capacity(parts.len());
        for (i, w) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if last && let Some(n) = tree::inferred_last(count, &counts, &self.limits()) {
                counts.push(n);
                firsts.push(Some(Known::Inferred(n)));
                break;
            }
            let first = self.first_page(w, Some(hint)).await?;
            counts.push(first.0.num_found);
            firsts.push(Some(Known::Page(first)));
        }
        let node = Node::New { hint: None };
        let first = Observation::Parts {
            count,
            parts: counts.clone(),
            earlier: None,
        };
        let mut t = step(&node, &p.window, &first, &self.limits());
        if let Transition::CountAgain { problem } = &t {
            warn!(partition = %p.window, %problem, "counting them again");
            let again = self.count(&p.window).await?;
            counts.clear();
            for w in &parts {
                counts.push(self.count(w).await?);
            }
            firsts = parts.iter().map(|_| None).collect();
            let second = Observation::Parts {
                count: again,
                parts: counts.clone(),
                earlier: Some(count),
            };
            t = step(&node, &p.window, &second, &self.limits());
        }
        match t {
            t @ Transition::Children { .. } => {
                debug!(partition = %p.window, count, parts = parts.len(), "splitting");
                let children = self.apply(p, t).await?;
                Ok(children
                    .into_iter()
                    .zip(counts.into_iter().zip(firsts))
                    .map(|(c, (n, first))| (c, Some(n), first))
                    .collect())
            }
            Transition::Fail(failure) => Err(failure.into()),
            other => unreachable!("a counted split became {other:?}"),
        }
    }
}

/// Which refusal of a page request `e` is, if it is one.
pub(super) fn refusal(e: &Error) -> Option<Refusal> {
    if e.is_too_large() {
        Some(Refusal::TooLarge)
    } else if e.is_bad_request() {
        Some(Refusal::BadRequest)
    } else {
        None
    }
}
