//! Python functions as async stages.
//!
//! The engine's tasks never take the GIL: each row goes into a [`Feeder`]'s queue with
//! a channel for its answer, and one byte on a socket wakes the asyncio event loop that
//! the package runs in a thread of its own (`rowflow/__init__.py`, `_StageLoop`). On
//! that loop, one callback takes every waiting row at once, turns each into a dict and
//! starts the user's coroutine on it; the coroutine's result goes back through
//! [`Feeder::finish`] (or [`Feeder::fail`]). The engine keeps at most `concurrency`
//! rows in flight, so there is never a task per row of the file, and the GIL changes
//! hands once per wake-up rather than twice per row.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;
use pyo3::types::PyList;

use rowflow::{AsyncOptions, DataType, Pipeline, Record};

use crate::values::{record_to_dict, update_record};

type Answer = Result<Option<Record>, String>;

/// A row waiting for, or in, the user's function, with where its answer goes.
struct Job {
    rec: Record,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<(u64, Job)>,
    running: HashMap<u64, Job>,
    next: u64,
    /// A wake-up byte was sent and not yet taken.
    notified: bool,
    /// The stage ended (the run is over): new rows are refused.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake_tx: UnixStream,
    wake_rx: UnixStream,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The engine's side: queue `rec` and wait for the function's answer.
    async fn call(self: Arc<Self>, rec: Record) -> Answer {
        let (reply, answer) = tokio::sync::oneshot::channel();
        {
            let mut q = self.queue();
            if q.closed {
                return Err("the Python stage has stopped".into());
            }
            let id = q.next;
            q.next += 1;
            q.waiting.push_back((id, Job { rec, reply }));
            if !q.notified {
                q.notified = true;
                // Non-blocking: a full socket means a wake-up is pending anyway.
                let _ = (&self.wake_tx).write(&[1]);
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err("the Python stage stopped before answering".into()))
    }
}

/// The queue between the engine and one Python stage (made by the package for each
/// run; not for direct use).
#[pyclass(module = "rowflow._rowflow")]
pub struct Feeder {
    shared: Arc<Shared>,
}

#[pymethods]
impl Feeder {
    #[new]
    fn new() -> PyResult<Self> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        Ok(Feeder {
            shared: Arc::new(Shared {
                queue: Mutex::default(),
                wake_tx,
                wake_rx,
            }),
        })
    }

    /// The descriptor that becomes readable when rows wait (for `loop.add_reader`).
    fn fileno(&self) -> i32 {
        self.shared.wake_rx.as_raw_fd()
    }

    /// Every waiting row, as `(id, dict)` pairs.
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut buf = [0u8; 256];
        while matches!((&self.shared.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        let out = PyList::empty(py);
        let mut q = self.shared.queue();
        q.notified = false;
        while let Some((id, job)) = q.waiting.pop_front() {
            match record_to_dict(py, &job.rec) {
                Ok(d) => {
                    out.append((id, d))?;
                    q.running.insert(id, job);
                }
                Err(e) => {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
        Ok(out)
    }

    /// The function's answer for row `id`: a dict (its keys set those columns) or
    /// `None` (drop the row).
    fn finish(&self, id: u64, result: &Bound<'_, PyAny>) {
        let Some(mut job) = self.shared.queue().running.remove(&id) else {
            return;
        };
        let answer = if result.is_none() {
            Ok(None)
        } else {
            update_record(&mut job.rec, result).map(|()| Some(job.rec))
        };
        let _ = job.reply.send(answer);
    }

    /// Row `id` failed: it is rejected with `reason`.
    fn fail(&self, id: u64, reason: String) {
        if let Some(job) = self.shared.queue().running.remove(&id) {
            let _ = job.reply.send(Err(reason));
        }
    }

    /// The run is over: rows still queued or running are answered with an error (the
    /// engine has stopped waiting for them by then).
    fn close(&self) {
        let mut q = self.shared.queue();
        q.closed = true;
        let q = &mut *q;
        let mut jobs: Vec<Job> = q.waiting.drain(..).map(|(_, j)| j).collect();
        jobs.extend(q.running.drain().map(|(_, j)| j));
        for j in jobs {
            let _ = j.reply.send(Err("the Python stage stopped".into()));
        }
    }
}

/// Add Python stage `spec` (`(feeder, name, concurrency, ordered, [(column, type)])`)
/// to the pipeline.
pub fn add(p: Pipeline, spec: &Bound<'_, PyAny>) -> PyResult<Pipeline> {
    type Spec<'py> = (
        PyRef<'py, Feeder>,
        String,
        usize,
        bool,
        Vec<(String, String)>,
    );
    let (feeder, name, concurrency, ordered, columns): Spec = spec.extract()?;
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
    let shared = feeder.shared.clone();
    Ok(p.map_async(opts, move |rec| shared.clone().call(rec)))
}
