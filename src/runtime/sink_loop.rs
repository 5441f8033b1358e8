//! The sink thread: write batches, commit every `commit_rows` rows or
//! `commit_interval`, and only after a commit count rows as written and write their
//! rejects. Applies the error policy.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::mpsc;

use super::rejects::RejectWriter;
use super::{Counters, RunOptions};
use crate::config::OnError;
use crate::error::{Error, Result};
use crate::row::{Batch, Rejected};
use crate::sink::Sink;

/// Totals of committed work.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub written: u64,
    pub filtered: u64,
    pub rejected: u64,
    pub rolled_back: u64,
    pub reject_file: Option<PathBuf>,
    pub first_rejects: Vec<String>,
}

/// Work written in the open transaction, not yet committed.
#[derive(Default)]
struct Pending {
    written: u64,
    filtered: u64,
    records: u64,
    rejected: Vec<Rejected>,
}

struct Loop {
    sink: Box<dyn Sink>,
    opts: RunOptions,
    counters: Arc<Counters>,
    rejects: Option<RejectWriter>,
    totals: Totals,
    pending: Pending,
    last_commit: Instant,
    /// Rows the sink is done with, freed on another thread.
    graveyard: std::sync::mpsc::SyncSender<Vec<crate::row::Row>>,
}

impl Loop {
    /// `file line N` for messages.
    fn locate(&self, r: &Rejected) -> String {
        match self.opts.inputs.get(r.pos.file as usize) {
            Some(f) => format!("{f} line {}", r.pos.line),
            None => format!("line {}", r.pos.line),
        }
    }

    /// Write what the sink holds back, apply the error policy to what it refused, then
    /// commit and account for the transaction.
    fn commit(&mut self) -> Result<()> {
        let flushed = self.sink.flush()?;
        self.take_written(flushed)?;
        self.sink.commit()?;
        let mut p = std::mem::take(&mut self.pending);
        p.rejected.sort_by_key(|r| (r.pos.file, r.pos.record));
        for r in &p.rejected {
            if self.totals.first_rejects.len() < 5 {
                self.totals
                    .first_rejects
                    .push(format!("{}: {}", self.locate(r), r.reason));
            }
            if let Some(w) = self.rejects.as_mut() {
                w.write(r)?;
            }
        }
        if let Some(w) = self.rejects.as_mut() {
            w.flush()?;
            self.totals.reject_file = w.written_path();
        }
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

    fn rollback(&mut self) {
        let _ = self.sink.rollback();
        self.totals.rolled_back += self.pending.records;
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
        let msg = format!(
            "{}: {} (on_error = \"fail\"; the open transaction was rolled back)",
            self.locate(r),
            r.reason
        );
        self.rollback();
        Err(Error::Aborted(msg))
    }

    fn take_written(&mut self, w: crate::sink::Written) -> Result<()> {
        self.pending.written += w.rows;
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
        self.fail_on(&batch.rejected)?;
        self.pending.filtered += batch.filtered;
        self.pending.rejected.append(&mut batch.rejected);
        let written = self.sink.write(&mut batch)?;
        self.take_written(written)?;
        if self.over_max_errors() {
            self.commit()?;
            return self.max_errors_reached();
        }
        if self.pending.records >= self.opts.commit_rows as u64
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

    fn over_max_errors(&self) -> bool {
        let total = self.totals.rejected + self.pending.rejected.len() as u64;
        self.opts.max_errors.is_some_and(|max| total > max)
    }

    fn max_errors_reached(&self) -> Result<()> {
        let total = self.totals.rejected + self.pending.rejected.len() as u64;
        Err(Error::Aborted(format!(
            "more than max_errors = {} rows failed ({total}); stopped after committing the rows before \
             (every failed row is in the reject file)",
            self.opts.max_errors.unwrap_or_default()
        )))
    }
}

/// What the sink thread did: its totals, and the error that stopped it, if any.
pub(crate) struct SinkEnd {
    pub totals: Totals,
    pub error: Option<Error>,
}

fn fail(totals: Totals, e: Error) -> SinkEnd {
    SinkEnd {
        totals,
        error: Some(e),
    }
}

pub(super) fn run(
    sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<Batch>,
    opts: RunOptions,
    counters: Arc<Counters>,
) -> SinkEnd {
    let rejects = match opts.rejects.clone().map(RejectWriter::new).transpose() {
        Ok(r) => r,
        Err(e) => return fail(Totals::default(), e),
    };
    // Freeing rows (many small allocations made on other threads) is real work: do it
    // on a thread of its own so the sink thread, the bottleneck, only writes. One batch
    // of spent rows may wait while another is freed: memory stays bounded.
    let (graveyard, dead) = std::sync::mpsc::sync_channel::<Vec<crate::row::Row>>(1);
    let dropper = std::thread::Builder::new()
        .name("rowflow-drop".into())
        .spawn(move || dead.into_iter().for_each(drop))
        .ok();
    let mut l = Loop {
        graveyard,
        sink,
        opts,
        counters,
        rejects,
        totals: Totals::default(),
        pending: Pending::default(),
        last_commit: Instant::now(),
    };
    let end = run_loop(&mut l, &mut rx);
    drop(l);
    if let Some(d) = dropper {
        let _ = d.join();
    }
    end
}

fn run_loop(l: &mut Loop, rx: &mut mpsc::Receiver<Batch>) -> SinkEnd {
    while let Some(batch) = rx.blocking_recv() {
        if let Err(e) = l.handle(batch) {
            if l.pending.records > 0 {
                l.rollback();
            }
            return fail(std::mem::take(&mut l.totals), e);
        }
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
            fail(std::mem::take(&mut l.totals), e)
        }
    }
}
