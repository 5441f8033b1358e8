//! Commit records: how far the input has been committed, written by the sink in the
//! same transaction as the rows they cover.
//!
//! Every transactional sink keeps one row per (pipeline, table, input, writer) in the
//! table [`TABLE`] of the target database. A transaction that commits rows also
//! updates that row, so the record and the rows it covers are committed together or
//! not at all. The record names the run and the transaction (`run_id`, `txn`): after a
//! connection is lost during `COMMIT`, the sink reads it back to learn whether the
//! commit happened, so a batch is never committed twice.

use serde::{Deserialize, Serialize};

use crate::row::Position;

/// The name of the checkpoint table in every target database.
pub const TABLE: &str = "_rowflow_checkpoints";

/// Which pipeline, table and input a checkpoint belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The pipeline's name (its file name by default).
    pub pipeline: String,
    /// The destination table as written in the pipeline.
    pub table: String,
    /// The inputs, as displayed (paths).
    pub input: String,
    /// A fixed-width key for the input: hex SHA-256 of the input names and their
    /// fingerprints.
    pub input_id: String,
}

impl Identity {
    /// The identity of `inputs` (names and fingerprints) loaded by `pipeline` into
    /// `table`.
    pub fn new(pipeline: &str, table: &str, inputs: &[(String, String)]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for (name, fingerprint) in inputs {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(fingerprint.as_bytes());
            h.update([0]);
        }
        let input_id = h
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Identity {
            pipeline: pipeline.to_string(),
            table: table.to_string(),
            input: inputs
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            input_id,
        }
    }
}

/// What one committed transaction covers, as stored in the checkpoint row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitState {
    /// Input records before this position are committed (written, filtered or
    /// rejected): the position just past the last record of the committed prefix.
    pub end: SavedPosition,
    /// Input records committed so far (the committed prefix).
    pub records: u64,
    /// Rows written so far.
    pub written: u64,
    /// Rows filtered out so far.
    pub filtered: u64,
    /// Rows rejected so far.
    pub rejected: u64,
}

/// A [`Position`] in the checkpoint row's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SavedPosition {
    /// Input file index.
    pub file: u32,
    /// Data records of that file before the position.
    pub record: u64,
    /// Physical line where the next record starts.
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
    /// What the transaction brings the committed prefix to.
    pub state: CommitState,
}

impl CommitRecord {
    /// The state as the JSON text stored in the checkpoint row.
    pub fn state_json(&self) -> String {
        // Serializing plain integers cannot fail.
        serde_json::to_string(&self.state).unwrap_or_default()
    }
}

/// A run id: unique enough to tell two runs apart (time and process id).
pub fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_depends_on_fingerprints() {
        let a = Identity::new("p", "t", &[("a.csv".into(), "size=1".into())]);
        let b = Identity::new("p", "t", &[("a.csv".into(), "size=2".into())]);
        assert_ne!(a.input_id, b.input_id);
        assert_eq!(a.input_id.len(), 64);
        assert_eq!(a.input, "a.csv");
    }
}
