//! Looking before fetching: walks the partition tree from a node down, comparing upstream's
//! counts with the mirror's, and reports the partitions that differ. The harvest's proof uses
//! it to find what to fetch again after a refresh; `oac-mirror plan` to say what a harvest
//! would fetch, and `oac-mirror verify` to check a mirror, without writing anything.

mod plan;
mod verify;

pub use plan::{Plan, Planned, WEEKLY_BUDGET, plan, recheck_since};
pub use verify::{Difference, Verification, verify};

use super::fetch::Fetcher;
use crate::api::query;
use crate::error::Result;
use crate::plan::Window;
use crate::store::Partition;
use crate::store::writer::Writer;
use crate::tree::Node;

/// What the mirror's side of a comparison is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    /// The upstream counts its done leaves were verified against (no table scan): what the
    /// harvest compares, as every done leaf holds exactly its count.
    Verified,
    /// The records stored in the window, plus its leaves' quarantined records: what `verify`
    /// compares.
    Stored,
}

/// A partition whose upstream count differs from the mirror's.
#[derive(Clone, Debug)]
pub struct Moved {
    pub partition: Partition,
    pub local: u64,
    pub upstream: u64,
}

/// A split partition whose parts do not add up to it upstream: records lie outside the windows
/// this tool can ask for.
#[derive(Clone, Debug)]
pub struct Gap {
    pub partition: Partition,
    pub upstream: u64,
    pub parts: u64,
}

impl Gap {
    pub fn describe(&self) -> String {
        format!(
            "upstream counts {} records in {} but {} in its parts: some records fall outside the windows this tool can ask for",
            self.upstream, self.partition.window, self.parts
        )
    }
}

/// What a walk down the tree found.
#[derive(Debug, Default)]
pub struct Survey {
    /// Partitions that are not split and whose counts differ.
    pub moved: Vec<Moved>,
    pub gaps: Vec<Gap>,
    /// Partitions compared.
    pub compared: u64,
}

/// One count of `window` upstream.
pub async fn count(fetch: &Fetcher, window: &Window) -> Result<u64> {
    Ok(fetch
        .records(window, &query::criteria(window), 0, 1)
        .await?
        .num_found)
}

/// Walks down from `node`, whose upstream count is `upstream`, comparing each partition's
/// count upstream with `measure`. With `every`, every partition is compared; otherwise the walk
/// descends only where the counts differ, so an unchanged mirror costs no request at all here
/// and a change costs the counts along its path.
pub async fn descend(
    fetch: &Fetcher,
    tree: &Writer,
    node: Partition,
    upstream: u64,
    measure: Measure,
    every: bool,
) -> Result<Survey> {
    let mut survey = Survey::default();
    let mut stack = vec![(node, upstream)];
    while let Some((node, upstream)) = stack.pop() {
        survey.compared += 1;
        let local = {
            let node = node.clone();
            tree.call(move |s| match measure {
                Measure::Verified => s.leaf_totals(node.id).map(|t| t.0),
                Measure::Stored => s.local_count(&node.window),
            })
            .await?
        };
        if local == upstream && !every {
            continue;
        }
        if !matches!(node.node(), Some(Node::Split { .. } | Node::Join)) {
            if local != upstream {
                survey.moved.push(Moved {
                    partition: node,
                    local,
                    upstream,
                });
            }
            continue;
        }
        let id = node.id;
        let children = tree.call(move |s| s.children(id)).await?;
        let mut parts = 0;
        let mut counted = Vec::with_capacity(children.len());
        for child in children {
            let n = count(fetch, &child.window).await?;
            parts += n;
            counted.push((child, n));
        }
        if parts != upstream {
            survey.gaps.push(Gap {
                partition: node,
                upstream,
                parts,
            });
        }
        // Depth first, in window order.
        stack.extend(counted.into_iter().rev());
    }
    Ok(survey)
}
