//! The raw layer: a [`RawConfig`](super::RawConfig) of `Option`s per source (the file, the
//! environment, the flags), and how each source fills one. The struct itself is written by
//! [`raw_config!`] from the key list in `keys.rs`, so that a key is declared once: its name, type,
//! flag, help and range.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Writes, from the one list of keys: [`RawConfig`](super::RawConfig) (serde reads it from the
/// file, clap from the flags), `KEYS`, `RANGES` (from each number's `[lo, hi]`), and the methods
/// that lay one layer over another, read the environment and list the numbers for the range
/// check.
macro_rules! raw_config {
    ($( $(#[$meta:meta])* $key:ident : $ty:ty $([$lo:expr, $hi:expr])? ),* $(,)?) => {
        /// One layer of configuration; `None` leaves the value to a lower layer. The one list
        /// of keys: serde reads it from the config file, clap from the flags of `harvest`,
        /// `plan` and `verify` (each key's doc comment is its `--help`, completed by
        /// [`document`](super::document) with its default and range),
        /// [`RawConfig::from_env`] from the environment.
        #[derive(Clone, Debug, Default, Deserialize, Serialize, clap::Args)]
        #[serde(deny_unknown_fields)]
        pub struct RawConfig {
            $( $(#[$meta])* pub $key: Option<$ty>, )*
        }

        /// Every key, as spelled in the config file.
        pub const KEYS: &[&str] = &[$(stringify!($key)),*];

        /// The allowed values of every number, inclusive, in the key's unit. `rows` must also
        /// not exceed `paging_cap`.
        pub const RANGES: &[(&str, f64, f64)] = &[$($( (stringify!($key), $lo, $hi), )?)*];

        impl RawConfig {
            /// Lays `upper` over `self`, recording `origin(key)` for each value it sets.
            pub(super) fn overlay(
                &mut self,
                upper: RawConfig,
                origin: &dyn Fn(&str) -> String,
                origins: &mut super::Origins,
            ) {
                $( if upper.$key.is_some() {
                    self.$key = upper.$key;
                    origins.insert(stringify!($key), origin(stringify!($key)));
                } )*
            }

            /// Reads `OAC_MIRROR_<KEY>` for every key through `env`.
            pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> $crate::error::Result<RawConfig> {
                let mut raw = RawConfig::default();
                $( {
                    let name = super::raw::env_name(stringify!($key));
                    if let Some(text) = env(&name) {
                        raw.$key = Some(super::raw::parse_env::<$ty>(&name, stringify!($key), &text)?);
                    }
                } )*
                Ok(raw)
            }

            /// The numbers this layer sets, by key in the list's order, for the range check:
            /// each as an `f64` and as a person wrote it.
            pub(super) fn numbers(&self) -> Vec<(&'static str, f64, String)> {
                let mut numbers = vec![];
                $( if let Some(v) = self.$key.as_ref() && let Some(n) = super::raw::Number::number(v) {
                    numbers.push((stringify!($key), n, super::raw::Number::shown(v)));
                } )*
                numbers
            }
        }
    };
}
pub(super) use raw_config;

/// A key's value as a number, for the range check: `None` for text, lists and switches. An
/// integer beyond 2^53 may round as an `f64`, but never into a range (each ends below 2^33).
pub(super) trait Number {
    fn number(&self) -> Option<f64>;

    /// The value as a person wrote it: 20000 as written, 1e-300 rather than its 300 zeros.
    fn shown(&self) -> String {
        match self.number() {
            Some(v) if v.fract() == 0.0 && v.abs() < 1e16 => format!("{v}"),
            Some(v) => format!("{v:?}"),
            None => String::new(),
        }
    }
}

impl Number for f64 {
    fn number(&self) -> Option<f64> {
        Some(*self)
    }
}

impl Number for u32 {
    fn number(&self) -> Option<f64> {
        Some((*self).into())
    }
}

impl Number for u64 {
    fn number(&self) -> Option<f64> {
        Some(*self as f64)
    }

    fn shown(&self) -> String {
        self.to_string()
    }
}

macro_rules! not_a_number {
    ($($ty:ty),*) => {
        $( impl Number for $ty {
            fn number(&self) -> Option<f64> {
                None
            }
        } )*
    };
}
not_a_number!(bool, String, std::path::PathBuf, Vec<String>);

/// Reads `from` and `to` from the config file as text, or as a TOML date (`from =
/// 2020-01-01`, unquoted), which is the same day.
pub(super) fn date_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
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

pub(super) fn env_name(key: &str) -> String {
    format!("OAC_MIRROR_{}", key.to_uppercase())
}

/// Parses one environment value as the key's type would be in TOML (`true`, `4`, `2.5`, text).
pub(super) fn parse_env<T: serde::de::DeserializeOwned>(
    name: &str,
    key: &str,
    text: &str,
) -> Result<T> {
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
