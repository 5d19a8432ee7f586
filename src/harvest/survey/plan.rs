//! `oac-mirror plan`: what a harvest with the same options would fetch, found by counting the
//! way the harvest does; nothing written.

use std::path::PathBuf;

use serde::Serialize;

use super::{Measure, count, descend};
use crate::config::Config;
use crate::error::Result;
use crate::harvest::MIN_ROWS;
use crate::harvest::fetch::Fetcher;
use crate::plan::Stamp;
use crate::store::writer::Writer;
use crate::store::{Partition, PartitionState, Store};
use crate::tree::{Limits, Observation, Transition, step};

/// The Open Data Portal's weekly allowance of calls per API key.
pub const WEEKLY_BUDGET: u64 = 5_000_000;
/// How many windows `plan` splits a new stretch into, at most, to show where the records are.
const PLAN_WINDOWS: usize = 24;

/// What `oac-mirror plan` found: what a harvest with the same options would fetch.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub db: PathBuf,
    pub source: String,
    pub window: String,
    /// What would be fetched, in window order.
    pub windows: Vec<Planned>,
    /// About how many requests the harvest would make.
    pub requests: u64,
    pub weekly_budget: u64,
    /// About how long at the configured rate, in hours.
    pub hours: f64,
    /// The requests this plan made to find out (all counts).
    pub plan_requests: u64,
}

#[derive(Debug, Serialize)]
pub struct Planned {
    /// `new` (never fetched), `unfinished` (a run stopped in it), `moved` (its upstream count
    /// changed), `recheck` (`--recheck-recent` / `--full-refresh`).
    pub why: &'static str,
    pub window: String,
    /// Upstream's count, where the plan asked for it.
    pub upstream: Option<u64>,
    /// The count the mirror holds for it.
    pub local: Option<u64>,
    /// About how many requests fetching it takes.
    pub requests: u64,
}

/// Works out what `harvest` with `config` would fetch into the database at `config.db`, by
/// counting upstream the way the harvest does, for each of its data sets (their requests
/// summed against the weekly budget); writes nothing (a missing database stays missing).
pub async fn plan(config: &Config, fetch: &mut Fetcher) -> Result<Plan> {
    let mut all: Option<Plan> = None;
    for d in &config.datasets {
        fetch.set_client(crate::harvest::client_for(config, d)?);
        let mut p = plan_dataset(config, d, fetch).await?;
        if config.datasets.len() > 1 {
            for w in &mut p.windows {
                w.window = format!("{}: {}", d.name, w.window);
            }
        }
        all = Some(match all {
            None => p,
            Some(mut a) => {
                a.source = format!("{}, {}", a.source, p.source);
                a.windows.extend(p.windows);
                a.requests += p.requests;
                a.hours += p.hours;
                a.plan_requests = p.plan_requests;
                a
            }
        });
    }
    Ok(all.expect("at least one data set"))
}

async fn plan_dataset(
    config: &Config,
    dataset: &'static crate::dataset::Dataset,
    fetch: &Fetcher,
) -> Result<Plan> {
    let window = config.window();
    let cost = Cost {
        rows: crate::harvest::pages::PageSize::new(config.rows).rows(config.paging_cap.get()),
        cap: config.paging_cap.get(),
    };
    let mut windows = vec![];
    // Requests beyond the windows' own: counts on the way down to them.
    let mut descent = 0;
    let (root, mut new) = if config.db.exists() {
        let mut store = Store::open_read_only(&config.db)?;
        store.set_dataset(dataset);
        let (root, growth) = store.check_mirror(&config.prefix(dataset), &window)?;
        let tree = Writer::spawn(store, 4);
        if let Some(root) = &root {
            descent = plan_mirrored(config, fetch, &tree, root.clone(), cost, &mut windows).await?;
        }
        drop(tree.close());
        (root, growth)
    } else {
        (None, vec![])
    };
    if root.is_none() {
        new.push(window.clone());
    }
    // Show where the new records are: split the largest new stretches the way the harvest
    // would, a few levels deep.
    let mut counted = vec![];
    for w in new {
        let n = count(fetch, &w).await?;
        counted.push((w, n));
    }
    while counted.len() < PLAN_WINDOWS {
        let Some(i) = counted
            .iter()
            .enumerate()
            .filter(|(_, (w, n))| *n > cost.cap && w.seconds() > 1)
            .max_by_key(|(_, (_, n))| *n)
            .map(|(i, _)| i)
        else {
            break;
        };
        let (w, _) = counted.remove(i);
        for part in w.split().expect("a window of more than one second splits") {
            let n = count(fetch, &part).await?;
            counted.push((part, n));
        }
    }
    for (w, n) in counted {
        windows.push(Planned {
            why: "new",
            window: w.to_string(),
            upstream: Some(n),
            local: None,
            requests: cost.fresh(n),
        });
    }
    windows.sort_by(|a, b| a.window.cmp(&b.window));
    // Every harvest also reads /fields and proves the whole window with one count.
    let requests = 2 + windows.iter().map(|w| w.requests).sum::<u64>() + descent;
    Ok(Plan {
        db: config.db.clone(),
        source: config.prefix(dataset),
        window: window.to_string(),
        windows,
        requests,
        weekly_budget: WEEKLY_BUDGET,
        hours: requests as f64 / config.rate / 3600.0,
        plan_requests: fetch.stats().requests,
    })
}

/// The part of the plan for what is already mirrored: unfinished partitions, the ones
/// `--recheck-recent` or `--full-refresh` send back, and those whose counts moved. Returns
/// the requests the harvest spends finding the moved ones, beyond the windows' own.
async fn plan_mirrored(
    config: &Config,
    fetch: &Fetcher,
    tree: &Writer,
    root: Partition,
    cost: Cost,
    windows: &mut Vec<Planned>,
) -> Result<u64> {
    let mut refetched = vec![];
    for p in tree.call(|s| s.unfinished_or_failed()).await? {
        let (upstream, requests) = match (p.state, p.count) {
            (PartitionState::New, _) | (_, None) => {
                let n = count(fetch, &p.window).await?;
                (Some(n), cost.fresh(n))
            }
            (_, Some(n)) => (None, cost.pages(n.saturating_sub(p.next_offset))),
        };
        refetched.push(p.id);
        windows.push(Planned {
            why: "unfinished",
            window: p.window.to_string(),
            upstream,
            local: p.count,
            requests,
        });
    }
    if config.full_refresh || config.recheck_recent > 0 {
        let since = (!config.full_refresh).then(|| recheck_since(config));
        for p in tree.call(move |s| s.done_since(since)).await? {
            let n = p.count.unwrap_or(0);
            refetched.push(p.id);
            windows.push(Planned {
                why: "recheck",
                window: p.window.to_string(),
                upstream: None,
                local: p.count,
                requests: cost.pages(n),
            });
        }
    }
    let before = fetch.stats().requests;
    let upstream = count(fetch, &root.window).await?;
    let survey = descend(fetch, tree, root, upstream, Measure::Verified, false).await?;
    // The harvest makes the same counts on its way down (the first is its proof, counted
    // with every harvest), and proves the window once more after fetching.
    let descent = fetch.stats().requests - before - 1;
    for m in survey.moved {
        if refetched.contains(&m.partition.id) {
            continue;
        }
        windows.push(Planned {
            why: "moved",
            window: m.partition.window.to_string(),
            upstream: Some(m.upstream),
            local: Some(m.local),
            requests: cost.moved(&m.partition, m.local, m.upstream),
        });
    }
    Ok(if descent > 0 { descent + 1 } else { 0 })
}

/// The first second `--recheck-recent` fetches again: the last `recheck_recent` days of the
/// window.
pub fn recheck_since(config: &Config) -> Stamp {
    Stamp(config.window().hi.0 - i64::from(config.recheck_recent) * 86_400 + 1)
}

/// Estimates of what fetching costs, in requests.
#[derive(Clone, Copy)]
struct Cost {
    rows: u64,
    cap: u64,
}

impl Cost {
    /// Pages of `n` records (one request finds an empty window empty).
    fn pages(self, n: u64) -> u64 {
        n.div_ceil(self.rows).max(1)
    }

    /// A partition that moved from `local` to `upstream` records, fetched again as the
    /// harvest's proof does (see [`crate::tree::step`]): paged when it fits one query,
    /// otherwise counted and split like a new one.
    fn moved(self, p: &Partition, local: u64, upstream: u64) -> u64 {
        let limits = Limits {
            cap: self.cap,
            min_rows: MIN_ROWS,
            served_max: 0,
            leaf_attempts: u32::MAX,
        };
        let moved = Observation::Compared { local, upstream };
        match p.node().map(|node| step(&node, &p.window, &moved, &limits)) {
            Some(Transition::Page { count, .. }) => self.pages(count),
            _ => self.fresh(upstream),
        }
    }

    /// A new partition of `n` records: one count, then pages when it fits one query;
    /// otherwise split by halving into leaves of between half the cap and the cap (about
    /// three quarters on average), each split costing a count and each leaf its pages.
    fn fresh(self, n: u64) -> u64 {
        if n <= self.cap {
            return 1 + n.div_ceil(self.rows);
        }
        let leaves = (n * 4).div_ceil(self.cap * 3);
        n.div_ceil(self.rows) + 2 * leaves
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "plan for {} from {} into {}",
            self.window,
            self.source,
            self.db.display()
        )?;
        if self.windows.is_empty() {
            writeln!(
                f,
                "nothing to fetch: the mirror agrees with upstream's counts"
            )?;
        } else {
            writeln!(
                f,
                "  {:<10} {:<48} {:>10} {:>10} {:>9}",
                "why", "window", "upstream", "local", "requests"
            )?;
            let n = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
            for w in &self.windows {
                writeln!(
                    f,
                    "  {:<10} {:<48} {:>10} {:>10} {:>9}",
                    w.why,
                    w.window,
                    n(w.upstream),
                    n(w.local),
                    w.requests
                )?;
            }
        }
        let share = self.requests as f64 * 100.0 / self.weekly_budget as f64;
        let share = if share < 0.01 {
            "under 0.01%".to_owned()
        } else {
            format!("{share:.2}%")
        };
        writeln!(
            f,
            "about {} requests ({share} of the weekly budget of {} calls), about {:.1} hours at the configured rate",
            self.requests, self.weekly_budget, self.hours
        )?;
        writeln!(
            f,
            "this plan made {} requests to count; it wrote nothing",
            self.plan_requests
        )
    }
}
