//! A misbehaving stand-in for the USPTO service, on 127.0.0.1:0: each test says what it answers
//! to each request (redirect, hang, lie about counts, short pages, huge bodies, records outside
//! the window, 429 with any `Retry-After`), and the server records every request it got,
//! with the API key it carried.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use oac_mirror::api::record::KNOWN_FIELDS;
use serde_json::{Value, json};

/// The path every base URL of this server ends in.
pub const PREFIX: &str = "/ds/oa_citations/v2";

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Asked {
    pub method: String,
    pub path: String,
    /// The `X-API-KEY` header, if any.
    pub key: Option<String>,
    pub criteria: Option<String>,
    pub start: u64,
    pub rows: u64,
    /// When the server got it, on tokio's clock (virtual time in a test on the paused clock).
    pub at: tokio::time::Instant,
}

impl Asked {
    pub fn is_records(&self) -> bool {
        self.path.ends_with("/records")
    }
}

/// What the server answers.
pub enum Answer {
    /// 200 with this envelope.
    Records { num_found: u64, docs: Vec<Value> },
    /// 200 with the 16 known fields.
    Fields,
    /// Any status, with headers and a body.
    Status {
        code: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// 301 to this location.
    Redirect(String),
    /// Never answers.
    Hang,
    /// A 200 JSON body of about this many bytes, sent in 64 KB chunks as the client reads.
    Huge(u64),
}

type Handler = dyn Fn(&Asked) -> Option<Answer> + Send + Sync;

struct Shared {
    asked: Mutex<Vec<Asked>>,
    handler: Box<Handler>,
    /// Bytes of huge bodies handed to the connection so far.
    streamed: Arc<AtomicU64>,
}

pub struct Hostile {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl Hostile {
    /// Starts a server answering with `handler`; where it returns `None`, `/fields` lists the
    /// known fields and anything else is a 404 "no matching record".
    pub async fn start(
        handler: impl Fn(&Asked) -> Option<Answer> + Send + Sync + 'static,
    ) -> Hostile {
        let shared = Arc::new(Shared {
            asked: Mutex::new(vec![]),
            handler: Box::new(handler),
            streamed: Arc::new(AtomicU64::new(0)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback({
            let shared = Arc::clone(&shared);
            move |request: Request<Body>| {
                let shared = Arc::clone(&shared);
                async move { answer(&shared, request).await }
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Hostile { addr, shared }
    }

    /// The data set prefix to give as `--base-url`.
    pub fn base_url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    /// The server's origin, for a redirect to it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn asked(&self) -> Vec<Asked> {
        self.shared.asked.lock().unwrap().clone()
    }

    /// Requests to `/records` so far.
    pub fn records_requests(&self) -> usize {
        self.asked().iter().filter(|a| a.is_records()).count()
    }

    /// Bytes of huge bodies handed to connections so far.
    pub fn streamed(&self) -> u64 {
        self.shared.streamed.load(Ordering::Relaxed)
    }
}

async fn answer(shared: &Shared, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let form: Vec<(String, String)> =
        reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(&body)))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let asked = Asked {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        key: parts
            .headers
            .get("x-api-key")
            .map(|v| v.to_str().unwrap_or("<not text>").to_owned()),
        criteria: field("criteria"),
        start: field("start").and_then(|s| s.parse().ok()).unwrap_or(0),
        rows: field("rows").and_then(|s| s.parse().ok()).unwrap_or(100),
        at: tokio::time::Instant::now(),
    };
    shared.asked.lock().unwrap().push(asked.clone());
    let reply = (shared.handler)(&asked).unwrap_or(if asked.path.ends_with("/fields") {
        Answer::Fields
    } else {
        Answer::Status {
            code: 404,
            headers: vec![],
            body: r#"{"error":"No matching record found for the given criteria."}"#.into(),
        }
    });
    let json_type = [(axum::http::header::CONTENT_TYPE, "application/json")];
    match reply {
        Answer::Records { num_found, docs } => (
            json_type,
            json!({"response": {"numFound": num_found, "start": asked.start, "docs": docs}})
                .to_string(),
        )
            .into_response(),
        Answer::Fields => (
            json_type,
            json!({"fieldCount": KNOWN_FIELDS.len(), "fields": KNOWN_FIELDS}).to_string(),
        )
            .into_response(),
        Answer::Status {
            code,
            headers,
            body,
        } => {
            let mut response = (StatusCode::from_u16(code).unwrap(), body).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
        Answer::Redirect(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [(axum::http::header::LOCATION, location)],
        )
            .into_response(),
        Answer::Hang => std::future::pending().await,
        Answer::Huge(bytes) => {
            let streamed = Arc::clone(&shared.streamed);
            let head = Bytes::from_static(br#"{"response":{"numFound":1,"docs":[{"id":""#);
            let tail = Bytes::from_static(br#""}]}}"#);
            let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
            let n = bytes / chunk.len() as u64;
            let chunks = std::iter::once(head)
                .chain((0..n).map(move |_| chunk.clone()))
                .chain(std::iter::once(tail))
                .map(move |c| {
                    streamed.fetch_add(c.len() as u64, Ordering::Relaxed);
                    Ok::<_, std::io::Error>(c)
                });
            (
                json_type,
                Body::from_stream(futures_util::stream::iter(chunks)),
            )
                .into_response()
        }
    }
}

/// A record with this id and `createDateTime`, otherwise like a real one.
pub fn doc(id: &str, create_date_time: &str) -> Value {
    json!({
        "id": id,
        "patentApplicationNumber": "16123456",
        "referenceIdentifier": "Sabe; Kohtaro US 20070217688 A1",
        "parsedReferenceIdentifier": "20070217688",
        "actionTypeCategory": "rejected",
        "legalSectionCode": "102",
        "examinerCitedReferenceIndicator": true,
        "applicantCitedExaminerReferenceIndicator": false,
        "officeActionCitationReferenceIndicator": true,
        "groupArtUnitNumber": "2641",
        "techCenter": "2600",
        "workGroup": "2640",
        "obsoleteDocumentIdentifier": "K87AK41FRXEAPX5",
        "createDateTime": create_date_time,
        "createUserIdentifier": "ETL_SYS",
    })
}

/// A 32-hex-digit id made from `n`.
pub fn id(n: u64) -> String {
    format!("{n:032x}")
}
