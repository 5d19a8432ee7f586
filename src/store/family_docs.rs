//! The `schema_docs` rows of the citations' siblings' tables and views, written from their
//! descriptions ([`Dataset`]) right after migration 4 created them.

use rusqlite::{Connection, params};

use crate::dataset::{self, Dataset};
use crate::error::{Error, Result};

/// Writes the `schema_docs` rows of every sibling's table and views, from its description
/// (run right after migration 4 created them).
pub(super) fn describe(tx: &Connection) -> Result<()> {
    let mut insert = tx
        .prepare("INSERT INTO schema_docs (object, column_name, description) VALUES (?1, ?2, ?3)")
        .map_err(Error::sqlite("prepare schema docs"))?;
    let mut doc = |object: &str, column: Option<&str>, text: String| {
        insert
            .execute(params![object, column, text])
            .map(drop)
            .map_err(Error::sqlite(format!("describe {object}")))
    };
    for d in dataset::ALL.into_iter().filter(|d| !d.is_citations()) {
        describe_objects(&mut doc, d)?;
        describe_columns(&mut doc, d)?;
    }
    Ok(())
}

/// What [`describe`] writes each row with: object, column (None for the object itself), text.
type Doc<'a> = dyn FnMut(&str, Option<&str>, String) -> Result<()> + 'a;

/// The rows of a sibling's table and views themselves, and of the columns every view shares.
fn describe_objects(doc: &mut Doc<'_>, d: &Dataset) -> Result<()> {
    let upstream = d.prefix("…");
    doc(
        d.table,
        None,
        format!(
            "One row per {} record (upstream id), deleted ones included (deleted_at); the office action it belongs to is in office_actions. Upstream: {upstream}.",
            d.name
        ),
    )?;
    doc(
        d.view,
        None,
        format!(
            "The {} data set, one row per live record, in upstream's flat shape ({upstream}). \"\", null and missing values are NULL; booleans 0/1; arrays as compact JSON text.",
            d.name
        ),
    )?;
    doc(
        d.deleted_view,
        None,
        format!(
            "Records of {} that vanished upstream, in the shape of {}, with when a refresh found them gone.",
            d.name, d.view
        ),
    )?;
    let keys = [
        ("id", "Upstream record id (id)."),
        (
            "patent_application_number",
            "The application (patentApplicationNumber).",
        ),
        (
            "obsolete_document_identifier",
            "The office-action document (obsoleteDocumentIdentifier).",
        ),
    ];
    for (column, text) in keys {
        doc(d.view, Some(column), text.into())?;
        doc(d.deleted_view, Some(column), text.into())?;
    }
    Ok(())
}

/// The rows of a sibling's own columns, in its table and views.
fn describe_columns(doc: &mut Doc<'_>, d: &Dataset) -> Result<()> {
    doc(d.table, Some("id"), "Upstream record id (id).".into())?;
    doc(
        d.table,
        Some("office_action_id"),
        "Local key of the office action (office_actions).".into(),
    )?;
    for f in d.fields {
        let text = match f.kind {
            dataset::Kind::Text => format!("{}, exactly as sent.", f.name),
            dataset::Kind::Bool => format!("{} (0/1).", f.name),
            dataset::Kind::Int => format!("{}, an integer.", f.name),
            dataset::Kind::Array => format!(
                "{}: the array as compact JSON text (NULL when empty).",
                f.name
            ),
        };
        for object in [d.table, d.view, d.deleted_view] {
            doc(object, Some(f.column), text.clone())?;
        }
    }
    doc(
        d.table,
        Some("extra"),
        "Fields upstream sent that oac-mirror does not know, as JSON.".into(),
    )?;
    doc(
        d.table,
        Some("sweep"),
        "The fetch of a partition that last saw the record.".into(),
    )?;
    for object in [d.table, d.deleted_view] {
        doc(
            object,
            Some("deleted_at"),
            "When a refresh found the record gone upstream (UTC).".into(),
        )?;
    }
    Ok(())
}
