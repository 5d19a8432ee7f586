//! Paging a leaf: the driver asks the tree what to fetch next, fetches it, steps the leaf with
//! what came back, and applies the transition. A page is stored while the next one is fetched.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::{debug, warn};

use super::checks::{check_family_page, check_page};
use super::count::refusal;
use super::{First, Harvest, Work};
use crate::api::{Page, query};
use crate::error::{Error, Result};
use crate::store::Partition;
use crate::store::writer::Pending;
use crate::tree::{self, Leaf, Limits, Next, Node, Observation, Transition, step};

/// What a sweep learned that the checkpoint does not keep.
struct Sweep {
    /// Records a page asks for in this leaf.
    rows: u64,
    /// Whether the leaf was counted again over a page that did not fit.
    recounted: bool,
    /// The fingerprint of the last page stored (see [`fingerprint`]), to see the same page
    /// served again.
    last_page: Option<u64>,
    /// Records upstream sent from outside the window, quarantined.
    outside: u64,
    /// The page being stored while the next one is fetched.
    stored: Option<Pending<u64>>,
    /// The page at offset 0 the count brought, until it is used.
    first: Option<First>,
}

/// What the leaf needs next, besides a page.
enum Ask {
    Page,
    /// A count, over a page that did not fit (the problem).
    Recount(String),
    /// What the sweep stored, to compare with the count.
    Stored,
}

/// A page fetched, with its fingerprint.
type Fetched = (Page, u64);

/// What observing a leaf brought.
enum Seen {
    /// An observation for the tree, with the page that came (if one did) and the error of a
    /// refused request (if it was).
    Observed(Observation, Option<Fetched>, Option<Error>),
    /// A transition decided without asking upstream.
    Decided(Transition),
}

/// Whether the leaf goes on, and with what, or stops with what to queue.
enum Flow {
    Go(Partition, Ask),
    Stop(Vec<Work>),
}

impl Harvest {
    /// Pages a leaf from its checkpoint and verifies it, fetching it again while the ids it
    /// stored disagree with its count, up to `leaf_attempts` times. Returns the partition to
    /// count again when upstream's count outgrew `paging_cap` meanwhile.
    ///
    /// Pages are checked (see [`tree::step`]): a short page lowers the page size to what was
    /// served, but not below `min_rows`; a shorter one, an empty one or the same page again
    /// has the leaf counted once more, and fails it when the count did not move (or when it
    /// happens again). Records outside the leaf's window are quarantined, never stored, and
    /// keep the leaf from being verified.
    pub(super) async fn page_leaf(&self, p: Partition, first: Option<First>) -> Result<Vec<Work>> {
        let mut sweep = Sweep {
            rows: self.rows(),
            recounted: false,
            last_page: None,
            outside: 0,
            stored: None,
            first,
        };
        let result = self.drive_leaf(p, &mut sweep).await;
        // Paging stopped on an error with a page still being stored: that page's own error
        // (the store's, which stops the harvest) must not be lost behind the one that stopped
        // paging (a failed request, which only fails the leaf).
        if result.is_err()
            && let Some(pending) = sweep.stored.take()
        {
            pending.wait().await?;
        }
        result
    }

    /// [`Harvest::page_leaf`]'s loop: observe, step, follow.
    async fn drive_leaf(&self, mut p: Partition, sweep: &mut Sweep) -> Result<Vec<Work>> {
        let criteria = query::criteria(&p.window);
        let mut ask = Ask::Page;
        loop {
            let leaf = self.leaf(&p, sweep)?;
            let limits = self.limits();
            let seen = self
                .observe(&p, &leaf, &limits, ask, sweep, &criteria)
                .await?;
            let (t, fetched, refused) = match seen {
                Seen::Observed(observation, fetched, refused) => {
                    let t = step(&Node::Leaf(leaf), &p.window, &observation, &limits);
                    (t, fetched, refused)
                }
                Seen::Decided(t) => (t, None, None),
            };
            match self.follow(p, t, fetched, refused, sweep).await? {
                Flow::Go(next, next_ask) => (p, ask) = (next, next_ask),
                Flow::Stop(work) => return Ok(work),
            }
        }
    }

    /// What the leaf needs next (`ask`), fetched: a page (from the first one when the count
    /// brought it), a count, or what the sweep stored; or, when the leaf no longer fits one
    /// query, the transition that says so.
    async fn observe(
        &self,
        p: &Partition,
        leaf: &Leaf,
        limits: &Limits,
        ask: Ask,
        sweep: &mut Sweep,
        criteria: &str,
    ) -> Result<Seen> {
        let seen = |o| Seen::Observed(o, None, None);
        Ok(match ask {
            Ask::Page => match tree::next(leaf, sweep.rows, limits) {
                Next::Page { start, ask } => {
                    let (fetched, ask) = match sweep.first.take() {
                        Some((page, asked)) => (Ok(page), asked),
                        None => {
                            let fetched = self.fetch.records(&p.window, criteria, start, ask).await;
                            (fetched, ask)
                        }
                    };
                    self.observe_page(start, ask, fetched, sweep).await?
                }
                Next::Swept => {
                    self.settle(sweep).await?;
                    seen(Observation::Swept {
                        outside: sweep.outside,
                    })
                }
                Next::Recount { reason } => {
                    self.settle(sweep).await?;
                    Seen::Decided(Transition::Recount { reason })
                }
            },
            Ask::Recount(problem) => {
                let count = self.count(&p.window).await?;
                seen(Observation::Recounted { count, problem })
            }
            Ask::Stored => {
                let p = p.clone();
                let local = self.writer.call(move |s| s.swept(&p)).await?;
                seen(Observation::Stored { local })
            }
        })
    }

    /// Carries out what the tree decided for the leaf `p`: stores the page `fetched`, changes
    /// the page size or the cap, asks for a count, restarts the sweep, or stops (done, counted
    /// again, failed, or with the `refused` request's own error).
    async fn follow(
        &self,
        p: Partition,
        t: Transition,
        fetched: Option<Fetched>,
        refused: Option<Error>,
        sweep: &mut Sweep,
    ) -> Result<Flow> {
        let go = |p, ask| Ok(Flow::Go(p, ask));
        match t {
            Transition::Store { rows, .. } => {
                if let Some(served) = rows {
                    sweep.rows = self.lower_rows(served).min(sweep.rows);
                    warn!(partition = %p.window, rows = sweep.rows, "upstream served fewer records than asked; asking for {} a page", sweep.rows);
                }
                let (page, fingerprint) = fetched.expect("a page is stored only after it came");
                sweep.last_page = Some(fingerprint);
                go(self.store_page(p, page, sweep).await?, Ask::Page)
            }
            Transition::Retry { rows, run_rows } => {
                sweep.rows = match run_rows {
                    Some(run_rows) => {
                        let rows = self.lower_rows(run_rows);
                        warn!(partition = %p.window, rows, "upstream refused the page size; asking for fewer rows");
                        rows
                    }
                    None => {
                        warn!(partition = %p.window, rows, "response too large; asking for fewer rows");
                        rows
                    }
                };
                go(p, Ask::Page)
            }
            Transition::LowerCap { cap } => {
                self.cap.fetch_min(cap, Ordering::Relaxed);
                warn!(partition = %p.window, start = cap, "upstream refused to page this far; lowering paging_cap to {cap} and splitting");
                go(p, Ask::Page)
            }
            Transition::CountAgain { problem } => {
                sweep.recounted = true;
                go(p, Ask::Recount(problem))
            }
            Transition::Check => go(p, Ask::Stored),
            Transition::Page { ref reason, .. } => {
                warn!(partition = %p.window, reason = reason.as_deref().unwrap_or(""), "fetching the partition again");
                let restarted = self.apply(&p, t).await?.pop().ok_or_else(|| p.damaged())?;
                (sweep.outside, sweep.last_page) = (0, None);
                go(restarted, Ask::Page)
            }
            Transition::Recount { ref reason } => {
                warn!(partition = %p.window, %reason, "fetching the partition again");
                Ok(Flow::Stop(self.requeue(&p, t).await?))
            }
            Transition::Done => {
                debug!(partition = %p.window, count = p.count, "leaf verified");
                self.apply(&p, t).await?;
                Ok(Flow::Stop(vec![]))
            }
            Transition::Refuse => Err(refused.expect("only a refused request is refused")),
            Transition::Fail(failure) => Err(failure.into()),
            Transition::Stay | Transition::Split { .. } | Transition::Children { .. } => {
                unreachable!("a leaf became {t:?}")
            }
        }
    }

    /// The leaf `p` is, with what its sweep learned.
    fn leaf(&self, p: &Partition, sweep: &Sweep) -> Result<Leaf> {
        match p.node() {
            Some(Node::Leaf(leaf)) => Ok(Leaf {
                recounted: sweep.recounted,
                ..leaf
            }),
            _ => Err(p.damaged()),
        }
    }

    /// What a page request at `start` brought: the page (once the page before it is stored),
    /// or the refusal, with the error it came with. Any other error stops the leaf.
    async fn observe_page(
        &self,
        start: u64,
        ask: u64,
        fetched: Result<Page>,
        sweep: &mut Sweep,
    ) -> Result<Seen> {
        let page = match fetched {
            Ok(page) => page,
            Err(e) => {
                let Some(refusal) = refusal(&e) else {
                    return Err(e);
                };
                let refused = Observation::Refused {
                    start,
                    ask,
                    refusal,
                };
                return Ok(Seen::Observed(refused, None, Some(e)));
            }
        };
        // Whatever is decided next, the page before this one is stored first.
        self.settle(sweep).await?;
        let served = page.docs.len() as u64;
        self.served_max.fetch_max(served, Ordering::Relaxed);
        let fingerprint = fingerprint(&page.docs);
        let repeated = sweep.last_page == Some(fingerprint);
        let observation = Observation::Page {
            start,
            ask,
            served,
            num_found: page.num_found,
            repeated,
        };
        Ok(Seen::Observed(observation, Some((page, fingerprint)), None))
    }

    /// Queues a page's records to be checked and stored with the leaf's next offset, and
    /// returns the leaf at that offset. The writer does the work while the next page is
    /// fetched; the sweep holds the page in progress, settled (see [`Harvest::settle`]) before
    /// the next one is queued and before anything else is decided about the leaf.
    async fn store_page(
        &self,
        mut leaf: Partition,
        page: Page,
        sweep: &mut Sweep,
    ) -> Result<Partition> {
        self.settle(sweep).await?;
        let served = page.docs.len() as u64;
        self.pages.observe(page.bytes, page.docs.len());
        let next = leaf.next_offset + served;
        let (id, sweep_id) = (leaf.id, leaf.sweep.ok_or_else(|| leaf.damaged())?);
        let window = leaf.window.clone();
        let docs = page.docs;
        let dataset = self.dataset;
        let (written, rejected) = (Arc::clone(&self.written), Arc::clone(&self.rejected));
        sweep.stored = Some(self.writer.send(move |s| {
            let (kept, quarantined, out) = if dataset.is_citations() {
                let (citations, quarantined, out) = check_page(&window, docs);
                s.put_page(id, sweep_id, next, &citations, &quarantined)?;
                (citations.len(), quarantined, out)
            } else {
                let (records, quarantined, out) = check_family_page(dataset, &window, docs);
                s.put_family_page(id, sweep_id, next, &records, &quarantined)?;
                (records.len(), quarantined, out)
            };
            written.fetch_add(kept as u64, Ordering::Relaxed);
            rejected.fetch_add(quarantined.len() as u64, Ordering::Relaxed);
            Ok(out)
        })?);
        leaf.next_offset = next;
        Ok(leaf)
    }

    /// Waits for the page in progress, adding the records it found outside the window to the
    /// sweep's.
    async fn settle(&self, sweep: &mut Sweep) -> Result<()> {
        if let Some(pending) = sweep.stored.take() {
            sweep.outside += pending.wait().await?;
        }
        Ok(())
    }
}

/// A fingerprint of a page's records, byte for byte as upstream wrote them, to tell the same
/// page served again from the next one. Hashing the text (eight bytes a step) costs a small
/// part of reading each record's id out of it, which the writer parses anyway; the pages
/// compared are upstream's answers, not chosen to collide.
fn fingerprint(docs: &[Box<serde_json::value::RawValue>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    for doc in docs {
        doc.get().hash(&mut hasher);
    }
    hasher.finish()
}
