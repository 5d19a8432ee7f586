//! The USPTO Office Action Citations API, v2: one HTTP call per method, no retries, no rate
//! limiting (those live in `harvest::fetch`), no SQL.
//!
//! `base_url` is the dataset prefix; requests go to `{base_url}/records` (POST, form body) and
//! `{base_url}/fields` (GET). The API key is sent as `X-API-KEY`, marked sensitive so that it
//! never shows in debug output.

pub mod query;
pub mod record;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// How a 404 says "this query matches nothing" (an empty window, not a failure).
const NO_MATCH: &str = "no matching record";

/// The largest response body read by default: a little above the 6 MB the Open Data Portal
/// itself refuses to send (it answers 413 instead).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// The most of an error body kept for a message.
const ERROR_BODY_BYTES: u64 = 64 * 1024;

/// One answer of `/records`.
#[derive(Debug)]
pub struct Page {
    /// How many records match the criteria in all (not just on this page).
    pub num_found: u64,
    /// The records on this page, as upstream wrote them, unchecked (see
    /// [`record::parse_raw`]): kept as text, parsed once, straight into their fields.
    pub docs: Vec<Box<RawValue>>,
    /// Bytes of the response body, for the log and the benchmarks.
    pub bytes: usize,
}

#[derive(Deserialize)]
struct Envelope {
    response: Body,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    num_found: u64,
    #[serde(default)]
    docs: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct FieldsAnswer {
    fields: Vec<String>,
}

/// Timeouts for one request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

/// The API key, kept out of `Debug` and `Display`.
#[derive(Clone, Default)]
pub struct ApiKey(Option<String>);

impl ApiKey {
    pub fn new(key: Option<String>) -> ApiKey {
        ApiKey(key.filter(|k| !k.trim().is_empty()))
    }
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ApiKey(<set>)"
        } else {
            "ApiKey(<unset>)"
        })
    }
}

/// A client for one dataset prefix.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    records_url: String,
    fields_url: String,
    /// Bodies larger than this are not read: [`Error::TooLarge`].
    max_body: u64,
}

impl Client {
    pub fn new(base_url: &str, key: &ApiKey, timeouts: Timeouts) -> Result<Client> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || reqwest::Url::parse(base).is_err()
        {
            return Err(Error::BaseUrl(base_url.to_owned()));
        }
        let mut headers = HeaderMap::new();
        if let Some(k) = &key.0 {
            let mut value = HeaderValue::from_str(k).map_err(|_| Error::Config {
                origin: "environment".into(),
                key: "USPTO_API_KEY".into(),
                value: "<hidden>".into(),
                problem: "contains characters not allowed in an HTTP header".into(),
            })?;
            value.set_sensitive(true);
            headers.insert("X-API-KEY", value);
        }
        // Redirects are never followed: the key goes to the configured origin only, and a
        // POST turned into a GET would lose its criteria.
        let http = reqwest::Client::builder()
            .user_agent(concat!("oac-mirror/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .build()
            .map_err(|source| Error::Transport {
                url: base.to_owned(),
                source,
            })?;
        Ok(Client {
            http,
            records_url: format!("{base}/records"),
            fields_url: format!("{base}/fields"),
            max_body: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// The same client, reading bodies of at most `bytes` (`max_response_bytes`).
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Client {
        self.max_body = bytes;
        self
    }

    /// `POST /records` with `criteria`, `start` and `rows`. A 404 that says nothing matched is
    /// an empty page with `num_found` 0.
    pub async fn records(&self, criteria: &str, start: u64, rows: u64) -> Result<Page> {
        let url = &self.records_url;
        let form = [
            ("criteria", criteria.to_owned()),
            ("start", start.to_string()),
            ("rows", rows.to_string()),
        ];
        let response = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let content_type = content_type(response.headers());
        check_redirect(url, &response)?;
        let body = read_body(url, response, self.body_limit(status)).await?;
        if status == StatusCode::NOT_FOUND && is_no_match(&body) {
            return Ok(Page {
                num_found: 0,
                docs: vec![],
                bytes: body.len(),
            });
        }
        check_status(url, status, retry_after, &body)?;
        let envelope: Envelope = parse_json(url, &content_type, &body)?;
        Ok(Page {
            num_found: envelope.response.num_found,
            docs: envelope.response.docs,
            bytes: body.len(),
        })
    }

    /// `GET /fields`: the names of the searchable fields.
    pub async fn fields(&self) -> Result<Vec<String>> {
        let url = &self.fields_url;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let content_type = content_type(response.headers());
        check_redirect(url, &response)?;
        let body = read_body(url, response, self.body_limit(status)).await?;
        check_status(url, status, retry_after, &body)?;
        let answer: FieldsAnswer = parse_json(url, &content_type, &body)?;
        Ok(answer.fields)
    }

    pub fn records_url(&self) -> &str {
        &self.records_url
    }

    /// How much of a body with `status` is read: all of a 200 up to the limit, the start of
    /// anything else (for the message).
    fn body_limit(&self, status: StatusCode) -> u64 {
        if status.is_success() {
            self.max_body
        } else {
            self.max_body.min(ERROR_BODY_BYTES)
        }
    }
}

/// A 3xx is an error: the request is not sent again, so neither the key nor the criteria
/// go anywhere but the configured origin.
fn check_redirect(url: &str, response: &reqwest::Response) -> Result<()> {
    let status = response.status();
    if !status.is_redirection() {
        return Ok(());
    }
    Err(Error::Redirect {
        url: url.to_owned(),
        status: status.as_u16(),
        location: response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned()),
    })
}

/// Reads a body chunk by chunk, never more than `limit` bytes: a larger one is
/// [`Error::TooLarge`] for a 200, and cut at `limit` for an error answer (only its start is
/// shown).
async fn read_body(url: &str, mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>> {
    let success = response.status().is_success();
    let too_large = || Error::TooLarge {
        url: url.to_owned(),
        limit,
    };
    if success && response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|source| Error::Transport {
        url: url.to_owned(),
        source,
    })? {
        if (body.len() + chunk.len()) as u64 > limit {
            if success {
                return Err(too_large());
            }
            let room = limit as usize - body.len();
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// Parses a 200's body; one that is not JSON at all (an HTML page from a proxy or a wrong
/// URL) is told apart from JSON of the wrong shape or cut short.
fn parse_json<T: serde::de::DeserializeOwned>(
    url: &str,
    content_type: &str,
    body: &[u8],
) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if matches!(first, Some(b'{' | b'[')) || body.is_empty() {
            Error::Malformed {
                url: url.to_owned(),
                source,
            }
        } else {
            Error::NotJson {
                url: url.to_owned(),
                content_type: if content_type.is_empty() {
                    "no content type".into()
                } else {
                    content_type.to_owned()
                },
                body: snippet(body),
            }
        }
    })
}

fn is_no_match(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_lowercase()
        .contains(NO_MATCH)
}

fn check_status(
    url: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<()> {
    if status.is_success() {
        return Ok(());
    }
    let code = status.as_u16();
    if code == 404 {
        return Err(Error::NotFound {
            url: url.to_owned(),
        });
    }
    if code == 401 || code == 403 {
        return Err(Error::Auth {
            url: url.to_owned(),
            status: code,
        });
    }
    Err(Error::Status {
        url: url.to_owned(),
        status: code,
        retry_after,
        body: snippet(body),
    })
}

/// The start of an error body, on one line, for messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// `Retry-After` in seconds; the HTTP-date form is ignored (the 5-second floor applies). A
/// number too large for a `u64` is read as the largest one (it is far too long either way).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(
        value.parse::<u64>().unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_match_is_recognised_and_snippets_are_short() {
        assert!(is_no_match(
            br#"{"error":"No matching record found for the given criteria."}"#
        ));
        assert!(!is_no_match(b"<html>Not Found</html>"));
        let long = "x ".repeat(500);
        assert!(snippet(long.as_bytes()).chars().count() <= 201);
    }

    #[test]
    fn retry_after_in_seconds_however_large() {
        let header = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                reqwest::header::RETRY_AFTER,
                HeaderValue::from_str(v).unwrap(),
            );
            retry_after(&h)
        };
        assert_eq!(header(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            header("99999999999999999"),
            Some(Duration::from_secs(99_999_999_999_999_999))
        );
        assert_eq!(
            header("999999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(header("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(header("-5"), None);
    }

    #[test]
    fn html_is_not_called_malformed_json() {
        let html: Result<FieldsAnswer> =
            parse_json("u", "text/html", b"<html><body>Bad gateway</body></html>");
        assert!(
            matches!(&html, Err(Error::NotJson { content_type, body, .. })
                if content_type == "text/html" && body.starts_with("<html>")),
            "{:?}",
            html.err()
        );
        let cut: Result<FieldsAnswer> = parse_json("u", "application/json", br#"{"fields": ["#);
        assert!(matches!(cut, Err(Error::Malformed { .. })));
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let key = ApiKey::new(Some("s3cret-value".into()));
        assert!(!format!("{key:?}").contains("s3cret"));
        let client = Client::new(
            "http://127.0.0.1:9/ds",
            &key,
            Timeouts {
                connect: Duration::from_secs(1),
                request: Duration::from_secs(1),
            },
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
        assert!(matches!(
            Client::new(
                "ftp://x",
                &key,
                Timeouts {
                    connect: Duration::ZERO,
                    request: Duration::ZERO
                }
            ),
            Err(Error::BaseUrl(_))
        ));
    }
}
