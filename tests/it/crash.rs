//! Crash safety, proven by killing the real process: SIGKILL at random (seeded) moments,
//! then run again until done; the final table and reject file must equal those of one
//! clean run. Also Ctrl-C then resume, a changed input refused, `--restart`, and resume
//! with the HTTP stage. The long soak (hundreds of kills) is `bench/soak.py`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::db::{Db, Kind};
use crate::harness::{rowflow, spawn};

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

/// A small deterministic generator (xorshift), so every trial is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The standard workload's transform, plus a division by zero for every 997th id (rows
/// that end in the reject file), into `table` at `url`, committing every `commit` rows.
fn pipeline(
    dir: &Path,
    name: &str,
    inputs: &[String],
    url: &str,
    table: &str,
    commit: usize,
    writers: usize,
) -> String {
    let paths: Vec<String> = inputs.iter().map(|p| format!("{p:?}")).collect();
    write(
        dir,
        name,
        &format!(
            "name = \"crash\"\n[source]\npaths = [{}]\n[source.schema]\nid = \"int\"\nfirst_name = \"text\"\n\
             last_name = \"text\"\nemail = \"text\"\nbirthdate = \"date\"\nsignup_ts = \"timestamp\"\n\
             country = \"text\"\nplan = \"text\"\nmonthly_spend = \"decimal\"\nvisits = \"int\"\nnotes = \"text\"\n\n\
             [[transform]]\ntype = \"compute\"\n[transform.columns]\n\
             full_name = \"first_name || ' ' || last_name\"\nemail = \"lower(trim(email))\"\n\
             annual_spend = \"CAST(monthly_spend * 12 AS double precision)\"\n\
             check = \"CASE WHEN id % 997 = 0 THEN 1 / 0 ELSE 1 END\"\n\n\
             [[transform]]\ntype = \"select\"\ncolumns = [\"id\", \"full_name\", \"email\", \"annual_spend\", \"visits\", \"signup_ts\", \"notes\"]\n\n\
             [sink]\nurl = {url:?}\ntable = {table:?}\nmode = \"replace\"\nkey = [\"id\"]\ncommit_rows = {commit}\nwriters = {writers}\n\
             [errors]\nreject_file = \"{table}.rejects.csv\"\n[runtime]\nbatch_rows = 500\n",
            paths.join(", ")
        ),
    )
}

/// Every row of `table`, as text, ordered by id: what two loads must agree on.
fn contents(db: &Db, table: &str) -> Vec<Vec<Option<String>>> {
    let cols = [
        "id",
        "full_name",
        "email",
        "annual_spend",
        "visits",
        "notes",
    ]
    .map(|c| db.ident(c))
    .join(", ");
    db.query(&format!(
        "SELECT {cols}, {} FROM {} ORDER BY {}",
        db.epoch_micros(&db.ident("signup_ts")),
        db.ident(table),
        db.ident("id")
    ))
}

/// The records of a CSV file, sorted.
fn sorted_records(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut r: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    r.sort();
    r
}

/// Run to the end, retrying a few times (a kill can land while the previous run's
/// server connection is still closing).
fn finish(dir: &Path, p: &str) -> serde_json::Value {
    for _ in 0..5 {
        let run = rowflow(dir, &["run", p, "--json", "-q"]);
        if run.code == 1 || run.code == 0 {
            return run.json();
        }
        eprintln!("a resumed run failed, trying again: {run:?}");
    }
    panic!("the load did not finish after 5 runs");
}

/// `trials` loads of `rows` rows into `kind`, each killed at 1 to 3 random moments, then
/// finished; each must end exactly as the clean load.
fn kill_and_resume(kind: Kind, trials: u64, rows: u64, writers: usize, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    // Two inputs, the second gzipped: resuming finds the right file and re-reads a
    // compressed stream to its offset. One generated file, split in two.
    let whole = dir.path().join("whole.csv");
    rowflow::generate::users(rows, seed, std::fs::File::create(&whole).unwrap()).unwrap();
    let mut rdr = csv::Reader::from_path(&whole).unwrap();
    let header = rdr.headers().unwrap().clone();
    let records: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let (first, second) = records.split_at(records.len() / 2);
    let a = dir.path().join("a.csv");
    let mut w = csv::Writer::from_path(&a).unwrap();
    w.write_record(&header).unwrap();
    first.iter().for_each(|r| w.write_record(r).unwrap());
    w.flush().unwrap();
    let b = dir.path().join("b.csv.gz");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&b).unwrap(), Default::default());
    let mut w = csv::Writer::from_writer(gz);
    w.write_record(&header).unwrap();
    second.iter().for_each(|r| w.write_record(r).unwrap());
    w.into_inner().unwrap().finish().unwrap();
    let inputs = [
        a.to_string_lossy().into_owned(),
        b.to_string_lossy().into_owned(),
    ];
    let suffix = format!("{kind:?}_{writers}").to_lowercase();
    let reference = format!("crash_ref_{suffix}");
    db.drop_table(&reference);
    let p = pipeline(
        dir.path(),
        "ref.toml",
        &inputs,
        &db.url(),
        &reference,
        1500,
        writers,
    );
    let t0 = Instant::now();
    let clean = finish(dir.path(), &p);
    let clean_time = t0.elapsed();
    assert_eq!(clean["rows_read"], rows, "{clean}");
    assert!(
        clean["rows_rejected"].as_u64().unwrap() > 0,
        "the workload has rejects: {clean}"
    );
    let expected = contents(&db, &reference);
    let expected_rejects =
        std::fs::read(dir.path().join(format!("{reference}.rejects.csv"))).unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut resumed = 0;
    // Up to three more trials when none was killed after a commit yet (on a busy
    // machine a run can end before its kill, or be killed before its first commit).
    for trial in 0..trials + 3 {
        if trial >= trials && resumed > 0 {
            break;
        }
        let table = format!("crash_{suffix}");
        db.drop_table(&table);
        let p = pipeline(
            dir.path(),
            "p.toml",
            &inputs,
            &db.url(),
            &table,
            1500,
            writers,
        );
        // --restart: each trial starts from scratch, whatever the last one left.
        let mut args = vec!["run", p.as_str(), "--json", "-q", "--restart"];
        let kills = 1 + rng.below(3);
        for k in 0..kills {
            let mut child = spawn(dir.path(), &args);
            let wait = Duration::from_millis(50 + rng.below(clean_time.as_millis() as u64));
            std::thread::sleep(wait);
            if trial + 1 >= trials && k + 1 == kills && resumed == 0 {
                // No kill has come after a commit yet (on a busy machine every run can
                // be slower than the clean one): this one waits for committed rows in
                // the table, or for the run's end (which resumes too), up to a minute.
                let sql = format!("SELECT count(*) FROM {}", db.ident(&table));
                let t = Instant::now();
                while child.try_wait().unwrap().is_none()
                    && t.elapsed() < Duration::from_secs(60)
                    && db
                        .try_query(&sql)
                        .ok()
                        .and_then(|r| r.first()?.first()?.clone())
                        .is_none_or(|n| n == "0")
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            args.retain(|a| *a != "--restart");
        }
        let end = finish(dir.path(), &p);
        let got = contents(&db, &table);
        assert_eq!(
            got.len(),
            expected.len(),
            "trial {trial} ({kills} kills): row count ({end})"
        );
        assert!(
            got == expected,
            "trial {trial} ({kills} kills): the table differs from the clean load"
        );
        let rejects = std::fs::read(dir.path().join(format!("{table}.rejects.csv"))).unwrap();
        // One writer: the very same bytes. Several: the same rows, in commit order (which
        // depends on timing even between two clean runs).
        let same = if writers == 1 {
            rejects == expected_rejects
        } else {
            sorted_records(&rejects) == sorted_records(&expected_rejects)
        };
        assert!(
            same,
            "trial {trial} ({kills} kills): the reject file differs:\n{}\n---\n{}",
            String::from_utf8_lossy(&rejects),
            String::from_utf8_lossy(&expected_rejects)
        );
        if end["already_committed"].as_u64().unwrap() > 0 {
            resumed += 1;
        }
        // The run that finished accounts for what earlier runs did.
        assert_eq!(
            end["already_committed"].as_u64().unwrap() + end["rows_read"].as_u64().unwrap(),
            rows,
            "trial {trial}: {end}"
        );
    }
    assert!(
        resumed > 0,
        "no trial was killed after a commit: the kills came too early or too late"
    );
    db.drop_table(&reference);
}

#[test]
fn sigkill_then_resume_sqlite() {
    kill_and_resume(Kind::Sqlite, 8, 24_000, 1, 11);
}

#[test]
fn sigkill_then_resume_postgres() {
    kill_and_resume(Kind::Postgres, 5, 24_000, 1, 21);
}

#[test]
fn sigkill_then_resume_postgres_two_writers() {
    kill_and_resume(Kind::Postgres, 4, 24_000, 2, 31);
}

#[test]
fn sigkill_then_resume_mariadb() {
    kill_and_resume(Kind::Mysql, 4, 24_000, 1, 41);
}

/// `rows` generated users (from `seed`) in `u.csv`, and a pipeline loading them into the
/// SQLite file `c.db` (table `users`) with a commit every `commit` rows: (csv, db, pipeline).
fn sqlite_users(
    dir: &Path,
    rows: u64,
    seed: u64,
    commit: usize,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let csv = dir.join("u.csv");
    rowflow::generate::users(rows, seed, std::fs::File::create(&csv).unwrap()).unwrap();
    let inputs = [csv.to_string_lossy().into_owned()];
    let db = dir.join("c.db");
    let url = format!("sqlite://{}", db.display());
    let p = pipeline(dir, "p.toml", &inputs, &url, "users", commit, 1);
    (csv, db, p)
}

#[test]
fn ctrl_c_commits_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, db, p) = sqlite_users(dir.path(), 120_000, 5, 5000);
    let child = spawn(dir.path(), &["run", &p, "--json", "-q"]);
    // Interrupt once some rows are committed.
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "nothing was committed"
        );
        let committed = db.exists()
            && rusqlite::Connection::open(&db)
                .ok()
                .and_then(|c| {
                    c.query_row("SELECT count(*) FROM _rowflow_checkpoints", [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .ok()
                })
                .unwrap_or(0)
                > 0;
        if committed {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: sending a signal to a child process we started and still own.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "interrupted runs exit 2");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "interrupted");
    let first = j["rows_written"].as_u64().unwrap();
    assert!(first > 0);
    let run = rowflow(dir.path(), &["run", &p, "--json"]);
    assert_eq!(run.code, 1, "finished (with the rejects): {run:?}");
    assert!(run.stderr.contains("resuming at line"), "{}", run.stderr);
    let j = run.json();
    assert_eq!(
        j["already_committed"].as_u64().unwrap() + j["rows_read"].as_u64().unwrap(),
        120_000
    );
    let n: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    let rejected = (1..=120_000u64).filter(|i| i % 997 == 0).count() as i64;
    assert_eq!(n, 120_000 - rejected, "every row once");
    // Run again in append mode: the same input, loaded completely, under another mode
    // would be written twice: refused, saying what changed.
    let again = rowflow(
        dir.path(),
        &["run", &p, "--json", "-q", "--set", "sink.mode=append"],
    );
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("sink.mode: \"replace\" → \"append\""),
        "{again:?}"
    );
}

#[test]
fn a_changed_input_is_refused_unless_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, db, p) = sqlite_users(dir.path(), 60_000, 9, 2000);
    let mut child = spawn(dir.path(), &["run", &p, "--json", "-q"]);
    let t0 = Instant::now();
    while !(db.exists()
        && rusqlite::Connection::open(&db)
            .ok()
            .and_then(|c| {
                c.query_row("SELECT count(*) FROM _rowflow_checkpoints", [], |r| {
                    r.get::<_, i64>(0)
                })
                .ok()
            })
            .unwrap_or(0)
            > 0)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "nothing was committed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The file changes: a smaller one under the same name.
    rowflow::generate::users(1_000, 10, std::fs::File::create(&csv).unwrap()).unwrap();
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("changed since the interrupted run")
            && run.stderr.contains("--restart"),
        "{}",
        run.stderr
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q", "--restart"]);
    assert!(run.code <= 1, "{run:?}");
    let n: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        n as u64,
        run.json()["rows_written"].as_u64().unwrap(),
        "replace: only the new file's rows"
    );
    assert!(n > 990 && n <= 1000, "{n}");
}

#[test]
fn resume_with_the_http_stage_in_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let mock = crate::mock_http::Mock::start(Duration::from_millis(2));
    let mut body = String::from("id\n");
    for i in 1..=6000 {
        body.push_str(&format!("{i}\n"));
    }
    let csv = write(dir.path(), "ids.csv", &body);
    let db = dir.path().join("h.db");
    let p = write(
        dir.path(),
        "p.toml",
        &format!(
            "[source]\npath = {csv:?}\n[source.schema]\nid = \"int\"\n\n\
             [[transform]]\ntype = \"http\"\nurl = \"{}\"\nconcurrency = 16\nordered = false\n\
             [transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n\n\
             [sink]\nurl = \"sqlite://{}\"\ntable = \"t\"\nmode = \"replace\"\ncommit_rows = 500\n[runtime]\nbatch_rows = 100\n",
            mock.url("/api?id={id}"),
            db.display()
        ),
    );
    let mut rng = Rng(7);
    for _ in 0..3 {
        let mut child = spawn(dir.path(), &["run", &p, "--json", "-q"]);
        std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
        let _ = child.kill();
        let _ = child.wait();
    }
    let end = finish(dir.path(), &p);
    assert_eq!(end["status"], "completed", "{end}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let (n, distinct, good): (i64, i64, i64) = c
        .query_row(
            "SELECT count(*), count(DISTINCT id), sum(score = 2 * id) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (n, distinct, good),
        (6000, 6000, 6000),
        "every row once, enriched"
    );
}
