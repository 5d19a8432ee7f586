//! Writing pages of records: the normalized upsert and the quarantine, in one transaction with
//! the checkpoint.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, now};
use crate::api::record::{Citation, Rejected};
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

impl Store {
    /// Stores one page of leaf `id` (fetched in `sweep`) and advances its checkpoint to
    /// `next_offset`, in the open batch of pages (see [`Store::flush`]), or in its own
    /// transaction in a store that does not harvest (which has no batches): the page and its
    /// checkpoint commit together or not at all.
    ///
    /// A page that fails half-written loses its whole batch (see [`Store::lose_batch`]): the
    /// pages already stored in the batch were answered as stored, so nothing more is written
    /// in this run, and the next one continues from the last commit, as after a kill.
    pub fn put_page(
        &mut self,
        id: i64,
        sweep: i64,
        next_offset: u64,
        citations: &[Citation],
        rejected: &[Rejected],
    ) -> Result<()> {
        self.write_a_page(|s| {
            write_page(
                &s.conn,
                &mut s.caches,
                s.run.as_ref(),
                id,
                sweep,
                next_offset,
                citations,
                rejected,
            )
        })
    }

    /// Runs `write`, which writes one page and its checkpoint, in the open batch of pages, or,
    /// in a store that does not harvest (which has no batches), in a transaction of its own.
    /// The one way every data set's pages are written.
    ///
    /// In a batch the page has no savepoint of its own: SQLite makes a savepoint inside a large
    /// transaction cost more than the page (measured: 36 s of CPU per 100,000 records instead
    /// of 3), so a page that fails half-written loses its whole batch instead and stops the
    /// writes (see [`Store::lose_batch`]).
    pub(super) fn write_a_page(
        &mut self,
        write: impl FnOnce(&mut Store) -> Result<()>,
    ) -> Result<()> {
        if self.batch_lost() {
            return Err(Error::WriterStopped);
        }
        self.begin_batch()?;
        let alone = self.batch.is_none();
        if alone {
            self.conn
                .execute_batch("BEGIN")
                .map_err(Error::sqlite("begin a page"))?;
        }
        match (alone, write(self)) {
            (true, Ok(())) => self
                .conn
                .execute_batch("COMMIT")
                .map_err(Error::sqlite("commit a page")),
            (true, Err(e)) => {
                // The dimension rows the page added are gone, and so must be the ids cached
                // for them.
                let _ = self.conn.execute_batch("ROLLBACK");
                self.forget_cached_ids();
                Err(e)
            }
            (false, Ok(())) => Ok(()),
            (false, Err(e)) => {
                self.lose_batch();
                Err(e)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_page(
    tx: &Connection,
    caches: &mut Caches,
    run: Option<&(i64, String)>,
    id: i64,
    sweep: i64,
    next_offset: u64,
    citations: &[Citation],
    rejected: &[Rejected],
) -> Result<()> {
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO citations (id, office_action_id, reference_id, action_type_category, legal_section_code,
                paragraph_number, examiner_cited_reference_indicator, applicant_cited_examiner_reference_indicator,
                office_action_citation_reference_indicator, create_date_time, create_user_identifier, extra, sweep)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (id) DO UPDATE SET
                office_action_id = excluded.office_action_id,
                reference_id = excluded.reference_id,
                action_type_category = excluded.action_type_category,
                legal_section_code = excluded.legal_section_code,
                paragraph_number = excluded.paragraph_number,
                examiner_cited_reference_indicator = excluded.examiner_cited_reference_indicator,
                applicant_cited_examiner_reference_indicator = excluded.applicant_cited_examiner_reference_indicator,
                office_action_citation_reference_indicator = excluded.office_action_citation_reference_indicator,
                create_date_time = excluded.create_date_time,
                create_user_identifier = excluded.create_user_identifier,
                extra = excluded.extra,
                sweep = excluded.sweep,
                deleted_at = NULL
             WHERE citations.office_action_id IS NOT excluded.office_action_id
                OR citations.reference_id IS NOT excluded.reference_id
                OR citations.action_type_category IS NOT excluded.action_type_category
                OR citations.legal_section_code IS NOT excluded.legal_section_code
                OR citations.paragraph_number IS NOT excluded.paragraph_number
                OR citations.examiner_cited_reference_indicator IS NOT excluded.examiner_cited_reference_indicator
                OR citations.applicant_cited_examiner_reference_indicator IS NOT excluded.applicant_cited_examiner_reference_indicator
                OR citations.office_action_citation_reference_indicator IS NOT excluded.office_action_citation_reference_indicator
                OR citations.create_date_time IS NOT excluded.create_date_time
                OR citations.create_user_identifier IS NOT excluded.create_user_identifier
                OR citations.extra IS NOT excluded.extra
                OR citations.deleted_at IS NOT NULL",
        )
        .map_err(Error::sqlite("prepare citation upsert"))?;
    // Most records are new: one insert stores them, and only an id already stored (a
    // refresh, a record that moved between windows) takes the upsert path below.
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO citations (id, office_action_id, reference_id, action_type_category, legal_section_code,
                paragraph_number, examiner_cited_reference_indicator, applicant_cited_examiner_reference_indicator,
                office_action_citation_reference_indicator, create_date_time, create_user_identifier, extra, sweep)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (id) DO NOTHING",
        )
        .map_err(Error::sqlite("prepare citation insert"))?;
    // The upsert changes a stored record only when upstream changed it; one it leaves alone
    // still moves to this sweep.
    let mut stored = tx
        .prepare_cached("SELECT deleted_at FROM citations WHERE id = ?1")
        .map_err(Error::sqlite("prepare citation lookup"))?;
    let mut seen = tx
        .prepare_cached("UPDATE citations SET sweep = ?2 WHERE id = ?1")
        .map_err(Error::sqlite("prepare citation sweep"))?;
    // A record this run marked deleted that turns up again (it moved to a window fetched
    // later) was not deleted after all.
    let (mut added, mut updated, mut revived) = (0u64, 0u64, 0u64);
    for c in citations {
        let action = action_id(tx, caches, c)?;
        let reference = reference_id(tx, caches, c)?;
        let values = params![
            c.id,
            action,
            reference,
            c.action_type_category,
            c.legal_section_code,
            c.paragraph_number,
            c.examiner_cited_reference_indicator,
            c.applicant_cited_examiner_reference_indicator,
            c.office_action_citation_reference_indicator,
            c.create_date_time,
            c.create_user_identifier,
            c.extra,
            sweep,
        ];
        let inserted = insert
            .execute(values)
            .map_err(Error::sqlite(format!("store record {}", c.id)))?;
        if inserted > 0 {
            added += 1;
            continue;
        }
        let deleted_at: Option<String> = stored
            .query_row([&c.id], |r| r.get(0))
            .map_err(Error::sqlite(format!("look up record {}", c.id)))?;
        if let (Some(deleted_at), Some((_, started))) = (&deleted_at, run)
            && deleted_at >= started
        {
            revived += 1;
        }
        let changed = upsert
            .execute(values)
            .map_err(Error::sqlite(format!("store record {}", c.id)))?;
        if changed > 0 {
            updated += 1;
        } else {
            seen.execute(params![c.id, sweep])
                .map_err(Error::sqlite(format!("store record {}", c.id)))?;
        }
    }
    finish_page(
        tx,
        run,
        id,
        sweep,
        next_offset,
        rejected,
        (added, updated, revived),
    )
}

/// The end of every data set's page, in its transaction: the run's counts of what the page
/// `changed` (added, updated, revived), its quarantined records, and the leaf's checkpoint
/// moved to `next_offset`, which must still be in `sweep`.
pub(super) fn finish_page(
    tx: &Connection,
    run: Option<&(i64, String)>,
    id: i64,
    sweep: i64,
    next_offset: u64,
    rejected: &[Rejected],
    changed: (u64, u64, u64),
) -> Result<()> {
    let (added, updated, revived) = changed;
    if let Some((run, _)) = run
        && added + updated + revived > 0
    {
        tx.prepare_cached(
            "UPDATE runs SET records_added = records_added + ?2, records_updated = records_updated + ?3,
                records_deleted = records_deleted - ?4 WHERE run_id = ?1",
        )
        .and_then(|mut s| s.execute(params![run, added, updated, revived]))
        .map_err(Error::sqlite("count the run's changes"))?;
    }
    let at = now();
    let mut quarantine = tx
        .prepare_cached(
            "INSERT INTO rejected_records (partition_id, sweep, record_id, create_date_time, reason, raw_json, seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(Error::sqlite("prepare quarantine"))?;
    for r in rejected {
        quarantine
            .execute(params![
                id,
                sweep,
                r.id,
                r.create_date_time,
                r.reason,
                r.raw_json,
                at
            ])
            .map_err(Error::sqlite("quarantine record"))?;
    }
    let moved = tx
        .execute(
            "UPDATE partitions SET next_offset = ?3, updated_at = ?4 WHERE partition_id = ?1 AND sweep = ?2",
            params![id, sweep, next_offset, at],
        )
        .map_err(Error::sqlite("advance checkpoint"))?;
    if moved != 1 {
        return Err(Error::SweepConflict {
            partition: id,
            sweep,
        });
    }
    Ok(())
}

fn action_id(tx: &Connection, caches: &mut Caches, c: &Citation) -> Result<i64> {
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
    let values = params![columns[0], columns[1], columns[2], columns[3], columns[4]];
    // Insert first: a new action needs one statement; a known one (cached out) two.
    let inserted: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO office_actions (obsolete_document_identifier, patent_application_number, group_art_unit_number,
                tech_center, work_group) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING RETURNING office_action_id",
        )
        .and_then(|mut s| s.query_row(values, |r| r.get(0)).optional())
        .map_err(Error::sqlite("store office action"))?;
    let id = match inserted {
        Some(id) => id,
        None => tx
            .prepare_cached(
                "SELECT office_action_id FROM office_actions WHERE ifnull(obsolete_document_identifier, '') = ifnull(?1, '')
                   AND ifnull(patent_application_number, '') = ifnull(?2, '') AND ifnull(group_art_unit_number, '') = ifnull(?3, '')
                   AND ifnull(tech_center, '') = ifnull(?4, '') AND ifnull(work_group, '') = ifnull(?5, '')",
            )
            .and_then(|mut s| s.query_row(values, |r| r.get(0)))
            .map_err(Error::sqlite("look up office action"))?,
    };
    caches.actions.insert(caches.key.of(&columns), id);
    Ok(id)
}

fn reference_id(tx: &Connection, caches: &mut Caches, c: &Citation) -> Result<i64> {
    let columns = [&c.reference_identifier, &c.parsed_reference_identifier];
    let key = caches.key.of(&columns);
    if let Some(id) = caches.references.get(key) {
        return Ok(id);
    }
    let p = parsed(c.reference_identifier.as_deref());
    let inserted: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO cited_references (reference_identifier, parsed_reference_identifier,
                country, document_number, kind_code, first_inventor, is_npl)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING RETURNING reference_id",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    columns[0],
                    columns[1],
                    p.country,
                    p.document_number,
                    p.kind_code,
                    p.first_inventor,
                    p.is_npl
                ],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(Error::sqlite("store reference"))?;
    let id = match inserted {
        Some(id) => id,
        None => tx
            .prepare_cached(
                "SELECT reference_id FROM cited_references WHERE ifnull(reference_identifier, '') = ifnull(?1, '')
                   AND ifnull(parsed_reference_identifier, '') = ifnull(?2, '')",
            )
            .and_then(|mut s| s.query_row(params![columns[0], columns[1]], |r| r.get(0)))
            .map_err(Error::sqlite("look up reference"))?,
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
