//! Loads past one process: `submit` + real `rowflow worker` processes over the NATS
//! JetStream server on this machine (`ROWFLOW_TEST_NATS`, default
//! nats://127.0.0.1:4222), and `run --shard`. Every test compares what the table holds
//! with a single-process load of the same file, row by row.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::db::{Db, Kind};
use crate::harness::{Run, bin, rowflow};
use crate::mock_http::Mock;

fn nats_url() -> String {
    std::env::var("ROWFLOW_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Whether NATS answers; with CI set, a NATS that is not there is a failure.
fn nats_up() -> bool {
    let url = nats_url();
    let hostport = url
        .trim_start_matches("nats://")
        .split(',')
        .next()
        .unwrap_or("")
        .to_string();
    let ok = std::net::TcpStream::connect_timeout(
        &hostport.parse().expect("ROWFLOW_TEST_NATS host:port"),
        Duration::from_secs(2),
    )
    .is_ok();
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("NATS is not reachable at {url} and CI is set");
        }
        crate::db::skipped(&format!("NATS is not reachable at {url}"));
    }
    ok
}

/// A tag of this test's own (its temporary directory's name).
fn run_tag(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().trim_start_matches('.').to_string())
        .unwrap_or_default()
}

/// The standard workload's pipeline into `table` of `db`, reading `csv`.
fn pipeline(dir: &Path, db: &Db, table: &str, csv: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(crate::harness::root().join("examples/users/pipeline.toml"))
        .unwrap()
        .replace(
            "path = \"users.csv\"",
            &format!("path = {:?}", csv.display().to_string()),
        )
        .replace(
            "url = \"sqlite://out/users.db\"",
            &format!("url = {:?}", db.url()),
        )
        .replace("table = \"users_out\"", &format!("table = {table:?}"))
        // A name of this test run's own: loads of earlier runs of the suite (left in
        // NATS, perhaps unfinished) are other pipelines.
        .replace(
            "name = \"users\"",
            &format!("name = \"users-{}\"", run_tag(dir)),
        )
        .replace(
            "mode = \"replace\"",
            "mode = \"replace\"\ncommit_rows = 1000",
        );
    let p = dir.join(format!("{table}.toml"));
    std::fs::write(&p, format!("{text}\n{extra}")).unwrap();
    p
}

fn generate(dir: &Path, rows: u64) -> PathBuf {
    let csv = dir.join("users.csv");
    let r = rowflow(
        dir,
        &[
            "generate",
            "users",
            "--rows",
            &rows.to_string(),
            "--out",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    csv
}

fn submit(dir: &Path, pipeline: &Path, args: &[&str]) -> String {
    submit_to(&nats_url(), dir, pipeline, args)
}

fn submit_to(url: &str, dir: &Path, pipeline: &Path, args: &[&str]) -> String {
    let mut all = vec!["submit", pipeline.to_str().unwrap(), "--nats"];
    all.push(url);
    all.extend_from_slice(args);
    let r = rowflow(dir, &all);
    assert_eq!(r.code, 0, "submit failed:\n{}", r.stderr);
    r.stdout.trim().to_string()
}

/// A worker process of load `id`, its output in `dir/worker-<n>.log`.
fn worker(dir: &Path, id: &str, n: usize) -> Child {
    worker_of(&nats_url(), dir, id, n)
}

fn worker_of(url: &str, dir: &Path, id: &str, n: usize) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("worker-{n}.log")))
        .unwrap();
    Command::new(bin())
        .args(["worker", "--nats", url, "--load", id])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start a worker")
}

fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("worker-") {
            out.push_str(&format!("--- {name}\n"));
            out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    out
}

fn wait(dir: &Path, id: &str) -> Run {
    wait_at(dir, id, &nats_url())
}

/// `rowflow wait ID --json` against `url`, given at most three minutes: a load that
/// never finishes fails the test (with the workers' logs) instead of hanging it.
fn wait_at(dir: &Path, id: &str, url: &str) -> Run {
    let mut c = Command::new(bin())
        .args(["wait", id, "--nats", url, "--json"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rowflow wait");
    let t0 = Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(180) {
            let _ = c.kill();
            let status = rowflow(dir, &["status", id, "--nats", url]);
            panic!(
                "load {id} did not finish in 3 minutes:\n{}\n{}",
                status.stdout,
                logs(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = c.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn reap(dir: &Path, workers: Vec<Child>) {
    for mut w in workers {
        let t0 = Instant::now();
        loop {
            if w.try_wait().unwrap().is_some() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                let _ = w.kill();
                let _ = w.wait();
                panic!(
                    "a worker did not exit after its load finished:\n{}",
                    logs(dir)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// An `http` stage that takes its time (two requests in flight, small batches): a chunk
/// is still running, with commits behind it and ahead, when a test acts on its worker.
fn slow_http(mock: &Mock) -> String {
    format!(
        "[runtime]\nbatch_rows = 50\n[[transform]]\ntype = \"http\"\nurl = \"{}\"\nconcurrency = 2\n\
         [transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n",
        mock.url("/api?id={id}")
    )
}

/// Wait (a minute at most) until `table` holds committed rows.
fn wait_for_commit(dir: &Path, db: &Db, table: &str) {
    let t0 = Instant::now();
    let sql = format!("SELECT count(*) FROM {}", db.ident(table));
    loop {
        let n = db.try_query(&sql).ok().and_then(|r| r[0][0].clone());
        if n.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0) > 0 {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no commit:\n{}",
            logs(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The process's exit status, which must come within `limit`.
fn exit_within(c: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        assert!(t0.elapsed() < limit, "the worker did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every row of `table`, as text, in key order.
fn rows(db: &Db, table: &str) -> Vec<Vec<Option<String>>> {
    let t = db.ident(table);
    db.query(&format!("SELECT * FROM {t} ORDER BY id"))
}

/// The same pipeline run by one process into `table`: what the distributed load must
/// equal.
fn single(dir: &Path, db: &Db, table: &str, csv: &Path, extra: &str) -> Vec<Vec<Option<String>>> {
    db.drop_table(table);
    let p = pipeline(dir, db, table, csv, extra);
    let r = rowflow(dir, &["run", p.to_str().unwrap(), "--quiet"]);
    assert!(r.code <= 1, "single-process run failed:\n{}", r.stderr);
    rows(db, table)
}

fn four_workers_match_one_process(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let csv = generate(dir.path(), 24_000);
    let expected = single(dir.path(), &db, "dist_one", &csv, "");
    assert_eq!(expected.len(), 24_000);
    db.drop_table("dist_four");
    // A table already there, which `mode = "replace"` replaces once, at submit.
    let t = db.ident("dist_four");
    db.exec(&format!("CREATE TABLE {t} (junk INTEGER)"));
    db.exec(&format!("INSERT INTO {t} VALUES (1), (2)"));
    let p = pipeline(dir.path(), &db, "dist_four", &csv, "");
    let id = submit(
        dir.path(),
        &p,
        &["--chunk-size", "200KB", "--ack-wait", "2"],
    );
    let st = rowflow(
        dir.path(),
        &["status", &id, "--nats", &nats_url(), "--json"],
    );
    let chunks = st.json()["chunks"].as_array().unwrap().len();
    assert!(chunks >= 16, "{chunks} chunks");
    let workers: Vec<Child> = (0..4).map(|n| worker(dir.path(), &id, n)).collect();
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    let j = w.json();
    assert_eq!(
        j["counts"],
        serde_json::json!({"pending": 0, "running": 0, "done": chunks, "failed": 0})
    );
    assert_eq!(j["rows"]["written"], 24_000);
    assert!(
        rows(&db, "dist_four") == expected,
        "the distributed load differs from one process"
    );
    // More than one worker did the work.
    let log = logs(dir.path());
    let busy = (0..4)
        .filter(|n| {
            log.split(&format!("--- worker-{n}.log"))
                .nth(1)
                .is_some_and(|l| l.split("--- ").next().unwrap_or("").contains(": done,"))
        })
        .count();
    assert!(busy >= 2, "{busy} workers loaded chunks:\n{log}");
}

mod four_workers {
    #[test]
    fn postgres() {
        super::four_workers_match_one_process(crate::db::Kind::Postgres)
    }
    #[test]
    fn mysql() {
        super::four_workers_match_one_process(crate::db::Kind::Mysql)
    }
}

/// Workers killed with SIGKILL at random moments (and started again, or not): every
/// row exactly once, every time.
#[test]
fn killed_workers_never_lose_or_double_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let csv = generate(dir.path(), 12_000);
    let expected = single(dir.path(), &db, "dist_kill_one", &csv, "");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let trials = std::env::var("ROWFLOW_KILL_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    for trial in 0..trials {
        db.drop_table("dist_kill");
        let p = pipeline(dir.path(), &db, "dist_kill", &csv, "");
        let id = submit(
            dir.path(),
            &p,
            &["--chunk-size", "150KB", "--ack-wait", "1"],
        );
        let mut workers: Vec<Child> = (0..3).map(|n| worker(dir.path(), &id, n)).collect();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(100 + rnd(900)));
            let victim = rnd(workers.len() as u64) as usize;
            let mut w = workers.remove(victim);
            let _ = w.kill(); // SIGKILL
            let _ = w.wait();
            if rnd(3) > 0 {
                workers.push(worker(dir.path(), &id, 10 + trial * 10 + workers.len()));
            }
        }
        if workers.is_empty() {
            workers.push(worker(dir.path(), &id, 99));
        }
        let w = wait(dir.path(), &id);
        reap(dir.path(), workers);
        assert_eq!(
            w.code,
            0,
            "trial {trial}: {}\n{}",
            w.stdout,
            logs(dir.path())
        );
        let got = rows(&db, "dist_kill");
        assert_eq!(got.len(), expected.len(), "trial {trial}: row count");
        assert!(got == expected, "trial {trial}: rows differ");
    }
}

/// A worker that stops answering (SIGSTOP) loses its chunk to another worker; when it
/// wakes up, its next commit is refused, and every row is still there exactly once.
#[test]
fn a_stale_workers_late_commit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let mock = Mock::start(Duration::from_millis(2));
    let csv = generate(dir.path(), 3_000);
    // An HTTP stage that takes its time: the chunk is still running when the worker is
    // stopped, with commits behind it and ahead of it.
    let http = slow_http(&mock);
    let expected = single(dir.path(), &db, "dist_stale_one", &csv, &http);
    db.drop_table("dist_stale");
    let p = pipeline(dir.path(), &db, "dist_stale", &csv, &http);
    let id = submit(
        dir.path(),
        &p,
        &["--chunk-size", "100MB", "--ack-wait", "1"],
    );
    let mut a = worker(dir.path(), &id, 0);
    // Wait until the one chunk has committed rows, then freeze its worker.
    wait_for_commit(dir.path(), &db, "dist_stale");
    let pid = a.id() as i32;
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // The ack wait passes without heartbeats: the chunk goes to another worker.
    std::thread::sleep(Duration::from_millis(2500));
    let b = worker(dir.path(), &id, 1);
    let w = wait(dir.path(), &id);
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    reap(dir.path(), vec![b]);
    let t1 = Instant::now();
    while a.try_wait().unwrap().is_none() && t1.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = a.kill();
    let _ = a.wait();
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    let log = logs(dir.path());
    let a_log = std::fs::read_to_string(dir.path().join("worker-0.log")).unwrap();
    assert!(
        a_log.contains("was given to another worker"),
        "the stale worker's commit was not refused:\n{log}"
    );
    let got = rows(&db, "dist_stale");
    assert_eq!(got.len(), 3_000);
    assert!(got == expected, "rows differ from one process");
}

/// Quoted fields with newlines, doubled quotes and CRLF around every chunk boundary.
#[test]
fn multiline_records_across_chunk_boundaries_load_as_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let mut text = String::from("id,note,n\n");
    for i in 0..2_000u64 {
        let note = match i % 5 {
            0 => "\"line one\nline two\n\"".to_string(),
            1 => "\"a \"\"quoted\"\", comma\"".to_string(),
            2 => "\"\n\n\"".to_string(),
            3 => "plain".to_string(),
            _ => format!("\"{}\"", "x\r\n".repeat((i % 4) as usize)),
        };
        text.push_str(&format!(
            "{i},{note},{}{}",
            i * 7,
            if i % 3 == 0 { "\r\n" } else { "\n" }
        ));
    }
    let csv = dir.path().join("multi.csv");
    std::fs::write(&csv, &text).unwrap();
    let spec = |table: &str| {
        let p = dir.path().join(format!("{table}.toml"));
        std::fs::write(
            &p,
            format!(
                "name = \"multi-{}\"\n[source]\npath = {:?}\n[source.schema]\nid = \"int\"\nnote = \"text\"\nn = \"int\"\n[sink]\nurl = {:?}\ntable = {table:?}\nmode = \"replace\"\ncommit_rows = 100\n",
                run_tag(dir.path()),
                csv.display().to_string(),
                db.url()
            ),
        )
        .unwrap();
        p
    };
    db.drop_table("dist_multi_one");
    let r = rowflow(
        dir.path(),
        &["run", spec("dist_multi_one").to_str().unwrap(), "--quiet"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    db.drop_table("dist_multi");
    let id = submit(
        dir.path(),
        &spec("dist_multi"),
        &["--chunk-size", "1KB", "--ack-wait", "2"],
    );
    let workers: Vec<Child> = (0..2).map(|n| worker(dir.path(), &id, n)).collect();
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    assert!(w.json()["chunks"].as_array().unwrap().len() > 20);
    let one = db.query(&format!(
        "SELECT * FROM {} ORDER BY id",
        db.ident("dist_multi_one")
    ));
    let got = db.query(&format!(
        "SELECT * FROM {} ORDER BY id",
        db.ident("dist_multi")
    ));
    assert_eq!(one.len(), 2_000);
    assert!(got == one, "rows differ from one process");
}

/// `rate_limit` holds for the whole load: 4 workers, 500 requests per second, the mock
/// API counts at most 500 (+ burst) in any 1-second window.
#[test]
fn the_rate_limit_holds_across_workers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let mock = Mock::start_with("127.0.0.1:0", Duration::from_millis(1), 2);
    let csv = generate(dir.path(), 2_400);
    let burst = 20;
    let http = format!(
        "[[transform]]\ntype = \"http\"\nurl = \"{}\"\nconcurrency = 32\nrate_limit = 500\nburst = {burst}\n[transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n",
        mock.url("/api?id={id}")
    );
    db.drop_table("dist_rate");
    let p = pipeline(dir.path(), &db, "dist_rate", &csv, &http);
    let id = submit(dir.path(), &p, &["--chunk-size", "40KB", "--ack-wait", "2"]);
    let workers: Vec<Child> = (0..4).map(|n| worker(dir.path(), &id, n)).collect();
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident("dist_rate"))),
        2_400
    );
    let mut times = mock.state.times.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 2_400);
    // The most requests in any window of one second.
    let (mut most, mut j) = (0usize, 0usize);
    for i in 0..times.len() {
        while times[i].duration_since(times[j]) >= Duration::from_secs(1) {
            j += 1;
        }
        most = most.max(i - j + 1);
    }
    assert!(most <= 500 + burst, "{most} requests in one second");
    // And the limit is what paced the load, not something slower (a share of the rate
    // per worker would give 125 a second; the bound leaves room for a busy machine).
    assert!(most >= 200, "only {most} requests in the busiest second");
}

/// A distributed load's rejects go to the target database, `rowflow rejects` writes
/// them out, and `wait` exits 1.
#[test]
fn rejects_are_kept_in_the_database_and_written_out() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let mut text = String::from("id,amount\n");
    for i in 0..3_000u64 {
        if i % 500 == 7 {
            text.push_str(&format!("{i},not-a-number\n"));
        } else if i == 2_999 {
            // One field too many: it follows `_error` in the reject file, as in a run's.
            text.push_str(&format!("{i},1.5,extra\n"));
        } else {
            text.push_str(&format!("{i},{i}.5\n"));
        }
    }
    let csv = dir.path().join("amounts.csv");
    std::fs::write(&csv, &text).unwrap();
    let p = dir.path().join("amounts.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"amounts-{}\"\n[source]\npath = {:?}\n[source.schema]\nid = \"int\"\namount = \"decimal\"\n[sink]\nurl = {:?}\ntable = \"dist_rejects\"\nmode = \"replace\"\ncommit_rows = 200\n",
            run_tag(dir.path()),
            csv.display().to_string(),
            db.url()
        ),
    )
    .unwrap();
    db.drop_table("dist_rejects");
    let id = submit(dir.path(), &p, &["--chunk-size", "8KB", "--ack-wait", "2"]);
    let workers: Vec<Child> = (0..2).map(|n| worker(dir.path(), &id, n)).collect();
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 1, "{}\n{}", w.stdout, logs(dir.path()));
    assert_eq!(
        w.json()["rows"],
        serde_json::json!({"read": 3000, "written": 2993, "filtered": 0, "rejected": 7})
    );
    assert_eq!(
        db.count(&format!(
            "SELECT count(*) FROM {}",
            db.ident("dist_rejects")
        )),
        2_993
    );
    // The output must be a reject file (or not exist): an input is not replaced.
    let r = rowflow(
        dir.path(),
        &[
            "rejects",
            &id,
            "--nats",
            &nats_url(),
            "--output",
            csv.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a reject file"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), text);
    let out = dir.path().join("rejects.csv");
    let r = rowflow(
        dir.path(),
        &[
            "rejects",
            &id,
            "--nats",
            &nats_url(),
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = crate::harness::read_csv(&out);
    assert_eq!(got[0], ["id", "amount", "_file", "_line", "_error"]);
    assert_eq!(got.len(), 8);
    let last = &got[7];
    assert_eq!(
        last[..4],
        ["2999", "1.5", csv.display().to_string().as_str(), "3001"]
    );
    assert_eq!(last[5], "extra");
    for (k, row) in got[1..7].iter().enumerate() {
        let i = 500 * k as u64 + 7;
        assert_eq!(row[0], i.to_string());
        assert_eq!(row[1], "not-a-number");
        assert!(row[2].ends_with("amounts.csv"), "{row:?}");
        // The file's real line: the header is line 1.
        assert_eq!(row[3], (i + 2).to_string());
        assert!(row[4].contains("amount"), "{row:?}");
    }
}

/// `run --shard I/N` in three copies loads every row once; a copy run again skips its
/// completed chunks.
#[test]
fn shards_load_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let csv = generate(dir.path(), 9_000);
    let expected = single(dir.path(), &db, "dist_shard_one", &csv, "");
    db.drop_table("dist_shard");
    let p = pipeline(dir.path(), &db, "dist_shard", &csv, "");
    // Shards append into a table prepared once.
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("mode = \"replace\"", "mode = \"append\"");
    std::fs::write(&p, text).unwrap();
    let runs: Vec<Child> = (0..3)
        .map(|i| {
            Command::new(bin())
                .args([
                    "run",
                    p.to_str().unwrap(),
                    "--shard",
                    &format!("{i}/3"),
                    "--chunk-size",
                    "100KB",
                    "--quiet",
                ])
                .current_dir(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Started together, the copies race to create the table: each one still loads
    // its share (the one that lost loads its chunk again into the other's table).
    for r in runs {
        let out = r.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for i in 0..3 {
        let r = rowflow(
            dir.path(),
            &[
                "run",
                p.to_str().unwrap(),
                "--shard",
                &format!("{i}/3"),
                "--chunk-size",
                "100KB",
                "--json",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert!(
        rows(&db, "dist_shard") == expected,
        "shards differ from one process"
    );
    // Once more: every chunk is complete, nothing is loaded twice.
    let r = rowflow(
        dir.path(),
        &[
            "run",
            p.to_str().unwrap(),
            "--shard",
            "1/3",
            "--chunk-size",
            "100KB",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["rows_written"], 0);
    assert_eq!(rows(&db, "dist_shard").len(), 9_000);
}

/// What a distributed load refuses, before anything is published.
#[test]
fn submit_refuses_what_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, "id,x\n1,a\n2,b\n").unwrap();
    let write = |name: &str, sink: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "[source]\npath = {:?}\n[sink]\n{sink}\ntable = \"t\"\n",
                csv.display().to_string()
            ),
        )
        .unwrap();
        p
    };
    let run = |p: &Path, extra: &[&str]| {
        let mut args = vec![
            "submit",
            p.to_str().unwrap(),
            "--nats",
            "nats://127.0.0.1:1",
        ];
        args.extend_from_slice(extra);
        rowflow(dir.path(), &args)
    };
    // A password written in the pipeline would be stored in NATS.
    let r = run(
        &write(
            "secret.toml",
            "url = \"postgres://u:hunter2@127.0.0.1/test\"",
        ),
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("sink.url") && r.stderr.contains("${VAR}"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    // A signed URL's signature is a credential too.
    let p = dir.path().join("signed.toml");
    std::fs::write(
        &p,
        "[source]\npath = \"https://h.example/x.csv?X-Amz-Signature=abcdef\"\n[sink]\nurl = \"postgres://u@h/db\"\ntable = \"t\"\n",
    )
    .unwrap();
    let r = run(&p, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("signed URL") && !r.stderr.contains("abcdef"),
        "{}",
        r.stderr
    );
    // SQLite is one local file.
    let r = run(&write("lite.toml", "url = \"sqlite://x.db\""), &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--shard"), "{}", r.stderr);
    // NATS not there: said plainly, and the table the load would replace is untouched.
    if let Some(db) = Db::get(Kind::Postgres, dir.path()) {
        let url = crate::db::pg_url();
        db.drop_table("dist_keep");
        db.exec(&format!(
            "CREATE TABLE {} (id int, x text)",
            db.ident("dist_keep")
        ));
        db.exec(&format!(
            "INSERT INTO {} VALUES (7, 'kept')",
            db.ident("dist_keep")
        ));
        let p = dir.path().join("keep.toml");
        std::fs::write(
            &p,
            format!(
                "[source]\npath = {:?}\n[sink]\nurl = {url:?}\ntable = \"dist_keep\"\nmode = \"replace\"\n",
                csv.display().to_string()
            ),
        )
        .unwrap();
        let r = run(&p, &[]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("cannot connect to NATS"), "{}", r.stderr);
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM {} WHERE x = 'kept'",
                db.ident("dist_keep")
            )),
            1
        );
        // Upsert over several chunks (refused after planning, before anything is
        // published).
        if !nats_up() {
            return;
        }
        let up = write(
            "up.toml",
            &format!("url = {url:?}\nmode = \"upsert\"\nkey = [\"id\"]"),
        );
        let r = rowflow(
            dir.path(),
            &[
                "submit",
                up.to_str().unwrap(),
                "--nats",
                &nats_url(),
                "--chunk-size",
                "5",
            ],
        );
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("upsert"), "{}", r.stderr);
    }
}

/// A NATS server of this test's own (JetStream, its store in `store`), on `port`.
fn private_nats(store: &Path, port: u16) -> Child {
    let c = Command::new("nats-server")
        .args([
            "-js",
            "-sd",
            store.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server (installed with NATS; .ci/run installs it)");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// NATS restarting in the middle of a load: the workers reconnect and finish it, every
/// row once.
#[test]
fn workers_ride_out_a_nats_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let csv = generate(dir.path(), 12_000);
    let expected = single(dir.path(), &db, "dist_restart_one", &csv, "");
    db.drop_table("dist_restart");
    let store = dir.path().join("nats");
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let mut nats = private_nats(&store, port);
    let p = pipeline(
        dir.path(),
        &db,
        "dist_restart",
        &csv,
        "[runtime]\nbatch_rows = 200\n",
    );
    let id = submit_to(
        &url,
        dir.path(),
        &p,
        &["--chunk-size", "60KB", "--ack-wait", "2"],
    );
    let workers: Vec<Child> = (0..2)
        .map(|n| worker_of(&url, dir.path(), &id, n))
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let _ = nats.kill();
    let _ = nats.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let mut nats = private_nats(&store, port);
    let w = wait_at(dir.path(), &id, &url);
    reap(dir.path(), workers);
    let _ = nats.kill();
    let _ = nats.wait();
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    let got = rows(&db, "dist_restart");
    assert_eq!(got.len(), 12_000, "{}", logs(dir.path()));
    assert!(got == expected, "rows differ from one process");
}

/// SIGTERM: the worker stops after its next commit and releases its chunk at once;
/// another worker finishes the load, every row once.
#[test]
fn sigterm_releases_the_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let mock = Mock::start(Duration::from_millis(1));
    let csv = generate(dir.path(), 2_000);
    let http = slow_http(&mock);
    let expected = single(dir.path(), &db, "dist_term_one", &csv, &http);
    db.drop_table("dist_term");
    let p = pipeline(dir.path(), &db, "dist_term", &csv, &http);
    // One chunk, and a long ack wait: only the release can make it move soon.
    let id = submit(
        dir.path(),
        &p,
        &["--chunk-size", "100MB", "--ack-wait", "60"],
    );
    let mut a = worker(dir.path(), &id, 0);
    wait_for_commit(dir.path(), &db, "dist_term");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(a.id() as i32, libc::SIGTERM) };
    let t1 = Instant::now();
    let status = exit_within(&mut a, Duration::from_secs(20));
    assert!(status.success(), "{}", logs(dir.path()));
    let log = logs(dir.path());
    assert!(log.contains("released for another worker"), "{log}");
    let partial = db.count(&format!("SELECT count(*) FROM {}", db.ident("dist_term")));
    assert!(partial > 0 && partial < 2_000, "{partial} rows at the stop");
    let b = worker(dir.path(), &id, 1);
    let w = wait(dir.path(), &id);
    reap(dir.path(), vec![b]);
    // Well before the ack wait: the chunk was released, not timed out.
    assert!(
        t1.elapsed() < Duration::from_secs(45),
        "took {:?}",
        t1.elapsed()
    );
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    assert!(
        rows(&db, "dist_term") == expected,
        "rows differ from one process"
    );
}

/// A chunk that keeps failing is failed after `--max-deliver` attempts, with its
/// reason; `rowflow retry` (once the cause is fixed) requeues it and the load finishes.
#[test]
fn failed_chunks_are_reported_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let csv = generate(dir.path(), 3_000);
    let expected = single(dir.path(), &db, "dist_retry_one", &csv, "");
    // A second input, moved away after the submit: its chunk cannot be read.
    let other = dir.path().join("more.csv");
    let moved = dir.path().join("more.csv.away");
    // The same rows with other ids.
    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let mut wtr = csv::Writer::from_path(&other).unwrap();
    wtr.write_record(rdr.headers().unwrap()).unwrap();
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let mut fields: Vec<String> = rec.iter().map(String::from).collect();
        fields[0] = (fields[0].parse::<u64>().unwrap() + 1_000_000).to_string();
        wtr.write_record(&fields).unwrap();
    }
    wtr.flush().unwrap();
    db.drop_table("dist_retry");
    let p = pipeline(dir.path(), &db, "dist_retry", &csv, "");
    let t = std::fs::read_to_string(&p).unwrap().replace(
        &format!("path = {:?}", csv.display().to_string()),
        &format!(
            "paths = [{:?}, {:?}]",
            csv.display().to_string(),
            other.display().to_string()
        ),
    );
    std::fs::write(&p, t).unwrap();
    let id = submit(
        dir.path(),
        &p,
        &[
            "--chunk-size",
            "100MB",
            "--ack-wait",
            "2",
            "--max-deliver",
            "2",
        ],
    );
    std::fs::rename(&other, &moved).unwrap();
    let workers: Vec<Child> = (0..2).map(|n| worker(dir.path(), &id, n)).collect();
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 2, "{}\n{}", w.stdout, logs(dir.path()));
    let j = w.json();
    assert_eq!(
        j["counts"],
        serde_json::json!({"pending": 0, "running": 0, "done": 1, "failed": 1})
    );
    let failed = j["chunks"][1].clone();
    assert_eq!(failed["state"], "failed");
    let why = failed["error"].as_str().unwrap();
    assert!(
        why.contains("given up after 2 attempts") && why.contains("more.csv"),
        "{why}"
    );
    // Fixed: requeued, loaded, nothing twice.
    std::fs::rename(&moved, &other).unwrap();
    let r = rowflow(dir.path(), &["retry", &id, "--nats", &nats_url(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["requeued"], 1);
    let workers: Vec<Child> = (0..1).map(|n| worker(dir.path(), &id, 10 + n)).collect();
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    // Each input's rows once.
    let t = db.ident("dist_retry");
    assert_eq!(db.count(&format!("SELECT count(*) FROM {t}")), 6_000);
    assert_eq!(
        db.count(&format!("SELECT count(DISTINCT id) FROM {t}")),
        6_000
    );
    let first = db.query(&format!("SELECT * FROM {t} WHERE id <= 3000 ORDER BY id"));
    assert!(
        first == expected,
        "the first input's rows differ from one process"
    );
}

/// `rowflow cancel`: chunks not started are dropped, running ones stop after a commit,
/// the workers exit, `wait` exits 2; what was committed stays, once.
#[test]
fn cancel_stops_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let mock = Mock::start(Duration::from_millis(2));
    let csv = generate(dir.path(), 4_000);
    let http = slow_http(&mock);
    db.drop_table("dist_cancel");
    let p = pipeline(dir.path(), &db, "dist_cancel", &csv, &http);
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("mode = \"replace\"", "mode = \"append\"");
    std::fs::write(&p, text).unwrap();
    let id = submit(dir.path(), &p, &["--chunk-size", "60KB", "--ack-wait", "2"]);
    let workers: Vec<Child> = (0..2).map(|n| worker(dir.path(), &id, n)).collect();
    wait_for_commit(dir.path(), &db, "dist_cancel");
    let r = rowflow(dir.path(), &["cancel", &id, "--nats", &nats_url()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 2, "{}", w.stdout);
    assert_eq!(w.json()["cancelled"], true);
    let t = db.ident("dist_cancel");
    let n = db.count(&format!("SELECT count(*) FROM {t}"));
    assert!(n > 0 && n < 4_000, "{n} rows after a cancel");
    assert_eq!(db.count(&format!("SELECT count(DISTINCT id) FROM {t}")), n);
    // Submitting it again in append mode would load the committed rows twice: refused.
    let r = rowflow(
        dir.path(),
        &["submit", p.to_str().unwrap(), "--nats", &nats_url()],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("did not complete") && r.stderr.contains("retry"),
        "{}",
        r.stderr
    );
    // `retry` resumes it: every chunk not done, each from its checkpoint.
    let r = rowflow(dir.path(), &["retry", &id, "--nats", &nats_url()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let workers: Vec<Child> = (0..2).map(|n| worker(dir.path(), &id, 10 + n)).collect();
    let w = wait(dir.path(), &id);
    reap(dir.path(), workers);
    assert_eq!(w.code, 0, "{}\n{}", w.stdout, logs(dir.path()));
    assert_eq!(db.count(&format!("SELECT count(*) FROM {t}")), 4_000);
    assert_eq!(
        db.count(&format!("SELECT count(DISTINCT id) FROM {t}")),
        4_000
    );
}

/// A worker without `--load` takes chunks of every load with work left (a private NATS
/// server: it would take other tests' chunks too), until SIGTERM; a finished load's
/// queue is deleted and its status still reads.
#[test]
fn a_worker_without_a_load_takes_every_load() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let store = dir.path().join("nats");
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let mut nats = private_nats(&store, port);
    let csv = generate(dir.path(), 3_000);
    let log = std::fs::File::create(dir.path().join("worker-any.log")).unwrap();
    let mut w = Command::new(bin())
        .args(["worker", "--nats", &url, "--concurrency", "2"])
        .current_dir(dir.path())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut ids = Vec::new();
    for table in ["dist_any_a", "dist_any_b"] {
        db.drop_table(table);
        let p = pipeline(dir.path(), &db, table, &csv, "");
        ids.push(submit_to(
            &url,
            dir.path(),
            &p,
            &["--chunk-size", "100KB", "--ack-wait", "2"],
        ));
    }
    for (id, table) in ids.iter().zip(["dist_any_a", "dist_any_b"]) {
        let r = wait_at(dir.path(), id, &url);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, logs(dir.path()));
        assert_eq!(
            db.count(&format!(
                "SELECT count(DISTINCT id) FROM {}",
                db.ident(table)
            )),
            3_000
        );
    }
    // The worker goes on until told to stop.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        w.try_wait().unwrap().is_none(),
        "the worker exited on its own"
    );
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(w.id() as i32, libc::SIGTERM) };
    let status = exit_within(&mut w, Duration::from_secs(20));
    assert!(status.success(), "{}", logs(dir.path()));
    let r = rowflow(dir.path(), &["status", &ids[0], "--nats", &url, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["finished"], true);
    let _ = nats.kill();
    let _ = nats.wait();
}

/// A worker whose environment expands the pipeline to another destination (or lacks a
/// variable) leaves the load to other workers: no row goes elsewhere.
#[test]
fn a_worker_with_another_environment_leaves_the_load_alone() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let csv = generate(dir.path(), 2_000);
    db.drop_table("dist_env");
    db.drop_table("dist_env_other");
    let p = pipeline(dir.path(), &db, "dist_env", &csv, "");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("table = \"dist_env\"", "table = \"${DIST_TABLE}\"");
    std::fs::write(&p, text).unwrap();
    let out = Command::new(bin())
        .args([
            "submit",
            p.to_str().unwrap(),
            "--nats",
            &nats_url(),
            "--chunk-size",
            "50KB",
        ])
        .env("DIST_TABLE", "dist_env")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // The wrong environment: it says so and exits 2, having written nothing.
    let bad = Command::new(bin())
        .args(["worker", "--nats", &nats_url(), "--load", &id])
        .env("DIST_TABLE", "dist_env_other")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("dist_env_other") && err.contains("other workers"),
        "{err}"
    );
    assert!(
        db.try_query(&format!("SELECT 1 FROM {}", db.ident("dist_env_other")))
            .is_err()
    );
    // No variable at all: the same.
    let none = Command::new(bin())
        .args(["worker", "--nats", &nats_url(), "--load", &id])
        .env_remove("DIST_TABLE")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("DIST_TABLE"));
    // A worker with the right one loads it all.
    let good = Command::new(bin())
        .args(["worker", "--nats", &nats_url(), "--load", &id])
        .env("DIST_TABLE", "dist_env")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let w = wait(dir.path(), &id);
    assert_eq!(w.code, 0, "{}", w.stdout);
    assert_eq!(
        db.count(&format!(
            "SELECT count(DISTINCT id) FROM {}",
            db.ident("dist_env")
        )),
        2_000
    );
}

/// Submits of the same load at the same moment (also spelled differently: `localhost`,
/// `public.`): exactly one is accepted. A comma-separated NATS list works.
#[test]
fn concurrent_submits_of_one_load_let_one_through() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    if !nats_up() {
        return;
    }
    let csv = generate(dir.path(), 2_000);
    db.drop_table("dist_race");
    let p = pipeline(dir.path(), &db, "dist_race", &csv, "");
    let url = db.url().replace("127.0.0.1", "localhost");
    let nats_list = format!("{},nats://127.0.0.1:1", nats_url());
    let sets: [Vec<String>; 3] = [
        vec![],
        vec!["--set".into(), format!("sink.url={url}")],
        vec!["--set".into(), "sink.table=public.dist_race".into()],
    ];
    let procs: Vec<Child> = sets
        .iter()
        .map(|extra| {
            let mut args = vec![
                "submit".to_string(),
                p.display().to_string(),
                "--nats".into(),
                nats_list.clone(),
            ];
            args.extend(extra.iter().cloned());
            Command::new(bin())
                .args(&args)
                .current_dir(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<std::process::Output> = procs
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let ok: Vec<&std::process::Output> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        ok.len(),
        1,
        "{:?}",
        outs.iter()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect::<Vec<_>>()
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("same rows"), "{err}");
    }
    let id = String::from_utf8_lossy(&ok[0].stdout).trim().to_string();
    let w = worker(dir.path(), &id, 0);
    let r = wait(dir.path(), &id);
    reap(dir.path(), vec![w]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident("dist_race"))),
        2_000
    );
}
