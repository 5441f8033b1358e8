//! The `rowflow._rowflow` extension module: the Python package's thin layer over the
//! rowflow library. Python builds a pipeline (a TOML file, or the same settings as a
//! dict) and this module runs it on a thread of its own with the GIL released, watching
//! for Ctrl-C: a `KeyboardInterrupt` stops reading, the rows in flight are committed,
//! and the interrupt is raised again after the summary (by `rowflow/__init__.py`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use rowflow::{Observer, Pipeline, PipelineSpec, Snapshot, StopSignal, TransformSpec};

mod stage;
mod values;

create_exception!(
    _rowflow,
    RowflowError,
    PyException,
    "A pipeline that could not start (bad settings, a file that cannot be read, a database that cannot be reached). Its message names what and where; passwords are never in it."
);

/// How often the waiting thread takes the GIL to let Python see Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Passes progress snapshots to a Python callable (the run's notes are in its report).
struct PyObserver {
    progress: Option<Py<PyAny>>,
}

impl Observer for PyObserver {
    fn progress(&self, s: &Snapshot) {
        let Some(cb) = &self.progress else { return };
        Python::attach(|py| {
            let d = pyo3::types::PyDict::new(py);
            let _ = d.set_item("rows_read", s.rows_read);
            let _ = d.set_item("rows_written", s.rows_written);
            let _ = d.set_item("rows_filtered", s.rows_filtered);
            let _ = d.set_item("rows_rejected", s.rows_rejected);
            let _ = d.set_item("rows_uncommitted", s.rows_uncommitted);
            let _ = d.set_item("bytes_read", s.bytes_read);
            let _ = d.set_item("bytes_total", s.bytes_total);
            let _ = d.set_item("elapsed_s", s.elapsed.as_secs_f64());
            // A failing callback must not stop the load: Python prints it as an
            // unraisable exception, once per failure.
            if let Err(e) = cb.call1(py, (d,)) {
                e.write_unraisable(py, Some(cb.bind(py)));
            }
        });
    }
}

/// The pipeline a call describes: a TOML file, or settings as JSON (the same keys as
/// the file), each with `--set`-style overrides. Settings given as values are taken as
/// they are: a `${VAR}` in them is text, not an environment variable (a file's are
/// expanded, as the CLI does).
fn pipeline(
    path: Option<PathBuf>,
    spec_json: Option<String>,
    set: &[String],
) -> PyResult<Pipeline> {
    let err =
        |e: rowflow::Error| RowflowError::new_err(rowflow::redact::redact_text(&e.to_string()));
    let invalid = |e: &dyn std::fmt::Display| {
        RowflowError::new_err(rowflow::redact::redact_text(&format!(
            "invalid pipeline settings: {e}"
        )))
    };
    let spec = match (path, spec_json) {
        (Some(p), _) => PipelineSpec::from_file(&p, set).map_err(err)?,
        (None, Some(json)) => {
            let spec: PipelineSpec = serde_json::from_str(&json).map_err(|e| invalid(&e))?;
            // As `rowflow load --set` applies its overrides to the spec it built.
            spec.with_overrides(set).map_err(err)?
        }
        (None, None) => return Err(RowflowError::new_err("no pipeline given")),
    };
    Ok(Pipeline::from_spec(spec))
}

/// The pipeline a call describes, with its stages after the settings' own, in order: a
/// transform's settings (JSON), or a Python function.
fn build(
    path: Option<PathBuf>,
    spec_json: Option<String>,
    set: &[String],
    stages: &[Bound<'_, PyAny>],
) -> PyResult<Pipeline> {
    let mut p = pipeline(path, spec_json, set)?;
    for (i, s) in stages.iter().enumerate() {
        p = match s.extract::<String>() {
            Ok(json) => {
                let t: TransformSpec = serde_json::from_str(&json).map_err(|e| {
                    RowflowError::new_err(format!("stage {}: invalid settings: {e}", i + 1))
                })?;
                p.transform(t)
            }
            Err(_) => stage::add(p, s)?,
        };
    }
    Ok(p)
}

/// Run `work` on a thread of its own (with a tokio runtime), the GIL released, and wait
/// for it, checking for Ctrl-C every 100 ms: the first one completes the stop signal
/// `work` was given. Returns what `work` returned (or why it did not run) and whether
/// Ctrl-C was pressed.
fn on_own_thread<T, F, Fut>(py: Python<'_>, work: F) -> PyResult<(Result<T, String>, bool)>
where
    T: Send + 'static,
    F: FnOnce(StopSignal) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let (done_tx, done_rx) = channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("rowflow-python".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = done_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let result = rt.block_on(async move {
                let stop: StopSignal = Box::pin(async move {
                    // A dropped sender (the caller went away) is no stop.
                    if stop_rx.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                });
                work(stop).await
            });
            // The answer first: a task the run left behind must not hold the caller.
            let _ = done_tx.send(result);
            rt.shutdown_background();
        })
        .map_err(|e| RowflowError::new_err(format!("cannot start the run's thread: {e}")))?;
    let mut stop_tx = Some(stop_tx);
    let mut interrupted = false;
    let mut done_rx = done_rx;
    let result = loop {
        // The receiver is `Send`, not `Sync`: it goes into the GIL-free closure and back.
        let (got, rx) = py.detach(move || (done_rx.recv_timeout(SIGNAL_POLL), done_rx));
        done_rx = rx;
        match got {
            Ok(r) => break r,
            Err(RecvTimeoutError::Timeout) => {
                if py.check_signals().is_err() {
                    // Ctrl-C: stop reading and commit what is done; the caller raises
                    // KeyboardInterrupt again after the summary.
                    interrupted = true;
                    if let Some(s) = stop_tx.take() {
                        let _ = s.send(());
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                break Err("the run's thread ended without a report".into());
            }
        }
    };
    Ok((result, interrupted))
}

/// An error of the engine as a Python exception: `KeyboardInterrupt` after Ctrl-C (the
/// run stopped before loading started: nothing was written), else `RowflowError`.
fn engine_error(message: &str, interrupted: bool) -> PyErr {
    let message = rowflow::redact::redact_text(message);
    if interrupted {
        pyo3::exceptions::PyKeyboardInterrupt::new_err(message)
    } else {
        RowflowError::new_err(message)
    }
}

/// Run a pipeline; returns `(report_json, interrupted)`. The GIL is released while the
/// load runs; Ctrl-C (checked every 100 ms) stops it as the CLI's does.
#[pyfunction]
#[pyo3(signature = (path=None, spec_json=None, set=Vec::new(), restart=false, wait=false, limit=None, progress=None, stages=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn run_pipeline(
    py: Python<'_>,
    path: Option<PathBuf>,
    spec_json: Option<String>,
    set: Vec<String>,
    restart: bool,
    wait: bool,
    limit: Option<u64>,
    progress: Option<Py<PyAny>>,
    stages: Vec<Bound<'_, PyAny>>,
) -> PyResult<(String, bool)> {
    let p = build(path, spec_json, &set, &stages)?
        .restart(restart)
        .wait(wait)
        .limit(limit);
    let observer: Arc<dyn Observer> = Arc::new(PyObserver { progress });
    let (result, interrupted) = on_own_thread(py, move |stop| async move {
        p.run_with(observer, stop).await.map_err(|e| e.to_string())
    })?;
    match result {
        Ok(report) => Ok((report.to_json().to_string(), interrupted)),
        Err(message) => Err(engine_error(&message, interrupted)),
    }
}

/// Run the first `rows` rows through the pipeline and write nothing; returns a dict of
/// `columns`, `types`, `rows` (dicts with their `_line`), `rejected` (`(line, reason)`
/// pairs), `filtered`, `read`, `notes` and `http_requests`.
#[pyfunction]
#[pyo3(signature = (path=None, spec_json=None, set=Vec::new(), stages=Vec::new(), rows=20, call_http=true))]
fn preview_pipeline<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    spec_json: Option<String>,
    set: Vec<String>,
    stages: Vec<Bound<'py, PyAny>>,
    rows: u64,
    call_http: bool,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    let p = build(path, spec_json, &set, &stages)?;
    let (result, interrupted) = on_own_thread(py, move |_stop| async move {
        p.preview(rows, call_http).await.map_err(|e| e.to_string())
    })?;
    if interrupted {
        return Err(pyo3::exceptions::PyKeyboardInterrupt::new_err(
            "preview stopped; nothing was written",
        ));
    }
    let pv = result.map_err(|m| engine_error(&m, false))?;
    let out = pyo3::types::PyDict::new(py);
    let list = pyo3::types::PyList::empty(py);
    for (line, values) in &pv.rows {
        let d = pyo3::types::PyDict::new(py);
        for (name, v) in pv.columns.iter().zip(values) {
            d.set_item(name, values::to_py(py, v)?)?;
        }
        d.set_item("_line", line)?;
        list.append(d)?;
    }
    out.set_item("columns", &pv.columns)?;
    out.set_item("types", &pv.types)?;
    out.set_item("rows", list)?;
    out.set_item("rejected", &pv.rejected)?;
    out.set_item("filtered", pv.filtered)?;
    out.set_item("read", pv.read)?;
    out.set_item("notes", &pv.notes)?;
    out.set_item("http_requests", pv.http_requests)?;
    Ok(out)
}

/// Check the pipeline without writing anything (`rowflow check`): a dict of `name`,
/// `inputs`, `notes`, `columns` (`(name, type)` pairs), `stages` (dicts of `describe`
/// and `columns`), `sink`, `run` (a dict: `would` is `load`, `skip` or `refuse`),
/// `table` (what would become of it, or `None`), `table_error` and `ok`.
#[pyfunction]
#[pyo3(signature = (path=None, spec_json=None, set=Vec::new(), stages=Vec::new()))]
fn check_pipeline<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    spec_json: Option<String>,
    set: Vec<String>,
    stages: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    use rowflow::check::WouldRun;
    let p = build(path, spec_json, &set, &stages)?;
    let c = py
        .detach(move || rowflow::check::check(p))
        .map_err(|e| engine_error(&e.to_string(), false))?;
    let schema = |s: &rowflow::Schema| -> Vec<(String, String)> {
        s.columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.to_string()))
            .collect()
    };
    let out = pyo3::types::PyDict::new(py);
    out.set_item("ok", c.ok())?;
    out.set_item("name", &c.name)?;
    out.set_item("inputs", &c.inputs)?;
    out.set_item("notes", &c.notes)?;
    out.set_item("columns", schema(&c.columns))?;
    let stages = pyo3::types::PyList::empty(py);
    for (describe, output) in &c.stages {
        let d = pyo3::types::PyDict::new(py);
        d.set_item("describe", describe)?;
        d.set_item("columns", schema(output))?;
        stages.append(d)?;
    }
    out.set_item("stages", stages)?;
    out.set_item("sink", &c.sink)?;
    let run = pyo3::types::PyDict::new(py);
    match &c.run {
        Ok(WouldRun::Skip(reason)) => {
            run.set_item("would", "skip")?;
            run.set_item("reason", reason)?;
        }
        Ok(WouldRun::Load { inputs, notes }) => {
            run.set_item("would", "load")?;
            run.set_item("inputs", inputs)?;
            run.set_item("notes", notes)?;
        }
        Err(e) => {
            run.set_item("would", "refuse")?;
            run.set_item("error", rowflow::redact::redact_text(&e.to_string()))?;
        }
    }
    out.set_item("run", run)?;
    let (table, table_error) = match &c.table {
        Some(Ok(what)) => (Some(what.clone()), None),
        Some(Err(e)) => (None, Some(rowflow::redact::redact_text(&e.to_string()))),
        None => (None, None),
    };
    out.set_item("table", table)?;
    out.set_item("table_error", table_error)?;
    Ok(out)
}

/// The Python module `rowflow._rowflow`.
#[pymodule]
fn _rowflow(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_pipeline, m)?)?;
    m.add_function(wrap_pyfunction!(preview_pipeline, m)?)?;
    m.add_function(wrap_pyfunction!(check_pipeline, m)?)?;
    m.add_class::<stage::Feeder>()?;
    m.add("RowflowError", m.py().get_type::<RowflowError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
