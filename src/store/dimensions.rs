//! The dimension rows a record points to (its application, office action and reference): found
//! or stored once, behind caches that keep their recently used half, so that most records need
//! no statement for them. Also the parsed-reference columns and their backfill.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use rusqlite::{Connection, OptionalExtension, params};

use crate::api::record::Citation;
use crate::error::{Error, Result};
use crate::reference::{self, ParsedReference};

/// Ids of dimension rows already written, so that most records need one statement, not four.
/// Each map is bounded by [`CACHE_LIMIT`] and forgets its least recently used half at a time
/// (see [`Generations`]), so the hot rows stay cached however large the harvest. Keys are the
/// row's key columns encoded into one byte string (see [`Key`]), built in a buffer that is
/// reused, so that a hit allocates nothing.
#[derive(Default)]
pub(super) struct Caches {
    applications: Generations<()>,
    actions: Generations<i64>,
    references: Generations<i64>,
    kinds: Generations<i64>,
    key: Key,
}

/// Entries per generation of a dimension cache.
const CACHE_LIMIT: usize = 100_000;

type FastMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<rustc_hash::FxHasher>>;

/// A map bounded by two generations: new entries go into the young one, an entry found in the
/// old one moves to the young one, and when the young one is full the old one is dropped and
/// the young one takes its place. What was used since the last turn survives it; a cache that
/// is cleared when full instead starts cold every `CACHE_LIMIT` entries.
pub(super) struct Generations<V> {
    young: FastMap<V>,
    old: FastMap<V>,
}

impl<V> Default for Generations<V> {
    fn default() -> Self {
        Generations {
            young: FastMap::default(),
            old: FastMap::default(),
        }
    }
}

impl<V: Copy> Generations<V> {
    fn get(&mut self, key: &[u8]) -> Option<V> {
        if let Some(&v) = self.young.get(key) {
            return Some(v);
        }
        let (k, v) = self.old.remove_entry(key)?;
        self.put(k, v);
        Some(v)
    }

    fn insert(&mut self, key: &[u8], value: V) {
        self.put(key.into(), value);
    }

    fn put(&mut self, key: Box<[u8]>, value: V) {
        if self.young.len() >= CACHE_LIMIT {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(key, value);
    }
}

/// The key columns of a dimension row as one byte string: each value's length, then its bytes.
/// An absent value is the empty one, as in the tables' unique indexes (`ifnull(x, '')`).
#[derive(Default)]
struct Key(Vec<u8>);

impl Key {
    fn of(&mut self, values: &[&Option<String>]) -> &[u8] {
        self.0.clear();
        for v in values {
            let v = v.as_deref().unwrap_or("").as_bytes();
            self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
            self.0.extend_from_slice(v);
        }
        &self.0
    }
}

/// The row of `citation_kinds` that names the record's action type, legal section and creating
/// user: a handful of rows, so found in the cache after the first few records.
pub(super) fn kind_id(tx: &Connection, caches: &mut Caches, c: &Citation) -> Result<i64> {
    let columns = [
        &c.action_type_category,
        &c.legal_section_code,
        &c.create_user_identifier,
    ];
    let key = caches.key.of(&columns);
    if let Some(id) = caches.kinds.get(key) {
        return Ok(id);
    }
    let id = insert_or_find(
        tx,
        "INSERT INTO citation_kinds (action_type_category, legal_section_code, create_user_identifier)
         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        "SELECT kind_id FROM citation_kinds WHERE ifnull(action_type_category, '') = ifnull(?1, '')
           AND ifnull(legal_section_code, '') = ifnull(?2, '') AND ifnull(create_user_identifier, '') = ifnull(?3, '')",
        params![columns[0], columns[1], columns[2]],
        "citation kind",
    )?;
    caches.kinds.insert(caches.key.of(&columns), id);
    Ok(id)
}

pub(super) fn action_id(tx: &Connection, caches: &mut Caches, c: &Citation) -> Result<i64> {
    if let Some(number) = &c.patent_application_number
        && caches.applications.get(number.as_bytes()).is_none()
    {
        tx.prepare_cached("INSERT INTO applications (patent_application_number) VALUES (?1) ON CONFLICT DO NOTHING")
            .and_then(|mut s| s.execute([number]))
            .map_err(Error::sqlite("store application"))?;
        caches.applications.insert(number.as_bytes(), ());
    }
    let columns = [
        &c.obsolete_document_identifier,
        &c.patent_application_number,
        &c.group_art_unit_number,
        &c.tech_center,
        &c.work_group,
    ];
    let key = caches.key.of(&columns);
    if let Some(id) = caches.actions.get(key) {
        return Ok(id);
    }
    let id = insert_or_find(
        tx,
        "INSERT INTO office_actions (obsolete_document_identifier, patent_application_number, group_art_unit_number,
            tech_center, work_group) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        "SELECT office_action_id FROM office_actions WHERE ifnull(obsolete_document_identifier, '') = ifnull(?1, '')
           AND ifnull(patent_application_number, '') = ifnull(?2, '') AND ifnull(group_art_unit_number, '') = ifnull(?3, '')
           AND ifnull(tech_center, '') = ifnull(?4, '') AND ifnull(work_group, '') = ifnull(?5, '')",
        params![columns[0], columns[1], columns[2], columns[3], columns[4]],
        "office action",
    )?;
    caches.actions.insert(caches.key.of(&columns), id);
    Ok(id)
}

/// The id of the row `insert` stores (`... ON CONFLICT DO NOTHING`), or, when the row was
/// there already, the one `find` reads with the same `values`. Insert first: a new row needs one
/// statement; a known one (cached out) two. The new row's id is read with `last_insert_rowid`,
/// not `RETURNING`, which makes SQLite build and tear down a temporary B-tree (with its own page
/// cache) for every statement: measured, about a fifth of a first harvest's CPU.
fn insert_or_find(
    tx: &Connection,
    insert: &str,
    find: &str,
    values: &[&dyn rusqlite::ToSql],
    what: &'static str,
) -> Result<i64> {
    let inserted = tx
        .prepare_cached(insert)
        .and_then(|mut s| s.execute(values))
        .map_err(Error::sqlite_with(|| format!("store {what}")))?;
    match inserted {
        1 => Ok(tx.last_insert_rowid()),
        _ => tx
            .prepare_cached(find)
            .and_then(|mut s| s.query_row(values, |r| r.get(0)))
            .map_err(Error::sqlite_with(|| format!("look up {what}"))),
    }
}

pub(super) fn reference_id(tx: &Connection, caches: &mut Caches, c: &Citation) -> Result<i64> {
    let columns = [&c.reference_identifier, &c.parsed_reference_identifier];
    let key = caches.key.of(&columns);
    if let Some(id) = caches.references.get(key) {
        return Ok(id);
    }
    let key = super::key::of(&[
        c.reference_identifier.as_deref(),
        c.parsed_reference_identifier.as_deref(),
    ]);
    let found: Option<i64> = tx
        .prepare_cached(
            "SELECT reference_id FROM cited_references WHERE reference_key = ?3
               AND ifnull(reference_identifier, '') = ifnull(?1, '')
               AND ifnull(parsed_reference_identifier, '') = ifnull(?2, '')",
        )
        .and_then(|mut s| {
            s.query_row(params![columns[0], columns[1], key], |r| r.get(0))
                .optional()
        })
        .map_err(Error::sqlite("look up reference"))?;
    let id = match found {
        Some(id) => id,
        None => {
            let p = parsed(c.reference_identifier.as_deref());
            // `last_insert_rowid`, not `RETURNING`: see `insert_or_find`.
            tx.prepare_cached(
                "INSERT INTO cited_references (reference_identifier, parsed_reference_identifier,
                    country, document_number, kind_code, first_inventor, is_npl, reference_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    columns[0],
                    columns[1],
                    p.country,
                    p.document_number,
                    p.kind_code,
                    p.first_inventor,
                    p.is_npl,
                    key
                ])
            })
            .map_err(Error::sqlite("store reference"))?;
            tx.last_insert_rowid()
        }
    };
    caches.references.insert(caches.key.of(&columns), id);
    Ok(id)
}

/// The parsed-reference columns of one reference text: all NULL when there is no text.
struct Parsed {
    country: Option<String>,
    document_number: Option<String>,
    kind_code: Option<String>,
    first_inventor: Option<String>,
    is_npl: Option<bool>,
}

fn parsed(text: Option<&str>) -> Parsed {
    match text.and_then(reference::parse) {
        Some(ParsedReference {
            country,
            document_number,
            kind_code,
            first_inventor,
            is_npl,
        }) => Parsed {
            country,
            document_number,
            kind_code,
            first_inventor,
            is_npl: Some(is_npl),
        },
        None => Parsed {
            country: None,
            document_number: None,
            kind_code: None,
            first_inventor: None,
            is_npl: None,
        },
    }
}

/// Rows read and written per step of [`fill_parsed_references`], so that memory stays bounded
/// however many references a database holds.
const FILL_BATCH: usize = 10_000;

/// Fills the parsed-reference columns of the rows stored before migration 2 added them (those
/// with a text and no `is_npl` yet), in batches by `reference_id`. Returns how many it filled.
pub(super) fn fill_parsed_references(tx: &Connection) -> Result<u64> {
    let mut select = tx
        .prepare(
            "SELECT reference_id, reference_identifier FROM cited_references
             WHERE reference_id > ?1 AND reference_identifier IS NOT NULL AND is_npl IS NULL
             ORDER BY reference_id LIMIT ?2",
        )
        .map_err(Error::sqlite("prepare reference backfill"))?;
    let mut update = tx
        .prepare(
            "UPDATE cited_references SET country = ?2, document_number = ?3, kind_code = ?4,
                first_inventor = ?5, is_npl = ?6 WHERE reference_id = ?1",
        )
        .map_err(Error::sqlite("prepare reference backfill"))?;
    let (mut after, mut filled) = (0_i64, 0_u64);
    loop {
        let batch: Vec<(i64, String)> = select
            .query_map(params![after, FILL_BATCH as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(Error::sqlite("read references to parse"))?;
        let Some(&(last, _)) = batch.last() else {
            return Ok(filled);
        };
        for (id, text) in &batch {
            let p = parsed(Some(text));
            if p.is_npl.is_some() {
                update
                    .execute(params![
                        id,
                        p.country,
                        p.document_number,
                        p.kind_code,
                        p.first_inventor,
                        p.is_npl
                    ])
                    .map_err(Error::sqlite("store parsed reference"))?;
                filled += 1;
            }
        }
        after = last;
    }
}
