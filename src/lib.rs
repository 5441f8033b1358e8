//! # rowflow
//!
//! Stream CSV files of any size, process every row concurrently (SQL expressions,
//! filters, your own async functions), and save the result into a database in batched
//! transactions, with every input row accounted for: written, filtered out, or in the
//! reject file with its line number and reason.
//!
//! ## Map of the crate
//!
//! Public, for library users (everything else is private and may change):
//!
//! | module | what it holds |
//! |---|---|
//! | [`pipeline`] | the entry point: [`Pipeline`] (from specs or a TOML file), [`Record`], [`AsyncOptions`] |
//! | [`config`] | the pipeline spec: serde types a TOML file parses into ([`PipelineSpec`], [`SourceSpec`], [`SinkSpec`], ...) |
//! | [`report`] | what a run says while it runs ([`Observer`], [`Snapshot`]) and at its end ([`Report`]) |
//! | [`loads`] | the loads a database holds: checkpoints listed, summarized and cleared under the load's lock; what a run would do |
//! | [`check`](mod@check) | a pipeline checked without writing: its plan, destination, what a run would do and what would become of the table |
//! | [`expr`] | SQL expressions compiled once into a typed evaluator ([`expr::CompiledExpr`]) |
//! | [`error`] | [`Error`] (variants to match, [`ErrorKind`] to branch on) |
//! | [`value`], [`row`], [`schema`] | values and their types, rows and their positions, schemas and type inference |
//! | [`generate`] | the deterministic generator of the standard `users` workload |
//! | [`format`](mod@format), [`redact`] | number formatting and "did you mean"; secrets kept out of every message |
//!
//! Private, in the order a run goes through them:
//!
//! | module | what it holds |
//! |---|---|
//! | `plan` | spec → validated [`Plan`], no I/O beyond reading the inputs: `plan/source` (dialect, header, types; also [`SourcePlan`] for `rowflow schema`), `plan/stages` (each stage against the schema before it), `plan/sink` (destination, table options, runtime settings) |
//! | `start` | applies a load's decision to the plan: its lock, its checkpoint, which inputs to read, opening the writers |
//! | `checkpoint` | the commit records written with every transaction, and the decision between runs (`checkpoint/decide`: fresh, resume, skip) |
//! | `runtime` | the only place with threads, tasks and channels: `runtime/reader` (reading and batching), CPU and async stages, the sink loop, commits, rejects |
//! | `source` | CSV reading: the record reader, dialects, compression, positions, inputs and globs |
//! | `transform` | stages: decode, compute, filter, project, the HTTP stage, and the async seam (`AsyncFn`, `AsyncWork`) that user and HTTP stages run on |
//! | `sink` | destinations. `sink/backend` (one `Backend` per database: open, check, checkpoints, lock), `sink/compat` (one table-compatibility check), `sink/dialect` (quoting, CREATE TABLE, upsert clauses), `sink/server` (the one transaction protocol of the server sinks: held rows, commit with checkpoint, commit in doubt, reconnect and replay), and `sink/{sqlite,postgres,mysql}/` each with `conn`, `table`, `encode` |
//!
//! Dependencies point down: `pipeline → plan/start → runtime → source/transform/sink →
//! checkpoint → row/schema/value/error`, with leaves (`redact`, `format`, `value`) that
//! import nothing of the crate. The only import cycles are inside `expr` (the compiler
//! and its function table call each other). The library never prints or exits (denied
//! in `Cargo.toml`); the `rowflow` binary renders [`Observer`] callbacks and the final
//! [`Report`].
//!
//! ## Example
//!
//! ```no_run
//! use rowflow::{AsyncOptions, Pipeline, SinkSpec, SourceSpec, DataType};
//!
//! # async fn demo() -> rowflow::Result<()> {
//! let report = Pipeline::new(
//!     SourceSpec::paths(["users.csv"]),
//!     SinkSpec::new("sqlite://users.db", "users"),
//! )
//! .compute("full_name", "first_name || ' ' || last_name")
//! .map_async(
//!     AsyncOptions::new("score").concurrency(64).add_column("score", DataType::Int),
//!     |mut rec| async move {
//!         let n = rec.get_str("email").map_or(0, |e| e.len() as i64);
//!         rec.set("score", n)?;
//!         Ok::<_, String>(Some(rec))
//!     },
//! )
//! .run()
//! .await?;
//! assert_eq!(report.rows_read, report.rows_written + report.rows_filtered + report.rows_rejected);
//! # Ok(()) }
//! ```

pub mod check;
mod checkpoint;
pub mod config;
pub mod distributed;
pub mod error;
pub mod expr;
pub mod format;
pub mod generate;
pub mod loads;
pub mod pipeline;
mod plan;
pub mod preview;
pub mod redact;
pub mod report;
pub mod row;
mod runtime;
pub mod schema;
mod sink;
mod source;
mod start;
mod tls;
mod transform;
pub mod value;

pub use config::{OnError, PipelineSpec, SinkSpec, SourceSpec, TransformSpec, WriteMode};
pub use error::{Error, ErrorKind, Result};
pub use expr::ExprContext;
pub use pipeline::{AsyncOptions, Pipeline, Record, run_plan};
pub use plan::{Plan, SourcePlan};
pub use report::{Observer, Outcome, Report, Snapshot};
pub use row::{Position, Value};
pub use runtime::StopSignal;
pub use schema::{DataType, Schema};
