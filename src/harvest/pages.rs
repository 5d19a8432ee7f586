//! How many records a page asks for: the one rule, shared by the harvest and `plan`.
//!
//! An explicit `rows` is a fixed page size. Without one, a page asks for as many records as fit
//! in [`RESPONSE_BUDGET`] bytes at the bytes per record seen so far (before any page, at
//! [`ASSUMED_BYTES_PER_RECORD`]), up to the paging cap: the largest page the service allows
//! (it refuses answers over 6 MB with 413), so the fewest requests. A 413 still halves the
//! page of the leaf that met it (the harvest keeps that limit per leaf).

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// The bytes a page aims at: under the Open Data Portal's 6 MB answer limit with room for
/// pages whose records run larger than the ones seen so far.
pub const RESPONSE_BUDGET: u64 = 5_500_000;
/// Bytes of JSON per record before any page was seen: the real records average about 560
/// (`shared/api/README.md`); a little more, to keep the first page under the limit.
pub const ASSUMED_BYTES_PER_RECORD: u64 = 600;

/// The page size of one run.
#[derive(Debug)]
pub struct PageSize {
    fixed: Option<u64>,
    /// The running estimate of bytes per record (see [`PageSize::observe`]).
    bytes_per_record: AtomicU64,
    /// The most records upstream was seen to serve or accept (see [`PageSize::lower`]).
    ceiling: AtomicU64,
}

impl PageSize {
    /// `rows` is the configured page size, `None` for the largest the service allows.
    pub fn new(rows: Option<NonZeroU64>) -> PageSize {
        PageSize {
            fixed: rows.map(NonZeroU64::get),
            bytes_per_record: AtomicU64::new(ASSUMED_BYTES_PER_RECORD),
            ceiling: AtomicU64::new(u64::MAX),
        }
    }

    /// Records to ask for when at most `cap` may be asked for.
    pub fn rows(&self, cap: u64) -> u64 {
        let rows = self.fixed.unwrap_or_else(|| {
            RESPONSE_BUDGET / self.bytes_per_record.load(Ordering::Relaxed).max(1)
        });
        rows.min(self.ceiling.load(Ordering::Relaxed))
            .min(cap)
            .max(1)
    }

    /// Lowers the page size to at most `rows` for the rest of the run: upstream served no more
    /// (a consistent short page) or refused as many (a 400 at offset 0).
    pub fn lower(&self, rows: u64) {
        self.ceiling.fetch_min(rows.max(1), Ordering::Relaxed);
    }

    /// The bytes per record the page size is computed from.
    pub fn bytes_per_record(&self) -> u64 {
        self.bytes_per_record.load(Ordering::Relaxed)
    }

    /// Learns from a page of `records` records in `bytes` bytes. The estimate follows pages
    /// that run larger at once and smaller ones slowly (a quarter of the way), so that a run of
    /// large records does not meet one 413 after another.
    pub fn observe(&self, bytes: usize, records: usize) {
        if records == 0 || bytes == 0 {
            return;
        }
        let seen = (bytes as u64).div_ceil(records as u64);
        let _ = self
            .bytes_per_record
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if seen >= old {
                    seen
                } else {
                    (3 * old + seen) / 4
                })
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_size_is_kept_under_the_cap() {
        let p = PageSize::new(NonZeroU64::new(1000));
        assert_eq!(p.rows(10_000), 1000);
        assert_eq!(p.rows(300), 300);
        p.observe(10_000_000, 10);
        assert_eq!(p.rows(10_000), 1000, "a fixed size ignores what it sees");
    }

    #[test]
    fn unset_fills_the_budget_at_the_bytes_seen() {
        let p = PageSize::new(None);
        assert_eq!(p.rows(100_000), RESPONSE_BUDGET / ASSUMED_BYTES_PER_RECORD);
        assert_eq!(p.rows(10_000), 9166);
        // Larger records: followed at once.
        p.observe(1_100_000, 1000);
        assert_eq!(p.bytes_per_record(), 1100);
        assert_eq!(p.rows(10_000), 5000);
        // Smaller ones: a quarter of the way per page.
        p.observe(500_000, 1000);
        assert_eq!(p.bytes_per_record(), 950);
        for _ in 0..50 {
            p.observe(500_000, 1000);
        }
        assert_eq!(p.bytes_per_record(), 500);
        assert_eq!(p.rows(10_000), 10_000, "capped");
        assert_eq!(p.rows(0), 1, "never zero");
    }

    #[test]
    fn lowering_holds_for_the_rest_of_the_run() {
        for p in [PageSize::new(None), PageSize::new(NonZeroU64::new(5000))] {
            p.lower(700);
            assert_eq!(p.rows(10_000), 700);
            p.lower(900);
            assert_eq!(p.rows(10_000), 700, "never raised again");
            assert_eq!(p.rows(300), 300);
            p.lower(0);
            assert_eq!(p.rows(10_000), 1);
        }
    }

    #[test]
    fn an_empty_page_teaches_nothing() {
        let p = PageSize::new(None);
        p.observe(0, 0);
        p.observe(100, 0);
        assert_eq!(p.bytes_per_record(), ASSUMED_BYTES_PER_RECORD);
    }
}
