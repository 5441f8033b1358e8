//! The seam between the runtime and the stages that call out (the `http` stage, the
//! library's user functions): what such a stage is, what it calls, and what happens to
//! each row. The runtime runs them with their concurrency bound; they never spawn.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::row::Row;

/// A per-row function: a row in, the row back with what to do with it.
pub type AsyncFn = Arc<dyn Fn(Row) -> BoxFuture<'static, (Row, Outcome)> + Send + Sync>;

/// A per-group function: several rows in (one request in batch mode), each back with
/// what to do with it, in the same order.
pub type GroupFn = Arc<dyn Fn(Vec<Row>) -> BoxFuture<'static, Vec<(Row, Outcome)>> + Send + Sync>;

/// What an async stage calls.
#[derive(Clone)]
pub enum AsyncWork {
    /// One call per row.
    Each(AsyncFn),
    /// One call per group of at most this many rows.
    Group(usize, GroupFn),
}

/// What happened to one row. The row comes back with the outcome so that a rejected
/// row keeps its original fields and position.
pub enum Outcome {
    /// Keep the (possibly changed) row.
    Keep,
    /// Drop it (filtered).
    Drop,
    /// Reject it with a reason.
    Reject(String),
    /// The stage cannot go on (e.g. the API it calls is down): the run stops with this
    /// message, and the row is left unprocessed for a resumed run.
    Stop(String),
}

/// Configuration of an async stage.
#[derive(Clone)]
pub struct AsyncStage {
    /// Name, used in reject reasons.
    pub name: String,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Keep input order.
    pub ordered: bool,
    /// The function.
    pub work: AsyncWork,
    /// An `http` stage: the columns it appends (a preview without HTTP calls fills
    /// them with NULL instead). None for a user function.
    pub http_columns: Option<usize>,
}
