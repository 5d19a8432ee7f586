//! The replica's two endpoints, `/records` and `/fields`, for every data set of the family.
//! What a request asks for and what the answer is are pure functions here ([`read_request`],
//! [`in_broken_window`], [`service_time`]); the handlers count, wait and answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::faults::{Fault, Misbehaviour, Verdict};
use super::query::Query;
use super::{Shared, ensure_siblings};

/// What a `/records` form asks for: `start`, `rows` and the parsed `criteria`.
#[derive(Debug)]
pub(super) struct PageRequest {
    pub start: u64,
    pub rows: u64,
    pub query: Query,
}

/// Reads a `/records` form as the real service does: `start` 0 and `rows` 100 when absent,
/// `*:*` without criteria, and a 400's message for a number that is not one, a page past `cap`
/// or criteria it cannot parse.
pub(super) fn read_request(
    form: &HashMap<String, String>,
    cap: u64,
) -> Result<PageRequest, String> {
    let start = number(form, "start", 0)?;
    let rows = number(form, "rows", 100)?;
    if start.saturating_add(rows) > cap {
        return Err(format!("start + rows must not exceed {cap}"));
    }
    let criteria = form.get("criteria").map(String::as_str).unwrap_or("*:*");
    let query = Query::parse(criteria)?;
    Ok(PageRequest { start, rows, query })
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

/// Whether a request pages (past its first page) into a window holding the broken stamp.
pub(super) fn in_broken_window(stamp: Option<&str>, request: &PageRequest) -> bool {
    let Some(stamp) = stamp else {
        return false;
    };
    request.start > 0
        && matches!(request.query.bounds_on("createDateTime"),
            (Some(lo), Some(hi)) if lo <= stamp && stamp <= hi)
}

/// How long an answer of `bytes` takes to serve.
pub(super) fn service_time(misbehaviour: &Misbehaviour, bytes: usize) -> Duration {
    misbehaviour.latency
        + Duration::from_secs_f64(misbehaviour.ms_per_mb.max(0.0) * bytes as f64 / 1e9)
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "code": status.as_u16(), "message": message })),
    )
        .into_response()
}

/// An error answer given instead of the records: its status and message.
struct Refusal(StatusCode, String);

impl Refusal {
    fn new(status: StatusCode, message: &str) -> Refusal {
        Refusal(status, message.to_owned())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, &self.1)
    }
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    match &shared.settings.read().expect("not poisoned").require_key {
        None => true,
        Some(key) => headers
            .get("x-api-key")
            .is_some_and(|v| v.as_bytes() == key.as_bytes()),
    }
}

/// `POST {ROOT}/{path}/records` of data set `name`.
pub(super) async fn records(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
    name: &'static str,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    shared.record_requests.fetch_add(1, Ordering::Relaxed);
    *shared
        .by_dataset
        .lock()
        .expect("not poisoned")
        .entry(name)
        .or_default() += 1;
    let _in_flight = shared.tracker.enter();
    let (misbehaviour, cap) = {
        let settings = shared.settings.read().expect("not poisoned");
        (settings.misbehaviour.clone(), settings.paging_cap)
    };
    let fault = match injected(&shared, &misbehaviour).await {
        Ok(fault) => fault,
        Err(refused) => return refused.into_response(),
    };
    if !authorized(&shared, &headers) {
        return error(StatusCode::FORBIDDEN, "Forbidden");
    }
    let body = match answer(&shared, name, &form, cap, &misbehaviour) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let service_time = service_time(&misbehaviour, body.len());
    if !service_time.is_zero() {
        tokio::time::sleep(service_time).await;
    }
    if let Some(fault) = fault {
        shared.tracker.count(&fault.name());
    }
    deliver(body, fault)
}

/// The fault this request meets: an answer instead of the records (a 429 or another status),
/// a delay (already waited), or one that spoils the body on its way out.
async fn injected(shared: &Shared, misbehaviour: &Misbehaviour) -> Result<Option<Fault>, Refusal> {
    match shared.tracker.judge(misbehaviour) {
        Verdict::RateLimited | Verdict::Inject(Fault::Status(429)) => Err(Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests",
        )),
        Verdict::Inject(Fault::Status(code)) => Err(Refusal::new(
            StatusCode::from_u16(code).expect("a valid status"),
            "injected fault",
        )),
        Verdict::Inject(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Verdict::Inject(fault) => Ok(Some(fault)),
        Verdict::Proceed => Ok(None),
    }
}

/// The body of the page the form asks for, or the error answer that takes its place.
fn answer(
    shared: &Shared,
    name: &'static str,
    form: &HashMap<String, String>,
    cap: u64,
    misbehaviour: &Misbehaviour,
) -> Result<String, Refusal> {
    let request = read_request(form, cap).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e))?;
    if in_broken_window(misbehaviour.broken_stamp.as_deref(), &request) {
        shared.tracker.count("broken");
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "injected: this window is broken",
        ));
    }
    let (start, rows, q) = (request.start, request.rows, &request.query);
    let (found, docs) = if name == crate::dataset::CITATIONS.name {
        shared
            .data
            .read()
            .expect("not poisoned")
            .page(q, start, rows)
    } else {
        ensure_siblings(shared);
        let siblings = shared.siblings.read().expect("not poisoned");
        siblings.as_ref().expect("made")[name].page(q, start, rows)
    };
    if found == 0 {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "No matching record found for the given criteria.",
        ));
    }
    let body =
        json!({ "response": { "numFound": found, "start": start, "docs": docs } }).to_string();
    if misbehaviour
        .max_response_bytes
        .is_some_and(|max| body.len() > max)
    {
        shared.tracker.count("413");
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Response too large",
        ));
    }
    Ok(body)
}

/// Sends `body`, cut in half (as JSON or as a reset connection) when `fault` says so.
fn deliver(body: String, fault: Option<Fault>) -> Response {
    let json_header = [(axum::http::header::CONTENT_TYPE, "application/json")];
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

/// `GET {ROOT}/{path}/fields` of data set `name`.
pub(super) async fn fields(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    name: &'static str,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    if !authorized(&shared, &headers) {
        return error(StatusCode::FORBIDDEN, "Forbidden");
    }
    let d = crate::dataset::Dataset::named(name).expect("a described data set");
    let fields: Vec<String> = {
        let settings = shared.settings.read().expect("not poisoned");
        match settings.family_fields.get(name) {
            _ if d.is_citations() => settings.fields.clone(),
            Some(fields) => fields.clone(),
            None => d.known_fields().map(str::to_owned).collect(),
        }
    };
    let (key, version) = d.path.split_once('/').expect("name/version");
    Json(json!({
        "apiKey": key,
        "apiVersionNumber": version,
        "apiStatus": "PUBLISHED",
        "fieldCount": fields.len(),
        "fields": fields,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_request_is_read_as_the_service_reads_it() {
        let r = read_request(&form(&[]), 10_000).unwrap();
        assert_eq!((r.start, r.rows), (0, 100));
        assert_eq!(r.query, Query::All);
        let r = read_request(&form(&[("start", " 200 "), ("rows", "50")]), 250).unwrap();
        assert_eq!((r.start, r.rows), (200, 50));
        assert_eq!(
            read_request(&form(&[("start", "201"), ("rows", "50")]), 250).unwrap_err(),
            "start + rows must not exceed 250"
        );
        assert_eq!(
            read_request(&form(&[("rows", "-1")]), 250).unwrap_err(),
            "rows must be a whole number"
        );
        assert!(read_request(&form(&[("criteria", "techCenter:")]), 250).is_err());
    }

    #[test]
    fn only_pages_past_the_first_into_the_broken_window_break() {
        let request = |start: &str| {
            read_request(
                &form(&[
                    ("start", start),
                    (
                        "criteria",
                        "createDateTime:[2020-01-01T00:00:00 TO 2020-01-31T23:59:59]",
                    ),
                ]),
                10_000,
            )
            .unwrap()
        };
        let stamp = Some("2020-01-15T00:00:00");
        assert!(in_broken_window(stamp, &request("100")));
        assert!(!in_broken_window(stamp, &request("0")));
        assert!(!in_broken_window(None, &request("100")));
        assert!(!in_broken_window(
            Some("2021-01-01T00:00:00"),
            &request("100")
        ));
    }

    #[test]
    fn service_time_grows_with_the_body() {
        let m = Misbehaviour {
            latency: Duration::from_millis(300),
            ms_per_mb: 100.0,
            ..Misbehaviour::default()
        };
        assert_eq!(service_time(&m, 0), Duration::from_millis(300));
        assert_eq!(service_time(&m, 2_000_000), Duration::from_millis(500));
        assert_eq!(
            service_time(&Misbehaviour::default(), 5_000_000),
            Duration::ZERO
        );
    }
}
