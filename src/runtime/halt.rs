//! Stopping a run early, at once and everywhere: on Ctrl-C / SIGTERM, or on a failure
//! that ends the run (the first failed row with `on_error = "fail"`, more than
//! `max_errors` failed rows, a stage that cannot go on such as an API that is down).
//!
//! Every part of the runtime watches the one [`Halt`]: the reader stops reading, async
//! stages start no new call and drop the calls in flight, CPU stages before them take no
//! new batch, and the sink commits what reached it (or, for `on_error = "fail"`, rolls
//! its open transaction back). Batches that were read but not finished are never
//! committed, so a resumed run reads them again: nothing is lost, nothing is done twice.
//!
//! [`Budget`] counts failed rows as the stages find them (not when they commit), so the
//! limits act within a batch of the row that crosses them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::config::OnError;
use crate::error::Error;
use crate::row::Rejected;

/// Why a run stopped early.
#[derive(Debug)]
pub(crate) enum Reason {
    /// Ctrl-C or SIGTERM: commit what is done, then stop.
    Signal,
    /// A failure that ends the run; the rows done before it are committed unless
    /// `rollback` (`on_error = "fail"` rolls back the open transaction).
    Failed { error: Error, rollback: bool },
}

/// The run's stop switch.
pub(crate) struct Halt {
    tx: watch::Sender<bool>,
    reason: Mutex<Option<Reason>>,
    /// The source's own stop flag: set too, so that a read in the middle of a long line
    /// stops at once.
    source: Option<Arc<AtomicBool>>,
}

impl Halt {
    pub(crate) fn new(source: Option<Arc<AtomicBool>>) -> Self {
        Halt {
            tx: watch::channel(false).0,
            reason: Mutex::new(None),
            source,
        }
    }

    /// Whether the run is stopping.
    pub(crate) fn is_set(&self) -> bool {
        *self.tx.borrow()
    }

    /// A receiver that wakes when the run starts stopping.
    pub(crate) fn watch(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Ctrl-C / SIGTERM (a failure already stopping the run keeps its reason).
    pub(crate) fn signal(&self) {
        self.stop(Reason::Signal);
    }

    /// A failure that ends the run (the first one is the one reported).
    pub(crate) fn fail(&self, error: Error, rollback: bool) {
        self.stop(Reason::Failed { error, rollback });
    }

    fn stop(&self, why: Reason) {
        self.stop_source();
        {
            let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
            match (&*r, &why) {
                (None, _) | (Some(Reason::Signal), Reason::Failed { .. }) => *r = Some(why),
                _ => {}
            }
        }
        self.tx.send_replace(true);
    }

    /// Stop without a reason of its own (a part that failed reports its error itself).
    pub(crate) fn quiet(&self) {
        self.stop_source();
        self.tx.send_replace(true);
    }

    fn stop_source(&self) {
        if let Some(s) = &self.source {
            s.store(true, Ordering::Relaxed);
        }
    }

    /// `on_error = "fail"` found a failed row before the one it stopped for (stages work
    /// on batches in parallel): that one is the first, and the one reported.
    fn earlier_failure(&self, error: Error) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        *r = Some(Reason::Failed {
            error,
            rollback: true,
        });
    }

    /// Whether the sink must roll back its open transaction rather than commit it.
    pub(crate) fn rolls_back(&self) -> bool {
        matches!(
            &*self.reason.lock().unwrap_or_else(|p| p.into_inner()),
            Some(Reason::Failed { rollback: true, .. })
        )
    }

    /// Why the run stopped, if it did.
    pub(crate) fn take_reason(&self) -> Option<Reason> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The error policy, applied as failed rows are found.
pub(crate) struct Budget {
    on_error: OnError,
    max_errors: Option<u64>,
    /// Failed rows so far, over the whole load (a resumed run starts from the earlier
    /// runs' count).
    seen: AtomicU64,
    inputs: Vec<String>,
    /// With `on_error = "fail"`: the first failed row found so far (file, record).
    first_failed: Mutex<Option<(u32, u64)>>,
}

impl Budget {
    pub(crate) fn new(
        on_error: OnError,
        max_errors: Option<u64>,
        before: u64,
        inputs: Vec<String>,
    ) -> Self {
        Budget {
            on_error,
            max_errors,
            seen: AtomicU64::new(before),
            inputs,
            first_failed: Mutex::new(None),
        }
    }

    /// `file line N` for messages.
    pub(crate) fn locate(&self, r: &Rejected) -> String {
        match self.inputs.get(r.pos.file as usize) {
            Some(f) => format!("{f} line {}", r.pos.line),
            None => format!("line {}", r.pos.line),
        }
    }

    /// The message of `on_error = "fail"` for its first failed row.
    pub(crate) fn fail_message(&self, r: &Rejected) -> String {
        format!(
            "{}: {} (on_error = \"fail\"; the open transaction was rolled back)",
            self.locate(r),
            r.reason
        )
    }

    /// Failed rows counted so far.
    pub(crate) fn total(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Whether more than `max_errors` rows have failed.
    pub(crate) fn over(&self) -> bool {
        self.max_errors.is_some_and(|m| self.total() > m)
    }

    /// The message when `max_errors` is passed, `n` rows having failed.
    pub(crate) fn over_message(&self, n: u64) -> String {
        format!(
            "more than max_errors = {} rows failed ({n} over the whole load); stopped: the rows \
             finished before are committed, with their failed rows in the reject file; the rest \
             of the input is left for a resumed run",
            self.max_errors.unwrap_or_default(),
        )
    }

    /// Rows found failed by a stage: count them, and stop the run at once when the
    /// policy says so.
    pub(crate) fn failed(&self, rows: &[Rejected], halt: &Halt) {
        if rows.is_empty() {
            return;
        }
        self.seen.fetch_add(rows.len() as u64, Ordering::Relaxed);
        if self.on_error == OnError::Fail {
            let Some(r) = rows.iter().min_by_key(|r| (r.pos.file, r.pos.record)) else {
                return;
            };
            let at = (r.pos.file, r.pos.record);
            let mut first = self.first_failed.lock().unwrap_or_else(|p| p.into_inner());
            match *first {
                None => halt.fail(Error::Aborted(self.fail_message(r)), true),
                Some(f) if at < f => halt.earlier_failure(Error::Aborted(self.fail_message(r))),
                Some(_) => return,
            }
            *first = Some(at);
        } else if self.over() {
            halt.fail(Error::Aborted(self.over_message(self.total())), false);
        }
    }
}
