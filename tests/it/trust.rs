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
