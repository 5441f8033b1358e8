//! One `rate_limit` for a whole distributed load, however many workers call the API.
//!
//! The limit is a GCRA schedule kept in the load's bucket (`rate.<stage>`): its value is
//! the *theoretical arrival time* (TAT), the time the next request slot starts. Slots
//! are `1 / rate` apart. A worker leases a block of slots at once with a
//! compare-and-set (one NATS round trip per block, not per request): the block starts at
//! `max(TAT, now)` and the TAT moves past it. Each slot is spent by one request, no
//! earlier than `(burst - 1) / rate` before the slot and no later than the slot itself
//! less a small guard (a slot whose time has passed is dropped, unused). So every
//! request goes within `[slot - (burst-1)/rate, slot]` of a distinct slot, and in any
//! window of `T` seconds at most `rate * T + burst` requests go, across all workers: the
//! guarantee of a single limiter, whatever the block size. The server sees each request
//! a little after it is sent; the guard (half the burst's span, at most 20 ms) and a
//! schedule 1% under the rate absorb that delay, so the bound holds where it is
//! measured, at the server. Blocks are small (about 50 ms of the rate, 1 to 256
//! slots) so that a worker with few rows to send wastes few slots.
//!
//! The schedule is in Unix time, so the workers' clocks must agree (NTP): a worker
//! whose clock runs ahead by `d` seconds may send `rate * d` requests too many.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;

use crate::config::{RatePermits, SharedRate};

/// Seconds since the Unix epoch.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The slots this worker holds: `left` of them from `next`.
struct Held {
    next: f64,
    left: u32,
}

/// A rate limit shared through a NATS key-value bucket.
pub(crate) struct SharedBucket {
    kv: kv::Store,
    key: String,
    /// Seconds between slots.
    period: f64,
    /// How early a slot may be spent: `burst` slots' worth.
    tau: f64,
    /// How long before its time a slot must be spent at the latest: a request is seen
    /// by the server a little after it is sent, and the guard keeps a late one inside
    /// the budget of the window it lands in.
    guard: f64,
    /// Slots leased at once.
    block: u32,
    held: tokio::sync::Mutex<Held>,
}

impl SharedBucket {
    /// The limit of stage `stage` of the load whose bucket is `kv`: `rate` requests per
    /// second, `burst` at once.
    pub fn shared(kv: kv::Store, stage: usize, rate: f64, burst: u32) -> SharedRate {
        // 1% under the limit: the requests reach the server with some jitter (a new
        // connection, scheduling), which could bunch a few of them into one window.
        let period = 1.0 / (rate * 0.99);
        let block = ((rate / 20.0).floor() as u32).clamp(1, 256);
        let tau = burst.saturating_sub(1) as f64 * period;
        SharedRate(Arc::new(SharedBucket {
            kv,
            key: format!("rate.{stage}"),
            period,
            tau,
            guard: (tau / 2.0).min(0.02),
            block,
            held: tokio::sync::Mutex::new(Held { next: 0.0, left: 0 }),
        }))
    }

    /// Lease a block of slots: where it starts and how many.
    async fn lease(&self) -> (f64, u32) {
        loop {
            let t = now();
            let entry = match self.kv.entry(&self.key).await {
                Ok(e) => e,
                Err(_) => {
                    // NATS unreachable for now (a restart): ask again shortly.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let (tat, revision) = match &entry {
                Some(e) if e.operation == kv::Operation::Put => (
                    std::str::from_utf8(&e.value)
                        .ok()
                        .and_then(|s| s.parse::<f64>().ok())
                        .unwrap_or(t),
                    Some(e.revision),
                ),
                _ => (t, None),
            };
            let start = tat.max(t);
            // The schedule is booked ahead: wait until the block's first slot is near.
            let ahead = start - t - self.tau;
            if ahead > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(ahead.min(1.0))).await;
                continue;
            }
            let tat = start + self.block as f64 * self.period;
            let value: bytes::Bytes = format!("{tat:.6}").into_bytes().into();
            let done = match revision {
                Some(r) => self.kv.update(&self.key, value, r).await.is_ok(),
                None => self.kv.create(&self.key, value).await.is_ok(),
            };
            if done {
                return (start, self.block);
            }
            // Another worker leased meanwhile: read again.
        }
    }

    async fn permit(&self) {
        let mut held = self.held.lock().await;
        loop {
            let t = now();
            // Slots whose time has passed (less the guard) are gone.
            if held.left > 0 && held.next - self.guard < t {
                let passed = (((t - held.next + self.guard) / self.period).floor() as u64 + 1)
                    .min(held.left as u64) as u32;
                held.left -= passed;
                held.next += passed as f64 * self.period;
            }
            if held.left > 0 {
                let slot = held.next;
                held.next += self.period;
                held.left -= 1;
                drop(held);
                let early = slot - self.tau - now();
                if early > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(early)).await;
                }
                return;
            }
            let (start, n) = self.lease().await;
            held.next = start;
            held.left = n;
        }
    }
}

impl RatePermits for SharedBucket {
    fn acquire(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.permit())
    }
}
