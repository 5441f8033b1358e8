//! Chunk ownership and rejects of a distributed load on PostgreSQL (see
//! [`crate::sink::chunks`]).

use postgres::{Client, GenericClient};

use super::conn::PgConnect;
use super::table::{self, QualifiedName};
use crate::error::Result;
use crate::sink::chunks::{CHUNKS_TABLE, ChunkFence, Claim, REJECTS_TABLE, RejectRow};
use crate::sink::sink_err;

fn names(table: &QualifiedName) -> (String, String) {
    (
        table.sibling(CHUNKS_TABLE).sql(),
        table.sibling(REJECTS_TABLE).sql(),
    )
}

/// Create the tables where missing (submit does it once, before any worker).
pub(crate) fn ensure_tables(
    client: &mut Client,
    table: &QualifiedName,
) -> Result<(), postgres::Error> {
    let (chunks, rejects) = names(table);
    for (name, sql) in [
        (
            &chunks,
            format!(
                "CREATE TABLE IF NOT EXISTS {chunks} (load_id text NOT NULL, chunk integer NOT NULL, \
                 owner text NOT NULL, token bigint NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(), \
                 PRIMARY KEY (load_id, chunk))"
            ),
        ),
        (
            &rejects,
            format!(
                "CREATE TABLE IF NOT EXISTS {rejects} (load_id text NOT NULL, chunk integer NOT NULL, \
                 file text NOT NULL, line bigint NOT NULL, fields text NOT NULL, reason text NOT NULL); \
                 CREATE INDEX IF NOT EXISTS {} ON {rejects} (load_id, chunk, line)",
                crate::sink::quote_ident(&format!("{REJECTS_TABLE}_load"))
            ),
        ),
    ] {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[name])?
            .get(0);
        if !exists {
            client.batch_execute(&sql)?;
        }
    }
    Ok(())
}

fn connect(url: &str, table: &str) -> Result<(PgConnect, Client, QualifiedName)> {
    let connect = PgConnect::parse(url)?;
    let client = connect.connect()?;
    let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
    Ok((connect, client, t))
}

/// Create the tables of a distributed load beside `table`.
pub(crate) fn prepare(url: &str, table: &str) -> Result<()> {
    let (connect, mut client, t) = connect(url, table)?;
    ensure_tables(&mut client, &t)
        .map_err(|e| connect.error(&e, "creating the tables of a distributed load"))
}

/// Claim the chunk `f` (see [`crate::sink::chunks`]).
pub(crate) fn claim(url: &str, table: &str, f: &ChunkFence) -> Result<Claim> {
    let (connect, mut client, t) = connect(url, table)?;
    let err = |e: postgres::Error| connect.error(&e, "claiming the chunk");
    ensure_tables(&mut client, &t).map_err(err)?;
    let (chunks, _) = names(&t);
    client
        .execute(
            format!(
                "INSERT INTO {chunks} (load_id, chunk, owner, token) VALUES ($1, $2, '', -1) \
                 ON CONFLICT DO NOTHING"
            )
            .as_str(),
            &[&f.load, &(f.chunk as i32)],
        )
        .map_err(err)?;
    let mut tx = client.transaction().map_err(err)?;
    let (owner, token): (String, i64) = {
        let r = tx
            .query_one(
                format!(
                    "SELECT owner, token FROM {chunks} WHERE load_id = $1 AND chunk = $2 FOR UPDATE"
                )
                .as_str(),
                &[&f.load, &(f.chunk as i32)],
            )
            .map_err(err)?;
        (r.get(0), r.get(1))
    };
    if token > f.token {
        return Ok(Claim::Stale(owner));
    }
    tx.execute(
        format!(
            "UPDATE {chunks} SET owner = $3, token = $4, claimed_at = now() WHERE load_id = $1 AND chunk = $2"
        )
        .as_str(),
        &[&f.load, &(f.chunk as i32), &f.owner, &f.token],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Ok(Claim::Taken)
}

/// In a commit's transaction: the chunk's owner now, unless it is `f`'s (the row stays
/// locked until the transaction ends).
pub(crate) fn check(
    client: &mut impl GenericClient,
    table: &QualifiedName,
    f: &ChunkFence,
) -> Result<Option<String>, postgres::Error> {
    let (chunks, _) = names(table);
    let row = client.query_opt(
        format!("SELECT owner, token FROM {chunks} WHERE load_id = $1 AND chunk = $2 FOR UPDATE")
            .as_str(),
        &[&f.load, &(f.chunk as i32)],
    )?;
    Ok(match row {
        Some(r) if r.get::<_, String>(0) == f.owner && r.get::<_, i64>(1) == f.token => None,
        Some(r) => Some(r.get(0)),
        None => Some("nobody: the chunk's record is gone".into()),
    })
}

/// In a commit's transaction: the transaction's rejected rows (and, for the chunk's
/// first commit from its start, none of an earlier attempt's).
pub(crate) fn write_rejects(
    client: &mut impl GenericClient,
    table: &QualifiedName,
    f: &ChunkFence,
    clear: bool,
    rows: &[RejectRow],
) -> Result<(), postgres::Error> {
    let (_, rejects) = names(table);
    if clear {
        client.execute(
            format!("DELETE FROM {rejects} WHERE load_id = $1 AND chunk = $2").as_str(),
            &[&f.load, &(f.chunk as i32)],
        )?;
    }
    if rows.is_empty() {
        return Ok(());
    }
    let stmt = client.prepare(
        format!(
            "INSERT INTO {rejects} (load_id, chunk, file, line, fields, reason) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .as_str(),
    )?;
    for r in rows {
        client.execute(
            &stmt,
            &[
                &f.load,
                &(f.chunk as i32),
                &r.file,
                &(r.line as i64),
                &r.fields,
                &r.reason,
            ],
        )?;
    }
    Ok(())
}

/// The rejected rows of load `load`, in chunk and line order.
pub(crate) fn read_rejects(url: &str, table: &str, load: &str) -> Result<Vec<RejectRow>> {
    let (connect, mut client, t) = connect(url, table)?;
    let (_, rejects) = names(&t);
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&rejects])
        .map_err(|e| connect.error(&e, "reading the rejects"))?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            format!(
                "SELECT chunk, file, line, fields, reason FROM {rejects} WHERE load_id = $1 ORDER BY chunk, line"
            )
            .as_str(),
            &[&load],
        )
        .map_err(|e| connect.error(&e, "reading the rejects"))?;
    Ok(rows
        .iter()
        .map(|r| RejectRow {
            chunk: r.get::<_, i32>(0) as u32,
            file: r.get(1),
            line: r.get::<_, i64>(2) as u64,
            fields: r.get(3),
            reason: r.get(4),
        })
        .collect())
}
