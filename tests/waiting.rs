//! How the fetcher waits: rate pacing, back-off after failures, a 429's pause for every
//! request, `Retry-After`, timeouts and stopping, on tokio's paused clock. Time only moves when
//! every task waits for a timer, so each test asserts the exact virtual instant each request
//! reached the server (jittered waits: the exact bounds of the jitter), in milliseconds of
//! real time.
//!
//! The server runs on the test's own runtime. A server on another thread would not do: while
//! the runtime waits for its answer it looks idle, and the paused clock jumps to the next
//! timer, the request's timeout (the last test shows it).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use oac_mirror::Error;
use oac_mirror::harvest::fetch::{Fetcher, MAX_RETRY_AFTER, Policy};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::hostile::{Answer, Asked, Hostile, doc, id};
use crate::support::{config_at, fetcher, harvest, query_i64, temp_db};

const CRITERIA: &str = "createDateTime:[2025-07-01T00:00:00 TO 2025-07-01T23:59:59]";
const STAMP: &str = "2025-07-01T10:00:00";
/// Long enough never to be the wait that matters, unless a test says otherwise.
const TIMEOUT: Duration = Duration::from_secs(120);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The policy of a test: quick enough not to matter, unless `tweak` says otherwise.
fn policy(tweak: impl FnOnce(&mut Policy)) -> Policy {
    let mut p = Policy {
        rate: 1_000.0,
        concurrency: NonZeroU32::MIN,
        max_retries: 8,
        retry_wait: ms(500),
        rate_limit_wait: secs(5),
        max_requests: 1_000,
    };
    tweak(&mut p);
    p
}

/// One record for every request.
fn one_record() -> Answer {
    Answer::Records {
        num_found: 1,
        docs: vec![doc(&id(1), STAMP)],
    }
}

fn status(code: u16, retry_after: Option<&str>) -> Answer {
    Answer::Status {
        code,
        headers: retry_after
            .map(|s| ("retry-after", s.to_owned()))
            .into_iter()
            .collect(),
        body: String::new(),
    }
}

/// A server whose first `n` answers to `/records` are `first()`, and one record after.
async fn failing_first(n: u64, first: impl Fn() -> Answer + Send + Sync + 'static) -> Hostile {
    let seen = AtomicU64::new(0);
    Hostile::start(move |a| {
        a.is_records()
            .then(|| match seen.fetch_add(1, Ordering::Relaxed) < n {
                true => first(),
                false => one_record(),
            })
    })
    .await
}

/// When each request to `/records` reached `server`, after `start`.
fn arrivals(server: &Hostile, start: Instant) -> Vec<Duration> {
    server
        .asked()
        .iter()
        .filter(|a| a.is_records())
        .map(|a| a.at - start)
        .collect()
}

fn gaps(times: &[Duration]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

async fn get(f: &Fetcher) -> oac_mirror::Result<u64> {
    f.records(&"test", CRITERIA, 0, 1)
        .await
        .map(|p| p.num_found)
}

#[tokio::test(start_paused = true)]
async fn requests_are_paced_at_the_rate_however_many_are_in_flight() {
    let server = Hostile::start(|a| a.is_records().then(one_record)).await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|p| {
            p.rate = 4.0;
            p.concurrency = NonZeroU32::new(3).unwrap();
        }),
        TIMEOUT,
        CancellationToken::new(),
    );
    let got = join_all((0..6).map(|_| get(&f))).await;
    assert!(got.iter().all(|r| matches!(r, Ok(1))), "{got:?}");
    let expected: Vec<Duration> = (0..6).map(|i| ms(250 * i)).collect();
    assert_eq!(arrivals(&server, start), expected);
    assert_eq!(start.elapsed(), ms(1_250));
    assert_eq!((f.stats().requests, f.stats().retries), (6, 0));
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_doubling_with_up_to_half_off() {
    let server = failing_first(4, || status(503, None)).await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|p| p.retry_wait = secs(2)),
        TIMEOUT,
        CancellationToken::new(),
    );
    assert_eq!(get(&f).await.unwrap(), 1);
    let gaps = gaps(&arrivals(&server, start));
    assert_eq!(gaps.len(), 4, "{gaps:?}");
    for (i, gap) in gaps.iter().enumerate() {
        let full = secs(2) * (1 << i);
        assert!(*gap >= full / 2 && *gap <= full, "wait {i}: {gap:?}");
    }
    assert_eq!(f.stats().retries, 4);
    assert_eq!(f.stats().rate_limited, 0);
}

#[tokio::test(start_paused = true)]
async fn retries_end_when_spent_and_a_wrong_request_is_not_retried() {
    let server = Hostile::start(|a| a.is_records().then(|| status(503, None))).await;
    let f = fetcher(
        &server.base_url(),
        policy(|p| p.max_retries = 2),
        TIMEOUT,
        CancellationToken::new(),
    );
    let err = get(&f).await.unwrap_err();
    assert!(matches!(err, Error::Status { status: 503, .. }), "{err}");
    assert_eq!(server.records_requests(), 3, "one try and two retries");

    let start = Instant::now();
    let server = Hostile::start(|a| a.is_records().then(|| status(400, None))).await;
    let f = fetcher(
        &server.base_url(),
        policy(|_| {}),
        TIMEOUT,
        CancellationToken::new(),
    );
    let err = get(&f).await.unwrap_err();
    assert!(matches!(err, Error::Status { status: 400, .. }), "{err}");
    assert_eq!(server.records_requests(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO, "no wait at all");
}

/// A 429 with `Retry-After: 3` (more than the configured wait): the request that met it and
/// one that starts a second later both wait for it; then the limiter spaces them out, with the
/// gap the 429 added (one period) on top, a gap that each success narrows by 10%.
#[tokio::test(start_paused = true)]
async fn a_429_pauses_every_request_for_what_retry_after_asks() {
    let server = failing_first(1, || status(429, Some("3"))).await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|p| {
            p.rate = 10.0;
            p.concurrency = NonZeroU32::new(2).unwrap();
            p.rate_limit_wait = secs(1);
        }),
        TIMEOUT,
        CancellationToken::new(),
    );
    let later = async {
        tokio::time::sleep(secs(1)).await;
        get(&f).await
    };
    let (first, second) = tokio::join!(get(&f), later);
    assert_eq!((first.unwrap(), second.unwrap()), (1, 1));
    assert_eq!(get(&f).await.unwrap(), 1);
    let times = arrivals(&server, start);
    assert_eq!(times.len(), 4, "{times:?}");
    assert_eq!(times[0], Duration::ZERO);
    // Retry-After with 12.5 to 25% on top, then the gap: 100 ms.
    let paused = times[1] - ms(100);
    assert!(paused >= ms(3_375) && paused <= ms(3_750), "{times:?}");
    // The other paused request: one period of the limiter later (and the same gap).
    assert_eq!(times[2] - times[1], ms(100), "{times:?}");
    // The next, after two successes: the limiter lets it go at once, the gap is 81 ms.
    assert_eq!(times[3] - times[2], ms(81), "{times:?}");
    let stats = f.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.rate_limited),
        (4, 1, 1)
    );
}

/// 429s in a row wait longer each time (at least the configured wait, doubled each time).
#[tokio::test(start_paused = true)]
async fn a_run_of_429s_waits_longer_each_time() {
    let server = failing_first(3, || status(429, None)).await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|p| p.rate_limit_wait = secs(2)),
        TIMEOUT,
        CancellationToken::new(),
    );
    assert_eq!(get(&f).await.unwrap(), 1);
    let gaps = gaps(&arrivals(&server, start));
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    for (i, gap) in gaps.iter().enumerate() {
        // The pause, then the gap after a 429: one period of the limiter at first (1 ms),
        // doubled by each 429, at most the configured wait.
        let floor = secs(2) * (1 << i);
        let extra = ms(1 << i);
        let (low, high) = (floor + floor / 8 + extra, floor + floor / 4 + extra);
        assert!(*gap >= low && *gap <= high, "wait {i}: {gap:?}");
    }
    assert_eq!(f.stats().rate_limited, 3);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_ten_minutes_ends_the_request_without_waiting() {
    let asked = MAX_RETRY_AFTER + secs(1);
    let server = Hostile::start(move |a| {
        a.is_records()
            .then(|| status(429, Some(&asked.as_secs().to_string())))
    })
    .await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|_| {}),
        TIMEOUT,
        CancellationToken::new(),
    );
    let err = get(&f).await.unwrap_err();
    assert!(
        matches!(&err, Error::WaitTooLong { asked: a, .. } if *a == asked),
        "{err}"
    );
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(server.records_requests(), 1);
}

/// Exactly ten minutes is waited for.
#[tokio::test(start_paused = true)]
async fn a_retry_after_of_ten_minutes_is_waited_for() {
    let server = failing_first(1, || status(429, Some("600"))).await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|_| {}),
        TIMEOUT,
        CancellationToken::new(),
    );
    assert_eq!(get(&f).await.unwrap(), 1);
    let times = arrivals(&server, start);
    // Retry-After with 12.5 to 25% on top, then the gap a 429 adds (one period: 1 ms).
    let (wait, paused) = (MAX_RETRY_AFTER, times[1] - ms(1));
    assert!(
        paused >= wait + wait / 8 && paused <= wait + wait / 4,
        "{times:?}"
    );
}

/// A request that never answers times out after the request timeout, exactly, and is tried
/// again after the back-off; when the retries are spent the timeout is the error.
#[tokio::test(start_paused = true)]
async fn a_request_that_never_answers_times_out_and_is_retried() {
    let server = Hostile::start(|a| a.is_records().then_some(Answer::Hang)).await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|p| {
            p.max_retries = 2;
            p.retry_wait = secs(1);
        }),
        secs(30),
        CancellationToken::new(),
    );
    let err = get(&f).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport { source, .. } if source.is_timeout()),
        "{err:?}"
    );
    let times = arrivals(&server, start);
    assert_eq!(times.len(), 3, "{times:?}");
    assert_eq!(times[0], Duration::ZERO);
    let after_first = times[1] - secs(30);
    assert!(
        after_first >= ms(500) && after_first <= secs(1),
        "{times:?}"
    );
    let after_second = times[2] - times[1] - secs(30);
    assert!(
        after_second >= secs(1) && after_second <= secs(2),
        "{times:?}"
    );
    assert_eq!(start.elapsed(), times[2] + secs(30));
}

/// Stopping the run ends every wait at the instant it is asked: a request in flight, the
/// back-off after a failure, the pause after a 429 and the limiter.
#[tokio::test(start_paused = true)]
async fn stopping_ends_every_wait_at_once() {
    let hanging = Hostile::start(|a| a.is_records().then_some(Answer::Hang)).await;
    let failing = Hostile::start(|a| a.is_records().then(|| status(503, None))).await;
    let limited = failing_first(1, || status(429, Some("300"))).await;
    let quick = Hostile::start(|a| a.is_records().then(one_record)).await;
    // What is stopped, where, how, and whether the first request was answered before.
    let cases: [(&str, &Hostile, Policy, bool); 4] = [
        ("in flight", &hanging, policy(|_| {}), false),
        (
            "back-off",
            &failing,
            policy(|p| p.retry_wait = secs(60)),
            false,
        ),
        (
            "pause",
            &limited,
            policy(|p| p.concurrency = NonZeroU32::new(2).unwrap()),
            false,
        ),
        ("limiter", &quick, policy(|p| p.rate = 0.01), true),
    ];
    for (wait, server, policy, first_answered) in cases {
        let start = Instant::now();
        let stop = CancellationToken::new();
        let f = fetcher(&server.base_url(), policy, TIMEOUT, stop.clone());
        let second = async {
            // Starts after the first request: it meets the pause or the limiter.
            tokio::time::sleep(secs(1)).await;
            get(&f).await
        };
        let stopping = async {
            tokio::time::sleep(secs(10)).await;
            stop.cancel();
        };
        let (first, second, ()) = tokio::join!(get(&f), second, stopping);
        assert_eq!(start.elapsed(), secs(10), "{wait}");
        assert_eq!(matches!(first, Ok(1)), first_answered, "{wait}: {first:?}");
        if !first_answered {
            assert!(
                matches!(first, Err(Error::Interrupted)),
                "{wait}: {first:?}"
            );
        }
        assert!(
            matches!(second, Err(Error::Interrupted)),
            "{wait}: {second:?}"
        );
    }
}

/// The server on the test's runtime answers in no virtual time: 500 requests in a row with a
/// one-second timeout, one a millisecond (the rate), none timed out.
#[tokio::test(start_paused = true)]
async fn a_server_on_the_same_runtime_answers_in_no_virtual_time() {
    let server = Hostile::start(|a| a.is_records().then(one_record)).await;
    let start = Instant::now();
    let f = fetcher(
        &server.base_url(),
        policy(|p| p.rate = 1_000.0),
        secs(1),
        CancellationToken::new(),
    );
    for _ in 0..500 {
        assert_eq!(get(&f).await.unwrap(), 1);
    }
    assert_eq!(f.stats().retries, 0);
    let expected: Vec<Duration> = (0..500).map(ms).collect();
    assert_eq!(arrivals(&server, start), expected);
}

/// Why the servers above share the test's runtime: one on another thread that answers after
/// two seconds of real time is not waited for. The paused clock sees a runtime with nothing to do
/// but wait for a timer, and jumps to it: the request times out at once.
#[tokio::test(start_paused = true)]
async fn a_server_on_another_thread_is_not_waited_for_on_the_paused_clock() {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let slow = Hostile::start(|a: &Asked| {
                std::thread::sleep(secs(2));
                a.is_records().then(one_record)
            })
            .await;
            sender.send(slow.base_url()).unwrap();
            std::future::pending::<()>().await
        })
    });
    let base_url = receiver.recv().unwrap();
    let real = std::time::Instant::now();
    let start = Instant::now();
    let f = fetcher(
        &base_url,
        policy(|p| p.max_retries = 0),
        secs(60),
        CancellationToken::new(),
    );
    let err = get(&f).await.unwrap_err();
    assert!(
        matches!(&err, Error::Transport { source, .. } if source.is_timeout()),
        "{err:?}"
    );
    assert_eq!(start.elapsed(), secs(60));
    assert!(real.elapsed() < secs(2), "{:?}", real.elapsed());
}

/// The same through a whole harvest: a 429 with `Retry-After: 1` delays the next request by
/// at least that second (the harvest's writer is another thread, so the clock may run ahead
/// while it writes: only the lower bound is exact).
#[tokio::test(start_paused = true)]
async fn a_harvest_honours_a_short_retry_after() {
    let docs: Arc<Vec<Value>> = Arc::new((0..5).map(|i| doc(&id(i), STAMP)).collect());
    let first = Arc::new(AtomicU64::new(0));
    let server = Hostile::start({
        let first = first.clone();
        move |a| {
            if a.is_records() && first.fetch_add(1, Ordering::Relaxed) == 0 {
                return Some(status(429, Some("1")));
            }
            let (start, rows) = (a.start as usize, a.rows as usize);
            a.is_records().then(|| Answer::Records {
                num_found: docs.len() as u64,
                docs: docs[start.min(5)..(start + rows).min(5)].to_vec(),
            })
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let start = Instant::now();
    let cfg = config_at(&server.base_url(), &db, "2025-07-01", "2025-07-01", |c| {
        c.rate_limit_wait = Some(0.01);
    });
    let outcome = harvest(&cfg).await.unwrap();
    assert!(outcome.complete, "{}", outcome.message);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM citations"), 5);
    let times = arrivals(&server, start);
    assert!(times[1] - times[0] >= ms(1_125), "{times:?}");
    assert_eq!(outcome.stats.rate_limited, 1);
}
