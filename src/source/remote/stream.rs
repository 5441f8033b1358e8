//! Reading one remote object as a stream: a task on the remote runtime fetches the
//! bytes and hands them over a bounded channel to [`RemoteReader`], a blocking `Read`
//! for the reader thread. A dropped or stalled connection is resumed from the last byte
//! received, with the read pinned to the object's ETag.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{SinkExt, Stream, StreamExt};
use object_store::{GetOptions, GetRange};

use super::http::Fail;
use super::{Access, RemoteObject, runtime};
use crate::error::Result;

/// The first request from the start of an object asks for this many bytes only, the
/// next for the rest: a reader that wants the header alone (planning, a resumed run)
/// does not start a whole download.
const FIRST_REQUEST: u64 = 1 << 20;

/// Chunks in flight between the task and the reader (each as the connection delivers
/// it, typically 8–64 KiB): memory stays bounded whatever the object's size.
const CHUNKS: usize = 16;

enum Msg {
    Data(Bytes),
    End,
    Fail(String),
    /// The run was told to stop (Ctrl-C) while the object was being read.
    Stopped,
    /// The first, bounded request is done: the rest is fetched only once the reader
    /// asks for it (a reader that wanted the header alone never starts a download).
    PartEnd,
}

/// A blocking reader of a remote object's bytes.
pub(crate) struct RemoteReader {
    rx: mpsc::Receiver<Msg>,
    /// Told when the reader wants the bytes after the first request's (or is gone).
    demand: Arc<tokio::sync::Notify>,
    cur: Bytes,
    done: bool,
    name: String,
}

impl Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.cur.is_empty() {
                let n = buf.len().min(self.cur.len());
                buf[..n].copy_from_slice(&self.cur.split_to(n));
                return Ok(n);
            }
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            match futures::executor::block_on(self.rx.next()) {
                Some(Msg::Data(b)) => self.cur = b,
                Some(Msg::End) => self.done = true,
                Some(Msg::Fail(m)) => return Err(io::Error::other(m)),
                Some(Msg::Stopped) => {
                    return Err(io::Error::other(crate::source::reader::Stopped));
                }
                Some(Msg::PartEnd) => self.demand.notify_one(),
                None => {
                    return Err(io::Error::other(format!(
                        "{}: the download stopped without finishing",
                        self.name
                    )));
                }
            }
        }
    }
}

impl Drop for RemoteReader {
    fn drop(&mut self) {
        // The task's next send fails and it ends (and with it the connection); a task
        // waiting for demand wakes to see the reader gone.
        self.rx.close();
        self.demand.notify_one();
    }
}

/// Start reading `obj` from `offset`.
pub(crate) fn open(obj: &RemoteObject, offset: u64) -> Result<RemoteReader> {
    let (tx, rx) = mpsc::channel(CHUNKS);
    let demand = Arc::new(tokio::sync::Notify::new());
    let pump = Pump {
        demand: demand.clone(),
        access: obj.access.clone(),
        name: obj.display.clone(),
        etag: obj.etag.clone(),
        size: obj.size,
        retries: obj.retries,
        idle: obj.read_timeout,
        events: obj.events.clone(),
        validator: obj.version.clone(),
        stop: obj.stop_flag(),
    };
    runtime().spawn(pump.run(offset, tx));
    Ok(RemoteReader {
        rx,
        demand,
        cur: Bytes::new(),
        done: false,
        name: obj.display.clone(),
    })
}

struct Pump {
    demand: Arc<tokio::sync::Notify>,
    access: Access,
    name: String,
    etag: Option<String>,
    size: Option<u64>,
    retries: u32,
    idle: Duration,
    events: Arc<Mutex<Vec<String>>>,
    /// For HTTP without an ETag: the Last-Modified date the object had (sent as
    /// `If-Range` and compared on every answer).
    validator: Option<String>,
    /// The run's stop flag: set, the read ends at once (a request waiting for an answer
    /// included), and the reader hears `Stopped`.
    stop: Option<Arc<AtomicBool>>,
}

/// Completes once `stop` is set (never without one); looked at every 100 ms.
async fn stopped(stop: &Option<Arc<AtomicBool>>) {
    match stop {
        None => std::future::pending().await,
        Some(s) => {
            while !s.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// How one request ended.
enum Ended {
    /// Every byte was sent (or the reader went away).
    Done,
    /// The bounded request's bytes were sent; the rest follows in another.
    Part,
    /// The request failed; `pos` holds how far it got.
    Failed(Fail),
}

impl Pump {
    async fn run(self, start: u64, mut tx: mpsc::Sender<Msg>) {
        let mut pos = start;
        let mut failures = 0u32;
        let mut first = start == 0;
        loop {
            let before = pos;
            // The first request from byte 0 is bounded (see FIRST_REQUEST).
            let until = first
                .then_some(FIRST_REQUEST)
                .filter(|&u| self.size.is_some_and(|s| s > u));
            first = false;
            let ended = tokio::select! {
                e = self.fetch(&mut pos, until, &mut tx) => Some(e),
                () = stopped(&self.stop) => None,
            };
            let Some(ended) = ended else {
                let _ = tx.send(Msg::Stopped).await;
                return;
            };
            match ended {
                Ended::Done => return,
                Ended::Part => {
                    if tx.send(Msg::PartEnd).await.is_err() {
                        return;
                    }
                    tokio::select! {
                        () = self.demand.notified() => {}
                        () = stopped(&self.stop) => {
                            let _ = tx.send(Msg::Stopped).await;
                            return;
                        }
                    }
                    if tx.is_closed() {
                        return;
                    }
                }
                Ended::Failed(f) => {
                    if pos > before {
                        failures = 0;
                    }
                    failures += 1;
                    if !f.retry || failures > self.retries {
                        let after = if f.retry {
                            format!(
                                " ({} attempts in a row without progress; source.storage.retries = {})",
                                failures, self.retries
                            )
                        } else {
                            String::new()
                        };
                        let at = if pos > 0 {
                            format!(" at byte {pos}")
                        } else {
                            String::new()
                        };
                        let _ = tx
                            .send(Msg::Fail(format!(
                                "{}{at}: {}{after}",
                                self.name, f.message
                            )))
                            .await;
                        return;
                    }
                    self.say(format!(
                        "{}: {} at byte {pos}; resumed from there with a ranged request \
                         (attempt {failures} of {})",
                        self.name, f.message, self.retries
                    ));
                    let wait = 0.2 * 2f64.powi(failures.min(5) as i32 - 1);
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs_f64(wait.min(5.0))) => {}
                        () = stopped(&self.stop) => {
                            let _ = tx.send(Msg::Stopped).await;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Check that an HTTP answer is the object the load started with, from where it was
    /// asked: its ETag (or, without one, its Last-Modified) unchanged, a 206's range
    /// starting at `pos` and of the same total. Returns the bytes to drop first (a 200
    /// to a ranged request: the server ignores `Range`).
    fn check_answer(&self, answer: &reqwest::Response, pos: u64) -> Result<u64, Fail> {
        let header = |h: reqwest::header::HeaderName| {
            answer
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let changed = |what: &str| Fail {
            retry: false,
            message: format!(
                "the object changed while it was being read (its {what} is not the one it \
                 had when the load started); run again to load it as it is now"
            ),
        };
        match (header(reqwest::header::ETAG), self.etag.as_deref()) {
            (Some(now), Some(then)) if now != then => return Err(changed("ETag")),
            (None, Some(_)) if pos > 0 => return Err(changed("ETag")),
            _ => {}
        }
        if self.etag.is_none()
            && let (Some(now), Some(then)) = (
                header(reqwest::header::LAST_MODIFIED),
                self.validator.as_deref(),
            )
            && now != then
        {
            return Err(changed("Last-Modified date"));
        }
        if answer.status() == reqwest::StatusCode::PARTIAL_CONTENT {
            let range = header(reqwest::header::CONTENT_RANGE).unwrap_or_default();
            let spec = range.trim_start_matches("bytes ");
            let start = spec
                .split('-')
                .next()
                .and_then(|s| s.trim().parse::<u64>().ok());
            let total = spec
                .rsplit('/')
                .next()
                .and_then(|t| t.trim().parse::<u64>().ok());
            if start != Some(pos) {
                return Err(Fail {
                    retry: false,
                    message: format!(
                        "the server answered a request for the bytes from {pos} with another \
                         range ({range:?}); reading it would duplicate or skip bytes"
                    ),
                });
            }
            if let (Some(t), Some(s)) = (total, self.size)
                && t != s
            {
                return Err(changed("size"));
            }
            return Ok(0);
        }
        if pos > 0 {
            // The server ignores Range: read from the start, drop what was read.
            self.say(format!(
                "{}: the server ignores Range: read again from the start, the first {pos} \
                 bytes (already read) dropped",
                self.name
            ));
        }
        Ok(pos)
    }

    fn say(&self, line: String) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    /// One request from `pos` on, its bytes sent on `tx` as they come.
    async fn fetch(&self, pos: &mut u64, until: Option<u64>, tx: &mut mpsc::Sender<Msg>) -> Ended {
        if self.size.is_some_and(|s| *pos >= s) {
            let _ = tx.send(Msg::End).await;
            return Ended::Done;
        }
        match &self.access {
            Access::Store(loc) => {
                let opts = GetOptions {
                    if_match: self.etag.clone(),
                    range: match until {
                        Some(u) => Some(GetRange::Bounded(*pos..u)),
                        None => (*pos > 0).then_some(GetRange::Offset(*pos)),
                    },
                    ..Default::default()
                };
                let got = match loc.store.get_opts(&loc.path, opts).await {
                    Ok(g) => g,
                    Err(e) => {
                        use object_store::Error as E;
                        let retry = !matches!(
                            e,
                            E::NotFound { .. }
                                | E::PermissionDenied { .. }
                                | E::Unauthenticated { .. }
                                | E::Precondition { .. }
                                | E::NotModified { .. }
                        );
                        let message = super::store::store_message(&e, &loc.credentials);
                        return Ended::Failed(Fail { retry, message });
                    }
                };
                let stream = got
                    .into_stream()
                    .map(|r| r.map_err(|e| crate::redact::redact_text(&e.to_string())));
                self.forward(stream, 0, until, pos, tx).await
            }
            Access::Http(obj) => {
                let validator = self.etag.as_deref().or(self.validator.as_deref());
                let answer = match obj.get(*pos, until, validator).await {
                    Ok(a) => a,
                    Err(f) => return Ended::Failed(f),
                };
                let mut until = until;
                let skip = match self.check_answer(&answer, *pos) {
                    Ok(skip) => skip,
                    Err(f) => return Ended::Failed(f),
                };
                if answer.status() == reqwest::StatusCode::OK {
                    // The whole object came, whatever was asked.
                    until = None;
                }
                let stream = answer
                    .bytes_stream()
                    .map(|r| r.map_err(super::http::describe));
                self.forward(stream, skip, until, pos, tx).await
            }
        }
    }

    /// Send the stream's bytes (after dropping the first `skip`), advancing `pos`.
    async fn forward<S>(
        &self,
        stream: S,
        mut skip: u64,
        until: Option<u64>,
        pos: &mut u64,
        tx: &mut mpsc::Sender<Msg>,
    ) -> Ended
    where
        S: Stream<Item = std::result::Result<Bytes, String>>,
    {
        let mut stream = std::pin::pin!(stream);
        loop {
            match tokio::time::timeout(self.idle, stream.next()).await {
                Ok(Some(Ok(mut b))) => {
                    if skip > 0 {
                        let n = skip.min(b.len() as u64);
                        let _ = b.split_to(n as usize);
                        skip -= n;
                        if b.is_empty() {
                            continue;
                        }
                    }
                    *pos += b.len() as u64;
                    if tx.send(Msg::Data(b)).await.is_err() {
                        return Ended::Done;
                    }
                }
                Ok(Some(Err(e))) => {
                    return Ended::Failed(Fail {
                        retry: true,
                        message: format!("the connection failed: {e}"),
                    });
                }
                Ok(None) => {
                    if until.is_some_and(|u| *pos >= u) {
                        return Ended::Part;
                    }
                    if let Some(size) = self.size
                        && *pos < size
                    {
                        return Ended::Failed(Fail {
                            retry: true,
                            message: format!("the connection closed after byte {pos} of {size}"),
                        });
                    }
                    let _ = tx.send(Msg::End).await;
                    return Ended::Done;
                }
                Err(_) => {
                    return Ended::Failed(Fail {
                        retry: true,
                        message: format!(
                            "no bytes arrived for {} s (source.storage.read_timeout)",
                            self.idle.as_secs_f64()
                        ),
                    });
                }
            }
        }
    }
}
