//! The library's one error type. Each variant keeps its cause; whether to try again is a
//! method here ([`Error::should_retry`]), unit-tested beside it and kept apart from the retry
//! loop in `harvest::fetch`.

use std::path::PathBuf;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value that cannot be used. `origin` names where it came from: the
    /// config file's path, an environment variable or a command-line flag.
    #[error("{origin}: `{key}` = {value:?}: {problem}")]
    Config {
        origin: String,
        key: String,
        value: String,
        problem: String,
    },

    /// The config file could not be read.
    #[error("cannot read config file {path}")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The config file is not valid TOML for this tool (unknown key, wrong type).
    #[error("config file {path}: {source}")]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },

    /// The request never got a complete answer: connect failure, timeout, reset, body cut short.
    #[error("request to {url} failed: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    /// Upstream answered with a status this tool does not treat as data.
    #[error("{url} answered HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },

    /// 401 or 403: the API key is missing, wrong or not allowed. Never retried.
    #[error(
        "{url} refused the API key (HTTP {status}): is USPTO_API_KEY set to a valid key from data.uspto.gov?"
    )]
    Auth { url: String, status: u16 },

    /// A 200 whose body is not the JSON shape the API documents.
    #[error("{url} sent a malformed response: {source}")]
    Malformed {
        url: String,
        #[source]
        source: serde_json::Error,
    },

    /// The base URL cannot be joined into request URLs.
    #[error("--base-url {0:?} is not an http(s) URL")]
    BaseUrl(String),

    /// Upstream's `/fields` no longer lists a field the mirror depends on.
    #[error("upstream {url} no longer lists the field(s) {missing:?}; the mirror cannot continue")]
    SchemaDrift { url: String, missing: Vec<String> },

    /// SQLite failed; `context` says what the store was doing.
    #[error("database: {context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    /// The database was written by a newer version of this tool.
    #[error("database {path} has schema version {found}; this oac-mirror knows up to {known}")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    /// The database mirrors another source than the one configured.
    #[error(
        "database {path} mirrors {stored}, but this run asks for {asked}; use another --db for another source"
    )]
    SourceMismatch {
        path: PathBuf,
        stored: String,
        asked: String,
    },

    /// The database mirrors a window this run cannot continue.
    #[error("database {path}: {problem}")]
    WindowMismatch { path: PathBuf, problem: String },

    /// Another harvest holds the database.
    #[error("database {path} is in use by another harvest ({holder}); wait for it to finish")]
    Locked { path: PathBuf, holder: String },

    /// The writer thread stopped; its own error was reported where it happened.
    #[error("the database writer stopped")]
    WriterStopped,

    /// A partition could not be fetched so that its stored ids equal its upstream count.
    #[error("{0}")]
    Unverified(String),

    /// The run was asked to stop (SIGINT or SIGTERM) before this request was sent.
    #[error("interrupted")]
    Interrupted,

    /// File system trouble outside SQLite (lock file, export file).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// True when the same request may succeed if sent again later: HTTP 429 and 5xx gateway
    /// errors, transport failures (timeouts, resets, bodies cut short) and malformed bodies
    /// (usually a body cut short behind a proxy). Never a 4xx that says our request is wrong.
    pub fn should_retry(&self) -> bool {
        match self {
            Error::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            Error::Transport { source, .. } => {
                source.is_timeout()
                    || source.is_connect()
                    || source.is_body()
                    || source.is_request()
                    || source.is_decode()
            }
            Error::Malformed { .. } => true,
            _ => false,
        }
    }

    /// True for HTTP 429: the shared limiter should slow down, not just this request.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::Status { status: 429, .. })
    }

    /// True for HTTP 413: the page was too large; ask for fewer rows.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Error::Status { status: 413, .. })
    }

    /// True for HTTP 400: upstream refused the request as asked.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Error::Status { status: 400, .. })
    }

    /// The wait upstream asked for, if it sent `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the whole run must stop rather than just the partition that met it: the API
    /// key is refused, the database cannot be written, upstream's schema lost a field, or the
    /// run was interrupted.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Error::Auth { .. }
                | Error::Sqlite { .. }
                | Error::WriterStopped
                | Error::Interrupted
                | Error::SchemaDrift { .. }
        )
    }

    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
        let context = context.into();
        move |source| Error::Sqlite { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Error {
        Error::Status {
            url: "u".into(),
            status: code,
            retry_after: None,
            body: String::new(),
        }
    }

    #[test]
    fn retries_only_what_may_pass_next_time() {
        for code in [429, 500, 502, 503, 504] {
            assert!(status(code).should_retry(), "{code}");
        }
        for code in [400, 404, 405, 413, 422, 501] {
            assert!(!status(code).should_retry(), "{code}");
        }
        assert!(
            !Error::Auth {
                url: "u".into(),
                status: 403
            }
            .should_retry()
        );
        let bad_json = serde_json::from_str::<u8>("{").unwrap_err();
        assert!(
            Error::Malformed {
                url: "u".into(),
                source: bad_json
            }
            .should_retry()
        );
        assert!(status(429).is_rate_limited());
        assert!(status(413).is_too_large());
    }
}
