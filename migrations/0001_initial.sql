-- oac-mirror schema, version 1.
-- Absent values ("" / JSON null / missing field upstream) are stored as NULL everywhere; every
-- other value is stored exactly as upstream sent it. Booleans are 0/1.

-- Provenance: where the data came from and when (key/value).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT
) WITHOUT ROWID;

-- One row per patent application seen in any record.
CREATE TABLE applications (
    patent_application_number TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;

-- One row per office action, keyed by upstream's obsoleteDocumentIdentifier. The art-unit
-- columns travel with the action; should upstream ever send two records of one action that
-- disagree on them, each combination gets its own row, so that nothing is lost.
CREATE TABLE office_actions (
    office_action_id             INTEGER PRIMARY KEY,
    obsolete_document_identifier TEXT,
    patent_application_number    TEXT REFERENCES applications (patent_application_number),
    group_art_unit_number        TEXT,
    tech_center                  TEXT,
    work_group                   TEXT
);
CREATE UNIQUE INDEX office_actions_key ON office_actions (
    ifnull(obsolete_document_identifier, ''), ifnull(patent_application_number, ''),
    ifnull(group_art_unit_number, ''), ifnull(tech_center, ''), ifnull(work_group, '')
);
CREATE INDEX office_actions_application ON office_actions (patent_application_number);
CREATE INDEX office_actions_document ON office_actions (obsolete_document_identifier);
CREATE INDEX office_actions_art_unit ON office_actions (tech_center, group_art_unit_number);

-- One row per distinct reference text (the same reference is cited many times).
CREATE TABLE cited_references (
    reference_id                INTEGER PRIMARY KEY,
    reference_identifier        TEXT,
    parsed_reference_identifier TEXT
);
CREATE UNIQUE INDEX cited_references_key ON cited_references (
    ifnull(reference_identifier, ''), ifnull(parsed_reference_identifier, '')
);
CREATE INDEX cited_references_parsed ON cited_references (parsed_reference_identifier);

-- The partitions of the harvest, one row each: the planner's tree and the checkpoint.
-- A partition is a window of createDateTime [lo TO hi] (inclusive, second resolution),
-- narrowed below one second to ids starting with id_prefix. States:
--   new      not yet counted
--   split    counted above paging_cap; its children tile it
--   pending  a leaf: counted, to be paged from next_offset
--   done     a leaf whose stored ids equal its upstream count
--   failed   a leaf that could not be fetched this run (last_error says why); retried next run
CREATE TABLE partitions (
    partition_id   INTEGER PRIMARY KEY,
    parent_id      INTEGER REFERENCES partitions (partition_id),
    lo             TEXT NOT NULL,
    hi             TEXT NOT NULL,
    id_prefix      TEXT NOT NULL DEFAULT '',
    criteria       TEXT NOT NULL,
    upstream_count INTEGER,
    next_offset    INTEGER NOT NULL DEFAULT 0,
    state          TEXT NOT NULL DEFAULT 'new'
                   CHECK (state IN ('new', 'split', 'pending', 'done', 'failed')),
    sweep          INTEGER,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    done_at        TEXT
);
CREATE INDEX partitions_parent ON partitions (parent_id);
CREATE INDEX partitions_state ON partitions (state);

-- One row per mirrored record (upstream `id`). `sweep` names the fetch of a leaf partition
-- that last saw the record; a record a later fetch of its window no longer sees is marked
-- deleted (deleted_at), never removed.
CREATE TABLE citations (
    id                                           TEXT PRIMARY KEY NOT NULL,
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
    deleted_at                                   TEXT
);
CREATE INDEX citations_create_date_time ON citations (create_date_time);
CREATE INDEX citations_office_action ON citations (office_action_id);
CREATE INDEX citations_reference ON citations (reference_id);

-- Records that could not be stored as citations (no id, a value of the wrong type), whole.
CREATE TABLE rejected_records (
    rejected_id      INTEGER PRIMARY KEY,
    partition_id     INTEGER NOT NULL REFERENCES partitions (partition_id),
    sweep            INTEGER NOT NULL,
    record_id        TEXT,
    create_date_time TEXT,
    reason           TEXT NOT NULL,
    raw_json         TEXT NOT NULL,
    seen_at          TEXT NOT NULL
);
CREATE INDEX rejected_records_partition ON rejected_records (partition_id);

-- One row per harvest run.
CREATE TABLE runs (
    run_id          INTEGER PRIMARY KEY,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    window_from     TEXT NOT NULL,
    window_to       TEXT NOT NULL,
    outcome         TEXT,
    requests        INTEGER NOT NULL DEFAULT 0,
    retries         INTEGER NOT NULL DEFAULT 0,
    rate_limited    INTEGER NOT NULL DEFAULT 0,
    records_written INTEGER NOT NULL DEFAULT 0,
    records_rejected INTEGER NOT NULL DEFAULT 0,
    message         TEXT
);

-- The mirror, one row per record, in upstream's flat shape.
CREATE VIEW oa_citations AS
SELECT
    c.id,
    oa.patent_application_number,
    r.reference_identifier,
    r.parsed_reference_identifier,
    c.action_type_category,
    c.legal_section_code,
    c.paragraph_number,
    c.examiner_cited_reference_indicator,
    c.applicant_cited_examiner_reference_indicator,
    c.office_action_citation_reference_indicator,
    oa.group_art_unit_number,
    oa.tech_center,
    oa.work_group,
    oa.obsolete_document_identifier,
    c.create_date_time,
    c.create_user_identifier
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
WHERE c.deleted_at IS NULL;
