//! Whether a failed request is tried again, and after how long: pure functions of the error,
//! the retries so far, the 429s in a row and a random number for the jitter, kept apart from
//! the loop in [`super::Fetcher`] that carries them out (and unit-tested here).

use std::time::Duration;

use super::Policy;
use crate::error::Error;

/// The longest wait between two tries of one request (unless upstream asks for longer).
pub const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The longest `Retry-After` a run waits for; a longer one ends the run (cron runs it again
/// later).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// The longest extra gap a run of 429s adds between requests (and never more than the
/// configured wait after a 429).
pub const SLOWDOWN_CAP: Duration = Duration::from_secs(5);
/// An extra gap shorter than this is dropped: tokio's timers count whole milliseconds, so a
/// shorter one would still cost one.
const GAP_FLOOR: Duration = Duration::from_millis(1);

/// What a failed try leads to.
#[derive(Debug)]
pub enum Next {
    /// The request fails with this error: it is not one to retry, the retries are spent, or
    /// upstream asked for a longer wait than [`MAX_RETRY_AFTER`] ([`Error::WaitTooLong`]).
    Fail(Error),
    /// Try again after `delay`. After a 429 (`rate_limited`) every request waits that long.
    Retry {
        error: Error,
        delay: Duration,
        rate_limited: bool,
    },
}

/// The retry decision after `error`, when `retries` retries of this request were made already
/// and `streak` 429s came in a row before it; `unit` (from 0 to 1) picks the jitter.
pub fn next_step(error: Error, retries: u32, streak: u64, policy: &Policy, unit: f64) -> Next {
    if let Error::Status {
        url,
        status: 429,
        retry_after: Some(asked),
        ..
    } = &error
        && *asked > MAX_RETRY_AFTER
    {
        return Next::Fail(Error::WaitTooLong {
            url: url.clone(),
            asked: *asked,
            limit: MAX_RETRY_AFTER,
        });
    }
    if !error.should_retry() || retries >= policy.max_retries {
        return Next::Fail(error);
    }
    let rate_limited = error.is_rate_limited();
    let delay = if rate_limited {
        rate_limit_delay(policy.rate_limit_wait, streak, error.retry_after(), unit)
    } else {
        backoff(policy.retry_wait, retries + 1, unit)
    };
    Next::Retry {
        error,
        delay,
        rate_limited,
    }
}

/// Exponential back-off for the `attempt`-th retry (from 1) starting at `base`, capped, with up
/// to 50% jitter (`unit` from 0 to 1).
pub fn backoff(base: Duration, attempt: u32, unit: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    jitter(exp.min(BACKOFF_CAP), unit)
}

/// The wait after the `streak`-th 429 in a row (from 0): at least `floor` or what
/// `Retry-After` asked, doubling with the streak, capped, with 12.5 to 25% on top (`unit` from
/// 0 to 1), never below the floor.
pub fn rate_limit_delay(
    floor: Duration,
    streak: u64,
    retry_after: Option<Duration>,
    unit: f64,
) -> Duration {
    let floor = retry_after.unwrap_or_default().max(floor);
    let grown = floor
        .saturating_mul(1u32 << streak.min(8))
        .min(BACKOFF_CAP.max(floor));
    grown + jitter(grown, unit) / 4
}

/// From half of `d` (`unit` 0) up to `d` (`unit` 1).
fn jitter(d: Duration, unit: f64) -> Duration {
    d.mul_f64(0.5 + unit.clamp(0.0, 1.0) * 0.5)
}

/// The extra gap after a 429: doubled, at least one request's period, at most
/// [`SLOWDOWN_CAP`] and the configured wait after a 429.
pub(super) fn wider(gap: Duration, policy: &Policy) -> Duration {
    (gap * 2)
        .max(Duration::from_secs_f64(1.0 / policy.rate))
        .min(SLOWDOWN_CAP.min(policy.rate_limit_wait))
}

/// The extra gap after a success: 10% shorter, and none once under [`GAP_FLOOR`].
pub(super) fn narrower(gap: Duration) -> Duration {
    Some(gap.mul_f64(0.9))
        .filter(|g| *g >= GAP_FLOOR)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;

    const BASE: Duration = Duration::from_millis(500);
    const FLOOR: Duration = Duration::from_secs(5);

    fn policy() -> Policy {
        Policy {
            rate: 4.0,
            concurrency: NonZeroU32::MIN,
            max_retries: 3,
            retry_wait: BASE,
            rate_limit_wait: FLOOR,
            max_requests: 100,
        }
    }

    fn status(status: u16, retry_after: Option<u64>) -> Error {
        Error::Status {
            url: "http://127.0.0.1/records".into(),
            status,
            retry_after: retry_after.map(Duration::from_secs),
            body: String::new(),
        }
    }

    fn malformed() -> Error {
        Error::Malformed {
            url: "http://127.0.0.1/records".into(),
            source: serde_json::from_str::<serde_json::Value>("{").unwrap_err(),
        }
    }

    /// The delay of a retry, or the error a failure ends in.
    fn delay(next: Next) -> std::result::Result<(Duration, bool), Error> {
        match next {
            Next::Retry {
                delay,
                rate_limited,
                ..
            } => Ok((delay, rate_limited)),
            Next::Fail(error) => Err(error),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(BASE, 1, 0.0), BASE / 2);
        assert_eq!(backoff(BASE, 1, 1.0), BASE);
        assert_eq!(backoff(BASE, 3, 0.0), BASE * 2);
        assert_eq!(backoff(BASE, 3, 1.0), BASE * 4);
        for attempt in [10, 20, 1000] {
            assert_eq!(backoff(BASE, attempt, 1.0), BACKOFF_CAP);
            assert_eq!(backoff(BASE, attempt, 0.0), BACKOFF_CAP / 2);
        }
    }

    #[test]
    fn rate_limit_waits_at_least_five_seconds_or_what_upstream_asks() {
        for streak in 0..20 {
            for unit in [0.0, 0.5, 1.0] {
                let d = rate_limit_delay(FLOOR, streak, None, unit);
                assert!(d >= FLOOR, "{d:?}");
                assert!(d <= BACKOFF_CAP + BACKOFF_CAP / 4, "{d:?}");
            }
        }
        let secs = Duration::from_secs;
        assert_eq!(rate_limit_delay(FLOOR, 0, None, 0.0), secs(5) + secs(5) / 8);
        assert_eq!(rate_limit_delay(FLOOR, 0, None, 1.0), secs(5) + secs(5) / 4);
        assert_eq!(
            rate_limit_delay(FLOOR, 0, Some(secs(30)), 0.0),
            secs(30) + secs(30) / 8
        );
        assert_eq!(
            rate_limit_delay(FLOOR, 0, Some(secs(90)), 0.0),
            secs(90) + secs(90) / 8
        );
        assert_eq!(rate_limit_delay(FLOOR, 3, None, 0.0), secs(40) + secs(5));
        // A Retry-After shorter than the floor waits the floor.
        assert_eq!(
            rate_limit_delay(FLOOR, 0, Some(secs(1)), 0.0),
            secs(5) + secs(5) / 8
        );
        // The cap does not cut what upstream asked for.
        assert_eq!(
            rate_limit_delay(FLOOR, 5, Some(secs(90)), 0.0),
            secs(90) + secs(90) / 8
        );
    }

    #[test]
    fn server_errors_and_garbled_bodies_back_off_until_the_retries_are_spent() {
        let p = policy();
        for error in [|| status(500, None), || status(503, None), malformed] {
            for retries in 0..p.max_retries {
                let (d, rate_limited) = delay(next_step(error(), retries, 0, &p, 1.0)).unwrap();
                assert_eq!(d, BASE * (1 << retries));
                assert!(!rate_limited);
            }
            let spent = delay(next_step(error(), p.max_retries, 0, &p, 1.0)).unwrap_err();
            assert_eq!(spent.to_string(), error().to_string(), "the error itself");
        }
        assert_eq!(
            delay(next_step(status(502, None), 0, 0, &p, 0.0)).unwrap(),
            (BASE / 2, false),
            "jitter takes up to half off"
        );
    }

    #[test]
    fn requests_that_are_wrong_are_not_retried() {
        let p = policy();
        for code in [400, 401, 403, 404, 413, 418] {
            let error = delay(next_step(status(code, None), 0, 0, &p, 1.0)).unwrap_err();
            assert!(
                matches!(error, Error::Status { status, .. } if status == code),
                "{error}"
            );
        }
    }

    #[test]
    fn a_429_waits_for_retry_after_and_grows_with_the_streak() {
        let p = policy();
        let secs = Duration::from_secs;
        let (d, rate_limited) = delay(next_step(status(429, Some(30)), 0, 0, &p, 0.0)).unwrap();
        assert_eq!((d, rate_limited), (secs(30) + secs(30) / 8, true));
        let (d, _) = delay(next_step(status(429, None), 2, 2, &p, 1.0)).unwrap();
        assert_eq!(d, secs(20) + secs(20) / 4, "the floor, doubled twice");
        let spent = delay(next_step(status(429, None), p.max_retries, 5, &p, 1.0)).unwrap_err();
        assert!(spent.is_rate_limited(), "{spent}");
    }

    #[test]
    fn a_retry_after_beyond_the_limit_ends_the_run_even_with_retries_left() {
        let p = policy();
        let asked = MAX_RETRY_AFTER + Duration::from_secs(1);
        let error =
            delay(next_step(status(429, Some(asked.as_secs())), 0, 0, &p, 0.5)).unwrap_err();
        assert!(
            matches!(&error, Error::WaitTooLong { asked: a, limit, .. } if *a == asked && *limit == MAX_RETRY_AFTER),
            "{error}"
        );
        // Exactly the limit is waited for; a long Retry-After on a 503 is not a 429's.
        let at_limit = status(429, Some(MAX_RETRY_AFTER.as_secs()));
        assert!(delay(next_step(at_limit, 0, 0, &p, 0.5)).is_ok());
        let (d, rate_limited) =
            delay(next_step(status(503, Some(asked.as_secs())), 0, 0, &p, 1.0)).unwrap();
        assert_eq!((d, rate_limited), (BASE, false));
    }

    #[test]
    fn the_extra_gap_widens_after_a_429_and_narrows_after_successes() {
        let p = policy();
        let period = Duration::from_millis(250);
        assert_eq!(wider(Duration::ZERO, &p), period, "at least one period");
        assert_eq!(wider(period, &p), period * 2);
        assert_eq!(wider(SLOWDOWN_CAP, &p), SLOWDOWN_CAP, "capped");
        let short_wait = Policy {
            rate_limit_wait: Duration::from_millis(300),
            ..p
        };
        assert_eq!(wider(period * 2, &short_wait), Duration::from_millis(300));
        assert_eq!(narrower(period), period.mul_f64(0.9));
        let mut gap = period;
        let mut successes = 0;
        while !gap.is_zero() {
            gap = narrower(gap);
            successes += 1;
        }
        assert_eq!(successes, 53, "gone after some fifty successes, not never");
    }
}
