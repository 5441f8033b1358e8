//! The reader thread: records from the source, in batches of bounded rows and bytes,
//! into the first stage's channel. A resumed run skips the records an earlier run
//! committed beyond its mark; a record that cannot be loaded (too long, an unclosed
//! quote) is rejected here with its line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::Counters;
use super::commits::Commits;
use super::halt::{Budget, Halt};
use crate::checkpoint::Range;
use crate::error::{Error, Result};
use crate::row::{Batch, Row};
use crate::source::{Source, SourceRecord};

/// The reader and what it shares with the rest of the run.
pub(super) struct Reader {
    pub source: Box<dyn Source>,
    pub commits: Arc<Mutex<Commits>>,
    pub halt: Arc<Halt>,
    pub budget: Arc<Budget>,
    pub counters: Arc<Counters>,
    /// Bytes read so far (the source's counter).
    pub bytes: Arc<AtomicU64>,
    pub batch_rows: usize,
    pub batch_bytes: usize,
    /// Records to skip (committed by an earlier run beyond where it resumes).
    pub skip: Vec<Range>,
    /// Stop after this many records (`--limit`), without marking the input read.
    pub limit: Option<u64>,
    /// Data records skipped at the start of every input (`source.skip_rows`).
    pub skip_rows: u64,
    /// Set when reading stopped at `limit`.
    pub limited: Arc<std::sync::atomic::AtomicBool>,
    /// What the source says once reading ends (a remote input's reconnections).
    pub notes: Arc<Mutex<Vec<String>>>,
}

impl Reader {
    /// Run on a thread of its own. The receiver hears how it ended; a reader blocked on
    /// an input that sends nothing (a pipe whose writer is idle) need not be waited for
    /// once the run stops.
    pub fn spawn(self, tx: mpsc::Sender<Batch>) -> oneshot::Receiver<Result<()>> {
        let (done, result) = oneshot::channel();
        std::thread::Builder::new()
            .name("rowflow-reader".into())
            .spawn(move || {
                let mut me = self;
                let result = me.run(tx);
                me.notes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(me.source.notes());
                let _ = done.send(result);
            })
            .expect("spawning a thread only fails when the OS is out of resources");
        result
    }

    fn run(&mut self, tx: mpsc::Sender<Batch>) -> Result<()> {
        let mut seq = 0u64;
        let mut records: Vec<SourceRecord> = Vec::with_capacity(self.batch_rows);
        let mut last_bytes = 0u64;
        let skip = std::mem::take(&mut self.skip);
        let mut skip = skip.into_iter().peekable();
        let mut reached_end = false;
        let mut left = self.limit;
        while !self.halt.is_set() {
            if left == Some(0) {
                self.limited.store(true, Ordering::Relaxed);
                break;
            }
            records.clear();
            match self
                .source
                .read_batch(self.batch_rows, self.batch_bytes, &mut records)
            {
                Ok(()) => {}
                // Stopped while reading (Ctrl-C in a long line): not a failure.
                Err(Error::Interrupted(_)) => break,
                Err(e) => return Err(e),
            }
            if records.is_empty() {
                reached_end = true;
                break;
            }
            if self.skip_rows > 0 {
                let n = self.skip_rows;
                records.retain(|r| r.pos.record > n);
                if records.is_empty() {
                    continue;
                }
            }
            // A resumed run skips what an earlier run committed beyond its mark.
            if skip.peek().is_some() {
                let before = records.len();
                records.retain(|r| {
                    let at = (r.pos.file, r.pos.record);
                    while skip.peek().is_some_and(|s| s.last < at) {
                        skip.next();
                    }
                    !skip.peek().is_some_and(|s| s.contains(at))
                });
                let skipped = (before - records.len()) as u64;
                self.counters
                    .rows_skipped
                    .fetch_add(skipped, Ordering::Relaxed);
                if records.is_empty() {
                    continue;
                }
            }
            if let Some(l) = left.as_mut() {
                records.truncate(*l as usize);
                *l -= records.len() as u64;
            }
            let bytes_now = self.bytes.load(Ordering::Relaxed);
            let batch = self.batch(seq, &mut records, bytes_now - last_bytes);
            last_bytes = bytes_now;
            seq += 1;
            if tx.blocking_send(batch).is_err() {
                break; // downstream stopped (an error there is reported by it)
            }
        }
        // The whole input is read: once these batches commit, the load is complete (and
        // its record says what the inputs contained).
        if reached_end {
            match self.source.content_hashes() {
                Ok(contents) => self
                    .commits
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .input_done(seq, contents),
                // Stopped while hashing a resumed input: the load is not marked complete;
                // the next run finds everything committed.
                Err(Error::Interrupted(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Batch `seq` of `records` (taken), `bytes` long in the input; records that cannot
    /// be loaded are rejected in it already.
    fn batch(&self, seq: u64, records: &mut Vec<SourceRecord>, bytes: u64) -> Batch {
        let n = records.len() as u64;
        let mut batch = Batch {
            seq,
            rows: Vec::with_capacity(records.len()),
            records: n,
            bytes,
            first: records.first().map(|r| r.pos).unwrap_or_default(),
            end: records.last().map(|r| r.next).unwrap_or_default(),
            ..Batch::default()
        };
        for r in records.drain(..) {
            let row = Row {
                pos: r.pos,
                values: Vec::new(),
                raw: r.raw,
            };
            match r.problem {
                // Not a record that can be loaded: rejected with its line.
                Some(why) => batch.reject(row, format!("read: {why}")),
                None => batch.rows.push(row),
            }
        }
        self.budget.failed(&batch.rejected, &self.halt);
        self.counters.rows_read.fetch_add(n, Ordering::Relaxed);
        batch
    }
}
