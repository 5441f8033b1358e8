//! A CPU stage: synchronous transforms applied to whole batches on the blocking pool,
//! `workers` batches at a time, output in input order.
//!
//! When the run stops early, a stage before every async stage takes no new batch (what
//! it would compute could not be committed before the stop anyway, and under a failed
//! row's limit it must not go on); one after an async stage finishes what reaches it, so
//! the calls already answered are committed.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::mpsc;

use super::halt::{Budget, Halt};
use crate::error::{Error, Result};
use crate::row::Batch;
use crate::transform::Transform;

/// How a CPU stage sits in the run.
pub(super) struct CpuRun {
    pub workers: usize,
    pub halt: Arc<Halt>,
    pub budget: Arc<Budget>,
    /// Finish every batch that reaches it when the run stops (it comes after an async
    /// stage).
    pub drain: bool,
}

/// A sink's encoder as the last step of a CPU stage.
pub struct EncodeStep(pub Arc<dyn crate::sink::Encode>);

impl Transform for EncodeStep {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn apply(&self, batch: &mut Batch) {
        self.0.encode(batch);
    }
}

pub(super) async fn run(
    transforms: Arc<Vec<Arc<dyn Transform>>>,
    mut rx: mpsc::Receiver<Batch>,
    tx: mpsc::Sender<Batch>,
    cfg: CpuRun,
) -> Result<()> {
    let mut inflight: FuturesOrdered<tokio::task::JoinHandle<Batch>> = FuturesOrdered::new();
    let mut input_done = false;
    let mut halted = cfg.halt.watch();
    loop {
        if !cfg.drain && cfg.halt.is_set() && !input_done {
            // Take nothing more: the reader's buffered batches are left for a resumed
            // run.
            input_done = true;
            rx.close();
        }
        tokio::select! {
            biased;
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                let batch: Batch = done.map_err(|e: tokio::task::JoinError| Error::Stage {
                    stage: "transform".into(),
                    message: format!("a transform panicked: {e}"),
                })?;
                if tx.send(batch).await.is_err() {
                    return Ok(()); // downstream stopped; it reports why
                }
            }
            next = rx.recv(), if !input_done && inflight.len() < cfg.workers => match next {
                Some(mut batch) => {
                    let t = transforms.clone();
                    let halt = cfg.halt.clone();
                    let budget = cfg.budget.clone();
                    inflight.push_back(tokio::task::spawn_blocking(move || {
                        let before = batch.rejected.len();
                        for stage in t.iter() {
                            if batch.rows.is_empty() {
                                break;
                            }
                            stage.apply(&mut batch);
                        }
                        budget.failed(&batch.rejected[before..], &halt);
                        batch
                    }));
                }
                None => input_done = true,
            },
            _ = halted.changed(), if !cfg.drain && !input_done => {}
            else => return Ok(()),
        }
    }
}
