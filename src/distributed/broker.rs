//! What a distributed load keeps in NATS JetStream, and the names it keeps it under:
//!
//! - a work-queue stream per load, `ROWFLOW_<id>` (subject `rowflow.<id>.chunks`), one
//!   message per chunk, and its durable pull consumer `workers` (explicit acks, the
//!   load's ack wait, max deliveries + 1: the extra delivery records the failure);
//! - a key-value bucket per load, `rowflow_<id>`: `plan` (the pipeline text with its
//!   `${VAR}` references unexpanded, the fixed schema, the chunk list), `chunk.<n>`
//!   (each chunk's state as its workers record it), `cancel`, and the shared token
//!   buckets of the `http` stages' rate limits (`rate.<stage>`).
//!
//! No password or token is stored: `submit` refuses a pipeline that would put one here.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, kv, stream};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::redact::percent_decode;

/// Where workers and commands look for NATS unless told.
pub const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";

/// The plan of a distributed load, as `submit` stores it for the workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// The load's id.
    pub load: String,
    /// The pipeline's name.
    pub name: String,
    /// The pipeline file's text, `${VAR}` references unexpanded.
    pub pipeline: String,
    /// The pipeline file's directory (relative paths in the file are relative to it).
    pub base: Option<String>,
    /// `--set` overrides, applied after the file.
    pub overrides: Vec<String>,
    /// Every input column and its type, decided once.
    pub schema: Vec<(String, String)>,
    /// How many chunks (each one's message is kept under `msg.<n>`).
    pub chunks: u32,
    /// Bytes of input in all.
    pub bytes: u64,
    /// The destination, redacted.
    pub target: String,
    /// The destination table.
    pub table: String,
    /// When it was submitted (RFC 3339).
    pub submitted: String,
    /// Unix time of the submission, in milliseconds.
    pub submitted_ms: u64,
    /// Seconds without a heartbeat before a chunk is given to another worker.
    pub ack_wait: f64,
    /// Deliveries of a chunk before it is failed.
    pub max_deliver: u32,
}

/// A chunk's state, as its workers record it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChunkState {
    /// `pending`, `running`, `done` or `failed`.
    pub state: String,
    /// The worker that has it (or had it last).
    pub worker: String,
    /// Its JetStream delivery count, and retry epoch.
    pub delivery: u64,
    /// How many times `rowflow retry` requeued it.
    pub epoch: u32,
    /// Rows read, written, filtered, rejected (committed ones, for a running chunk).
    pub rows: [u64; 4],
    /// Bytes of its input read.
    pub bytes: u64,
    /// Why it failed (or why its last attempt did).
    pub error: Option<String>,
    /// Unix time of the last update, in milliseconds.
    pub updated_ms: u64,
}

/// Unix time now, in milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A connection to NATS with JetStream.
#[derive(Clone)]
pub(crate) struct Broker {
    pub js: jetstream::Context,
    /// The URL, redacted, for messages.
    pub shown: String,
}

/// An error talking to NATS, naming the server and what was being done.
pub(crate) fn nats_err(shown: &str, doing: &str, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: format!("NATS {shown}").into(),
        source: std::io::Error::other(crate::redact::redact_text(&format!("{doing}: {e}"))),
    }
}

impl Broker {
    /// Connect to `url` (several servers: comma-separated). An unreachable server is an
    /// error after a few seconds, not a wait; once connected, the client reconnects by
    /// itself when the server restarts.
    pub async fn connect(url: &str) -> Result<Broker> {
        let (bare, creds) = split_credentials(url);
        let shown = match &creds {
            Some(Credentials::Token(_)) => bare.replace("://", "://***@"),
            Some(Credentials::User(u, _)) => bare.replace("://", &format!("://{u}:***@")),
            None => bare.clone(),
        };
        let url = bare.as_str();
        let opts = match creds {
            Some(Credentials::Token(t)) => async_nats::ConnectOptions::with_token(t),
            Some(Credentials::User(u, p)) => {
                async_nats::ConnectOptions::with_user_and_password(u, p)
            }
            None => async_nats::ConnectOptions::new(),
        };
        let opts = opts
            .name(format!("rowflow pid {}", std::process::id()))
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_secs(10)));
        // Each server of a comma-separated list is an address of its own.
        let addrs: Vec<async_nats::ServerAddr> = url
            .split(',')
            .map(|u| u.trim().parse())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| nats_err(&shown, "reading the NATS address", e))?;
        let client = opts.connect(addrs).await.map_err(|e| {
            nats_err(
                &shown,
                "cannot connect to NATS (is nats-server running with JetStream, -js, at this address?)",
                e,
            )
        })?;
        let js = jetstream::new(client);
        Ok(Broker { js, shown })
    }

    fn err(&self, doing: &str, e: impl std::fmt::Display) -> Error {
        nats_err(&self.shown, doing, e)
    }

    /// The stream of load `id`.
    pub fn stream_name(id: &str) -> String {
        format!("ROWFLOW_{id}")
    }

    /// The subject of load `id`'s chunk messages.
    pub fn subject(id: &str) -> String {
        format!("rowflow.{id}.chunks")
    }

    /// The key-value bucket of load `id`.
    pub fn bucket(id: &str) -> String {
        format!("rowflow_{id}")
    }

    /// Create load `id`'s stream, consumer and bucket.
    pub async fn create_load(
        &self,
        id: &str,
        ack_wait: Duration,
        max_deliver: u32,
    ) -> Result<kv::Store> {
        self.create_queue(id, ack_wait, max_deliver).await?;
        self.bucket_store(&Self::bucket(id), "the load's key-value bucket")
            .await
    }

    /// The key-value bucket `bucket`, made when missing. Its stream is made as the
    /// client's `create_key_value` makes it (which first asks for account details that
    /// NATS servers before 2.10 answer in another form), then opened as a bucket.
    async fn bucket_store(&self, bucket: &str, what: &str) -> Result<kv::Store> {
        if let Ok(kv) = self.js.get_key_value(bucket).await {
            return Ok(kv);
        }
        // Another process may make it at the same moment: opening it says.
        let _ = self
            .js
            .create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                storage: stream::StorageType::File,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                num_replicas: 1,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await;
        self.js
            .get_key_value(bucket)
            .await
            .map_err(|e| self.err(&format!("opening {what}"), e))
    }

    /// Create (or find) load `id`'s work queue: its stream and consumer. A finished
    /// load's queue is deleted; `retry` creates it again.
    pub async fn create_queue(&self, id: &str, ack_wait: Duration, max_deliver: u32) -> Result<()> {
        let stream = self
            .js
            .create_stream(stream::Config {
                name: Self::stream_name(id),
                subjects: vec![Self::subject(id)],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                self.err(
                    "creating the load's stream (is JetStream enabled: nats-server -js?)",
                    e,
                )
            })?;
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some("workers".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_deliver: max_deliver as i64 + 1,
                ..Default::default()
            })
            .await
            .map_err(|e| self.err("creating the load's consumer", e))?;
        Ok(())
    }

    /// Load `id`'s bucket.
    pub async fn kv(&self, id: &str) -> Result<kv::Store> {
        self.js.get_key_value(Self::bucket(id)).await.map_err(|e| {
            Error::Config(format!(
                "no distributed load {id:?} at {} ({e}): is the id right, and is this the NATS server \
                 it was submitted to?",
                self.shown
            ))
        })
    }

    /// Load `id`'s consumer.
    pub async fn consumer(&self, id: &str) -> Result<consumer::PullConsumer> {
        let stream = self
            .js
            .get_stream(Self::stream_name(id))
            .await
            .map_err(|e| self.err("finding the load's stream", e))?;
        stream
            .get_consumer("workers")
            .await
            .map_err(|e| self.err("finding the load's consumer", e))
    }

    /// Publish a chunk message of load `id` (waiting for JetStream to store it).
    pub async fn publish(&self, id: &str, payload: Vec<u8>) -> Result<()> {
        self.js
            .publish(Self::subject(id), payload.into())
            .await
            .map_err(|e| self.err("publishing a chunk", e))?
            .await
            .map_err(|e| self.err("publishing a chunk", e))?;
        Ok(())
    }

    /// Delete load `id`'s stream (its remaining messages with it).
    pub async fn delete_stream(&self, id: &str) -> Result<()> {
        match self.js.delete_stream(Self::stream_name(id)).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err(self.err("deleting the load's stream", e)),
        }
    }

    /// The ids of every load with a bucket (finished ones too).
    pub async fn all_loads(&self) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let names: Vec<String> = self
            .js
            .stream_names()
            .try_collect()
            .await
            .map_err(|e| self.err("listing the loads", e))?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_prefix("KV_rowflow_").map(str::to_string))
            .collect())
    }

    /// Take load `id` away: its queue and its bucket (a submit that failed half-way).
    pub async fn delete_load(&self, id: &str) {
        let _ = self.delete_stream(id).await;
        let _ = self
            .js
            .delete_stream(format!("KV_{}", Self::bucket(id)))
            .await;
    }

    /// The index of loads: which load holds each load key (see `submit::load_key`).
    async fn index(&self) -> Result<kv::Store> {
        self.bucket_store("rowflow_index", "the index of loads")
            .await
    }

    /// Make `load` the holder of `key`, unless a load other than those in `free` (found
    /// not to stand in the way) holds it, or another submit took it meanwhile.
    pub async fn claim_index(&self, key: &str, load: &str, free: &[String]) -> Result<()> {
        let k = index_key(key);
        let index = self.index().await?;
        let busy = |other: &str| {
            Error::Busy(format!(
                "load {other} of the same pipeline into the same table was submitted at the same \
                 time: two loads would load the same rows. Wait for it (`rowflow wait {other}`) or \
                 cancel it first"
            ))
        };
        // The entry names the load and when it was claimed.
        let value: bytes::Bytes = format!("{load} {}", now_ms()).into_bytes().into();
        let entry = index
            .entry(k.as_str())
            .await
            .map_err(|e| self.err("reading the index of loads", e))?;
        let taken = match entry.filter(|e| e.operation == kv::Operation::Put) {
            Some(e) => {
                let (other, at) = index_value(&e.value);
                // The other load stands in the way unless the look at the loads found it
                // finished, or its submit died before it published its chunks. A claim
                // younger than INDEX_GRACE_MS may be a submit still writing its plan or
                // publishing (the look saw no published load then, and let it be).
                if !free.contains(&other) {
                    let young = now_ms().saturating_sub(at) < INDEX_GRACE_MS;
                    let published = match self.kv(&other).await {
                        Ok(kv) => !matches!(kv.get("published").await, Ok(None)),
                        Err(_) => false,
                    };
                    if young || published {
                        return Err(busy(&other));
                    }
                }
                index.update(k.as_str(), value, e.revision).await.is_ok()
            }
            None => index.create(k.as_str(), value).await.is_ok(),
        };
        if !taken {
            let other = index
                .get(k.as_str())
                .await
                .ok()
                .flatten()
                .map(|v| index_value(&v).0)
                .unwrap_or_default();
            return Err(busy(&other));
        }
        Ok(())
    }

    /// Give `key` up (a submit that failed half-way), if `load` still holds it.
    pub async fn release_index(&self, key: &str, load: &str) {
        let k = index_key(key);
        if let Ok(index) = self.index().await
            && let Ok(Some(e)) = index.entry(k.as_str()).await
            && index_value(&e.value).0 == load
        {
            let _ = index.purge(k.as_str()).await;
        }
    }

    /// The ids of the loads that have a stream (work may be left).
    pub async fn loads(&self) -> Result<Vec<String>> {
        use futures::TryStreamExt;
        let names: Vec<String> = self
            .js
            .stream_names()
            .try_collect()
            .await
            .map_err(|e| self.err("listing the loads", e))?;
        let mut ids: Vec<String> = names
            .into_iter()
            .filter_map(|n| n.strip_prefix("ROWFLOW_").map(str::to_string))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// How long a claim in the index holds while its load is not published: a submit
/// writes its plan and publishes within moments of claiming, so an older claim of a
/// load never published is a submit that died.
const INDEX_GRACE_MS: u64 = 60_000;

/// An index entry's load id and the time it was claimed (0 when it does not say).
fn index_value(v: &[u8]) -> (String, u64) {
    let s = String::from_utf8_lossy(v);
    let mut it = s.split_whitespace();
    let load = it.next().unwrap_or_default().to_string();
    (load, it.next().and_then(|t| t.parse().ok()).unwrap_or(0))
}

/// A load key as the index holds it (keys are limited to a few characters): its SHA-256.
fn index_key(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Credentials written in a NATS URL.
#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    /// `nats://TOKEN@host`.
    Token(String),
    /// `nats://USER:PASSWORD@host`.
    User(String, String),
}

/// The URL(s) without their credentials, and the credentials (percent-decoded) of the
/// first one that has some: the client takes them as options.
fn split_credentials(url: &str) -> (String, Option<Credentials>) {
    let mut creds = None;
    let bare: Vec<String> = url
        .split(',')
        .map(|u| {
            let u = u.trim();
            let (scheme, rest) = u.split_once("://").unwrap_or(("nats", u));
            let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => {
                    let info = &rest[..at];
                    if creds.is_none() {
                        creds = Some(match info.split_once(':') {
                            Some((u, p)) => Credentials::User(percent_decode(u), percent_decode(p)),
                            None => Credentials::Token(percent_decode(info)),
                        });
                    }
                    format!("{scheme}://{}", &rest[at + 1..])
                }
                None => u.to_string(),
            }
        })
        .collect();
    (bare.join(","), creds)
}

/// Read a JSON value from a bucket.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    kv: &kv::Store,
    key: &str,
) -> Result<Option<T>> {
    let got = kv
        .get(key)
        .await
        .map_err(|e| nats_err("", &format!("reading {key}"), e))?;
    match got {
        Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Error::Config(format!(
                "{key} in the load's bucket cannot be read ({e}): written by another version of rowflow?"
            ))
        }),
        None => Ok(None),
    }
}

/// Write a JSON value into a bucket.
pub(crate) async fn put_json<T: Serialize>(kv: &kv::Store, key: &str, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    kv.put(key, bytes.into())
        .await
        .map_err(|e| nats_err("", &format!("writing {key}"), e))?;
    Ok(())
}

/// The key of chunk `n`'s state.
pub(crate) fn chunk_key(n: u32) -> String {
    format!("chunk.{n}")
}

/// Every chunk's state, by chunk (a chunk with no record yet is pending).
pub(crate) async fn chunk_states(kv: &kv::Store, chunks: usize) -> Result<Vec<ChunkState>> {
    let mut out = Vec::with_capacity(chunks);
    for n in 0..chunks {
        out.push(
            get_json::<ChunkState>(kv, &chunk_key(n as u32))
                .await?
                .unwrap_or_else(|| ChunkState {
                    state: "pending".into(),
                    ..Default::default()
                }),
        );
    }
    Ok(out)
}

/// A new load id: the time and a few random bits, short enough to type.
pub(crate) fn new_load_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mix = (nanos as u64) ^ ((std::process::id() as u64) << 40);
    let h = twox_hash::XxHash3_128::oneshot(&mix.to_le_bytes());
    format!("{:012x}", (h as u64) & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        assert_eq!(
            split_credentials("nats://Tok3n@h:4222"),
            (
                "nats://h:4222".into(),
                Some(Credentials::Token("Tok3n".into()))
            )
        );
        assert_eq!(
            split_credentials("nats://u:p%23w@a:1,nats://b:2"),
            (
                "nats://a:1,nats://b:2".into(),
                Some(Credentials::User("u".into(), "p#w".into()))
            )
        );
        assert_eq!(split_credentials("nats://h:1"), ("nats://h:1".into(), None));
        // Without a scheme, credentials are still taken out (and never shown).
        assert_eq!(
            split_credentials("alice:PASS@127.0.0.1:14224"),
            (
                "nats://127.0.0.1:14224".into(),
                Some(Credentials::User("alice".into(), "PASS".into()))
            )
        );
    }
}
