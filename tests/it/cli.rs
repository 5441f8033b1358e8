//! The CLI: subcommands, exit codes, the JSON summary, error policies, overrides.

use std::io::Write;
use std::process::Command;

use rusqlite::types::Value as Sql;

use crate::harness::{columns, data, load, query, read_csv, rowflow, spawn, text};

fn write(dir: &std::path::Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const PEOPLE: &str = "id,name,age\n1,Ann,30\n2,Bob,0\n3,Cid,45\n4,Dee,17\n";

fn pipeline(extra_transforms: &str, extra: &str) -> String {
    format!(
        "[source]\npath = \"people.csv\"\n{extra_transforms}\n[sink]\nurl = \"sqlite://out.db\"\ntable = \"people\"\n{extra}"
    )
}

#[test]
fn run_computes_filters_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    write(
        dir.path(),
        "p.toml",
        &pipeline(
            "[[transform]]\ntype = \"compute\"\n[transform.columns]\ninv = \"100 / age\"\nshout = \"upper(name) || '!'\"\n\
             [[transform]]\ntype = \"filter\"\nwhere = \"age >= 18\"\n",
            "[errors]\nreject_file = \"bad.csv\"\n",
        ),
    );
    let run = rowflow(dir.path(), &["run", "p.toml", "--json"]);
    assert_eq!(run.code, 1, "one row rejected → exit 1: {run:?}");
    let j = run.json();
    assert_eq!(j["rows_read"], 4);
    assert_eq!(j["rows_written"], 2);
    assert_eq!(j["rows_filtered"], 1);
    assert_eq!(j["rows_rejected"], 1);
    assert!(j["elapsed_s"].as_f64().unwrap() >= 0.0);
    let rows = query(
        &dir.path().join("out.db"),
        "SELECT id, inv, shout FROM people ORDER BY id",
    );
    assert_eq!(
        rows,
        vec![
            vec![Sql::Integer(1), Sql::Integer(3), text("ANN!")],
            vec![Sql::Integer(3), Sql::Integer(2), text("CID!")],
        ]
    );
    let rej = read_csv(&dir.path().join("bad.csv"));
    assert_eq!(rej[0], ["id", "name", "age", "_line", "_error"]);
    assert_eq!(rej[1][..4], ["2", "Bob", "0", "3"]);
    assert!(
        rej[1][4].contains("compute")
            && rej[1][4].contains("\"inv\"")
            && rej[1][4].contains("division by zero"),
        "{:?}",
        rej[1]
    );
}

#[test]
fn plan_errors_name_the_column_and_expression_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    write(
        dir.path(),
        "p.toml",
        &pipeline(
            "[[transform]]\ntype = \"compute\"\n[transform.columns]\nx = \"lower(nmae)\"\ny = \"upper(age)\"\n",
            "",
        ),
    );
    for cmd in ["run", "check"] {
        let run = rowflow(dir.path(), &[cmd, "p.toml"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("nmae") && run.stderr.contains("name"),
            "unknown column with suggestion: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("\"y\""),
            "both errors reported at once: {}",
            run.stderr
        );
    }
    assert!(!dir.path().join("out.db").exists(), "nothing written");
}

#[test]
fn check_prints_the_plan_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    write(
        dir.path(),
        "p.toml",
        &pipeline(
            "[[transform]]\ntype = \"compute\"\n[transform.columns]\nadult = \"age >= 18\"\n",
            "",
        ),
    );
    let run = rowflow(dir.path(), &["check", "p.toml"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("\"adult\"") && run.stdout.contains("bool"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("will be created"), "{}", run.stdout);
    assert!(!dir.path().join("out.db").exists());
}

#[test]
fn check_reports_an_incompatible_table() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    write(dir.path(), "p.toml", &pipeline("", ""));
    rusqlite::Connection::open(dir.path().join("out.db"))
        .unwrap()
        .execute_batch("CREATE TABLE people (id INTEGER, name INTEGER, age INTEGER)")
        .unwrap();
    let run = rowflow(dir.path(), &["check", "p.toml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("\"name\" is text"), "{}", run.stderr);
    let run = rowflow(dir.path(), &["run", "p.toml", "-q"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        query(&dir.path().join("out.db"), "SELECT count(*) FROM people"),
        vec![vec![Sql::Integer(0)]]
    );
}

#[test]
fn schema_prints_pasteable_toml() {
    let dir = tempfile::tempdir().unwrap();
    let run = rowflow(dir.path(), &["schema", data("types.csv").to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let body: String = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: toml::Table = toml::from_str(&body).expect("valid TOML");
    let s = parsed["source"]["schema"].as_table().unwrap();
    assert_eq!(s["i"].as_str(), Some("int"));
    assert_eq!(s["zip"].as_str(), Some("text"));
    assert_eq!(s["ts"].as_str(), Some("timestamp"));
    let run = rowflow(
        dir.path(),
        &["schema", data("odd_headers.csv").to_str().unwrap()],
    );
    let body: String = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: toml::Table = toml::from_str(&body).expect("odd names are quoted TOML keys");
    assert!(
        parsed["source"]["schema"]
            .get("id\"; DROP TABLE x; --")
            .is_some()
    );
}

#[test]
fn set_overrides_and_env_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    write(
        dir.path(),
        "p.toml",
        "[source]\npath = \"missing.csv\"\n[sink]\nurl = \"sqlite://${OUT_DB}\"\ntable = \"people\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_rowflow"))
        .args([
            "run",
            "p.toml",
            "--set",
            "source.path=people.csv",
            "--set",
            "sink.table=renamed",
            "--json",
            "-q",
        ])
        .env("OUT_DB", "env.db")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        query(&dir.path().join("env.db"), "SELECT count(*) FROM renamed"),
        vec![vec![Sql::Integer(4)]]
    );
    let run = rowflow(
        dir.path(),
        &["run", "p.toml", "--set", "source.path=people.csv"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("OUT_DB is not set"), "{}", run.stderr);
}

#[test]
fn stdin_gzip_zstd_and_globs() {
    let dir = tempfile::tempdir().unwrap();
    let body = "id,v\n1,a\n2,b\n";
    // stdin
    let mut child = spawn(
        dir.path(),
        &[
            "load",
            "-",
            "--into",
            "sqlite://s.db",
            "--table",
            "t",
            "--json",
            "-q",
        ],
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        query(&dir.path().join("s.db"), "SELECT count(*) FROM t"),
        vec![vec![Sql::Integer(2)]]
    );
    // gzip and zstd, as two files of one glob
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.path().join("part1.csv.gz")).unwrap(),
        Default::default(),
    );
    gz.write_all(body.as_bytes()).unwrap();
    gz.finish().unwrap();
    std::fs::write(
        dir.path().join("part2.csv.zst"),
        zstd::encode_all("id,v\n3,c\n".as_bytes(), 3).unwrap(),
    )
    .unwrap();
    let run = rowflow(
        dir.path(),
        &[
            "load",
            "part*",
            "--into",
            "sqlite://g.db",
            "--table",
            "t",
            "--json",
            "-q",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 3);
    // a file with another header is refused, naming it
    std::fs::write(dir.path().join("part3.csv"), "id,w\n4,d\n").unwrap();
    let run = rowflow(
        dir.path(),
        &["load", "part*", "--into", "sqlite://h.db", "--table", "t"],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("part3.csv") && run.stderr.contains("\"w\""),
        "{}",
        run.stderr
    );
}

#[test]
fn modes_replace_upsert_create() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "id,v\n1,a\n2,b\n");
    write(dir.path(), "b.csv", "id,v\n2,B\n3,c\n");
    let db = dir.path().join("m.db");
    let url = format!("sqlite://{}", db.display());
    let load = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "load",
            file,
            "--into",
            url.as_str(),
            "--table",
            "t",
            "-q",
            "--json",
        ];
        args.extend_from_slice(extra);
        rowflow(dir.path(), &args)
    };
    assert_eq!(load("a.csv", &["--key", "id"]).code, 0);
    let dup = load("b.csv", &[]);
    assert_eq!(dup.code, 1, "duplicate key rejected: {dup:?}");
    assert!(
        dup.json()["first_rejects"][0]
            .as_str()
            .unwrap()
            .contains("UNIQUE"),
        "{dup:?}"
    );
    // b.csv was loaded completely (its rejects are the earlier load's): loading it again
    // with another mode and key is a change of pipeline over the same input, refused
    // with what changed, unless --restart.
    let again = load("b.csv", &["--mode", "upsert", "--key", "id"]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(
        again.stderr.contains("sink.mode: \"append\" → \"upsert\"")
            && again.stderr.contains("--restart"),
        "{again:?}"
    );
    assert_eq!(
        load("b.csv", &["--mode", "upsert", "--key", "id", "--restart"]).code,
        0
    );
    assert_eq!(
        query(&db, "SELECT id, v FROM t ORDER BY id"),
        vec![
            vec![Sql::Integer(1), text("a")],
            vec![Sql::Integer(2), text("B")],
            vec![Sql::Integer(3), text("c")]
        ]
    );
    assert_eq!(load("a.csv", &["--mode", "create"]).code, 2);
    assert_eq!(load("a.csv", &["--mode", "replace"]).code, 0);
    assert_eq!(
        query(&db, "SELECT count(*) FROM t"),
        vec![vec![Sql::Integer(2)]]
    );
    assert_eq!(columns(&db, "t").len(), 2);
}

#[test]
fn on_error_fail_skip_and_max_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = data("bad_types.csv");
    let base = format!(
        "[source]\npath = {:?}\n[source.schema]\namount = \"int\"\n[sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\n",
        bad.display().to_string()
    );
    write(
        dir.path(),
        "fail.toml",
        &format!("{base}[errors]\non_error = \"fail\"\n"),
    );
    let run = rowflow(dir.path(), &["run", "fail.toml", "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 0);
    assert!(j["error"].as_str().unwrap().contains("line 3"), "{j}");
    assert!(j["error"].as_str().unwrap().contains("\"amount\""), "{j}");

    write(
        dir.path(),
        "skip.toml",
        &format!("{base}mode = \"replace\"\n[errors]\non_error = \"skip\"\n"),
    );
    let run = rowflow(dir.path(), &["run", "skip.toml", "--json", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.json()["rows_written"], 2);
    assert!(run.json()["reject_file"].is_null());

    write(
        dir.path(),
        "max.toml",
        &format!("{base}mode = \"replace\"\n[errors]\nmax_errors = 0\n"),
    );
    let run = rowflow(dir.path(), &["run", "max.toml", "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.json()["error"].as_str().unwrap().contains("max_errors"));
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(rowflow(dir.path(), &["run"]).code, 2);
    assert_eq!(rowflow(dir.path(), &["run", "nope.toml"]).code, 2);
    write(
        dir.path(),
        "p.toml",
        "[source]\npath = \"x.csv\"\nbogus = 1\n[sink]\nurl = \"sqlite://o.db\"\ntable = \"t\"\n",
    );
    let run = rowflow(dir.path(), &["check", "p.toml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bogus"), "{}", run.stderr);
    let (run, _) = load(dir.path(), &data("quotes.csv"), &["--mode", "upsert"]);
    assert_eq!(run.code, 2, "upsert without key: {run:?}");
    // Too many sorted runs per transaction (each an open file when merged).
    write(dir.path(), "x.csv", "a\n1\n");
    write(
        dir.path(),
        "runs.toml",
        "[source]\npath = \"x.csv\"\n[sink]\nurl = \"sqlite://o.db\"\ntable = \"t\"\nkey = [\"a\"]\n\
         sort_run_rows = 100\ncommit_rows = 100000\n",
    );
    let run = rowflow(dir.path(), &["check", "runs.toml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("sort_run_rows = 100"), "{}", run.stderr);
}

#[test]
fn sigterm_commits_and_exits_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("big.csv");
    rowflow::generate::users(300_000, 1, std::fs::File::create(&csv).unwrap()).unwrap();
    let csv_arg = csv.to_string_lossy().into_owned();
    let child = spawn(
        dir.path(),
        &[
            "load",
            &csv_arg,
            "--into",
            "sqlite://sig.db",
            "--table",
            "t",
            "--json",
            "-q",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY-free: kill(1) is the portable way to send SIGTERM from a test.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    let written = j["rows_written"].as_i64().unwrap();
    if j["status"] == "interrupted" && written == 0 {
        // Stopped while the types were inferred: nothing was written, not even a table.
        assert_eq!(out.status.code(), Some(2));
        assert!(
            j["error"].as_str().unwrap().contains("nothing was written"),
            "{j}"
        );
        return;
    }
    let in_db = query(&dir.path().join("sig.db"), "SELECT count(*) FROM t");
    assert_eq!(
        in_db,
        vec![vec![Sql::Integer(written)]],
        "the summary matches what was committed"
    );
    if j["status"] == "interrupted" {
        assert_eq!(out.status.code(), Some(2));
        assert!(written < 300_000);
    } else {
        // The machine was fast enough to finish first; still consistent.
        assert_eq!(written, 300_000);
    }
}

/// More keyed rows than one sort run: rows go through the spill files and the merge.
/// Duplicates across runs: the first occurrence is written and the later ones rejected
/// with their own line; with upsert the last one wins.
#[test]
fn keyed_loads_across_sort_runs_keep_first_or_last_occurrence() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("id,v\n");
    for i in 0..80_000u64 {
        let id = if i < 50_000 {
            (i * 7919) % 50_000
        } else {
            i - 50_000
        };
        body.push_str(&format!("{id},{i}\n"));
    }
    write(dir.path(), "k.csv", &body);
    let db = dir.path().join("k.db");
    let url = format!("sqlite://{}", db.display());
    let run = rowflow(
        dir.path(),
        &[
            "load", "k.csv", "--into", &url, "--table", "t", "--key", "id", "--reject", "rej.csv",
            "--json", "-q",
        ],
    );
    assert_eq!(run.code, 1, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 50_000);
    assert_eq!(j["rows_rejected"], 30_000);
    // First occurrences: for id < 50000 the row i with (i*7919)%50000 == id, i < 50000.
    let wrong = query(
        &db,
        "SELECT count(*) FROM t WHERE v >= 50000 OR (v * 7919) % 50000 != id",
    );
    assert_eq!(wrong, vec![vec![Sql::Integer(0)]]);
    let rej = read_csv(&dir.path().join("rej.csv"));
    assert_eq!(rej.len(), 30_001);
    assert_eq!(
        rej[1][..3],
        ["0", "50000", "50002"],
        "id 0 again, at line 50002"
    );
    assert!(rej[1][3].contains("UNIQUE"), "{:?}", rej[1]);
    let run = rowflow(
        dir.path(),
        &[
            "load",
            "k.csv",
            "--into",
            &url,
            "--table",
            "t",
            "--key",
            "id",
            "--mode",
            "upsert",
            "--json",
            "-q",
            "--restart",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let last = query(
        &db,
        "SELECT count(*) FROM t WHERE id < 30000 AND v = id + 50000",
    );
    assert_eq!(
        last,
        vec![vec![Sql::Integer(30_000)]],
        "upsert: the last occurrence wins"
    );
}

/// Duplicate keys are found when a keyed run is written at commit; they count towards
/// max_errors like any other failed row.
#[test]
fn max_errors_counts_rows_refused_at_commit() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d.csv", "id,v\n1,a\n1,b\n1,c\n2,d\n");
    let run = rowflow(
        dir.path(),
        &[
            "load",
            "d.csv",
            "--into",
            "sqlite://d.db",
            "--table",
            "t",
            "--key",
            "id",
            "--json",
            "-q",
            "--reject",
            "r.csv",
        ],
    );
    assert_eq!(run.code, 1, "no limit: finished with rejects: {run:?}");
    let p = write(
        dir.path(),
        "p.toml",
        "[source]\npath = \"d.csv\"\n[sink]\nurl = \"sqlite://e.db\"\ntable = \"t\"\nkey = [\"id\"]\n[errors]\nmax_errors = 1\nreject_file = \"r2.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    let j = run.json();
    assert!(
        j["error"].as_str().unwrap().contains("max_errors = 1"),
        "{j}"
    );
    assert_eq!(j["rows_rejected"], 2);
    assert_eq!(
        read_csv(&dir.path().join("r2.csv")).len(),
        3,
        "both refused rows recorded"
    );
}

#[test]
fn a_failed_replace_leaves_the_old_table_and_headers_are_checked_first() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    let db = dir.path().join("out.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE people (id INTEGER, old TEXT); INSERT INTO people VALUES (99, 'keep me');")
        .unwrap();
    // Division by zero on line 3 under on_error = "fail": the run fails before its
    // first commit, and the table it was to replace is still there.
    write(
        dir.path(),
        "p.toml",
        &pipeline(
            "[[transform]]\ntype = \"compute\"\n[transform.columns]\ninv = \"100 / age\"\n",
            "mode = \"replace\"\n[errors]\non_error = \"fail\"\n",
        ),
    );
    let run = rowflow(dir.path(), &["run", "p.toml", "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_written"], 0);
    assert_eq!(j["rows_read"], 0, "nothing is accounted for: {j}");
    assert_eq!(
        j["rows_rolled_back"].as_u64().unwrap() + j["rows_not_processed"].as_u64().unwrap(),
        4,
        "the rows read are counted as rolled back: {j}"
    );
    assert_eq!(
        query(&db, "SELECT id, old FROM people"),
        vec![vec![Sql::Integer(99), text("keep me")]]
    );

    // A later file with another header is refused before anything is written, even
    // when every column is declared (no inference pass reads the files).
    write(dir.path(), "other.csv", "id,name,years\n5,Eve,50\n");
    write(
        dir.path(),
        "two.toml",
        "[source]\npaths = [\"people.csv\", \"other.csv\"]\n[source.schema]\nid = \"int\"\nname = \"text\"\nage = \"int\"\n\
         [sink]\nurl = \"sqlite://two.db\"\ntable = \"people\"\n",
    );
    let run = rowflow(dir.path(), &["run", "two.toml", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("other.csv") && run.stderr.contains("\"years\""),
        "{}",
        run.stderr
    );
    assert!(
        !dir.path().join("two.db").exists()
            || columns(&dir.path().join("two.db"), "people").is_empty()
    );
}

#[test]
fn names_that_differ_only_in_case_are_renamed_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    // In the header: renamed deterministically (SQLite would see one column).
    write(dir.path(), "c.csv", "Id,id,v\n1,2,x\n");
    let (run, db) = load(dir.path(), &dir.path().join("c.csv"), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let names: Vec<String> = columns(&db, "t").into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["Id", "id_2", "v"]);
    // Computed: a plan error that names both columns.
    write(dir.path(), "people.csv", PEOPLE);
    write(
        dir.path(),
        "p.toml",
        &pipeline(
            "[[transform]]\ntype = \"compute\"\n[transform.columns]\nNAME = \"upper(name)\"\n",
            "",
        ),
    );
    let run = rowflow(dir.path(), &["check", "p.toml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("\"name\" and \"NAME\"") && run.stderr.contains("differ only in case"),
        "{}",
        run.stderr
    );
}

#[test]
fn set_keeps_strings_strings() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "people.csv", PEOPLE);
    write(
        dir.path(),
        "p.toml",
        &pipeline(
            "[[transform]]\ntype = \"filter\"\nwhere = \"age > 1\"\n",
            "",
        ),
    );
    let run = rowflow(
        dir.path(),
        &[
            "run",
            "p.toml",
            "--set",
            "sink.table=2024",
            "--set",
            "transform.0.where=true",
            "--json",
            "-q",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["table"], "2024");
    assert_eq!(
        run.json()["rows_written"],
        4,
        "where = true keeps every row"
    );
}
