//! What a caller does about an error: send the request again, stop the whole run, or exit with
//! a usage status. Each question is an exhaustive `match` over the variants (no `_ =>`), so a
//! new variant cannot be added without deciding.

use std::time::Duration;

use super::Error;

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

    /// The exit status of a command that ends with this error: 2 for a usage or configuration
    /// mistake ([`Error::is_usage`]), 1 for everything upstream or the environment does.
    pub fn exit_status(&self) -> u8 {
        if self.is_usage() { 2 } else { 1 }
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
        assert_eq!(status(500).exit_status(), 1);
        assert_eq!(Error::OutputExists { path: "x".into() }.exit_status(), 2);
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
