//! The queue of partitions: worked on `concurrency` at a time, with progress reported as it
//! goes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{Harvest, Known, Progress, Work};
use crate::error::{Error, Result};

/// How often a progress line is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// How often an observer hears of progress.
const OBSERVE_EVERY: Duration = Duration::from_millis(200);

/// Processes partitions, `concurrency` at a time, until none is left. The first fatal error
/// stops the others from sending more requests, and is returned.
pub(super) async fn work(
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
            let Some((p, hint, known)) = queue.pop_front() else {
                break;
            };
            let h = Arc::clone(h);
            tasks.spawn(async move { h.process(p, hint, known).await });
        }
        if tasks.is_empty() {
            break;
        }
        tokio::select! {
            done = tasks.join_next() => match done.expect("tasks is not empty") {
                Ok(Ok(more)) => enqueue(&mut queue, more),
                Ok(Err(e)) => {
                    if fatal.is_none() {
                        if !matches!(e, Error::Interrupted) {
                            shutdown.cancel();
                        }
                        fatal = Some(e);
                    }
                }
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            },
            _ = progress.tick() => report(h, (queue.len() + tasks.len()) as u64),
        }
    }
    match fatal {
        Some(e) => Err(e),
        None if shutdown.is_cancelled() => Err(Error::Interrupted),
        None => Ok(()),
    }
}

/// Parts that come with their first page are worked on next, so that pages do not pile up in
/// the queue (memory stays flat); the others go to its end.
fn enqueue(queue: &mut VecDeque<Work>, more: Vec<Work>) {
    let (now, later): (Vec<Work>, Vec<Work>) = more
        .into_iter()
        .partition(|w| matches!(w.2, Some(Known::Page(_))));
    for w in now.into_iter().rev() {
        queue.push_front(w);
    }
    queue.extend(later);
}

/// Tells the observer, or the log, where the harvest stands.
fn report(h: &Harvest, queued: u64) {
    let stats = h.fetch.stats();
    let records = h.written.load(Ordering::Relaxed);
    if let Some(observe) = &h.observer {
        observe(Progress {
            records,
            requests: stats.requests,
            retries: stats.retries,
            rate_limited: stats.rate_limited,
            queued,
        });
        return;
    }
    info!(
        records,
        requests = stats.requests,
        retries = stats.retries,
        queued,
        "progress"
    );
}
