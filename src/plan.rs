//! Date windows over `createDateTime` and how they split. Pure: no I/O.
//!
//! Upstream stores `createDateTime` as a string with second resolution
//! (`2025-07-07T01:12:35`) and compares range bounds as strings. A [`Window`] is an inclusive
//! range of whole seconds, `[lo TO hi]`, optionally narrowed to the ids that start with a hex
//! prefix. Splitting always tiles the parent exactly: halving a range of seconds gives
//! `[lo, mid]` and `[mid + 1, hi]`, and a single second splits into the sixteen prefixes
//! `p0 .. pf`. Under string comparison of fixed-width second stamps these tilings have no gap
//! and no overlap; anything upstream holds outside them (an id that is not lowercase hex, a stamp
//! with fractions of a second) shows up as a parent whose count is not the sum of its children's,
//! which the harvest reports rather than hides.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The layout of every stamp upstream sends and every bound this tool asks for.
pub const STAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// Ids are 32 hex digits; a prefix this long names a single id and cannot split further.
pub const ID_LEN: usize = 32;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A `createDateTime` value with second resolution, as seconds since 1970-01-01T00:00:00
/// (upstream stamps carry no time zone; this tool never converts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(pub i64);

impl Stamp {
    /// The first second of `date`.
    pub fn start_of(date: NaiveDate) -> Stamp {
        Stamp(
            date.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp(),
        )
    }

    /// The last second of `date` (23:59:59).
    pub fn end_of(date: NaiveDate) -> Stamp {
        Stamp(
            date.and_hms_opt(23, 59, 59)
                .expect("23:59:59 exists")
                .and_utc()
                .timestamp(),
        )
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS`, the form stored in the checkpoint table.
    pub fn parse(text: &str) -> Option<Stamp> {
        NaiveDateTime::parse_from_str(text, STAMP_FORMAT)
            .ok()
            .map(|t| Stamp(t.and_utc().timestamp()))
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::from_timestamp(self.0, 0) {
            Some(t) => write!(f, "{}", t.naive_utc().format(STAMP_FORMAT)),
            None => write!(f, "<stamp {} out of range>", self.0),
        }
    }
}

/// One partition of the harvest: the records whose `createDateTime` lies in `lo..=hi` and,
/// when `id_prefix` is not empty, whose `id` starts with it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub lo: Stamp,
    pub hi: Stamp,
    pub id_prefix: String,
}

impl Window {
    /// The whole-day window from the first second of `from` to the last second of `to`.
    pub fn days(from: NaiveDate, to: NaiveDate) -> Window {
        Window {
            lo: Stamp::start_of(from),
            hi: Stamp::end_of(to),
            id_prefix: String::new(),
        }
    }

    /// How many seconds the window spans (at least 1).
    pub fn seconds(&self) -> i64 {
        self.hi.0 - self.lo.0 + 1
    }

    /// Splits the window into parts that tile it: two halves of its seconds, or, for a single
    /// second, sixteen id prefixes one hex digit longer. `None` when the window is a single
    /// second narrowed to a whole id and so cannot split at all.
    pub fn split(&self) -> Option<Vec<Window>> {
        if self.hi > self.lo {
            let mid = Stamp(self.lo.0 + (self.hi.0 - self.lo.0) / 2);
            return Some(vec![
                Window {
                    lo: self.lo,
                    hi: mid,
                    id_prefix: self.id_prefix.clone(),
                },
                Window {
                    lo: Stamp(mid.0 + 1),
                    hi: self.hi,
                    id_prefix: self.id_prefix.clone(),
                },
            ]);
        }
        if self.id_prefix.len() >= ID_LEN {
            return None;
        }
        Some(
            HEX.iter()
                .map(|&digit| {
                    let mut id_prefix = self.id_prefix.clone();
                    id_prefix.push(digit as char);
                    Window {
                        lo: self.lo,
                        hi: self.hi,
                        id_prefix,
                    }
                })
                .collect(),
        )
    }

    /// True when `other` lies inside this window (used to find the partitions under a node).
    pub fn contains(&self, other: &Window) -> bool {
        self.lo <= other.lo && other.hi <= self.hi && other.id_prefix.starts_with(&self.id_prefix)
    }

    /// What a mirror of this window must add to cover `wanted`: the stretch before it and the
    /// stretch after it, where `wanted` reaches further (none when they are equal). `None` when
    /// `wanted` does not contain this window: a mirror's window grows, never shrinks.
    pub fn growth(&self, wanted: &Window) -> Option<Vec<Window>> {
        if !wanted.contains(self) || !self.id_prefix.is_empty() {
            return None;
        }
        let mut parts = vec![];
        if wanted.lo < self.lo {
            parts.push(Window {
                lo: wanted.lo,
                hi: Stamp(self.lo.0 - 1),
                id_prefix: String::new(),
            });
        }
        if self.hi < wanted.hi {
            parts.push(Window {
                lo: Stamp(self.hi.0 + 1),
                hi: wanted.hi,
                id_prefix: String::new(),
            });
        }
        Some(parts)
    }

    /// The exclusive upper bound of the ids under this prefix under string comparison:
    /// the prefix with its last byte raised by one (`a0` → `a1`, `f` → `g`). `None` without a
    /// prefix.
    pub fn id_upper(&self) -> Option<String> {
        let mut bytes = self.id_prefix.clone().into_bytes();
        let last = bytes.pop()?;
        bytes.push(last + 1);
        Some(String::from_utf8(bytes).expect("hex prefixes are ASCII"))
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)?;
        } else {
            write!(f, "{}..{}", self.lo, self.hi)?;
        }
        if !self.id_prefix.is_empty() {
            write!(f, " id:{}*", self.id_prefix)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// Splits `window` down to single seconds (and one level of prefixes) and checks that the
    /// leaves cover every second exactly once, in order.
    fn assert_tiles(window: &Window, depth: usize) {
        let mut leaves = vec![];
        let mut stack = vec![window.clone()];
        while let Some(w) = stack.pop() {
            if w.hi == w.lo && w.id_prefix.len() >= depth {
                leaves.push(w);
                continue;
            }
            let children = w.split().unwrap();
            for c in &children {
                assert!(w.contains(c), "{c} escapes {w}");
            }
            stack.extend(children.into_iter().rev());
        }
        let mut expect = window.lo.0;
        let mut i = 0;
        while i < leaves.len() {
            assert_eq!(
                leaves[i].lo.0, expect,
                "gap or overlap before {}",
                leaves[i]
            );
            let prefixes: Vec<_> = leaves[i..i + 16usize.pow(depth as u32)]
                .iter()
                .map(|w| w.id_prefix.clone())
                .collect();
            let mut sorted = prefixes.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), prefixes.len());
            i += prefixes.len();
            expect += 1;
        }
        assert_eq!(expect, window.hi.0 + 1);
    }

    #[test]
    fn stamps_round_trip_and_bound_days() {
        let w = Window::days(date("2025-07-01"), date("2025-07-04"));
        assert_eq!(w.lo.to_string(), "2025-07-01T00:00:00");
        assert_eq!(w.hi.to_string(), "2025-07-04T23:59:59");
        assert_eq!(Stamp::parse("2025-07-04T23:59:59"), Some(w.hi));
        assert_eq!(w.seconds(), 4 * 86_400);
        assert_eq!(Stamp::parse("2025-07-04"), None);
    }

    #[test]
    fn halving_tiles_odd_and_even_spans() {
        for span in [1, 2, 3, 7, 60, 61] {
            let lo = Stamp::parse("2025-07-07T01:12:00").unwrap();
            let w = Window {
                lo,
                hi: Stamp(lo.0 + span - 1),
                id_prefix: String::new(),
            };
            assert_tiles(&w, 0);
        }
    }

    #[test]
    fn one_second_splits_by_id_prefix_and_stops_at_a_whole_id() {
        let s = Stamp::parse("2025-07-07T01:12:35").unwrap();
        let w = Window {
            lo: s,
            hi: s,
            id_prefix: String::new(),
        };
        let kids = w.split().unwrap();
        assert_eq!(kids.len(), 16);
        assert_eq!(kids[0].id_prefix, "0");
        assert_eq!(kids[15].id_prefix, "f");
        let deeper = kids[10].split().unwrap();
        assert_eq!(deeper[0].id_prefix, "a0");
        assert_eq!(deeper[0].id_upper().as_deref(), Some("a1"));
        assert_eq!(deeper[15].id_upper().as_deref(), Some("ag"));
        assert_tiles(
            &Window {
                lo: s,
                hi: Stamp(s.0 + 2),
                id_prefix: String::new(),
            },
            2,
        );
        let whole = Window {
            lo: s,
            hi: s,
            id_prefix: "d50488aca95d581f9af0d888130835c0".into(),
        };
        assert_eq!(whole.split(), None);
    }

    #[test]
    fn full_default_window_reaches_one_second_in_bounded_depth() {
        let mut w = Window::days(date("2017-10-01"), date("2025-12-31"));
        let mut depth = 0;
        while w.hi > w.lo {
            w = w.split().unwrap().remove(1);
            depth += 1;
        }
        assert!(depth <= 28, "depth {depth}");
    }
}
