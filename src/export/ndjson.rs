//! NDJSON for `oac-mirror export`: one JSON object per row and line, keys in column order,
//! INTEGER and REAL as numbers (a REAL that is not finite as null), TEXT as strings, NULL as
//! null, BLOB as a hexadecimal string.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use rusqlite::types::ValueRef;

use super::{Column, Sink, hex};
use crate::error::Result;

pub(crate) struct NdjsonSink {
    writer: BufWriter<Box<dyn Write + Send>>,
    /// `"name":` for each column, encoded once.
    keys: Vec<String>,
    /// The line being built, reused from row to row.
    line: String,
    label: PathBuf,
}

impl NdjsonSink {
    pub fn new(columns: &[Column], out: Box<dyn Write + Send>, label: PathBuf) -> NdjsonSink {
        NdjsonSink {
            writer: BufWriter::with_capacity(64 * 1024, out),
            keys: columns
                .iter()
                .map(|c| format!("{}:", json_string(&c.name)))
                .collect(),
            line: String::new(),
            label,
        }
    }
}

impl Sink for NdjsonSink {
    fn write_row(&mut self, row: &[ValueRef<'_>]) -> Result<()> {
        self.line.clear();
        self.line.push('{');
        for (i, (key, value)) in self.keys.iter().zip(row).enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            self.line.push_str(key);
            match *value {
                ValueRef::Null => self.line.push_str("null"),
                ValueRef::Integer(n) => self.line.push_str(&n.to_string()),
                ValueRef::Real(f) if f.is_finite() => self
                    .line
                    .push_str(&serde_json::Number::from_f64(f).expect("finite").to_string()),
                ValueRef::Real(_) => self.line.push_str("null"),
                ValueRef::Text(t) => self
                    .line
                    .push_str(&json_string(&String::from_utf8_lossy(t))),
                ValueRef::Blob(b) => self.line.push_str(&json_string(&hex(b))),
            }
        }
        self.line.push_str("}\n");
        self.writer
            .write_all(self.line.as_bytes())
            .map_err(super::io_error(&self.label))
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.writer.flush().map_err(super::io_error(&self.label))?;
        Ok(1)
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
