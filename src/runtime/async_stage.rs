//! An async stage: a user function called on every row, with at most `concurrency`
//! calls in flight for the whole stage (never a task per row). Rows of a batch may
//! finish in any order; with `ordered` they are put back in input order. Batches leave
//! in input order, so the sink's committed position is always a contiguous prefix.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::row::{Batch, Row};

/// The user function: a row in, `Ok(Some(row))` to keep it, `Ok(None)` to drop it
/// (counted as filtered), `Err(reason)` to reject it.
pub type AsyncFn = Arc<dyn Fn(Row) -> BoxFuture<'static, (Row, Outcome)> + Send + Sync>;

/// What happened to one row. The row comes back with the outcome so that a rejected
/// row keeps its original fields and position.
pub enum Outcome {
    /// Keep the (possibly changed) row.
    Keep,
    /// Drop it (filtered).
    Drop,
    /// Reject it with a reason.
    Reject(String),
}

/// Configuration of an async stage.
#[derive(Clone)]
pub struct AsyncStage {
    /// Name, used in reject reasons.
    pub name: String,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Keep input order within each batch.
    pub ordered: bool,
    /// The function.
    pub f: AsyncFn,
}

struct Slot {
    batch: Batch,
    results: Vec<Option<(Row, Outcome)>>,
    remaining: usize,
    order: Vec<usize>,
}

pub(super) async fn run(
    stage: AsyncStage,
    mut rx: mpsc::Receiver<Batch>,
    tx: mpsc::Sender<Batch>,
    batch_rows: usize,
) -> Result<()> {
    let concurrency = stage.concurrency.max(1);
    // Batches admitted but not yet emitted: enough to keep `concurrency` calls busy.
    let max_slots = concurrency.div_ceil(batch_rows.max(1)) + 2;
    let mut slots: VecDeque<Slot> = VecDeque::new();
    let mut first_seq = 0u64; // sequence of slots.front()
    let mut queue: VecDeque<(u64, usize, Row)> = VecDeque::new();
    let mut inflight = FuturesUnordered::new();
    let mut input_done = false;
    loop {
        while inflight.len() < concurrency {
            let Some((slot, idx, row)) = queue.pop_front() else {
                break;
            };
            let fut = (stage.f)(row);
            inflight.push(async move { (slot, idx, fut.await) });
        }
        while slots.front().is_some_and(|s| s.remaining == 0) {
            let Some(slot) = slots.pop_front() else { break };
            first_seq += 1;
            let batch = finish(slot, stage.ordered, &stage.name);
            if tx.send(batch).await.is_err() {
                return Ok(());
            }
        }
        if input_done && queue.is_empty() && inflight.is_empty() && slots.is_empty() {
            return Ok(());
        }
        tokio::select! {
            Some((slot, idx, res)) = inflight.next(), if !inflight.is_empty() => {
                let i = (slot - first_seq) as usize;
                if let Some(s) = slots.get_mut(i) {
                    s.results[idx] = Some(res);
                    s.remaining -= 1;
                    s.order.push(idx);
                }
            }
            next = rx.recv(), if !input_done && slots.len() < max_slots => match next {
                Some(mut batch) => {
                    let rows = std::mem::take(&mut batch.rows);
                    let slot_seq = first_seq + slots.len() as u64;
                    let n = rows.len();
                    for (i, r) in rows.into_iter().enumerate() {
                        queue.push_back((slot_seq, i, r));
                    }
                    slots.push_back(Slot {
                        batch,
                        results: (0..n).map(|_| None).collect(),
                        remaining: n,
                        order: Vec::with_capacity(n),
                    });
                }
                None => input_done = true,
            },
            // Unreachable while the loop invariants hold (see the checks above).
            else => return Ok(()),
        }
    }
}

fn finish(slot: Slot, ordered: bool, name: &str) -> Batch {
    let Slot {
        mut batch,
        mut results,
        order,
        ..
    } = slot;
    let order: Vec<usize> = if ordered {
        (0..results.len()).collect()
    } else {
        order
    };
    for i in order {
        let Some((row, outcome)) = results[i].take() else {
            continue;
        };
        match outcome {
            Outcome::Keep => batch.rows.push(row),
            Outcome::Drop => batch.filtered += 1,
            Outcome::Reject(reason) => batch.reject(row, format!("{name}: {reason}")),
        }
    }
    batch
}
