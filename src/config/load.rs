//! Loading: the file, environment and flag layers read and merged in order of precedence,
//! remembering where each value came from, then validated; or, for the commands that only read
//! a mirror, just the `db` they use.

use std::path::{Path, PathBuf};

use super::keys::{API_KEY_ENV, CONFIG_ENV, DEFAULT_DB, RawConfig};
use super::raw::env_name;
use super::validate::Check;
use super::{Config, Origins};
use crate::api::ApiKey;
use crate::error::{Error, Result};

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
) -> Result<(RawConfig, Origins)> {
    let mut origins = Origins::new();
    let mut merged = RawConfig::default();
    let file_path = config_path
        .map(Path::to_path_buf)
        .or_else(|| env(CONFIG_ENV).map(PathBuf::from));
    if let Some(path) = &file_path {
        let origin = format!("config file {}", path.display());
        merged.overlay(read_file(path)?, &|_| origin.clone(), &mut origins);
    }
    let variable = |key: &str| format!("environment variable {}", env_name(key));
    merged.overlay(RawConfig::from_env(env)?, &variable, &mut origins);
    merged.overlay(flags, &|_| "command line".into(), &mut origins);
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
    let flags = RawConfig {
        db: flag,
        ..Default::default()
    };
    let (merged, origins) = layers(flags, config_path, env)?;
    Check(&origins).db(merged.db.unwrap_or_else(|| DEFAULT_DB.into()))
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
