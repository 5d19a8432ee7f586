//! The harvest: counts windows, splits the ones too large to page through, pages through the
//! leaves and proves the copy complete by counting.
//!
//! Work is a queue of partitions ([`queue`]). Each is driven by the pure steps of
//! [`crate::tree`]: the driver here only fetches what a node needs, steps it, and has the
//! store apply the transition. A new partition is counted ([`count`]): above `paging_cap` it
//! splits (its parts join the queue), otherwise it becomes a leaf and is paged from its
//! checkpoint ([`leaf`]). A leaf is done only when the distinct ids its sweep stored (plus its
//! quarantined records) equal its upstream count; otherwise it is fetched again, up to
//! `leaf_attempts` times. When the queue is empty, one count of the whole window must equal the
//! sum of the leaf counts ([`proof`]); where it does not, the tree is walked down from the root,
//! counting, to find the partitions that changed, and those are fetched again.
//!
//! Upstream is checked, not trusted: a split's parts are counted with it and must add up to
//! it; a page must hold what was asked for (or, consistently, at least [`MIN_ROWS`]), must not
//! be empty or repeat the last one before the count is reached, and may hold only records of
//! the window asked for. What fails a check is counted once more, then the partition fails.
//!
//! Requests go through [`fetch::Fetcher`]; SQL runs on the writer thread ([`Writer`]). This
//! module does neither itself.

mod checks;
mod count;
pub mod fetch;
mod leaf;
mod outcome;
pub mod pages;
mod proof;
mod queue;
pub mod survey;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{Page, query};
use crate::config::Config;
use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::store::writer::Writer;
use crate::store::{Partition, RunStats, Store};
use crate::tree::{Limits, Transition};
use fetch::Fetcher;
pub use outcome::Outcome;
use outcome::{INTERRUPTED, end, family_outcome};
use pages::PageSize;

/// The smallest page asked for when upstream serves short pages or refuses a page size (the
/// service's own default `rows`); a service that serves fewer is not believed.
pub const MIN_ROWS: u64 = 100;

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
/// split likely to be leaves are counted with a full first page, saving a request), and what
/// the split already knows of it.
type Work = (Partition, Option<u64>, Option<Known>);

/// What a split already knows of a part it queues.
enum Known {
    /// Its first page, which holds its count.
    Page(First),
    /// Its count, inferred from the parent's and the other parts': it was not counted (see
    /// [`crate::tree::inferred_last`]).
    Inferred(u64),
}

/// A page at offset 0 already fetched, with the rows it asked for.
type First = (Page, u64);

/// One data set's harvest: what every partition's driver shares.
struct Harvest {
    fetch: Fetcher,
    writer: Writer,
    /// The data set harvested: its records are read and written by its description.
    dataset: &'static Dataset,
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
        let h = Harvest::new(config, d, fetcher, writer, observer);
        let (h, result) = run_dataset(config, h, shutdown.clone(), before).await;
        (fetcher, observer) = (h.fetch, h.observer);
        store = h.writer.close();
        match result {
            Err(e @ Error::SchemaDrift { .. }) if config.datasets.len() > 1 => {
                warn!(dataset = d.name, error = %e.report(), "this data set cannot be harvested; the others go on");
                let message = format!("stopped: {}", e.report());
                let stats = RunStats::default();
                let complete = false;
                outcomes.push((
                    d.name,
                    Outcome {
                        complete,
                        message,
                        stats,
                    },
                ));
            }
            other => outcomes.push((d.name, other?)),
        }
    }
    Ok(family_outcome(config, &fetcher, outcomes))
}

/// The client for data set `d`'s prefix, configured as `config` says.
pub(crate) fn client_for(config: &Config, d: &Dataset) -> Result<crate::api::Client> {
    Ok(
        crate::api::Client::new(&config.prefix(d), &config.api_key, config.timeouts)?
            .with_max_response_bytes(config.max_response_bytes),
    )
}

/// Harvests the store's current data set (see [`run_observed`]); `before` is the fetcher's
/// count before it, so that its run records its own requests. Hands the harvest back.
async fn run_dataset(
    config: &Config,
    h: Harvest,
    shutdown: CancellationToken,
    before: RunStats,
) -> (Harvest, Result<Outcome>) {
    // The source is recorded (by `begin_run`) only once it answered: a first run against a
    // mistyped --base-url binds the database to nothing.
    let run_id = match check_fields(&h.fetch, h.dataset).await {
        Err(Error::Interrupted) => {
            let stats = since(&h.fetch, &before);
            let message = INTERRUPTED.into();
            let complete = false;
            return (
                h,
                Ok(Outcome {
                    complete,
                    message,
                    stats,
                }),
            );
        }
        Err(e) => return (h, Err(e)),
        Ok(()) => match begin(config, &h).await {
            Ok(id) => id,
            Err(e) => return (h, Err(e)),
        },
    };
    info!(dataset = h.dataset.name, "harvesting");
    let h = Arc::new(h);
    let result = proof::drive(&h, config.concurrency.get() as usize, &shutdown).await;
    let h = Arc::into_inner(h).expect("no task outlives the harvest");
    let mut stats = since(&h.fetch, &before);
    stats.records_written = h.written.load(Ordering::Relaxed);
    stats.records_rejected = h.rejected.load(Ordering::Relaxed);
    let ended = end(config, &h, run_id, result, stats).await;
    (h, ended)
}

/// Starts the data set's run in the store (see [`Store::begin_run`]), and sends back what
/// `--recheck-recent` or `--full-refresh` asks to fetch again. Returns the run's id.
async fn begin(config: &Config, h: &Harvest) -> Result<i64> {
    let (dataset, window, source) = (h.dataset, config.window(), config.prefix(h.dataset));
    let run_id = h
        .writer
        .call(move |s| s.begin_run(&source, &window, &query::criteria))
        .await?;
    if dataset.is_citations() && h.writer.call(|s| s.defer_query_indexes()).await? {
        info!("first harvest of this mirror: its query indexes are built once it is complete");
    }
    if config.full_refresh || config.recheck_recent > 0 {
        let since = (!config.full_refresh).then(|| survey::recheck_since(config));
        let n = h.writer.call(move |s| s.refetch_done(since)).await?;
        info!(
            dataset = dataset.name,
            partitions = n,
            "fetching again whatever their counts say"
        );
    }
    Ok(run_id)
}

/// Compares upstream's `/fields` with the fields `dataset` stores: a new one is logged (and
/// kept with its records), a missing one stops the data set's run.
async fn check_fields(fetch: &Fetcher, dataset: &Dataset) -> Result<()> {
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

impl Harvest {
    fn new(
        config: &Config,
        dataset: &'static Dataset,
        fetch: Fetcher,
        writer: Writer,
        observer: Option<Observer>,
    ) -> Harvest {
        Harvest {
            fetch,
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
        }
    }

    /// The limits the tree's decisions depend on, as they stand now.
    fn limits(&self) -> Limits {
        Limits {
            cap: self.cap.load(Ordering::Relaxed),
            min_rows: self.min_rows,
            served_max: self.served_max.load(Ordering::Relaxed),
            leaf_attempts: self.leaf_attempts,
        }
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
    async fn count(&self, window: &crate::plan::Window) -> Result<u64> {
        survey::count(&self.fetch, window).await
    }

    /// Has the store apply `t` to `p` (see [`Store::apply`]); returns what it made or changed.
    async fn apply(&self, p: &Partition, t: Transition) -> Result<Vec<Partition>> {
        let p = p.clone();
        self.writer.call(move |s| s.apply(&p, &t)).await
    }

    /// Applies `t` to `p`, which goes back to the queue as it now is (counted again).
    async fn requeue(&self, p: &Partition, t: Transition) -> Result<Vec<Work>> {
        let changed = self.apply(p, t).await?;
        Ok(changed.into_iter().map(|p| (p, None, None)).collect())
    }
}
