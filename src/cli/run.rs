//! `rowflow run PIPELINE.toml [--set key=value ...]`

use std::path::PathBuf;

use rowflow::Pipeline;

use super::{OutputArgs, fail, progress};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// Override a setting of the file: `--set source.path=big.csv`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Load only share I of N of the load's chunks (0 <= I < N), for orchestrators that
    /// run N copies; each chunk keeps its own checkpoint.
    #[arg(long, value_name = "I/N")]
    shard: Option<rowflow::distributed::shard::Shard>,
    /// With --shard: the chunk size plain files are split into (the same in every copy).
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "256MiB",
        requires = "shard"
    )]
    chunk_size: String,
    #[command(flatten)]
    out: OutputArgs,
}

/// A data file given where a pipeline file goes (`rowflow run users.csv`): the
/// suggestion to use `load`.
pub(crate) fn data_file_hint(path: &std::path::Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    let data = [
        ".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".gz", ".zst", ".psv",
    ]
    .iter()
    .any(|e| name.ends_with(e));
    data.then(|| {
        format!(
            "{} is a data file, and `rowflow run` takes a pipeline file (TOML). To load it as it \
             is: rowflow load {} --into sqlite://out.db (or a postgres:// or mysql:// URL)",
            path.display(),
            path.display()
        )
    })
}

pub fn run(a: RunArgs) -> i32 {
    if let Some(hint) = data_file_hint(&a.pipeline) {
        return fail(hint);
    }
    let pipeline = match Pipeline::from_file(&a.pipeline, &a.set) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    match a.shard {
        Some(_) if a.out.limit.is_some() => {
            fail("--limit loads the first rows of one load: it cannot be used with --shard")
        }
        Some(shard) => {
            let chunk = match rowflow::distributed::parse_size(&a.chunk_size) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            progress::run_shard_and_report(pipeline, shard, chunk, &a.out)
        }
        None => progress::run_and_report(pipeline, &a.out),
    }
}
