//! Sinks: where rows go. A sink writes batches inside a transaction it keeps open until
//! the runtime calls `commit`; rows the database refuses are moved to `batch.rejected`
//! with the database's message, and the rest of the batch is still written.
//!
//! Sinks are blocking and run on a thread of their own.

mod dialect;
mod spill;
mod sqlite;
mod sqlite_stmt;
mod url;

pub use dialect::quote_ident;
pub use sqlite::{SqliteEncode, SqliteSink};
pub use url::{SinkTarget, redact_url};

use crate::config::WriteMode;
use crate::error::Result;
use crate::row::Batch;
use crate::schema::Schema;

/// What a sink is asked to do.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Table name (one identifier; quoted as written).
    pub table: String,
    /// The rows' schema.
    pub schema: Schema,
    /// Write mode.
    pub mode: WriteMode,
    /// Key columns (primary key of a created table; upsert conflict target).
    pub key: Vec<String>,
}

/// Rows written by a call, and rows the database refused (with its message).
#[derive(Debug, Default)]
pub struct Written {
    /// Rows written into the open transaction.
    pub rows: u64,
    /// Rows refused, with the reason.
    pub rejected: Vec<crate::row::Rejected>,
    /// Rows the sink is done with. Freeing rows costs real time (they hold many small
    /// allocations made on other threads); the runtime drops them off the sink thread.
    pub spent: Vec<Vec<crate::row::Row>>,
}

/// A destination for rows.
///
/// A sink may write rows at once or hold some back (e.g. to sort them by key); every
/// row taken by `write` is written or refused by the time `flush` returns. The runtime
/// calls `flush`, looks at what was refused (the error policy may roll back), then
/// `commit`.
pub trait Sink: Send {
    /// Take the rows of `batch` into the open transaction (opening one if needed).
    fn write(&mut self, batch: &mut Batch) -> Result<Written>;
    /// Write everything held back.
    fn flush(&mut self) -> Result<Written>;
    /// Commit the open transaction, if any (after `flush`).
    fn commit(&mut self) -> Result<()>;
    /// Roll back the open transaction, if any.
    fn rollback(&mut self) -> Result<()>;
}

/// What `check` learns about the destination without writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableStatus {
    /// The table does not exist and will be created.
    Missing,
    /// The table exists and is compatible.
    Compatible,
    /// The table exists and will be dropped and recreated (`replace`).
    WillReplace,
}

/// Open the sink for `target`, preparing the table (create, replace, compatibility
/// checks) before any row is written.
pub fn open_sink(target: &SinkTarget, opts: &SinkOptions) -> Result<Box<dyn Sink>> {
    match target {
        SinkTarget::Sqlite { path } => Ok(Box::new(SqliteSink::open(path, opts)?)),
    }
}

/// A transform that prepares values for the sink, run on the worker threads (the last
/// CPU stage) so the sink thread does as little as possible.
pub fn encoder(
    target: &SinkTarget,
    opts: &SinkOptions,
) -> Option<std::sync::Arc<dyn crate::transform::Transform>> {
    match target {
        SinkTarget::Sqlite { .. } => Some(std::sync::Arc::new(SqliteEncode::new(opts))),
    }
}

/// Check the destination without changing it.
pub fn check_sink(target: &SinkTarget, opts: &SinkOptions) -> Result<TableStatus> {
    match target {
        SinkTarget::Sqlite { path } => sqlite::check(path, opts),
    }
}
