//! The one writer: a thread that owns the harvest's [`Store`] and runs the jobs sent to it in
//! order, so that SQLite never blocks the async executor and memory stays bounded by the
//! channel's capacity however large the harvest.

use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::Store;
use crate::error::{Error, Result};

type Job = Box<dyn FnOnce(&mut Store) + Send>;

pub struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<Store>>,
}

impl Writer {
    /// Moves `store` onto its own thread, fed by a channel of `capacity` jobs.
    pub fn spawn(mut store: Store, capacity: usize) -> Writer {
        let (tx, mut rx) = mpsc::channel::<Job>(capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("oac-mirror-writer".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    job(&mut store);
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
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        let jobs = self.jobs.as_ref().ok_or(Error::WriterStopped)?;
        jobs.send(job).await.map_err(|_| Error::WriterStopped)?;
        answer.await.map_err(|_| Error::WriterStopped)?
    }

    /// Waits for every job sent so far and hands the store back.
    pub fn close(mut self) -> Store {
        drop(self.jobs.take());
        self.thread
            .take()
            .expect("closed once")
            .join()
            .expect("the writer thread panicked")
    }
}
