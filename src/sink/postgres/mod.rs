//! The PostgreSQL sink: binary `COPY ... FROM STDIN` inside transactions.
//!
//! - Every batch is one `COPY` inside a savepoint. When the server refuses a row
//!   (constraint violation, value out of range, invalid byte sequence), the savepoint is
//!   rolled back, the row named by the server's error context (`COPY t, line N`) is
//!   rejected with the server's message, and the others are copied again; without a line
//!   number the rows are bisected. Good rows are never lost with a bad one.
//! - `upsert` copies into a temporary staging table, then
//!   `INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT (key) DO UPDATE` in the same
//!   transaction (the last occurrence of a key wins).
//! - Held rows, commit with checkpoint, commit in doubt and replay after a lost
//!   connection are the server protocol's ([`crate::sink::server`]); this driver says
//!   how PostgreSQL does each step.
//! - Table preparation (`CREATE`, `DROP` for `replace`, `TRUNCATE`) runs inside the
//!   first transaction, so a run that fails before its first commit changes nothing.

mod conn;
mod encode;
pub(crate) mod fence;
mod lock;
mod table;

use std::sync::Arc;

use postgres::Client;

use self::conn::PgConnect;
use self::encode::{BINARY_HEADER, BINARY_TRAILER, EncodeColumn, PgEncode, PgType};
use self::table::{PgCatalog, PgColumn, QualifiedName};
use super::compat::{self, Catalog};
use super::dialect::{column_list, on_conflict, quote_ident};
use super::lock::check::LockCheck;
use super::seam::{Sink, SinkOptions, TableStatus, Written};
use super::server::{Driver, Held, Hold, ServerSink, Tx, held_key_order};
use std::sync::atomic::AtomicBool;

use super::backend::Backend;
use super::lock::check::LockHandle;
use crate::checkpoint::{CommitRecord, Identity, Listed, Stored, TableState};
use crate::config::WriteMode;
use crate::error::{Error, Result};
use crate::row::Row;
use crate::sink::seam::sink_err;

/// Writes rows into one PostgreSQL table.
pub(crate) type PgSink = ServerSink<PgDriver>;

/// PostgreSQL's side of the server protocol.
pub(crate) struct PgDriver {
    connect: PgConnect,
    client: Client,
    table: QualifiedName,
    opts: SinkOptions,
    encode: Arc<PgEncode>,
    /// `COPY "t" ("a", "b") FROM STDIN (FORMAT binary)` (into the staging table for
    /// upsert).
    copy_sql: String,
    /// The relation `COPY` writes into, as the server names it in an error's context
    /// ("COPY name, line 17, column c: ...").
    copy_rel: String,
    /// `copy_sql` prepared on the current connection.
    copy_stmt: Option<postgres::Statement>,
    /// The upsert statement (from staging into the table), for `upsert`.
    merge_sql: Option<String>,
    /// Table preparation for the first transaction (create, drop, truncate).
    first_ddl: Vec<String>,
    /// What opening the sink did that the run should say (columns added).
    notes: Vec<String>,
    /// A transaction has committed (so `first_ddl` is done).
    first_done: bool,
    /// The table did not exist when the sink opened: `first_ddl` creates it.
    creates: bool,
    /// The staging table exists in this session and transaction.
    stage_ready: bool,
    /// Send rows in key order (only when the server's key equality is rowflow's, see
    /// [`exact_key`]).
    sort_by_key: bool,
    /// Whether this writer prepares the table (writer 0) or finds it ready.
    prepares: bool,
    checkpoint: crate::checkpoint::Identity,
    writer: u32,
}

const STAGE: &str = "rowflow_stage";

/// Do rowflow and the server agree on which values of this key column are equal? Only
/// then may rows be reordered by key: the sort keeps the input order among keys rowflow
/// calls equal, and the first occurrence (or with upsert the last) must stay the one the
/// server sees first (last). Not so for floats (`-0` = `0`), timestamps (rounded to
/// microseconds), `numeric(p, s)` (rounded to its scale), text into `uuid` (`A` = `a`),
/// `char(n)` or a nondeterministic collation.
fn exact_key(source: crate::schema::DataType, target: &PgColumn) -> bool {
    use crate::schema::DataType as D;
    match (source, target.ty) {
        (D::Int, PgType::Int2 | PgType::Int4 | PgType::Int8 | PgType::Numeric) => true,
        (D::Decimal, PgType::Numeric) => target.type_name == "numeric",
        (D::Date, PgType::Date) | (D::Bool, PgType::Bool) => true,
        (D::Text, PgType::Text) => target.plain_eq,
        _ => false,
    }
}
/// Rows per `COPY` statement: each statement costs the server a few milliseconds of
/// set-up (measured: 1,024-row statements took 2.5x the server CPU of 65,536-row ones
/// on the standard workload), so batches are gathered up to this many first.
const COPY_ROWS: usize = 65_536;
/// Rows per `COPY` statement after the server refused a row of a larger one.
const RETRY_ROWS: usize = 4_096;
const ORD: &str = "_rowflow_ord";

/// Postgres as rowflow uses it at a destination.
pub(crate) struct Postgres<'a> {
    /// The database's URL.
    pub url: &'a str,
}

impl Backend for Postgres<'_> {
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
        let connect = PgConnect::parse(url)?;
        let mut client = connect.connect()?;
        let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        let cp = t.sibling(crate::checkpoint::TABLE).sql();
        let read = |e: postgres::Error| connect.error(&e, "reading the checkpoint");
        // Wait (a minute at most) for the transactions of an earlier run of this load that
        // the server may still be committing: a run killed during COMMIT leaves it to
        // finish on the server, and reading the checkpoint before it lands would send its
        // rows again.
        client
            .batch_execute("SET lock_timeout = '60s'")
            .map_err(read)?;
        client
            .execute(
                "SELECT pg_advisory_lock(hashtextextended($1, 0))",
                &[&id.lock_name()],
            )
            .map_err(|e| {
                connect.error(
                    &e,
                    "waiting for the transactions of an earlier run of this load to end",
                )
            })?;
        let exists: Option<u32> = client
            .query_one("SELECT to_regclass($1)::oid", &[&cp])
            .map_err(read)?
            .get(0);
        if exists.is_none() {
            return Ok(Vec::new());
        }
        let rows = client
            .query(
                format!("SELECT writer, run_id, state FROM {cp} WHERE pipeline = $1 AND target_table = $2 AND input_id = $3")
                    .as_str(),
                &[&id.pipeline, &id.table, &id.input_id],
            )
            .map_err(read)?;
        Ok(rows
            .iter()
            .map(|r| crate::checkpoint::Stored {
                writer: r.get::<_, i32>(0) as u32,
                run_id: r.get(1),
                state: serde_json::from_str(r.get::<_, &str>(2)).ok(),
            })
            .collect())
    }

    /// Delete the checkpoint rows of `id` (a run that starts over).
    fn clear_checkpoints(&self, table: &str, id: &Identity) -> Result<()> {
        let url = self.url;
        let connect = PgConnect::parse(url)?;
        let mut client = connect.connect()?;
        let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        let cp = t.sibling(crate::checkpoint::TABLE).sql();
        client
            .execute(
                format!(
                    "DELETE FROM {cp} WHERE pipeline = $1 AND target_table = $2 AND input_id = $3"
                )
                .as_str(),
                &[&id.pipeline, &id.table, &id.input_id],
            )
            .map_err(|e| connect.error(&e, "clearing the old checkpoint"))?;
        Ok(())
    }

    /// The checkpoint rows of every checkpoint table the user can see (only the one beside
    /// `table`, and of loads into it, when given), for `rowflow checkpoints`.
    fn list_checkpoints(&self, table: Option<&str>) -> Result<Vec<Listed>> {
        let url = self.url;
        let connect = PgConnect::parse(url)?;
        let mut client = connect.connect()?;
        let read = |e: postgres::Error| connect.error(&e, "reading the checkpoints");
        let places: Vec<QualifiedName> = match table {
            Some(t) => {
                let t = table::parse_name(t).map_err(|e| sink_err(&connect.display, e))?;
                vec![t.sibling(crate::checkpoint::TABLE)]
            }
            None => client
                .query(
                    "SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1",
                    &[&crate::checkpoint::TABLE],
                )
                .map_err(read)?
                .iter()
                .filter_map(|r| {
                    table::parse_name(&format!(
                        "{}.{}",
                        quote_ident(r.get::<_, &str>(0)),
                        quote_ident(crate::checkpoint::TABLE)
                    ))
                    .ok()
                })
                .collect(),
        };
        let mut out = Vec::new();
        for place in places {
            let exists: Option<u32> = client
                .query_one("SELECT to_regclass($1)::oid", &[&place.sql()])
                .map_err(read)?
                .get(0);
            if exists.is_none() {
                continue;
            }
            let rows = client
                .query(
                    format!(
                        "SELECT pipeline, target_table, input, input_id, writer, run_id, state, \
                         to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM {} \
                         WHERE $1::text IS NULL OR target_table = $1 \
                         ORDER BY target_table, pipeline, input, writer",
                        place.sql()
                    )
                    .as_str(),
                    &[&table],
                )
                .map_err(read)?;
            let schema = place.schema.clone().unwrap_or_default();
            out.extend(rows.iter().map(|r| {
                let writer = i64::from(r.get::<_, i32>(4));
                let row = (
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    writer,
                    r.get(5),
                    r.get(6),
                    r.get(7),
                );
                crate::checkpoint::Listed::from_row(schema.clone(), row)
            }));
        }
        Ok(out)
    }

    /// Why `table` cannot be replaced (objects that depend on it), if it exists and cannot.
    fn replace_blockers(&self, table: &str) -> Result<Option<String>> {
        let url = self.url;
        let connect = PgConnect::parse(url)?;
        let mut client = connect.connect()?;
        let table = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        PgCatalog {
            client: &mut client,
            connect: &connect,
            table: &table,
        }
        .replace_blockers()
    }

    /// The destination table as it is now (see [`crate::checkpoint::TableState`]), its
    /// identity being its oid.
    fn table_state(&self, table: &str) -> Result<TableState> {
        let url = self.url;
        let connect = PgConnect::parse(url)?;
        let mut client = connect.connect()?;
        let t = table::parse_name(table).map_err(|e| sink_err(&connect.display, e))?;
        let oid: Option<u32> = client
            .query_one("SELECT to_regclass($1)::oid", &[&t.sql()])
            .map_err(|e| connect.error(&e, "looking at the table"))?
            .get(0);
        let has_rows = match oid {
            None => Some(false),
            Some(_) => client
                .query_one(
                    format!("SELECT EXISTS (SELECT 1 FROM {})", t.sql()).as_str(),
                    &[],
                )
                .ok()
                .map(|r| r.get::<_, bool>(0)),
        };
        Ok(crate::checkpoint::TableState {
            name: t.sql(),
            exists: oid.is_some(),
            id: oid.map(|o| o.to_string()),
            has_rows,
        })
    }

    /// Check the destination without changing it (for `rowflow check`).
    fn check(&self, opts: &SinkOptions) -> Result<TableStatus> {
        let url = self.url;
        let connect = PgConnect::parse(url)?;
        let mut client = connect.connect()?;
        let table = table::parse_name(&opts.table).map_err(|e| sink_err(&connect.display, e))?;
        table::check_name_lengths(&table, opts).map_err(|e| sink_err(&connect.display, e))?;
        compat::check(
            &mut PgCatalog {
                client: &mut client,
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

    /// PostgreSQL's index inserts gain little from large transactions while the sink
    /// holds their rows for a replay: measured (bench/servers.py workload, 1M rows, 2
    /// writers, alternating), 12,500 rows a transaction peaked at 89 MB against 135 MB
    /// with 50,000, as fast (3.0–3.7 s against 3.9 s).
    fn default_commit_rows(&self, _keyed: bool) -> usize {
        12_500
    }

    /// Two writers: on 2 cores one encodes and sends while the other's server backend
    /// inserts (bench/servers.py: the standard workload 1.44x as fast as with one).
    /// Not with `upsert`, which needs one.
    fn default_writers(&self, mode: WriteMode) -> usize {
        if mode == WriteMode::Upsert { 1 } else { 2 }
    }

    fn lock(
        &self,
        name: &str,
        what: &str,
        wait: bool,
        waiting: &mut dyn FnMut(&str),
        stop: &AtomicBool,
    ) -> Result<(LockHandle, LockCheck)> {
        let (client, pid) = lock::lock(self.url, name, what, wait, waiting, stop)?;
        let name = name.to_string();
        Ok((Box::new(client), LockCheck::Postgres { name, pid }))
    }
}

/// Connect, check the table against the rows (nothing is written when it does not fit),
/// and plan its preparation. `writer` > 0: another writer prepares the table; this one
/// waits for nothing and expects it to exist once it gets rows (after writer 0's first
/// commit when writer 0 prepares it).
pub fn open(
    url: &str,
    opts: &SinkOptions,
    checkpoint: crate::checkpoint::Identity,
    writer: u32,
) -> Result<PgSink> {
    let connect = PgConnect::parse(url)?;
    let mut client = connect.connect()?;
    let display = connect.display.clone();
    let table = table::parse_name(&opts.table).map_err(|e| sink_err(&display, e))?;
    table::check_name_lengths(&table, opts).map_err(|e| sink_err(&display, e))?;
    let mut cat = PgCatalog {
        client: &mut client,
        connect: &connect,
        table: &table,
    };
    let existing = cat.columns()?;
    let mut first_ddl = Vec::new();
    let mut creates = false;
    let mut notes = Vec::new();
    let columns: Vec<PgColumn> = match (existing, opts.mode) {
        (Some(_), WriteMode::Create) if writer == 0 => return Err(compat::already_exists(&cat)),
        (Some(_), WriteMode::Replace) if writer == 0 => {
            if let Some(why) = cat.replace_blockers()? {
                return Err(sink_err(&display, why));
            }
            first_ddl.push(format!("DROP TABLE {}", table.sql()));
            first_ddl.push(table::create_sql(&table, opts));
            table::created_columns(opts)
        }
        (None, _) if writer == 0 => {
            creates = true;
            first_ddl.push(table::create_sql(&table, opts));
            table::created_columns(opts)
        }
        // Another writer's table: writer 0 has created it (or will replace it).
        (None, _) | (Some(_), WriteMode::Create | WriteMode::Replace) => {
            table::created_columns(opts)
        }
        (Some(mut cols), _) => {
            compat::ensure_fits(&mut cat, opts, &cols)?;
            let missing = compat::missing_columns::<PgCatalog>(opts, &cols);
            if let Some(add) = compat::add_columns(
                &table.sql(),
                &missing,
                quote_ident,
                table::created_type,
                true,
            ) {
                // In a transaction of its own, committed before any row (the other
                // writers open after this one and see the columns).
                let sql = format!("BEGIN; {}; COMMIT", add.sql.join("; "));
                if let Err(e) = cat.client.batch_execute(&sql) {
                    let _ = cat.client.batch_execute("ROLLBACK");
                    return Err(connect.error(&e, "adding columns to the table (sink.alter)"));
                }
                notes.push(add.note);
                // As they are now (another run may have added one first, of its type).
                cols = cat.columns()?.unwrap_or(cols);
                compat::ensure_fits(&mut cat, opts, &cols)?;
            }
            if opts.truncate && writer == 0 {
                first_ddl.push(format!("TRUNCATE {}", table.sql()));
            }
            cols
        }
    };
    if writer == 0 {
        ensure_checkpoint_table(&mut client, &connect, &table)?;
    }
    let (encode, sort_by_key) = encode_plan(opts, &columns);
    let col_list = column_list(opts, quote_ident);
    let format = if encode.binary { "binary" } else { "text" };
    let upsert = opts.mode == WriteMode::Upsert;
    let into = if upsert {
        quote_ident(STAGE)
    } else {
        table.sql()
    };
    let copy_sql = format!(
        "COPY {into} ({}) FROM STDIN (FORMAT {format})",
        col_list.join(", ")
    );
    let copy_rel = if upsert {
        STAGE.to_string()
    } else {
        table.name.clone()
    };
    let merge_sql = upsert.then(|| merge_sql(&table, opts, &col_list));
    // With several writers too, the table is prepared in writer 0's first transaction:
    // the runtime gives the others rows only once it has committed (`prepares_first`).
    Ok(ServerSink::new(PgDriver {
        connect,
        client,
        table,
        opts: opts.clone(),
        encode: Arc::new(encode),
        sort_by_key,
        copy_sql,
        copy_rel,
        copy_stmt: None,
        merge_sql,
        first_ddl,
        first_done: false,
        creates,
        stage_ready: false,
        prepares: writer == 0,
        checkpoint,
        writer,
        notes,
    }))
}

// The checkpoint table, in its own statement: it is shared by every run. Made
// only when missing: a user who may write the table but not create tables in
// its schema can load once the table is there (see the error's hint).
fn ensure_checkpoint_table(
    client: &mut Client,
    connect: &PgConnect,
    table: &QualifiedName,
) -> Result<()> {
    let ck = table.sibling(crate::checkpoint::TABLE).sql();
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&ck])
        .map_err(|e| connect.error(&e, "looking for the checkpoint table"))?
        .get::<_, bool>(0);
    if !exists {
        let sql = table::checkpoint_table_sql(table);
        client.batch_execute(&sql).map_err(|e| {
            let hint = if e.code().map(|c| c.code()) == Some("42501") {
                format!(
                    " (rowflow keeps its checkpoints in {ck}, in the table's schema; \
                     create it once as a user who may, with: {sql}; then GRANT SELECT, \
                     INSERT, UPDATE, DELETE ON {ck} to this user)"
                )
            } else {
                String::new()
            };
            connect.error(&e, &format!("creating the checkpoint table{hint}"))
        })?;
    }
    Ok(())
}

/// How rows are encoded for the table's columns (binary COPY unless a column has a
/// type only the text format reaches), and whether rows can be sorted by key.
fn encode_plan(opts: &SinkOptions, columns: &[PgColumn]) -> (PgEncode, bool) {
    let targets: Vec<EncodeColumn> = opts
        .schema
        .columns
        .iter()
        .map(|c| EncodeColumn {
            name: c.name.clone(),
            target: columns
                .iter()
                .find(|t| t.name == c.name)
                .map_or(PgType::Text, |t| t.ty),
        })
        .collect();
    let binary = targets.iter().all(|c| c.target != PgType::Other);
    let sort_by_key = opts.key.iter().all(|k| {
        let source = opts.schema.columns.iter().find(|c| &c.name == k);
        let target = columns.iter().find(|c| &c.name == k);
        matches!((source, target), (Some(s), Some(t)) if exact_key(s.data_type, t))
    });
    let key_idx = opts
        .key
        .iter()
        .filter_map(|k| opts.schema.index_of(k))
        .collect();
    (
        PgEncode {
            columns: targets,
            binary,
            key_idx,
        },
        sort_by_key,
    )
}

impl PgDriver {
    fn err(&self, e: &postgres::Error, doing: &str) -> Error {
        self.connect.error(e, doing)
    }

    /// The checkpoint table, beside the table.
    fn checkpoint_table(&self) -> String {
        self.table.sibling(crate::checkpoint::TABLE).sql()
    }

    /// Send the live rows of `chunks` in one `COPY` (per savepoint), isolating the rows
    /// the server refuses, and account for them in `out`.
    fn send(&mut self, held: &mut Held, chunks: &[usize], out: &mut Written) -> Result<()> {
        let mut all: Vec<(usize, usize)> = chunks
            .iter()
            .flat_map(|&c| (0..held.chunks[c].tuples.len()).map(move |i| (c, i)))
            .collect();
        let nkeys = self.encode.key_idx.len();
        if nkeys > 0 && self.sort_by_key {
            // Rows in key order make the server's index inserts much cheaper
            // (neighbouring keys land on the same B-tree pages: measured about a quarter
            // less server CPU on the standard workload). Each chunk keeps its rows' key
            // values (in key order); the sort is stable, so among equal keys the input order
            // stays (the first is inserted, or with upsert the last wins).
            let order = held_key_order(&held.chunks, &all, nkeys);
            all = order.into_iter().map(|j| all[j]).collect();
        }
        let mut refused: Vec<((usize, usize), String)> = Vec::new();
        // Work list of row sets still to send, each in its own savepoint.
        let mut todo: Vec<Vec<(usize, usize)>> = vec![all];
        while let Some(idx) = todo.pop() {
            if idx.is_empty() {
                continue;
            }
            match self.attempt(held, &idx)? {
                Ok(()) => {}
                Err((line, reason)) => match line {
                    // The server named the row: reject it, send the others again.
                    Some(l) if l >= 1 && l <= idx.len() => {
                        refused.push((idx[l - 1], reason));
                        // The rest again, in smaller statements: where one row was
                        // refused others may be, and each refusal costs a resend.
                        for piece in idx[l..].chunks(RETRY_ROWS).rev() {
                            todo.push(piece.to_vec());
                        }
                        todo.push(idx[..l - 1].to_vec());
                    }
                    _ if idx.len() == 1 => refused.push((idx[0], reason)),
                    // No line (an upsert's merge): first into statements of RETRY_ROWS,
                    // so that many refusals do not each bisect the whole statement.
                    _ if idx.len() > RETRY_ROWS => {
                        for piece in idx.chunks(RETRY_ROWS).rev() {
                            todo.push(piece.to_vec());
                        }
                    }
                    _ => {
                        let (a, b) = idx.split_at(idx.len() / 2);
                        todo.push(b.to_vec());
                        todo.push(a.to_vec());
                    }
                },
            }
        }
        refused.sort_by_key(|(at, _)| *at);
        let mut refused = refused.into_iter().peekable();
        for &c in chunks {
            let mut mine = Vec::new();
            while let Some(((_, i), reason)) = refused.next_if(|((rc, _), _)| *rc == c) {
                mine.push((i, reason));
            }
            let written = (held.chunks[c].tuples.len() - mine.len()) as u64;
            held.sent(c, written, mine, out);
        }
        Ok(())
    }

    /// Send the chunks taken in since the last `COPY`.
    fn send_unsent(&mut self, tx: &mut Tx<Self>, out: &mut Written) -> Result<()> {
        let chunks = unsent(&tx.held);
        if chunks.is_empty() {
            return Ok(());
        }
        tx.begin(self)?;
        self.send(&mut tx.held, &chunks, out)
    }

    /// One savepoint-protected attempt at the rows `idx` ((chunk, row) pairs). The outer error
    /// is fatal or a lost connection; the inner one is the server refusing a row, with
    /// the 1-based position of that row among `idx` when the server says it.
    #[allow(clippy::type_complexity)]
    fn attempt(
        &mut self,
        held: &Held,
        idx: &[(usize, usize)],
    ) -> Result<std::result::Result<(), (Option<usize>, String)>> {
        self.client
            .batch_execute("SAVEPOINT rowflow")
            .map_err(|e| self.err(&e, "SAVEPOINT"))?;
        let copied = self.copy(held, idx);
        let result = match copied {
            Ok(()) => match self.merge_sql.clone() {
                Some(sql) => self.merge(&sql),
                None => Ok(()),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.client
                    .batch_execute("RELEASE SAVEPOINT rowflow")
                    .map_err(|e| self.err(&e, "RELEASE SAVEPOINT"))?;
                Ok(Ok(()))
            }
            // A lost connection (replayed), or an error about the load rather than
            // its rows (fatal): either way nothing of the transaction is kept.
            Err(e) if !conn::is_row_error(&e) => Err(self.err(&e, "writing rows")),
            Err(e) => {
                self.client
                    .batch_execute("ROLLBACK TO SAVEPOINT rowflow; RELEASE SAVEPOINT rowflow")
                    .map_err(|e| self.err(&e, "ROLLBACK TO SAVEPOINT"))?;
                Ok(Err(refusal(&e, &self.copy_rel, &self.connect)))
            }
        }
    }

    /// `COPY` the rows `idx` ((chunk, row) pairs), streamed in pieces of about 64 KiB.
    fn copy(
        &mut self,
        held: &Held,
        idx: &[(usize, usize)],
    ) -> std::result::Result<(), postgres::Error> {
        use std::io::Write;
        const PIECE: usize = 64 * 1024;
        let binary = self.encode.binary;
        let stmt = match &self.copy_stmt {
            Some(s) => s.clone(),
            None => {
                let s = self.client.prepare(&self.copy_sql)?;
                self.copy_stmt = Some(s.clone());
                s
            }
        };
        let mut w = self.client.copy_in(&stmt)?;
        let mut piece = Vec::with_capacity(PIECE + 4096);
        if binary {
            piece.extend_from_slice(BINARY_HEADER);
        }
        // The writer only buffers; an I/O error is the connection's, reported by
        // `finish`.
        for &(c, i) in idx {
            piece.extend_from_slice(held.chunks[c].tuples.get(i));
            if piece.len() >= PIECE {
                let _ = w.write_all(&piece);
                piece.clear();
            }
        }
        if binary {
            piece.extend_from_slice(BINARY_TRAILER);
        }
        let _ = w.write_all(&piece);
        w.finish().map(|_| ())
    }

    /// Upsert: move the staging table's rows into the table (the last occurrence of a
    /// key winning) and empty the staging table.
    fn merge(&mut self, sql: &str) -> std::result::Result<(), postgres::Error> {
        self.client.batch_execute(sql)?;
        self.client
            .batch_execute(&format!("TRUNCATE {}", quote_ident(STAGE)))
    }
}

/// The chunks of `held` not sent yet (they go in one `COPY` once there are enough).
fn unsent(held: &Held) -> Vec<usize> {
    (0..held.chunks.len())
        .filter(|&c| !held.chunks[c].reported)
        .collect()
}

impl Driver for PgDriver {
    type Session = Session;
    const BEGIN: &'static str = "BEGIN";

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

    fn prepares_first(&self) -> bool {
        self.prepares && !self.first_done && !self.first_ddl.is_empty()
    }

    /// Deferred constraints (`DEFERRABLE INITIALLY DEFERRED`) are checked now: a
    /// deferred unique check waits for another writer's transaction holding the same
    /// key, which could otherwise wait for this writer's turn at committing. Nothing
    /// is written in this transaction after it.
    fn settle(&mut self) -> Result<()> {
        self.client
            .batch_execute("SET CONSTRAINTS ALL IMMEDIATE")
            .map_err(|e| self.err(&e, "checking the deferred constraints"))
    }

    fn key_idx(&self) -> &[usize] {
        &self.encode.key_idx
    }

    fn encode_row(&self, row: &mut Row) -> std::result::Result<Vec<u8>, String> {
        self.encode.encode(&row.values)
    }

    fn execute(&mut self, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .map_err(|e| self.err(&e, sql))
    }

    /// The load's shared transaction lock, the first transaction's table preparation,
    /// and the staging table for upsert.
    fn prologue(&mut self) -> Result<()> {
        // Held until COMMIT or ROLLBACK: a later run reading the checkpoint waits for
        // this transaction to end (see `Identity::lock_name`).
        let lock = self.checkpoint.lock_name();
        self.client
            .execute(
                "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))",
                &[&lock],
            )
            .map_err(|e| self.err(&e, "BEGIN"))?;
        if !self.first_done && self.prepares && self.creates {
            // Two runs creating the same new table at once would meet in the catalog
            // (a raw unique violation of pg_type): the second waits for the first's
            // transaction here, then finds the table there and says so.
            self.client
                .execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                    &[&format!("rowflow-create\u{1f}{}", self.table.sql())],
                )
                .map_err(|e| self.err(&e, "preparing the table"))?;
            let exists: bool = self
                .client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.table.sql()])
                .map_err(|e| self.err(&e, "preparing the table"))?
                .get(0);
            if exists {
                return Err(compat::created_meanwhile(
                    &self.connect.display,
                    &self.table.sql(),
                ));
            }
        }
        if !self.first_done && self.prepares {
            for ddl in self.first_ddl.clone() {
                self.client
                    .batch_execute(&ddl)
                    .map_err(|e| self.err(&e, "preparing the table"))?;
            }
        }
        if self.merge_sql.is_some() && !self.stage_ready {
            let cols = column_list(&self.opts, quote_ident);
            let sql = format!(
                "CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {cols} FROM {t} WITH NO DATA; \
                 ALTER TABLE {stage} ADD COLUMN IF NOT EXISTS {ord} bigserial; TRUNCATE {stage}",
                stage = quote_ident(STAGE),
                cols = cols.join(", "),
                t = self.table.sql(),
                ord = quote_ident(ORD),
            );
            self.client
                .batch_execute(&sql)
                .map_err(|e| self.err(&e, "creating the staging table"))?;
            self.stage_ready = true;
        }
        Ok(())
    }

    fn reconnect(&mut self) -> Result<()> {
        self.client = self.connect.connect()?;
        self.copy_stmt = None;
        self.stage_ready = false;
        Ok(())
    }

    fn session(&mut self) -> Option<Session> {
        session_of(&mut self.client)
    }

    fn session_gone(&mut self, old: &Session) -> Result<bool> {
        session_gone(&mut self.client, old)
            .map_err(|e| self.err(&e, "waiting for the lost session to end"))
    }

    fn end_session(&mut self, old: &Session) {
        end_session(&mut self.client, old);
    }

    fn session_name(old: &Session) -> String {
        format!("backend {}", old.pid)
    }

    fn hold_lock(&mut self, check: &mut LockCheck) -> Result<Hold> {
        let LockCheck::Postgres { name, pid } = check else {
            return Ok(Hold::Held);
        };
        let doing = "checking the lock of this load";
        let held: bool = self
            .client
            .query_one(lock::HELD_SQL, &[&*name, &*pid])
            .map_err(|e| self.err(&e, doing))?
            .get(0);
        if held {
            return Ok(Hold::Held);
        }
        let row = self
            .client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0)), pg_backend_pid()",
                &[&*name],
            )
            .map_err(|e| self.err(&e, doing))?;
        if !row.get::<_, bool>(0) {
            return Ok(Hold::Lost);
        }
        *pid = row.get(1);
        Ok(Hold::TakenOver)
    }

    fn checkpoint_runs(&mut self) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT run_id FROM {} WHERE pipeline = $1 AND target_table = $2 AND input_id = $3",
            self.checkpoint_table()
        );
        let id = &self.checkpoint;
        let rows = self
            .client
            .query(sql.as_str(), &[&id.pipeline, &id.table, &id.input_id])
            .map_err(|e| self.err(&e, "checking the lock of this load"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn clear_older(&mut self, record: &CommitRecord) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE pipeline = $1 AND target_table = $2 AND input_id = $3 AND run_id <> $4",
            self.checkpoint_table()
        );
        let id = &record.identity;
        self.client
            .execute(
                sql.as_str(),
                &[&id.pipeline, &id.table, &id.input_id, &record.run_id],
            )
            .map_err(|e| self.err(&e, "clearing the old checkpoint"))?;
        Ok(())
    }

    fn check_fence(&mut self, f: &crate::sink::chunks::ChunkFence) -> Result<Option<String>> {
        fence::check(&mut self.client, &self.table, f)
            .map_err(|e| self.err(&e, "checking who owns the chunk"))
    }

    fn write_rejects(
        &mut self,
        f: &crate::sink::chunks::ChunkFence,
        clear: bool,
        rows: &[crate::sink::chunks::RejectRow],
    ) -> Result<()> {
        fence::write_rejects(&mut self.client, &self.table, f, clear, rows)
            .map_err(|e| self.err(&e, "writing the rejected rows"))
    }

    fn write_checkpoint(&mut self, record: &CommitRecord) -> Result<()> {
        // The table's oid goes into the record: a later run can tell this table from
        // one created again since (which holds none of these rows).
        let oid: Option<u32> = self
            .client
            .query_one("SELECT to_regclass($1)::oid", &[&self.table.sql()])
            .map_err(|e| self.err(&e, "reading the table's oid"))?
            .get(0);
        let mut state = record.state.clone();
        state.table_id = oid.map(|o| o.to_string());
        let sql = table::checkpoint_upsert_sql(&self.table);
        let id = &record.identity;
        self.client
            .execute(
                sql.as_str(),
                &[
                    &id.pipeline,
                    &id.table,
                    &id.input_id,
                    &(record.writer as i32),
                    &id.input,
                    &record.run_id,
                    &(record.txn as i64),
                    &serde_json::to_string(&state).unwrap_or_default(),
                ],
            )
            .map_err(|e| self.err(&e, "writing the checkpoint"))?;
        Ok(())
    }

    fn own_checkpoint(&mut self) -> Result<Option<(String, i64)>> {
        let sql = format!(
            "SELECT run_id, txn FROM {} WHERE pipeline = $1 AND target_table = $2 AND input_id = $3 AND writer = $4",
            self.checkpoint_table()
        );
        let id = &self.checkpoint;
        let row = self
            .client
            .query_opt(
                sql.as_str(),
                &[&id.pipeline, &id.table, &id.input_id, &(self.writer as i32)],
            )
            .map_err(|e| self.err(&e, "reading the checkpoint"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    fn committed(&mut self) -> Result<()> {
        self.first_done = true;
        Ok(())
    }

    fn discard(&mut self) {
        self.stage_ready = false;
    }

    fn take(&mut self, tx: &mut Tx<Self>, _c: usize, out: &mut Written) -> Result<()> {
        let unsent_rows: usize = unsent(&tx.held)
            .iter()
            .map(|&c| tx.held.chunks[c].rows.len())
            .sum();
        if unsent_rows >= COPY_ROWS {
            self.send_unsent(tx, out)
        } else {
            Ok(())
        }
    }

    fn flush(&mut self, tx: &mut Tx<Self>, out: &mut Written) -> Result<()> {
        self.send_unsent(tx, out)
    }

    fn replay(&mut self, tx: &mut Tx<Self>, out: &mut Written) -> Result<()> {
        // Every chunk again (those not sent yet too), in `COPY`s of about COPY_ROWS.
        let mut group = Vec::new();
        let mut rows = 0;
        let n = tx.held.chunks.len();
        for c in 0..n {
            group.push(c);
            rows += tx.held.chunks[c].tuples.len();
            if rows >= COPY_ROWS || c + 1 == n {
                self.send(&mut tx.held, &group, out)?;
                group.clear();
                rows = 0;
            }
        }
        Ok(())
    }
}

/// `INSERT INTO t (...) SELECT DISTINCT ON (key) ... FROM staging ORDER BY key, ord DESC
/// ON CONFLICT (key) DO UPDATE SET ...`
fn merge_sql(table: &QualifiedName, opts: &SinkOptions, cols: &[String]) -> String {
    let keys: Vec<String> = opts.key.iter().map(|k| quote_ident(k)).collect();
    format!(
        "INSERT INTO {t} ({cols}) SELECT DISTINCT ON ({keys}) {cols} FROM {stage} \
         ORDER BY {keys}, {ord} DESC {upsert}",
        t = table.sql(),
        cols = cols.join(", "),
        keys = keys.join(", "),
        stage = quote_ident(STAGE),
        ord = quote_ident(ORD),
        upsert = on_conflict(opts, "EXCLUDED"),
    )
}

/// The server's refusal of a row: the row's line in the `COPY` stream when the error
/// context gives it, and the reason (message, detail, column). `rel` is the relation the
/// `COPY` writes into.
fn refusal(e: &postgres::Error, rel: &str, connect: &PgConnect) -> (Option<usize>, String) {
    let Some(db) = e.as_db_error() else {
        return (None, connect.scrub(&conn::describe(e)));
    };
    let (line, context_column) = db.where_().map(|w| copy_line(w, rel)).unwrap_or_default();
    let column = db.column().map(str::to_string).or(context_column);
    let mut reason = conn::describe(e);
    if let Some(c) = column {
        reason = format!("column {c:?}: {reason}");
    }
    (line, connect.scrub(&reason))
}

/// The line and column in a `COPY` error's context: the context line "COPY name, line
/// 17, column c: ...". It is not always the first: a type's input function or a
/// trigger adds its own lines before it ("JSON data, line 1: ...", "PL/pgSQL function f()
/// line 3 at RAISE"). The relation's name is matched whole, so a name that holds ", line "
/// itself cannot be misread. None when no line is named: the rows are then bisected.
fn copy_line(context: &str, rel: &str) -> (Option<usize>, Option<String>) {
    let prefix = format!("COPY {rel}, line ");
    let Some(rest) = context.lines().find_map(|l| l.strip_prefix(&prefix)) else {
        return (None, None);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let column = rest[digits.len()..]
        .strip_prefix(", column ")
        .map(|c| c.split(':').next().unwrap_or(c).to_string());
    (digits.parse().ok(), column)
}

/// A server session: its process and when it started. The pair names one session for
/// good: after a server restart a process number may be used again, by someone else's
/// session, which must not be ended for ours.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    pid: i32,
    /// `backend_start` in microseconds since 1970 (a number: its text would depend on
    /// the session's TimeZone and DateStyle). None when it could not be read: the
    /// process number alone then names the session.
    started: Option<i64>,
}

/// The server session of a connection (to end it from another one).
fn session_of(client: &mut Client) -> Option<Session> {
    let row = client
        .query_one(
            "SELECT pg_backend_pid(), (SELECT (extract(epoch FROM backend_start) * 1000000)::int8 \
             FROM pg_stat_activity WHERE pid = pg_backend_pid())",
            &[],
        )
        .ok()?;
    Some(Session {
        pid: row.get(0),
        started: row.get(1),
    })
}

/// A process with the lost session's number that started at another time is someone
/// else's (after a server restart): the pair names the session.
const SAME_SESSION: &str = "FROM pg_stat_activity WHERE pid = $1 \
     AND ($2::int8 IS NULL OR (extract(epoch FROM backend_start) * 1000000)::int8 = $2)";

/// Whether the server session `old` is gone.
fn session_gone(client: &mut Client, old: &Session) -> std::result::Result<bool, postgres::Error> {
    Ok(client
        .query_opt(
            &format!("SELECT 1 {SAME_SESSION}"),
            &[&old.pid, &old.started],
        )?
        .is_none())
}

/// Ask the server to end the session `old` (a lost connection's), if it is still there.
fn end_session(client: &mut Client, old: &Session) {
    let _ = client.query(
        &format!("SELECT pg_terminate_backend(pid) {SAME_SESSION}"),
        &[&old.pid, &old.started],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local PostgreSQL (`ROWFLOW_TEST_PG`), or `None` with a loud message when it
    /// is not there and `CI` is not set.
    fn server() -> Option<Client> {
        let url = std::env::var("ROWFLOW_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        match Client::connect(&url, postgres::NoTls) {
            Ok(c) => Some(c),
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL unreachable under CI: {e}")
            }
            Err(e) => {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "*** SKIPPED: PostgreSQL unreachable: {e} ***"
                );
                None
            }
        }
    }

    /// A lost session is ended only when it is the same session: a process with its
    /// number that started at another time (after a restart) is someone else's.
    #[test]
    fn only_the_lost_session_itself_is_ended() {
        let Some(mut bystander) = server() else {
            return;
        };
        let mut us = server().unwrap();
        let real = session_of(&mut bystander).expect("a session");
        let other = Session {
            started: real.started.map(|t| t - 1_000_000),
            ..real.clone()
        };
        let wait = std::time::Duration::from_secs(10);
        let ends = |us: &mut Client, old: &Session| {
            crate::sink::server::wait_session_end(
                |c: &mut Client| Ok(session_gone(c, old).unwrap()),
                |c: &mut Client| end_session(c, old),
                us,
                wait,
            )
            .unwrap()
        };
        assert!(ends(&mut us, &other));
        assert!(
            bystander.simple_query("SELECT 1").is_ok(),
            "someone else's session was left alone"
        );
        assert!(ends(&mut us, &real));
        assert!(
            bystander.simple_query("SELECT 1").is_err(),
            "the lost session itself is ended"
        );
    }

    #[test]
    fn merge_statement_keeps_the_last_occurrence() {
        let opts = SinkOptions {
            table: "t".into(),
            schema: crate::schema::Schema::new([
                ("id".to_string(), crate::schema::DataType::Int),
                ("v".to_string(), crate::schema::DataType::Text),
            ]),
            mode: WriteMode::Upsert,
            key: vec!["id".into()],
            truncate: false,
            alter: false,
            resuming: false,
            sort_run_rows: None,
            lock: Default::default(),
            known_runs: Vec::new(),
            fence: None,
        };
        let t = table::parse_name("s.t").unwrap();
        let sql = merge_sql(&t, &opts, &["\"id\"".into(), "\"v\"".into()]);
        assert_eq!(
            sql,
            "INSERT INTO \"s\".\"t\" (\"id\", \"v\") SELECT DISTINCT ON (\"id\") \"id\", \"v\" FROM \"rowflow_stage\" \
             ORDER BY \"id\", \"_rowflow_ord\" DESC ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\""
        );
    }

    #[test]
    fn the_line_of_a_refusal_is_read_after_the_relation_name() {
        assert_eq!(
            copy_line("COPY t, line 17, column visits: \"x\"", "t"),
            (Some(17), Some("visits".to_string()))
        );
        assert_eq!(copy_line("COPY t, line 3", "t"), (Some(3), None));
        // A relation named with ", line " in it.
        assert_eq!(
            copy_line(
                "COPY a, line 9, line 4, column c: v\nSQL statement",
                "a, line 9"
            ),
            (Some(4), Some("c".to_string()))
        );
        assert_eq!(copy_line("SQL function f", "t"), (None, None));
        // An input function's or a trigger's context comes first.
        assert_eq!(
            copy_line(
                "JSON data, line 1: {bad\nCOPY t, line 5, column j: \"{bad\"",
                "t"
            ),
            (Some(5), Some("j".to_string()))
        );
        assert_eq!(
            copy_line(
                "PL/pgSQL function f() line 3 at RAISE\nCOPY t, line 12",
                "t"
            ),
            (Some(12), None)
        );
        assert_eq!(
            copy_line("PL/pgSQL function f() line 3 at RAISE", "t"),
            (None, None)
        );
    }
}
