-- oac-mirror schema, version 2: refreshes.
-- What each run changed, counted in the same transaction as the page or leaf that changed it,
-- so the numbers hold even for a run that was killed.
ALTER TABLE runs ADD COLUMN records_added   INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN records_updated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN records_deleted INTEGER NOT NULL DEFAULT 0;

-- Records that vanished upstream are kept, with the time a refresh found them gone.
CREATE INDEX citations_deleted ON citations (deleted_at) WHERE deleted_at IS NOT NULL;

-- The records that vanished upstream, in the shape of oa_citations, with when they vanished.
CREATE VIEW oa_citations_deleted AS
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
    c.deleted_at
FROM citations AS c
JOIN office_actions AS oa ON oa.office_action_id = c.office_action_id
JOIN cited_references AS r ON r.reference_id = c.reference_id
WHERE c.deleted_at IS NOT NULL;
