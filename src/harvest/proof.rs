//! The proof: once the queue is empty, the whole window is counted upstream and compared with
//! the mirror; where they differ, the tree is walked down to the partitions that changed, and
//! those go back to work.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Harvest, queue, survey};
use crate::error::Result;
use crate::store::{Partition, PartitionState};
use crate::tree::{Observation, step};

/// How many times the count proof may send the harvest back to work in one run.
const PROOF_ROUNDS: usize = 3;

/// What the proof found.
pub(super) enum Proof {
    Complete { total: u64 },
    Incomplete(String),
}

/// What one round of counting found.
enum Round {
    Proven(Proof),
    /// Partitions were sent back to work.
    Again,
}

/// Works the queue, proves, and goes back to work where the proof found changes.
pub(super) async fn drive(
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
        queue::work(h, queue, concurrency, shutdown).await?;
        if let Round::Proven(proof) = prove(h, round).await? {
            return Ok(proof);
        }
    }
    Ok(Proof::Incomplete(format!(
        "upstream kept changing through {PROOF_ROUNDS} rounds of counting"
    )))
}

/// Counts the whole window upstream and compares it with the mirror's leaves, then with the
/// records stored; where either differs, sends the partitions that changed back to work.
async fn prove(h: &Harvest, round: usize) -> Result<Round> {
    let root = h
        .writer
        .call(|s| s.root().map(|r| r.expect("begin_run made a root")))
        .await?;
    let (leaf_sum, not_done) = {
        let id = root.id;
        h.writer.call(move |s| s.leaf_totals(id)).await?
    };
    if not_done > 0 {
        return Ok(Round::Proven(Proof::Incomplete(format!(
            "{not_done} partition(s) failed (see `oac-mirror status`)"
        ))));
    }
    let upstream = h.count(&root.window).await?;
    let measure = if upstream == leaf_sum {
        let local = {
            let w = root.window.clone();
            h.writer.call(move |s| s.local_count(&w)).await?
        };
        if local == upstream {
            info!(
                records = upstream,
                "every partition verified; the whole window agrees with upstream"
            );
            return Ok(Round::Proven(Proof::Complete { total: upstream }));
        }
        // The leaf counts agree, the records stored do not: records moved from one
        // partition to another that was fetched again, while the one they left also
        // changed (an addition there hides the loss). Compare what is stored instead.
        warn!(
            upstream,
            stored = local,
            "the records stored disagree with upstream's count though the partitions' counts agree; looking for the partitions that changed"
        );
        survey::Measure::Stored
    } else {
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
        survey::Measure::Verified
    };
    let gaps = refetch_moved(h, root, upstream, measure).await?;
    if !gaps.is_empty() {
        return Ok(Round::Proven(Proof::Incomplete(gaps.join("; "))));
    }
    Ok(Round::Again)
}

/// Walks down from the root, whose upstream count is now `upstream`, to the partitions whose
/// counts moved (see [`survey::descend`]), and sends them back to work as the tree decides:
/// paged again from the start when they still fit one query, counted and split again
/// otherwise. Where a split node's parts do not add up to it upstream, records lie outside the
/// tiling: that is returned, to be reported.
async fn refetch_moved(
    h: &Harvest,
    root: Partition,
    upstream: u64,
    measure: survey::Measure,
) -> Result<Vec<String>> {
    let found = survey::descend(&h.fetch, &h.writer, root, upstream, measure, false).await?;
    for m in found.moved {
        let p = m.partition;
        let node = p.node().ok_or_else(|| p.damaged())?;
        let (local, upstream) = (m.local, m.upstream);
        let t = step(
            &node,
            &p.window,
            &Observation::Compared { local, upstream },
            &h.limits(),
        );
        info!(partition = %p.window, reason = %format!("upstream count moved from {local} to {upstream}"), "fetching again");
        h.apply(&p, t).await?;
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
