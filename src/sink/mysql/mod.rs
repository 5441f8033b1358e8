//! The MySQL/MariaDB sink: `LOAD DATA LOCAL INFILE` streamed from memory, or multi-row
//! prepared `INSERT`s (values bound, never spliced into SQL), inside transactions.
//!
//! - Rows are formatted for `LOAD DATA` on the worker threads; from then on the sink
//!   keeps each row's line, key, position and original fields, not its values. A
//!   `LOAD DATA` that is not clean (a warning, a skipped row) is rolled back and its rows
//!   go again as `INSERT`s binding the lines' fields (integers and booleans as numbers),
//!   which find the culprits. `upsert` is `INSERT ... ON DUPLICATE KEY UPDATE` binding
//!   them too.
//! - Statements are sized to the server's limits (65,535 placeholders, half of
//!   `max_allowed_packet`). A statement the server refuses changes nothing (InnoDB
//!   statements are atomic); its rows are bisected until the refused ones are found,
//!   rejected with the server's message, and the rest written.
//! - The session runs in strict mode (`STRICT_ALL_TABLES`), so a value that does not fit
//!   is an error, never silently truncated, and in UTC (`time_zone = '+00:00'`).
//! - `upsert` is `INSERT ... ON DUPLICATE KEY UPDATE` (the last occurrence wins).
//! - Lost connections, deadlocks and lock timeouts: held rows, commit with checkpoint,
//!   commit in doubt and replay are the server protocol's ([`crate::sink::server`]);
//!   this driver says how MySQL does each step.
//! - MySQL's DDL is not transactional. `replace` loads into a new table and swaps it in
//!   (`RENAME TABLE`) right after the first commit, so a run that fails before its
//!   first commit leaves the old table; `create` creates the table at the start and
//!   `truncate = true` empties it at the start.

mod conn;
mod encode;
pub(crate) mod fence;
mod lock;
mod table;

use std::sync::Arc;

use mysql::Conn;
use mysql::prelude::Queryable;

use self::conn::{MyConnect, describe, is_connection_error, is_row_error};
use self::encode::{MyEncode, infile_row, line_params};
use self::table::{MyCatalog, MyName, quote};
use super::compat::{self, Catalog};
use super::dialect::{column_list, on_duplicate_key};
use super::lock::check::LockCheck;
use super::seam::{Sink, SinkOptions, TableStatus, Written};
use super::server::{Chunk, Driver, Held, Hold, ServerSink, Tx, held_key_order};
use super::spill::{MAX_OPEN_RUNS, Runs, decode_keyed, encode_keyed, keyed_payload, run_key};
use std::sync::atomic::AtomicBool;

use super::backend::Backend;
use super::lock::check::LockHandle;
use crate::checkpoint::{CommitRecord, Identity, Listed, Stored, TableState};
use crate::config::WriteMode;
use crate::error::{Error, Result};
use crate::redact::scrub;
use crate::row::{PackedRows, Rejected, Row, Value};
use crate::schema::DataType;
use crate::sink::seam::sink_err;

/// Rows per `INSERT` at most. Measured on MariaDB 10.11 (200,000 workload rows): 50
/// rows 3.7 s, 200 rows 2.3 s, 1,000 rows 3.1 s; huge statements are slower.
const ROWS_PER_STATEMENT: usize = 250;

/// Do rowflow and the server agree on which key values are equal? Only then may rows be
/// reordered by key (the sort keeps the input order among keys rowflow calls equal, and
/// the first occurrence, or with upsert the last, must stay the one the server sees
/// first, last). Integers, dates and booleans: yes. Text: MySQL's usual collations call
/// `a` and `A` (and `a` and `a `) equal; decimals and timestamps are rounded to the
/// column's scale; floats have `-0` = `0`.
fn exact_keys(opts: &SinkOptions) -> bool {
    use crate::schema::DataType as D;
    opts.key.iter().all(|k| {
        opts.schema
            .columns
            .iter()
            .find(|c| &c.name == k)
            .is_some_and(|c| matches!(c.data_type, D::Int | D::Date | D::Bool))
    })
}

/// Keyed tables: rows a writer holds in memory before it sorts them into a run and
/// writes the run to a temporary file. A transaction's runs are merged at its end, so a
/// large transaction (every row of the load in key order is several times faster for
/// InnoDB than batches in key order) costs memory for one run only.
const RUN_ROWS: usize = 65_536;

/// Rows per `LOAD DATA` when merged runs are sent.
const PIECE_ROWS: usize = 65_536;

/// The open transaction's rows spilled in sorted runs, and what sending them found.
#[derive(Default)]
struct Spilled {
    runs: Runs,
    /// Rows, by their place in the merge, before this one were counted as written.
    reported: u64,
    /// Places in the merge of rows the server refused (rejects now; a replay skips
    /// them).
    refused: std::collections::BTreeSet<u64>,
}

impl Spilled {
    /// Done with the transaction's runs; their files stay, to be written over.
    fn reset(&mut self) {
        self.runs.clear();
        self.reported = 0;
        self.refused.clear();
    }
}

/// Rows refused, as (index in their chunk, reason).
type Refused = Vec<(usize, String)>;

/// Writes rows into one MySQL/MariaDB table.
pub(crate) type MySink = ServerSink<MyDriver>;

/// MySQL's side of the server protocol.
pub(crate) struct MyDriver {
    connect: MyConnect,
    conn: Conn,
    /// The table rows go into now (the new table, for `replace`, until the swap).
    into: MyName,
    /// The destination table.
    table: MyName,
    opts: SinkOptions,
    encode: Arc<MyEncode>,
    /// Rows per statement at most (the placeholder limit, and [`ROWS_PER_STATEMENT`]).
    chunk_rows: usize,
    /// The server's `max_allowed_packet`: an `INSERT` is kept within it, measured on
    /// the rows' bytes.
    packet: usize,
    /// The columns' types (the `INSERT` fallback binds the lines' fields by them).
    types: Vec<DataType>,
    /// The open transaction's rows spilled to temporary files (keyed tables).
    spilled: Spilled,
    /// `replace`: swap the new table in after the first commit.
    swap_pending: bool,
    checkpoint: crate::checkpoint::Identity,
    writer: u32,
    /// What opening the sink did that the run should say (columns added).
    notes: Vec<String>,
    /// Write with `LOAD DATA LOCAL INFILE` (until the server refuses it).
    load_data: bool,
    /// The data the connection's LOCAL INFILE handler sends.
    infile: Arc<std::sync::Mutex<Vec<u8>>>,
}

/// Put `new` in the place of `table` (one atomic RENAME when `table` exists), and drop
/// the old one. A leftover `__rowflow_old` from a run stopped mid-swap is dropped first.
fn swap_tables(conn: &mut Conn, table: &MyName, new: &MyName) -> mysql::Result<()> {
    let old = table.sibling(&format!("{}__rowflow_old", table.name));
    conn.query_drop(format!("DROP TABLE IF EXISTS {}", old.sql()))?;
    if table::exists(conn, table)? {
        conn.query_drop(format!(
            "RENAME TABLE {t} TO {old}, {new} TO {t}",
            t = table.sql(),
            old = old.sql(),
            new = new.sql()
        ))?;
        conn.query_drop(format!("DROP TABLE {}", old.sql()))?;
    } else {
        conn.query_drop(format!("RENAME TABLE {} TO {}", new.sql(), table.sql()))?;
    }
    Ok(())
}

/// A connection whose LOCAL INFILE requests are answered from `data`.
fn with_infile(mut conn: Conn, data: &Arc<std::sync::Mutex<Vec<u8>>>) -> Conn {
    let data = data.clone();
    conn.set_local_infile_handler(Some(mysql::LocalInfileHandler::new(move |_name, w| {
        use std::io::Write;
        let d = data.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(&d)?;
        w.flush()
    })));
    conn
}

/// Mysql as rowflow uses it at a destination.
pub(crate) struct Mysql<'a> {
    /// The database's URL.
    pub url: &'a str,
}

impl Backend for Mysql<'_> {
    fn prepare_chunks(&self, table: &str) -> Result<()> {
        fence::prepare(self.url, table)
    }

    fn claim_chunk(
        &self,
        table: &str,
        f: &crate::sink::chunks::ChunkFence,
    ) -> Result<crate::sink::chunks::Claim> {
        fence::claim(self.url, table, f)
    }

    fn read_rejects(&self, table: &str, load: &str) -> Result<Vec<crate::sink::chunks::RejectRow>> {
        fence::read_rejects(self.url, table, load)
    }

    /// The checkpoint rows of `id` (none when there is no checkpoint table yet).
    fn read_checkpoints(&self, table: &str, id: &Identity) -> Result<Vec<Stored>> {
        let url = self.url;
        let connect = MyConnect::parse(url)?;
        let mut conn = connect.connect()?;
        let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        // A locking read, in a transaction: it waits (innodb_lock_wait_timeout) for the
        // transactions of an earlier run of this load that the server may still be
        // committing, since they hold locks on these rows; a run killed during COMMIT
        // leaves it to finish on the server, and reading before it lands would send its
        // rows again.
        let sql = format!(
            "SELECT writer, run_id, state FROM {} WHERE pipeline = ? AND target_table = ? AND input_id = ? \
             LOCK IN SHARE MODE",
            t.sibling(crate::checkpoint::TABLE).sql()
        );
        conn.query_drop("START TRANSACTION")
            .map_err(|e| connect.error(&e, "reading the checkpoint"))?;
        let params: Vec<mysql::Value> = vec![
            id.pipeline.clone().into(),
            id.table.clone().into(),
            id.input_id.clone().into(),
        ];
        match conn.exec::<(u32, String, String), _, _>(sql, params) {
            Ok(rows) => Ok(rows
                .into_iter()
                .map(|(writer, run_id, state)| crate::checkpoint::Stored {
                    writer,
                    run_id,
                    state: serde_json::from_str(&state).ok(),
                })
                .collect()),
            // No checkpoint table yet.
            Err(mysql::Error::MySqlError(m)) if m.code == 1146 => Ok(Vec::new()),
            // Denied (MySQL checks privileges before existence): nothing to resume only if
            // this user cannot see the table at all, which means it has no privilege on it,
            // so it cannot have written checkpoints there either (opening the sink then
            // makes the table or says how). A table it sees but may not read would lose the
            // resume point: refused, with the grant to ask for.
            Err(mysql::Error::MySqlError(m)) if m.code == 1142 => {
                let ck = t.sibling(crate::checkpoint::TABLE);
                let visible = table::exists(&mut conn, &ck)
                    .map_err(|e| connect.error(&e, "looking for the checkpoint table"))?;
                if !visible {
                    return Ok(Vec::new());
                }
                Err(connect.error(
                    &mysql::Error::MySqlError(m),
                    &format!(
                        "reading the checkpoint (GRANT SELECT, INSERT, UPDATE, DELETE ON {} \
                         to this user)",
                        ck.sql()
                    ),
                ))
            }
            Err(e) => Err(connect.error(&e, "reading the checkpoint")),
        }
    }

    /// Delete the checkpoint rows of `id` (a run that starts over).
    fn clear_checkpoints(&self, table: &str, id: &Identity) -> Result<()> {
        let url = self.url;
        let connect = MyConnect::parse(url)?;
        let mut conn = connect.connect()?;
        let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        let sql = format!(
            "DELETE FROM {} WHERE pipeline = ? AND target_table = ? AND input_id = ?",
            t.sibling(crate::checkpoint::TABLE).sql()
        );
        let params: Vec<mysql::Value> = vec![
            id.pipeline.clone().into(),
            id.table.clone().into(),
            id.input_id.clone().into(),
        ];
        conn.exec_drop(sql, params)
            .map_err(|e| connect.error(&e, "clearing the old checkpoint"))
    }

    /// Why `table` cannot be replaced (other tables' foreign keys reference it), if it
    /// cannot.
    fn replace_blockers(&self, table: &str) -> Result<Option<String>> {
        let url = self.url;
        let connect = MyConnect::parse(url)?;
        let mut conn = connect.connect()?;
        let table = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        MyCatalog {
            conn: &mut conn,
            connect: &connect,
            table: &table,
        }
        .replace_blockers()
    }

    /// The checkpoint rows of the URL's database (or of `table`'s, and of loads into it,
    /// when given), for `rowflow checkpoints`.
    fn list_checkpoints(&self, table: Option<&str>) -> Result<Vec<Listed>> {
        let url = self.url;
        let connect = MyConnect::parse(url)?;
        let mut conn = connect.connect()?;
        let place = match table {
            Some(t) => table::parse_name(t).map_err(|e| sink_err(&connect.display, e))?,
            None => table::parse_name(crate::checkpoint::TABLE)
                .map_err(|e| sink_err(&connect.display, e))?,
        }
        .sibling(crate::checkpoint::TABLE);
        let read = |e: mysql::Error| connect.error(&e, "reading the checkpoints");
        if !table::exists(&mut conn, &place).map_err(read)? {
            return Ok(Vec::new());
        }
        let rows: Vec<crate::checkpoint::ListedRow> = conn
            .exec(
                format!(
                    "SELECT pipeline, target_table, input, input_id, writer, run_id, state, \
                     DATE_FORMAT(updated_at, '%Y-%m-%dT%H:%i:%SZ') FROM {} \
                     WHERE ? IS NULL OR target_table = ? ORDER BY target_table, pipeline, input, writer",
                    place.sql()
                ),
                (table, table),
            )
            .map_err(read)?;
        let schema = place.schema.clone().unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|r| crate::checkpoint::Listed::from_row(schema.clone(), r))
            .collect())
    }

    /// The destination table as it is now (see [`crate::checkpoint::TableState`]): for an
    /// interrupted `replace` that committed into the new table but did not swap it in yet,
    /// the new table.
    fn table_state(&self, table: &str) -> Result<TableState> {
        let url = self.url;
        let connect = MyConnect::parse(url)?;
        let mut conn = connect.connect()?;
        let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        let read = |e: mysql::Error| connect.error(&e, "looking at the table");
        let new_table = t.sibling(&format!("{}__rowflow_new", t.name));
        // Both may exist: the old table and the new one an interrupted `replace` filled.
        let mut exists = false;
        let mut has_rows = Some(false);
        for w in [&t, &new_table] {
            if !table::exists(&mut conn, w).map_err(read)? {
                continue;
            }
            exists = true;
            let rows = conn
                .query_first::<i64, _>(format!("SELECT EXISTS (SELECT 1 FROM {})", w.sql()))
                .ok()
                .flatten()
                .map(|n| n > 0);
            has_rows = match (has_rows, rows) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            };
        }
        Ok(crate::checkpoint::TableState {
            name: t.sql(),
            exists,
            id: None,
            has_rows,
        })
    }

    /// Check the destination without changing it.
    fn check(&self, opts: &SinkOptions) -> Result<TableStatus> {
        let url = self.url;
        let connect = MyConnect::parse(url)?;
        let mut conn = connect.connect()?;
        let table = table::parse_name(&opts.table).map_err(|e| sink_err(&connect.display, e))?;
        compat::check(
            &mut MyCatalog {
                conn: &mut conn,
                connect: &connect,
                table: &table,
            },
            opts,
        )
    }

    fn open(
        &self,
        opts: &SinkOptions,
        checkpoint: &Identity,
        writer: u32,
    ) -> Result<Box<dyn Sink>> {
        Ok(Box::new(open(self.url, opts, checkpoint.clone(), writer)?))
    }

    /// A keyed table's rows go in key order through sorted runs spilled to temporary
    /// files, so a large transaction costs little memory and fills the table's B-tree in
    /// order (measured on MariaDB 10.11, 1,000,000 workload rows, 2 writers: 4.0 s in
    /// one transaction against 8.2 s in transactions of 50,000).
    fn default_commit_rows(&self, keyed: bool) -> usize {
        if keyed { 1_000_000 } else { 50_000 }
    }

    /// As SQLite's (see there): InnoDB keeps a keyed table in key order, so keys in
    /// random order revisit the whole table in every transaction (measured, 10M
    /// workload rows: 92 s in transactions of 1M rows, 48 s in one).
    fn grows_commits(&self, keyed: bool) -> bool {
        keyed
    }

    fn lock(
        &self,
        name: &str,
        what: &str,
        wait: bool,
        waiting: &mut dyn FnMut(&str),
        stop: &AtomicBool,
    ) -> Result<(LockHandle, LockCheck)> {
        let (conn, key, id) = lock::lock(self.url, name, what, wait, waiting, stop)?;
        Ok((Box::new(conn), LockCheck::Mysql { key, conn: id }))
    }
}

/// Connect, check the table against the rows and prepare it. Writers other than 0 find
/// it prepared (for `replace`, swapped in at writer 0's first commit, which they wait
/// for).
pub fn open(
    url: &str,
    opts: &SinkOptions,
    checkpoint: crate::checkpoint::Identity,
    writer: u32,
) -> Result<MySink> {
    let connect = MyConnect::parse(url)?;
    let mut conn = connect.connect()?;
    let display = connect.display.clone();
    let t = table::parse_name(&opts.table).map_err(|e| sink_err(&display, e))?;
    let ddl = |conn: &mut Conn, sql: &str| {
        conn.query_drop(sql)
            .map_err(|e| connect.error(&e, "preparing the table"))
    };
    let read = |e: mysql::Error| connect.error(&e, "reading the table's definition");
    let new_table = t.sibling(&format!("{}__rowflow_new", t.name));
    if opts.resuming
        && writer == 0
        && table::table_columns(&mut conn, &new_table)
            .map_err(read)?
            .is_some()
    {
        // The interrupted run committed into the new table of a `replace` but was
        // stopped before swapping it in: swap it in now.
        swap_tables(&mut conn, &t, &new_table)
            .map_err(|e| connect.error(&e, "swapping in the new table"))?;
    }
    let mut cat = MyCatalog {
        conn: &mut conn,
        connect: &connect,
        table: &t,
    };
    let existing = cat.columns()?;
    if existing.is_some()
        && opts.mode == WriteMode::Replace
        && writer == 0
        && let Some(why) = cat.replace_blockers()?
    {
        return Err(sink_err(&display, why));
    }
    let mut notes = Vec::new();
    if let (Some(cols), WriteMode::Append | WriteMode::Upsert, 0) = (&existing, opts.mode, writer) {
        compat::ensure_fits(&mut cat, opts, cols)?;
        let missing = compat::missing_columns::<MyCatalog>(opts, cols);
        if let Some(add) = compat::add_columns(
            &t.sql(),
            &missing,
            quote,
            |c| table::created_type(c, false),
            false,
        ) {
            // MySQL commits DDL at once: before any row, never inside a load
            // transaction.
            for sql in &add.sql {
                match cat.conn.query_drop(sql) {
                    Ok(()) => {}
                    // Another run added it meanwhile: checked below.
                    Err(mysql::Error::MySqlError(m)) if m.code == 1060 => {}
                    Err(e) => return Err(connect.error(&e, "adding a column (sink.alter)")),
                }
            }
            notes.push(add.note);
            if let Some(now) = cat.columns()? {
                compat::ensure_fits(&mut cat, opts, &now)?;
            }
        }
    }
    let mut into = t.clone();
    let mut swap_pending = false;
    let collation = table::exact_collation(&mut conn)
        .map_err(|e| connect.error(&e, "reading the server's collations"))?;
    match (existing, opts.mode) {
        // Writer 0 prepared the table before this one opened (or, for `replace`, swaps
        // it in at its first commit, before this one gets rows).
        (_, _) if writer > 0 => {}
        (Some(_), WriteMode::Create) => {
            return Err(compat::already_exists(&MyCatalog {
                conn: &mut conn,
                connect: &connect,
                table: &t,
            }));
        }
        (Some(_), WriteMode::Replace) => {
            into = new_table.clone();
            ddl(&mut conn, &format!("DROP TABLE IF EXISTS {}", into.sql()))?;
            ddl(&mut conn, &table::create_sql(&into, opts, collation))?;
            swap_pending = true;
        }
        (None, _) => {
            match conn.query_drop(table::create_sql(&t, opts, collation)) {
                Ok(()) => {}
                // Another run created it between the look above and now.
                Err(mysql::Error::MySqlError(m)) if m.code == 1050 => {
                    return Err(compat::created_meanwhile(&display, &t.sql()));
                }
                Err(e) => return Err(connect.error(&e, "preparing the table")),
            }
        }
        // Checked above.
        (Some(_), _) => {
            if opts.truncate {
                ddl(&mut conn, &format!("TRUNCATE TABLE {}", t.sql()))?;
            }
        }
    }
    // The checkpoint table, made only when missing: a user who may write the table
    // but not create tables can load once it is there (see the error's hint).
    if writer == 0 {
        let ck = t.sibling(crate::checkpoint::TABLE);
        let exists = table::exists(&mut conn, &ck)
            .map_err(|e| connect.error(&e, "looking for the checkpoint table"))?;
        if !exists {
            let sql = table::checkpoint_table_sql(&t);
            conn.query_drop(&sql).map_err(|e| {
                let denied = matches!(&e, mysql::Error::MySqlError(m) if m.code == 1142);
                let hint = if denied {
                    format!(
                        " (rowflow keeps its checkpoints in {ck}, in the table's database; \
                         if it is missing, create it once as a user who may, with: {sql}; \
                         then GRANT SELECT, INSERT, UPDATE, DELETE ON {ck} to this user)",
                        ck = ck.sql()
                    )
                } else {
                    String::new()
                };
                connect.error(&e, &format!("creating the checkpoint table{hint}"))
            })?;
        }
    }
    let packet: u64 = conn
        .query_first("SELECT @@max_allowed_packet")
        .map_err(|e| connect.error(&e, "reading max_allowed_packet"))?
        .unwrap_or(4 << 20);
    let ncols = opts.schema.len().max(1);
    // Rows per statement: the placeholder limit (the bytes are measured per row
    // when a statement is made, see `statements`).
    let chunk_rows = (65_535 / ncols).clamp(1, ROWS_PER_STATEMENT);
    let infile = Arc::new(std::sync::Mutex::new(Vec::new()));
    let conn = with_infile(conn, &infile);
    Ok(ServerSink::new(MyDriver {
        load_data: true,
        infile,
        connect,
        conn,
        into,
        table: t,
        encode: Arc::new(MyEncode {
            names: opts.schema.names().map(String::from).collect(),
            key_idx: opts
                .key
                .iter()
                .filter_map(|k| opts.schema.index_of(k))
                .collect(),
        }),
        opts: opts.clone(),
        chunk_rows,
        packet: packet as usize,
        types: opts.schema.columns.iter().map(|c| c.data_type).collect(),
        spilled: Spilled::default(),
        swap_pending,
        checkpoint,
        writer,
        notes,
    }))
}

impl MyDriver {
    fn err(&self, e: &mysql::Error, doing: &str) -> Error {
        self.connect.error(e, doing)
    }

    fn insert_sql(&self, rows: usize) -> String {
        let cols = column_list(&self.opts, quote);
        let one = format!("({})", vec!["?"; cols.len()].join(", "));
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.into.sql(),
            cols.join(", "),
            vec![one.as_str(); rows].join(", ")
        );
        if self.opts.mode == WriteMode::Upsert {
            sql.push(' ');
            sql.push_str(&on_duplicate_key(&self.opts));
        }
        sql
    }

    /// Write the rows `lines`, isolating refused ones by bisection. Returns (rows
    /// written, refused (index, reason)).
    fn send(&mut self, lines: &PackedRows) -> Result<(u64, Vec<(usize, String)>)> {
        let n = lines.len();
        // With LOAD DATA when it can; when something did not fit, the INSERTs below
        // find it (they fail loudly).
        if self.load_data && self.opts.mode != WriteMode::Upsert && n > 0 && self.load(lines)? {
            return Ok((n as u64, Vec::new()));
        }
        let (mut todo, mut refused) = self.statements(lines);
        let mut written = 0u64;
        while let Some((a, b)) = todo.pop() {
            let sql = self.insert_sql(b - a);
            let mut params: Vec<mysql::Value> =
                Vec::with_capacity((b - a) * self.opts.schema.len());
            for i in a..b {
                line_params(lines.get(i), &self.types, &mut params);
            }
            match self.conn.exec_drop(sql, params) {
                Ok(()) => written += (b - a) as u64,
                Err(e) if is_row_error(&e) && b - a == 1 => {
                    refused.push((a, scrub(&describe(&e), &self.connect.secrets)))
                }
                Err(e) if is_row_error(&e) => {
                    let m = a + (b - a) / 2;
                    todo.push((m, b));
                    todo.push((a, m));
                }
                Err(e) => return Err(self.err(&e, "inserting rows")),
            }
        }
        refused.sort_by_key(|(i, _)| *i);
        Ok((written, refused))
    }

    /// Send chunk `c` of `held` and account for its rows in `out`.
    fn send_chunk(&mut self, held: &mut Held, c: usize, out: &mut Written) -> Result<()> {
        let (written, refused) = self.send(&held.chunks[c].tuples)?;
        held.sent(c, written, refused, out);
        Ok(())
    }

    /// The `INSERT`s for `lines`, as row ranges (last first, to be popped): at most
    /// `chunk_rows` rows and half the server's packet limit each, measured on the rows'
    /// lines. A row that cannot fit in one packet even alone is refused here with the
    /// reason (the server would drop the connection, and every retry would too).
    fn statements(&self, lines: &PackedRows) -> (Vec<(usize, usize)>, Refused) {
        let n = lines.len();
        // A bound parameter costs its bytes plus a type and a length (a few bytes); a
        // line holds every field with its escapes and a separator, so it is at least
        // the values' size.
        let row_bytes = |i: usize| lines.get(i).len() + 12 * self.types.len();
        let budget = self.packet / 2;
        // Room for the statement's text and the packet's headers.
        let alone = self.packet - (64 * 1024).min(self.packet / 4);
        let mut ranges = Vec::new();
        let mut refused = Vec::new();
        let mut start = 0;
        let mut bytes = 0;
        for i in 0..n {
            let b = row_bytes(i);
            if b > alone {
                if start < i {
                    ranges.push((start, i));
                }
                refused.push((
                    i,
                    format!(
                        "the row is about {b} bytes, more than the server's max_allowed_packet \
                         ({} bytes) allows in one statement; raise max_allowed_packet to load it",
                        self.packet
                    ),
                ));
                start = i + 1;
                bytes = 0;
                continue;
            }
            if start < i && (i - start >= self.chunk_rows || bytes + b > budget) {
                ranges.push((start, i));
                start = i;
                bytes = 0;
            }
            bytes += b;
        }
        if start < n {
            ranges.push((start, n));
        }
        ranges.reverse();
        (ranges, refused)
    }

    /// `LOAD DATA LOCAL INFILE` of `lines`, streamed from memory, in a savepoint.
    /// With LOCAL the server turns bad values and duplicate keys into warnings and skips
    /// rows, so anything but "every row, no warning" is rolled back and `false` is
    /// returned (the caller then finds the culprits row by row). A server that does not
    /// allow LOCAL INFILE switches the sink to INSERTs for good.
    fn load(&mut self, lines: &PackedRows) -> Result<bool> {
        let n = lines.len() as u64;
        {
            let mut data = self.infile.lock().unwrap_or_else(|p| p.into_inner());
            data.clear();
            data.extend_from_slice(lines.bytes());
        }
        self.conn
            .query_drop("SAVEPOINT rowflow")
            .map_err(|e| self.err(&e, "SAVEPOINT"))?;
        let cols = column_list(&self.opts, quote);
        let sql = format!(
            "LOAD DATA LOCAL INFILE 'rowflow-batch' INTO TABLE {} CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
            self.into.sql(),
            cols.join(", ")
        );
        let r = self.conn.query_drop(sql);
        let clean = match r {
            Ok(()) => self.conn.affected_rows() == n && self.conn.warnings() == 0,
            Err(e) if is_connection_error(&e) => return Err(self.err(&e, "loading rows")),
            Err(e) => {
                if let mysql::Error::MySqlError(m) = &e
                    && matches!(m.code, 1148 | 3948 | 2068 | 1227)
                {
                    self.load_data = false;
                }
                false
            }
        };
        let end = if clean {
            "RELEASE SAVEPOINT rowflow"
        } else {
            "ROLLBACK TO SAVEPOINT rowflow"
        };
        self.conn.query_drop(end).map_err(|e| self.err(&e, end))?;
        self.infile
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(clean)
    }

    /// The order to send held rows `idx` ((chunk, row) pairs) in: by key when that is
    /// safe ([`exact_keys`]), else as they came.
    fn key_order(&self, chunks: &[Chunk], idx: &[(usize, usize)]) -> Vec<usize> {
        if !exact_keys(&self.opts) {
            return (0..idx.len()).collect();
        }
        held_key_order(chunks, idx, self.encode.key_idx.len())
    }

    /// Write the rows held in memory (none sent yet: keyed tables send at `flush`) to a
    /// new run file, in the order they will be sent, and let them go.
    fn spill_held(&mut self, held: &mut Held) -> Result<()> {
        let chunks = std::mem::take(&mut held.chunks);
        let idx: Vec<(usize, usize)> = chunks
            .iter()
            .enumerate()
            .flat_map(|(c, ch)| (0..ch.rows.len()).map(move |i| (c, i)))
            .collect();
        if idx.is_empty() {
            return Ok(());
        }
        let order = self.key_order(&chunks, &idx);
        let nkeys = self.encode.key_idx.len();
        // Encoded one at a time as the run is written (memory for the run once).
        let blobs = order.into_iter().map(|j| {
            let (c, i) = idx[j];
            let ch = &chunks[c];
            let row = &ch.rows[i];
            let keys = &ch.keys[i * nkeys..(i + 1) * nkeys];
            encode_keyed(&row.pos, keys, &row.raw, ch.tuples.get(i))
        });
        let mut spilled = self.spilled.runs.spill(blobs);
        // Done with (freed off the sink thread); on failure too: the run cannot be
        // completed, and the error ends the transaction.
        held.chunks = chunks;
        held.clear();
        // Growing transactions (see `Backend::grows_commits`) have no bound on their runs.
        if spilled.is_ok() && self.spilled.runs.len() >= MAX_OPEN_RUNS {
            let (k, by_key) = ((0..nkeys).collect::<Vec<_>>(), exact_keys(&self.opts));
            spilled = self.spilled.runs.compact(|b| run_key(&k, by_key, b));
        }
        spilled.map_err(|e| {
            sink_err(
                &self.connect.display,
                format!("writing a sort run to a temporary file: {e}"),
            )
        })
    }

    /// Merge the spilled runs and send them in pieces of `PIECE_ROWS` rows, adding to
    /// `out`. Rows the server refused in an earlier attempt (a replay's) are skipped;
    /// rows counted as written by one are not counted again, and revoked if refused now.
    fn send_spilled(&mut self, out: &mut Written) -> Result<()> {
        // The runs are read while the sink sends: out of `self` meanwhile, back after.
        let runs = std::mem::take(&mut self.spilled.runs);
        let sent = self.send_merged(&runs, out);
        self.spilled.runs = runs;
        sent
    }

    /// [`send_spilled`](Self::send_spilled) over `runs`.
    fn send_merged(&mut self, runs: &Runs, out: &mut Written) -> Result<()> {
        let nkeys = self.encode.key_idx.len();
        let k: Vec<usize> = (0..nkeys).collect();
        let display = self.connect.display.clone();
        let io = |e: std::io::Error| sink_err(&display, format!("reading a sort run back: {e}"));
        // Runs are in key order when that is safe, else in input order (and then
        // merged run after run).
        let by_key = exact_keys(&self.opts);
        let mut merge = runs.merge(|b| run_key(&k, by_key, b)).map_err(io)?;
        let mut at = 0u64;
        loop {
            // A piece: the merged rows as they were spilled (decoded only if refused),
            // their lines sent as they are.
            let mut blobs = Vec::with_capacity(PIECE_ROWS);
            let mut lines = PackedRows::default();
            let mut index = Vec::with_capacity(PIECE_ROWS);
            while blobs.len() < PIECE_ROWS {
                let Some(blob) = merge.next_blob().map_err(io)? else {
                    break;
                };
                at += 1;
                if self.spilled.refused.contains(&(at - 1)) {
                    continue;
                }
                lines.push(keyed_payload(&blob).map_err(io)?);
                blobs.push(blob);
                index.push(at - 1);
            }
            if blobs.is_empty() {
                return Ok(());
            }
            let (_, refused) = self.send(&lines)?;
            let mut refused = refused.into_iter().peekable();
            for (j, &i) in index.iter().enumerate() {
                let counted = i < self.spilled.reported;
                match refused.next_if(|(r, _)| *r == j) {
                    Some((_, reason)) => {
                        if counted {
                            out.revoked += 1;
                        }
                        self.spilled.refused.insert(i);
                        let (row, _) = decode_keyed(&blobs[j]).map_err(io)?;
                        out.rejected.push(Rejected {
                            pos: row.pos,
                            raw: row.raw,
                            reason: format!("sink: {reason}"),
                        });
                    }
                    None if !counted => out.rows += 1,
                    None => {}
                }
            }
            self.spilled.reported = self.spilled.reported.max(at);
        }
    }

    /// `replace`: the first commit is done; swap the new table in.
    fn swap(&mut self) -> Result<()> {
        if !self.swap_pending {
            return Ok(());
        }
        let (t, new) = (self.table.clone(), self.into.clone());
        swap_tables(&mut self.conn, &t, &new)
            .map_err(|e| self.err(&e, "swapping in the new table"))?;
        self.into = self.table.clone();
        self.swap_pending = false;
        Ok(())
    }
}

impl Driver for MyDriver {
    type Session = Session;
    const BEGIN: &'static str = "START TRANSACTION";

    fn target(&self) -> &str {
        &self.connect.display
    }

    fn opts(&self) -> &SinkOptions {
        &self.opts
    }

    fn encoder(&self) -> Arc<dyn crate::sink::seam::Encode> {
        self.encode.clone()
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// `replace` loads into a new table until the first commit swaps it in: the other
    /// writers (which write into the table's own name) wait for that.
    fn prepares_first(&self) -> bool {
        self.swap_pending
    }

    fn key_idx(&self) -> &[usize] {
        &self.encode.key_idx
    }

    fn encode_row(&self, row: &mut Row) -> std::result::Result<Vec<u8>, String> {
        self.encode.check(&mut row.values)?;
        let mut line = Vec::new();
        infile_row(&mut line, &row.values);
        Ok(line)
    }

    fn execute(&mut self, sql: &str) -> Result<()> {
        self.conn.query_drop(sql).map_err(|e| self.err(&e, sql))
    }

    fn reconnect(&mut self) -> Result<()> {
        self.conn = with_infile(self.connect.connect()?, &self.infile);
        Ok(())
    }

    fn session(&mut self) -> Option<Session> {
        session_of(&mut self.conn)
    }

    fn session_gone(&mut self, old: &Session) -> Result<bool> {
        session_gone(&mut self.conn, old)
            .map_err(|e| self.err(&e, "waiting for the lost session to end"))
    }

    fn end_session(&mut self, old: &Session) {
        let _ = self.conn.query_drop(format!("KILL {}", old.id));
    }

    fn session_name(old: &Session) -> String {
        old.id.to_string()
    }

    fn hold_lock(&mut self, check: &mut LockCheck) -> Result<Hold> {
        let LockCheck::Mysql { key, conn } = check else {
            return Ok(Hold::Held);
        };
        let doing = "checking the lock of this load";
        let holder: Option<Option<u64>> = self
            .conn
            .exec_first("SELECT IS_USED_LOCK(?)", (key.clone(),))
            .map_err(|e| self.err(&e, doing))?;
        if holder.flatten() == Some(*conn) {
            return Ok(Hold::Held);
        }
        let got: Option<(Option<i64>, u64)> = self
            .conn
            .exec_first("SELECT GET_LOCK(?, 0), CONNECTION_ID()", (key.clone(),))
            .map_err(|e| self.err(&e, doing))?;
        match got {
            Some((Some(1), id)) => {
                *conn = id;
                Ok(Hold::TakenOver)
            }
            _ => Ok(Hold::Lost),
        }
    }

    fn checkpoint_runs(&mut self) -> Result<Vec<String>> {
        let id = &self.checkpoint;
        self.conn
            .exec(
                format!(
                    "SELECT DISTINCT run_id FROM {} WHERE pipeline = ? AND target_table = ? AND input_id = ?",
                    self.table.sibling(crate::checkpoint::TABLE).sql()
                ),
                (id.pipeline.clone(), id.table.clone(), id.input_id.clone()),
            )
            .map_err(|e| self.err(&e, "checking the lock of this load"))
    }

    fn clear_older(&mut self, record: &CommitRecord) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE pipeline = ? AND target_table = ? AND input_id = ? AND run_id <> ?",
            self.table.sibling(crate::checkpoint::TABLE).sql()
        );
        let id = &record.identity;
        let params: Vec<mysql::Value> = vec![
            id.pipeline.clone().into(),
            id.table.clone().into(),
            id.input_id.clone().into(),
            record.run_id.clone().into(),
        ];
        self.conn
            .exec_drop(sql, params)
            .map_err(|e| self.err(&e, "clearing the old checkpoint"))
    }

    fn check_fence(&mut self, f: &crate::sink::chunks::ChunkFence) -> Result<Option<String>> {
        fence::check(&mut self.conn, &self.table, f)
            .map_err(|e| self.err(&e, "checking who owns the chunk"))
    }

    fn write_rejects(
        &mut self,
        f: &crate::sink::chunks::ChunkFence,
        clear: bool,
        rows: &[crate::sink::chunks::RejectRow],
    ) -> Result<()> {
        fence::write_rejects(&mut self.conn, &self.table, f, clear, rows)
            .map_err(|e| self.err(&e, "writing the rejected rows"))
    }

    fn write_checkpoint(&mut self, record: &CommitRecord) -> Result<()> {
        let id = &record.identity;
        let params: Vec<mysql::Value> = vec![
            id.pipeline.clone().into(),
            id.table.clone().into(),
            id.input_id.clone().into(),
            record.writer.into(),
            id.input.clone().into(),
            record.run_id.clone().into(),
            (record.txn as i64).into(),
            record.state_json().into(),
        ];
        self.conn
            .exec_drop(table::checkpoint_upsert_sql(&self.table), params)
            .map_err(|e| self.err(&e, "writing the checkpoint"))
    }

    fn own_checkpoint(&mut self) -> Result<Option<(String, i64)>> {
        let sql = format!(
            "SELECT run_id, txn FROM {} WHERE pipeline = ? AND target_table = ? AND input_id = ? AND writer = ?",
            self.table.sibling(crate::checkpoint::TABLE).sql()
        );
        let id = &self.checkpoint;
        let params: Vec<mysql::Value> = vec![
            id.pipeline.clone().into(),
            id.table.clone().into(),
            id.input_id.clone().into(),
            self.writer.into(),
        ];
        self.conn
            .exec_first(sql, params)
            .map_err(|e| self.err(&e, "reading the checkpoint"))
    }

    /// The spilled runs are done with; `replace` swaps the new table in.
    fn committed(&mut self) -> Result<()> {
        self.spilled.reset();
        self.swap()
    }

    fn discard(&mut self) {
        self.spilled.reset();
    }

    fn rolled_back(&mut self) {
        if self.swap_pending {
            // Nothing was committed: the old table stays, the new one goes.
            let _ = self
                .conn
                .query_drop(format!("DROP TABLE IF EXISTS {}", self.into.sql()));
            self.swap_pending = false;
        }
    }

    /// Keyed tables: held until `flush`, then written in key order; past a run's worth,
    /// sorted and spilled to a temporary file. Others: written now.
    fn take(&mut self, tx: &mut Tx<Self>, c: usize, out: &mut Written) -> Result<()> {
        if !self.encode.key_idx.is_empty() {
            let held: usize = tx.held.chunks.iter().map(|c| c.rows.len()).sum();
            if held >= self.opts.sort_run_rows.unwrap_or(RUN_ROWS) {
                self.spill_held(&mut tx.held)?;
            }
            return Ok(());
        }
        tx.begin(self)?;
        self.send_chunk(&mut tx.held, c, out)
    }

    /// Keyed tables: the rows held since the last flush, as one chunk in key order when
    /// that is safe ([`exact_keys`]; InnoDB stores a table in primary-key order: a
    /// transaction's rows then visit each page once, instead of once per batch), written
    /// now.
    fn flush(&mut self, tx: &mut Tx<Self>, out: &mut Written) -> Result<()> {
        let held = &mut tx.held;
        if !self.spilled.runs.is_empty() {
            // Some of the transaction is on disk: the rest joins it, and the runs are
            // merged and sent in key order.
            self.spill_held(held)?;
            tx.begin(self)?;
            self.send_spilled(out)?;
            out.spent.extend(tx.held.take_spent());
            return Ok(());
        }
        let (mut unsent, sent): (Vec<Chunk>, Vec<Chunk>) = std::mem::take(&mut held.chunks)
            .into_iter()
            .partition(|c| !c.reported);
        held.chunks = sent;
        if unsent.is_empty() {
            return Ok(());
        }
        let nkeys = self.encode.key_idx.len();
        let idx: Vec<(usize, usize)> = unsent
            .iter()
            .enumerate()
            .flat_map(|(c, ch)| (0..ch.rows.len()).map(move |i| (c, i)))
            .collect();
        let order = self.key_order(&unsent, &idx);
        let bytes = unsent.iter().map(|c| c.tuples.bytes().len()).sum();
        let mut rows = Vec::with_capacity(idx.len());
        let mut tuples = PackedRows::with_capacity(idx.len(), bytes);
        let mut keys = Vec::with_capacity(idx.len() * nkeys);
        for j in order {
            let (c, i) = idx[j];
            tuples.push(unsent[c].tuples.get(i));
            let at = i * nkeys;
            keys.extend(
                unsent[c].keys[at..at + nkeys]
                    .iter_mut()
                    .map(|v| std::mem::replace(v, Value::Null)),
            );
            rows.push(std::mem::take(&mut unsent[c].rows[i]));
        }
        let c = held.push_keyed(rows, tuples, keys);
        tx.begin(self)?;
        self.send_chunk(&mut tx.held, c, out)
    }

    fn replay(&mut self, tx: &mut Tx<Self>, out: &mut Written) -> Result<()> {
        for c in 0..tx.held.chunks.len() {
            self.send_chunk(&mut tx.held, c, out)?;
        }
        if !self.spilled.runs.is_empty() {
            self.send_spilled(out)?;
        }
        Ok(())
    }
}

/// A server session: its connection id and when the server started (to the second,
/// from its uptime). Connection ids are not reused while the server runs, but start
/// again from 1 when it restarts: the same id on a restarted server is someone else's
/// session, which must not be ended for ours.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    id: u32,
    /// None when the uptime could not be read: the id alone then names the session.
    server_started: Option<i64>,
}

/// The server's start, as Unix seconds (now minus its uptime).
fn server_started(conn: &mut Conn) -> Option<i64> {
    let now: i64 = conn.query_first("SELECT UNIX_TIMESTAMP()").ok()??;
    let (_, uptime): (String, i64) = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Uptime'")
        .ok()??;
    Some(now - uptime)
}

/// The server session of a connection (to end it from another one).
fn session_of(conn: &mut Conn) -> Option<Session> {
    Some(Session {
        id: conn.connection_id(),
        server_started: server_started(conn),
    })
}

/// Whether the server session `old` (a lost connection's) is gone. On a server that
/// restarted since, it is, and a session with its id is someone else's.
fn session_gone(conn: &mut Conn, old: &Session) -> mysql::Result<bool> {
    if let (Some(then), Some(now)) = (old.server_started, server_started(conn)) {
        // Uptime is in whole seconds, read at two moments: allow for the rounding.
        if (now - then).abs() > 2 {
            return Ok(true);
        }
    }
    let row: Option<u32> = conn.exec_first(
        "SELECT 1 FROM information_schema.processlist WHERE id = ?",
        (old.id,),
    )?;
    Ok(row.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local MariaDB (`ROWFLOW_TEST_MYSQL`), or `None` with a loud message when it is
    /// not there and `CI` is not set.
    fn server() -> Option<String> {
        let url = std::env::var("ROWFLOW_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
        match Conn::new(mysql::Opts::from_url(&url).ok()?) {
            Ok(_) => Some(url),
            Err(e) if std::env::var_os("CI").is_some() => panic!("MySQL unreachable under CI: {e}"),
            Err(e) => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "*** SKIPPED: MySQL unreachable: {e} ***");
                None
            }
        }
    }

    /// A lost session is ended only when it is the same session: the same id on a
    /// server that started at another time (a restart) is someone else's, left alone.
    #[test]
    fn only_the_lost_session_itself_is_ended() {
        let Some(url) = server() else { return };
        let opts = mysql::Opts::from_url(&url).unwrap();
        let mut bystander = Conn::new(opts.clone()).unwrap();
        let mut us = Conn::new(opts).unwrap();
        let real = session_of(&mut bystander).expect("a session");
        assert!(real.server_started.is_some(), "the server's start is known");
        let before_restart = Session {
            server_started: real.server_started.map(|t| t - 100),
            ..real.clone()
        };
        let wait = std::time::Duration::from_secs(10);
        let ends = |us: &mut Conn, old: &Session| {
            crate::sink::server::wait_session_end(
                |c: &mut Conn| Ok(session_gone(c, old).unwrap()),
                |c: &mut Conn| drop(c.query_drop(format!("KILL {}", old.id))),
                us,
                wait,
            )
            .unwrap()
        };
        assert!(ends(&mut us, &before_restart));
        let still: Option<u32> = bystander.query_first("SELECT 1").unwrap();
        assert_eq!(still, Some(1), "someone else's session was left alone");
        assert!(ends(&mut us, &real));
        assert!(
            bystander.query_first::<u32, _>("SELECT 1").is_err(),
            "the lost session itself is ended"
        );
    }

    #[test]
    fn url_options_and_redaction() {
        let c =
            MyConnect::parse("mysql://root:s3cret@127.0.0.1:3306/test?ssl-mode=REQUIRED").unwrap();
        assert_eq!(
            c.display,
            "mysql://root:***@127.0.0.1:3306/test?ssl-mode=REQUIRED"
        );
        let e = MyConnect::parse("mysql://root:s3cret@127.0.0.1/test?ssl-mode=MAYBE")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("ssl-mode") && !e.contains("s3cret"), "{e}");
    }
}
