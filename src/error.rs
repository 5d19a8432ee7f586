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
    #[error("config file {path} is not valid")]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },

    /// The request never got a complete answer: connect failure, timeout, reset, body cut short.
    #[error("request to {url} failed")]
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

    /// 3xx: upstream sent the request elsewhere. Redirects are not followed, so the API key
    /// and the criteria went nowhere else. Stops the run.
    #[error(
        "{url} answered HTTP {status}, a redirect to {}; redirects are not followed, so the API key was not sent there: check --base-url",
        location.as_deref().unwrap_or("nowhere (no Location header)")
    )]
    Redirect {
        url: String,
        status: u16,
        location: Option<String>,
    },

    /// 404 from something other than a query that matched nothing: the URL names no data set.
    #[error(
        "{url} answered HTTP 404 (not found): check --base-url; it is the data set's prefix, the part before /records and /fields, ending in the data set's path (e.g. {})",
        crate::config::DEFAULT_BASE_URL
    )]
    NotFound { url: String },

    /// A 200 body larger than `max_response_bytes`: treated like a 413 (a smaller page is
    /// asked for), never read whole.
    #[error("{url} sent a response larger than max_response_bytes ({limit} bytes)")]
    TooLarge { url: String, limit: u64 },

    /// A 200 whose body is not JSON at all (an HTML page from a proxy, a login page or a
    /// wrong URL).
    #[error("{url} answered with {content_type}, not JSON: {body}")]
    NotJson {
        url: String,
        content_type: String,
        body: String,
    },

    /// A 429 whose `Retry-After` asks for a longer wait than a run will sit through.
    #[error(
        "{url} asked to wait {} s before the next request (Retry-After), more than the {} s a run waits; stopping now: rerunning `oac-mirror harvest` later continues where this run stopped",
        asked.as_secs(), limit.as_secs()
    )]
    WaitTooLong {
        url: String,
        asked: Duration,
        limit: Duration,
    },

    /// The run sent as many requests as `max_requests` allows.
    #[error(
        "this run sent {0} requests, the most `max_requests` allows; rerunning `oac-mirror harvest` continues where it stopped"
    )]
    RequestBudget(u64),

    /// 401 or 403: the API key is missing, wrong or not allowed. Never retried.
    #[error(
        "{url} refused the API key (HTTP {status}): is USPTO_API_KEY set to a valid key from data.uspto.gov?"
    )]
    Auth { url: String, status: u16 },

    /// A 200 whose body is not the JSON shape the API documents.
    #[error("{url} sent a malformed response")]
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
    #[error("database: cannot {context}")]
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

    /// `--db` names a file this tool did not make (not SQLite, or another application's
    /// tables), or a packed hand-off copy given to `harvest`.
    #[error("database {path} is not an oac-mirror database: {problem}")]
    NotAMirror { path: PathBuf, problem: String },

    /// Another harvest holds the database.
    #[error("database {path} is in use by another harvest ({holder}); wait for it to finish")]
    Locked { path: PathBuf, holder: String },

    /// The writer thread stopped; its own error was reported where it happened.
    #[error("the database writer stopped")]
    WriterStopped,

    /// A partition could not be fetched so that its stored ids equal its upstream count.
    #[error("{0}")]
    Unverified(String),

    /// A partition upstream counts more records in than one query may page through, and that
    /// cannot be split further (they share one id prefix at one second).
    #[error("{count} records share one id, more than paging_cap ({cap}); cannot split further")]
    CannotSplit { count: u64, cap: u64 },

    /// `--db` names a database that does not exist, or one that holds no harvested window yet.
    #[error("database {path} holds no mirror yet; run `oac-mirror harvest` first")]
    NoMirror { path: PathBuf },

    /// `--db` names a path that cannot hold a database: a directory, or a file in a directory
    /// that does not exist.
    #[error("--db {path}: {problem}")]
    DbPath { path: PathBuf, problem: String },

    /// A page was to be stored against a partition that has left the sweep it was fetched
    /// for: something else changed the checkpoint while the page was in flight.
    #[error("partition {partition} is no longer in sweep {sweep}; its page was not stored")]
    SweepConflict { partition: i64, sweep: i64 },

    /// The checkpoint has no partition with this id, though the harvest was working on it.
    #[error("partition {0} is not in the database")]
    NoPartition(i64),

    /// A stored partition state this version does not know (a newer version wrote it, or the
    /// file was edited).
    #[error("partition {partition} has the unknown state {state:?}")]
    UnknownState { partition: i64, state: String },

    /// The run was asked to stop (SIGINT or SIGTERM) before this request was sent.
    #[error("interrupted")]
    Interrupted,

    /// File system trouble outside SQLite (lock file, export file, standard output).
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// `--out` names a file or directory that exists, and `--force` was not given.
    #[error("--out {path}: it exists; pass --force to replace it")]
    OutputExists { path: PathBuf },

    /// A command-line value that does not fit the others or the files it names (an output that
    /// is the input, `--partition-by` with a format that cannot be partitioned).
    #[error("{flag} {value:?}: {problem}")]
    Usage {
        flag: String,
        value: String,
        problem: String,
    },

    /// `--table` names no table or view of the database.
    #[error("--table {name:?}: no such table or view in {db}; it has: {}", known.join(", "))]
    UnknownTable {
        name: String,
        db: PathBuf,
        known: Vec<String>,
    },

    /// `--query` cannot be prepared: a syntax error, an unknown table or column. (The cause is
    /// not repeated in the message: `{:#}` prints the chain.)
    #[error("--query {query:?} does not prepare")]
    BadQuery {
        query: String,
        #[source]
        source: rusqlite::Error,
    },

    /// `--query` would change the database; an export only reads.
    #[error("--query {query:?} would change the database; export runs only queries that read")]
    QueryWrites { query: String },

    /// A value that does not fit the Parquet column type chosen for its column (for `--query`,
    /// the type is read from the first rows; a CAST in the query fixes it).
    #[error(
        "row {row}, column {column:?}: a {found} value in a {expected} column; CAST the column in --query to one type"
    )]
    ExportValue {
        column: String,
        row: u64,
        found: &'static str,
        expected: &'static str,
    },

    /// The CSV writer failed for a reason other than I/O.
    #[error("{path}: writing CSV failed")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },

    /// Building an Arrow record batch failed.
    #[error("{path}: building a record batch failed")]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },

    /// The Parquet writer failed (I/O included: its cause is kept).
    #[error("{path}: writing Parquet failed")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A packed copy failed `PRAGMA integrity_check` or `PRAGMA foreign_key_check`.
    #[error("{path} failed the {check}: {report}")]
    Integrity {
        path: PathBuf,
        check: &'static str,
        report: String,
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
            Error::Redirect { .. }
            | Error::NotFound { .. }
            | Error::TooLarge { .. }
            | Error::NotJson { .. }
            | Error::WaitTooLong { .. }
            | Error::RequestBudget(_)
            | Error::Config { .. }
            | Error::ConfigRead { .. }
            | Error::ConfigParse { .. }
            | Error::Auth { .. }
            | Error::BaseUrl(_)
            | Error::SchemaDrift { .. }
            | Error::Sqlite { .. }
            | Error::SchemaTooNew { .. }
            | Error::SourceMismatch { .. }
            | Error::WindowMismatch { .. }
            | Error::NotAMirror { .. }
            | Error::Locked { .. }
            | Error::WriterStopped
            | Error::Unverified(_)
            | Error::CannotSplit { .. }
            | Error::NoMirror { .. }
            | Error::DbPath { .. }
            | Error::SweepConflict { .. }
            | Error::NoPartition(_)
            | Error::UnknownState { .. }
            | Error::Interrupted
            | Error::Io { .. }
            | Error::OutputExists { .. }
            | Error::Usage { .. }
            | Error::UnknownTable { .. }
            | Error::BadQuery { .. }
            | Error::QueryWrites { .. }
            | Error::ExportValue { .. }
            | Error::Csv { .. }
            | Error::Arrow { .. }
            | Error::Parquet { .. }
            | Error::Integrity { .. } => false,
        }
    }

    /// True for HTTP 429: the shared limiter should slow down, not just this request.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::Status { status: 429, .. })
    }

    /// True for HTTP 413, or a body over `max_response_bytes`: the page was too large; ask
    /// for fewer rows.
    pub fn is_too_large(&self) -> bool {
        matches!(
            self,
            Error::Status { status: 413, .. } | Error::TooLarge { .. }
        )
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
    /// key is refused, the database cannot be written or its checkpoint is not what the run
    /// left there, upstream's schema lost a field, upstream redirects, knows no such data set or
    /// asks for too long a wait, the run's request budget is spent, or the run was interrupted.
    /// A partition that cannot be fetched (transport, status, a body too large or not JSON, a
    /// count that does not verify, a split that is not possible) fails alone; the errors that
    /// cannot occur inside a harvest are not fatal.
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Auth { .. }
            | Error::Sqlite { .. }
            | Error::WriterStopped
            | Error::Interrupted
            | Error::SchemaDrift { .. }
            | Error::SweepConflict { .. }
            | Error::NoPartition(_)
            | Error::UnknownState { .. }
            | Error::Redirect { .. }
            | Error::NotFound { .. }
            | Error::WaitTooLong { .. }
            | Error::RequestBudget(_) => true,
            Error::Config { .. }
            | Error::ConfigRead { .. }
            | Error::ConfigParse { .. }
            | Error::Transport { .. }
            | Error::Status { .. }
            | Error::Malformed { .. }
            | Error::TooLarge { .. }
            | Error::NotJson { .. }
            | Error::BaseUrl(_)
            | Error::SchemaTooNew { .. }
            | Error::SourceMismatch { .. }
            | Error::WindowMismatch { .. }
            | Error::NotAMirror { .. }
            | Error::Locked { .. }
            | Error::Unverified(_)
            | Error::CannotSplit { .. }
            | Error::NoMirror { .. }
            | Error::DbPath { .. }
            | Error::Io { .. }
            | Error::OutputExists { .. }
            | Error::Usage { .. }
            | Error::UnknownTable { .. }
            | Error::BadQuery { .. }
            | Error::QueryWrites { .. }
            | Error::ExportValue { .. }
            | Error::Csv { .. }
            | Error::Arrow { .. }
            | Error::Parquet { .. }
            | Error::Integrity { .. } => false,
        }
    }

    /// True for a mistake in how the tool was called or configured (exit status 2): a bad
    /// configuration value, a `--db` that cannot hold a database, an output that exists, an
    /// unknown table, a query that does not prepare or that writes, a database that mirrors
    /// another source or window or is no mirror at all. Everything upstream or the environment
    /// does (and a mirror not harvested yet) is exit status 1.
    pub fn is_usage(&self) -> bool {
        match self {
            Error::Config { .. }
            | Error::ConfigRead { .. }
            | Error::ConfigParse { .. }
            | Error::BaseUrl(_)
            | Error::SourceMismatch { .. }
            | Error::WindowMismatch { .. }
            | Error::NotAMirror { .. }
            | Error::DbPath { .. }
            | Error::OutputExists { .. }
            | Error::Usage { .. }
            | Error::UnknownTable { .. }
            | Error::BadQuery { .. }
            | Error::QueryWrites { .. } => true,
            Error::Transport { .. }
            | Error::Status { .. }
            | Error::Redirect { .. }
            | Error::NotFound { .. }
            | Error::TooLarge { .. }
            | Error::NotJson { .. }
            | Error::WaitTooLong { .. }
            | Error::RequestBudget(_)
            | Error::Auth { .. }
            | Error::Malformed { .. }
            | Error::SchemaDrift { .. }
            | Error::Sqlite { .. }
            | Error::SchemaTooNew { .. }
            | Error::Locked { .. }
            | Error::WriterStopped
            | Error::Unverified(_)
            | Error::CannotSplit { .. }
            | Error::NoMirror { .. }
            | Error::SweepConflict { .. }
            | Error::NoPartition(_)
            | Error::UnknownState { .. }
            | Error::Interrupted
            | Error::Io { .. }
            | Error::ExportValue { .. }
            | Error::Csv { .. }
            | Error::Arrow { .. }
            | Error::Parquet { .. }
            | Error::Integrity { .. } => false,
        }
    }

    /// True when writing stopped because the reader went away (`oac-mirror export --out - |
    /// head`): anywhere in the chain of causes, an I/O error of kind `BrokenPipe`.
    pub fn is_broken_pipe(&self) -> bool {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return true;
            }
            cause = e.source();
        }
        false
    }

    /// This error with its causes, each said once (see [`report`]): what a log line or a
    /// partition's `last_error` says.
    pub fn report(&self) -> String {
        report(self)
    }

    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
        let context = context.into();
        move |source| Error::Sqlite { context, source }
    }
}

/// An error and its causes, each said once: `outer: cause: its cause`, as printed by the
/// binary. The crate's errors never put their cause in their own message; a few foreign ones do
/// (rusqlite, csv, Parquet and Arrow errors print the error they wrap), so the walk ends at them.
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error;
    while !says_its_source(cause)
        && let Some(next) = cause.source()
    {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next;
    }
    text
}

/// True for the foreign errors whose message already includes their source.
fn says_its_source(error: &(dyn std::error::Error + 'static)) -> bool {
    error.is::<rusqlite::Error>()
        || error.is::<csv::Error>()
        || error.is::<parquet::errors::ParquetError>()
        || error.is::<arrow_schema::ArrowError>()
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

    #[test]
    fn a_broken_pipe_is_found_behind_any_wrapper() {
        let pipe = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let io = Error::Io {
            path: "-".into(),
            source: pipe(),
        };
        assert!(io.is_broken_pipe());
        let parquet = Error::Parquet {
            path: "-".into(),
            source: pipe().into(),
        };
        assert!(parquet.is_broken_pipe());
        let full = Error::Io {
            path: "-".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        };
        assert!(!full.is_broken_pipe());
        assert!(!status(500).is_broken_pipe());
    }

    #[test]
    fn usage_errors_are_told_apart_from_runtime_ones() {
        assert!(Error::OutputExists { path: "x".into() }.is_usage());
        assert!(
            Error::QueryWrites {
                query: "DELETE FROM citations".into()
            }
            .is_usage()
        );
        assert!(!status(500).is_usage());
        assert!(!Error::WriterStopped.is_usage());
    }

    #[test]
    fn a_cause_is_said_once() {
        let io = Error::Io {
            path: "x.db".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(io.to_string(), "x.db");
        assert_eq!(report(&io), "x.db: disk full");
        // rusqlite's message already says the SQLite code it wraps: the walk ends there.
        let sqlite = Error::Sqlite {
            context: "read sweeps".into(),
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
                None,
            ),
        };
        assert_eq!(
            report(&sqlite),
            format!(
                "database: cannot read sweeps: {}",
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR)
            )
        );
        let bad_json = serde_json::from_str::<u8>("{").unwrap_err();
        let malformed = Error::Malformed {
            url: "u".into(),
            source: bad_json,
        };
        assert_eq!(malformed.to_string(), "u sent a malformed response");
        assert!(
            report(&malformed).starts_with("u sent a malformed response: "),
            "{}",
            report(&malformed)
        );
    }

    #[test]
    fn the_new_variants_are_classified() {
        let conflict = Error::SweepConflict {
            partition: 1,
            sweep: 2,
        };
        assert!(conflict.is_fatal() && !conflict.should_retry() && !conflict.is_usage());
        assert!(Error::NoPartition(3).is_fatal());
        let split = Error::CannotSplit { count: 11, cap: 10 };
        assert!(!split.is_fatal() && !split.should_retry() && !split.is_usage());
        let path = Error::DbPath {
            path: "d".into(),
            problem: "is a directory".into(),
        };
        assert!(path.is_usage() && !path.is_fatal());
        let none = Error::NoMirror { path: "x".into() };
        assert!(!none.is_usage() && !none.is_fatal());
        assert!(Error::Interrupted.is_fatal());
    }

    /// A hostile upstream: what stops the run, and what fails one partition; none is retried
    /// as it stands (a body too large is asked for again with fewer rows) and none is a usage
    /// error.
    #[test]
    fn a_hostile_upstream_is_classified() {
        let url = || "u".to_owned();
        let stops = [
            Error::Redirect {
                url: url(),
                status: 302,
                location: Some("https://elsewhere".into()),
            },
            Error::NotFound { url: url() },
            Error::WaitTooLong {
                url: url(),
                asked: Duration::from_secs(3600),
                limit: Duration::from_secs(600),
            },
            Error::RequestBudget(10),
        ];
        for e in &stops {
            assert!(e.is_fatal() && !e.should_retry() && !e.is_usage(), "{e}");
        }
        let too_large = Error::TooLarge {
            url: url(),
            limit: 1024,
        };
        assert!(too_large.is_too_large());
        let html = Error::NotJson {
            url: url(),
            content_type: "text/html".into(),
            body: "<html>".into(),
        };
        for e in [&too_large, &html] {
            assert!(!e.is_fatal() && !e.should_retry() && !e.is_usage(), "{e}");
        }
    }
}
