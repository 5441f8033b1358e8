//! Inputs by URL: objects in S3 (and S3-compatible stores), Google Cloud Storage and
//! Azure Blob Storage through the `object_store` crate, and HTTP(S) URLs through
//! `reqwest`.
//!
//! An object is resolved once, when the load is planned: its size, ETag and version
//! (a glob over a bucket lists from its longest literal prefix and keeps the keys that
//! match, sorted). It is then read as a stream: a task on a small runtime of its own
//! moves the bytes through a bounded channel to the reader thread, so memory holds a
//! few chunks whatever the object's size. A connection that drops or stalls is
//! resumed with a ranged request from the last byte received (pinned to the ETag), so
//! no byte is read twice or skipped; only consecutive failures without progress count
//! against `retries`.
//!
//! - `store` — URL → store, with credentials from the environment and
//!   `[source.storage]`;
//! - `http` — plain HTTP(S) URLs (presigned URLs keep their query string);
//! - `stream` — the reading task and the blocking reader over it.

mod http;
mod store;
mod stream;

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::config::StorageSpec;
use crate::error::{Error, Result};

pub(crate) use stream::RemoteReader;

/// Schemes read through `object_store`.
const STORE_SCHEMES: [&str; 7] = ["s3", "s3a", "gs", "az", "azure", "abfs", "abfss"];

/// Whether `s` names a remote input (a URL with a scheme rowflow reads).
pub(crate) fn is_url(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, _)) => {
            let scheme = scheme.to_ascii_lowercase();
            STORE_SCHEMES.contains(&scheme.as_str()) || scheme == "http" || scheme == "https"
        }
        None => false,
    }
}

/// One remote object, as the load planned it.
pub struct RemoteObject {
    /// The URL that names the object: `scheme://bucket/key` for a store, the URL as
    /// written (query string included) for HTTP(S).
    url: String,
    /// Shown in messages, progress and checkpoints: no query string, no password.
    display: String,
    /// Size in bytes, when the server says.
    pub(crate) size: Option<u64>,
    /// The ETag the object had when it was resolved: every read is pinned to it.
    pub(crate) etag: Option<String>,
    /// The object's version, where the store keeps versions.
    pub(crate) version: Option<String>,
    access: Access,
    retries: u32,
    read_timeout: Duration,
    /// What reading it had to do besides reading: reconnections, a server that ignored
    /// `Range` (each a line for the run's notes).
    events: Arc<Mutex<Vec<String>>>,
    /// The stop flag of the source reading it (Ctrl-C), once one is.
    stop: Mutex<Option<Arc<std::sync::atomic::AtomicBool>>>,
}

/// How the bytes are fetched.
#[derive(Clone)]
enum Access {
    Store(Arc<store::Located>),
    Http(Arc<http::HttpObject>),
}

impl RemoteObject {
    /// The name of the object in messages, progress and its checkpoint (no signing
    /// parameters, no password).
    pub fn display(&self) -> String {
        self.display.clone()
    }

    /// The URL that names the object, as written (query string included): what tells
    /// two objects apart.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Stop every read of the object once `stop` is set (the source's Ctrl-C flag).
    pub(crate) fn watch(&self, stop: Arc<std::sync::atomic::AtomicBool>) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop);
    }

    fn stop_flag(&self) -> Option<Arc<std::sync::atomic::AtomicBool>> {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What reading it had to do besides reading, one line each (taken).
    pub(crate) fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A reader of the object's bytes from `offset` on.
    pub(crate) fn open(&self, offset: u64) -> Result<RemoteReader> {
        stream::open(self, offset)
    }

    /// What the checkpoint's quick identity hashes: the size and, where the server gives
    /// them, the ETag and version (equal ETag and size: the same object).
    pub(crate) fn fingerprint(&self) -> String {
        format!(
            "size={:?};etag={};version={}",
            self.size,
            self.etag.as_deref().unwrap_or(""),
            self.version.as_deref().unwrap_or("")
        )
    }
}

impl std::fmt::Debug for RemoteObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteObject")
            .field("url", &self.display)
            .field("size", &self.size)
            .field("etag", &self.etag)
            .finish()
    }
}

impl PartialEq for RemoteObject {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl Eq for RemoteObject {}

/// The objects `pattern` names: one URL, or a glob over a bucket's keys (sorted).
pub(crate) fn resolve(pattern: &str, spec: &StorageSpec) -> Result<Vec<RemoteObject>> {
    let read_timeout = timeout(spec)?;
    let scheme = pattern
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    let objects = if (scheme == "http" || scheme == "https") && !store::is_azure_https(pattern) {
        vec![http::resolve(pattern, read_timeout)?]
    } else {
        store::resolve(pattern, spec)?
    };
    Ok(objects
        .into_iter()
        .map(|f| RemoteObject {
            display: shown(&f.url),
            url: f.url,
            size: f.size,
            etag: f.etag,
            version: f.version,
            access: f.access,
            retries: spec.retries,
            read_timeout,
            events: Arc::default(),
            stop: Mutex::new(None),
        })
        .collect())
}

/// What a resolver finds of one object.
struct Found {
    /// The URL that names it (see [`RemoteObject`]).
    url: String,
    size: Option<u64>,
    etag: Option<String>,
    /// A store's version id; for HTTP, the Last-Modified date.
    version: Option<String>,
    access: Access,
}

fn timeout(spec: &StorageSpec) -> Result<Duration> {
    if spec.read_timeout.is_finite() && spec.read_timeout > 0.0 && spec.read_timeout < 1e9 {
        Ok(Duration::from_secs_f64(spec.read_timeout))
    } else {
        Err(Error::Config(format!(
            "source.storage.read_timeout must be a positive number of seconds, got {}",
            spec.read_timeout
        )))
    }
}

/// The runtime remote reads run on: one worker thread of its own, so that reading
/// works the same from the reader thread, from planning, and from inside a caller's
/// runtime.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        crate::tls::install_default_provider();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("rowflow-remote")
            .enable_all()
            .build()
            .expect("a runtime with one thread starts unless the OS is out of resources")
    })
}

/// Run `f` on the remote runtime and wait for it (from any thread, in or out of a
/// runtime).
fn block<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    runtime().spawn(async move {
        let _ = tx.send(f.await);
    });
    futures::executor::block_on(rx).expect("the remote runtime lives as long as the process")
}

/// The URL as rowflow names the object (see [`crate::redact::object_url`]).
fn shown(url: &str) -> String {
    crate::redact::object_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        for u in [
            "s3://b/k.csv",
            "S3://b/k",
            "gs://b/k",
            "az://c/k",
            "abfss://c@a.dfs.core.windows.net/k",
            "http://h/x.csv",
            "https://h/x.csv?sig=1",
        ] {
            assert!(is_url(u), "{u}");
        }
        for p in ["data/x.csv", "-", "C:/x.csv", "file.csv", "ftp://h/x"] {
            assert!(!is_url(p), "{p}");
        }
    }

    #[test]
    fn shown_urls_keep_no_query_or_password() {
        assert_eq!(
            shown("https://u:secret@h/x.csv?X-Amz-Signature=abc&X-Amz-Date=1"),
            "https://u:***@h/x.csv"
        );
        assert_eq!(
            shown("https://h/x?day=1&sv=2022&sig=abc&se=2026#top"),
            "https://h/x?day=1"
        );
        assert_eq!(shown("s3://bucket/a/b.csv"), "s3://bucket/a/b.csv");
        // A key may hold `?`: not a query.
        assert_eq!(shown("s3://bucket/g/q?a.csv"), "s3://bucket/g/q?a.csv");
    }
}
