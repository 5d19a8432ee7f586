//! Every request of a harvest goes through one [`Fetcher`]: a concurrency permit, then any
//! back-off the service asked for, then the shared `governor` rate limiter, then the request;
//! failures that may pass are retried with capped exponential back-off and jitter.
//!
//! A 429 pauses every request, not just the one that met it: the service limits the key, not
//! the partition.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::api::{Client, Page};
use crate::error::{Error, Result};
use crate::store::RunStats;

/// The longest wait between two tries of one request (unless upstream asks for longer).
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The longest `Retry-After` a run waits for; a longer one ends the run (cron runs it again
/// later).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// The longest extra gap a run of 429s adds between requests (and never more than the
/// configured wait after a 429).
pub const SLOWDOWN_CAP: Duration = Duration::from_secs(5);

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

pub struct Fetcher {
    client: Client,
    permits: Semaphore,
    limiter: DefaultDirectRateLimiter,
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
    pub fn new(client: Client, policy: Policy, shutdown: CancellationToken) -> Fetcher {
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / policy.rate))
            .expect("a positive rate gives a positive period")
            .allow_burst(NonZeroU32::MIN);
        Fetcher {
            client,
            permits: Semaphore::new(policy.concurrency.get() as usize),
            limiter: RateLimiter::direct(quota),
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

    async fn with_retries<T, F, Fut>(&self, label: Label<'_>, send: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempt = 0u32;
        loop {
            let result = {
                let _permit = self
                    .permits
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                self.wait_for_pause().await?;
                let gap = *self.slowdown.lock().expect("not poisoned");
                tokio::select! {
                    _ = async {
                        self.limiter.until_ready().await;
                        tokio::time::sleep(gap).await;
                    } => {}
                    _ = self.shutdown.cancelled() => return Err(Error::Interrupted),
                }
                if self.shutdown.is_cancelled() {
                    return Err(Error::Interrupted);
                }
                let sent = self.requests.fetch_add(1, Ordering::Relaxed);
                if sent >= self.policy.max_requests {
                    self.requests.fetch_sub(1, Ordering::Relaxed);
                    return Err(Error::RequestBudget(sent));
                }
                // A request in flight is dropped (its connection closed) when the run is
                // asked to stop: nothing it would have brought is written.
                tokio::select! {
                    result = send() => result,
                    _ = self.shutdown.cancelled() => return Err(Error::Interrupted),
                }
            };
            let error = match result {
                Ok(value) => {
                    self.rate_limit_streak.store(0, Ordering::Relaxed);
                    let mut gap = self.slowdown.lock().expect("not poisoned");
                    *gap = gap.mul_f64(0.9);
                    return Ok(value);
                }
                Err(e) => e,
            };
            if let Error::Status { url, .. } = &error
                && let Some(asked) = error.retry_after().filter(|a| *a > MAX_RETRY_AFTER)
                && error.is_rate_limited()
            {
                return Err(Error::WaitTooLong {
                    url: url.clone(),
                    asked,
                    limit: MAX_RETRY_AFTER,
                });
            }
            if !error.should_retry() || attempt >= self.policy.max_retries {
                return Err(error);
            }
            attempt += 1;
            self.retries.fetch_add(1, Ordering::Relaxed);
            let delay = if error.is_rate_limited() {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                let streak = self.rate_limit_streak.fetch_add(1, Ordering::Relaxed);
                let delay =
                    rate_limit_delay(self.policy.rate_limit_wait, streak, error.retry_after());
                self.pause_all(delay);
                let mut gap = self.slowdown.lock().expect("not poisoned");
                *gap = (*gap * 2)
                    .max(Duration::from_secs_f64(1.0 / self.policy.rate))
                    .min(SLOWDOWN_CAP.min(self.policy.rate_limit_wait));
                delay
            } else {
                backoff(self.policy.retry_wait, attempt)
            };
            warn!(partition = %label, attempt, max = self.policy.max_retries, delay_ms = delay.as_millis() as u64, error = %error.report(), "retrying");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => return Err(Error::Interrupted),
            }
        }
    }

    fn pause_all(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut paused = self.paused_until.lock().expect("not poisoned");
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    async fn wait_for_pause(&self) -> Result<()> {
        let until = *self.paused_until.lock().expect("not poisoned");
        if let Some(until) = until
            && until > Instant::now()
        {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = self.shutdown.cancelled() => return Err(Error::Interrupted),
            }
        }
        Ok(())
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

/// Exponential back-off for the `attempt`-th retry (from 1) starting at `base`, capped, with up
/// to 50% jitter.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    jitter(exp.min(BACKOFF_CAP))
}

/// The wait after the `streak`-th 429 in a row (from 0): at least `floor` or what
/// `Retry-After` asked, doubling with the streak, capped, with jitter on top (never below the
/// floor).
pub fn rate_limit_delay(floor: Duration, streak: u64, retry_after: Option<Duration>) -> Duration {
    let floor = retry_after.unwrap_or_default().max(floor);
    let grown = floor
        .saturating_mul(1u32 << streak.min(8))
        .min(BACKOFF_CAP.max(floor));
    grown + jitter(grown) / 4
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.5 + fastrand::f64() * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(500);
    const FLOOR: Duration = Duration::from_secs(5);

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(BASE, 1) <= BASE && backoff(BASE, 1) >= BASE / 2);
        assert!(backoff(BASE, 3) >= BASE * 2);
        for attempt in [10, 20, 1000] {
            assert!(backoff(BASE, attempt) <= BACKOFF_CAP);
        }
    }

    #[test]
    fn rate_limit_waits_at_least_five_seconds_or_what_upstream_asks() {
        for streak in 0..20 {
            let d = rate_limit_delay(FLOOR, streak, None);
            assert!(d >= FLOOR, "{d:?}");
            assert!(d <= BACKOFF_CAP + BACKOFF_CAP / 4, "{d:?}");
        }
        assert!(
            rate_limit_delay(FLOOR, 0, Some(Duration::from_secs(30))) >= Duration::from_secs(30)
        );
        assert!(
            rate_limit_delay(FLOOR, 0, Some(Duration::from_secs(90))) >= Duration::from_secs(90)
        );
        assert!(rate_limit_delay(FLOOR, 3, None) >= Duration::from_secs(40));
    }
}
