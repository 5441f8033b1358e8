//! A new user's first hour: installing, shell completions and the manual, `--version`,
//! and the `load` one-liners.

use std::process::Command;

use crate::harness::rowflow;

/// `--version` names the version (and the commit, in a checkout); completions for every
/// shell clap knows name the commands; the manual is roff with every command.
#[test]
fn version_completions_and_manual() {
    let dir = tempfile::tempdir().unwrap();
    let r = rowflow(dir.path(), &["--version"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with(&format!("rowflow {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        r.stdout
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = rowflow(dir.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {r:?}");
        for cmd in ["load", "run", "check", "completions"] {
            assert!(r.stdout.contains(cmd), "{shell} completion lacks {cmd}");
        }
    }
    let r = rowflow(dir.path(), &["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("bash"), "the valid shells: {}", r.stderr);
    let r = rowflow(dir.path(), &["man"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(".TH rowflow 1"), "{}", &r.stdout[..200]);
    let pages = dir.path().join("man");
    let r = rowflow(dir.path(), &["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let load = std::fs::read_to_string(pages.join("rowflow-load.1")).unwrap();
    assert!(
        load.contains(".TH rowflow-load 1") && load.contains("\\-\\-into"),
        "{load}"
    );
}

/// `cargo install --path .` gives a working binary (slow: a release build of its own;
/// run by `.ci/run`).
#[test]
#[ignore = "a release build; .ci/run runs it"]
fn cargo_install_gives_a_working_binary() {
    let root = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO"))
        .args(["install", "--locked", "--offline", "--path"])
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("--root")
        .arg(root.path())
        .arg("--target-dir")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .status()
        .expect("run cargo install");
    assert!(status.success());
    let bin = root.path().join("bin").join("rowflow");
    let data = root.path().join("t.csv");
    std::fs::write(&data, "id,name\n1,a\n2,b\n").unwrap();
    let db = root.path().join("t.db");
    let out = Command::new(&bin)
        .args(["load", data.to_str().unwrap(), "--into"])
        .arg(format!("sqlite://{}", db.display()))
        .args(["--json", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["rows_written"], 2);
}

/// `r` failed as bad input does (exit 2), saying each of `says` on stderr.
fn refused(r: &crate::harness::Run, says: &[&str]) {
    assert_eq!(r.code, 2, "{r:?}");
    for s in says {
        assert!(r.stderr.contains(s), "should say {s:?}: {}", r.stderr);
    }
}

fn sqlite_rows(db: &std::path::Path, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => "NULL".to_string(),
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Real(v) => v.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                rusqlite::types::ValueRef::Blob(_) => "<blob>".to_string(),
            })
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The flags people bring from sqlite-utils, `psql \copy` and csvkit: `--pk`, `--type`,
/// `--null`, `--compute` and `--where` in the order given, `--no-headers`, `--quote`.
#[test]
fn load_flags_cover_the_common_cases() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.csv"),
        "id;name;zip;price;qty\n1;Ann;01234;2.50;4\n2;Bob;99999;NA;1\n3;Cy;00042;1.00;0\n",
    )
    .unwrap();
    let db = dir.path().join("o.db");
    let url = format!("sqlite://{}", db.display());
    let load = |extra: &[&str]| {
        let mut args = vec!["load", "orders.csv", "--into", &url, "--json", "-q"];
        args.extend_from_slice(extra);
        rowflow(dir.path(), &args)
    };
    let r = load(&[
        "--pk",
        "id",
        "--type",
        "zip=int",
        "--type",
        "zip=text",
        "--null",
        "NA",
        "--compute",
        "total=price * qty",
        "--where",
        "total > 0",
        "--compute",
        "big=total > 5",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    assert_eq!(
        (j["rows_written"].as_u64(), j["rows_filtered"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        sqlite_rows(&db, "SELECT id, name, zip, total, big FROM orders"),
        [["1", "Ann", "01234", "10.00", "1"]],
        "the last --type wins; NA is NULL, so row 2's total is NULL and the filter drops it"
    );
    // --where before the --compute it needs: the order given is the order run.
    let r = load(&[
        "--mode",
        "replace",
        "--where",
        "total > 0",
        "--compute",
        "total=price * qty",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("total"), "{}", r.stderr);
    // A malformed pair names the flag and shows the form.
    refused(
        &load(&["--compute", "total"]),
        &["--compute \"total\": expected COLUMN=VALUE"],
    );
    // --no-headers (sqlite-utils) and --no-header-row (csvkit) are --no-header; --quote.
    std::fs::write(dir.path().join("bare.csv"), "'a,b',1\n'c',2\n").unwrap();
    for flag in ["--no-headers", "--no-header-row"] {
        let r = rowflow(
            dir.path(),
            &[
                "load", "bare.csv", "--into", &url, "--mode", "replace", flag, "--quote", "'",
                "--json", "-q",
            ],
        );
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(
            sqlite_rows(&db, "SELECT column_1, column_2 FROM bare ORDER BY column_2"),
            [["a,b", "1"], ["c", "2"]]
        );
    }
}

/// `--mode truncate` empties the table and appends; `--dry-run` writes nothing and says
/// what a load would do; `--set` sets any pipeline key and names a wrong one.
#[test]
fn truncate_dry_run_and_set() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "id,v\n1,a\n2,b\n").unwrap();
    std::fs::write(dir.path().join("u.csv"), "id,v\n3,c\n").unwrap();
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let r = rowflow(dir.path(), &["load", "t.csv", "--into", &url, "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("would load") && r.stdout.contains("it will be created"),
        "{}",
        r.stdout
    );
    assert!(!db.exists(), "a dry run created the database");
    let run = |args: &[&str]| rowflow(dir.path(), args);
    assert_eq!(run(&["load", "t.csv", "--into", &url, "-q"]).code, 0);
    let r = run(&[
        "load", "u.csv", "--into", &url, "--table", "t", "--mode", "truncate", "--json", "-q",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(sqlite_rows(&db, "SELECT id, v FROM t"), [["3", "c"]]);
    let r = run(&[
        "load",
        "t.csv",
        "--into",
        &url,
        "--table",
        "t2",
        "--set",
        "runtime.batch_rows=1",
        "--set",
        "sink.commit_rows=1",
        "--json",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["rows_written"], 2);
    let r = run(&[
        "load",
        "t.csv",
        "--into",
        &url,
        "--set",
        "sink.comit_rows=1",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("comit_rows"), "{}", r.stderr);
}

/// `--limit N` loads N rows and stops: said, exit 0, status "limited", never taken for a
/// complete load: the next run goes on after them, and only a complete run makes the
/// one after it skip. `--skip N` leaves the first N data rows of each file out.
#[test]
fn limit_is_a_partial_load_and_skip_leaves_rows_out() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (1..=5).map(|i| format!("{i},r{i}\n")).collect();
    std::fs::write(dir.path().join("five.csv"), format!("id,v\n{rows}")).unwrap();
    let db = dir.path().join("f.db");
    let url = format!("sqlite://{}", db.display());
    let load = |extra: &[&str]| {
        let mut args = vec!["load", "five.csv", "--into", &url, "--json"];
        args.extend_from_slice(extra);
        rowflow(dir.path(), &args)
    };
    let r = load(&["--limit", "2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["status"], "limited");
    assert_eq!(r.json()["rows_written"], 2);
    assert!(
        r.json()["notes"]
            .to_string()
            .contains("stopped after 2 rows (limit 2): the load is not complete"),
        "{}",
        r.stdout
    );
    let said = load(&["--limit", "0", "--restart"]);
    assert_eq!(said.code, 2, "--limit 0 is refused: {said:?}");
    let r = load(&["--limit", "2"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["rows_written"], 2, "the next two");
    let r = load(&[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.json()["status"], "completed");
    assert_eq!(r.json()["rows_written"], 1, "the last one");
    assert_eq!(
        sqlite_rows(&db, "SELECT count(*), count(DISTINCT id) FROM five"),
        [["5", "5"]],
        "every row once"
    );
    assert_eq!(load(&[]).json()["status"], "skipped");
    // --skip: a title row under the header, in each file.
    std::fs::write(dir.path().join("a.csv"), "id,v\n--,title\n1,x\n").unwrap();
    std::fs::write(dir.path().join("b.csv"), "id,v\n--,title\n2,y\n").unwrap();
    let r = rowflow(
        dir.path(),
        &[
            "load", "a.csv", "b.csv", "--into", &url, "--table", "ab", "--skip", "1", "--json",
            "-q",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        sqlite_rows(&db, "SELECT id, typeof(id), v FROM ab ORDER BY id"),
        [["1", "integer", "x"], ["2", "integer", "y"]],
        "the skipped rows are not read for the types either"
    );
}

/// Messages a new user meets say what happened, where, and what to do, in the words of
/// the command they typed.
#[test]
fn messages_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.csv"), "id,v\n1,a\n").unwrap();
    std::fs::write(dir.path().join("empty.csv"), "").unwrap();
    let run = |args: &[&str]| rowflow(dir.path(), args);
    let expect = |args: &[&str], says: &[&str]| {
        let r = run(args);
        refused(&r, says);
        assert!(
            !r.stderr.contains("DriverError") && !r.stderr.contains(" { "),
            "a Rust Debug dump: {}",
            r.stderr
        );
    };
    // Servers that are not there (nothing listens on these ports).
    expect(
        &["load", "one.csv", "--into", "mysql://root@127.0.0.1:1/test"],
        &["127.0.0.1:1", "is the MySQL or MariaDB server running"],
    );
    expect(
        &[
            "load",
            "one.csv",
            "--into",
            "postgres://postgres@127.0.0.1:1/test",
        ],
        &["127.0.0.1:1", "is the PostgreSQL server running"],
    );
    // A file name where a URL goes; a URL parameter misspelt.
    expect(
        &["load", "one.csv", "--into", "users2.db"],
        &["did you mean sqlite://users2.db"],
    );
    expect(
        &[
            "load",
            "one.csv",
            "--into",
            "postgres://postgres@127.0.0.1/test?sslmod=require",
        ],
        &[
            "unknown URL parameter \"sslmod\"",
            "did you mean \"sslmode\"",
        ],
    );
    // No destination, an empty file: `load`'s flags, not pipeline keys.
    expect(&["load", "one.csv"], &["--into"]);
    expect(
        &[
            "load",
            "one.csv",
            "--into",
            "sqlite://t.db",
            "--type",
            "id=integr",
        ],
        &["--type id: unknown type `integr`"],
    );
    expect(
        &["load", "empty.csv", "--into", "sqlite://e.db"],
        &["--no-header"],
    );
    // A data file given to `run`.
    expect(&["run", "one.csv"], &["rowflow load one.csv --into"]);
    // A misspelt key: its line, its column, the likely key.
    std::fs::write(
        dir.path().join("p.toml"),
        "[source]\npath = \"one.csv\"\ndelimeter = \";\"\n[sink]\nurl = \"sqlite://p.db\"\ntable = \"t\"\n",
    )
    .unwrap();
    expect(
        &["check", "p.toml"],
        &["line 3, column 1", "did you mean `delimiter`?"],
    );
    // A bad `--set` value is blamed, not the file.
    std::fs::write(
        dir.path().join("q.toml"),
        "[source]\npath = \"one.csv\"\n[sink]\nurl = \"sqlite://p.db\"\ntable = \"t\"\nkey = \"id\"\n",
    )
    .unwrap();
    let r = run(&["check", "q.toml", "--set", "sink.mode=sideways"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .starts_with("error: --set sink.mode=sideways: unknown variant `sideways`"),
        "{}",
        r.stderr
    );
    // One row is one row; `check` speaks TOML's words for the mode.
    let r = run(&["load", "one.csv", "--into", "sqlite://o.db"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(": 1 row read, 1 written"), "{}", r.stdout);
    let r = run(&["check", "q.toml"]);
    assert!(r.stdout.contains("(mode append, key id"), "{}", r.stdout);
}

/// `preview` runs the first rows and writes nothing: no database, no checkpoint; an HTTP
/// stage is called for those rows only, and the output says so; a failing row is shown
/// in its place with its reason; `--format json` for scripts; `load --preview` too.
#[test]
fn preview_runs_the_first_rows_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mock = crate::mock_http::Mock::start(std::time::Duration::from_millis(1));
    let rows: String = (1..=50)
        .map(|i| format!("{i},{}\n", if i == 3 { "x" } else { "2" }))
        .collect();
    std::fs::write(dir.path().join("in.csv"), format!("id,qty\n{rows}")).unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        format!(
            "[source]\npath = \"in.csv\"\n[source.schema]\nid = \"int\"\nqty = \"int\"\n\
             [[transform]]\ntype = \"filter\"\nwhere = \"id <> 2\"\n\
             [[transform]]\ntype = \"http\"\nurl = \"{}\"\n[transform.fields]\nscore = {{ pointer = \"/score\", type = \"int\" }}\n\
             [sink]\nurl = \"sqlite://never.db\"\ntable = \"t\"\n",
            mock.url("/api?id={id}")
        ),
    )
    .unwrap();
    let r = rowflow(dir.path(), &["preview", "p.toml", "-n", "5"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("line  id  qty  score"), "{}", r.stdout);
    assert!(r.stdout.contains("\n2     1   2    2\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("4     REJECTED: decode: column \"qty\""),
        "the bad row in its place: {}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("5 read: 3 shown, 1 filtered out, 1 rejected")
            && r.stdout.contains("called for these rows only (3 requests)"),
        "{}",
        r.stdout
    );
    assert_eq!(
        mock.state
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        3,
        "the API was called for the previewed rows only"
    );
    assert!(!dir.path().join("never.db").exists(), "nothing is written");
    assert!(
        !r.stderr.contains("stopped after"),
        "no talk of a next run: {}",
        r.stderr
    );
    let r = rowflow(
        dir.path(),
        &["preview", "p.toml", "-n", "2", "--format", "json"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    assert_eq!(j["rows"][0]["score"], 2);
    assert_eq!(j["rows"][0]["_line"], 2);
    assert_eq!(j["columns"][2]["type"], "int");
    // --no-http: the API is not called; its columns are NULL, and a note says so.
    let before = mock
        .state
        .requests
        .load(std::sync::atomic::Ordering::SeqCst);
    let r = rowflow(
        dir.path(),
        &[
            "preview",
            "p.toml",
            "-n",
            "2",
            "--no-http",
            "--format",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let j = r.json();
    assert_eq!(j["rows"][0]["qty"], 2);
    assert!(j["rows"][0]["score"].is_null(), "{j}");
    assert_eq!(j["columns"][2]["type"], "int", "the column's type stays");
    assert_eq!(
        mock.state
            .requests
            .load(std::sync::atomic::Ordering::SeqCst),
        before,
        "no request with --no-http"
    );
    let r = rowflow(dir.path(), &["preview", "p.toml", "-n", "2", "--no-http"]);
    assert!(r.stdout.contains("\n2     1   2    NULL\n"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("was not called (--no-http): its columns are NULL"),
        "{}",
        r.stderr
    );
    // A load that then runs for real starts from the first row: the preview left no
    // checkpoint behind.
    let r = rowflow(
        dir.path(),
        &[
            "load",
            "in.csv",
            "--into",
            "sqlite://real.db",
            "--preview",
            "-n",
            "2",
            "--preview-format",
            "csv",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, "id,qty\n1,2\n2,2\n");
    assert!(!dir.path().join("real.db").exists());
    let r = rowflow(dir.path(), &["run", "p.toml", "--json", "-q"]);
    assert_eq!(r.json()["rows_read"], 50, "{r:?}");
}

/// `-v` says the plan's decisions, `-vv` every commit too, `-q` nothing but errors and
/// the summary; `RUST_LOG` is honoured; the flags go anywhere on the line.
#[test]
fn verbosity_says_more_and_quiet_says_less() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "id,v\n1,a\n2,b\n3,c\n").unwrap();
    let load = |extra: &[&str]| {
        let mut args = vec![
            "load",
            "t.csv",
            "--into",
            "sqlite://t.db",
            "--mode",
            "replace",
        ];
        args.extend_from_slice(extra);
        rowflow(dir.path(), &args)
    };
    let r = load(&["-v"]);
    assert_eq!(r.code, 0, "{r:?}");
    for said in [
        "input column \"id\": int",
        "load from the beginning",
        "transactions of 1000000 rows (or 30 s)",
    ] {
        assert!(
            r.stderr.contains(said),
            "-v should say {said:?}: {}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains("committed:"), "{}", r.stderr);
    let r = rowflow(
        dir.path(),
        &[
            "-vv",
            "load",
            "t.csv",
            "--into",
            "sqlite://t.db",
            "--mode",
            "replace",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("transaction 1 committed: 3 written, 0 filtered, 0 rejected"),
        "{}",
        r.stderr
    );
    let r = load(&["-q"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "", "-q: no notes, no progress");
    assert!(
        r.stdout.contains("3 rows read"),
        "the summary stays: {}",
        r.stdout
    );
    let out = Command::new(crate::harness::bin())
        .args([
            "load",
            "t.csv",
            "--into",
            "sqlite://t.db",
            "--mode",
            "replace",
        ])
        .env("RUST_LOG", "rowflow=debug")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("transaction 1 committed"),
        "RUST_LOG"
    );
    // Every command takes them.
    for cmd in [["schema", "t.csv"], ["generate", "--help"]] {
        let mut args = cmd.to_vec();
        args.push("-v");
        let r = rowflow(dir.path(), &args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
    }
}

/// `writers` defaults to 2 for PostgreSQL (not with upsert) and 1 for MySQL; `check`
/// and `-v` say which; `--writers` sets it.
#[test]
fn writers_default_to_what_measured_fastest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "id,v\n1,2\n").unwrap();
    let pg = crate::db::pg_url();
    let my = crate::db::my_url();
    for (url, extra, says) in [
        (&pg, &[][..], "2 writers)"),
        (&pg, &["--mode", "upsert", "--pk", "id"][..], "1 writer)"),
        (&pg, &["--writers", "3"][..], "3 writers)"),
        (&my, &[][..], "1 writer)"),
    ] {
        let mut args = vec![
            "load",
            "in.csv",
            "--into",
            url,
            "--table",
            "never_made",
            "--dry-run",
        ];
        args.extend_from_slice(extra);
        let r = rowflow(dir.path(), &args);
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert!(r.stdout.contains(says), "{args:?}: {}", r.stdout);
    }
}

/// The words of a shell line, with its quotes ('...' and "...") taken off.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_default().push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (None, ' ') => words.extend(word.take()),
            (None, '#') if word.is_none() => break,
            (None, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// The README's three one-liners and its pipeline example are valid: each one-liner,
/// pointed at the test databases, plans, connects and checks its table (`--dry-run`);
/// the pipeline file passes `check` against PostgreSQL.
#[test]
fn the_readme_examples_are_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let block = |after: &str, fence: &str| -> String {
        let at = readme
            .find(after)
            .unwrap_or_else(|| panic!("README has {after:?}"));
        let start = at + readme[at..].find(fence).unwrap() + fence.len();
        let end = start + readme[start..].find("```").unwrap();
        readme[start..end].to_string()
    };
    let files = [
        (
            "users.csv",
            "id,first_name,last_name,email,monthly_spend\n1,Ada,Lovelace,ADA@x.org ,12.50\n",
        ),
        ("orders.csv", "id,qty,price\n1,2,3.50\n2,0,1.00\n"),
    ];
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let lines = block("## Three one-liners", "```sh\n");
    let mut ran = 0;
    for line in lines.lines().filter(|l| l.starts_with("rowflow ")) {
        let mut words = shell_words(line);
        let into = words.iter().position(|w| w == "--into").unwrap() + 1;
        let url = &words[into];
        words[into] = if url.starts_with("postgres") {
            crate::db::pg_url()
        } else if url.starts_with("mysql") {
            crate::db::my_url()
        } else {
            url.clone()
        };
        words.push("--dry-run".into());
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let r = rowflow(dir.path(), &args);
        assert_eq!(r.code, 0, "{line}: {r:?}");
        assert!(r.stdout.contains("run: would"), "{line}: {}", r.stdout);
        ran += 1;
    }
    assert_eq!(ran, 3, "three one-liners");
    let toml = block("## A pipeline file", "```toml\n");
    std::fs::write(dir.path().join("p.toml"), toml).unwrap();
    let out = Command::new(crate::harness::bin())
        .args(["check", "p.toml", "--set"])
        .arg(format!("sink.url={}", crate::db::pg_url()))
        .args(["--set", "sink.table=readme_users"])
        .env("SCORE_API_TOKEN", "t")
        .env("PGPASSWORD", "p")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("mode upsert, key id"), "{stdout}");
}
