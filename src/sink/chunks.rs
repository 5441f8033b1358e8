//! The target database's side of a distributed load: who owns each chunk (the fence that
//! keeps a stale worker from committing over the chunk's new owner), and the load's
//! rejected rows (a table, since reject files on many machines cannot be gathered).
//!
//! - `_rowflow_chunks` (load, chunk, owner, token): a worker that takes a chunk *claims*
//!   it, in a transaction of its own, before it reads the chunk's checkpoint: its token
//!   (the message's retry epoch and JetStream delivery count) must be at least the one
//!   recorded. Every commit of the chunk reads the row `FOR UPDATE` in its own
//!   transaction and goes on only while it still names this worker, so a worker whose
//!   chunk was given to another one (its heartbeats stopped, then it woke up) has its
//!   next commit refused and stops; the new owner resumes from the checkpoint, which the
//!   claim's lock ordered after every commit of the old one.
//! - `_rowflow_rejects` (load, chunk, file, line, fields, reason): written in the
//!   chunk's transactions, with the checkpoint that covers them.

/// A chunk of a distributed load, as its sink fences its commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkFence {
    /// The load's id.
    pub load: String,
    /// The chunk's index in the load.
    pub chunk: u32,
    /// Who claims it (worker and run), for the other worker's message.
    pub owner: String,
    /// The claim's rank: the retry epoch in the high 32 bits, the JetStream delivery
    /// count in the low ones. A claim never goes to a lower token.
    pub token: i64,
}

impl ChunkFence {
    /// The token of delivery `delivery` of a chunk message published in retry `epoch`.
    pub fn token(epoch: u32, delivery: u64) -> i64 {
        ((epoch as i64) << 32) | (delivery.min(u32::MAX as u64) as i64)
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The chunk is this worker's now.
    Taken,
    /// A later delivery of the chunk was claimed already (by this owner).
    Stale(String),
}

/// A rejected row as the rejects table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectRow {
    /// The chunk (filled in when read back).
    pub chunk: u32,
    /// The input it came from.
    pub file: String,
    /// The physical line where the record starts.
    pub line: u64,
    /// Its original fields, as a JSON array of strings.
    pub fields: String,
    /// Why it was rejected.
    pub reason: String,
}

/// The table of chunk owners.
pub const CHUNKS_TABLE: &str = "_rowflow_chunks";
/// The table of a distributed load's rejected rows.
pub const REJECTS_TABLE: &str = "_rowflow_rejects";

/// The refusal of a commit by a worker that no longer owns its chunk.
pub(crate) fn fenced(target: &str, fence: &ChunkFence, owner: &str) -> crate::error::Error {
    crate::error::Error::Busy(format!(
        "{target}: chunk {} of load {} was given to another worker ({owner}) after this one \
         stopped answering: this worker's open transaction was rolled back, and the new owner \
         goes on from the chunk's checkpoint",
        fence.chunk, fence.load
    ))
}
