//! The one writer: a thread that owns the harvest's [`Store`] and runs the jobs sent to it in
//! order, so that SQLite never blocks the async executor. Each caller waits for its job's
//! answer, so the jobs queued at once are at most the tasks of the harvest.
//!
//! Pages are committed in batches (see [`Store::put_page`]): while a batch is open the thread
//! commits it when it is [`BATCH_WINDOW`] old, whether or not another job arrives, so that no
//! transaction stays open longer than that and a kill costs at most that much work.
//!
//! A batch that cannot be committed (or that SQLite rolled back by itself) stops the thread:
//! its pages were answered as stored, and the leaves they belong to go on from the offsets
//! they reached, so a later page would commit a checkpoint past records that are not there.
//! Every job after it fails with [`Error::WriterStopped`], which stops the harvest as a kill
//! would: the database holds what the last commit held, and the next run continues from it.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::error;

use super::Store;
use crate::error::{Error, Result};

/// The longest a batch of pages stays uncommitted: what a kill may cost, to be fetched again.
pub const BATCH_WINDOW: Duration = Duration::from_secs(1);

type Job = Box<dyn FnOnce(&mut Store) + Send>;

pub struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<Store>>,
}

/// The result of a job queued with [`Writer::send`].
#[must_use = "a queued job's error is only seen when it is waited for"]
pub struct Pending<R>(oneshot::Receiver<Result<R>>);

impl<R> Pending<R> {
    /// Waits for the job and returns its result.
    pub async fn wait(self) -> Result<R> {
        self.0.await.map_err(|_| Error::WriterStopped)?
    }
}

impl Writer {
    /// Moves `store` onto its own thread. (`_capacity` is kept for callers; each caller waits
    /// for its answer, which bounds the queue.)
    pub fn spawn(mut store: Store, _capacity: usize) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("oac-mirror-writer".into())
            .spawn(move || {
                loop {
                    let job = match store.batch_due_in() {
                        None => match rx.recv() {
                            Ok(job) => job,
                            Err(mpsc::RecvError) => break,
                        },
                        Some(due) => match rx.recv_timeout(due) {
                            Ok(job) => job,
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                if let Err(e) = store.flush() {
                                    error!(error = %e.report(), "committing a batch of pages failed; the harvest stops, and the next run fetches them again");
                                    break;
                                }
                                continue;
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        },
                    };
                    // Every job of a harvest joins the open batch (a store that does not
                    // harvest has none), so that the checkpoint's small writes between pages
                    // do not each cost a commit.
                    if let Err(e) = store.begin_batch() {
                        error!(error = %e.report(), "beginning a batch failed; the job runs on its own");
                    }
                    job(&mut store);
                    if store.batch_lost() {
                        error!("SQLite rolled back a batch of pages after an error; the harvest stops, and the next run fetches them again");
                        store.abandon_batch();
                        break;
                    }
                    if store.batch_due_in() == Some(Duration::ZERO)
                        && let Err(e) = store.flush()
                    {
                        error!(error = %e.report(), "committing a batch of pages failed; the harvest stops, and the next run fetches them again");
                        break;
                    }
                }
                if let Err(e) = store.flush() {
                    error!(error = %e.report(), "committing the last batch of pages failed; they are fetched again");
                }
                store
            })
            .expect("spawn the writer thread");
        Writer {
            jobs: Some(tx),
            thread: Some(thread),
        }
    }

    /// Runs `f` on the writer thread after every job sent before it, and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R> + Send + 'static,
    {
        self.send(f)?.wait().await
    }

    /// Queues `f` to run on the writer thread after every job sent before it, without waiting
    /// for it: the caller goes on (fetching the next page) and collects the result later.
    pub fn send<R, F>(&self, f: F) -> Result<Pending<R>>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        let jobs = self.jobs.as_ref().ok_or(Error::WriterStopped)?;
        jobs.send(job).map_err(|_| Error::WriterStopped)?;
        Ok(Pending(answer))
    }

    /// Waits for every job sent so far, commits the open batch and hands the store back.
    pub fn close(mut self) -> Store {
        drop(self.jobs.take());
        self.thread
            .take()
            .expect("closed once")
            .join()
            .expect("the writer thread panicked")
    }
}
