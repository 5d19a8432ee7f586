//! The schema: the numbered SQL files in `migrations/`, applied in order in one exclusive
//! transaction and recorded in `PRAGMA user_version`, with the data changes SQL alone cannot make.

use super::{Store, dimensions, family_docs};
use crate::error::{Error, Result};

/// The numbered SQL files in `migrations/`, in order. Never edit or reorder a released one;
/// add a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_handoff.sql"),
    include_str!("../../migrations/0003_refresh.sql"),
    include_str!("../../migrations/0004_family.sql"),
    include_str!("../../migrations/0005_compact_keys.sql"),
    include_str!("../../migrations/0006_time_keys.sql"),
    include_str!("../../migrations/0007_compact_rows.sql"),
];

impl Store {
    /// Applies the migrations newer than `PRAGMA user_version`, all in one exclusive
    /// transaction, whose sorts (the indexes a migration builds) spill to a file past a few
    /// megabytes (see [`super::indexes::bounded_sorts`]): this SQLite keeps temporary data in
    /// memory by default, so building an index of a 133 M-record mirror would otherwise hold
    /// every key at once.
    ///
    /// Foreign keys are not checked meanwhile: a migration moves rows that were checked when
    /// they were stored, and a check of each row's parents would cost more than the move.
    pub(super) fn migrate(&mut self) -> Result<()> {
        let keys = |on: bool| {
            self.conn
                .pragma_update(None, "foreign_keys", on)
                .map_err(Error::sqlite("set foreign_keys"))
        };
        keys(false)?;
        let migrated =
            super::indexes::bounded_sorts(&self.conn, || apply_migrations(&self.conn, &self.path));
        keys(true)?;
        migrated
    }
}

/// Applies the migrations newer than `PRAGMA user_version` in one exclusive transaction.
fn apply_migrations(conn: &rusqlite::Connection, path: &std::path::Path) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Exclusive)
        .map_err(Error::sqlite("begin migration"))?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(Error::sqlite("read schema version"))?;
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)
            .map_err(Error::sqlite(format!("apply migration {}", i + 1)))?;
        after_migration(&tx, i + 1)?;
    }
    tx.pragma_update(None, "user_version", known)
        .map_err(Error::sqlite("record schema version"))?;
    tx.commit().map_err(Error::sqlite("commit migration"))
}

/// The data changes a migration needs that SQL alone cannot make, run right after migration
/// `version` in the same transaction.
fn after_migration(tx: &rusqlite::Transaction<'_>, version: usize) -> Result<()> {
    match version {
        // 0002 added the parsed-reference columns; fill them for the rows already stored.
        2 => dimensions::fill_parsed_references(tx).map(drop),
        // 0004 created the siblings' tables and views; describe them from their descriptions.
        4 => family_docs::describe(tx),
        // 0007 moved the citations to a new table; build again the query indexes the old one had.
        7 => rebuild_query_indexes(tx),
        _ => Ok(()),
    }
}

/// Builds on `citation_records` the query indexes that `citations` had before migration 0007
/// (listed in `temp.had_query_indexes`): a mirror whose first harvest is unfinished has none,
/// and may hold two copies of a record that moved, which `citations_id` cannot take yet.
fn rebuild_query_indexes(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    for (name, sql) in super::indexes::QUERY_INDEXES {
        let had: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM temp.had_query_indexes WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .map_err(Error::sqlite("read the indexes citations had"))?;
        if had {
            tx.execute_batch(sql)
                .map_err(Error::sqlite(format!("build index {name}")))?;
        }
    }
    tx.execute_batch("DROP TABLE temp.had_query_indexes")
        .map_err(Error::sqlite("drop temp.had_query_indexes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn migrates_once_and_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        drop(Store::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let v: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        store.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(store);
        assert!(matches!(
            Store::open(&path),
            Err(Error::SchemaTooNew { found: 99, .. })
        ));
    }

    /// A database harvested before 0002 gets its references parsed when it is opened.
    #[test]
    fn migration_2_parses_the_references_already_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for (text, parsed) in [
            (Some("Sabe; Kohtaro US 20070217688 A1"), Some("20070217688")),
            (
                Some("Itagaki; Takeshi US 20150044531 A1 "),
                Some("20150044531"),
            ),
            (Some("------- European Patent"), None),
            (
                Some("Smith, J., \"Neural nets\", IEEE Trans., 2019, pp. 1-10"),
                None,
            ),
            (None, None),
        ] {
            conn.execute(
                "INSERT INTO cited_references (reference_identifier, parsed_reference_identifier) VALUES (?1, ?2)",
                [text, parsed],
            )
            .unwrap();
        }
        drop(conn);
        let store = Store::open(&path).unwrap();
        type Parts = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<Parts> = store
            .conn
            .prepare("SELECT country, document_number, kind_code, first_inventor, is_npl FROM cited_references ORDER BY reference_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            rows,
            [
                (
                    s("US"),
                    s("20070217688"),
                    s("A1"),
                    s("Sabe; Kohtaro"),
                    Some(0)
                ),
                (
                    s("US"),
                    s("20150044531"),
                    s("A1"),
                    s("Itagaki; Takeshi"),
                    Some(0)
                ),
                (s("EP"), None, None, None, Some(0)),
                (None, None, None, None, Some(1)),
                (None, None, None, None, None),
            ]
        );
        let text: String = store
            .conn
            .query_row(
                "SELECT reference_identifier FROM cited_references WHERE reference_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            text, "Itagaki; Takeshi US 20150044531 A1 ",
            "the raw text is kept"
        );
    }

    /// A mirror of version 4 upgrades in place: every citation keeps its row and rowid (in
    /// `citation_records` since 0007), every reference gets the key of its texts, and the text
    /// indexes the keys replaced are gone.
    #[test]
    fn migration_5_keys_the_rows_already_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let conn = Connection::open(&path).unwrap();
        super::super::key::register(&conn).unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 4;
             INSERT INTO office_actions (obsolete_document_identifier) VALUES ('D1');
             INSERT INTO cited_references (reference_identifier, parsed_reference_identifier)
                 VALUES ('Sabe; Kohtaro US 20070217688 A1', '20070217688'), (NULL, NULL);
             INSERT INTO citations (rowid, id, office_action_id, reference_id, sweep, deleted_at)
                 VALUES (7, 'c7', 1, 1, 1, NULL), (9, 'c9', 1, 2, 1, '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        drop(conn);
        let store = Store::open(&path).unwrap();
        let rows: Vec<(i64, String, Option<String>)> = store
            .conn
            .prepare("SELECT rowid, id, deleted_at FROM citation_records ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(
            rows,
            [
                (7, "c7".to_owned(), None),
                (9, "c9".to_owned(), Some("2026-01-01T00:00:00Z".to_owned())),
            ]
        );
        let keys: Vec<i64> = store
            .conn
            .prepare("SELECT reference_key FROM cited_references ORDER BY reference_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let of = super::super::key::of;
        assert_eq!(
            keys,
            [
                of(&[Some("Sabe; Kohtaro US 20070217688 A1"), Some("20070217688")]),
                of(&[None, None])
            ]
        );
        let indexes: Vec<String> = store
            .conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('citation_records', 'cited_references') ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        // 0006 replaced the key's own index with one after create_date_time, and 0007 the key.
        assert!(
            indexes.contains(&"citations_create_date_time".to_owned())
                && !indexes.contains(&"citations_id_key".to_owned()),
            "{indexes:?}"
        );
        assert!(!indexes.iter().any(|i| i == "cited_references_key" || i.starts_with("sqlite_autoindex_citations")), "{indexes:?}");
        let docs: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM schema_docs WHERE column_name IN ('id_key', 'reference_key')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(docs, 1, "reference_key is described, id_key no longer");
    }

    /// A mirror of version 6 upgrades in place: the `citations` view reads every row as the
    /// table held it (but `id_key`), each row keeps its rowid, each kind is stored once, and the query indexes the table had are built again: on a complete
    /// mirror `citations_id`; on one whose first harvest is unfinished none, and the two
    /// copies of a record that moved are both kept, for the build that merges them. A row
    /// whose parent is missing does not stop the upgrade.
    #[test]
    fn migration_7_keeps_every_citation_and_stores_each_kind_once() {
        let columns = "id, office_action_id, reference_id, action_type_category, legal_section_code,
            paragraph_number, examiner_cited_reference_indicator, applicant_cited_examiner_reference_indicator,
            office_action_citation_reference_indicator, create_date_time, create_user_identifier, extra, sweep, deleted_at";
        // (A view has no rowid: the rows are compared in the order of their values.)
        let read = |conn: &Connection, table: &str| -> Vec<Vec<rusqlite::types::Value>> {
            conn.prepare(&format!(
                "SELECT {columns} FROM {table} ORDER BY id, sweep, deleted_at"
            ))
            .unwrap()
            .query_map([], |r| (0..14).map(|i| r.get(i)).collect())
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
        };
        for complete in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("v6.db");
            let conn = Connection::open(&path).unwrap();
            super::super::key::register(&conn).unwrap();
            for sql in &MIGRATIONS[..6] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(&format!(
                "PRAGMA user_version = 6;
                 INSERT INTO office_actions (obsolete_document_identifier) VALUES ('D1');
                 INSERT INTO cited_references (reference_identifier) VALUES ('US 1');
                 INSERT INTO citations (rowid, {columns}, id_key) VALUES
                   (3, 'a', 1, 1, 'rejected', '103', NULL, 1, 0, NULL, '2020-01-01T00:00:00', 'ETL_SYS', NULL, 1, NULL, 1),
                   (5, 'b', 1, 1, NULL, NULL, '[0054]', 0, 1, 1, '2020-01-01T00:00:01', NULL, '{{\"x\":1}}', 1, '2026-01-01T00:00:00Z', 2),
                   (6, 'c', 1, 1, 'rejected', '103', NULL, NULL, NULL, NULL, '2020-01-01T00:00:02', 'ETL_SYS', NULL, 2, NULL, 3),
                   (8, 'd', 1, 1, 'objected', 'nonstatutory double patenting', NULL, 1, 1, 1, '2020-01-02T00:00:00', 'ETL_SYS', NULL, 2, NULL, 4);
                 -- A row whose office action is missing (a harvest does not check foreign
                 -- keys): the upgrade moves it as it is.
                 PRAGMA foreign_keys = OFF;
                 INSERT INTO citations (rowid, {columns}, id_key) VALUES
                   (12, 'e', 99, 1, NULL, NULL, NULL, NULL, NULL, NULL, '2020-01-03T00:00:00', NULL, NULL, 2, NULL, 5);"
            ))
            .unwrap();
            if !complete {
                // An unfinished first harvest: no citations_id, and a record stored in two windows.
                conn.execute_batch(&format!(
                    "DROP INDEX citations_id;
                     INSERT INTO citations (rowid, {columns}, id_key)
                     SELECT 9, {columns}, id_key FROM citations WHERE rowid = 3;"
                ))
                .unwrap();
            }
            let before = read(&conn, "citations");
            let before_rowids: Vec<i64> = conn
                .prepare("SELECT rowid FROM citations ORDER BY rowid")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            drop(conn);
            let store = Store::open(&path).unwrap();
            assert_eq!(
                read(&store.conn, "citations"),
                before,
                "complete: {complete}"
            );
            let rowids: Vec<i64> = store
                .conn
                .prepare("SELECT rowid FROM citation_records ORDER BY rowid")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert_eq!(rowids, before_rowids);
            let kinds: Vec<(Option<String>, Option<String>)> = store
                .conn
                .prepare("SELECT action_type_category, legal_section_code FROM citation_kinds ORDER BY 1, 2")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            let s = |v: &str| Some(v.to_owned());
            assert_eq!(
                kinds,
                [
                    (None, None),
                    (s("objected"), s("nonstatutory double patenting")),
                    (s("rejected"), s("103"))
                ],
                "each kind once"
            );
            assert_eq!(
                super::super::indexes::has_index(&store.conn, "citations_id").unwrap(),
                complete
            );
            let id_key: i64 = store
                .conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('citation_records') WHERE name = 'id_key'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(id_key, 0);
            let temp: i64 = store
                .conn
                .query_row(
                    "SELECT count(*) FROM temp.sqlite_schema WHERE name = 'had_query_indexes'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(temp, 0, "the list of indexes is dropped");
        }
    }
}
