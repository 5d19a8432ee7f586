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
use serde_json::Value;

use crate::error::{Error, Result};

/// How a 404 says "this query matches nothing" (an empty window, not a failure).
const NO_MATCH: &str = "no matching record";

/// One answer of `/records`.
#[derive(Debug)]
pub struct Page {
    /// How many records match the criteria in all (not just on this page).
    pub num_found: u64,
    /// The records on this page, unchecked (see [`record::parse`]).
    pub docs: Vec<Value>,
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
    docs: Vec<Value>,
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
        let http = reqwest::Client::builder()
            .user_agent(concat!("oac-mirror/", env!("CARGO_PKG_VERSION")))
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
        })
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
        let body = response.bytes().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        if status == StatusCode::NOT_FOUND && is_no_match(&body) {
            return Ok(Page {
                num_found: 0,
                docs: vec![],
                bytes: body.len(),
            });
        }
        check_status(url, status, retry_after, &body)?;
        let envelope: Envelope =
            serde_json::from_slice(&body).map_err(|source| Error::Malformed {
                url: url.clone(),
                source,
            })?;
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
        let body = response.bytes().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        check_status(url, status, retry_after, &body)?;
        let answer: FieldsAnswer =
            serde_json::from_slice(&body).map_err(|source| Error::Malformed {
                url: url.clone(),
                source,
            })?;
        Ok(answer.fields)
    }

    pub fn records_url(&self) -> &str {
        &self.records_url
    }
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

/// `Retry-After` in seconds; the HTTP-date form is ignored (the 5-second floor applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
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
