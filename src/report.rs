//! What a run tells the outside world: progress snapshots while it runs and a report at
//! the end. The library never prints; the CLI renders these.

use std::path::PathBuf;
use std::time::Duration;

/// A point-in-time view of a running pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Input bytes read from disk (compressed bytes for compressed inputs).
    pub bytes_read: u64,
    /// Total input size, when known.
    pub bytes_total: Option<u64>,
    /// Records read by the source.
    pub rows_read: u64,
    /// Rows committed to the destination.
    pub rows_written: u64,
    /// Rows dropped by filters (committed batches).
    pub rows_filtered: u64,
    /// Rows rejected (committed batches).
    pub rows_rejected: u64,
    /// Records in the writers' open transactions: read and handed to the sink, not yet
    /// committed (a keyed MySQL or SQLite table holds a whole transaction's rows, sorted,
    /// until it ends).
    pub rows_uncommitted: u64,
    /// Time since the start.
    pub elapsed: Duration,
    /// Each HTTP stage's counters.
    pub http: Vec<HttpSnapshot>,
}

/// Receives progress while a pipeline runs. Called from a runtime task; keep it quick.
pub trait Observer: Send + Sync {
    /// A progress snapshot, a few times per second.
    fn progress(&self, _snapshot: &Snapshot) {}
    /// A one-line note (e.g. "inferred types by scanning 2 files").
    fn note(&self, _note: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every input record was written, filtered or rejected.
    Completed,
    /// Stopped by Ctrl-C / SIGTERM after committing the rows in flight.
    Interrupted,
    /// Stopped after the first `n` rows this run read (`limit`), every one of them
    /// written, filtered or rejected; the load is not complete, and the next run goes
    /// on after them.
    Limited(u64),
    /// A fatal error; rows committed before it stay committed.
    Failed(crate::error::Error),
    /// Nothing to do: every input was loaded completely by an earlier run (the reason
    /// says so). Nothing was read or written.
    Skipped(String),
}

/// The end-of-run summary. For a completed run,
/// `rows_read == rows_written + rows_filtered + rows_rejected`.
#[derive(Debug)]
pub struct Report {
    /// Input records this run accounts for: exactly written + filtered + rejected (rows
    /// read but rolled back or not finished are `rows_rolled_back` and
    /// `rows_not_processed`).
    pub rows_read: u64,
    /// Rows committed to the destination.
    pub rows_written: u64,
    /// Rows dropped by filters.
    pub rows_filtered: u64,
    /// Rows that failed (in the reject file unless `on_error = "skip"`).
    pub rows_rejected: u64,
    /// Rows read but not committed because the run failed (rolled back).
    pub rows_rolled_back: u64,
    /// Rows read but not finished when the run stopped early (Ctrl-C, a failure): not
    /// committed, left for a resumed run.
    pub rows_not_processed: u64,
    /// Times the sink reconnected to the destination after losing its connection.
    pub reconnects: u64,
    /// Input records committed by earlier runs of this checkpoint (a resumed or an
    /// already complete load).
    pub already_committed: u64,
    /// A sentence about how the run started (resumed, already done).
    pub note: Option<String>,
    /// Every decision taken for the user before the first row (resume, skip an input,
    /// load again, wait for another run), one plain line each.
    pub notes: Vec<String>,
    /// Rows rejected by earlier runs of a resumed load (in the reject file too, before
    /// this run's).
    pub rejected_before: u64,
    /// Rows earlier runs of this load wrote, filtered and rejected (a resumed load, or
    /// one that was complete already).
    pub totals_before: [u64; 3],
    /// Input bytes read.
    pub bytes_read: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Input names.
    pub inputs: Vec<String>,
    /// Destination, redacted.
    pub target: String,
    /// Destination table.
    pub table: String,
    /// The reject file, when rows were written to it.
    pub reject_file: Option<PathBuf>,
    /// The first few rejects, as `file:line: reason`.
    pub first_rejects: Vec<String>,
    /// Each HTTP stage's counters at the end.
    pub http: Vec<HttpSnapshot>,
    /// How the run ended.
    pub outcome: Outcome,
}

impl Report {
    /// A report of a run that read nothing.
    pub(crate) fn empty(inputs: Vec<String>, target: String, table: String) -> Report {
        Report {
            rows_read: 0,
            rows_written: 0,
            rows_filtered: 0,
            rows_rejected: 0,
            rows_rolled_back: 0,
            rows_not_processed: 0,
            reconnects: 0,
            already_committed: 0,
            note: None,
            notes: Vec::new(),
            rejected_before: 0,
            totals_before: [0; 3],
            bytes_read: 0,
            elapsed: Duration::ZERO,
            inputs,
            target,
            table,
            reject_file: None,
            first_rejects: Vec::new(),
            http: Vec::new(),
            outcome: Outcome::Completed,
        }
    }

    /// Rows per second over the whole run.
    pub fn rows_per_sec(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.rows_read as f64 / s
        } else {
            0.0
        }
    }

    /// The process exit code the CLI uses: 0 everything written or filtered (or nothing
    /// to do), 1 finished with rejected rows (this run's or, for a resumed load, an
    /// earlier run's), 2 fatal error or interrupted.
    pub fn exit_code(&self) -> i32 {
        match self.outcome {
            Outcome::Completed | Outcome::Limited(_)
                if self.rows_rejected + self.rejected_before == 0 =>
            {
                0
            }
            Outcome::Completed | Outcome::Limited(_) => 1,
            Outcome::Skipped(_) => 0,
            Outcome::Interrupted | Outcome::Failed(_) => 2,
        }
    }

    /// `Ok(self)` for a completed run (rejects included), the error otherwise.
    pub fn into_result(self) -> crate::error::Result<Report> {
        match self.outcome {
            Outcome::Completed | Outcome::Limited(_) | Outcome::Skipped(_) => Ok(self),
            Outcome::Interrupted => Err(crate::error::Error::Interrupted(format!(
                "{} rows committed",
                self.rows_written
            ))),
            Outcome::Failed(e) => Err(e),
        }
    }

    /// The summary as one JSON object (what `--json` prints).
    pub fn to_json(&self) -> serde_json::Value {
        let (status, error) = match &self.outcome {
            Outcome::Completed => ("completed", None),
            Outcome::Interrupted => ("interrupted", None),
            Outcome::Limited(_) => ("limited", None),
            Outcome::Failed(e) => ("failed", Some(crate::redact::redact_text(&e.to_string()))),
            Outcome::Skipped(_) => ("skipped", None),
        };
        let reason = match &self.outcome {
            Outcome::Skipped(r) => Some(r.as_str()),
            _ => None,
        };
        serde_json::json!({
            "status": status,
            "error": error,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_filtered": self.rows_filtered,
            "rows_rejected": self.rows_rejected,
            "rows_rolled_back": self.rows_rolled_back,
            "rows_not_processed": self.rows_not_processed,
            "reconnects": self.reconnects,
            "already_committed": self.already_committed,
            "note": self.note,
            "notes": self.notes,
            "reason": reason,
            "rejected_before": self.rejected_before,
            "bytes_read": self.bytes_read,
            "elapsed_s": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "rows_per_s": self.rows_per_sec().round(),
            "inputs": self.inputs,
            "target": self.target,
            "table": self.table,
            "reject_file": self.reject_file.as_ref().map(|p| p.display().to_string()),
            "first_rejects": self.first_rejects,
            "http": self.http.iter().map(|h| serde_json::json!({
                "name": h.name,
                "requests": h.requests,
                "retries": h.retries,
                "cache_hits": h.cache_hits,
                "status_2xx": h.status_2xx,
                "status_3xx": h.status_3xx,
                "status_4xx": h.status_4xx,
                "status_5xx": h.status_5xx,
                "failed": h.failed,
                "no_answer": h.no_answer,
                "latency_ms": {"p50": h.latency_ms[0], "p95": h.latency_ms[1], "p99": h.latency_ms[2]},
            })).collect::<Vec<_>>(),
            "exit_code": self.exit_code(),
        })
    }
}

/// A point-in-time view of an HTTP stage (for progress and the report).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSnapshot {
    /// The stage's name.
    pub name: String,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Requests waiting for the stage's rate limit now.
    pub rate_waiting: u64,
    /// Attempts sent, retries included.
    pub requests: u64,
    /// Retries (attempts after the first of a request).
    pub retries: u64,
    /// Requests answered from the cache.
    pub cache_hits: u64,
    /// Final answers with a 2xx (or 1xx) status.
    pub status_2xx: u64,
    /// Final answers with a 3xx status.
    pub status_3xx: u64,
    /// Final answers with a 4xx status.
    pub status_4xx: u64,
    /// Final answers with a 5xx status.
    pub status_5xx: u64,
    /// Requests that failed for good (any final answer other than 2xx, or none at all),
    /// after their retries: their rows were rejected.
    pub failed: u64,
    /// Of those, the requests that got no answer at all (timeouts, connection errors).
    pub no_answer: u64,
    /// Latency of attempts, in milliseconds: p50, p95, p99 (0 when none).
    pub latency_ms: [f64; 3],
}
