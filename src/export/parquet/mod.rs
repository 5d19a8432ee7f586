//! Parquet for `oac-mirror export`, through arrow-rs: one file, or one file per year of
//! `create_date_time` in Hive-style directories (`year=2019/part-0.parquet`, and
//! `year=__HIVE_DEFAULT_PARTITION__/` for rows without a year) that DuckDB, Spark and Trino read
//! as one data set. Snappy-compressed.
//!
//! Column types: INTEGER → Int64, REAL → Float64, TEXT → Utf8, BLOB → Binary, every column
//! nullable. A column's type comes from its declaration where it has one (SQLite's affinity
//! rules: INT, CHAR/CLOB/TEXT, BLOB, REAL/FLOA/DOUB); otherwise (an expression in a view or a
//! `--query`, a NUMERIC declaration) from the values in the first [`BATCH_ROWS`] rows: Utf8 if
//! any is text, else Binary if any is a blob, else Float64 if any is real, else Int64 if any is
//! an integer, else Utf8. Later values are converted when nothing is lost (an integer into a
//! Float64 or Utf8 column, a real into Utf8); anything else stops the export with
//! [`Error::ExportValue`], which a CAST in the query fixes.
//!
//! Memory is bounded: the first rows are held until the types are known, then rows are
//! appended to one record batch of at most [`BATCH_ROWS`] rows, and the writer holds at most one
//! row group of [`ROW_GROUP_ROWS`] rows. Partitioned exports read rows ordered by
//! `create_date_time`, so one file is open at a time.

mod column;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rusqlite::types::{Value, ValueRef};

use super::{Column, Kind, Sink};
use crate::error::{Error, Result};
use column::{Builder, data_type, infer, owned};

/// Rows per record batch, and rows read before the types of undeclared columns are fixed.
pub(crate) const BATCH_ROWS: usize = 8192;

/// Rows per Parquet row group: the most the writer buffers before it writes.
pub(crate) const ROW_GROUP_ROWS: usize = 65_536;

/// Hive's name for the partition of rows whose key is NULL (or, here, not a year).
const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

type Writer = ArrowWriter<Box<dyn Write + Send>>;

pub(crate) struct ParquetSink {
    columns: Vec<Column>,
    target: Target,
    /// Set once the column types are known.
    schema: Option<SchemaRef>,
    /// The first rows, held until the column types are known.
    lookahead: Vec<Vec<Value>>,
    builders: Vec<Builder>,
    batch_rows: usize,
    /// Rows appended so far, for messages.
    rows: u64,
    files: u64,
}

enum Target {
    Single {
        label: PathBuf,
        /// The output, until the writer is made from it (once the schema is known).
        out: Option<Box<dyn Write + Send>>,
        writer: Option<Writer>,
    },
    ByYear {
        dir: PathBuf,
        /// Index of `create_date_time` in the row.
        column: usize,
        /// The partition key, file and writer of the rows being written.
        current: Option<(String, PathBuf, Writer)>,
        /// Files started per key: a key met again (only for values that are not years, which
        /// need not sort together) gets a second file beside the first.
        parts: HashMap<String, u32>,
    },
}

impl ParquetSink {
    /// One Parquet file written to `out`.
    pub fn single(columns: &[Column], out: Box<dyn Write + Send>, label: PathBuf) -> ParquetSink {
        ParquetSink::new(
            columns,
            Target::Single {
                label,
                out: Some(out),
                writer: None,
            },
        )
    }

    /// One Parquet file per year of column `column` under `dir`; rows must come ordered by it.
    pub fn by_year(columns: &[Column], dir: &Path, column: usize) -> ParquetSink {
        ParquetSink::new(
            columns,
            Target::ByYear {
                dir: dir.to_owned(),
                column,
                current: None,
                parts: HashMap::new(),
            },
        )
    }

    fn new(columns: &[Column], target: Target) -> ParquetSink {
        ParquetSink {
            columns: columns.to_vec(),
            target,
            schema: None,
            lookahead: Vec::new(),
            builders: Vec::new(),
            batch_rows: 0,
            rows: 0,
            files: 0,
        }
    }

    /// Fixes the column types from the declarations and the rows held so far, then appends
    /// those rows.
    fn settle(&mut self) -> Result<()> {
        let kinds: Vec<Kind> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.declared
                    .unwrap_or_else(|| infer(self.lookahead.iter().map(|row| &row[i])))
            })
            .collect();
        let fields: Vec<Field> = self
            .columns
            .iter()
            .zip(&kinds)
            .map(|(c, kind)| Field::new(&c.name, data_type(*kind), true))
            .collect();
        self.schema = Some(Arc::new(Schema::new(fields)));
        self.builders = kinds.into_iter().map(Builder::new).collect();
        for row in std::mem::take(&mut self.lookahead) {
            let refs: Vec<ValueRef<'_>> = row.iter().map(ValueRef::from).collect();
            self.push(&refs)?;
        }
        Ok(())
    }

    fn push(&mut self, row: &[ValueRef<'_>]) -> Result<()> {
        if let Target::ByYear {
            column, current, ..
        } = &self.target
        {
            let key = year_key(row[*column]);
            if current.as_ref().map(|c| &c.0) != Some(&key) {
                self.flush_batch()?;
                self.start_partition(key)?;
            }
        }
        self.rows += 1;
        for ((builder, value), column) in self.builders.iter_mut().zip(row).zip(&self.columns) {
            builder.append(*value).map_err(|found| Error::ExportValue {
                column: column.name.clone(),
                row: self.rows,
                found,
                expected: builder.type_name(),
            })?;
        }
        self.batch_rows += 1;
        if self.batch_rows == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Writes the rows appended since the last batch.
    fn flush_batch(&mut self) -> Result<()> {
        if self.batch_rows == 0 {
            return Ok(());
        }
        let schema = self
            .schema
            .clone()
            .expect("settled before rows are appended");
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.batch_rows = 0;
        let (label, writer) = self.writer()?;
        let batch = RecordBatch::try_new(schema, arrays).map_err(|source| Error::Arrow {
            path: label.clone(),
            source,
        })?;
        writer.write(&batch).map_err(|source| Error::Parquet {
            path: label,
            source,
        })
    }

    /// The writer of the rows being written, made on first use for a single file.
    fn writer(&mut self) -> Result<(PathBuf, &mut Writer)> {
        let schema = self
            .schema
            .clone()
            .expect("settled before a writer is needed");
        match &mut self.target {
            Target::Single { label, out, writer } => {
                if writer.is_none() {
                    let out = out.take().expect("one writer per output");
                    *writer = Some(new_writer(out, schema, label)?);
                }
                Ok((label.clone(), writer.as_mut().expect("just made")))
            }
            Target::ByYear { current, .. } => {
                let (_, path, writer) = current.as_mut().expect("a partition is started first");
                Ok((path.clone(), writer))
            }
        }
    }

    /// Closes the current partition's file and opens the file for `key`.
    fn start_partition(&mut self, key: String) -> Result<()> {
        self.close_partition()?;
        let schema = self
            .schema
            .clone()
            .expect("settled before rows are appended");
        let Target::ByYear {
            dir,
            current,
            parts,
            ..
        } = &mut self.target
        else {
            unreachable!("only partitioned exports start partitions");
        };
        let part = parts.entry(key.clone()).or_insert(0);
        let folder = dir.join(format!("year={key}"));
        std::fs::create_dir_all(&folder).map_err(super::io_error(&folder))?;
        let path = folder.join(format!("part-{part}.parquet"));
        *part += 1;
        let file = std::fs::File::create(&path).map_err(super::io_error(&path))?;
        let writer = new_writer(Box::new(file), schema, &path)?;
        *current = Some((key, path, writer));
        Ok(())
    }

    fn close_partition(&mut self) -> Result<()> {
        if let Target::ByYear { current, .. } = &mut self.target
            && let Some((_, path, writer)) = current.take()
        {
            writer
                .close()
                .map_err(|source| Error::Parquet { path, source })?;
            self.files += 1;
        }
        Ok(())
    }
}

impl Sink for ParquetSink {
    fn write_row(&mut self, row: &[ValueRef<'_>]) -> Result<()> {
        if self.schema.is_some() {
            return self.push(row);
        }
        self.lookahead.push(row.iter().map(|v| owned(*v)).collect());
        if self.lookahead.len() == BATCH_ROWS {
            self.settle()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        if self.schema.is_none() {
            self.settle()?;
        }
        self.flush_batch()?;
        if matches!(self.target, Target::Single { .. }) {
            // Made here when there were no rows: the file still carries the schema.
            let (label, _) = self.writer()?;
            let Target::Single { writer, .. } = &mut self.target else {
                unreachable!()
            };
            writer
                .take()
                .expect("made above")
                .close()
                .map_err(|source| Error::Parquet {
                    path: label,
                    source,
                })?;
            self.files += 1;
        } else {
            self.close_partition()?;
        }
        Ok(self.files)
    }
}

fn new_writer(out: Box<dyn Write + Send>, schema: SchemaRef, label: &Path) -> Result<Writer> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("oac-mirror {}", env!("CARGO_PKG_VERSION")))
        .build();
    ArrowWriter::try_new(out, schema, Some(properties)).map_err(|source| Error::Parquet {
        path: label.to_owned(),
        source,
    })
}

/// The year of a `create_date_time` (its first four characters when they are digits), or the
/// partition for rows without one.
fn year_key(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Text(t) if t.len() >= 4 && t[..4].iter().all(u8::is_ascii_digit) => {
            String::from_utf8_lossy(&t[..4]).into_owned()
        }
        _ => NULL_PARTITION.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partition_is_the_year_or_hives_null_partition() {
        assert_eq!(year_key(ValueRef::Text(b"2019-03-04T05:06:07")), "2019");
        assert_eq!(year_key(ValueRef::Null), NULL_PARTITION);
        assert_eq!(year_key(ValueRef::Text(b"19")), NULL_PARTITION);
        assert_eq!(year_key(ValueRef::Integer(2019)), NULL_PARTITION);
    }
}
