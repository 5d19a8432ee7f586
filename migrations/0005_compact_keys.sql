-- oac-mirror schema, version 5: compact keys for the write path.
-- A harvest looks every record up by its id and every reference by its two texts, in random
-- order. Those lookups used to go through text indexes (the id's primary-key index, 46 bytes a
-- record, and cited_references_key), which outgrow the page cache early and make each commit
-- write most of their pages again. They now go through 64-bit keys of the same texts
-- (`oac_key`, src/store/key.rs), whose indexes are about a third of the size; a lookup compares
-- the text too, so two texts that share a key are still told apart. The id stays unique: the
-- write path never stores a second row for an id.
--
-- citations is rebuilt (its primary key cannot be dropped in place), keeping every row and rowid.
-- The views that read it are left as they are: they name the table, not its definition.
PRAGMA legacy_alter_table = ON;

CREATE TABLE citations_v5 (
    id                                           TEXT NOT NULL,
    office_action_id                             INTEGER NOT NULL REFERENCES office_actions (office_action_id),
    reference_id                                 INTEGER NOT NULL REFERENCES cited_references (reference_id),
    action_type_category                         TEXT,
    legal_section_code                           TEXT,
    paragraph_number                             TEXT,
    examiner_cited_reference_indicator           INTEGER CHECK (examiner_cited_reference_indicator IN (0, 1)),
    applicant_cited_examiner_reference_indicator INTEGER CHECK (applicant_cited_examiner_reference_indicator IN (0, 1)),
    office_action_citation_reference_indicator   INTEGER CHECK (office_action_citation_reference_indicator IN (0, 1)),
    create_date_time                             TEXT,
    create_user_identifier                       TEXT,
    extra                                        TEXT,
    sweep                                        INTEGER NOT NULL,
    deleted_at                                   TEXT,
    id_key                                       INTEGER NOT NULL
);
INSERT INTO citations_v5 (rowid, id, office_action_id, reference_id, action_type_category,
    legal_section_code, paragraph_number, examiner_cited_reference_indicator,
    applicant_cited_examiner_reference_indicator, office_action_citation_reference_indicator,
    create_date_time, create_user_identifier, extra, sweep, deleted_at, id_key)
SELECT rowid, id, office_action_id, reference_id, action_type_category,
    legal_section_code, paragraph_number, examiner_cited_reference_indicator,
    applicant_cited_examiner_reference_indicator, office_action_citation_reference_indicator,
    create_date_time, create_user_identifier, extra, sweep, deleted_at, oac_key(id)
FROM citations ORDER BY rowid;
DROP TABLE citations;
ALTER TABLE citations_v5 RENAME TO citations;
CREATE INDEX citations_id_key ON citations (id_key);
-- For finding a record by its id in queries (the harvest defers it, see store/indexes.rs).
CREATE UNIQUE INDEX citations_id ON citations (id);
CREATE INDEX citations_create_date_time ON citations (create_date_time);
CREATE INDEX citations_office_action ON citations (office_action_id);
CREATE INDEX citations_reference ON citations (reference_id);
CREATE INDEX citations_deleted ON citations (deleted_at) WHERE deleted_at IS NOT NULL;

-- References: the key of (reference_identifier, parsed_reference_identifier), NULL as ''.
ALTER TABLE cited_references ADD COLUMN reference_key INTEGER;
UPDATE cited_references SET reference_key = oac_key(reference_identifier, parsed_reference_identifier);
DROP INDEX cited_references_key;
CREATE INDEX cited_references_reference_key ON cited_references (reference_key);

PRAGMA legacy_alter_table = OFF;

INSERT INTO schema_docs (object, column_name, description) VALUES
('citations', 'id_key', 'A 64-bit key of id (oac-mirror''s own hash of the text), indexed for the harvest''s lookups; not unique, and not from upstream. To find a record by id, compare id (indexed once the mirror is complete).'),
('cited_references', 'reference_key', 'A 64-bit key of the two reference texts (oac-mirror''s own hash), indexed for the harvest''s lookups; not unique, and not from upstream.');
