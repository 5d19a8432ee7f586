//! The records one data set of the replica serves, sorted by `createDateTime` (then by their
//! order as given) so that range queries on it, the harvester's only kind, look at a slice
//! rather than every record; and the page a query asks for.

use serde_json::Value;

use super::query::{self, Query};

pub(super) struct Served {
    keys: Vec<String>,
    pub docs: Vec<Value>,
}

impl Served {
    pub fn new(docs: Vec<Value>) -> Served {
        let mut keyed: Vec<(String, Value)> = docs
            .into_iter()
            .map(|d| (query::text(&d, "createDateTime").unwrap_or_default(), d))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let (keys, docs) = keyed.into_iter().unzip();
        Served { keys, docs }
    }

    fn matching<'a>(&'a self, q: &'a Query) -> impl Iterator<Item = &'a Value> + 'a {
        let (lo, hi) = q.bounds_on("createDateTime");
        let start = lo.map_or(0, |lo| self.keys.partition_point(|k| k.as_str() < lo));
        // Every key starting with `hi` may still be in range (e.g. a bare date as bound).
        let end = hi.map_or(self.keys.len(), |hi| {
            self.keys
                .partition_point(|k| k.as_str() <= hi || k.starts_with(hi))
        });
        self.docs[start..end.max(start)]
            .iter()
            .filter(move |d| q.matches(d))
    }

    /// How many records match `q` in all, and the `rows` of them from `start` on.
    pub fn page(&self, q: &Query, start: u64, rows: u64) -> (u64, Vec<Value>) {
        let mut found = 0u64;
        let mut docs = vec![];
        for doc in self.matching(q) {
            if found >= start && (docs.len() as u64) < rows {
                docs.push(doc.clone());
            }
            found += 1;
        }
        (found, docs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_page_is_a_slice_of_the_matches_in_stamp_order() {
        let served = Served::new(vec![
            json!({"id": "c", "createDateTime": "2020-01-03T00:00:00"}),
            json!({"id": "a", "createDateTime": "2020-01-01T00:00:00"}),
            json!({"id": "b", "createDateTime": "2020-01-02T00:00:00"}),
            json!({"id": "z", "createDateTime": "2021-01-01T00:00:00"}),
        ]);
        let q =
            Query::parse("createDateTime:[2020-01-01T00:00:00 TO 2020-12-31T23:59:59]").unwrap();
        let ids = |docs: Vec<Value>| -> Vec<String> {
            docs.iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let (found, docs) = served.page(&q, 1, 5);
        assert_eq!(found, 3);
        assert_eq!(ids(docs), ["b", "c"]);
        let (found, docs) = served.page(&q, 0, 1);
        assert_eq!((found, ids(docs)), (3, vec!["a".to_owned()]));
        let (found, docs) = served.page(&q, 7, 1);
        assert_eq!((found, docs.len()), (3, 0));
    }
}
