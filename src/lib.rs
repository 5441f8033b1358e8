//! # rowflow
//!
//! Stream CSV files of any size, process every row concurrently (SQL expressions,
//! filters, your own async functions), and save the result into a database in batched
//! transactions, with every input row accounted for: written, filtered out, or in the
//! reject file with its line number and reason.
//!
//! ## Map of the crate
//!
//! | module | what it holds |
//! |---|---|
//! | [`config`] | the pipeline spec: serde types a TOML file parses into |
//! | [`plan`] | spec → validated plan; every error reported before the first row |
//! | [`pipeline`] | the public API: [`Pipeline`], [`Record`], [`AsyncOptions`] |
//! | [`runtime`] | the only place with threads, tasks and channels |
//! | [`source`] | CSV reading: dialects, compression, positions, type inference |
//! | [`transform`] | per-batch stages: decode, compute, filter, select |
//! | [`expr`] | SQL expressions compiled once into a typed evaluator |
//! | [`sink`] | destinations: SQLite, PostgreSQL, MySQL/MariaDB |
//! | [`start`] | starting a load: its lock, its checkpoint, what the run does |
//! | [`checkpoint`] | commit records written with every transaction; the decisions between runs |
//! | [`value`] | the typed values rows carry and their types (the leaf under rows and schemas) |
//! | [`row`], [`schema`], [`error`], [`report`], [`format`], [`redact`] | leaf types, formatting, secrets kept out of output |
//! | [`generate`] | the deterministic generator of the standard `users` workload |
//!
//! Dependencies point down: `pipeline → plan/runtime → source/transform/sink →
//! row/schema/error`. The library never prints; the `rowflow` binary renders
//! [`report::Observer`] callbacks and the final [`Report`].
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

#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]
#![deny(missing_docs)]

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod expr;
pub mod format;
pub mod generate;
pub mod pipeline;
pub mod plan;
pub mod redact;
pub mod report;
pub mod row;
pub mod runtime;
pub mod schema;
pub mod sink;
pub mod source;
pub mod start;
pub mod transform;
pub mod value;

pub use config::{OnError, PipelineSpec, SinkSpec, SourceSpec, TransformSpec, WriteMode};
pub use error::{Error, Result};
pub use pipeline::{AsyncOptions, Pipeline, Record, run_plan};
pub use report::{Observer, Outcome, Report, Snapshot};
pub use row::{Position, Value};
pub use schema::{DataType, Schema};
