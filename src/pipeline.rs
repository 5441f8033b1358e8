//! The public library API: build a pipeline (from a file or in code), plan it, run it.
//!
//! ```no_run
//! use rowflow::{Pipeline, SinkSpec, SourceSpec};
//!
//! # async fn demo() -> rowflow::Result<()> {
//! let report = Pipeline::new(
//!     SourceSpec::paths(["users.csv"]),
//!     SinkSpec::new("sqlite://out.db", "users"),
//! )
//! .compute("email", "lower(trim(email))")
//! .filter("email LIKE '%@%'")
//! .run()
//! .await?;
//! println!("{} rows written", report.rows_written);
//! # Ok(()) }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use crate::config::{OnError, PipelineSpec, SinkSpec, SourceSpec, TransformSpec};
use crate::error::{Error, Result};
use crate::expr::ExprContext;
use crate::plan::LoadSpec;
use crate::plan::{AsyncSpec, Plan, StageSpec};
use crate::report::{Observer, Report, Silent};
use crate::row::{Position, Row, Value};
use crate::runtime::StopSignal;
use crate::schema::{DataType, Schema};
use crate::start::Prepared;
use crate::transform::AsyncFn;

/// A pipeline: a spec plus, for library users, async stages written in Rust.
pub struct Pipeline {
    spec: PipelineSpec,
    stages: Vec<StageSpec>,
    restart: bool,
    wait: bool,
    limit: Option<u64>,
    /// Run one chunk of a load split across processes.
    chunk: Option<crate::plan::ChunkSpec>,
}

/// Options of a user async stage.
#[derive(Debug, Clone)]
pub struct AsyncOptions {
    name: String,
    concurrency: usize,
    ordered: bool,
    add_columns: Vec<(String, DataType)>,
}

impl AsyncOptions {
    /// A stage named `name` (used in reject reasons), 16 calls in flight, ordered.
    pub fn new(name: impl Into<String>) -> Self {
        AsyncOptions {
            name: name.into(),
            concurrency: 16,
            ordered: true,
            add_columns: Vec::new(),
        }
    }
    /// Calls in flight at most, for the whole stage.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// `false` lets rows of a batch finish in any order.
    pub fn ordered(mut self, yes: bool) -> Self {
        self.ordered = yes;
        self
    }
    /// Declare a column the function sets (NULL until it does).
    pub fn add_column(mut self, name: impl Into<String>, ty: DataType) -> Self {
        self.add_columns.push((name.into(), ty));
        self
    }
}

/// A row as a user function sees it: values by column name, and where it came from.
#[derive(Debug, Clone)]
pub struct Record {
    schema: Arc<Schema>,
    row: Row,
}

impl Record {
    /// The value of a column, `None` if there is no such column.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.schema
            .index_of(name)
            .and_then(|i| self.row.values.get(i))
    }
    /// A text column's value (`None` for NULL, a missing column or another type).
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    /// An int column's value.
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
    /// A numeric column's value as f64.
    pub fn get_f64(&self, name: &str) -> Option<f64> {
        match self.get(name)? {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            Value::Decimal(d) => d.to_string().parse().ok(),
            _ => None,
        }
    }
    /// Set a column (declared in the input or with [`AsyncOptions::add_column`]). The
    /// value's type must match the column's, or the row is rejected when returned.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> std::result::Result<(), String> {
        let i = self
            .schema
            .index_of(name)
            .ok_or_else(|| format!("no column {name:?} (declare it with add_column)"))?;
        self.row.values[i] = value.into();
        Ok(())
    }
    /// The physical line where the record starts in its input.
    pub fn line(&self) -> u64 {
        self.row.pos.line
    }
    /// Full position (file index, record number, line, byte offset).
    pub fn position(&self) -> Position {
        self.row.pos
    }
    /// The schema of this stage's output.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

fn wrap<F, Fut, E>(f: F) -> impl FnOnce(Arc<Schema>) -> AsyncFn + Send
where
    F: Fn(Record) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<Option<Record>, E>> + Send + 'static,
    E: Display + 'static,
{
    use crate::transform::AsyncOutcome as O;
    move |schema: Arc<Schema>| -> AsyncFn {
        let f = Arc::new(f);
        Arc::new(move |mut row: Row| {
            let f = f.clone();
            let schema = schema.clone();
            let pos = row.pos;
            let raw = row.raw.clone();
            row.values.resize(schema.len(), Value::Null);
            Box::pin(async move {
                let gone = || Row {
                    pos,
                    raw: raw.clone(),
                    values: Vec::new(),
                };
                match f(Record {
                    schema: schema.clone(),
                    row,
                })
                .await
                {
                    Ok(Some(rec)) => {
                        for (v, c) in rec.row.values.iter().zip(&schema.columns) {
                            if let Some(t) = v.data_type()
                                && t != c.data_type
                            {
                                let msg = format!(
                                    "column {:?} is {} but the function set a {t}",
                                    c.name, c.data_type
                                );
                                return (gone(), O::Reject(msg));
                            }
                        }
                        (rec.row, O::Keep)
                    }
                    Ok(None) => (gone(), O::Drop),
                    Err(e) => (gone(), O::Reject(e.to_string())),
                }
            })
        })
    }
}

impl Pipeline {
    /// A pipeline from a source to a sink, with no stages yet.
    pub fn new(source: SourceSpec, sink: SinkSpec) -> Self {
        Pipeline::from_spec(PipelineSpec {
            name: None,
            source,
            transforms: Vec::new(),
            sink,
            errors: Default::default(),
            runtime: Default::default(),
        })
    }

    /// A pipeline from a spec (e.g. parsed from TOML).
    pub fn from_spec(spec: PipelineSpec) -> Self {
        let stages = spec
            .transforms
            .iter()
            .cloned()
            .map(StageSpec::Transform)
            .collect();
        Pipeline {
            spec,
            stages,
            restart: false,
            wait: false,
            limit: None,
            chunk: None,
        }
    }

    /// Run only the chunk `c` of this pipeline's load (a shard, or a distributed load's
    /// worker), with its own checkpoint.
    pub(crate) fn chunk(mut self, c: crate::plan::ChunkSpec) -> Self {
        self.chunk = Some(c);
        self
    }

    /// Read a pipeline file, applying `--set`-style overrides.
    pub fn from_file(path: &Path, overrides: &[String]) -> Result<Self> {
        Ok(Pipeline::from_spec(PipelineSpec::from_file(
            path, overrides,
        )?))
    }

    /// The spec (transforms added in code are in it, async stages are not).
    pub fn spec(&self) -> &PipelineSpec {
        &self.spec
    }

    /// Add a transform stage.
    pub fn transform(mut self, t: TransformSpec) -> Self {
        self.spec.transforms.push(t.clone());
        self.stages.push(StageSpec::Transform(t));
        self
    }

    /// Add (or replace) a computed column.
    pub fn compute(self, name: impl Into<String>, expr: impl Into<String>) -> Self {
        let mut columns = indexmap::IndexMap::new();
        columns.insert(name.into(), expr.into());
        self.transform(TransformSpec::Compute { columns })
    }

    /// Keep rows where `condition` is true.
    pub fn filter(self, condition: impl Into<String>) -> Self {
        self.transform(TransformSpec::Filter {
            condition: condition.into(),
        })
    }

    /// Add an HTTP enrichment stage (the `http` stage of pipeline files):
    ///
    /// ```no_run
    /// # use rowflow::{Pipeline, SinkSpec, SourceSpec, config::HttpSpec};
    /// let p = Pipeline::new(SourceSpec::paths(["users.csv"]), SinkSpec::new("sqlite://out.db", "users"))
    ///     .http(
    ///         HttpSpec::get("https://api.example.com/score?email={email}")
    ///             .header("Authorization", "Bearer secret")
    ///             .concurrency(64)
    ///             .rate_limit(200.0, 20)
    ///             .field("score", "/score", "float"),
    ///     );
    /// ```
    pub fn http(self, stage: crate::config::HttpSpec) -> Self {
        self.transform(TransformSpec::Http(Box::new(stage)))
    }

    /// Read at most `rows` rows (more of an interrupted or limited load, when it
    /// resumes) and stop: what was read is written, filtered or rejected, and the load
    /// stays incomplete, so the next run goes on after them (never taken for a complete
    /// load of the input). The report's outcome is `Limited`.
    pub fn limit(mut self, rows: Option<u64>) -> Self {
        self.limit = rows;
        self
    }

    /// Start from the beginning even when a checkpoint says an earlier run of this
    /// pipeline over this input was interrupted (by default it is resumed).
    pub fn restart(mut self, yes: bool) -> Self {
        self.restart = yes;
        self
    }

    /// When another run of the same load is in progress, wait for it to end (by default
    /// the run is refused with [`Error::Busy`] naming the other).
    pub fn wait(mut self, yes: bool) -> Self {
        self.wait = yes;
        self
    }

    /// Set the row error policy.
    pub fn on_error(mut self, policy: OnError) -> Self {
        self.spec.errors.on_error = policy;
        self
    }

    /// Add a user async function, run on every row with at most `opts.concurrency`
    /// calls in flight. Return `Ok(Some(record))` to keep the row, `Ok(None)` to drop it
    /// (counted as filtered), `Err(e)` to reject it (`e` is the reason).
    pub fn map_async<F, Fut, E>(mut self, opts: AsyncOptions, f: F) -> Self
    where
        F: Fn(Record) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Option<Record>, E>> + Send + 'static,
        E: Display + 'static,
    {
        self.stages.push(StageSpec::Async(AsyncSpec {
            name: opts.name,
            concurrency: opts.concurrency,
            ordered: opts.ordered,
            add_columns: opts.add_columns,
            make: Box::new(wrap(f)),
        }));
        self
    }

    /// The load this pipeline runs: its destination, checkpoint key, shape and inputs
    /// (resolved now).
    pub fn load(&self) -> Result<LoadSpec> {
        LoadSpec::of(&self.spec, &crate::plan::library_shapes(&self.stages))
    }

    /// Validate everything and build the plan (reads the header, infers types). Blocking.
    pub fn plan(self, ctx: &ExprContext) -> Result<Plan> {
        let mut plan = crate::plan::build(&self.spec, self.stages, ctx)?;
        plan.restart = self.restart;
        plan.wait = self.wait;
        plan.run.limit = self.limit;
        Ok(plan)
    }

    /// Run the pipeline over the first `rows` rows of its input and keep what comes out
    /// (and the rows that fail, with their reasons), writing nothing: no table is
    /// prepared, no checkpoint recorded, no lock taken. HTTP stages are called for those
    /// rows only, or, without `call_http`, not at all (their columns are NULL).
    pub async fn preview(self, rows: u64, call_http: bool) -> Result<crate::preview::Preview> {
        let plan = tokio::task::spawn_blocking(move || self.plan(&ExprContext::from_clock()))
            .await
            .map_err(|e| Error::Stage {
                stage: "plan".into(),
                message: e.to_string(),
            })??;
        crate::preview::run(plan, rows, call_http).await
    }

    /// Plan and run to the end, silently.
    pub async fn run(self) -> Result<Report> {
        self.run_with(Arc::new(Silent), Box::pin(std::future::pending()))
            .await?
            .into_result()
    }

    /// Plan and run, reporting progress to `observer` and stopping early when `stop`
    /// completes. Planning errors are `Err`; a run that starts returns a [`Report`]
    /// whatever its outcome.
    ///
    /// The load starts before it is planned: the database is contacted, the load's lock
    /// taken and its checkpoint read first, so a wrong URL, a server that is down or
    /// another run of the same load is reported before the inputs are scanned, and
    /// inputs already loaded are not scanned at all.
    pub async fn run_with(self, observer: Arc<dyn Observer>, stop: StopSignal) -> Result<Report> {
        // A stop while the load is planned (a long inference scan, a huge line) stops
        // reading at once; once it runs, the runtime's own stop takes over.
        let reading = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stopped_tx, mut stopped_rx) = tokio::sync::watch::channel(false);
        let flag = reading.clone();
        let watcher = tokio::spawn(async move {
            stop.await;
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = stopped_tx.send(true);
        });
        let stop: StopSignal = Box::pin(async move {
            let _ = stopped_rx.wait_for(|s| *s).await;
        });
        let obs = observer.clone();
        let prepared = tokio::task::spawn_blocking(move || -> Result<(Prepared, Vec<String>)> {
            let mut load = LoadSpec::of(&self.spec, &crate::plan::library_shapes(&self.stages))?;
            if let Some(c) = self.chunk {
                load = load.for_chunk(c);
            }
            let started = crate::start::start_until(
                load,
                self.restart,
                self.wait,
                &mut |n| obs.note(n),
                &reading,
            )?;
            if let Some(report) = started.skipped() {
                return Ok((Prepared::Done(Box::new(report)), Vec::new()));
            }
            let ctx = ExprContext::from_clock();
            let recorded = match &started.decision {
                crate::checkpoint::Decision::Load(l) => l.detected.clone(),
                crate::checkpoint::Decision::Skip(_) => None,
            };
            let mut plan = crate::plan::build_for(
                &self.spec,
                self.stages,
                &ctx,
                Some(started.run_inputs()),
                reading,
                recorded,
            )?;
            plan.run.limit = self.limit;
            log_plan(&plan, &started.decision);
            for n in &plan.notes {
                obs.note(n);
            }
            let said = plan.notes.clone();
            crate::start::prepare(plan, started).map(|p| (p, said))
        })
        .await
        .map_err(|e| Error::Stage {
            stage: "plan".into(),
            message: e.to_string(),
        })?;
        let report = match prepared {
            // What planning decided (the detected dialect, how types were found) is in
            // the summary too.
            Ok((p, said)) => finish(p, observer, stop).await.map(|mut r| {
                r.notes.splice(0..0, said);
                r
            }),
            Err(Error::Interrupted(_)) => Err(Error::Interrupted(
                "stopped before loading started; nothing was written".into(),
            )),
            Err(e) => Err(e),
        };
        watcher.abort();
        report
    }
}

/// Run a plan built earlier: start its load (lock, checkpoint) and run it.
pub async fn run_plan(plan: Plan, observer: Arc<dyn Observer>, stop: StopSignal) -> Result<Report> {
    for n in &plan.notes {
        observer.note(n);
    }
    let obs = observer.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        crate::start::start_and_prepare(plan, &mut |n| obs.note(n))
    })
    .await
    .map_err(|e| Error::Stage {
        stage: "sink".into(),
        message: e.to_string(),
    })??;
    finish(prepared, observer, stop).await
}

/// The plan's decisions, for `-v` (`tracing` at info level).
fn log_plan(plan: &crate::plan::Plan, decision: &crate::checkpoint::Decision) {
    match decision {
        crate::checkpoint::Decision::Load(l) => match &l.resume {
            Some(r) => tracing::info!(
                "resume: an earlier run of this load committed {} records; going on from line \
                 {} (byte {}) of input {}",
                r.committed_records,
                r.start.line,
                r.start.byte,
                r.start.file + 1
            ),
            None => tracing::info!("load from the beginning of every input"),
        },
        crate::checkpoint::Decision::Skip(s) => tracing::info!("skip: {}", s.reason),
    }
    for c in &plan.input_schema.columns {
        tracing::info!("input column {:?}: {}", c.name, c.type_name());
    }
    for (i, s) in plan.steps.iter().enumerate() {
        tracing::info!("stage {}: {}", i + 1, s.describe);
    }
    tracing::info!(
        "batches of up to {} rows or {} bytes, {} worker threads, transactions of {} \
         (or 30 s), {} writer(s)",
        plan.run.batch_rows,
        plan.run.batch_bytes,
        plan.run.workers,
        plan.run.transaction_size(),
        plan.writers
    );
}

async fn finish(
    prepared: Prepared,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> Result<Report> {
    match prepared {
        Prepared::Done(report) => Ok(*report),
        Prepared::Run(parts, notes) => {
            for n in &notes {
                observer.note(n);
            }
            let mut report = crate::runtime::execute(*parts, observer, stop).await;
            // The plan's notes first, then what the run itself said.
            let mut all = notes;
            all.append(&mut report.notes);
            report.notes = all;
            Ok(report)
        }
    }
}
