//! The `http` stage against the mock API: concurrency and rate limits, retries
//! (429 with Retry-After, 503, dropped connections), no retry on 400, timeouts, bad
//! bodies, the cache, batch mode; every row written or rejected, and no hang.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::types::Value as Sql;

use crate::harness::{query, read_csv, rowflow};
use crate::mock_http::Mock;

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

/// Run a pipeline with one http stage (TOML lines `stage`) over `csv`, into out.db.
fn run_http(dir: &Path, csv: &str, stage: &str, extra: &str) -> crate::harness::Run {
    let p = http_pipeline(dir, csv, stage, extra);
    rowflow(dir, &["run", &p, "--json", "-q"])
}

fn http_pipeline(dir: &Path, csv: &str, stage: &str, extra: &str) -> String {
    write(
        dir,
        "p.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\n\n[[transform]]\ntype = \"http\"\n{stage}\n\n\
             [sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\nmode = \"replace\"\n[errors]\nreject_file = \"rej.csv\"\n{extra}"
        ),
    )
}

fn ids_csv(dir: &Path, n: usize, extra_cols: &str, extra: impl Fn(usize) -> String) -> String {
    let mut body = format!("id{extra_cols}\n");
    for i in 1..=n {
        body.push_str(&format!("{i}{}\n", extra(i)));
    }
    write(dir, "in.csv", &body)
}

#[test]
fn concurrency_is_bounded_and_every_row_is_enriched() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(20));
    let csv = ids_csv(dir.path(), 300, "", |_| String::new());
    let stage = format!(
        "url = \"{}\"\nconcurrency = 8\n[transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n",
        mock.url("/api?id={id}")
    );
    let run = run_http(dir.path(), &csv, &stage, "");
    assert_eq!(run.code, 0, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 300);
    assert_eq!(j["http"][0]["requests"], 300);
    assert_eq!(j["http"][0]["status_2xx"], 300);
    let peak = mock.state.max_in_flight.load(Ordering::SeqCst);
    assert!(peak <= 8, "at most 8 requests in flight, saw {peak}");
    assert!(peak >= 4, "requests ran concurrently (peak {peak})");
    let db = dir.path().join("out.db");
    assert_eq!(
        query(&db, "SELECT count(*), sum(score = 2 * id) FROM t"),
        vec![vec![Sql::Integer(300), Sql::Integer(300)]]
    );
    // Input order is kept by default.
    assert_eq!(
        query(
            &db,
            "SELECT count(*) FROM t a JOIN t b ON b.rowid = a.rowid + 1 WHERE b.id < a.id"
        ),
        vec![vec![Sql::Integer(0)]]
    );
}

#[test]
fn the_rate_limit_holds_retries_included() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    // Every fifth row fails once with 503: the retries count against the limit too.
    let csv = ids_csv(dir.path(), 40, ",fail", |i| {
        format!(",{}", u8::from(i % 5 == 0))
    });
    let stage = format!(
        "url = \"{}\"\nconcurrency = 16\nrate_limit = 20\nburst = 1\nbackoff = 0.01\n[transform.fields]\nscore = \"/score\"\n",
        mock.url("/api?id={id}&fail={fail}&code=503")
    );
    let run = run_http(dir.path(), &csv, &stage, "");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["http"][0]["retries"], 8);
    let times = mock.state.times.lock().unwrap().clone();
    assert_eq!(times.len(), 48, "40 requests and 8 retries");
    // 48 requests at 20/s with a burst of 1 take at least 47/20 s.
    let span = times.last().unwrap().duration_since(times[0]).as_secs_f64();
    assert!(
        span >= 47.0 / 20.0 * 0.95,
        "48 requests in {span:.2} s is faster than 20/s"
    );
    // And no one-second window holds more than 20 + the burst.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
            .count();
        assert!(in_window <= 21, "{in_window} requests within one second");
    }
}

/// When the rate limit sets the pace, progress says so (the log line a run writes every
/// 5 seconds when stderr is not a terminal).
#[test]
fn progress_says_when_the_rate_limit_sets_the_pace() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    // 70 requests at 10 per second: about 7 s, a progress line at 5 s.
    let csv = ids_csv(dir.path(), 70, "", |_| String::new());
    let stage = format!(
        "url = \"{}\"\nconcurrency = 64\nrate_limit = 10\nburst = 1\n[transform.fields]\nscore = \"/score\"\n",
        mock.url("/api?id={id}")
    );
    let p = http_pipeline(dir.path(), &csv, &stage, "");
    let run = rowflow(dir.path(), &["run", &p]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" rows, "))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("rowflow: waiting for API rate limit: ")),
        "{}",
        run.stderr
    );
}

#[test]
fn retries_429_with_retry_after_503_and_dropped_connections_but_never_400() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    // The columns tell the mock how to answer each row.
    let csv = write(
        dir.path(),
        "in.csv",
        "id,fail,code,ra,drop\n1,2,429,1,0\n2,2,503,0,0\n3,0,0,0,1\n4,5,400,0,0\n5,0,0,0,0\n",
    );
    let p = write(
        dir.path(),
        "p.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\nfail = \"int\"\ncode = \"int\"\nra = \"int\"\ndrop = \"int\"\n\n\
             [[transform]]\ntype = \"http\"\nurl = \"{}\"\nretries = 3\nbackoff = 0.05\n\
             [transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n\n\
             [sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\n[errors]\nreject_file = \"rej.csv\"\n",
            mock.url("/api?id={id}&fail={fail}&code={code}&retry_after={ra}&drop={drop}")
        ),
    );
    let t0 = std::time::Instant::now();
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    let took = t0.elapsed();
    assert_eq!(run.code, 1, "one row rejected: {run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 4);
    assert_eq!(j["rows_rejected"], 1);
    let db = dir.path().join("out.db");
    assert_eq!(
        query(&db, "SELECT id, score FROM t ORDER BY id"),
        vec![
            vec![Sql::Integer(1), Sql::Integer(2)],
            vec![Sql::Integer(2), Sql::Integer(4)],
            vec![Sql::Integer(3), Sql::Integer(6)],
            vec![Sql::Integer(5), Sql::Integer(10)],
        ]
    );
    // 429 twice with Retry-After: 1 → the row waited at least 2 s.
    assert!(
        took >= Duration::from_secs(2),
        "Retry-After was honoured ({took:?})"
    );
    assert_eq!(mock.state.attempts_of("id=1&")[0], 3);
    assert_eq!(mock.state.attempts_of("id=2&")[0], 3);
    assert_eq!(
        mock.state.attempts_of("id=3&")[0],
        2,
        "a dropped connection is retried"
    );
    assert_eq!(mock.state.attempts_of("id=4&")[0], 1, "400 is not retried");
    let rej = read_csv(&dir.path().join("rej.csv"));
    assert_eq!(rej[1][0], "4");
    assert!(
        rej[1].last().unwrap().contains("http: HTTP 400"),
        "{:?}",
        rej[1]
    );
}

#[test]
fn timeouts_and_bad_bodies_are_rejects_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    let csv = write(
        dir.path(),
        "in.csv",
        "id,slow,bad\n1,0,0\n2,3000,0\n3,0,1\n4,0,0\n",
    );
    let p = write(
        dir.path(),
        "p.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\nslow = \"int\"\nbad = \"int\"\n\n\
             [[transform]]\ntype = \"http\"\nname = \"score\"\nurl = \"{}\"\ntimeout = 0.3\nretries = 1\nbackoff = 0.05\n\
             [transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n\n\
             [sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\n[errors]\nreject_file = \"rej.csv\"\n",
            mock.url("/api?id={id}&slow_ms={slow}&malformed={bad}")
        ),
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    let j = run.json();
    assert_eq!(
        (j["rows_written"].as_u64(), j["rows_rejected"].as_u64()),
        (Some(2), Some(2)),
        "{j}"
    );
    let rej = read_csv(&dir.path().join("rej.csv"));
    let reasons: Vec<&str> = rej[1..]
        .iter()
        .map(|r| r.last().unwrap().as_str())
        .collect();
    assert!(
        reasons[0].contains("score: timed out after 0.3 s (2 attempts)"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("not valid JSON"), "{reasons:?}");
    assert_eq!(rej[1][0], "2");
    assert_eq!(rej[2][0], "3");
}

#[test]
fn identical_requests_are_sent_once_with_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(5));
    let csv = ids_csv(dir.path(), 200, ",k", |i| format!(",{}", i % 10));
    let stage = format!(
        "url = \"{}\"\ncache = true\nconcurrency = 16\n[transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n",
        mock.url("/api?id={k}")
    );
    let run = run_http(dir.path(), &csv, &stage, "");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        mock.state.requests.load(Ordering::SeqCst),
        10,
        "10 distinct requests"
    );
    assert_eq!(run.json()["http"][0]["cache_hits"], 190);
    assert_eq!(
        query(
            &dir.path().join("out.db"),
            "SELECT count(*), sum(score = 2 * (id % 10)) FROM t"
        ),
        vec![vec![Sql::Integer(200), Sql::Integer(200)]]
    );
}

/// The cache keeps answers the same request would get again (a 404 is sent once for all
/// its rows) but not a failure after the last retry (a 503 is sent again for the next
/// identical row, which then succeeds).
#[test]
fn the_cache_keeps_answers_but_not_transient_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    let csv = ids_csv(dir.path(), 5, ",k", |_| ",7".to_string());
    // (status, attempts that get it, requests sent for the 5 rows, rows written)
    for (code, fail, requests, written) in [(503, 1, 2, 4), (404, 1000, 1, 0)] {
        let url = mock.url(&format!("/api?id={{k}}&fail={fail}&code={code}"));
        let stage = format!(
            "url = \"{url}\"\ncache = true\nconcurrency = 1\nretries = 0\n[transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n"
        );
        let before = mock.state.requests.load(Ordering::SeqCst);
        let run = run_http(dir.path(), &csv, &stage, "");
        assert_eq!(run.code, 1, "{code}: {run:?}");
        let j = run.json();
        assert_eq!(
            mock.state.requests.load(Ordering::SeqCst) - before,
            requests,
            "{code}: {j}"
        );
        assert_eq!(j["rows_written"], written, "{code}: {j}");
        assert_eq!(j["rows_rejected"], 5 - written, "{code}: {j}");
        let rej = read_csv(&dir.path().join("rej.csv"));
        assert!(
            rej[1..].iter().all(|r| r[3].contains(&code.to_string())),
            "{code}: {rej:?}"
        );
    }
}

#[test]
fn batch_mode_by_position_and_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(2));
    let csv = ids_csv(dir.path(), 95, "", |_| String::new());
    for (path, key) in [("/batch", ""), ("/batch?reverse=1", "batch_key = \"id\"\n")] {
        let stage = format!(
            "url = \"{}\"\nbatch_size = 10\nbody = '{{\"id\": {{id}}}}'\n{key}[transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n",
            mock.url(path)
        );
        let run = run_http(dir.path(), &csv, &stage, "");
        assert_eq!(run.code, 0, "{path}: {run:?}");
        assert_eq!(
            run.json()["http"][0]["requests"],
            10,
            "95 rows in requests of 10"
        );
        assert_eq!(
            query(
                &dir.path().join("out.db"),
                "SELECT count(*), sum(score = 2 * id) FROM t"
            ),
            vec![vec![Sql::Integer(95), Sql::Integer(95)]],
            "{path}"
        );
    }
    // Reversed answers matched by position would be wrong: the count check above with
    // batch_key proves the key matching; by position the mismatch is detected per row.
}

#[test]
fn unordered_lets_fast_rows_pass_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    let csv = ids_csv(dir.path(), 400, ",slow", |i| {
        format!(",{}", if i % 50 == 1 { 300 } else { 0 })
    });
    let p = write(
        dir.path(),
        "p.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\nslow = \"int\"\n\n\
             [[transform]]\ntype = \"http\"\nurl = \"{}\"\nordered = false\nconcurrency = 32\n\
             [transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n\n\
             [sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\n[runtime]\nbatch_rows = 50\n",
            mock.url("/api?id={id}&slow_ms={slow}")
        ),
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    let db = dir.path().join("out.db");
    assert_eq!(
        query(
            &db,
            "SELECT count(DISTINCT id), sum(id), sum(score = 2 * id) FROM t"
        ),
        vec![vec![
            Sql::Integer(400),
            Sql::Integer(400 * 401 / 2),
            Sql::Integer(400)
        ]]
    );
    let inversions = query(
        &db,
        "SELECT count(*) FROM t a JOIN t b ON b.rowid = a.rowid + 1 WHERE b.id < a.id",
    );
    assert_ne!(
        inversions,
        vec![vec![Sql::Integer(0)]],
        "slow rows did not hold the others back"
    );
}

#[test]
fn plan_errors_name_the_placeholder_and_hide_header_values() {
    let dir = tempfile::tempdir().unwrap();
    let csv = ids_csv(dir.path(), 1, "", |_| String::new());
    let p = write(
        dir.path(),
        "p.toml",
        &format!(
            "[source]\npath = {csv:?}\n[[transform]]\ntype = \"http\"\nurl = \"http://127.0.0.1:1/x?u={{idd}}\"\n\
             [transform.headers]\nAuthorization = \"Bearer s3cr3t-token\"\n[transform.fields]\nscore = \"/score\"\n\
             [sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\n"
        ),
    );
    let run = rowflow(dir.path(), &["check", &p]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("{idd}") && run.stderr.contains("\"id\""),
        "{}",
        run.stderr
    );
    let fixed = std::fs::read_to_string(&p)
        .unwrap()
        .replace("{idd}", "{id}");
    std::fs::write(&p, fixed).unwrap();
    let run = rowflow(dir.path(), &["check", &p]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stdout.contains("s3cr3t") && !run.stderr.contains("s3cr3t"),
        "{run:?}"
    );
    // A server that is not there: every row is rejected with the reason, nothing hangs.
    let run = rowflow(
        dir.path(),
        &[
            "run",
            &p,
            "--json",
            "-q",
            "--set",
            "transform.0.retries=1",
            "--set",
            "transform.0.backoff=0.01",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["rows_rejected"], 1);
    assert!(
        run.json()["first_rejects"][0]
            .as_str()
            .unwrap()
            .contains("connection failed"),
        "{run:?}"
    );
}
