//! `oac-mirror export`: one table, view or read-only query of a mirror, streamed out as CSV,
//! NDJSON or Parquet, to a file, to a directory of Parquet files partitioned by year, or to
//! standard output.
//!
//! This module owns choosing the rows (a `--table` checked against the schema, or a `--query`
//! checked to be one statement that only reads), the column types, the row loop and where the
//! bytes go; each format's encoding lives in its own file. Rows are read one at a time from
//! SQLite and written as they come, so memory stays bounded whatever the size of the export
//! (Parquet holds one record batch and one row group at most).
//!
//! A file or directory is written under a temporary name beside `--out` and renamed into place
//! when complete: a failed export leaves nothing behind and never half-replaces an earlier one.
//! On standard output a reader that goes away (`| head`) ends the export quietly.

mod csv;
mod ndjson;
mod parquet;

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::error::{Error, Result};
use crate::store::Store;

/// The output encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180 CSV with a header row; NULL is an empty field.
    Csv,
    /// One JSON object per line, keys in column order.
    Ndjson,
    /// Apache Parquet, Snappy-compressed.
    Parquet,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            "parquet" => Ok(Format::Parquet),
            _ => Err(format!("{s:?} is not one of csv, ndjson, parquet")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Parquet => "parquet",
        })
    }
}

/// How a Parquet export is split into files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionBy {
    /// One file per year of `create_date_time`, in Hive-style directories `year=YYYY/`.
    Year,
}

impl FromStr for PartitionBy {
    type Err = String;
    fn from_str(s: &str) -> Result<PartitionBy, String> {
        match s {
            "year" => Ok(PartitionBy::Year),
            _ => Err(format!(
                "{s:?} is not a partitioning; the one there is: year"
            )),
        }
    }
}

/// Which rows to export.
#[derive(Clone, Debug)]
pub enum Source {
    /// Every row of a table or view, by name (checked against the schema, never spliced in
    /// unchecked).
    Table(String),
    /// One SQL statement that only reads.
    Query(String),
}

/// Where the export goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Stdout,
    /// A file, or with [`PartitionBy`] a directory.
    Path(PathBuf),
}

impl Output {
    /// `-` is standard output.
    pub fn parse(arg: &Path) -> Output {
        if arg == Path::new("-") {
            Output::Stdout
        } else {
            Output::Path(arg.to_owned())
        }
    }
}

/// One export, as the command line describes it.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub source: Source,
    pub format: Format,
    pub out: Output,
    pub partition_by: Option<PartitionBy>,
    /// Replace `out` if it exists.
    pub force: bool,
}

/// What an export wrote.
#[derive(Clone, Debug, Default)]
pub struct ExportReport {
    pub rows: u64,
    /// Files written (0 for standard output).
    pub files: u64,
    /// Bytes written to files (0 for standard output).
    pub bytes: u64,
    /// True when standard output was closed by its reader before the end.
    pub reader_closed: bool,
}

/// The column Parquet partitions by.
const PARTITION_COLUMN: &str = "create_date_time";

/// The file name written to standard output's label in messages.
const STDOUT_LABEL: &str = "<stdout>";

/// A column of the result: its name and the type its declaration implies, if any.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub name: String,
    pub declared: Option<Kind>,
}

/// SQLite's storage classes, as the export maps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Integer,
    Real,
    Text,
    Blob,
}

impl Kind {
    /// The type a declared column type implies, by SQLite's affinity rules (INT, then
    /// CHAR/CLOB/TEXT, then BLOB, then REAL/FLOA/DOUB). `None` for NUMERIC-like declarations
    /// and for expressions: their type is read from the values.
    fn of_declaration(decl: &str) -> Option<Kind> {
        let d = decl.to_ascii_uppercase();
        if d.contains("INT") {
            Some(Kind::Integer)
        } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
            Some(Kind::Text)
        } else if d.contains("BLOB") {
            Some(Kind::Blob)
        } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
            Some(Kind::Real)
        } else {
            None
        }
    }
}

/// A format's writer: fed rows in order, then finished once.
pub(crate) trait Sink {
    fn write_row(&mut self, row: &[ValueRef<'_>]) -> Result<()>;
    /// Writes what is buffered and closes the output; returns the files written.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// Runs `request` against the mirror `db`, opened read-only.
pub fn export(db: &Path, request: &ExportRequest) -> Result<ExportReport> {
    check_request(request)?;
    let store = Store::open_read_only(db)?;
    let conn = store.conn();
    let sql = select_sql(conn, db, request)?;
    let mut stmt = conn
        .prepare(&sql)
        .map_err(Error::sqlite("prepare the export"))?;
    let columns: Vec<Column> = stmt
        .columns()
        .map(|c| Column {
            name: c.name().to_owned(),
            declared: c.decl_type().and_then(Kind::of_declaration),
        })
        .collect();
    let destination =
        Destination::open(&request.out, request.partition_by.is_some(), request.force)?;
    let result = stream(&mut stmt, &columns, request, &destination);
    let stdout = matches!(destination, Destination::Stdout);
    match result {
        Ok((rows, files)) => {
            let bytes = destination.commit()?;
            Ok(ExportReport {
                rows,
                files,
                bytes,
                reader_closed: false,
            })
        }
        Err(e) if stdout && e.is_broken_pipe() => Ok(ExportReport {
            reader_closed: true,
            ..Default::default()
        }),
        Err(e) => {
            destination.abandon();
            Err(e)
        }
    }
}

/// Options that do not fit together, before anything is opened.
fn check_request(request: &ExportRequest) -> Result<()> {
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
fn select_sql(conn: &Connection, db: &Path, request: &ExportRequest) -> Result<String> {
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
    use rusqlite::OptionalExtension;
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

/// Reads every row of `stmt` into the format's sink; returns rows and files written.
fn stream(
    stmt: &mut rusqlite::Statement<'_>,
    columns: &[Column],
    request: &ExportRequest,
    destination: &Destination,
) -> Result<(u64, u64)> {
    let label = destination.label();
    let mut sink: Box<dyn Sink> = match (request.format, destination) {
        (Format::Parquet, Destination::Directory { partial, .. }) => {
            let column = columns
                .iter()
                .position(|c| c.name == PARTITION_COLUMN)
                .expect("checked in select_sql");
            Box::new(parquet::ParquetSink::by_year(columns, partial, column))
        }
        (Format::Parquet, _) => Box::new(parquet::ParquetSink::single(
            columns,
            destination.writer()?,
            label,
        )),
        (Format::Csv, _) => Box::new(csv::CsvSink::new(columns, destination.writer()?, label)?),
        (Format::Ndjson, _) => Box::new(ndjson::NdjsonSink::new(
            columns,
            destination.writer()?,
            label,
        )),
    };
    let mut rows = stmt.query([]).map_err(Error::sqlite("run the export"))?;
    let mut count = 0_u64;
    while let Some(row) = rows.next().map_err(Error::sqlite("read a row"))? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(Error::sqlite("read a row"))?;
        sink.write_row(&values)?;
        count += 1;
    }
    let files = sink.finish()?;
    Ok((count, files))
}

/// Where the bytes go, and how they get there: files and directories are written under a
/// temporary name beside `--out` and renamed into place by [`Destination::commit`].
enum Destination {
    Stdout,
    File { out: PathBuf, partial: PathBuf },
    Directory { out: PathBuf, partial: PathBuf },
}

impl Destination {
    fn open(out: &Output, directory: bool, force: bool) -> Result<Destination> {
        let path = match out {
            Output::Stdout => return Ok(Destination::Stdout),
            Output::Path(path) => path.clone(),
        };
        check_replaceable(&path, directory, force)?;
        let partial = partial_path(&path);
        remove(&partial);
        if directory {
            std::fs::create_dir(&partial).map_err(|source| Error::Io {
                path: partial.clone(),
                source,
            })?;
            Ok(Destination::Directory { out: path, partial })
        } else {
            Ok(Destination::File { out: path, partial })
        }
    }

    /// The name used in messages.
    fn label(&self) -> PathBuf {
        match self {
            Destination::Stdout => PathBuf::from(STDOUT_LABEL),
            Destination::File { out, .. } | Destination::Directory { out, .. } => out.clone(),
        }
    }

    /// A writer for a single-stream format.
    fn writer(&self) -> Result<Box<dyn Write + Send>> {
        match self {
            Destination::Stdout => Ok(Box::new(std::io::stdout())),
            Destination::File { partial, out } => std::fs::File::create(partial)
                .map(|f| Box::new(f) as Box<dyn Write + Send>)
                .map_err(|source| Error::Io {
                    path: out.clone(),
                    source,
                }),
            Destination::Directory { .. } => unreachable!("a directory has one writer per file"),
        }
    }

    /// Moves the finished output into place; returns its size in bytes.
    fn commit(self) -> Result<u64> {
        let (out, partial) = match self {
            Destination::Stdout => return Ok(0),
            Destination::File { out, partial } | Destination::Directory { out, partial } => {
                (out, partial)
            }
        };
        let io = |source| Error::Io {
            path: out.clone(),
            source,
        };
        if out.is_dir() {
            // Checked by check_replaceable: an earlier partitioned export, and --force given.
            std::fs::remove_dir_all(&out).map_err(io)?;
        }
        std::fs::rename(&partial, &out).map_err(io)?;
        size(&out).map_err(io)
    }

    /// Removes what a failed export wrote.
    fn abandon(self) {
        if let Destination::File { partial, .. } | Destination::Directory { partial, .. } = self {
            remove(&partial);
        }
    }
}

/// Refuses an `out` that exists without `force`, and one that `force` must not replace
/// because it is not what this export would write (a directory for a file, or a directory that
/// is not an earlier partitioned export).
fn check_replaceable(out: &Path, directory: bool, force: bool) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(out) else {
        return Ok(());
    };
    let usage = |problem: &str| Error::Usage {
        flag: "--out".into(),
        value: out.display().to_string(),
        problem: problem.into(),
    };
    if let Some(kind) = special_kind(&meta) {
        return Err(usage(&refusal(kind)));
    }
    match (directory, meta.is_dir()) {
        (false, true) => return Err(usage("is a directory; name a file")),
        (true, false) => {
            return Err(usage(
                "is a file; --partition-by writes a directory, name a new one",
            ));
        }
        (true, true) if !looks_like_partitioned_export(out) => {
            return Err(usage(
                "is a directory that does not hold an earlier partitioned export; name a new one",
            ));
        }
        _ => {}
    }
    if force {
        Ok(())
    } else {
        Err(Error::OutputExists {
            path: out.to_owned(),
        })
    }
}

/// What `--out` names when it is neither a regular file nor a directory (a symlink is not
/// followed: replacing it would replace the link, writing through it the file it names).
pub(crate) fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

/// Why `--out` naming a `kind` (see [`special_kind`]) is refused, with or without --force.
pub(crate) fn refusal(kind: &str) -> String {
    format!(
        "is {kind}, not a regular file; --out writes a new file in its place, so name a regular file, a new path or `-` for standard output"
    )
}

/// True for a directory that holds only `year=…` directories of `.parquet` files.
fn looks_like_partitioned_export(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().all(|e| {
        e.file_name().to_string_lossy().starts_with("year=")
            && e.file_type().is_ok_and(|t| t.is_dir())
            && std::fs::read_dir(e.path()).is_ok_and(|files| {
                files.flatten().all(|f| {
                    f.file_type().is_ok_and(|t| t.is_file())
                        && f.file_name().to_string_lossy().ends_with(".parquet")
                })
            })
    })
}

/// A hidden name beside `out`, so that the final rename stays on one file system.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// Bytes in a file, or in all files under a directory.
fn size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        total += size(&entry?.path())?;
    }
    Ok(total)
}

/// Lower-case hexadecimal, how the text formats write BLOBs (the mirror's schema has none).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An I/O error of the output, named for messages.
pub(crate) fn io_error(label: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: label.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_follow_sqlite_affinity() {
        for (decl, kind) in [
            ("INTEGER", Some(Kind::Integer)),
            ("BIGINT", Some(Kind::Integer)),
            ("TEXT", Some(Kind::Text)),
            ("VARCHAR(12)", Some(Kind::Text)),
            ("BLOB", Some(Kind::Blob)),
            ("REAL", Some(Kind::Real)),
            ("DOUBLE PRECISION", Some(Kind::Real)),
            ("NUMERIC", None),
            ("DATETIME", None),
        ] {
            assert_eq!(Kind::of_declaration(decl), kind, "{decl}");
        }
    }

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

    #[test]
    fn formats_and_partitionings_parse_by_name() {
        assert_eq!("ndjson".parse::<Format>(), Ok(Format::Ndjson));
        assert!("json".parse::<Format>().is_err());
        assert_eq!("year".parse::<PartitionBy>(), Ok(PartitionBy::Year));
        assert!("month".parse::<PartitionBy>().is_err());
        assert_eq!(Output::parse(Path::new("-")), Output::Stdout);
    }
}
