//! An error and its causes as one line, each said once: the crate's messages never include
//! their cause, and the walk stops at the foreign errors whose message already does.

use super::Error;

impl Error {
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
        assert!(!Error::WriterStopped.is_broken_pipe());
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
}
