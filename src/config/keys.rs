//! The one list of configuration keys: each key's name, type, flag, `--help` and range, and
//! each key's default as a named constant. The file, the environment, the flags, `--help` and
//! `config.example.toml` are all read or written from here.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::raw::{date_text, raw_config};
use crate::dataset::{CITATIONS, DEFAULT_API_ROOT};

/// The Open Data Portal prefix of the data set (everything before `/records`).
pub const DEFAULT_BASE_URL: &str = "https://api.uspto.gov/api/v1/patent/oa/oa_citations/v2";
pub const DEFAULT_DB: &str = "oac-mirror.db";
/// The data set's published temporal coverage.
pub const DEFAULT_FROM: &str = "2017-10-01";
pub const DEFAULT_TO: &str = "2025-12-31";
/// Requests per second; the Open Data Portal allows 4 to 15 depending on the call.
pub const DEFAULT_RATE: f64 = 4.0;
/// Requests in flight; the Open Data Portal allows one per key.
pub const DEFAULT_CONCURRENCY: u32 = 1;
/// SQLite's page cache during a harvest, in MB: enough for the hot index pages of a page of
/// records at any mirror size, small enough for a cron box.
pub const DEFAULT_CACHE_MB: u32 = 128;
/// Keys that are unset unless configured (the example shows a value to set, not a default).
pub const UNSET_BY_DEFAULT: &[&str] = &["rows"];
/// The most records one query may page through (`start + rows`); other Open Data Portal
/// search endpoints stop at 10,000.
pub const DEFAULT_PAGING_CAP: u64 = 10_000;
/// How many times a partition is fetched again when its stored ids disagree with its count.
pub const DEFAULT_LEAF_ATTEMPTS: u32 = 3;
/// How many times one request is retried after a 429, 5xx, timeout or cut connection.
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// The first wait after a failed request (5xx, timeout, cut connection); doubles per retry.
pub const DEFAULT_RETRY_WAIT_SECS: f64 = 0.5;
/// The least wait after a 429, as the Open Data Portal asks.
pub const DEFAULT_RATE_LIMIT_WAIT_SECS: f64 = 5.0;
/// The largest response body read; the Open Data Portal refuses to send more than 6 MB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = crate::api::DEFAULT_MAX_RESPONSE_BYTES;
/// The most requests one run sends: a fifth of the Open Data Portal's weekly 5,000,000 calls.
pub const DEFAULT_MAX_REQUESTS: u64 = 1_000_000;
pub const DEFAULT_CONNECT_TIMEOUT_SECS: f64 = 10.0;
pub const DEFAULT_REQUEST_TIMEOUT_SECS: f64 = 120.0;
pub const DEFAULT_LOG_FORMAT: &str = "text";

/// The environment variable holding the API key.
pub const API_KEY_ENV: &str = "USPTO_API_KEY";
/// The environment variable naming a config file when `--config` is not given.
pub const CONFIG_ENV: &str = "OAC_MIRROR_CONFIG";

// Each key: its `--help` (doc comment), its flag, its name and type, and for a number its
// allowed values `[lo, hi]`, inclusive, in the key's unit.
raw_config! {
    /// SQLite database file
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// Dataset prefix; the tool calls URL/records and URL/fields
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// The family's root; each data set's prefix lies under it, and a --base-url ending in
    /// /oa_citations/v2 implies it
    #[arg(long, value_name = "URL")]
    api_root: String,
    /// Data set to work on, repeatable or comma-separated: citations, rejections, enriched or
    /// all
    #[arg(long = "dataset", value_name = "NAME", value_delimiter = ',')]
    datasets: Vec<String>,
    /// First day of the window, from 00:00:00
    #[arg(long, value_name = "YYYY-MM-DD")]
    #[serde(default, deserialize_with = "date_text")]
    from: String,
    /// Last day of the window, through 23:59:59, or `today`
    #[arg(long, value_name = "YYYY-MM-DD")]
    #[serde(default, deserialize_with = "date_text")]
    to: String,
    /// Requests per second across the harvest
    #[arg(long, value_name = "REQ_PER_SEC", allow_negative_numbers = true)]
    rate: f64 [0.001, 10_000.0],
    /// Requests in flight at once
    #[arg(long, value_name = "N")]
    concurrency: u32 [1.0, 100.0],
    /// Records per page (at most paging_cap); unset, as many as fit in about 5.5 MB
    #[arg(long, value_name = "N")]
    rows: u64 [1.0, 1_000_000.0],
    /// Most records one query may page through, start + rows
    #[arg(long, value_name = "N")]
    paging_cap: u64 [1.0, 1_000_000.0],
    /// Log warnings and errors only (and no progress bar)
    #[arg(long, num_args = 0, default_missing_value = "true")]
    quiet: bool,
    /// Log lines as `text` or `json` (one object per line, for log collectors)
    #[arg(long, value_name = "FORMAT")]
    log_format: String,
    /// Fetch the windows of the last DAYS days again whatever their counts say
    #[arg(long, value_name = "DAYS")]
    recheck_recent: u32 [0.0, 36_500.0],
    /// Fetch every window again
    #[arg(long, num_args = 0, default_missing_value = "true")]
    full_refresh: bool,
    /// Fetches of one partition per run before it is marked failed
    #[arg(long, value_name = "N")]
    leaf_attempts: u32 [1.0, 100.0],
    /// Retries of one request after a 429, 5xx, timeout or cut connection
    #[arg(long, value_name = "N")]
    max_retries: u32 [0.0, 100.0],
    /// Seconds to wait after a failed request before retrying, doubling per retry
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    retry_wait: f64 [0.001, 86_400.0],
    /// Least seconds to wait after a 429
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    rate_limit_wait: f64 [0.001, 86_400.0],
    /// Seconds to wait for a connection
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    connect_timeout: f64 [0.001, 86_400.0],
    /// Seconds to wait for a whole response
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    request_timeout: f64 [0.001, 86_400.0],
    /// SQLite page cache in MB during a harvest
    #[arg(long, value_name = "MB")]
    cache_mb: u32 [2.0, 65_536.0],
    /// Largest response body read, in bytes; a larger one is treated like a 413
    #[arg(long, value_name = "BYTES")]
    max_response_bytes: u64 [1024.0, 1_073_741_824.0],
    /// Most requests one run sends
    #[arg(long, value_name = "N")]
    max_requests: u64 [1.0, 5_000_000_000.0],
}

/// The allowed values of `key`, if it is a number.
pub fn range(key: &str) -> Option<(f64, f64)> {
    RANGES
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, lo, hi)| (lo, hi))
}

impl RawConfig {
    /// Every key at its default, from the `DEFAULT_*` constants: what `--help` and
    /// `config.example.toml` show.
    pub fn defaults() -> RawConfig {
        RawConfig {
            db: Some(DEFAULT_DB.into()),
            base_url: Some(DEFAULT_BASE_URL.into()),
            api_root: Some(DEFAULT_API_ROOT.into()),
            datasets: Some(vec![CITATIONS.name.into()]),
            from: Some(DEFAULT_FROM.into()),
            to: Some(DEFAULT_TO.into()),
            rate: Some(DEFAULT_RATE),
            concurrency: Some(DEFAULT_CONCURRENCY),
            rows: None,
            paging_cap: Some(DEFAULT_PAGING_CAP),
            quiet: Some(false),
            log_format: Some(DEFAULT_LOG_FORMAT.into()),
            recheck_recent: Some(0),
            full_refresh: Some(false),
            leaf_attempts: Some(DEFAULT_LEAF_ATTEMPTS),
            max_retries: Some(DEFAULT_MAX_RETRIES),
            retry_wait: Some(DEFAULT_RETRY_WAIT_SECS),
            rate_limit_wait: Some(DEFAULT_RATE_LIMIT_WAIT_SECS),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT_SECS),
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT_SECS),
            cache_mb: Some(DEFAULT_CACHE_MB),
            max_response_bytes: Some(DEFAULT_MAX_RESPONSE_BYTES),
            max_requests: Some(DEFAULT_MAX_REQUESTS),
        }
    }
}
