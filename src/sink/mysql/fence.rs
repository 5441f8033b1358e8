//! Chunk ownership and rejects of a distributed load on MySQL/MariaDB (see
//! [`crate::sink::chunks`]).

use mysql::Conn;
use mysql::prelude::Queryable;

use super::conn::MyConnect;
use super::table::{self, MyName};
use crate::error::Result;
use crate::sink::chunks::{CHUNKS_TABLE, ChunkFence, Claim, REJECTS_TABLE, RejectRow};
use crate::sink::sink_err;

fn names(t: &MyName) -> (MyName, MyName) {
    (t.sibling(CHUNKS_TABLE), t.sibling(REJECTS_TABLE))
}

/// Create the tables where missing (submit does it once, before any worker).
pub(crate) fn ensure_tables(conn: &mut Conn, t: &MyName) -> mysql::Result<()> {
    let (chunks, rejects) = names(t);
    if !table::exists(conn, &chunks)? {
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {} (load_id VARCHAR(64) NOT NULL, chunk INT NOT NULL, \
             owner VARCHAR(255) NOT NULL, token BIGINT NOT NULL, claimed_at DATETIME(6) NULL, \
             PRIMARY KEY (load_id, chunk)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            chunks.sql()
        ))?;
    }
    if !table::exists(conn, &rejects)? {
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {} (load_id VARCHAR(64) NOT NULL, chunk INT NOT NULL, \
             file TEXT NOT NULL, line BIGINT NOT NULL, fields LONGTEXT NOT NULL, reason TEXT NOT NULL, \
             KEY (load_id, chunk, line)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            rejects.sql()
        ))?;
    }
    Ok(())
}

fn connect(url: &str, table: &str) -> Result<(MyConnect, Conn, MyName)> {
    let connect = MyConnect::parse(url)?;
    let conn = connect.connect()?;
    let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
    Ok((connect, conn, t))
}

/// Create the tables of a distributed load beside `table`.
pub(crate) fn prepare(url: &str, table: &str) -> Result<()> {
    let (connect, mut conn, t) = connect(url, table)?;
    ensure_tables(&mut conn, &t)
        .map_err(|e| connect.error(&e, "creating the tables of a distributed load"))
}

/// Claim the chunk `f` (see [`crate::sink::chunks`]).
pub(crate) fn claim(url: &str, table: &str, f: &ChunkFence) -> Result<Claim> {
    let (connect, mut conn, t) = connect(url, table)?;
    let err = |e: mysql::Error| connect.error(&e, "claiming the chunk");
    ensure_tables(&mut conn, &t).map_err(err)?;
    let (chunks, _) = names(&t);
    conn.exec_drop(
        format!(
            "INSERT IGNORE INTO {} (load_id, chunk, owner, token) VALUES (?, ?, '', -1)",
            chunks.sql()
        ),
        (&f.load, f.chunk),
    )
    .map_err(err)?;
    conn.query_drop("START TRANSACTION").map_err(err)?;
    let found: Option<(String, i64)> = conn
        .exec_first(
            format!(
                "SELECT owner, token FROM {} WHERE load_id = ? AND chunk = ? FOR UPDATE",
                chunks.sql()
            ),
            (&f.load, f.chunk),
        )
        .map_err(err)?;
    let (owner, token) = found.unwrap_or_default();
    if token > f.token {
        conn.query_drop("ROLLBACK").map_err(err)?;
        return Ok(Claim::Stale(owner));
    }
    conn.exec_drop(
        format!(
            "UPDATE {} SET owner = ?, token = ?, claimed_at = UTC_TIMESTAMP(6) WHERE load_id = ? AND chunk = ?",
            chunks.sql()
        ),
        (&f.owner, f.token, &f.load, f.chunk),
    )
    .map_err(err)?;
    conn.query_drop("COMMIT").map_err(err)?;
    Ok(Claim::Taken)
}

/// In a commit's transaction: the chunk's owner now, unless it is `f`'s (the row stays
/// locked until the transaction ends).
pub(crate) fn check(conn: &mut Conn, t: &MyName, f: &ChunkFence) -> mysql::Result<Option<String>> {
    let (chunks, _) = names(t);
    let found: Option<(String, i64)> = conn.exec_first(
        format!(
            "SELECT owner, token FROM {} WHERE load_id = ? AND chunk = ? FOR UPDATE",
            chunks.sql()
        ),
        (&f.load, f.chunk),
    )?;
    Ok(match found {
        Some((owner, token)) if owner == f.owner && token == f.token => None,
        Some((owner, _)) => Some(owner),
        None => Some("nobody: the chunk's record is gone".into()),
    })
}

/// In a commit's transaction: the transaction's rejected rows (and, for the chunk's
/// first commit from its start, none of an earlier attempt's).
pub(crate) fn write_rejects(
    conn: &mut Conn,
    t: &MyName,
    f: &ChunkFence,
    clear: bool,
    rows: &[RejectRow],
) -> mysql::Result<()> {
    let (_, rejects) = names(t);
    if clear {
        conn.exec_drop(
            format!(
                "DELETE FROM {} WHERE load_id = ? AND chunk = ?",
                rejects.sql()
            ),
            (&f.load, f.chunk),
        )?;
    }
    if rows.is_empty() {
        return Ok(());
    }
    conn.exec_batch(
        format!(
            "INSERT INTO {} (load_id, chunk, file, line, fields, reason) VALUES (?, ?, ?, ?, ?, ?)",
            rejects.sql()
        ),
        rows.iter().map(|r| {
            (
                f.load.clone(),
                f.chunk,
                r.file.clone(),
                r.line,
                r.fields.clone(),
                r.reason.clone(),
            )
        }),
    )
}

/// The rejected rows of load `load`, in chunk and line order.
pub(crate) fn read_rejects(url: &str, table: &str, load: &str) -> Result<Vec<RejectRow>> {
    let (connect, mut conn, t) = connect(url, table)?;
    let (_, rejects) = names(&t);
    let exists =
        table::exists(&mut conn, &rejects).map_err(|e| connect.error(&e, "reading the rejects"))?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(u32, String, u64, String, String)> = conn
        .exec(
            format!(
                "SELECT chunk, file, line, fields, reason FROM {} WHERE load_id = ? ORDER BY chunk, line",
                rejects.sql()
            ),
            (load,),
        )
        .map_err(|e| connect.error(&e, "reading the rejects"))?;
    Ok(rows
        .into_iter()
        .map(|(chunk, file, line, fields, reason)| RejectRow {
            chunk,
            file,
            line,
            fields,
            reason,
        })
        .collect())
}
