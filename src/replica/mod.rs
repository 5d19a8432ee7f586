//! A local stand-in for the USPTO Office Action Citations API, v2, on loopback: for the tests,
//! and for a new user without an API key to watch a complete harvest.
//!
//! It behaves like the real service as far as `shared/api/README.md` knows it: a form body
//! with `criteria`, `start` and `rows`; Solr syntax compared as strings (see [`query`]);
//! `numFound`; 404 when nothing matches; 403 without the key (when one is required); 400 for a
//! query it cannot parse or one that pages past its cap; and `/fields`. The citations' siblings
//! (rejections, enriched citations) are served beside them under [`ROOT`], made from the
//! citations when first asked for (see [`family`]).
//!
//! This file holds the running replica and its settings; the endpoints are in `handlers`, the
//! records each data set serves and their paging in `served`, the synthetic records in `data`
//! and the limits and faults it can inject in `faults`.

mod data;
pub mod family;
mod faults;
mod handlers;
pub mod query;
mod served;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use data::synthetic;
pub use faults::{Fault, Misbehaviour};
use handlers::{fields, records};
use served::Served;

/// The path of the data set under the replica's address, as on the Open Data Portal.
pub const PREFIX: &str = "/api/v1/patent/oa/oa_citations/v2";
/// The family's root under the replica's address: each data set is at `{ROOT}/{its path}`.
pub const ROOT: &str = "/api/v1/patent/oa";

/// How the replica behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `X-API-KEY` it requires; `None` accepts any request.
    pub require_key: Option<String>,
    /// The most `start + rows` it pages to; beyond it answers 400.
    pub paging_cap: u64,
    /// The field list `/fields` answers.
    pub fields: Vec<String>,
    /// The field list a sibling's `/fields` answers, by data set name, where it is not the
    /// one its description knows.
    pub family_fields: BTreeMap<String, Vec<String>>,
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
            family_fields: BTreeMap::new(),
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
    data: RwLock<Served>,
    /// The siblings' records by data set name, made from the citations when one is first
    /// asked for (see [`family`]).
    siblings: RwLock<Option<BTreeMap<&'static str, Served>>>,
    /// `/records` requests answered so far, by data set name.
    by_dataset: std::sync::Mutex<BTreeMap<&'static str, u64>>,
    requests: AtomicU64,
    record_requests: AtomicU64,
    tracker: faults::Tracker,
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
            data: RwLock::new(Served::new(docs)),
            siblings: RwLock::new(None),
            by_dataset: Default::default(),
            requests: AtomicU64::new(0),
            record_requests: AtomicU64::new(0),
            tracker: faults::Tracker::new(),
        });
        let mut app = Router::new();
        for d in crate::dataset::ALL {
            let name = d.name;
            app = app
                .route(
                    &format!("{ROOT}/{}/records", d.path),
                    post(move |state, headers, form| records(state, headers, form, name)),
                )
                .route(
                    &format!("{ROOT}/{}/fields", d.path),
                    get(move |state, headers| fields(state, headers, name)),
                );
        }
        let app = app.with_state(Arc::clone(&state));
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

    /// Replaces the records served (a new version of the data set). The siblings, once made,
    /// stay as they are (see [`Replica::replace_family`]).
    pub fn replace_data(&self, docs: Vec<Value>) {
        *self.state.data.write().expect("not poisoned") = Served::new(docs);
    }

    /// The records a sibling data set (`rejections`, `enriched`) serves, made now if they were
    /// not yet: the truth a harvest of it must equal.
    pub fn family_docs(&self, name: &str) -> Vec<Value> {
        ensure_siblings(&self.state);
        let siblings = self.state.siblings.read().expect("not poisoned");
        siblings
            .as_ref()
            .and_then(|s| s.get(name))
            .map(|d| d.docs.clone())
            .unwrap_or_default()
    }

    /// Replaces the records of the sibling data set `name` (a new version of it).
    pub fn replace_family(&self, name: &'static str, docs: Vec<Value>) {
        ensure_siblings(&self.state);
        if let Some(s) = self.state.siblings.write().expect("not poisoned").as_mut() {
            s.insert(name, Served::new(docs));
        }
    }

    /// `/records` requests answered so far for the data set `name`.
    pub fn record_requests_of(&self, name: &str) -> u64 {
        let counts = self.state.by_dataset.lock().expect("not poisoned");
        counts.get(name).copied().unwrap_or(0)
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

/// Makes the siblings from the citations, unless made already.
fn ensure_siblings(shared: &Shared) {
    if shared.siblings.read().expect("not poisoned").is_some() {
        return;
    }
    let mut siblings = shared.siblings.write().expect("not poisoned");
    if siblings.is_none() {
        let data = shared.data.read().expect("not poisoned");
        let (rejections, enriched) = family::siblings(&data.docs, 0);
        *siblings = Some(BTreeMap::from([
            ("rejections", Served::new(rejections)),
            ("enriched", Served::new(enriched)),
        ]));
    }
}
