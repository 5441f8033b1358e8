//! Sending one logical request: the shared rate limit before every attempt, a timeout
//! per attempt, retries with exponential backoff and jitter on connection errors,
//! timeouts, 429 and 5xx (waiting at least what `Retry-After` asks), never on another
//! 4xx; answers bounded in size; the optional cache, bounded in entries and bytes, which
//! sends identical requests once; and the stage's breaker: after
//! `max_consecutive_failures` attempts in a row that found the API unreachable (a
//! connection error, a timeout, a 502, 503 or 504), the API is taken as down and every
//! call says so, so the run stops instead of rejecting the rest of the input row by row.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// Why a request gave no 2xx answer.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// As the reject reason says it.
    pub reason: String,
    /// The API is down (the breaker tripped): not this row's fault; the run stops.
    pub down: bool,
}

impl Failure {
    fn row(reason: String) -> Self {
        Failure {
            reason,
            down: false,
        }
    }
}

/// The longest `Retry-After` honoured; a server asking more fails the request.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// One cached answer: filled once; requests that arrive meanwhile wait for it.
type Cell = Arc<tokio::sync::OnceCell<Result<Answer, Failure>>>;

/// Answers by request (method, URL and body), bounded in entries and in bytes (keys and
/// bodies): the least recently used go first.
struct Cache {
    lru: lru::LruCache<String, (Cell, usize)>,
    bytes: usize,
    max_bytes: usize,
}

impl Cache {
    /// The cell for `key`, new (and empty) if there is none.
    fn cell(&mut self, key: &str) -> Cell {
        if let Some((c, _)) = self.lru.get(key) {
            return c.clone();
        }
        let c = Cell::default();
        self.bytes += key.len();
        if let Some((_, (_, size))) = self.lru.push(key.to_string(), (c.clone(), key.len())) {
            self.bytes -= size;
        }
        self.trim();
        c
    }

    /// `cell` was filled: count its body, if it is still cached.
    fn filled(&mut self, key: &str, cell: &Cell) {
        let body = match cell.get() {
            Some(Ok(a)) => a.body.len(),
            Some(Err(f)) => f.reason.len(),
            None => 0,
        };
        if let Some((c, size)) = self.lru.peek_mut(key)
            && Arc::ptr_eq(c, cell)
        {
            *size += body;
            self.bytes += body;
        }
        self.trim();
    }

    /// Forget `cell` (a failure that may not happen again).
    fn forget(&mut self, key: &str, cell: &Cell) {
        if self
            .lru
            .peek(key)
            .is_some_and(|(c, _)| Arc::ptr_eq(c, cell))
            && let Some((_, size)) = self.lru.pop(key)
        {
            self.bytes -= size;
        }
    }

    fn trim(&mut self) {
        while self.bytes > self.max_bytes {
            match self.lru.pop_lru() {
                Some((_, (_, size))) => self.bytes -= size,
                None => break,
            }
        }
    }
}

/// Attempts in a row that found the API unreachable, and whether it is taken as down.
struct Breaker {
    limit: u32,
    in_a_row: AtomicU32,
    down: Mutex<Option<String>>,
}

impl Breaker {
    fn is_down(&self) -> Option<String> {
        self.down.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// An attempt got an answer that shows the API is up.
    fn up(&self) {
        self.in_a_row.store(0, Ordering::Relaxed);
    }

    /// An attempt found the API unreachable; trips after `limit` in a row. Returns the
    /// message when the API is down.
    fn unreachable(&self, url: &str, reason: &str) -> Option<String> {
        let n = self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if self.limit == 0 || n < self.limit {
            return None;
        }
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        if down.is_none() {
            let host = reqwest::Url::parse(url)
                .ok()
                .and_then(|u| {
                    let h = u.host_str()?.to_string();
                    Some(match u.port() {
                        Some(p) => format!("{h}:{p}"),
                        None => h,
                    })
                })
                .unwrap_or_else(|| "?".into());
            *down = Some(format!(
                "the API at {host} looks down: {n} attempts in a row failed with a connection error, \
                 a timeout or a 502, 503 or 504 (the last: {reason}); the run stops, and the rows not \
                 done are left for a resumed run (max_consecutive_failures = {})",
                self.limit
            ));
        }
        down.clone()
    }
}

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
    /// A limit shared with other processes instead (a distributed load).
    shared: Option<crate::config::SharedRate>,
    cache: Option<Mutex<Cache>>,
    max_response: usize,
    breaker: Breaker,
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
    pub shared_rate: Option<crate::config::SharedRate>,
    pub cache_size: Option<usize>,
    pub cache_bytes: usize,
    pub concurrency: usize,
    pub max_response: usize,
    pub max_consecutive_failures: u32,
}

/// One attempt's failure.
enum AttemptError {
    /// No answer: connection, TLS, a body cut short.
    Transport(String),
    /// An answer (with this status) larger than the stage allows (a row error: asking
    /// again gives the same).
    TooLarge(u16, String),
}

impl Caller {
    pub(crate) fn new(o: CallerOptions, stats: Arc<HttpStats>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::client_config())
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
        let cache = o.cache_size.and_then(std::num::NonZeroUsize::new).map(|n| {
            Mutex::new(Cache {
                lru: lru::LruCache::new(n),
                bytes: 0,
                max_bytes: o.cache_bytes,
            })
        });
        Ok(Caller {
            client,
            method: o.method,
            headers: o.headers,
            timeout: o.timeout,
            retries: o.retries,
            backoff: o.backoff,
            max_backoff: o.max_backoff,
            limiter,
            shared: o.shared_rate,
            cache,
            max_response: o.max_response,
            breaker: Breaker {
                limit: o.max_consecutive_failures,
                in_a_row: AtomicU32::new(0),
                down: Mutex::new(None),
            },
            stats,
        })
    }

    /// The request's final answer (from the cache when it has it).
    pub(crate) async fn call(&self, url: String, body: Option<String>) -> Result<Answer, Failure> {
        let Some(cache) = &self.cache else {
            return self.send(&url, body.as_deref()).await.0;
        };
        let key = format!("{url}\n{}", body.as_deref().unwrap_or(""));
        let cell = cache.lock().unwrap_or_else(|p| p.into_inner()).cell(&key);
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
            return r;
        }
        let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
        if transient {
            // A failure that may not happen again (timeouts, 5xx, 429 after the last
            // retry) is not kept: the next identical request is sent anew. Those that
            // waited for this one share its answer.
            c.forget(&key, &cell);
        } else {
            c.filled(&key, &cell);
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
        // A row stopped because the API is down is not finished: it is not counted as
        // failed (it is left for a resumed run).
        let down = |msg: String| {
            (
                Err(Failure {
                    reason: msg,
                    down: true,
                }),
                false,
            )
        };
        loop {
            if let Some(msg) = self.breaker.is_down() {
                return down(msg);
            }
            if let Some(s) = &self.shared {
                let _waiting = self.stats.rate_wait();
                s.0.acquire().await;
            } else if let Some(l) = &self.limiter {
                let _waiting = self.stats.rate_wait();
                l.until_ready().await;
            }
            let guard = self.stats.attempt(attempt > 0);
            let r = tokio::time::timeout(self.timeout, self.once(url, body)).await;
            drop(guard);
            let (retry_after, reason, status) = match r {
                Ok(Ok((status, _, body))) if status < 300 => {
                    self.breaker.up();
                    self.stats.finished(Some(status));
                    return (Ok(Answer { status, body }), true);
                }
                Ok(Ok((status, headers, body))) if status == 429 || status >= 500 => {
                    if matches!(status, 502..=504) {
                        let reason = status_reason(status, &body);
                        if let Some(msg) = self.breaker.unreachable(url, &reason) {
                            return down(msg);
                        }
                    } else {
                        self.breaker.up();
                    }
                    (
                        retry_after(&headers),
                        status_reason(status, &body),
                        Some(status),
                    )
                }
                Ok(Ok((status, _, body))) => {
                    // Another 4xx (or a 3xx not followed): the request itself is wrong.
                    self.breaker.up();
                    self.stats.finished(Some(status));
                    return (Err(Failure::row(status_reason(status, &body))), true);
                }
                Ok(Err(AttemptError::TooLarge(status, why))) => {
                    self.breaker.up();
                    self.stats.finished(Some(status));
                    return (Err(Failure::row(why)), true);
                }
                Ok(Err(AttemptError::Transport(e))) => {
                    if let Some(msg) = self.breaker.unreachable(url, &e) {
                        return down(msg);
                    }
                    (None, e, None)
                }
                Err(_) => {
                    let e = format!("timed out after {} s", secs(self.timeout));
                    if let Some(msg) = self.breaker.unreachable(url, &e) {
                        return down(msg);
                    }
                    (None, e, None)
                }
            };
            let next = backoff.next();
            let wait = match (next, retry_after) {
                (Some(_), Some(ra)) if ra > MAX_RETRY_AFTER => {
                    self.stats.finished(status);
                    return (
                        Err(Failure::row(format!(
                            "{reason}: the server asked to retry after {} s (Retry-After), more \
                             than the {} s rowflow waits at most; not retried",
                            ra.as_secs(),
                            MAX_RETRY_AFTER.as_secs()
                        ))),
                        false,
                    );
                }
                (Some(d), ra) => Some(d.max(ra.unwrap_or_default())),
                (None, _) => None,
            };
            let Some(wait) = wait else {
                // Out of retries while the API was found down (by this row or others):
                // not this row's fault; it is left for a resumed run.
                if let Some(msg) = self.breaker.is_down() {
                    return down(msg);
                }
                self.stats.finished(status);
                let tries = if attempt == 0 {
                    "1 attempt".to_string()
                } else {
                    format!("{} attempts", attempt + 1)
                };
                return (Err(Failure::row(format!("{reason} ({tries})"))), false);
            };
            tracing::debug!(
                "http {}: {reason}; retry {} in {:.2} s",
                self.stats.name,
                attempt + 1,
                wait.as_secs_f64()
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt: status, headers and the whole body (at most `max_response` bytes,
    /// refused from its `Content-Length` before it is read when it says more).
    async fn once(
        &self,
        url: &str,
        body: Option<&str>,
    ) -> Result<(u16, reqwest::header::HeaderMap, Arc<[u8]>), AttemptError> {
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
        let transport = |e: reqwest::Error| AttemptError::Transport(describe(&e));
        let mut resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let too_large = |n: String| {
            AttemptError::TooLarge(
                status,
                format!(
                    "the answer ({n} bytes) is larger than max_response_bytes = {}",
                    self.max_response
                ),
            )
        };
        let announced = resp.content_length();
        if let Some(n) = announced
            && n > self.max_response as u64
        {
            return Err(too_large(n.to_string()));
        }
        let mut data: Vec<u8> =
            Vec::with_capacity(announced.map_or(0, |n| n as usize).min(self.max_response));
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if data.len() + chunk.len() > self.max_response {
                return Err(too_large(format!("more than {}", self.max_response)));
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
