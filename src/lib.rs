//! oac-mirror: mirrors the USPTO Office Action Citations API (v2) into SQLite, completely and
//! provably, and resumes where it stopped.
//!
//! # Layout
//! Data flows one way: config → plan → fetch → store, and out of the store through pack and
//! export, which only read a mirror.
//! - [`config`]: flags, environment and config file in, one validated [`config::Config`] out.
//! - [`dataset`]: the data sets of the Office Action family (citations, rejections, enriched
//!   citations), each a description the harvest and the store run (pure, no I/O).
//! - [`plan`]: date windows over `createDateTime` and how they split (pure, no I/O).
//! - [`api`]: the HTTP client, the query syntax and the record contract (no retries, no SQL).
//! - [`tree`]: the partition tree's lifecycle: node kinds, what is observed about a node, and
//!   the one pure step from those to what happens next (no I/O).
//! - [`harvest`]: the scheduler: counting, splitting, paging, proving; [`harvest::fetch`] holds
//!   the one rate limiter and the retry policy every request goes through.
//! - [`store`]: SQLite: migrations, the checkpoint (partitions), upserts, quarantine, status;
//!   [`store::writer`] is the one thread that writes during a harvest.
//! - [`reference`]: reads a cited reference's free text into country, number, kind code and
//!   inventor, or flags it as non-patent literature (pure, no I/O).
//! - [`pack`]: the hand-off file: a compact, checked, self-describing copy of a mirror.
//! - [`export`]: a table, view or query streamed out as CSV, NDJSON or Parquet.
//! - [`replica`]: a local stand-in for the USPTO service, for tests and for trying the tool
//!   without an API key.
//! - [`command`]: the `oac-mirror` commands: their arguments (clap) and one entry point each,
//!   returning an [`command::Outcome`]; `main.rs` only parses, sets up logging, calls one and
//!   maps the outcome to an exit status.
//! - [`error`]: the one error type, which errors are worth retrying, stop a run or are usage
//!   mistakes, and the chain of causes as one line.
//! - [`terminal`]: the command's log lines on stderr, its progress line and its signal handling.

pub mod api;
pub mod command;
pub mod config;
pub mod dataset;
pub mod error;
pub mod export;
pub mod harvest;
pub mod pack;
pub mod plan;
pub mod reference;
pub mod replica;
pub mod store;
pub mod terminal;
pub mod tree;

pub use error::{Error, Result};
