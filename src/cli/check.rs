//! `rowflow check PIPELINE.toml`: validate, print the plan, write nothing.

use std::path::PathBuf;

use rowflow::ExprContext;
use rowflow::loads::{Decision, TableStatus, check_sink};
use rowflow::{Pipeline, Schema};

use super::fail;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    /// Override a setting of the file.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn print_schema(s: &Schema) {
    for c in &s.columns {
        println!("      {:<24} {}", format!("{:?}", c.name), c.data_type);
    }
}

pub fn run(a: CheckArgs) -> i32 {
    if let Some(hint) = super::run::data_file_hint(&a.pipeline) {
        return fail(hint);
    }
    match Pipeline::from_file(&a.pipeline, &a.set) {
        Ok(p) => check_pipeline(p),
        Err(e) => fail(e),
    }
}

/// Validate `pipeline`, print its plan and what a run would do; write nothing.
pub fn check_pipeline(pipeline: Pipeline) -> i32 {
    let named = pipeline.spec().name.is_some();
    // The database first: a wrong URL or a server that is down is said before the
    // inputs are scanned.
    // A refusal by the checkpoint (a changed input or pipeline) is said after the plan's
    // own problems.
    let started = match pipeline
        .load()
        .and_then(|l| rowflow::loads::preview(l, false))
    {
        Ok(s) => Ok(s),
        Err(e @ rowflow::Error::Config(_)) => Err(e),
        Err(e) => return fail(e),
    };
    let plan = match pipeline.plan(&ExprContext::from_clock()) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if named {
        println!("pipeline {}", plan.name);
    } else {
        println!("rowflow load (a dry run)");
    }
    println!("  source: {}", plan.inputs.join(", "));
    for n in &plan.notes {
        println!("    note: {n}");
    }
    println!("    columns:");
    print_schema(&plan.input_schema);
    for (i, s) in plan.steps.iter().enumerate() {
        println!("  stage {}: {}", i + 1, s.describe);
        print_schema(&s.output);
    }
    println!(
        "  sink: {} table {:?} (mode {}{}{}, transactions of {}, {} writer{})",
        plan.target.display(),
        plan.sink.table,
        format!("{:?}", plan.sink.mode).to_lowercase(),
        if plan.sink.key.is_empty() {
            String::new()
        } else {
            format!(", key {}", plan.sink.key.join(", "))
        },
        if plan.sink.truncate { ", truncate" } else { "" },
        plan.run.transaction_size(),
        plan.writers,
        if plan.writers == 1 { "" } else { "s" }
    );
    let started = match started {
        Ok(s) => s,
        Err(e) => {
            println!("  run: would be refused");
            return fail(e);
        }
    };
    match &started.decision {
        Decision::Skip(s) => println!("  run: would do nothing: {}", s.reason),
        Decision::Load(l) => {
            let names: Vec<String> = l
                .inputs
                .iter()
                .map(|&i| started.load.inputs[i].display())
                .collect();
            println!("  run: would load {}", names.join(", "));
            for n in &l.notes {
                println!("    note: {n}");
            }
        }
    }
    match check_sink(&plan.target, &plan.sink) {
        Ok(status) => {
            let what = match status {
                TableStatus::Missing => "does not exist; it will be created".to_string(),
                TableStatus::Compatible => "exists and is compatible".to_string(),
                TableStatus::WillReplace => {
                    "exists and will be dropped and recreated (mode replace)".to_string()
                }
                TableStatus::WillAddColumns(cols) => format!(
                    "exists; sink.alter will add {} before loading: {}",
                    if cols.len() == 1 {
                        "a column"
                    } else {
                        "columns"
                    },
                    cols.iter()
                        .map(|c| format!("{c:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            println!("    table {what}");
            println!("ok: the pipeline is valid (nothing was written)");
            0
        }
        Err(e) => fail(e),
    }
}
