//! `oac-mirror export`: one table, view or read-only query of a mirror, streamed out as CSV,
//! NDJSON or Parquet, to a file, to a directory of Parquet files partitioned by year, or to
//! standard output.
//!
//! This module owns the request, the column types and the row loop. Choosing the rows (a
//! `--table` checked against the schema, or a `--query` checked to be one statement that only
//! reads) is `select`'s; where the bytes go is `destination`'s; each format's encoding lives in
//! its own file. Rows are read one at a time from SQLite and written as they come, so memory
//! stays bounded whatever the size of the export (Parquet holds one record batch and one row
//! group at most).
//!
//! A file or directory is written under a temporary name beside `--out` and renamed into place
//! when complete: a failed export leaves nothing behind and never half-replaces an earlier one.
//! On standard output a reader that goes away (`| head`) ends the export quietly.

mod csv;
mod destination;
mod ndjson;
mod parquet;
mod select;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::types::ValueRef;

use destination::Destination;
pub(crate) use destination::{refusal, special_kind};
use select::{check_request, select_sql};

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
    fn formats_and_partitionings_parse_by_name() {
        assert_eq!("ndjson".parse::<Format>(), Ok(Format::Ndjson));
        assert!("json".parse::<Format>().is_err());
        assert_eq!("year".parse::<PartitionBy>(), Ok(PartitionBy::Year));
        assert!("month".parse::<PartitionBy>().is_err());
        assert_eq!(Output::parse(Path::new("-")), Output::Stdout);
    }
}
