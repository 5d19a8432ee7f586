//! A local stand-in for the USPTO Office Action Citations API, v2, on loopback: for the tests,
//! and for a new user without an API key to watch a complete harvest.
//!
//! It behaves like the real service as far as `shared/api/README.md` knows it: a form body
//! with `criteria`, `start` and `rows`; Solr syntax compared as strings (see [`query`]);
//! `numFound`; 404 when nothing matches; 403 without the key (when one is required); 400 for a
//! query it cannot parse or one that pages past its cap; and `/fields`.

mod data;
mod faults;
pub mod query;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use data::synthetic;
use faults::Verdict;
pub use faults::{Fault, Misbehaviour};
use query::Query;

/// The path of the data set under the replica's address, as on the Open Data Portal.
pub const PREFIX: &str = "/api/v1/patent/oa/oa_citations/v2";

/// How the replica behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `X-API-KEY` it requires; `None` accepts any request.
    pub require_key: Option<String>,
    /// The most `start + rows` it pages to; beyond it answers 400.
    pub paging_cap: u64,
    /// The field list `/fields` answers.
    pub fields: Vec<String>,
    /// Limits and faults (none by default).
    pub misbehaviour: Misbehaviour,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            require_key: None,
            paging_cap: 10_000,
            fields: crate::api::record::KNOWN_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect(),
            misbehaviour: Misbehaviour::default(),
        }
    }
}

/// A running replica; it stops when dropped.
pub struct Replica {
    addr: SocketAddr,
    state: Arc<Shared>,
    server: JoinHandle<()>,
}

struct Shared {
    settings: RwLock<Settings>,
    data: RwLock<Dataset>,
    requests: AtomicU64,
    record_requests: AtomicU64,
    tracker: faults::Tracker,
}

/// The records, sorted by `createDateTime` (then by their order as given) so that range queries
/// on it, the harvester's only kind, look at a slice rather than every record.
struct Dataset {
    keys: Vec<String>,
    docs: Vec<Value>,
}

impl Dataset {
    fn new(docs: Vec<Value>) -> Dataset {
        let mut keyed: Vec<(String, Value)> = docs
            .into_iter()
            .map(|d| (query::text(&d, "createDateTime").unwrap_or_default(), d))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let (keys, docs) = keyed.into_iter().unzip();
        Dataset { keys, docs }
    }

    fn matching<'a>(&'a self, q: &'a Query) -> impl Iterator<Item = &'a Value> + 'a {
        let (lo, hi) = q.bounds_on("createDateTime");
        let start = lo.map_or(0, |lo| self.keys.partition_point(|k| k.as_str() < lo));
        // Every key starting with `hi` may still be in range (e.g. a bare date as bound).
        let end = hi.map_or(self.keys.len(), |hi| {
            self.keys
                .partition_point(|k| k.as_str() <= hi || k.starts_with(hi))
        });
        self.docs[start..end.max(start)]
            .iter()
            .filter(move |d| q.matches(d))
    }
}

impl Replica {
    /// Serves `docs` on `addr` (use port 0 for any free port).
    pub async fn start(
        addr: SocketAddr,
        docs: Vec<Value>,
        settings: Settings,
    ) -> std::io::Result<Replica> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Shared {
            settings: RwLock::new(settings),
            data: RwLock::new(Dataset::new(docs)),
            requests: AtomicU64::new(0),
            record_requests: AtomicU64::new(0),
            tracker: faults::Tracker::new(),
        });
        let app = Router::new()
            .route(&format!("{PREFIX}/records"), post(records))
            .route(&format!("{PREFIX}/fields"), get(fields))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Replica {
            addr,
            state,
            server,
        })
    }

    /// The dataset prefix to give the harvester as `--base-url`.
    pub fn base_url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    /// Requests answered so far, all endpoints.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// `/records` requests answered so far.
    pub fn record_requests(&self) -> u64 {
        self.state.record_requests.load(Ordering::Relaxed)
    }

    /// What the replica injected so far, by kind (`500`, `timeout`, `429 (limit)`, `413`, ...).
    pub fn injected(&self) -> std::collections::BTreeMap<String, u64> {
        self.state.tracker.injected()
    }

    /// Replaces the records served (a new version of the data set).
    pub fn replace_data(&self, docs: Vec<Value>) {
        *self.state.data.write().expect("not poisoned") = Dataset::new(docs);
    }

    /// Changes how the replica behaves from the next request on.
    pub fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.state.settings.write().expect("not poisoned"));
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "code": status.as_u16(), "message": message })),
    )
        .into_response()
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    match &shared.settings.read().expect("not poisoned").require_key {
        None => true,
        Some(key) => headers
            .get("x-api-key")
            .is_some_and(|v| v.as_bytes() == key.as_bytes()),
    }
}

async fn records(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    shared.record_requests.fetch_add(1, Ordering::Relaxed);
    let _in_flight = shared.tracker.enter();
    let (misbehaviour, cap) = {
        let settings = shared.settings.read().expect("not poisoned");
        (settings.misbehaviour.clone(), settings.paging_cap)
    };
    let fault = match shared.tracker.judge(&misbehaviour) {
        Verdict::RateLimited | Verdict::Inject(Fault::Status(429)) => {
            return error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        Verdict::Inject(Fault::Status(code)) => {
            return error(
                StatusCode::from_u16(code).expect("a valid status"),
                "injected fault",
            );
        }
        Verdict::Inject(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        Verdict::Inject(fault) => Some(fault),
        Verdict::Proceed => None,
    };
    if !authorized(&shared, &headers) {
        return error(StatusCode::FORBIDDEN, "Forbidden");
    }
    let (start, rows) = match (number(&form, "start", 0), number(&form, "rows", 100)) {
        (Ok(s), Ok(r)) => (s, r),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, &e),
    };
    if start.saturating_add(rows) > cap {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("start + rows must not exceed {cap}"),
        );
    }
    let criteria = form.get("criteria").map(String::as_str).unwrap_or("*:*");
    let q = match Query::parse(criteria) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    if let Some(stamp) = &misbehaviour.broken_stamp
        && start > 0
        && matches!(q.bounds_on("createDateTime"), (Some(lo), Some(hi)) if lo <= stamp.as_str() && stamp.as_str() <= hi)
    {
        shared.tracker.count("broken");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected: this window is broken",
        );
    }
    let (found, docs) = {
        let data = shared.data.read().expect("not poisoned");
        let mut found = 0u64;
        let mut docs = vec![];
        for doc in data.matching(&q) {
            if found >= start && (docs.len() as u64) < rows {
                docs.push(doc.clone());
            }
            found += 1;
        }
        (found, docs)
    };
    if found == 0 {
        return error(
            StatusCode::NOT_FOUND,
            "No matching record found for the given criteria.",
        );
    }
    let body =
        json!({ "response": { "numFound": found, "start": start, "docs": docs } }).to_string();
    if misbehaviour
        .max_response_bytes
        .is_some_and(|max| body.len() > max)
    {
        shared.tracker.count("413");
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Response too large");
    }
    let service_time = misbehaviour.latency
        + Duration::from_secs_f64(misbehaviour.ms_per_mb.max(0.0) * body.len() as f64 / 1e9);
    if !service_time.is_zero() {
        tokio::time::sleep(service_time).await;
    }
    let json_header = [(axum::http::header::CONTENT_TYPE, "application/json")];
    if let Some(fault) = fault {
        shared.tracker.count(&fault.name());
    }
    match fault {
        Some(Fault::Malformed) => (json_header, body[..body.len() / 2].to_owned()).into_response(),
        Some(Fault::Cut) => {
            let half = axum::body::Bytes::from(body[..body.len() / 2].to_owned());
            let cut = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected cut");
            let stream = futures_util::stream::iter([Ok(half), Err(cut)]);
            (json_header, axum::body::Body::from_stream(stream)).into_response()
        }
        _ => (json_header, body).into_response(),
    }
}

fn number(form: &HashMap<String, String>, name: &str, default: u64) -> Result<u64, String> {
    match form.get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a whole number")),
    }
}

async fn fields(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if !authorized(&shared, &headers) {
        return error(StatusCode::FORBIDDEN, "Forbidden");
    }
    let fields = shared.settings.read().expect("not poisoned").fields.clone();
    Json(json!({
        "apiKey": "oa_citations",
        "apiVersionNumber": "v2",
        "apiStatus": "PUBLISHED",
        "fieldCount": fields.len(),
        "fields": fields,
    }))
    .into_response()
}
