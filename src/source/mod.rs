//! Sources: where records come from. A source produces raw records (bytes, not yet typed)
//! with their positions; decoding into typed values is a CPU stage of its own so that it
//! runs on every core.

mod csv;
pub(crate) mod infer;
mod input;
mod jsonl;
mod reader;
mod remote;
mod sniff;
pub(crate) mod split;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

pub(crate) use self::csv::NOT_UTF8_HINT;
pub use self::csv::{CsvOptions, CsvSource, DEFAULT_MAX_HEADER, JsonColumns};
pub use self::infer::{InferOptions, infer_types};
pub use self::input::{Input, Part, resolve_inputs_except};
pub(crate) use self::jsonl::{JsonLayout, LINE_DIALECT};
pub(crate) use self::sniff::{Sniffed, Unknowns};
pub(crate) use self::sniff::{shown as shown_delimiter, suspicious_name};

/// The content hash of a remote object (of its first `prefix` bytes, when given), read
/// as a stream: what decides whether an object re-uploaded under a new ETag is the
/// same input as one an earlier load completed.
pub(crate) fn remote_content_hash(
    o: &remote::RemoteObject,
    prefix: Option<u64>,
) -> std::result::Result<String, String> {
    let reader = o.open(0).map_err(|e| e.to_string())?;
    crate::checkpoint::content_hash_read(reader, prefix.unwrap_or(u64::MAX), None)
        .map_err(|e| e.to_string())
}

pub use self::reader::{DEFAULT_MAX_RECORD, Dialect};

use crate::error::Result;
use crate::row::{Position, RawRecord};

/// A record as read, with where it starts and where the next one would.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// Where the record starts.
    pub pos: Position,
    /// Where reading continues after it: `record` counts it, `line` and `byte` are
    /// those of the next record (a resumed run starts there).
    pub next: Position,
    /// Its fields, unescaped.
    pub raw: RawRecord,
    /// Why it cannot be loaded, if it cannot (larger than the limit, a quote never
    /// closed): it is rejected with this reason, its fields cut short.
    pub problem: Option<String>,
}

/// Where rows come from. Blocking: the runtime calls it from a thread of its own.
pub trait Source: Send {
    /// Column names from the header (or `column_1..n`), before any rename.
    fn columns(&self) -> &[String];
    /// Display names of the inputs, indexed by `Position::file`.
    fn inputs(&self) -> Vec<String>;
    /// Append up to `max` records, of at most `max_bytes` bytes together (at least
    /// one), to `out`; appends none at the end of the input.
    fn read_batch(
        &mut self,
        max: usize,
        max_bytes: usize,
        out: &mut Vec<SourceRecord>,
    ) -> Result<()>;
    /// Total input size in bytes, when known (files, not stdin).
    fn bytes_total(&self) -> Option<u64>;
    /// Counter of input bytes read so far.
    fn bytes_counter(&self) -> Arc<AtomicU64>;
    /// Continue reading at `next` (a position a record's `next` gave), as a resumed run
    /// does. Only for inputs that can be opened again (files, not standard input).
    fn seek(&mut self, next: Position) -> Result<()>;
    /// The flag that stops reading at once when set (the runtime sets it when the run
    /// stops early), if the source has one.
    fn stop_flag(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        None
    }
    /// Once every input is read to its end: the hash of each input's whole content
    /// (`None` for standard input), as [`crate::checkpoint::InputState::content`]
    /// records it. Inputs not read whole by this source (a resumed run starts within
    /// one) are hashed from their files now.
    fn content_hashes(&mut self) -> Result<Vec<Option<String>>> {
        Ok(vec![None; self.inputs().len()])
    }
    /// What reading said that the run should report (a remote input's connection
    /// resumed mid-object, a server that ignored `Range`), once reading has ended.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}
