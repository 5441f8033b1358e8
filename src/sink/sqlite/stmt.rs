//! A prepared INSERT bound without copies. rusqlite binds text with
//! `SQLITE_TRANSIENT` (SQLite copies every string); on the sink thread's hot path we
//! bind with `SQLITE_STATIC` instead, which requires the values to outlive the
//! statement's use of them: [`RawInsert::execute`] binds, steps, resets and clears the
//! bindings in one call, so no pointer outlives the borrow of the values.

use std::ffi::{CStr, CString, c_int};
use std::ptr;

use rusqlite::{Connection, ffi};

use crate::row::Value;
use crate::sink::spill::BindVal;

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

    /// Bind `params` in order (parameter `k + 1` is `params[k]`), run the statement,
    /// and reset it.
    pub(super) fn execute(&mut self, params: &[BindVal<'_>]) -> rusqlite::Result<()> {
        // SAFETY: every pointer bound with SQLITE_STATIC points into `params` (borrowed
        // for this whole call); the bindings are cleared before returning, so SQLite
        // never reads them later.
        unsafe {
            for (k, v) in params.iter().enumerate() {
                let idx = k as c_int + 1;
                let rc = match v {
                    BindVal::Null => ffi::sqlite3_bind_null(self.stmt, idx),
                    BindVal::Int(x) => ffi::sqlite3_bind_int64(self.stmt, idx, *x),
                    BindVal::Float(x) => ffi::sqlite3_bind_double(self.stmt, idx, *x),
                    BindVal::Text(s) => ffi::sqlite3_bind_text64(
                        self.stmt,
                        idx,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                };
                if rc != ffi::SQLITE_OK {
                    let e = error(self.db, rc);
                    ffi::sqlite3_clear_bindings(self.stmt);
                    return Err(e);
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

/// A row's values as bind parameters (after `SqliteEncode` they are int, float, text or
/// NULL; anything else is bound as its text, kept alive in `owned`).
pub(super) fn bind_values<'a>(
    values: &'a [Value],
    owned: &'a mut Vec<String>,
    out: &mut Vec<BindVal<'a>>,
) {
    let start = owned.len();
    for v in values {
        if !matches!(
            v,
            Value::Null | Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Text(_)
        ) {
            owned.push(v.to_string());
        }
    }
    let mut extra = owned[start..].iter();
    for v in values {
        out.push(match v {
            Value::Null => BindVal::Null,
            Value::Int(x) => BindVal::Int(*x),
            Value::Float(x) => BindVal::Float(*x),
            Value::Bool(b) => BindVal::Int(*b as i64),
            Value::Text(s) => BindVal::Text(s.as_bytes()),
            _ => BindVal::Text(extra.next().map_or(&b""[..], |s| s.as_bytes())),
        });
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
