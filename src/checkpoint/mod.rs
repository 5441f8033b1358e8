//! Checkpoints: how far the input has been committed, written by the sink in the same
//! transaction as the rows they cover, and read back to resume, or to skip inputs a
//! completed run already loaded.
//!
//! Every transactional sink keeps one row per (load, writer) in the table [`TABLE`] of
//! the target database. A transaction that commits rows also updates its writer's row,
//! so the record and the rows it covers are committed together or not at all; whatever
//! kills the process, the rows say exactly what is committed.
//!
//! A *load* is keyed by the pipeline's name and table (or, for an unnamed pipeline and
//! `rowflow load`, by the table and the input paths as written): see [`Identity`]. Its
//! record holds:
//!
//! - the *low-water mark*: every input record before it is committed (with several
//!   writers, or an unordered stage, batches commit out of order: the mark is the end of
//!   the contiguous prefix of committed batches), plus the batches this writer committed
//!   beyond the mark, as ranges of records. A resumed run starts reading at the highest
//!   mark of all the rows, and skips the records of every range beyond it: no row is
//!   written twice and none is lost;
//! - the run's inputs ([`InputState`]: size, a hash of their ends, and once read to the
//!   end a hash of their whole content), and the [`Shape`] of the pipeline;
//! - the inputs earlier completed runs of the load wrote into the table ([`DoneInput`]):
//!   a later run skips an input with the same content and shape, says so, and loads the
//!   rest (see [`decide`]).
//!
//! The record also names the run and the transaction (`run_id`, `txn`): after a
//! connection is lost during `COMMIT`, the sink reads it back to learn whether the
//! commit happened.

mod decide;
mod inputs;
pub(crate) mod shape;

use serde::{Deserialize, Serialize};

pub use decide::{Decision, LoadPlan, Skip, TableState, completed_inputs, decide};
pub use inputs::{
    ContentHasher, DoneInput, InputState, PINNED_CONTENT, content_hash, content_hash_prefix,
    content_hash_read, content_hash_until,
};
pub use shape::Shape;

use crate::row::Position;

/// The name of the checkpoint table in every target database.
pub const TABLE: &str = "_rowflow_checkpoints";

/// Which load a checkpoint belongs to: a named pipeline into a table, or (unnamed
/// pipelines, `rowflow load`) the input paths as written into a table. The inputs a
/// glob matches, and their contents, are not part of it: they are in the record, so that
/// a glob that matches one more file loads that file only, and a changed expression is
/// seen as a change to this load rather than as a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The pipeline's name (its file name by default); empty for an unnamed pipeline.
    pub pipeline: String,
    /// The destination table as written in the pipeline.
    pub table: String,
    /// For an unnamed pipeline, its input paths as written (joined with `, `); else
    /// empty.
    pub input: String,
    /// A fixed-width key for `input`: hex SHA-256.
    pub input_id: String,
}

impl Identity {
    /// The load of pipeline `name` (or, unnamed, of the inputs `patterns` as written)
    /// into `table`.
    pub fn new(name: Option<&str>, table: &str, patterns: &[String]) -> Self {
        use sha2::Digest;
        let input = match name {
            Some(_) => String::new(),
            None => patterns
                .iter()
                .map(|p| key_of_pattern(p))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let input_id = sha2::Sha256::digest(input.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Identity {
            pipeline: name.unwrap_or_default().to_string(),
            table: table.to_string(),
            input,
            input_id,
        }
    }

    /// The input key rowflow 0.1 before this format used: a hash of the input names (a
    /// load it recorded is found by it and refused rather than loaded a second time).
    pub fn legacy_input_id(names: &[String]) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for n in names {
            h.update(n.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The load's name in messages and listings: the pipeline's name, or its inputs.
    pub fn label(&self) -> String {
        if self.pipeline.is_empty() {
            self.input.clone()
        } else {
            self.pipeline.clone()
        }
    }

    /// The name of the lock a server database takes for this load's checkpoint: every
    /// writer's transaction holds it shared, and reading the checkpoint to plan a run
    /// takes it exclusively, so a run waits for the transactions of a killed one that
    /// the server is still committing (or rolling back) before it decides where to
    /// start.
    pub fn lock_name(&self) -> String {
        format!(
            "rowflow\u{1f}{}\u{1f}{}\u{1f}{}",
            self.pipeline, self.table, self.input_id
        )
    }

    /// The name of the lock one run of this load holds for its whole life, so that a
    /// second run of the same load is refused (or waits) rather than loading everything
    /// twice.
    pub fn run_lock_name(&self) -> String {
        format!(
            "rowflow-run\u{1f}{}\u{1f}{}\u{1f}{}",
            self.pipeline, self.table, self.input_id
        )
    }
}

/// A [`Position`] in the checkpoint row's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct SavedPosition {
    /// Input file index.
    pub file: u32,
    /// Data records of that file before the position.
    pub record: u64,
    /// Physical line where the next record starts (the line counter there).
    pub line: u64,
    /// Byte offset (in the decompressed stream) where the next record starts.
    pub byte: u64,
}

impl From<Position> for SavedPosition {
    fn from(p: Position) -> Self {
        SavedPosition {
            file: p.file,
            record: p.record,
            line: p.line,
            byte: p.byte,
        }
    }
}

impl From<SavedPosition> for Position {
    fn from(p: SavedPosition) -> Self {
        Position {
            file: p.file,
            record: p.record,
            line: p.line,
            byte: p.byte,
        }
    }
}

/// Records committed beyond the low-water mark: `(file, record)` from `first` to `last`
/// inclusive, `records` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// (file, record number) of the first record.
    pub first: (u32, u64),
    /// (file, record number) of the last record.
    pub last: (u32, u64),
    /// Records in the range (written, filtered or rejected).
    pub records: u64,
}

impl Range {
    /// Whether the record `(file, record)` is in the range.
    pub fn contains(&self, at: (u32, u64)) -> bool {
        self.first <= at && at <= self.last
    }
}

/// What one writer's committed transactions cover, as stored in its checkpoint row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitState {
    /// Every input record before this position is committed.
    pub lwm: SavedPosition,
    /// Input records before `lwm`.
    pub lwm_records: u64,
    /// Batches committed beyond `lwm` (by this writer, or by an earlier run).
    pub ranges: Vec<Range>,
    /// Rows this writer has written, over every run of this checkpoint.
    pub written: u64,
    /// Rows this writer has counted as filtered out.
    pub filtered: u64,
    /// Rows this writer has counted as rejected.
    pub rejected: u64,
    /// Length of the reject file once this transaction's rejects are in it.
    pub reject_bytes: u64,
    /// The whole input is committed.
    pub complete: bool,
    /// This run's inputs, indexed by [`SavedPosition::file`].
    #[serde(default)]
    pub inputs: Vec<InputState>,
    /// The shape of the pipeline this run loads with.
    #[serde(default)]
    pub shape: Shape,
    /// Inputs earlier completed runs of this load wrote into the table.
    #[serde(default)]
    pub done: Vec<DoneInput>,
    /// Rows those earlier runs wrote.
    #[serde(default)]
    pub written_before: u64,
    /// The table's identity where the database has a cheap one (PostgreSQL: its oid),
    /// to tell the table the load wrote into from one created again since.
    #[serde(default)]
    pub table_id: Option<String>,
    /// When this run started (RFC 3339, UTC).
    #[serde(default)]
    pub started: String,
    /// The load's generation: a run that starts the load from the beginning takes one
    /// more than any recorded, and the runs that resume it keep it. The rows of the
    /// highest generation describe the load (each writer's row is its latest, whichever
    /// run of the generation wrote it); rows of an older one are left over until the new
    /// generation's first commit deletes them. No clock is involved.
    #[serde(default)]
    pub generation: u64,
}

/// The record a sink writes with a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// Which checkpoint row.
    pub identity: Identity,
    /// The writer (0 unless the sink has several parallel writers).
    pub writer: u32,
    /// This run's id.
    pub run_id: String,
    /// The transaction's sequence number in this run, for this writer (from 1).
    pub txn: u64,
    /// What the transaction brings this writer's row to.
    pub state: CommitState,
    /// Delete the rows other runs left for this identity (a run that starts over does
    /// this in its first transaction).
    pub clear_older: bool,
    /// The transaction's rejected rows, for a sink that keeps them in a table (a chunk
    /// of a distributed load); empty otherwise.
    pub rejects: Vec<crate::sink::chunks::RejectRow>,
}

impl CommitRecord {
    /// The state as the JSON text stored in the checkpoint row.
    pub fn state_json(&self) -> String {
        // Serializing plain integers and strings cannot fail.
        serde_json::to_string(&self.state).unwrap_or_default()
    }
}

/// A checkpoint row as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The writer that wrote it.
    pub writer: u32,
    /// The run that wrote it last.
    pub run_id: String,
    /// The state it holds (`None` when it cannot be read: written by another version).
    pub state: Option<CommitState>,
}

/// A checkpoint row as `rowflow checkpoints` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Where the checkpoint table is (PostgreSQL: its schema; else empty).
    pub place: String,
    /// The load it belongs to.
    pub identity: Identity,
    /// The row itself.
    pub stored: Stored,
    /// When it was last written (as the database prints it).
    pub updated_at: String,
}

/// A checkpoint row as the sinks read it for `rowflow checkpoints`: pipeline, target
/// table, input, input id, writer, run id, state (JSON), updated at.
pub(crate) type ListedRow = (String, String, String, String, i64, String, String, String);

impl Listed {
    /// The row `row` of the checkpoint table at `place`.
    pub(crate) fn from_row(place: String, row: ListedRow) -> Listed {
        let (pipeline, table, input, input_id, writer, run_id, state, updated_at) = row;
        Listed {
            place,
            identity: Identity {
                pipeline,
                table,
                input,
                input_id,
            },
            stored: Stored {
                writer: writer as u32,
                run_id,
                state: serde_json::from_str(&state).ok(),
            },
            updated_at,
        }
    }
}

/// What one load's checkpoint rows say, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// Where the checkpoint table is (PostgreSQL: its schema; else empty).
    pub place: String,
    /// The load.
    pub identity: Identity,
    /// The last run's inputs.
    pub inputs: Vec<String>,
    /// Inputs earlier completed runs loaded.
    pub done: Vec<String>,
    /// The last run loaded its inputs completely.
    pub complete: bool,
    /// Input records committed by the last run (and the runs it resumed).
    pub committed: u64,
    /// Their totals: written, filtered, rejected.
    pub totals: [u64; 3],
    /// Where an interrupted run would resume (`line N of file`).
    pub resume_at: Option<String>,
    /// When the last commit was.
    pub updated_at: String,
    /// The rows could not be read (written by another version).
    pub unreadable: bool,
}

/// The loads `rows` describe, one summary each, in the rows' order.
pub fn summarize(rows: &[Listed]) -> Vec<LoadSummary> {
    let mut keys: Vec<(String, Identity)> = Vec::new();
    for r in rows {
        let k = (r.place.clone(), r.identity.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(place, identity)| {
            let mine: Vec<&Listed> = rows
                .iter()
                .filter(|r| r.place == place && r.identity == identity)
                .collect();
            let newest = mine.iter().map(|r| generation(&r.stored)).max();
            let last: Vec<&Stored> = mine
                .iter()
                .filter(|r| Some(generation(&r.stored)) == newest)
                .map(|r| &r.stored)
                .collect();
            let updated_at = mine
                .iter()
                .map(|r| r.updated_at.clone())
                .max()
                .unwrap_or_default();
            let states: Vec<&CommitState> = last.iter().filter_map(|s| s.state.as_ref()).collect();
            let readable =
                states.len() == last.len() && states.iter().all(|s| !s.inputs.is_empty());
            let Some(first) = states.first().filter(|_| readable) else {
                return LoadSummary {
                    place,
                    identity,
                    inputs: Vec::new(),
                    done: Vec::new(),
                    complete: false,
                    committed: 0,
                    totals: [0; 3],
                    resume_at: None,
                    updated_at,
                    unreadable: true,
                };
            };
            let complete = states.iter().any(|s| s.complete);
            let best = states
                .iter()
                .max_by_key(|s| (s.lwm_records, s.lwm))
                .copied()
                .unwrap_or(first);
            let totals = states.iter().fold([0; 3], |a, s| {
                [a[0] + s.written, a[1] + s.filtered, a[2] + s.rejected]
            });
            LoadSummary {
                inputs: first.inputs.iter().map(|i| i.name.clone()).collect(),
                done: first.done.iter().map(|d| d.name.clone()).collect(),
                complete,
                committed: totals.iter().sum(),
                totals,
                resume_at: (!complete).then(|| {
                    format!(
                        "line {} of {}",
                        crate::format::thousands(best.lwm.line.max(1)),
                        first
                            .inputs
                            .get(best.lwm.file as usize)
                            .map_or("", |i| i.name.as_str())
                    )
                }),
                updated_at,
                unreadable: false,
                place,
                identity,
            }
        })
        .collect()
}

/// Where a resumed run starts and what it skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Start reading here.
    pub start: SavedPosition,
    /// Records before `start`.
    pub start_records: u64,
    /// Records beyond `start` already committed: skip them.
    pub skip: Vec<Range>,
    /// Records committed in all (before `start` and in `skip`).
    pub committed_records: u64,
    /// Each writer's totals so far (written, filtered, rejected), by writer.
    pub totals: Vec<(u32, [u64; 3])>,
    /// The reject file's committed length.
    pub reject_bytes: u64,
}

impl Resume {
    /// Totals so far of `writer`.
    pub fn totals_of(&self, writer: u32) -> [u64; 3] {
        self.totals
            .iter()
            .find(|(w, _)| *w == writer)
            .map_or([0; 3], |(_, t)| *t)
    }

    /// All writers' totals so far.
    pub fn sum(&self) -> [u64; 3] {
        self.totals.iter().fold([0; 3], |acc, (_, t)| {
            [acc[0] + t[0], acc[1] + t[1], acc[2] + t[2]]
        })
    }
}

/// A run id: unique enough to tell two runs apart (time and process id).
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// A pattern as a load's key holds it: a URL as [`crate::redact::object_url`] names it
/// (a presigned URL's signature is a secret, and changes every time the URL is made,
/// which would make every run a new load).
fn key_of_pattern(p: &str) -> String {
    if p.contains("://") {
        crate::redact::object_url(p)
    } else {
        p.to_string()
    }
}

/// The generation a row belongs to (0 when it cannot be read).
pub(crate) fn generation(s: &Stored) -> u64 {
    s.state.as_ref().map_or(0, |st| st.generation)
}

/// Now, as RFC 3339 in UTC with seconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::Identity;

    #[test]
    fn a_presigned_url_keys_a_load_without_its_signature() {
        let a = Identity::new(None, "t", &["https://h/x.csv?X-Amz-Signature=aaa".into()]);
        let b = Identity::new(None, "t", &["https://h/x.csv?X-Amz-Signature=bbb".into()]);
        assert_eq!(a.input_id, b.input_id);
        assert_eq!(a.input, "https://h/x.csv");
        // A parameter that names the object stays: two days are two loads.
        let d1 = Identity::new(None, "t", &["https://h/x?day=1".into()]);
        let d2 = Identity::new(None, "t", &["https://h/x?day=2".into()]);
        assert_ne!(d1.input_id, d2.input_id);
        let s3 = Identity::new(None, "t", &["s3://b/part-?.csv".into()]);
        assert_eq!(s3.input, "s3://b/part-?.csv");
        let local = Identity::new(None, "t", &["data/file?.csv".into()]);
        assert_eq!(local.input, "data/file?.csv");
    }
}
