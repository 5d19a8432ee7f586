//! CSV for `oac-mirror export`: RFC 4180 through the `csv` crate, a header row of column names,
//! fields quoted only where needed (a comma, a quote, a line break), text written byte for
//! byte (spaces at either end kept), NULL as an empty field. The mirror never stores an empty
//! text (upstream's "" is NULL), so in its tables and views an empty field always means NULL.

use std::io::Write;
use std::path::PathBuf;

use rusqlite::types::ValueRef;

use super::{Column, Sink, hex};
use crate::error::{Error, Result};

pub(crate) struct CsvSink {
    writer: csv::Writer<Box<dyn Write + Send>>,
    label: PathBuf,
}

impl CsvSink {
    /// Writes the header row at once.
    pub fn new(columns: &[Column], out: Box<dyn Write + Send>, label: PathBuf) -> Result<CsvSink> {
        let mut sink = CsvSink {
            writer: csv::WriterBuilder::new()
                .buffer_capacity(64 * 1024)
                .from_writer(out),
            label,
        };
        let header = sink
            .writer
            .write_record(columns.iter().map(|c| c.name.as_bytes()));
        header.map_err(|e| sink.error(e))?;
        Ok(sink)
    }

    /// An I/O failure is reported as one (so that a closed pipe is recognized); anything else
    /// as the CSV writer's own error.
    fn error(&self, e: csv::Error) -> Error {
        let path = self.label.clone();
        if e.is_io_error() {
            if let csv::ErrorKind::Io(source) = e.into_kind() {
                return Error::Io { path, source };
            }
            unreachable!("is_io_error means ErrorKind::Io");
        }
        Error::Csv { path, source: e }
    }
}

impl Sink for CsvSink {
    fn write_row(&mut self, row: &[ValueRef<'_>]) -> Result<()> {
        for value in row {
            let written = match *value {
                ValueRef::Null => self.writer.write_field(b""),
                ValueRef::Integer(i) => self.writer.write_field(i.to_string()),
                ValueRef::Real(f) => self.writer.write_field(f.to_string()),
                ValueRef::Text(t) => self.writer.write_field(t),
                ValueRef::Blob(b) => self.writer.write_field(hex(b)),
            };
            written.map_err(|e| self.error(e))?;
        }
        // An empty record ends the one built field by field.
        self.writer
            .write_record(std::iter::empty::<&[u8]>())
            .map_err(|e| self.error(e))
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.writer.flush().map_err(super::io_error(&self.label))?;
        Ok(1)
    }
}
