-- oac-mirror schema, version 2: the hand-off to analysts.
-- Parsed reference columns, views for the common questions, and schema_docs, which describes
-- every table, view and column in plain words. A test checks that every table, view and column
-- of a packed file has a row in schema_docs: a migration that adds one adds its description too.

-- What `oac_mirror::reference::parse` reads from reference_identifier. Filled on insert, and for
-- rows stored before this migration by a backfill that runs right after it (src/store).
ALTER TABLE cited_references ADD COLUMN country TEXT;
ALTER TABLE cited_references ADD COLUMN document_number TEXT;
ALTER TABLE cited_references ADD COLUMN kind_code TEXT;
ALTER TABLE cited_references ADD COLUMN first_inventor TEXT;
ALTER TABLE cited_references ADD COLUMN is_npl INTEGER CHECK (is_npl IN (0, 1));
CREATE INDEX cited_references_document ON cited_references (document_number, country);

-- What each provenance key means; `oac-mirror pack` fills it for every key it knows.
ALTER TABLE meta ADD COLUMN description TEXT;

-- Every citation with everything known about it: the indexed path for "everything about
-- application N" (office_actions_application, then citations_office_action).
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
    c.reference_id
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
WHERE c.deleted_at IS NULL;

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
    max(c.create_date_time) AS last_create_date_time
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
WHERE c.deleted_at IS NULL
GROUP BY oa.patent_application_number;

CREATE VIEW office_action_citation_counts AS
SELECT
    oa.office_action_id,
    oa.obsolete_document_identifier,
    oa.patent_application_number,
    oa.tech_center,
    oa.work_group,
    oa.group_art_unit_number,
    min(c.create_date_time) AS create_date_time,
    count(*) AS citations,
    count(DISTINCT r.reference_identifier) AS distinct_references,
    count(*) FILTER (WHERE c.examiner_cited_reference_indicator = 1) AS examiner_cited,
    count(*) FILTER (WHERE c.applicant_cited_examiner_reference_indicator = 1) AS applicant_cited,
    count(*) FILTER (WHERE c.office_action_citation_reference_indicator = 1) AS cited_in_action
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
WHERE c.deleted_at IS NULL
GROUP BY oa.office_action_id, oa.obsolete_document_identifier, oa.patent_application_number,
    oa.tech_center, oa.work_group, oa.group_art_unit_number;

CREATE VIEW reference_citation_counts AS
SELECT
    r.reference_id,
    r.reference_identifier,
    r.parsed_reference_identifier,
    r.country,
    r.document_number,
    r.kind_code,
    r.first_inventor,
    r.is_npl,
    count(*) AS citations,
    count(DISTINCT oa.patent_application_number) AS applications,
    count(DISTINCT oa.obsolete_document_identifier) AS office_actions,
    count(*) FILTER (WHERE c.examiner_cited_reference_indicator = 1) AS examiner_cited,
    count(*) FILTER (WHERE c.applicant_cited_examiner_reference_indicator = 1) AS applicant_cited,
    count(*) FILTER (WHERE c.office_action_citation_reference_indicator = 1) AS cited_in_action
FROM cited_references AS r
JOIN citations AS c ON c.reference_id = r.reference_id
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL AND r.reference_identifier IS NOT NULL
GROUP BY r.reference_id;

CREATE VIEW patent_citation_counts AS
SELECT
    r.country,
    r.document_number,
    r.kind_code,
    count(*) AS citations,
    count(DISTINCT oa.patent_application_number) AS applications,
    count(DISTINCT oa.obsolete_document_identifier) AS office_actions,
    count(DISTINCT r.reference_id) AS reference_texts,
    count(*) FILTER (WHERE c.examiner_cited_reference_indicator = 1) AS examiner_cited,
    count(*) FILTER (WHERE c.applicant_cited_examiner_reference_indicator = 1) AS applicant_cited
FROM cited_references AS r
JOIN citations AS c ON c.reference_id = r.reference_id
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL AND r.document_number IS NOT NULL
GROUP BY r.country, r.document_number, r.kind_code;

CREATE VIEW cited_by_counts AS
SELECT
    CASE
        WHEN c.examiner_cited_reference_indicator IS NULL
            OR c.applicant_cited_examiner_reference_indicator IS NULL THEN 'unknown'
        WHEN c.examiner_cited_reference_indicator = 1
            AND c.applicant_cited_examiner_reference_indicator = 1 THEN 'both'
        WHEN c.examiner_cited_reference_indicator = 1 THEN 'examiner'
        WHEN c.applicant_cited_examiner_reference_indicator = 1 THEN 'applicant'
        ELSE 'neither'
    END AS cited_by,
    count(*) AS citations,
    count(DISTINCT r.reference_identifier) AS distinct_references,
    count(*) FILTER (WHERE c.office_action_citation_reference_indicator = 1) AS cited_in_action
FROM citations AS c
JOIN cited_references AS r ON r.reference_id = c.reference_id
WHERE c.deleted_at IS NULL
GROUP BY cited_by;

CREATE VIEW tech_center_counts AS
SELECT
    oa.tech_center,
    count(DISTINCT oa.group_art_unit_number) AS art_units,
    count(DISTINCT oa.patent_application_number) AS applications,
    count(DISTINCT oa.obsolete_document_identifier) AS office_actions,
    count(*) AS citations,
    count(*) FILTER (WHERE c.examiner_cited_reference_indicator = 1) AS examiner_cited,
    count(*) FILTER (WHERE c.applicant_cited_examiner_reference_indicator = 1) AS applicant_cited,
    count(*) FILTER (WHERE c.office_action_citation_reference_indicator = 1) AS cited_in_action
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL
GROUP BY oa.tech_center;

CREATE VIEW art_unit_counts AS
SELECT
    oa.tech_center,
    oa.work_group,
    oa.group_art_unit_number,
    count(DISTINCT oa.patent_application_number) AS applications,
    count(DISTINCT oa.obsolete_document_identifier) AS office_actions,
    count(*) AS citations,
    count(*) FILTER (WHERE c.examiner_cited_reference_indicator = 1) AS examiner_cited,
    count(*) FILTER (WHERE c.applicant_cited_examiner_reference_indicator = 1) AS applicant_cited,
    count(*) FILTER (WHERE c.office_action_citation_reference_indicator = 1) AS cited_in_action
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL
GROUP BY oa.tech_center, oa.work_group, oa.group_art_unit_number;

CREATE VIEW legal_section_counts AS
SELECT
    c.legal_section_code,
    count(DISTINCT oa.patent_application_number) AS applications,
    count(DISTINCT oa.obsolete_document_identifier) AS office_actions,
    count(*) AS citations,
    count(*) FILTER (WHERE c.action_type_category = 'rejected') AS rejected,
    count(*) FILTER (WHERE c.action_type_category = 'objected') AS objected,
    count(*) FILTER (WHERE c.examiner_cited_reference_indicator = 1) AS examiner_cited,
    count(*) FILTER (WHERE c.applicant_cited_examiner_reference_indicator = 1) AS applicant_cited
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
WHERE c.deleted_at IS NULL
GROUP BY c.legal_section_code;

-- One row per table or view (column_name NULL) and one per column: what it holds, in words.
CREATE TABLE schema_docs (
    object      TEXT NOT NULL,
    column_name TEXT,
    description TEXT NOT NULL
);
CREATE UNIQUE INDEX schema_docs_key ON schema_docs (object, ifnull(column_name, ''));

INSERT INTO schema_docs (object, column_name, description) VALUES
('schema_docs', NULL, 'This table: one row per table or view (column_name NULL) and one row per column, describing it in plain words.'),
('schema_docs', 'object', 'Name of the table or view.'),
('schema_docs', 'column_name', 'Name of the column; NULL for the row that describes the table or view itself.'),
('schema_docs', 'description', 'What the table, view or column holds.'),

('meta', NULL, 'Provenance, one row per key: where the data came from (source_prefix), the window of createDateTime mirrored, when it was harvested and packed, by which tool version, the record counts and the upstream counts they were checked against.'),
('meta', 'key', 'Name of the fact, e.g. source_prefix, window_from, upstream_total, records.'),
('meta', 'value', 'The fact, as text (numbers as decimal digits, times as UTC RFC 3339, booleans as true/false).'),
('meta', 'description', 'What the key means (filled by oac-mirror pack).'),

('applications', NULL, 'One row per patent application seen in any mirrored record.'),
('applications', 'patent_application_number', 'Application number as upstream sends it (patentApplicationNumber), usually 8 digits, e.g. 16123456.'),

('office_actions', NULL, 'One row per office action (obsoleteDocumentIdentifier) with its application and art unit. Should upstream send two records of one action that disagree on the art-unit columns, each combination has its own row.'),
('office_actions', 'office_action_id', 'Local key of the row (not from upstream); citations.office_action_id points here.'),
('office_actions', 'obsolete_document_identifier', 'Upstream id of the office-action document (obsoleteDocumentIdentifier), e.g. K87AK41FRXEAPX5; all citations of one action share it.'),
('office_actions', 'patent_application_number', 'The application the action was issued in (patentApplicationNumber).'),
('office_actions', 'group_art_unit_number', 'Examining group art unit (groupArtUnitNumber), e.g. 2641.'),
('office_actions', 'tech_center', 'Technology center (techCenter), e.g. 2600.'),
('office_actions', 'work_group', 'Work group within the technology center (workGroup), e.g. 2640.'),

('cited_references', NULL, 'One row per distinct reference text (the same reference is cited many times), with the parts oac-mirror reads from the text. The raw text is kept exactly as upstream sent it.'),
('cited_references', 'reference_id', 'Local key of the row (not from upstream); citations.reference_id points here.'),
('cited_references', 'reference_identifier', 'The reference as printed in the action (referenceIdentifier), e.g. "Sabe; Kohtaro US 20070217688 A1"; may end in a space; NULL when upstream sent "".'),
('cited_references', 'parsed_reference_identifier', 'Upstream''s own parse of the number (parsedReferenceIdentifier), e.g. 20070217688; NULL when upstream sent "".'),
('cited_references', 'country', 'Two-letter country or office code read from reference_identifier (US, EP, JP, WO, ...); EP for "------- European Patent"; NULL for literature or when absent.'),
('cited_references', 'document_number', 'Patent or publication number read from reference_identifier, as written (e.g. 20070217688, RE45123); NULL when the text gives none.'),
('cited_references', 'kind_code', 'Kind code read from reference_identifier (A1 = published application, B1/B2 = granted patent, S = design, ...); NULL when absent.'),
('cited_references', 'first_inventor', 'The name before the country code, as written (e.g. "Sabe; Kohtaro": surname; given name); NULL when absent.'),
('cited_references', 'is_npl', '1 when the text does not name a patent document (an article, a book, a note): non-patent literature; 0 for a patent; NULL when there is no text.'),

('citations', NULL, 'One row per mirrored record (upstream id): one reference cited in one office action. Records upstream no longer serves are marked deleted (deleted_at), never removed.'),
('citations', 'id', 'Upstream record id: 32 hex characters, unique.'),
('citations', 'office_action_id', 'The office action (office_actions.office_action_id).'),
('citations', 'reference_id', 'The cited reference (cited_references.reference_id).'),
('citations', 'action_type_category', 'What the action did with the claims (actionTypeCategory), e.g. rejected or objected; often NULL.'),
('citations', 'legal_section_code', 'The legal basis (legalSectionCode), e.g. 102, 103, 112, nonstatutory double patenting; often NULL.'),
('citations', 'paragraph_number', 'Paragraph of the action (paragraphNumber); listed by upstream but NULL in every record seen.'),
('citations', 'examiner_cited_reference_indicator', '1 when the examiner cited the reference (form PTO-892), 0 when not, NULL when upstream did not say.'),
('citations', 'applicant_cited_examiner_reference_indicator', '1 when the applicant cited the reference (form PTO-1449), 0 when not, NULL when upstream did not say.'),
('citations', 'office_action_citation_reference_indicator', '1 when the reference is cited in the text of the action, 0 when not, NULL when upstream did not say.'),
('citations', 'create_date_time', 'When USPTO''s load process wrote the record (createDateTime), YYYY-MM-DDTHH:MM:SS, no time zone. A load time, not the mail date of the action.'),
('citations', 'create_user_identifier', 'Who wrote the record upstream (createUserIdentifier), e.g. ETL_SYS.'),
('citations', 'extra', 'Fields upstream sent that this version of oac-mirror does not know, as a JSON object; NULL when none.'),
('citations', 'sweep', 'The harvest''s fetch of a partition that last saw the record (partitions.sweep).'),
('citations', 'deleted_at', 'When a later fetch of the record''s window no longer saw it (UTC); NULL for live records. Views leave deleted records out.'),

('rejected_records', NULL, 'Harvest working table (left out of packed files unless asked for): records that could not be stored as citations (no id, a value of the wrong type), kept whole with the reason.'),
('rejected_records', 'rejected_id', 'Local key of the row.'),
('rejected_records', 'partition_id', 'The partition whose fetch met the record.'),
('rejected_records', 'sweep', 'The fetch that met the record.'),
('rejected_records', 'record_id', 'The record''s id when it had a string one.'),
('rejected_records', 'create_date_time', 'The record''s createDateTime when it had a string one.'),
('rejected_records', 'reason', 'Why the record could not be stored.'),
('rejected_records', 'raw_json', 'The record exactly as received, as JSON.'),
('rejected_records', 'seen_at', 'When the record was met (UTC).'),

('partitions', NULL, 'Harvest working table (left out of packed files unless asked for): the windows of createDateTime the harvest split the mirror into, and its checkpoint.'),
('partitions', 'partition_id', 'Local key of the partition.'),
('partitions', 'parent_id', 'The partition this one was split from; NULL for the root (the whole window).'),
('partitions', 'lo', 'First createDateTime of the window (inclusive).'),
('partitions', 'hi', 'Last createDateTime of the window (inclusive).'),
('partitions', 'id_prefix', 'Below one second: the leading hex digits of id the partition covers; empty otherwise.'),
('partitions', 'criteria', 'The query sent upstream for this partition.'),
('partitions', 'upstream_count', 'How many records upstream counted for the criteria (numFound); NULL before counting.'),
('partitions', 'next_offset', 'The checkpoint: where paging continues.'),
('partitions', 'state', 'new, split, pending, done or failed.'),
('partitions', 'sweep', 'Number of the latest fetch of this partition.'),
('partitions', 'attempts', 'Fetches of the partition in the current run.'),
('partitions', 'last_error', 'Why the last fetch failed, if it did.'),
('partitions', 'created_at', 'When the partition was created (UTC).'),
('partitions', 'updated_at', 'When the partition last changed (UTC).'),
('partitions', 'done_at', 'When its stored ids last matched its upstream count (UTC).'),

('runs', NULL, 'Harvest working table (left out of packed files unless asked for): one row per harvest run.'),
('runs', 'run_id', 'Local key of the run.'),
('runs', 'started_at', 'When the run started (UTC).'),
('runs', 'ended_at', 'When the run ended (UTC); NULL if it was killed.'),
('runs', 'window_from', 'First createDateTime of the window the run mirrored.'),
('runs', 'window_to', 'Last createDateTime of the window the run mirrored.'),
('runs', 'outcome', 'complete, incomplete, interrupted or error; NULL if it was killed.'),
('runs', 'requests', 'HTTP requests the run sent.'),
('runs', 'retries', 'Requests sent again after a failure.'),
('runs', 'rate_limited', 'Answers of HTTP 429 (too many requests).'),
('runs', 'records_written', 'Records stored by the run.'),
('runs', 'records_rejected', 'Records the run put in quarantine.'),
('runs', 'message', 'The run''s closing message.'),

('oa_citations', NULL, 'The mirror in upstream''s flat shape: one row per live record, the 16 upstream fields under snake_case names. Start here.'),
('oa_citations', 'id', 'Upstream record id (id): 32 hex characters, unique.'),
('oa_citations', 'patent_application_number', 'patentApplicationNumber, e.g. 16123456.'),
('oa_citations', 'reference_identifier', 'referenceIdentifier: the reference as printed in the action, exactly as sent (may end in a space).'),
('oa_citations', 'parsed_reference_identifier', 'parsedReferenceIdentifier: upstream''s parse of the number, e.g. 20070217688.'),
('oa_citations', 'action_type_category', 'actionTypeCategory, e.g. rejected.'),
('oa_citations', 'legal_section_code', 'legalSectionCode, e.g. 102, 103, nonstatutory double patenting.'),
('oa_citations', 'paragraph_number', 'paragraphNumber; NULL in every record seen.'),
('oa_citations', 'examiner_cited_reference_indicator', 'examinerCitedReferenceIndicator: 1 when the examiner cited the reference (PTO-892).'),
('oa_citations', 'applicant_cited_examiner_reference_indicator', 'applicantCitedExaminerReferenceIndicator: 1 when the applicant cited the reference (PTO-1449).'),
('oa_citations', 'office_action_citation_reference_indicator', 'officeActionCitationReferenceIndicator: 1 when the reference is cited in the text of the action.'),
('oa_citations', 'group_art_unit_number', 'groupArtUnitNumber, e.g. 2641.'),
('oa_citations', 'tech_center', 'techCenter, e.g. 2600.'),
('oa_citations', 'work_group', 'workGroup, e.g. 2640.'),
('oa_citations', 'obsolete_document_identifier', 'obsoleteDocumentIdentifier: id of the office-action document.'),
('oa_citations', 'create_date_time', 'createDateTime: when USPTO loaded the record (not the mail date).'),
('oa_citations', 'create_user_identifier', 'createUserIdentifier, e.g. ETL_SYS.'),

('citation_details', NULL, 'One row per live citation with everything known about it: the upstream fields, the parsed reference parts and the local keys. WHERE patent_application_number = ? is answered through an index: the fast way to get everything about one application.'),
('citation_details', 'id', 'Upstream record id.'),
('citation_details', 'patent_application_number', 'The application (patentApplicationNumber).'),
('citation_details', 'obsolete_document_identifier', 'The office-action document (obsoleteDocumentIdentifier).'),
('citation_details', 'create_date_time', 'When USPTO loaded the record (createDateTime).'),
('citation_details', 'action_type_category', 'actionTypeCategory, e.g. rejected.'),
('citation_details', 'legal_section_code', 'legalSectionCode, e.g. 103.'),
('citation_details', 'paragraph_number', 'paragraphNumber.'),
('citation_details', 'examiner_cited_reference_indicator', '1 when the examiner cited the reference (PTO-892).'),
('citation_details', 'applicant_cited_examiner_reference_indicator', '1 when the applicant cited the reference (PTO-1449).'),
('citation_details', 'office_action_citation_reference_indicator', '1 when the reference is cited in the text of the action.'),
('citation_details', 'tech_center', 'Technology center.'),
('citation_details', 'work_group', 'Work group.'),
('citation_details', 'group_art_unit_number', 'Group art unit.'),
('citation_details', 'reference_identifier', 'The reference text, exactly as sent.'),
('citation_details', 'parsed_reference_identifier', 'Upstream''s parse of the number.'),
('citation_details', 'country', 'Country or office code read from the reference text.'),
('citation_details', 'document_number', 'Patent or publication number read from the reference text.'),
('citation_details', 'kind_code', 'Kind code read from the reference text.'),
('citation_details', 'first_inventor', 'First named inventor read from the reference text.'),
('citation_details', 'is_npl', '1 for non-patent literature, 0 for a patent, NULL when there is no text.'),
('citation_details', 'create_user_identifier', 'createUserIdentifier.'),
('citation_details', 'extra', 'Fields upstream sent that oac-mirror does not know, as JSON.'),
('citation_details', 'office_action_id', 'Local key of the office action (office_actions).'),
('citation_details', 'reference_id', 'Local key of the reference (cited_references).'),

('application_citation_counts', NULL, 'One row per application: how many office actions, citations and distinct references it has, and who cited them.'),
('application_citation_counts', 'patent_application_number', 'The application.'),
('application_citation_counts', 'office_actions', 'Distinct office-action documents (obsolete_document_identifier) with citations.'),
('application_citation_counts', 'citations', 'Live citation records.'),
('application_citation_counts', 'distinct_references', 'Distinct reference texts cited (empty texts not counted).'),
('application_citation_counts', 'examiner_cited', 'Citations with examiner_cited_reference_indicator = 1.'),
('application_citation_counts', 'applicant_cited', 'Citations with applicant_cited_examiner_reference_indicator = 1.'),
('application_citation_counts', 'cited_in_action', 'Citations with office_action_citation_reference_indicator = 1.'),
('application_citation_counts', 'first_create_date_time', 'Earliest createDateTime of its citations.'),
('application_citation_counts', 'last_create_date_time', 'Latest createDateTime of its citations.'),

('office_action_citation_counts', NULL, 'One row per office action (office_actions row; in practice one per obsolete_document_identifier): how many citations and distinct references it has, and who cited them.'),
('office_action_citation_counts', 'office_action_id', 'Local key of the office action.'),
('office_action_citation_counts', 'obsolete_document_identifier', 'The office-action document.'),
('office_action_citation_counts', 'patent_application_number', 'The application.'),
('office_action_citation_counts', 'tech_center', 'Technology center.'),
('office_action_citation_counts', 'work_group', 'Work group.'),
('office_action_citation_counts', 'group_art_unit_number', 'Group art unit.'),
('office_action_citation_counts', 'create_date_time', 'Earliest createDateTime of its citations (all of one action usually share one).'),
('office_action_citation_counts', 'citations', 'Live citation records.'),
('office_action_citation_counts', 'distinct_references', 'Distinct reference texts cited (empty texts not counted).'),
('office_action_citation_counts', 'examiner_cited', 'Citations with examiner_cited_reference_indicator = 1.'),
('office_action_citation_counts', 'applicant_cited', 'Citations with applicant_cited_examiner_reference_indicator = 1.'),
('office_action_citation_counts', 'cited_in_action', 'Citations with office_action_citation_reference_indicator = 1.'),

('reference_citation_counts', NULL, 'One row per distinct reference text that is cited at least once: how often, in how many applications and actions, and by whom. ORDER BY citations DESC for the most cited references.'),
('reference_citation_counts', 'reference_id', 'Local key of the reference.'),
('reference_citation_counts', 'reference_identifier', 'The reference text, exactly as sent.'),
('reference_citation_counts', 'parsed_reference_identifier', 'Upstream''s parse of the number.'),
('reference_citation_counts', 'country', 'Country or office code read from the text.'),
('reference_citation_counts', 'document_number', 'Patent or publication number read from the text.'),
('reference_citation_counts', 'kind_code', 'Kind code read from the text.'),
('reference_citation_counts', 'first_inventor', 'First named inventor read from the text.'),
('reference_citation_counts', 'is_npl', '1 for non-patent literature, 0 for a patent.'),
('reference_citation_counts', 'citations', 'Live citation records of this reference.'),
('reference_citation_counts', 'applications', 'Distinct applications citing it.'),
('reference_citation_counts', 'office_actions', 'Distinct office-action documents citing it.'),
('reference_citation_counts', 'examiner_cited', 'Citations with examiner_cited_reference_indicator = 1.'),
('reference_citation_counts', 'applicant_cited', 'Citations with applicant_cited_examiner_reference_indicator = 1.'),
('reference_citation_counts', 'cited_in_action', 'Citations with office_action_citation_reference_indicator = 1.'),

('patent_citation_counts', NULL, 'One row per patent document (country, document_number, kind_code read from the reference text), however its text was written (a trailing space, another spelling of the inventor): the most cited patents.'),
('patent_citation_counts', 'country', 'Country or office code.'),
('patent_citation_counts', 'document_number', 'Patent or publication number.'),
('patent_citation_counts', 'kind_code', 'Kind code; NULL when the text gives none.'),
('patent_citation_counts', 'citations', 'Live citation records of this document.'),
('patent_citation_counts', 'applications', 'Distinct applications citing it.'),
('patent_citation_counts', 'office_actions', 'Distinct office-action documents citing it.'),
('patent_citation_counts', 'reference_texts', 'Distinct reference texts (cited_references rows) that name it.'),
('patent_citation_counts', 'examiner_cited', 'Citations with examiner_cited_reference_indicator = 1.'),
('patent_citation_counts', 'applicant_cited', 'Citations with applicant_cited_examiner_reference_indicator = 1.'),

('cited_by_counts', NULL, 'Examiner-cited versus applicant-cited: live citations by who cited the reference.'),
('cited_by_counts', 'cited_by', 'examiner (PTO-892 only), applicant (PTO-1449 only), both, neither, or unknown (an indicator is NULL).'),
('cited_by_counts', 'citations', 'Live citation records.'),
('cited_by_counts', 'distinct_references', 'Distinct reference texts (empty texts not counted).'),
('cited_by_counts', 'cited_in_action', 'Citations with office_action_citation_reference_indicator = 1.'),

('tech_center_counts', NULL, 'One row per technology center: art units, applications, office actions and citations, and who cited.'),
('tech_center_counts', 'tech_center', 'Technology center, e.g. 2600.'),
('tech_center_counts', 'art_units', 'Distinct group art units.'),
('tech_center_counts', 'applications', 'Distinct applications.'),
('tech_center_counts', 'office_actions', 'Distinct office-action documents.'),
('tech_center_counts', 'citations', 'Live citation records.'),
('tech_center_counts', 'examiner_cited', 'Citations with examiner_cited_reference_indicator = 1.'),
('tech_center_counts', 'applicant_cited', 'Citations with applicant_cited_examiner_reference_indicator = 1.'),
('tech_center_counts', 'cited_in_action', 'Citations with office_action_citation_reference_indicator = 1.'),

('art_unit_counts', NULL, 'One row per group art unit (with its technology center and work group): applications, office actions and citations, and who cited.'),
('art_unit_counts', 'tech_center', 'Technology center.'),
('art_unit_counts', 'work_group', 'Work group.'),
('art_unit_counts', 'group_art_unit_number', 'Group art unit, e.g. 2641.'),
('art_unit_counts', 'applications', 'Distinct applications.'),
('art_unit_counts', 'office_actions', 'Distinct office-action documents.'),
('art_unit_counts', 'citations', 'Live citation records.'),
('art_unit_counts', 'examiner_cited', 'Citations with examiner_cited_reference_indicator = 1.'),
('art_unit_counts', 'applicant_cited', 'Citations with applicant_cited_examiner_reference_indicator = 1.'),
('art_unit_counts', 'cited_in_action', 'Citations with office_action_citation_reference_indicator = 1.'),

('legal_section_counts', NULL, 'One row per legal section code (NULL when upstream gave none): applications, office actions and citations, rejections and objections.'),
('legal_section_counts', 'legal_section_code', 'legalSectionCode, e.g. 102, 103, 112, nonstatutory double patenting; NULL when absent.'),
('legal_section_counts', 'applications', 'Distinct applications.'),
('legal_section_counts', 'office_actions', 'Distinct office-action documents.'),
('legal_section_counts', 'citations', 'Live citation records.'),
('legal_section_counts', 'rejected', 'Citations with action_type_category = rejected.'),
('legal_section_counts', 'objected', 'Citations with action_type_category = objected.'),
('legal_section_counts', 'examiner_cited', 'Citations with examiner_cited_reference_indicator = 1.'),
('legal_section_counts', 'applicant_cited', 'Citations with applicant_cited_examiner_reference_indicator = 1.');
