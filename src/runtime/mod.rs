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
mod reader;
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
use crate::row::Batch;
use crate::sink::Sink;
use crate::source::Source;
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
    /// Stop after reading this many rows (`--limit`): the load stays incomplete.
    pub limit: Option<u64>,
    /// Data records skipped at the start of every input (`source.skip_rows`).
    pub skip_rows: u64,
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
    /// Each transaction after the first takes at least three times the rows this run has
    /// written before it (`commit_rows` is then the least): the total rewritten by a
    /// destination whose transactions cost the size of its table stays linear.
    pub grow_commits: bool,
    /// Commit at least this often.
    pub commit_interval: Duration,
    /// Row error policy.
    pub on_error: OnError,
    /// Abort past this many rejected rows.
    pub max_errors: Option<u64>,
    /// Reject file (None with `on_error = "skip"`).
    pub rejects: Option<RejectTarget>,
    /// Rejected rows go into the target database's rejects table, with each commit (a
    /// chunk of a distributed load) rather than into a file.
    pub reject_table: bool,
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

impl RunOptions {
    /// How large transactions are, in words: "1000 rows", or "1000000 rows at first, then
    /// 3 times the rows written before each".
    pub fn transaction_size(&self) -> String {
        if self.grow_commits {
            format!(
                "{} rows at first, then {} times the rows written before each",
                self.commit_rows,
                sink_loop::COMMIT_GROWTH
            )
        } else {
            format!("{} rows", self.commit_rows)
        }
    }
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
    /// The opened sink's writers, at least one (writer 0 first: it prepares the table,
    /// at open or in its first transaction).
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
        source,
        stages,
        sinks,
        opts,
        target,
        table,
        http,
        lock,
    } = parts;
    let inputs = source.inputs();
    let bytes = source.bytes_counter();
    let bytes_total = source.bytes_total();
    let counters = Arc::new(Counters::default());
    let halt = Arc::new(halt::Halt::new(source.stop_flag()));
    let rejected_before = opts.resume.as_ref().map_or(0, |r| r.sum()[2]);
    let budget = Arc::new(halt::Budget::new(
        opts.on_error,
        opts.max_errors,
        rejected_before,
        inputs.clone(),
    ));
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
    let commits = Arc::new(Mutex::new(match &opts.resume {
        Some(r) => commits::Commits::new(r.start, r.start_records, r.skip.clone()),
        None => commits::Commits::new(Default::default(), 0, Vec::new()),
    }));
    let cap = opts.channel_batches.max(1);
    let (tx, rx) = mpsc::channel::<Batch>(cap);
    let source_notes = Arc::new(Mutex::new(Vec::new()));
    let limited = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = reader::Reader {
        notes: source_notes.clone(),
        source,
        commits: commits.clone(),
        halt: halt.clone(),
        budget: budget.clone(),
        counters: counters.clone(),
        bytes: bytes.clone(),
        batch_rows: opts.batch_rows.max(1),
        batch_bytes: opts.batch_bytes.max(1),
        limit: opts.limit,
        skip_rows: opts.skip_rows,
        limited: limited.clone(),
        skip: opts
            .resume
            .as_ref()
            .map(|r| r.skip.clone())
            .unwrap_or_default(),
    }
    .spawn(tx);
    let (rx, mut tasks) = spawn_stages(stages, rx, &opts, &halt, &budget);
    let shared = Arc::new(sink_loop::Shared::new(
        rejects,
        commits.clone(),
        halt.clone(),
        budget.clone(),
        rejected_before,
    ));
    let sink_threads = spawn_writers(sinks, rx, &opts, &counters, &shared, &mut tasks);

    // Progress ticker and stop signal, until the sink threads end.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let sink_waiter = tokio::task::spawn_blocking(move || {
        let ends: Vec<_> = sink_threads.into_iter().map(|t| t.join()).collect();
        let _ = done_tx.send(());
        ends
    });
    let snapshot = || Snapshot {
        http: http.iter().map(|h| h.snapshot()).collect(),
        bytes_read: bytes.load(Ordering::Relaxed),
        bytes_total,
        rows_read: counters.rows_read.load(Ordering::Relaxed),
        rows_written: counters.rows_written.load(Ordering::Relaxed),
        rows_filtered: counters.rows_filtered.load(Ordering::Relaxed),
        rows_rejected: counters.rows_rejected.load(Ordering::Relaxed),
        rows_uncommitted: counters.rows_uncommitted.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    };
    watch(done_rx, stop, &halt, observer.as_ref(), &snapshot).await;
    // If the sink stopped early (error), the reader may be blocked on a full channel:
    // dropping every receiver unblocks it. Stage tasks end when their channels close.
    halt.quiet();
    let sink_end = merge_ends(sink_waiter.await.unwrap_or_default());
    let stage_error = stage_error(tasks).await;
    let reader_result = reader_result(reader, halt.is_set()).await;
    let source_notes = std::mem::take(&mut *source_notes.lock().unwrap_or_else(|p| p.into_inner()));
    for n in &source_notes {
        observer.note(n);
    }
    let end = snapshot();
    observer.progress(&end);
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
        // Stopped by `limit` (and by nothing else): every row read is accounted for.
        (_, _, _, None) if !complete && limited.load(std::sync::atomic::Ordering::Relaxed) => {
            Outcome::Limited(opts.limit.unwrap_or(0))
        }
        // Stopped before the whole input was committed (by the signal seen here, or seen
        // first by the reader while planning): interrupted, whatever else ended first.
        _ if !complete => Outcome::Interrupted,
        _ => Outcome::Completed,
    };
    // The lock goes once everything is committed or rolled back.
    drop(lock);
    let mut source_notes = source_notes;
    if let Outcome::Limited(n) = outcome {
        source_notes.push(format!(
            "stopped after {} (limit {n}): the load is not complete, and the next run goes on \
             after them",
            crate::format::plural(n, "row")
        ));
    }
    let report = Report {
        notes: source_notes,
        bytes_read: end.bytes_read,
        elapsed: start.elapsed(),
        http: end.http,
        outcome,
        ..Report::empty(inputs, target, table)
    };
    account(report, sink_end.totals, end.rows_read, opts.resume.as_ref())
}

/// Spawn the stages in order, each reading the channel the one before writes; the
/// receiver of the last one's output, and the tasks.
fn spawn_stages(
    stages: Vec<Stage>,
    mut rx: mpsc::Receiver<Batch>,
    opts: &RunOptions,
    halt: &Arc<halt::Halt>,
    budget: &Arc<halt::Budget>,
) -> (mpsc::Receiver<Batch>, Vec<StageTask>) {
    let mut tasks = Vec::new();
    let mut after_async = false;
    for stage in stages {
        let (stx, srx) = mpsc::channel::<Batch>(opts.channel_batches.max(1));
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
    (rx, tasks)
}

/// A stage's task.
type StageTask = tokio::task::JoinHandle<Result<()>>;

/// Spawn one sink thread per writer. With several, a router (among `tasks`) deals whole
/// batches out in turn.
fn spawn_writers(
    sinks: Vec<Box<dyn Sink>>,
    rx: mpsc::Receiver<Batch>,
    opts: &RunOptions,
    counters: &Arc<Counters>,
    shared: &Arc<sink_loop::Shared>,
    tasks: &mut Vec<StageTask>,
) -> Vec<std::thread::JoinHandle<sink_loop::SinkEnd>> {
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
        // A first writer that prepares the table (creates, replaces or empties it) in its
        // first transaction writes alone until that commits: the others' rows need the
        // table, and a run that fails before then must leave the table as it was.
        let hold = sinks[0]
            .prepares_first()
            .then(|| shared.first_commit.clone());
        tasks.push(tokio::spawn(route(rx, txs, hold)));
    }
    let mut threads = Vec::with_capacity(writers);
    for (w, (sink, wrx)) in sinks.into_iter().zip(writer_rx).enumerate() {
        let counters = counters.clone();
        let opts = opts.clone();
        let shared = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("rowflow-sink-{w}"))
                .spawn(move || {
                    sink_loop::run(sink, w as u32, writers as u32, wrx, opts, counters, shared)
                })
                .expect("spawning a thread only fails when the OS is out of resources"),
        );
    }
    threads
}

/// Until the sink threads end (`done`): progress every 200 ms, and on `stop` (Ctrl-C)
/// no new row is started, once.
async fn watch(
    mut done: tokio::sync::oneshot::Receiver<()>,
    mut stop: StopSignal,
    halt: &halt::Halt,
    observer: &dyn Observer,
    snapshot: &(dyn Fn() -> Snapshot + Sync),
) {
    let mut interrupted = false;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = &mut done => break,
            _ = &mut stop, if !interrupted => {
                interrupted = true;
                halt.signal();
                observer.note(
                    "stopping: no new row is started; the rows already done are being committed",
                );
            }
            _ = tick.tick() => observer.progress(&snapshot()),
        }
    }
}

/// The first error of the stage tasks, once they have all ended.
async fn stage_error(tasks: Vec<StageTask>) -> Option<Error> {
    let mut first = None;
    for t in tasks {
        let e = match t.await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(e) => Error::Stage {
                stage: "transform".into(),
                message: format!("a stage task failed: {e}"),
            },
        };
        first = first.or(Some(e));
    }
    first
}

/// How the reader ended. When the run is stopping it is not waited for long: blocked in
/// a read of an input that sends nothing, it is left behind (what it had read was not
/// committed).
async fn reader_result(
    reader: tokio::sync::oneshot::Receiver<Result<()>>,
    stopping: bool,
) -> Result<()> {
    let wait = if stopping {
        Duration::from_secs(2)
    } else {
        Duration::MAX
    };
    match tokio::time::timeout(wait, reader).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(Error::Stage {
            stage: "reader".into(),
            message: "the reader thread panicked".into(),
        }),
        Err(_) => Ok(()),
    }
}

/// The report's row counts: what this run committed (`totals`), and of the `read` rows,
/// those not processed (rolled back, or not finished when the run stopped: left for a
/// resumed run); with what an earlier run had done when this one resumes it.
fn account(
    report: Report,
    totals: sink_loop::Totals,
    read: u64,
    resumed: Option<&crate::checkpoint::Resume>,
) -> Report {
    let accounted = totals.written + totals.filtered + totals.rejected;
    Report {
        rejected_before: resumed.map_or(0, |r| r.sum()[2]),
        totals_before: resumed.map_or([0; 3], |r| r.sum()),
        already_committed: resumed.map_or(0, |r| r.committed_records),
        note: resumed.map(|r| {
            format!(
                "resumed at line {} of {}",
                r.start.line.max(1),
                report
                    .inputs
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
        reject_file: totals.reject_file,
        first_rejects: totals.first_rejects.into_iter().map(|(_, r)| r).collect(),
        ..report
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
/// hold the others up). With `hold`, every batch goes to writer 0 until a writer has
/// committed (writer 0 prepares the table in its first transaction).
async fn route(
    mut rx: mpsc::Receiver<Batch>,
    txs: Vec<mpsc::Sender<Batch>>,
    mut hold: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<()> {
    let mut next = 0usize;
    while let Some(batch) = rx.recv().await {
        if let Some(first_commit) = &hold {
            if !first_commit.load(Ordering::Acquire) {
                if txs[0].send(batch).await.is_err() {
                    return Ok(());
                }
                next = 1 % txs.len();
                continue;
            }
            hold = None;
        }
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
        let router = tokio::spawn(route(rx, vec![t0, t1], None));
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

    /// Held: every batch goes to writer 0 until the first commit, then to both.
    #[tokio::test]
    async fn the_other_writers_wait_for_the_first_commit_when_held() {
        let (tx, rx) = mpsc::channel::<Batch>(16);
        let (t0, mut r0) = mpsc::channel::<Batch>(2);
        let (t1, mut r1) = mpsc::channel::<Batch>(2);
        let first = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let router = tokio::spawn(route(rx, vec![t0, t1], Some(first.clone())));
        let batch = |seq| Batch {
            seq,
            ..Batch::default()
        };
        for seq in 0..6 {
            tx.send(batch(seq)).await.unwrap();
        }
        let mut to_0 = Vec::new();
        for _ in 0..6 {
            to_0.push(r0.recv().await.unwrap().seq);
        }
        assert_eq!(to_0, (0..6).collect::<Vec<_>>());
        assert!(
            r1.try_recv().is_err(),
            "writer 1 got nothing before the commit"
        );
        first.store(true, Ordering::Release);
        for seq in 6..10 {
            tx.send(batch(seq)).await.unwrap();
        }
        drop(tx);
        let mut to_1 = Vec::new();
        while let Some(b) = r1.recv().await {
            to_1.push(b.seq);
        }
        router.await.unwrap().unwrap();
        assert!(
            !to_1.is_empty(),
            "writer 1 gets batches after the first commit"
        );
    }
}
