//! Compact keys: a text key (a reference's two texts) reduced to one 64-bit integer, stored
//! beside the text and indexed instead of it. An integer index entry is a third of a
//! 32-character text one, so the index a harvest writes in random order stays in the page cache
//! three times longer and dirties a third of the pages each commit writes. Two different texts
//! may share a key: every lookup compares the text too, so a collision costs a second row read,
//! never a wrong answer. (Records' ids had keys too, from migration 0005 to 0007; the SQL
//! function stays for 0005, which computes them when it upgrades an older mirror.)
//!
//! The function is part of the file format (the keys are stored): it must never change. Tests
//! pin its values.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::error::{Error, Result};

/// The SQL name of [`of`], registered on every connection the store opens for writing (see
/// [`register`]); migration 0005 fills the stored keys with it.
pub const SQL_FUNCTION: &str = "oac_key";

const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(h: u64, word: u64) -> u64 {
    let x = (h ^ word).wrapping_mul(MULTIPLIER);
    x ^ (x >> 29)
}

/// The key of `parts`, each an absent value or a text; an absent value and the empty text have
/// the same key, as in the tables' unique keys (`ifnull(x, '')`). Each part's length is mixed
/// in before its bytes, so ("ab", "c") and ("a", "bc") differ.
pub fn of(parts: &[Option<&str>]) -> i64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    for part in parts {
        let bytes = part.unwrap_or("").as_bytes();
        h = mix(h, bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            h = mix(h, u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            h = mix(h, u64::from_le_bytes(last));
        }
    }
    // The finalizer of MurmurHash3: every input bit reaches every output bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^= h >> 33;
    h as i64
}

/// The key of a record id, as migration 0005 stored it (see the module's note).
#[cfg(test)]
pub fn of_id(id: &str) -> i64 {
    of(&[Some(id)])
}

/// Makes [`of`] callable from SQL as `oac_key(a, b, ...)` on `conn` (NULL counts as ''; any
/// other value by its text).
pub fn register(conn: &Connection) -> Result<()> {
    conn.create_scalar_function(
        SQL_FUNCTION,
        -1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let mut texts: Vec<Option<String>> = Vec::with_capacity(ctx.len());
            for i in 0..ctx.len() {
                texts.push(ctx.get::<Option<String>>(i)?);
            }
            let parts: Vec<Option<&str>> = texts.iter().map(Option::as_deref).collect();
            Ok(of(&parts))
        },
    )
    .map_err(Error::sqlite("register the key function"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored keys depend on these values: changing the function would make every mirror's
    /// keys wrong.
    #[test]
    fn values_are_pinned() {
        assert_eq!(
            of_id("d50488aca95d581f9af0d888130835c0"),
            -2_751_007_885_824_210_428
        );
        assert_eq!(of(&[None, None]), of(&[Some(""), Some("")]));
        assert_eq!(of(&[Some("a"), None]), 4_625_091_011_229_977_285);
        assert_ne!(of(&[Some("ab"), Some("c")]), of(&[Some("a"), Some("bc")]));
        assert_ne!(of(&[Some("a")]), of(&[Some("a"), None]));
        assert_ne!(of_id("x"), of_id("x "));
    }

    #[test]
    fn sql_computes_the_same_keys() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let (a, b): (i64, i64) = conn
            .query_row(
                "SELECT oac_key('d50488aca95d581f9af0d888130835c0'), oac_key('a', NULL)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(a, of_id("d50488aca95d581f9af0d888130835c0"));
        assert_eq!(b, of(&[Some("a"), None]));
    }

    /// Distinct ids almost never share a key: none among 200,000 random ones.
    #[test]
    fn random_ids_do_not_collide() {
        let mut rng = fastrand::Rng::with_seed(3);
        let keys: std::collections::HashSet<i64> = (0..200_000)
            .map(|_| of_id(&format!("{:032x}", rng.u128(..))))
            .collect();
        assert_eq!(keys.len(), 200_000);
    }
}
