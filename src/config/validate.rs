//! Validation: the merged raw layers in, a [`Config`] out, or the first value refused, named by
//! where it came from, its key and its value. The window first, then every number against its
//! range in the key list's order, then the data sets and where to find them.

use std::fmt::Display;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;

use super::keys::*;
use super::{Config, LogFormat, Origins};
use crate::api::{ApiKey, Timeouts};
use crate::error::{Error, Result};

/// Where a value came from when no layer set it, for error messages.
const DEFAULT_ORIGIN: &str = "default";

impl RawConfig {
    pub(super) fn validate(self, origins: &Origins, api_key: ApiKey) -> Result<Config> {
        let check = Check(origins);
        let from = check.date("from", self.from.as_deref().unwrap_or(DEFAULT_FROM))?;
        let to = check.date("to", self.to.as_deref().unwrap_or(DEFAULT_TO))?;
        check.window(from, to)?;
        check.ranges(&self)?;
        let paging_cap =
            check.count64("paging_cap", self.paging_cap.unwrap_or(DEFAULT_PAGING_CAP))?;
        let rows = match self.rows {
            Some(rows) => Some(check.rows(rows, paging_cap)?),
            None => None,
        };
        let datasets = check.datasets(self.datasets)?;
        let (base_url, api_root) = check.source(self.base_url, self.api_root, &datasets)?;
        Ok(Config {
            log_format: check.log_format(self.log_format.as_deref())?,
            db: check.db(self.db.unwrap_or_else(|| DEFAULT_DB.into()))?,
            base_url,
            api_root,
            datasets,
            from,
            to,
            rate: self.rate.unwrap_or(DEFAULT_RATE),
            concurrency: check.count32(
                "concurrency",
                self.concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            )?,
            rows,
            paging_cap,
            quiet: self.quiet.unwrap_or(false),
            recheck_recent: self.recheck_recent.unwrap_or(0),
            full_refresh: self.full_refresh.unwrap_or(false),
            leaf_attempts: check.count32(
                "leaf_attempts",
                self.leaf_attempts.unwrap_or(DEFAULT_LEAF_ATTEMPTS),
            )?,
            max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            retry_wait: check.seconds(
                "retry_wait",
                self.retry_wait.unwrap_or(DEFAULT_RETRY_WAIT_SECS),
            )?,
            rate_limit_wait: check.seconds(
                "rate_limit_wait",
                self.rate_limit_wait.unwrap_or(DEFAULT_RATE_LIMIT_WAIT_SECS),
            )?,
            timeouts: Timeouts {
                connect: check.seconds(
                    "connect_timeout",
                    self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS),
                )?,
                request: check.seconds(
                    "request_timeout",
                    self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS),
                )?,
            },
            max_response_bytes: self
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            max_requests: self.max_requests.unwrap_or(DEFAULT_MAX_REQUESTS),
            api_key,
            cache_mb: self.cache_mb.unwrap_or(DEFAULT_CACHE_MB),
        })
    }
}

/// The checks of single values and groups of them, each refusal naming its origin.
pub(super) struct Check<'a>(pub(super) &'a Origins);

impl Check<'_> {
    /// The error for `key` = `value`, said to be wrong because of `problem`.
    pub(super) fn bad(&self, key: &str, value: &dyn Display, problem: &str) -> Error {
        Error::Config {
            origin: self
                .0
                .get(key)
                .cloned()
                .unwrap_or_else(|| DEFAULT_ORIGIN.into()),
            key: key.into(),
            value: value.to_string(),
            problem: problem.into(),
        }
    }

    /// A day as `YYYY-MM-DD`; `to` also takes `today`.
    fn date(&self, key: &str, text: &str) -> Result<NaiveDate> {
        if key == "to" && text.eq_ignore_ascii_case("today") {
            return Ok(chrono::Utc::now().date_naive());
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| self.bad(key, &text, &not_a_date(text)))
    }

    /// `from` no later than `to`, and not before 1970.
    fn window(&self, from: NaiveDate, to: NaiveDate) -> Result<()> {
        if from > to {
            return Err(self.bad("from", &from, &format!("is after `to` ({to})")));
        }
        if from < NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() {
            return Err(self.bad("from", &from, "must not be before 1970-01-01"));
        }
        Ok(())
    }

    /// Every number `raw` sets within its key's range (see [`RANGES`]); a default always is.
    fn ranges(&self, raw: &RawConfig) -> Result<()> {
        for (key, v, shown) in raw.numbers() {
            if let Some(problem) = out_of_range(key, v) {
                return Err(self.bad(key, &shown, &problem));
            }
        }
        Ok(())
    }

    fn count32(&self, key: &str, v: u32) -> Result<NonZeroU32> {
        NonZeroU32::new(v).ok_or_else(|| self.bad(key, &v, "must be at least 1"))
    }

    fn count64(&self, key: &str, v: u64) -> Result<NonZeroU64> {
        NonZeroU64::new(v).ok_or_else(|| self.bad(key, &v, "must be at least 1"))
    }

    /// A page size no larger than what one query may page through.
    fn rows(&self, rows: u64, paging_cap: NonZeroU64) -> Result<NonZeroU64> {
        let rows = self.count64("rows", rows)?;
        if rows > paging_cap {
            return Err(self.bad(
                "rows",
                &rows,
                &format!("must not exceed `paging_cap` ({paging_cap})"),
            ));
        }
        Ok(rows)
    }

    /// A wait or timeout in seconds, already within its range.
    fn seconds(&self, key: &str, v: f64) -> Result<Duration> {
        Duration::try_from_secs_f64(v).map_err(|_| self.bad(key, &v, "is not a number of seconds"))
    }

    fn log_format(&self, text: Option<&str>) -> Result<LogFormat> {
        match text.unwrap_or(DEFAULT_LOG_FORMAT) {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(self.bad("log_format", &other, "expected `text` or `json`")),
        }
    }

    pub(super) fn db(&self, db: PathBuf) -> Result<PathBuf> {
        if db.as_os_str().is_empty() {
            return Err(self.bad("db", &"", "must name a file"));
        }
        Ok(db)
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

/// What is wrong with `v` if it lies outside the range of `key` (see [`RANGES`]).
fn out_of_range(key: &str, v: f64) -> Option<String> {
    let (lo, hi) = range(key)?;
    (!(lo..=hi).contains(&v)).then(|| format!("must be from {lo} to {hi}"))
}

#[cfg(test)]
mod tests {
    use super::super::load;
    use super::super::tests::no_env;
    use super::*;

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
            // Only the values a layer sets are range-checked: every default must be in range.
            if let Some(d) = defaults.get(key) {
                let v = d.as_float().or(d.as_integer().map(|i| i as f64));
                assert!(v.is_some_and(|v| (lo..=hi).contains(&v)), "{key} = {d}");
            }
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
                raw.validate(&Origins::new(), ApiKey::default())
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
                assert!(raw.validate(&Origins::new(), ApiKey::default()).is_err());
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
        let c = raw.validate(&Origins::new(), ApiKey::default()).unwrap();
        assert_eq!(c.from.to_string(), "2020-01-01");
        assert_eq!(c.to.to_string(), "2020-02-01");
        let e = toml::from_str::<RawConfig>("from = 2020-01-01T10:00:00")
            .unwrap_err()
            .to_string();
        assert!(e.contains("write it as a string"), "{e}");
    }
}
