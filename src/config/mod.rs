//! Configuration: raw layers in, one validated [`Config`] out, before any I/O but reading the
//! config file.
//!
//! Precedence, lowest first: built-in defaults, then the config file (`--config PATH` or
//! `OAC_MIRROR_CONFIG`), then environment variables (`OAC_MIRROR_<KEY>`, e.g.
//! `OAC_MIRROR_RATE=2`), then command-line flags. Each layer is a [`RawConfig`] of `Option`s;
//! [`load`] merges them, remembering where each value came from, and validation turns the result
//! into real types, naming the origin, key and value of anything it refuses.
//! The API key is read from `USPTO_API_KEY` only, never from a file or flag, so that it stays out
//! of shell history, config files and `--help`.
//!
//! - `keys`: the one list of keys (name, type, flag, help, range) and their defaults;
//! - `raw`: how a layer is filled from the file or the environment;
//! - `help`: `--help` completed from the defaults and ranges;
//! - `load`: the layers read and merged in order;
//! - `validate` and `source`: the merged layers checked into a [`Config`].

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

use crate::api::{ApiKey, Timeouts};
use crate::dataset::Dataset;
use crate::plan::Window;

mod help;
mod keys;
mod load;
mod raw;
mod source;
mod validate;

#[cfg(test)]
mod tests;

pub use help::{default_text, document};
pub use keys::*;
pub use load::{load, load_db, read_file};

/// Where each value came from (a config file, the environment, the command line), by key; a
/// key not here took its default.
type Origins = BTreeMap<&'static str, String>;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration of one run.
#[derive(Clone, Debug)]
pub struct Config {
    pub db: PathBuf,
    pub base_url: String,
    /// The family's root, when known: from `api_root`, or beside a `base_url` that ends in
    /// `/oa_citations/v2`.
    pub api_root: Option<String>,
    /// The data sets to work on, in the family's order, each once.
    pub datasets: Vec<&'static Dataset>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rate: f64,
    pub concurrency: NonZeroU32,
    /// A fixed page size, or `None` for the largest the service allows (see `harvest::pages`).
    pub rows: Option<NonZeroU64>,
    pub paging_cap: NonZeroU64,
    pub quiet: bool,
    pub log_format: LogFormat,
    pub recheck_recent: u32,
    pub full_refresh: bool,
    pub leaf_attempts: NonZeroU32,
    pub max_retries: u32,
    pub retry_wait: Duration,
    pub rate_limit_wait: Duration,
    pub timeouts: Timeouts,
    pub max_response_bytes: u64,
    pub max_requests: u64,
    pub api_key: ApiKey,
    pub cache_mb: u32,
}

impl Config {
    /// The prefix of `dataset`: `base_url` for the citations, beside it under `api_root` for
    /// the others (validation made sure there is one when a sibling is asked for).
    pub fn prefix(&self, dataset: &Dataset) -> String {
        match &self.api_root {
            _ if dataset.is_citations() => self.base_url.clone(),
            Some(root) => dataset.prefix(root),
            None => unreachable!("validated: a sibling needs api_root"),
        }
    }

    /// The inclusive window of `createDateTime` this run mirrors.
    pub fn window(&self) -> Window {
        Window::days(self.from, self.to)
    }
}
