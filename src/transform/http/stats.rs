//! What an HTTP stage did: requests, retries, statuses, latencies. Updated by the
//! requests as they run, read by progress and the final report.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::report::HttpSnapshot;

/// Shared counters of one HTTP stage.
#[derive(Debug)]
pub struct HttpStats {
    /// The stage's name.
    pub name: String,
    in_flight: AtomicU64,
    /// Attempts waiting for the rate limiter now.
    rate_waiting: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    cache_hits: AtomicU64,
    /// Final answers by class: 1xx-2xx, 3xx, 4xx, 5xx, then failures without a status
    /// (timeouts, connection errors).
    classes: [AtomicU64; 5],
    latency: Mutex<hdrhistogram::Histogram<u64>>,
}

impl HttpStats {
    pub(crate) fn new(name: &str) -> Self {
        HttpStats {
            name: name.to_string(),
            in_flight: AtomicU64::new(0),
            rate_waiting: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            classes: Default::default(),
            // 1 µs to 1 hour, 3 significant digits. Bounds are valid constants.
            latency: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(
                    |_| hdrhistogram::Histogram::new(3).expect("3 digits is a valid precision"),
                ),
            ),
        }
    }

    /// An attempt starts; the returned guard ends it (and records its latency).
    pub(crate) fn attempt(&self, retry: bool) -> InFlight<'_> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if retry {
            self.retries.fetch_add(1, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            stats: self,
            start: std::time::Instant::now(),
        }
    }

    /// An attempt waits for the rate limiter; the returned guard ends the wait.
    pub(crate) fn rate_wait(&self) -> RateWait<'_> {
        self.rate_waiting.fetch_add(1, Ordering::Relaxed);
        RateWait(self)
    }

    pub(crate) fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A request's final answer: its status, or `None` when it failed without one.
    pub(crate) fn finished(&self, status: Option<u16>) {
        let class = match status {
            Some(s) if s < 300 => 0,
            Some(s) if s < 400 => 1,
            Some(s) if s < 500 => 2,
            Some(_) => 3,
            None => 4,
        };
        self.classes[class].fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        h.saturating_record(us);
    }

    /// The current numbers.
    pub fn snapshot(&self) -> HttpSnapshot {
        let h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let q = |p: f64| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(p) as f64 / 1000.0
            }
        };
        let c = |i: usize| self.classes[i].load(Ordering::Relaxed);
        HttpSnapshot {
            name: self.name.clone(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            rate_waiting: self.rate_waiting.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            status_2xx: c(0),
            status_3xx: c(1),
            status_4xx: c(2),
            status_5xx: c(3),
            failed: c(1) + c(2) + c(3) + c(4),
            no_answer: c(4),
            latency_ms: [q(0.5), q(0.95), q(0.99)],
        }
    }
}

/// An attempt waiting for the rate limiter.
pub(crate) struct RateWait<'a>(&'a HttpStats);

impl Drop for RateWait<'_> {
    fn drop(&mut self) {
        self.0.rate_waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An attempt in flight.
pub(crate) struct InFlight<'a> {
    stats: &'a HttpStats,
    start: std::time::Instant,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.stats.record(self.start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let s = HttpStats::new("t");
        for ms in 1..=100u64 {
            let a = s.attempt(ms > 90);
            drop(a);
            s.record(Duration::from_millis(ms));
        }
        s.finished(Some(200));
        s.finished(Some(429));
        s.finished(None);
        let snap = s.snapshot();
        assert_eq!(snap.requests, 100);
        assert_eq!(snap.retries, 10);
        assert_eq!(snap.in_flight, 0);
        assert_eq!(
            (
                snap.status_2xx,
                snap.status_4xx,
                snap.failed,
                snap.no_answer
            ),
            (1, 1, 2, 1)
        );
        assert!(snap.latency_ms[2] >= 90.0, "{:?}", snap.latency_ms);
    }
}
