//! How the replica misbehaves on purpose, like the real service under load: limits that answer
//! 429, a response size limit that answers 413, and faults drawn from a seed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (500, 502, 503, 504, 429).
    Status(u16),
    /// Answer only after this long (longer than the client's timeout).
    Slow(Duration),
    /// Send part of the body, then drop the connection.
    Cut,
    /// Answer 200 with JSON cut in half.
    Malformed,
}

impl Fault {
    /// Every kind the issue names, with `slow` for the timeout.
    pub fn all(slow: Duration) -> Vec<Fault> {
        vec![
            Fault::Status(500),
            Fault::Status(502),
            Fault::Status(503),
            Fault::Status(504),
            Fault::Status(429),
            Fault::Slow(slow),
            Fault::Cut,
            Fault::Malformed,
        ]
    }

    pub fn name(self) -> String {
        match self {
            Fault::Status(code) => code.to_string(),
            Fault::Slow(_) => "timeout".into(),
            Fault::Cut => "cut".into(),
            Fault::Malformed => "malformed".into(),
        }
    }
}

/// Limits and faults; the default has none.
#[derive(Clone, Debug, Default)]
pub struct Misbehaviour {
    /// More requests in flight than this answer 429.
    pub max_in_flight: Option<usize>,
    /// More requests than this in any one second answer 429.
    pub max_per_second: Option<usize>,
    /// A request sooner than this after a 429 answers 429 again.
    pub rate_limit_penalty: Option<Duration>,
    /// A response body larger than this answers 413.
    pub max_response_bytes: Option<usize>,
    /// The share of `/records` requests (0 to 1) that meet one of `kinds`.
    pub fault_rate: f64,
    pub kinds: Vec<Fault>,
    pub seed: u64,
    /// Service time of every `/records` answer: this long, plus `ms_per_mb` for each MB of the
    /// body, like the Open Data Portal (about 300 ms plus 100 ms per MB). The request stays in
    /// flight meanwhile, so `max_in_flight` sees it.
    pub latency: Duration,
    pub ms_per_mb: f64,
    /// Pages past offset 0 of any window holding this `createDateTime` always answer 503: one
    /// partition that keeps failing while the others succeed.
    pub broken_stamp: Option<String>,
}

/// The replica's running state of misbehaviour.
pub(super) struct Tracker {
    in_flight: AtomicUsize,
    recent: Mutex<VecDeque<Instant>>,
    last_429: Mutex<Option<Instant>>,
    rng: Mutex<Option<fastrand::Rng>>,
    injected: Mutex<BTreeMap<String, u64>>,
}

/// Decrements the in-flight count when the request is answered.
pub(super) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What to do with one request before answering it normally.
pub(super) enum Verdict {
    Proceed,
    RateLimited,
    Inject(Fault),
}

impl Tracker {
    pub(super) fn new() -> Tracker {
        Tracker {
            in_flight: AtomicUsize::new(0),
            recent: Mutex::new(VecDeque::new()),
            last_429: Mutex::new(None),
            rng: Mutex::new(None),
            injected: Mutex::new(BTreeMap::new()),
        }
    }

    pub(super) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(&self.in_flight)
    }

    /// Judges a request that has entered; counts what it injects.
    pub(super) fn judge(&self, m: &Misbehaviour) -> Verdict {
        let now = Instant::now();
        let limited = m
            .max_in_flight
            .is_some_and(|max| self.in_flight.load(Ordering::SeqCst) > max)
            || m.rate_limit_penalty.is_some_and(|p| {
                self.last_429
                    .lock()
                    .expect("not poisoned")
                    .is_some_and(|t| now - t < p)
            })
            || m.max_per_second.is_some_and(|max| {
                let mut recent = self.recent.lock().expect("not poisoned");
                while recent
                    .front()
                    .is_some_and(|t| now - *t >= Duration::from_secs(1))
                {
                    recent.pop_front();
                }
                let over = recent.len() >= max;
                if !over {
                    recent.push_back(now);
                }
                over
            });
        if limited {
            self.count("429 (limit)");
            *self.last_429.lock().expect("not poisoned") = Some(now);
            return Verdict::RateLimited;
        }
        if m.fault_rate > 0.0 && !m.kinds.is_empty() {
            let mut rng = self.rng.lock().expect("not poisoned");
            let rng = rng.get_or_insert_with(|| fastrand::Rng::with_seed(m.seed));
            if rng.f64() < m.fault_rate {
                let fault = m.kinds[rng.usize(..m.kinds.len())];
                // A cut or malformed body can only be applied to a 200; the handler counts
                // those when it applies them.
                if !matches!(fault, Fault::Cut | Fault::Malformed) {
                    self.count(&fault.name());
                }
                if fault == Fault::Status(429) {
                    *self.last_429.lock().expect("not poisoned") = Some(now);
                }
                return Verdict::Inject(fault);
            }
        }
        Verdict::Proceed
    }

    pub(super) fn count(&self, what: &str) {
        *self
            .injected
            .lock()
            .expect("not poisoned")
            .entry(what.to_owned())
            .or_default() += 1;
    }

    pub(super) fn injected(&self) -> BTreeMap<String, u64> {
        self.injected.lock().expect("not poisoned").clone()
    }
}
