//! `rowflow generate users --rows N --out PATH [--seed S]`

use std::path::PathBuf;

use super::fail;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The data set (only `users`, the standard workload).
    #[arg(value_parser = ["users"])]
    dataset: String,
    /// Number of rows.
    #[arg(long)]
    rows: u64,
    /// Output file (`-` for stdout).
    #[arg(long)]
    out: PathBuf,
    /// Seed: the same rows and seed give the same bytes.
    #[arg(long, default_value_t = 20260101)]
    seed: u64,
}

pub fn run(a: GenerateArgs) -> i32 {
    let result = if a.out.as_os_str() == "-" {
        rowflow::generate::users(a.rows, a.seed, std::io::stdout().lock())
    } else {
        if let Some(dir) = a.out.parent()
            && !dir.as_os_str().is_empty()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return fail(format!("{}: {e}", dir.display()));
        }
        std::fs::File::create(&a.out).and_then(|f| rowflow::generate::users(a.rows, a.seed, f))
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(format!("{}: {e}", a.out.display())),
    }
}
