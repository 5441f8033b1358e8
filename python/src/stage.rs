//! Python functions as async stages: each row's call runs as a coroutine on an asyncio
//! event loop that the package owns in a thread of its own (`rowflow/_stages.py`
//! starts it), never a task per row: the engine keeps at most `concurrency` calls in
//! flight. The GIL is held only to build the row's dict, submit the call and read its
//! result.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyTuple};

use rowflow::{AsyncOptions, DataType, Pipeline, Record};

use crate::values::{record_to_dict, update_record};

/// One Python stage: the (async) function and the loop that runs it.
pub struct PyStage {
    /// `async def f(row: dict) -> dict | None` (plain functions are wrapped in Python).
    func: Py<PyAny>,
    /// The event loop the calls run on.
    event_loop: Py<PyAny>,
    /// `asyncio.run_coroutine_threadsafe`.
    submit: Py<PyAny>,
}

/// `Type: message` of a Python exception (the row's reject reason).
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let ty = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    let msg = e.value(py).to_string();
    if msg.is_empty() {
        ty
    } else {
        format!("{ty}: {msg}")
    }
}

impl PyStage {
    /// Call the function on `rec` and wait for its coroutine (without the GIL).
    async fn call(self: Arc<Self>, mut rec: Record) -> Result<Option<Record>, String> {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let fut = Python::attach(|py| -> PyResult<Py<PyAny>> {
            let row = record_to_dict(py, &rec)?;
            let coro = self.func.call1(py, (row,))?;
            let fut = self
                .submit
                .call1(py, (coro, self.event_loop.clone_ref(py)))?;
            let tx = Mutex::new(Some(tx));
            let done = PyCFunction::new_closure(
                py,
                None,
                None,
                move |_args: &Bound<'_, PyTuple>, _kw| -> PyResult<()> {
                    if let Some(t) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        let _ = t.send(());
                    }
                    Ok(())
                },
            )?;
            fut.call_method1(py, "add_done_callback", (done,))?;
            Ok(fut)
        })
        .map_err(|e| Python::attach(|py| describe(py, &e)))?;
        // The callback always runs (result, exception or cancellation); a dropped
        // sender (the loop closed) reads the future's state all the same.
        let _ = rx.await;
        Python::attach(|py| {
            let out = fut.call_method0(py, "result");
            drop(fut);
            match out {
                Err(e) => Err(describe(py, &e)),
                Ok(v) if v.is_none(py) => Ok(None),
                Ok(v) => {
                    update_record(&mut rec, v.bind(py))?;
                    Ok(Some(rec))
                }
            }
        })
    }
}

/// Add Python stage `spec` (`(func, loop, submit, name, concurrency, ordered,
/// [(column, type)])`) to the pipeline.
pub fn add(p: Pipeline, spec: &Bound<'_, PyAny>) -> PyResult<Pipeline> {
    type Spec = (
        Py<PyAny>,
        Py<PyAny>,
        Py<PyAny>,
        String,
        usize,
        bool,
        Vec<(String, String)>,
    );
    let (func, event_loop, submit, name, concurrency, ordered, columns): Spec = spec.extract()?;
    let mut opts = AsyncOptions::new(name.clone())
        .concurrency(concurrency)
        .ordered(ordered);
    for (col, ty) in columns {
        let t: DataType = ty.parse().map_err(|e| {
            crate::RowflowError::new_err(format!(
                "stage {name:?}: column {col:?}: {e} (int, float, decimal, bool, date, timestamp, text)"
            ))
        })?;
        opts = opts.add_column(col, t);
    }
    let stage = Arc::new(PyStage {
        func,
        event_loop,
        submit,
    });
    Ok(p.map_async(opts, move |rec| stage.clone().call(rec)))
}
