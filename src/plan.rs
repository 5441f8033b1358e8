//! Spec → validated plan. Every check happens here, before the first row is read, and
//! every problem found is reported at once.

use std::sync::Arc;

use crate::config::{InferMode, PipelineSpec, TransformSpec};
use crate::error::{Error, Result};
use crate::expr::{CompiledExpr, ExprContext, compile_filter, compile_select};
use crate::runtime::{RejectTarget, RunOptions, Stage};
use crate::schema::{DataType, Schema, dedupe_names};
use crate::sink::{SinkOptions, SinkTarget, quote_ident};
use crate::source::{CsvOptions, CsvSource, Dialect, InferOptions, Input, Source, infer_types};
use crate::transform::AsyncStage;
use crate::transform::{Compute, Decode, DecodeOptions, Filter, Project, Transform};
use crate::transform::{ComputedColumn, ProjectColumn, Target};

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
    pub(crate) source: CsvSource,
    pub(crate) stages: Vec<Stage>,
    pub(crate) http: Vec<Arc<crate::transform::HttpStats>>,
    /// The load this plan runs: its checkpoint key, shape and inputs.
    pub load: crate::start::LoadSpec,
    /// Start over even when a checkpoint says an earlier run was interrupted.
    pub restart: bool,
    /// Wait for another run of the same load to end instead of refusing to start.
    pub wait: bool,
}

/// Sorted runs a transaction may spill at most (each is an open file while they are
/// merged; file descriptor limits are often 1024).
const MAX_SORT_RUNS: usize = 512;

/// Build a plan. `stages` are the pipeline's stages in order (from the file, possibly
/// with library stages among them).
pub fn build(spec: &PipelineSpec, stages: Vec<StageSpec>, ctx: &ExprContext) -> Result<Plan> {
    build_for(spec, stages, ctx, None, Arc::default())
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
/// later the run's reader) with [`Error::Interrupted`].
pub(crate) fn build_for(
    spec: &PipelineSpec,
    stages: Vec<StageSpec>,
    ctx: &ExprContext,
    inputs: Option<Vec<Input>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Result<Plan> {
    let mut errors: Vec<String> = Vec::new();
    let mut notes = Vec::new();

    // Source.
    let src = &spec.source;
    let dialect = Dialect {
        delimiter: one_byte("source.delimiter", &src.delimiter, &mut errors).unwrap_or(b','),
        quote: one_byte("source.quote", &src.quote, &mut errors).unwrap_or(b'"'),
        escape: src
            .escape
            .as_deref()
            .and_then(|e| one_byte("source.escape", e, &mut errors)),
        comment: src
            .comment
            .as_deref()
            .and_then(|c| one_byte("source.comment", c, &mut errors)),
    };
    if src.sample_rows == 0 {
        errors.push("source.sample_rows must be at least 1".into());
    }
    if !(1024..=1 << 30).contains(&src.max_record_bytes) {
        errors.push("source.max_record_bytes must be from 1024 to 1073741824 (1 GiB)".into());
    }
    if !(64..=1 << 30).contains(&src.max_header_bytes) {
        errors.push("source.max_header_bytes must be from 64 to 1073741824 (1 GiB)".into());
    }
    let chars = [
        ("delimiter", Some(dialect.delimiter)),
        ("quote", Some(dialect.quote)),
        ("escape", dialect.escape),
        ("comment", dialect.comment),
    ];
    for (i, (a, x)) in chars.iter().enumerate() {
        let Some(x) = x else { continue };
        if matches!(x, b'\n' | b'\r') {
            errors.push(format!(
                "source.{a} cannot be a line end ({:?}): records end at line ends",
                *x as char
            ));
        }
        for (b, y) in &chars[i + 1..] {
            if Some(*x) == *y && !(*a == "quote" && *b == "escape") {
                errors.push(format!(
                    "source.{a} and source.{b} are both {:?}: they must differ",
                    *x as char
                ));
            }
        }
    }
    let url = if spec.sink.url.is_empty() {
        std::env::var("DATABASE_URL").unwrap_or_default()
    } else {
        spec.sink.url.clone()
    };
    let target = SinkTarget::parse(&url)
        .map_err(|e| errors.push(e.to_string()))
        .ok();
    if !errors.is_empty() {
        return Err(Error::Plan(errors));
    }
    let load = crate::start::LoadSpec::of(spec, &library_shapes(&stages))?;
    let inputs = match inputs {
        Some(i) => i,
        None => load.inputs.clone(),
    };
    let has_stdin = inputs.contains(&Input::Stdin);
    let opts = CsvOptions {
        max_record: src.max_record_bytes,
        max_header: src.max_header_bytes,
        stop,
        ..CsvOptions::new(inputs.clone(), dialect, src.has_header)
    };
    let mut source = CsvSource::open(opts.clone())?;
    let header: Vec<String> = source.columns().to_vec();
    let (names, renames) = dedupe_names(&header);
    notes.extend(renames);

    // Types: explicit first, the rest inferred.
    let mut explicit: Vec<Option<DataType>> = vec![None; names.len()];
    for (col, ty) in &src.schema {
        let ty = match ty.parse::<DataType>() {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("source.schema.{col}: {e}"));
                continue;
            }
        };
        match names.iter().position(|n| n == col) {
            Some(i) => explicit[i] = Some(ty),
            None => errors.push(format!(
                "source.schema: no column {col:?} in the input{}",
                crate::format::did_you_mean(col, &names)
            )),
        }
    }
    let mut type_hint = None;
    let types: Vec<DataType> = if explicit.iter().all(Option::is_some) {
        notes.push("all column types are declared in [source.schema]; no inference".into());
        explicit
            .iter()
            .map(|t| t.unwrap_or(DataType::Text))
            .collect()
    } else {
        let inferred = if has_stdin || src.infer == InferMode::Sample {
            let sample = source.peek(src.sample_rows)?;
            let mut inf = crate::schema::Inferrer::new(names.len());
            crate::source::infer::feed_records(&mut inf, sample.iter(), &src.null_values);
            notes.push(format!(
                "types inferred from the first {} records{}",
                sample.len(),
                if has_stdin && src.infer == InferMode::Scan {
                    " (standard input cannot be scanned twice)"
                } else {
                    ""
                }
            ));
            type_hint = Some(format!(
                "types were inferred from the first {} rows; declare this column's type in [source.schema]",
                sample.len()
            ));
            inf.finish()
        } else {
            let t0 = std::time::Instant::now();
            let t = infer_types(
                &opts,
                names.len(),
                &InferOptions {
                    null_values: src.null_values.clone(),
                    limit: None,
                },
            )?;
            notes.push(format!(
                "types inferred by scanning the whole input ({:.2} s)",
                t0.elapsed().as_secs_f64()
            ));
            t
        };
        explicit
            .iter()
            .zip(inferred)
            .map(|(e, i)| e.unwrap_or(i))
            .collect()
    };
    let input_schema = Schema::new(names.iter().cloned().zip(types));

    // Stages.
    let mut schema = Arc::new(input_schema.clone());
    let mut steps = Vec::new();
    let mut runtime_stages: Vec<Stage> = Vec::new();
    let mut http_stats = Vec::new();
    let mut unordered = false;
    let mut cpu: Vec<Arc<dyn Transform>> = vec![Arc::new(Decode::new(DecodeOptions {
        schema: schema.clone(),
        null_values: src.null_values.clone(),
        ragged: src.ragged,
        type_hint,
        // Compute stages append columns: reserve room for them up front.
        row_capacity: names.len() + stages_width_hint(&stages),
    }))];
    for (n, stage) in stages.into_iter().enumerate() {
        let n = n + 1;
        match stage {
            StageSpec::Transform(TransformSpec::Http(h)) => {
                match crate::transform::http::plan(&h, &schema) {
                    Ok(hp) => {
                        if !cpu.is_empty() {
                            runtime_stages.push(Stage::Cpu(std::mem::take(&mut cpu)));
                        }
                        runtime_stages.push(Stage::Async(AsyncStage {
                            name: h.name.clone(),
                            concurrency: h.concurrency,
                            ordered: h.ordered,
                            work: hp.work,
                        }));
                        steps.push(PlanStep {
                            describe: hp.describe,
                            output: hp.output.clone(),
                        });
                        http_stats.push(hp.stats);
                        schema = Arc::new(hp.output);
                    }
                    Err(es) => {
                        errors.extend(
                            es.into_iter()
                                .map(|e| format!("transform {n} (http {}): {e}", h.name)),
                        );
                        break;
                    }
                }
            }
            StageSpec::Transform(t) => {
                match plan_transform(&t, &schema, ctx) {
                    Ok((tr, out)) => {
                        let describe = match &tr {
                            Some(tr) => tr.describe(),
                            None => describe_spec(&t),
                        };
                        if let Some(tr) = tr {
                            cpu.push(tr);
                        }
                        steps.push(PlanStep {
                            describe,
                            output: out.clone(),
                        });
                        schema = Arc::new(out);
                    }
                    Err(es) => {
                        errors.extend(
                            es.into_iter()
                                .map(|e| format!("transform {n} ({}): {e}", kind_name(&t))),
                        );
                        // Later stages depend on this one's output: stop checking them.
                        break;
                    }
                }
            }
            StageSpec::Async(a) => {
                let mut out = (*schema).clone();
                let mut ok = true;
                for (name, ty) in &a.add_columns {
                    if out.index_of(name).is_some() {
                        errors.push(format!(
                            "stage {n} ({}): column {name:?} already exists",
                            a.name
                        ));
                        ok = false;
                    }
                    out.columns.push(crate::schema::Column {
                        name: name.clone(),
                        data_type: *ty,
                    });
                }
                if !ok {
                    break;
                }
                if !cpu.is_empty() {
                    runtime_stages.push(Stage::Cpu(std::mem::take(&mut cpu)));
                }
                let out = Arc::new(out);
                unordered |= !a.ordered;
                runtime_stages.push(Stage::Async(AsyncStage {
                    name: a.name.clone(),
                    concurrency: a.concurrency,
                    ordered: a.ordered,
                    work: crate::transform::AsyncWork::Each((a.make)(out.clone())),
                }));
                steps.push(PlanStep {
                    describe: format!(
                        "async {}(concurrency {}, {})",
                        a.name,
                        a.concurrency,
                        if a.ordered { "ordered" } else { "unordered" }
                    ),
                    output: (*out).clone(),
                });
                schema = out;
            }
        }
    }
    if !cpu.is_empty() {
        runtime_stages.push(Stage::Cpu(cpu));
    }
    let output_schema = (*schema).clone();
    if output_schema.is_empty() {
        errors.push("the pipeline produces no columns".into());
    }
    for (i, a) in output_schema.columns.iter().enumerate() {
        if let Some(b) = output_schema.columns[..i]
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(&a.name))
        {
            errors.push(format!(
                "the output has columns {:?} and {:?}, which differ only in case: SQLite and \
                 MySQL treat them as one column; rename one of them",
                b.name, a.name
            ));
        }
    }

    // Sink.
    let sk = &spec.sink;
    if sk.table.is_empty() {
        errors.push("sink.table is empty".into());
    }
    // The checkpoint table keeps both in columns of 190 characters (MySQL's longest
    // indexable text in utf8mb4).
    if sk.table.chars().count() > 190 {
        errors.push("sink.table is longer than 190 characters".into());
    }
    if spec.name.as_ref().is_some_and(|n| n.chars().count() > 190) {
        errors.push("the pipeline's name is longer than 190 characters".into());
    }
    for k in &sk.key {
        if output_schema.index_of(k).is_none() {
            errors.push(format!(
                "sink.key: no column {k:?} in the output{}",
                crate::format::did_you_mean(
                    k,
                    &output_schema.names().map(String::from).collect::<Vec<_>>()
                )
            ));
        }
    }
    if sk.mode == crate::config::WriteMode::Upsert && sk.key.is_empty() {
        errors
            .push("sink.mode = \"upsert\" needs sink.key (the columns that identify a row)".into());
    }
    if sk.commit_rows == Some(0) {
        errors.push("sink.commit_rows must be at least 1".into());
    }
    if sk.sort_run_rows == Some(0) {
        errors.push("sink.sort_run_rows must be at least 1".into());
    }
    if sk.writers == 0 {
        errors.push("sink.writers must be at least 1".into());
    }
    if sk.writers > 1 && sk.mode == crate::config::WriteMode::Upsert {
        errors.push(
            "sink.mode = \"upsert\" needs writers = 1: the rows of a key must reach the table in input \
             order for the last one to win, and parallel writers commit in any order"
                .into(),
        );
    }
    if sk.mode == crate::config::WriteMode::Upsert && unordered {
        errors.push(
            "sink.mode = \"upsert\" needs ordered stages: with ordered = false rows of a key could \
             reach the table out of input order, and the last one would not win"
                .into(),
        );
    }
    if sk.writers > 1 && target.as_ref().is_some_and(|t| t.backend().single_writer()) {
        errors.push(
            "sink.writers > 1 needs a server database (PostgreSQL or MySQL); SQLite has one writer"
                .into(),
        );
    }
    if sk.truncate
        && matches!(
            sk.mode,
            crate::config::WriteMode::Replace | crate::config::WriteMode::Create
        )
    {
        errors.push(format!(
            "sink.truncate = true does nothing with mode = \"{}\" (the table is new); remove one of them",
            if sk.mode == crate::config::WriteMode::Replace { "replace" } else { "create" }
        ));
    }
    let rt = &spec.runtime;
    if rt.batch_rows == 0
        || rt.batch_bytes == 0
        || rt.channel_batches == 0
        || rt.workers == Some(0)
        || rt.async_threads == 0
    {
        errors.push(
            "runtime.batch_rows, batch_bytes, channel_batches, workers and async_threads must be at least 1"
                .into(),
        );
    }
    if !errors.is_empty() {
        return Err(Error::Plan(errors));
    }
    let Some(target) = target else {
        return Err(Error::Plan(vec!["invalid sink url".into()]));
    };

    let commit_rows = sk
        .commit_rows
        .unwrap_or_else(|| crate::sink::default_commit_rows(&target, !sk.key.is_empty()));
    if let Some(run) = sk.sort_run_rows
        && commit_rows.div_ceil(run.max(1)) > MAX_SORT_RUNS
    {
        return Err(Error::Plan(vec![format!(
            "sink.sort_run_rows = {run} with commit_rows = {commit_rows} makes up to {} sorted \
             runs per transaction, each an open temporary file (at most {MAX_SORT_RUNS}); \
             raise sort_run_rows or lower commit_rows",
            commit_rows.div_ceil(run.max(1))
        )]));
    }
    let inputs_display: Vec<String> = inputs.iter().map(Input::display).collect();
    let rejects = spec.reject_path().map(|path| RejectTarget {
        path,
        header: header.clone(),
        inputs: inputs_display.clone(),
    });
    if let Some(r) = &rejects {
        let db = target.database_file();
        let files: Vec<&std::path::Path> = inputs
            .iter()
            .filter_map(|i| match i {
                Input::File(p) => Some(p.as_path()),
                Input::Stdin => None,
            })
            .collect();
        crate::runtime::check_reject_path(&r.path, &files, db)
            .map_err(|e| Error::Plan(vec![format!("errors.reject_file: {e}")]))?;
    }
    let workers = rt
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    Ok(Plan {
        name: spec.name.clone().unwrap_or_else(|| "pipeline".into()),
        inputs: inputs_display.clone(),
        input_schema,
        notes,
        steps,
        sink: SinkOptions {
            table: sk.table.clone(),
            schema: output_schema.clone(),
            mode: sk.mode,
            key: sk.key.clone(),
            truncate: sk.truncate,
            resuming: false,
            sort_run_rows: sk.sort_run_rows,
            lock: Default::default(),
            known_runs: Vec::new(),
        },
        writers: sk.writers,
        output_schema,
        target,
        run: RunOptions {
            batch_rows: rt.batch_rows,
            batch_bytes: rt.batch_bytes,
            channel_batches: rt.channel_batches,
            workers,
            commit_rows,
            commit_interval: std::time::Duration::from_secs(30),
            identity: load.identity.clone(),
            run_id: crate::checkpoint::new_run_id(),
            reconnect_timeout: std::time::Duration::from_secs(sk.reconnect_timeout),
            resume: None,
            on_error: spec.errors.on_error,
            max_errors: spec.errors.max_errors,
            rejects,
            inputs: inputs_display,
            input_states: Vec::new(),
            shape: load.shape.clone(),
            carry: Vec::new(),
            written_before: 0,
            started: crate::checkpoint::now_rfc3339(),
            generation: 1,
        },
        source,
        stages: runtime_stages,
        http: http_stats,
        load,
        restart: false,
        wait: false,
    })
}

/// Columns that compute and async stages may add (an upper bound).
fn stages_width_hint(stages: &[StageSpec]) -> usize {
    stages
        .iter()
        .map(|s| match s {
            StageSpec::Transform(TransformSpec::Compute { columns }) => columns.len(),
            StageSpec::Async(a) => a.add_columns.len(),
            _ => 0,
        })
        .sum()
}

fn one_byte(key: &str, s: &str, errors: &mut Vec<String>) -> Option<u8> {
    let s = if s == "\\t" || s == "tab" { "\t" } else { s };
    match s.as_bytes() {
        [b] if b.is_ascii() => Some(*b),
        _ => {
            errors.push(format!("{key} must be a single ASCII character, got {s:?}"));
            None
        }
    }
}

fn kind_name(t: &TransformSpec) -> &'static str {
    match t {
        TransformSpec::Compute { .. } => "compute",
        TransformSpec::Filter { .. } => "filter",
        TransformSpec::Select { .. } => "select",
        TransformSpec::Drop { .. } => "drop",
        TransformSpec::Rename { .. } => "rename",
        TransformSpec::Cast { .. } => "cast",
        TransformSpec::Sql { .. } => "sql",
        TransformSpec::Http(_) => "http",
    }
}

fn describe_spec(t: &TransformSpec) -> String {
    match t {
        TransformSpec::Rename { columns } => {
            let r: Vec<String> = columns.iter().map(|(a, b)| format!("{a} → {b}")).collect();
            format!("rename({})", r.join(", "))
        }
        other => kind_name(other).to_string(),
    }
}

type Planned = (Option<Arc<dyn Transform>>, Schema);

fn find(schema: &Schema, col: &str) -> std::result::Result<usize, String> {
    schema.index_of(col).ok_or_else(|| {
        let names: Vec<String> = schema.names().map(String::from).collect();
        format!(
            "no column {col:?}{}",
            crate::format::did_you_mean(col, &names)
        )
    })
}

fn plan_transform(
    t: &TransformSpec,
    schema: &Schema,
    ctx: &ExprContext,
) -> std::result::Result<Planned, Vec<String>> {
    let mut errors = Vec::new();
    match t {
        TransformSpec::Compute { columns } | TransformSpec::Cast { columns } => {
            let is_cast = matches!(t, TransformSpec::Cast { .. });
            let mut cur = schema.clone();
            let mut out = Vec::new();
            for (name, text) in columns {
                let sql = if is_cast {
                    if let Err(e) = find(&cur, name) {
                        errors.push(e);
                        continue;
                    }
                    match text.parse::<DataType>() {
                        Ok(ty) => format!("CAST({} AS {})", quote_ident(name), sql_type(ty)),
                        Err(e) => {
                            errors.push(format!("column {name:?}: {e}"));
                            continue;
                        }
                    }
                } else {
                    text.clone()
                };
                match CompiledExpr::compile(&sql, &cur, ctx) {
                    Ok(expr) => {
                        let ty = expr.data_type();
                        let target = match cur.index_of(name) {
                            Some(i) => {
                                cur.columns[i].data_type = ty;
                                Target::Replace(i)
                            }
                            None => {
                                cur.columns.push(crate::schema::Column {
                                    name: name.clone(),
                                    data_type: ty,
                                });
                                Target::Append
                            }
                        };
                        out.push(ComputedColumn {
                            name: name.clone(),
                            expr,
                            target,
                        });
                    }
                    Err(e) => errors.push(format!("column {name:?}: {e}")),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            let label = if is_cast { "cast" } else { "compute" };
            Ok((Some(Arc::new(Compute::new(label, out))), cur))
        }
        TransformSpec::Filter { condition } => match compile_filter(condition, schema, ctx) {
            Ok(e) => Ok((Some(Arc::new(Filter::new(e))), schema.clone())),
            Err(e) => Err(vec![e.to_string()]),
        },
        TransformSpec::Select { columns } | TransformSpec::Drop { columns } => {
            let mut idx = Vec::new();
            for c in columns {
                match find(schema, c) {
                    Ok(i) => idx.push(i),
                    Err(e) => errors.push(e),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            let keep: Vec<usize> = if matches!(t, TransformSpec::Select { .. }) {
                idx
            } else {
                (0..schema.len()).filter(|i| !idx.contains(i)).collect()
            };
            let out = Schema {
                columns: keep.iter().map(|&i| schema.columns[i].clone()).collect(),
            };
            let label = format!("{}({})", kind_name(t), columns.join(", "));
            let cols = keep.into_iter().map(ProjectColumn::Input).collect();
            Ok((Some(Arc::new(Project::new(label, None, cols))), out))
        }
        TransformSpec::Rename { columns } => {
            let mut out = schema.clone();
            for (old, new) in columns {
                match find(schema, old) {
                    Ok(i) => out.columns[i].name = new.clone(),
                    Err(e) => errors.push(e),
                }
            }
            let mut seen = std::collections::HashSet::new();
            for c in &out.columns {
                if !seen.insert(c.name.as_str()) {
                    errors.push(format!(
                        "after renaming, two columns are named {:?}",
                        c.name
                    ));
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            Ok((None, out))
        }
        // Planned as an async stage by `build`.
        TransformSpec::Http(_) => Err(vec!["internal: the http stage is planned by build".into()]),
        TransformSpec::Sql { query } => match compile_select(query, schema, ctx) {
            Ok(sel) => {
                let mut out = Schema::default();
                let mut cols = Vec::new();
                for (name, e) in sel.columns {
                    if out.index_of(&name).is_some() {
                        errors.push(format!("the query produces two columns named {name:?}"));
                    }
                    out.columns.push(crate::schema::Column {
                        name: name.clone(),
                        data_type: e.data_type(),
                    });
                    cols.push(ProjectColumn::Expr(name, e));
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                Ok((
                    Some(Arc::new(Project::new("sql".into(), sel.filter, cols))),
                    out,
                ))
            }
            Err(e) => Err(vec![e.to_string()]),
        },
    }
}

fn sql_type(t: DataType) -> &'static str {
    match t {
        DataType::Int => "bigint",
        DataType::Float => "double precision",
        DataType::Decimal => "numeric",
        DataType::Bool => "boolean",
        DataType::Date => "date",
        DataType::Timestamp => "timestamptz",
        DataType::Text => "text",
    }
}

/// A plan ready to run, or a load that is already done.
pub(crate) enum Prepared {
    /// Run these parts; say these notes first.
    Run(Box<crate::runtime::RunParts>, Vec<String>),
    /// Every input was loaded completely before: this is the report.
    Done(Box<crate::report::Report>),
}

impl Plan {
    /// Start the load (lock, checkpoint, decision; see [`crate::start`]) and get it
    /// ready to run.
    pub(crate) fn start_and_prepare(self, note: &mut dyn FnMut(&str)) -> Result<Prepared> {
        let started = crate::start::start(self.load.clone(), self.restart, self.wait, note)?;
        self.into_parts(started)
    }

    /// The report of a load with nothing to do.
    pub(crate) fn skipped(started: &crate::start::Started) -> Option<crate::report::Report> {
        let crate::checkpoint::Decision::Skip(s) = &started.decision else {
            return None;
        };
        Some(crate::report::Report {
            already_committed: s.committed,
            note: Some(s.reason.clone()),
            notes: vec![s.reason.clone()],
            outcome: crate::report::Outcome::Skipped(s.reason.clone()),
            ..crate::report::Report::empty(
                started.run_inputs().iter().map(Input::display).collect(),
                started.load.target.display(),
                started.load.table.clone(),
            )
        })
    }

    /// Apply how the load starts (`started`: resuming an interrupted run from its
    /// checkpoint, or from the beginning, over the inputs it decided on), open the
    /// sink's writers (preparing the table), and hand everything to the runtime. The
    /// sink's encoder joins the last CPU stage, so rows reach the sink thread ready to
    /// write.
    pub(crate) fn into_parts(mut self, started: crate::start::Started) -> Result<Prepared> {
        if let Some(report) = Plan::skipped(&started) {
            return Ok(Prepared::Done(Box::new(report)));
        }
        let run_inputs = started.run_inputs();
        let run_states = started.run_states();
        let crate::start::Started {
            decision,
            lock,
            mut known_runs,
            ..
        } = started;
        known_runs.push(self.run.run_id.clone());
        self.sink.known_runs = known_runs;
        // Every commit checks that this run still holds the load's lock.
        self.sink.lock = std::sync::Arc::new(std::sync::Mutex::new(
            lock.as_ref().map(|l| l.check()).unwrap_or_default(),
        ));
        let crate::checkpoint::Decision::Load(l) = decision else {
            return Err(Error::Config(
                "internal: a skipped load has no parts".into(),
            ));
        };
        if run_inputs.as_slice() != self.source.input_list() {
            if self.source.input_list().contains(&Input::Stdin) {
                return Err(Error::Config(
                    "standard input was read to plan this pipeline and cannot be read again for \
                     another set of inputs; plan it again"
                        .into(),
                ));
            }
            self.source = self.source.with_inputs(run_inputs.clone())?;
            self.inputs = run_inputs.iter().map(Input::display).collect();
            self.run.inputs = self.inputs.clone();
            if let Some(r) = self.run.rejects.as_mut() {
                r.inputs = self.inputs.clone();
            }
        }
        // The earlier records of the load are not cleared here: this run's first commit
        // replaces them, in the same transaction (a run that fails or is killed before
        // it leaves them as they were). A table changed before that commit (MySQL's DDL,
        // a table prepared for several writers) is recognised by the next run: dropped,
        // recreated (PostgreSQL's oid) or empty.
        let notes = l.notes;
        self.run.input_states = run_states;
        self.run.carry = l.carry;
        self.run.written_before = l.written_before;
        self.run.generation = l.generation;
        if let Some(r) = l.resume {
            // The table is there already, as the interrupted run left it.
            self.sink.mode = match self.sink.mode {
                crate::config::WriteMode::Upsert => crate::config::WriteMode::Upsert,
                _ => crate::config::WriteMode::Append,
            };
            // A load whose earlier runs already failed more rows than allowed would
            // commit one batch and stop again, each time.
            if let Some(max) = self.run.max_errors
                && r.sum()[2] > max
            {
                return Err(Error::Config(format!(
                    "this load already has {} failed rows, more than max_errors = {max} (the \
                     earlier run stopped there; they are in the reject file): raise max_errors to \
                     go on with the rest of the input, or run with --restart to load it again",
                    r.sum()[2]
                )));
            }
            self.sink.truncate = false;
            self.sink.resuming = true;
            self.source.seek(r.start.into())?;
            self.run.resume = Some(r);
        }
        let writers = self.writers.max(1) as u32;
        let mut sinks = Vec::with_capacity(writers as usize);
        // Writer 0 first: it prepares the table the others write to.
        for w in 0..writers {
            sinks.push(crate::sink::open_sink(
                &self.target,
                &self.sink,
                &self.run.identity,
                w,
                writers,
            )?);
        }
        let mut stages = self.stages;
        if let Some(enc) = sinks.first().and_then(|s| s.encoder()) {
            let step: Arc<dyn Transform> = Arc::new(crate::runtime::EncodeStep(enc));
            match stages.last_mut() {
                Some(Stage::Cpu(ts)) => ts.push(step),
                _ => stages.push(Stage::Cpu(vec![step])),
            }
        }
        Ok(Prepared::Run(
            Box::new(crate::runtime::RunParts {
                source: Box::new(self.source),
                stages,
                sinks,
                opts: self.run,
                target: self.target.display(),
                table: self.sink.table,
                http: self.http,
                lock,
            }),
            notes,
        ))
    }
}
