//! An async stage: a function called on every row (or on groups of rows), with at most
//! `concurrency` calls in flight for the whole stage (never a task per row).
//!
//! Rows enter in batches. With `ordered`, rows leave in input order and batches in
//! sequence. Without it, rows of a batch leave in the order they finish, and a batch
//! leaves as soon as all its rows are done, possibly before earlier ones: fast rows pass
//! slow ones. Every batch keeps its sequence number, so the sink's committed position is
//! still the contiguous prefix of finished batches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use super::halt::{Budget, Halt};
use crate::error::{Error, Result};
use crate::row::{Batch, Rejected, Row};
use crate::transform::{AsyncOutcome as Outcome, AsyncStage, AsyncWork};

struct Slot {
    batch: Batch,
    results: Vec<Option<(Row, Outcome)>>,
    remaining: usize,
    /// Row indexes in the order they finished.
    order: Vec<usize>,
}

type Done = Vec<(u64, usize, (Row, Outcome))>;

pub(super) async fn run(
    stage: AsyncStage,
    mut rx: mpsc::Receiver<Batch>,
    tx: mpsc::Sender<Batch>,
    batch_rows: usize,
    halt: Arc<Halt>,
    budget: Arc<Budget>,
) -> Result<()> {
    let concurrency = stage.concurrency.max(1);
    let group = match &stage.work {
        AsyncWork::Each(_) => 1,
        AsyncWork::Group(n, _) => (*n).max(1),
    };
    // Batches admitted but not yet emitted: enough to keep `concurrency` calls busy,
    // plus room for slow rows to hold a batch while others flow (unordered).
    let max_slots = (concurrency * group).div_ceil(batch_rows.max(1)) + 2;
    let mut slots: BTreeMap<u64, Slot> = BTreeMap::new();
    let mut next_slot = 0u64;
    let mut queue: VecDeque<(u64, usize, Row)> = VecDeque::new();
    let mut inflight: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
    let mut input_done = false;
    let mut halted = halt.watch();
    loop {
        if halt.is_set() {
            // No new call, and the calls in flight are dropped (cancelled): their rows,
            // and every row not yet called, are left for a resumed run. The batches
            // already finished go on to be committed: in order, only those before the
            // first unfinished one (an ordered stage keeps a key's rows in input order).
            drop(inflight);
            rx.close();
            for (_, slot) in std::mem::take(&mut slots) {
                if slot.remaining > 0 {
                    if stage.ordered {
                        break;
                    }
                    continue;
                }
                if tx.send(finish(slot, stage.ordered)).await.is_err() {
                    break;
                }
            }
            return Ok(());
        }
        while inflight.len() < concurrency && !queue.is_empty() {
            let take = group.min(queue.len());
            let items: Vec<(u64, usize, Row)> = queue.drain(..take).collect();
            inflight.push(call(&stage.work, items));
        }
        // Emit finished batches: the first in order, or any when unordered.
        loop {
            let ready = if stage.ordered {
                slots
                    .first_key_value()
                    .filter(|(_, s)| s.remaining == 0)
                    .map(|(k, _)| *k)
            } else {
                slots
                    .iter()
                    .find(|(_, s)| s.remaining == 0)
                    .map(|(k, _)| *k)
            };
            let Some(k) = ready else { break };
            let Some(slot) = slots.remove(&k) else { break };
            if tx.send(finish(slot, stage.ordered)).await.is_err() {
                return Ok(());
            }
        }
        if input_done && queue.is_empty() && inflight.is_empty() && slots.is_empty() {
            return Ok(());
        }
        tokio::select! {
            Some(done) = inflight.next(), if !inflight.is_empty() => {
                for (slot, idx, (row, outcome)) in done {
                    let outcome = match outcome {
                        Outcome::Stop(message) => {
                            // The row stays unfinished, and so does its batch.
                            halt.fail(
                                Error::Stage {
                                    stage: stage.name.clone(),
                                    message,
                                },
                                false,
                            );
                            continue;
                        }
                        Outcome::Reject(reason) => {
                            let reason = format!("{}: {reason}", stage.name);
                            budget.failed(
                                &[Rejected {
                                    pos: row.pos,
                                    raw: Default::default(),
                                    reason: reason.clone(),
                                }],
                                &halt,
                            );
                            Outcome::Reject(reason)
                        }
                        other => other,
                    };
                    if let Some(s) = slots.get_mut(&slot) {
                        s.results[idx] = Some((row, outcome));
                        s.remaining -= 1;
                        s.order.push(idx);
                    }
                }
            }
            next = rx.recv(), if !input_done && slots.len() < max_slots => match next {
                Some(mut batch) => {
                    let rows = std::mem::take(&mut batch.rows);
                    let n = rows.len();
                    for (i, r) in rows.into_iter().enumerate() {
                        queue.push_back((next_slot, i, r));
                    }
                    slots.insert(next_slot, Slot {
                        batch,
                        results: (0..n).map(|_| None).collect(),
                        remaining: n,
                        order: Vec::with_capacity(n),
                    });
                    next_slot += 1;
                }
                None => input_done = true,
            },
            _ = halted.changed() => {}
        }
    }
}

/// One call of the stage's function on `items` (one row, or a group).
fn call(work: &AsyncWork, items: Vec<(u64, usize, Row)>) -> BoxFuture<'static, Done> {
    let (tags, rows): (Vec<(u64, usize)>, Vec<Row>) =
        items.into_iter().map(|(s, i, r)| ((s, i), r)).unzip();
    match work {
        AsyncWork::Each(f) => {
            let mut rows = rows;
            let row = rows.pop();
            let fut = row.map(|r| f(r));
            Box::pin(async move {
                match fut {
                    Some(fut) => {
                        let res = fut.await;
                        vec![(tags[0].0, tags[0].1, res)]
                    }
                    None => Vec::new(),
                }
            })
        }
        AsyncWork::Group(_, f) => {
            let n = rows.len();
            let fut = f(rows);
            Box::pin(async move {
                let results = fut.await;
                // A group function returns every row it was given, in order.
                debug_assert_eq!(results.len(), n, "a group function must return every row");
                tags.iter()
                    .zip(results)
                    .map(|(&(s, i), r)| (s, i, r))
                    .collect()
            })
        }
    }
}

fn finish(slot: Slot, ordered: bool) -> Batch {
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
            // Named after the stage where the row failed (see `run`).
            Outcome::Reject(reason) => batch.reject(row, reason),
            Outcome::Stop(_) => {}
        }
    }
    batch
}
