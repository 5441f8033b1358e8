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

/// Chunks by state.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Waiting for a worker (or, in a cancelled load, never to be loaded).
    pub pending: usize,
    /// Being loaded (stalled ones included).
    pub running: usize,
    /// Loaded.
    pub done: usize,
    /// Failed (see each chunk's error).
    pub failed: usize,
}

/// Rows, summed over the chunks.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Rows {
    /// Read.
    pub read: u64,
    /// Written (committed).
    pub written: u64,
    /// Filtered out.
    pub filtered: u64,
    /// Rejected (in the rejects table).
    pub rejected: u64,
}

/// A distributed load's state.
#[derive(Debug, Clone, Serialize)]
pub struct LoadStatus {
    /// Its id.
    pub load: String,
    /// The pipeline's name.
    pub name: String,
    /// The destination, redacted.
    pub target: String,
    /// The destination table.
    pub table: String,
    /// When it was submitted.
    pub submitted: String,
    /// Every chunk was published (false: `submit` was stopped half-way, or is still
    /// publishing).
    pub published: bool,
    /// Chunks by state.
    pub counts: Counts,
    /// Rows, summed over the chunks.
    pub rows: Rows,
    /// Rows read per second, from the submission to the last update.
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
        if self.counts.failed > 0 || self.cancelled || !self.published {
            2
        } else if self.rows.rejected > 0 {
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
    let published = matches!(kv.get("published").await, Ok(Some(_)));
    let states = chunk_states(&kv, plan.chunks as usize).await?;
    let now = now_ms();
    let stale_ms = (plan.ack_wait * 2000.0) as u64;
    let mut counts = Counts::default();
    let mut rows = Rows::default();
    let (mut done_bytes, mut last_ms) = (0u64, plan.submitted_ms);
    let mut chunks = Vec::with_capacity(states.len());
    for (i, s) in states.iter().enumerate() {
        let msg: Option<ChunkMsg> = get_json(&kv, &format!("msg.{i}")).await?;
        let (input, size) = msg.map_or((String::new(), 0), |m| (m.describe(), m.size));
        let mut state = s.state.clone();
        match state.as_str() {
            "running" => {
                counts.running += 1;
                if now.saturating_sub(s.updated_ms) > stale_ms {
                    state = "stalled".into();
                }
            }
            "done" => counts.done += 1,
            "failed" => counts.failed += 1,
            _ => {
                counts.pending += 1;
                if cancelled {
                    state = "cancelled".into();
                }
            }
        }
        rows.read += s.rows[0];
        rows.written += s.rows[1];
        rows.filtered += s.rows[2];
        rows.rejected += s.rows[3];
        done_bytes += if s.state == "done" {
            size
        } else {
            s.bytes.min(size)
        };
        last_ms = last_ms.max(s.updated_ms);
        chunks.push(ChunkView {
            chunk: i as u32,
            input,
            state,
            worker: s.worker.clone(),
            delivery: s.delivery,
            rows: s.rows,
            error: s.error.clone(),
        });
    }
    let finished = cancelled || counts.done + counts.failed == plan.chunks as usize;
    // A finished load's rate is that of its run, not of the time since.
    let until = if finished { last_ms } else { now };
    let secs = (until.saturating_sub(plan.submitted_ms) as f64 / 1000.0).max(0.001);
    let eta_s = (!finished && done_bytes > 0).then(|| {
        let left = plan.bytes.saturating_sub(done_bytes) as f64;
        secs * left / done_bytes as f64
    });
    Ok(LoadStatus {
        load: plan.load.clone(),
        name: plan.name.clone(),
        target: plan.target.clone(),
        table: plan.table.clone(),
        submitted: plan.submitted.clone(),
        published,
        counts,
        rows,
        rows_per_s: rows.read as f64 / secs,
        eta_s,
        cancelled,
        finished,
        chunks,
    })
}

/// Wait until load `id` is finished (every chunk done or failed, or cancelled), calling
/// `tick` with its state every `every`. A load whose `submit` stopped before it
/// published every chunk (killed) is an error after a minute: it can never finish.
pub async fn wait(
    nats: &str,
    id: &str,
    every: Duration,
    tick: &mut (dyn FnMut(&LoadStatus) + Send),
) -> Result<LoadStatus> {
    let broker = Broker::connect(nats).await?;
    let t0 = std::time::Instant::now();
    loop {
        // NATS restarting: ask again.
        match read_status(&broker, id).await {
            Ok(s) if s.finished => return Ok(s),
            Ok(s) if !s.published && t0.elapsed() > Duration::from_secs(60) => {
                return Err(Error::Config(format!(
                    "load {id} was never completely submitted (its submit stopped before it published \
                     every chunk): cancel it (`rowflow cancel {id}`) and submit the pipeline again"
                )));
            }
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

/// Requeue load `id`'s failed chunks (after fixing what made them fail), or resume a
/// cancelled load (every chunk not done). Each goes back with a new retry epoch, so its
/// deliveries count from 1 again and its claim outranks every earlier one; a chunk
/// resumes from its checkpoint. Returns how many.
pub async fn retry(nats: &str, id: &str) -> Result<usize> {
    let broker = Broker::connect(nats).await?;
    let kv = broker.kv(id).await?;
    let plan: Submitted = get_json(&kv, "plan")
        .await?
        .ok_or_else(|| Error::Config(format!("load {id}: no plan recorded")))?;
    let cancelled = matches!(kv.get("cancel").await, Ok(Some(_)));
    let states = chunk_states(&kv, plan.chunks as usize).await?;
    let again = |s: &ChunkState| s.state == "failed" || (cancelled && s.state != "done");
    if states.iter().any(again) {
        // A finished (or cancelled) load's queue was deleted.
        broker
            .create_queue(id, Duration::from_secs_f64(plan.ack_wait), plan.max_deliver)
            .await?;
    }
    if cancelled {
        kv.delete("cancel")
            .await
            .map_err(|e| super::broker::nats_err(&broker.shown, "resuming the load", e))?;
    }
    let mut n = 0;
    for (i, s) in states.iter().enumerate() {
        if !again(s) {
            continue;
        }
        let msg: Option<ChunkMsg> = get_json(&kv, &format!("msg.{i}")).await?;
        let Some(mut msg) = msg else {
            return Err(Error::Config(format!(
                "load {id}: chunk {i}'s message is not recorded (its submit was stopped before it); \
                 submit the load again"
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
    let width = plan.schema.len();
    for r in &rows {
        // As in a run's reject file: the columns (fewer when the record had fewer), the
        // position and reason, then the fields a longer record had beyond the columns.
        let fields: Vec<String> = serde_json::from_str(&r.fields).unwrap_or_default();
        let (cols, extra) = fields.split_at(fields.len().min(width));
        let mut rec: Vec<String> = cols.to_vec();
        rec.resize(width, String::new());
        rec.push(r.file.clone());
        rec.push(r.line.to_string());
        rec.push(r.reason.clone());
        rec.extend_from_slice(extra);
        w.write_record(&rec).map_err(io)?;
    }
    w.flush().map_err(|e| Error::Io {
        path: "the reject output".into(),
        source: e,
    })?;
    Ok(rows.len() as u64)
}
