//! One suite against every database: SQLite, PostgreSQL and MariaDB (see `db`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::db::{Db, Kind, on_every_db};
use crate::harness::{read_csv, rowflow, spawn};

on_every_db!(
    every_type_round_trips,
    every_type_round_trips_where_a_row_is_refused,
    upsert_updates_and_the_last_occurrence_wins,
    repeated_keys_across_batches_keep_input_order,
    keys_the_server_calls_equal_keep_input_order,
    upsert_refusals_are_isolated_to_their_rows,
    constraint_violations_are_isolated_to_their_rows,
    a_failed_replace_keeps_the_old_table,
    check_reports_an_incompatible_table_and_writes_nothing,
    hostile_header_names_are_just_column_names,
    a_trigger_refusing_a_row_rejects_only_that_row,
    truncate_empties_the_table_first,
    extreme_floats_and_dates_arrive_or_are_rejected_with_the_reason,
    created_tables_compare_text_keys_exactly,
);

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

fn table_name(test: &str, kind: Kind) -> String {
    format!("rf_{test}_{kind:?}").to_lowercase()
}

/// A pipeline file loading `csv` into `table` at `url`, with extra TOML for the source
/// (schema) and the sink.
fn pipeline(
    dir: &Path,
    csv: &str,
    schema: &str,
    url: &str,
    table: &str,
    sink_extra: &str,
    extra: &str,
) -> String {
    write(
        dir,
        "p.toml",
        &format!(
            "name = \"suite\"\n[source]\npath = {csv:?}\n{schema}\n[sink]\nurl = {url:?}\ntable = {table:?}\n{sink_extra}\n{extra}"
        ),
    )
}

const TYPES_CSV: &str = "id,i,f,d,b,dt,ts,t\n\
1,-9223372036854775808,1.5,12345678901234567890.12345678,true,2024-02-29,2021-03-04T05:06:07.123456+05:30,\"José 名 🚀 \"\"quoted\"\", comma\"\n\
2,9223372036854775807,-1e300,-0.0001,false,1970-01-01,1999-12-31T23:59:59Z,\"\"\n\
3,0,2.2250738585072014e-308,0.50,,1000-01-01,2038-01-19T03:14:08-08:00,\n\
4,,,,,,,\"line1\nline2\ttab \\\\ backslash\"\n";

const TYPES_SCHEMA: &str = "[source.schema]\nid = \"int\"\ni = \"int\"\nf = \"float\"\nd = \"decimal\"\nb = \"bool\"\n\
dt = \"date\"\nts = \"timestamp\"\nt = \"text\"\n";

/// A decimal's text without trailing fractional zeros (MySQL shows 28 places).
fn norm_decimal(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

fn norm_bool(s: &str) -> bool {
    matches!(s, "t" | "true" | "1")
}

fn every_type_round_trips(kind: Kind) {
    round_trip_types(kind, false);
}

/// The same values, in a batch with a duplicate key: the server refuses the batch, the
/// sink isolates the duplicate (MySQL: `INSERT`s binding the fields of the `LOAD DATA`
/// lines), and every other value still arrives exactly.
fn every_type_round_trips_where_a_row_is_refused(kind: Kind) {
    round_trip_types(kind, true);
}

fn round_trip_types(kind: Kind, with_duplicate: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name(if with_duplicate { "types_dup" } else { "types" }, kind);
    db.drop_table(&table);
    let mut body = TYPES_CSV.to_string();
    if with_duplicate {
        body.push_str("2,7,7,7,true,2000-01-01,2000-01-01T00:00:00Z,dup\n");
    }
    let csv = write(dir.path(), "types.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        TYPES_SCHEMA,
        &db.url(),
        &table,
        "mode = \"create\"\nkey = [\"id\"]",
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    if with_duplicate {
        // Line 7: the header, four records (one spans two lines), then the duplicate.
        only_rejected(dir.path(), &db, &table, &run, &[7], 5, 3);
    } else {
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.json()["rows_written"], 4);
    }
    let cols = ["id", "i", "f", "d", "b", "dt", "t"]
        .map(|c| db.ident(c))
        .join(", ");
    let rows = db.query(&format!(
        "SELECT {cols}, {} FROM {} ORDER BY {}",
        db.epoch_micros(&db.ident("ts")),
        db.ident(&table),
        db.ident("id")
    ));
    assert_eq!(rows.len(), 4);
    let col = |r: usize, c: usize| rows[r][c].clone();
    // Integers at both ends of i64.
    assert_eq!(col(0, 1).as_deref(), Some("-9223372036854775808"));
    assert_eq!(col(1, 1).as_deref(), Some("9223372036854775807"));
    assert_eq!(col(3, 1), None);
    // Floats, exactly.
    let f = |r| col(r, 2).map(|s| s.parse::<f64>().unwrap());
    assert_eq!(f(0), Some(1.5));
    assert_eq!(f(1), Some(-1e300));
    assert_eq!(f(2), Some(2.2250738585072014e-308));
    assert_eq!(f(3), None);
    // Decimals, every digit.
    let d = |r| col(r, 3).map(|s| norm_decimal(&s));
    assert_eq!(d(0).as_deref(), Some("12345678901234567890.12345678"));
    assert_eq!(d(1).as_deref(), Some("-0.0001"));
    assert_eq!(d(2).as_deref(), Some("0.5"));
    // Booleans and NULL.
    assert_eq!(col(0, 4).map(|s| norm_bool(&s)), Some(true));
    assert_eq!(col(1, 4).map(|s| norm_bool(&s)), Some(false));
    assert_eq!(col(2, 4), None);
    // Dates.
    assert_eq!(col(0, 5).as_deref(), Some("2024-02-29"));
    assert_eq!(col(2, 5).as_deref(), Some("1000-01-01"));
    // Text: unicode, quotes, commas; '' stays '' and NULL stays NULL; newlines, tabs,
    // backslashes.
    assert_eq!(col(0, 6).as_deref(), Some("José 名 🚀 \"quoted\", comma"));
    assert_eq!(col(1, 6).as_deref(), Some(""));
    assert_eq!(col(2, 6), None);
    assert_eq!(
        col(3, 6).as_deref(),
        Some("line1\nline2\ttab \\\\ backslash")
    );
    // Timestamps: the instant, whatever the offset (SQLite keeps RFC 3339 text).
    let ts = |r| col(r, 7);
    if kind == Kind::Sqlite {
        assert_eq!(ts(0).as_deref(), Some("2021-03-04T05:06:07.123456+05:30"));
        assert_eq!(ts(1).as_deref(), Some("1999-12-31T23:59:59+00:00"));
    } else {
        assert_eq!(ts(0).as_deref(), Some("1614814567123456"));
        assert_eq!(ts(1).as_deref(), Some("946684799000000"));
        assert_eq!(ts(2).as_deref(), Some("2147512448000000"));
    }
    assert_eq!(ts(3), None);
    db.drop_table(&table);
}

fn upsert_updates_and_the_last_occurrence_wins(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("upsert", kind);
    db.drop_table(&table);
    let a = write(dir.path(), "a.csv", "id,v,n\n1,a,10\n2,b,20\n3,c,30\n");
    let b = write(
        dir.path(),
        "b.csv",
        "id,v,n\n2,B,21\n4,d,40\n2,BB,22\n1,A,\n",
    );
    let load = |file: &str, mode: &str| {
        rowflow(
            dir.path(),
            &[
                "load",
                file,
                "--into",
                &db.url(),
                "--table",
                &table,
                "--mode",
                mode,
                "--key",
                "id",
                "--json",
                "-q",
            ],
        )
    };
    let run = load(&a, "create");
    assert_eq!(run.code, 0, "{run:?}");
    let run = load(&b, "upsert");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 4);
    let rows = db.query(&format!(
        "SELECT {}, {}, {} FROM {} ORDER BY {}",
        db.ident("id"),
        db.ident("v"),
        db.ident("n"),
        db.ident(&table),
        db.ident("id")
    ));
    let s = |x: &str| Some(x.to_string());
    assert_eq!(
        rows,
        vec![
            vec![s("1"), s("A"), None],
            vec![s("2"), s("BB"), s("22")],
            vec![s("3"), s("c"), s("30")],
            vec![s("4"), s("d"), s("40")],
        ],
        "updated in place; for key 2 the last occurrence wins"
    );
    db.drop_table(&table);
}

/// Keys repeated in different batches of one transaction (the server sinks sort a
/// transaction's rows by key before sending them): with a primary key the first
/// occurrence is written and the later ones are rejected with their lines; with upsert
/// the last occurrence wins.
fn repeated_keys_across_batches_keep_input_order(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("repeated_keys", kind);
    // 600 rows, keys in descending order so that sorting moves every row; key k
    // (k = 0..199) appears three times, 200 rows apart (different batches).
    let mut body = String::from("id,v\n");
    for occurrence in 0..3 {
        for k in (0..200).rev() {
            body.push_str(&format!("{k},{k}-{occurrence}\n"));
        }
    }
    let csv = write(dir.path(), "r.csv", &body);
    for mode in ["replace", "upsert"] {
        db.drop_table(&table);
        if mode == "upsert" {
            let run = rowflow(
                dir.path(),
                &[
                    "load",
                    &csv,
                    "--into",
                    &db.url(),
                    "--table",
                    &table,
                    "--key",
                    "id",
                    "-q",
                ],
            );
            assert_eq!(run.code, 1, "{run:?}");
        }
        let p = pipeline(
            dir.path(),
            &csv,
            "[source.schema]\nid = \"int\"\nv = \"text\"\n",
            &db.url(),
            &table,
            &format!("mode = \"{mode}\"\nkey = [\"id\"]\ncommit_rows = 100000"),
            "[errors]\nreject_file = \"rej.csv\"\n[runtime]\nbatch_rows = 64\n",
        );
        let run = rowflow(dir.path(), &["run", &p, "--json", "-q", "--restart"]);
        let j = run.json();
        let rows = db.query(&format!(
            "SELECT {}, {} FROM {} ORDER BY {}",
            db.ident("id"),
            db.ident("v"),
            db.ident(&table),
            db.ident("id")
        ));
        let want_occurrence = if mode == "upsert" { 2 } else { 0 };
        let want: Vec<Vec<Option<String>>> = (0..200)
            .map(|k| vec![Some(k.to_string()), Some(format!("{k}-{want_occurrence}"))])
            .collect();
        assert_eq!(rows, want, "{mode}: {j}");
        if mode == "upsert" {
            assert_eq!(run.code, 0, "{run:?}");
            assert_eq!(j["rows_written"], 600, "{j}");
        } else {
            assert_eq!(run.code, 1, "{run:?}");
            assert_eq!(j["rows_written"], 200, "{j}");
            assert_eq!(j["rows_rejected"], 400, "{j}");
            let rej = read_csv(&dir.path().join("rej.csv"));
            let mut lines: Vec<u64> = rej[1..].iter().map(|r| r[2].parse().unwrap()).collect();
            lines.sort_unstable();
            // Lines 2..=201 hold the first occurrences (the header is line 1).
            assert_eq!(lines, (202..=601).collect::<Vec<u64>>());
            assert!(
                rej[1..]
                    .iter()
                    .all(|r| r[1].ends_with("-1") || r[1].ends_with("-2"))
            );
        }
    }
    db.drop_table(&table);
}

/// Keys the database calls equal although their text differs (a PostgreSQL `uuid` in
/// upper and lower case; MySQL's case-insensitive collation; SQLite's `NOCASE`): the rows are not reordered, so with
/// a primary key the first occurrence is written, and with upsert the last wins.
fn keys_the_server_calls_equal_keep_input_order(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("equal_keys", kind);
    // (column type, a key in lower case, the same key in upper case, another key)
    let (ty, lower, upper, other) = match kind {
        Kind::Postgres => (
            "uuid",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
        Kind::Sqlite => ("TEXT COLLATE NOCASE", "abc", "ABC", "zzz"),
        Kind::Mysql => ("VARCHAR(40)", "abc", "ABC", "zzz"),
    };
    // Lower case first: sorting the text would put the upper case first.
    let csv = write(
        dir.path(),
        "e.csv",
        &format!("id,v\n{lower},1\n{other},2\n{upper},3\n"),
    );
    for mode in ["append", "upsert"] {
        db.drop_table(&table);
        db.exec(&format!(
            "CREATE TABLE {} ({} {ty} NOT NULL PRIMARY KEY, {} INTEGER)",
            db.ident(&table),
            db.ident("id"),
            db.ident("v")
        ));
        let p = pipeline(
            dir.path(),
            &csv,
            "[source.schema]\nid = \"text\"\nv = \"int\"\n",
            &db.url(),
            &table,
            &format!("mode = \"{mode}\"\nkey = [\"id\"]"),
            "[errors]\nreject_file = \"rej.csv\"\n",
        );
        let run = rowflow(dir.path(), &["run", &p, "--json", "-q", "--restart"]);
        let rows = db.query(&format!(
            "SELECT {} FROM {} WHERE {} <> 2",
            db.ident("v"),
            db.ident(&table),
            db.ident("v")
        ));
        let want = if mode == "upsert" { "3" } else { "1" };
        assert_eq!(rows, vec![vec![Some(want.to_string())]], "{mode}: {run:?}");
        if mode == "append" {
            assert_eq!(run.code, 1, "{run:?}");
            let rej = read_csv(&dir.path().join("rej.csv"));
            assert_eq!(rej.len(), 2, "{rej:?}");
            assert_eq!(rej[1][0], upper, "the later occurrence is the reject");
        } else {
            assert_eq!(run.code, 0, "{run:?}");
        }
    }
    db.drop_table(&table);
}

/// The run finished with exactly the rows at lines `bad` rejected (the reject file's
/// `_line` is its column `line_col`), and the other rows of `total` written into
/// `table`. Returns the reject file's rows in input order (with several writers, the
/// file is in commit order).
fn only_rejected(
    dir: &Path,
    db: &Db,
    table: &str,
    run: &crate::harness::Run,
    bad: &[u64],
    total: u64,
    line_col: usize,
) -> Vec<Vec<String>> {
    assert_eq!(run.code, 1, "finished with rejects: {run:?}");
    let j = run.json();
    assert_eq!(j["rows_rejected"], bad.len() as u64, "{j}");
    assert_eq!(j["rows_written"], total - bad.len() as u64, "{j}");
    let mut rej = read_csv(&dir.join("rej.csv"));
    rej[1..].sort_by_key(|r| r[line_col].parse::<u64>().unwrap());
    let lines: Vec<u64> = rej[1..]
        .iter()
        .map(|r| r[line_col].parse().unwrap())
        .collect();
    assert_eq!(lines, bad, "exactly the bad rows, with their lines");
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident(table))),
        (total - bad.len() as u64) as i64
    );
    rej
}

/// With upsert, a row the server refuses (a CHECK, raised by the merge, which names no
/// line) is found among 10,000 rows of one transaction and only it is rejected.
fn upsert_refusals_are_isolated_to_their_rows(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("upsert_refusals", kind);
    db.drop_table(&table);
    db.exec(&format!(
        "CREATE TABLE {} ({} BIGINT NOT NULL PRIMARY KEY, {} INTEGER CHECK ({} >= 0))",
        db.ident(&table),
        db.ident("id"),
        db.ident("age"),
        db.ident("age")
    ));
    let mut body = String::from("id,age\n");
    let mut bad = Vec::new();
    for i in 1..=10_000u64 {
        let age = if i % 500 == 0 { -1 } else { (i % 90) as i64 };
        if age < 0 {
            bad.push(i + 1);
        }
        body.push_str(&format!("{i},{age}\n"));
    }
    let csv = write(dir.path(), "u.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nage = \"int\"\n",
        &db.url(),
        &table,
        "mode = \"upsert\"\nkey = [\"id\"]\ncommit_rows = 100000",
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    only_rejected(dir.path(), &db, &table, &run, &bad, 10_000, 2);
    db.drop_table(&table);
}

fn constraint_violations_are_isolated_to_their_rows(kind: Kind) {
    constraint_violations(kind, "constraints", "commit_rows = 700", 256);
}

// PostgreSQL does not spill runs.
crate::db::on_spilling_dbs!(
    constraint_violations_in_spilled_runs_are_isolated_to_their_rows,
    constraint_violations_in_compacted_runs_are_isolated_to_their_rows,
);

/// The same in one transaction whose rows are sorted in runs of 500 spilled to
/// temporary files and merged: the refused rows are found in the merged stream, with
/// their own lines.
fn constraint_violations_in_spilled_runs_are_isolated_to_their_rows(kind: Kind) {
    constraint_violations(
        kind,
        "constraints_spilled",
        "key = [\"id\"]\ncommit_rows = 5000\nsort_run_rows = 500",
        256,
    );
}

/// The same with a run per batch of 8 rows: past 256 runs a transaction merges its runs
/// into one (as growing transactions do), and the refused rows are still the right ones.
fn constraint_violations_in_compacted_runs_are_isolated_to_their_rows(kind: Kind) {
    constraint_violations(
        kind,
        "constraints_compacted",
        "key = [\"id\"]\ncommit_rows = 4000\nsort_run_rows = 8",
        8,
    );
}

fn constraint_violations(kind: Kind, name: &str, sink_extra: &str, batch_rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name(name, kind);
    db.drop_table(&table);
    let int_pk = if kind == Kind::Sqlite {
        "INTEGER PRIMARY KEY"
    } else {
        "INTEGER NOT NULL PRIMARY KEY"
    };
    db.exec(&format!(
        "CREATE TABLE {} ({} {int_pk}, {} INTEGER CHECK ({} >= 0), {} VARCHAR(10))",
        db.ident(&table),
        db.ident("id"),
        db.ident("age"),
        db.ident("age"),
        db.ident("name")
    ));
    // 3000 rows over several batches and transactions; some break a constraint.
    // SQLite does not enforce VARCHAR lengths, so there the long names are written.
    let mut body = String::from("id,age,name\n");
    let mut expected_bad = Vec::new();
    for i in 1..=3000u64 {
        let (id, age, name, bad) = if i % 997 == 0 {
            (i, "-1".to_string(), "neg".to_string(), true) // CHECK
        } else if i % 1201 == 0 {
            (5, "5".to_string(), "dup".to_string(), true) // duplicate key
        } else if i % 1499 == 0 {
            (
                i,
                "1".to_string(),
                "much too long".to_string(),
                kind != Kind::Sqlite,
            ) // varchar(10)
        } else {
            (i, (i % 90).to_string(), format!("n{i}"), false)
        };
        if bad {
            expected_bad.push(i + 1); // the header is line 1
        }
        body.push_str(&format!("{id},{age},{name}\n"));
    }
    let csv = write(dir.path(), "c.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nage = \"int\"\nname = \"text\"\n",
        &db.url(),
        &table,
        sink_extra,
        &format!("[errors]\nreject_file = \"rej.csv\"\n[runtime]\nbatch_rows = {batch_rows}\n"),
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    let rej = only_rejected(dir.path(), &db, &table, &run, &expected_bad, 3000, 3);
    for r in &rej[1..] {
        let reason = r[4].to_lowercase();
        assert!(reason.starts_with("sink: "), "{reason}");
        let why = match r[2].as_str() {
            "neg" => ["check", "constraint"].iter().any(|w| reason.contains(w)),
            "dup" => ["unique", "duplicate"].iter().any(|w| reason.contains(w)),
            _ => ["too long", "value too long"]
                .iter()
                .any(|w| reason.contains(w)),
        };
        assert!(why, "reason does not say why: {r:?}");
    }
    db.drop_table(&table);
}

fn a_failed_replace_keeps_the_old_table(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("replace", kind);
    db.drop_table(&table);
    db.exec(&format!(
        "CREATE TABLE {} ({} INTEGER)",
        db.ident(&table),
        db.ident("old")
    ));
    db.exec(&format!("INSERT INTO {} VALUES (42)", db.ident(&table)));
    let csv = write(dir.path(), "r.csv", "id,x\n1,1\n2,0\n3,3\n");
    let p = pipeline(
        dir.path(),
        &csv,
        "[[transform]]\ntype = \"compute\"\n[transform.columns]\ninv = \"10 / x\"\n",
        &db.url(),
        &table,
        "mode = \"replace\"",
        "[errors]\non_error = \"fail\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.json()["error"].as_str().unwrap().contains("line 3"),
        "{run:?}"
    );
    let rows = db.query(&format!(
        "SELECT {} FROM {}",
        db.ident("old"),
        db.ident(&table)
    ));
    assert_eq!(
        rows,
        vec![vec![Some("42".to_string())]],
        "the old table is untouched"
    );
    // The same run without the bad row replaces it.
    write(dir.path(), "r.csv", "id,x\n1,1\n3,3\n");
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        db.query(&format!(
            "SELECT {}, {} FROM {} ORDER BY 1",
            db.ident("id"),
            db.ident("inv"),
            db.ident(&table)
        )),
        vec![
            vec![Some("1".into()), Some("10".into())],
            vec![Some("3".into()), Some("3".into())]
        ]
    );
    db.drop_table(&table);
}

fn check_reports_an_incompatible_table_and_writes_nothing(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("check", kind);
    db.drop_table(&table);
    db.exec(&format!(
        "CREATE TABLE {} ({} INTEGER, {} INTEGER)",
        db.ident(&table),
        db.ident("id"),
        db.ident("name")
    ));
    let csv = write(dir.path(), "k.csv", "id,name\n1,Ann\n");
    let p = pipeline(dir.path(), &csv, "", &db.url(), &table, "", "");
    let run = rowflow(dir.path(), &["check", &p]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("\"name\"") && run.stderr.contains("text"),
        "{}",
        run.stderr
    );
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident(&table))),
        0
    );
    db.drop_table(&table);
}

fn hostile_header_names_are_just_column_names(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("hostile", kind);
    db.drop_table(&table);
    let evil = "id\"; DROP TABLE x; --";
    let evil2 = "a`b'c";
    let csv = write(
        dir.path(),
        "h.csv",
        &format!("\"id\"\"; DROP TABLE x; --\",{evil2},select\n1,'); DROP TABLE users; --,2\n"),
    );
    let run = rowflow(
        dir.path(),
        &[
            "load",
            &csv,
            "--into",
            &db.url(),
            "--table",
            &table,
            "--json",
            "-q",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows = db.query(&format!(
        "SELECT {}, {}, {} FROM {}",
        db.ident(evil),
        db.ident(evil2),
        db.ident("select"),
        db.ident(&table)
    ));
    assert_eq!(
        rows,
        vec![vec![
            Some("1".into()),
            Some("'); DROP TABLE users; --".into()),
            Some("2".into())
        ]]
    );
    db.drop_table(&table);
}

/// A table `(id, v)` with a trigger that refuses the rows with `v = -1` and, on the
/// servers, fails with an error about the load itself at `v = -2` (PostgreSQL
/// `disk_full`, MySQL error 1021 "disk full").
fn trigger_table(db: &Db, table: &str) {
    db.drop_table(table);
    let t = db.ident(table);
    let id_type = if db.kind == Kind::Sqlite {
        "INTEGER PRIMARY KEY"
    } else {
        "INTEGER NOT NULL PRIMARY KEY"
    };
    db.exec(&format!("CREATE TABLE {t} (id {id_type}, v INTEGER)"));
    let trigger = db.ident(&format!("{table}_check"));
    match db.kind {
        Kind::Sqlite => db.exec(&format!(
            "CREATE TRIGGER {trigger} BEFORE INSERT ON {t} WHEN NEW.v = -1 \
             BEGIN SELECT RAISE(ABORT, 'v must not be -1'); END"
        )),
        Kind::Postgres => db.exec(&format!(
            "CREATE OR REPLACE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF NEW.v = -1 THEN RAISE EXCEPTION 'v must not be -1'; END IF; \
               IF NEW.v = -2 THEN RAISE EXCEPTION 'could not extend file: No space left on device' \
                 USING ERRCODE = 'disk_full'; END IF; \
               RETURN NEW; \
             END $$;\n\
             CREATE TRIGGER {trigger} BEFORE INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION {trigger}()"
        )),
        Kind::Mysql => db.exec(&format!(
            "CREATE TRIGGER {trigger} BEFORE INSERT ON {t} FOR EACH ROW BEGIN \
               IF NEW.v = -1 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'v must not be -1'; END IF; \
               IF NEW.v = -2 THEN SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1021, \
                 MESSAGE_TEXT = 'Disk full; waiting for someone to free some space'; END IF; \
             END"
        )),
    }
}

/// 2,000 rows in transactions of 500; a trigger refuses rows 150 and 1,234 (v = -1). They
/// go to the reject file with the trigger's message and their lines; every other row is
/// written.
fn a_trigger_refusing_a_row_rejects_only_that_row(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("trigger_rows", kind);
    trigger_table(&db, &table);
    let mut body = String::from("id,v\n");
    for i in 1..=2000u64 {
        let v = if i == 150 || i == 1234 { -1 } else { i as i64 };
        body.push_str(&format!("{i},{v}\n"));
    }
    let csv = write(dir.path(), "t.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nv = \"int\"\n",
        &db.url(),
        &table,
        "commit_rows = 500",
        "[errors]\nreject_file = \"rej.csv\"\n[runtime]\nbatch_rows = 100\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    let rej = only_rejected(dir.path(), &db, &table, &run, &[151, 1235], 2000, 2);
    for r in &rej[1..] {
        let reason = r.last().unwrap();
        assert!(
            reason.contains("v must not be -1"),
            "the trigger's message: {r:?}"
        );
    }
    db.drop_table(&table);
}

/// An error about the load rather than a row (here a trigger raising PostgreSQL's
/// `disk_full`, MySQL's error 1021) fails the run with the server's message (exit 2): no
/// row goes to the reject file, the transactions before it stay committed, and the
/// failing one leaves nothing behind.
fn an_error_about_the_load_fails_the_run_and_rejects_no_row(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("trigger_fatal", kind);
    trigger_table(&db, &table);
    let mut body = String::from("id,v\n");
    for i in 1..=2000u64 {
        let v = if i == 1300 { -2 } else { i as i64 };
        body.push_str(&format!("{i},{v}\n"));
    }
    let csv = write(dir.path(), "t.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nv = \"int\"\n",
        &db.url(),
        &table,
        // One writer: the counts below follow its transactions.
        "commit_rows = 500\nwriters = 1",
        "[errors]\nreject_file = \"rej.csv\"\n[runtime]\nbatch_rows = 100\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 2, "a failed run: {run:?}");
    let err = run.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        err.contains("disk full") || err.contains("no space left"),
        "{err}"
    );
    let rej = dir.path().join("rej.csv");
    let rejected = if rej.exists() {
        read_csv(&rej).len().saturating_sub(1)
    } else {
        0
    };
    assert_eq!(rejected, 0, "no row is blamed for it: {run:?}");
    // Rows 1-1000 were committed in the first two transactions; the third (1001-1500)
    // failed whole.
    let ids = db.query(&format!(
        "SELECT count(*), min(id), max(id) FROM {}",
        db.ident(&table)
    ));
    assert_eq!(
        ids,
        vec![vec![
            Some("1000".to_string()),
            Some("1".to_string()),
            Some("1000".to_string())
        ]]
    );
    db.drop_table(&table);
}

/// `truncate = true` with `append`: the table's old rows go, the new ones are all there.
fn truncate_empties_the_table_first(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("truncate", kind);
    db.drop_table(&table);
    let t = db.ident(&table);
    db.exec(&format!("CREATE TABLE {t} (id INTEGER, v INTEGER)"));
    db.exec(&format!(
        "INSERT INTO {t} VALUES (100, 1), (101, 2), (102, 3)"
    ));
    let csv = write(dir.path(), "t.csv", "id,v\n1,10\n2,20\n");
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nv = \"int\"\n",
        &db.url(),
        &table,
        "mode = \"append\"\ntruncate = true",
        "",
    );
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        db.query(&format!("SELECT id, v FROM {t} ORDER BY id")),
        vec![
            vec![Some("1".to_string()), Some("10".to_string())],
            vec![Some("2".to_string()), Some("20".to_string())],
        ]
    );
    db.drop_table(&table);
}

/// A load with `truncate = true` that fails midway (the trigger's "disk full" at row
/// 1,300, after two transactions of 500 committed) and is run again once the cause is
/// gone: the resumed run keeps the committed rows (no second truncate) and adds the
/// rest, each row once.
fn a_resumed_load_does_not_truncate_again(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("truncate_resume", kind);
    trigger_table(&db, &table);
    let t = db.ident(&table);
    db.exec(&format!("INSERT INTO {t} VALUES (5000, 1), (5001, 2)"));
    let mut body = String::from("id,v\n");
    for i in 1..=2000u64 {
        let v = if i == 1300 { -2 } else { i as i64 };
        body.push_str(&format!("{i},{v}\n"));
    }
    let csv = write(dir.path(), "t.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nv = \"int\"\n",
        &db.url(),
        &table,
        // One writer: the counts below follow its transactions.
        "mode = \"append\"\ntruncate = true\ncommit_rows = 500\nwriters = 1",
        "[runtime]\nbatch_rows = 100\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 2, "the first run fails: {run:?}");
    assert_eq!(db.count(&format!("SELECT count(*) FROM {t}")), 1000);
    // The cause goes away (the row is allowed now).
    let trigger = db.ident(&format!("{table}_check"));
    match kind {
        Kind::Postgres => db.exec(&format!("DROP TRIGGER {trigger} ON {t}")),
        _ => db.exec(&format!("DROP TRIGGER {trigger}")),
    }
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 1000, "{run:?}");
    let got = db.query(&format!(
        "SELECT count(*), count(DISTINCT id), min(id), max(id), sum(v) FROM {t}"
    ));
    let sum_v: i64 = (1..=2000i64).sum::<i64>() - 1300 - 2;
    assert_eq!(
        got,
        vec![vec![
            Some("2000".to_string()),
            Some("2000".to_string()),
            Some("1".to_string()),
            Some("2000".to_string()),
            Some(sum_v.to_string()),
        ]]
    );
    db.drop_table(&table);
}

/// NaN, infinities, -0, the largest and the smallest doubles, the first and last dates:
/// PostgreSQL stores them all; SQLite has no NaN (it would become NULL) and MySQL no NaN
/// or infinity, so those rows are rejected with the reason, never stored as something
/// else. Every stored value is exact (-0 may read back as 0 where the database has no
/// negative zero).
fn extreme_floats_and_dates_arrive_or_are_rejected_with_the_reason(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("extremes", kind);
    db.drop_table(&table);
    let rows = [
        ("NaN", "0001-01-01"),
        ("inf", "9999-12-31"),
        ("-inf", "1970-01-01"),
        ("-0.0", "2000-02-29"),
        ("1.7976931348623157e308", "1900-03-01"),
        ("5e-324", "2038-01-19"),
        ("-2.2250738585072014e-308", "1969-12-31"),
    ];
    let mut body = String::from("id,f,d\n");
    for (i, (f, d)) in rows.iter().enumerate() {
        body.push_str(&format!("{},{f},{d}\n", i + 1));
    }
    let csv = write(dir.path(), "x.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nf = \"float\"\nd = \"date\"\n",
        &db.url(),
        &table,
        "mode = \"replace\"",
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    let refused: &[u64] = match kind {
        Kind::Postgres => &[],
        Kind::Sqlite => &[1],
        Kind::Mysql => &[1, 2, 3],
    };
    if refused.is_empty() {
        assert_eq!(run.code, 0, "{run:?}");
    } else {
        let bad: Vec<u64> = refused.iter().map(|i| i + 1).collect();
        let rej = only_rejected(dir.path(), &db, &table, &run, &bad, rows.len() as u64, 3);
        for r in &rej[1..] {
            assert!(r[4].contains("cannot be stored"), "{r:?}");
        }
    }
    let got = db.query(&format!(
        "SELECT id, f, d FROM {} ORDER BY id",
        db.ident(&table)
    ));
    let want: Vec<(u64, &str, &str)> = rows
        .iter()
        .enumerate()
        .map(|(i, (f, d))| (i as u64 + 1, *f, *d))
        .filter(|(i, _, _)| !refused.contains(i))
        .collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, (id, f, d)) in got.iter().zip(want) {
        assert_eq!(g[0].as_deref(), Some(id.to_string().as_str()));
        let stored: f64 = g[1].as_deref().unwrap().parse().unwrap();
        let sent: f64 = f.parse().unwrap();
        assert!(
            stored == sent || (stored.is_nan() && sent.is_nan()),
            "row {id}: {stored} for {sent}"
        );
        assert_eq!(g[2].as_deref(), Some(d), "row {id}");
    }
    db.drop_table(&table);
}

/// A table rowflow creates compares text keys exactly, on every database: `a`, `A`,
/// `a ` (a trailing space) and `á` are four keys, none refused as a duplicate.
fn created_tables_compare_text_keys_exactly(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("text_keys", kind);
    db.drop_table(&table);
    let csv = write(dir.path(), "k.csv", "k,v\na,1\nA,2\n\"a \",3\ná,4\n");
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nk = \"text\"\nv = \"int\"\n",
        &db.url(),
        &table,
        "mode = \"create\"\nkey = [\"k\"]",
        "",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    let got = db.query(&format!(
        "SELECT {v}, {k} FROM {t} ORDER BY {v}",
        v = db.ident("v"),
        k = db.ident("k"),
        t = db.ident(&table)
    ));
    let keys: Vec<&str> = got.iter().map(|r| r[1].as_deref().unwrap()).collect();
    assert_eq!(keys, ["a", "A", "a ", "á"]);
    db.drop_table(&table);
}

/// `rowflow check` of a table that does not exist yet: in a schema (PostgreSQL) or
/// database (MySQL) that does not exist, or where the user may not create tables, it
/// says so instead of "will be created"; where it can be created, it says that.
fn check_says_when_a_missing_table_cannot_be_created(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let csv = write(dir.path(), "c.csv", "id\n1\n");
    let check = |url: &str, table: &str| {
        let p = pipeline(dir.path(), &csv, "", url, table, "", "");
        rowflow(dir.path(), &["check", &p])
    };
    let run = check(&db.url(), "rf_no_such_schema.t");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    let run = check(&db.url(), "rf_check_new_table");
    assert_eq!(run.code, 0, "{run:?}");
    // A schema this user may use but not create in (on a server logged into as
    // `postgres`, the default, which can make the role).
    if kind == Kind::Postgres && db.url().contains("//postgres@") {
        db.exec(
            "DROP SCHEMA IF EXISTS rf_locked CASCADE;\n\
             CREATE SCHEMA rf_locked;\n\
             DO $$ BEGIN CREATE ROLE rf_nocreate LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n\
             GRANT USAGE ON SCHEMA rf_locked TO rf_nocreate",
        );
        let url = db.url().replacen("postgres@", "rf_nocreate@", 1);
        let run = check(&url, "rf_locked.t");
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("may not create"), "{}", run.stderr);
        db.exec("DROP SCHEMA rf_locked CASCADE");
    }
}

/// Foreign keys are checked at the end of each statement, so the server's error names
/// no line: the rows are bisected until the three whose parent does not exist are
/// found; the other 1,197 are written.
fn foreign_key_violations_are_isolated_to_their_rows(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let child = table_name("fk_child", kind);
    let parent = table_name("fk_parent", kind);
    db.drop_table(&child);
    db.drop_table(&parent);
    let (c, pt) = (db.ident(&child), db.ident(&parent));
    db.exec(&format!(
        "CREATE TABLE {pt} (id INTEGER NOT NULL PRIMARY KEY)"
    ));
    db.exec(&format!(
        "INSERT INTO {pt} (id) VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)"
    ));
    db.exec(&format!(
        "CREATE TABLE {c} (id INTEGER NOT NULL PRIMARY KEY, parent INTEGER NOT NULL \
         REFERENCES {pt} (id))"
    ));
    let bad = [137u64, 600, 1111];
    let mut body = String::from("id,parent\n");
    for i in 1..=1200u64 {
        let parent = if bad.contains(&i) { 99 } else { i % 10 + 1 };
        body.push_str(&format!("{i},{parent}\n"));
    }
    let csv = write(dir.path(), "f.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nparent = \"int\"\n",
        &db.url(),
        &child,
        "mode = \"append\"\ncommit_rows = 500",
        "[errors]\nreject_file = \"rej.csv\"\n[runtime]\nbatch_rows = 100\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    let lines: Vec<u64> = bad.iter().map(|i| i + 1).collect();
    let rej = only_rejected(dir.path(), &db, &child, &run, &lines, 1200, 2);
    for r in &rej[1..] {
        assert!(r[3].to_lowercase().contains("foreign key"), "{r:?}");
    }
    db.drop_table(&child);
    db.drop_table(&parent);
}

/// A user who may write the table but not create tables in its schema (PostgreSQL) or
/// database (MySQL). The first load says how to create the checkpoint table and what to
/// grant, and writes nothing; once that is done, as the owner, the user loads.
fn a_user_who_may_not_create_tables_loads_once_the_checkpoint_table_is_there(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let admin = if kind == Kind::Postgres {
        "postgres@"
    } else {
        "root@"
    };
    if !db.url().contains(&format!("//{admin}")) {
        crate::db::skipped("the server is not logged into as its admin, who makes the user");
        return;
    }
    let grants = "SELECT, INSERT, UPDATE, DELETE";
    match kind {
        Kind::Postgres => db.exec(
            "DROP SCHEMA IF EXISTS rf_writer_only CASCADE;\n\
             CREATE SCHEMA rf_writer_only;\n\
             DO $$ BEGIN CREATE ROLE rf_writer LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n\
             GRANT USAGE ON SCHEMA rf_writer_only TO rf_writer;\n\
             CREATE TABLE rf_writer_only.t (id INTEGER PRIMARY KEY, name TEXT);\n\
             GRANT SELECT, INSERT ON rf_writer_only.t TO rf_writer",
        ),
        _ => db.exec(
            "DROP DATABASE IF EXISTS rf_writer_only;\n\
             CREATE DATABASE rf_writer_only;\n\
             CREATE USER IF NOT EXISTS 'rf_writer'@'%';\n\
             CREATE USER IF NOT EXISTS 'rf_writer'@'localhost';\n\
             CREATE TABLE rf_writer_only.t (id INTEGER PRIMARY KEY, name TEXT) ENGINE=InnoDB;\n\
             GRANT SELECT, INSERT ON rf_writer_only.t TO 'rf_writer'@'%';\n\
             GRANT SELECT, INSERT ON rf_writer_only.t TO 'rf_writer'@'localhost'",
        ),
    }
    let csv = write(dir.path(), "w.csv", "id,name\n1,Ann\n2,Bo\n");
    let mut url = db.url().replacen(admin, "rf_writer@", 1);
    if kind == Kind::Mysql {
        // The user may use only its own database.
        let (base, _) = url.rsplit_once('/').unwrap();
        url = format!("{base}/rf_writer_only");
    }
    let load = || {
        rowflow(
            dir.path(),
            &[
                "load",
                &csv,
                "--into",
                &url,
                "--table",
                "rf_writer_only.t",
                "-q",
            ],
        )
    };
    let run = load();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("CREATE TABLE IF NOT EXISTS") && run.stderr.contains(grants),
        "the message says what to do: {}",
        run.stderr
    );
    assert_eq!(db.count("SELECT count(*) FROM rf_writer_only.t"), 0);
    // What the message says, as the owner.
    let err = run.stderr;
    let create = &err[err.find("CREATE TABLE IF NOT EXISTS").unwrap()..];
    let create = &create[..create.find("; then GRANT").unwrap()];
    db.exec(create);
    match kind {
        Kind::Postgres => db.exec(&format!(
            "GRANT {grants} ON rf_writer_only._rowflow_checkpoints TO rf_writer"
        )),
        _ => db.exec(&format!(
            "GRANT {grants} ON rf_writer_only._rowflow_checkpoints TO 'rf_writer'@'%';\n\
             GRANT {grants} ON rf_writer_only._rowflow_checkpoints TO 'rf_writer'@'localhost'"
        )),
    }
    let run = load();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(db.count("SELECT count(*) FROM rf_writer_only.t"), 2);
    // Without SELECT on the checkpoints, the resume point cannot be read: refused
    // (taking it for "nothing to resume" would load the file a second time).
    match kind {
        Kind::Postgres => {
            db.exec("REVOKE SELECT ON rf_writer_only._rowflow_checkpoints FROM rf_writer")
        }
        _ => db.exec(
            "REVOKE SELECT ON rf_writer_only._rowflow_checkpoints FROM 'rf_writer'@'%';\n\
             REVOKE SELECT ON rf_writer_only._rowflow_checkpoints FROM 'rf_writer'@'localhost'",
        ),
    }
    let run = load();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("reading the checkpoint"),
        "refused before loading: {}",
        run.stderr
    );
    assert_eq!(db.count("SELECT count(*) FROM rf_writer_only.t"), 2);
    match kind {
        Kind::Postgres => db.exec("DROP SCHEMA rf_writer_only CASCADE"),
        _ => db.exec("DROP DATABASE rf_writer_only"),
    }
}

/// A table with generated columns (PostgreSQL: also an identity `GENERATED ALWAYS`):
/// a pipeline that gives them values is refused by `check` and `run` before any row is
/// written, naming the column; one that leaves them out loads, and the server fills them.
fn generated_columns_are_refused_when_the_pipeline_gives_them_and_filled_when_not(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("generated", kind);
    db.drop_table(&table);
    let t = db.ident(&table);
    match kind {
        Kind::Postgres => db.exec(&format!(
            "CREATE TABLE {t} (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT, \
             up TEXT GENERATED ALWAYS AS (upper(name)) STORED)"
        )),
        _ => db.exec(&format!(
            "CREATE TABLE {t} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name TEXT, \
             up VARCHAR(40) AS (upper(name)) STORED) ENGINE=InnoDB"
        )),
    }
    let with_up = write(dir.path(), "u.csv", "name,up\nann,x\n");
    let p = pipeline(dir.path(), &with_up, "", &db.url(), &table, "", "");
    for args in [vec!["check", &p], vec!["run", &p, "-q"]] {
        let run = rowflow(dir.path(), &args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("\"up\" is generated"), "{}", run.stderr);
    }
    if kind == Kind::Postgres {
        // An identity GENERATED ALWAYS takes given values through COPY (append), not
        // through upsert's INSERT.
        let with_id = write(dir.path(), "i.csv", "id,name\n7,ann\n");
        let p = pipeline(
            dir.path(),
            &with_id,
            "",
            &db.url(),
            &table,
            "mode = \"upsert\"\nkey = [\"id\"]",
            "",
        );
        let run = rowflow(dir.path(), &["check", &p]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("\"id\" is an identity"),
            "{}",
            run.stderr
        );
        let p = pipeline(dir.path(), &with_id, "", &db.url(), &table, "", "");
        let run = rowflow(dir.path(), &["run", &p, "-q"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            db.query(&format!("SELECT id, up FROM {t}")),
            vec![vec![Some("7".to_string()), Some("ANN".to_string())]]
        );
        db.exec(&format!("DELETE FROM {t}"));
    }
    assert_eq!(db.count(&format!("SELECT count(*) FROM {t}")), 0);
    let names = write(dir.path(), "n.csv", "name\nann\nbo\n");
    let p = pipeline(dir.path(), &names, "", &db.url(), &table, "", "");
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        db.query(&format!("SELECT name, up FROM {t} ORDER BY id")),
        vec![
            vec![Some("ann".to_string()), Some("ANN".to_string())],
            vec![Some("bo".to_string()), Some("BO".to_string())],
        ]
    );
    db.drop_table(&table);
}

/// A run killed during COMMIT leaves the server to finish it; the next run must not read
/// the checkpoint before it lands (it would send that transaction's rows again). Here
/// an open transaction stands in for it: it holds what a writer's transaction holds
/// (PostgreSQL: the load's advisory lock, shared; MySQL: its checkpoint row, locked),
/// and the next run waits until it ends.
fn a_run_waits_for_an_earlier_runs_open_transaction_before_reading_the_checkpoint(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("checkpoint_wait", kind);
    db.drop_table(&table);
    let csv = write(dir.path(), "w.csv", "id\n1\n2\n");
    // One writer: one checkpoint row.
    let p = pipeline(dir.path(), &csv, "", &db.url(), &table, "writers = 1", "");
    let ck = "_rowflow_checkpoints";
    // Earlier runs of this test (other temporary paths) left checkpoint rows of their
    // own: only this run's may remain. (No checkpoint table yet is fine.)
    let _ = db.try_query(&format!(
        "DELETE FROM {} WHERE target_table = '{table}'",
        db.ident(ck)
    ));
    let run = rowflow(dir.path(), &["run", &p, "-q", "--restart"]);
    assert_eq!(run.code, 0, "{run:?}");
    let ids = db.query(&format!(
        "SELECT input_id FROM {} WHERE target_table = '{table}'",
        db.ident(ck)
    ));
    assert_eq!(ids.len(), 1, "one checkpoint row: {ids:?}");
    let input_id = ids[0][0].clone().unwrap();
    // The stand-in transaction, on its own connection.
    let hold = |kind: Kind| -> Box<dyn FnOnce()> {
        match kind {
            Kind::Postgres => {
                let mut c = postgres::Client::connect(&db.url(), postgres::NoTls).unwrap();
                let name = format!("rowflow\u{1f}suite\u{1f}{table}\u{1f}{input_id}");
                c.batch_execute("BEGIN").unwrap();
                c.execute(
                    "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))",
                    &[&name],
                )
                .unwrap();
                Box::new(move || c.batch_execute("COMMIT").unwrap())
            }
            _ => {
                use mysql::prelude::Queryable;
                let mut c = mysql::Conn::new(mysql::Opts::from_url(&db.url()).unwrap()).unwrap();
                c.query_drop("START TRANSACTION").unwrap();
                c.exec_drop(
                    format!("SELECT 1 FROM {ck} WHERE target_table = ? FOR UPDATE"),
                    (table.clone(),),
                )
                .unwrap();
                Box::new(move || c.query_drop("COMMIT").unwrap())
            }
        }
    };
    let release = hold(kind);
    let mut child = spawn(dir.path(), &["run", &p, "-q"]);
    std::thread::sleep(Duration::from_millis(1500));
    if let Some(st) = child.try_wait().unwrap() {
        panic!(
            "the run did not wait for the open transaction ({st}): {:?}",
            child.wait_with_output()
        );
    }
    release();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The load was complete: nothing written again.
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident(&table))),
        2
    );
    db.drop_table(&table);
}

// ----- servers only ---------------------------------------------------------------------

mod servers {
    macro_rules! on_servers {
        ($($name:ident),* $(,)?) => { $(
            mod $name {
                #[test] fn postgres() { super::super::$name(crate::db::Kind::Postgres) }
                #[test] fn mysql() { super::super::$name(crate::db::Kind::Mysql) }
            }
        )* };
    }
    on_servers!(
        passwords_never_appear,
        parallel_writers_load_everything_once,
        several_writers_prepare_the_table_as_one_does,
        two_writers_failing_before_any_commit_leave_no_record,
        a_server_restarted_mid_load_loses_and_duplicates_nothing,
        a_server_restarted_under_two_writers_loses_and_duplicates_nothing,
        a_server_restarted_loading_a_table_without_key_loses_and_duplicates_nothing,
        an_error_about_the_load_fails_the_run_and_rejects_no_row,
        a_resumed_load_does_not_truncate_again,
        check_says_when_a_missing_table_cannot_be_created,
        foreign_key_violations_are_isolated_to_their_rows,
        a_user_who_may_not_create_tables_loads_once_the_checkpoint_table_is_there,
        generated_columns_are_refused_when_the_pipeline_gives_them_and_filled_when_not,
        a_run_waits_for_an_earlier_runs_open_transaction_before_reading_the_checkpoint,
    );

    #[test]
    fn a_server_restarted_while_runs_are_spilled_loses_and_duplicates_nothing() {
        super::a_server_restarted_while_runs_are_spilled_loses_and_duplicates_nothing(
            crate::db::Kind::Mysql,
        )
    }
}

fn passwords_never_appear(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("secret", kind);
    db.drop_table(&table);
    let csv = write(dir.path(), "s.csv", "id\n1\n");
    // A plain password, and one holding the characters that end an RFC 3986 authority
    // (the PostgreSQL driver reads the password up to the `@`; MySQL's URL parser
    // refuses it): no piece of either may show.
    for secret in ["SeCrEt-p4ss", "Xq7/Zv9?Wk3#Jm7"] {
        let pieces: Vec<&str> = secret.split(['/', '?', '#']).collect();
        let leaks = |out: &str| pieces.iter().any(|p| out.contains(p));
        // PostgreSQL trusts local connections (the password is sent but not needed);
        // MariaDB's root has no password, so this fails to authenticate: both must keep
        // the password out of every message.
        let url = match kind {
            Kind::Postgres => db
                .url()
                .replacen("postgres@", &format!("postgres:{secret}@"), 1),
            _ => db.url().replacen("root@", &format!("root:{secret}@"), 1),
        };
        assert!(url.contains(secret), "{url}");
        for args in [
            vec!["load", &csv, "--into", &url, "--table", &table, "--json"],
            vec!["load", &csv, "--into", &url, "--table", &table],
        ] {
            let run = rowflow(dir.path(), &args);
            assert!(
                !leaks(&run.stdout) && !leaks(&run.stderr),
                "leaked: {run:?}"
            );
            assert!(
                run.stdout.contains("***") || run.stderr.contains("***"),
                "{run:?}"
            );
        }
        // A server that is not there: the error names the redacted URL.
        let down = url.replacen(
            if kind == Kind::Postgres {
                ":5432"
            } else {
                ":3306"
            },
            ":1",
            1,
        );
        let run = rowflow(
            dir.path(),
            &["load", &csv, "--into", &down, "--table", &table],
        );
        assert_eq!(run.code, 2, "{run:?}");
        assert!(!leaks(&run.stderr), "{run:?}");
        assert!(run.stderr.contains("***"), "{run:?}");
        db.drop_table(&table);
    }
    // A password in the query, after a value with an `@` (which the PostgreSQL driver
    // takes for the end of the credentials): hidden too, whatever the driver makes of it.
    let base = db.url();
    let (head, _) = base.split_once('@').unwrap();
    let scheme = &head[..head.find("://").unwrap() + 3];
    let rest = &base[base.find('@').unwrap() + 1..];
    let url = format!("{scheme}{rest}?application_name=a@b&password=Qz7Vw3x");
    for args in [
        vec!["load", &csv, "--into", &url, "--table", &table, "--json"],
        vec!["load", &csv, "--into", &url, "--table", &table],
    ] {
        let run = rowflow(dir.path(), &args);
        assert!(
            !run.stdout.contains("Qz7Vw3x") && !run.stderr.contains("Qz7Vw3x"),
            "leaked: {run:?}"
        );
    }
    db.drop_table(&table);
}

fn parallel_writers_load_everything_once(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("writers", kind);
    db.drop_table(&table);
    let mut body = String::from("id,v\n");
    for i in 0..20_000 {
        body.push_str(&format!("{i},{}\n", i * 3));
    }
    let csv = write(dir.path(), "w.csv", &body);
    let extra = "[runtime]\nbatch_rows = 500\n";
    let p = pipeline(
        dir.path(),
        &csv,
        "",
        &db.url(),
        &table,
        "mode = \"create\"\nkey = [\"id\"]\nwriters = 3\ncommit_rows = 2000",
        extra,
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 20_000);
    let t = db.ident(&table);
    let got = db.query(&format!(
        "SELECT count(*), count(DISTINCT {id}), sum({v}) FROM {t}",
        id = db.ident("id"),
        v = db.ident("v")
    ));
    let s = |x: u64| Some(x.to_string());
    assert_eq!(
        got,
        vec![vec![s(20_000), s(20_000), s(3 * 19_999 * 20_000 / 2)]]
    );
    // Upsert needs one writer (the last occurrence of a key must win).
    let p = pipeline(
        dir.path(),
        &csv,
        "",
        &db.url(),
        &table,
        "mode = \"upsert\"\nkey = [\"id\"]\nwriters = 2",
        extra,
    );
    let run = rowflow(dir.path(), &["check", &p]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("writers = 1"), "{}", run.stderr);
    db.drop_table(&table);
}

/// With several writers the table is replaced (and, in PostgreSQL, created or emptied)
/// in the first writer's first transaction, the others waiting for its commit: a run
/// that fails before then leaves the table as it was, as with one writer; one that
/// goes on loads every row once into the new table.
fn several_writers_prepare_the_table_as_one_does(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("prep_writers", kind);
    db.drop_table(&table);
    let t = db.ident(&table);
    let count = |db: &Db| db.query(&format!("SELECT count(*), sum({}) FROM {t}", db.ident("v")));
    let s = |x: u64| Some(x.to_string());
    // The table as it was: 5 rows.
    let old = write(dir.path(), "old.csv", "id,v\n1,1\n2,1\n3,1\n4,1\n5,1\n");
    let stages = "[[transform]]\ntype = \"compute\"\n[transform.columns]\nq = \"10 / v\"\n";
    let extra = format!("{stages}[runtime]\nbatch_rows = 100\n[errors]\non_error = \"fail\"\n");
    let p = pipeline(
        dir.path(),
        &old,
        "",
        &db.url(),
        &table,
        "mode = \"create\"",
        &extra,
    );
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    // 3,000 rows, the 250th failing (division by zero) with on_error = "fail".
    let mut body = String::from("id,v\n");
    for i in 1..=3_000 {
        body.push_str(&format!("{i},{}\n", if i == 250 { 0 } else { 2 }));
    }
    let csv = write(dir.path(), "new.csv", &body);
    for mode in ["mode = \"replace\"", "mode = \"append\"\ntruncate = true"] {
        if kind == Kind::Mysql && mode.contains("truncate") {
            // MySQL empties the table at the start with one writer too (its DDL
            // commits at once; documented).
            continue;
        }
        let sink = format!("{mode}\nwriters = 2\ncommit_rows = 1000");
        let p = pipeline(dir.path(), &csv, "", &db.url(), &table, &sink, &extra);
        let run = rowflow(dir.path(), &["run", &p, "-q", "--restart"]);
        assert_eq!(run.code, 2, "{mode}: {run:?}");
        assert!(run.stderr.contains("line 251"), "{mode}: {}", run.stderr);
        assert_eq!(
            count(&db),
            vec![vec![s(5), s(5)]],
            "{mode}: the old rows stay"
        );
    }
    // Without the failing row: every row once, in the new table.
    let body = body.replace("\n250,0\n", "\n250,2\n");
    let csv = write(dir.path(), "new.csv", &body);
    let sink = "mode = \"replace\"\nwriters = 2\ncommit_rows = 1000";
    let p = pipeline(dir.path(), &csv, "", &db.url(), &table, sink, &extra);
    let run = rowflow(dir.path(), &["run", &p, "-q", "--restart", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 3_000);
    assert_eq!(count(&db), vec![vec![s(3_000), s(6_000)]]);
    let distinct = db.query(&format!(
        "SELECT count(DISTINCT {}) FROM {t}",
        db.ident("id")
    ));
    assert_eq!(distinct, vec![vec![s(3_000)]]);
    // PostgreSQL creates the table in that transaction too: a failed `create` leaves none.
    if kind == Kind::Postgres {
        db.drop_table(&table);
        let csv = write(
            dir.path(),
            "new.csv",
            &body.replace("\n250,2\n", "\n250,0\n"),
        );
        let sink = "mode = \"create\"\nwriters = 2\ncommit_rows = 1000";
        let p = pipeline(dir.path(), &csv, "", &db.url(), &table, sink, &extra);
        let run = rowflow(dir.path(), &["run", &p, "-q", "--restart"]);
        assert_eq!(run.code, 2, "{run:?}");
        let exists = db.query(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'"
        ));
        assert_eq!(exists, vec![vec![s(0)]], "no table left behind");
    }
    db.drop_table(&table);
}

/// Two writers, one row (so writer 1 gets none), and the database refuses the load
/// ("disk full") before any commit: writer 1 commits no record of its own meanwhile, so,
/// as with one writer, the failed run leaves nothing behind, and the same command from
/// standard input runs again without `--restart`.
fn two_writers_failing_before_any_commit_leave_no_record(kind: Kind) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let table = table_name("no_record", kind);
    trigger_table(&db, &table);
    let p = pipeline(
        dir.path(),
        "-",
        "[source.schema]\nid = \"int\"\nv = \"int\"\n",
        &db.url(),
        &table,
        "writers = 2",
        "[runtime]\nbatch_rows = 1\n",
    );
    let run_with = |input: &str| {
        let mut child = spawn(dir.path(), &["run", &p, "-q", "--json"]);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    for _ in 0..3 {
        let (code, out) = run_with("id,v\n1,-2\n");
        assert_eq!(code, Some(2), "{out}");
        assert!(
            out.to_lowercase().contains("disk full") || out.contains("No space"),
            "{out}"
        );
    }
    let (code, out) = run_with("id,v\n1,1\n2,2\n");
    assert_eq!(
        code,
        Some(0),
        "no record of the failed runs stands in the way: {out}"
    );
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident(&table))),
        2
    );
    db.drop_table(&table);
}

fn a_server_restarted_mid_load_loses_and_duplicates_nothing(kind: Kind) {
    restart_mid_load(kind, "restart", "key = [\"id\"]");
}

/// The same with two writers, each with its own connection and transactions.
fn a_server_restarted_under_two_writers_loses_and_duplicates_nothing(kind: Kind) {
    restart_mid_load(kind, "restart_writers", "key = [\"id\"]\nwriters = 2");
}

/// The same into a table without a key (MySQL sends each batch as it comes then).
fn a_server_restarted_loading_a_table_without_key_loses_and_duplicates_nothing(kind: Kind) {
    restart_mid_load(kind, "restart_nokey", "");
}

/// The same with each transaction's rows sorted in runs spilled to temporary files
/// (MySQL; PostgreSQL holds them in memory): the replay merges the runs again.
fn a_server_restarted_while_runs_are_spilled_loses_and_duplicates_nothing(kind: Kind) {
    restart_mid_load(
        kind,
        "restart_spilled",
        "key = [\"id\"]\nsort_run_rows = 1000",
    );
}

fn restart_mid_load(kind: Kind, name: &str, sink_extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::exclusive(kind, dir.path()) else {
        return;
    };
    if !db.can_restart() {
        crate::db::skipped(&format!(
            "{name}: the {kind:?} server is not the local one, which this test would restart"
        ));
        return;
    }
    let table = table_name(name, kind);
    db.drop_table(&table);
    let rows = 200_000u64;
    let csv = dir.path().join("big.csv");
    rowflow::generate::users(rows, 7, std::fs::File::create(&csv).unwrap()).unwrap();
    let csv = csv.to_string_lossy().into_owned();
    let p = pipeline(
        dir.path(),
        &csv,
        "",
        &db.url(),
        &table,
        &format!("mode = \"create\"\ncommit_rows = 5000\n{sink_extra}"),
        "[runtime]\nbatch_rows = 1000\n",
    );
    let child = spawn(dir.path(), &["run", &p, "--json", "-q"]);
    // Restart once some rows are committed and before the load ends.
    let t0 = Instant::now();
    let t = db.ident(&table);
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the load never started committing"
        );
        let exists =
            match kind {
                Kind::Postgres => {
                    db.count(&format!(
                        "SELECT count(*) FROM pg_tables WHERE tablename = '{table}'"
                    )) > 0
                }
                _ => db.count(&format!(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'"
                )) > 0,
            };
        if exists && db.count(&format!("SELECT count(*) FROM {t}")) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    db.restart();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert!(
        j["reconnects"].as_u64().unwrap() >= 1,
        "the sink reconnected: {j}"
    );
    assert_eq!(j["rows_written"], rows);
    // Exactly the input's rows: every id once, with its own values.
    let input = read_csv(Path::new(&csv));
    let col = |name: &str| input[0].iter().position(|c| c == name).unwrap();
    let (visits, plan) = (col("visits"), col("plan"));
    let sum_visits: u64 = input[1..]
        .iter()
        .map(|r| r[visits].parse::<u64>().unwrap())
        .sum();
    let pro = input[1..].iter().filter(|r| r[plan] == "pro").count();
    let got = db.query(&format!(
        "SELECT count(*), count(DISTINCT {id}), sum({id}), sum({visits}), \
         sum(CASE WHEN {plan} = 'pro' THEN 1 ELSE 0 END) FROM {t}",
        id = db.ident("id"),
        visits = db.ident("visits"),
        plan = db.ident("plan"),
    ));
    let expected = vec![
        Some(rows.to_string()),
        Some(rows.to_string()),
        Some((rows * (rows + 1) / 2).to_string()),
        Some(sum_visits.to_string()),
        Some(pro.to_string()),
    ];
    assert_eq!(got, vec![expected]);
    db.drop_table(&table);
}

/// A throwaway MariaDB server that accepts only TLS connections (the machine's own
/// server has TLS off), on a free port, stopped when dropped.
struct TlsMariadb {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl TlsMariadb {
    /// None (with the reason) when this machine cannot run one.
    fn start(cert: &str, key: &str) -> Result<TlsMariadb, String> {
        Self::start_with_ca(cert, key, None)
    }

    /// The same, also checking client certificates against `ca` (for `REQUIRE X509`).
    fn start_with_ca(cert: &str, key: &str, ca: Option<&str>) -> Result<TlsMariadb, String> {
        let find = |names: &[&str]| {
            names.iter().find_map(|n| {
                ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"]
                    .iter()
                    .map(|d| Path::new(d).join(n))
                    .find(|p| p.exists())
            })
        };
        let server = find(&["mariadbd", "mysqld"]).ok_or("no mariadbd")?;
        let install =
            find(&["mariadb-install-db", "mysql_install_db"]).ok_or("no mariadb-install-db")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        // The server reads the key as itself; copies in its own directory are readable.
        for (from, to) in [(cert, "cert.pem"), (key, "key.pem")] {
            std::fs::copy(from, d.join(to)).map_err(|e| format!("{from}: {e}"))?;
        }
        let ca_arg: Vec<String> = match ca {
            Some(ca) => {
                std::fs::copy(ca, d.join("ca.pem")).map_err(|e| format!("{ca}: {e}"))?;
                vec![format!("--ssl-ca={}", d.join("ca.pem").display())]
            }
            None => vec![],
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let user: Vec<String> = if root {
            vec!["--user=root".into()]
        } else {
            vec![]
        };
        let out = std::process::Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .args(&user)
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "install-db: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log = std::fs::File::create(d.join("server.log")).map_err(|e| e.to_string())?;
        let child = std::process::Command::new(&server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .args(&user)
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("sock").display()))
            .arg(format!("--pid-file={}", d.join("pid").display()))
            .arg(format!("--ssl-cert={}", d.join("cert.pem").display()))
            .arg(format!("--ssl-key={}", d.join("key.pem").display()))
            .args(&ca_arg)
            .args([
                "--require-secure-transport=ON",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ])
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let me = TlsMariadb {
            child,
            port,
            _dir: dir,
        };
        // Ready when it answers a TLS connection (bounded wait).
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(port)
            .user(Some("root"))
            .ssl_opts(Some(
                mysql::SslOpts::default().with_danger_accept_invalid_certs(true),
            ));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match mysql::Conn::new(opts.clone()) {
                Ok(mut c) => {
                    use mysql::prelude::Queryable;
                    c.query_drop("CREATE DATABASE test")
                        .map_err(|e| e.to_string())?;
                    return Ok(me);
                }
                Err(e) if Instant::now() > deadline => return Err(format!("not ready: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for TlsMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway certificate authority, with a server certificate for `localhost` and
/// 127.0.0.1 and a client certificate for the user `client_cn`, made by `openssl` in
/// `dir`: (ca.pem, server.pem, server.key, client.pem, client.key).
fn make_certs(dir: &Path, client_cn: &str) -> Result<[String; 5], String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    // Extensions make them X.509 v3 certificates (what TLS libraries accept).
    for (name, ext) in [
        (
            "server.ext",
            "subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
        ),
        ("client.ext", "extendedKeyUsage = clientAuth\n"),
    ] {
        std::fs::write(dir.join(name), ext).map_err(|e| e.to_string())?;
    }
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rowflow test CA",
    ])?;
    for (name, cn) in [("server", "localhost"), ("client", client_cn)] {
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ])?;
        let (csr, pem, ext) = (
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ])?;
    }
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    Ok([
        path("ca.pem"),
        path("server.pem"),
        path("server.key"),
        path("client.pem"),
        path("client.key"),
    ])
}

/// A throwaway PostgreSQL cluster (initdb, run as the `postgres` user when the tests
/// run as root) on a free port, TLS on with `certs` (ca, server cert, server key) and
/// the role `rf_cert` authenticated by client certificate; stopped when dropped.
struct CertPostgres {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl CertPostgres {
    fn start(ca: &str, cert: &str, key: &str) -> Result<CertPostgres, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("/usr/lib/postgresql: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .ok_or("no initdb")?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let cmd = |prog: &str| {
            let mut c = if as_postgres {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join(prog));
                c
            } else {
                std::process::Command::new(bin.join(prog))
            };
            c.stdin(std::process::Stdio::null());
            c
        };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        for (from, to) in [(ca, "ca.pem"), (cert, "server.pem"), (key, "server.key")] {
            std::fs::copy(from, d.join(to)).map_err(|e| format!("{from}: {e}"))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("server.key"), std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        if as_postgres {
            let out = std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(d)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("chown: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        let data = d.join("data");
        let out = cmd("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("initdb: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{d}'\n\
             ssl = on\nssl_cert_file = '{d}/server.pem'\nssl_key_file = '{d}/server.key'\n\
             ssl_ca_file = '{d}/ca.pem'\nfsync = off\nshared_buffers = 16MB\n",
            d = d.display()
        );
        let append = |file: &str, text: &str, replace: bool| -> Result<(), String> {
            let path = data.join(file);
            let old = if replace {
                String::new()
            } else {
                std::fs::read_to_string(&path).map_err(|e| e.to_string())?
            };
            std::fs::write(&path, format!("{old}{text}")).map_err(|e| e.to_string())
        };
        append("postgresql.conf", &conf, false)?;
        append(
            "pg_hba.conf",
            "local all all trust\nhostssl all rf_cert 127.0.0.1/32 cert\n\
             host all postgres 127.0.0.1/32 trust\n",
            true,
        )?;
        let log = std::fs::File::create(d.join("server.log")).map_err(|e| e.to_string())?;
        let child = cmd("postgres")
            .arg("-D")
            .arg(&data)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let me = CertPostgres { child, port, dir };
        let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match postgres::Client::connect(&admin, postgres::NoTls) {
                Ok(mut c) => {
                    c.batch_execute(
                        "CREATE ROLE rf_cert LOGIN; GRANT CREATE ON SCHEMA public TO rf_cert",
                    )
                    .map_err(|e| e.to_string())?;
                    return Ok(me);
                }
                Err(e) if Instant::now() > deadline => return Err(format!("not ready: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for CertPostgres {
    fn drop(&mut self) {
        // SIGINT to the server itself (the child may be `runuser`, which does not pass
        // it on): the fast shutdown, which ends the server's processes too. Bounded: a
        // server that does not stop is killed.
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))
            .ok()
            .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<i32>().ok()));
        if let Some(pid) = pid {
            // SAFETY: kill has no memory preconditions.
            unsafe {
                libc::kill(pid, libc::SIGINT);
            }
        }
        let t0 = Instant::now();
        while matches!(self.child.try_wait(), Ok(None)) {
            if t0.elapsed() > Duration::from_secs(15) {
                if let Some(pid) = pid {
                    // SAFETY: as above.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
    }
}

/// PostgreSQL: a role the server authenticates by client certificate (`cert` in
/// pg_hba.conf) loads with `sslcert` and `sslkey`, and is refused without them.
#[test]
fn postgres_client_certificates() {
    let certs = tempfile::tempdir().unwrap();
    let started = make_certs(certs.path(), "rf_cert")
        .and_then(|p| CertPostgres::start(&p[0], &p[1], &p[2]).map(|s| (s, p)));
    let (server, [ca, _, _, client, client_key]) = match started {
        Ok(s) => s,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("postgres_client_certificates cannot start a PostgreSQL: {why}")
        }
        Err(why) => {
            crate::db::skipped(&format!("postgres_client_certificates: {why}"));
            return;
        }
    };
    // The key must not be readable by others (as libpq wants it).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&client_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "c.csv", "id\n1\n2\n");
    let with = |q: &str| {
        let url = format!(
            "postgres://rf_cert@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={ca}{q}",
            server.port
        );
        rowflow(
            dir.path(),
            &[
                "load",
                &csv,
                "--into",
                &url,
                "--table",
                "rf_cert_t",
                "--json",
                "-q",
            ],
        )
    };
    client_certificate_runs(
        with,
        &format!("&sslcert={client}&sslkey={client_key}"),
        &format!("&sslkey={client_key}"),
    );
}

/// A load of two rows with `both` (the certificate and key options) succeeds; without
/// them the server refuses it; with `one_only` the URL is refused as incomplete.
fn client_certificate_runs(with: impl Fn(&str) -> crate::harness::Run, both: &str, one_only: &str) {
    let run = with(both);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_written"], 2, "{run:?}");
    let run = with("");
    assert_eq!(run.code, 2, "refused without a certificate: {run:?}");
    let run = with(one_only);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("go together"), "{}", run.stderr);
}

/// MySQL: a user that must present a client certificate (`REQUIRE X509`) loads with
/// `ssl-cert` and `ssl-key`, and is refused without them.
#[test]
fn mysql_client_certificates() {
    let certs = tempfile::tempdir().unwrap();
    let started = make_certs(certs.path(), "rf_x509")
        .and_then(|p| TlsMariadb::start_with_ca(&p[1], &p[2], Some(&p[0])).map(|s| (s, p)));
    let (server, [ca, _, _, client, client_key]) = match started {
        Ok(s) => s,
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("mysql_client_certificates cannot start a TLS MariaDB: {why}")
        }
        Err(why) => {
            crate::db::skipped(&format!("mysql_client_certificates: {why}"));
            return;
        }
    };
    let admin = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(server.port)
        .user(Some("root"))
        .ssl_opts(Some(
            mysql::SslOpts::default().with_danger_accept_invalid_certs(true),
        ));
    {
        use mysql::prelude::Queryable;
        let mut c = mysql::Conn::new(admin).unwrap();
        c.query_drop("CREATE USER 'rf_x509'@'%' REQUIRE X509")
            .unwrap();
        c.query_drop("GRANT ALL ON test.* TO 'rf_x509'@'%'")
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "c.csv", "id\n1\n2\n");
    let with = |q: &str| {
        let url = format!(
            "mysql://rf_x509@127.0.0.1:{}/test?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}{q}",
            server.port
        );
        rowflow(
            dir.path(),
            &[
                "load", &csv, "--into", &url, "--table", "cert_t", "--mode", "replace", "--json",
                "-q",
            ],
        )
    };
    client_certificate_runs(
        with,
        &format!("&ssl-cert={client}&ssl-key={client_key}"),
        &format!("&ssl-cert={client}"),
    );
}

/// MySQL TLS modes against a server that refuses unencrypted connections: DISABLED is
/// refused by the server, REQUIRED encrypts, VERIFY_CA checks the chain, VERIFY_IDENTITY
/// the host name too; `LOAD DATA LOCAL` works over TLS.
#[test]
fn mysql_tls_modes() {
    let cert = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let key = "/etc/ssl/private/ssl-cert-snakeoil.key";
    let others = "/etc/ssl/certs/ca-certificates.crt";
    let server = match TlsMariadb::start(cert, key) {
        Ok(s) => s,
        // With CI set (where the machine has MariaDB), not running it is a failure.
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("mysql_tls_modes cannot start a TLS MariaDB: {why}")
        }
        Err(why) => {
            crate::db::skipped(&format!(
                "mysql_tls_modes cannot start a TLS MariaDB here: {why}"
            ));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "t.csv", "id,v\n1,a\n2,\"b, with a comma\"\n");
    let with = |q: &str| {
        let url = format!("mysql://root@127.0.0.1:{}/test?{q}", server.port);
        rowflow(
            dir.path(),
            &[
                "load", &csv, "--into", &url, "--table", "tls_t", "--mode", "replace", "--json",
                "-q",
            ],
        )
    };
    for ok in [
        "ssl-mode=REQUIRED".to_string(),
        format!("ssl-mode=VERIFY_CA&ssl-ca={cert}"),
    ] {
        let run = with(&ok);
        assert_eq!(run.code, 0, "{ok}: {run:?}");
        assert_eq!(run.json()["rows_written"], 2, "{ok}: {run:?}");
    }
    // The server refuses plain connections: REQUIRED above really encrypted.
    let run = with("ssl-mode=DISABLED");
    assert_eq!(run.code, 2, "{run:?}");
    // The certificate names `localhost`, not 127.0.0.1; and it is not signed by the
    // public roots: verification is really done.
    for bad in [
        format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={cert}"),
        format!("ssl-mode=VERIFY_CA&ssl-ca={others}"),
    ] {
        let run = with(&bad);
        assert_eq!(run.code, 2, "{bad}: {run:?}");
        assert!(
            run.stderr.to_lowercase().contains("certificate"),
            "{bad}: {}",
            run.stderr
        );
    }
}

#[test]
fn postgres_tls_modes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let snakeoil = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let others = "/etc/ssl/certs/ca-certificates.crt";
    if !Path::new(snakeoil).exists() || !Path::new(others).exists() {
        crate::db::skipped(&format!(
            "postgres_tls_modes needs {snakeoil} (the server's certificate) and {others}"
        ));
        return;
    }
    let table = "rf_tls_postgres";
    db.drop_table(table);
    let csv = write(dir.path(), "t.csv", "id\n1\n");
    let with = |q: &str| {
        let sep = if db.url().contains('?') { "&" } else { "?" };
        let url = format!("{}{sep}{q}", db.url());
        rowflow(
            dir.path(),
            &[
                "load", &csv, "--into", &url, "--table", table, "--mode", "replace", "-q",
            ],
        )
    };
    for ok in [
        "sslmode=disable".to_string(),
        "sslmode=require".to_string(),
        format!("sslmode=verify-ca&sslrootcert={snakeoil}"),
    ] {
        let run = with(&ok);
        assert_eq!(run.code, 0, "{ok}: {run:?}");
    }
    // The certificate names `localhost`, not 127.0.0.1; and it is not signed by the
    // public roots: verification is really done.
    let run = with(&format!("sslmode=verify-full&sslrootcert={snakeoil}"));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    let run = with(&format!("sslmode=verify-ca&sslrootcert={others}"));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.to_lowercase().contains("certificate"),
        "{}",
        run.stderr
    );
    db.drop_table(table);
}

/// A transaction that fails at COMMIT (a deferred unique constraint) fails the run;
/// the transactions before it stay, and so do their rejects, but the rejects of the
/// failed one leave the reject file: its rows were not written either.
#[test]
fn a_commit_that_fails_takes_its_rejects_back() {
    deferred_unique(1);
}

/// Two writers and a deferred unique constraint: each writer's transaction holds one
/// of two rows with the same key, so the deferred check of one waits for the other's
/// transaction. That wait happens before the writers' turns at committing (the checks
/// run early), so the run never hangs: one transaction commits, the other fails the run
/// with the server's message, and the reject file holds only the committed one's
/// rejects.
#[test]
fn two_writers_and_a_deferred_constraint_do_not_wait_for_each_other() {
    deferred_unique(2);
}

/// Batches of 2, a commit after each: lines 2-3 in one transaction (line 3 rejected),
/// lines 4-5 in another (line 4 repeats id 1, line 5 rejected). With one writer the
/// first commits and the second fails at its deferred check; with two, either may be
/// the one that commits (three tries).
fn deferred_unique(writers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = table_name(&format!("deferred{writers}"), Kind::Postgres);
    for _ in 0..if writers == 1 { 1 } else { 3 } {
        db.drop_table(&table);
        db.exec(&format!(
            "CREATE TABLE {t} (id INTEGER, x INTEGER, CONSTRAINT {c} UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)",
            t = db.ident(&table),
            c = db.ident(&format!("{table}_u")),
        ));
        let csv = write(dir.path(), "d.csv", "id,x\n1,1\n2,bad\n1,2\n5,bad\n");
        let p = pipeline(
            dir.path(),
            &csv,
            "[source.schema]\nid = \"int\"\nx = \"int\"\n",
            &db.url(),
            &table,
            &format!("commit_rows = 2\nwriters = {writers}"),
            "[errors]\nreject_file = \"rej.csv\"\n[runtime]\nbatch_rows = 2\n",
        );
        let run = crate::harness::rowflow_within(
            dir.path(),
            &["run", &p, "--json", "-q", "--restart"],
            Duration::from_secs(60),
        );
        assert_eq!(run.code, 2, "{run:?}");
        let err = run.json()["error"].as_str().unwrap().to_string();
        assert!(err.contains("unique") || err.contains("duplicate"), "{err}");
        let rows = db.query(&format!("SELECT id, x FROM {}", db.ident(&table)));
        assert_eq!(rows.len(), 1, "one of the two committed: {rows:?}");
        // The committed transaction's reject: line 3 with (1,1), line 5 with (1,2).
        let line = if rows[0][1].as_deref() == Some("1") {
            "3"
        } else {
            "5"
        };
        if writers == 1 {
            assert_eq!(line, "3", "in input order, the first commits");
        }
        let rej = read_csv(&dir.path().join("rej.csv"));
        let lines: Vec<&str> = rej[1..].iter().map(|r| r[2].as_str()).collect();
        assert_eq!(
            lines,
            [line],
            "only the committed transaction's reject: {rows:?} {rej:?}"
        );
    }
    db.drop_table(&table);
}

/// A writer whose commit is held up in the database (here another session locks the
/// checkpoint table) keeps its turn at committing; the other writer, waiting for its
/// turn with an open transaction, gives that transaction up after 10 seconds (its locks
/// could be what the first waits for) and sends its rows again once its turn comes:
/// every row once, and `-vv` says what happened.
#[test]
fn a_writer_kept_waiting_to_commit_gives_up_its_locks_and_sends_again() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = table_name("turn", Kind::Postgres);
    db.drop_table(&table);
    let mut body = String::from("id,v\n");
    for i in 1..=4_000 {
        body.push_str(&format!("{i},{i}\n"));
    }
    let csv = write(dir.path(), "t.csv", &body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nv = \"int\"\n",
        &db.url(),
        &table,
        "key = [\"id\"]\nwriters = 2\ncommit_rows = 1000",
        "[runtime]\nbatch_rows = 500\n",
    );
    // A first run creates the table and the checkpoint table.
    let run = rowflow(dir.path(), &["run", &p, "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    db.exec(&format!("TRUNCATE {}", db.ident(&table)));
    let mut blocker = postgres::Client::connect(&db.url(), postgres::NoTls).unwrap();
    blocker
        .batch_execute("BEGIN; LOCK TABLE \"_rowflow_checkpoints\" IN EXCLUSIVE MODE")
        .unwrap();
    let child = spawn(dir.path(), &["run", &p, "-vv", "--json", "--restart"]);
    std::thread::sleep(Duration::from_secs(14));
    blocker.batch_execute("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("gave up its open transaction while waiting to commit"),
        "{stderr}"
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["reconnects"], 0, "not a lost connection: {j}");
    assert_eq!(j["rows_written"], 4_000, "{j}");
    let t = db.ident(&table);
    let got = db.query(&format!(
        "SELECT count(*), count(DISTINCT {id}), sum({v}) FROM {t}",
        id = db.ident("id"),
        v = db.ident("v")
    ));
    let s = |x: u64| Some(x.to_string());
    assert_eq!(got, vec![vec![s(4_000), s(4_000), s(4_000 * 4_001 / 2)]]);
    db.drop_table(&table);
}

/// PostgreSQL: an existing table in a schema, with types the pipeline does not create
/// (int2, int4, real, numeric(5,2), timestamp, jsonb, inet, an enum, varchar(5), uuid):
/// the good rows arrive exactly, and each bad one (out of range for its column, a NUL
/// byte, an unknown enum label, a bad address, bad JSON, too long) is rejected with its
/// line and the server's reason, the others committed.
#[test]
fn postgres_existing_types_and_server_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    db.exec(
        "CREATE SCHEMA IF NOT EXISTS rf_schema;\n\
         DROP TABLE IF EXISTS rf_schema.\"existing types\";\n\
         DROP TYPE IF EXISTS rf_schema.mood;\n\
         CREATE TYPE rf_schema.mood AS ENUM ('sad', 'happy');\n\
         CREATE TABLE rf_schema.\"existing types\" (id int4 PRIMARY KEY, s int2, r real, \
         n numeric(5,2), ts timestamp, j jsonb, ip inet, m rf_schema.mood, v varchar(5), u uuid)",
    );
    let body = "id,s,r,n,ts,j,ip,m,v,u\n\
        1,-32768,1.5,-999.99,2021-03-04 05:06:07.123456,\"{\"\"a\"\": [1, 2]}\",10.0.0.1/8,happy,héllo,a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\n\
        2,40000,,,,,,,,\n\
        3,,,1234.5,,,,,,\n\
        4,,,,,,,,a\0b,\n\
        5,,,,,,,angry,,\n\
        6,,,,,,999.1.1.1,,,\n\
        10,,,,,,,,,\n\
        11,,,,,,,,,\n\
        7,,,,,{bad,,,,\n\
        8,,,,,,,,toolong,\n\
        9,,,,,,,,,\n";
    let csv = write(dir.path(), "e.csv", body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\ns = \"int\"\nr = \"float\"\nn = \"decimal\"\nts = \"timestamp\"\n\
         j = \"text\"\nip = \"text\"\nm = \"text\"\nv = \"text\"\nu = \"text\"\n",
        &db.url(),
        "rf_schema.existing types",
        "mode = \"append\"",
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    let rej = read_csv(&dir.path().join("rej.csv"));
    let lines: Vec<&str> = rej[1..].iter().map(|r| r[10].as_str()).collect();
    // Rows 10 and 11 come before the bad JSON in its retried COPY: the server's context
    // for it starts with "JSON data, line 1", which must not be taken for its line.
    assert_eq!(lines, ["3", "4", "5", "6", "7", "10", "11"], "{rej:?}");
    for (r, why) in rej[1..].iter().zip([
        "smallint", "numeric", "0x00", "mood", "inet", "json", "too long",
    ]) {
        assert!(r[11].to_lowercase().contains(why), "{why}: {r:?}");
    }
    assert_eq!(
        db.query(
            "SELECT id, s, r, n, ts, j, ip, m, v, u FROM rf_schema.\"existing types\" WHERE id < 10 ORDER BY id"
        ),
        vec![
            vec![
                Some("1".into()),
                Some("-32768".into()),
                Some("1.5".into()),
                Some("-999.99".into()),
                Some("2021-03-04 05:06:07.123456".into()),
                Some("{\"a\": [1, 2]}".into()),
                Some("10.0.0.1/8".into()),
                Some("happy".into()),
                Some("héllo".into()),
                Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            ],
            vec![
                Some("9".into()),
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None,
                None
            ],
        ]
    );
    assert_eq!(
        db.query("SELECT id FROM rf_schema.\"existing types\" WHERE id > 9 ORDER BY id"),
        vec![vec![Some("10".to_string())], vec![Some("11".to_string())]]
    );
    db.exec("DROP TABLE rf_schema.\"existing types\"; DROP TYPE rf_schema.mood");
}

/// MySQL: an existing table in another database, with types the pipeline does not
/// create (SMALLINT, FLOAT, DECIMAL(5,2), DATETIME(6), JSON, ENUM, VARCHAR(5)): the good
/// rows arrive exactly, and each bad one (out of range, an unknown enum label, bad
/// JSON, too long) is rejected with its line and the server's reason.
#[test]
fn mysql_existing_types_and_server_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Mysql, dir.path()) else {
        return;
    };
    db.exec(
        "CREATE DATABASE IF NOT EXISTS rf_other;\n\
         DROP TABLE IF EXISTS rf_other.`existing types`;\n\
         CREATE TABLE rf_other.`existing types` (id INT PRIMARY KEY, s SMALLINT, r FLOAT, \
         n DECIMAL(5,2), ts DATETIME(6), j JSON, m ENUM('sad', 'happy'), v VARCHAR(5)) ENGINE=InnoDB",
    );
    let body = "id,s,r,n,ts,j,m,v\n\
        1,-32768,1.5,-999.99,2021-03-04 05:06:07.123456,\"{\"\"a\"\": [1, 2]}\",happy,héllo\n\
        2,40000,,,,,,\n\
        3,,,1234.5,,,,\n\
        4,,,,,,angry,\n\
        5,,,,,{bad,,\n\
        6,,,,,,,toolong\n\
        7,,,,,,,\n";
    let csv = write(dir.path(), "e.csv", body);
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\ns = \"int\"\nr = \"float\"\nn = \"decimal\"\nts = \"timestamp\"\n\
         j = \"text\"\nm = \"text\"\nv = \"text\"\n",
        &db.url(),
        "rf_other.existing types",
        "mode = \"append\"",
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    let rej = read_csv(&dir.path().join("rej.csv"));
    let lines: Vec<&str> = rej[1..].iter().map(|r| r[8].as_str()).collect();
    assert_eq!(lines, ["3", "4", "5", "6", "7"], "{rej:?}");
    for (r, why) in
        rej[1..]
            .iter()
            .zip(["out of range", "out of range", "'m'", "types.j", "too long"])
    {
        assert!(r[9].to_lowercase().contains(why), "{why}: {r:?}");
    }
    assert_eq!(
        db.query("SELECT id, s, r, n, ts, j, m, v FROM rf_other.`existing types` ORDER BY id"),
        vec![
            vec![
                Some("1".into()),
                Some("-32768".into()),
                Some("1.5".into()),
                Some("-999.99".into()),
                Some("2021-03-04 05:06:07.123456".into()),
                Some("{\"a\": [1, 2]}".into()),
                Some("happy".into()),
                Some("héllo".into()),
            ],
            vec![Some("7".into()), None, None, None, None, None, None, None],
        ]
    );
    db.exec("DROP DATABASE rf_other");
}

/// `rowflow load` without `--into` (and a pipeline without `sink.url`) writes to
/// `DATABASE_URL`; with neither, it says what is missing.
#[test]
fn database_url_is_the_default_target() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = table_name("database_url", Kind::Postgres);
    db.drop_table(&table);
    let csv = write(dir.path(), "d.csv", "id,name\n1,Ann\n2,Bo\n");
    let run = |env_url: Option<&str>, args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_rowflow"));
        c.args(args)
            .current_dir(dir.path())
            .env_remove("DATABASE_URL");
        if let Some(u) = env_url {
            c.env("DATABASE_URL", u);
        }
        c.output().unwrap()
    };
    let out = run(Some(&db.url()), &["load", &csv, "--table", &table, "-q"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        db.query(&format!(
            "SELECT id, name FROM {} ORDER BY id",
            db.ident(&table)
        )),
        vec![
            vec![Some("1".to_string()), Some("Ann".to_string())],
            vec![Some("2".to_string()), Some("Bo".to_string())],
        ]
    );
    db.drop_table(&table);
    let p = write(
        dir.path(),
        "p.toml",
        &format!("[source]\npath = {csv:?}\n[sink]\ntable = {table:?}\n"),
    );
    let out = run(Some(&db.url()), &["run", &p, "-q"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident(&table))),
        2
    );
    let out = run(None, &["run", &p, "-q", "--restart"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"),
        "{out:?}"
    );
    db.drop_table(&table);
}

/// PostgreSQL closes a session idle longer than `idle_session_timeout` (here 500 ms,
/// set through the URL's `options`) with a FATAL error of its own (57P05): when the
/// input stalls between two transactions, the sink reconnects and goes on, losing and
/// duplicating nothing.
#[test]
fn postgres_reconnects_after_an_idle_session_timeout() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = table_name("idle_timeout", Kind::Postgres);
    db.drop_table(&table);
    let sep = if db.url().contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-c%20idle_session_timeout%3D500", db.url());
    let p = pipeline(
        dir.path(),
        "-",
        "[source.schema]\nid = \"int\"\nv = \"int\"\n",
        &url,
        &table,
        // One writer: the wait below follows its transactions.
        "commit_rows = 1000\nwriters = 1",
        "[runtime]\nbatch_rows = 100\n",
    );
    // --restart: standard input cannot resume an earlier run's checkpoint.
    let mut child = spawn(dir.path(), &["run", &p, "--json", "-q", "--restart"]);
    let mut stdin = child.stdin.take().unwrap();
    let mut rows = String::from("id,v\n");
    for i in 1..=1000 {
        rows.push_str(&format!("{i},{i}\n"));
    }
    stdin.write_all(rows.as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Wait for the first transaction, then stall past the timeout.
    let t0 = Instant::now();
    let t = db.ident(&table);
    while db
        .try_query(&format!("SELECT count(*) FROM {t}"))
        .map_or(true, |r| r[0][0].as_deref() != Some("1000"))
    {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("rowflow ended early ({st}): {:?}", child.wait_with_output());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the first 1000 rows never committed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let mut rows = String::new();
    for i in 1001..=2000 {
        rows.push_str(&format!("{i},{i}\n"));
    }
    stdin.write_all(rows.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(j["reconnects"].as_u64().unwrap() >= 1, "{j}");
    assert_eq!(
        db.query(&format!(
            "SELECT count(*), count(DISTINCT id), sum(v) FROM {t}"
        )),
        vec![vec![
            Some("2000".to_string()),
            Some("2000".to_string()),
            Some((2000 * 2001 / 2).to_string())
        ]]
    );
    db.drop_table(&table);
}

/// PostgreSQL upsert needs a unique index the server can use for `ON CONFLICT (key)`:
/// not a partial one, nor one with an expression part that happens to hold the key
/// column. `check` refuses those; a plain unique index on the key is accepted.
#[test]
fn postgres_upsert_needs_a_plain_unique_index_on_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = table_name("upsert_index", Kind::Postgres);
    let csv = write(dir.path(), "u.csv", "id,name\n1,Ann\n");
    let p = pipeline(
        dir.path(),
        &csv,
        "",
        &db.url(),
        &table,
        "mode = \"upsert\"\nkey = [\"id\"]",
        "",
    );
    let t = db.ident(&table);
    // (the table's key constraint or index, usable by ON CONFLICT (id))
    for (index, ok) in [
        ("UNIQUE INDEX ON {t} (id, lower(name))", false),
        ("UNIQUE INDEX ON {t} (id) WHERE id > 0", false),
        ("UNIQUE INDEX ON {t} (id) INCLUDE (name)", true),
        ("UNIQUE INDEX ON {t} (id)", true),
    ] {
        db.drop_table(&table);
        db.exec(&format!(
            "CREATE TABLE {t} (id INTEGER NOT NULL, name TEXT)"
        ));
        db.exec(&format!("CREATE {}", index.replace("{t}", &t)));
        let run = rowflow(dir.path(), &["check", &p]);
        if ok {
            assert_eq!(run.code, 0, "{index}: {run:?}");
            // And the upsert itself runs on it.
            let run = rowflow(dir.path(), &["run", &p, "-q", "--restart"]);
            assert_eq!(run.code, 0, "{index}: {run:?}");
        } else {
            assert_eq!(run.code, 2, "{index}: {run:?}");
            assert!(run.stderr.contains("unique index"), "{}", run.stderr);
        }
    }
    // A deferrable unique constraint cannot arbitrate ON CONFLICT.
    db.drop_table(&table);
    db.exec(&format!(
        "CREATE TABLE {t} (id INTEGER NOT NULL UNIQUE DEFERRABLE, name TEXT)"
    ));
    let run = rowflow(dir.path(), &["check", &p]);
    assert_eq!(run.code, 2, "deferrable: {run:?}");
    db.drop_table(&table);
}

/// PostgreSQL cuts identifiers longer than 63 bytes short without an error; a header
/// that long is refused before anything is written, with the reason.
#[test]
fn postgres_refuses_names_it_would_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Postgres, dir.path()) else {
        return;
    };
    let table = table_name("long_names", Kind::Postgres);
    db.drop_table(&table);
    let long = format!("c{}", "é".repeat(32)); // 65 bytes, 33 characters
    let csv = write(dir.path(), "l.csv", &format!("id,{long}\n1,x\n"));
    let p = pipeline(dir.path(), &csv, "", &db.url(), &table, "", "");
    for args in [
        vec!["check", &p],
        vec!["run", &p, "-q"],
        vec!["load", &csv, "--into", &db.url(), "--table", &table, "-q"],
    ] {
        let run = rowflow(dir.path(), &args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains(&long) && run.stderr.contains("63"),
            "{}",
            run.stderr
        );
    }
    assert!(
        db.try_query(&format!("SELECT 1 FROM {}", db.ident(&table)))
            .is_err(),
        "no table was created"
    );
}

/// MySQL upsert (multi-row `INSERT`s): statements are sized by the rows' bytes, so
/// 200 rows that together pass the server's `max_allowed_packet` all arrive; a row
/// larger than the packet alone is rejected with the reason (the server would drop the
/// connection on it, again on every retry). `LOAD DATA` (append) streams it and loads
/// it.
#[test]
fn mysql_statements_fit_the_servers_packet() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Mysql, dir.path()) else {
        return;
    };
    let packet: usize = db.query("SELECT @@max_allowed_packet")[0][0]
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    let table = table_name("packet", Kind::Mysql);
    db.drop_table(&table);
    // 200 rows of packet/100 bytes (twice the packet in all), row 150 larger than it.
    let small = "x".repeat(packet / 100);
    let big = "y".repeat(packet + 1024);
    let mut body = String::from("id,t\n");
    for i in 1..=200 {
        body.push_str(&format!("{i},{}\n", if i == 150 { &big } else { &small }));
    }
    let csv = write(dir.path(), "p.csv", &body);
    drop(body);
    let schema = "[source.schema]\nid = \"int\"\nt = \"text\"\n";
    let p = pipeline(
        dir.path(),
        &csv,
        schema,
        &db.url(),
        &table,
        "mode = \"upsert\"\nkey = [\"id\"]\nreconnect_timeout = 5",
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    let rej = only_rejected(dir.path(), &db, &table, &run, &[151], 200, 2);
    assert!(rej[1][3].contains("max_allowed_packet"), "{:?}", &rej[1][3]);
    assert_eq!(
        db.count(&format!("SELECT sum(length(t)) FROM {}", db.ident(&table))),
        (199 * small.len()) as i64
    );
    // Append goes through LOAD DATA, which takes the large row too.
    db.drop_table(&table);
    let p = pipeline(
        dir.path(),
        &csv,
        schema,
        &db.url(),
        &table,
        "mode = \"append\"",
        "",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q", "--restart"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        db.count(&format!("SELECT sum(length(t)) FROM {}", db.ident(&table))),
        (199 * small.len() + big.len()) as i64
    );
    db.drop_table(&table);
}

/// MySQL: a table in an engine without transactions (MyISAM) could not have a refused
/// or interrupted batch rolled back. `check` says so and `run` writes nothing.
#[test]
fn mysql_refuses_a_table_without_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Mysql, dir.path()) else {
        return;
    };
    let table = table_name("myisam", Kind::Mysql);
    db.drop_table(&table);
    db.exec(&format!(
        "CREATE TABLE {} (id INTEGER NOT NULL PRIMARY KEY, name TEXT) ENGINE=MyISAM",
        db.ident(&table)
    ));
    let csv = write(dir.path(), "k.csv", "id,name\n1,Ann\n");
    let p = pipeline(dir.path(), &csv, "", &db.url(), &table, "", "");
    for args in [vec!["check", &p], vec!["run", &p, "-q"]] {
        let run = rowflow(dir.path(), &args);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("MyISAM") && run.stderr.contains("no transactions"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(
        db.count(&format!("SELECT count(*) FROM {}", db.ident(&table))),
        0
    );
    db.drop_table(&table);
}

/// MySQL: an existing table whose bool column is `BIT(1)` (compatible with `bool`). A
/// duplicate key sends the rows through the `INSERT` fallback, which binds the fields of
/// their `LOAD DATA` lines: booleans and integers must go in as numbers (the text `'1'`
/// does not fit a `BIT(1)`), floats as doubles.
#[test]
fn mysql_bit_columns_take_booleans_through_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(Kind::Mysql, dir.path()) else {
        return;
    };
    let table = table_name("bits", Kind::Mysql);
    db.drop_table(&table);
    db.exec(&format!(
        "CREATE TABLE {} ({} BIGINT NOT NULL PRIMARY KEY, {} BIT(1), {} DOUBLE)",
        db.ident(&table),
        db.ident("id"),
        db.ident("b"),
        db.ident("f")
    ));
    let csv = write(
        dir.path(),
        "bits.csv",
        "id,b,f\n1,true,0.1\n2,false,-1e300\n3,,2.5\n1,false,9\n",
    );
    let p = pipeline(
        dir.path(),
        &csv,
        "[source.schema]\nid = \"int\"\nb = \"bool\"\nf = \"float\"\n",
        &db.url(),
        &table,
        "key = [\"id\"]",
        "[errors]\nreject_file = \"rej.csv\"\n",
    );
    let run = rowflow(dir.path(), &["run", &p, "--json", "-q"]);
    only_rejected(dir.path(), &db, &table, &run, &[5], 4, 3);
    let rows = db.query(&format!(
        "SELECT {b} + 0, {f} FROM {t} ORDER BY {id}",
        b = db.ident("b"),
        f = db.ident("f"),
        t = db.ident(&table),
        id = db.ident("id")
    ));
    let got: Vec<(Option<String>, Option<f64>)> = rows
        .iter()
        .map(|r| (r[0].clone(), r[1].as_ref().map(|s| s.parse().unwrap())))
        .collect();
    assert_eq!(
        got,
        [
            (Some("1".to_string()), Some(0.1)),
            (Some("0".to_string()), Some(-1e300)),
            (None, Some(2.5)),
        ]
    );
    db.drop_table(&table);
}
