//! Every request of a harvest goes through one [`Fetcher`]: a concurrency permit, then any
//! back-off the service asked for, then the shared `governor` rate limiter, then the request;
//! failures that may pass are retried with capped exponential back-off and jitter.
//!
//! A 429 pauses every request, not just the one that met it: the service limits the key, not
//! the partition.
//!
//! Whether to try again, and how long to wait first, is [`next_step`]: a pure function of the
//! error, the retries so far and the 429s in a row, unit-tested below; the loop only carries it
//! out. Every wait here follows tokio's clock, the rate limiter's too ([`TokioClock`]), so a
//! test on tokio's paused clock sees each wait in virtual time, exactly.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::api::{Client, Page};
use crate::error::{Error, Result};
use crate::store::RunStats;

mod retry;

pub use retry::{
    BACKOFF_CAP, MAX_RETRY_AFTER, Next, SLOWDOWN_CAP, backoff, next_step, rate_limit_delay,
};
use retry::{narrower, wider};

/// How requests are paced and retried; built from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Requests per second (fractions allowed).
    pub rate: f64,
    /// Requests in flight at once.
    pub concurrency: NonZeroU32,
    /// Retries of one request.
    pub max_retries: u32,
    /// The first wait after a failure other than 429; doubles with each retry.
    pub retry_wait: Duration,
    /// The least wait after a 429 (the Open Data Portal asks for 5 seconds).
    pub rate_limit_wait: Duration,
    /// The most requests one run sends (`max_requests`).
    pub max_requests: u64,
}

impl From<&crate::config::Config> for Policy {
    fn from(c: &crate::config::Config) -> Policy {
        Policy {
            rate: c.rate,
            concurrency: c.concurrency,
            max_retries: c.max_retries,
            retry_wait: c.retry_wait,
            rate_limit_wait: c.rate_limit_wait,
            max_requests: c.max_requests,
        }
    }
}

/// The rate limiter's clock: the time since the fetcher was made, on tokio's clock, so that
/// the limiter waits in the same time as every other wait here.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock(Instant);

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

pub struct Fetcher {
    client: Client,
    permits: Semaphore,
    limiter: Limiter,
    policy: Policy,
    shutdown: CancellationToken,
    /// No request starts before this instant (set by a 429).
    paused_until: Mutex<Option<Instant>>,
    /// An extra gap after the limiter, grown by 429s and shrunk by successes: the shared
    /// limiter slows down instead of each partition finding the limit again.
    slowdown: Mutex<Duration>,
    /// 429s in a row, for growing the pause.
    rate_limit_streak: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// What a request is for, for the log.
pub type Label<'a> = &'a (dyn std::fmt::Display + Sync);

impl Fetcher {
    /// A fetcher for `client` paced and retried by `policy`, until `shutdown` is cancelled.
    /// Its clock starts now, on the calling runtime's clock.
    pub fn new(client: Client, policy: Policy, shutdown: CancellationToken) -> Fetcher {
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / policy.rate))
            .expect("a positive rate gives a positive period")
            .allow_burst(NonZeroU32::MIN);
        Fetcher {
            client,
            permits: Semaphore::new(policy.concurrency.get() as usize),
            limiter: RateLimiter::direct_with_clock(quota, TokioClock(Instant::now())),
            policy,
            shutdown,
            paused_until: Mutex::new(None),
            slowdown: Mutex::new(Duration::ZERO),
            rate_limit_streak: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends the requests from now on to `client` (another data set of the family), through
    /// the same limiter, permits and counters.
    pub fn set_client(&mut self, client: Client) {
        self.client = client;
    }

    /// `POST /records`, retried as the error allows.
    pub async fn records(
        &self,
        label: Label<'_>,
        criteria: &str,
        start: u64,
        rows: u64,
    ) -> Result<Page> {
        self.with_retries(label, || self.client.records(criteria, start, rows))
            .await
    }

    /// `GET /fields`, retried as the error allows.
    pub async fn fields(&self) -> Result<Vec<String>> {
        self.with_retries(&"fields", || self.client.fields()).await
    }

    /// Tries `send` until it succeeds or [`next_step`] says to stop, waiting as it says.
    async fn with_retries<T, F, Fut>(&self, label: Label<'_>, send: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retries = 0u32;
        loop {
            let error = match self.try_once(&send).await? {
                Ok(value) => {
                    self.rate_limit_streak.store(0, Ordering::Relaxed);
                    let mut gap = self.slowdown.lock().expect("not poisoned");
                    *gap = narrower(*gap);
                    return Ok(value);
                }
                Err(error) => error,
            };
            let streak = self.rate_limit_streak.load(Ordering::Relaxed);
            let unit = fastrand::f64();
            let (error, delay) = match next_step(error, retries, streak, &self.policy, unit) {
                Next::Fail(error) => return Err(error),
                Next::Retry {
                    error,
                    delay,
                    rate_limited,
                } => {
                    if rate_limited {
                        self.slow_down(delay);
                    }
                    (error, delay)
                }
            };
            retries += 1;
            self.retries.fetch_add(1, Ordering::Relaxed);
            warn!(partition = %label, attempt = retries, max = self.policy.max_retries, delay_ms = delay.as_millis() as u64, error = %error.report(), "retrying");
            self.unless_stopped(tokio::time::sleep(delay)).await?;
        }
    }

    /// One try of `send`, in turn: a permit, any pause after a 429, the limiter and the extra
    /// gap, the request budget, then the request. The outer error ends the request at once
    /// (the run was interrupted, or its budget is spent); the inner one is the try's.
    async fn try_once<T, F, Fut>(&self, send: &F) -> Result<Result<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        self.wait_for_pause().await?;
        self.unless_stopped(self.until_allowed()).await?;
        let sent = self.requests.fetch_add(1, Ordering::Relaxed);
        if sent >= self.policy.max_requests {
            self.requests.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::RequestBudget(sent));
        }
        // A request in flight is dropped (its connection closed) when the run is asked to
        // stop: nothing it would have brought is written.
        self.unless_stopped(send()).await
    }

    /// `work`'s output, unless the run is asked to stop first (or was already).
    async fn unless_stopped<O>(&self, work: impl Future<Output = O>) -> Result<O> {
        tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Err(Error::Interrupted),
            out = work => Ok(out),
        }
    }

    /// Waits for the rate limiter, then for the extra gap that 429s have added (as it was
    /// when the wait began).
    async fn until_allowed(&self) {
        let gap = *self.slowdown.lock().expect("not poisoned");
        while let Err(not_until) = self.limiter.check() {
            let now = self.limiter.clock().now();
            tokio::time::sleep(not_until.wait_time_from(now)).await;
        }
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }

    /// After a 429 that will be retried in `delay`: every request waits as long, and the gap
    /// between requests widens.
    fn slow_down(&self, delay: Duration) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        self.rate_limit_streak.fetch_add(1, Ordering::Relaxed);
        let until = Instant::now() + delay;
        {
            let mut paused = self.paused_until.lock().expect("not poisoned");
            if paused.is_none_or(|p| p < until) {
                *paused = Some(until);
            }
        }
        let mut gap = self.slowdown.lock().expect("not poisoned");
        *gap = wider(*gap, &self.policy);
    }

    async fn wait_for_pause(&self) -> Result<()> {
        let until = *self.paused_until.lock().expect("not poisoned");
        match until {
            Some(until) if until > Instant::now() => {
                self.unless_stopped(tokio::time::sleep_until(until)).await
            }
            _ => Ok(()),
        }
    }

    /// The counters so far (records are counted by the harvest, not here).
    pub fn stats(&self) -> RunStats {
        RunStats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            ..RunStats::default()
        }
    }
}
