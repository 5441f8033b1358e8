//! `rowflow worker --nats URL [--load ID] [--concurrency N]`: take chunks of distributed
//! loads and load them, N at a time.
//!
//! For each chunk message: claim the chunk in the target database (the claim fences the
//! commits of any worker that had it before), load it as a load of its own with its own
//! checkpoint (a redelivered chunk resumes where its last commit ended), send in-progress
//! heartbeats while it runs (so the ack wait can be short), record its state in the
//! load's bucket, and acknowledge it. What can go wrong, and what happens:
//!
//! - the worker is killed: the message is delivered again after the ack wait, to any
//!   worker, which resumes the chunk from its checkpoint;
//! - this worker's chunk went to another one (it stopped answering, then woke up): its
//!   next commit is refused (the claim), it rolls back and lets the chunk go;
//! - the chunk fails for a reason that will not go away (a row error with
//!   `on_error = "fail"`, `max_errors` reached, an input that changed): it is failed at
//!   once, with the reason; any other failure (a database down for longer than
//!   `reconnect_timeout`) is tried again, up to the load's `max_deliver`;
//! - SIGTERM / Ctrl-C: no new chunk is taken; a running one stops after its next commit
//!   and is released for another worker (its message goes back at once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::kv;
use futures::StreamExt;

use super::ChunkMsg;
use super::broker::{Broker, ChunkState, Submitted, chunk_key, chunk_states, get_json, now_ms};
use crate::config::{PipelineSpec, TransformSpec};
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::Pipeline;
use crate::plan::ChunkSpec;
use crate::report::{Observer, Outcome, Snapshot};
use crate::runtime::StopSignal;
use crate::sink::chunks::ChunkFence;

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The NATS server(s).
    pub nats: String,
    /// Only this load (the worker then exits once the load is finished); else every
    /// load with work left, until stopped.
    pub load: Option<String>,
    /// Chunks loaded at once.
    pub concurrency: usize,
}

/// What a worker did.
#[derive(Debug, Clone, Default)]
pub struct WorkerSummary {
    /// Chunks it completed.
    pub done: u64,
    /// Chunks it failed for good.
    pub failed: u64,
    /// Chunks it released (stopped, or tried again later).
    pub released: u64,
    /// Rows it wrote.
    pub rows_written: u64,
}

/// What a worker says: one plain line per event.
pub type Events = Arc<dyn Fn(&str) + Send + Sync>;

/// A load this worker takes chunks of.
struct LoadCtx {
    plan: Submitted,
    kv: kv::Store,
    consumer: PullConsumer,
    /// The shared rate limits of its `http` stages, by stage index.
    rates: Mutex<HashMap<usize, crate::config::SharedRate>>,
    /// Why this worker cannot run the load's chunks (its environment lacks a variable
    /// the pipeline uses, or gives another destination): it leaves them to others.
    unusable: Mutex<Option<String>>,
    /// Its submit finished (the table prepared, every chunk published): until then no
    /// chunk of it is taken.
    ready: std::sync::atomic::AtomicBool,
}

impl LoadCtx {
    fn rate(&self, stage: usize, rate: f64, burst: u32) -> crate::config::SharedRate {
        self.rates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(stage)
            .or_insert_with(|| {
                super::rate::SharedBucket::shared(self.kv.clone(), stage, rate, burst)
            })
            .clone()
    }

    async fn cancelled(&self) -> bool {
        matches!(self.kv.get("cancel").await, Ok(Some(_)))
    }
}

/// This worker's name in chunk states and claims: host, process, start.
fn worker_name() -> String {
    format!(
        "{} pid {} ({})",
        crate::sink::lock::protocol::hostname(),
        std::process::id(),
        crate::checkpoint::new_run_id()
    )
}

/// Work until `stop` turns true (or, with `--load`, until that load is finished).
pub async fn work(
    opts: WorkerOptions,
    events: Events,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<WorkerSummary> {
    let broker = Broker::connect(&opts.nats).await?;
    let me = worker_name();
    events(&format!(
        "worker {me}: taking chunks of {} from {}, {} at a time",
        opts.load
            .as_deref()
            .map_or("every load".to_string(), |l| format!("load {l}")),
        broker.shown,
        opts.concurrency.max(1)
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let summary = Arc::new(Mutex::new(WorkerSummary::default()));
    let mut loads: HashMap<String, Arc<LoadCtx>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut turn = 0usize;
    loop {
        if *stop.borrow() {
            break;
        }
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let ids = match &opts.load {
            Some(id) => vec![id.clone()],
            None => match broker.loads().await {
                Ok(ids) => ids,
                Err(e) => {
                    events(&format!("{e}; trying again"));
                    pause(&mut stop, Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let mut got = None;
        let mut finished = false;
        // Whether any load was asked for a message (each ask waits up to 500 ms).
        let mut asked = false;
        for k in 0..ids.len() {
            let id = &ids[(turn + k) % ids.len()];
            let ctx = match loads.get(id) {
                Some(c) => c.clone(),
                None => match open_load(&broker, id).await {
                    Ok(c) => {
                        let c = Arc::new(c);
                        loads.insert(id.clone(), c.clone());
                        c
                    }
                    Err(e) => {
                        if opts.load.is_some() {
                            // A finished load's queue is gone; its bucket says so.
                            if finished_in_bucket(&broker, id).await {
                                finished = true;
                                break;
                            }
                            return Err(e);
                        }
                        continue;
                    }
                },
            };
            let unusable = ctx
                .unusable
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(why) = unusable {
                if opts.load.is_some() {
                    return Err(Error::Config(format!(
                        "this worker cannot run load {id}: {why} (its chunks are left to other workers)"
                    )));
                }
                continue;
            }
            if !ctx.ready.load(std::sync::atomic::Ordering::Relaxed) {
                if matches!(ctx.kv.get("published").await, Ok(Some(_))) {
                    ctx.ready.store(true, std::sync::atomic::Ordering::Relaxed);
                } else {
                    continue;
                }
            }
            asked = true;
            let batch = ctx
                .consumer
                .batch()
                .max_messages(1)
                .expires(Duration::from_millis(500))
                .messages()
                .await;
            let msg = match batch {
                Ok(mut b) => b.next().await,
                Err(_) => None,
            };
            match msg {
                Some(Ok(m)) => {
                    got = Some((ctx, m));
                    break;
                }
                Some(Err(_)) | None => {
                    if idle(&ctx).await && load_finished(&ctx).await {
                        // Nothing left to take: the queue goes (the bucket stays, for
                        // `status`; `retry` makes the queue again).
                        let _ = broker.delete_stream(id).await;
                        loads.remove(id);
                        finished = opts.load.is_some();
                    }
                }
            }
        }
        turn = turn.wrapping_add(1);
        let Some((ctx, msg)) = got else {
            drop(permit);
            if finished {
                events("the load is finished: no chunk is pending or running");
                break;
            }
            if ids.is_empty() || !asked {
                pause(&mut stop, Duration::from_millis(500)).await;
            }
            continue;
        };
        let (events, me, summary, stop) =
            (events.clone(), me.clone(), summary.clone(), stop.clone());
        tasks.spawn(async move {
            let outcome = run_message(&ctx, msg, &me, &events, stop).await;
            let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                Handled::Done(rows) => {
                    s.done += 1;
                    s.rows_written += rows;
                }
                Handled::Failed => s.failed += 1,
                Handled::Released => s.released += 1,
            }
            drop(permit);
        });
    }
    if !tasks.is_empty() {
        events("stopping: waiting for the chunks in progress to commit and be released");
    }
    while tasks.join_next().await.is_some() {}
    let s = summary.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(s)
}

/// Sleep `d`, or less when `stop` turns true.
async fn pause(stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.changed() => {}
    }
}

async fn open_load(broker: &Broker, id: &str) -> Result<LoadCtx> {
    let kv = broker.kv(id).await?;
    let plan: Submitted = get_json(&kv, "plan").await?.ok_or_else(|| {
        Error::Config(format!(
            "load {id}: its plan is not in its bucket (still being submitted?)"
        ))
    })?;
    let consumer = broker.consumer(id).await?;
    Ok(LoadCtx {
        plan,
        kv,
        consumer,
        rates: Mutex::new(HashMap::new()),
        unusable: Mutex::new(None),
        ready: Default::default(),
    })
}

/// Whether load `id`'s bucket says every chunk is done or failed (or it was cancelled).
async fn finished_in_bucket(broker: &Broker, id: &str) -> bool {
    let Ok(kv) = broker.kv(id).await else {
        return false;
    };
    if matches!(kv.get("cancel").await, Ok(Some(_))) {
        return true;
    }
    let Ok(Some(plan)) = get_json::<Submitted>(&kv, "plan").await else {
        return false;
    };
    chunk_states(&kv, plan.chunks as usize)
        .await
        .is_ok_and(|s| s.iter().all(|c| c.state == "done" || c.state == "failed"))
}

/// Whether the load's queue has no message waiting or being worked on (a cheap look
/// before reading every chunk's state).
async fn idle(ctx: &LoadCtx) -> bool {
    let mut consumer = ctx.consumer.clone();
    match consumer.info().await {
        Ok(i) => i.num_pending == 0 && i.num_ack_pending == 0,
        Err(_) => true,
    }
}

/// Whether every chunk of the load is done or failed (or the load was cancelled).
async fn load_finished(ctx: &LoadCtx) -> bool {
    if ctx.cancelled().await {
        return true;
    }
    match chunk_states(&ctx.kv, ctx.plan.chunks as usize).await {
        Ok(states) => states
            .iter()
            .all(|s| s.state == "done" || s.state == "failed"),
        Err(_) => false,
    }
}

/// How a chunk message ended for this worker.
enum Handled {
    /// Loaded (rows written by this worker).
    Done(u64),
    /// Failed for good.
    Failed,
    /// Given back (to be tried again, by any worker).
    Released,
}

/// The latest progress of a running chunk, for its heartbeats.
#[derive(Default)]
struct Latest(Mutex<Snapshot>);

impl Observer for Latest {
    fn progress(&self, s: &Snapshot) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = s.clone();
    }
}

/// Record chunk `n`'s state, unless a later delivery of the chunk recorded one (a
/// stale worker that wakes up must not turn a chunk another worker finished back into a
/// running one). Best effort: the database is the truth; the bucket is what `status`
/// shows.
async fn record(kv: &kv::Store, n: u32, state: ChunkState) {
    let key = chunk_key(n);
    let value: bytes::Bytes = serde_json::to_vec(&state).unwrap_or_default().into();
    for _ in 0..20 {
        let Ok(entry) = kv.entry(key.as_str()).await else {
            return;
        };
        let done = match entry.filter(|e| e.operation == kv::Operation::Put) {
            Some(e) => {
                let old: ChunkState = serde_json::from_slice(&e.value).unwrap_or_default();
                if !supersedes(&old, &state) {
                    return;
                }
                kv.update(key.as_str(), value.clone(), e.revision)
                    .await
                    .is_ok()
            }
            None => kv.create(key.as_str(), value.clone()).await.is_ok(),
        };
        if done {
            return;
        }
    }
}

/// Whether `new` may replace `old` as a chunk's record: not a state of an earlier
/// delivery or retry, and within one retry an ended chunk stays ended: only `done`
/// over `done`, and only `done` or `failed` over `failed`. A worker that lost the chunk
/// may report it running after its new owner ended it, and JetStream may count the
/// redelivery after a restart of its server as delivery 1 again: an ended chunk
/// reported running again would never be waited out.
pub(crate) fn supersedes(old: &ChunkState, new: &ChunkState) -> bool {
    if (old.epoch, old.delivery) > (new.epoch, new.delivery) {
        return false;
    }
    if old.epoch < new.epoch {
        return true;
    }
    match old.state.as_str() {
        "done" => new.state == "done",
        "failed" => matches!(new.state.as_str(), "done" | "failed"),
        _ => true,
    }
}

/// Whether a failure will happen again however often the chunk is tried.
fn for_good(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Aborted | ErrorKind::Input | ErrorKind::Plan | ErrorKind::Config
    )
}

async fn run_message(
    ctx: &LoadCtx,
    msg: async_nats::jetstream::Message,
    me: &str,
    events: &Events,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Handled {
    let plan = &ctx.plan;
    let m: ChunkMsg = match serde_json::from_slice(&msg.payload) {
        Ok(m) => m,
        Err(e) => {
            events(&format!(
                "load {}: a message that is not a chunk ({e}): dropped",
                plan.load
            ));
            let _ = msg.double_ack_with(AckKind::Term).await;
            return Handled::Failed;
        }
    };
    let delivered = msg.info().map_or(1, |i| i.delivered.max(1) as u64);
    let prev: ChunkState = get_json(&ctx.kv, &chunk_key(m.chunk))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let state = |s: &str, error: Option<String>, rows: [u64; 4], bytes: u64| ChunkState {
        state: s.into(),
        worker: me.to_string(),
        delivery: delivered,
        epoch: m.epoch,
        rows,
        bytes,
        error,
        updated_ms: now_ms(),
    };
    let label = format!("load {} chunk {} ({})", plan.load, m.chunk, m.describe());
    if delivered > plan.max_deliver as u64 {
        // The delivery after the last allowed one records the failure.
        let why = prev.error.clone().unwrap_or_else(|| {
            "its workers stopped answering (killed, or their heartbeats did not reach NATS)".into()
        });
        let error = format!("given up after {} attempts: {why}", plan.max_deliver);
        events(&format!("{label}: {error}"));
        record(
            &ctx.kv,
            m.chunk,
            state("failed", Some(error), prev.rows, prev.bytes),
        )
        .await;
        let _ = msg.double_ack_with(AckKind::Term).await;
        return Handled::Failed;
    }
    if ctx.cancelled().await {
        let _ = msg.double_ack_with(AckKind::Term).await;
        return Handled::Released;
    }
    let (spec, chunk) = match prepare_chunk(ctx, &m, me, delivered).await {
        Ok(p) => p,
        Err(Prep::Here(why)) => {
            // This worker's own setup, not the chunk: another worker may do it.
            events(&format!(
                "load {}: this worker cannot run its chunks: {why}; leaving them to other workers",
                plan.load
            ));
            *ctx.unusable.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
            let _ = msg
                .double_ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                .await;
            return Handled::Released;
        }
        Err(Prep::Chunk(e)) => {
            return give_up_or_retry(ctx, &msg, &m, &label, e, None, delivered, me, events).await;
        }
    };
    events(&format!("{label}: started (delivery {delivered})"));
    record(
        &ctx.kv,
        m.chunk,
        state("running", prev.error.clone(), prev.rows, 0),
    )
    .await;
    // Heartbeats: the message stays this worker's while it loads, and the bucket shows
    // its progress; a cancelled load stops the chunk.
    let latest = Arc::new(Latest::default());
    let (halt_tx, mut halt_rx) = tokio::sync::watch::channel(false);
    let beat = {
        let (kv, latest, me) = (ctx.kv.clone(), latest.clone(), me.to_string());
        let every = Duration::from_secs_f64((plan.ack_wait / 3.0).max(0.2));
        let msg_ack = msg.clone();
        let (n, epoch) = (m.chunk, m.epoch);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = msg_ack.ack_with(AckKind::Progress).await;
                if matches!(kv.get("cancel").await, Ok(Some(_))) {
                    let _ = halt_tx.send(true);
                }
                let s = latest.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
                record(
                    &kv,
                    n,
                    ChunkState {
                        state: "running".into(),
                        worker: me.clone(),
                        delivery: delivered,
                        epoch,
                        rows: [
                            s.rows_read,
                            s.rows_written,
                            s.rows_filtered,
                            s.rows_rejected,
                        ],
                        bytes: s.bytes_read,
                        error: None,
                        updated_ms: now_ms(),
                    },
                )
                .await;
            }
        })
    };
    let mut stop = stop;
    let chunk_stop: StopSignal = Box::pin(async move {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => {}
            _ = halt_rx.wait_for(|s| *s) => {}
        }
    });
    let result = Pipeline::from_spec(spec)
        .chunk(chunk)
        .run_with(latest.clone(), chunk_stop)
        .await;
    beat.abort();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            return give_up_or_retry(ctx, &msg, &m, &label, e, None, delivered, me, events).await;
        }
    };
    let b = report.totals_before;
    let rows = [
        report.rows_read + report.already_committed,
        report.rows_written + b[0],
        report.rows_filtered + b[1],
        report.rows_rejected + b[2],
    ];
    match report.outcome {
        Outcome::Completed | Outcome::Skipped(_) => {
            record(
                &ctx.kv,
                m.chunk,
                state("done", None, rows, report.bytes_read),
            )
            .await;
            // The database says the chunk is loaded; the ack only spares a redelivery
            // (which would find the chunk complete and skip it).
            let _ = msg.double_ack().await;
            events(&format!(
                "{label}: done, {} rows written{}",
                crate::format::thousands(rows[1]),
                if rows[3] > 0 {
                    format!(", {} rejected", crate::format::thousands(rows[3]))
                } else {
                    String::new()
                }
            ));
            Handled::Done(report.rows_written)
        }
        Outcome::Interrupted | Outcome::Limited(_) => {
            record(
                &ctx.kv,
                m.chunk,
                state("pending", None, rows, report.bytes_read),
            )
            .await;
            let _ = msg.double_ack_with(AckKind::Nak(None)).await;
            events(&format!(
                "{label}: stopped after its last commit ({} rows written); released for another worker",
                crate::format::thousands(report.rows_written)
            ));
            Handled::Released
        }
        Outcome::Failed(e) => {
            let done = Some((rows, report.bytes_read));
            give_up_or_retry(ctx, &msg, &m, &label, e, done, delivered, me, events).await
        }
    }
}

/// The spec and chunk a message runs: the pipeline as this worker's environment
/// expands it, the chunk's input checked, the load's rate limits shared and its error
/// budget what the other chunks left.
async fn prepare_chunk(
    ctx: &LoadCtx,
    m: &ChunkMsg,
    me: &str,
    delivered: u64,
) -> std::result::Result<(PipelineSpec, ChunkSpec), Prep> {
    let plan = &ctx.plan;
    let base = plan.base.as_deref().map(std::path::Path::new);
    let spec = PipelineSpec::from_parts(&plan.pipeline, base, &plan.overrides, &plan.name)
        .map_err(|e| Prep::Here(e.to_string()))?;
    // The destination as this worker's environment expands it must be the one the load
    // was submitted into (a `${TABLE}` or `${PGHOST}` set otherwise here would send the
    // rows elsewhere).
    let url = if spec.sink.url.is_empty() {
        std::env::var("DATABASE_URL").unwrap_or_default()
    } else {
        spec.sink.url.clone()
    };
    let target = crate::sink::SinkTarget::parse(&url)
        .map_err(|e| Prep::Here(e.to_string()))?
        .display();
    if target != plan.target || spec.sink.table != plan.table {
        return Err(Prep::Here(format!(
            "its environment gives the destination {target} table {:?}, but the load was \
             submitted into {} table {:?}",
            spec.sink.table, plan.target, plan.table
        )));
    }
    prepare_in(ctx, m, me, delivered, spec)
        .await
        .map_err(Prep::Chunk)
}

/// Why a chunk could not be prepared.
enum Prep {
    /// This worker's setup (its environment): the chunk is left to other workers.
    Here(String),
    /// The chunk itself.
    Chunk(Error),
}

/// [`prepare_chunk`] once this worker's spec is known to be the load's.
async fn prepare_in(
    ctx: &LoadCtx,
    m: &ChunkMsg,
    me: &str,
    delivered: u64,
    spec: PipelineSpec,
) -> Result<(PipelineSpec, ChunkSpec)> {
    let plan = &ctx.plan;
    let resolving = (m.clone(), spec.clone());
    let input = tokio::task::spawn_blocking(move || resolving.0.resolve(&resolving.1))
        .await
        .map_err(|e| Error::Stage {
            stage: "chunk".into(),
            message: e.to_string(),
        })??;
    let mut cs = super::chunk_spec(&spec, &plan.schema, &m.input);
    for (i, t) in cs.transforms.iter_mut().enumerate() {
        if let TransformSpec::Http(h) = t
            && let Some(rate) = h.rate_limit
        {
            h.shared_rate = Some(ctx.rate(i, rate, h.burst));
        }
    }
    if let Some(max) = spec.errors.max_errors {
        // `max_errors` is the whole load's: this chunk may fail what the others left.
        let states = chunk_states(&ctx.kv, plan.chunks as usize).await?;
        let others: u64 = states
            .iter()
            .enumerate()
            .filter(|(i, _)| *i as u32 != m.chunk)
            .map(|(_, s)| s.rows[3])
            .sum();
        if others > max {
            return Err(Error::Aborted(format!(
                "the load already has {others} rejected rows, more than max_errors = {max}"
            )));
        }
        cs.errors.max_errors = Some(max - others);
    }
    let chunk = ChunkSpec {
        identity: super::chunk_identity(&plan.name, &m.load, m.chunk, &plan.table),
        input,
        fence: Some(ChunkFence {
            load: m.load.clone(),
            chunk: m.chunk,
            owner: me.to_string(),
            token: ChunkFence::token(m.epoch, delivered),
        }),
    };
    Ok((cs, chunk))
}

/// A chunk that failed: for good (recorded and terminated), or to be tried again
/// (released with a short delay), or (a later delivery owns it) left alone.
#[allow(clippy::too_many_arguments)]
async fn give_up_or_retry(
    ctx: &LoadCtx,
    msg: &async_nats::jetstream::Message,
    m: &ChunkMsg,
    label: &str,
    e: Error,
    done: Option<([u64; 4], u64)>,
    delivered: u64,
    me: &str,
    events: &Events,
) -> Handled {
    let error = crate::redact::redact_text(&e.to_string());
    if e.kind() == ErrorKind::Busy {
        // Another worker owns the chunk now (it was redelivered while this one was
        // silent): nothing of this attempt was committed after that; let it go.
        events(&format!("{label}: {error}"));
        return Handled::Released;
    }
    let prev: ChunkState = get_json(&ctx.kv, &chunk_key(m.chunk))
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut st = ChunkState {
        state: "pending".into(),
        worker: me.to_string(),
        delivery: delivered,
        epoch: m.epoch,
        rows: done.map_or(prev.rows, |d| d.0),
        bytes: done.map_or(prev.bytes, |d| d.1),
        error: Some(error.clone()),
        updated_ms: now_ms(),
    };
    if for_good(&e) {
        st.state = "failed".into();
        record(&ctx.kv, m.chunk, st).await;
        let _ = msg.double_ack_with(AckKind::Term).await;
        events(&format!("{label}: failed: {error}"));
        return Handled::Failed;
    }
    record(&ctx.kv, m.chunk, st).await;
    let _ = msg
        .double_ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
        .await;
    events(&format!(
        "{label}: attempt {delivered} of {} failed, to be tried again: {error}",
        ctx.plan.max_deliver
    ));
    Handled::Released
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(state: &str, epoch: u32, delivery: u64) -> ChunkState {
        ChunkState {
            state: state.into(),
            epoch,
            delivery,
            ..ChunkState::default()
        }
    }

    #[test]
    fn a_finished_chunk_stays_finished() {
        // The old owner's late "running" after the new owner's "done", both counted
        // delivery 1 (a JetStream restart): refused.
        assert!(!supersedes(&st("done", 0, 1), &st("running", 0, 1)));
        assert!(!supersedes(&st("done", 0, 1), &st("pending", 0, 2)));
        assert!(supersedes(&st("done", 0, 1), &st("done", 0, 2)));
        // A later delivery's progress replaces an earlier one's; never the reverse.
        assert!(supersedes(&st("running", 0, 1), &st("running", 0, 2)));
        assert!(!supersedes(&st("running", 0, 2), &st("done", 0, 1)));
        // A failed chunk stays failed within its retry, too.
        assert!(!supersedes(&st("failed", 0, 2), &st("running", 0, 2)));
        assert!(supersedes(&st("failed", 0, 2), &st("done", 0, 2)));
        // `rowflow retry` (a new epoch) requeues a failed chunk.
        assert!(supersedes(&st("failed", 0, 3), &st("pending", 1, 1)));
    }
}
