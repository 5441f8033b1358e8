//! Spec → validated plan. Every check happens here, before the first row is read, and
//! every problem found is reported at once. Planning reads the inputs (the header, and
//! the rows for type inference) and nothing else: the database is contacted when the
//! load starts ([`crate::start`]).
//!
//! - [`source`]: the dialect, the header, the columns' types.
//! - [`stages`]: each stage checked against the schema before it, and compiled.
//! - [`sink`]: the destination, the table options and the runtime settings.

mod load;
mod sink;
pub mod source;
mod stages;

use std::sync::Arc;

pub use self::load::{ChunkSpec, LoadSpec};
pub use self::source::SourcePlan;
use crate::config::{PipelineSpec, TransformSpec};
use crate::error::{Error, Result};
use crate::expr::ExprContext;
use crate::runtime::{RejectTarget, RunOptions, Stage};
use crate::schema::{DataType, Schema};
use crate::sink::{SinkOptions, SinkTarget};
use crate::source::{CsvSource, Input};
use crate::transform::{Decode, DecodeOptions};

/// A stage of a pipeline: a configured transform, or (library only) a user function.
pub enum StageSpec {
    /// A transform from the pipeline file.
    Transform(TransformSpec),
    /// A user async function (library API).
    Async(AsyncSpec),
}

/// A user async stage as declared to the planner.
pub struct AsyncSpec {
    /// Name (in reject reasons).
    pub name: String,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Keep input order.
    pub ordered: bool,
    /// Columns the function adds (NULL until it sets them).
    pub add_columns: Vec<(String, DataType)>,
    /// Builds the runtime function once the stage's output schema is known.
    pub make: Box<dyn FnOnce(Arc<Schema>) -> crate::transform::AsyncFn + Send>,
}

/// One step of the plan, for display.
#[derive(Debug, Clone)]
pub struct PlanStep {
    /// What it does.
    pub describe: String,
    /// The schema after it.
    pub output: Schema,
}

/// A validated, runnable pipeline.
pub struct Plan {
    /// Pipeline name.
    pub name: String,
    /// Input names.
    pub inputs: Vec<String>,
    /// Input columns and their types (after renames of empty/duplicate names).
    pub input_schema: Schema,
    /// Which types were inferred, and how.
    pub notes: Vec<String>,
    /// The stages, for display.
    pub steps: Vec<PlanStep>,
    /// The schema written to the sink.
    pub output_schema: Schema,
    /// Destination.
    pub target: SinkTarget,
    /// Destination table options.
    pub sink: SinkOptions,
    /// Runtime options.
    pub run: RunOptions,
    /// Parallel writers (connections) of the sink.
    pub writers: usize,
    /// The CSV dialect the inputs are read with (detected parts included).
    pub dialect: crate::source::Dialect,
    /// The dialect parts the pipeline left unset, as detected.
    pub detected: Option<source::Detected>,
    /// The layout inference found for each input column of dates not written
    /// `YYYY-MM-DD` (`MM/DD/YYYY`).
    pub inferred_formats: Vec<Option<&'static str>>,
    pub(crate) source: CsvSource,
    pub(crate) stages: Vec<Stage>,
    pub(crate) http: Vec<Arc<crate::transform::HttpStats>>,
    /// The load this plan runs: its checkpoint key, shape and inputs.
    pub load: LoadSpec,
    /// Start over even when a checkpoint says an earlier run was interrupted.
    pub restart: bool,
    /// Wait for another run of the same load to end instead of refusing to start.
    pub wait: bool,
}

/// Build a plan. `stages` are the pipeline's stages in order (from the file, possibly
/// with library stages among them).
pub fn build(spec: &PipelineSpec, stages: Vec<StageSpec>, ctx: &ExprContext) -> Result<Plan> {
    build_for(spec, stages, ctx, None, Arc::default(), None)
}

/// The description of each library stage, for the load's shape.
pub(crate) fn library_shapes(stages: &[StageSpec]) -> Vec<String> {
    stages
        .iter()
        .filter_map(|s| match s {
            StageSpec::Async(a) => Some(format!("{}\u{1f}{:?}", a.name, a.add_columns)),
            StageSpec::Transform(_) => None,
        })
        .collect()
}

/// [`build`] over `inputs` (the inputs a started load reads, in its order) instead of
/// every input the spec names; `stop`, once set, stops reading (the inference scan, and
/// later the run's reader) with [`Error::Interrupted`]. `recorded` is the dialect the
/// interrupted run this one resumes detected, as its checkpoint records it.
pub(crate) fn build_for(
    spec: &PipelineSpec,
    stages: Vec<StageSpec>,
    ctx: &ExprContext,
    inputs: Option<Vec<Input>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    recorded: Option<String>,
) -> Result<Plan> {
    // What needs no I/O first, all of it reported at once.
    let mut errors: Vec<String> = Vec::new();
    // The dialect as set, checked (the parts left unset are detected below).
    source::dialect(&spec.source, &mut errors);
    let target = sink::target(spec, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Plan(errors));
    }
    let mut load = LoadSpec::of(spec, &library_shapes(&stages))?;
    // The dialect parts left unset: as the interrupted run this one resumes detected
    // them, else detected in the load's first input (whichever inputs this run reads).
    let recorded = recorded.and_then(|r| source::Detected::from_record(&r));
    let resolved = LoadSpec::resolve(spec, recorded.as_ref());
    let spec = resolved.as_ref();
    let dialect = source::dialect(&spec.source, &mut errors);
    let inputs = inputs.unwrap_or_else(|| load.inputs.clone());
    let src = &spec.source;
    let mut planned = SourcePlan::open(src, dialect, inputs.clone(), stop, &mut errors)?;
    if let Some(d) = &recorded {
        planned.notes.insert(0, d.note.clone());
    }
    let detected = recorded.or_else(|| planned.detected.clone());
    if let Some(d) = &detected {
        load.shape.parts.insert(
            crate::checkpoint::shape::DETECTED_PART.to_string(),
            d.record(),
        );
    }
    let dialect = planned.source.options().dialect;
    let decode = Arc::new(Decode::new(DecodeOptions {
        schema: Arc::new(planned.schema.clone()),
        null_values: src.null_values.clone(),
        ragged: src.ragged,
        type_hint: planned.type_hint.clone(),
        // Compute stages append columns: reserve room for them up front.
        row_capacity: planned.schema.len() + stages::width_hint(&stages),
        formats: planned.formats.clone(),
        column_nulls: planned.column_nulls.clone(),
        encoding: planned.encoding,
        json: planned.json.clone().map(Arc::new),
    }));
    let staged = stages::plan_stages(stages, &planned.schema, decode, ctx, &mut errors);
    sink::check(
        spec,
        &staged.output,
        target.as_ref(),
        staged.unordered,
        &mut errors,
    );
    sink::check_runtime(&spec.runtime, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Plan(errors));
    }
    let Some(target) = target else {
        return Err(Error::Plan(vec!["invalid sink url".into()]));
    };
    let commit_rows = sink::commit_rows(&spec.sink, &target)?;
    let rejects = sink::rejects(spec, &planned.header, &inputs, &target)?;
    let inputs: Vec<String> = inputs.iter().map(Input::display).collect();
    Ok(Plan {
        name: spec.name.clone().unwrap_or_else(|| "pipeline".into()),
        run: run_options(spec, &load, &target, commit_rows, rejects, inputs.clone()),
        inputs,
        input_schema: planned.schema,
        notes: planned.notes,
        steps: staged.steps,
        sink: sink::options(&spec.sink, &staged.output),
        writers: sink::writers(&spec.sink, &target),
        dialect,
        detected,
        inferred_formats: planned.inferred_formats.clone(),
        output_schema: staged.output,
        target,
        source: planned.source,
        stages: staged.stages,
        http: staged.http,
        load,
        restart: false,
        wait: false,
    })
}

/// The runtime's options for a run of `load` from the beginning (starting the load
/// decides whether it resumes).
fn run_options(
    spec: &PipelineSpec,
    load: &LoadSpec,
    target: &SinkTarget,
    commit_rows: usize,
    rejects: Option<RejectTarget>,
    inputs: Vec<String>,
) -> RunOptions {
    let rt = &spec.runtime;
    let workers = rt
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    RunOptions {
        batch_rows: rt.batch_rows,
        batch_bytes: rt.batch_bytes,
        channel_batches: rt.channel_batches,
        workers,
        commit_rows,
        grow_commits: spec.sink.commit_rows.is_none()
            && crate::sink::grows_commits(target, !spec.sink.key.is_empty()),
        commit_interval: std::time::Duration::from_secs(30),
        identity: load.identity.clone(),
        run_id: crate::checkpoint::new_run_id(),
        reconnect_timeout: std::time::Duration::from_secs(spec.sink.reconnect_timeout),
        resume: None,
        on_error: spec.errors.on_error,
        max_errors: spec.errors.max_errors,
        rejects,
        reject_table: false,
        inputs,
        input_states: Vec::new(),
        shape: load.shape.clone(),
        carry: Vec::new(),
        written_before: 0,
        started: crate::checkpoint::now_rfc3339(),
        generation: 1,
        limit: None,
        skip_rows: spec.source.skip_rows,
    }
}
