//! A hostile or broken upstream, and odd files (issue 11): each test is one row of the issue,
//! run through the binary as a user would, against [`Hostile`] on 127.0.0.1. Each checks the
//! exit status, the message, the requests spent or the time taken, and what the mirror holds.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::hostile::{Answer, Asked, Hostile, doc, id};
use crate::support::{bin, query_i64, temp_db};

/// The window every test harvests: two days of July 2025.
const FROM: &str = "2025-07-01";
const TO: &str = "2025-07-02";
/// A stamp inside the window, and one outside it.
const INSIDE: &str = "2025-07-01T10:00:00";
const OUTSIDE: &str = "2019-01-01T00:00:00";

/// `oac-mirror harvest` of `base_url` into `db` over the test window, with quick clocks.
fn harvest_cmd(base_url: &str, db: &Path) -> Command {
    let mut c = bin();
    c.args(["harvest", "--db"])
        .arg(db)
        .args(["--base-url", base_url, "--from", FROM, "--to", TO])
        .args([
            "--rate",
            "1000",
            "--retry-wait",
            "0.01",
            "--rate-limit-wait",
            "0.01",
            // A fixed page size, so that the tests can name the sizes asked for.
            "--rows",
            "1000",
        ]);
    c
}

/// Runs `c` to its end in a blocking thread, killing it after `limit`; returns its output and
/// how long it took.
async fn run(mut c: Command, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    match tokio::time::timeout(limit, waiting).await {
        Ok(out) => (out.unwrap(), started.elapsed()),
        Err(_) => {
            signal(pid, "KILL");
            panic!("the command ran longer than {limit:?}");
        }
    }
}

fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn citations(db: &Path) -> i64 {
    query_i64(db, "SELECT count(*) FROM citations")
}

/// An honest service holding `docs` (all inside the window): counts and pages them, whatever
/// the criteria (the tests keep them under the paging cap, so nothing splits).
fn honest(docs: Arc<Vec<Value>>, asked: &Asked) -> Option<Answer> {
    if !asked.is_records() {
        return None;
    }
    let start = (asked.start as usize).min(docs.len());
    let end = (start + asked.rows as usize).min(docs.len());
    Some(Answer::Records {
        num_found: docs.len() as u64,
        docs: docs[start..end].to_vec(),
    })
}

fn docs(n: u64) -> Arc<Vec<Value>> {
    Arc::new((0..n).map(|i| doc(&id(i), INSIDE)).collect())
}

/// Row 1: a redirect is not followed; the key never reaches the other server.
#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_not_followed_and_the_key_stays_home() {
    let elsewhere = Hostile::start({
        let docs = docs(1);
        move |a| honest(docs.clone(), a)
    })
    .await;
    let target = elsewhere.base_url();
    let redirecting = Hostile::start(move |a| {
        Some(Answer::Redirect(format!(
            "{target}/{}",
            a.path.rsplit('/').next().unwrap()
        )))
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&redirecting.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("redirect to {}/fields", elsewhere.base_url()))
            && text.contains("the API key was not sent there"),
        "{text}"
    );
    assert!(elsewhere.asked().is_empty(), "{:?}", elsewhere.asked());
    assert_eq!(redirecting.asked().len(), 1, "one request, not retried");
    assert_eq!(citations(&db), 0);
}

/// Row 1: plain http to anything but this machine is refused before any request.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_is_refused_unless_loopback() {
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd("http://example.com/oa_citations/v2", &db),
        Duration::from_secs(20),
    )
    .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("plain http"), "{text}");
    assert!(!db.exists(), "nothing was created");
}

/// Row 2: counts that do not add up fail the partition after one recount.
#[tokio::test(flavor = "multi_thread")]
async fn counts_that_do_not_add_up_fail_after_one_recount() {
    let liar = Hostile::start(|a| {
        a.is_records().then(|| Answer::Records {
            num_found: 100_000,
            docs: vec![doc(&id(a.start), INSIDE)],
        })
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(harvest_cmd(&liar.base_url(), &db), Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("do not add up")
            && text.contains("claims 100000 records")
            && text.contains("200000 in its 2 parts")
            && text.contains("1 partition(s) failed"),
        "{text}"
    );
    // The root count, two parts, the root and the parts again.
    assert_eq!(liar.records_requests(), 6);
    assert_eq!(citations(&db), 0);
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM partitions WHERE state = 'failed'"
        ),
        1
    );
}

/// Row 3: a service that claims 10,000 records and sends one a page costs a few requests.
#[tokio::test(flavor = "multi_thread")]
async fn one_record_a_page_fails_after_one_recount() {
    let stingy = Hostile::start(|a| {
        a.is_records().then(|| Answer::Records {
            num_found: 10_000,
            docs: vec![doc(&id(a.start), INSIDE)],
        })
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&stingy.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("sent 1 of the 1000 asked for at offset 1")
            && text.contains("still claims 10000"),
        "{text}"
    );
    // The count with its first page, one short page, one recount.
    assert_eq!(stingy.records_requests(), 3);
    assert_eq!(citations(&db), 1, "the one record that came in one piece");
}

/// Row 3: a service that serves at most 150 a page, consistently, is paged at 150.
#[tokio::test(flavor = "multi_thread")]
async fn consistent_short_pages_lower_the_page_size() {
    let all = docs(1_000);
    let short = Hostile::start({
        let all = all.clone();
        move |a| {
            let mut a = a.clone();
            a.rows = a.rows.min(150);
            honest(all.clone(), &a)
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(harvest_cmd(&short.base_url(), &db), Duration::from_secs(20)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(citations(&db), 1_000);
    let asked: Vec<u64> = short
        .asked()
        .iter()
        .filter(|a| a.is_records())
        .map(|a| a.rows)
        .collect();
    // The count (1 row), 1000 (150 served), then 150 a page: 7 more.
    assert_eq!(asked[..3], [1, 1000, 150], "{asked:?}");
    assert_eq!(asked.len(), 9, "{asked:?}");
}

/// Row 3: a 400 for a large page at offset 0 halves rows; paging goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_400_at_offset_0_halves_the_page() {
    let all = docs(600);
    let picky = Hostile::start({
        let all = all.clone();
        move |a| {
            if a.is_records() && a.rows > 300 {
                return Some(Answer::Status {
                    code: 400,
                    headers: vec![],
                    body: "rows too large".into(),
                });
            }
            honest(all.clone(), a)
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(harvest_cmd(&picky.base_url(), &db), Duration::from_secs(20)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(citations(&db), 600);
    let asked: Vec<u64> = picky
        .asked()
        .iter()
        .filter(|a| a.is_records())
        .map(|a| a.rows)
        .collect();
    // The count (1 row), 1000 and 500 refused, then 250 a page, then the proof's count.
    assert_eq!(asked, [1, 1000, 500, 250, 250, 250, 1], "{asked:?}");
}

/// Row 4: a request that never answers, then Ctrl-C: out within seconds, exit 1, resumable.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_a_hanging_request_at_once() {
    let hanging = Hostile::start(|a| a.is_records().then_some(Answer::Hang)).await;
    let (_dir, db) = temp_db();
    let mut c = harvest_cmd(&hanging.base_url(), &db);
    c.args(["--request-timeout", "120"]);
    let child: Child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while hanging.records_requests() == 0 {
        assert!(Instant::now() < deadline, "no request arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    signal(child.id(), "INT");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let took = started.elapsed();
    let text = stderr(&out);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("interrupted") && text.contains("rerunning"),
        "{text}"
    );
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM runs WHERE outcome = 'interrupted'"
        ),
        1
    );
}

/// Row 4: a second Ctrl-C exits at once with 130, even while the database keeps the run
/// waiting (here: another connection holds the write lock).
#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_exits_at_once_with_130() {
    let server = Hostile::start({
        let docs = docs(3);
        move |a| honest(docs.clone(), a)
    })
    .await;
    let (_dir, db) = temp_db();
    drop(oac_mirror::store::Store::open(&db).unwrap());
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('x', 'y');")
        .unwrap();
    let child = harvest_cmd(&server.base_url(), &db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(child.id(), "INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    signal(child.id(), "INT");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let took = started.elapsed();
    let text = stderr(&out);
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(out.status.code(), Some(130), "{text}");
    assert!(text.contains("second signal"), "{text}");
    drop(holder);
}

/// Row 5: a 300 MB answer is not read whole; it is treated like a 413 and the page shrinks.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_answer_is_cut_off_and_the_page_shrinks() {
    let all = docs(300);
    let bloated = Hostile::start({
        let all = all.clone();
        move |a| {
            if a.is_records() && a.rows > 200 {
                return Some(Answer::Huge(300 << 20));
            }
            honest(all.clone(), a)
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&bloated.base_url(), &db),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(citations(&db), 300);
    let huge = bloated
        .asked()
        .iter()
        .filter(|a| a.is_records() && a.rows > 200)
        .count() as u64;
    assert_eq!(huge, 3, "1000, 500 and 250 rows were too large");
    // Each huge answer was read to 8 MB and dropped: far from 3 × 300 MB.
    assert!(
        bloated.streamed() < huge * (24 << 20),
        "{} bytes streamed",
        bloated.streamed()
    );
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM rejected_records"),
        0,
        "nothing huge was kept"
    );
}

/// Row 5: a huge answer to a one-row count fails the partition, nothing stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_count_fails_the_partition() {
    let bloated = Hostile::start(|a| a.is_records().then_some(Answer::Huge(300 << 20))).await;
    let (_dir, db) = temp_db();
    let mut c = harvest_cmd(&bloated.base_url(), &db);
    c.args(["--max-response-bytes", "1048576"]);
    let (out, _) = run(c, Duration::from_secs(30)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("larger than max_response_bytes (1048576 bytes)"),
        "{text}"
    );
    assert!(bloated.streamed() < 16 << 20, "{}", bloated.streamed());
    assert_eq!(citations(&db), 0);
}

/// Row 6: a Retry-After far too long ends the run at once, saying so.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_of_years_ends_the_run_at_once() {
    let busy = Hostile::start(|a| {
        a.is_records().then(|| Answer::Status {
            code: 429,
            headers: vec![("retry-after", "99999999999999999".into())],
            body: "slow down".into(),
        })
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, took) = run(harvest_cmd(&busy.base_url(), &db), Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        text.contains("asked to wait 99999999999999999 s")
            && text.contains("Retry-After")
            && text.contains("rerunning"),
        "{text}"
    );
    assert_eq!(busy.records_requests(), 1);
    assert!(
        oac_mirror::store::Store::open(&db).is_ok(),
        "the lock is released"
    );
}

// Row 6: a Retry-After within ten minutes is honoured: `waiting.rs`, on the paused clock.

/// Row 7: records outside the window are quarantined, never stored, and never prove a leaf:
/// nothing in the window is marked deleted because of them.
#[tokio::test(flavor = "multi_thread")]
async fn records_outside_the_window_are_quarantined_and_prove_nothing() {
    let (a, b, x) = (
        doc(&id(1), INSIDE),
        doc(&id(2), INSIDE),
        doc(&id(3), OUTSIDE),
    );
    let stray = Arc::new(AtomicU64::new(0));
    let server = Hostile::start({
        let stray = stray.clone();
        move |asked| {
            let docs = if stray.load(Ordering::Relaxed) == 0 {
                vec![a.clone(), b.clone()]
            } else {
                vec![a.clone(), x.clone()]
            };
            honest(Arc::new(docs), asked)
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&server.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stray.store(1, Ordering::Relaxed);
    let before = server.records_requests();
    let mut again = harvest_cmd(&server.base_url(), &db);
    again.arg("--full-refresh");
    let (out, _) = run(again, Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("1 record(s) outside the window")
            && text.contains("1 partition(s) failed")
            && text.contains("3 record(s) quarantined by this run"),
        "{text}"
    );
    // Fetched leaf_attempts (3) times, two pages each time at most.
    assert!(server.records_requests() - before <= 8);
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM oa_citations"),
        2,
        "both records of the window stay, none deleted"
    );
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM citations WHERE deleted_at IS NOT NULL"
        ),
        0
    );
    assert_eq!(
        query_i64(
            &db,
            &format!("SELECT count(*) FROM citations WHERE id = '{}'", id(3))
        ),
        0
    );
    assert_eq!(
        query_i64(
            &db,
            &format!(
                "SELECT count(*) FROM rejected_records WHERE record_id = '{}' AND reason LIKE '%outside the window%'",
                id(3)
            )
        ),
        1,
        "kept from the last fetch"
    );
}

/// Row 8: a typo in the first run's --base-url binds nothing, and the 404 says what to check.
#[tokio::test(flavor = "multi_thread")]
async fn a_mistyped_first_base_url_binds_nothing() {
    let server = Hostile::start({
        let docs = docs(4);
        move |a| {
            if !a.path.starts_with(crate::support::hostile::PREFIX) {
                return Some(Answer::Status {
                    code: 404,
                    headers: vec![],
                    body: String::new(),
                });
            }
            honest(docs.clone(), a)
        }
    })
    .await;
    let typo = server.base_url().replace("oa_citations", "oa_citatons");
    let (_dir, db) = temp_db();
    let (out, _) = run(harvest_cmd(&typo, &db), Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("{typo}/fields answered HTTP 404"))
            && text.contains("check --base-url")
            && text.contains("/oa_citations/v2"),
        "{text}"
    );
    let (out, _) = run(
        harvest_cmd(&server.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(citations(&db), 4);
}

/// Row 11: plan, verify and status of a mirror need neither --base-url nor (for status) a key.
#[tokio::test(flavor = "multi_thread")]
async fn plan_verify_and_status_read_the_source_from_the_mirror() {
    let server = Hostile::start({
        let docs = docs(4);
        move |a| honest(docs.clone(), a)
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&server.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for command in ["plan", "verify"] {
        let before = server.records_requests();
        let mut c = bin();
        c.env_remove("USPTO_API_KEY")
            .args([command, "--from", FROM, "--to", TO, "--db"])
            .arg(&db);
        let (out, _) = run(c, Duration::from_secs(20)).await;
        assert_eq!(out.status.code(), Some(0), "{command}: {}", stderr(&out));
        assert!(
            server.records_requests() > before,
            "{command} asked the mirror's source"
        );
    }
    let mut c = bin();
    c.env_remove("USPTO_API_KEY")
        .args(["status", "--db"])
        .arg(&db);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&server.base_url()));
}

/// Row 11: a retry warning names the real cause; an HTML answer is called HTML.
#[tokio::test(flavor = "multi_thread")]
async fn messages_name_the_real_cause() {
    let html = Hostile::start(|a| {
        a.is_records().then(|| Answer::Status {
            code: 200,
            headers: vec![("content-type", "text/html".into())],
            body: "<html><body>Service unavailable</body></html>".into(),
        })
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(harvest_cmd(&html.base_url(), &db), Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("answered with text/html, not JSON: <html><body>Service unavailable"),
        "{text}"
    );
    assert!(!text.contains("expected value"), "{text}");

    let hanging = Hostile::start(|a| a.is_records().then_some(Answer::Hang)).await;
    let (_dir, db) = temp_db();
    let mut c = harvest_cmd(&hanging.base_url(), &db);
    c.args(["--request-timeout", "0.2", "--max-retries", "1"]);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let retry = text
        .lines()
        .find(|l| l.contains("retrying"))
        .unwrap_or_default();
    assert!(retry.contains("timed out"), "{text}");
}

/// Row 11: the missing-key message points to README sections that exist.
#[test]
fn the_missing_key_message_cites_real_sections() {
    let out = bin()
        .env_remove("USPTO_API_KEY")
        .args(["harvest", "--db", "/nonexistent/never.db"])
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let cited: Vec<&str> = text
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    assert!(!cited.is_empty(), "{text}");
    for section in cited {
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with('#') && l.ends_with(section)),
            "README has no section {section:?}"
        );
    }
}

/// Row 11: with --log-format json every line of stderr is JSON, the last one too.
#[tokio::test(flavor = "multi_thread")]
async fn a_json_log_ends_in_json() {
    let server = Hostile::start(|a| {
        a.is_records().then(|| Answer::Status {
            code: 429,
            headers: vec![("retry-after", "99999".into())],
            body: String::new(),
        })
    })
    .await;
    let (_dir, db) = temp_db();
    let mut c = harvest_cmd(&server.base_url(), &db);
    c.args(["--log-format", "json"]);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(lines.last().unwrap().contains("Retry-After"), "{text}");
}

/// A finished mirror of four records from `server`, in a directory of its own.
async fn mirror(server: &Hostile) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&server.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (dir, db)
}

async fn four_records() -> Hostile {
    Hostile::start({
        let docs = docs(4);
        move |a| honest(docs.clone(), a)
    })
    .await
}

/// Row 9: --out refuses devices, FIFOs and symlinks, with or without --force, and leaves them
/// as they were.
#[tokio::test(flavor = "multi_thread")]
async fn out_refuses_devices_fifos_and_symlinks() {
    use std::os::unix::fs::FileTypeExt;
    let server = four_records().await;
    let (dir, db) = mirror(&server).await;
    let target = dir.path().join("precious.csv");
    std::fs::write(&target, "keep me").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = dir.path().join("fifo.csv");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let export = |out: &Path, force: bool| {
        let mut c = bin();
        c.args([
            "export",
            "--table",
            "oa_citations",
            "--format",
            "csv",
            "--db",
        ])
        .arg(&db)
        .arg("--out")
        .arg(out);
        if force {
            c.arg("--force");
        }
        c
    };
    let cases: [(&Path, &str); 3] = [
        (Path::new("/dev/null"), "is a character device"),
        (&link, "is a symbolic link"),
        (&fifo, "is a FIFO"),
    ];
    for (out, kind) in cases {
        for force in [false, true] {
            let (done, _) = run(export(out, force), Duration::from_secs(20)).await;
            let text = stderr(&done);
            assert_eq!(done.status.code(), Some(2), "{}: {text}", out.display());
            assert!(text.contains(kind), "{text}");
            assert!(!text.contains("pass --force"), "{text}");
        }
    }
    let mut pack = bin();
    pack.args(["pack", "--force", "--out", "/dev/full", "--db"])
        .arg(&db);
    let (done, _) = run(pack, Duration::from_secs(20)).await;
    let text = stderr(&done);
    assert_eq!(done.status.code(), Some(2), "{text}");
    assert!(text.contains("is a character device"), "{text}");
    let mut pack = bin();
    pack.args(["pack", "--force", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(&link);
    let (done, _) = run(pack, Duration::from_secs(20)).await;
    assert_eq!(done.status.code(), Some(2), "{}", stderr(&done));

    assert!(
        std::fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
}

/// Runs `c` as an unprivileged user when the tests run as root (root may write anywhere, so a
/// read-only directory would not be read-only to it).
fn unprivileged(c: Command) -> Command {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        return c;
    }
    let mut wrapped = Command::new("setpriv");
    wrapped.args([
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "--",
    ]);
    wrapped.arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    wrapped.stdin(Stdio::null());
    wrapped
}

/// Row 10: a mirror in a directory this user cannot write is read by status, export, verify
/// and plan.
#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_in_a_read_only_directory_can_be_read() {
    use std::os::unix::fs::PermissionsExt;
    let server = four_records().await;
    let (dir, db) = mirror(&server).await;
    assert!(!Path::new(&format!("{}-wal", db.display())).exists());
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let commands: [&[&str]; 4] = [
        &["status"],
        &[
            "export",
            "--table",
            "oa_citations",
            "--format",
            "csv",
            "--out",
            "-",
        ],
        &["verify"],
        &["plan", "--from", FROM, "--to", TO],
    ];
    let mut outputs = vec![];
    for args in commands {
        let mut c = bin();
        c.args(args).arg("--db").arg(&db);
        let (out, _) = run(unprivileged(c), Duration::from_secs(20)).await;
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        outputs[0].contains("records:    4 in oa_citations"),
        "{}",
        outputs[0]
    );
    assert_eq!(
        outputs[1].lines().count(),
        5,
        "a header and four rows: {}",
        outputs[1]
    );
    assert!(outputs[2].contains("every count agrees"), "{}", outputs[2]);
}

/// Row 10: status of a packed file says what it is and shows its meta; pack of one refuses.
#[tokio::test(flavor = "multi_thread")]
async fn status_and_pack_of_a_packed_file() {
    let server = four_records().await;
    let (dir, db) = mirror(&server).await;
    let packed = dir.path().join("handoff.db");
    let mut c = bin();
    c.args(["pack", "--db"]).arg(&db).arg("--out").arg(&packed);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut c = bin();
    c.env_remove("USPTO_API_KEY")
        .args(["status", "--db"])
        .arg(&packed);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        text.contains("a packed hand-off copy") && text.contains("packed_at: "),
        "{text}"
    );
    let mut c = bin();
    c.args(["status", "--json", "--db"]).arg(&packed);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["packed"], true);
    assert_eq!(json["meta"]["source_prefix"], server.base_url().as_str());

    let again = dir.path().join("again.db");
    let mut c = bin();
    c.args(["pack", "--db"])
        .arg(&packed)
        .arg("--out")
        .arg(&again);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("is packed already"), "{text}");
    assert!(!again.exists());
}

/// Bounds: the run's request budget ends it, saying that rerunning continues.
#[tokio::test(flavor = "multi_thread")]
async fn the_request_budget_ends_the_run() {
    let all = docs(1_000);
    let server = Hostile::start({
        let all = all.clone();
        move |a| {
            let mut a = a.clone();
            a.rows = a.rows.min(150);
            honest(all.clone(), &a)
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let mut c = harvest_cmd(&server.base_url(), &db);
    c.args(["--max-requests", "4"]);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("this run sent 4 requests") && text.contains("rerunning"),
        "{text}"
    );
    assert_eq!(server.asked().len(), 4, "/fields and three pages");
    let (out, _) = run(
        harvest_cmd(&server.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(citations(&db), 1_000);
}

/// The replica serves only this machine unless told otherwise.
#[test]
fn the_replica_listens_on_loopback_unless_allowed() {
    let out = bin()
        .args(["replica", "--listen", "0.0.0.0:0", "--records", "10"])
        .output()
        .unwrap();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("--allow-remote"), "{text}");
}

/// Row 11: verify of a harvest that has not finished says so, and does not send the user to
/// --full-refresh.
#[tokio::test(flavor = "multi_thread")]
async fn verify_of_an_unfinished_harvest_says_rerun_harvest() {
    let all = docs(1_000);
    let server = Hostile::start({
        let all = all.clone();
        move |a| {
            let mut a = a.clone();
            a.rows = a.rows.min(150);
            honest(all.clone(), &a)
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let mut c = harvest_cmd(&server.base_url(), &db);
    c.args(["--max-requests", "4"]);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let mut c = bin();
    c.args(["verify", "--db"]).arg(&db);
    let (out, _) = run(c, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("not finished by a harvest yet")
            && text.contains("rerunning `oac-mirror harvest` continues them"),
        "{text}"
    );
    assert!(!text.contains("--full-refresh"), "{text}");
}

/// Row 3: the same page again, or an empty page before the count is reached: counted once
/// more, then the partition fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_repeated_or_empty_page_fails_after_one_recount() {
    let all = docs(400);
    let repeating = Hostile::start({
        let all = all.clone();
        move |a| {
            a.is_records().then(|| Answer::Records {
                num_found: 400,
                docs: all[..(a.rows as usize).min(150)].to_vec(),
            })
        }
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&repeating.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("sent the same 150 again at offset 151") && text.contains("still claims 400"),
        "{text}"
    );
    // The count, 150 of the 1000 asked, the same 150 again, the recount.
    assert_eq!(repeating.records_requests(), 4);

    let real = Arc::new(all[..250].to_vec());
    let hollow = Hostile::start(move |a| {
        let mut answer = honest(real.clone(), a)?;
        if let Answer::Records { num_found, .. } = &mut answer {
            *num_found = 400;
        }
        Some(answer)
    })
    .await;
    let (_dir, db) = temp_db();
    let (out, _) = run(
        harvest_cmd(&hollow.base_url(), &db),
        Duration::from_secs(20),
    )
    .await;
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("sent an empty page at offset 250") && text.contains("still claims 400"),
        "{text}"
    );
    assert_eq!(hollow.records_requests(), 4);
    assert_eq!(citations(&db), 250, "what was served is kept");
}
