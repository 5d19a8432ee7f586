-- oac-mirror schema, version 7: a citation in 30 bytes less.
-- Three of a citation's texts take a handful of values between them (actionTypeCategory,
-- legalSectionCode, createUserIdentifier: 18 combinations in 1,000,000 records, e.g. rejected /
-- 103 / ETL_SYS), and were written out in every row: about 23 bytes a record. They are now a row
-- of citation_kinds, which a record names by its number. And id_key goes: the harvest finds the
-- records of a leaf stored already by reading the leaf's window once (src/store/records.rs), not
-- one record at a time through a key of its id, so the key cost 9 bytes in the row and 9 in the
-- index of create_date_time for nothing.
--
-- The rows move to citation_records (every row and rowid kept), and `citations` becomes a view
-- with the table's columns as they were (without id_key): the views over it, and any query an
-- analyst wrote against it, read the same columns as before. The indexes keep their names.
-- Which query indexes the old table had is kept in temp.had_query_indexes: they are built again
-- right after this migration (src/store/migrate.rs), so that a mirror whose first harvest is
-- unfinished (which may hold two copies of a record that moved) is not made to build a unique
-- index of ids it cannot hold yet.

CREATE TEMP TABLE had_query_indexes AS
SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'citations';
-- The old indexes go first: the new table is written into their pages, and the new indexes
-- into the old table's, so that the file grows by little more than the WAL holds meanwhile.
DROP INDEX IF EXISTS citations_create_date_time;
DROP INDEX IF EXISTS citations_deleted;
DROP INDEX IF EXISTS citations_id;
DROP INDEX IF EXISTS citations_office_action;
DROP INDEX IF EXISTS citations_reference;

CREATE TABLE citation_kinds (
    kind_id                INTEGER PRIMARY KEY,
    action_type_category   TEXT,
    legal_section_code     TEXT,
    create_user_identifier TEXT
);
CREATE UNIQUE INDEX citation_kinds_key ON citation_kinds (
    ifnull(action_type_category, ''), ifnull(legal_section_code, ''), ifnull(create_user_identifier, '')
);
-- DISTINCT keeps only the distinct kinds in memory (a GROUP BY would sort every row). A text
-- stored as '' (which oac-mirror never stores: upstream's "" is NULL) is read as NULL, so that
-- each kind has one spelling.
INSERT OR IGNORE INTO citation_kinds (action_type_category, legal_section_code, create_user_identifier)
SELECT DISTINCT nullif(action_type_category, ''), nullif(legal_section_code, ''),
    nullif(create_user_identifier, '')
FROM citations;

CREATE TABLE citation_records (
    id                                           TEXT NOT NULL,
    office_action_id                             INTEGER NOT NULL REFERENCES office_actions (office_action_id),
    reference_id                                 INTEGER NOT NULL REFERENCES cited_references (reference_id),
    kind_id                                      INTEGER NOT NULL REFERENCES citation_kinds (kind_id),
    paragraph_number                             TEXT,
    examiner_cited_reference_indicator           INTEGER CHECK (examiner_cited_reference_indicator IN (0, 1)),
    applicant_cited_examiner_reference_indicator INTEGER CHECK (applicant_cited_examiner_reference_indicator IN (0, 1)),
    office_action_citation_reference_indicator   INTEGER CHECK (office_action_citation_reference_indicator IN (0, 1)),
    create_date_time                             TEXT,
    extra                                        TEXT,
    sweep                                        INTEGER NOT NULL,
    deleted_at                                   TEXT
);
INSERT INTO citation_records (rowid, id, office_action_id, reference_id, kind_id, paragraph_number,
    examiner_cited_reference_indicator, applicant_cited_examiner_reference_indicator,
    office_action_citation_reference_indicator, create_date_time, extra, sweep, deleted_at)
SELECT c.rowid, c.id, c.office_action_id, c.reference_id, k.kind_id, c.paragraph_number,
    c.examiner_cited_reference_indicator, c.applicant_cited_examiner_reference_indicator,
    c.office_action_citation_reference_indicator, c.create_date_time, c.extra, c.sweep, c.deleted_at
FROM citations AS c
JOIN citation_kinds AS k
  ON ifnull(k.action_type_category, '') = ifnull(c.action_type_category, '')
 AND ifnull(k.legal_section_code, '') = ifnull(c.legal_section_code, '')
 AND ifnull(k.create_user_identifier, '') = ifnull(c.create_user_identifier, '')
ORDER BY c.rowid;
DROP TABLE citations;

-- The index the harvest reads and writes in time order: a leaf's window, and what its sweep
-- stored (counted from the index alone).
CREATE INDEX citations_create_date_time ON citation_records (create_date_time, sweep);
CREATE INDEX citations_deleted ON citation_records (deleted_at) WHERE deleted_at IS NOT NULL;

-- The LEFT JOIN lets SQLite leave citation_kinds out of a query that reads none of its columns
-- and counts nothing (kind_id is its primary key); every row has a kind.
CREATE VIEW citations AS
SELECT
    c.id,
    c.office_action_id,
    c.reference_id,
    k.action_type_category,
    k.legal_section_code,
    c.paragraph_number,
    c.examiner_cited_reference_indicator,
    c.applicant_cited_examiner_reference_indicator,
    c.office_action_citation_reference_indicator,
    c.create_date_time,
    k.create_user_identifier,
    c.extra,
    c.sweep,
    c.deleted_at
FROM citation_records AS c
LEFT JOIN citation_kinds AS k ON k.kind_id = c.kind_id;

UPDATE schema_docs SET description = 'One row per mirrored record (upstream id): one reference cited in one office action, with its kind spelled out (a view of citation_records and citation_kinds). Records upstream no longer serves are marked deleted (deleted_at), never removed.'
WHERE object = 'citations' AND column_name IS NULL;
DELETE FROM schema_docs WHERE object = 'citations' AND column_name = 'id_key';

INSERT INTO schema_docs (object, column_name, description)
SELECT 'citation_records', column_name, description FROM schema_docs
WHERE object = 'citations' AND column_name IN ('id', 'office_action_id', 'reference_id',
    'paragraph_number', 'examiner_cited_reference_indicator',
    'applicant_cited_examiner_reference_indicator', 'office_action_citation_reference_indicator',
    'create_date_time', 'extra', 'sweep', 'deleted_at');
INSERT INTO schema_docs (object, column_name, description)
SELECT 'citation_kinds', column_name, description FROM schema_docs
WHERE object = 'citations' AND column_name IN ('action_type_category', 'legal_section_code', 'create_user_identifier');
INSERT INTO schema_docs (object, column_name, description) VALUES
('citation_records', NULL, 'The stored rows behind the citations view: one per mirrored record, its three kind texts replaced by the number of their row in citation_kinds. Query citations or oa_citations instead.'),
('citation_records', 'kind_id', 'The record''s action type, legal section and creating user (citation_kinds.kind_id).'),
('citation_kinds', NULL, 'Each combination of actionTypeCategory, legalSectionCode and createUserIdentifier that records carry, once: a handful of rows.'),
('citation_kinds', 'kind_id', 'The number citation_records.kind_id names.');
