//! Sending one logical request: the shared rate limit before every attempt, a timeout
//! per attempt, retries with exponential backoff and jitter on connection errors,
//! timeouts, 429 and 5xx (waiting at least what `Retry-After` asks), never on another
//! 4xx; and the optional cache, which sends identical requests once.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::BackoffBuilder;

use super::stats::HttpStats;

/// A final answer with a 2xx status.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Arc<[u8]>,
}

/// Why a request gave no 2xx answer, as the reject reason says it.
pub(crate) type Failure = String;

/// Responses larger than this are an error (a row's enrichment, not a download).
const MAX_BODY: usize = 32 << 20;

/// The longest `Retry-After` honoured; a server asking more fails the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Answers by request (method, URL and body); a cell is filled once, and requests
/// that arrive meanwhile wait for it.
type Cache = lru::LruCache<String, Arc<tokio::sync::OnceCell<Result<Answer, Failure>>>>;

/// The retry and limit policy of one stage, with its client.
pub(crate) struct Caller {
    client: reqwest::Client,
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    /// One limiter for the whole stage: every attempt of every row waits on it.
    limiter: Option<governor::DefaultDirectRateLimiter>,
    cache: Option<Mutex<Cache>>,
    pub(crate) stats: Arc<HttpStats>,
}

/// What a `Caller` is made of (validated by the plan).
pub(crate) struct CallerOptions {
    pub method: reqwest::Method,
    pub headers: reqwest::header::HeaderMap,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub rate_limit: Option<f64>,
    pub burst: u32,
    pub cache_size: Option<usize>,
    pub concurrency: usize,
}

fn tls_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // ring supports every default protocol version.
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
        .with_root_certificates(roots)
        .with_no_client_auth()
}

impl Caller {
    pub(crate) fn new(o: CallerOptions, stats: Arc<HttpStats>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config())
            .pool_max_idle_per_host(o.concurrency.max(1))
            .tcp_nodelay(true)
            .connect_timeout(o.timeout)
            // A redirect would send the row's values (and the stage's headers) to
            // another address; the response is the API's answer, 3xx included.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let limiter = match o.rate_limit {
            Some(r) => {
                let period = Duration::try_from_secs_f64(1.0 / r)
                    .map_err(|_| format!("rate_limit {r} is too low"))?;
                let quota = governor::Quota::with_period(period)
                    .ok_or_else(|| format!("rate_limit {r} is too high"))?
                    .allow_burst(NonZeroU32::new(o.burst.max(1)).unwrap_or(NonZeroU32::MIN));
                Some(governor::RateLimiter::direct(quota))
            }
            None => None,
        };
        let cache = o
            .cache_size
            .and_then(std::num::NonZeroUsize::new)
            .map(|n| Mutex::new(lru::LruCache::new(n)));
        Ok(Caller {
            client,
            method: o.method,
            headers: o.headers,
            timeout: o.timeout,
            retries: o.retries,
            backoff: o.backoff,
            max_backoff: o.max_backoff,
            limiter,
            cache,
            stats,
        })
    }

    /// The request's final answer (from the cache when it has it).
    pub(crate) async fn call(&self, url: String, body: Option<String>) -> Result<Answer, Failure> {
        let Some(cache) = &self.cache else {
            return self.send(&url, body.as_deref()).await.0;
        };
        let key = format!("{url}\n{}", body.as_deref().unwrap_or(""));
        let cell = {
            let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
            c.get_or_insert(key.clone(), || Arc::new(tokio::sync::OnceCell::new()))
                .clone()
        };
        if let Some(done) = cell.get() {
            self.stats.cache_hit();
            return done.clone();
        }
        // The first caller sends; identical requests meanwhile wait for its answer.
        let mut sent = false;
        let mut transient = false;
        let r = cell
            .get_or_init(|| async {
                sent = true;
                let (r, definitive) = self.send(&url, body.as_deref()).await;
                transient = !definitive;
                r
            })
            .await
            .clone();
        if !sent {
            self.stats.cache_hit();
        } else if transient {
            // A failure that may not happen again (timeouts, 5xx, 429 after the last
            // retry) is not kept: the next identical request is sent anew. Those that
            // waited for this one share its answer.
            let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
            if c.peek(&key).is_some_and(|x| Arc::ptr_eq(x, &cell)) {
                c.pop(&key);
            }
        }
        r
    }

    /// Send with retries until a final answer, and whether that answer is definitive
    /// (a response the same request would get again: 2xx, 3xx or a 4xx other than 429)
    /// rather than a failure after the retries ran out.
    async fn send(&self, url: &str, body: Option<&str>) -> (Result<Answer, Failure>, bool) {
        let mut backoff = backon::ExponentialBuilder::new()
            .with_min_delay(self.backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.retries as usize)
            .with_jitter()
            .build();
        let mut attempt = 0u32;
        loop {
            if let Some(l) = &self.limiter {
                l.until_ready().await;
            }
            let guard = self.stats.attempt(attempt > 0);
            let r = tokio::time::timeout(self.timeout, self.once(url, body)).await;
            drop(guard);
            let (retry_after, reason, status) = match r {
                Ok(Ok((status, _, body))) if status < 300 => {
                    self.stats.finished(Some(status));
                    return (Ok(Answer { status, body }), true);
                }
                Ok(Ok((status, headers, body))) if status == 429 || status >= 500 => (
                    retry_after(&headers),
                    status_reason(status, &body),
                    Some(status),
                ),
                Ok(Ok((status, _, body))) => {
                    // Another 4xx (or a 3xx not followed): the request itself is wrong.
                    self.stats.finished(Some(status));
                    return (Err(status_reason(status, &body)), true);
                }
                Ok(Err(e)) => (None, e, None),
                Err(_) => (
                    None,
                    format!("timed out after {} s", secs(self.timeout)),
                    None,
                ),
            };
            let wait = match (backoff.next(), retry_after) {
                (_, Some(ra)) if ra > MAX_RETRY_AFTER => None,
                (Some(d), ra) => Some(d.max(ra.unwrap_or_default())),
                (None, _) => None,
            };
            let Some(wait) = wait else {
                self.stats.finished(status);
                let tries = if attempt == 0 {
                    "1 attempt".to_string()
                } else {
                    format!("{} attempts", attempt + 1)
                };
                return (Err(format!("{reason} ({tries})")), false);
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt: status, headers and the whole body.
    async fn once(
        &self,
        url: &str,
        body: Option<&str>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Arc<[u8]>), String> {
        let mut req = self
            .client
            .request(self.method.clone(), url)
            .headers(self.headers.clone());
        if let Some(b) = body {
            if !self.headers.contains_key(reqwest::header::CONTENT_TYPE) {
                req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
            }
            req = req.body(b.to_string());
        }
        let mut resp = req.send().await.map_err(|e| describe(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut data: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
            if data.len() + chunk.len() > MAX_BODY {
                return Err(format!("response larger than {} MiB", MAX_BODY >> 20));
            }
            data.extend_from_slice(&chunk);
        }
        Ok((status, headers, data.into()))
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(s) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(s).ok();
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let now = chrono::Utc::now();
    Some(
        (when.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// `HTTP 404 Not Found: <start of the body>`.
fn status_reason(status: u16, body: &[u8]) -> String {
    let phrase = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let text = String::from_utf8_lossy(body);
    let snippet: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(120)
        .collect();
    if snippet.is_empty() {
        format!("HTTP {status} {phrase}").trim_end().to_string()
    } else {
        format!("HTTP {status} {phrase}: {snippet}")
    }
}

/// A transport error with its causes (connection refused, reset, ...).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(inner) = src {
        last = inner.to_string();
        src = inner.source();
    }
    if !last.is_empty() {
        s.push_str(": ");
        s.push_str(&last);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        assert_eq!(
            status_reason(404, b"  not\n here "),
            "HTTP 404 Not Found: not here"
        );
        assert_eq!(status_reason(503, b""), "HTTP 503 Service Unavailable");
    }
}
