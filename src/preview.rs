//! A preview: the pipeline run on the first rows of its input with nothing written to
//! the database (no table prepared, no checkpoint, no lock), the computed rows kept in
//! memory and the failed ones with their reasons, for `rowflow preview` and
//! `rowflow load --preview`.

use std::sync::{Arc, Mutex};

use crate::checkpoint::CommitRecord;
use crate::error::Result;
use crate::row::{Batch, Row};
use crate::runtime::{RejectTarget, RunParts};
use crate::sink::{Sink, Written};
use crate::value::Value;

/// The rows a preview computed.
#[derive(Debug)]
pub struct Preview {
    /// The output's column names.
    pub columns: Vec<String>,
    /// The output's column types, as named in pipelines.
    pub types: Vec<String>,
    /// Rows that reached the sink, in input order, with their input line.
    pub rows: Vec<(u64, Vec<Value>)>,
    /// Rows that failed: their input line and the reason.
    pub rejected: Vec<(u64, String)>,
    /// Rows a filter dropped.
    pub filtered: u64,
    /// Rows read.
    pub read: u64,
    /// What planning said (the dialect detected, the types inferred, ...).
    pub notes: Vec<String>,
    /// Requests the HTTP stages made for these rows.
    pub http_requests: u64,
}

/// A sink that keeps the rows it is given and writes nothing.
struct Keep(Arc<Mutex<Vec<Row>>>);

impl Sink for Keep {
    fn write(&mut self, batch: &mut Batch) -> Result<Written> {
        let rows = std::mem::take(&mut batch.rows);
        let n = rows.len() as u64;
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(rows);
        Ok(Written {
            rows: n,
            ..Written::default()
        })
    }

    fn flush(&mut self) -> Result<Written> {
        Ok(Written::default())
    }

    fn commit(&mut self, _record: &CommitRecord) -> Result<()> {
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Stands in for an `http` stage that is not called: its columns, NULL.
struct NoHttp {
    name: String,
    columns: usize,
}

impl crate::transform::Transform for NoHttp {
    fn describe(&self) -> String {
        format!("http {} (not called)", self.name)
    }

    fn apply(&self, batch: &mut Batch) {
        for row in &mut batch.rows {
            row.values
                .extend(std::iter::repeat_n(Value::Null, self.columns));
        }
    }
}

/// Run `plan` over its first `n` rows, writing nothing (see the module). Without
/// `call_http`, the `http` stages are not called and their columns are NULL.
pub(crate) async fn run(mut plan: crate::plan::Plan, n: u64, call_http: bool) -> Result<Preview> {
    let mut skipped = Vec::new();
    if !call_http {
        for stage in &mut plan.stages {
            if let crate::runtime::Stage::Async(a) = stage
                && let Some(columns) = a.http_columns
            {
                skipped.push(a.name.clone());
                let name = a.name.clone();
                *stage = crate::runtime::Stage::Cpu(vec![Arc::new(NoHttp { name, columns })]);
            }
        }
    }
    let kept = Arc::new(Mutex::new(Vec::new()));
    let scratch =
        tempfile::tempdir().map_err(|e| crate::error::Error::io("a temporary directory", e))?;
    let reject_path = scratch.path().join("preview.rejects.csv");
    let mut opts = plan.run;
    opts.limit = Some(n);
    opts.resume = None;
    opts.commit_rows = usize::MAX;
    // The failed rows go to a reject file of the preview's own, read back below.
    opts.rejects = Some(RejectTarget {
        path: reject_path.clone(),
        header: plan.input_schema.names().map(String::from).collect(),
        inputs: plan.inputs.clone(),
    });
    opts.on_error = crate::config::OnError::Reject;
    opts.max_errors = None;
    let columns: Vec<String> = plan.output_schema.names().map(String::from).collect();
    let types = plan
        .output_schema
        .columns
        .iter()
        .map(|c| c.type_name())
        .collect();
    let http = plan.http.clone();
    let parts = RunParts {
        source: Box::new(plan.source),
        stages: plan.stages,
        sinks: vec![Box::new(Keep(kept.clone()))],
        opts,
        target: "(preview: nothing is written)".into(),
        table: plan.sink.table,
        http: http.clone(),
        lock: None,
    };
    let stop: crate::runtime::StopSignal = Box::pin(std::future::pending());
    let report = crate::runtime::execute(parts, Arc::new(crate::report::Silent), stop).await;
    if let crate::report::Outcome::Failed(e) = report.outcome {
        return Err(e);
    }
    let mut rows: Vec<(u64, Vec<Value>)> =
        std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .map(|r| (r.pos.line, r.values))
            .collect();
    rows.sort_by_key(|(line, _)| *line);
    let mut rejected = Vec::new();
    if reject_path.exists() {
        let mut rd = csv::Reader::from_path(&reject_path)
            .map_err(|e| crate::error::Error::io(&reject_path, std::io::Error::other(e)))?;
        let header = rd.headers().cloned().unwrap_or_default();
        let at = |name: &str| header.iter().position(|h| h == name);
        let (line, error) = (at("_line"), at("_error"));
        for rec in rd.records().flatten() {
            let l = line
                .and_then(|i| rec.get(i))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let e = error
                .and_then(|i| rec.get(i))
                .unwrap_or_default()
                .to_string();
            rejected.push((l, e));
        }
    }
    Ok(Preview {
        columns,
        types,
        rows,
        rejected,
        filtered: report.rows_filtered,
        read: report.rows_read,
        // (The limit is the preview's own: nothing was loaded to go on from.)
        notes: report
            .notes
            .into_iter()
            .filter(|n| !n.starts_with("stopped after "))
            .chain(skipped.iter().map(|s| {
                format!("the http stage {s:?} was not called (--no-http): its columns are NULL")
            }))
            .collect(),
        http_requests: http.iter().map(|h| h.snapshot().requests).sum(),
    })
}
