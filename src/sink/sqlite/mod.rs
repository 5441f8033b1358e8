//! The SQLite sink: batched prepared inserts in transactions, on the sink thread.
//!
//! Type mapping (created tables): int → INTEGER, float → REAL, decimal → TEXT (its exact
//! digits: SQLite's NUMERIC affinity would keep only 15 significant digits; SQLite's
//! arithmetic reads the text as a number when used), bool →
//! BOOLEAN (0/1), date → DATE (text `YYYY-MM-DD`), timestamp → TIMESTAMP (RFC 3339 text
//! with its offset, which SQLite's date functions read), text → TEXT.

mod conn;
mod encode;
pub(crate) mod lock;
mod stmt;
mod table;

use std::path::Path;

use rusqlite::{Connection, ErrorCode, params};

use self::conn::{checkpoint_conn, open_conn};
pub(crate) use self::encode::SqliteEncode;
use self::encode::unstorable;
use self::stmt::{RawInsert, bind_values};
use self::table::{
    SqliteCatalog, checkpoint_table_sql, checkpoint_upsert_sql, create_sql, exact_key_order,
    insert_sql, sized_type, table_columns,
};
use super::compat::{self, Catalog};
use super::dialect::quote_ident;
use super::lock::check::LockCheck;
use super::seam::{Sink, SinkOptions, TableStatus, Written};
use super::spill::{
    BindVal, MAX_OPEN_RUNS, Runs, Slot, SortKey, blob_slots, decode_row, encode_row, run_key,
};
use std::sync::atomic::AtomicBool;

use super::backend::Backend;
use super::lock::check::LockHandle;
use crate::checkpoint::{CommitRecord, Identity, Listed, Stored, TableState};
use crate::config::WriteMode;
use crate::error::{Error, Result};
use crate::row::{Batch, Rejected, Row};
use crate::sink::seam::sink_err;

/// Writes rows into one SQLite table.
pub(crate) struct SqliteSink {
    // Statements first: fields drop in order, and statements must go before `conn`.
    insert_one: RawInsert,
    /// The same statement with `chunk` rows of VALUES.
    insert_many: RawInsert,
    conn: Connection,
    target: String,
    /// The load's lock, checked before every commit.
    lock: crate::sink::seam::SharedLock,
    chunk: usize,
    key_idx: Vec<usize>,
    /// Sort rows by key (unless SQLite's key equality may differ from rowflow's, see
    /// [`exact_key_order`]; the rows then keep their input order).
    order_by_key: bool,
    /// Column names, for messages.
    names: Vec<String>,
    /// The encoder the worker threads run for this sink.
    encode: std::sync::Arc<SqliteEncode>,
    in_tx: bool,
    /// Rows of a table without a key, about to be inserted.
    held: Vec<Row>,
    /// Encoded rows of a keyed table with their sort keys, waiting to be sorted.
    held_blobs: Vec<(SortKey, Vec<u8>)>,
    /// Sorted runs already spilled to disk in this transaction.
    runs: Runs,
    /// Rows per sorted run.
    sort_run_rows: usize,
    /// What opening the sink did that the run should say (columns added).
    notes: Vec<String>,
}

/// Keyed tables: rows are sorted by key in runs of this many, spilled to temporary
/// files, and merged at commit, so a transaction's rows reach SQLite in key order.
/// SQLite inserts sorted keys several times faster than random ones (each B-tree page is
/// filled once instead of being revisited at random); memory holds one run.
const SORT_RUN_ROWS: usize = 32768;

/// Merged rows handed from the merge thread to the inserts at a time.
const MERGE_PIECE: usize = 4096;

/// Rows per multi-row INSERT: fewer statement executions per row, while staying far
/// below SQLite's limit on bound parameters (32766).
const CHUNK_ROWS: usize = 64;

/// Sqlite as rowflow uses it at a destination.
pub(crate) struct Sqlite<'a> {
    /// The database's file.
    pub path: &'a Path,
}

impl Backend for Sqlite<'_> {
    /// The checkpoint rows of `id` in the database at `path` (none when there is no
    /// database or no checkpoint table yet).
    fn read_checkpoints(&self, _table: &str, id: &Identity) -> Result<Vec<Stored>> {
        let path = self.path;
        let target = format!("sqlite://{}", path.display());
        if !path.exists() {
            return Ok(Vec::new());
        }
        let Some(conn) = checkpoint_conn(path, &target)? else {
            return Ok(Vec::new());
        };
        let mut st = conn
            .prepare(&format!(
                "SELECT writer, run_id, state FROM {} WHERE pipeline = ?1 AND target_table = ?2 AND input_id = ?3",
                quote_ident(crate::checkpoint::TABLE)
            ))
            .map_err(|e| sink_err(&target, e))?;
        let rows = st
            .query_map(params![id.pipeline, id.table, id.input_id], |r| {
                Ok(crate::checkpoint::Stored {
                    writer: r.get(0)?,
                    run_id: r.get(1)?,
                    state: serde_json::from_str(&r.get::<_, String>(2)?).ok(),
                })
            })
            .map_err(|e| sink_err(&target, e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| sink_err(&target, e))?;
        Ok(rows)
    }

    /// The checkpoint rows in the database at `path` (of loads into `table` only, when
    /// given), for `rowflow checkpoints`.
    fn list_checkpoints(&self, table: Option<&str>) -> Result<Vec<Listed>> {
        let path = self.path;
        let target = format!("sqlite://{}", path.display());
        if !path.exists() {
            return Err(sink_err(&target, "there is no database file there"));
        }
        let Some(conn) = checkpoint_conn(path, &target)? else {
            return Ok(Vec::new());
        };
        let mut st = conn
            .prepare(&format!(
                "SELECT pipeline, target_table, input, input_id, writer, run_id, state, updated_at FROM {} \
                 WHERE ?1 IS NULL OR target_table = ?1 ORDER BY target_table, pipeline, input, writer",
                quote_ident(crate::checkpoint::TABLE)
            ))
            .map_err(|e| sink_err(&target, e))?;
        let rows = st
            .query_map(params![table], |r| {
                let row = (
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                );
                Ok(crate::checkpoint::Listed::from_row(String::new(), row))
            })
            .map_err(|e| sink_err(&target, e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| sink_err(&target, e))?;
        Ok(rows)
    }

    /// The destination table as it is now (see [`crate::checkpoint::TableState`]).
    fn table_state(&self, table: &str) -> Result<TableState> {
        let path = self.path;
        let target = format!("sqlite://{}", path.display());
        let name = quote_ident(table);
        if !path.exists() {
            return Ok(crate::checkpoint::TableState {
                name,
                exists: false,
                id: None,
                has_rows: Some(false),
            });
        }
        let conn = open_conn(path, &target)?;
        let exists = table_columns(&conn, table)
            .map_err(|e| sink_err(&target, e))?
            .is_some();
        let has_rows = if exists {
            conn.query_row(&format!("SELECT EXISTS (SELECT 1 FROM {name})"), [], |r| {
                r.get::<_, bool>(0)
            })
            .ok()
        } else {
            Some(false)
        };
        Ok(crate::checkpoint::TableState {
            name,
            exists,
            id: None,
            has_rows,
        })
    }

    /// Delete the checkpoint rows of `id` (a run that starts over).
    fn clear_checkpoints(&self, _table: &str, id: &Identity) -> Result<()> {
        let path = self.path;
        let target = format!("sqlite://{}", path.display());
        if let Some(conn) = checkpoint_conn(path, &target)? {
            conn.execute(
                &format!(
                    "DELETE FROM {} WHERE pipeline = ?1 AND target_table = ?2 AND input_id = ?3",
                    quote_ident(crate::checkpoint::TABLE)
                ),
                params![id.pipeline, id.table, id.input_id],
            )
            .map_err(|e| sink_err(&target, e))?;
        }
        Ok(())
    }

    /// Check the destination without writing (for `rowflow check`).
    fn check(&self, opts: &SinkOptions) -> Result<TableStatus> {
        let path = self.path;
        let target = format!("sqlite://{}", path.display());
        if !path.exists() {
            return Ok(TableStatus::Missing);
        }
        // Read-write (nothing is written): a hot journal left by a killed run is rolled back
        // on open, which a read-only connection cannot do.
        let conn = open_conn(path, &target)?;
        compat::check(
            &mut SqliteCatalog {
                conn: &conn,
                target: &target,
                table: &opts.table,
            },
            opts,
        )
    }

    fn open(
        &self,
        opts: &SinkOptions,
        _checkpoint: &Identity,
        _writer: u32,
    ) -> Result<Box<dyn Sink>> {
        Ok(Box::new(SqliteSink::open(self.path, opts)?))
    }

    fn single_writer(&self) -> bool {
        true
    }

    /// A keyed table's rows go in key order through sorted runs spilled to temporary
    /// files: a large transaction costs little memory and fills the B-tree in order.
    fn default_commit_rows(&self, _keyed: bool) -> usize {
        1_000_000
    }

    /// Rows in random key order touch every page of the table's B-tree in every
    /// transaction (each is rewritten and journaled): with transactions of a fixed size
    /// the cost of a load grows with the square of its rows. Transactions that grow with
    /// what the run wrote before them keep it linear.
    fn grows_commits(&self, keyed: bool) -> bool {
        keyed
    }

    fn lock(
        &self,
        _name: &str,
        what: &str,
        wait: bool,
        waiting: &mut dyn FnMut(&str),
        stop: &AtomicBool,
    ) -> Result<(LockHandle, LockCheck)> {
        let (file, check) = self::lock::sqlite_lock(self.path, what, wait, waiting, stop)?;
        Ok((Box::new(file), check))
    }
}

impl SqliteSink {
    /// Open the database (creating it and its directory if needed) and prepare the
    /// table according to the mode. Nothing is written when the table is incompatible.
    pub fn open(path: &Path, opts: &SinkOptions) -> Result<Self> {
        let target = format!("sqlite://{}", path.display());
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let conn = open_conn(path, &target)?;
        // A 16 KiB page (new databases only) means fewer, shallower B-tree pages for
        // bulk inserts. The 8 MiB cache bounds memory whatever the table size: rows
        // arrive in key order, so a transaction works on a few pages at a time
        // (measured, 10M workload rows: 64 MiB and 16 MiB as fast; 4 MiB 1.025x the
        // wall for 13 MB less peak RSS than 16 MiB). The journal mode and durability
        // stay SQLite's defaults (rollback journal, synchronous = FULL): one big
        // transaction at a time suits them well.
        conn.execute_batch(
            "PRAGMA page_size = 16384; PRAGMA cache_size = -8192; PRAGMA temp_store = MEMORY;",
        )
        .map_err(|e| sink_err(&target, e))?;
        // The table is prepared inside the first transaction (SQLite's DDL is
        // transactional): a run that fails before its first commit leaves the database
        // as it was, and `replace` never loses the old table to a failed run.
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| sink_err(&target, e))?;
        let mut cat = SqliteCatalog {
            conn: &conn,
            target: &target,
            table: &opts.table,
        };
        let existing = cat.columns()?;
        // Before `replace` drops it: a created table always compares keys exactly.
        let exact_keys = match &existing {
            Some(cols) if opts.mode != WriteMode::Replace => {
                exact_key_order(&conn, opts, cols).map_err(|e| sink_err(&target, e))?
            }
            _ => true,
        };
        let mut notes = Vec::new();
        let create = match (existing, opts.mode) {
            (None, _) => true,
            (Some(_), WriteMode::Create) => return Err(compat::already_exists(&cat)),
            (Some(_), WriteMode::Replace) => {
                conn.execute_batch(&format!("DROP TABLE {}", quote_ident(&opts.table)))
                    .map_err(|e| sink_err(&target, e))?;
                true
            }
            (Some(cols), _) => {
                compat::ensure_fits(&mut cat, opts, &cols)?;
                let missing = compat::missing_columns::<SqliteCatalog>(opts, &cols);
                if let Some(add) = compat::add_columns(
                    &quote_ident(&opts.table),
                    &missing,
                    quote_ident,
                    sized_type,
                    false,
                ) {
                    // Committed on their own, before any row: a load transaction holds
                    // rows and their checkpoint only.
                    for sql in &add.sql {
                        conn.execute_batch(sql).map_err(|e| sink_err(&target, e))?;
                    }
                    conn.execute_batch("COMMIT; BEGIN IMMEDIATE")
                        .map_err(|e| sink_err(&target, e))?;
                    notes.push(add.note);
                }
                if opts.truncate {
                    // SQLite's truncate optimisation: a DELETE without WHERE.
                    conn.execute_batch(&format!("DELETE FROM {}", quote_ident(&opts.table)))
                        .map_err(|e| sink_err(&target, e))?;
                }
                false
            }
        };
        if create {
            conn.execute_batch(&create_sql(opts))
                .map_err(|e| sink_err(&target, e))?;
        }
        conn.execute_batch(&checkpoint_table_sql())
            .map_err(|e| sink_err(&target, e))?;
        let key_idx = opts
            .key
            .iter()
            .filter_map(|k| opts.schema.index_of(k))
            .collect();
        let ncols = opts.schema.len();
        let chunk = CHUNK_ROWS.min(32766 / ncols.max(1)).max(1);
        let insert_many_sql = insert_sql(opts, chunk);
        let insert_sql = insert_sql(opts, 1);
        // Prepared now, so that a bad statement fails before any row.
        let insert_one =
            RawInsert::prepare(&conn, &insert_sql).map_err(|e| sink_err(&target, e))?;
        let insert_many =
            RawInsert::prepare(&conn, &insert_many_sql).map_err(|e| sink_err(&target, e))?;
        Ok(SqliteSink {
            insert_one,
            insert_many,
            conn,
            target,
            chunk,
            key_idx,
            order_by_key: exact_keys,
            names: opts.schema.names().map(String::from).collect(),
            encode: std::sync::Arc::new(SqliteEncode::new(opts)),
            in_tx: true,
            held: Vec::new(),
            held_blobs: Vec::new(),
            runs: Runs::default(),
            sort_run_rows: opts.sort_run_rows.unwrap_or(SORT_RUN_ROWS),
            lock: opts.lock.clone(),
            notes,
        })
    }
}

fn reject(row: Row, reason: String) -> Rejected {
    Rejected {
        pos: row.pos,
        raw: row.raw,
        reason,
    }
}

impl SqliteSink {
    /// Sort what is held (keyed tables, stable: input order among equal keys) and write
    /// it to a run file.
    fn spill_held(&mut self) -> Result<()> {
        let mut held = std::mem::take(&mut self.held_blobs);
        held.sort_by(|a, b| a.0.cmp(&b.0));
        let spill_err = |e| {
            sink_err(
                &self.target,
                format!("writing a sort run to a temporary file: {e}"),
            )
        };
        self.runs
            .spill(held.iter().map(|(_, b)| b.as_slice()))
            .map_err(spill_err)?;
        // Growing transactions (see `Backend::grows_commits`) have no bound on their runs.
        if self.runs.len() >= MAX_OPEN_RUNS {
            let (k, by_key) = (&self.key_idx, self.order_by_key);
            self.runs
                .compact(|b| run_key(k, by_key, b))
                .map_err(spill_err)?;
        }
        Ok(())
    }

    /// Insert everything held back: rows as they came for tables without a key;
    /// encoded rows in key order for keyed tables, directly when they fit in one run,
    /// otherwise by merging the spilled runs.
    fn insert_held(&mut self) -> Result<Written> {
        let mut out = Written::default();
        if !self.held.is_empty() {
            let rows = std::mem::take(&mut self.held);
            out = self.insert_rows(rows)?;
        }
        if self.runs.is_empty() {
            let mut held = std::mem::take(&mut self.held_blobs);
            held.sort_by(|a, b| a.0.cmp(&b.0));
            let w = self.insert_blobs(held.into_iter().map(|(_, b)| b).collect())?;
            out.rows += w.rows;
            out.rejected.extend(w.rejected);
            return Ok(out);
        }
        if !self.held_blobs.is_empty() {
            self.spill_held()?;
        }
        let (k, by_key) = (self.key_idx.clone(), self.order_by_key);
        let mut runs = std::mem::take(&mut self.runs);
        let spilled = &runs;
        // The merge (reading the runs back, comparing keys) runs on a thread of its own,
        // a few pieces ahead of the inserts: the other threads are idle while a
        // transaction's rows go into SQLite, and the inserts are the sink's bottleneck.
        let width = self.names.len();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Piece>(2);
        let merged = std::thread::scope(|scope| {
            let merger = std::thread::Builder::new()
                .name("rowflow-merge".into())
                .spawn_scoped(scope, move || -> std::io::Result<()> {
                    let mut merge = spilled.merge(|b| run_key(&k, by_key, b))?;
                    let mut piece = Piece::new(width);
                    while let Some(b) = merge.next_blob()? {
                        piece.push(b)?;
                        if piece.blobs.len() == MERGE_PIECE {
                            let full = std::mem::replace(&mut piece, Piece::new(width));
                            if tx.send(full).is_err() {
                                // The inserts failed and stopped: they say why.
                                return Ok(());
                            }
                        }
                    }
                    if !piece.blobs.is_empty() {
                        let _ = tx.send(piece);
                    }
                    Ok(())
                })
                .map_err(|e| sink_err(&self.target, format!("starting the merge thread: {e}")))?;
            let mut inserted = Ok(());
            for piece in rx.iter() {
                match self.insert_piece(piece) {
                    Ok(w) => {
                        out.rows += w.rows;
                        out.rejected.extend(w.rejected);
                    }
                    Err(e) => {
                        inserted = Err(e);
                        break;
                    }
                }
            }
            // Hanging up ends the merge if the inserts stopped early.
            drop(rx);
            let merged = merger
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the merge thread panicked")));
            inserted?;
            merged.map_err(|e| sink_err(&self.target, format!("reading a sort run back: {e}")))
        });
        // The run files stay, to be written over by the next transaction.
        runs.clear();
        self.runs = runs;
        merged.map(|()| out)
    }

    /// Insert rows given as their bind parameters, in order: full chunks as one
    /// multi-row INSERT; a chunk SQLite refuses changes nothing (statements are atomic)
    /// and is retried row by row. Returns the indexes of refused rows with the reason.
    fn insert_params(
        &mut self,
        params: &[BindVal<'_>],
        width: usize,
    ) -> Result<(u64, Vec<(usize, String)>)> {
        let row = |k: usize| &params[k * width..(k + 1) * width];
        let rows = params.len().checked_div(width).unwrap_or(0);
        let mut written = 0u64;
        let mut failed: Vec<usize> = Vec::new();
        let mut offset = 0usize;
        while offset < rows {
            let n = self.chunk.min(rows - offset);
            if n < self.chunk {
                failed.extend(offset..rows);
                break;
            }
            let chunk = &params[offset * width..(offset + n) * width];
            match self.insert_many.execute(chunk) {
                Ok(()) => written += n as u64,
                Err(e) if is_row_error(&e) => failed.extend(offset..offset + n),
                Err(e) => return Err(sink_err(&self.target, e)),
            }
            offset += n;
        }
        let mut errors = Vec::new();
        for k in failed {
            match self.insert_one.execute(row(k)) {
                Ok(()) => written += 1,
                Err(e) if is_row_error(&e) => {
                    errors.push((k, format!("sink: {}", e.to_string().trim())))
                }
                Err(e) => return Err(sink_err(&self.target, e)),
            }
        }
        Ok((written, errors))
    }

    /// Insert rows in the given order.
    fn insert_rows(&mut self, rows: Vec<Row>) -> Result<Written> {
        let width = self.names.len();
        let mut owned: Vec<Vec<String>> = rows.iter().map(|_| Vec::new()).collect();
        let mut params: Vec<BindVal<'_>> = Vec::with_capacity(rows.len() * width);
        for (row, own) in rows.iter().zip(owned.iter_mut()) {
            self.check_width(row.values.len())?;
            bind_values(&row.values, own, &mut params);
        }
        let (written, errors) = self.insert_params(&params, width)?;
        drop(params);
        let mut out = Written {
            rows: written,
            ..Written::default()
        };
        if errors.is_empty() {
            out.spent.push(rows);
        } else {
            let mut errors = errors.into_iter().peekable();
            for (k, row) in rows.into_iter().enumerate() {
                if let Some((_, reason)) = errors.next_if(|(i, _)| *i == k) {
                    out.rejected.push(reject(row, reason));
                }
            }
        }
        Ok(out)
    }

    /// Rows are bound by position, `width` values each: one of another width would
    /// shift every value after it.
    fn check_width(&self, n: usize) -> Result<()> {
        if n == self.names.len() {
            return Ok(());
        }
        Err(sink_err(
            &self.target,
            format!(
                "internal error: a row with {n} values for {} columns",
                self.names.len()
            ),
        ))
    }

    /// Insert encoded rows in the given order, binding straight from their bytes.
    fn insert_blobs(&mut self, blobs: Vec<Vec<u8>>) -> Result<Written> {
        let mut piece = Piece::new(self.names.len());
        for b in blobs {
            piece.push(b).map_err(|e| sink_err(&self.target, e))?;
        }
        self.insert_piece(piece)
    }

    /// Insert a piece of encoded rows, decoded already.
    fn insert_piece(&mut self, piece: Piece) -> Result<Written> {
        let blobs = piece.blobs;
        let params: Vec<BindVal<'_>> = piece.slots.iter().map(|s| s.get(&blobs)).collect();
        let (rows, errors) = self.insert_params(&params, self.names.len())?;
        let mut out = Written {
            rows,
            ..Written::default()
        };
        for (k, reason) in errors {
            let row = decode_row(&blobs[k]).map_err(|e| sink_err(&self.target, e))?;
            out.rejected.push(reject(row, reason));
        }
        Ok(out)
    }
}

/// Encoded rows with their values found (on the merge thread, ready for the sink's),
/// `width` values each.
struct Piece {
    blobs: Vec<Vec<u8>>,
    slots: Vec<Slot>,
    width: usize,
}

impl Piece {
    fn new(width: usize) -> Self {
        Piece {
            blobs: Vec::with_capacity(MERGE_PIECE),
            slots: Vec::with_capacity(MERGE_PIECE * width),
            width,
        }
    }

    /// Add a row. Rows are bound by position: one of another width would shift every
    /// value after it, so it is an error.
    fn push(&mut self, blob: Vec<u8>) -> std::io::Result<()> {
        let n = blob_slots(self.blobs.len() as u32, &blob, &mut self.slots)?;
        if n != self.width {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "internal error: a row with {n} values for {} columns",
                    self.width
                ),
            ));
        }
        self.blobs.push(blob);
        Ok(())
    }
}

/// A row-level problem (the row is rejected) as opposed to a failure of the database.
fn is_row_error(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig)
    )
}

impl Sink for SqliteSink {
    fn encoder(&self) -> Option<std::sync::Arc<dyn crate::sink::seam::Encode>> {
        Some(self.encode.clone())
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn write(&mut self, batch: &mut Batch) -> Result<Written> {
        if !self.in_tx {
            self.conn
                .execute_batch("BEGIN")
                .map_err(|e| sink_err(&self.target, e))?;
            self.in_tx = true;
        }
        let mut out = Written::default();
        let mut blobs: Vec<Vec<u8>> = batch
            .encoded
            .take()
            .and_then(crate::row::Encoded::take)
            .unwrap_or_default();
        for row in std::mem::take(&mut batch.rows) {
            match unstorable(&row, &self.key_idx, &self.names) {
                Some(reason) => out.rejected.push(reject(row, reason)),
                // Keyed rows normally arrive encoded; encode stragglers here.
                None if !self.key_idx.is_empty() => blobs.push(encode_row(&row)),
                None => self.held.push(row),
            }
        }
        for blob in blobs {
            let key = run_key(&self.key_idx, self.order_by_key, &blob);
            self.held_blobs.push((key, blob));
        }
        if !self.held.is_empty() {
            let more = self.insert_held()?;
            out.rows += more.rows;
            out.rejected.extend(more.rejected);
            out.spent.extend(more.spent);
        }
        if self.held_blobs.len() >= self.sort_run_rows {
            self.spill_held()?;
        }
        Ok(out)
    }

    fn flush(&mut self) -> Result<Written> {
        self.insert_held()
    }

    fn commit(&mut self, record: &CommitRecord) -> Result<()> {
        // The record is written even with no rows (the last commit marks the load
        // complete).
        if !self.in_tx {
            self.conn
                .execute_batch("BEGIN")
                .map_err(|e| sink_err(&self.target, e))?;
            self.in_tx = true;
        }
        {
            let id = &record.identity;
            if record.clear_older {
                self.conn
                    .execute(
                        &format!(
                            "DELETE FROM {} WHERE pipeline = ?1 AND target_table = ?2 AND input_id = ?3 AND run_id <> ?4",
                            quote_ident(crate::checkpoint::TABLE)
                        ),
                        params![id.pipeline, id.table, id.input_id, record.run_id],
                    )
                    .map_err(|e| sink_err(&self.target, e))?;
            }
            self.conn
                .execute(
                    &checkpoint_upsert_sql(),
                    params![
                        id.pipeline,
                        id.table,
                        id.input_id,
                        record.writer,
                        id.input,
                        record.run_id,
                        record.txn as i64,
                        record.state_json(),
                    ],
                )
                .map_err(|e| sink_err(&self.target, e))?;
            let check = self.lock.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let crate::sink::lock::check::LockCheck::Sqlite { path, id } = &check
                && !self::lock::sqlite_lock_held(path, *id)
            {
                return Err(crate::sink::lock::check::lost(
                    &self.target,
                    "its lock file was removed or replaced",
                ));
            }
            self.conn
                .execute_batch("COMMIT")
                .map_err(|e| sink_err(&self.target, e))?;
            self.in_tx = false;
        }
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        self.held.clear();
        self.held_blobs.clear();
        self.runs.clear();
        if self.in_tx {
            self.conn
                .execute_batch("ROLLBACK")
                .map_err(|e| sink_err(&self.target, e))?;
            self.in_tx = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row::Value;
    use crate::row::{Position, RawRecord, Row};
    use crate::schema::DataType;
    use crate::schema::Schema;

    fn opts(mode: WriteMode, key: &[&str]) -> SinkOptions {
        SinkOptions {
            table: "t\"x".into(),
            schema: Schema::new([
                ("id".to_string(), DataType::Int),
                ("v".to_string(), DataType::Text),
            ]),
            mode,
            key: key.iter().map(|s| s.to_string()).collect(),
            truncate: false,
            alter: false,
            resuming: false,
            sort_run_rows: None,
            lock: Default::default(),
            known_runs: Vec::new(),
            fence: None,
        }
    }

    fn record() -> CommitRecord {
        CommitRecord {
            identity: crate::checkpoint::Identity::new(Some("p"), "t", &[]),
            writer: 0,
            run_id: "r".into(),
            txn: 1,
            state: crate::checkpoint::CommitState::default(),
            clear_older: false,
            rejects: Vec::new(),
        }
    }

    fn batch(rows: &[(i64, &str)]) -> Batch {
        let mut b = Batch::default();
        for (i, (id, v)) in rows.iter().enumerate() {
            b.rows.push(Row {
                pos: Position {
                    record: i as u64 + 1,
                    line: i as u64 + 2,
                    ..Default::default()
                },
                values: vec![Value::Int(*id), Value::Text(v.to_string())],
                raw: RawRecord::from_fields([id.to_string(), v.to_string()]),
            });
        }
        b
    }

    #[test]
    fn append_rejects_duplicates_and_upsert_updates() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut s = SqliteSink::open(&db, &opts(WriteMode::Append, &["id"])).unwrap();
        let mut b = batch(&[(3, "c"), (1, "a"), (2, "b"), (1, "dup")]);
        let w = s.write(&mut b).unwrap();
        assert_eq!(w.rows, 0, "keyed rows are held back to be sorted");
        let w = s.flush().unwrap();
        assert_eq!(w.rows, 3);
        assert_eq!(w.rejected.len(), 1);
        assert_eq!(
            w.rejected[0].pos.line, 5,
            "the later duplicate is the one refused"
        );
        assert!(
            w.rejected[0].reason.contains("UNIQUE"),
            "{}",
            w.rejected[0].reason
        );
        s.commit(&record()).unwrap();
        drop(s);
        let mut s = SqliteSink::open(&db, &opts(WriteMode::Upsert, &["id"])).unwrap();
        let mut b = batch(&[(2, "x"), (4, "d"), (2, "B")]);
        s.write(&mut b).unwrap();
        assert_eq!(s.flush().unwrap().rows, 3);
        s.commit(&record()).unwrap();
        let conn = Connection::open(&db).unwrap();
        let got: Vec<(i64, String)> = conn
            .prepare("SELECT id, v FROM \"t\"\"x\" ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            got,
            [
                (1, "a".into()),
                (2, "B".into()),
                (3, "c".into()),
                (4, "d".into())
            ],
            "upsert: the last row of a key wins"
        );
    }

    /// A NOCASE key: SQLite calls `b` and `B` equal, rowflow does not, so rows keep their
    /// input order through the sort runs, their merge and their compaction, and the
    /// first occurrence is the one kept.
    #[test]
    fn keys_sqlite_compares_differently_keep_input_order_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("n.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE \"t\"\"x\" (id TEXT PRIMARY KEY COLLATE NOCASE, v TEXT)")
            .unwrap();
        let mut o = opts(WriteMode::Append, &["id"]);
        o.schema = Schema::new([
            ("id".to_string(), DataType::Text),
            ("v".to_string(), DataType::Text),
        ]);
        // One row per run: enough runs for a compaction, then a merge.
        o.sort_run_rows = Some(1);
        let mut s = SqliteSink::open(&db, &o).unwrap();
        let n = MAX_OPEN_RUNS + 3;
        for i in 0..n {
            let id = match i {
                0 => "b".to_string(),
                1 => "B".to_string(),
                _ => format!("k{i:04}"),
            };
            let mut b = Batch::default();
            b.rows.push(Row {
                pos: Position {
                    record: i as u64 + 1,
                    line: i as u64 + 2,
                    ..Default::default()
                },
                values: vec![Value::Text(id.clone()), Value::Text(format!("row {i}"))],
                raw: RawRecord::from_fields([id, format!("row {i}")]),
            });
            s.write(&mut b).unwrap();
        }
        assert!(s.runs.len() < MAX_OPEN_RUNS, "the runs were compacted");
        let w = s.flush().unwrap();
        assert_eq!(w.rows, n as u64 - 1);
        assert_eq!(w.rejected.len(), 1);
        assert_eq!(w.rejected[0].pos.line, 3, "the later of b and B is refused");
        s.commit(&record()).unwrap();
        let v: String = s
            .conn
            .query_row("SELECT v FROM \"t\"\"x\" WHERE id = 'b'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, "row 0");
    }

    #[test]
    fn incompatible_table_is_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("b.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE \"t\"\"x\" (id INTEGER, v INTEGER)")
            .unwrap();
        let e = SqliteSink::open(&db, &opts(WriteMode::Append, &[]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("column \"v\" is text"), "{e}");
        assert!(
            Sqlite { path: &db }
                .check(&opts(WriteMode::Append, &[]))
                .is_err()
        );
        assert_eq!(
            Sqlite { path: &db }
                .check(&opts(WriteMode::Replace, &[]))
                .unwrap(),
            TableStatus::WillReplace
        );
        let e = SqliteSink::open(&db, &opts(WriteMode::Upsert, &["id"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("upsert needs"), "{e}");
    }

    #[test]
    fn rollback_discards() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let mut s = SqliteSink::open(&db, &opts(WriteMode::Create, &[])).unwrap();
        s.write(&mut batch(&[(1, "a")])).unwrap();
        s.rollback().unwrap();
        let n: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 't\"x'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "the table was created in the rolled-back transaction");
    }

    #[test]
    fn a_failed_replace_keeps_the_old_table() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("d.db");
        Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE \"t\"\"x\" (id INTEGER, v TEXT); INSERT INTO \"t\"\"x\" VALUES (99, 'old')")
            .unwrap();
        let mut s = SqliteSink::open(&db, &opts(WriteMode::Replace, &[])).unwrap();
        s.write(&mut batch(&[(1, "new")])).unwrap();
        s.rollback().unwrap();
        drop(s);
        let got: (i64, String) = Connection::open(&db)
            .unwrap()
            .query_row("SELECT id, v FROM \"t\"\"x\"", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(got, (99, "old".to_string()));
    }
}
