-- oac-mirror schema, version 3: refreshes.
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

INSERT INTO schema_docs (object, column_name, description) VALUES
('runs', 'records_added', 'Records the run stored for the first time.'),
('runs', 'records_updated', 'Records the run found changed upstream and updated (a record that vanished and came back counts here).'),
('runs', 'records_deleted', 'Records the run found vanished upstream and marked deleted.'),
('oa_citations_deleted', NULL, 'Records that vanished upstream: kept, in the shape of oa_citations, with when a refresh found them gone. Not in oa_citations.'),
('oa_citations_deleted', 'id', 'Upstream record id (id).'),
('oa_citations_deleted', 'patent_application_number', 'patentApplicationNumber, as in oa_citations.'),
('oa_citations_deleted', 'reference_identifier', 'referenceIdentifier, as in oa_citations.'),
('oa_citations_deleted', 'parsed_reference_identifier', 'parsedReferenceIdentifier, as in oa_citations.'),
('oa_citations_deleted', 'action_type_category', 'actionTypeCategory, as in oa_citations.'),
('oa_citations_deleted', 'legal_section_code', 'legalSectionCode, as in oa_citations.'),
('oa_citations_deleted', 'paragraph_number', 'paragraphNumber, as in oa_citations.'),
('oa_citations_deleted', 'examiner_cited_reference_indicator', 'examinerCitedReferenceIndicator (0/1), as in oa_citations.'),
('oa_citations_deleted', 'applicant_cited_examiner_reference_indicator', 'applicantCitedExaminerReferenceIndicator (0/1), as in oa_citations.'),
('oa_citations_deleted', 'office_action_citation_reference_indicator', 'officeActionCitationReferenceIndicator (0/1), as in oa_citations.'),
('oa_citations_deleted', 'group_art_unit_number', 'groupArtUnitNumber, as in oa_citations.'),
('oa_citations_deleted', 'tech_center', 'techCenter, as in oa_citations.'),
('oa_citations_deleted', 'work_group', 'workGroup, as in oa_citations.'),
('oa_citations_deleted', 'obsolete_document_identifier', 'obsoleteDocumentIdentifier, as in oa_citations.'),
('oa_citations_deleted', 'create_date_time', 'createDateTime as last mirrored, as in oa_citations.'),
('oa_citations_deleted', 'create_user_identifier', 'createUserIdentifier, as in oa_citations.'),
('oa_citations_deleted', 'deleted_at', 'When a refresh found the record gone upstream (UTC).');
