//! Choosing the rows of an export: options that do not fit together, a `--table` checked
//! against the schema (never spliced in unchecked), a `--query` checked to be one statement
//! that only reads, and the ordering a partitioned export needs. Nothing here writes.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use super::{ExportRequest, Format, Output, PARTITION_COLUMN, PartitionBy, Source};
use crate::error::{Error, Result};

/// Options that do not fit together, before anything is opened.
pub(super) fn check_request(request: &ExportRequest) -> Result<()> {
    let Some(PartitionBy::Year) = request.partition_by else {
        return Ok(());
    };
    if request.format != Format::Parquet {
        return Err(Error::Usage {
            flag: "--partition-by".into(),
            value: "year".into(),
            problem: format!("needs --format parquet, not {}", request.format),
        });
    }
    if request.out == Output::Stdout {
        return Err(Error::Usage {
            flag: "--partition-by".into(),
            value: "year".into(),
            problem: "writes a directory; --out - (standard output) cannot hold one".into(),
        });
    }
    Ok(())
}

/// The statement to run: the table or view by its name in the schema, or the query once it is
/// known to prepare and to only read; ordered by `create_date_time` when partitioning.
pub(super) fn select_sql(conn: &Connection, db: &Path, request: &ExportRequest) -> Result<String> {
    let inner = match &request.source {
        Source::Table(name) => format!(
            "SELECT * FROM {}",
            quote_identifier(&table(conn, db, name)?)
        ),
        Source::Query(query) => {
            let stmt = conn.prepare(query).map_err(|source| Error::BadQuery {
                query: query.clone(),
                source,
            })?;
            if !stmt.readonly() {
                return Err(Error::QueryWrites {
                    query: query.clone(),
                });
            }
            if stmt.column_count() == 0 {
                return Err(Error::Usage {
                    flag: "--query".into(),
                    value: query.clone(),
                    problem: "returns no columns; export runs a query that returns rows".into(),
                });
            }
            statement_text(query).to_owned()
        }
    };
    if request.partition_by.is_none() {
        return Ok(inner);
    }
    let has_column = conn
        .prepare(&inner)
        .map(|s| s.column_names().any(|c| c == PARTITION_COLUMN))
        .map_err(Error::sqlite("read the export's columns"))?;
    if !has_column {
        return Err(Error::Usage {
            flag: "--partition-by".into(),
            value: "year".into(),
            problem: format!("needs a {PARTITION_COLUMN} column in what is exported"),
        });
    }
    // On lines of their own, so that a comment ending the query ends before the parenthesis.
    Ok(format!(
        "SELECT * FROM (\n{inner}\n) ORDER BY {PARTITION_COLUMN}"
    ))
}

/// The text of the one statement in `query`, without the `;` that may end it (and the spaces
/// and comments after that), so that it can stand inside parentheses. `query` is known to
/// prepare as one statement: the first `;` outside quotes and comments ends it.
fn statement_text(query: &str) -> &str {
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let skip_to = |from: usize, end: &[u8]| {
            rest[from..]
                .windows(end.len())
                .position(|w| w == end)
                .map_or(bytes.len(), |p| i + from + p + end.len())
        };
        i = match rest[0] {
            b';' => return query[..i].trim(),
            b'\'' => skip_to(1, b"'"),
            b'"' => skip_to(1, b"\""),
            b'`' => skip_to(1, b"`"),
            b'[' => skip_to(1, b"]"),
            b'-' if rest.starts_with(b"--") => skip_to(2, b"\n"),
            b'/' if rest.starts_with(b"/*") => skip_to(2, b"*/"),
            _ => i + 1,
        };
    }
    query.trim()
}

/// The schema's own spelling of table or view `name` (matched as SQLite matches names, without
/// regard to ASCII case), or [`Error::UnknownTable`] listing what there is.
fn table(conn: &Connection, db: &Path, name: &str) -> Result<String> {
    let found: Option<String> = conn
        .query_row(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'view')
               AND name = ?1 COLLATE NOCASE",
            [name],
            |r| r.get(0),
        )
        .optional()
        .map_err(Error::sqlite("look up the table"))?;
    if let Some(found) = found {
        return Ok(found);
    }
    let known: Vec<String> = conn
        .prepare(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'view')
               AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(Error::sqlite("list the tables"))?;
    Err(Error::UnknownTable {
        name: name.to_owned(),
        db: db.to_owned(),
        known,
    })
}

/// `"name"`, with inner quotes doubled.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_ends_at_its_first_semicolon_outside_quotes_and_comments() {
        assert_eq!(statement_text(" SELECT 1; "), "SELECT 1");
        assert_eq!(
            statement_text("SELECT 1 -- a; comment"),
            "SELECT 1 -- a; comment"
        );
        assert_eq!(statement_text("SELECT 1; -- done"), "SELECT 1");
        assert_eq!(
            statement_text("SELECT ';', \"a;b\" /* ; */ FROM t;"),
            "SELECT ';', \"a;b\" /* ; */ FROM t"
        );
        assert_eq!(
            statement_text("SELECT 'it''s; fine'"),
            "SELECT 'it''s; fine'"
        );
        assert_eq!(
            statement_text("SELECT [a;b], `c;d` FROM t"),
            "SELECT [a;b], `c;d` FROM t"
        );
    }

    #[test]
    fn names_are_quoted_whole() {
        assert_eq!(quote_identifier("oa_citations"), "\"oa_citations\"");
        assert_eq!(quote_identifier("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}
