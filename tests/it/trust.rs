//! Trust between runs and under pathological input (issue 12): each test is tied to a
//! numbered finding of that issue, fails on the code before it, and passes after.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::db::{Db, Kind, on_every_db};
use crate::harness::{Run, rowflow, spawn};

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

fn table_name(test: &str, kind: Kind) -> String {
    format!("rf_trust_{test}_{kind:?}").to_lowercase()
}

/// `rowflow ARGS` with `input` on standard input.
fn rowflow_stdin(dir: &Path, args: &[&str], input: &str) -> Run {
    let mut child = spawn(dir, args);
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn events(from: u32, n: u32) -> String {
    let mut s = String::from("id,kind\n");
    for i in from..from + n {
        s.push_str(&format!("{i},e{i}\n"));
    }
    s
}

on_every_db!(
    a_second_load_from_standard_input_is_loaded,
    already_loaded_is_checked_against_the_table_and_the_content,
    changing_an_expression_is_refused_in_append_and_loads_again_in_replace,
);

/// Finding 1: `cat day2.csv | rowflow load -` after a complete `day1` load was skipped
/// as "already loaded"; a nightly job would have dropped every day after the first.
fn a_second_load_from_standard_input_is_loaded(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("stdin", kind);
    db.drop_table(&table);
    let url = db.url();
    let args = [
        "load", "-", "--into", &url, "--table", &table, "--json", "-q",
    ];
    let day1 = rowflow_stdin(dir.path(), &args, &events(1, 24));
    assert_eq!(day1.code, 0, "{day1:?}");
    assert_eq!(day1.json()["rows_written"], 24);
    let day2 = rowflow_stdin(dir.path(), &args, &events(100, 25));
    assert_eq!(day2.code, 0, "{day2:?}");
    let j = day2.json();
    assert_eq!(j["status"], "completed", "{j}");
    assert_eq!(j["rows_written"], 25, "{j}");
    assert!(
        j["notes"].to_string().contains("new load"),
        "the decision is said: {j}"
    );
    let t = db.ident(&table);
    assert_eq!(db.count(&format!("SELECT count(*) FROM {t}")), 49);
    db.drop_table(&table);
}

/// Finding 1, the other half: an interrupted load from standard input cannot be resumed,
/// so the next one is refused until `--restart`.
#[test]
fn an_interrupted_load_from_standard_input_is_refused_until_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let p = write(
        dir.path(),
        "p.toml",
        &format!(
            "[source]\npath = \"-\"\n[source.schema]\nid = \"int\"\nkind = \"text\"\n[sink]\nurl = \"sqlite://{}\"\n\
             table = \"events\"\ncommit_rows = 10\n[runtime]\nbatch_rows = 10\n",
            db.display()
        ),
    );
    let mut child = spawn(dir.path(), &["run", &p, "-q"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(events(1, 50).as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Wait for a commit, then kill the run with its input still open.
    let t0 = Instant::now();
    loop {
        let committed = rusqlite::Connection::open(&db)
            .ok()
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                    .ok()
            })
            .unwrap_or(0);
        if committed > 0 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "nothing committed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(stdin);
    let again = rowflow_stdin(dir.path(), &["run", &p, "-q"], &events(100, 5));
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("cannot be resumed") && again.stderr.contains("--restart"),
        "{}",
        again.stderr
    );
    let restart = rowflow_stdin(
        dir.path(),
        &["run", &p, "-q", "--json", "--restart"],
        &events(100, 5),
    );
    assert_eq!(restart.code, 0, "{restart:?}");
    assert_eq!(restart.json()["rows_written"], 5);
}

/// Finding 2: "already loaded" won over what is really there: a dropped table, an
/// emptied one; a touched file (same bytes) was appended again; `--json` said
/// "completed" for a skip.
fn already_loaded_is_checked_against_the_table_and_the_content(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("skip", kind);
    db.drop_table(&table);
    let csv = write(dir.path(), "users.csv", "id,name\n1,ann\n2,bob\n3,cid\n");
    let url = db.url();
    let load = || {
        rowflow(
            dir.path(),
            &[
                "load", &csv, "--into", &url, "--table", &table, "--json", "-q",
            ],
        )
    };
    let t = db.ident(&table);
    let count = || db.count(&format!("SELECT count(*) FROM {t}"));
    assert_eq!(load().code, 0);
    assert_eq!(count(), 3);
    // The same file again: skipped, and said so in --json.
    let skip = load();
    assert_eq!(skip.code, 0, "{skip:?}");
    let j = skip.json();
    assert_eq!(j["status"], "skipped", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap()
            .contains("already loaded completely"),
        "{j}"
    );
    assert_eq!(j["rows_written"], 0);
    assert_eq!(count(), 3);
    // Touched: the same bytes, a new modification time. Still the same input.
    std::fs::write(&csv, "id,name\n1,ann\n2,bob\n3,cid\n").unwrap();
    let f = std::fs::File::options().write(true).open(&csv).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    drop(f);
    assert_eq!(load().json()["status"], "skipped");
    assert_eq!(count(), 3, "a touched file is not appended again");
    // The table dropped: loaded again, and said why.
    db.exec(&format!("DROP TABLE {t}"));
    let again = load();
    assert_eq!(again.code, 0, "{again:?}");
    let j = again.json();
    assert_eq!(j["rows_written"], 3, "{j}");
    assert!(j["notes"].to_string().contains("no longer exists"), "{j}");
    assert_eq!(count(), 3);
    // The table emptied: loaded again.
    db.exec(&format!("DELETE FROM {t}"));
    let j = load().json();
    assert_eq!(j["rows_written"], 3, "{j}");
    assert!(j["notes"].to_string().contains("is empty"), "{j}");
    // Other bytes of the same size: a changed input, loaded as such (appended).
    std::fs::write(&csv, "id,name\n4,dan\n5,eve\n6,fay\n").unwrap();
    let j = load().json();
    assert_eq!(j["rows_written"], 3, "{j}");
    assert!(j["notes"].to_string().contains("changed since"), "{j}");
    assert_eq!(count(), 6);
    db.drop_table(&table);
}

/// Finding 2: in a pipeline with `mode = "append"`, changing an expression made the
/// next run say "nothing to do": the pipeline asked for was not the one that ran.
fn changing_an_expression_is_refused_in_append_and_loads_again_in_replace(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("expr", kind);
    db.drop_table(&table);
    let csv = write(dir.path(), "u.csv", "id,email\n1, A@X.COM\n2,b@y.org\n");
    let pipeline = |expr: &str| {
        write(
            dir.path(),
            "users.toml",
            &format!(
                "[source]\npath = {csv:?}\n[[transform]]\ntype = \"compute\"\n[transform.columns]\nemail = \"{expr}\"\n\
                 [sink]\nurl = {:?}\ntable = {table:?}\nmode = \"append\"\n",
                db.url()
            ),
        )
    };
    let p = pipeline("lower(email)");
    assert_eq!(rowflow(dir.path(), &["run", &p, "-q"]).code, 0);
    let p = pipeline("lower(trim(email))");
    let run = rowflow(dir.path(), &["run", &p, "-q", "--json"]);
    assert_eq!(run.code, 2, "{run:?}");
    for said in [
        "column \"email\" changed",
        "--restart",
        "mode = \"replace\"",
    ] {
        assert!(run.stderr.contains(said), "{said}: {}", run.stderr);
    }
    let t = db.ident(&table);
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {t}")),
        2,
        "nothing written"
    );
    // `check` says so too, before anything runs.
    let check = rowflow(dir.path(), &["check", &p]);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(
        check.stderr.contains("column \"email\" changed"),
        "{check:?}"
    );
    // In replace mode the table is rebuilt with the new expression.
    let run = rowflow(
        dir.path(),
        &["run", &p, "-q", "--json", "--set", "sink.mode=replace"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        db.query(&format!(
            "SELECT {e} FROM {t} ORDER BY {e}",
            e = db.ident("email")
        )),
        vec![
            vec![Some("a@x.com".to_string())],
            vec![Some("b@y.org".to_string())]
        ]
    );
    db.drop_table(&table);
}

/// Finding 2 (inputs tracked one by one): a glob that gains a file loads that file only.
#[test]
fn a_glob_that_gains_a_file_loads_that_file_only() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    write(dir.path(), "in/a.csv", &events(1, 3));
    write(dir.path(), "in/b.csv", &events(10, 3));
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let load = || {
        rowflow(
            dir.path(),
            &[
                "load", "in/*.csv", "--into", &url, "--table", "ev", "--json", "-q",
            ],
        )
    };
    assert_eq!(load().json()["rows_written"], 6);
    write(dir.path(), "in/c.csv", &events(20, 4));
    let j = load().json();
    assert_eq!(j["rows_written"], 4, "only c.csv: {j}");
    assert!(j["notes"].to_string().contains("skipping"), "{j}");
    assert_eq!(load().json()["status"], "skipped");
    let n: i64 = rusqlite::Connection::open(dir.path().join("g.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM ev", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
}

on_every_db!(checkpoints_are_listed_and_cleared);

/// Finding 2: no command listed or cleared the records of `_rowflow_checkpoints`.
fn checkpoints_are_listed_and_cleared(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("list", kind);
    db.drop_table(&table);
    let csv = write(dir.path(), "list.csv", &events(1, 7));
    let url = db.url();
    let load = || {
        rowflow(
            dir.path(),
            &[
                "load", &csv, "--into", &url, "--table", &table, "--json", "-q",
            ],
        )
    };
    assert_eq!(load().code, 0);
    let list = rowflow(dir.path(), &["checkpoints", &url, "--table", &table]);
    assert_eq!(list.code, 0, "{list:?}");
    assert!(
        list.stdout
            .contains(&format!("unnamed load of {csv} into {table}"))
            && list
                .stdout
                .contains("complete: 7 rows committed (7 written"),
        "{}",
        list.stdout
    );
    let j: serde_json::Value = serde_json::from_str(
        &rowflow(
            dir.path(),
            &["checkpoints", &url, "--table", &table, "--json"],
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(j.as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j[0]["complete"], true);
    assert_eq!(j[0]["rows_written"], 7);
    assert_eq!(load().json()["status"], "skipped");
    // Cleared: the record goes (and is said), so the next run loads again.
    let clear = rowflow(
        dir.path(),
        &["checkpoints", "clear", &url, "--table", &table],
    );
    assert_eq!(clear.code, 0, "{clear:?}");
    assert!(clear.stdout.contains("removed the checkpoint"), "{clear:?}");
    let list = rowflow(
        dir.path(),
        &["checkpoints", &url, "--table", &table, "--json"],
    );
    assert_eq!(list.stdout.trim(), "[]", "{list:?}");
    assert_eq!(load().json()["rows_written"], 7);
    db.drop_table(&table);
}

// ---- The http stage: interruptions, error limits, a dead API, bounded answers ----

use crate::mock_http::Mock;

/// `id,size` rows 1..=n (size 0: a plain answer).
fn ids(dir: &Path, n: u32) -> String {
    let mut s = String::from("id\n");
    for i in 1..=n {
        s.push_str(&format!("{i}\n"));
    }
    write(dir, "ids.csv", &s)
}

/// A pipeline over `csv` with one http stage (TOML `stage` lines and `fields`), into
/// `h.db` table t, with `extra` TOML at the end.
fn http_pipeline(dir: &Path, csv: &str, stage: &str, extra: &str) -> String {
    http_pipeline_typed(dir, csv, "", stage, extra)
}

/// [`http_pipeline`] with more declared column types (TOML `name = "type"` lines).
fn http_pipeline_typed(dir: &Path, csv: &str, types: &str, stage: &str, extra: &str) -> String {
    write(
        dir,
        "h.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\n{types}\n[[transform]]\ntype = \"http\"\nname = \"api\"\n{stage}\n\
             [transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n\n\
             [sink]\nurl = \"sqlite://h.db\"\ntable = \"t\"\n{extra}"
        ),
    )
}

fn sigint(child: &std::process::Child) {
    // SAFETY: sending a signal to a child process this test started and still owns.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
}

fn committed(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("h.db"))
        .ok()
        .and_then(|c| {
            c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                .ok()
        })
        .unwrap_or(0)
}

/// Findings 3 and 4: Ctrl-C into an http run in `mode = "replace"` kept calling the API
/// for 12 s (the reader had buffered the rest of the file), and the next run, taking the
/// interrupted load for a complete one, sent every request again.
#[test]
fn ctrl_c_stops_calling_the_api_at_once_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(10));
    let rows = 1670u32;
    let csv = ids(dir.path(), rows);
    let p = http_pipeline(
        dir.path(),
        &csv,
        &format!("url = \"{}\"\nconcurrency = 4", mock.url("/api?id={id}")),
        "mode = \"replace\"\ncommit_rows = 100\n[runtime]\nbatch_rows = 50\n",
    );
    let child = spawn(dir.path(), &["run", &p, "--json", "-q"]);
    let t0 = Instant::now();
    while committed(dir.path()) < 200 {
        assert!(t0.elapsed() < Duration::from_secs(60), "nothing committed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let signalled = Instant::now();
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "interrupted", "{j}");
    assert!(took < Duration::from_secs(3), "stopping took {took:?}");
    // No request started after the signal (a request already on its way when the
    // signal came may arrive a moment later: 50 ms of grace).
    let late = mock
        .state
        .times
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t > signalled + Duration::from_millis(50))
        .count();
    assert_eq!(late, 0, "requests started after Ctrl-C");
    let first = mock
        .state
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        first < rows as usize,
        "the first run stopped early ({first})"
    );
    // The next run resumes (replace mode included): it does not start over.
    let run = rowflow(dir.path(), &["run", &p, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("resuming at line"), "{}", run.stderr);
    assert!(!run.stderr.contains("loading again"), "{}", run.stderr);
    let total = mock
        .state
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    // Only rows of batches the first run did not finish are asked again: at most the
    // batches the stage held (3 of 50 rows) and the calls in flight.
    assert!(
        total <= rows as usize + 3 * 50 + 4,
        "{total} requests for {rows} rows"
    );
    let c = rusqlite::Connection::open(dir.path().join("h.db")).unwrap();
    let (n, distinct, good): (i64, i64, i64) = c
        .query_row(
            "SELECT count(*), count(DISTINCT id), sum(score = 2 * id) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((n, distinct, good), (rows as i64, rows as i64, rows as i64));
}

/// Finding 5: with `on_error = "fail"` 11,104 requests were sent before the error; the
/// docs say `fail` stops at the first failing row.
#[test]
fn on_error_fail_stops_calling_at_the_first_failed_row() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(2));
    let mut body = String::from("id,code\n");
    for i in 1..=3000 {
        // From row 100 on, the API refuses every request (a 400 is never retried).
        body.push_str(&format!("{i},{}\n", if i >= 100 { 400 } else { 0 }));
    }
    let csv = write(dir.path(), "c.csv", &body);
    http_pipeline_typed(
        dir.path(),
        &csv,
        "code = \"int\"",
        &format!(
            "url = \"{}\"\nconcurrency = 8",
            mock.url("/api?id={id}&fail={code}&code={code}")
        ),
        "[errors]\non_error = \"fail\"\n",
    );
    let run = rowflow(dir.path(), &["run", "h.toml", "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    let j = run.json();
    assert_eq!(j["status"], "failed", "{j}");
    // The row named is the first whose request failed: with 8 in flight, one of rows
    // 100 to 107 (lines 101 to 108).
    let e = j["error"].as_str().unwrap();
    assert!(
        (101..=108).any(|l| e.contains(&format!("line {l}:"))) && e.contains("HTTP 400"),
        "the failed row is named: {j}"
    );
    let sent = mock
        .state
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        sent <= 99 + 1 + 8,
        "{sent} requests: at most `concurrency` after the first failure"
    );
}

/// Finding 5: `max_errors = 10` on a file with many bad rows ended with 3,321 rows
/// rejected; it must stop within a batch of the 11th failed row, and count over the
/// whole load across resumes.
#[test]
fn max_errors_stops_within_a_batch_and_counts_across_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("id,n\n");
    for i in 1..=100_000u32 {
        // Every 1000th row does not parse.
        if i % 1000 == 0 {
            body.push_str(&format!("{i},bad\n"));
        } else {
            body.push_str(&format!("{i},{i}\n"));
        }
    }
    let csv = write(dir.path(), "m.csv", &body);
    let p = write(
        dir.path(),
        "m.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\nn = \"int\"\n[sink]\nurl = \"sqlite://m.db\"\n\
             table = \"t\"\ncommit_rows = 1000\n[errors]\nmax_errors = 10\n[runtime]\nbatch_rows = 1000\nworkers = 2\n"
        ),
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    let j = run.json();
    assert!(
        j["error"].as_str().unwrap().contains("max_errors = 10"),
        "{j}"
    );
    let rejected = j["rows_rejected"].as_u64().unwrap();
    let read = j["rows_read"].as_u64().unwrap();
    // The 11th bad row is row 11,000: the run stops within a batch (1,000 rows) or two
    // (two workers) of it.
    assert!((11..=13).contains(&rejected), "{j}");
    assert!(read <= 13_000, "{j}");
    assert!(j["rows_not_processed"].as_u64().is_some(), "{j}");
    // The limit is the load's: the resumed run stops at its first failed row.
    let again = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(again.code, 2, "{again:?}");
    let j2 = again.json();
    assert!(j2["rows_rejected"].as_u64().unwrap() <= 2, "{j2}");
    assert!(
        j2["error"].as_str().unwrap().contains("max_errors = 10"),
        "{j2}"
    );
}

/// Finding 5: when every request failed with a connection error (API down, wrong port)
/// rowflow went through the whole file, retrying and rejecting each row.
#[test]
fn a_dead_api_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = ids(dir.path(), 2000);
    // A port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = http_pipeline(
        dir.path(),
        &csv,
        &format!(
            "url = \"http://127.0.0.1:{port}/api?id={{id}}\"\nconcurrency = 4\nbackoff = 0.01\nmax_backoff = 0.02"
        ),
        "",
    );
    let t0 = Instant::now();
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    let j = run.json();
    let e = j["error"].as_str().unwrap();
    assert!(
        e.contains("api")
            && e.contains(&format!("127.0.0.1:{port}"))
            && e.contains("looks down")
            && e.contains("connection"),
        "{e}"
    );
    assert!(
        j["rows_rejected"].as_u64().unwrap() < 20,
        "not row by row: {j}"
    );
    assert!(j["http"][0]["requests"].as_u64().unwrap() < 40, "{j}");
    assert!(t0.elapsed() < Duration::from_secs(20));
    // A 503 every time is the same; the rows not done are left for a resumed run.
    let mock = Mock::start(Duration::from_millis(1));
    let p = http_pipeline(
        dir.path(),
        &csv,
        &format!(
            "url = \"{}\"\nconcurrency = 4\nbackoff = 0.01\nmax_backoff = 0.02\nmax_consecutive_failures = 10",
            mock.url("/api?id={id}&fail=99&code=503")
        ),
        "",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q", "--restart"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.json()["error"].as_str().unwrap().contains("503"),
        "{run:?}"
    );
    let sent = mock
        .state
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent <= 10 + 4, "{sent} requests after 10 failures in a row");
}

/// Finding 11: answers were held whole up to 32 MiB each, and the cache was bounded by
/// count only.
#[test]
fn answers_and_the_cache_are_bounded_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    let csv = write(
        dir.path(),
        "s.csv",
        "id,size,chunked\n1,500,0\n2,5000,0\n3,5000,1\n4,900,1\n",
    );
    let p = http_pipeline(
        dir.path(),
        &csv,
        &format!(
            "url = \"{}\"\nmax_response_bytes = 1000",
            mock.url("/api?id={id}&size={size}&chunked={chunked}")
        ),
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 2, "{j}");
    assert_eq!(j["rows_rejected"], 2, "{j}");
    let rej = crate::harness::read_csv(&dir.path().join("rej.csv"));
    for r in &rej[1..] {
        assert!(
            r.last()
                .unwrap()
                .contains("larger than max_response_bytes = 1000"),
            "{r:?}"
        );
    }
    assert_eq!(
        j["http"][0]["retries"], 0,
        "an answer too large is not asked again"
    );
    // The cache: 20 distinct answers of 2,000 bytes, asked twice in the same order. With
    // room for about 5 of them, every second ask misses; with room for all, none does.
    let mut body = String::from("id,size,chunked\n");
    for _ in 0..2 {
        for i in 1..=20 {
            body.push_str(&format!("{i},2000,0\n"));
        }
    }
    let csv = write(dir.path(), "c.csv", &body);
    for (bytes, expect) in [(10_000, 40), (1_000_000, 20)] {
        let mock = Mock::start(Duration::from_millis(1));
        let p = http_pipeline(
            dir.path(),
            &csv,
            &format!(
                "url = \"{}\"\nconcurrency = 1\ncache = true\ncache_bytes = {bytes}",
                mock.url("/api?id={id}&size={size}")
            ),
            "mode = \"replace\"\n",
        );
        let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            mock.state
                .requests
                .load(std::sync::atomic::Ordering::SeqCst),
            expect,
            "cache_bytes = {bytes}"
        );
    }
}

/// Finding 12: the HTTP stats said `"failed": 0` when rows failed on 5xx, and a
/// `Retry-After` over 5 minutes was refused without saying why.
#[test]
fn failed_requests_are_counted_and_a_long_retry_after_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(1));
    let csv = write(
        dir.path(),
        "f.csv",
        "id,fail,code,ra\n1,9,503,0\n2,1,429,600\n3,0,0,0\n",
    );
    let p = http_pipeline(
        dir.path(),
        &csv,
        &format!(
            "url = \"{}\"\nretries = 1\nbackoff = 0.01",
            mock.url("/api?id={id}&fail={fail}&code={code}&retry_after={ra}")
        ),
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    let h = &run.json()["http"][0];
    assert_eq!(h["failed"], 2, "{h}");
    assert_eq!(h["status_5xx"], 1, "{h}");
    let rej = crate::harness::read_csv(&dir.path().join("rej.csv"));
    let reasons: Vec<&String> = rej[1..].iter().map(|r| r.last().unwrap()).collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("Retry-After") && r.contains("600 s") && r.contains("300 s")),
        "{reasons:?}"
    );
}

// ---- Pathological input: unterminated quotes, huge records, endless lines ----

/// Finding 7: a quote left open at row 500 of 1,000 loaded 500 rows with exit 0; the
/// other 500 became one field.
#[test]
fn an_unterminated_quote_is_a_row_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("id,name\n");
    for i in 1..=1000 {
        if i == 500 {
            body.push_str("500,\"never closed\n");
        } else {
            body.push_str(&format!("{i},n{i}\n"));
        }
    }
    let csv = write(dir.path(), "q.csv", &body);
    let (run, db) = crate::harness::load(dir.path(), Path::new(&csv), &["--reject", "rej.csv"]);
    assert_eq!(run.code, 1, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 499, "{j}");
    assert_eq!(j["rows_rejected"], 1, "{j}");
    let rej = crate::harness::read_csv(&dir.path().join("rej.csv"));
    assert_eq!(
        rej[1][2], "501",
        "the line where the record with the quote starts"
    );
    assert!(rej[1][3].contains("never closed"), "{:?}", rej[1]);
    let n: i64 = rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM t WHERE id < 500", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 499);
}

/// A gzip of about 100 KB holding one 100 MB field, between two good rows.
fn gzip_with_a_huge_field(dir: &Path) -> String {
    use std::io::Write;
    let p = dir.join("bomb.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&p).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(b"id,v\n1,a\n2,").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        gz.write_all(&chunk).unwrap();
    }
    gz.write_all(b"\n3,c\n").unwrap();
    gz.finish().unwrap();
    p.to_string_lossy().into_owned()
}

/// Finding 8: a 1 MB gzip holding one 1 GB field peaked at 6.3 GB (and wrote a 1 GB
/// reject file); `load - < /dev/zero` was killed by the kernel at 23.7 GB; a 1 GB header
/// reached 14.7 GB and its error printed the whole header.
#[test]
fn memory_is_bounded_by_the_settings_whatever_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = gzip_with_a_huge_field(dir.path());
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let p = write(
        dir.path(),
        "m.toml",
        &format!(
            "[source]\npath = {bomb:?}\nmax_record_bytes = 4194304\n[sink]\nurl = {url:?}\ntable = \"t\"\n\
             [errors]\nreject_file = \"rej.csv\"\n"
        ),
    );
    // Measured, and again under a virtual-memory cap of 256 MB.
    for vmem in [None, Some(256 * 1024)] {
        let (run, rss_kb) = crate::harness::rowflow_measured(
            dir.path(),
            &["run", &p, "--json", "-q", "--restart"],
            std::process::Stdio::null(),
            vmem,
        );
        assert_eq!(run.code, 1, "{vmem:?}: {run:?}");
        let j = run.json();
        assert_eq!(
            (j["rows_written"].as_u64(), j["rows_rejected"].as_u64()),
            (Some(2), Some(1)),
            "{j}"
        );
        assert!(
            j["first_rejects"][0]
                .as_str()
                .unwrap()
                .contains("max_record_bytes = 4194304"),
            "{j}"
        );
        eprintln!("peak RSS {rss_kb} KiB ({vmem:?})");
        if vmem.is_none() {
            assert!(
                rss_kb < 150 * 1024,
                "peak RSS {rss_kb} KiB for a 4 MiB record limit"
            );
        }
        let rej = std::fs::metadata(dir.path().join("rej.csv")).unwrap().len();
        assert!(rej < 4096, "the reject entry is cut short ({rej} bytes)");
    }
    // An endless first line on standard input: the header limit ends it.
    let zero = std::fs::File::open("/dev/zero").unwrap();
    let (run, rss_kb) = crate::harness::rowflow_measured(
        dir.path(),
        &["load", "-", "--into", &url, "--table", "z"],
        zero.into(),
        Some(256 * 1024),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("max_header_bytes"), "{}", run.stderr);
    assert!(
        run.stderr.len() < 2000,
        "a short message: {} bytes",
        run.stderr.len()
    );
    assert!(rss_kb < 150 * 1024, "peak RSS {rss_kb} KiB");
    // A 20 MB header line in a file: the same, and the message does not echo it.
    let long = write(
        dir.path(),
        "long.csv",
        &format!("{}\n1\n", "h".repeat(20 << 20)),
    );
    let run = rowflow(dir.path(), &["load", &long, "--into", &url, "--table", "l"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("max_header_bytes") && run.stderr.len() < 2000,
        "{}",
        run.stderr.len()
    );
}

/// Finding 8: SIGTERM was not acted on while a long line was read (20 s until SIGKILL).
#[test]
fn sigterm_is_acted_on_within_a_second_while_a_long_line_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("e.db").display());
    let mut child = spawn(
        dir.path(),
        &[
            "load",
            "-",
            "--no-header",
            "--into",
            &url,
            "--table",
            "e",
            "--json",
            "-q",
        ],
    );
    // An endless line, fed as long as the process reads it.
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 16];
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let signalled = Instant::now();
    // SAFETY: sending a signal to a child process this test started and still owns.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?} to stop");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "interrupted", "{j}");
    feeder.join().unwrap();
}

// ---- One run per load; the reject file ----

on_every_db!(a_second_run_of_the_same_load_is_refused_or_waits);

/// Finding 9: two runs of the same pipeline started together both appended everything
/// (399,600 rows for 199,800) and both reported "completed".
fn a_second_run_of_the_same_load_is_refused_or_waits(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("twice", kind);
    db.drop_table(&table);
    let url = db.url();
    let args = [
        "load", "-", "--into", &url, "--table", &table, "--json", "-q",
    ];
    // The first run holds its load's lock while it waits for its standard input.
    let mut first = spawn(dir.path(), &args);
    let mut first_in = first.stdin.take().unwrap();
    // More than a pipe holds: the write returns once the run reads its input, which it
    // does only after it has taken the lock.
    first_in.write_all(events(1, 20_000).as_bytes()).unwrap();
    let second = rowflow_stdin(dir.path(), &args, &events(100, 10));
    assert_eq!(second.code, 2, "{second:?}");
    let who = if kind == Kind::Mysql {
        "server connection"
    } else {
        "pid"
    };
    assert!(
        second.stderr.contains("another run of")
            && second.stderr.contains(who)
            && second.stderr.contains("--wait"),
        "the other run is named: {}",
        second.stderr
    );
    // Clearing its checkpoint is refused too, while it runs.
    let clear = rowflow(
        dir.path(),
        &["checkpoints", "clear", &url, "--table", &table],
    );
    assert!(
        clear.code == 2 || clear.stdout.contains("nothing to clear"),
        "{clear:?}"
    );
    // With --wait, a second run waits for the first to end, then loads (standard input
    // is a new load each time).
    let mut waiting = spawn(dir.path(), &[&args[..], &["--wait"]].concat());
    {
        let mut w = waiting.stdin.take().unwrap();
        w.write_all(events(200, 5).as_bytes()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(waiting.try_wait().unwrap().is_none(), "--wait waits");
    drop(first_in);
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let waited = waiting.wait_with_output().unwrap();
    assert_eq!(waited.status.code(), Some(0), "{waited:?}");
    let j: serde_json::Value = serde_json::from_slice(&waited.stdout).unwrap();
    assert!(j["notes"].to_string().contains("waiting for"), "said: {j}");
    let t = db.ident(&table);
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {t}")),
        20_005,
        "each row once"
    );
    db.drop_table(&table);
}

/// Finding 9: on PostgreSQL, two different loads creating the same new table at once
/// ended in a raw catalog error (`pg_type_typname_nsp_index`).
#[test]
fn two_loads_creating_one_table_never_meet_in_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = "rf_trust_create_race";
    db.drop_table(table);
    let p = write(
        dir.path(),
        "a.toml",
        &format!(
            "[source]\npath = \"-\"\n[source.schema]\nid = \"int\"\nkind = \"text\"\n[sink]\nurl = {:?}\ntable = {table:?}\n\
             commit_rows = 1000\n[runtime]\nbatch_rows = 1\n",
            db.url()
        ),
    );
    // A waits for its input with the table missing when it planned; B, another load
    // (a file) into the same table, starts meanwhile; then A's input ends.
    let mut a = spawn(dir.path(), &["run", &p, "-q", "--json"]);
    let mut a_in = a.stdin.take().unwrap();
    a_in.write_all(events(1, 3).as_bytes()).unwrap();
    a_in.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let csv = write(dir.path(), "b.csv", &events(50, 3));
    let b_args = [
        "load",
        &csv,
        "--into",
        &db.url(),
        "--table",
        table,
        "--json",
        "-q",
    ];
    let mut b = spawn(dir.path(), &b_args);
    drop(b.stdin.take());
    std::thread::sleep(Duration::from_millis(500));
    drop(a_in);
    let a = a.wait_with_output().unwrap();
    let b = b.wait_with_output().unwrap();
    // One of them created the table; the other, if it came second, says so plainly: no
    // raw catalog error, nothing written. Run again, it loads into the table.
    let mut loaded = 0;
    for (who, out) in [("a", &a), ("b", &b)] {
        let err = String::from_utf8_lossy(&out.stdout);
        assert!(
            !err.contains("pg_type")
                && !err.contains("duplicate key")
                && !err.contains("already exists"),
            "{who}: {err}"
        );
        match out.status.code() {
            Some(0) => loaded += 1,
            Some(2) => assert!(err.contains("created by another run"), "{who}: {err}"),
            other => panic!("{who}: {other:?} {out:?}"),
        }
    }
    assert!(loaded >= 1);
    if b.status.code() == Some(2) {
        assert_eq!(rowflow(dir.path(), &b_args).code, 0);
    }
    if a.status.code() == Some(2) {
        let again = rowflow_stdin(dir.path(), &["run", &p, "-q"], &events(1, 3));
        assert_eq!(again.code, 0, "{again:?}");
    }
    let t = db.ident(table);
    assert_eq!(db.count(&format!("SELECT count(*) FROM {t}")), 6);
    db.drop_table(table);
}

/// Finding 10: `reject_file` pointed at the SQLite database replaced it with CSV text (an
/// unrelated table gone) and the run reported success; pointed at the input, the input
/// was overwritten.
#[test]
fn the_reject_file_never_overwrites_what_it_must_not() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "in.csv", "id,n\n1,1\n1,2\n");
    let db = dir.path().join("d.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE precious (x); INSERT INTO precious VALUES (42);")
        .unwrap();
    let before_db = std::fs::read(&db).unwrap();
    let before_csv = std::fs::read(&csv).unwrap();
    let url = format!("sqlite://{}", db.display());
    let other = write(dir.path(), "notes.txt", "my notes\n");
    let old_rejects = write(dir.path(), "old.csv", "id,n,_line,_error\n9,x,2,bad\n");
    for (target, ok) in [
        (db.to_string_lossy().into_owned(), false),
        (format!("{}-journal", db.display()), false),
        (csv.clone(), false),
        ("in.csv".to_string(), false),
        (other.clone(), false),
        (old_rejects.clone(), true),
    ] {
        let run = rowflow(
            dir.path(),
            &[
                "load",
                &csv,
                "--into",
                &url,
                "--table",
                "t",
                "--key",
                "id",
                "--reject",
                &target,
                "--json",
                "-q",
                "--restart",
            ],
        );
        if ok {
            assert_eq!(run.code, 1, "{target}: {run:?}");
        } else {
            assert_eq!(run.code, 2, "{target}: {run:?}");
            assert!(
                run.stderr.contains("reject_file"),
                "{target}: {}",
                run.stderr
            );
        }
    }
    assert_eq!(
        std::fs::read(&csv).unwrap(),
        before_csv,
        "the input is intact"
    );
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "my notes\n");
    let c = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(
        c.query_row("SELECT x FROM precious", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        42
    );
    assert_ne!(std::fs::read(&db).unwrap().len(), 0);
    drop(before_db);
    // An earlier reject file is replaced: it now holds this run's reject.
    let rej = crate::harness::read_csv(Path::new(&old_rejects));
    assert_eq!(rej.len(), 2);
    assert_eq!(rej[1][..3], ["1", "2", "3"], "this run's reject, line 3");
}

// ---- `check` finds what the run would fail on; the database first ----

/// Finding 6: a table with a dependent view and `mode = "replace"`: `check` said ok and
/// the run failed after reading 53,248 rows, with a hint (`DROP ... CASCADE`) the user
/// could not act on in rowflow.
#[test]
fn replace_of_a_table_others_depend_on_is_refused_before_any_row() {
    for kind in [Kind::Postgres, Kind::Mysql] {
        let dir = tempfile::tempdir().unwrap();
        let Some(db) = Db::get(kind, dir.path()) else {
            continue;
        };
        let table = table_name("deps", kind);
        let child = table_name("deps_child", kind);
        db.drop_table(&child);
        db.exec(&format!(
            "DROP VIEW IF EXISTS {}",
            db.ident(&format!("{table}_v"))
        ));
        db.drop_table(&table);
        let t = db.ident(&table);
        db.exec(&format!("CREATE TABLE {t} (id INT PRIMARY KEY, kind TEXT)"));
        let dependent = match kind {
            Kind::Postgres => {
                db.exec(&format!(
                    "CREATE VIEW {} AS SELECT id FROM {t}",
                    db.ident(&format!("{table}_v"))
                ));
                "view"
            }
            _ => {
                db.exec(&format!(
                    "CREATE TABLE {} (id INT, FOREIGN KEY (id) REFERENCES {t} (id)) ENGINE=InnoDB",
                    db.ident(&child)
                ));
                "foreign key"
            }
        };
        let p = write(
            dir.path(),
            "r.toml",
            &format!(
                "[source]\npath = \"-\"\n[source.schema]\nid = \"int\"\nkind = \"text\"\n[sink]\nurl = {:?}\ntable = {table:?}\nmode = \"replace\"\n",
                db.url()
            ),
        );
        let check = rowflow_stdin(dir.path(), &["check", &p], &events(1, 3));
        assert_eq!(check.code, 2, "{kind:?}: {check:?}");
        assert!(
            check.stderr.contains("cannot be replaced") && check.stderr.contains(dependent),
            "{kind:?}: {}",
            check.stderr
        );
        // The run is refused at once, before it reads its input (which never comes).
        let mut run = spawn(dir.path(), &["run", &p, "--json", "-q"]);
        let _stdin = run.stdin.take();
        let t0 = Instant::now();
        while run.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{kind:?}: still running"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{kind:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("cannot be replaced") && err.contains(dependent),
            "{kind:?}: {err}"
        );
        assert!(!err.contains("CASCADE;"), "{err}");
        db.drop_table(&child);
        db.exec(&format!(
            "DROP VIEW IF EXISTS {}",
            db.ident(&format!("{table}_v"))
        ));
        db.drop_table(&table);
    }
}

/// Finding 6: the database was contacted only after the whole inference scan, so a
/// wrong URL was reported after scanning the whole file. Here the input never ends: the
/// error must come at once, from `run`, `load` and `check`.
#[test]
fn a_wrong_url_is_reported_before_the_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let p = write(
        dir.path(),
        "w.toml",
        &format!("[source]\npath = \"-\"\n[sink]\nurl = {url:?}\ntable = \"t\"\n"),
    );
    for args in [
        vec!["run", p.as_str(), "-q"],
        vec!["check", p.as_str()],
        vec!["load", "-", "--into", &url, "--table", "t", "-q"],
    ] {
        let mut child = spawn(dir.path(), &args);
        let _stdin = child.stdin.take(); // open, never written
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "{args:?} waits for its input"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("connect"),
            "{args:?}: {out:?}"
        );
    }
}

// ---- The smaller findings of 12 ----

/// Finding 12: `delimiter = "\n"` (and a quote equal to the delimiter) was accepted and
/// loaded 0 rows with exit 0.
#[test]
fn a_dialect_that_cannot_work_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "d.csv", "a,b\n1,2\n");
    for (key, value, says) in [
        ("delimiter", "\"\\n\"", "line end"),
        ("quote", "\",\"", "must differ"),
        ("comment", "\",\"", "must differ"),
    ] {
        let p = write(
            dir.path(),
            "d.toml",
            &format!(
                "[source]\npath = {csv:?}\n{key} = {value}\n[sink]\nurl = \"sqlite://d.db\"\ntable = \"t\"\n"
            ),
        );
        let run = rowflow(dir.path(), &["run", &p, "-q"]);
        assert_eq!(run.code, 2, "{key}: {run:?}");
        assert!(run.stderr.contains(says), "{key}: {}", run.stderr);
    }
}

/// Finding 12: a directory, a FIFO or a device given as input was "no such file".
#[test]
fn a_directory_fifo_or_device_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (input, says) in [
        ("sub", "is a directory"),
        (fifo.to_str().unwrap(), "named pipe"),
        ("/dev/null", "is a device"),
        ("nope.csv", "no such file"),
    ] {
        let run = rowflow(
            dir.path(),
            &[
                "load",
                input,
                "--into",
                "sqlite://x.db",
                "--table",
                "t",
                "-q",
            ],
        );
        assert_eq!(run.code, 2, "{input}: {run:?}");
        assert!(run.stderr.contains(says), "{input}: {}", run.stderr);
    }
}

/// Finding 12: a NUL byte in a header name made PostgreSQL's refusal look like a lost
/// connection (60 s of retries).
#[test]
fn a_nul_byte_in_a_header_name_is_refused_at_once_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let csv = write(dir.path(), "n.csv", "id,na\0me\n1,x\n");
    let t0 = Instant::now();
    let run = rowflow(
        dir.path(),
        &[
            "load",
            &csv,
            "--into",
            &db.url(),
            "--table",
            "rf_trust_nul",
            "-q",
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("NUL byte"), "{}", run.stderr);
    assert!(t0.elapsed() < Duration::from_secs(10), "no retries");
}

/// Finding 12: a leap second `23:59:60` was stored as `23:59:59`; digits past
/// nanoseconds were dropped without a word.
#[test]
fn leap_seconds_and_sub_nanosecond_digits_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = "rf_trust_leap";
    db.drop_table(table);
    let csv = write(
        dir.path(),
        "l.csv",
        "id,at\n1,2016-12-31T23:59:60Z\n2,2020-01-01T00:00:00.1234567891Z\n",
    );
    let p = write(
        dir.path(),
        "l.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\nat = \"timestamp\"\n[sink]\nurl = {:?}\ntable = {table:?}\n\
             [errors]\nreject_file = \"rej.csv\"\n",
            db.url()
        ),
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        db.query(&format!(
            "SELECT (at AT TIME ZONE 'UTC')::text FROM {} ORDER BY id",
            db.ident(table)
        )),
        vec![vec![Some("2017-01-01 00:00:00".to_string())]],
        "as PostgreSQL reads '2016-12-31 23:59:60'"
    );
    let rej = crate::harness::read_csv(&dir.path().join("rej.csv"));
    assert!(
        rej[1]
            .last()
            .unwrap()
            .contains("more than 9 fractional digits"),
        "{rej:?}"
    );
    db.drop_table(table);
}

/// Finding 12: a resumed run exited 0 though rejects committed by the earlier run of the
/// same load were in the reject file.
#[test]
fn a_resumed_run_exits_1_when_the_load_has_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("id,n\n1,1\n2,bad\n");
    for i in 3..=60_000 {
        body.push_str(&format!("{i},{i}\n"));
    }
    let csv = write(dir.path(), "r.csv", &body);
    let db = dir.path().join("r.db");
    let p = write(
        dir.path(),
        "r.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\nn = \"int\"\n[sink]\nurl = \"sqlite://{}\"\n\
             table = \"t\"\ncommit_rows = 1000\n[errors]\nreject_file = \"rej.csv\"\n[runtime]\nbatch_rows = 500\n",
            db.display()
        ),
    );
    let mut child = spawn(dir.path(), &["run", &p, "-q"]);
    let t0 = Instant::now();
    loop {
        let n = rusqlite::Connection::open(&db)
            .ok()
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
                    .ok()
            })
            .unwrap_or(0);
        if n > 0 || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let run = rowflow(dir.path(), &["run", &p, "--json"]);
    let j = run.json();
    if j["already_committed"].as_u64().unwrap_or(0) == 0 {
        // The first run finished before the kill: nothing to resume (checked elsewhere).
        return;
    }
    assert_eq!(
        j["rows_rejected"], 0,
        "the reject was the earlier run's: {j}"
    );
    assert_eq!(j["rejected_before"], 1, "{j}");
    assert_eq!(run.code, 1, "the load has a reject: {run:?}");
}

/// Finding 12: a second Ctrl-C exited 130, not the documented 2.
#[test]
fn a_second_ctrl_c_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start(Duration::from_millis(200));
    let csv = ids(dir.path(), 2000);
    let p = http_pipeline(
        dir.path(),
        &csv,
        &format!("url = \"{}\"\nconcurrency = 2", mock.url("/api?id={id}")),
        "",
    );
    let child = spawn(dir.path(), &["run", &p, "-q"]);
    let t0 = Instant::now();
    while mock
        .state
        .requests
        .load(std::sync::atomic::Ordering::SeqCst)
        < 2
    {
        assert!(t0.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(10));
    }
    sigint(&child);
    std::thread::sleep(Duration::from_millis(20));
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Review: a load recorded by the version before this format (another key, state without
/// inputs) was not found, so it would have been loaded a second time after an upgrade.
#[test]
fn a_load_recorded_by_the_earlier_format_is_not_loaded_twice() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "old.csv", &events(1, 4));
    let db = dir.path().join("o.db");
    let p = write(
        dir.path(),
        "legacy.toml",
        &format!(
            "[source]\npath = {csv:?}\n[sink]\nurl = \"sqlite://{}\"\ntable = \"t\"\n",
            db.display()
        ),
    );
    // The earlier version's record of this pipeline's complete load: keyed by a hash of
    // the input names, its state holding a fingerprint and no inputs.
    let legacy_id = rowflow::loads::Identity::legacy_input_id(std::slice::from_ref(&csv));
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch(
        "CREATE TABLE t (id INTEGER, kind TEXT); INSERT INTO t VALUES (1, 'e1');
         CREATE TABLE _rowflow_checkpoints (pipeline TEXT NOT NULL, target_table TEXT NOT NULL, \
         input_id TEXT NOT NULL, writer INTEGER NOT NULL, input TEXT NOT NULL, run_id TEXT NOT NULL, \
         txn INTEGER NOT NULL, state TEXT NOT NULL, updated_at TEXT NOT NULL, \
         PRIMARY KEY (pipeline, target_table, input_id, writer));",
    )
    .unwrap();
    c.execute(
        "INSERT INTO _rowflow_checkpoints VALUES ('legacy', 't', ?1, 0, ?2, 'r', 1, ?3, '2026-11-01')",
        rusqlite::params![
            legacy_id,
            csv,
            r#"{"lwm":{"file":0,"record":4,"line":5,"byte":40},"lwm_records":4,"ranges":[],"written":4,"filtered":0,"rejected":0,"reject_bytes":0,"fingerprint":"size=1","complete":true}"#
        ],
    )
    .unwrap();
    drop(c);
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("earlier version") && run.stderr.contains("--restart"),
        "{}",
        run.stderr
    );
    let run = rowflow(dir.path(), &["run", &p, "-q", "--json", "--restart"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 4);
}

/// Hostile test: `rowflow load data/*.csv` expanded by the shell names other files once a
/// file is added (another load), and `./a.csv` is another spelling of `a.csv`: the files
/// another load completed into the table are skipped, not loaded a second time.
#[test]
fn files_another_load_completed_into_the_table_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", &events(1, 3));
    write(dir.path(), "b.csv", &events(10, 4));
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let load = |files: &[&str]| {
        let mut args = vec!["load"];
        args.extend_from_slice(files);
        args.extend_from_slice(&["--into", &url, "--table", "ev", "--json", "-q"]);
        rowflow(dir.path(), &args)
    };
    assert_eq!(load(&["a.csv"]).json()["rows_written"], 3);
    let j = load(&["a.csv", "b.csv"]).json();
    assert_eq!(j["rows_written"], 4, "only b.csv: {j}");
    assert!(j["notes"].to_string().contains("another load"), "{j}");
    let j = load(&["./a.csv"]).json();
    assert_eq!(j["status"], "skipped", "{j}");
    // And the next run of the two-file load skips both (a.csv is in its own record now).
    assert_eq!(load(&["a.csv", "b.csv"]).json()["status"], "skipped");
    let n: i64 = rusqlite::Connection::open(dir.path().join("x.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM ev", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 7);
}

/// Hostile test: the lock's session closed under a run (an idle timeout, a proxy, an
/// administrator) let a second run load the same rows too.
#[test]
fn a_run_that_lost_its_lock_stops_before_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    // SQLite: the lock file replaced under the run.
    let db = dir.path().join("l.db");
    let url = format!("sqlite://{}", db.display());
    let args = ["load", "-", "--into", &url, "--table", "ev", "--json", "-q"];
    let mut run = spawn(dir.path(), &args);
    let mut input = run.stdin.take().unwrap();
    input.write_all(events(1, 20_000).as_bytes()).unwrap();
    let lock = rowflow::loads::sqlite_lock_path(&db);
    std::fs::remove_file(&lock).unwrap();
    drop(input);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("lock of this load was lost"),
        "{out:?}"
    );
    // PostgreSQL: the session holding the advisory lock is ended (as a server restart or
    // an idle timeout would). Alone, the run takes the lock over and commits.
    let Some(pg) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = "rf_trust_lost_lock";
    pg.drop_table(table);
    let url = pg.url();
    // One transaction for the whole input, so that the first run's commit comes after
    // its lock session was ended (and, below, after the second run has finished).
    let args = [
        "load",
        "-",
        "--into",
        &url,
        "--table",
        table,
        "--json",
        "-q",
        "--set",
        "sink.commit_rows=100000",
    ];
    let end_lock_session = |pid: u32| {
        pg.exec(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name LIKE 'rowflow pid {pid} %'"
        ))
    };
    let mut run = spawn(dir.path(), &args);
    let mut input = run.stdin.take().unwrap();
    input.write_all(events(1, 20_000).as_bytes()).unwrap();
    end_lock_session(run.id());
    drop(input);
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "taken over: {out:?}");
    let t = pg.ident(table);
    assert_eq!(pg.count(&format!("SELECT count(*) FROM {t}")), 20_000);
    // But when another run of the load took it meanwhile, and committed, the first one
    // stops before its commit.
    pg.drop_table(table);
    pg.exec(&format!("CREATE TABLE {t} (id bigint, kind text)"));
    let mut first = spawn(dir.path(), &args);
    let mut input = first.stdin.take().unwrap();
    input.write_all(events(1, 20_000).as_bytes()).unwrap();
    end_lock_session(first.id());
    let second = rowflow_stdin(dir.path(), &args, &events(100_000, 5));
    assert_eq!(second.code, 0, "{second:?}");
    drop(input);
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("another run of the load committed"),
        "{out:?}"
    );
    assert_eq!(
        pg.count(&format!("SELECT count(*) FROM {t}")),
        5,
        "only the second run's"
    );
    pg.drop_table(table);
}

/// Hostile test: Ctrl-C while waiting (`--wait`) for another run was ignored until that
/// run ended.
#[test]
fn ctrl_c_while_waiting_for_another_run_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let args = ["load", "-", "--into", &url, "--table", "ev", "-q"];
    let mut first = spawn(dir.path(), &args);
    let mut first_in = first.stdin.take().unwrap();
    first_in.write_all(events(1, 20_000).as_bytes()).unwrap();
    let waiting = spawn(dir.path(), &[&args[..], &["--wait", "--json"]].concat());
    std::thread::sleep(Duration::from_millis(800));
    let t0 = Instant::now();
    sigint(&waiting);
    let out = waiting.wait_with_output().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    drop(first_in);
    assert_eq!(first.wait().unwrap().code(), Some(0));
}

/// Hostile test: with `path = "*.csv"`, the reject file beside the inputs was read as an
/// input by the next run (and refused).
#[test]
fn a_glob_does_not_read_the_reject_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "id,n\n1,1\n1,2\n");
    let p = write(
        dir.path(),
        "g.toml",
        "[source]\npath = \"*.csv\"\n[sink]\nurl = \"sqlite://g.db\"\ntable = \"t\"\nkey = [\"id\"]\n\
         [errors]\nreject_file = \"rejects.csv\"\n",
    );
    assert_eq!(rowflow(dir.path(), &["run", &p, "-q"]).code, 1);
    assert!(dir.path().join("rejects.csv").exists());
    write(dir.path(), "b.csv", "id,n\n2,2\n");
    let run = rowflow(dir.path(), &["run", &p, "-q", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 1);
}

/// Hostile test: rows appended to a file loaded completely made the next append run
/// load all of it again (its first rows twice).
#[test]
fn a_file_that_grew_is_not_loaded_twice_in_append_mode() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "log.csv", &events(1, 5));
    let (first, db) = crate::harness::load(dir.path(), Path::new(&csv), &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let mut body = events(1, 5);
    body.push_str("6,e6\n7,e7\n");
    std::fs::write(&csv, &body).unwrap();
    let (again, _) = crate::harness::load(dir.path(), Path::new(&csv), &[]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("grew since it was loaded completely")
            && again.stderr.contains("--restart"),
        "{}",
        again.stderr
    );
    let n: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5, "nothing written twice");
}
