//! The library's one error type. Each variant keeps its cause; whether to try again is a
//! method ([`Error::should_retry`]), unit-tested beside it and kept apart from the retry loop in
//! `harvest::fetch`.
//!
//! - [`Error`] here: what went wrong, one variant per meaning, each documented;
//! - `classify`: what a caller does about it (retry, stop the run, exit status), each an
//!   exhaustive `match`, so a new variant does not compile until it is classified;
//! - `report`: the error and its causes as one line, each said once.

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

    /// I/O trouble outside SQLite: a lock file, an export file, standard output, the replica's
    /// listening socket or the Ctrl-C handler. `path` names which.
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

mod classify;
mod report;

pub use report::report;

impl Error {
    pub(crate) fn sqlite(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
        // Converted only when there is an error: the write path builds one of these for every
        // statement it runs, and a `String` made up front is an allocation per record.
        move |source| Error::Sqlite {
            context: context.into(),
            source,
        }
    }

    /// [`Error::sqlite`] for a context that names a record: `context` runs only when there is
    /// an error, so the write path formats nothing for the records it stores.
    pub(crate) fn sqlite_with(
        context: impl FnOnce() -> String,
    ) -> impl FnOnce(rusqlite::Error) -> Error {
        move |source| Error::Sqlite {
            context: context(),
            source,
        }
    }
}
