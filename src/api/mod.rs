//! The USPTO Office Action Citations API, v2: one HTTP call per method, no retries, no rate
//! limiting (those live in `harvest::fetch`), no SQL.
//!
//! `base_url` is the dataset prefix; requests go to `{base_url}/records` (POST, form body) and
//! `{base_url}/fields` (GET). The API key is sent as `X-API-KEY`, marked sensitive so that it
//! never shows in debug output.

mod key;
pub mod query;
pub mod record;
mod response;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::value::RawValue;

pub use key::ApiKey;
use response::{Envelope, FieldsAnswer, check_status, is_no_match, parse_json, receive};

use crate::error::{Error, Result};

/// The largest response body read by default: a little above the 6 MB the Open Data Portal
/// itself refuses to send (it answers 413 instead).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

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

/// Timeouts for one request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
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
        let answer = receive(url, response, self.max_body).await?;
        let body = &answer.body;
        if answer.status == StatusCode::NOT_FOUND && is_no_match(body) {
            return Ok(Page {
                num_found: 0,
                docs: vec![],
                bytes: body.len(),
            });
        }
        check_status(url, answer.status, answer.retry_after, body)?;
        let envelope: Envelope = parse_json(url, &answer.content_type, body)?;
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
        let answer = receive(url, response, self.max_body).await?;
        check_status(url, answer.status, answer.retry_after, &answer.body)?;
        let fields: FieldsAnswer = parse_json(url, &answer.content_type, &answer.body)?;
        Ok(fields.fields)
    }

    pub fn records_url(&self) -> &str {
        &self.records_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
