//! The harvest: counts windows, splits the ones too large to page through, pages through the
//! leaves and proves the copy complete by counting.
//!
//! Work is a queue of partitions. A `new` partition is counted: above `paging_cap` it splits
//! (its children join the queue), otherwise it becomes a leaf and is paged from its checkpoint.
//! A leaf is done only when the distinct ids its sweep stored (plus its quarantined records)
//! equal its upstream count; otherwise it is fetched again, up to `leaf_attempts` times. When
//! the queue is empty, one count of the whole window must equal the sum of the leaf counts;
//! where it does not, the tree is walked down from the root, counting, to find the partitions
//! that changed, and those are fetched again.
//!
//! Upstream is checked, not trusted: a split's parts are counted with it and must add up to
//! it; a page must hold what was asked for (or, consistently, at least [`MIN_ROWS`]), must not
//! be empty or repeat the last one before the count is reached, and may hold only records of
//! the window asked for. What fails a check is counted once more, then the partition fails.
//!
//! Requests go through [`fetch::Fetcher`]; SQL runs on the writer thread ([`Writer`]). This
//! module does neither itself.

mod checks;
pub mod fetch;
pub mod pages;
pub mod survey;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::api::{Page, query, record};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::plan::Window;
use crate::store::writer::{Pending, Writer};
use crate::store::{LeafCheck, Partition, PartitionState, RunStats, Store};
use checks::{check_family_page, check_page};
use fetch::Fetcher;
use pages::PageSize;

/// How many times the count proof may send the harvest back to work in one run.
const PROOF_ROUNDS: usize = 3;
/// How often a progress line is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How often an observer hears of progress.
const OBSERVE_EVERY: Duration = Duration::from_millis(200);
/// The smallest page asked for when upstream serves short pages or refuses a page size (the
/// service's own default `rows`); a service that serves fewer is not believed.
pub const MIN_ROWS: u64 = 100;

/// What an interrupted run says.
const INTERRUPTED: &str = "interrupted: progress is saved; rerunning `oac-mirror harvest` continues where this run stopped";

/// How a harvest ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The whole window is mirrored and the counts agree.
    pub complete: bool,
    /// One line for the person or the cron mail.
    pub message: String,
    pub stats: RunStats,
}

/// Where a harvest stands, for a progress display.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Records stored by this run.
    pub records: u64,
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    /// Partitions waiting or being worked on.
    pub queued: u64,
}

/// Called with the harvest's progress a few times a second (instead of the progress lines
/// logged every ten seconds).
pub type Observer = Box<dyn Fn(Progress) + Send + Sync>;

/// A partition waiting for work, with the count its parent's split suggests (children of a
/// split likely to be leaves are counted with a full first page, saving a request), and that
/// first page when the split already fetched it.
type Work = (Partition, Option<u64>, Option<First>);

/// A page at offset 0 already fetched, with the rows it asked for.
type First = (Page, u64);

struct Harvest {
    fetch: Fetcher,
    writer: Writer,
    /// The data set harvested: its records are read and written by its description.
    dataset: &'static crate::dataset::Dataset,
    /// Records per page (see [`pages`]), lowered for the rest of the run when upstream serves
    /// fewer (short pages) or refuses as many (a 400 at offset 0), never below `min_rows`.
    pages: PageSize,
    /// The smallest page size believed: [`MIN_ROWS`], or `rows` when configured lower.
    min_rows: u64,
    /// The largest page upstream served this run: a 400 for a larger one is about `rows`,
    /// not about how far upstream pages.
    served_max: AtomicU64,
    /// The most records one query may page through: `paging_cap`, lowered for the rest of the
    /// run when upstream refuses to page as far (a 400 past its own cap).
    cap: AtomicU64,
    leaf_attempts: u32,
    written: Arc<AtomicU64>,
    rejected: Arc<AtomicU64>,
    observer: Option<Observer>,
}

/// Runs one harvest of `config`'s window into `store` through `fetcher`, until done, failed
/// or `shutdown`.
pub async fn run(
    config: &Config,
    fetcher: Fetcher,
    store: Store,
    shutdown: CancellationToken,
) -> Result<Outcome> {
    run_observed(config, fetcher, store, shutdown, None).await
}

/// [`run`], reporting progress to `observer` when there is one.
///
/// Harvests each of `config.datasets` in turn, each into its own partition tree, through the
/// one `fetcher` (one rate limiter, one request in flight across the family). A data set whose
/// `/fields` lost a field it stores fails by name; the others go on. Complete only when every
/// data set asked for is.
pub async fn run_observed(
    config: &Config,
    mut fetcher: Fetcher,
    mut store: Store,
    shutdown: CancellationToken,
    mut observer: Option<Observer>,
) -> Result<Outcome> {
    let window = config.window();
    store.tune_for_harvest(config.cache_mb)?;
    // Every data set's source and window are checked before the first request.
    for d in &config.datasets {
        store.set_dataset(d);
        store.check_mirror(&config.prefix(d), &window)?;
    }
    let mut outcomes = vec![];
    for d in &config.datasets {
        if shutdown.is_cancelled() {
            break;
        }
        store.set_dataset(d);
        fetcher.set_client(client_for(config, d)?);
        let before = fetcher.stats();
        let writer = Writer::spawn(store, config.concurrency.get() as usize * 2);
        let (f, w, o, result) = run_dataset(
            config,
            d,
            fetcher,
            writer,
            shutdown.clone(),
            observer,
            before,
        )
        .await;
        (fetcher, observer) = (f, o);
        store = w.close();
        match result {
            Err(e @ Error::SchemaDrift { .. }) if config.datasets.len() > 1 => {
                warn!(dataset = d.name, error = %e.report(), "this data set cannot be harvested; the others go on");
                outcomes.push((
                    d.name,
                    Outcome {
                        complete: false,
                        message: format!("stopped: {}", e.report()),
                        stats: RunStats::default(),
                    },
                ));
            }
            other => outcomes.push((d.name, other?)),
        }
    }
    if let [(_, only)] = outcomes.as_slice()
        && config.datasets.len() == 1
    {
        return Ok(only.clone());
    }
    let complete =
        outcomes.len() == config.datasets.len() && outcomes.iter().all(|(_, o)| o.complete);
    let mut stats = fetcher.stats();
    stats.records_written = outcomes.iter().map(|(_, o)| o.stats.records_written).sum();
    stats.records_rejected = outcomes.iter().map(|(_, o)| o.stats.records_rejected).sum();
    let message = if outcomes.is_empty() {
        INTERRUPTED.to_owned()
    } else {
        outcomes
            .iter()
            .map(|(name, o)| format!("{name}: {}", o.message))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(Outcome {
        complete,
        message,
        stats,
    })
}

/// The client for data set `d`'s prefix, configured as `config` says.
pub(crate) fn client_for(
    config: &Config,
    d: &crate::dataset::Dataset,
) -> Result<crate::api::Client> {
    Ok(
        crate::api::Client::new(&config.prefix(d), &config.api_key, config.timeouts)?
            .with_max_response_bytes(config.max_response_bytes),
    )
}

/// What one data set's harvest hands back: the fetcher, the writer (with the store), the
/// observer, and how it ended.
type Handed = (Fetcher, Writer, Option<Observer>, Result<Outcome>);

/// Harvests the store's current data set `dataset` (see [`run_observed`]); `before` is the
/// fetcher's count before it, so that its run records its own requests.
async fn run_dataset(
    config: &Config,
    dataset: &'static crate::dataset::Dataset,
    fetcher: Fetcher,
    writer: Writer,
    shutdown: CancellationToken,
    observer: Option<Observer>,
    before: RunStats,
) -> Handed {
    let window = config.window();
    let source = config.prefix(dataset);
    // The source is recorded (by `begin_run`) only once it answered: a first run against a
    // mistyped --base-url binds the database to nothing.
    match check_fields(&fetcher, dataset).await {
        Err(Error::Interrupted) => {
            let stats = since(&fetcher, &before);
            return (
                fetcher,
                writer,
                observer,
                Ok(Outcome {
                    complete: false,
                    message: INTERRUPTED.into(),
                    stats,
                }),
            );
        }
        Err(e) => return (fetcher, writer, observer, Err(e)),
        Ok(()) => {}
    }
    let prepared = async {
        let run_id = {
            let window = window.clone();
            writer
                .call(move |s| s.begin_run(&source, &window, &query::criteria))
                .await?
        };
        if dataset.is_citations() && writer.call(|s| s.defer_query_indexes()).await? {
            info!("first harvest of this mirror: its query indexes are built once it is complete");
        }
        if config.full_refresh || config.recheck_recent > 0 {
            let since = (!config.full_refresh).then(|| survey::recheck_since(config));
            let n = writer.call(move |s| s.refetch_done(since)).await?;
            info!(
                dataset = dataset.name,
                partitions = n,
                "fetching again whatever their counts say"
            );
        }
        Ok(run_id)
    }
    .await;
    let run_id = match prepared {
        Ok(id) => id,
        Err(e) => return (fetcher, writer, observer, Err(e)),
    };
    info!(dataset = dataset.name, "harvesting");
    let h = Arc::new(Harvest {
        fetch: fetcher,
        writer,
        dataset,
        pages: PageSize::new(config.rows),
        min_rows: config.rows.map_or(MIN_ROWS, |r| MIN_ROWS.min(r.get())),
        served_max: AtomicU64::new(0),
        cap: AtomicU64::new(config.paging_cap.get()),
        leaf_attempts: config.leaf_attempts.get(),
        written: Arc::default(),
        rejected: Arc::default(),
        observer,
    });
    let result = drive(&h, config.concurrency.get() as usize, &shutdown).await;
    let mut stats = since(&h.fetch, &before);
    stats.records_written = h.written.load(Ordering::Relaxed);
    stats.records_rejected = h.rejected.load(Ordering::Relaxed);
    let (outcome, message, proven) = match &result {
        Ok(Proof::Complete { total }) => (
            "complete",
            format!(
                "complete: {total} records in {}..{}, equal to upstream's count ({} requests)",
                window.lo, window.hi, stats.requests
            ),
            Some(*total),
        ),
        Ok(Proof::Incomplete(why)) => {
            let quarantined = match stats.records_rejected {
                0 => String::new(),
                n => format!("; {n} record(s) quarantined by this run (see rejected_records)"),
            };
            (
                "incomplete",
                format!(
                    "incomplete: {why}{quarantined}; rerunning `oac-mirror harvest` continues where this run stopped"
                ),
                None,
            )
        }
        Err(Error::Interrupted) => ("interrupted", INTERRUPTED.to_owned(), None),
        Err(e) => ("error", format!("stopped: {}", e.report()), None),
    };
    let h = Arc::into_inner(h).expect("no task outlives the harvest");
    let end = {
        let (stats, outcome, message) = (stats.clone(), outcome.to_owned(), message.clone());
        h.writer
            .call(move |s| {
                s.end_run(run_id, &stats, &outcome, &message, proven)?;
                if proven.is_some() && dataset.is_citations() {
                    let built = s.build_query_indexes()?;
                    if built > 0 {
                        info!(indexes = built, "built the query indexes");
                    }
                }
                s.checkpoint()
            })
            .await
    };
    let result = match result {
        Ok(_) | Err(Error::Interrupted) => end.map(|()| Outcome {
            complete: proven.is_some(),
            message,
            stats,
        }),
        Err(e) => Err(e),
    };
    (h.fetch, h.writer, h.observer, result)
}

/// The fetcher's counters since `before`.
fn since(fetch: &Fetcher, before: &RunStats) -> RunStats {
    let now = fetch.stats();
    RunStats {
        requests: now.requests - before.requests,
        retries: now.retries - before.retries,
        rate_limited: now.rate_limited - before.rate_limited,
        ..RunStats::default()
    }
}

enum Proof {
    Complete { total: u64 },
    Incomplete(String),
}

/// Works the queue, proves, and goes back to work where the proof found changes.
async fn drive(
    h: &Arc<Harvest>,
    concurrency: usize,
    shutdown: &CancellationToken,
) -> Result<Proof> {
    for round in 0..PROOF_ROUNDS {
        let queue = h.writer.call(|s| s.unfinished()).await?;
        // A partition sent back to counting keeps its last count: a hint that it likely
        // fits one query, so that its count comes with a full first page.
        let queue = queue
            .into_iter()
            .map(|p| {
                let hint = (p.state == PartitionState::New)
                    .then_some(p.count)
                    .flatten();
                (p, hint, None)
            })
            .collect();
        work(h, queue, concurrency, shutdown).await?;
        let root = h
            .writer
            .call(|s| s.root().map(|r| r.expect("begin_run made a root")))
            .await?;
        let (leaf_sum, not_done) = {
            let id = root.id;
            h.writer.call(move |s| s.leaf_totals(id)).await?
        };
        if not_done > 0 {
            return Ok(Proof::Incomplete(format!(
                "{not_done} partition(s) failed (see `oac-mirror status`)"
            )));
        }
        let upstream = h.count(&root.window).await?;
        if upstream == leaf_sum {
            let local = {
                let w = root.window.clone();
                h.writer.call(move |s| s.local_count(&w)).await?
            };
            if local == upstream {
                info!(
                    records = upstream,
                    "every partition verified; the whole window agrees with upstream"
                );
                return Ok(Proof::Complete { total: upstream });
            }
            // The leaf counts agree, the records stored do not: records moved from one
            // partition to another that was fetched again, while the one they left also
            // changed (an addition there hides the loss). Compare what is stored instead.
            warn!(
                upstream,
                stored = local,
                "the records stored disagree with upstream's count though the partitions' counts agree; looking for the partitions that changed"
            );
            let gaps = refetch_moved(h, root, upstream, survey::Measure::Stored).await?;
            if !gaps.is_empty() {
                return Ok(Proof::Incomplete(gaps.join("; ")));
            }
            continue;
        }
        if round == 0 {
            // A refresh starts here: upstream changed since the mirror was proven.
            info!(
                upstream,
                mirrored = leaf_sum,
                "upstream's count of the window differs from the mirror's; looking for the partitions that changed"
            );
        } else {
            warn!(
                upstream,
                mirrored = leaf_sum,
                round,
                "upstream's count of the window moved while harvesting; looking for the partitions that changed"
            );
        }
        let gaps = refetch_moved(h, root, upstream, survey::Measure::Verified).await?;
        if !gaps.is_empty() {
            return Ok(Proof::Incomplete(gaps.join("; ")));
        }
    }
    Ok(Proof::Incomplete(format!(
        "upstream kept changing through {PROOF_ROUNDS} rounds of counting"
    )))
}

/// Compares upstream's `/fields` with the fields `dataset` stores: a new one is logged (and
/// kept with its records), a missing one stops the data set's run.
async fn check_fields(fetch: &Fetcher, dataset: &crate::dataset::Dataset) -> Result<()> {
    let fields = fetch.fields().await?;
    let missing = dataset.missing_fields(&fields);
    if !missing.is_empty() {
        let url = fetch.client().records_url().replace("/records", "/fields");
        return Err(Error::SchemaDrift { url, missing });
    }
    for f in fields
        .iter()
        .filter(|f| !dataset.known_fields().any(|k| k == f.as_str()))
    {
        warn!(dataset = dataset.name, field = %f, "upstream lists a field this version does not know; its values are kept in the records' extra column");
    }
    Ok(())
}

/// Processes partitions, `concurrency` at a time, until none is left.
async fn work(
    h: &Arc<Harvest>,
    queue: Vec<Work>,
    concurrency: usize,
    shutdown: &CancellationToken,
) -> Result<()> {
    let mut queue: VecDeque<Work> = queue.into();
    let mut tasks = JoinSet::new();
    let mut progress = tokio::time::interval(if h.observer.is_some() {
        OBSERVE_EVERY
    } else {
        PROGRESS_EVERY
    });
    progress.tick().await;
    let mut fatal = None;
    loop {
        while fatal.is_none() && !shutdown.is_cancelled() && tasks.len() < concurrency {
            let Some((p, hint, first)) = queue.pop_front() else {
                break;
            };
            let h = Arc::clone(h);
            tasks.spawn(async move { h.process(p, hint, first).await });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            done = tasks.join_next() => match done.expect("tasks is not empty") {
                Ok(Ok(more)) => {
                    // Parts that come with their first page are worked on next, so that
                    // pages do not pile up in the queue (memory stays flat).
                    let (now, later): (Vec<Work>, Vec<Work>) =
                        more.into_iter().partition(|w| w.2.is_some());
                    for w in now.into_iter().rev() {
                        queue.push_front(w);
                    }
                    queue.extend(later);
                }
                Ok(Err(e)) => {
                    if fatal.is_none() {
                        shutdown_others(&e, shutdown);
                        fatal = Some(e);
                    }
                }
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            },
            _ = progress.tick() => {
                let stats = h.fetch.stats();
                let records = h.written.load(Ordering::Relaxed);
                let queued = (queue.len() + tasks.len()) as u64;
                if let Some(observe) = &h.observer {
                    observe(Progress {
                        records,
                        requests: stats.requests,
                        retries: stats.retries,
                        rate_limited: stats.rate_limited,
                        queued,
                    });
                    continue;
                }
                info!(
                    records,
                    requests = stats.requests,
                    retries = stats.retries,
                    queued,
                    "progress"
                );
            }
        }
    }
    match fatal {
        Some(e) => Err(e),
        None if shutdown.is_cancelled() => Err(Error::Interrupted),
        None => Ok(()),
    }
}

/// A fatal error in one task stops the others from sending more requests.
fn shutdown_others(e: &Error, shutdown: &CancellationToken) {
    if !matches!(e, Error::Interrupted) {
        shutdown.cancel();
    }
}

/// Walks down from the root, whose upstream count is now `upstream`, to the partitions whose
/// counts moved (see [`survey::descend`]), and sends them back to work: paged again from the
/// start when they still fit one query, counted and split again otherwise. Where a split
/// node's parts do not add up to it upstream, records lie outside the tiling: that is
/// returned, to be reported.
async fn refetch_moved(
    h: &Harvest,
    root: Partition,
    upstream: u64,
    measure: survey::Measure,
) -> Result<Vec<String>> {
    let found = survey::descend(&h.fetch, &h.writer, root, upstream, measure, false).await?;
    for m in found.moved {
        let (id, upstream) = (m.partition.id, m.upstream);
        let reason = format!("upstream count moved from {} to {upstream}", m.local);
        info!(partition = %m.partition.window, %reason, "fetching again");
        if upstream <= h.cap() {
            h.writer
                .call(move |s| s.start_leaf(id, upstream, None))
                .await?;
        } else {
            h.writer.call(move |s| s.recount(id, &reason)).await?;
        }
    }
    let mut gaps = vec![];
    for gap in found.gaps {
        let (id, text) = (gap.partition.id, gap.describe());
        h.writer
            .call({
                let text = text.clone();
                move |s| s.note_error(id, &text)
            })
            .await?;
        gaps.push(text);
    }
    Ok(gaps)
}

impl Harvest {
    fn cap(&self) -> u64 {
        self.cap.load(Ordering::Relaxed)
    }

    /// Records a page asks for now, before the cap.
    fn rows(&self) -> u64 {
        self.pages.rows(u64::MAX)
    }

    /// Lowers the page size for the rest of the run (never below `min_rows`); returns it.
    fn lower_rows(&self, rows: u64) -> u64 {
        self.pages.lower(rows.max(self.min_rows));
        self.rows()
    }

    /// One count of `window` upstream.
    async fn count(&self, window: &Window) -> Result<u64> {
        survey::count(&self.fetch, window).await
    }

    /// Does the work one partition needs; returns new partitions to work on.
    async fn process(
        &self,
        p: Partition,
        hint: Option<u64>,
        first: Option<First>,
    ) -> Result<Vec<Work>> {
        let id = p.id;
        let label = p.window.clone();
        match self.process_inner(p, hint, first).await {
            Err(e) if !e.is_fatal() => {
                let text = e.report();
                warn!(partition = %label, error = %text, "partition failed; it is retried on the next run");
                self.writer.call(move |s| s.fail(id, &text)).await?;
                Ok(vec![])
            }
            other => other,
        }
    }

    async fn process_inner(
        &self,
        p: Partition,
        hint: Option<u64>,
        first: Option<First>,
    ) -> Result<Vec<Work>> {
        match p.state {
            PartitionState::New => self.count_and_plan(p, hint, first).await,
            PartitionState::Pending => self.page_leaf(p, None).await,
            _ => Ok(vec![]),
        }
    }

    /// Counts a new partition, with a full first page when it is likely a leaf. Splits it
    /// when it holds more than one query may page through; otherwise pages it.
    async fn count_and_plan(
        &self,
        p: Partition,
        hint: Option<u64>,
        first: Option<First>,
    ) -> Result<Vec<Work>> {
        let cap = self.cap();
        let (page, asked) = match first {
            Some(first) => first,
            None => self.first_page(&p.window, hint).await?,
        };
        let count = page.num_found;
        if count > cap {
            let Some(parts) = p.window.split() else {
                return Err(Error::CannotSplit { count, cap });
            };
            let (count, firsts) = self.count_parts(&p.window, count, &parts).await?;
            debug!(partition = %p.window, count, parts = parts.len(), "splitting");
            let parts: Vec<_> = parts
                .into_iter()
                .map(|w| {
                    let c = query::criteria(&w);
                    (w, c)
                })
                .collect();
            let id = p.id;
            let children = self
                .writer
                .call(move |s| s.split(id, count, &parts))
                .await?;
            return Ok(children
                .into_iter()
                .zip(firsts)
                .map(|(c, (n, first))| (c, Some(n), first))
                .collect());
        }
        let id = p.id;
        let leaf = self
            .writer
            .call(move |s| s.start_leaf(id, count, None))
            .await?;
        self.page_leaf(leaf, Some((page, asked))).await
    }

    /// The page at offset 0 of `window`: a full one when `hint` says it likely fits one query,
    /// else one record (just the count).
    async fn first_page(&self, window: &Window, hint: Option<u64>) -> Result<First> {
        let criteria = query::criteria(window);
        let cap = self.cap();
        let rows = if hint.is_some_and(|n| n <= cap) {
            self.rows().min(cap)
        } else {
            1
        };
        match self.fetch.records(window, &criteria, 0, rows).await {
            Err(e) if (e.is_too_large() || e.is_bad_request()) && rows > 1 => {
                if e.is_bad_request() {
                    let rows = self.lower_rows(rows / 2);
                    warn!(partition = %window, rows, "upstream refused the page size; asking for fewer rows");
                }
                Ok((self.fetch.records(window, &criteria, 0, 1).await?, 1))
            }
            other => Ok((other?, rows)),
        }
    }

    /// Counts the parts of a split of `window`, whose upstream count is `count`, and checks
    /// that they add up to it: when they do not, the parent and its parts are counted once
    /// more, and if they still disagree upstream's counts cannot be trusted and the partition
    /// fails. Returns the parent's count and each part's count with its first page.
    async fn count_parts(
        &self,
        window: &Window,
        count: u64,
        parts: &[Window],
    ) -> Result<(u64, Vec<(u64, Option<First>)>)> {
        let hint = count / parts.len() as u64;
        let mut firsts = Vec::with_capacity(parts.len());
        for w in parts {
            let first = self.first_page(w, Some(hint)).await?;
            firsts.push((first.0.num_found, Some(first)));
        }
        let sum: u64 = firsts.iter().map(|(n, _)| n).sum();
        if sum == count {
            return Ok((count, firsts));
        }
        warn!(partition = %window, count, parts = sum, "the parts of a split do not add up; counting them again");
        let again = self.count(window).await?;
        let mut counts = Vec::with_capacity(parts.len());
        for w in parts {
            counts.push(self.count(w).await?);
        }
        let sum_again: u64 = counts.iter().sum();
        if sum_again == again {
            return Ok((again, counts.into_iter().map(|n| (n, None)).collect()));
        }
        let each: Vec<String> = counts.iter().map(u64::to_string).collect();
        Err(Error::Unverified(format!(
            "upstream's counts do not add up: it claims {again} records in {window} (before: {count}) but {sum_again} in its {} parts ({}), counted twice; its counts cannot be trusted here",
            parts.len(),
            each.join(" + ")
        )))
    }

    /// Pages a leaf from its checkpoint and verifies it, fetching it again while the ids it
    /// stored disagree with its count, up to `leaf_attempts` times. Returns the partition to
    /// count again when upstream's count outgrew `paging_cap` meanwhile.
    ///
    /// Pages are checked: a short page (fewer records than asked before the count is reached)
    /// lowers the page size to what was served, but not below `min_rows`; a shorter one, an
    /// empty one or the same page again has the leaf counted once more, and fails it when the
    /// count did not move (or when it happens again). Records outside the leaf's window are
    /// quarantined, never stored, and keep the leaf from being verified.
    async fn page_leaf(&self, leaf: Partition, first: Option<First>) -> Result<Vec<Work>> {
        // The page the writer is storing while the next one is fetched.
        let mut stored = None;
        let result = self.page_leaf_storing(leaf, first, &mut stored).await;
        // Paging stopped on an error with a page still being stored: that page's own error
        // (the store's, which stops the harvest) must not be lost behind the one that stopped
        // paging (a failed request, which only fails the leaf).
        if result.is_err()
            && let Some(pending) = stored
        {
            pending.wait().await?;
        }
        result
    }

    /// [`Harvest::page_leaf`], with the page being stored in `stored`.
    async fn page_leaf_storing(
        &self,
        mut leaf: Partition,
        mut first: Option<First>,
        stored: &mut Option<Pending<u64>>,
    ) -> Result<Vec<Work>> {
        let criteria = query::criteria(&leaf.window);
        let mut rows = self.rows();
        let mut recounted = false;
        // The ids of the last page stored, to see the same page served again.
        let mut last_ids: Option<Vec<String>> = None;
        let mut outside = 0u64;
        loop {
            let count = leaf.count.expect("a leaf has a count");
            while leaf.next_offset < count {
                let start = leaf.next_offset;
                let cap = self.cap();
                if count > cap {
                    self.settle(stored, &mut outside).await?;
                    // Upstream's cap turned out lower than this leaf: split it instead.
                    let (id, reason) = (
                        leaf.id,
                        format!("{count} records are more than upstream pages through ({cap})"),
                    );
                    self.writer.call(move |s| s.recount(id, &reason)).await?;
                    return Ok(vec![(
                        self.writer.call(move |s| s.partition(id)).await?,
                        None,
                        None,
                    )]);
                }
                let (page, ask) = match first.take() {
                    Some(first) => first,
                    None => {
                        let ask = rows.min(cap - start).max(1);
                        match self
                            .fetch
                            .records(&leaf.window, &criteria, start, ask)
                            .await
                        {
                            Err(e) if e.is_too_large() && ask > 1 => {
                                rows = (ask / 2).max(1);
                                warn!(partition = %leaf.window, rows, "response too large; asking for fewer rows");
                                continue;
                            }
                            Err(e)
                                if e.is_bad_request()
                                    && ask > self.min_rows
                                    && (start == 0
                                        || ask > self.served_max.load(Ordering::Relaxed)) =>
                            {
                                // Never served a page this large: the page size is refused.
                                rows = self.lower_rows(ask / 2);
                                warn!(partition = %leaf.window, rows, error = %e.report(),
                                    "upstream refused the page size; asking for fewer rows");
                                continue;
                            }
                            Err(e) if e.is_bad_request() && start >= self.min_rows => {
                                // The same criteria answered at offset 0, so the offset is what
                                // upstream refused: every start + rows up to `start` was served.
                                self.cap.fetch_min(start, Ordering::Relaxed);
                                warn!(partition = %leaf.window, start, rows = ask, error = %e.report(),
                                    "upstream refused to page this far; lowering paging_cap to {start} and splitting");
                                continue;
                            }
                            other => (other?, ask),
                        }
                    }
                };
                // Whatever is decided next, the page before this one is stored first.
                self.settle(stored, &mut outside).await?;
                if page.num_found != count {
                    let reason = format!(
                        "upstream count moved from {count} to {} while paging",
                        page.num_found
                    );
                    match self.again(&leaf, page.num_found, reason).await? {
                        Some(restarted) => {
                            leaf = restarted;
                            (outside, last_ids) = (0, None);
                            continue;
                        }
                        None => {
                            let id = leaf.id;
                            return Ok(vec![(
                                self.writer.call(move |s| s.partition(id)).await?,
                                None,
                                None,
                            )]);
                        }
                    }
                }
                let served = page.docs.len() as u64;
                self.served_max.fetch_max(served, Ordering::Relaxed);
                let wanted = ask.min(count - start);
                let ids: Option<Vec<String>> = page.docs.iter().map(|d| record::id_of(d)).collect();
                let problem = if served == 0 {
                    Some(format!(
                        "upstream claims {count} records but sent an empty page at offset {start}"
                    ))
                } else if ids.is_some() && ids == last_ids {
                    Some(format!(
                        "upstream claims {count} records but sent the same {served} again at offset {start}"
                    ))
                } else if served < wanted && served < self.min_rows {
                    Some(format!(
                        "upstream claims {count} records but sent {served} of the {ask} asked for at offset {start} (fewer than {} a page)",
                        self.min_rows
                    ))
                } else {
                    None
                };
                if let Some(problem) = problem {
                    match self
                        .check_count(&leaf, count, problem, &mut recounted)
                        .await?
                    {
                        Some(restarted) => {
                            leaf = restarted;
                            (outside, last_ids) = (0, None);
                            continue;
                        }
                        None => {
                            let id = leaf.id;
                            return Ok(vec![(
                                self.writer.call(move |s| s.partition(id)).await?,
                                None,
                                None,
                            )]);
                        }
                    }
                }
                if served < wanted {
                    // A consistent short page: upstream serves at most this many a page.
                    rows = self.lower_rows(served).min(rows);
                    warn!(partition = %leaf.window, rows, "upstream served fewer records than asked; asking for {rows} a page");
                }
                last_ids = ids;
                leaf = self.store_page(leaf, page, stored, &mut outside).await?;
            }
            self.settle(stored, &mut outside).await?;
            if outside > 0 {
                // Records upstream sent outside the window prove nothing about it: the leaf is
                // not verified (and nothing in it marked deleted) on their account.
                let reason = format!(
                    "upstream sent {outside} record(s) outside the window asked for ({}); they are quarantined in rejected_records, not stored",
                    leaf.window
                );
                leaf = match self.again(&leaf, count, reason).await? {
                    Some(restarted) => restarted,
                    None => {
                        let id = leaf.id;
                        return Ok(vec![(
                            self.writer.call(move |s| s.partition(id)).await?,
                            None,
                            None,
                        )]);
                    }
                };
                (outside, last_ids) = (0, None);
                continue;
            }
            let check = {
                let leaf = leaf.clone();
                self.writer.call(move |s| s.finish_leaf(&leaf)).await?
            };
            match check {
                LeafCheck::Verified => {
                    debug!(partition = %leaf.window, count, "leaf verified");
                    return Ok(vec![]);
                }
                LeafCheck::Mismatch { local, expected } => {
                    let reason = format!(
                        "upstream counts {expected} records but {local} distinct ones were stored"
                    );
                    leaf = self
                        .again(&leaf, expected, reason)
                        .await?
                        .expect("the count still fits");
                    last_ids = None;
                }
            }
        }
    }

    /// A page that does not fit the leaf's count (`problem`): the leaf is counted once more.
    /// When the count moved, the leaf is fetched again against it (see [`Harvest::again`]);
    /// when it did not, or the leaf was counted again already, it fails.
    async fn check_count(
        &self,
        leaf: &Partition,
        count: u64,
        problem: String,
        recounted: &mut bool,
    ) -> Result<Option<Partition>> {
        if *recounted {
            return Err(Error::Unverified(format!(
                "{problem}, again after counting once more"
            )));
        }
        *recounted = true;
        let now = self.count(&leaf.window).await?;
        if now == count {
            return Err(Error::Unverified(format!(
                "{problem}; counted again, it still claims {count}"
            )));
        }
        self.again(leaf, now, format!("{problem}; counted again: {now}"))
            .await
    }

    /// The leaf must be fetched again (`reason` says why), now against `count`: from the start
    /// in a new sweep (returned), or, when `count` no longer fits one query, by counting it
    /// again (`None`). Fails the leaf once it has used its attempts for this run.
    async fn again(
        &self,
        leaf: &Partition,
        count: u64,
        reason: String,
    ) -> Result<Option<Partition>> {
        if leaf.attempts + 1 >= self.leaf_attempts {
            return Err(Error::Unverified(format!(
                "{reason}, after {} fetches",
                leaf.attempts + 1
            )));
        }
        warn!(partition = %leaf.window, %reason, "fetching the partition again");
        let id = leaf.id;
        if count > self.cap() {
            self.writer.call(move |s| s.recount(id, &reason)).await?;
            return Ok(None);
        }
        Ok(Some(
            self.writer
                .call(move |s| s.start_leaf(id, count, Some(&reason)))
                .await?,
        ))
    }

    /// Queues a page's records to be checked and stored with the leaf's next offset, and
    /// returns the leaf at that offset. The writer does the work while the next page is
    /// fetched; `stored` holds the page in progress, settled (see [`Harvest::settle`]) before
    /// the next one is queued and before anything else is decided about the leaf.
    async fn store_page(
        &self,
        mut leaf: Partition,
        page: Page,
        stored: &mut Option<Pending<u64>>,
        outside: &mut u64,
    ) -> Result<Partition> {
        self.settle(stored, outside).await?;
        let served = page.docs.len() as u64;
        self.pages.observe(page.bytes, page.docs.len());
        let next = leaf.next_offset + served;
        let (id, sweep) = (leaf.id, leaf.sweep.expect("a leaf has a sweep"));
        let window = leaf.window.clone();
        let docs = page.docs;
        let dataset = self.dataset;
        let (written, rejected) = (Arc::clone(&self.written), Arc::clone(&self.rejected));
        *stored = Some(self.writer.send(move |s| {
            let (kept, quarantined, out) = if dataset.is_citations() {
                let (citations, quarantined, out) = check_page(&window, docs);
                s.put_page(id, sweep, next, &citations, &quarantined)?;
                (citations.len(), quarantined, out)
            } else {
                let (records, quarantined, out) = check_family_page(dataset, &window, docs);
                s.put_family_page(id, sweep, next, &records, &quarantined)?;
                (records.len(), quarantined, out)
            };
            written.fetch_add(kept as u64, Ordering::Relaxed);
            rejected.fetch_add(quarantined.len() as u64, Ordering::Relaxed);
            Ok(out)
        })?);
        leaf.next_offset = next;
        Ok(leaf)
    }

    /// Waits for the page in progress, adding the records it found outside the window to
    /// `outside`.
    async fn settle(&self, stored: &mut Option<Pending<u64>>, outside: &mut u64) -> Result<()> {
        if let Some(pending) = stored.take() {
            *outside += pending.wait().await?;
        }
        Ok(())
    }
}
