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
use super::broker::{
    Broker, ChunkState, Submitted, chunk_key, chunk_states, get_json, new_load_id, now_ms, put_json,
};
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
    /// Submit even though an earlier load of the same pipeline into the same table did
    /// not complete (its committed rows stay: in `append` mode they may be loaded again).
    pub force: bool,
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
            force: false,
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
    let (plan, chunks) =
        tokio::task::spawn_blocking(move || super::plan_chunks(&planning, chunk_bytes))
            .await
            .map_err(|e| Error::Stage {
                stage: "plan".into(),
                message: e.to_string(),
            })??;
    super::refuse_split_mode(&spec, chunks.len())?;
    let target = plan.target.display();
    let seen = refuse_overlap(&broker, &name, &target, &plan.load.table, &spec, opts.force).await?;
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
    // Two submits of the same load at the same moment both pass the look above: the
    // load's entry in the index, taken with a compare-and-set, lets only one through.
    let key = load_key(&name, &plan.load.table, &target);
    broker.claim_index(&key, &load, &seen).await?;
    let mut msgs = Vec::with_capacity(chunks.len());
    for (i, c) in chunks.iter().enumerate() {
        msgs.push(ChunkMsg::of(&load, i as u32, c)?);
    }
    let bytes = msgs.iter().map(|m| m.size).sum();
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
    let submitted = Submitted {
        load: load.clone(),
        name,
        // Re-written from its table: the file's comments (which may hold an old
        // password) do not travel.
        pipeline: PipelineSpec::without_comments(&text)?,
        base: base.map(|b| b.display().to_string()),
        // The dialect detected here, fixed for every worker (as the schema is).
        overrides: opts
            .overrides
            .iter()
            .cloned()
            .chain(
                plan.detected
                    .iter()
                    .flat_map(crate::plan::source::Detected::assignments),
            )
            .collect(),
        schema: super::fixed_schema(&plan),
        chunks: msgs.len() as u32,
        bytes,
        target,
        table: plan.load.table.clone(),
        submitted: crate::checkpoint::now_rfc3339(),
        submitted_ms: now_ms(),
        ack_wait: opts.ack_wait.as_secs_f64(),
        max_deliver: opts.max_deliver,
    };
    let kv = broker
        .create_load(&load, opts.ack_wait, opts.max_deliver)
        .await?;
    // Until the table is prepared and every chunk published, a failure takes the load
    // away again.
    let published = async {
        put_json(&kv, "plan", &submitted).await?;
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
            // Kept for `status` and `rowflow retry`.
            put_json(&kv, &format!("msg.{}", m.chunk), m).await?;
        }
        // Every chunk first: workers take none until the load is marked published, so a
        // submit that stops here has touched nothing in the database.
        for m in &msgs {
            broker
                .publish(&load, serde_json::to_vec(m).unwrap_or_default())
                .await?;
        }
        // The table, once, for every chunk: a distributed load's writers only append.
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut sink = crate::sink::open_sink(&plan.target, &plan.sink, &plan.run.identity, 0)?;
            sink.prepare()?;
            drop(sink);
            crate::sink::prepare_chunks(&plan.target, &plan.load.table)
        })
        .await
        .map_err(|e| Error::Stage {
            stage: "sink".into(),
            message: e.to_string(),
        })??;
        put_json(&kv, "published", &now_ms()).await
    }
    .await;
    if let Err(e) = published {
        broker.delete_load(&load).await;
        broker.release_index(&key, &load).await;
        return Err(e);
    }
    Ok(Submission {
        load,
        chunks: msgs.len(),
        bytes,
    })
}

/// Refuse a load of `name` into `table` at `target` while another one is in progress
/// (both would load the same rows), or, in the modes that keep the table's rows, while
/// an earlier one stands incomplete (cancelled, or with failed chunks): loading again
/// would load its committed rows twice; `rowflow retry` finishes it instead.
async fn refuse_overlap(
    broker: &Broker,
    name: &str,
    target: &str,
    table: &str,
    spec: &PipelineSpec,
    force: bool,
) -> Result<Vec<String>> {
    use crate::config::WriteMode;
    // The loads of this key looked at and found not to stand in the way.
    let mut seen = Vec::new();
    let keeps_rows =
        !spec.sink.truncate && matches!(spec.sink.mode, WriteMode::Append | WriteMode::Upsert);
    for other in broker.all_loads().await? {
        let Ok(kv) = broker.kv(&other).await else {
            continue;
        };
        let Ok(Some(plan)) = get_json::<Submitted>(&kv, "plan").await else {
            continue;
        };
        if load_key(&plan.name, &plan.table, &plan.target) != load_key(name, table, target) {
            continue;
        }
        // A load not published had no chunk taken: nothing of it is in the table. Its
        // submit died, or is running now: the claim in the index of loads tells which
        // (see `Broker::claim_index`), so it is not counted as out of the way here.
        if !matches!(kv.get("published").await, Ok(Some(_))) {
            continue;
        }
        let cancelled = matches!(kv.get("cancel").await, Ok(Some(_)));
        let states = chunk_states(&kv, plan.chunks as usize).await?;
        let done = states.iter().filter(|s| s.state == "done").count();
        let failed = states.iter().filter(|s| s.state == "failed").count();
        // A cancelled load's chunks still running commit once more before they stop.
        let stale_ms = (plan.ack_wait * 2000.0) as u64;
        let live = states
            .iter()
            .filter(|s| s.state == "running" && now_ms().saturating_sub(s.updated_ms) < stale_ms)
            .count();
        let finished = (cancelled && live == 0) || done + failed == states.len();
        if !finished {
            return Err(Error::Busy(format!(
                "load {other} of {name:?} into {table} is in progress ({done} of {} chunks done): \
                 two loads would load the same rows. Wait for it (`rowflow wait {other}`) or cancel \
                 it (`rowflow cancel {other}`) first",
                states.len()
            )));
        }
        if keeps_rows && !force && (cancelled || failed > 0) {
            return Err(Error::Busy(format!(
                "load {other} of {name:?} into {table} did not complete ({}; {done} of {} chunks \
                 done, their rows committed): loading again in mode = \"{}\" would load those rows \
                 a second time. Finish it with `rowflow retry {other}`, or load into an emptied \
                 table (mode = \"replace\" or truncate = true), or submit with --force to load \
                 everything again anyway",
                if cancelled {
                    "cancelled".to_string()
                } else {
                    format!("{failed} chunks failed")
                },
                states.len(),
                match spec.sink.mode {
                    WriteMode::Upsert => "upsert",
                    _ => "append",
                }
            )));
        }
        seen.push(other);
    }
    Ok(seen)
}

/// What makes two loads the same load, whatever the spelling: the pipeline's name, the
/// table without PostgreSQL's default schema (or MySQL's database), and the database
/// (scheme aliases, user, `localhost`, default ports and URL options set aside).
pub(crate) fn load_key(name: &str, table: &str, target: &str) -> String {
    let (scheme, rest) = target.split_once("://").unwrap_or(("", target));
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "postgresql" | "postgres" => "postgres".to_string(),
        "mariadb" | "mysql" => "mysql".to_string(),
        s => s.to_string(),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.to_string()),
        None => (
            hostport,
            match scheme.as_str() {
                "postgres" => "5432".into(),
                "mysql" => "3306".into(),
                _ => String::new(),
            },
        ),
    };
    let host = match host.to_ascii_lowercase().as_str() {
        "localhost" | "[::1]" => "127.0.0.1".to_string(),
        h => h.to_string(),
    };
    let table = table.trim();
    let table = match scheme.as_str() {
        "postgres" => table.strip_prefix("public.").unwrap_or(table),
        "mysql" => table.strip_prefix(&format!("{db}.")).unwrap_or(table),
        _ => table,
    };
    format!("{name}\u{1f}{table}\u{1f}{scheme}://{host}:{port}/{db}")
}
