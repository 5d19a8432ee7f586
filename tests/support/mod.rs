//! Shared helpers for the integration tests: a replica per test on 127.0.0.1:0, a harvest of
//! it through the real library entry point, and the rows the `oa_citations` contract expects.
#![allow(dead_code)]

pub mod hostile;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oac_mirror::config::{self, Config, RawConfig};
use oac_mirror::harvest::fetch::{Fetcher, Policy};
use oac_mirror::harvest::{self, Outcome};
use oac_mirror::replica::{Replica, Settings};
use oac_mirror::store::Store;
use oac_mirror::{Result, api};
use rusqlite::types::Value as Sql;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const KEY: &str = "test-key";

/// The 16 columns of the view, in order, with the upstream field each comes from.
pub const VIEW_COLUMNS: [(&str, &str); 16] = [
    ("id", "id"),
    ("patent_application_number", "patentApplicationNumber"),
    ("reference_identifier", "referenceIdentifier"),
    ("parsed_reference_identifier", "parsedReferenceIdentifier"),
    ("action_type_category", "actionTypeCategory"),
    ("legal_section_code", "legalSectionCode"),
    ("paragraph_number", "paragraphNumber"),
    (
        "examiner_cited_reference_indicator",
        "examinerCitedReferenceIndicator",
    ),
    (
        "applicant_cited_examiner_reference_indicator",
        "applicantCitedExaminerReferenceIndicator",
    ),
    (
        "office_action_citation_reference_indicator",
        "officeActionCitationReferenceIndicator",
    ),
    ("group_art_unit_number", "groupArtUnitNumber"),
    ("tech_center", "techCenter"),
    ("work_group", "workGroup"),
    ("obsolete_document_identifier", "obsoleteDocumentIdentifier"),
    ("create_date_time", "createDateTime"),
    ("create_user_identifier", "createUserIdentifier"),
];

pub type Row = Vec<Sql>;

/// A replica that requires [`KEY`], on a free loopback port.
pub async fn replica(docs: Vec<Value>, settings: Settings) -> Replica {
    let settings = Settings {
        require_key: Some(KEY.into()),
        ..settings
    };
    Replica::start("127.0.0.1:0".parse().unwrap(), docs, settings)
        .await
        .unwrap()
}

/// A configuration for harvesting `replica` into `db` over `from..=to`, fast (no rate limit to
/// speak of), with `tweak` applied to the flags layer.
pub fn config(
    replica: &Replica,
    db: &Path,
    from: &str,
    to: &str,
    tweak: impl FnOnce(&mut RawConfig),
) -> Config {
    config_at(&replica.base_url(), db, from, to, tweak)
}

/// [`config`] for the data set at `base_url` (a [`hostile::Hostile`] server, say).
pub fn config_at(
    base_url: &str,
    db: &Path,
    from: &str,
    to: &str,
    tweak: impl FnOnce(&mut RawConfig),
) -> Config {
    let mut flags = RawConfig {
        db: Some(db.to_owned()),
        base_url: Some(base_url.to_owned()),
        from: Some(from.into()),
        to: Some(to.into()),
        rate: Some(10_000.0),
        ..Default::default()
    };
    tweak(&mut flags);
    let env = |name: &str| (name == config::API_KEY_ENV).then(|| KEY.to_owned());
    config::load(flags, None, &env).unwrap()
}

/// Runs one harvest with `config`, as the binary does.
pub async fn harvest(config: &Config) -> Result<Outcome> {
    let store = Store::open(&config.db)?;
    let shutdown = CancellationToken::new();
    let fetcher = fetcher_for(config, shutdown.clone());
    harvest::run(config, fetcher, store, shutdown).await
}

/// The fetcher a harvest with `config` sends its requests through, as the binary makes it.
pub fn fetcher_for(config: &Config, shutdown: CancellationToken) -> Fetcher {
    let client = api::Client::new(&config.base_url, &config.api_key, config.timeouts)
        .unwrap()
        .with_max_response_bytes(config.max_response_bytes);
    Fetcher::new(client, config.into(), shutdown)
}

/// A fetcher for the data set at `base_url`, with the test key, paced and retried by `policy`,
/// each request given `request_timeout` (and ten seconds to connect).
pub fn fetcher(
    base_url: &str,
    policy: Policy,
    request_timeout: Duration,
    shutdown: CancellationToken,
) -> Fetcher {
    let timeouts = api::Timeouts {
        connect: Duration::from_secs(10),
        request: request_timeout,
    };
    let key = api::ApiKey::new(Some(KEY.into()));
    Fetcher::new(
        api::Client::new(base_url, &key, timeouts).unwrap(),
        policy,
        shutdown,
    )
}

/// Every row of `oa_citations`, ordered by id.
pub fn view_rows(db: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let cols: Vec<&str> = VIEW_COLUMNS.iter().map(|c| c.0).collect();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM oa_citations ORDER BY id",
            cols.join(", ")
        ))
        .unwrap();
    stmt.query_map([], |r| (0..16).map(|i| r.get::<_, Sql>(i)).collect())
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// The rows the view contract promises for `docs` (the records with a string id), ordered by
/// id: "" / null / missing become NULL, booleans 0/1, every other string kept exactly.
pub fn expected_rows(docs: &[Value]) -> Vec<Row> {
    let mut rows: Vec<Row> = docs
        .iter()
        .filter(|d| {
            d.get("id")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        })
        .map(|d| {
            VIEW_COLUMNS
                .iter()
                .map(|(_, field)| match d.get(*field) {
                    None | Some(Value::Null) => Sql::Null,
                    Some(Value::String(s)) if s.is_empty() => Sql::Null,
                    Some(Value::String(s)) => Sql::Text(s.clone()),
                    Some(Value::Bool(b)) => Sql::Integer(*b as i64),
                    Some(other) => panic!("test data has a {other} the contract does not cover"),
                })
                .collect()
        })
        .collect();
    rows.sort_by_key(id_of);
    rows
}

/// The id column of a row, for ordering as SQLite's `ORDER BY id` does (byte order).
pub fn id_of(row: &Row) -> String {
    match &row[0] {
        Sql::Text(s) => s.clone(),
        other => panic!("id is {other:?}"),
    }
}

/// The records of the real sample responses in `tests/data` (copied verbatim from
/// `shared/api/samples`).
pub fn sample_docs() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut docs = vec![];
    for name in [
        "records_app_16123456.json",
        "records_app_14404075.json",
        "records_star_query_excerpt.json",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        docs.extend(v["response"]["docs"].as_array().unwrap().iter().cloned());
    }
    docs
}

/// A scalar query on the database.
pub fn query_i64(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// The last run's (added, updated, deleted).
pub fn last_run_changes(db: &Path) -> (i64, i64, i64) {
    run_changes(&rusqlite::Connection::open(db).unwrap())
}

/// [`last_run_changes`] through `conn` (which sees its own open transaction).
pub fn run_changes(conn: &rusqlite::Connection) -> (i64, i64, i64) {
    conn.query_row(
            "SELECT records_added, records_updated, records_deleted FROM runs ORDER BY run_id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mirror.db");
    (dir, db)
}

/// The built `oac-mirror`, as a user's shell would run it: no config file or log filter from
/// the test's environment, the test API key, nothing on standard input.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oac-mirror"));
    c.env_remove("OAC_MIRROR_CONFIG")
        .env_remove("OAC_MIRROR_LOG")
        .env("USPTO_API_KEY", KEY)
        .stdin(Stdio::null());
    c
}

/// `oac-mirror <sub> --db <db> --base-url <replica>`, for more arguments to follow.
pub fn bin_against(replica: &Replica, db: &Path, sub: &str) -> Command {
    let mut c = bin();
    c.arg(sub)
        .arg("--db")
        .arg(db)
        .args(["--base-url", &replica.base_url()]);
    c
}

/// Waits until a harvest running in another process has stored `at_least` records in `db`
/// (a minute and a half at most).
pub async fn wait_for_records(db: &Path, at_least: i64) {
    wait_for_rows(db, "citations", at_least).await;
}

/// Waits until `table` of `db` holds `at_least` rows, as another process commits them (a
/// minute and a half at most).
pub async fn wait_for_rows(db: &Path, table: &str, at_least: i64) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while committed_rows(db, table) < at_least {
        assert!(Instant::now() < deadline, "the harvest made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The rows of `table` committed to `db` so far (0 before the file or its schema exists).
pub fn committed_rows(db: &Path, table: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)))
        .unwrap_or(0)
}
