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
];

impl Store {
    /// Applies the migrations newer than `PRAGMA user_version`, all in one exclusive transaction.
    pub(super) fn migrate(&mut self) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .map_err(Error::sqlite("begin migration"))?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(Error::sqlite("read schema version"))?;
        let known = MIGRATIONS.len() as i64;
        if found > known {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
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
}

/// The data changes a migration needs that SQL alone cannot make, run right after migration
/// `version` in the same transaction.
fn after_migration(tx: &rusqlite::Transaction<'_>, version: usize) -> Result<()> {
    match version {
        // 0002 added the parsed-reference columns; fill them for the rows already stored.
        2 => dimensions::fill_parsed_references(tx).map(drop),
        // 0004 created the siblings' tables and views; describe them from their descriptions.
        4 => family_docs::describe(tx),
        _ => Ok(()),
    }
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

    /// A mirror of version 4 upgrades in place: every citation keeps its row and rowid and gets
    /// the key of its id, every reference the key of its texts, and the text indexes the keys
    /// replace are gone.
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
        let rows: Vec<(i64, String, i64, Option<String>)> = store
            .conn
            .prepare("SELECT rowid, id, id_key, deleted_at FROM citations ORDER BY rowid")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let of_id = super::super::key::of_id;
        assert_eq!(
            rows,
            [
                (7, "c7".to_owned(), of_id("c7"), None),
                (
                    9,
                    "c9".to_owned(),
                    of_id("c9"),
                    Some("2026-01-01T00:00:00Z".to_owned())
                ),
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
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('citations', 'cited_references') ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        // 0006 replaced the key's own index with one after create_date_time.
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
        assert_eq!(docs, 2);
    }
}
