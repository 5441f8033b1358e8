//! Checkpoints: how far the input has been committed, written by the sink in the same
//! transaction as the rows they cover, and read back to resume.
//!
//! Every transactional sink keeps one row per (pipeline, table, input, writer) in the
//! table [`TABLE`] of the target database. A transaction that commits rows also
//! updates its writer's row, so the record and the rows it covers are committed together
//! or not at all; whatever kills the process, the rows say exactly what is committed.
//!
//! A record holds the *low-water mark*: every input record before it is committed (with
//! several writers, or an unordered stage, batches commit out of order: the mark is the
//! end of the contiguous prefix of committed batches), plus the batches this writer
//! committed beyond the mark, as ranges of records. A resumed run starts reading at the
//! highest mark of all the rows, and skips the records of every range beyond it: no row
//! is written twice and none is lost.
//!
//! The record also names the run and the transaction (`run_id`, `txn`): after a
//! connection is lost during `COMMIT`, the sink reads it back to learn whether the
//! commit happened.

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
    /// A fixed-width key for the inputs: hex SHA-256 of their names.
    pub input_id: String,
    /// What the inputs contain now (sizes, times, hashes of their first bytes): a
    /// checkpoint of another content is not resumed.
    pub fingerprint: String,
}

impl Identity {
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

    /// The identity of `inputs` (names and fingerprints) loaded by `pipeline` into
    /// `table`.
    pub fn new(pipeline: &str, table: &str, inputs: &[(String, String)]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for (name, _) in inputs {
            h.update(name.as_bytes());
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
            fingerprint: inputs
                .iter()
                .map(|(_, f)| f.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The inputs' fingerprint (see [`Identity::fingerprint`]).
    pub fingerprint: String,
    /// The whole input is committed.
    pub complete: bool,
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

/// What to do, given the checkpoint rows found for this pipeline, table and input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// No checkpoint (or `--restart`): load from the beginning, clearing old rows.
    Fresh {
        /// Why, when there were rows (for the user).
        note: Option<String>,
    },
    /// Continue an interrupted run.
    Resume(Resume),
    /// An earlier run loaded this same input completely: nothing to do.
    Done(Resume),
}

/// Decide how a run starts from the rows found (`stored`), the inputs' current
/// fingerprint, whether the user asked to restart, and whether a complete load is done
/// again anyway (`reload`: modes that replace or create the table). An interrupted run over inputs
/// that changed since is refused: resuming it would mix two contents.
pub fn decide(
    stored: &[Stored],
    fingerprint: &str,
    restart: bool,
    reload: bool,
) -> Result<Start, String> {
    if stored.is_empty() {
        return Ok(Start::Fresh { note: None });
    }
    if restart {
        return Ok(Start::Fresh {
            note: Some("--restart: starting over (the earlier checkpoint is cleared)".into()),
        });
    }
    let states: Vec<&CommitState> = stored.iter().filter_map(|s| s.state.as_ref()).collect();
    if states.len() < stored.len() {
        return Err(
            "the checkpoint in the database was written by another version of rowflow and cannot be read; \
             run with --restart to start over"
                .into(),
        );
    }
    let complete = states.iter().any(|s| s.complete);
    let same = states.iter().all(|s| s.fingerprint == fingerprint);
    if complete && reload {
        return Ok(Start::Fresh {
            note: Some("loading again (mode replace or create; the last load was complete)".into()),
        });
    }
    if complete && !same {
        return Ok(Start::Fresh {
            note: Some(
                "the input changed since it was last loaded completely: loading it anew".into(),
            ),
        });
    }
    if !same {
        return Err(
            "the input changed since the interrupted run that this checkpoint records (size, \
             modification time or first bytes differ), so resuming would mix two versions of it; \
             run with --restart to load it from the beginning"
                .into(),
        );
    }
    // The furthest low-water mark, and every committed range beyond it.
    let Some(best) = states.iter().max_by_key(|s| (s.lwm_records, s.lwm)) else {
        return Ok(Start::Fresh { note: None });
    };
    let start = best.lwm;
    let mut skip: Vec<Range> = states
        .iter()
        .flat_map(|s| s.ranges.iter().copied())
        .filter(|r| r.first >= (start.file, start.record + 1))
        .collect();
    skip.sort_by_key(|r| r.first);
    skip.dedup();
    let committed_records = best.lwm_records + skip.iter().map(|r| r.records).sum::<u64>();
    let resume = Resume {
        start,
        start_records: best.lwm_records,
        skip,
        committed_records,
        totals: stored
            .iter()
            .filter_map(|s| {
                s.state
                    .as_ref()
                    .map(|st| (s.writer, [st.written, st.filtered, st.rejected]))
            })
            .collect(),
        reject_bytes: states.iter().map(|s| s.reject_bytes).max().unwrap_or(0),
    };
    Ok(if complete {
        Start::Done(resume)
    } else {
        Start::Resume(resume)
    })
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

    fn state(lwm_rec: u64, ranges: Vec<Range>, complete: bool, fp: &str) -> CommitState {
        CommitState {
            lwm: SavedPosition {
                file: 0,
                record: lwm_rec,
                line: lwm_rec + 1,
                byte: lwm_rec * 10,
            },
            lwm_records: lwm_rec,
            ranges,
            written: 1,
            filtered: 2,
            rejected: 3,
            reject_bytes: lwm_rec,
            fingerprint: fp.into(),
            complete,
        }
    }

    fn stored(writer: u32, s: CommitState) -> Stored {
        Stored {
            writer,
            run_id: "r".into(),
            state: Some(s),
        }
    }

    fn range(a: u64, b: u64) -> Range {
        Range {
            first: (0, a),
            last: (0, b),
            records: b - a + 1,
        }
    }

    #[test]
    fn identity_keys_on_names_and_keeps_fingerprints() {
        let a = Identity::new("p", "t", &[("a.csv".into(), "size=1".into())]);
        let b = Identity::new("p", "t", &[("a.csv".into(), "size=2".into())]);
        assert_eq!(
            a.input_id, b.input_id,
            "the same file, changed: the same row"
        );
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(a.input_id.len(), 64);
    }

    #[test]
    fn resume_from_the_furthest_mark_skipping_ranges_beyond_it() {
        // Writer 0 committed up to record 100 and batch 201..300; writer 1 up to 150
        // (it knew 101..150 was done) and 151..200.
        let rows = [
            stored(0, state(100, vec![range(201, 300)], false, "f")),
            stored(
                1,
                state(150, vec![range(151, 200), range(101, 120)], false, "f"),
            ),
        ];
        let Start::Resume(r) = decide(&rows, "f", false, false).unwrap() else {
            panic!("should resume")
        };
        assert_eq!(r.start.record, 150);
        assert_eq!(r.skip, vec![range(151, 200), range(201, 300)]);
        assert_eq!(r.committed_records, 150 + 50 + 100);
        assert_eq!(r.sum(), [2, 4, 6]);
        assert_eq!(r.reject_bytes, 150);
    }

    #[test]
    fn changed_inputs_and_complete_loads() {
        let rows = [stored(0, state(10, vec![], false, "old"))];
        assert!(
            decide(&rows, "new", false, false)
                .unwrap_err()
                .contains("--restart")
        );
        assert!(matches!(
            decide(&rows, "new", true, false).unwrap(),
            Start::Fresh { .. }
        ));
        let done = [stored(0, state(10, vec![], true, "f"))];
        assert!(matches!(
            decide(&done, "f", false, false).unwrap(),
            Start::Done(_)
        ));
        assert!(matches!(
            decide(&done, "f", false, true).unwrap(),
            Start::Fresh { .. }
        ));
        assert!(matches!(
            decide(&done, "g", false, false).unwrap(),
            Start::Fresh { note: Some(_) }
        ));
        assert_eq!(
            decide(&[], "f", false, false).unwrap(),
            Start::Fresh { note: None }
        );
    }
}
