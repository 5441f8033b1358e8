//! `rowflow status | wait | cancel | retry | rejects LOAD_ID`: what the workers of a
//! distributed load recorded, summed; waiting for the end with the usual exit codes;
//! stopping it; requeueing its failed chunks; and its rejected rows as a reject file.

use std::time::Duration;

use serde::Serialize;

use super::ChunkMsg;
use super::broker::{
    Broker, ChunkState, Submitted, chunk_key, chunk_states, get_json, now_ms, put_json,
};
use crate::config::PipelineSpec;
use crate::error::{Error, Result};

/// A chunk as `status` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkView {
    /// Its index.
    pub chunk: u32,
    /// What it reads.
    pub input: String,
    /// `pending`, `running`, `stalled` (running, but no heartbeat for twice the ack
    /// wait: its worker is gone and the chunk waits for redelivery), `done`, `failed`.
    pub state: String,
    /// The worker that has it (had it last).
    pub worker: String,
    /// Its delivery count.
    pub delivery: u64,
    /// Rows read, written, filtered, rejected.
    pub rows: [u64; 4],
    /// The error of its last failed attempt.
    pub error: Option<String>,
}

/// A distributed load's state.
#[derive(Debug, Clone, Serialize)]
pub struct LoadStatus {
    /// Its id.
    pub load: String,
    /// The pipeline's name.
    pub name: String,
    /// The destination, redacted, and table.
    pub target: String,
    /// The destination table.
    pub table: String,
    /// When it was submitted.
    pub submitted: String,
    /// Chunks by state: pending, running (stalled included), done, failed.
    pub counts: [usize; 4],
    /// Rows read, written, filtered, rejected, summed over the chunks.
    pub rows: [u64; 4],
    /// Rows read per second since the submission.
    pub rows_per_s: f64,
    /// Seconds left, at the rate so far (by bytes), when it can be told.
    pub eta_s: Option<f64>,
    /// Cancelled with `rowflow cancel`.
    pub cancelled: bool,
    /// Every chunk is done or failed, or the load was cancelled.
    pub finished: bool,
    /// The chunks.
    pub chunks: Vec<ChunkView>,
}

impl LoadStatus {
    /// The exit code of `wait`: 0 every row written, 1 finished with rejected rows, 2
    /// failed chunks (or cancelled).
    pub fn exit_code(&self) -> i32 {
        if self.counts[3] > 0 || self.cancelled {
            2
        } else if self.rows[3] > 0 {
            1
        } else {
            0
        }
    }
}

/// The state of load `id`.
pub async fn status(nats: &str, id: &str) -> Result<LoadStatus> {
    let broker = Broker::connect(nats).await?;
    read_status(&broker, id).await
}

async fn read_status(broker: &Broker, id: &str) -> Result<LoadStatus> {
    let kv = broker.kv(id).await?;
    let plan: Submitted = get_json(&kv, "plan").await?.ok_or_else(|| {
        Error::Config(format!(
            "load {id}: no plan recorded (still being submitted?)"
        ))
    })?;
    let cancelled = matches!(kv.get("cancel").await, Ok(Some(_)));
    let states = chunk_states(&kv, plan.chunks.len()).await?;
    let now = now_ms();
    let stale_ms = (plan.ack_wait * 2000.0) as u64;
    let mut counts = [0usize; 4];
    let mut rows = [0u64; 4];
    let (mut done_bytes, mut all_bytes) = (0u64, 0u64);
    let mut chunks = Vec::with_capacity(states.len());
    for (i, (s, (input, size))) in states.iter().zip(&plan.chunks).enumerate() {
        let mut state = s.state.clone();
        match state.as_str() {
            "running" => {
                counts[1] += 1;
                if now.saturating_sub(s.updated_ms) > stale_ms {
                    state = "stalled".into();
                }
            }
            "done" => counts[2] += 1,
            "failed" => counts[3] += 1,
            _ => counts[0] += 1,
        }
        for (a, b) in rows.iter_mut().zip(s.rows) {
            *a += b;
        }
        all_bytes += size;
        done_bytes += if s.state == "done" {
            *size
        } else {
            s.bytes.min(*size)
        };
        chunks.push(ChunkView {
            chunk: i as u32,
            input: input.clone(),
            state,
            worker: s.worker.clone(),
            delivery: s.delivery,
            rows: s.rows,
            error: s.error.clone(),
        });
    }
    let secs = (now.saturating_sub(plan.submitted_ms) as f64 / 1000.0).max(0.001);
    let finished = cancelled || counts[2] + counts[3] == plan.chunks.len();
    let eta_s = (!finished && done_bytes > 0)
        .then(|| secs * (all_bytes.saturating_sub(done_bytes)) as f64 / done_bytes as f64);
    Ok(LoadStatus {
        load: plan.load.clone(),
        name: plan.name.clone(),
        target: plan.target.clone(),
        table: plan.table.clone(),
        submitted: plan.submitted.clone(),
        counts,
        rows,
        rows_per_s: rows[0] as f64 / secs,
        eta_s,
        cancelled,
        finished,
        chunks,
    })
}

/// Wait until load `id` is finished (every chunk done or failed, or cancelled), calling
/// `tick` with its state every `every`.
pub async fn wait(
    nats: &str,
    id: &str,
    every: Duration,
    tick: &mut (dyn FnMut(&LoadStatus) + Send),
) -> Result<LoadStatus> {
    let broker = Broker::connect(nats).await?;
    loop {
        // NATS restarting: ask again.
        match read_status(&broker, id).await {
            Ok(s) if s.finished => return Ok(s),
            Ok(s) => tick(&s),
            Err(e @ Error::Config(_)) => return Err(e),
            Err(_) => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// Cancel load `id`: its chunks not yet taken are dropped, and its workers stop their
/// chunks after their next commit (what is committed stays).
pub async fn cancel(nats: &str, id: &str) -> Result<LoadStatus> {
    let broker = Broker::connect(nats).await?;
    let kv = broker.kv(id).await?;
    kv.put(
        "cancel",
        crate::checkpoint::now_rfc3339().into_bytes().into(),
    )
    .await
    .map_err(|e| super::broker::nats_err(&broker.shown, "cancelling", e))?;
    broker.delete_stream(id).await?;
    read_status(&broker, id).await
}

/// Requeue load `id`'s failed chunks (after fixing what made them fail): each goes back
/// with a new retry epoch, so its deliveries count from 1 again and its claim outranks
/// every earlier one. Returns how many.
pub async fn retry(nats: &str, id: &str) -> Result<usize> {
    let broker = Broker::connect(nats).await?;
    let kv = broker.kv(id).await?;
    if matches!(kv.get("cancel").await, Ok(Some(_))) {
        return Err(Error::Config(format!(
            "load {id} was cancelled: submit it again instead"
        )));
    }
    let plan: Submitted = get_json(&kv, "plan")
        .await?
        .ok_or_else(|| Error::Config(format!("load {id}: no plan recorded")))?;
    let states = chunk_states(&kv, plan.chunks.len()).await?;
    if states.iter().any(|s| s.state == "failed") {
        // A finished load's queue was deleted.
        broker
            .create_queue(id, Duration::from_secs_f64(plan.ack_wait), plan.max_deliver)
            .await?;
    }
    let mut n = 0;
    for (i, s) in states.iter().enumerate() {
        if s.state != "failed" {
            continue;
        }
        let msg: Option<ChunkMsg> = get_json(&kv, &format!("msg.{i}")).await?;
        let Some(mut msg) = msg else {
            return Err(Error::Config(format!(
                "load {id}: chunk {i}'s message is not recorded; submit the load again"
            )));
        };
        msg.epoch = s.epoch + 1;
        put_json(
            &kv,
            &chunk_key(i as u32),
            &ChunkState {
                state: "pending".into(),
                epoch: msg.epoch,
                rows: s.rows,
                error: s.error.clone(),
                updated_ms: now_ms(),
                ..Default::default()
            },
        )
        .await?;
        put_json(&kv, &format!("msg.{i}"), &msg).await?;
        broker
            .publish(id, serde_json::to_vec(&msg).unwrap_or_default())
            .await?;
        n += 1;
    }
    Ok(n)
}

/// Write load `id`'s rejected rows as a reject file to `out`: the input's columns, then
/// `_file`, `_line` and `_error`. The database is reached with the pipeline's URL as
/// this process's environment expands it. Returns how many rows.
pub async fn rejects(nats: &str, id: &str, out: &mut dyn std::io::Write) -> Result<u64> {
    let broker = Broker::connect(nats).await?;
    let kv = broker.kv(id).await?;
    let plan: Submitted = get_json(&kv, "plan")
        .await?
        .ok_or_else(|| Error::Config(format!("load {id}: no plan recorded")))?;
    let base = plan.base.as_deref().map(std::path::Path::new);
    let spec = PipelineSpec::from_parts(&plan.pipeline, base, &plan.overrides, &plan.name)?;
    let url = if spec.sink.url.is_empty() {
        std::env::var("DATABASE_URL").unwrap_or_default()
    } else {
        spec.sink.url.clone()
    };
    let target = crate::sink::SinkTarget::parse(&url)?;
    let (table, load) = (plan.table.clone(), plan.load.clone());
    let rows =
        tokio::task::spawn_blocking(move || crate::sink::read_rejects(&target, &table, &load))
            .await
            .map_err(|e| Error::Stage {
                stage: "rejects".into(),
                message: e.to_string(),
            })??;
    let io = |e: csv::Error| Error::Io {
        path: "the reject output".into(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(out);
    let mut header: Vec<String> = plan.schema.iter().map(|(n, _)| n.clone()).collect();
    header.extend(["_file", "_line", "_error"].map(String::from));
    w.write_record(&header).map_err(io)?;
    for r in &rows {
        let mut rec: Vec<String> = serde_json::from_str(&r.fields).unwrap_or_default();
        rec.push(r.file.clone());
        rec.push(r.line.to_string());
        rec.push(r.reason.clone());
        w.write_record(&rec).map_err(io)?;
    }
    w.flush().map_err(|e| Error::Io {
        path: "the reject output".into(),
        source: e,
    })?;
    Ok(rows.len() as u64)
}
