//! The runtime: the only place with threads, tasks, channels and semaphores.
//!
//! ```text
//! reader thread ──batches──▶ CPU stage(s) ──▶ async stage(s) ──▶ sink thread
//!   (Source)       bounded     (Transforms on      (user fns,        (Sink: write,
//!                  channel      worker threads,     `concurrency`      commit, rejects)
//!                               `workers` batches   rows in flight)
//!                               in flight, order
//!                               kept)
//! ```
//!
//! Every channel is bounded (`channel_batches`), so a slow sink slows the reader down.
//! Batches keep input order end to end; the sink commits every `commit_rows` rows (or
//! every `commit_interval`) and only then counts rows as written and writes their
//! rejects.

mod async_stage;
mod cpu_stage;
mod rejects;
mod sink_loop;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use async_stage::{AsyncFn, AsyncStage, Outcome as AsyncOutcome};
pub use rejects::{RejectTarget, RejectWriter};

use crate::config::OnError;
use crate::error::{Error, Result};
use crate::report::{Observer, Outcome, Report, Snapshot};
use crate::row::{Batch, Row};
use crate::sink::Sink;
use crate::source::{Source, SourceRecord};
use crate::transform::Transform;

/// A stage as the runtime sees it.
pub enum Stage {
    /// Consecutive synchronous transforms, applied to whole batches on worker threads.
    Cpu(Vec<Arc<dyn Transform>>),
    /// A user async function applied to each row with bounded concurrency.
    Async(AsyncStage),
}

/// Tuning and policy for one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Records per batch.
    pub batch_rows: usize,
    /// Batches buffered between stages.
    pub channel_batches: usize,
    /// Batches processed at once by a CPU stage.
    pub workers: usize,
    /// Rows per transaction.
    pub commit_rows: usize,
    /// Commit at least this often.
    pub commit_interval: Duration,
    /// Row error policy.
    pub on_error: OnError,
    /// Abort past this many rejected rows.
    pub max_errors: Option<u64>,
    /// Reject file (None with `on_error = "skip"`).
    pub rejects: Option<RejectTarget>,
    /// Input names (indexed by `Position::file`), for messages.
    pub inputs: Vec<String>,
}

/// Shared counters, read by the progress ticker.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub rows_read: AtomicU64,
    pub rows_written: AtomicU64,
    pub rows_filtered: AtomicU64,
    pub rows_rejected: AtomicU64,
}

/// Everything a run needs, already validated by the plan.
pub struct RunParts {
    /// The opened source.
    pub source: Box<dyn Source>,
    /// The stages in order.
    pub stages: Vec<Stage>,
    /// The opened sink (its table is ready).
    pub sink: Box<dyn Sink>,
    /// Options.
    pub opts: RunOptions,
    /// Redacted destination and table, for the report.
    pub target: String,
    /// Table name, for the report.
    pub table: String,
}

/// A future that completes when the run should stop early (Ctrl-C).
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Run a pipeline to the end (or to `stop`), reporting progress to `observer`.
pub async fn execute(parts: RunParts, observer: Arc<dyn Observer>, stop: StopSignal) -> Report {
    let start = Instant::now();
    let RunParts {
        mut source,
        stages,
        sink,
        opts,
        target,
        table,
    } = parts;
    let inputs = source.inputs();
    let bytes_counter = source.bytes_counter();
    let bytes_total = source.bytes_total();
    let counters = Arc::new(Counters::default());
    let stopping = Arc::new(AtomicBool::new(false));
    let cap = opts.channel_batches.max(1);

    // Reader thread.
    let (tx, mut rx) = mpsc::channel::<Batch>(cap);
    let reader = {
        let stopping = stopping.clone();
        let counters = counters.clone();
        let bytes_counter = bytes_counter.clone();
        let batch_rows = opts.batch_rows.max(1);
        std::thread::Builder::new()
            .name("rowflow-reader".into())
            .spawn(move || -> Result<()> {
                let mut seq = 0u64;
                let mut records: Vec<SourceRecord> = Vec::with_capacity(batch_rows);
                let mut last_bytes = 0u64;
                while !stopping.load(Ordering::Relaxed) {
                    records.clear();
                    source.read_batch(batch_rows, &mut records)?;
                    if records.is_empty() {
                        break;
                    }
                    let bytes_now = bytes_counter.load(Ordering::Relaxed);
                    let end = records.last().map(|r| r.pos).unwrap_or_default();
                    let n = records.len() as u64;
                    let batch = Batch {
                        seq,
                        rows: records
                            .drain(..)
                            .map(|r| Row {
                                pos: r.pos,
                                values: Vec::new(),
                                raw: r.raw,
                            })
                            .collect(),
                        records: n,
                        bytes: bytes_now - last_bytes,
                        end,
                        ..Batch::default()
                    };
                    last_bytes = bytes_now;
                    seq += 1;
                    counters.rows_read.fetch_add(n, Ordering::Relaxed);
                    if tx.blocking_send(batch).is_err() {
                        break; // downstream stopped (an error there is reported by it)
                    }
                }
                Ok(())
            })
            .expect("spawning a thread only fails when the OS is out of resources")
    };

    // Stages.
    let mut tasks = Vec::new();
    for stage in stages {
        let (stx, srx) = mpsc::channel::<Batch>(cap);
        let input = std::mem::replace(&mut rx, srx);
        let handle = match stage {
            Stage::Cpu(transforms) => tokio::spawn(cpu_stage::run(
                Arc::new(transforms),
                input,
                stx,
                opts.workers.max(1),
            )),
            Stage::Async(s) => tokio::spawn(async_stage::run(s, input, stx, opts.batch_rows)),
        };
        tasks.push(handle);
    }

    // Sink thread.
    let sink_thread = {
        let counters = counters.clone();
        let opts = opts.clone();
        std::thread::Builder::new()
            .name("rowflow-sink".into())
            .spawn(move || sink_loop::run(sink, rx, opts, counters))
            .expect("spawning a thread only fails when the OS is out of resources")
    };

    // Progress ticker and stop signal, until the sink thread ends.
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let sink_waiter = tokio::task::spawn_blocking(move || {
        let r = sink_thread.join();
        let _ = done_tx.send(());
        r
    });
    let snapshot = |counters: &Counters| Snapshot {
        bytes_read: bytes_counter.load(Ordering::Relaxed),
        bytes_total,
        rows_read: counters.rows_read.load(Ordering::Relaxed),
        rows_written: counters.rows_written.load(Ordering::Relaxed),
        rows_filtered: counters.rows_filtered.load(Ordering::Relaxed),
        rows_rejected: counters.rows_rejected.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    };
    let mut stop = stop;
    let mut interrupted = false;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut done_rx => break,
            _ = &mut stop, if !interrupted => {
                interrupted = true;
                stopping.store(true, Ordering::Relaxed);
                observer.note("stopping: finishing the rows in flight and committing");
            }
            _ = tick.tick() => observer.progress(&snapshot(&counters)),
        }
    }
    // If the sink stopped early (error), the reader may be blocked on a full channel:
    // dropping every receiver unblocks it. Stage tasks end when their channels close.
    stopping.store(true, Ordering::Relaxed);
    let sink_end = match sink_waiter.await {
        Ok(Ok(r)) => r,
        _ => sink_loop::SinkEnd {
            totals: Default::default(),
            error: Some(Error::Stage {
                stage: "sink".into(),
                message: "the sink thread panicked".into(),
            }),
        },
    };
    let mut stage_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => stage_error = stage_error.or(Some(e)),
            Err(e) => {
                stage_error = stage_error.or(Some(Error::Stage {
                    stage: "transform".into(),
                    message: format!("a stage task failed: {e}"),
                }))
            }
        }
    }
    let reader_result = tokio::task::spawn_blocking(move || reader.join())
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_else(|| {
            Err(Error::Stage {
                stage: "reader".into(),
                message: "the reader thread panicked".into(),
            })
        });
    observer.progress(&snapshot(&counters));

    let totals = sink_end.totals;
    let outcome = match (sink_end.error, reader_result, stage_error) {
        (Some(e), _, _) => Outcome::Failed(e),
        (_, Err(e), _) => Outcome::Failed(e),
        (_, _, Some(e)) => Outcome::Failed(e),
        _ if interrupted => Outcome::Interrupted,
        _ => Outcome::Completed,
    };
    // A completed or interrupted run accounts for every record it read; a failed one
    // also read rows that were rolled back or never reached the sink.
    let accounted = totals.written + totals.filtered + totals.rejected;
    Report {
        rows_read: accounted.max(counters.rows_read.load(Ordering::Relaxed)),
        rows_written: totals.written,
        rows_filtered: totals.filtered,
        rows_rejected: totals.rejected,
        rows_rolled_back: totals.rolled_back,
        bytes_read: bytes_counter.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        inputs,
        target,
        table,
        reject_file: totals.reject_file,
        first_rejects: totals.first_rejects,
        outcome,
    }
}
