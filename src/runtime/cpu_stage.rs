//! A CPU stage: synchronous transforms applied to whole batches on the blocking pool,
//! `workers` batches at a time, output in input order.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::row::Batch;
use crate::transform::Transform;

pub(super) async fn run(
    transforms: Arc<Vec<Arc<dyn Transform>>>,
    mut rx: mpsc::Receiver<Batch>,
    tx: mpsc::Sender<Batch>,
    workers: usize,
) -> Result<()> {
    let mut inflight: FuturesOrdered<tokio::task::JoinHandle<Batch>> = FuturesOrdered::new();
    let mut input_done = false;
    loop {
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
            next = rx.recv(), if !input_done && inflight.len() < workers => match next {
                Some(mut batch) => {
                    let t = transforms.clone();
                    inflight.push_back(tokio::task::spawn_blocking(move || {
                        for stage in t.iter() {
                            if batch.rows.is_empty() {
                                break;
                            }
                            stage.apply(&mut batch);
                        }
                        batch
                    }));
                }
                None => input_done = true,
            },
            else => return Ok(()),
        }
    }
}
