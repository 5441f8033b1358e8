//! Planning the sink and the run: the destination, the table options, and the runtime
//! settings checked against what the stages produce (no I/O: the database is contacted
//! when the load starts).

use crate::config::{PipelineSpec, RuntimeSpec, SinkSpec, WriteMode};
use crate::error::{Error, Result};
use crate::runtime::RejectTarget;
use crate::schema::Schema;
use crate::sink::{SinkOptions, SinkTarget};
use crate::source::Input;

/// Sorted runs a transaction may spill at most (each is an open file while they are
/// merged; file descriptor limits are often 1024).
const MAX_SORT_RUNS: usize = 512;

/// The destination: `sink.url`, else `DATABASE_URL`. A URL that does not parse is a
/// problem in `errors`.
pub(crate) fn target(spec: &PipelineSpec, errors: &mut Vec<String>) -> Option<SinkTarget> {
    let url = if spec.sink.url.is_empty() {
        std::env::var("DATABASE_URL").unwrap_or_default()
    } else {
        spec.sink.url.clone()
    };
    SinkTarget::parse(&url)
        .map_err(|e| errors.push(e.to_string()))
        .ok()
}

/// Check the output schema and the sink's settings; problems go to `errors`.
/// `unordered`: some stage may reorder rows.
pub(crate) fn check(
    spec: &PipelineSpec,
    output: &Schema,
    target: Option<&SinkTarget>,
    unordered: bool,
    errors: &mut Vec<String>,
) {
    check_output(output, errors);
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
        if output.index_of(k).is_none() {
            let names: Vec<String> = output.names().map(String::from).collect();
            errors.push(format!(
                "sink.key: no column {k:?} in the output{}",
                crate::format::did_you_mean(k, &names)
            ));
        }
    }
    check_settings(sk, errors);
    let upsert = sk.mode == WriteMode::Upsert;
    if upsert && sk.key.is_empty() {
        errors
            .push("sink.mode = \"upsert\" needs sink.key (the columns that identify a row)".into());
    }
    if sk.writers.is_some_and(|w| w > 1) && upsert {
        errors.push(
            "sink.mode = \"upsert\" needs writers = 1: the rows of a key must reach the table in input \
             order for the last one to win, and parallel writers commit in any order"
                .into(),
        );
    }
    if upsert && unordered {
        errors.push(
            "sink.mode = \"upsert\" needs ordered stages: with ordered = false rows of a key could \
             reach the table out of input order, and the last one would not win"
                .into(),
        );
    }
    if sk.writers.is_some_and(|w| w > 1) && target.is_some_and(|t| t.backend().single_writer()) {
        errors.push(
            "sink.writers > 1 needs a server database (PostgreSQL or MySQL); SQLite has one writer"
                .into(),
        );
    }
    if sk.truncate && matches!(sk.mode, WriteMode::Replace | WriteMode::Create) {
        errors.push(format!(
            "sink.truncate = true does nothing with mode = \"{}\" (the table is new); remove one of them",
            if sk.mode == WriteMode::Replace { "replace" } else { "create" }
        ));
    }
}

/// The output must have columns, and no two that differ only in case.
fn check_output(output: &Schema, errors: &mut Vec<String>) {
    if output.is_empty() {
        errors.push("the pipeline produces no columns".into());
    }
    for (i, a) in output.columns.iter().enumerate() {
        if let Some(b) = output.columns[..i]
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
}

/// Counts that must be at least 1.
fn check_settings(sk: &SinkSpec, errors: &mut Vec<String>) {
    if sk.commit_rows == Some(0) {
        errors.push("sink.commit_rows must be at least 1".into());
    }
    if sk.sort_run_rows == Some(0) {
        errors.push("sink.sort_run_rows must be at least 1".into());
    }
    if sk.writers == Some(0) {
        errors.push("sink.writers must be at least 1".into());
    }
}

/// The runtime's settings must be at least 1.
pub(crate) fn check_runtime(rt: &RuntimeSpec, errors: &mut Vec<String>) {
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
}

/// The sink's writers: as set, or the backend's default for the mode.
pub(crate) fn writers(sk: &SinkSpec, target: &SinkTarget) -> usize {
    sk.writers
        .unwrap_or_else(|| crate::sink::default_writers(target, sk.mode))
}

/// Rows per transaction: as set, or the destination's default; with at most
/// [`MAX_SORT_RUNS`] sorted runs each.
pub(crate) fn commit_rows(sk: &SinkSpec, target: &SinkTarget) -> Result<usize> {
    let commit_rows = sk
        .commit_rows
        .unwrap_or_else(|| crate::sink::default_commit_rows(target, !sk.key.is_empty()));
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
    Ok(commit_rows)
}

/// The reject file, if rows are rejected to one: never an input, nor the database.
pub(crate) fn rejects(
    spec: &PipelineSpec,
    header: &[String],
    inputs: &[Input],
    target: &SinkTarget,
) -> Result<Option<RejectTarget>> {
    let Some(path) = spec.reject_path() else {
        return Ok(None);
    };
    let files: Vec<&std::path::Path> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::File(p) => Some(p.as_path()),
            Input::Part(p) => match &p.of {
                Input::File(f) => Some(f.as_path()),
                _ => None,
            },
            Input::Stdin | Input::Remote(_) => None,
        })
        .collect();
    crate::runtime::check_reject_path(&path, &files, target.database_file())
        .map_err(|e| Error::Plan(vec![format!("errors.reject_file: {e}")]))?;
    Ok(Some(RejectTarget {
        path,
        header: header.to_vec(),
        inputs: inputs.iter().map(Input::display).collect(),
    }))
}

/// What the sink is asked to do, for rows of `output`.
pub(crate) fn options(sk: &SinkSpec, output: &Schema) -> SinkOptions {
    SinkOptions {
        table: sk.table.clone(),
        schema: output.clone(),
        mode: sk.mode,
        key: sk.key.clone(),
        truncate: sk.truncate,
        alter: sk.alter,
        resuming: false,
        sort_run_rows: sk.sort_run_rows,
        lock: Default::default(),
        known_runs: Vec::new(),
        fence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SourceSpec;
    use crate::schema::DataType;

    fn spec(sink: SinkSpec) -> PipelineSpec {
        crate::Pipeline::new(SourceSpec::paths(vec!["x.csv".to_string()]), sink)
            .spec()
            .clone()
    }

    fn output() -> Schema {
        Schema::new([
            ("id".to_string(), DataType::Int),
            ("email".to_string(), DataType::Text),
        ])
    }

    fn problems(spec: &PipelineSpec, output: &Schema, unordered: bool) -> Vec<String> {
        let mut errors = Vec::new();
        let target = target(spec, &mut errors);
        check(spec, output, target.as_ref(), unordered, &mut errors);
        errors
    }

    #[test]
    fn a_good_sink_has_no_problems() {
        let mut sk = SinkSpec::new("postgres://u@h/db", "users");
        sk.key = vec!["id".into()];
        sk.mode = WriteMode::Upsert;
        assert_eq!(problems(&spec(sk), &output(), false), Vec::<String>::new());
    }

    #[test]
    fn upsert_needs_a_key_one_writer_and_ordered_stages() {
        let mut sk = SinkSpec::new("postgres://u@h/db", "users");
        sk.mode = WriteMode::Upsert;
        sk.writers = Some(2);
        let p = problems(&spec(sk), &output(), true);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("needs sink.key"), "{p:?}");
        assert!(p[1].contains("needs writers = 1"), "{p:?}");
        assert!(p[2].contains("needs ordered stages"), "{p:?}");
    }

    #[test]
    fn keys_and_settings_are_checked() {
        let mut sk = SinkSpec::new("sqlite://x.db", "");
        sk.key = vec!["emial".into()];
        sk.writers = Some(2);
        sk.commit_rows = Some(0);
        sk.truncate = true;
        sk.mode = WriteMode::Replace;
        let p = problems(&spec(sk), &output(), false);
        let has = |s: &str| p.iter().any(|e| e.contains(s));
        assert!(has("sink.table is empty"), "{p:?}");
        assert!(
            has("no column \"emial\" in the output") && has("email"),
            "{p:?}"
        );
        assert!(has("sink.commit_rows must be at least 1"), "{p:?}");
        assert!(has("SQLite has one writer"), "{p:?}");
        assert!(has("sink.truncate = true does nothing"), "{p:?}");
    }

    #[test]
    fn the_output_needs_columns_that_differ_in_more_than_case() {
        let sk = SinkSpec::new("sqlite://x.db", "t");
        let dup = Schema::new([
            ("Email".to_string(), DataType::Text),
            ("email".to_string(), DataType::Text),
        ]);
        let p = problems(&spec(sk.clone()), &dup, false);
        assert!(p[0].contains("differ only in case"), "{p:?}");
        let p = problems(&spec(sk), &Schema::default(), false);
        assert_eq!(p, vec!["the pipeline produces no columns"]);
    }

    #[test]
    fn too_many_sorted_runs_are_refused() {
        let mut sk = SinkSpec::new("sqlite://x.db", "t");
        sk.commit_rows = Some(1_000_000);
        sk.sort_run_rows = Some(1000);
        let target = SinkTarget::parse(&sk.url).unwrap();
        let e = commit_rows(&sk, &target).unwrap_err().to_string();
        assert!(e.contains("1000 sorted runs"), "{e}");
        sk.commit_rows = None;
        sk.sort_run_rows = None;
        assert_eq!(commit_rows(&sk, &target).unwrap(), 1_000_000);
    }
}
