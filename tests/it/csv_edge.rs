//! CSV edge cases: quoting, newlines, CRLF, BOM, ragged rows, invalid UTF-8, odd
//! headers, empty and header-only files, huge fields, NULL rules.

use rusqlite::types::Value as Sql;

use crate::harness::{columns, data, load, query, read_csv, text};

#[test]
fn quoted_fields_with_delimiters_quotes_and_newlines() {
    let dir = tempfile::tempdir().unwrap();
    let (run, db) = load(dir.path(), &data("quotes.csv"), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = query(&db, "SELECT id, text, other FROM t ORDER BY id");
    assert_eq!(
        rows,
        vec![
            vec![Sql::Integer(1), text("a, b"), text("x")],
            vec![Sql::Integer(2), text("say \"hi\""), text("y")],
            vec![Sql::Integer(3), text("line1\nline2\nline3"), text("z")],
            vec![Sql::Integer(4), text("plain"), text("trailing,")],
        ]
    );
}

#[test]
fn crlf_and_bom() {
    let dir = tempfile::tempdir().unwrap();
    let (run, db) = load(dir.path(), &data("crlf_bom.csv"), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        columns(&db, "t")[0].0,
        "id",
        "BOM stripped from the first header"
    );
    let rows = query(&db, "SELECT id, name FROM t ORDER BY id");
    assert_eq!(rows[1], vec![Sql::Integer(2), text("be\r\nta")]);
    assert_eq!(rows[2], vec![Sql::Integer(3), text("gamma")]);
}

#[test]
fn ragged_rows_are_rejected_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let (run, db) = load(dir.path(), &data("ragged.csv"), &["--reject", "rej.csv"]);
    assert_eq!(run.code, 1, "exit 1: finished with rejects: {run:?}");
    let j = run.json();
    assert_eq!(j["rows_read"], 4);
    assert_eq!(j["rows_written"], 2);
    assert_eq!(j["rows_rejected"], 2);
    assert_eq!(
        query(&db, "SELECT a FROM t ORDER BY a"),
        vec![vec![Sql::Integer(1)], vec![Sql::Integer(10)]]
    );
    let rej = read_csv(&dir.path().join("rej.csv"));
    assert_eq!(rej[0], ["a", "b", "c", "_line", "_error"]);
    assert_eq!(rej[1][..3], ["4", "5", ""]);
    assert_eq!(rej[1][3], "3");
    assert!(
        rej[1][4].contains("expected 3 fields, found 2"),
        "{:?}",
        rej[1]
    );
    // The long record keeps `_line` and `_error` in their columns; its extra field
    // follows them.
    assert_eq!(rej[2][..3], ["6", "7", "8"]);
    assert_eq!(rej[2][3], "4");
    assert!(rej[2][4].contains("found 4"), "{:?}", rej[2]);
    assert_eq!(rej[2][5..], ["9"]);
}

#[test]
fn invalid_utf8_is_a_row_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (run, db) = load(
        dir.path(),
        &data("invalid_utf8.csv"),
        &["--reject", "rej.csv"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        query(&db, "SELECT name FROM t ORDER BY id"),
        vec![vec![text("ok")], vec![text("café")]]
    );
    let mut rdr = csv::ReaderBuilder::new()
        .from_path(dir.path().join("rej.csv"))
        .unwrap();
    let recs: Vec<csv::ByteRecord> = rdr.byte_records().map(|r| r.unwrap()).collect();
    assert_eq!(recs.len(), 1);
    assert_eq!(
        &recs[0][1], b"bad\xff\xfebytes",
        "original bytes kept in the reject file"
    );
    assert_eq!(&recs[0][2], b"3", "line 3");
    let reason = String::from_utf8_lossy(&recs[0][3]);
    assert!(
        reason.contains("column \"name\": invalid UTF-8"),
        "{reason}"
    );
}

#[test]
fn odd_header_names_are_kept_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (run, db) = load(dir.path(), &data("odd_headers.csv"), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let names: Vec<String> = columns(&db, "t").into_iter().map(|c| c.0).collect();
    assert_eq!(
        names,
        [
            "id",
            "first name",
            "say \"what\"",
            "Ünïcødé 名前",
            "select",
            "id\"; DROP TABLE x; --",
            "column_7",
            "dup",
            "dup_2"
        ]
    );
    let rows = query(
        &db,
        "SELECT \"id\"\"; DROP TABLE x; --\", \"select\", dup_2 FROM t",
    );
    assert_eq!(rows, vec![vec![text("e"), text("d"), text("h")]]);
}

#[test]
fn empty_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = load(dir.path(), &data("empty.csv"), &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("empty.csv") && run.stderr.contains("empty"),
        "{}",
        run.stderr
    );
}

#[test]
fn header_only_file_creates_an_empty_table() {
    let dir = tempfile::tempdir().unwrap();
    let (run, db) = load(dir.path(), &data("header_only.csv"), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["rows_read"], 0);
    assert_eq!(columns(&db, "t").len(), 3);
    assert_eq!(
        query(&db, "SELECT count(*) FROM t"),
        vec![vec![Sql::Integer(0)]]
    );
}

#[test]
fn huge_field() {
    let dir = tempfile::tempdir().unwrap();
    let big: String = "ab,\"c\n".repeat(1_000_000); // 6 MB with quotes and newlines
    let quoted = format!("\"{}\"", big.replace('"', "\"\""));
    let path = dir.path().join("huge.csv");
    std::fs::write(&path, format!("id,blob\n1,{quoted}\n2,small\n")).unwrap();
    let (run, db) = load(dir.path(), &path, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = query(&db, "SELECT length(blob) FROM t WHERE id = 1");
    assert_eq!(rows[0][0], Sql::Integer(big.len() as i64));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let got: String = conn
        .query_row("SELECT blob FROM t WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert!(got == big, "huge field round-trips exactly");
    let line: Vec<Vec<Sql>> = query(&db, "SELECT blob FROM t WHERE id = 2");
    assert_eq!(line, vec![vec![text("small")]]);
}

#[test]
fn null_rules_unquoted_empty_is_null_quoted_empty_is_empty_string() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\nnull_values = [\"NULL\"]\n[sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\n",
            data("nulls.csv").display().to_string()
        ),
    )
    .unwrap();
    let run = crate::harness::rowflow(dir.path(), &["run", "p.toml", "--json", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = query(
        &dir.path().join("out.db"),
        "SELECT id, val, num FROM t ORDER BY id",
    );
    assert_eq!(
        rows,
        vec![
            vec![Sql::Integer(1), Sql::Null, Sql::Null],
            vec![Sql::Integer(2), text(""), Sql::Integer(7)],
            vec![Sql::Integer(3), Sql::Null, Sql::Null],
            vec![Sql::Integer(4), text("x"), Sql::Integer(8)],
        ]
    );
    let cols = columns(&dir.path().join("out.db"), "t");
    assert_eq!(
        cols[2],
        ("num".to_string(), "INTEGER".to_string()),
        "NULL markers do not spoil inference"
    );
}

#[test]
fn inference_picks_safe_types() {
    let dir = tempfile::tempdir().unwrap();
    let (run, db) = load(dir.path(), &data("types.csv"), &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let cols: Vec<String> = columns(&db, "t").into_iter().map(|c| c.1).collect();
    // Decimals with more digits than a double holds are stored as their exact text.
    assert_eq!(
        cols,
        [
            "INTEGER",
            "REAL",
            "TEXT",
            "BOOLEAN",
            "DATE",
            "TIMESTAMP",
            "TEXT",
            "TEXT",
            "TEXT"
        ]
    );
    let rows = query(
        &db,
        "SELECT i, f, b, dt, ts, zip, unixepoch(ts) FROM t ORDER BY rowid",
    );
    assert_eq!(
        rows[0][..6],
        [
            Sql::Integer(1),
            Sql::Real(1.5),
            Sql::Integer(1),
            text("2024-02-29"),
            text("2024-01-01T10:00:00+05:30"),
            text("01234")
        ]
    );
    assert_eq!(rows[0][6], Sql::Integer(1704083400));
    assert_eq!(rows[1][1], Sql::Real(2000.0));
    assert_eq!(rows[1][5], text("00042"), "leading zeros are kept");
    assert_eq!(rows[2], vec![Sql::Null; 7]);
    // 20 digits do not fit an int: a decimal kept exactly, never a rounded float.
    let big = query(
        &db,
        "SELECT big, typeof(big), d FROM t ORDER BY rowid LIMIT 1",
    );
    assert_eq!(big[0][0], text("99999999999999999999"));
    assert_eq!(big[0][2], text("0.12345678901234567"));
}

#[test]
fn tabs_and_comment_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\ndelimiter = \"\\t\"\ncomment = \"#\"\n[sink]\nurl = \"sqlite://out.db\"\ntable = \"t\"\n",
            data("comments.tsv").display().to_string()
        ),
    )
    .unwrap();
    let run = crate::harness::rowflow(dir.path(), &["run", "p.toml", "--json", "-q"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = query(
        &dir.path().join("out.db"),
        "SELECT id, name FROM t ORDER BY id",
    );
    assert_eq!(
        rows,
        vec![
            vec![Sql::Integer(1), text("one")],
            vec![Sql::Integer(2), text("two\tfields")]
        ]
    );
}
