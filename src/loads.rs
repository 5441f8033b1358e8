//! The loads a database holds, for tools built around rowflow (the `rowflow check` and
//! `rowflow checkpoints` commands use only this): the destination, its checkpoint
//! records summarized per load, clearing them under the load's lock, what a run of a
//! load would do, and whether a table fits the rows.

pub use crate::checkpoint::{Decision, Identity, Listed, LoadPlan, LoadSummary, Skip, summarize};
pub use crate::sink::sqlite_lock_path;
pub use crate::sink::{
    LoadLock, SinkTarget, TableStatus, check_sink, clear_checkpoints, list_checkpoints,
};
pub use crate::start::{Started, preview};
