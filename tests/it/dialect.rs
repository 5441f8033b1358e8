//! Dialect detection (issue "Real-world data"): files with semicolons, tabs, pipes, no
//! header or single quotes load with nothing declared, into every database, read back
//! exactly; what was detected is said in one line and in `--json`; a resumed run reads
//! the file as the interrupted run detected.

use crate::db::{Db, Kind};
use crate::harness::rowflow;

/// `rowflow load FILE` into `db`'s `table`, nothing about the dialect given.
fn load(
    dir: &std::path::Path,
    db: &Db,
    file: &std::path::Path,
    table: &str,
) -> crate::harness::Run {
    let url = db.url();
    rowflow(
        dir,
        &[
            "load",
            file.to_str().unwrap(),
            "--into",
            &url,
            "--table",
            table,
            "--mode",
            "replace",
            "--json",
            "--quiet",
        ],
    )
}

fn semicolons_tabs_and_pipes(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    // A European export: semicolons, decimal commas, a quoted value holding both.
    let semi = dir.path().join("semi.csv");
    std::fs::write(
        &semi,
        "id;name;amount\n1;\"Müller; Hans\";1,5\n2;Ann;3,25\n3;\"O'Neil, B\";10\n",
    )
    .unwrap();
    db.drop_table("dia_semi");
    let r = load(dir.path(), &db, &semi, "dia_semi");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let notes = r.json()["notes"].to_string();
    assert!(notes.contains("delimiter ';'"), "{notes}");
    assert!(notes.contains("a header row"), "{notes}");
    let t = db.ident("dia_semi");
    let rows = db.query(&format!(
        "SELECT {}, {}, {} FROM {t} ORDER BY 1",
        db.ident("id"),
        db.ident("name"),
        db.ident("amount")
    ));
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.into_iter().map(Option::unwrap_or_default).collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["1", "Müller; Hans", "1,5"],
            vec!["2", "Ann", "3,25"],
            vec!["3", "O'Neil, B", "10"],
        ],
    );

    // Tabs, and pipes with commas inside values.
    for (name, text) in [
        ("tab.tsv", "id\tcity\n1\tParis, TX\n2\tRome\n"),
        ("pipe.txt", "id|city\n1|Paris, TX\n2|Rome\n"),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        db.drop_table("dia_sep");
        let r = load(dir.path(), &db, &f, "dia_sep");
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let t = db.ident("dia_sep");
        let got = db.query(&format!(
            "SELECT {} FROM {t} ORDER BY {}",
            db.ident("city"),
            db.ident("id")
        ));
        assert_eq!(
            got,
            vec![
                vec![Some("Paris, TX".to_string())],
                vec![Some("Rome".into())]
            ],
            "{name}"
        );
    }
}

crate::db::on_every_db!(semicolons_tabs_and_pipes);

/// A file of numbers with no header loads as data (columns `column_1`..), and the note
/// says how to say otherwise; `--header` and `--no-header` decide instead.
#[test]
fn a_headerless_file_is_recognised_and_the_flags_decide() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("nums.csv");
    std::fs::write(&f, "1,2.5,2021-01-01\n2,3,2021-01-02\n3,4.75,2021-01-03\n").unwrap();
    let (r, db) = crate::harness::load(dir.path(), &f, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["rows_written"], 3);
    let notes = r.json()["notes"].to_string();
    assert!(
        notes.contains("no header row") && notes.contains("has_header = true"),
        "{notes}"
    );
    let cols: Vec<String> = crate::harness::columns(&db, "t")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(cols, ["column_1", "column_2", "column_3"]);

    let dir = tempfile::tempdir().unwrap();
    let (r, db) = crate::harness::load(dir.path(), &f, &["--header"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["rows_written"], 2);
    let cols: Vec<String> = crate::harness::columns(&db, "t")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(cols, ["1", "2.5", "2021-01-01"]);

    // A header of names over numbers stays a header; --no-header makes it data.
    let g = dir.path().join("named.csv");
    std::fs::write(&g, "id,score\n1,2\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (r, db) = crate::harness::load(dir.path(), &g, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cols: Vec<String> = crate::harness::columns(&db, "t")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(cols, ["id", "score"]);
    let dir = tempfile::tempdir().unwrap();
    let (r, _) = crate::harness::load(dir.path(), &g, &["--no-header"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["rows_written"], 2, "the header row is data");
}

/// `rowflow schema` and `rowflow check` show what was detected; a delimiter given that
/// leaves another one in the header is a warning naming the setting.
#[test]
fn schema_and_check_say_what_was_detected() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("semi.csv");
    std::fs::write(&f, "id;name;email\n1;a;a@x\n2;b;b@x\n").unwrap();
    let r = rowflow(dir.path(), &["schema", f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("# detected") && r.stdout.contains("delimiter ';'"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("email = "), "{}", r.stdout);

    let r = rowflow(
        dir.path(),
        &["schema", f.to_str().unwrap(), "--delimiter", ","],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("warning") && r.stdout.contains("source.delimiter = \";\""),
        "{}",
        r.stdout
    );

    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\n[sink]\nurl = \"sqlite://{}\"\ntable = \"t\"\n",
            f.display().to_string(),
            dir.path().join("o.db").display()
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["check", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("delimiter ';'"), "{all}");
}

/// A run killed mid-load resumes reading the file the way the interrupted run detected
/// (its checkpoint records it), and every row is loaded once.
#[test]
fn a_resumed_run_reads_as_the_interrupted_run_detected() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.csv");
    let n: i64 = 300_000;
    let mut body = String::from("id;label;amount\n");
    for i in 0..n {
        body.push_str(&format!("{i};\"l;{i}\";{i},5\n"));
    }
    std::fs::write(&f, body).unwrap();
    let db = dir.path().join("r.db");
    let p = crate::harness::small_commits_pipeline(dir.path(), &f, &db);
    let before = crate::harness::kill_after_first_commit(dir.path(), &p, &db, "t");
    assert!(before < n, "killed before the end ({before} rows)");
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let notes = r.json()["notes"].to_string();
    assert!(
        notes.contains("read as the interrupted run detected: delimiter ';'"),
        "{notes}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (count, distinct, label): (i64, i64, String) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT id), max(label) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((count, distinct), (n, n));
    assert!(label.starts_with("l;"), "{label}");
}
