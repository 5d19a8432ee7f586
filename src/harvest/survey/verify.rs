//! `oac-mirror verify`: every partition's count, local and upstream, compared; nothing written.

use std::path::PathBuf;

use serde::Serialize;

use super::{Measure, count, descend};
use crate::api::query;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::harvest::fetch::Fetcher;
use crate::store::writer::Writer;
use crate::store::{PartitionState, Store};

/// What `oac-mirror verify` found.
#[derive(Debug, Serialize)]
pub struct Verification {
    pub db: PathBuf,
    pub window: String,
    /// Partitions whose counts were compared.
    pub compared: u64,
    pub upstream_total: u64,
    pub local_total: u64,
    /// The partitions whose local and upstream counts differ.
    pub differences: Vec<Difference>,
    pub requests: u64,
}

#[derive(Debug, Serialize)]
pub struct Difference {
    pub window: String,
    pub criteria: String,
    pub state: &'static str,
    pub local: u64,
    pub upstream: u64,
    /// Set when the partition's parts do not add up to it upstream.
    pub problem: Option<String>,
}

impl Verification {
    pub fn agrees(&self) -> bool {
        self.differences.is_empty() && self.local_total == self.upstream_total
    }
}

/// Compares local and upstream counts for every partition of the mirror in `store` (with
/// `quick`, only down the paths where they differ), for each data set of `config`, through
/// `fetch` (pointed at each one in turn). Writes nothing.
pub async fn verify(
    config: &Config,
    fetch: &mut Fetcher,
    store: Store,
    quick: bool,
) -> Result<Verification> {
    let db = store.path().to_owned();
    let mut store = Some(store);
    let mut all: Option<Verification> = None;
    for d in &config.datasets {
        fetch.set_client(crate::harvest::client_for(config, d)?);
        let mut s = match store.take() {
            Some(s) => s,
            None => Store::open_read_only(&db)?,
        };
        s.set_dataset(d);
        let mut v = verify_dataset(config, d, fetch, s, quick).await?;
        if config.datasets.len() > 1 {
            v.window = format!("{}: {}", d.name, v.window);
            for diff in &mut v.differences {
                diff.window = format!("{}: {}", d.name, diff.window);
            }
        }
        all = Some(match all {
            None => v,
            Some(mut a) => {
                a.window = format!("{}; {}", a.window, v.window);
                a.compared += v.compared;
                a.upstream_total += v.upstream_total;
                a.local_total += v.local_total;
                a.differences.extend(v.differences);
                a.requests = v.requests;
                a
            }
        });
    }
    Ok(all.expect("at least one data set"))
}

async fn verify_dataset(
    config: &Config,
    dataset: &crate::dataset::Dataset,
    fetch: &Fetcher,
    store: Store,
    quick: bool,
) -> Result<Verification> {
    let db = store.path().to_owned();
    let tree = Writer::spawn(store, 4);
    let source = config.prefix(dataset);
    let root = tree
        .call(move |s| {
            s.check_source(&source)?;
            s.root()
        })
        .await?;
    let Some(root) = root else {
        return Err(Error::NoMirror { path: db });
    };
    let upstream = count(fetch, &root.window).await?;
    let local_total = {
        let w = root.window.clone();
        tree.call(move |s| s.local_count(&w)).await?
    };
    let window = root.window.to_string();
    let survey = descend(fetch, &tree, root, upstream, Measure::Stored, !quick).await?;
    drop(tree.close());
    let mut differences: Vec<Difference> = survey
        .moved
        .into_iter()
        .map(|m| Difference {
            window: m.partition.window.to_string(),
            criteria: query::criteria(&m.partition.window),
            state: m.partition.state.as_str(),
            local: m.local,
            upstream: m.upstream,
            problem: None,
        })
        .collect();
    differences.extend(survey.gaps.iter().map(|g| Difference {
        window: g.partition.window.to_string(),
        criteria: query::criteria(&g.partition.window),
        state: g.partition.state.as_str(),
        local: g.parts,
        upstream: g.upstream,
        problem: Some(g.describe()),
    }));
    Ok(Verification {
        db,
        window,
        compared: survey.compared,
        upstream_total: upstream,
        local_total,
        differences,
        requests: fetch.stats().requests,
    })
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "verified {} in {}: {} partitions compared with upstream ({} requests)",
            self.window,
            self.db.display(),
            self.compared,
            self.requests
        )?;
        for d in &self.differences {
            write!(
                f,
                "  differs  {} ({}): local {}, upstream {}",
                d.window, d.state, d.local, d.upstream
            )?;
            match &d.problem {
                Some(p) => writeln!(f, "; {p}")?,
                None => writeln!(f)?,
            }
        }
        writeln!(
            f,
            "whole window: local {}, upstream {}",
            self.local_total, self.upstream_total
        )?;
        let unfinished = self
            .differences
            .iter()
            .filter(|d| {
                ![PartitionState::Done, PartitionState::Split]
                    .iter()
                    .any(|s| s.as_str() == d.state)
            })
            .count();
        if self.agrees() {
            writeln!(f, "every count agrees")
        } else if unfinished > 0 {
            writeln!(
                f,
                "{} partition(s) differ, {unfinished} of them not finished by a harvest yet: rerunning `oac-mirror harvest` continues them",
                self.differences.len()
            )
        } else {
            writeln!(
                f,
                "{} partition(s) differ. `oac-mirror harvest` fetches again what changed the counts of larger windows; differences that cancel out within a larger window (a record moved from one partition to another) need `oac-mirror harvest --full-refresh`, or `--recheck-recent DAYS` when they are recent",
                self.differences.len()
            )
        }
    }
}
