//! Bad inputs a newcomer meets, each through the built binary: every one ends with exit 2 (or
//! works) and one line that names what is wrong; none panics, and a file that is not an
//! oac-mirror database is left exactly as it was.

use std::path::Path;
use std::process::Output;

use oac_mirror::replica::Settings;

use crate::support::*;

/// Nothing listens here: a command that got as far as a request would exit 1, not 2.
const NOWHERE: &str = "http://127.0.0.1:9";

/// `oac-mirror <sub>`, pointed at [`NOWHERE`] when the command talks to upstream.
fn command(sub: &str) -> std::process::Command {
    let mut cmd = bin();
    cmd.arg(sub);
    if sub != "status" {
        cmd.args(["--base-url", NOWHERE]);
    }
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2 with one line on stderr that contains every one of `says`.
fn refused(out: &Output, says: &[&str]) {
    let text = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    for s in says {
        assert!(text.contains(s), "{s:?} not in {text}");
    }
}

#[test]
fn numbers_out_of_range_exit_2_naming_the_key_and_its_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    for (flag, value, key, range) in [
        ("--rate", "1e10", "`rate`", "from 0.001 to 10000"),
        ("--rate", "1e-300", "`rate`", "from 0.001 to 10000"),
        (
            "--request-timeout",
            "1e30",
            "`request_timeout`",
            "from 0.001 to 86400",
        ),
        (
            "--retry-wait",
            "1e20",
            "`retry_wait`",
            "from 0.001 to 86400",
        ),
        (
            "--connect-timeout",
            "86400.5",
            "`connect_timeout`",
            "from 0.001 to 86400",
        ),
        (
            "--rate-limit-wait",
            "0.0001",
            "`rate_limit_wait`",
            "from 0.001 to 86400",
        ),
    ] {
        for sub in ["plan", "harvest"] {
            let out = bin()
                .args([sub, "--base-url", NOWHERE, flag, value, "--db"])
                .arg(&db)
                .output()
                .unwrap();
            refused(&out, &[key, range]);
        }
    }
    assert!(!db.exists(), "nothing was created");
}

/// Every number, set far out of its range or of its type through its environment variable,
/// exits 2 naming the variable; none panics.
#[test]
fn every_number_out_of_range_in_the_environment_exits_2_naming_its_variable() {
    for (key, _, _) in oac_mirror::config::RANGES {
        let var = format!("OAC_MIRROR_{}", key.to_uppercase());
        for value in ["1e400", "-1", "99999999999999999999", "NaN"] {
            let out = command("plan").env(&var, value).output().unwrap();
            refused(&out, &[&format!("environment variable {var}: `{key}`")]);
        }
    }
}

#[test]
fn a_day_that_does_not_exist_is_named() {
    let out = bin()
        .args(["plan", "--base-url", NOWHERE, "--from", "2025-02-30"])
        .output()
        .unwrap();
    refused(&out, &["2025-02-30 is not a date"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_config_file_may_write_a_date_unquoted() {
    let replica = replica(sample_docs(), Settings::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "from = 2025-07-01\nto = 2025-07-31\nrate = 10000.0\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "plan",
            "--json",
            "--base-url",
            &replica.base_url(),
            "--config",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan.to_string().contains("2025-07-01"), "{plan}");
}

/// Another application's SQLite file with `user_version` set and (maybe) a table named like
/// one of ours.
fn foreign_db(path: &Path, user_version: i64) -> Vec<u8> {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE partitions (name TEXT PRIMARY KEY, size INTEGER);
         INSERT INTO partitions VALUES ('sda1', 512);",
    )
    .unwrap();
    conn.pragma_update(None, "user_version", user_version)
        .unwrap();
    drop(conn);
    std::fs::read(path).unwrap()
}

#[test]
fn another_applications_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for version in [1, 2, 7] {
        let db = dir.path().join(format!("other-{version}.db"));
        let before = foreign_db(&db, version);
        for sub in ["harvest", "status", "verify"] {
            let out = command(sub).arg("--db").arg(&db).output().unwrap();
            refused(&out, &["is not an oac-mirror database", "other-"]);
            assert_eq!(
                std::fs::read(&db).unwrap(),
                before,
                "{sub} on version {version}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!("other-{version}.db")))
            .collect();
        assert_eq!(
            left,
            [format!("other-{version}.db")],
            "no -wal, -shm or .lock"
        );
    }
}

#[test]
fn a_directory_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["harvest", "status"] {
        let out = command(sub).arg("--db").arg(dir.path()).output().unwrap();
        refused(&out, &["is a directory"]);
    }
}

#[test]
fn a_database_in_a_missing_directory_names_it() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["harvest", "status"] {
        let out = command(sub)
            .current_dir(dir.path())
            .args(["--db", "nodir/x.db"])
            .output()
            .unwrap();
        refused(&out, &["the directory nodir does not exist"]);
    }
    assert!(!dir.path().join("nodir").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reads_only_the_db_of_a_config_file() {
    let replica = replica(sample_docs(), Settings::default()).await;
    let (dir, db) = temp_db();
    let cfg = config(&replica, &db, "2025-07-01", "2025-07-31", |_| {});
    assert!(harvest(&cfg).await.unwrap().complete);
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!("db = {:?}\nrows = 20000\n", db.to_str().unwrap()),
    )
    .unwrap();
    let out = bin()
        .args(["status", "--json", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["complete"], true);

    // The file must still be one this tool understands.
    std::fs::write(&file, "rowz = 1\n").unwrap();
    let out = bin()
        .args(["status", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("rowz"), "{}", stderr(&out));
}
