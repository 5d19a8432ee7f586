//! The data sets of the Office Action family, described: where each lives upstream, its fields
//! and their types, and the tables and views that hold it.

use super::{Dataset, Field, Kind};

const fn text(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Text,
    }
}
const fn flag(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Bool,
    }
}
const fn int(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Int,
    }
}
const fn array(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: Kind::Array,
    }
}

/// The Office Action Citations (`oa_citations`): one record per reference cited in an action.
/// Its fields here are only what `/fields` is checked against; `store::records` writes it.
pub static CITATIONS: Dataset = Dataset {
    name: "citations",
    path: "oa_citations/v2",
    table: "citation_records",
    view: "oa_citations",
    deleted_view: "oa_citations_deleted",
    fields: &[
        text("referenceIdentifier", "reference_identifier"),
        text("parsedReferenceIdentifier", "parsed_reference_identifier"),
        text("actionTypeCategory", "action_type_category"),
        text("legalSectionCode", "legal_section_code"),
        text("paragraphNumber", "paragraph_number"),
        flag(
            "examinerCitedReferenceIndicator",
            "examiner_cited_reference_indicator",
        ),
        flag(
            "applicantCitedExaminerReferenceIndicator",
            "applicant_cited_examiner_reference_indicator",
        ),
        flag(
            "officeActionCitationReferenceIndicator",
            "office_action_citation_reference_indicator",
        ),
        text("groupArtUnitNumber", "group_art_unit_number"),
        text("techCenter", "tech_center"),
        text("workGroup", "work_group"),
        text("createDateTime", "create_date_time"),
        text("createUserIdentifier", "create_user_identifier"),
    ],
    optional: &["paragraphNumber"],
};

/// The Office Action Rejections (`oa_rejections`): one record per action and ground, with the
/// day the action was mailed (`submissionDate`).
pub static REJECTIONS: Dataset = Dataset {
    name: "rejections",
    path: "oa_rejections/v2",
    table: "rejections",
    view: "oa_rejections",
    deleted_view: "oa_rejections_deleted",
    fields: &[
        text(
            "legacyDocumentCodeIdentifier",
            "legacy_document_code_identifier",
        ),
        text("actionTypeCategory", "action_type_category"),
        text("legalSectionCode", "legal_section_code"),
        text("paragraphNumber", "paragraph_number"),
        text("groupArtUnitNumber", "group_art_unit_number"),
        text("nationalClass", "national_class"),
        text("nationalSubclass", "national_subclass"),
        text("createUserIdentifier", "create_user_identifier"),
        text("createDateTime", "create_date_time"),
        text("submissionDate", "submission_date"),
        array("claimNumberArrayDocument", "claim_number_array_document"),
        int("hasRej101", "has_rej101"),
        int("hasRej102", "has_rej102"),
        int("hasRej103", "has_rej103"),
        int("hasRej112", "has_rej112"),
        int("hasRejDP", "has_rej_dp"),
        int("cite103Max", "cite103_max"),
        int("cite103EQ1", "cite103_eq1"),
        int("cite103GT3", "cite103_gt3"),
        int("closingMissing", "closing_missing"),
        int("rejectFormMissmatch", "reject_form_missmatch"),
        int("formParagraphMissing", "form_paragraph_missing"),
        int("headerMissing", "header_missing"),
        flag("bilskiIndicator", "bilski_indicator"),
        flag("mayoIndicator", "mayo_indicator"),
        flag("aliceIndicator", "alice_indicator"),
        flag("myriadIndicator", "myriad_indicator"),
        flag("allowedClaimIndicator", "allowed_claim_indicator"),
    ],
    optional: &["paragraphNumber"],
};

/// The Enriched Cited Reference Metadata (`enriched_cited_reference_metadata` v3): one record
/// per reference cited in an action, with its category (X, Y, A), claims and passages.
pub static ENRICHED: Dataset = Dataset {
    name: "enriched",
    path: "enriched_cited_reference_metadata/v3",
    table: "enriched_records",
    view: "enriched_citations",
    deleted_view: "enriched_citations_deleted",
    fields: &[
        text("citedDocumentIdentifier", "cited_document_identifier"),
        text("publicationNumber", "publication_number"),
        text("kindCode", "kind_code"),
        text("countryCode", "country_code"),
        text("inventorNameText", "inventor_name_text"),
        text("officeActionDate", "office_action_date"),
        text("officeActionCategory", "office_action_category"),
        text("citationCategoryCode", "citation_category_code"),
        text("relatedClaimNumberText", "related_claim_number_text"),
        flag(
            "examinerCitedReferenceIndicator",
            "examiner_cited_reference_indicator",
        ),
        flag(
            "applicantCitedExaminerReferenceIndicator",
            "applicant_cited_examiner_reference_indicator",
        ),
        flag("nplIndicator", "npl_indicator"),
        text("workGroupNumber", "work_group_number"),
        text("groupArtUnitNumber", "group_art_unit_number"),
        text("techCenter", "tech_center"),
        text("qualitySummaryText", "quality_summary_text"),
        array("passageLocationText", "passage_location_text"),
        text("createUserIdentifier", "create_user_identifier"),
        text("createDateTime", "create_date_time"),
    ],
    optional: &[],
};

/// Every data set, in the order a harvest of several runs them.
pub static ALL: [&Dataset; 3] = [&CITATIONS, &REJECTIONS, &ENRICHED];
