//! Opening an SQLite database.

use std::path::Path;

use rusqlite::Connection;

use super::table::table_columns;
use crate::error::Result;
use crate::sink::seam::sink_err;

/// Open the database at `path`, waiting up to ten seconds for another writer's lock.
pub(super) fn open_conn(path: &Path, target: &str) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| sink_err(target, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| sink_err(target, e))?;
    Ok(conn)
}

/// A connection to the database at `path`, when it has a checkpoint table. Read-write,
/// even to read: a process killed mid-transaction leaves a hot journal, which SQLite
/// rolls back on open, and a read-only connection cannot.
pub(super) fn checkpoint_conn(path: &Path, target: &str) -> Result<Option<Connection>> {
    let conn = open_conn(path, target)?;
    let exists = table_columns(&conn, crate::checkpoint::TABLE)
        .map_err(|e| sink_err(target, e))?
        .is_some();
    Ok(exists.then_some(conn))
}
