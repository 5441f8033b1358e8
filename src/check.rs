//! What a run of a pipeline would do, found without writing anything: the plan (inputs,
//! columns, each stage's output), the destination, whether the load would run (and on
//! which inputs) and what would become of the table. `rowflow check` and `load
//! --dry-run` print it; the Python package returns it.

use crate::error::{Error, Result};
use crate::expr::ExprContext;
use crate::loads::{Decision, TableStatus, check_sink};
use crate::pipeline::Pipeline;
use crate::schema::Schema;

/// A pipeline checked: everything a run would do before its first write.
#[derive(Debug)]
pub struct Check {
    /// The pipeline's name (`None`: a pipeline without one, such as `rowflow load`'s).
    pub name: Option<String>,
    /// The inputs, as named in messages.
    pub inputs: Vec<String>,
    /// What planning decided (the dialect detected, how the types were found).
    pub notes: Vec<String>,
    /// The input's columns.
    pub columns: Schema,
    /// Each stage: what it does and the columns it outputs.
    pub stages: Vec<(String, Schema)>,
    /// The destination in one line: target, table, mode, key, transactions, writers.
    pub sink: String,
    /// What a run would do with the load, or why it would be refused.
    pub run: std::result::Result<WouldRun, Error>,
    /// What would become of the table (checked only when a run would not be refused),
    /// or why it cannot take the rows.
    pub table: Option<std::result::Result<String, Error>>,
}

/// What a run would do with the load.
#[derive(Debug)]
pub enum WouldRun {
    /// Nothing: it is complete already (the reason says so).
    Skip(String),
    /// Load these inputs; the notes say why (resume, load again).
    Load {
        /// The inputs it would read.
        inputs: Vec<String>,
        /// Its decisions, one line each.
        notes: Vec<String>,
    },
}

impl Check {
    /// Whether a run would start and the table can take the rows.
    pub fn ok(&self) -> bool {
        self.run.is_ok() && matches!(self.table, Some(Ok(_)))
    }
}

/// Check `pipeline`: contact the database first (a wrong URL or a server that is down is
/// an error before the inputs are scanned), then plan it, then ask what a run would do.
/// `Err` for what stops the check itself; a run that would be refused (a changed input
/// or pipeline) is in [`Check::run`].
pub fn check(pipeline: Pipeline) -> Result<Check> {
    let named = pipeline.spec().name.clone();
    let started = match pipeline
        .load()
        .and_then(|l| crate::loads::preview(l, false))
    {
        Ok(s) => Ok(s),
        // A refusal by the checkpoint is said after the plan's own problems.
        Err(e @ Error::Config(_)) => Err(e),
        Err(e) => return Err(e),
    };
    let plan = pipeline.plan(&ExprContext::from_clock())?;
    let sink = format!(
        "{} table {:?} (mode {}{}{}, transactions of {}, {} writer{})",
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
    let run = started.map(|started| match &started.decision {
        Decision::Skip(s) => WouldRun::Skip(s.reason.clone()),
        Decision::Load(l) => WouldRun::Load {
            inputs: l
                .inputs
                .iter()
                .map(|&i| started.load.inputs[i].display())
                .collect(),
            notes: l.notes.clone(),
        },
    });
    let table = run.is_ok().then(|| {
        check_sink(&plan.target, &plan.sink).map(|status| match status {
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
        })
    });
    Ok(Check {
        name: named.map(|_| plan.name.clone()),
        inputs: plan.inputs.clone(),
        notes: plan.notes.clone(),
        columns: plan.input_schema.clone(),
        stages: plan
            .steps
            .iter()
            .map(|s| (s.describe.clone(), s.output.clone()))
            .collect(),
        sink,
        run,
        table,
    })
}
