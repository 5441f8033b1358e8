//! `rowflow schema FILE`: the inferred schema as a pasteable TOML block.

use rowflow::SourcePlan;
use rowflow::SourceSpec;
use rowflow::config::InferMode;

use super::fail;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// CSV files or globs (- for standard input).
    #[arg(required = true)]
    files: Vec<String>,
    /// Field delimiter.
    #[arg(long, default_value = ",")]
    delimiter: String,
    /// The file has no header line.
    #[arg(long)]
    no_header: bool,
    /// Infer from the first N records only instead of the whole file.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
}

pub fn run(a: SchemaArgs) -> i32 {
    let mut source = SourceSpec::paths(a.files.clone());
    source.delimiter = a.delimiter;
    source.has_header = !a.no_header;
    if let Some(n) = a.sample {
        source.infer = InferMode::Sample;
        source.sample_rows = n.max(1);
    }
    match SourcePlan::new(&source) {
        Ok(plan) => {
            for n in &plan.notes {
                println!("# {n}");
            }
            println!("[source.schema]");
            print!("{}", plan.schema.to_toml());
            0
        }
        Err(e) => fail(e),
    }
}
