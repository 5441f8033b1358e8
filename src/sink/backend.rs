//! One implementation per database of everything rowflow does at a destination besides
//! writing rows: checking the table, reading and clearing checkpoints, taking the run
//! lock, opening writers. `registry` chooses it.

use std::sync::atomic::AtomicBool;

use super::chunks::{ChunkFence, Claim, RejectRow};
use super::lock::check::{LockCheck, LockHandle};
use super::seam::{Sink, SinkOptions, TableStatus};
use crate::checkpoint::{Identity, Listed, Stored, TableState};
use crate::error::{Error, Result};

/// The refusal of a distributed load into a database that is one local file.
fn not_distributed() -> Error {
    Error::Config(
        "a distributed load writes to PostgreSQL or MySQL/MariaDB: an SQLite database is one \
         local file that workers on other machines cannot share (load 1/N of the chunks into \
         separate SQLite files with `rowflow run --shard I/N` instead)"
            .into(),
    )
}

/// A database, as rowflow uses it at a destination.
pub(crate) trait Backend {
    /// Open writer `writer`; writer 0 prepares the table.
    fn open(&self, opts: &SinkOptions, checkpoint: &Identity, writer: u32)
    -> Result<Box<dyn Sink>>;
    /// Check the destination without changing it.
    fn check(&self, opts: &SinkOptions) -> Result<TableStatus>;
    /// The checkpoint rows of `id` (none when there are none yet).
    fn read_checkpoints(&self, table: &str, id: &Identity) -> Result<Vec<Stored>>;
    /// The checkpoint rows (beside `table`, and of loads into it, when given).
    fn list_checkpoints(&self, table: Option<&str>) -> Result<Vec<Listed>>;
    /// Delete the checkpoint rows of `id`.
    fn clear_checkpoints(&self, table: &str, id: &Identity) -> Result<()>;
    /// Why `table` could not be replaced, if it could not.
    fn replace_blockers(&self, _table: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// The destination table as it is now.
    fn table_state(&self, table: &str) -> Result<TableState>;
    /// Whether the database takes one writer at a time (SQLite).
    fn single_writer(&self) -> bool {
        false
    }
    /// Rows per transaction when the pipeline does not say.
    fn default_commit_rows(&self, keyed: bool) -> usize;
    /// Whether each transaction, when the pipeline does not set `commit_rows`, grows to
    /// as many rows as the run has written before it: true where a transaction's cost
    /// grows with the rows already in the table (SQLite's keyed tables, whose keys in
    /// random order touch every page of the table in every transaction).
    fn grows_commits(&self, _keyed: bool) -> bool {
        false
    }
    /// Parallel writers when the pipeline does not say: one unless several measured
    /// faster for `mode` and keep every guarantee of one.
    fn default_writers(&self, _mode: crate::config::WriteMode) -> usize {
        1
    }
    /// Create the tables of a distributed load beside `table`.
    fn prepare_chunks(&self, _table: &str) -> Result<()> {
        Err(not_distributed())
    }
    /// Claim a chunk of a distributed load (see [`super::chunks`]).
    fn claim_chunk(&self, _table: &str, _fence: &ChunkFence) -> Result<Claim> {
        Err(not_distributed())
    }
    /// The rejected rows of distributed load `load`.
    fn read_rejects(&self, _table: &str, _load: &str) -> Result<Vec<RejectRow>> {
        Err(not_distributed())
    }
    /// Take the run lock `name` for the load described as `what`.
    fn lock(
        &self,
        name: &str,
        what: &str,
        wait: bool,
        waiting: &mut dyn FnMut(&str),
        stop: &AtomicBool,
    ) -> Result<(LockHandle, LockCheck)>;
}
