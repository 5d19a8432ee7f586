//! The configuration as a whole: its layers and their precedence, what every refusal names,
//! the commands that read only `db`, and the shipped example.

use std::path::{Path, PathBuf};

use super::*;
use crate::api::ApiKey;
use crate::error::Error;

pub(super) fn no_env(_: &str) -> Option<String> {
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
    let e = crate::error::report(&load(RawConfig::default(), Some(&path), &no_env).unwrap_err());
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
    let c = raw.validate(&Origins::new(), ApiKey::default()).unwrap();
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

/// A value from the environment names its variable, and a whole number is shown as written,
/// however large (not as the float it was range-checked as).
#[test]
fn the_environment_names_its_variable_and_numbers_are_shown_as_written() {
    let env = |name: &str| (name == "OAC_MIRROR_MAX_REQUESTS").then(|| "5000000001".to_owned());
    let e = load(RawConfig::default(), None, &env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "environment variable OAC_MIRROR_MAX_REQUESTS: `max_requests` = \"5000000001\": \
         must be from 1 to 5000000000"
    );
    let flags = RawConfig {
        max_response_bytes: Some(u64::MAX),
        ..Default::default()
    };
    let e = load(flags, None, &no_env).unwrap_err().to_string();
    assert!(
        e.contains("= \"18446744073709551615\": must be from 1024"),
        "{e}"
    );
}
