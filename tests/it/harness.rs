//! Running the binary and reading databases back.

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::types::Value as Sql;

/// The result of one `rowflow` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` summary printed on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The binary under test: this build's, or `ROWFLOW_TEST_BIN` (to check that a test
/// fails on another build, such as the commit before a fix).
pub fn bin() -> String {
    std::env::var("ROWFLOW_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rowflow").into())
}

/// Run `rowflow ARGS` in `cwd`.
pub fn rowflow(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run rowflow");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `rowflow ARGS` in `cwd`, killed (and the test failed) if it has not ended within
/// `limit`: for runs that a bug could make hang.
pub fn rowflow_within(cwd: &Path, args: &[&str], limit: std::time::Duration) -> Run {
    use std::io::Read;
    let mut child = spawn(cwd, args);
    drop(child.stdin.take());
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "rowflow {args:?} did not end within {limit:?}; stderr: {}",
                e.join().unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    }
}

/// Start `rowflow ARGS` in `cwd` with piped stdin, stdout and stderr.
pub fn spawn(cwd: &Path, args: &[&str]) -> std::process::Child {
    use std::process::Stdio;
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rowflow")
}

/// A fixture under `tests/data`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// All rows of a query.
pub fn query(db: &Path, sql: &str) -> Vec<Vec<Sql>> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Sql>(i)).collect())
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
}

/// Declared column names and types of a table.
pub fn columns(db: &Path, table: &str) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut stmt = conn
        .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
        .expect("prepare");
    stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows")
}

/// `load FILE --into sqlite://DB --table t --json` plus extra args, in `dir`.
pub fn load(dir: &Path, file: &Path, extra: &[&str]) -> (Run, PathBuf) {
    let db = dir.join("out.db");
    let url = format!("sqlite://{}", db.display());
    let file = file.to_string_lossy().into_owned();
    let mut args = vec![
        "load",
        file.as_str(),
        "--into",
        url.as_str(),
        "--table",
        "t",
        "--json",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    (rowflow(dir, &args), db)
}

pub fn text(s: &str) -> Sql {
    Sql::Text(s.to_string())
}

/// Read a CSV file into records of strings (for comparing reject files).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    rdr.records()
        .map(|r| r.expect("record").iter().map(String::from).collect())
        .collect()
}

/// Run `rowflow ARGS` in `cwd` (through `sh -c` with `ulimit -v vmem_kb` when given),
/// with `stdin` as its standard input; returns its result and its peak resident memory
/// in KiB, as GNU time reports it. (The test process cannot measure its own child: the
/// kernel counts the spawning process's memory in the child's peak until it execs, and
/// this process holds other tests' data.)
pub fn rowflow_measured(
    cwd: &Path,
    args: &[&str],
    stdin: std::process::Stdio,
    vmem_kb: Option<u64>,
) -> (Run, u64) {
    const TIME: &str = "/usr/bin/time";
    assert!(
        Path::new(TIME).exists(),
        "{TIME} is needed to measure peak memory (Debian package `time`; .ci/run installs it)"
    );
    let bin = bin();
    let limit = vmem_kb.map_or(String::new(), |kb| format!("ulimit -v {kb} && "));
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{limit}exec {TIME} -f ROWFLOW_MAXRSS_KB=%M \"$0\" \"$@\""
        ))
        .arg(bin)
        .args(args)
        .current_dir(cwd)
        .stdin(stdin)
        .output()
        .expect("run rowflow under time");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let (rest, rss) = match stderr.rsplit_once("ROWFLOW_MAXRSS_KB=") {
        Some((rest, n)) => (rest.to_string(), n.trim().parse().unwrap_or(u64::MAX)),
        None => panic!("no peak memory reported: {stderr}"),
    };
    // GNU time says so when the command failed; that line is not rowflow's.
    let rest: String = rest
        .lines()
        .filter(|l| !l.starts_with("Command exited with non-zero status"))
        .collect::<Vec<_>>()
        .join("\n");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: rest,
    };
    (run, rss)
}

/// Start `rowflow run PIPELINE -q` in `dir` and SIGKILL it once the SQLite table `table`
/// of `db` has a committed row; the rows committed then. Panics when the run ends first.
pub fn kill_after_first_commit(dir: &Path, pipeline: &Path, db: &Path, table: &str) -> i64 {
    use std::time::{Duration, Instant};
    let count = || {
        rusqlite::Connection::open(db)
            .ok()
            .and_then(|c| {
                c.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
                    r.get::<_, i64>(0)
                })
                .ok()
            })
            .unwrap_or(0)
    };
    let mut child = spawn(dir, &["run", pipeline.to_str().unwrap(), "-q"]);
    let t0 = Instant::now();
    while count() == 0 {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the run ended before it was killed: {st}");
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "nothing committed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    count()
}

/// A pipeline `p.toml` in `dir` loading `input` into table `t` of the SQLite file `db`,
/// committing every 5,000 rows (for runs killed half-way).
pub fn small_commits_pipeline(dir: &Path, input: &Path, db: &Path) -> PathBuf {
    let p = dir.join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\n[sink]\nurl = \"sqlite://{}\"\ntable = \"t\"\ncommit_rows = 5000\n[runtime]\nbatch_rows = 500\n",
            input.display().to_string(),
            db.display()
        ),
    )
    .unwrap();
    p
}
