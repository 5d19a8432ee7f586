//! One Parquet column as the export fills it: the type an undeclared column takes from the
//! values seen, the Arrow type of each kind, and the builder that appends values to the
//! current record batch, converting them only when nothing is lost.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{BinaryBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_schema::DataType;
use rusqlite::types::{Value, ValueRef};

use super::BATCH_ROWS;
use crate::export::{Kind, hex};

/// A value held until the column types are known (text that is not UTF-8 is mended, as the
/// Utf8 column would mend it anyway).
pub(super) fn owned(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// The type of an undeclared column, from the values seen (see the module doc).
pub(super) fn infer<'a>(values: impl Iterator<Item = &'a Value>) -> Kind {
    let (mut integer, mut real, mut text, mut blob) = (false, false, false, false);
    for value in values {
        match value {
            Value::Null => {}
            Value::Integer(_) => integer = true,
            Value::Real(_) => real = true,
            Value::Text(_) => text = true,
            Value::Blob(_) => blob = true,
        }
    }
    if text {
        Kind::Text
    } else if blob {
        Kind::Blob
    } else if real {
        Kind::Real
    } else if integer {
        Kind::Integer
    } else {
        Kind::Text
    }
}

pub(super) fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Integer => DataType::Int64,
        Kind::Real => DataType::Float64,
        Kind::Text => DataType::Utf8,
        Kind::Blob => DataType::Binary,
    }
}

/// The column being filled for the current record batch.
pub(super) enum Builder {
    Integer(Int64Builder),
    Real(Float64Builder),
    Text(StringBuilder),
    Blob(BinaryBuilder),
}

impl Builder {
    pub(super) fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Integer => Builder::Integer(Int64Builder::with_capacity(BATCH_ROWS)),
            Kind::Real => Builder::Real(Float64Builder::with_capacity(BATCH_ROWS)),
            Kind::Text => Builder::Text(StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 32)),
            Kind::Blob => Builder::Blob(BinaryBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 32)),
        }
    }

    /// Appends `value`, converting it when nothing is lost; otherwise returns the kind of value
    /// that does not fit.
    pub(super) fn append(&mut self, value: ValueRef<'_>) -> Result<(), &'static str> {
        match (self, value) {
            (Builder::Integer(b), ValueRef::Null) => b.append_null(),
            (Builder::Real(b), ValueRef::Null) => b.append_null(),
            (Builder::Text(b), ValueRef::Null) => b.append_null(),
            (Builder::Blob(b), ValueRef::Null) => b.append_null(),
            (Builder::Integer(b), ValueRef::Integer(i)) => b.append_value(i),
            (Builder::Real(b), ValueRef::Real(f)) => b.append_value(f),
            (Builder::Real(b), ValueRef::Integer(i)) => b.append_value(i as f64),
            (Builder::Text(b), ValueRef::Text(t)) => b.append_value(String::from_utf8_lossy(t)),
            (Builder::Text(b), ValueRef::Integer(i)) => b.append_value(i.to_string()),
            (Builder::Text(b), ValueRef::Real(f)) => b.append_value(f.to_string()),
            (Builder::Text(b), ValueRef::Blob(x)) => b.append_value(hex(x)),
            (Builder::Blob(b), ValueRef::Blob(x)) => b.append_value(x),
            (Builder::Blob(b), ValueRef::Text(t)) => b.append_value(t),
            (_, other) => return Err(value_name(other)),
        }
        Ok(())
    }

    pub(super) fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Integer(b) => Arc::new(b.finish()),
            Builder::Real(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Blob(b) => Arc::new(b.finish()),
        }
    }

    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Builder::Integer(_) => "Int64",
            Builder::Real(_) => "Float64",
            Builder::Text(_) => "Utf8",
            Builder::Blob(_) => "Binary",
        }
    }
}

fn value_name(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "INTEGER",
        ValueRef::Real(_) => "REAL",
        ValueRef::Text(_) => "TEXT",
        ValueRef::Blob(_) => "BLOB",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undeclared_columns_take_the_widest_type_seen() {
        let kind = |values: &[Value]| infer(values.iter());
        assert_eq!(kind(&[Value::Null, Value::Integer(1)]), Kind::Integer);
        assert_eq!(kind(&[Value::Integer(1), Value::Real(0.5)]), Kind::Real);
        assert_eq!(
            kind(&[Value::Integer(1), Value::Text("a".into())]),
            Kind::Text
        );
        assert_eq!(kind(&[Value::Null]), Kind::Text);
        assert_eq!(kind(&[]), Kind::Text);
    }

    #[test]
    fn values_convert_only_without_loss() {
        let mut real = Builder::new(Kind::Real);
        assert_eq!(real.append(ValueRef::Integer(3)), Ok(()));
        assert_eq!(real.append(ValueRef::Text(b"x")), Err("TEXT"));
        let mut int = Builder::new(Kind::Integer);
        assert_eq!(int.append(ValueRef::Real(0.5)), Err("REAL"));
        let mut text = Builder::new(Kind::Text);
        assert_eq!(text.append(ValueRef::Integer(7)), Ok(()));
    }
}
