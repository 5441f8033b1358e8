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
mod commits;
mod cpu_stage;
mod halt;
mod rejects;
mod sink_loop;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

pub use cpu_stage::EncodeStep;
pub use rejects::{RejectTarget, RejectWriter, check_reject_path};

use crate::config::OnError;
use crate::error::{Error, Result};
use crate::report::{Observer, Outcome, Report, Snapshot};
use crate::row::{Batch, Row};
use crate::sink::Sink;
use crate::source::{Source, SourceRecord};
use crate::transform::{AsyncStage, Transform};

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
    /// Bytes of records per batch at most.
    pub batch_bytes: usize,
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
    /// The checkpoint row this run's commits update.
    pub identity: crate::checkpoint::Identity,
    /// This run's id (in commit records).
    pub run_id: String,
    /// How long to keep reconnecting to a destination that went away.
    pub reconnect_timeout: Duration,
    /// Where a resumed run starts, what it skips, and the totals before it.
    pub resume: Option<crate::checkpoint::Resume>,
    /// This run's inputs as its checkpoint records them (indexed by `Position::file`).
    pub input_states: Vec<crate::checkpoint::InputState>,
    /// The pipeline's shape, recorded with every commit.
    pub shape: crate::checkpoint::Shape,
    /// Inputs earlier runs of the load completed, carried into this run's records.
    pub carry: Vec<crate::checkpoint::DoneInput>,
    /// Rows those earlier runs wrote.
    pub written_before: u64,
    /// When this run started (RFC 3339).
    pub started: String,
    /// The load's generation this run belongs to.
    pub generation: u64,
}

/// Shared counters, read by the progress ticker.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub rows_read: AtomicU64,
    pub rows_written: AtomicU64,
    pub rows_filtered: AtomicU64,
    pub rows_rejected: AtomicU64,
    /// Records a resumed run skipped (committed by an earlier run).
    pub rows_skipped: AtomicU64,
    /// Records in the writers' open transactions (handed to a sink, not committed yet).
    pub rows_uncommitted: AtomicU64,
}

/// Everything a run needs, already validated by the plan.
pub struct RunParts {
    /// The opened source.
    pub source: Box<dyn Source>,
    /// The stages in order.
    pub stages: Vec<Stage>,
    /// The opened sink's writers (its table is ready), at least one.
    pub sinks: Vec<Box<dyn Sink>>,
    /// Options.
    pub opts: RunOptions,
    /// Redacted destination and table, for the report.
    pub target: String,
    /// Table name, for the report.
    pub table: String,
    /// Counters of the HTTP stages, for progress and the report.
    pub http: Vec<Arc<crate::transform::HttpStats>>,
    /// The load's lock, held until the run ends.
    pub lock: Option<crate::sink::LoadLock>,
}

/// A future that completes when the run should stop early (Ctrl-C).
pub type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Run a pipeline to the end (or to `stop`), reporting progress to `observer`.
pub async fn execute(parts: RunParts, observer: Arc<dyn Observer>, stop: StopSignal) -> Report {
    let start = Instant::now();
    let RunParts {
        mut source,
        stages,
        sinks,
        opts,
        target,
        table,
        http,
        lock,
    } = parts;
    let inputs = source.inputs();
    let bytes_counter = source.bytes_counter();
    let source_stop = source.stop_flag();
    let bytes_total = source.bytes_total();
    let counters = Arc::new(Counters::default());
    let halt = Arc::new(halt::Halt::new(source_stop));
    let budget = Arc::new(halt::Budget::new(
        opts.on_error,
        opts.max_errors,
        opts.resume.as_ref().map_or(0, |r| r.sum()[2]),
        inputs.clone(),
    ));
    let cap = opts.channel_batches.max(1);
    // The reject file first: a run that cannot write it fails before it reads a row.
    let committed_rejects = opts.resume.as_ref().map_or(0, |r| r.reject_bytes);
    let rejects = match opts
        .rejects
        .clone()
        .map(|t| RejectWriter::resume(t, committed_rejects))
        .transpose()
    {
        Ok(r) => r,
        Err(e) => {
            drop(lock);
            return failed_before_start(e, start, inputs, target, table);
        }
    };

    // Reader thread.
    let (tx, mut rx) = mpsc::channel::<Batch>(cap);
    let commits = Arc::new(Mutex::new(match &opts.resume {
        Some(r) => commits::Commits::new(r.start, r.start_records, r.skip.clone()),
        None => commits::Commits::new(Default::default(), 0, Vec::new()),
    }));
    // The reader says when it is done; a reader blocked on an input that sends nothing
    // (a pipe whose writer is idle) is not waited for once the run stops.
    let (reader_done, reader_result_rx) = tokio::sync::oneshot::channel::<Result<()>>();
    let _reader = {
        let skip = opts
            .resume
            .as_ref()
            .map(|r| r.skip.clone())
            .unwrap_or_default();
        let commits = commits.clone();
        let halt = halt.clone();
        let counters = counters.clone();
        let bytes_counter = bytes_counter.clone();
        let batch_rows = opts.batch_rows.max(1);
        let batch_bytes = opts.batch_bytes.max(1);
        let budget = budget.clone();
        std::thread::Builder::new()
            .name("rowflow-reader".into())
            .spawn(move || {
                let result = (move || -> Result<()> {
                    let mut seq = 0u64;
                    let mut records: Vec<SourceRecord> = Vec::with_capacity(batch_rows);
                    let mut last_bytes = 0u64;
                    let mut skip = skip.into_iter().peekable();
                    let mut reached_end = false;
                    while !halt.is_set() {
                        records.clear();
                        match source.read_batch(batch_rows, batch_bytes, &mut records) {
                            Ok(()) => {}
                            // Stopped while reading (Ctrl-C in a long line): not a failure.
                            Err(Error::Interrupted(_)) => break,
                            Err(e) => return Err(e),
                        }
                        if records.is_empty() {
                            reached_end = true;
                            break;
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
                            counters
                                .rows_skipped
                                .fetch_add((before - records.len()) as u64, Ordering::Relaxed);
                            if records.is_empty() {
                                continue;
                            }
                        }
                        let bytes_now = bytes_counter.load(Ordering::Relaxed);
                        let first = records.first().map(|r| r.pos).unwrap_or_default();
                        let end = records.last().map(|r| r.next).unwrap_or_default();
                        let n = records.len() as u64;
                        let mut batch = Batch {
                            seq,
                            rows: Vec::with_capacity(records.len()),
                            records: n,
                            bytes: bytes_now - last_bytes,
                            first,
                            end,
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
                        budget.failed(&batch.rejected, &halt);
                        last_bytes = bytes_now;
                        seq += 1;
                        counters.rows_read.fetch_add(n, Ordering::Relaxed);
                        if tx.blocking_send(batch).is_err() {
                            break; // downstream stopped (an error there is reported by it)
                        }
                    }
                    // The whole input is read: once these batches commit, the load is complete
                    // (and its record says what the inputs contained).
                    if reached_end {
                        match source.content_hashes() {
                            Ok(contents) => commits
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .input_done(seq, contents),
                            // Stopped while hashing a resumed input: the load is not marked
                            // complete; the next run finds everything committed.
                            Err(Error::Interrupted(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(())
                })();
                let _ = reader_done.send(result);
            })
            .expect("spawning a thread only fails when the OS is out of resources")
    };

    // Stages.
    let mut tasks = Vec::new();
    let mut after_async = false;
    for stage in stages {
        let (stx, srx) = mpsc::channel::<Batch>(cap);
        let input = std::mem::replace(&mut rx, srx);
        let handle = match stage {
            Stage::Cpu(transforms) => tokio::spawn(cpu_stage::run(
                Arc::new(transforms),
                input,
                stx,
                cpu_stage::CpuRun {
                    workers: opts.workers.max(1),
                    halt: halt.clone(),
                    budget: budget.clone(),
                    drain: after_async,
                },
            )),
            Stage::Async(s) => {
                after_async = true;
                tokio::spawn(async_stage::run(
                    s,
                    input,
                    stx,
                    opts.batch_rows,
                    halt.clone(),
                    budget.clone(),
                ))
            }
        };
        tasks.push(handle);
    }

    // Sink threads: one per writer. With several, a router deals whole batches out in
    // turn.
    let shared = Arc::new(sink_loop::Shared::new(
        rejects,
        commits.clone(),
        halt.clone(),
        budget.clone(),
        opts.resume.as_ref().map_or(0, |r| r.sum()[2]),
    ));
    let writers = sinks.len().max(1);
    let mut writer_rx = Vec::with_capacity(writers);
    if writers == 1 {
        writer_rx.push(rx);
    } else {
        let mut txs = Vec::with_capacity(writers);
        for _ in 0..writers {
            let (t, r) = mpsc::channel::<Batch>(2);
            txs.push(t);
            writer_rx.push(r);
        }
        tasks.push(tokio::spawn(route(rx, txs)));
    }
    let mut sink_threads = Vec::with_capacity(writers);
    for (w, (sink, wrx)) in sinks.into_iter().zip(writer_rx).enumerate() {
        let counters = counters.clone();
        let opts = opts.clone();
        let shared = shared.clone();
        sink_threads.push(
            std::thread::Builder::new()
                .name(format!("rowflow-sink-{w}"))
                .spawn(move || {
                    sink_loop::run(sink, w as u32, writers as u32, wrx, opts, counters, shared)
                })
                .expect("spawning a thread only fails when the OS is out of resources"),
        );
    }

    // Progress ticker and stop signal, until the sink thread ends.
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let sink_waiter = tokio::task::spawn_blocking(move || {
        let ends: Vec<_> = sink_threads.into_iter().map(|t| t.join()).collect();
        let _ = done_tx.send(());
        ends
    });
    let http_snapshot =
        |http: &[Arc<crate::transform::HttpStats>]| http.iter().map(|h| h.snapshot()).collect();
    let snapshot = |counters: &Counters| Snapshot {
        http: http_snapshot(&http),
        bytes_read: bytes_counter.load(Ordering::Relaxed),
        bytes_total,
        rows_read: counters.rows_read.load(Ordering::Relaxed),
        rows_written: counters.rows_written.load(Ordering::Relaxed),
        rows_filtered: counters.rows_filtered.load(Ordering::Relaxed),
        rows_rejected: counters.rows_rejected.load(Ordering::Relaxed),
        rows_uncommitted: counters.rows_uncommitted.load(Ordering::Relaxed),
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
                halt.signal();
                observer.note(
                    "stopping: no new row is started; the rows already done are being committed",
                );
            }
            _ = tick.tick() => observer.progress(&snapshot(&counters)),
        }
    }
    // If the sink stopped early (error), the reader may be blocked on a full channel:
    // dropping every receiver unblocks it. Stage tasks end when their channels close.
    halt.quiet();
    let sink_end = merge_ends(sink_waiter.await.unwrap_or_default());
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
    let reader_wait = if halt.is_set() {
        Duration::from_secs(2)
    } else {
        Duration::MAX
    };
    let reader_result = match tokio::time::timeout(reader_wait, reader_result_rx).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(Error::Stage {
            stage: "reader".into(),
            message: "the reader thread panicked".into(),
        }),
        // Blocked in a read of an input that sends nothing: left behind (what it had
        // read was not committed; the run is stopping anyway).
        Err(_) => Ok(()),
    };
    observer.progress(&snapshot(&counters));

    let totals = sink_end.totals;
    let complete = commits
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_complete();
    let outcome = match (
        sink_end.error,
        reader_result,
        stage_error,
        halt.take_reason(),
    ) {
        (Some(e), _, _, _) => Outcome::Failed(e),
        (_, Err(e), _, _) => Outcome::Failed(e),
        (_, _, Some(e), _) => Outcome::Failed(e),
        (_, _, _, Some(halt::Reason::Failed { error, .. })) => Outcome::Failed(error),
        // Stopped before the whole input was committed (by the signal seen here, or seen
        // first by the reader while planning): interrupted, whatever else ended first.
        _ if !complete => Outcome::Interrupted,
        _ => Outcome::Completed,
    };
    // What this run accounts for (committed); rows read but not committed (rolled back,
    // or not finished when the run stopped) are left for a resumed run.
    let accounted = totals.written + totals.filtered + totals.rejected;
    let read = counters.rows_read.load(Ordering::Relaxed);
    let resumed = opts.resume.as_ref();
    // The lock goes once everything is committed or rolled back.
    drop(lock);
    Report {
        notes: Vec::new(),
        rejected_before: resumed.map_or(0, |r| r.sum()[2]),
        already_committed: resumed.map_or(0, |r| r.committed_records),
        note: resumed.map(|r| {
            format!(
                "resumed at line {} of {}",
                r.start.line.max(1),
                inputs
                    .get(r.start.file as usize)
                    .cloned()
                    .unwrap_or_default()
            )
        }),
        rows_read: accounted,
        rows_not_processed: read.saturating_sub(accounted + totals.rolled_back),
        rows_written: totals.written,
        rows_filtered: totals.filtered,
        rows_rejected: totals.rejected,
        rows_rolled_back: totals.rolled_back,
        reconnects: totals.reconnects,
        bytes_read: bytes_counter.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
        inputs,
        target,
        table,
        reject_file: totals.reject_file,
        first_rejects: totals.first_rejects.into_iter().map(|(_, r)| r).collect(),
        http: http_snapshot(&http),
        outcome,
    }
}

/// The writers' ends as one: totals summed, the first rejects in input order, the
/// first error.
fn merge_ends(ends: Vec<std::thread::Result<sink_loop::SinkEnd>>) -> sink_loop::SinkEnd {
    let mut out = sink_loop::SinkEnd {
        totals: Default::default(),
        error: None,
    };
    if ends.is_empty() {
        out.error = Some(Error::Stage {
            stage: "sink".into(),
            message: "the sink threads could not be joined".into(),
        });
    }
    for end in ends {
        let end = end.unwrap_or_else(|_| sink_loop::SinkEnd {
            totals: Default::default(),
            error: Some(Error::Stage {
                stage: "sink".into(),
                message: "a sink thread panicked".into(),
            }),
        });
        let t = &mut out.totals;
        t.written += end.totals.written;
        t.filtered += end.totals.filtered;
        t.rejected += end.totals.rejected;
        t.rolled_back += end.totals.rolled_back;
        t.reconnects += end.totals.reconnects;
        t.reject_file = t.reject_file.take().or(end.totals.reject_file);
        t.first_rejects.extend(end.totals.first_rejects);
        if out.error.is_none() {
            out.error = end.error;
        }
    }
    out.totals.first_rejects.sort_by_key(|(pos, _)| *pos);
    out.totals.first_rejects.truncate(5);
    out
}

/// Deal whole batches out to the writers: each to the next one in turn that has room,
/// else to the first that makes room (a writer busy sending a large statement does not
/// hold the others up).
async fn route(mut rx: mpsc::Receiver<Batch>, txs: Vec<mpsc::Sender<Batch>>) -> Result<()> {
    let mut next = 0usize;
    while let Some(batch) = rx.recv().await {
        let n = txs.len();
        let ready = (0..n)
            .map(|k| (next + k) % n)
            .find_map(|w| txs[w].try_reserve().ok().map(|p| (w, p)));
        let (w, permit) = match ready {
            Some(r) => r,
            None => {
                let waits = txs.iter().map(|t| Box::pin(t.reserve()));
                match futures::future::select_all(waits).await {
                    (Ok(p), w, _) => (w, p),
                    (Err(_), _, _) => return Ok(()),
                }
            }
        };
        permit.send(batch);
        next = (w + 1) % n;
    }
    Ok(())
}

/// The report of a run that failed before its first row.
fn failed_before_start(
    e: Error,
    start: Instant,
    inputs: Vec<String>,
    target: String,
    table: String,
) -> Report {
    Report {
        elapsed: start.elapsed(),
        outcome: Outcome::Failed(e),
        ..Report::empty(inputs, target, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_writer_does_not_hold_the_others_up() {
        let (tx, rx) = mpsc::channel::<Batch>(16);
        let (t0, mut r0) = mpsc::channel::<Batch>(2);
        let (t1, mut r1) = mpsc::channel::<Batch>(2);
        let router = tokio::spawn(route(rx, vec![t0, t1]));
        for seq in 0..10 {
            tx.send(Batch {
                seq,
                ..Batch::default()
            })
            .await
            .unwrap();
        }
        drop(tx);
        // Writer 0 takes nothing (as if busy with a long statement): once its two
        // slots are full, every other batch goes to writer 1.
        let mut to_1 = Vec::new();
        while let Ok(Some(b)) = tokio::time::timeout(Duration::from_secs(5), r1.recv()).await {
            to_1.push(b.seq);
        }
        tokio::time::timeout(Duration::from_secs(5), router)
            .await
            .expect("the router is stuck behind the busy writer")
            .unwrap()
            .unwrap();
        let mut to_0 = Vec::new();
        while let Ok(b) = r0.try_recv() {
            to_0.push(b.seq);
        }
        assert_eq!(to_0.len(), 2, "writer 0 got {to_0:?}, writer 1 {to_1:?}");
        let mut all: Vec<u64> = to_0.iter().chain(&to_1).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
