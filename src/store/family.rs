//! Writing pages of the citations' siblings (rejections, enriched citations): the generic write
//! path, whose columns are the data set's description ([`Dataset`]), in the open batch of pages
//! with the checkpoint, as `records` does for the citations. Also the `schema_docs` rows of the
//! siblings' tables and views, written from the same descriptions.

use std::collections::HashMap;

use rusqlite::types::{ToSqlOutput, Value as Sql};
use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::Store;
use crate::api::record::Rejected;
use crate::dataset::{Cell, Dataset, FamilyRecord};
use crate::error::{Error, Result};

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Sql::Null),
            Cell::Int(i) => ToSqlOutput::Owned(Sql::Integer(*i)),
            Cell::Text(s) => ToSqlOutput::Borrowed(s.as_str().into()),
        })
    }
}

/// The statements of one data set's write path, built once from its description.
pub(super) struct Statements {
    insert: String,
    upsert: String,
}

fn statements(d: &Dataset) -> Statements {
    let own: Vec<&str> = d.fields.iter().map(|f| f.column).collect();
    let columns = format!("id, office_action_id, {}, extra, sweep", own.join(", "));
    let marks: Vec<String> = (1..=own.len() + 4).map(|i| format!("?{i}")).collect();
    let values = format!("VALUES ({})", marks.join(", "));
    let table = d.table;
    let set: Vec<String> = own
        .iter()
        .chain(&["office_action_id", "extra"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let differs: Vec<String> = own
        .iter()
        .chain(&["office_action_id", "extra"])
        .map(|c| format!("{table}.{c} IS NOT excluded.{c}"))
        .collect();
    Statements {
        insert: format!(
            "INSERT INTO {table} ({columns}) {values} ON CONFLICT (id) DO NOTHING"
        ),
        upsert: format!(
            "INSERT INTO {table} ({columns}) {values} ON CONFLICT (id) DO UPDATE SET {}, sweep = excluded.sweep, deleted_at = NULL
             WHERE {} OR {table}.deleted_at IS NOT NULL",
            set.join(", "),
            differs.join(" OR ")
        ),
    }
}

/// The write path's state kept between pages: statements per data set and the office actions
/// already looked up.
#[derive(Default)]
pub(super) struct FamilyCaches {
    statements: HashMap<&'static str, Statements>,
    actions: HashMap<(Option<String>, Option<String>), i64>,
}

impl FamilyCaches {
    /// Forgets the office actions looked up (a batch that rolled back may have made them).
    pub(super) fn forget_actions(&mut self) {
        self.actions.clear();
    }
}

/// Entries kept in the office-action cache before it starts afresh.
const ACTION_CACHE_LIMIT: usize = 200_000;

impl Store {
    /// Stores one page of leaf `id` (fetched in `sweep`) of the current sibling data set and
    /// advances its checkpoint, in the open batch of pages: as [`Store::put_page`] does for the
    /// citations.
    pub fn put_family_page(
        &mut self,
        id: i64,
        sweep: i64,
        next_offset: u64,
        records: &[FamilyRecord],
        rejected: &[Rejected],
    ) -> Result<()> {
        self.write_a_page(|s| write_page(s, id, sweep, next_offset, records, rejected))
    }
}

fn write_page(
    store: &mut Store,
    id: i64,
    sweep: i64,
    next_offset: u64,
    records: &[FamilyRecord],
    rejected: &[Rejected],
) -> Result<()> {
    let d = store.dataset;
    let tx = &store.conn;
    let caches = &mut store.family;
    let st = caches
        .statements
        .entry(d.name)
        .or_insert_with(|| statements(d));
    let mut insert = tx
        .prepare_cached(&st.insert)
        .map_err(Error::sqlite(format!("prepare {} insert", d.table)))?;
    let mut upsert = tx
        .prepare_cached(&st.upsert)
        .map_err(Error::sqlite(format!("prepare {} upsert", d.table)))?;
    let mut stored = tx
        .prepare_cached(&format!("SELECT deleted_at FROM {} WHERE id = ?1", d.table))
        .map_err(Error::sqlite("prepare record lookup"))?;
    let mut seen = tx
        .prepare_cached(&format!("UPDATE {} SET sweep = ?2 WHERE id = ?1", d.table))
        .map_err(Error::sqlite("prepare record sweep"))?;
    let (mut added, mut updated, mut revived) = (0u64, 0u64, 0u64);
    for r in records {
        let action = action_id(tx, &mut caches.actions, r)?;
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(r.cells.len() + 4);
        values.push(&r.id);
        values.push(&action);
        values.extend(r.cells.iter().map(|c| c as &dyn ToSql));
        values.push(&r.extra);
        values.push(&sweep);
        let inserted = insert
            .execute(values.as_slice())
            .map_err(Error::sqlite_with(|| format!("store record {}", r.id)))?;
        if inserted > 0 {
            added += 1;
            continue;
        }
        let deleted_at: Option<String> = stored
            .query_row([&r.id], |row| row.get(0))
            .map_err(Error::sqlite_with(|| format!("look up record {}", r.id)))?;
        if let (Some(deleted_at), Some((_, started))) = (&deleted_at, store.run.as_ref())
            && deleted_at >= started
        {
            revived += 1;
        }
        if upsert
            .execute(values.as_slice())
            .map_err(Error::sqlite_with(|| format!("store record {}", r.id)))?
            > 0
        {
            updated += 1;
        } else {
            seen.execute(params![r.id, sweep])
                .map_err(Error::sqlite_with(|| format!("store record {}", r.id)))?;
        }
    }
    super::records::finish_page(
        tx,
        store.run.as_ref(),
        id,
        sweep,
        next_offset,
        rejected,
        (added, updated, revived),
    )
}

/// The office action a sibling record belongs to: the first row of its (document, application)
/// pair, whatever art unit a citation gave it, or a new row without art-unit columns (which the
/// first citation of the action fills in; see migration 0004).
fn action_id(
    tx: &Connection,
    cache: &mut HashMap<(Option<String>, Option<String>), i64>,
    r: &FamilyRecord,
) -> Result<i64> {
    let key = (
        r.obsolete_document_identifier.clone(),
        r.patent_application_number.clone(),
    );
    if let Some(&id) = cache.get(&key) {
        return Ok(id);
    }
    if let Some(number) = &r.patent_application_number {
        tx.prepare_cached("INSERT INTO applications (patent_application_number) VALUES (?1) ON CONFLICT DO NOTHING")
            .and_then(|mut s| s.execute([number]))
            .map_err(Error::sqlite("store application"))?;
    }
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT office_action_id FROM office_actions
             WHERE ifnull(obsolete_document_identifier, '') = ifnull(?1, '')
               AND ifnull(patent_application_number, '') = ifnull(?2, '')
             ORDER BY office_action_id LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![key.0, key.1], |row| row.get(0))
                .optional()
        })
        .map_err(Error::sqlite("look up office action"))?;
    let id = match found {
        Some(id) => id,
        None => {
            // `last_insert_rowid`, not `RETURNING`: see `dimensions::insert_or_find`.
            tx.prepare_cached(
                "INSERT INTO office_actions (obsolete_document_identifier, patent_application_number)
                 VALUES (?1, ?2)",
            )
            .and_then(|mut s| s.execute(params![key.0, key.1]))
            .map_err(Error::sqlite("store office action"))?;
            tx.last_insert_rowid()
        }
    };
    if cache.len() >= ACTION_CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, id);
    Ok(id)
}

#[cfg(test)]
#[path = "family_tests.rs"]
mod tests;
