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
/// Records per page: about 560 KB of JSON, well under the 6 MB response limit.
pub const DEFAULT_ROWS: u64 = 1000;
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
    /// First day of the window (`YYYY-MM-DD`), from 00:00:00.
    from: String,
    /// Last day of the window (`YYYY-MM-DD` or `today`), through 23:59:59.
    to: String,
    /// Requests per second across the whole harvest.
    rate: f64,
    /// Requests in flight at once.
    concurrency: u32,
    /// Records asked for per page.
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
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rate: f64,
    pub concurrency: NonZeroU32,
    pub rows: NonZeroU64,
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
    pub api_key: ApiKey,
}

impl Config {
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
        let rows = self.rows.unwrap_or(DEFAULT_ROWS);
        let rows = NonZeroU64::new(rows).ok_or_else(|| bad("rows", &rows, "must be at least 1"))?;
        if rows > paging_cap {
            return Err(bad(
                "rows",
                &rows,
                &format!("must not exceed `paging_cap` ({paging_cap})"),
            ));
        }
        let leaf_attempts = self.leaf_attempts.unwrap_or(DEFAULT_LEAF_ATTEMPTS);
        let leaf_attempts = NonZeroU32::new(leaf_attempts)
            .ok_or_else(|| bad("leaf_attempts", &leaf_attempts, "must be at least 1"))?;
        let seconds = |key: &str, v: f64| -> Result<Duration> {
            Ok(Duration::from_secs_f64(positive(key, v)?))
        };
        let base_url = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let parsed = reqwest::Url::parse(&base_url);
        if !matches!(parsed.as_ref().map(|u| u.scheme()), Ok("http" | "https")) {
            return Err(bad(
                "base_url",
                &base_url,
                "expected an http:// or https:// URL",
            ));
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
            api_key,
        })
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
    for value in candidates.into_iter().flatten() {
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
        assert_eq!(c.rows.get(), DEFAULT_ROWS);
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
        assert_eq!(c.rows.get(), 30);
        assert_eq!(c.rate, 2.0);
        assert_eq!(c.concurrency.get(), 3);
        assert_eq!(c.to.to_string(), "2020-01-01");
        assert!(c.api_key.is_set());
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
                    .any(|l| l.starts_with(&format!("{key} = "))),
                "{key} missing"
            );
        }
    }
}
