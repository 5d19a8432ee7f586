//! Configuration: raw layers in, one validated [`Config`] out, before any I/O but reading the
//! config file.
//!
//! Precedence, lowest first: built-in defaults, then the config file (`--config PATH` or
//! `OAC_MIRROR_CONFIG`), then environment variables (`OAC_MIRROR_<KEY>`, e.g.
//! `OAC_MIRROR_RATE=2`), then command-line flags. Each layer is a [`RawConfig`] of `Option`s;
//! [`load`] merges them, remembering where each value came from, and [`RawConfig::validate`]
//! turns the result into real types, naming the origin, key and value of anything it refuses.
//! The API key is read from `USPTO_API_KEY` only, never from a file or flag, so that it stays out
//! of shell history, config files and `--help`.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::api::{ApiKey, Timeouts};
use crate::dataset::{self, CITATIONS, DEFAULT_API_ROOT, Dataset};
use crate::error::{Error, Result};
use crate::plan::Window;

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

/// The allowed values of every number, inclusive, in the key's unit. `rows` must also not
/// exceed `paging_cap`.
pub const RANGES: &[(&str, f64, f64)] = &[
    ("rate", 0.001, 10_000.0),
    ("concurrency", 1.0, 100.0),
    ("rows", 1.0, 1_000_000.0),
    ("paging_cap", 1.0, 1_000_000.0),
    ("recheck_recent", 0.0, 36_500.0),
    ("leaf_attempts", 1.0, 100.0),
    ("max_retries", 0.0, 100.0),
    ("retry_wait", 0.001, 86_400.0),
    ("rate_limit_wait", 0.001, 86_400.0),
    ("connect_timeout", 0.001, 86_400.0),
    ("request_timeout", 0.001, 86_400.0),
    ("cache_mb", 2.0, 65_536.0),
    ("max_response_bytes", 1024.0, 1_073_741_824.0),
    ("max_requests", 1.0, 5_000_000_000.0),
];

/// The allowed values of `key`, if it is a number.
pub fn range(key: &str) -> Option<(f64, f64)> {
    RANGES
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, lo, hi)| (lo, hi))
}

macro_rules! raw_config {
    ($( $(#[$meta:meta])* $key:ident : $ty:ty ),* $(,)?) => {
        /// One layer of configuration; `None` leaves the value to a lower layer. The one list
        /// of keys: serde reads it from the config file, clap from the flags of `harvest`,
        /// `plan` and `verify` (each key's doc comment is its `--help`, completed by
        /// [`document`] with its default and range), [`RawConfig::from_env`] from the
        /// environment.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct RawConfig {
            $( $(#[$meta])* pub $key: Option<$ty>, )*
        }

        /// Every key, as spelled in the config file.
        pub const KEYS: &[&str] = &[$(stringify!($key)),*];

        impl RawConfig {
            /// Lays `upper` over `self`, recording `origin` for each value it sets.
            fn overlay(&mut self, upper: RawConfig, origin: &str, origins: &mut BTreeMap<&'static str, String>) {
                $( if upper.$key.is_some() {
                    self.$key = upper.$key;
                    origins.insert(stringify!($key), origin.to_owned());
                } )*
            }

            /// Reads `OAC_MIRROR_<KEY>` for every key through `env`.
            pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<RawConfig> {
                let mut raw = RawConfig::default();
                $( {
                    let name = env_name(stringify!($key));
                    if let Some(text) = env(&name) {
                        raw.$key = Some(parse_env::<$ty>(&name, stringify!($key), &text)?);
                    }
                } )*
                Ok(raw)
            }
        }
    };
}

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
    rate: f64,
    /// Requests in flight at once
    #[arg(long, value_name = "N")]
    concurrency: u32,
    /// Records per page (at most paging_cap); unset, as many as fit in about 5.5 MB
    #[arg(long, value_name = "N")]
    rows: u64,
    /// Most records one query may page through, start + rows
    #[arg(long, value_name = "N")]
    paging_cap: u64,
    /// Log warnings and errors only (and no progress bar)
    #[arg(long, num_args = 0, default_missing_value = "true")]
    quiet: bool,
    /// Log lines as `text` or `json` (one object per line, for log collectors)
    #[arg(long, value_name = "FORMAT")]
    log_format: String,
    /// Fetch the windows of the last DAYS days again whatever their counts say
    #[arg(long, value_name = "DAYS")]
    recheck_recent: u32,
    /// Fetch every window again
    #[arg(long, num_args = 0, default_missing_value = "true")]
    full_refresh: bool,
    /// Fetches of one partition per run before it is marked failed
    #[arg(long, value_name = "N")]
    leaf_attempts: u32,
    /// Retries of one request after a 429, 5xx, timeout or cut connection
    #[arg(long, value_name = "N")]
    max_retries: u32,
    /// Seconds to wait after a failed request before retrying, doubling per retry
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    retry_wait: f64,
    /// Least seconds to wait after a 429
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    rate_limit_wait: f64,
    /// Seconds to wait for a connection
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    connect_timeout: f64,
    /// Seconds to wait for a whole response
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    request_timeout: f64,
    /// SQLite page cache in MB during a harvest
    #[arg(long, value_name = "MB")]
    cache_mb: u32,
    /// Largest response body read, in bytes; a larger one is treated like a 413
    #[arg(long, value_name = "BYTES")]
    max_response_bytes: u64,
    /// Most requests one run sends
    #[arg(long, value_name = "N")]
    max_requests: u64,
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

/// The default of `key` as a person reads it (`4`, `oac-mirror.db`), if it has one.
pub fn default_text(key: &str) -> Option<String> {
    let defaults = toml::Table::try_from(RawConfig::defaults()).ok()?;
    Some(match defaults.get(key)? {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => f.to_string(),
        // A list as its flag takes it: `citations,rejections`.
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    })
}

/// Completes the `--help` of every key's flag in `command` (those it has) with its default and
/// its range, so that help shows the values this module uses rather than a copy of them. The
/// switches (`--quiet`, `--full-refresh`) are off unless given and show no default.
pub fn document(command: clap::Command) -> clap::Command {
    let present: Vec<&'static str> = KEYS
        .iter()
        .copied()
        .filter(|key| command.get_arguments().any(|a| a.get_id() == *key))
        .collect();
    present.into_iter().fold(command, |command, key| {
        command.mut_arg(key, |arg| {
            let mut help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            if arg.get_num_args() != Some(0.into())
                && let Some(default) = default_text(key)
            {
                help.push_str(&format!(" [default: {default}]"));
            }
            if let Some((lo, hi)) = range(key) {
                help.push_str(&format!(" [range: {lo} to {hi}]"));
            }
            arg.help(help)
        })
    })
}

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

/// Where a value came from, for error messages.
const DEFAULT_ORIGIN: &str = "default";

/// Builds the configuration from its layers. `flags` holds what the command line set,
/// `config_path` the `--config` flag, and `env` reads environment variables (a function, so
/// tests need not touch the process environment).
pub fn load(
    flags: RawConfig,
    config_path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config> {
    let (merged, origins) = layers(flags, config_path, env)?;
    merged.validate(&origins, ApiKey::new(env(API_KEY_ENV)))
}

/// The file, environment and flag layers merged, with where each value came from.
fn layers(
    flags: RawConfig,
    config_path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(RawConfig, BTreeMap<&'static str, String>)> {
    let mut origins = BTreeMap::new();
    let mut merged = RawConfig::default();
    let file_path = config_path
        .map(Path::to_path_buf)
        .or_else(|| env(CONFIG_ENV).map(PathBuf::from));
    if let Some(path) = &file_path {
        merged.overlay(
            read_file(path)?,
            &format!("config file {}", path.display()),
            &mut origins,
        );
    }
    merged.overlay(RawConfig::from_env(env)?, "environment", &mut origins);
    merged.overlay(flags, "command line", &mut origins);
    Ok((merged, origins))
}

/// The database `status`, `pack` and `export` read: the `db` of the same layers as [`load`]
/// (`flag` is `--db`). The file and the environment are still read whole, so an unknown key or
/// a wrong type is an error, but the values of other keys are not checked: these commands do
/// not use them.
pub fn load_db(
    flag: Option<PathBuf>,
    config_path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf> {
    let (merged, origins) = layers(
        RawConfig {
            db: flag,
            ..Default::default()
        },
        config_path,
        env,
    )?;
    let db = merged.db.unwrap_or_else(|| DEFAULT_DB.into());
    if db.as_os_str().is_empty() {
        return Err(Error::Config {
            origin: origins.get("db").cloned().unwrap_or_default(),
            key: "db".into(),
            value: String::new(),
            problem: "must name a file".into(),
        });
    }
    Ok(db)
}

/// Parses a config file; unknown keys and wrong types are errors naming the file.
pub fn read_file(path: &Path) -> Result<RawConfig> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| Error::ConfigParse {
        path: path.to_owned(),
        source,
    })
}

impl RawConfig {
    fn validate(self, origins: &BTreeMap<&'static str, String>, api_key: ApiKey) -> Result<Config> {
        let bad = |key: &str, value: &dyn std::fmt::Display, problem: &str| Error::Config {
            origin: origins
                .get(key)
                .cloned()
                .unwrap_or_else(|| DEFAULT_ORIGIN.into()),
            key: key.into(),
            value: value.to_string(),
            problem: problem.into(),
        };
        let date = |key: &str, text: &str| -> Result<NaiveDate> {
            if key == "to" && text.eq_ignore_ascii_case("today") {
                return Ok(chrono::Utc::now().date_naive());
            }
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| bad(key, &text, &not_a_date(text)))
        };
        let from = date("from", self.from.as_deref().unwrap_or(DEFAULT_FROM))?;
        let to = date("to", self.to.as_deref().unwrap_or(DEFAULT_TO))?;
        if from > to {
            return Err(bad("from", &from, &format!("is after `to` ({to})")));
        }
        if from < NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() {
            return Err(bad("from", &from, "must not be before 1970-01-01"));
        }
        // Every number within its range (see `RANGES`), as f64, which holds each exactly.
        let number = |key: &str, v: f64| -> Result<f64> {
            match out_of_range(key, v) {
                Some((shown, problem)) => Err(bad(key, &shown, &problem)),
                None => Ok(v),
            }
        };
        let whole = |key: &str, v: u64| -> Result<u64> { number(key, v as f64).map(|_| v) };
        let count32 = |key: &str, v: u32| -> Result<NonZeroU32> {
            whole(key, v.into())?;
            NonZeroU32::new(v).ok_or_else(|| bad(key, &v, "must be at least 1"))
        };
        let count64 = |key: &str, v: u64| -> Result<NonZeroU64> {
            whole(key, v)?;
            NonZeroU64::new(v).ok_or_else(|| bad(key, &v, "must be at least 1"))
        };
        let rate = number("rate", self.rate.unwrap_or(DEFAULT_RATE))?;
        let concurrency = count32(
            "concurrency",
            self.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
        )?;
        let paging_cap = count64("paging_cap", self.paging_cap.unwrap_or(DEFAULT_PAGING_CAP))?;
        let rows = match self.rows {
            None => None,
            Some(rows) => {
                let rows = count64("rows", rows)?;
                if rows > paging_cap {
                    return Err(bad(
                        "rows",
                        &rows,
                        &format!("must not exceed `paging_cap` ({paging_cap})"),
                    ));
                }
                Some(rows)
            }
        };
        let cache_mb = self.cache_mb.unwrap_or(DEFAULT_CACHE_MB);
        whole("cache_mb", cache_mb.into())?;
        let max_response_bytes = self
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        whole("max_response_bytes", max_response_bytes)?;
        let max_requests = self.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS);
        whole("max_requests", max_requests)?;
        let leaf_attempts = count32(
            "leaf_attempts",
            self.leaf_attempts.unwrap_or(DEFAULT_LEAF_ATTEMPTS),
        )?;
        let max_retries = self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
        whole("max_retries", max_retries.into())?;
        let recheck_recent = self.recheck_recent.unwrap_or(0);
        whole("recheck_recent", recheck_recent.into())?;
        let seconds = |key: &str, v: f64| -> Result<Duration> {
            Ok(Duration::from_secs_f64(number(key, v)?))
        };
        let mut datasets = vec![];
        for name in self.datasets.unwrap_or_else(|| vec![CITATIONS.name.into()]) {
            let named: Vec<&'static Dataset> = match name.trim() {
                "all" => dataset::ALL.to_vec(),
                one => match Dataset::named(one) {
                    Some(d) => vec![d],
                    None => {
                        return Err(bad(
                            "datasets",
                            &name,
                            "expected citations, rejections, enriched or all",
                        ));
                    }
                },
            };
            datasets.extend(named);
        }
        if datasets.is_empty() {
            return Err(bad("datasets", &"[]", "must name at least one data set"));
        }
        let datasets: Vec<&'static Dataset> = dataset::ALL
            .into_iter()
            .filter(|d| datasets.iter().any(|w| std::ptr::eq(*w, *d)))
            .collect();
        let api_root = self.api_root.map(|r| r.trim_end_matches('/').to_owned());
        let beside = |url: &str| {
            url.trim_end_matches('/')
                .strip_suffix(&format!("/{}", CITATIONS.path))
                .map(str::to_owned)
        };
        let (base_url, api_root) = match (self.base_url, api_root) {
            (None, None) => (
                DEFAULT_BASE_URL.to_owned(),
                Some(DEFAULT_API_ROOT.to_owned()),
            ),
            (None, Some(root)) => (CITATIONS.prefix(&root), Some(root)),
            (Some(base), None) => {
                let root = beside(&base);
                (base, root)
            }
            (Some(base), Some(root)) => {
                if beside(&base).as_deref() != Some(root.as_str()) {
                    return Err(bad(
                        "base_url",
                        &base,
                        &format!(
                            "disagrees with `api_root` ({root}): the citations' prefix under it is {}",
                            CITATIONS.prefix(&root)
                        ),
                    ));
                }
                (base, Some(root))
            }
        };
        if api_root.is_none()
            && let Some(sibling) = datasets.iter().find(|d| !d.is_citations())
        {
            return Err(bad(
                "base_url",
                &base_url,
                &format!(
                    "does not end in /{}, so the {} data set's prefix is unknown: give `api_root` (--api-root) too",
                    CITATIONS.path, sibling.name
                ),
            ));
        }
        // The root first: a base URL taken from it is refused under the root's name.
        let url = |key: &str, text: &str| -> Result<()> {
            let parsed = reqwest::Url::parse(text);
            if !matches!(parsed.as_ref().map(|u| u.scheme()), Ok("http" | "https")) {
                return Err(bad(key, &text, "expected an http:// or https:// URL"));
            }
            if let Ok(url) = &parsed
                && url.scheme() == "http"
                && !is_loopback(url)
            {
                return Err(bad(
                    key,
                    &text,
                    "plain http would send the API key unencrypted; use https:// (http is allowed for 127.0.0.1, ::1 and localhost only)",
                ));
            }
            Ok(())
        };
        if let Some(root) = &api_root {
            url("api_root", root)?;
        }
        url("base_url", &base_url)?;
        let log_format = match self.log_format.as_deref().unwrap_or(DEFAULT_LOG_FORMAT) {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(bad("log_format", &other, "expected `text` or `json`")),
        };
        let db = self.db.unwrap_or_else(|| DEFAULT_DB.into());
        if db.as_os_str().is_empty() {
            return Err(bad("db", &"", "must name a file"));
        }
        Ok(Config {
            db,
            base_url: base_url.trim_end_matches('/').to_owned(),
            from,
            to,
            rate,
            concurrency,
            rows,
            paging_cap,
            quiet: self.quiet.unwrap_or(false),
            log_format,
            recheck_recent,
            full_refresh: self.full_refresh.unwrap_or(false),
            leaf_attempts,
            max_retries,
            retry_wait: seconds(
                "retry_wait",
                self.retry_wait.unwrap_or(DEFAULT_RETRY_WAIT_SECS),
            )?,
            rate_limit_wait: seconds(
                "rate_limit_wait",
                self.rate_limit_wait.unwrap_or(DEFAULT_RATE_LIMIT_WAIT_SECS),
            )?,
            timeouts: Timeouts {
                connect: seconds(
                    "connect_timeout",
                    self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS),
                )?,
                request: seconds(
                    "request_timeout",
                    self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS),
                )?,
            },
            max_response_bytes,
            max_requests,
            api_key,
            cache_mb,
            api_root,
            datasets,
        })
    }
}

/// Why `text` is not a date: a day that does not exist (`2025-02-30`), or not the shape of one.
fn not_a_date(text: &str) -> String {
    let shaped = text.len() == 10
        && text.chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        });
    if shaped {
        format!("{text} is not a date")
    } else {
        "expected a date as YYYY-MM-DD".into()
    }
}

/// For a number outside the range of `key` (see [`RANGES`]): the value as shown in the message
/// (20000 as written, 1e-300 rather than its 300 zeros) and what is wrong with it.
fn out_of_range(key: &str, v: f64) -> Option<(String, String)> {
    let (lo, hi) = range(key)?;
    if (lo..=hi).contains(&v) {
        return None;
    }
    let shown = if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v}")
    } else {
        format!("{v:?}")
    };
    Some((shown, format!("must be from {lo} to {hi}")))
}

/// Reads `from` and `to` from the config file as text, or as a TOML date (`from =
/// 2020-01-01`, unquoted), which is the same day.
fn date_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match toml::Value::deserialize(d)? {
        toml::Value::String(text) => Ok(Some(text)),
        toml::Value::Datetime(t) if t.time.is_none() && t.offset.is_none() => {
            Ok(Some(t.to_string()))
        }
        other => Err(serde::de::Error::custom(format!(
            "expected a date, not {other}; write it as a string: \"2020-01-01\""
        ))),
    }
}

/// True when `url`'s host is this machine: 127.0.0.0/8, ::1 or `localhost`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn env_name(key: &str) -> String {
    format!("OAC_MIRROR_{}", key.to_uppercase())
}

/// Parses one environment value as the key's type would be in TOML (`true`, `4`, `2.5`, text).
fn parse_env<T: serde::de::DeserializeOwned>(name: &str, key: &str, text: &str) -> Result<T> {
    let as_string = toml::Value::String(text.to_owned());
    let candidates = [
        text.parse::<i64>().ok().map(toml::Value::Integer),
        text.parse::<f64>().ok().map(toml::Value::Float),
        text.parse::<bool>().ok().map(toml::Value::Boolean),
        Some(as_string),
    ];
    // A list is written comma-separated (OAC_MIRROR_DATASETS=citations,rejections).
    let list = toml::Value::Array(
        text.split(',')
            .map(|item| toml::Value::String(item.trim().to_owned()))
            .collect(),
    );
    for value in candidates.into_iter().flatten().chain([list]) {
        if let Ok(v) = T::deserialize(value.clone()) {
            return Ok(v);
        }
        // An integer also reads as a float where the key wants one.
        if let toml::Value::Integer(i) = value
            && let Ok(v) = T::deserialize(toml::Value::Float(i as f64))
        {
            return Ok(v);
        }
    }
    Err(Error::Config {
        origin: format!("environment variable {name}"),
        key: key.into(),
        value: text.into(),
        problem: "is not a valid value for this key".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_apply_without_any_layer() {
        let c = load(RawConfig::default(), None, &no_env).unwrap();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.window().lo.to_string(), "2017-10-01T00:00:00");
        assert_eq!(c.window().hi.to_string(), "2025-12-31T23:59:59");
        assert_eq!(c.rows, None, "unset: the largest page the service allows");
        assert_eq!(c.cache_mb, DEFAULT_CACHE_MB);
        assert!(!c.api_key.is_set());
    }

    #[test]
    fn flags_beat_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "rate = 1.5\nrows = 10\nconcurrency = 3\nto = \"2020-01-01\"\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "OAC_MIRROR_ROWS" => Some("20".to_owned()),
            "OAC_MIRROR_RATE" => Some("2".to_owned()),
            "USPTO_API_KEY" => Some("k".to_owned()),
            _ => None,
        };
        let flags = RawConfig {
            rows: Some(30),
            ..Default::default()
        };
        let c = load(flags, Some(&path), &env).unwrap();
        assert_eq!(c.rows.map(|r| r.get()), Some(30));
        assert_eq!(c.rate, 2.0);
        assert_eq!(c.concurrency.get(), 3);
        assert_eq!(c.to.to_string(), "2020-01-01");
        assert!(c.api_key.is_set());
    }

    #[test]
    fn the_family_takes_its_prefixes_beside_the_citations_or_under_api_root() {
        let env =
            |name: &str| (name == "OAC_MIRROR_DATASETS").then(|| "citations, enriched".to_owned());
        let c = load(RawConfig::default(), None, &env).unwrap();
        let names: Vec<&str> = c.datasets.iter().map(|d| d.name).collect();
        assert_eq!(names, ["citations", "enriched"]);
        assert_eq!(
            c.prefix(&dataset::ENRICHED),
            format!("{DEFAULT_API_ROOT}/enriched_cited_reference_metadata/v3")
        );
        let local = "http://127.0.0.1:8787/api/v1/patent/oa";
        let flags = |base: Option<&str>, root: Option<&str>| RawConfig {
            base_url: base.map(str::to_owned),
            api_root: root.map(str::to_owned),
            datasets: Some(vec!["all".into()]),
            ..Default::default()
        };
        let c = load(
            flags(Some(&format!("{local}/oa_citations/v2")), None),
            None,
            &no_env,
        )
        .unwrap();
        assert_eq!(c.datasets.len(), 3);
        assert_eq!(
            c.prefix(&dataset::REJECTIONS),
            format!("{local}/oa_rejections/v2")
        );
        let c = load(flags(None, Some(local)), None, &no_env).unwrap();
        assert_eq!(c.base_url, format!("{local}/oa_citations/v2"));
        // A sibling with no root to find it under, or a base URL and root that disagree.
        for (base, root) in [
            (Some("http://127.0.0.1:1/citations"), None),
            (Some("http://127.0.0.1:1/citations"), Some(local)),
            (Some("http://127.0.0.1:1/x/oa_citations/v2"), Some(local)),
        ] {
            let e = load(flags(base, root), None, &no_env).unwrap_err();
            assert!(
                matches!(e, Error::Config { ref key, .. } if key == "base_url"),
                "{e}"
            );
        }
        // The citations alone need no root.
        let mut alone = flags(Some("http://127.0.0.1:1/citations"), None);
        alone.datasets = None;
        assert!(load(alone, None, &no_env).is_ok());
        let mut bad = flags(None, None);
        bad.datasets = Some(vec!["actions".into()]);
        assert!(load(bad, None, &no_env).is_err());
    }

    /// `--dataset` is repeatable and takes a comma-separated list, as the environment does;
    /// `--api-root` is checked like `--base-url`, under its own name.
    #[test]
    fn the_family_flags_parse_and_validate() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            raw: RawConfig,
        }
        let mut command = document(<Cli as clap::CommandFactory>::command());
        let help = command.render_help().to_string();
        assert!(help.contains("--dataset <NAME>"), "{help}");
        assert!(help.contains("[default: citations]"), "{help}");
        assert!(
            help.contains(&format!("[default: {DEFAULT_API_ROOT}]")),
            "{help}"
        );
        let m = command
            .try_get_matches_from([
                "x",
                "--dataset",
                "enriched",
                "--dataset",
                "citations,rejections",
            ])
            .unwrap();
        let raw = <RawConfig as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        let c = load(raw, None, &no_env).unwrap();
        let names: Vec<&str> = c.datasets.iter().map(|d| d.name).collect();
        assert_eq!(names, ["citations", "rejections", "enriched"]);
        for (root, problem) in [
            ("ftp://example.com/oa", "http:// or https://"),
            ("http://example.com/oa", "plain http"),
        ] {
            let flags = RawConfig {
                api_root: Some(root.into()),
                datasets: Some(vec!["all".into()]),
                ..Default::default()
            };
            let e = load(flags, None, &no_env).unwrap_err();
            assert!(e.is_usage(), "{e}");
            let e = e.to_string();
            assert!(
                e.contains("command line") && e.contains("`api_root`") && e.contains(problem),
                "{e}"
            );
        }
        let env =
            |name: &str| (name == "OAC_MIRROR_DATASETS").then(|| "citations,bogus".to_owned());
        let e = load(RawConfig::default(), None, &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("environment") && e.contains("`datasets`") && e.contains("bogus"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_origin_key_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "rate = -1.0\n").unwrap();
        let e = load(RawConfig::default(), Some(&path), &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("c.toml") && e.contains("`rate`") && e.contains("-1"),
            "{e}"
        );

        std::fs::write(&path, "rat = 1.0\n").unwrap();
        let e =
            crate::error::report(&load(RawConfig::default(), Some(&path), &no_env).unwrap_err());
        assert!(e.contains("c.toml") && e.contains("rat"), "{e}");

        let env = |name: &str| (name == "OAC_MIRROR_CONCURRENCY").then(|| "many".to_owned());
        let e = load(RawConfig::default(), None, &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("OAC_MIRROR_CONCURRENCY") && e.contains("many"),
            "{e}"
        );

        let flags = RawConfig {
            from: Some("2025-13-01".into()),
            ..Default::default()
        };
        let e = load(flags, None, &no_env).unwrap_err().to_string();
        assert!(
            e.contains("command line") && e.contains("`from`") && e.contains("2025-13-01"),
            "{e}"
        );

        let flags = RawConfig {
            from: Some("2025-01-02".into()),
            to: Some("2025-01-01".into()),
            ..Default::default()
        };
        assert!(
            load(flags, None, &no_env)
                .unwrap_err()
                .to_string()
                .contains("after `to`")
        );

        let flags = RawConfig {
            rows: Some(20_000),
            ..Default::default()
        };
        assert!(
            load(flags, None, &no_env)
                .unwrap_err()
                .to_string()
                .contains("paging_cap")
        );

        let flags = RawConfig {
            base_url: Some("api.uspto.gov".into()),
            ..Default::default()
        };
        assert!(
            load(flags, None, &no_env)
                .unwrap_err()
                .to_string()
                .contains("`base_url`")
        );
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        for url in [
            "http://127.0.0.1:8787/ds",
            "http://127.9.9.9/ds",
            "http://[::1]:80/ds",
            "http://LOCALHOST/ds",
            "https://example.com/ds",
        ] {
            let flags = RawConfig {
                base_url: Some(url.into()),
                ..Default::default()
            };
            assert!(load(flags, None, &no_env).is_ok(), "{url}");
        }
        for url in [
            "http://example.com/ds",
            "http://10.0.0.1/ds",
            "http://localhost.example.com/ds",
        ] {
            let flags = RawConfig {
                base_url: Some(url.into()),
                ..Default::default()
            };
            let e = load(flags, None, &no_env).unwrap_err().to_string();
            assert!(e.contains("plain http"), "{url}: {e}");
        }
    }

    #[test]
    fn today_is_accepted_for_to() {
        let flags = RawConfig {
            to: Some("today".into()),
            ..Default::default()
        };
        assert_eq!(
            load(flags, None, &no_env).unwrap().to,
            chrono::Utc::now().date_naive()
        );
    }

    /// The shipped example must parse and must document every key with its default.
    #[test]
    fn config_example_parses_and_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = "))
                    .filter(|l| {
                        !UNSET_BY_DEFAULT
                            .iter()
                            .any(|k| l.starts_with(&format!("{k} = ")))
                    })
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let raw: RawConfig = toml::from_str(&uncommented).unwrap();
        let c = raw.validate(&BTreeMap::new(), ApiKey::default()).unwrap();
        let defaults = load(RawConfig::default(), None, &no_env).unwrap();
        assert_eq!(
            format!("{c:?}"),
            format!("{defaults:?}"),
            "example values must be the defaults"
        );
        for key in KEYS {
            assert!(
                uncommented
                    .lines()
                    .any(|l| l.starts_with(&format!("{key} = "))
                        || l.starts_with(&format!("# {key} = "))),
                "{key} missing"
            );
        }
    }

    fn flag(key: &str, value: f64) -> RawConfig {
        let text = format!("{key} = {value:?}\n");
        let int = format!("{key} = {}\n", value as i64);
        toml::from_str(&text)
            .or_else(|_| toml::from_str(&int))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Every number has a range; its bounds pass, a step outside them is refused naming the
    /// key and the range, and nothing panics on the extremes.
    #[test]
    fn every_number_is_range_checked() {
        let defaults = toml::Table::try_from(RawConfig::defaults()).unwrap();
        for (key, value) in &defaults {
            let numeric = matches!(value, toml::Value::Integer(_) | toml::Value::Float(_));
            assert_eq!(numeric, range(key).is_some(), "{key}");
        }
        assert_eq!(range("rate"), Some((0.001, 10_000.0)));
        for key in [
            "retry_wait",
            "rate_limit_wait",
            "connect_timeout",
            "request_timeout",
        ] {
            assert_eq!(range(key), Some((0.001, 86_400.0)), "{key}");
        }
        for &(key, lo, hi) in RANGES {
            // A key unset by default (rows) is a whole number.
            assert!(
                defaults.contains_key(key) || UNSET_BY_DEFAULT.contains(&key),
                "{key} has a range but no default"
            );
            let whole = defaults
                .get(key)
                .is_none_or(|v| matches!(v, toml::Value::Integer(_)));
            let step = if whole { 1.0 } else { lo / 2.0 };
            // rows must also fit under paging_cap: each is moved out of the other's way.
            let with = |v: f64| {
                let mut raw = flag(key, v);
                match key {
                    "rows" => raw.paging_cap = Some(1_000_000),
                    "paging_cap" => raw.rows = Some(1),
                    _ => {}
                }
                raw.validate(&BTreeMap::new(), ApiKey::default())
            };
            assert!(with(lo).is_ok(), "{key} = {lo}");
            assert!(with(hi).is_ok(), "{key} = {hi}");
            for v in [lo - step, hi + step] {
                if v < 0.0 && whole {
                    continue; // unsigned: the type refuses it
                }
                let e = with(v).unwrap_err().to_string();
                assert!(
                    e.contains(&format!("`{key}`")) && e.contains(&format!("from {lo} to {hi}")),
                    "{key} = {v}: {e}"
                );
            }
        }
        for v in [1e10, 1e-300, 1e30, f64::INFINITY, f64::NAN, -0.0] {
            for key in ["rate", "retry_wait", "request_timeout"] {
                let raw = RawConfig {
                    rate: (key == "rate").then_some(v),
                    retry_wait: (key == "retry_wait").then_some(v),
                    request_timeout: (key == "request_timeout").then_some(v),
                    ..Default::default()
                };
                assert!(raw.validate(&BTreeMap::new(), ApiKey::default()).is_err());
            }
        }
    }

    #[test]
    fn a_date_that_does_not_exist_is_named() {
        let flags = RawConfig {
            from: Some("2025-02-30".into()),
            ..Default::default()
        };
        let e = load(flags, None, &no_env).unwrap_err().to_string();
        assert!(e.contains("2025-02-30 is not a date"), "{e}");
    }

    #[test]
    fn the_file_may_write_dates_unquoted() {
        let raw: RawConfig = toml::from_str("from = 2020-01-01\nto = \"2020-02-01\"").unwrap();
        let c = raw.validate(&BTreeMap::new(), ApiKey::default()).unwrap();
        assert_eq!(c.from.to_string(), "2020-01-01");
        assert_eq!(c.to.to_string(), "2020-02-01");
        let e = toml::from_str::<RawConfig>("from = 2020-01-01T10:00:00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("write it as a string"), "{e}");
    }

    /// `status`, `pack` and `export` read `db` only: other values are not checked, but the
    /// file must still be one this tool understands.
    #[test]
    fn the_db_alone_is_read_for_the_commands_that_only_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "rows = 20000\ndb = \"m.db\"\n").unwrap();
        assert_eq!(
            load_db(None, Some(&path), &no_env).unwrap(),
            PathBuf::from("m.db")
        );
        assert_eq!(
            load_db(Some("n.db".into()), Some(&path), &no_env).unwrap(),
            PathBuf::from("n.db")
        );
        assert!(load(RawConfig::default(), Some(&path), &no_env).is_err());
        std::fs::write(&path, "rowz = 1\n").unwrap();
        assert!(matches!(
            load_db(None, Some(&path), &no_env),
            Err(Error::ConfigParse { .. })
        ));
        std::fs::write(&path, "rows = \"many\"\n").unwrap();
        assert!(load_db(None, Some(&path), &no_env).is_err());
        assert_eq!(
            load_db(None, None, &no_env).unwrap(),
            PathBuf::from(DEFAULT_DB)
        );
    }

    /// `--help` shows the defaults and ranges of this module, not a copy of them.
    #[test]
    fn help_is_built_from_the_defaults() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            raw: RawConfig,
        }
        let mut command = document(<Cli as clap::CommandFactory>::command());
        let help = command.render_help().to_string();
        assert!(
            help.contains("[default: 128] [range: 2 to 65536]"),
            "{help}"
        );
        let rows = command
            .get_arguments()
            .find(|a| a.get_id() == "rows")
            .and_then(|a| a.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            !rows.contains("[default:") && rows.contains("[range: 1 to 1000000]"),
            "{rows}"
        );
        assert!(
            help.contains("[default: 4] [range: 0.001 to 10000]"),
            "{help}"
        );
        assert!(
            help.contains("[default: 0.5] [range: 0.001 to 86400]"),
            "{help}"
        );
        let m = command
            .try_get_matches_from(["x", "--quiet", "--rate", "2"])
            .unwrap();
        let raw = <RawConfig as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        assert_eq!(raw.quiet, Some(true));
        assert_eq!(raw.full_refresh, None);
        assert_eq!(raw.rate, Some(2.0));
    }
}
