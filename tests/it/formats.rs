//! Real-world formats (issue "Real-world data"): PostgreSQL's formatting functions in a
//! pipeline, on an ordinary export, into every database, read back exactly; a value that
//! does not match its format is rejected with its line, the value and the format.

use crate::db::{Db, Kind};
use crate::harness::{read_csv, rowflow};

fn us_dates_and_money(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let csv = dir.path().join("export.csv");
    std::fs::write(
        &csv,
        "id,signup_date,amount,last_seen\n\
         1,07/20/2021,\"$1,812.46\",07/20/2021 03:04 PM\n\
         2,12/31/1999,$5.00,01/01/2000 12:00 AM\n\
         3,2021-07-20,$7.10,07/20/2021 11:59 PM\n\
         4,02/29/2024,\"($1,000.50)\",02/29/2024 06:30 AM\n",
    )
    .unwrap();
    db.drop_table("fmt_export");
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            r#"[source]
path = {:?}
[source.schema]
id = "int"
signup_date = "text"
amount = "text"
last_seen = "text"
[[transform]]
type = "compute"
[transform.columns]
signup = "to_date(signup_date, 'MM/DD/YYYY')"
spend = "to_number(amount, 'L9,999.99')"
seen = "to_timestamp(last_seen, 'MM/DD/YYYY HH12:MI AM')"
label = "to_char(to_date(signup_date, 'MM/DD/YYYY'), 'FMMonth FMDD, YYYY')"
[[transform]]
type = "select"
columns = ["id", "signup", "spend", "seen", "label"]
[sink]
url = {:?}
table = "fmt_export"
mode = "replace"
[errors]
reject_file = "rejects.csv"
"#,
            csv.display().to_string(),
            db.url()
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(
        (j["rows_written"].as_u64(), j["rows_rejected"].as_u64()),
        (Some(3), Some(1))
    );
    let t = db.ident("fmt_export");
    let got: Vec<Vec<Option<String>>> = db
        .query(&format!(
            "SELECT id, {}, {}, {}, label FROM {t} ORDER BY id",
            "CAST(signup AS CHAR(10))",
            "CAST(spend AS CHAR(20))",
            db.epoch_micros("seen")
        ))
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| {
                    v.map(|v| {
                        let v = v.trim().to_string();
                        // SQLite keeps the timestamp as its text: as epoch microseconds too.
                        match chrono::DateTime::parse_from_rfc3339(&v) {
                            Ok(t) => (t.timestamp() * 1_000_000).to_string(),
                            Err(_) => v,
                        }
                    })
                })
                .collect()
        })
        .collect();
    let s = |v: &str| Some(v.to_string());
    let epoch = |y: i32, m: u32, d: u32, h: u32, mi: u32| {
        (chrono::NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
            .and_utc()
            .timestamp()
            * 1_000_000)
            .to_string()
    };
    assert_eq!(got.len(), 3);
    assert_eq!(got[0][0], s("1"));
    assert_eq!(got[0][1], s("2021-07-20"));
    assert_eq!(
        got[0][2].as_deref().map(|v| v.parse::<f64>().unwrap()),
        Some(1812.46)
    );
    assert_eq!(got[0][3], Some(epoch(2021, 7, 20, 15, 4)));
    assert_eq!(got[0][4], s("July 20, 2021"));
    assert_eq!(got[1][1], s("1999-12-31"));
    assert_eq!(got[1][3], Some(epoch(2000, 1, 1, 0, 0)));
    assert_eq!(got[2][0], s("4"));
    assert_eq!(got[2][1], s("2024-02-29"));
    assert_eq!(
        got[2][2].as_deref().map(|v| v.parse::<f64>().unwrap()),
        Some(-1000.5)
    );
    assert_eq!(got[2][3], Some(epoch(2024, 2, 29, 6, 30)));
    // The ISO date is rejected: its line, the value and the format it should have had.
    let rejects = read_csv(&dir.path().join("rejects.csv"));
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    let row = &rejects[1];
    assert_eq!(row[0], "3");
    assert_eq!(row[4], "4", "{row:?}");
    assert!(
        row[5].contains("\"2021-07-20\"") && row[5].contains("MM/DD/YYYY"),
        "{row:?}"
    );
}

crate::db::on_every_db!(us_dates_and_money);

/// `[source.schema]` with formats: a European export (semicolons, decimal commas,
/// `DD.MM.YYYY`, a currency sign) loads without an expression, and a value that does not
/// match its declared format is rejected naming the format.
fn european_export_with_declared_formats(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let csv = dir.path().join("export.csv");
    std::fs::write(
        &csv,
        "id;datum;betrag;menge;zeit\n\
         1;20.07.2021;1.812,46 €;3;20.07.2021 15:04\n\
         2;31.12.1999;5,00 €;-1.200;01.01.2000 00:00\n\
         3;2021-07-20;7,10 €;4;20.07.2021 23:59\n\
         4;29.02.2024;1.000,5x;5;29.02.2024 06:30\n",
    )
    .unwrap();
    db.drop_table("fmt_euro");
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            r#"[source]
path = {:?}
delimiter = ";"
[source.schema]
id = "int"
datum = {{ type = "date", format = "DD.MM.YYYY" }}
betrag = {{ type = "decimal", decimal_separator = ",", thousands = ".", strip = "€ " }}
menge = {{ type = "int", thousands = "." }}
zeit = {{ type = "timestamp", format = "DD.MM.YYYY HH24:MI" }}
[sink]
url = {:?}
table = "fmt_euro"
mode = "replace"
[errors]
reject_file = "rejects.csv"
"#,
            csv.display().to_string(),
            db.url()
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(
        (j["rows_written"].as_u64(), j["rows_rejected"].as_u64()),
        (Some(2), Some(2))
    );
    let t = db.ident("fmt_euro");
    let got = db.query(&format!(
        "SELECT id, CAST(datum AS CHAR(10)), CAST(betrag AS CHAR(20)), menge FROM {t} ORDER BY id"
    ));
    let trimmed: Vec<Vec<String>> = got
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.clone().unwrap_or_default().trim().to_string())
                .collect()
        })
        .collect();
    assert_eq!(trimmed[0][..2], ["1", "2021-07-20"]);
    assert_eq!(trimmed[0][2].parse::<f64>().unwrap(), 1812.46);
    assert_eq!(trimmed[0][3], "3");
    assert_eq!(trimmed[1][..2], ["2", "1999-12-31"]);
    assert_eq!(trimmed[1][2].parse::<f64>().unwrap(), 5.0);
    assert_eq!(trimmed[1][3], "-1200");
    let rejects = read_csv(&dir.path().join("rejects.csv"));
    assert_eq!(rejects.len(), 3, "{rejects:?}");
    // Line 4: the ISO date, with the format it should have had.
    assert_eq!(rejects[1][5], "4");
    assert!(
        rejects[1][6].contains("datum") && rejects[1][6].contains("DD.MM.YYYY"),
        "{:?}",
        rejects[1]
    );
    // Line 5: the amount, with the separators it should have had.
    assert_eq!(rejects[2][5], "5");
    assert!(
        rejects[2][6].contains("betrag") && rejects[2][6].contains("decimal separator ','"),
        "{:?}",
        rejects[2]
    );
}

crate::db::on_every_db!(european_export_with_declared_formats);

/// A declared format that cannot work is a plan error naming the column, before any row.
#[test]
fn declared_formats_that_cannot_work_are_plan_errors() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, "a,b,c\n1,2,3\n").unwrap();
    for (schema, want) in [
        (
            "a = { type = \"text\", format = \"YYYY\" }",
            "source.schema.a",
        ),
        (
            "b = { type = \"date\", format = \"hello\" }",
            "no date or time field",
        ),
        (
            "c = { type = \"bool\", decimal_separator = \",\" }",
            "for numbers",
        ),
        (
            "a = { type = \"int\", thousands = \",\", decimal_separator = \",\" }",
            "the same",
        ),
        ("a = { type = \"int\", formt = \"9\" }", "source.schema"),
    ] {
        let p = dir.path().join("p.toml");
        std::fs::write(
            &p,
            format!(
                "[source]\npath = {:?}\n[source.schema]\n{schema}\n[sink]\nurl = \"sqlite://{}\"\ntable = \"t\"\n",
                csv.display().to_string(),
                dir.path().join("x.db").display()
            ),
        )
        .unwrap();
        let r = rowflow(dir.path(), &["run", p.to_str().unwrap()]);
        assert_eq!(r.code, 2, "{schema}");
        assert!(r.stderr.contains(want), "{schema}: {}", r.stderr);
    }
}

/// Null markers: `load --null` (repeatable) and a column's own `null_values`; a marker
/// elsewhere stays a value.
#[test]
fn null_markers_for_the_load_and_per_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("na.csv");
    std::fs::write(&csv, "id,score,note\n1,NA,-\n2,7,NA\n3,n/a,x\n").unwrap();
    let (r, db) = crate::harness::load(dir.path(), &csv, &["--null", "NA", "--null", "n/a"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cols = crate::harness::columns(&db, "t");
    assert_eq!(
        cols[1],
        ("score".to_string(), "INTEGER".to_string()),
        "{cols:?}"
    );
    let got = crate::harness::query(&db, "SELECT id, score, note FROM t ORDER BY id");
    use rusqlite::types::Value as Sql;
    assert_eq!(got[0][1], Sql::Null);
    assert_eq!(got[0][2], crate::harness::text("-"));
    assert_eq!(got[1][1], Sql::Integer(7));
    assert_eq!(got[1][2], Sql::Null);
    assert_eq!(got[2][1], Sql::Null);
    // Per column: "-" is NULL in `note` only.
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\nnull_values = [\"NA\", \"n/a\"]\n[source.schema]\nid = \"int\"\nscore = \"int\"\nnote = {{ type = \"text\", null_values = [\"-\"] }}\n[sink]\nurl = \"sqlite://{}\"\ntable = \"p\"\n",
            csv.display().to_string(),
            db.display()
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = crate::harness::query(&db, "SELECT note FROM p ORDER BY id");
    assert_eq!(got, [[Sql::Null], [Sql::Null], [crate::harness::text("x")]]);
}

/// A Windows-1252 export (what Excel writes): read with `encoding`, every accented
/// letter and `€` arrives intact in every database; read without it, the first error
/// says what to set, and the reject file keeps the original bytes.
fn windows_1252_export(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    // "Prénom" in the header, "Zoë", "€5" (0x80) and "Ångström" in the rows.
    let mut bytes = b"id,Pr\xe9nom,price\n".to_vec();
    bytes.extend_from_slice(b"1,Zo\xeb,\x805\n2,\xc5ngstr\xf6m,\x8010\n3,plain,\x801\n");
    let csv = dir.path().join("excel.csv");
    std::fs::write(&csv, &bytes).unwrap();
    db.drop_table("enc_1252");
    let url = db.url();
    let r = rowflow(
        dir.path(),
        &[
            "load",
            csv.to_str().unwrap(),
            "--into",
            &url,
            "--table",
            "enc_1252",
            "--encoding",
            "windows-1252",
            "--json",
            "--quiet",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = db.ident("enc_1252");
    let col = db.ident("Prénom");
    let got = db.query(&format!("SELECT {col}, price FROM {t} ORDER BY id"));
    let got: Vec<Vec<String>> = got
        .into_iter()
        .map(|r| r.into_iter().map(|v| v.unwrap_or_default()).collect())
        .collect();
    assert_eq!(
        got,
        [["Zoë", "€5"], ["Ångström", "€10"], ["plain", "€1"]].map(|r| r.map(String::from))
    );
    // Without the setting: rows with bytes that are not UTF-8 are rejected, the first
    // reason names the setting, and the reject file has the bytes as they were.
    let plain = dir.path().join("plain.csv");
    std::fs::write(&plain, b"id,name\n1,Zo\xeb\n2,ok\n3,\xc5sa\n").unwrap();
    db.drop_table("enc_none");
    let r = rowflow(
        dir.path(),
        &[
            "load",
            plain.to_str().unwrap(),
            "--into",
            &url,
            "--table",
            "enc_none",
            "--json",
            "--quiet",
            "--reject",
            "rej.csv",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    let first = j["first_rejects"][0].as_str().unwrap();
    assert!(
        first.contains("source.encoding") && first.contains("windows-1252"),
        "{first}"
    );
    let rej = std::fs::read(dir.path().join("rej.csv")).unwrap();
    assert!(
        rej.windows(3).any(|w| w == b"Zo\xeb"),
        "{}",
        String::from_utf8_lossy(&rej)
    );
}

crate::db::on_every_db!(windows_1252_export);

/// UTF-16 (Excel's "Unicode text") is recognised by its byte order mark and refused
/// with what to do; an unknown encoding label is a plan error.
#[test]
fn unknown_encodings_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.csv");
    std::fs::write(&ok, "a\n1\n").unwrap();
    let (r, _) = crate::harness::load(dir.path(), &ok, &["--encoding", "klingon"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown encoding"), "{}", r.stderr);
    let (r, _) = crate::harness::load(dir.path(), &ok, &["--encoding", "utf-16"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("byte order mark") && r.stderr.contains("iconv"),
        "{}",
        r.stderr
    );
}

/// A UTF-16 export (Excel's "Unicode text": a byte order mark, tabs, CRLF) is read as
/// it is, little- or big-endian, plain or gzip, into every database; a killed load of
/// one resumes exactly (its offsets are those of the decoded text, like a compressed
/// file's).
fn utf16_exports(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let text = "id\tname\tcity\r\n1\tJosé\tMünchen\r\n2\t€uro Ltd\t東京\r\n3\tZoë 😀\t\r\n";
    let mut le = vec![0xff, 0xfe];
    let mut be = vec![0xfe, 0xff];
    for u in text.encode_utf16() {
        le.extend_from_slice(&u.to_le_bytes());
        be.extend_from_slice(&u.to_be_bytes());
    }
    let be_gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&be).unwrap();
        e.finish().unwrap()
    };
    for (name, bytes) in [("le.txt", le), ("be.txt.gz", be_gz)] {
        let f = dir.path().join(name);
        std::fs::write(&f, &bytes).unwrap();
        db.drop_table("fmt_utf16");
        let r = rowflow(
            dir.path(),
            &[
                "load",
                f.to_str().unwrap(),
                "--into",
                &db.url(),
                "--table",
                "fmt_utf16",
                "--json",
                "--quiet",
            ],
        );
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let t = db.ident("fmt_utf16");
        let rows = db.query(&format!(
            "SELECT {}, {} FROM {t} ORDER BY {}",
            db.ident("name"),
            db.ident("city"),
            db.ident("id")
        ));
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            rows,
            vec![
                vec![s("José"), s("München")],
                vec![s("€uro Ltd"), s("東京")],
                vec![s("Zoë 😀"), None],
            ],
            "{name}"
        );
    }
}

crate::db::on_every_db!(utf16_exports);

/// `bytes` (the file `name`, rows `id` 0..n labelled `ünïcödé {id}`) loaded in several
/// commits and killed half-way resumes where the last commit ended: every row once.
fn killed_load_resumes_exactly(name: &str, bytes: Vec<u8>, n: i64) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(name);
    std::fs::write(&f, &bytes).unwrap();
    let db = dir.path().join("r.db");
    let p = crate::harness::small_commits_pipeline(dir.path(), &f, &db);
    let before = crate::harness::kill_after_first_commit(dir.path(), &p, &db, "t");
    assert!(before < n, "killed before the end ({before} rows)");
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (count, distinct, bad): (i64, i64, i64) = conn
        .query_row(
            "SELECT count(*), count(DISTINCT id), \
             sum(label <> 'ünïcödé ' || id) FROM t",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((count, distinct, bad), (n, n, 0));
}

/// A UTF-16 file (decoded as it is read) resumes exactly.
#[test]
fn a_killed_utf16_load_resumes_exactly() {
    let n: i64 = 200_000;
    let mut text = String::from("id;label\r\n");
    for i in 0..n {
        text.push_str(&format!("{i};ünïcödé {i}\r\n"));
    }
    let mut bytes = vec![0xff, 0xfe];
    for u in text.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    killed_load_resumes_exactly("big16.csv", bytes, n);
}

/// A JSON Lines file resumes exactly.
#[test]
fn a_killed_json_lines_load_resumes_exactly() {
    let n: i64 = 200_000;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"id\": {i}, \"label\": \"ünïcödé {i}\", \"n\": {{\"x\": [1]}}}}\n"
        ));
    }
    killed_load_resumes_exactly("big.jsonl", text.into_bytes(), n);
}

/// `--snake-case` / `normalize_names`: plain column names; a clash is an error naming
/// both columns; `[source.schema]` may use either spelling.
#[test]
fn snake_case_column_names() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "First Name,userID,Total ($)\nAda,1,2.5\n").unwrap();
    let (r, db) = crate::harness::load(dir.path(), &csv, &["--snake-case"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cols: Vec<String> = crate::harness::columns(&db, "t")
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert_eq!(cols, ["first_name", "user_id", "total"]);
    let clash = dir.path().join("clash.csv");
    std::fs::write(&clash, "First Name,first_name\n1,2\n").unwrap();
    let (r, _) = crate::harness::load(dir.path(), &clash, &["--snake-case"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("\"First Name\"") && r.stderr.contains("first_name"),
        "{}",
        r.stderr
    );
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\nnormalize_names = \"snake_case\"\n[source.schema]\n\"Total ($)\" = \"decimal\"\nuser_id = \"text\"\n[sink]\nurl = \"sqlite://{}\"\ntable = \"p\"\n",
            csv.display().to_string(),
            db.display()
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cols = crate::harness::columns(&db, "p");
    assert_eq!(
        cols[1],
        ("user_id".to_string(), "TEXT".to_string()),
        "{cols:?}"
    );
    assert_eq!(cols[2].0, "total");
}

/// Money stays exact: a column of amounts (`105.10`) is inferred as a decimal with the
/// size of its values and created `numeric(p,s)` / `DECIMAL(p,s)` (SQLite: `NUMERIC`,
/// numbers compared as numbers), never a float; the `cast` stage takes `numeric(12,2)` and
/// `varchar(n)`, rounding as PostgreSQL does and rejecting a value too long, by name.
fn money_is_exact(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let csv = dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        "id,amount,rate,code\n1,105.10,3.14159,ab\n2,11.04,2.5,cd\n3,-0.5,1,xyz\n",
    )
    .unwrap();
    db.drop_table("fmt_money");
    let url = db.url();
    let r = rowflow(
        dir.path(),
        &[
            "load",
            csv.to_str().unwrap(),
            "--into",
            &url,
            "--table",
            "fmt_money",
            "--json",
            "--quiet",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let t = db.ident("fmt_money");
    let (a, id) = (db.ident("amount"), db.ident("id"));
    match kind {
        // Exact decimal arithmetic on the server.
        Kind::Postgres | Kind::Mysql => {
            let got: Vec<Option<String>> = db
                .query(&format!("SELECT {a} * 3 FROM {t} ORDER BY {id}"))
                .into_iter()
                .map(|r| r[0].clone())
                .collect();
            assert_eq!(
                got,
                [
                    Some("315.30".into()),
                    Some("33.12".into()),
                    Some("-1.50".into())
                ]
            );
        }
        // NUMERIC affinity: stored as numbers (exact to 15 digits), sorted and compared
        // as numbers (as text, "105.1" would sort before "11.04").
        Kind::Sqlite => {
            let got = db.query(&format!("SELECT {a}, typeof({a}) FROM {t} ORDER BY {a}"));
            assert_eq!(
                got,
                [
                    [Some("-0.5".to_string()), Some("real".into())],
                    [Some("11.04".into()), Some("real".into())],
                    [Some("105.1".into()), Some("real".into())],
                ]
            );
        }
    }
    let declared = match kind {
        Kind::Postgres => db.query(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = 'fmt_money'::regclass AND attname = 'amount'",
        ),
        Kind::Mysql => db.query(
            "SELECT column_type FROM information_schema.columns WHERE table_schema = database() \
             AND table_name = 'fmt_money' AND column_name = 'amount'",
        ),
        Kind::Sqlite => {
            db.query("SELECT type FROM pragma_table_info('fmt_money') WHERE name = 'amount'")
        }
    };
    assert_eq!(
        declared[0][0].as_deref().map(str::to_ascii_lowercase),
        Some(match kind {
            Kind::Postgres => "numeric(5,2)".to_string(),
            Kind::Mysql => "decimal(5,2)".to_string(),
            Kind::Sqlite => "numeric(5,2)".to_string(),
        })
    );

    // The cast stage with sizes.
    db.drop_table("fmt_cast");
    let p = dir.path().join("cast.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\n[[transform]]\ntype = \"cast\"\n[transform.columns]\namount = \
             \"numeric(12,1)\"\nrate = \"decimal(4,2)\"\ncode = \"varchar(2)\"\n[sink]\nurl = {:?}\n\
             table = \"fmt_cast\"\n[errors]\nreject_file = \"rej.csv\"\n",
            csv.display().to_string(),
            url
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["rows_written"], 2);
    let rej = read_csv(&dir.path().join("rej.csv"));
    assert_eq!(rej[1][0], "3");
    assert!(
        rej[1].last().unwrap().contains("\"code\"")
            && rej[1].last().unwrap().contains("varchar(2)"),
        "{rej:?}"
    );
    let t = db.ident("fmt_cast");
    let rows = db.query(&format!(
        "SELECT {}, {}, {} FROM {t} ORDER BY {id}",
        db.ident("amount"),
        db.ident("rate"),
        db.ident("code")
    ));
    let want: Vec<Vec<Option<String>>> = match kind {
        // NUMERIC affinity keeps a whole number as an integer.
        Kind::Sqlite => vec![
            vec![Some("105.1".into()), Some("3.14".into()), Some("ab".into())],
            vec![Some("11".into()), Some("2.5".into()), Some("cd".into())],
        ],
        _ => vec![
            vec![Some("105.1".into()), Some("3.14".into()), Some("ab".into())],
            vec![Some("11.0".into()), Some("2.50".into()), Some("cd".into())],
        ],
    };
    assert_eq!(rows, want);
}

crate::db::on_every_db!(money_is_exact);

/// Dates written `MM/DD/YYYY`, `DD.MM.YYYY`, ... are inferred as dates with their layout
/// (said in a note) and loaded as dates everywhere; a column whose dates read both ways
/// stays text, with a note saying how to declare it.
fn inferred_date_layouts(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "id,signup,birth,since,when\n\
         1,07/20/2021,20.07.1980,2021/07/20,03/04/2021\n\
         2,12/31/1999,1.2.1975,1999/12/31,05/06/2021\n\
         3,1/2/2000,,2000/01/02,07/08/2021\n",
    )
    .unwrap();
    db.drop_table("fmt_dates");
    let url = db.url();
    let r = rowflow(
        dir.path(),
        &[
            "load",
            csv.to_str().unwrap(),
            "--into",
            &url,
            "--table",
            "fmt_dates",
            "--json",
            "--quiet",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let notes = r.json()["notes"].to_string();
    assert!(notes.contains("dates read as MM/DD/YYYY"), "{notes}");
    assert!(
        notes.contains("\\\"when\\\"") && notes.contains("kept as text"),
        "{notes}"
    );
    let t = db.ident("fmt_dates");
    let cols = ["signup", "birth", "since", "when"]
        .map(|c| db.ident(c))
        .join(", ");
    let rows = db.query(&format!(
        "SELECT {cols} FROM {t} ORDER BY {}",
        db.ident("id")
    ));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        vec![
            vec![
                s("2021-07-20"),
                s("1980-07-20"),
                s("2021-07-20"),
                s("03/04/2021")
            ],
            vec![
                s("1999-12-31"),
                s("1975-02-01"),
                s("1999-12-31"),
                s("05/06/2021")
            ],
            vec![s("2000-01-02"), None, s("2000-01-02"), s("07/08/2021")],
        ]
    );
    // `rowflow schema` writes the layouts as declarations to paste.
    let r = rowflow(dir.path(), &["schema", csv.to_str().unwrap()]);
    assert!(
        r.stdout
            .contains("signup = { type = \"date\", format = \"MM/DD/YYYY\" }"),
        "{}",
        r.stdout
    );
}

crate::db::on_every_db!(inferred_date_layouts);

/// Files whose headers drift (a column added in March, columns reordered in April) load
/// together with `union_by_name`: matched by name, a missing column NULL, every row
/// once (a quoted empty field stays an empty string, a missing column is NULL); without
/// it the difference is an error that names the file and the setting.
fn drifting_headers(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let data = dir.path().join("monthly");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("2024-01.csv"), "id,name\n1,a\n2,\"\"\n").unwrap();
    std::fs::write(data.join("2024-03.csv"), "id,name,plan\n3,c,pro\n4,,free\n").unwrap();
    std::fs::write(data.join("2024-04.csv"), "plan,id\nfree,5\n").unwrap();
    db.drop_table("fmt_union");
    let p = dir.path().join("u.toml");
    let write = |union: bool| {
        std::fs::write(
            &p,
            format!(
                "[source]\npath = {:?}\nunion_by_name = {union}\n[sink]\nurl = {:?}\ntable = \
                 \"fmt_union\"\nmode = \"replace\"\n",
                format!("{}/*.csv", data.display()),
                db.url()
            ),
        )
        .unwrap()
    };
    write(false);
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("2024-03.csv") && r.stderr.contains("union_by_name"),
        "{}",
        r.stderr
    );
    write(true);
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let notes = r.json()["notes"].to_string();
    assert!(notes.contains("not in every input"), "{notes}");
    let t = db.ident("fmt_union");
    let rows = db.query(&format!(
        "SELECT {}, {}, {} FROM {t} ORDER BY {}",
        db.ident("id"),
        db.ident("name"),
        db.ident("plan"),
        db.ident("id")
    ));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        vec![
            vec![s("1"), s("a"), None],
            vec![s("2"), s(""), None],
            vec![s("3"), s("c"), s("pro")],
            vec![s("4"), None, s("free")],
            vec![s("5"), None, s("free")],
        ]
    );
}

crate::db::on_every_db!(drifting_headers);

/// `alter`: a file with a column the existing table lacks is refused before loading
/// (naming the column and the setting), and with `--alter` the column is added before
/// any row, typed as a created table's would be, said in a note and by `check`; the
/// earlier rows have it NULL, the new rows their values, amounts exact.
fn alter_adds_columns(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    std::fs::write(dir.path().join("jan.csv"), "id,name\n1,a\n2,b\n").unwrap();
    std::fs::write(
        dir.path().join("mar.csv"),
        "id,name,plan,amount\n3,c,pro,12.50\n4,d,,0.10\n",
    )
    .unwrap();
    db.drop_table("fmt_alter");
    let url = db.url();
    let load = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "load",
            file,
            "--into",
            &url,
            "--table",
            "fmt_alter",
            "--key",
            "id",
            "--json",
        ];
        args.extend_from_slice(extra);
        rowflow(dir.path(), &args)
    };
    let r = load("jan.csv", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = load("mar.csv", &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("\"plan\" is missing") && r.stderr.contains("use --alter to add it"),
        "{}",
        r.stderr
    );
    // `check` says what a run would add, and adds nothing.
    let p = dir.path().join("alter.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = \"mar.csv\"\n[sink]\nurl = {url:?}\ntable = \"fmt_alter\"\n\
             key = [\"id\"]\nalter = true\n"
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["check", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("sink.alter will add columns before loading: \"plan\", \"amount\""),
        "{}",
        r.stdout
    );
    let t = db.ident("fmt_alter");
    // (`SELECT *`: SQLite reads an unknown quoted name as a string.)
    let width = |db: &Db| db.query(&format!("SELECT * FROM {t}"))[0].len();
    assert_eq!(width(&db), 2, "check added a column");
    let r = load("mar.csv", &["--alter"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let notes = r.json()["notes"].to_string();
    assert!(
        notes.contains("sink.alter: added columns") && notes.contains("plan"),
        "{notes}"
    );
    let rows = db.query(&format!(
        "SELECT {}, {}, {}, {} FROM {t} ORDER BY {}",
        db.ident("id"),
        db.ident("name"),
        db.ident("plan"),
        db.ident("amount"),
        db.ident("id")
    ));
    let s = |v: &str| Some(v.to_string());
    // SQLite's NUMERIC(4,2) keeps the number, not its trailing zeros.
    let money = |v: &'static str| match kind {
        Kind::Sqlite => v.trim_end_matches('0'),
        _ => v,
    };
    assert_eq!(
        rows,
        vec![
            vec![s("1"), s("a"), None, None],
            vec![s("2"), s("b"), None, None],
            vec![s("3"), s("c"), s("pro"), s(money("12.50"))],
            vec![s("4"), s("d"), None, s(money("0.10"))],
        ]
    );
    // Loading it again (a new run of a complete load) adds nothing and says nothing.
    let r = load("mar.csv", &["--alter", "--restart", "--mode", "upsert"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.json()["notes"].to_string().contains("sink.alter"));
}

crate::db::on_every_db!(alter_adds_columns);

/// Timestamps written without an offset: left text with a note saying how to load them
/// when no zone is set; with `source.timezone = "Europe/Paris"` inferred as timestamps
/// and read in Paris time, daylight saving included (a spring-forward gap time takes
/// the offset before it, as PostgreSQL does); a column's own `timezone` and format win;
/// a value with an offset keeps it.
fn zoneless_timestamps(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    std::fs::write(
        dir.path().join("visits.csv"),
        "id,seen,booked\n\
         1,2021-07-20 14:03:00,07/20/2021 09:00\n\
         2,2021-01-20 14:03:00,01/20/2021 09:00\n\
         3,2021-03-28 02:30:00,03/28/2021 23:59\n\
         4,2021-10-31T02:30:00+00:00,10/31/2021 00:00\n",
    )
    .unwrap();
    db.drop_table("fmt_zone");
    let p = dir.path().join("z.toml");
    let write = |zone: &str| {
        std::fs::write(
            &p,
            format!(
                "[source]\npath = \"visits.csv\"\n{zone}\n[source.schema]\nbooked = {{ type = \
                 \"timestamp\", format = \"MM/DD/YYYY HH24:MI\", timezone = \"America/New_York\" }}\n\
                 [sink]\nurl = {:?}\ntable = \"fmt_zone\"\nmode = \"replace\"\n",
                db.url()
            ),
        )
        .unwrap()
    };
    // No zone: the values stay text, and the note says how to load them.
    write("");
    let r = rowflow(dir.path(), &["check", p.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("\"seen\": its values are timestamps without a time zone")
            && r.stdout.contains("source.timezone"),
        "{}",
        r.stdout
    );
    // An unknown zone is an error before loading that names the setting.
    write("timezone = \"Europe/Pariss\"");
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("source.timezone"), "{}", r.stderr);
    write("timezone = \"Europe/Paris\"");
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.json()["notes"]
            .to_string()
            .contains("read in Europe/Paris"),
        "{}",
        r.stderr
    );
    let t = db.ident("fmt_zone");
    let got: Vec<Vec<String>> = db
        .query(&format!(
            "SELECT {}, {} FROM {t} ORDER BY id",
            db.epoch_micros("seen"),
            db.epoch_micros("booked")
        ))
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| {
                    let v = v.unwrap();
                    match chrono::DateTime::parse_from_rfc3339(v.trim()) {
                        Ok(t) => (t.timestamp() * 1_000_000).to_string(),
                        Err(_) => v,
                    }
                })
                .collect()
        })
        .collect();
    let utc = |s: &str| {
        (chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp()
            * 1_000_000)
            .to_string()
    };
    assert_eq!(
        got,
        vec![
            // Paris in summer is +02:00; New York -04:00.
            vec![utc("2021-07-20 12:03"), utc("2021-07-20 13:00")],
            // In winter +01:00 and -05:00.
            vec![utc("2021-01-20 13:03"), utc("2021-01-20 14:00")],
            // 02:30 does not exist in Paris that night: the offset before, +01:00.
            vec![utc("2021-03-28 01:30"), utc("2021-03-29 03:59")],
            // An offset written in the value is kept.
            vec![utc("2021-10-31 02:30"), utc("2021-10-31 04:00")],
        ]
    );
}

crate::db::on_every_db!(zoneless_timestamps);

/// JSON Lines (gzip too): the keys are the columns, nested values JSON text, `fields`
/// picks by JSON pointer, a string stays text, `null` is NULL, amounts stay exact, and a
/// line that is not an object is rejected with its line number; into every database.
fn json_lines(kind: Kind) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Db::get(kind, dir.path()) else {
        return;
    };
    let text = "{\"id\": 1, \"name\": \"Zoë\", \"amount\": 105.10, \"tags\": [\"a\",\"b\"], \"address\": {\"city\": \"Paris\"}}\n\
                {\"id\": 2, \"name\": \"\", \"amount\": 11.04, \"address\": {\"city\": \"Rome\"}}\n\
                \n\
                [1, 2, 3]\n\
                {\"id\": 4, \"name\": null, \"amount\": -0.5, \"code\": \"007\"}\n";
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let f = dir.path().join("events.ndjson.gz");
    std::fs::write(&f, gz).unwrap();
    db.drop_table("fmt_jsonl");
    let p = dir.path().join("j.toml");
    std::fs::write(
        &p,
        format!(
            "[source]\npath = {:?}\n[source.fields]\ncity = \"/address/city\"\n[sink]\nurl = {:?}\n\
             table = \"fmt_jsonl\"\n[errors]\nreject_file = \"rej.csv\"\n",
            f.display().to_string(),
            db.url()
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["run", p.to_str().unwrap(), "--json", "-q"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["rows_written"], 3);
    let rej = read_csv(&dir.path().join("rej.csv"));
    assert_eq!(rej[1][0], "[1, 2, 3]", "the line as it was: {rej:?}");
    assert!(
        rej[1].contains(&"4".to_string()),
        "its line number: {rej:?}"
    );
    assert!(
        rej[1].last().unwrap().contains("not a JSON object"),
        "{rej:?}"
    );
    let t = db.ident("fmt_jsonl");
    let cols = ["id", "name", "amount", "tags", "city", "code"]
        .map(|c| db.ident(c))
        .join(", ");
    let rows = db.query(&format!(
        "SELECT {cols} FROM {t} ORDER BY {}",
        db.ident("id")
    ));
    let s = |v: &str| Some(v.to_string());
    let amount = |exact: &str, sqlite: &str| match kind {
        Kind::Sqlite => s(sqlite),
        _ => s(exact),
    };
    assert_eq!(
        rows,
        vec![
            vec![
                s("1"),
                s("Zoë"),
                amount("105.10", "105.1"),
                // PostgreSQL's jsonb writes it its own way.
                s(match kind {
                    Kind::Postgres => "[\"a\", \"b\"]",
                    _ => "[\"a\",\"b\"]",
                }),
                s("Paris"),
                None
            ],
            vec![
                s("2"),
                s(""),
                amount("11.04", "11.04"),
                None,
                s("Rome"),
                None
            ],
            vec![s("4"), None, amount("-0.50", "-0.5"), None, None, s("007")],
        ]
    );
    // Nested values are JSON text; a created PostgreSQL table makes them jsonb.
    if kind == Kind::Postgres {
        let types = db.query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE \
             table_name = 'fmt_jsonl' AND column_name IN ('tags', 'address', 'name') ORDER BY 1",
        );
        assert_eq!(
            types,
            vec![
                vec![s("address"), s("jsonb")],
                vec![s("name"), s("text")],
                vec![s("tags"), s("jsonb")],
            ]
        );
        let city = db.query(&format!("SELECT address->>'city' FROM {t} ORDER BY id"));
        assert_eq!(city, vec![vec![s("Paris")], vec![s("Rome")], vec![None]]);
    }
}

crate::db::on_every_db!(json_lines);
