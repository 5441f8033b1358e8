//! The databases the suite runs against: SQLite (a file), and the PostgreSQL and
//! MariaDB/MySQL servers on this machine (addresses from `ROWFLOW_TEST_PG` and
//! `ROWFLOW_TEST_MYSQL`, defaulting to the local ones). With `CI` set, a server that
//! cannot be reached fails the test; without it, the test says loudly that it was
//! skipped.

use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

/// A test per database kind for each listed function `f(Kind)`.
macro_rules! on_every_db {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[test] fn sqlite() { super::$name(crate::db::Kind::Sqlite) }
            #[test] fn postgres() { super::$name(crate::db::Kind::Postgres) }
            #[test] fn mysql() { super::$name(crate::db::Kind::Mysql) }
        }
    )* };
}
pub(crate) use on_every_db;

/// As [`on_every_db`], for SQLite and MySQL only: the sinks that sort keyed rows in runs
/// spilled to temporary files.
macro_rules! on_spilling_dbs {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[test] fn sqlite() { super::$name(crate::db::Kind::Sqlite) }
            #[test] fn mysql() { super::$name(crate::db::Kind::Mysql) }
        }
    )* };
}
pub(crate) use on_spilling_dbs;

/// Tests that restart a server take this for writing; every other server test holds it
/// for reading, so no test sees a server go away under it.
static SERVERS: RwLock<()> = RwLock::new(());

pub fn pg_url() -> String {
    std::env::var("ROWFLOW_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn my_url() -> String {
    std::env::var("ROWFLOW_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    Mysql,
}

/// One database under test, with a guard that keeps server restarts away.
pub struct Db {
    pub kind: Kind,
    /// The SQLite file (Sqlite only).
    pub file: Option<PathBuf>,
    _read: Option<RwLockReadGuard<'static, ()>>,
    _write: Option<RwLockWriteGuard<'static, ()>>,
}

/// Say loudly that a test was skipped. Written to the process's standard error itself,
/// not through `eprintln!`, which the test harness captures (and hides for a test that
/// passes).
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n*** SKIPPED: {why} ***\n");
}

fn reachable(kind: Kind) -> Result<(), String> {
    match kind {
        Kind::Sqlite => Ok(()),
        Kind::Postgres => postgres::Client::connect(&pg_url(), postgres::NoTls)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Kind::Mysql => {
            mysql::Conn::new(mysql::Opts::from_url(&my_url()).map_err(|e| e.to_string())?)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}

fn open(kind: Kind, dir: &Path, exclusive: bool) -> Option<Db> {
    let (read, write) = if kind == Kind::Sqlite {
        (None, None)
    } else if exclusive {
        (
            None,
            Some(SERVERS.write().unwrap_or_else(|p| p.into_inner())),
        )
    } else {
        (
            Some(SERVERS.read().unwrap_or_else(|p| p.into_inner())),
            None,
        )
    };
    if let Err(e) = reachable(kind) {
        if std::env::var_os("CI").is_some() {
            panic!("{kind:?} is not reachable and CI is set: {e}");
        }
        skipped(&format!(
            "{kind:?} is not reachable ({e}); set CI=1 to make this a failure"
        ));
        return None;
    }
    Some(Db {
        kind,
        file: (kind == Kind::Sqlite).then(|| dir.join("test.db")),
        _read: read,
        _write: write,
    })
}

impl Db {
    /// The database of `kind`, or `None` (with a loud message) when its server is not
    /// there and CI is not set.
    pub fn get(kind: Kind, dir: &Path) -> Option<Db> {
        open(kind, dir, false)
    }

    /// The same, holding every other server test off (for restarting the server).
    pub fn exclusive(kind: Kind, dir: &Path) -> Option<Db> {
        open(kind, dir, true)
    }

    pub fn url(&self) -> String {
        match self.kind {
            Kind::Sqlite => format!(
                "sqlite://{}",
                self.file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            Kind::Postgres => pg_url(),
            Kind::Mysql => my_url(),
        }
    }

    /// Quote an identifier for this database.
    pub fn ident(&self, name: &str) -> String {
        match self.kind {
            Kind::Mysql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// Run statements (no results).
    pub fn exec(&self, sql: &str) {
        match self.kind {
            Kind::Sqlite => {
                let c = rusqlite::Connection::open(self.file.as_ref().unwrap()).unwrap();
                c.execute_batch(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Kind::Postgres => {
                let mut c = postgres::Client::connect(&pg_url(), postgres::NoTls).unwrap();
                c.batch_execute(sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
            Kind::Mysql => {
                let mut c = mysql::Conn::new(mysql::Opts::from_url(&my_url()).unwrap()).unwrap();
                for stmt in sql.split(";\n").filter(|s| !s.trim().is_empty()) {
                    c.query_drop(stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
                }
            }
        }
    }

    /// Drop a table (and this table's checkpoint rows) if it exists.
    pub fn drop_table(&self, table: &str) {
        let t = self.ident(table);
        self.exec(&format!("DROP TABLE IF EXISTS {t}"));
        // Earlier runs of the suite (from other temporary directories) leave records of
        // loads into this table; they would show in listings.
        let _ = self.try_exec(&format!(
            "DELETE FROM {} WHERE target_table = '{}'",
            self.ident("_rowflow_checkpoints"),
            table.replace('\'', "''")
        ));
        for suffix in ["__rowflow_new", "__rowflow_old"] {
            let t = self.ident(&format!("{table}{suffix}"));
            if self.kind == Kind::Mysql {
                self.exec(&format!("DROP TABLE IF EXISTS {t}"));
            }
        }
    }

    /// Run one statement, with the database's error instead of a panic.
    pub fn try_exec(&self, sql: &str) -> Result<(), String> {
        match self.kind {
            Kind::Sqlite => {
                let Some(f) = self.file.as_ref().filter(|f| f.exists()) else {
                    return Ok(());
                };
                let c = rusqlite::Connection::open(f).map_err(|e| e.to_string())?;
                c.execute_batch(sql).map_err(|e| e.to_string())
            }
            Kind::Postgres => {
                let mut c = postgres::Client::connect(&pg_url(), postgres::NoTls)
                    .map_err(|e| e.to_string())?;
                c.batch_execute(sql).map_err(|e| e.to_string())
            }
            Kind::Mysql => {
                let mut c = mysql::Conn::new(mysql::Opts::from_url(&my_url()).unwrap())
                    .map_err(|e| e.to_string())?;
                c.query_drop(sql).map_err(|e| e.to_string())
            }
        }
    }

    /// Rows of a query, every value as text (NULL as `None`).
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.try_query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// `query`, with the database's error instead of a panic (a table that may not
    /// exist yet).
    pub fn try_query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
        match self.kind {
            Kind::Sqlite => {
                use rusqlite::types::ValueRef;
                let c = rusqlite::Connection::open(self.file.as_ref().unwrap())
                    .map_err(|e| e.to_string())?;
                let mut st = c.prepare(sql).map_err(|e| e.to_string())?;
                let n = st.column_count();
                let rows = st
                    .query_map([], |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    ValueRef::Null => None,
                                    ValueRef::Integer(x) => Some(x.to_string()),
                                    ValueRef::Real(x) => Some(format!("{x:?}")),
                                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                                        Some(String::from_utf8_lossy(t).into_owned())
                                    }
                                })
                            })
                            .collect()
                    })
                    .map_err(|e| e.to_string())?
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
                Ok(rows)
            }
            Kind::Postgres => {
                let mut c = postgres::Client::connect(&pg_url(), postgres::NoTls)
                    .map_err(|e| e.to_string())?;
                Ok(c.simple_query(sql)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .filter_map(|m| match m {
                        postgres::SimpleQueryMessage::Row(r) => {
                            Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect())
                        }
                        _ => None,
                    })
                    .collect())
            }
            Kind::Mysql => {
                let mut c = mysql::Conn::new(mysql::Opts::from_url(&my_url()).unwrap())
                    .map_err(|e| e.to_string())?;
                let rows: Vec<mysql::Row> = c.query(sql).map_err(|e| e.to_string())?;
                Ok(rows
                    .into_iter()
                    .map(|r| {
                        r.unwrap()
                            .into_iter()
                            .map(|v| match v {
                                mysql::Value::NULL => None,
                                mysql::Value::Bytes(b) => {
                                    Some(String::from_utf8_lossy(&b).into_owned())
                                }
                                other => Some(other.as_sql(true)),
                            })
                            .collect()
                    })
                    .collect())
            }
        }
    }

    /// A single integer (e.g. `SELECT count(*) ...`).
    pub fn count(&self, sql: &str) -> i64 {
        self.query(sql)[0][0]
            .as_deref()
            .unwrap_or("0")
            .parse()
            .unwrap()
    }

    /// An expression giving a timestamp column as microseconds since the Unix epoch
    /// (SQLite keeps the text, so it gets the text).
    pub fn epoch_micros(&self, col: &str) -> String {
        match self.kind {
            Kind::Sqlite => col.to_string(),
            Kind::Postgres => format!("(extract(epoch FROM {col}) * 1000000)::bigint"),
            Kind::Mysql => format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {col})"),
        }
    }

    /// Whether this test run may restart the server: only the local one, the default
    /// (a server named by `ROWFLOW_TEST_PG` / `ROWFLOW_TEST_MYSQL` is not ours to stop).
    pub fn can_restart(&self) -> bool {
        match self.kind {
            Kind::Sqlite => true,
            Kind::Postgres => std::env::var_os("ROWFLOW_TEST_PG").is_none(),
            Kind::Mysql => std::env::var_os("ROWFLOW_TEST_MYSQL").is_none(),
        }
    }

    /// Stop the server and start it again (the caller holds `exclusive`).
    pub fn restart(&self) {
        let run = |cmd: &str| {
            let st = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .status()
                .unwrap();
            assert!(st.success(), "{cmd} failed: {st}");
        };
        match self.kind {
            Kind::Sqlite => {}
            Kind::Postgres => run(
                "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -1) main restart -m fast",
            ),
            Kind::Mysql => {
                run(
                    "mariadb-admin -h 127.0.0.1 -uroot shutdown || mysqladmin -h 127.0.0.1 -uroot shutdown",
                );
                // Wait until the process is gone (it stops listening before it exits, and
                // start-stop-daemon would see the old one still running), then start it.
                let t0 = Instant::now();
                let running = || {
                    std::process::Command::new("pgrep")
                        .args(["-x", "mariadbd"])
                        .stdout(std::process::Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                };
                while running() {
                    assert!(
                        t0.elapsed() < Duration::from_secs(60),
                        "mariadbd did not stop"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                run("start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd");
            }
        }
        let t0 = Instant::now();
        while reachable(self.kind).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{:?} did not come back",
                self.kind
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
