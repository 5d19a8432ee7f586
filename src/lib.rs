//! oac-mirror: mirrors the USPTO Office Action Citations API (v2) into SQLite, completely and
//! provably, and resumes where it stopped.
//!
//! # Layout
//! Data flows one way: config → plan → fetch → store.
//! - [`config`]: flags, environment and config file in, one validated [`config::Config`] out.
//! - [`plan`]: date windows over `createDateTime` and how they split (pure, no I/O).
//! - [`api`]: the HTTP client, the query syntax and the record contract (no retries, no SQL).
//! - [`harvest`]: the scheduler: counting, splitting, paging, proving; [`harvest::fetch`] holds
//!   the one rate limiter and the retry policy every request goes through.
//! - [`store`]: SQLite: migrations, the checkpoint (partitions), upserts, quarantine, status;
//!   [`store::writer`] is the one thread that writes during a harvest.
//! - [`replica`]: a local stand-in for the USPTO service, for tests and for trying the tool
//!   without an API key.
//! - [`error`]: the one error type and which errors are worth retrying.

pub mod api;
pub mod config;
pub mod error;
pub mod export;
pub mod harvest;
pub mod pack;
pub mod plan;
pub mod reference;
pub mod replica;
pub mod store;

pub use error::{Error, Result};
