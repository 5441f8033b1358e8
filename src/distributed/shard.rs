//! `rowflow run PIPELINE --shard I/N`: load a deterministic 1/N of a load's chunks, for
//! orchestrators that already run N copies (Kubernetes Indexed Jobs, Slurm arrays). No
//! broker: every copy plans the same load from the same inputs (so the schema must come
//! out the same: declared, or inferred from the same files), cuts the same chunks, and
//! loads chunks `I, I+N, I+2N, ...` (from 0), each with its own checkpoint, so a copy
//! run again resumes its chunks and skips those it completed.

use std::sync::Arc;

use crate::config::{PipelineSpec, WriteMode};
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use crate::plan::ChunkSpec;
use crate::report::{Observer, Report};
use crate::runtime::StopSignal;

/// Which share of the chunks: `index` of `count`, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This copy, from 0.
    pub index: u32,
    /// Copies in all.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N`, with `0 <= I < N`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("invalid shard {s:?}: write I/N with 0 <= I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Run this copy's share of the load `spec` describes, its chunks one after another,
/// and report them as one run. `chunk_bytes` is the chunk size (the same in every copy).
pub async fn run_shard(
    spec: PipelineSpec,
    shard: Shard,
    chunk_bytes: u64,
    observer: Arc<dyn Observer>,
    mut stop: StopSignal,
) -> Result<Report> {
    if spec.sink.truncate || matches!(spec.sink.mode, WriteMode::Replace | WriteMode::Create) {
        return Err(Error::Config(
            "--shard loads into a table the copies share: mode = \"replace\", mode = \"create\" and \
             truncate = true would each drop or empty what the other copies load. Prepare the table \
             once before the copies start, and load with mode = \"append\""
                .into(),
        ));
    }
    // Planned as a whole run would be: the same header, the same types in every copy.
    let planning = spec.clone();
    let (plan_schema, chunks, name, table, detected) =
        tokio::task::spawn_blocking(move || -> Result<_> {
            let (plan, chunks) = super::plan_chunks(&planning, chunk_bytes)?;
            Ok((
                super::fixed_schema(&plan),
                chunks,
                plan.name.clone(),
                plan.load.table.clone(),
                plan.detected.clone(),
            ))
        })
        .await
        .map_err(|e| Error::Stage {
            stage: "plan".into(),
            message: e.to_string(),
        })??;
    super::refuse_split_mode(&spec, chunks.len())?;
    // Every chunk is read with the dialect detected in the first input, as the schema is
    // fixed once.
    let spec = crate::plan::LoadSpec::resolve(&spec, detected.as_ref()).into_owned();
    let total = chunks.len() as u32;
    let mine: Vec<(u32, crate::source::Input)> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| (i as u32, c))
        .filter(|(i, _)| i % shard.count == shard.index)
        .collect();
    observer.note(&format!(
        "shard {}/{}: {} of the load's {total} chunks ({})",
        shard.index,
        shard.count,
        mine.len(),
        mine.iter()
            .map(|(i, _)| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let started = std::time::Instant::now();
    let mut report: Option<Report> = None;
    // One stop for every chunk: the signal completes once, a flag remembers it.
    let (tx, rx) = tokio::sync::watch::channel(false);
    let watcher = tokio::spawn(async move {
        (&mut stop).await;
        let _ = tx.send(true);
    });
    for (i, input) in mine {
        if *rx.borrow() {
            break;
        }
        let msg = super::ChunkMsg::of("shard", i, &input)?;
        let chunk = ChunkSpec {
            identity: super::chunk_identity(&name, &format!("shard{total}"), i, &table),
            input,
            fence: None,
        };
        let mut rx2 = rx.clone();
        let chunk_stop: StopSignal = Box::pin(async move {
            let _ = rx2.wait_for(|s| *s).await;
        });
        observer.note(&format!("chunk {i}: {}", msg.describe()));
        let run = |chunk: ChunkSpec, stop: StopSignal| {
            Pipeline::from_spec(super::chunk_spec(&spec, &plan_schema, &msg.input))
                .chunk(chunk)
                .run_with(observer.clone(), stop)
        };
        let mut one = run(chunk.clone(), chunk_stop).await?;
        // Copies that start together race to create the table: the one that lost
        // rolled back its first transaction and loads the chunk again, into the table
        // the other one created.
        if let crate::report::Outcome::Failed(e) = &one.outcome
            && lost_create_race(&e.to_string())
        {
            observer.note(&format!(
                "chunk {i}: another copy created the table meanwhile; loading the chunk again"
            ));
            let mut rx3 = rx.clone();
            let again: StopSignal = Box::pin(async move {
                let _ = rx3.wait_for(|s| *s).await;
            });
            one = run(chunk, again).await?;
        }
        let failed = one.exit_code() == 2;
        match report.as_mut() {
            Some(r) => r.absorb(one),
            None => report = Some(one),
        }
        if failed {
            break;
        }
    }
    watcher.abort();
    let mut report = report.unwrap_or_else(|| {
        Report::empty(
            Vec::new(),
            crate::redact::redact_url(&spec.sink.url),
            spec.sink.table.clone(),
        )
    });
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Whether a chunk failed because another copy created the table first: found at the
/// start, at the `CREATE TABLE` itself, or in PostgreSQL's catalog.
fn lost_create_race(message: &str) -> bool {
    [
        "was created by another run",
        "already exists",
        "pg_type_typname_nsp_index",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::Shard;

    #[test]
    fn shards_parse() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        for bad in ["4/4", "1", "a/b", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
