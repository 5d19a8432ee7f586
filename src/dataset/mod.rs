//! The data sets of the Office Action family, each a description the engine runs: where it
//! lives upstream, which fields it has and of what type, and which tables and views hold it.
//! Nothing here does I/O. Adding a sibling is a new [`Dataset`] in `family` (and in [`ALL`])
//! and a migration that creates its tables and views; the harvest, the write path and `status`
//! read the description.
//!
//! The citations keep their own hand-tuned write path (`store::records`); every other data set
//! is written by the generic one (`store::family`), whose columns are the description's.
//!
//! The types of a description are here; the family's three descriptions are in `family`, and
//! reading a sibling's record against its description is `record`'s.

mod family;
mod record;

pub use family::{ALL, CITATIONS, ENRICHED, REJECTIONS};
pub use record::{Cell, FamilyRecord, parse};

/// How a field's value is read. Whatever the type, `""`, JSON `null` and a missing field are
/// stored as NULL; a value of another type quarantines the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string, stored exactly as sent.
    Text,
    /// A JSON boolean, stored as 0/1.
    Bool,
    /// A JSON integer, stored as an integer.
    Int,
    /// A JSON array, stored as its compact JSON text (`serde_json::to_string`); empty is NULL.
    Array,
}

/// One upstream field stored in a column of the data set's own table.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The upstream name (`submissionDate`).
    pub name: &'static str,
    /// The column in the table and its flat view (`submission_date`).
    pub column: &'static str,
    pub kind: Kind,
}

/// One data set of the family.
#[derive(Debug)]
pub struct Dataset {
    /// As named on the command line, in `status` and in `partitions.dataset`.
    pub name: &'static str,
    /// The prefix below the API root (`oa_rejections/v2`).
    pub path: &'static str,
    /// The table of its records (one row per upstream `id`).
    pub table: &'static str,
    /// The flat view in upstream's shape, and the view of its deleted records.
    pub view: &'static str,
    pub deleted_view: &'static str,
    /// The fields stored in `table`'s own columns, besides `id`, `patentApplicationNumber` and
    /// `obsoleteDocumentIdentifier` (those name the office action, stored in `office_actions`).
    /// `createDateTime` must be one of them: the harvest partitions on it.
    pub fields: &'static [Field],
    /// Fields `/fields` lists that no record has been seen to carry: their absence from
    /// `/fields` does not stop a harvest.
    pub optional: &'static [&'static str],
}

/// The fields every data set of the family has, which name its record and its office action.
pub const KEY_FIELDS: [&str; 3] = [
    "id",
    "patentApplicationNumber",
    "obsoleteDocumentIdentifier",
];

/// The default API root: each data set's prefix is `{root}/{path}`.
pub const DEFAULT_API_ROOT: &str = "https://api.uspto.gov/api/v1/patent/oa";

impl Dataset {
    /// The data set called `name` (`citations`, `rejections`, `enriched`).
    pub fn named(name: &str) -> Option<&'static Dataset> {
        ALL.into_iter().find(|d| d.name == name)
    }

    pub fn is_citations(&self) -> bool {
        std::ptr::eq(self, &CITATIONS)
    }

    /// Its prefix under `root` (no trailing slash).
    pub fn prefix(&self, root: &str) -> String {
        format!("{}/{}", root.trim_end_matches('/'), self.path)
    }

    /// Every field its records carry: the key fields, then its own.
    pub fn known_fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        KEY_FIELDS
            .into_iter()
            .chain(self.fields.iter().map(|f| f.name))
    }

    /// Fields it stores that `listed` (upstream's `/fields`) lacks, but for the optional ones.
    pub fn missing_fields(&self, listed: &[String]) -> Vec<String> {
        self.known_fields()
            .filter(|k| !self.optional.contains(k) && !listed.iter().any(|f| f == k))
            .map(str::to_owned)
            .collect()
    }

    /// The key under which `meta` holds `key` for this data set: the citations keep the keys
    /// they always had; a sibling's are prefixed with its name (`rejections.source_prefix`).
    pub fn meta_key(&self, key: &str) -> String {
        if self.is_citations() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn descriptions_know_upstreams_fields() {
        for (d, file) in [
            (&REJECTIONS, "rejections_fields.json"),
            (&ENRICHED, "enriched_fields.json"),
        ] {
            let text = std::fs::read_to_string(format!(
                "{}/tests/data/{file}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            let listed: Vec<String> = serde_json::from_value(v["fields"].clone()).unwrap();
            assert_eq!(d.missing_fields(&listed), Vec::<String>::new());
            assert_eq!(d.known_fields().count(), listed.len(), "{}", d.name);
        }
    }
}
