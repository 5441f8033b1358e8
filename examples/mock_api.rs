//! The mock HTTP API of the test suite as a program, for `bench/http.py`:
//!
//! ```sh
//! cargo run --release --example mock_api -- 127.0.0.1:18080 20 2
//! ```
//!
//! listens on 127.0.0.1:18080, answers every request after 20 ms, on 2 threads, until
//! it is killed. `GET /api?id=N` answers `{"id": N, "score": 2N, ...}`.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::time::Duration;

#[allow(dead_code)]
#[path = "../tests/it/mock_http.rs"]
mod mock_http;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18080".into());
    let latency_ms: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mock = mock_http::Mock::start_with(&addr, Duration::from_millis(latency_ms), threads);
    println!(
        "listening on {} ({latency_ms} ms latency, {threads} threads)",
        mock.addr
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
