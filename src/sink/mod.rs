//! Sinks: where rows go. A sink writes batches inside a transaction it keeps open until
//! the runtime calls `commit`; rows the database refuses are moved to `batch.rejected`
//! with the database's message, and the rest of the batch is still written.
//!
//! Sinks are blocking and run on a thread of their own.
//!
//! Layout, from the bottom up: `seam` (the types every backend shares), `lock/check`,
//! `dialect` and `compat` (SQL text and the table check written once), `server` (the
//! transaction protocol of the server sinks), `backend` (the trait), the backends
//! (`sqlite/`, `postgres/`, `mysql/`), `registry` (the one match on a target's kind),
//! and this file: the functions the rest of the crate calls.

mod backend;
pub(crate) mod chunks;
mod compat;
mod dialect;
pub mod lock;
mod mysql;
mod postgres;
mod registry;
mod seam;
mod server;
mod spill;
mod sqlite;
pub(crate) mod url;

pub use dialect::quote_ident;
pub use lock::LoadLock;
pub(crate) use seam::sink_err;
pub use seam::{Encode, Sink, SinkOptions, TableStatus, Written};
pub use sqlite::lock::sqlite_lock_path;
pub use url::SinkTarget;

use crate::error::Result;

/// Open writer `writer` for `target`. Writer 0 prepares the table (create, replace,
/// truncate, compatibility checks) before any row is written, at open or in its first
/// transaction ([`Sink::prepares_first`]); open it first.
pub fn open_sink(
    target: &SinkTarget,
    opts: &SinkOptions,
    checkpoint: &crate::checkpoint::Identity,
    writer: u32,
) -> Result<Box<dyn Sink>> {
    target.backend().open(opts, checkpoint, writer)
}

/// The checkpoint rows of `identity` at `target` (none when there are none yet).
pub fn read_checkpoints(
    target: &SinkTarget,
    table: &str,
    identity: &crate::checkpoint::Identity,
) -> Result<Vec<crate::checkpoint::Stored>> {
    target.backend().read_checkpoints(table, identity)
}

/// The checkpoint rows at `target` (beside `table`, and of loads into it, when given).
pub fn list_checkpoints(
    target: &SinkTarget,
    table: Option<&str>,
) -> Result<Vec<crate::checkpoint::Listed>> {
    target.backend().list_checkpoints(table)
}

/// Why `mode = "replace"` could not replace `table` (objects that depend on it:
/// PostgreSQL views and foreign keys, MySQL foreign keys), if it could not; checked
/// before any row is read.
pub fn replace_blockers(target: &SinkTarget, table: &str) -> Result<Option<String>> {
    target.backend().replace_blockers(table)
}

/// The destination table as it is now: whether it exists, its identity where the
/// database has one, whether it holds rows.
pub fn table_state(target: &SinkTarget, table: &str) -> Result<crate::checkpoint::TableState> {
    target.backend().table_state(table)
}

/// Delete the checkpoint rows of `identity` at `target` (a run that starts over), in a
/// transaction of its own.
pub fn clear_checkpoints(
    target: &SinkTarget,
    table: &str,
    identity: &crate::checkpoint::Identity,
) -> Result<()> {
    target.backend().clear_checkpoints(table, identity)
}

/// Create the tables a distributed load keeps beside `table` (chunk owners, rejects).
pub(crate) fn prepare_chunks(target: &SinkTarget, table: &str) -> Result<()> {
    target.backend().prepare_chunks(table)
}

/// Claim a chunk of a distributed load for this worker (see [`chunks`]).
pub(crate) fn claim_chunk(
    target: &SinkTarget,
    table: &str,
    fence: &chunks::ChunkFence,
) -> Result<chunks::Claim> {
    target.backend().claim_chunk(table, fence)
}

/// The rejected rows of distributed load `load`, in chunk and line order.
pub(crate) fn read_rejects(
    target: &SinkTarget,
    table: &str,
    load: &str,
) -> Result<Vec<chunks::RejectRow>> {
    target.backend().read_rejects(table, load)
}

/// Check the destination without changing it.
pub fn check_sink(target: &SinkTarget, opts: &SinkOptions) -> Result<TableStatus> {
    target.backend().check(opts)
}

/// Rows per transaction when the pipeline does not say. SQLite, and MySQL into a keyed
/// table, write each transaction's rows in key order through sorted runs spilled to
/// temporary files (memory for one run), so a large transaction costs little memory and
/// fills the table's B-tree in order (measured on MariaDB 10.11, 1,000,000 workload rows,
/// 2 writers: 4.0 s in one transaction against 8.2 s in transactions of 50,000).
/// PostgreSQL's index inserts gain little from it while the sink would hold the rows for
/// a replay: 12,500 (MySQL without a key: 50,000).
pub fn default_commit_rows(target: &SinkTarget, keyed: bool) -> usize {
    target.backend().default_commit_rows(keyed)
}

/// Whether transactions grow with the rows written when the pipeline does not set
/// `commit_rows` (see [`backend::Backend::grows_commits`]).
pub fn grows_commits(target: &SinkTarget, keyed: bool) -> bool {
    target.backend().grows_commits(keyed)
}

/// Parallel writers when the pipeline does not say: 2 for PostgreSQL (1 with `upsert`),
/// 1 for MySQL (2 measured 0.88 times the time there but with 238 MB against 140 MB,
/// past its memory bound) and SQLite.
pub fn default_writers(target: &SinkTarget, mode: crate::config::WriteMode) -> usize {
    target.backend().default_writers(mode)
}
