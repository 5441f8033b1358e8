//! Inputs by URL, against a real S3-compatible server on loopback: `moto_server` (the
//! Python package `moto[server]`, which `.ci/run` installs), started by the suite on a
//! free port unless `ROWFLOW_TEST_S3` names one. Between rowflow and the server, a
//! fault proxy of our own logs each request's `Range` header, can slow the bytes down,
//! and can cut connections mid-object.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::db::{Db, Kind, skipped};
use crate::harness::{Run, bin, query, root};
use crate::workload::{expected, got};

/// The S3-compatible server's endpoint, starting it once for the test process.
fn s3() -> Option<String> {
    static ENDPOINT: OnceLock<Option<String>> = OnceLock::new();
    ENDPOINT
        .get_or_init(|| {
            if let Ok(url) = std::env::var("ROWFLOW_TEST_S3") {
                return Some(url);
            }
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .ok()?;
            // The server dies with the test process: a watchdog shell ends it.
            let script = format!(
                "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
                 while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
                std::process::id()
            );
            let has = Command::new("sh")
                .args(["-c", "command -v moto_server"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !has {
                return None;
            }
            Command::new("sh").args(["-c", &script]).spawn().ok()?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(format!("http://127.0.0.1:{port}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            None
        })
        .clone()
}

/// The server, or why the test cannot run (a failure under CI).
fn server() -> Option<String> {
    match s3() {
        Some(e) => Some(e),
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "no S3-compatible server: install moto[server] (see .ci/run) or set ROWFLOW_TEST_S3"
            )
        }
        None => {
            skipped("no S3-compatible server (pip install 'moto[server]')");
            None
        }
    }
}

/// One plain HTTP request to `endpoint` (moto takes unsigned bucket and object writes).
fn http(endpoint: &str, method: &str, path: &str, body: &[u8]) -> u16 {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A new bucket holding `objects` (key, bytes).
fn bucket(endpoint: &str, name: &str, objects: &[(&str, Vec<u8>)]) {
    assert_eq!(http(endpoint, "PUT", &format!("/{name}"), b""), 200);
    for (key, body) in objects {
        assert_eq!(http(endpoint, "PUT", &format!("/{name}/{key}"), body), 200);
    }
}

/// A unique bucket name per test.
fn bucket_name(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "rf-{}-{}-{}",
        test.replace('_', "-"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `rowflow ARGS` with the S3 credentials and endpoint in the environment, as a user
/// would set them.
fn rowflow_s3(cwd: &Path, endpoint: &str, args: &[&str]) -> Run {
    let out = command(cwd, endpoint, args).output().expect("run rowflow");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `rowflow load URL --into sqlite://DB --table t --json` with the S3 environment.
fn load_s3(dir: &Path, endpoint: &str, url: &str, db: &Path) -> Run {
    let into = format!("sqlite://{}", db.display());
    rowflow_s3(
        dir,
        endpoint,
        &["load", url, "--into", &into, "--table", "t", "--json"],
    )
}

fn command(cwd: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(cwd)
        .env("AWS_ACCESS_KEY_ID", "AKIATESTKEYID0001")
        .env("AWS_SECRET_ACCESS_KEY", "test-secret-do-not-print")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE");
    c
}

/// The standard workload, `rows` rows, as a CSV file in `dir`.
fn workload(dir: &Path, rows: usize) -> PathBuf {
    let csv = dir.join("users.csv");
    let run = crate::harness::rowflow(
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
    assert_eq!(run.code, 0, "{run:?}");
    csv
}

/// The standard workload (`rows` rows) in `dir` and as `users.csv` in a new bucket.
fn workload_in_bucket(endpoint: &str, dir: &Path, rows: usize, test: &str) -> (PathBuf, String) {
    let csv = workload(dir, rows);
    let b = bucket_name(test);
    bucket(endpoint, &b, &[("users.csv", std::fs::read(&csv).unwrap())]);
    (csv, b)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The example pipeline over `source` into `url`, table `table`.
fn run_example(dir: &Path, endpoint: &str, source: &str, url: &str, extra: &[&str]) -> Run {
    let pipeline = root().join("examples/users/pipeline.toml");
    let mut args = vec![
        "run".to_string(),
        pipeline.to_str().unwrap().to_string(),
        "--set".into(),
        format!("source.path={source}"),
        "--set".into(),
        format!("sink.url={url}"),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    rowflow_s3(dir, endpoint, &args)
}

/// Count and sums that say the same rows arrived, read from any of the three databases.
fn fingerprint(db: &Db, table: &str) -> (i64, i64, i64) {
    let sql = format!(
        "SELECT COUNT(*), SUM(id), SUM(visits) FROM {}",
        db.ident(table)
    );
    let row = &db.query(&sql)[0];
    let int = |v: &Option<String>| {
        v.as_deref()
            .and_then(|s| s.split('.').next())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(-1)
    };
    (int(&row[0]), int(&row[1]), int(&row[2]))
}

fn s3_workload_matches_the_local_load(kind: Kind) {
    let Some(endpoint) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let csv = workload(dir.path(), 20_000);
    let b = bucket_name("workload");
    bucket(
        &endpoint,
        &b,
        &[("exports/users.csv", std::fs::read(&csv).unwrap())],
    );
    let want = expected(&csv);
    let table = format!("users_s3_{}", std::process::id());
    db.drop_table(&table);
    let run = run_example(
        dir.path(),
        &endpoint,
        &format!("s3://{b}/exports/users.csv"),
        &db.url(),
        &["--set", &format!("sink.table={table}")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 20_000, "{j}");
    assert!(
        !run.stderr.contains("test-secret-do-not-print") && !run.stdout.contains("test-secret"),
        "a secret was printed: {run:?}"
    );
    if kind == Kind::Sqlite {
        // Every checksum of the standard workload, computed from the CSV by hand.
        let file = db.file.clone().unwrap();
        let renamed = dir.path().join("copy.db");
        std::fs::copy(&file, &renamed).unwrap();
        let conn = rusqlite::Connection::open(&renamed).unwrap();
        conn.execute(&format!("ALTER TABLE \"{table}\" RENAME TO users_out"), [])
            .unwrap();
        drop(conn);
        assert_eq!(got(&renamed), want);
    } else {
        let (n, ids, visits) = fingerprint(&db, &table);
        assert_eq!(n, 20_000);
        let sum_id: i64 = (1..=20_000).sum();
        assert_eq!(ids, sum_id);
        assert!(visits > 0);
    }
    db.drop_table(&table);
}

crate::db::on_every_db!(s3_workload_matches_the_local_load);

#[test]
fn a_glob_of_gzip_parts_is_read_in_key_order() {
    let Some(endpoint) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let b = bucket_name("glob");
    let part = |from: usize, to: usize| {
        let mut s = String::from("id,name\n");
        for i in from..to {
            s.push_str(&format!("{i},n{i}\n"));
        }
        gzip(s.as_bytes())
    };
    bucket(
        &endpoint,
        &b,
        &[
            ("exports/2026-02/part-2.csv.gz", part(300, 400)),
            ("exports/2026-01/part-1.csv.gz", part(0, 100)),
            ("exports/2026-01/part-2.csv.gz", part(100, 300)),
            ("exports/2026-01/other.txt", b"not a part".to_vec()),
            ("exports/2026-01/sub/part-9.csv.gz", part(900, 901)),
        ],
    );
    let db = dir.path().join("g.db");
    let run = load_s3(
        dir.path(),
        &endpoint,
        &format!("s3://{b}/exports/2026-*/part-*.csv.gz"),
        &db,
    );
    assert_eq!(run.code, 0, "{run:?}");
    // `*` does not cross a `/`: sub/part-9 is not matched. Rows come in key order.
    let rows = query(&db, "SELECT COUNT(*), MIN(id), MAX(id) FROM t");
    assert_eq!(
        rows[0],
        vec![
            rusqlite::types::Value::Integer(400),
            rusqlite::types::Value::Integer(0),
            rusqlite::types::Value::Integer(399)
        ]
    );
    let order = query(&db, "SELECT id FROM t ORDER BY rowid LIMIT 1 OFFSET 100");
    assert_eq!(order[0][0], rusqlite::types::Value::Integer(100));
}

#[test]
fn missing_objects_buckets_and_globs_are_clear_errors_and_write_nothing() {
    let Some(endpoint) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let b = bucket_name("missing");
    bucket(&endpoint, &b, &[("a.csv", b"id\n1\n".to_vec())]);
    let db = dir.path().join("m.db");
    for (url, says) in [
        (format!("s3://{b}/nope.csv"), "no such object"),
        (
            format!("s3://no-such-bucket-{b}/a.csv"),
            "no such object (or no such bucket)",
        ),
        (format!("s3://{b}/zz-*.csv"), "no object matches"),
        (format!("s3://{b}/"), "names a bucket or a folder"),
    ] {
        let run = load_s3(dir.path(), &endpoint, &url, &db);
        assert_eq!(run.code, 2, "{url}: {run:?}");
        assert!(run.stderr.contains(says), "{url}: {}", run.stderr);
        assert!(
            run.stderr.contains(&b) || url.contains("no-such"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("test-secret"), "{}", run.stderr);
        assert!(
            !db.exists()
                || query(&db, "SELECT name FROM sqlite_master WHERE name = 't'").is_empty()
        );
    }
}

/// An HTTP request's head (up to the blank line), or `None` when the client went away.
fn read_head(c: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if c.read(&mut b).unwrap_or(0) == 0 {
            return None;
        }
        head.push(b[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// What the fault proxy saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    range: Option<String>,
}

/// A proxy on loopback in front of the S3 server: one request per connection, each
/// logged with its `Range`; GETs of `target` can be cut after `cut_after` bytes of the
/// answer (`cuts` times) and slowed down (`delay` per 16 KiB).
struct Proxy {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    fn start(
        upstream: &str,
        target: &str,
        cuts: usize,
        cut_after: usize,
        delay: Duration,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cuts = Arc::new(AtomicUsize::new(cuts));
        let (up, target, log) = (
            upstream.trim_start_matches("http://").to_string(),
            target.to_string(),
            seen.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (up, target, log, cuts) =
                    (up.clone(), target.clone(), log.clone(), cuts.clone());
                std::thread::spawn(move || {
                    let _ = relay(client, &up, &target, &log, &cuts, cut_after, delay);
                });
            }
        });
        Proxy { addr, seen }
    }

    fn gets_of(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == "GET" && s.path.starts_with(path))
            .cloned()
            .collect()
    }
}

fn relay(
    mut client: TcpStream,
    upstream: &str,
    target: &str,
    log: &Mutex<Vec<Seen>>,
    cuts: &AtomicUsize,
    cut_after: usize,
    delay: Duration,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some(text) = read_head(&mut client) else {
        return Ok(());
    };
    let mut lines = text.split("\r\n");
    let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let (method, path) = (
        first[0].to_string(),
        first.get(1).unwrap_or(&"").to_string(),
    );
    let mut range = None;
    let mut out = format!("{} {} HTTP/1.1\r\n", method, path);
    for l in lines.filter(|l| !l.is_empty()) {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("range:") {
            range = Some(l[6..].trim().to_string());
        }
        if lower.starts_with("connection:") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        range,
    });
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(out.as_bytes())?;
    let cut = method == "GET"
        && path.starts_with(target)
        && cuts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
            .is_ok();
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0usize;
    loop {
        let n = server.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let n = if cut {
            n.min(cut_after.saturating_sub(sent))
        } else {
            n
        };
        client.write_all(&buf[..n])?;
        sent += n;
        if cut && sent >= cut_after {
            // Cut mid-answer: the client sees the connection drop.
            let _ = client.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        if !delay.is_zero() && method == "GET" {
            std::thread::sleep(delay);
        }
    }
    Ok(())
}

/// The first number of a `bytes=N-` range.
fn range_start(r: &Option<String>) -> Option<u64> {
    r.as_deref()?
        .strip_prefix("bytes=")?
        .split('-')
        .next()?
        .parse()
        .ok()
}

#[test]
fn connections_cut_mid_object_are_resumed_at_the_right_byte() {
    let Some(endpoint) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (csv, b) = workload_in_bucket(&endpoint, dir.path(), 5_000, "cut");
    let size = std::fs::metadata(&csv).unwrap().len();
    // Three cuts, each after 100 KB of an answer.
    let proxy = Proxy::start(
        &endpoint,
        &format!("/{b}/users.csv"),
        3,
        100_000,
        Duration::ZERO,
    );
    let db = dir.path().join("c.db");
    let run = run_example(
        dir.path(),
        &proxy.addr,
        &format!("s3://{b}/users.csv"),
        &format!("sqlite://{}", db.display()),
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(got(&db), expected(&csv), "every row exactly once");
    let gets = proxy.gets_of(&format!("/{b}/users.csv"));
    // The first GET reads from the start; each one after a cut asks for the bytes
    // after those received. Object_store may add attempts of its own, but every range
    // start is one the reader had reached, and they grow.
    assert!(gets.len() >= 4, "{gets:?}");
    let starts: Vec<u64> = gets
        .iter()
        .map(|g| range_start(&g.range).unwrap_or(0))
        .collect();
    assert_eq!(starts[0], 0, "{gets:?}");
    for w in starts.windows(2) {
        assert!(w[1] >= w[0], "ranges go forward: {starts:?}");
    }
    assert!(starts.iter().any(|&s| s > 0 && s < size), "{starts:?}");
    // Each cut lets 100 KB of an answer through, its head (a few hundred bytes) included,
    // so each retry starts just under 100 KB after the one before: where the body
    // bytes ended. (A retry from the wrong place would also break the checksums above.)
    let steps: Vec<u64> = starts.windows(2).map(|p| p[1] - p[0]).collect();
    assert!(
        steps.iter().all(|&d| (99_000..100_000).contains(&d)),
        "{starts:?}"
    );
}

#[test]
fn a_killed_remote_load_resumes_with_a_ranged_get_and_loads_every_row_once() {
    let Some(endpoint) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (csv, b) = workload_in_bucket(&endpoint, dir.path(), 20_000, "kill");
    let db = dir.path().join("k.db");
    let url = format!("sqlite://{}", db.display());
    let source = format!("s3://{b}/users.csv");
    let pipeline = root().join("examples/users/pipeline.toml");
    // Slow: 16 KiB every 25 ms (about 4 s for the object), commits every 1,000 rows.
    let slow = Proxy::start(&endpoint, "/", 0, 0, Duration::from_millis(25));
    let mut child = command(
        dir.path(),
        &slow.addr,
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--set",
            &format!("source.path={source}"),
            "--set",
            &format!("sink.url={url}"),
            "--set",
            "sink.commit_rows=1000",
            "--quiet",
        ],
    )
    .spawn()
    .unwrap();
    // Kill once some rows are committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let committed = db.exists()
            && std::panic::catch_unwind(|| query(&db, "SELECT COUNT(*) FROM users_out"))
                .ok()
                .and_then(|r| r.first().cloned())
                .is_some_and(|r| r[0] != rusqlite::types::Value::Integer(0));
        if committed || Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the load finished before it was killed");
    let before = match &query(&db, "SELECT COUNT(*) FROM users_out")[0][0] {
        rusqlite::types::Value::Integer(n) => *n,
        other => panic!("{other:?}"),
    };
    assert!(before > 0 && before < 20_000, "{before}");
    // Resume through a logging proxy.
    let log = Proxy::start(&endpoint, "/", 0, 0, Duration::ZERO);
    let run = run_example(dir.path(), &log.addr, &source, &url, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let notes = run.json()["notes"].to_string();
    // It is not read a second time to record its content: its ETag stands for it.
    assert!(
        notes.contains("recorded as loaded by its ETag and size"),
        "{notes}"
    );
    assert_eq!(got(&db), expected(&csv), "every row exactly once");
    let gets = log.gets_of(&format!("/{b}/users.csv"));
    // Reading the header (and sniffing the compression) asks for the first MiB only;
    // the rows are read from the committed offset on, and nothing after them.
    let open_ended = |g: &Seen| match &g.range {
        None => true,
        Some(r) => r.ends_with('-'),
    };
    let first = gets
        .iter()
        .position(open_ended)
        .expect("the resumed run read the rows");
    for g in &gets[..first] {
        assert_eq!(g.range.as_deref(), Some("bytes=0-1048575"), "{gets:?}");
    }
    let start = range_start(&gets[first].range);
    let size = std::fs::metadata(&csv).unwrap().len();
    assert_eq!(gets.len(), first + 1, "the object was read again: {gets:?}");
    assert!(
        start.is_some_and(|s| s > 0 && s < size),
        "the resumed run must read the rows with a ranged GET at the committed offset, not from byte 0: {gets:?}"
    );
}

/// A static HTTP server of our own on loopback serving `body` at any path: with
/// `ranges` it honours `Range` (206), without it answers 200 with everything; the first
/// `cuts` GETs are cut after `cut_after` bytes; `status` other than 200 is answered to
/// every request. Returns its address and a log of the Range headers it saw.
fn serve(
    body: Vec<u8>,
    ranges: bool,
    cuts: usize,
    cut_after: usize,
    status: u16,
) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let body = Arc::new(body);
    let cuts = Arc::new(AtomicUsize::new(cuts));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let (body, seen, cuts) = (body.clone(), seen.clone(), cuts.clone());
            std::thread::spawn(move || {
                let Some(text) = read_head(&mut c) else {
                    return;
                };
                let method = text.split(' ').next().unwrap_or("").to_string();
                let range = text
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range:"))
                    .map(|l| l[6..].trim().to_string());
                if method == "GET" {
                    seen.lock().unwrap().push(range.clone());
                }
                if status != 200 {
                    let _ = write!(
                        c,
                        "HTTP/1.1 {status} No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    return;
                }
                let (start, end) = match (&range, ranges) {
                    (Some(r), true) => {
                        let r = r.trim_start_matches("bytes=");
                        let (a, z) = r.split_once('-').unwrap_or((r, ""));
                        let a: usize = a.parse().unwrap_or(0);
                        let z: usize = z.parse().map(|z: usize| z + 1).unwrap_or(body.len());
                        (a.min(body.len()), z.min(body.len()))
                    }
                    _ => (0, body.len()),
                };
                let partial = range.is_some() && ranges;
                let mut out = format!(
                    "HTTP/1.1 {}\r\nContent-Length: {}\r\nETag: \"v1\"\r\nConnection: close\r\n",
                    if partial {
                        "206 Partial Content"
                    } else {
                        "200 OK"
                    },
                    end - start
                );
                if partial {
                    out.push_str(&format!(
                        "Content-Range: bytes {start}-{}/{}\r\n",
                        end.max(1) - 1,
                        body.len()
                    ));
                }
                out.push_str("\r\n");
                let _ = c.write_all(out.as_bytes());
                if method == "HEAD" {
                    return;
                }
                let cut = cuts
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                let data = &body[start..end];
                let n = if cut {
                    cut_after.min(data.len())
                } else {
                    data.len()
                };
                let _ = c.write_all(&data[..n]);
                if cut {
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
            });
        }
    });
    (addr, log)
}

fn ints(n: usize) -> Vec<u8> {
    let mut s = String::from("id,name\n");
    for i in 0..n {
        s.push_str(&format!("{i},name {i}\n"));
    }
    s.into_bytes()
}

fn load_url(dir: &Path, url: &str, db: &Path) -> Run {
    crate::harness::rowflow(
        dir,
        &[
            "load",
            url,
            "--into",
            &format!("sqlite://{}", db.display()),
            "--table",
            "t",
            "--json",
        ],
    )
}

fn count_and_sum(db: &Path) -> (i64, i64) {
    match query(db, "SELECT COUNT(*), SUM(id) FROM t")[0].as_slice() {
        [
            rusqlite::types::Value::Integer(n),
            rusqlite::types::Value::Integer(s),
        ] => (*n, *s),
        other => panic!("{other:?}"),
    }
}

#[test]
fn http_urls_load_plain_and_gzip_and_a_cut_is_resumed_even_without_range_support() {
    let dir = tempfile::tempdir().unwrap();
    let body = ints(50_000);
    let want = (50_000, (0..50_000i64).sum::<i64>());
    // Plain, with Range support, cut twice mid-body: resumed with ranged GETs.
    let (addr, log) = serve(body.clone(), true, 2, 200_000, 200);
    let db = dir.path().join("a.db");
    let run = load_url(dir.path(), &format!("{addr}/data/users.csv?token=abc"), &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(count_and_sum(&db), want);
    let ranges = log.lock().unwrap().clone();
    assert!(
        ranges.iter().any(|r| r.as_deref() == Some("bytes=200000-")),
        "{ranges:?}"
    );
    // Each reconnection is said, in one line and in --json.
    let notes = run.json()["notes"].to_string();
    assert!(
        notes.contains("at byte 200000; resumed from there with a ranged request"),
        "{notes}"
    );
    assert!(
        !run.stderr.contains("token=abc") && !run.stdout.contains("token=abc"),
        "{run:?}"
    );
    // gzip, no Range support at all, cut once: read again from the start and the bytes
    // already received dropped (every row once).
    let (addr, log) = serve(gzip(&body), false, 1, 30_000, 200);
    let db = dir.path().join("b.db");
    let run = load_url(dir.path(), &format!("{addr}/users.csv.gz"), &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(count_and_sum(&db), want);
    assert!(log.lock().unwrap().len() >= 2);
    let notes = run.json()["notes"].to_string();
    assert!(notes.contains("the server ignores Range"), "{notes}");
    // A refused URL: a clear error, exit 2, nothing written.
    let (addr, _) = serve(body, true, 0, 0, 403);
    let db = dir.path().join("c.db");
    let run = load_url(
        dir.path(),
        &format!("{addr}/users.csv?X-Amz-Signature=secret"),
        &db,
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("access denied"), "{}", run.stderr);
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
    assert!(!db.exists());
}

#[test]
fn a_presigned_url_loads_and_its_signature_is_never_printed() {
    let Some(endpoint) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let b = bucket_name("presigned");
    bucket(&endpoint, &b, &[("users.csv", ints(1_000))]);
    use object_store::signer::Signer;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(&b)
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("AKIATESTKEYID0001")
        .with_secret_access_key("test-secret-do-not-print")
        .build()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt
        .block_on(store.signed_url(
            reqwest::Method::GET,
            &object_store::path::Path::from("users.csv"),
            Duration::from_secs(600),
        ))
        .unwrap();
    let url = url.to_string();
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let db = dir.path().join("p.db");
    // No credentials in the environment: the URL carries them.
    let run = load_url(dir.path(), &url, &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(count_and_sum(&db), (1_000, (0..1_000i64).sum::<i64>()));
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
    assert!(
        !run.stderr.contains(signature) && !run.stdout.contains(signature),
        "{run:?}"
    );
    // Nor is it kept in the load's key: `rowflow checkpoints` shows the URL without it.
    let listed = crate::harness::rowflow(
        dir.path(),
        &[
            "checkpoints",
            &format!("sqlite://{}", db.display()),
            "--json",
        ],
    );
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(!listed.stdout.contains(signature), "{}", listed.stdout);
    assert!(listed.stdout.contains("/users.csv"), "{}", listed.stdout);
}

#[test]
fn a_refused_s3_request_names_the_credentials_used_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    // A server that refuses everything, as S3 does a wrong key.
    let (endpoint, _) = serve(Vec::new(), true, 0, 0, 403);
    let db = dir.path().join("d.db");
    let run = rowflow_s3(
        dir.path(),
        &endpoint,
        &[
            "load",
            "s3://some-bucket/users.csv",
            "--into",
            &format!("sqlite://{}", db.display()),
        ],
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("access denied, using the access key AKIA…0001 from AWS_ACCESS_KEY_ID"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("s3://some-bucket/users.csv"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("test-secret"), "{}", run.stderr);
    assert!(!db.exists());
}

/// Azurite's blob service (`npm install -g azurite`), started on a free port; the
/// fixture is written with the Azure SDK for Python (`pip install azure-storage-blob`).
/// `.ci/run` installs both.
fn azurite() -> Option<String> {
    let has = |c: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let sdk = Command::new("python3")
        .args(["-c", "import azure.storage.blob"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has("azurite-blob") || !sdk {
        if std::env::var_os("CI").is_some() {
            panic!(
                "no Azure emulator: npm install -g azurite; pip install azure-storage-blob (see .ci/run)"
            );
        }
        skipped("no Azure emulator (npm install -g azurite; pip install azure-storage-blob)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .ok()?;
    let data = tempfile::tempdir().ok()?.keep();
    let script = format!(
        "azurite-blob --blobHost 127.0.0.1 --blobPort {port} --location {} --silent \
         --skipApiVersionCheck >/dev/null 2>&1 & m=$!; \
         while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m",
        data.display(),
        std::process::id()
    );
    Command::new("sh").args(["-c", &script]).spawn().ok()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(format!("http://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn the_workload_loads_from_azure_blob_storage_through_azurite() {
    let Some(endpoint) = azurite() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = workload(dir.path(), 5_000);
    // The emulator's well-known development account.
    let upload = format!(
        "from azure.storage.blob import BlobServiceClient\n\
         c = BlobServiceClient.from_connection_string('DefaultEndpointsProtocol=http;\
         AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;\
         BlobEndpoint={endpoint}/devstoreaccount1;')\n\
         c.create_container('exports')\n\
         c.get_blob_client('exports', 'users.csv').upload_blob(open(r'{}', 'rb').read())\n",
        csv.display()
    );
    let up = Command::new("python3")
        .args(["-c", &upload])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let db = dir.path().join("az.db");
    let pipeline = root().join("examples/users/pipeline.toml");
    let out = Command::new(bin())
        .args([
            "run",
            pipeline.to_str().unwrap(),
            "--set",
            "source.path=az://exports/users.csv",
            "--set",
            &format!("sink.url=sqlite://{}", db.display()),
            "--set",
            "source.storage.options.azure_storage_use_emulator=true",
            "--json",
        ])
        .env("AZURITE_BLOB_STORAGE_URL", &endpoint)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(got(&db), expected(&csv));
}

/// A server whose first answer stalls after `after` bytes (the connection stays open,
/// nothing more comes); later answers honour `Range`.
fn stalling(body: Vec<u8>, after: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let body = Arc::new(body);
    let first = Arc::new(AtomicUsize::new(1));
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let (body, first) = (body.clone(), first.clone());
            std::thread::spawn(move || {
                let Some(text) = read_head(&mut c) else {
                    return;
                };
                let is_get = text.starts_with("GET");
                let start: usize = text
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range: bytes="))
                    .and_then(|l| l[13..].split('-').next().map(str::to_string))
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(0);
                let data = &body[start..];
                let status = if start > 0 {
                    "206 Partial Content"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                    data.len(),
                    body.len() - 1,
                    body.len()
                );
                if !is_get {
                    return;
                }
                if first
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let _ = c.write_all(&data[..after]);
                    std::thread::sleep(Duration::from_secs(20));
                    return;
                }
                let _ = c.write_all(data);
            });
        }
    });
    addr
}

#[test]
fn a_stalled_download_times_out_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let body = ints(20_000);
    let addr = stalling(body, 50_000);
    let toml = dir.path().join("p.toml");
    std::fs::write(
        &toml,
        format!(
            "[source]\npath = \"{addr}/users.csv\"\n[source.storage]\nread_timeout = 1\n\
             [sink]\nurl = \"sqlite://{}\"\ntable = \"t\"\n",
            dir.path().join("s.db").display()
        ),
    )
    .unwrap();
    let t0 = Instant::now();
    let run = crate::harness::rowflow(dir.path(), &["run", toml.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(
        count_and_sum(&dir.path().join("s.db")),
        (20_000, (0..20_000i64).sum::<i64>())
    );
    let notes = run.json()["notes"].to_string();
    // The client's read timeout (or ours: "no bytes arrived") ends the stalled read.
    assert!(
        notes.contains("timed out") || notes.contains("no bytes arrived for 1 s"),
        "{notes}"
    );
    assert!(
        notes.contains("at byte 50000; resumed from there"),
        "{notes}"
    );
}

/// A server whose first GET is cut after 100,000 bytes (ETag "v1") and whose answers
/// to the resumed request lie: with `changed`, a 206 of another version (ETag "v2");
/// without it, a 206 from 1,000 bytes before the byte asked for.
fn liar(body: Vec<u8>, changed: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let body = Arc::new(body);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let body = body.clone();
            std::thread::spawn(move || {
                let Some(text) = read_head(&mut c) else {
                    return;
                };
                let start: Option<usize> = text
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("range: bytes="))
                    .and_then(|l| l[13..].split('-').next())
                    .and_then(|s| s.trim().parse().ok());
                let n = body.len();
                match start {
                    Some(pos) if pos > 0 => {
                        let (from, etag) = if changed {
                            (pos, "v2")
                        } else {
                            (pos - 1000, "v1")
                        };
                        let _ = write!(
                            c,
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{n}\r\nETag: \"{etag}\"\r\nConnection: close\r\n\r\n",
                            n - from,
                            n - 1
                        );
                        let _ = c.write_all(&body[from..]);
                    }
                    _ => {
                        let _ = write!(
                            c,
                            "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n"
                        );
                        if text.starts_with("GET") {
                            let _ = c.write_all(&body[..100_000]);
                            let _ = c.shutdown(std::net::Shutdown::Both);
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_resumed_answer_of_another_version_or_range_is_refused_never_spliced() {
    let dir = tempfile::tempdir().unwrap();
    for (changed, says) in [
        (true, "changed while it was being read"),
        (false, "another range"),
    ] {
        let addr = liar(ints(30_000), changed);
        let db = dir.path().join(format!("l{changed}.db"));
        let run = load_url(dir.path(), &format!("{addr}/users.csv"), &db);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(says), "{}", run.stderr);
        // Nothing of the mixed read was committed.
        assert!(
            !db.exists()
                || query(&db, "SELECT name FROM sqlite_master WHERE name = 't'").is_empty()
                || count_and_sum(&db).0 == 0,
            "rows were written"
        );
    }
}

#[test]
fn keys_that_hold_glob_characters_are_read_literally_and_kept_apart() {
    let Some(endpoint) = server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let b = bucket_name("qkeys");
    let csv = |ids: std::ops::Range<i64>| {
        let mut s = String::from("id\n");
        for i in ids {
            s.push_str(&format!("{i}\n"));
        }
        s.into_bytes()
    };
    // `?` and `[` are percent-encoded on the wire: they are part of the keys.
    bucket(
        &endpoint,
        &b,
        &[
            ("g/q%3Fa.csv", csv(0..2)),
            ("g/q%3Fb.csv", csv(2..5)),
            ("g/r%5B1%5D.csv", csv(5..6)),
        ],
    );
    let db = dir.path().join("q.db");
    let run = load_s3(dir.path(), &endpoint, &format!("s3://{b}/g/*"), &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        count_and_sum(&db),
        (6, 15),
        "every object once: {}",
        run.stdout
    );
    // A key with `[` named as it is.
    let db = dir.path().join("r.db");
    let run = load_s3(dir.path(), &endpoint, &format!("s3://{b}/g/r[1].csv"), &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(count_and_sum(&db), (1, 5));
}

#[test]
fn unsupported_schemes_and_html_pages_are_refused_and_file_urls_are_paths() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("u.db");
    let run = load_url(dir.path(), "ftp://127.0.0.1/x.csv", &db);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("scheme \"ftp\" is not supported"),
        "{}",
        run.stderr
    );
    let local = dir.path().join("local.csv");
    std::fs::write(&local, ints(10)).unwrap();
    let run = load_url(dir.path(), &format!("file://{}", local.display()), &db);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(count_and_sum(&db), (10, 45));
    // An HTML page (a directory listing, a login page) is not a CSV file.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = read_head(&mut c);
            let page = "<html><body><a href=\"a.csv\">a.csv</a></body></html>";
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    let db = dir.path().join("h.db");
    let run = load_url(dir.path(), &format!("{addr}/"), &db);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("HTML page"), "{}", run.stderr);
}

#[test]
fn ctrl_c_stops_a_remote_read_that_waits_for_bytes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // The first answer stalls after 50 KB for 20 s; the read timeout is the default 60 s:
    // only the stop flag can end the wait (while the types are being sampled).
    let addr = stalling(ints(20_000), 50_000);
    let db = dir.path().join("i.db");
    let mut child = Command::new(bin())
        .args([
            "load",
            &format!("{addr}/users.csv"),
            "--into",
            &format!("sqlite://{}", db.display()),
            "--table",
            "t",
            "--json",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("rowflow did not stop within 10 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("interrupted") || err.contains("stopped"),
        "{err}"
    );
}
