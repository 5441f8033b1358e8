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
    #[command(flatten)]
    out: OutputArgs,
}

pub fn run(a: RunArgs) -> i32 {
    let pipeline = match Pipeline::from_file(&a.pipeline, &a.set) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    progress::run_and_report(pipeline, &a.out)
}
