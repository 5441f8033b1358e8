//! A mock HTTP API on 127.0.0.1 (a free port), on a thread of its own: HTTP/1.1 with
//! keep-alive, written on tokio directly. The request's query says how to behave:
//!
//! - `id=N`: the answer is `{"id": N, "score": 2N, ...}` (JSON);
//! - `fail=K&code=C[&retry_after=S]`: the first K attempts of this exact request
//!   answer status C (with `Retry-After: S`);
//! - `drop=K`: the first K attempts close the connection without an answer;
//! - `slow_ms=M`: answer after M ms (on top of the server's latency);
//! - `malformed=1` (not 0): a 200 whose body is not JSON;
//! - `size=N`: the JSON answer is padded to N bytes (`"pad"`); with `chunked=1` it is
//!   sent in chunks, without a `Content-Length`;
//! - `POST /batch[?reverse=1]`: a JSON array of `{"id": ...}` in, `[{"id", "score"}]` out
//!   (reversed with `reverse=1`).
//!
//! It records every request's arrival time and the most requests it ever had in flight.
//! Also used by `examples/mock_api.rs` for the benchmark.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the server saw.
#[derive(Default)]
pub struct State {
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub requests: AtomicUsize,
    /// Arrival time of every request.
    pub times: Mutex<Vec<Instant>>,
    /// Attempts per request target (path and query).
    pub attempts: Mutex<HashMap<String, u32>>,
}

impl State {
    pub fn attempts_of(&self, target_contains: &str) -> Vec<u32> {
        let a = self.attempts.lock().unwrap();
        a.iter()
            .filter(|(k, _)| k.contains(target_contains))
            .map(|(_, v)| *v)
            .collect()
    }
}

/// A running mock server; it stops when dropped.
pub struct Mock {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mock {
    /// Start on a free port, answering after `latency`.
    pub fn start(latency: Duration) -> Mock {
        Mock::start_on("127.0.0.1:0", latency)
    }

    pub fn start_on(addr: &str, latency: Duration) -> Mock {
        Mock::start_with(addr, latency, 1)
    }

    /// Start on `addr` with `threads` runtime threads.
    pub fn start_with(addr: &str, latency: Duration, threads: usize) -> Mock {
        let std_listener = std::net::TcpListener::bind(addr).expect("bind the mock server");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((sock, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = sock.set_nodelay(true);
                        tokio::spawn(serve(sock, st.clone(), latency));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        Mock {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The query's parameters, percent-decoded.
fn query(target: &str) -> HashMap<String, String> {
    let q = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn serve(sock: TcpStream, state: Arc<State>, latency: Duration) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let mut content_length = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        if r.read_exact(&mut body).await.is_err() {
            return;
        }
        state.requests.fetch_add(1, Ordering::SeqCst);
        state.times.lock().unwrap().push(Instant::now());
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let attempt = {
            let mut a = state.attempts.lock().unwrap();
            let n = a
                .entry(format!(
                    "{method} {target} {}",
                    String::from_utf8_lossy(&body)
                ))
                .or_insert(0);
            *n += 1;
            *n
        };
        let q = query(&target);
        let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let slow = Duration::from_millis(num("slow_ms"));
        tokio::time::sleep(latency + slow).await;
        let (status, extra, text) = if u64::from(attempt) <= num("drop") {
            state.in_flight.fetch_sub(1, Ordering::SeqCst);
            return; // close without answering
        } else if u64::from(attempt) <= num("fail") {
            let code = num("code").max(100) as u16;
            let ra = q
                .get("retry_after")
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            (
                code,
                ra,
                format!("{{\"error\": \"failing on purpose ({attempt})\"}}"),
            )
        } else if num("malformed") > 0 {
            (200, String::new(), "<html>not json".to_string())
        } else if target.starts_with("/batch") {
            let items: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
            let mut out: Vec<serde_json::Value> = items
                .iter()
                .map(|it| {
                    let id = it.get("id").cloned().unwrap_or(serde_json::Value::Null);
                    let score = id.as_i64().map(|i| i * 2);
                    serde_json::json!({"id": id, "score": score})
                })
                .collect();
            if q.contains_key("reverse") {
                out.reverse();
            }
            (
                200,
                String::new(),
                serde_json::Value::Array(out).to_string(),
            )
        } else {
            let id = q.get("id").cloned().unwrap_or_default();
            let idv = id
                .parse::<i64>()
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::String(id.clone()));
            let score = id.parse::<i64>().ok().map(|i| i * 2);
            let v = serde_json::json!({
                "id": idv, "score": score, "data": {"email": q.get("email")},
                "method": method, "body": String::from_utf8_lossy(&body),
            });
            (200, String::new(), v.to_string())
        };
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut text = text;
        let size = num("size") as usize;
        if size > text.len() + 10 && text.ends_with('}') {
            text.pop();
            let pad = size - text.len() - 10;
            text.push_str(&format!(",\"pad\":\"{}\"}}", "x".repeat(pad)));
        }
        let resp = if num("chunked") > 0 {
            let mut r = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n{extra}\r\n"
            );
            for chunk in text.as_bytes().chunks(4096) {
                r.push_str(&format!("{:x}\r\n", chunk.len()));
                r.push_str(std::str::from_utf8(chunk).unwrap_or(""));
                r.push_str("\r\n");
            }
            r.push_str("0\r\n\r\n");
            r
        } else {
            format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{text}",
                text.len()
            )
        };
        if w.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}
