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
    /// Field delimiter (one character; `\t` or `tab` for tabs). Default: detected from
    /// the first lines (`,` tab `;` `|`).
    #[arg(long)]
    delimiter: Option<String>,
    /// The first line is data, not a header (columns are column_1..n). Default:
    /// detected (a first row whose values have the types of the rows below is data).
    #[arg(long, conflicts_with = "header")]
    no_header: bool,
    /// The first line is a header, whatever it looks like.
    #[arg(long)]
    header: bool,
    /// Infer from the first N records only instead of the whole file.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
}

pub fn run(a: SchemaArgs) -> i32 {
    let mut source = SourceSpec::paths(a.files.clone());
    source.delimiter = a.delimiter;
    source.has_header = super::load::header_flag(a.header, a.no_header);
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
            for (line, f) in plan
                .schema
                .to_toml()
                .lines()
                .zip(plan.inferred_formats.iter())
            {
                match (f, line.rsplit_once(" = ")) {
                    (Some(layout), Some((key, ty))) => {
                        println!("{key} = {{ type = {ty}, format = {layout:?} }}")
                    }
                    _ => println!("{line}"),
                }
            }
            0
        }
        Err(e) => fail(e),
    }
}
