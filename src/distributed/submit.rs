//! `rowflow submit PIPELINE --nats URL`: plan a load once, cut it into chunks, prepare
//! the table, and publish one message per chunk for workers to take.
//!
//! Planned once means: the header is read and the types are declared or inferred here,
//! and every worker reads its chunk with that schema (a worker never infers from its
//! own chunk). The table is prepared here too (created, replaced or emptied as the mode
//! says), before any chunk is published: chunks only append (or, one chunk, upsert).

use std::path::Path;
use std::time::Duration;

use super::ChunkMsg;
use super::broker::{Broker, ChunkState, Submitted, chunk_key, new_load_id, now_ms, put_json};
use crate::config::PipelineSpec;
use crate::error::{Error, Result};
use crate::source::Input;

/// How to submit.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// The NATS server(s).
    pub nats: String,
    /// `--set` overrides.
    pub overrides: Vec<String>,
    /// Bytes of a chunk of a plain file, about.
    pub chunk_bytes: u64,
    /// Time without a heartbeat before a chunk goes to another worker.
    pub ack_wait: Duration,
    /// Deliveries of a chunk before it is failed.
    pub max_deliver: u32,
}

impl SubmitOptions {
    /// The defaults: 256 MiB chunks, a 30 s ack wait, 5 deliveries.
    pub fn new(nats: impl Into<String>) -> Self {
        SubmitOptions {
            nats: nats.into(),
            overrides: Vec::new(),
            chunk_bytes: super::DEFAULT_CHUNK_BYTES,
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
        }
    }
}

/// A submitted load.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Its id (for `worker --load`, `status`, `wait`, `cancel`, `retry`, `rejects`).
    pub load: String,
    /// Its chunks.
    pub chunks: usize,
    /// Bytes of input in all.
    pub bytes: u64,
}

/// Submit the load of the pipeline file `path`. `note` hears each decision.
pub async fn submit(
    path: &Path,
    opts: &SubmitOptions,
    note: &mut (dyn FnMut(&str) + Send),
) -> Result<Submission> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let secrets = PipelineSpec::literal_secrets(&text, &opts.overrides)?;
    if !secrets.is_empty() {
        return Err(Error::Config(format!(
            "{} holds a secret written out ({}): a distributed load stores its pipeline in NATS for \
             the workers to read, and no secret is stored there. Write it as a ${{VAR}} reference \
             and set VAR in the environment of this command and of every worker",
            path.display(),
            secrets.join(", ")
        )));
    }
    let spec = PipelineSpec::from_file(path, &opts.overrides)?;
    let url = if spec.sink.url.is_empty() {
        std::env::var("DATABASE_URL").unwrap_or_default()
    } else {
        spec.sink.url.clone()
    };
    // A target that cannot take a distributed load is refused before anything else.
    if let Ok(t @ crate::sink::SinkTarget::Sqlite { .. }) = crate::sink::SinkTarget::parse(&url) {
        crate::sink::prepare_chunks(&t, &spec.sink.table)?;
    }
    // NATS first: a load that cannot be published must not replace or empty the table.
    let broker = Broker::connect(&opts.nats).await?;
    let name = spec.name.clone().unwrap_or_else(|| "pipeline".into());
    let planning = spec.clone();
    let chunk_bytes = opts.chunk_bytes;
    let (plan, chunks) = tokio::task::spawn_blocking(move || -> Result<_> {
        let (plan, chunks) = super::plan_chunks(&planning, chunk_bytes)?;
        // The table, once, for every chunk: a distributed load's writers only append.
        let sink = crate::sink::open_sink(&plan.target, &plan.sink, &plan.run.identity, 0, 2)?;
        drop(sink);
        crate::sink::prepare_chunks(&plan.target, &plan.load.table)?;
        Ok((plan, chunks))
    })
    .await
    .map_err(|e| Error::Stage {
        stage: "plan".into(),
        message: e.to_string(),
    })??;
    super::refuse_split_mode(&spec, chunks.len())?;
    for n in &plan.notes {
        note(n);
    }
    if plan.load.inputs.iter().any(|i| matches!(i, Input::File(_))) {
        note(
            "local input files are named by their absolute paths: every worker must see them at \
             the same paths (a shared filesystem)",
        );
    }
    let load = new_load_id();
    let mut msgs = Vec::with_capacity(chunks.len());
    let mut sizes = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        let m = ChunkMsg::of(&load, i as u32, c)?;
        sizes.push((m.describe(), c.size().unwrap_or(0)));
        msgs.push(m);
    }
    let bytes = sizes.iter().map(|(_, s)| s).sum();
    let kv = broker
        .create_load(&load, opts.ack_wait, opts.max_deliver)
        .await?;
    let base = path
        .parent()
        .map(|p| {
            std::fs::canonicalize(if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            })
        })
        .transpose()
        .map_err(|e| Error::io(path, e))?;
    put_json(
        &kv,
        "plan",
        &Submitted {
            load: load.clone(),
            name,
            pipeline: text,
            base: base.map(|b| b.display().to_string()),
            overrides: opts.overrides.clone(),
            schema: super::fixed_schema(&plan),
            chunks: sizes,
            target: plan.target.display(),
            table: plan.load.table.clone(),
            submitted: crate::checkpoint::now_rfc3339(),
            submitted_ms: now_ms(),
            ack_wait: opts.ack_wait.as_secs_f64(),
            max_deliver: opts.max_deliver,
        },
    )
    .await?;
    for m in &msgs {
        put_json(
            &kv,
            &chunk_key(m.chunk),
            &ChunkState {
                state: "pending".into(),
                updated_ms: now_ms(),
                ..Default::default()
            },
        )
        .await?;
        // Kept for `rowflow retry`, which publishes a failed chunk again.
        put_json(&kv, &format!("msg.{}", m.chunk), m).await?;
        broker
            .publish(&load, serde_json::to_vec(m).unwrap_or_default())
            .await?;
    }
    Ok(Submission {
        load,
        chunks: msgs.len(),
        bytes,
    })
}
