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
use serde::Deserialize;

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
/// The range `cache_mb` may take.
pub const CACHE_MB_RANGE: std::ops::RangeInclusive<u32> = 2..=65_536;
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

/// The environment variable holding the API key.
pub const API_KEY_ENV: &str = "USPTO_API_KEY";
/// The environment variable naming a config file when `--config` is not given.
pub const CONFIG_ENV: &str = "OAC_MIRROR_CONFIG";

macro_rules! raw_config {
    ($( $(#[$doc:meta])* $key:ident : $ty:ty ),* $(,)?) => {
        /// One layer of configuration; `None` leaves the value to a lower layer.
        #[derive(Clone, Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawConfig {
            $( $(#[$doc])* pub $key: Option<$ty>, )*
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
    /// SQLite database file.
    db: PathBuf,
    /// Dataset prefix; the tool calls `{base_url}/records` and `{base_url}/fields`.
    base_url: String,
    /// The family's root: each data set's prefix is `{api_root}/{its path}`
    /// (`oa_citations/v2`, `oa_rejections/v2`, `enriched_cited_reference_metadata/v3`).
    api_root: String,
    /// The data sets `harvest`, `plan` and `verify` work on: `citations`, `rejections`,
    /// `enriched`, or `all` (environment: comma-separated).
    datasets: Vec<String>,
    /// First day of the window (`YYYY-MM-DD`), from 00:00:00.
    from: String,
    /// Last day of the window (`YYYY-MM-DD` or `today`), through 23:59:59.
    to: String,
    /// Requests per second across the whole harvest.
    rate: f64,
    /// Requests in flight at once.
    concurrency: u32,
    /// Records asked for per page; unset, as many as fit in about 5.5 MB (see
    /// `harvest::pages`), up to `paging_cap`.
    rows: u64,
    /// Most records one query may page through (`start + rows`).
    paging_cap: u64,
    /// Log warnings and errors only.
    quiet: bool,
    /// How log lines are written to stderr: `text` for people, `json` (one object per line)
    /// for log collectors.
    log_format: String,
    /// Fetch the windows of the last this many days again whatever their counts say.
    recheck_recent: u32,
    /// Fetch every window again.
    full_refresh: bool,
    /// Fetches of one partition before it is marked failed for this run.
    leaf_attempts: u32,
    /// Retries of one request after a retryable failure.
    max_retries: u32,
    /// Seconds to wait after a failed request before the first retry (doubles per retry).
    retry_wait: f64,
    /// Least seconds to wait after a 429.
    rate_limit_wait: f64,
    /// Seconds to wait for a connection.
    connect_timeout: f64,
    /// Seconds to wait for a whole response.
    request_timeout: f64,
    /// SQLite page cache in MB during a harvest.
    cache_mb: u32,
    /// The largest response body read, in bytes; a larger one is treated like a 413.
    max_response_bytes: u64,
    /// The most requests one run sends.
    max_requests: u64,
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
    merged.validate(&origins, ApiKey::new(env(API_KEY_ENV)))
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
                .map_err(|_| bad(key, &text, "expected a date as YYYY-MM-DD"))
        };
        let from = date("from", self.from.as_deref().unwrap_or(DEFAULT_FROM))?;
        let to = date("to", self.to.as_deref().unwrap_or(DEFAULT_TO))?;
        if from > to {
            return Err(bad("from", &from, &format!("is after `to` ({to})")));
        }
        if from < NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid") {
            return Err(bad("from", &from, "must not be before 1970-01-01"));
        }
        let positive = |key: &str, v: f64| -> Result<f64> {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(bad(key, &v, "must be a number above 0"))
            }
        };
        let rate = positive("rate", self.rate.unwrap_or(DEFAULT_RATE))?;
        let concurrency = self.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        let concurrency = NonZeroU32::new(concurrency)
            .ok_or_else(|| bad("concurrency", &concurrency, "must be at least 1"))?;
        let paging_cap = self.paging_cap.unwrap_or(DEFAULT_PAGING_CAP);
        let paging_cap = NonZeroU64::new(paging_cap)
            .ok_or_else(|| bad("paging_cap", &paging_cap, "must be at least 1"))?;
        let rows = match self.rows {
            None => None,
            Some(rows) => {
                let rows = NonZeroU64::new(rows)
                    .ok_or_else(|| bad("rows", &rows, "must be at least 1"))?;
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
        if !CACHE_MB_RANGE.contains(&cache_mb) {
            return Err(bad(
                "cache_mb",
                &cache_mb,
                &format!(
                    "must be from {} to {}",
                    CACHE_MB_RANGE.start(),
                    CACHE_MB_RANGE.end()
                ),
            ));
        }
        let leaf_attempts = self.leaf_attempts.unwrap_or(DEFAULT_LEAF_ATTEMPTS);
        let leaf_attempts = NonZeroU32::new(leaf_attempts)
            .ok_or_else(|| bad("leaf_attempts", &leaf_attempts, "must be at least 1"))?;
        let seconds = |key: &str, v: f64| -> Result<Duration> {
            Ok(Duration::from_secs_f64(positive(key, v)?))
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
        if let Some(root) = &api_root {
            let parsed = reqwest::Url::parse(root);
            if !matches!(parsed.as_ref().map(|u| u.scheme()), Ok("http" | "https")) {
                return Err(bad("api_root", root, "expected an http:// or https:// URL"));
            }
        }
        let parsed = reqwest::Url::parse(&base_url);
        if !matches!(parsed.as_ref().map(|u| u.scheme()), Ok("http" | "https")) {
            return Err(bad(
                "base_url",
                &base_url,
                "expected an http:// or https:// URL",
            ));
        }
        if let Ok(url) = &parsed
            && url.scheme() == "http"
            && !is_loopback(url)
        {
            return Err(bad(
                "base_url",
                &base_url,
                "plain http would send the API key unencrypted; use https:// (http is allowed for 127.0.0.1, ::1 and localhost only)",
            ));
        }
        let max_response_bytes = self
            .max_response_bytes
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        if max_response_bytes < 1024 {
            return Err(bad(
                "max_response_bytes",
                &max_response_bytes,
                "must be at least 1024",
            ));
        }
        let max_requests = self.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS);
        if max_requests == 0 {
            return Err(bad("max_requests", &max_requests, "must be at least 1"));
        }
        let log_format = match self.log_format.as_deref().unwrap_or("text") {
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
            recheck_recent: self.recheck_recent.unwrap_or(0),
            full_refresh: self.full_refresh.unwrap_or(false),
            leaf_attempts,
            max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
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
        let e = load(RawConfig::default(), Some(&path), &no_env)
            .unwrap_err()
            .to_string();
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
}
