//! `rowflow checkpoints URL [--table T]`: what the checkpoint table holds, in plain
//! words; `rowflow checkpoints clear URL --table T [--load NAME]`: remove records.

use rowflow::format::thousands;
use rowflow::loads::{Identity, LoadLock, LoadSummary, SinkTarget, list_checkpoints, summarize};

use super::fail;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CheckpointsArgs {
    #[command(subcommand)]
    action: Option<Action>,
    /// The database: sqlite://file.db, postgres://..., mysql://... (default: the
    /// DATABASE_URL environment variable).
    url: Option<String>,
    /// Only the loads into this table (PostgreSQL and MySQL: the checkpoint table beside
    /// it).
    #[arg(long)]
    table: Option<String>,
    /// Print the loads as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Remove the checkpoint records of the loads into a table (all of them, or one).
    Clear(ClearArgs),
}

#[derive(Debug, clap::Args)]
struct ClearArgs {
    /// The database (default: the DATABASE_URL environment variable).
    url: Option<String>,
    /// The table whose loads' records go.
    #[arg(long)]
    table: String,
    /// Only this load: a pipeline's name, or the inputs of an unnamed load as listed.
    #[arg(long)]
    load: Option<String>,
    /// Wait for a run of a load being cleared to end (by default clearing it is refused).
    #[arg(long)]
    wait: bool,
}

fn target(url: Option<&str>) -> Result<SinkTarget, i32> {
    let url = match url {
        Some(u) => u.to_string(),
        None => std::env::var("DATABASE_URL").unwrap_or_default(),
    };
    SinkTarget::parse(&url).map_err(fail)
}

pub fn run(a: CheckpointsArgs) -> i32 {
    if let Some(Action::Clear(c)) = a.action {
        return clear(c);
    }
    let target = match target(a.url.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let rows = match list_checkpoints(&target, a.table.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let loads = summarize(&rows);
    if a.json {
        let v: Vec<serde_json::Value> = loads.iter().map(to_json).collect();
        println!("{}", serde_json::Value::Array(v));
        return 0;
    }
    if loads.is_empty() {
        println!("no checkpoints in {}", target.display());
        return 0;
    }
    println!("checkpoints in {}:", target.display());
    for l in &loads {
        print_load(l);
    }
    0
}

fn label(id: &Identity) -> String {
    if id.pipeline.is_empty() {
        format!("unnamed load of {}", id.input)
    } else {
        format!("pipeline {:?}", id.pipeline)
    }
}

fn print_load(l: &LoadSummary) {
    let place = if l.place.is_empty() {
        String::new()
    } else {
        format!(" (checkpoints in schema {:?})", l.place)
    };
    println!("- {} into {}{place}", label(&l.identity), l.identity.table);
    if l.unreadable {
        println!("    written by another version of rowflow; cannot be read");
        return;
    }
    println!("    last run's inputs: {}", l.inputs.join(", "));
    let [w, f, r] = l.totals;
    let state = match &l.resume_at {
        None => "complete".to_string(),
        Some(at) => format!("interrupted; the next run resumes at {at}"),
    };
    println!(
        "    {state}: {} rows committed ({} written, {} filtered, {} rejected)",
        thousands(l.committed),
        thousands(w),
        thousands(f),
        thousands(r)
    );
    if !l.done.is_empty() {
        println!(
            "    loaded completely by earlier runs: {}",
            l.done.join(", ")
        );
    }
    println!("    last commit: {}", l.updated_at);
}

fn to_json(l: &LoadSummary) -> serde_json::Value {
    serde_json::json!({
        "schema": (!l.place.is_empty()).then_some(&l.place),
        "pipeline": (!l.identity.pipeline.is_empty()).then_some(&l.identity.pipeline),
        "load": l.identity.label(),
        "table": l.identity.table,
        "inputs": l.inputs,
        "done": l.done,
        "complete": l.complete,
        "rows_committed": l.committed,
        "rows_written": l.totals[0],
        "rows_filtered": l.totals[1],
        "rows_rejected": l.totals[2],
        "resume_at": l.resume_at,
        "updated_at": l.updated_at,
        "readable": !l.unreadable,
    })
}

fn clear(c: ClearArgs) -> i32 {
    let target = match target(c.url.as_deref()) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let rows = match list_checkpoints(&target, Some(&c.table)) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let loads: Vec<LoadSummary> = summarize(&rows)
        .into_iter()
        .filter(|l| c.load.as_ref().is_none_or(|n| *n == l.identity.label()))
        .collect();
    if loads.is_empty() {
        println!(
            "nothing to clear: no checkpoint of {} into {} in {}",
            c.load
                .as_ref()
                .map_or("any load".to_string(), |n| format!("load {n:?}")),
            c.table,
            target.display()
        );
        return 0;
    }
    for l in &loads {
        // The same lock a run of the load holds: a running load is not cleared under it.
        let what = format!(
            "the load {:?} into {}",
            l.identity.label(),
            l.identity.table
        );
        let lock = LoadLock::acquire(
            &target,
            &l.identity.run_lock_name(),
            &what,
            c.wait,
            &mut |n| eprintln!("rowflow: note: {n}"),
        );
        let _lock = match lock {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        if let Err(e) = rowflow::loads::clear_checkpoints(&target, &l.identity.table, &l.identity) {
            return fail(e);
        }
        println!(
            "removed the checkpoint of {} into {} ({}; {} rows committed)",
            label(&l.identity),
            l.identity.table,
            if l.complete {
                "complete"
            } else {
                "interrupted"
            },
            thousands(l.committed)
        );
    }
    0
}
