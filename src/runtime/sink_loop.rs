//! The sink thread: write batches, commit every `commit_rows` rows or
//! `commit_interval`, and only after a commit count rows as written and write their
//! rejects. Applies the error policy.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::commits::{BatchMeta, Commits};
use super::halt::{Budget, Halt};
use super::rejects::RejectWriter;
use super::{Counters, RunOptions};
use crate::checkpoint::{CommitRecord, CommitState};
use crate::config::OnError;
use crate::error::{Error, Result};
use crate::row::{Batch, Rejected};
use crate::sink::{Sink, Written};

/// Totals of committed work.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub written: u64,
    pub filtered: u64,
    pub rejected: u64,
    pub rolled_back: u64,
    pub reconnects: u64,
    pub reject_file: Option<PathBuf>,
    /// The first rejects of this writer, with their (file, record) for ordering.
    pub first_rejects: Vec<((u32, u64), String)>,
}

/// Work written in the open transaction, not yet committed.
#[derive(Default)]
struct Pending {
    /// The batches written in it.
    batches: Vec<BatchMeta>,
    written: u64,
    filtered: u64,
    records: u64,
    rejected: Vec<Rejected>,
}

/// What the writers of one run share.
pub(crate) struct Shared {
    /// The reject file (one for all writers; rows are written after their commit).
    pub rejects: Mutex<Option<RejectWriter>>,
    /// Set when a writer fails: the others roll back and stop.
    pub stop: AtomicBool,
    /// Which batches are committed, for the commit records.
    pub commits: Arc<Mutex<Commits>>,
    /// The run's stop switch.
    pub halt: Arc<Halt>,
    /// The error policy's count of failed rows as the stages find them (to stop them).
    pub budget: Arc<Budget>,
    /// Failed rows committed by every writer, and by the earlier runs of the load: what
    /// `max_errors` is checked against before a commit.
    pub rejected: AtomicU64,
    /// Set at the first commit of any writer: a sink that prepares the table in its
    /// first transaction ([`Sink::prepares_first`]) gets every batch until then.
    pub first_commit: Arc<AtomicBool>,
}

impl Shared {
    pub(crate) fn new(
        rejects: Option<RejectWriter>,
        commits: Arc<Mutex<Commits>>,
        halt: Arc<Halt>,
        budget: Arc<Budget>,
        rejected_before: u64,
    ) -> Self {
        Shared {
            commits,
            rejects: Mutex::new(rejects),
            stop: AtomicBool::new(false),
            halt,
            budget,
            rejected: AtomicU64::new(rejected_before),
            first_commit: Arc::default(),
        }
    }
}

/// With [`RunOptions::grow_commits`], a transaction takes at least this many times the
/// rows the run has written before it. Measured into SQLite, 10M workload rows with keys
/// in random order: 78 s in transactions of 1M rows; 50 s growing 2x, 45 s 3x, 44 s 4x,
/// 42 s in one transaction. A crash redoes at most the open transaction: up to three
/// quarters of the rows, and at most 30 seconds of reading (`commit_interval`).
pub(crate) const COMMIT_GROWTH: u64 = 3;

struct Loop {
    sink: Box<dyn Sink>,
    writer: u32,
    opts: RunOptions,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    totals: Totals,
    pending: Pending,
    last_commit: Instant,
    /// Transactions committed by this run.
    txn: u64,
    /// Rows in this writer's first transaction: with several writers, writer `w` of `n`
    /// commits first after `(w + 1) / n` of `commit_rows`, so that the writers do not all
    /// send and commit at the same moment (the server would then idle while they all
    /// gather their next rows, and the pipeline wait while they all send).
    first_commit_rows: u64,
    /// Rows the sink is done with, freed on another thread.
    graveyard: std::sync::mpsc::SyncSender<Vec<crate::row::Row>>,
    /// This writer stopped because another one failed (which reports why).
    stopped_by_other: bool,
}

impl Loop {
    /// Write what the sink holds back, apply the error policy to what it refused, then
    /// commit and account for the transaction.
    ///
    /// The transaction's rejects reach the reject file (durably) before the commit, and
    /// the commit record says how long the file is with them: a resumed run keeps exactly
    /// the rejects of committed transactions. Writers take turns here (the reject file's
    /// lock), so the file holds rejects in commit order.
    fn commit(&mut self) -> Result<()> {
        let flushed = self.retrying(|s| s.flush())?;
        self.take_written(flushed)?;
        // The checks left to COMMIT run now, before this writer's turn: one that waits
        // for another writer's transaction must not hold that writer's turn too.
        self.settle()?;
        self.pending
            .rejected
            .sort_by_key(|r| (r.pos.file, r.pos.record));
        let shared = self.shared.clone();
        let mut rejects = self.take_turn(&shared)?;
        // A writer whose commit failed set `stop` while holding this lock, before it let
        // go: committing now could record its uncommitted rejects as committed.
        if shared.stop.load(Ordering::Relaxed) {
            self.stopped_by_other = true;
            return Err(Error::Aborted("another writer failed".into()));
        }
        let start = match rejects.as_mut() {
            Some(w) => w.len_now()?,
            None => 0,
        };
        let mut saved = 0usize;
        let outcome = loop {
            let mut bytes = 0;
            if let Some(w) = rejects.as_mut() {
                if let Err(e) = self.pending.rejected[saved..]
                    .iter()
                    .try_for_each(|r| w.write(r))
                {
                    break Err(e);
                }
                saved = self.pending.rejected.len();
                bytes = match w.committed_len() {
                    Ok(b) => b,
                    Err(e) => break Err(e),
                };
                self.totals.reject_file = w.written_path();
            }
            let record = self.commit_record(bytes);
            match self.sink.commit(&record) {
                Ok(()) => break Ok(()),
                // Reconnecting finds out whether the commit happened (from the record)
                // and otherwise replays the transaction, which is then committed again
                // (with any row the replay refused now in the reject file too).
                Err(e @ Error::Connection { .. }) => match self.recover(e) {
                    Ok(replayed) => {
                        if let Err(e) = self.take_written(replayed) {
                            break Err(e);
                        }
                        self.pending.rejected[saved..].sort_by_key(|r| (r.pos.file, r.pos.record));
                    }
                    Err(e) => break Err(e),
                },
                Err(e) => break Err(e),
            }
        };
        if let Err(e) = outcome {
            // Nothing of this transaction committed: its rejects leave the file, and the
            // other writers stop before they take the lock.
            shared.stop.store(true, Ordering::Relaxed);
            if let Some(w) = rejects.as_mut() {
                let _ = w.truncate(start);
            }
            return Err(e);
        }
        shared
            .commits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .committed(&self.pending.batches);
        shared.first_commit.store(true, Ordering::Release);
        drop(rejects);
        self.txn += 1;
        let p = std::mem::take(&mut self.pending);
        tracing::debug!(
            "writer {}: transaction {} committed: {} written, {} filtered, {} rejected ({} input records)",
            self.writer,
            self.txn,
            p.written,
            p.filtered,
            p.rejected.len(),
            p.records
        );
        self.counters
            .rows_uncommitted
            .fetch_sub(p.records, Ordering::Relaxed);
        for r in &p.rejected {
            if self.totals.first_rejects.len() < 5 {
                self.totals.first_rejects.push((
                    (r.pos.file, r.pos.record),
                    format!("{}: {}", self.shared.budget.locate(r), r.reason),
                ));
            }
        }
        self.shared
            .rejected
            .fetch_add(p.rejected.len() as u64, Ordering::Relaxed);
        self.totals.written += p.written;
        self.totals.filtered += p.filtered;
        self.totals.rejected += p.rejected.len() as u64;
        self.counters
            .rows_written
            .fetch_add(p.written, Ordering::Relaxed);
        self.counters
            .rows_filtered
            .fetch_add(p.filtered, Ordering::Relaxed);
        self.counters
            .rows_rejected
            .fetch_add(p.rejected.len() as u64, Ordering::Relaxed);
        self.last_commit = Instant::now();
        Ok(())
    }

    /// A rejected row as the rejects table of a distributed load keeps it.
    fn reject_row(&self, r: &crate::row::Rejected) -> crate::sink::chunks::RejectRow {
        let fields: Vec<String> = r
            .raw
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        crate::sink::chunks::RejectRow {
            chunk: 0,
            file: self
                .opts
                .inputs
                .get(r.pos.file as usize)
                .cloned()
                .unwrap_or_default(),
            line: r.pos.line,
            fields: serde_json::to_string(&fields).unwrap_or_default(),
            reason: r.reason.clone(),
        }
    }

    /// The record committed with the open transaction: the low-water mark and ranges
    /// the committed state reaches once it commits, this writer's totals over every run,
    /// and the reject file's length.
    fn commit_record(&self, reject_bytes: u64) -> CommitRecord {
        let p = &self.pending;
        let (mark, contents) = {
            let c = self
                .shared
                .commits
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            (c.mark_with(&p.batches), c.contents().to_vec())
        };
        let mut inputs = self.opts.input_states.clone();
        for (i, c) in inputs.iter_mut().zip(contents) {
            i.content = c;
        }
        let base = self
            .opts
            .resume
            .as_ref()
            .map_or([0; 3], |r| r.totals_of(self.writer));
        CommitRecord {
            identity: self.opts.identity.clone(),
            writer: self.writer,
            run_id: self.opts.run_id.clone(),
            txn: self.txn + 1,
            state: CommitState {
                lwm: mark.lwm,
                lwm_records: mark.lwm_records,
                ranges: mark.ranges,
                written: base[0] + self.totals.written + p.written,
                filtered: base[1] + self.totals.filtered + p.filtered,
                rejected: base[2] + self.totals.rejected + p.rejected.len() as u64,
                reject_bytes,
                complete: mark.complete,
                inputs,
                shape: self.opts.shape.clone(),
                done: self.opts.carry.clone(),
                written_before: self.opts.written_before,
                table_id: None,
                started: self.opts.started.clone(),
                generation: self.opts.generation,
            },
            // A run that starts over clears what earlier runs left, in its first commit.
            clear_older: self.writer == 0 && self.txn == 0 && self.opts.resume.is_none(),
            rejects: if self.opts.reject_table {
                p.rejected.iter().map(|r| self.reject_row(r)).collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Run a sink call; after a connection error, reconnect (which replays the open
    /// transaction, including the failed call's rows).
    fn retrying(&mut self, op: impl FnOnce(&mut dyn Sink) -> Result<Written>) -> Result<Written> {
        match op(self.sink.as_mut()) {
            Err(e @ Error::Connection { .. }) => self.recover(e),
            other => other,
        }
    }

    /// This writer's turn at committing: the reject file's lock. A writer that waits for
    /// it longer than [`TURN_PATIENCE`] gives up its open transaction in the database
    /// (its rows are kept) and, once its turn comes, sends them again: the writer whose
    /// turn it is may be waiting in the database for a lock this one's transaction holds
    /// (a replay after a lost connection inserting a key this one inserted), a wait the
    /// database cannot see as a deadlock.
    fn take_turn<'a>(
        &mut self,
        shared: &'a Shared,
    ) -> Result<std::sync::MutexGuard<'a, Option<RejectWriter>>> {
        let waiting = Instant::now();
        let mut released = false;
        let guard = loop {
            match shared.rejects.try_lock() {
                Ok(g) => break g,
                Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
            if !released && waiting.elapsed() > TURN_PATIENCE {
                // A failed ROLLBACK (a lost connection) gives the transaction up too.
                released = self.sink.release().unwrap_or(true);
                if released {
                    tracing::debug!(
                        "writer {}: gave up its open transaction while waiting to commit; \
                         it is sent again",
                        self.writer
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if released {
            // A new connection of its choosing, not a lost one: not counted as a reconnect.
            let reconnects = self.totals.reconnects;
            let replayed = self.recover(Error::Connection {
                target: String::new(),
                message: "the transaction given up while waiting to commit could not be sent \
                          again"
                    .into(),
            })?;
            self.totals.reconnects = reconnects;
            self.take_written(replayed)?;
            self.settle()?;
        }
        Ok(guard)
    }

    /// The sink's checks left to COMMIT, now (see [`Sink::settle`]), through lost
    /// connections.
    fn settle(&mut self) -> Result<()> {
        loop {
            match self.sink.settle() {
                Ok(()) => return Ok(()),
                Err(e @ Error::Connection { .. }) => {
                    let replayed = self.recover(e)?;
                    self.take_written(replayed)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reconnect with exponential backoff (with jitter) until the sink is back or
    /// `reconnect_timeout` has passed.
    fn recover(&mut self, first: Error) -> Result<Written> {
        let deadline = Instant::now() + self.opts.reconnect_timeout;
        let mut delay = Duration::from_millis(200);
        let mut last = first;
        let mut attempt = 0u32;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Connection {
                    target: match &last {
                        Error::Connection { target, .. } => target.clone(),
                        _ => String::new(),
                    },
                    message: format!(
                        "{} (gave up reconnecting after {} s and {attempt} attempts)",
                        match &last {
                            Error::Connection { message, .. } => message.clone(),
                            other => other.to_string(),
                        },
                        self.opts.reconnect_timeout.as_secs()
                    ),
                });
            }
            // Jitter from the clock: spreads the retries of parallel writers.
            let jitter = Duration::from_millis(u64::from(now.elapsed().subsec_nanos() % 100));
            std::thread::sleep((delay + jitter).min(deadline - now));
            attempt += 1;
            self.totals.reconnects += 1;
            match self.sink.reconnect() {
                Ok(w) => return Ok(w),
                Err(e @ Error::Connection { .. }) => last = e,
                Err(e) => return Err(e),
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    fn rollback(&mut self) {
        let _ = self.sink.rollback();
        self.totals.rolled_back += self.pending.records;
        self.counters
            .rows_uncommitted
            .fetch_sub(self.pending.records, Ordering::Relaxed);
        self.pending = Pending::default();
    }

    /// `on_error = "fail"`: the first failed row rolls the open transaction back.
    fn fail_on(&mut self, rejected: &[Rejected]) -> Result<()> {
        if self.opts.on_error != OnError::Fail {
            return Ok(());
        }
        let Some(r) = rejected.iter().min_by_key(|r| (r.pos.file, r.pos.record)) else {
            return Ok(());
        };
        let msg = self.shared.budget.fail_message(r);
        self.rollback();
        Err(Error::Aborted(msg))
    }

    fn take_written(&mut self, w: crate::sink::Written) -> Result<()> {
        // Rows the database refused count against the error policy like any other.
        self.shared.budget.failed(&w.rejected, &self.shared.halt);
        self.pending.written = (self.pending.written + w.rows).saturating_sub(w.revoked);
        for rows in w.spent {
            // The drop thread frees them; if it is gone, free them here.
            if let Err(std::sync::mpsc::SendError(rows)) = self.graveyard.send(rows) {
                drop(rows);
            }
        }
        self.fail_on(&w.rejected)?;
        self.pending.rejected.extend(w.rejected);
        Ok(())
    }

    fn handle(&mut self, mut batch: Batch) -> Result<()> {
        self.pending.records += batch.records;
        self.counters
            .rows_uncommitted
            .fetch_add(batch.records, Ordering::Relaxed);
        self.pending.batches.push(BatchMeta {
            seq: batch.seq,
            first: batch.first,
            end: batch.end,
            records: batch.records,
        });
        self.fail_on(&batch.rejected)?;
        self.pending.filtered += batch.filtered;
        self.pending.rejected.append(&mut batch.rejected);
        let written = self.retrying(|s| s.write(&mut batch))?;
        self.take_written(written)?;
        if self.over_max_errors() {
            self.commit()?;
            return self.max_errors_reached();
        }
        let commit_rows = txn_rows(
            self.opts.commit_rows,
            self.opts.grow_commits,
            self.txn,
            self.first_commit_rows,
            self.totals.written,
        );
        if self.pending.records >= commit_rows
            || self.last_commit.elapsed() >= self.opts.commit_interval
        {
            self.commit()?;
            // Rows the database refused at commit time count too.
            if self.over_max_errors() {
                return self.max_errors_reached();
            }
        }
        Ok(())
    }

    /// Failed rows of the load so far: committed (this run's, every writer's, and the
    /// earlier runs') and this writer's pending ones.
    fn rejected_so_far(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed) + self.pending.rejected.len() as u64
    }

    fn over_max_errors(&self) -> bool {
        let total = self.rejected_so_far();
        self.opts.max_errors.is_some_and(|max| total > max)
    }

    fn max_errors_reached(&self) -> Result<()> {
        Err(Error::Aborted(
            self.shared.budget.over_message(self.rejected_so_far()),
        ))
    }
}

/// What the sink thread did: its totals, and the error that stopped it, if any.
pub(crate) struct SinkEnd {
    pub totals: Totals,
    pub error: Option<Error>,
}

impl Loop {
    /// The end of a writer that hit `e`: its error, unless it only stopped because
    /// another writer failed first.
    fn end_with(&mut self, e: Error) -> SinkEnd {
        SinkEnd {
            totals: std::mem::take(&mut self.totals),
            error: (!self.stopped_by_other).then_some(e),
        }
    }
}

/// How long a writer waits for its turn at committing before it gives up its open
/// transaction's database locks (see `Loop::take_turn`).
const TURN_PATIENCE: Duration = Duration::from_secs(10);

/// Rows that end transaction `txn` (0: this run's first) of a writer that has written
/// `written` rows in this run, the first ending after `first`: `commit_rows`, or with
/// `grow` at least [`COMMIT_GROWTH`] times `written`.
fn txn_rows(commit_rows: usize, grow: bool, txn: u64, first: u64, written: u64) -> u64 {
    if txn == 0 {
        first
    } else if grow {
        (commit_rows as u64).max(written.saturating_mul(COMMIT_GROWTH))
    } else {
        commit_rows as u64
    }
}

/// Rows in the first transaction of writer `writer` of `writers` (see
/// `Loop::first_commit_rows`): at least 1.
fn first_commit_rows(commit_rows: usize, writer: u32, writers: u32) -> u64 {
    let n = u64::from(writers.max(1));
    let w = u64::from(writer.min(writers.max(1) - 1));
    (commit_rows as u64 * (w + 1) / n).max(1)
}

/// Run writer `writer` of a sink: its thread's whole life.
pub(super) fn run(
    sink: Box<dyn Sink>,
    writer: u32,
    writers: u32,
    mut rx: mpsc::Receiver<Batch>,
    opts: RunOptions,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
) -> SinkEnd {
    // A writer that panics stops the others (which may be waiting for its commit).
    struct StopOnPanic(Arc<Shared>);
    impl Drop for StopOnPanic {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.stop.store(true, Ordering::Relaxed);
                self.0.halt.quiet();
            }
        }
    }
    let _guard = StopOnPanic(shared.clone());
    // Freeing rows (many small allocations made on other threads) is real work: do it
    // on a thread of its own so the sink thread, the bottleneck, only writes. One batch
    // of spent rows may wait while another is freed: memory stays bounded.
    let (graveyard, dead) = std::sync::mpsc::sync_channel::<Vec<crate::row::Row>>(1);
    let dropper = std::thread::Builder::new()
        .name("rowflow-drop".into())
        .spawn(move || dead.into_iter().for_each(drop))
        .ok();
    let first = first_commit_rows(opts.commit_rows, writer, writers);
    let mut l = Loop {
        graveyard,
        sink,
        writer,
        opts,
        counters,
        shared,
        totals: Totals::default(),
        pending: Pending::default(),
        last_commit: Instant::now(),
        txn: 0,
        first_commit_rows: first,
        stopped_by_other: false,
    };
    let end = run_loop(&mut l, &mut rx);
    if end.error.is_some() {
        l.shared.stop.store(true, Ordering::Relaxed);
        // The stages stop at once: nothing they would do now could be committed.
        l.shared.halt.quiet();
    }
    drop(l);
    if let Some(d) = dropper {
        let _ = d.join();
    }
    end
}

fn run_loop(l: &mut Loop, rx: &mut mpsc::Receiver<Batch>) -> SinkEnd {
    // `on_error = "fail"` stopped the run: the open transaction goes (the run's outcome
    // is the failed row, which the halt holds).
    let rolled_back = |l: &mut Loop| {
        l.rollback();
        SinkEnd {
            totals: std::mem::take(&mut l.totals),
            error: None,
        }
    };
    while let Some(batch) = rx.blocking_recv() {
        if l.shared.halt.rolls_back() {
            l.totals.rolled_back += batch.records;
            return rolled_back(l);
        }
        if l.shared.stop.load(Ordering::Relaxed) {
            // Another writer failed; it reports why.
            l.rollback();
            return SinkEnd {
                totals: std::mem::take(&mut l.totals),
                error: None,
            };
        }
        if let Err(e) = l.handle(batch) {
            if l.pending.records > 0 {
                l.rollback();
            }
            return l.end_with(e);
        }
    }
    if l.writer > 0 && l.txn == 0 && l.pending.records == 0 {
        // Nothing to write, only its record to commit: not before another writer's first
        // commit (writer 0, which never waits here, commits or fails), so that a run
        // failing before any commit leaves no record, as with one writer.
        while !l.shared.first_commit.load(Ordering::Acquire)
            && !l.shared.stop.load(Ordering::Relaxed)
            && !l.shared.halt.is_set()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        if l.shared.stop.load(Ordering::Relaxed) {
            return SinkEnd {
                totals: std::mem::take(&mut l.totals),
                error: None,
            };
        }
    }
    if l.shared.halt.rolls_back() {
        return rolled_back(l);
    }
    if l.shared.halt.is_set() && l.txn == 0 && l.pending.records == 0 {
        // Stopped before this writer had anything to commit: nothing is committed (not
        // even the table's preparation: a replace stopped at once leaves the old table).
        return rolled_back(l);
    }
    match l.commit() {
        Ok(()) if l.over_max_errors() => {
            let e = l.max_errors_reached().err();
            SinkEnd {
                totals: std::mem::take(&mut l.totals),
                error: e,
            }
        }
        Ok(()) => SinkEnd {
            totals: std::mem::take(&mut l.totals),
            error: None,
        },
        Err(e) => {
            l.rollback();
            l.end_with(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{first_commit_rows, txn_rows};

    #[test]
    fn growing_transactions_take_three_times_what_was_written() {
        // commit_rows 1000: 1000, then 3000 (1000 written), 12000 (4000 written), ...
        assert_eq!(txn_rows(1000, true, 0, 1000, 0), 1000);
        assert_eq!(txn_rows(1000, true, 1, 1000, 1000), 3000);
        assert_eq!(txn_rows(1000, true, 2, 1000, 4000), 12000);
        // Rejected or filtered rows are not in the table: fewer written, smaller growth.
        assert_eq!(txn_rows(1000, true, 1, 1000, 100), 1000);
        // Without growth (another destination, or commit_rows set), always the same.
        assert_eq!(txn_rows(1000, false, 5, 1000, 1_000_000), 1000);
        assert_eq!(txn_rows(1000, true, 1, 1000, u64::MAX), u64::MAX);
    }

    #[test]
    fn writers_take_turns_from_the_first_transaction() {
        assert_eq!(first_commit_rows(50_000, 0, 1), 50_000);
        assert_eq!(first_commit_rows(50_000, 0, 2), 25_000);
        assert_eq!(first_commit_rows(50_000, 1, 2), 50_000);
        assert_eq!(first_commit_rows(30, 0, 3), 10);
        assert_eq!(first_commit_rows(30, 1, 3), 20);
        assert_eq!(first_commit_rows(30, 2, 3), 30);
        assert_eq!(first_commit_rows(1, 0, 2), 1);
    }
}
