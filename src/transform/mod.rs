//! Transforms: synchronous, per-batch stages (decode, computed columns, filter,
//! projection). They never spawn, block on I/O or sleep; the runtime runs them on worker
//! threads, several batches at once. Row failures go to `batch.rejected` with a reason
//! that names the stage and the column.
//!
//! The `http` stage is asynchronous: it plans into work that the runtime runs as an
//! async stage, with its concurrency bound.

mod async_fn;
mod compute;
mod decode;
mod filter;
mod fit;
pub mod http;
mod project;

pub use async_fn::{AsyncFn, AsyncStage, AsyncWork, Outcome as AsyncOutcome};
pub use compute::{Compute, ComputedColumn, Target};
pub use decode::{Decode, DecodeOptions};
pub use filter::Filter;
pub use fit::Fit;
pub use http::HttpStats;
pub use project::{Project, ProjectColumn};

use crate::row::Batch;

/// A synchronous stage applied to whole batches.
pub trait Transform: Send + Sync {
    /// Short description for plans and error messages, e.g. `compute(full_name, tier)`.
    fn describe(&self) -> String;
    /// Process one batch in place: rewrite rows, drop filtered rows (counting them in
    /// `batch.filtered`) and move failing rows to `batch.rejected`.
    fn apply(&self, batch: &mut Batch);
}
