//! Reading an answer of the API: its status, `Retry-After` and content type, a body read to a
//! limit, a 3xx or an error status turned into its [`Error`], and JSON told apart from an HTML
//! page. No retries here: what is worth retrying is the error's to say.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// How a 404 says "this query matches nothing" (an empty window, not a failure).
const NO_MATCH: &str = "no matching record";

/// The most of an error body kept for a message.
const ERROR_BODY_BYTES: u64 = 64 * 1024;

/// The shape of a `/records` answer.
#[derive(Deserialize)]
pub(super) struct Envelope {
    pub response: Body,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Body {
    pub num_found: u64,
    #[serde(default)]
    pub docs: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
pub(super) struct FieldsAnswer {
    pub fields: Vec<String>,
}

/// An answer as received: what the headers said and the body, read to its limit.
pub(super) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Receives `response` to a request of `url`: a 3xx is [`Error::Redirect`]; the body is read to
/// [`body_limit`].
pub(super) async fn receive(
    url: &str,
    response: reqwest::Response,
    max_body: u64,
) -> Result<Answer> {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let content_type = content_type(response.headers());
    check_redirect(url, &response)?;
    let body = read_body(url, response, body_limit(max_body, status)).await?;
    Ok(Answer {
        status,
        retry_after,
        content_type,
        body,
    })
}

/// How much of a body with `status` is read: all of a 200 up to `max_body`, the start of
/// anything else (for the message).
fn body_limit(max_body: u64, status: StatusCode) -> u64 {
    if status.is_success() {
        max_body
    } else {
        max_body.min(ERROR_BODY_BYTES)
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
    // Sized once from the header when there is one: a 5 MB page read into a growing buffer
    // is copied about a dozen times, into memory the kernel must zero each time.
    let expected = response.content_length().map_or(0, |n| n.min(limit));
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
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
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
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

pub(super) fn is_no_match(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_lowercase()
        .contains(NO_MATCH)
}

pub(super) fn check_status(
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
    use reqwest::header::HeaderValue;

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
    fn an_error_body_is_read_only_in_part() {
        assert_eq!(body_limit(8 << 20, StatusCode::OK), 8 << 20);
        assert_eq!(
            body_limit(8 << 20, StatusCode::BAD_GATEWAY),
            ERROR_BODY_BYTES
        );
        assert_eq!(body_limit(1000, StatusCode::BAD_GATEWAY), 1000);
    }
}
