//! A prepared INSERT bound without copies. rusqlite binds text with
//! `SQLITE_TRANSIENT` (SQLite copies every string); on the sink thread's hot path we
//! bind with `SQLITE_STATIC` instead, which requires the rows to outlive the statement's
//! use of them: [`RawInsert::execute`] binds, steps, resets and clears the bindings in
//! one call, so no pointer outlives the borrow of the row.

use std::ffi::{CStr, CString, c_int};
use std::ptr;

use rusqlite::{Connection, ffi};

use crate::row::Value;

/// A prepared statement owned by the sink thread.
pub(super) struct RawInsert {
    db: *mut ffi::sqlite3,
    stmt: *mut ffi::sqlite3_stmt,
}

// SAFETY: the statement is created, used and finalized on one thread at a time (the
// sink moves between threads only as a whole, with its connection), and the connection
// it belongs to outlives it (see `SqliteSink`'s field order).
unsafe impl Send for RawInsert {}

fn error(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is a valid open connection; sqlite3_errmsg returns a NUL-terminated
    // string owned by SQLite, copied before any other call.
    let msg = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }
        .to_string_lossy()
        .into_owned();
    let code = unsafe { ffi::sqlite3_extended_errcode(db) };
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(if code != 0 { code } else { rc }),
        Some(msg),
    )
}

impl RawInsert {
    /// Prepare `sql` on `conn`.
    pub(super) fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Self> {
        let c = CString::new(sql).map_err(|_| rusqlite::Error::InvalidQuery)?;
        // SAFETY: `conn.handle()` is the live connection; `stmt` is written by SQLite.
        unsafe {
            let db = conn.handle();
            let mut stmt = ptr::null_mut();
            let rc = ffi::sqlite3_prepare_v2(db, c.as_ptr(), -1, &mut stmt, ptr::null_mut());
            if rc != ffi::SQLITE_OK {
                return Err(error(db, rc));
            }
            Ok(RawInsert { db, stmt })
        }
    }

    /// Bind the rows' values in order (parameter `i*n + j + 1` is row i, column j), run
    /// the statement, and reset it.
    pub(super) fn execute<'a>(
        &mut self,
        rows: impl Iterator<Item = &'a [Value]>,
    ) -> rusqlite::Result<()> {
        let mut idx: c_int = 0;
        let mut owned: Vec<String> = Vec::new();
        // SAFETY: every pointer bound with SQLITE_STATIC points into `rows` (borrowed
        // for this whole call) or into `owned` (alive until the end of this call); the
        // bindings are cleared before returning, so SQLite never reads them later.
        unsafe {
            for row in rows {
                for v in row {
                    idx += 1;
                    let rc = match v {
                        Value::Null => ffi::sqlite3_bind_null(self.stmt, idx),
                        Value::Int(x) => ffi::sqlite3_bind_int64(self.stmt, idx, *x),
                        Value::Float(x) => ffi::sqlite3_bind_double(self.stmt, idx, *x),
                        Value::Bool(b) => ffi::sqlite3_bind_int64(self.stmt, idx, *b as i64),
                        Value::Text(s) => ffi::sqlite3_bind_text64(
                            self.stmt,
                            idx,
                            s.as_ptr().cast(),
                            s.len() as u64,
                            ffi::SQLITE_STATIC(),
                            ffi::SQLITE_UTF8 as u8,
                        ),
                        other => {
                            owned.push(other.to_string());
                            let s = owned.last().map(String::as_str).unwrap_or("");
                            ffi::sqlite3_bind_text64(
                                self.stmt,
                                idx,
                                s.as_ptr().cast(),
                                s.len() as u64,
                                ffi::SQLITE_TRANSIENT(),
                                ffi::SQLITE_UTF8 as u8,
                            )
                        }
                    };
                    if rc != ffi::SQLITE_OK {
                        let e = error(self.db, rc);
                        ffi::sqlite3_clear_bindings(self.stmt);
                        return Err(e);
                    }
                }
            }
            let rc = ffi::sqlite3_step(self.stmt);
            let result = if rc == ffi::SQLITE_DONE || rc == ffi::SQLITE_ROW {
                Ok(())
            } else {
                Err(error(self.db, rc))
            };
            ffi::sqlite3_reset(self.stmt);
            ffi::sqlite3_clear_bindings(self.stmt);
            result
        }
    }
}

impl Drop for RawInsert {
    fn drop(&mut self) {
        // SAFETY: `stmt` came from sqlite3_prepare_v2 and is finalized exactly once.
        unsafe {
            ffi::sqlite3_finalize(self.stmt);
        }
    }
}
