//! `rowflow check PIPELINE.toml`: validate, print the plan, write nothing.

use std::path::PathBuf;

use rowflow::check::WouldRun;
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
    let c = match rowflow::check::check(pipeline) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    match &c.name {
        Some(name) => println!("pipeline {name}"),
        None => println!("rowflow load (a dry run)"),
    }
    println!("  source: {}", c.inputs.join(", "));
    for n in &c.notes {
        println!("    note: {n}");
    }
    println!("    columns:");
    print_schema(&c.columns);
    for (i, (describe, output)) in c.stages.iter().enumerate() {
        println!("  stage {}: {describe}", i + 1);
        print_schema(output);
    }
    println!("  sink: {}", c.sink);
    match c.run {
        Err(e) => {
            println!("  run: would be refused");
            return fail(e);
        }
        Ok(WouldRun::Skip(reason)) => println!("  run: would do nothing: {reason}"),
        Ok(WouldRun::Load { inputs, notes }) => {
            println!("  run: would load {}", inputs.join(", "));
            for n in &notes {
                println!("    note: {n}");
            }
        }
    }
    match c.table {
        Some(Ok(what)) => {
            println!("    table {what}");
            println!("ok: the pipeline is valid (nothing was written)");
            0
        }
        Some(Err(e)) => fail(e),
        None => fail("internal error: the table was not checked"),
    }
}
