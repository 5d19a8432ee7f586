-- oac-mirror schema, version 4: the Office Action family.
-- The rejections and the enriched citations are mirrored beside the citations, each in its own
-- table under the shared office_actions, with its own partition tree, and joined to the
-- citations by office action (obsolete_document_identifier, patent_application_number), so that
-- every citation whose action a sibling knows gets the day it was mailed.

-- Each data set has its own tree of partitions and its own runs; what was there is the
-- citations'.
ALTER TABLE partitions ADD COLUMN dataset TEXT NOT NULL DEFAULT 'citations';
CREATE INDEX partitions_dataset ON partitions (dataset, state);
ALTER TABLE runs ADD COLUMN dataset TEXT NOT NULL DEFAULT 'citations';

-- One office action, one row. The siblings name an action by (obsolete_document_identifier,
-- patent_application_number) alone and store their own art-unit columns on their records; an
-- action a sibling stored first has no art-unit columns, and the first citation of it fills them
-- in place instead of adding a second row. Citations of one action that disagree on their art
-- unit still get a row each, as before, so that nothing is lost.
CREATE TRIGGER office_actions_fill BEFORE INSERT ON office_actions
WHEN NEW.group_art_unit_number IS NOT NULL OR NEW.tech_center IS NOT NULL OR NEW.work_group IS NOT NULL
BEGIN
    UPDATE office_actions
    SET group_art_unit_number = NEW.group_art_unit_number, tech_center = NEW.tech_center,
        work_group = NEW.work_group
    WHERE office_action_id = (
            SELECT office_action_id FROM office_actions
            WHERE ifnull(obsolete_document_identifier, '') = ifnull(NEW.obsolete_document_identifier, '')
              AND ifnull(patent_application_number, '') = ifnull(NEW.patent_application_number, '')
              AND group_art_unit_number IS NULL AND tech_center IS NULL AND work_group IS NULL)
      AND NOT EXISTS (
            SELECT 1 FROM office_actions
            WHERE ifnull(obsolete_document_identifier, '') = ifnull(NEW.obsolete_document_identifier, '')
              AND ifnull(patent_application_number, '') = ifnull(NEW.patent_application_number, '')
              AND ifnull(group_art_unit_number, '') = ifnull(NEW.group_art_unit_number, '')
              AND ifnull(tech_center, '') = ifnull(NEW.tech_center, '')
              AND ifnull(work_group, '') = ifnull(NEW.work_group, ''));
    SELECT RAISE(IGNORE) WHERE EXISTS (
            SELECT 1 FROM office_actions
            WHERE ifnull(obsolete_document_identifier, '') = ifnull(NEW.obsolete_document_identifier, '')
              AND ifnull(patent_application_number, '') = ifnull(NEW.patent_application_number, '')
              AND ifnull(group_art_unit_number, '') = ifnull(NEW.group_art_unit_number, '')
              AND ifnull(tech_center, '') = ifnull(NEW.tech_center, '')
              AND ifnull(work_group, '') = ifnull(NEW.work_group, ''));
END;

-- One row per rejections record (upstream `id`), as for citations: `sweep` names the fetch
-- that last saw it, `deleted_at` when a refresh found it gone. Columns as in oa_rejections.
CREATE TABLE rejections (
    id                              TEXT PRIMARY KEY NOT NULL,
    office_action_id                INTEGER NOT NULL REFERENCES office_actions (office_action_id),
    legacy_document_code_identifier TEXT,
    action_type_category            TEXT,
    legal_section_code              TEXT,
    paragraph_number                TEXT,
    group_art_unit_number           TEXT,
    national_class                  TEXT,
    national_subclass               TEXT,
    create_user_identifier          TEXT,
    create_date_time                TEXT,
    submission_date                 TEXT,
    claim_number_array_document     TEXT,
    has_rej101                      INTEGER,
    has_rej102                      INTEGER,
    has_rej103                      INTEGER,
    has_rej112                      INTEGER,
    has_rej_dp                      INTEGER,
    cite103_max                     INTEGER,
    cite103_eq1                     INTEGER,
    cite103_gt3                     INTEGER,
    closing_missing                 INTEGER,
    reject_form_missmatch           INTEGER,
    form_paragraph_missing          INTEGER,
    header_missing                  INTEGER,
    bilski_indicator                INTEGER CHECK (bilski_indicator IN (0, 1)),
    mayo_indicator                  INTEGER CHECK (mayo_indicator IN (0, 1)),
    alice_indicator                 INTEGER CHECK (alice_indicator IN (0, 1)),
    myriad_indicator                INTEGER CHECK (myriad_indicator IN (0, 1)),
    allowed_claim_indicator         INTEGER CHECK (allowed_claim_indicator IN (0, 1)),
    extra                           TEXT,
    sweep                           INTEGER NOT NULL,
    deleted_at                      TEXT
);
CREATE INDEX rejections_create_date_time ON rejections (create_date_time);
CREATE INDEX rejections_office_action ON rejections (office_action_id);
CREATE INDEX rejections_deleted ON rejections (deleted_at) WHERE deleted_at IS NOT NULL;

-- One row per enriched citation record (upstream `id`). Columns as in enriched_citations.
CREATE TABLE enriched_records (
    id                                           TEXT PRIMARY KEY NOT NULL,
    office_action_id                             INTEGER NOT NULL REFERENCES office_actions (office_action_id),
    cited_document_identifier                    TEXT,
    publication_number                           TEXT,
    kind_code                                    TEXT,
    country_code                                 TEXT,
    inventor_name_text                           TEXT,
    office_action_date                           TEXT,
    office_action_category                       TEXT,
    citation_category_code                       TEXT,
    related_claim_number_text                    TEXT,
    examiner_cited_reference_indicator           INTEGER CHECK (examiner_cited_reference_indicator IN (0, 1)),
    applicant_cited_examiner_reference_indicator INTEGER CHECK (applicant_cited_examiner_reference_indicator IN (0, 1)),
    npl_indicator                                INTEGER CHECK (npl_indicator IN (0, 1)),
    work_group_number                            TEXT,
    group_art_unit_number                        TEXT,
    tech_center                                  TEXT,
    quality_summary_text                         TEXT,
    passage_location_text                        TEXT,
    create_user_identifier                       TEXT,
    create_date_time                             TEXT,
    extra                                        TEXT,
    sweep                                        INTEGER NOT NULL,
    deleted_at                                   TEXT
);
CREATE INDEX enriched_records_create_date_time ON enriched_records (create_date_time);
CREATE INDEX enriched_records_office_action ON enriched_records (office_action_id);
CREATE INDEX enriched_records_publication ON enriched_records (publication_number);
CREATE INDEX enriched_records_deleted ON enriched_records (deleted_at) WHERE deleted_at IS NOT NULL;

-- The rejections, one row per live record, in upstream's flat shape.
CREATE VIEW oa_rejections AS
SELECT
    j.id,
    oa.patent_application_number,
    j.legacy_document_code_identifier,
    j.action_type_category,
    j.legal_section_code,
    j.paragraph_number,
    j.group_art_unit_number,
    j.national_class,
    j.national_subclass,
    oa.obsolete_document_identifier,
    j.create_user_identifier,
    j.create_date_time,
    j.submission_date,
    j.claim_number_array_document,
    j.has_rej101,
    j.has_rej102,
    j.has_rej103,
    j.has_rej112,
    j.has_rej_dp,
    j.cite103_max,
    j.cite103_eq1,
    j.cite103_gt3,
    j.closing_missing,
    j.reject_form_missmatch,
    j.form_paragraph_missing,
    j.header_missing,
    j.bilski_indicator,
    j.mayo_indicator,
    j.alice_indicator,
    j.myriad_indicator,
    j.allowed_claim_indicator
FROM rejections AS j
JOIN office_actions AS oa ON oa.office_action_id = j.office_action_id
WHERE j.deleted_at IS NULL;

CREATE VIEW oa_rejections_deleted AS
SELECT
    j.id,
    oa.patent_application_number,
    j.legacy_document_code_identifier,
    j.action_type_category,
    j.legal_section_code,
    j.paragraph_number,
    j.group_art_unit_number,
    j.national_class,
    j.national_subclass,
    oa.obsolete_document_identifier,
    j.create_user_identifier,
    j.create_date_time,
    j.submission_date,
    j.claim_number_array_document,
    j.has_rej101,
    j.has_rej102,
    j.has_rej103,
    j.has_rej112,
    j.has_rej_dp,
    j.cite103_max,
    j.cite103_eq1,
    j.cite103_gt3,
    j.closing_missing,
    j.reject_form_missmatch,
    j.form_paragraph_missing,
    j.header_missing,
    j.bilski_indicator,
    j.mayo_indicator,
    j.alice_indicator,
    j.myriad_indicator,
    j.allowed_claim_indicator,
    j.deleted_at
FROM rejections AS j
JOIN office_actions AS oa ON oa.office_action_id = j.office_action_id
WHERE j.deleted_at IS NOT NULL;

-- The enriched citations, one row per live record, in upstream's flat shape.
CREATE VIEW enriched_citations AS
SELECT
    e.id,
    oa.patent_application_number,
    e.cited_document_identifier,
    e.publication_number,
    e.kind_code,
    e.country_code,
    e.inventor_name_text,
    e.office_action_date,
    e.office_action_category,
    e.citation_category_code,
    e.related_claim_number_text,
    e.examiner_cited_reference_indicator,
    e.applicant_cited_examiner_reference_indicator,
    e.npl_indicator,
    e.work_group_number,
    e.group_art_unit_number,
    e.tech_center,
    e.quality_summary_text,
    e.passage_location_text,
    oa.obsolete_document_identifier,
    e.create_user_identifier,
    e.create_date_time
FROM enriched_records AS e
JOIN office_actions AS oa ON oa.office_action_id = e.office_action_id
WHERE e.deleted_at IS NULL;

CREATE VIEW enriched_citations_deleted AS
SELECT
    e.id,
    oa.patent_application_number,
    e.cited_document_identifier,
    e.publication_number,
    e.kind_code,
    e.country_code,
    e.inventor_name_text,
    e.office_action_date,
    e.office_action_category,
    e.citation_category_code,
    e.related_claim_number_text,
    e.examiner_cited_reference_indicator,
    e.applicant_cited_examiner_reference_indicator,
    e.npl_indicator,
    e.work_group_number,
    e.group_art_unit_number,
    e.tech_center,
    e.quality_summary_text,
    e.passage_location_text,
    oa.obsolete_document_identifier,
    e.create_user_identifier,
    e.create_date_time,
    e.deleted_at
FROM enriched_records AS e
JOIN office_actions AS oa ON oa.office_action_id = e.office_action_id
WHERE e.deleted_at IS NOT NULL;

-- What the siblings say of each office_actions row's action (matched on both keys, whichever
-- row of the action their records point to): the earliest mail date and the document code of
-- the earliest-dated record of each sibling ("earliest": by date, NULL last, then by id).
-- One row per office_actions row; every value is looked up through indexes.
CREATE VIEW office_action_family AS
SELECT
    o.office_action_id,
    o.obsolete_document_identifier,
    o.patent_application_number,
    (SELECT min(j.submission_date)
     FROM office_actions AS k JOIN rejections AS j ON j.office_action_id = k.office_action_id
     WHERE k.obsolete_document_identifier = o.obsolete_document_identifier
       AND k.patent_application_number = o.patent_application_number
       AND j.deleted_at IS NULL) AS rejections_date,
    (SELECT j.legacy_document_code_identifier
     FROM office_actions AS k JOIN rejections AS j ON j.office_action_id = k.office_action_id
     WHERE k.obsolete_document_identifier = o.obsolete_document_identifier
       AND k.patent_application_number = o.patent_application_number
       AND j.deleted_at IS NULL AND j.legacy_document_code_identifier IS NOT NULL
     ORDER BY j.submission_date IS NULL, j.submission_date, j.id LIMIT 1) AS rejections_code,
    (SELECT min(e.office_action_date)
     FROM office_actions AS k JOIN enriched_records AS e ON e.office_action_id = k.office_action_id
     WHERE k.obsolete_document_identifier = o.obsolete_document_identifier
       AND k.patent_application_number = o.patent_application_number
       AND e.deleted_at IS NULL) AS enriched_date,
    (SELECT e.office_action_category
     FROM office_actions AS k JOIN enriched_records AS e ON e.office_action_id = k.office_action_id
     WHERE k.obsolete_document_identifier = o.obsolete_document_identifier
       AND k.patent_application_number = o.patent_application_number
       AND e.deleted_at IS NULL AND e.office_action_category IS NOT NULL
     ORDER BY e.office_action_date IS NULL, e.office_action_date, e.id LIMIT 1) AS enriched_code
FROM office_actions AS o;

-- One row per office action seen in the live records of any data set, with the day it was
-- mailed: from its rejections, else from its enriched citations, else NULL.
CREATE VIEW office_action_dates AS
SELECT
    f.obsolete_document_identifier,
    f.patent_application_number,
    coalesce(f.rejections_date, f.enriched_date) AS mail_date,
    coalesce(f.rejections_code, f.enriched_code) AS document_code,
    CASE
        WHEN f.rejections_date IS NOT NULL THEN 'rejections'
        WHEN f.enriched_date IS NOT NULL THEN 'enriched'
    END AS date_source
FROM office_action_family AS f
WHERE f.obsolete_document_identifier IS NOT NULL AND f.patent_application_number IS NOT NULL
  AND f.office_action_id = (
        SELECT min(k.office_action_id) FROM office_actions AS k
        WHERE k.obsolete_document_identifier = f.obsolete_document_identifier
          AND k.patent_application_number = f.patent_application_number)
  AND (EXISTS (SELECT 1 FROM office_actions AS k JOIN citations AS c ON c.office_action_id = k.office_action_id
               WHERE k.obsolete_document_identifier = f.obsolete_document_identifier
                 AND k.patent_application_number = f.patent_application_number AND c.deleted_at IS NULL)
    OR EXISTS (SELECT 1 FROM office_actions AS k JOIN rejections AS j ON j.office_action_id = k.office_action_id
               WHERE k.obsolete_document_identifier = f.obsolete_document_identifier
                 AND k.patent_application_number = f.patent_application_number AND j.deleted_at IS NULL)
    OR EXISTS (SELECT 1 FROM office_actions AS k JOIN enriched_records AS e ON e.office_action_id = k.office_action_id
               WHERE k.obsolete_document_identifier = f.obsolete_document_identifier
                 AND k.patent_application_number = f.patent_application_number AND e.deleted_at IS NULL));

-- oa_citations with the mail date and document code of each citation's office action.
CREATE VIEW oa_citations_dated AS
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
    c.create_user_identifier,
    coalesce(f.rejections_date, f.enriched_date) AS mail_date,
    coalesce(f.rejections_code, f.enriched_code) AS document_code
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
JOIN office_action_family AS f ON f.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL;

-- citation_details and application_citation_counts as in version 2, with the mail dates.
DROP VIEW IF EXISTS citation_details;
CREATE VIEW citation_details AS
SELECT
    c.id,
    oa.patent_application_number,
    oa.obsolete_document_identifier,
    c.create_date_time,
    c.action_type_category,
    c.legal_section_code,
    c.paragraph_number,
    c.examiner_cited_reference_indicator,
    c.applicant_cited_examiner_reference_indicator,
    c.office_action_citation_reference_indicator,
    oa.tech_center,
    oa.work_group,
    oa.group_art_unit_number,
    r.reference_identifier,
    r.parsed_reference_identifier,
    r.country,
    r.document_number,
    r.kind_code,
    r.first_inventor,
    r.is_npl,
    c.create_user_identifier,
    c.extra,
    c.office_action_id,
    c.reference_id,
    coalesce(f.rejections_date, f.enriched_date) AS mail_date,
    coalesce(f.rejections_code, f.enriched_code) AS document_code
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
JOIN office_action_family AS f ON f.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL;

DROP VIEW IF EXISTS application_citation_counts;
CREATE VIEW application_citation_counts AS
SELECT
    oa.patent_application_number,
    count(DISTINCT oa.obsolete_document_identifier) AS office_actions,
    count(*) AS citations,
    count(DISTINCT r.reference_identifier) AS distinct_references,
    count(*) FILTER (WHERE c.examiner_cited_reference_indicator = 1) AS examiner_cited,
    count(*) FILTER (WHERE c.applicant_cited_examiner_reference_indicator = 1) AS applicant_cited,
    count(*) FILTER (WHERE c.office_action_citation_reference_indicator = 1) AS cited_in_action,
    min(c.create_date_time) AS first_create_date_time,
    max(c.create_date_time) AS last_create_date_time,
    min(coalesce(f.rejections_date, f.enriched_date)) AS first_mail_date,
    max(coalesce(f.rejections_date, f.enriched_date)) AS last_mail_date
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
JOIN office_action_family AS f ON f.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL
GROUP BY oa.patent_application_number;

-- The descriptions of the siblings' tables and flat views are written from their descriptions
-- (src/dataset.rs) right after this migration (src/store/family.rs); these are the rest.
INSERT INTO schema_docs (object, column_name, description) VALUES
('partitions', 'dataset', 'The data set the partition belongs to (citations, rejections, enriched): each has its own tree.'),
('runs', 'dataset', 'The data set the run harvested.'),
('office_action_family', NULL, 'One row per office_actions row: what the rejections and the enriched citations of its action (matched on document identifier and application number) say of its mail date and document code. The building block of office_action_dates and oa_citations_dated.'),
('office_action_family', 'office_action_id', 'Local key of the office action (office_actions).'),
('office_action_family', 'obsolete_document_identifier', 'The office-action document (obsoleteDocumentIdentifier).'),
('office_action_family', 'patent_application_number', 'The application (patentApplicationNumber).'),
('office_action_family', 'rejections_date', 'Earliest submission_date of the action''s live rejections records.'),
('office_action_family', 'rejections_code', 'legacy_document_code_identifier of the earliest-dated live rejections record that carries one (ties to the smallest id).'),
('office_action_family', 'enriched_date', 'Earliest office_action_date of the action''s live enriched citations.'),
('office_action_family', 'enriched_code', 'office_action_category of the earliest-dated live enriched citation that carries one (ties to the smallest id).'),
('office_action_dates', NULL, 'One row per office action (document identifier and application number, both known) seen in the live records of any data set, with the day it was mailed.'),
('office_action_dates', 'obsolete_document_identifier', 'The office-action document (obsoleteDocumentIdentifier).'),
('office_action_dates', 'patent_application_number', 'The application (patentApplicationNumber).'),
('office_action_dates', 'mail_date', 'The earliest submission_date of its rejections records; without one, the earliest office_action_date of its enriched citations; else NULL.'),
('office_action_dates', 'document_code', 'The document code (e.g. CTNF, CTFR) of its earliest-dated rejections record that carries one; without one, the office_action_category of its earliest-dated enriched citation; else NULL.'),
('office_action_dates', 'date_source', 'Where mail_date came from: rejections, enriched, or NULL.'),
('oa_citations_dated', NULL, 'oa_citations with the mail date and document code of each citation''s office action (see office_action_dates); NULL when no sibling knows the action.'),
('oa_citations_dated', 'id', 'Upstream record id, as in oa_citations.'),
('oa_citations_dated', 'patent_application_number', 'patentApplicationNumber, as in oa_citations.'),
('oa_citations_dated', 'reference_identifier', 'referenceIdentifier, as in oa_citations.'),
('oa_citations_dated', 'parsed_reference_identifier', 'parsedReferenceIdentifier, as in oa_citations.'),
('oa_citations_dated', 'action_type_category', 'actionTypeCategory, as in oa_citations.'),
('oa_citations_dated', 'legal_section_code', 'legalSectionCode, as in oa_citations.'),
('oa_citations_dated', 'paragraph_number', 'paragraphNumber, as in oa_citations.'),
('oa_citations_dated', 'examiner_cited_reference_indicator', 'examinerCitedReferenceIndicator (0/1), as in oa_citations.'),
('oa_citations_dated', 'applicant_cited_examiner_reference_indicator', 'applicantCitedExaminerReferenceIndicator (0/1), as in oa_citations.'),
('oa_citations_dated', 'office_action_citation_reference_indicator', 'officeActionCitationReferenceIndicator (0/1), as in oa_citations.'),
('oa_citations_dated', 'group_art_unit_number', 'groupArtUnitNumber, as in oa_citations.'),
('oa_citations_dated', 'tech_center', 'techCenter, as in oa_citations.'),
('oa_citations_dated', 'work_group', 'workGroup, as in oa_citations.'),
('oa_citations_dated', 'obsolete_document_identifier', 'obsoleteDocumentIdentifier, as in oa_citations.'),
('oa_citations_dated', 'create_date_time', 'createDateTime, as in oa_citations.'),
('oa_citations_dated', 'create_user_identifier', 'createUserIdentifier, as in oa_citations.'),
('oa_citations_dated', 'mail_date', 'The day the office action was mailed, as in office_action_dates.'),
('oa_citations_dated', 'document_code', 'The office action''s document code, as in office_action_dates.'),
('citation_details', 'mail_date', 'The day the office action was mailed, as in office_action_dates.'),
('citation_details', 'document_code', 'The office action''s document code, as in office_action_dates.'),
('application_citation_counts', 'first_mail_date', 'Earliest mail date of its citations'' office actions (see office_action_dates).'),
('application_citation_counts', 'last_mail_date', 'Latest mail date of its citations'' office actions (see office_action_dates).');
