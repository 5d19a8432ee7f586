//! The Solr `criteria` this tool sends: a range on `createDateTime`, narrowed by an id prefix
//! below one second. Kept apart so the fake service's parser and the harvester agree on one
//! spelling.

use crate::plan::Window;

/// `createDateTime:[lo TO hi]`, plus ` AND id:prefix*` when the window has an id prefix.
///
/// Bounds are sent unquoted, as real clients send dates; colons inside a range bound need no
/// escaping in Lucene's range syntax.
pub fn criteria(window: &Window) -> String {
    let mut q = format!("createDateTime:[{} TO {}]", window.lo, window.hi);
    if !window.id_prefix.is_empty() {
        q.push_str(" AND id:");
        q.push_str(&window.id_prefix);
        q.push('*');
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Stamp;

    #[test]
    fn spells_ranges_and_prefixes() {
        let s = Stamp::parse("2025-07-07T01:12:35").unwrap();
        let mut w = Window {
            lo: s,
            hi: Stamp(s.0 + 9),
            id_prefix: String::new(),
        };
        assert_eq!(
            criteria(&w),
            "createDateTime:[2025-07-07T01:12:35 TO 2025-07-07T01:12:44]"
        );
        w.id_prefix = "a0".into();
        assert_eq!(
            criteria(&w),
            "createDateTime:[2025-07-07T01:12:35 TO 2025-07-07T01:12:44] AND id:a0*"
        );
    }
}
