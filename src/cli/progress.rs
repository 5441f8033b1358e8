//! Progress while a pipeline runs (a bar on a terminal, a log line every few seconds
//! otherwise) and the final summary.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rowflow::format::thousands;
use rowflow::{Observer, Outcome, Pipeline, Report, Snapshot};

use super::{OutputArgs, fail, runtime};

/// Renders progress on stderr.
enum Display {
    Bar(ProgressBar),
    Log { last: Mutex<Instant> },
    Quiet,
}

struct CliObserver {
    display: Display,
    /// Rows done at recent snapshots, for a rate over the last seconds.
    recent: Mutex<std::collections::VecDeque<(Duration, u64)>>,
}

impl CliObserver {
    fn new(display: Display) -> Self {
        CliObserver {
            display,
            recent: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Rows per second over the last `RATE_WINDOW` (since the start before that).
    fn recent_rate(&self, s: &Snapshot) -> f64 {
        const RATE_WINDOW: Duration = Duration::from_secs(5);
        let done = rows_done(s);
        let mut q = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        // (Snapshots of several chunks run one after another may go back in time.)
        if q.back().is_some_and(|(t, d)| *t > s.elapsed || *d > done) {
            q.clear();
        }
        q.push_back((s.elapsed, done));
        while q.len() > 2
            && q.front()
                .is_some_and(|(t, _)| s.elapsed.saturating_sub(*t) > RATE_WINDOW)
        {
            q.pop_front();
        }
        match q.front() {
            Some((t, d)) if s.elapsed > *t => {
                (done - d.min(&done)) as f64 / (s.elapsed - *t).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// Rows finished: written, filtered out or rejected (committed).
fn rows_done(s: &Snapshot) -> u64 {
    s.rows_written + s.rows_filtered + s.rows_rejected
}

/// What the run is doing now, from what the counters say.
fn phase(s: &Snapshot) -> String {
    let in_flight: u64 = s.http.iter().map(|h| h.in_flight).sum();
    let rate_waiting: u64 = s.http.iter().map(|h| h.rate_waiting).sum();
    let all_read = s.bytes_total.is_some_and(|t| t > 0 && s.bytes_read >= t);
    if rate_waiting > in_flight {
        // More requests held back by the rate limit than sent: the limit sets the pace.
        "waiting for API rate limit".into()
    } else if in_flight > 0 {
        format!("enriching, {in_flight} in flight")
    } else if all_read && s.rows_uncommitted > 0 {
        "committing".into()
    } else if s.rows_read == 0 && s.elapsed > Duration::from_secs(1) {
        "starting".into()
    } else {
        "loading".into()
    }
}

/// Rows the input holds: known once it is all read, else estimated from the bytes read
/// (`None` when there is nothing to go on). The flag says it is an estimate.
fn rows_expected(s: &Snapshot) -> Option<(u64, bool)> {
    let total = s.bytes_total.filter(|t| *t > 0)?;
    if s.bytes_read >= total {
        return Some((s.rows_read, false));
    }
    (s.bytes_read > 0 && s.rows_read > 0).then(|| {
        (
            (s.rows_read as f64 * total as f64 / s.bytes_read as f64) as u64,
            true,
        )
    })
}

/// A short count: 950, 3.2k, 36k, 4.56M, 12.3M.
fn short(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..10_000 => format!("{:.1}k", n as f64 / 1e3),
        10_000..1_000_000 => format!("{}k", n / 1_000),
        1_000_000..10_000_000 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `d` as `1h02m`, `3m05s` or `42s`.
fn short_time(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// The progress line: phase, rows done of those expected, the recent rate, the ETA and
/// the rejects, in at most `width` characters (the least important parts dropped first).
fn progress_line(s: &Snapshot, rate: f64, width: usize) -> String {
    let done = rows_done(s);
    let expected = rows_expected(s);
    let of = match expected {
        Some((n, true)) => format!("/~{}", short(n.max(done))),
        Some((n, false)) => format!("/{}", short(n.max(done))),
        None => String::new(),
    };
    let eta = match expected {
        Some((n, _)) if rate > 0.0 && n > done => {
            format!(", ETA {}", short_time((n - done) as f64 / rate))
        }
        _ => String::new(),
    };
    // In order of importance: a part that does not fit is left out.
    let mut parts = vec![
        format!("{}: {}{of} rows", phase(s), short(done)),
        format!(", {}/s", short(rate as u64)),
    ];
    if s.rows_rejected > 0 {
        parts.push(format!(", {} rejected", short(s.rows_rejected)));
    }
    parts.push(eta);
    if s.rows_uncommitted > 0 {
        parts.push(format!(", {} uncommitted", short(s.rows_uncommitted)));
    }
    let mut line = String::new();
    for p in parts {
        if line.chars().count() + p.chars().count() <= width {
            line.push_str(&p);
        }
    }
    line
}

impl Observer for CliObserver {
    fn progress(&self, s: &Snapshot) {
        let rate = self.recent_rate(s);
        match &self.display {
            Display::Bar(bar) => {
                // The bar follows rows done against rows expected (bytes until a rate
                // is known), so it is not full while rows are still being enriched or
                // committed. The line fits the terminal (80 columns when unknown).
                let width = super::preview::terminal_width().unwrap_or(80);
                match rows_expected(s) {
                    Some((n, _)) => {
                        bar.set_length(n.max(rows_done(s)).max(1));
                        bar.set_position(rows_done(s));
                    }
                    None => bar.set_length(0),
                }
                bar.set_message(progress_line(s, rate, width.saturating_sub(13)));
            }
            Display::Log { last } => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    let mut line = progress_line(s, rate, usize::MAX);
                    for h in &s.http {
                        line.push_str(&format!(
                            "; http {}: {} requests, {} retries",
                            h.name,
                            thousands(h.requests),
                            thousands(h.retries)
                        ));
                    }
                    eprintln!("rowflow: {line}");
                }
            }
            Display::Quiet => {}
        }
    }

    fn note(&self, note: &str) {
        match &self.display {
            Display::Bar(bar) => bar.println(format!("note: {}", super::words(note))),
            Display::Log { .. } => eprintln!("rowflow: note: {}", super::words(note)),
            Display::Quiet => {}
        }
    }
}

/// A future that completes on Ctrl-C or SIGTERM; a second Ctrl-C exits at once. The
/// handlers are installed now (inside the runtime), so a signal that arrives while the
/// pipeline is still being planned is not lost.
fn stop_signal(rt: &tokio::runtime::Runtime) -> rowflow::StopSignal {
    let _guard = rt.enter();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        if let (Ok(mut int), Ok(mut term)) = (int, term) {
            return Box::pin(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                tokio::spawn(async move {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    // Exit 2, as every interrupted run: the open transaction is rolled
                    // back by the database and the next run resumes from the last commit.
                    eprintln!(
                        "rowflow: interrupted again; exiting at once without committing (the next run \
                         resumes from the last commit)"
                    );
                    std::process::exit(2);
                });
            });
        }
    }
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Run a pipeline with progress and print its summary; returns the exit code.
pub fn run_and_report(pipeline: Pipeline, out: &OutputArgs) -> i32 {
    let threads = pipeline.spec().runtime.async_threads;
    let (restart, wait, limit) = (out.restart, out.wait, out.limit);
    drive(threads, out, move |obs, stop| {
        Box::pin(
            pipeline
                .restart(restart)
                .wait(wait)
                .limit(limit)
                .run_with(obs, stop),
        )
    })
}

/// Run share `shard` of a pipeline's chunks (`run --shard`), reported as one run.
pub fn run_shard_and_report(
    pipeline: Pipeline,
    shard: rowflow::distributed::shard::Shard,
    chunk_bytes: u64,
    out: &OutputArgs,
) -> i32 {
    let threads = pipeline.spec().runtime.async_threads;
    let spec = pipeline.spec().clone();
    drive(threads, out, move |obs, stop| {
        Box::pin(rowflow::distributed::shard::run_shard(
            spec,
            shard,
            chunk_bytes,
            obs,
            stop,
        ))
    })
}

type RunFuture = std::pin::Pin<Box<dyn std::future::Future<Output = rowflow::Result<Report>>>>;

/// Run what `start` starts with progress and print its summary; returns the exit code.
fn drive(
    threads: usize,
    out: &OutputArgs,
    start: impl FnOnce(Arc<dyn Observer>, rowflow::StopSignal) -> RunFuture,
) -> i32 {
    let started = Instant::now();
    let display = if super::quiet() {
        Display::Quiet
    } else if std::io::stderr().is_terminal() && super::verbose() == 0 {
        // (With -v the log lines would tear a bar: plain progress lines instead.)
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(5));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {bar:10} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Display::Bar(bar)
    } else {
        Display::Log {
            last: Mutex::new(Instant::now()),
        }
    };
    let observer = Arc::new(CliObserver::new(display));
    let rt = match runtime(threads) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let obs: Arc<dyn Observer> = observer.clone();
    let stop = stop_signal(&rt);
    let result = rt.block_on(start(obs, stop));
    if let Display::Bar(bar) = &observer.display {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => {
            if out.json {
                println!("{}", report.to_json());
            } else {
                print_summary(&report);
            }
            report.exit_code()
        }
        Err(e) => {
            if out.json {
                // The same keys as a run's summary: nothing was read or written.
                println!(
                    "{}",
                    serde_json::json!({
                        "status": if matches!(e, rowflow::Error::Interrupted(_)) { "interrupted" } else { "failed" },
                        "error": rowflow::redact::redact_text(&e.to_string()), "exit_code": 2,
                        "rows_read": 0, "rows_written": 0, "rows_filtered": 0,
                        "rows_rejected": 0, "rows_rolled_back": 0,
                        "elapsed_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
                    })
                );
            }
            fail(e)
        }
    }
}

fn print_summary(r: &Report) {
    if let Outcome::Skipped(reason) = &r.outcome {
        println!("rowflow: skipped: {reason}");
        println!("  into {} table {:?}", r.target, r.table);
        return;
    }
    let status = match &r.outcome {
        Outcome::Completed => "completed",
        Outcome::Interrupted => "interrupted",
        Outcome::Limited(_) => "stopped at the limit",
        Outcome::Failed(_) => "FAILED",
        Outcome::Skipped(_) => "skipped",
    };
    println!(
        "rowflow: {status} in {:.2} s: {} read, {} written, {} filtered, {} rejected ({} rows/s)",
        r.elapsed.as_secs_f64(),
        rowflow::format::plural(r.rows_read, "row"),
        thousands(r.rows_written),
        thousands(r.rows_filtered),
        thousands(r.rows_rejected),
        thousands(r.rows_per_sec() as u64),
    );
    println!("  into {} table {:?}", r.target, r.table);
    if let Some(n) = &r.note {
        println!("  {n}");
    }
    if r.already_committed > 0 {
        println!(
            "  {} rows were committed by an earlier run of this load",
            thousands(r.already_committed)
        );
    }
    if r.rejected_before > 0 {
        println!(
            "  {} rows rejected by the earlier run(s) of this load are in the reject file too",
            thousands(r.rejected_before)
        );
    }
    for h in &r.http {
        println!(
            "  http {}: {} requests ({} retries, {} from the cache), {} 2xx, {} 3xx, {} 4xx, {} 5xx, {} failed; \
             latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
            h.name,
            thousands(h.requests),
            thousands(h.retries),
            thousands(h.cache_hits),
            thousands(h.status_2xx),
            thousands(h.status_3xx),
            thousands(h.status_4xx),
            thousands(h.status_5xx),
            thousands(h.failed),
            h.latency_ms[0],
            h.latency_ms[1],
            h.latency_ms[2]
        );
    }
    if let Some(p) = &r.reject_file {
        println!("  rejected rows: {}", p.display());
    } else if r.rows_rejected > 0 {
        println!("  rejected rows were skipped (on_error = \"skip\")");
    }
    for e in &r.first_rejects {
        println!("    {e}");
    }
    if r.rows_rejected as usize > r.first_rejects.len() && !r.first_rejects.is_empty() {
        println!("    ...");
    }
    match &r.outcome {
        Outcome::Failed(e) => {
            eprintln!("error: {}", rowflow::redact::redact_text(&e.to_string()));
            if r.rows_rolled_back > 0 {
                eprintln!(
                    "  {} rows were rolled back (not written)",
                    thousands(r.rows_rolled_back)
                );
            }
            if r.rows_not_processed > 0 {
                eprintln!(
                    "  {} rows read were not processed; they are left for a resumed run",
                    thousands(r.rows_not_processed)
                );
            }
        }
        Outcome::Interrupted => {
            eprintln!(
                "rowflow: interrupted; what is above is committed, with a checkpoint. Run the same \
                 command again to resume where it stopped (or add --restart to start over)."
            );
        }
        Outcome::Limited(n) => {
            eprintln!(
                "rowflow: stopped after {} (--limit {n}); they are committed. The load is not \
                 complete: run the same command again to go on after them (with --limit, the \
                 next {n}), or add --restart to start over.",
                rowflow::format::plural(*n, "row"),
            );
        }
        Outcome::Completed | Outcome::Skipped(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(read: u64, bytes: u64, total: u64, written: u64, uncommitted: u64) -> Snapshot {
        Snapshot {
            bytes_read: bytes,
            bytes_total: Some(total),
            rows_read: read,
            rows_written: written,
            rows_filtered: 0,
            rows_rejected: 0,
            rows_uncommitted: uncommitted,
            elapsed: Duration::from_secs(10),
            http: Vec::new(),
        }
    }

    /// Each phase's line, as a user sees it at 80 columns (the spinner and bar take 13).
    #[test]
    fn the_line_in_each_phase_fits_80_columns() {
        let at80 = |s: &Snapshot, rate: f64| progress_line(s, rate, 80 - 13);
        // Loading: a quarter of the bytes read, the total rows an estimate.
        let loading = snap(250_000, 25_000_000, 100_000_000, 200_000, 50_000);
        assert_eq!(
            at80(&loading, 40_000.0),
            "loading: 200k/~1.00M rows, 40k/s, ETA 20s, 50k uncommitted"
        );
        // Every byte read, rows still held in the open transaction: committing, and
        // the total is known (no ~).
        let committing = snap(1_000_000, 100_000_000, 100_000_000, 0, 1_000_000);
        assert_eq!(
            at80(&committing, 0.0),
            "committing: 0/1.00M rows, 0/s, 1.00M uncommitted"
        );
        // Enriching: requests in flight, rows read but not done.
        let mut enriching = snap(100_000, 100_000_000, 100_000_000, 36_000, 0);
        enriching.http.push(rowflow::report::HttpSnapshot {
            name: "api".into(),
            in_flight: 64,
            ..Default::default()
        });
        enriching.rows_rejected = 12;
        assert_eq!(
            at80(&enriching, 3_200.0),
            "enriching, 64 in flight: 36k/100k rows, 3.2k/s, 12 rejected",
            "the ETA does not fit 80 columns here"
        );
        assert_eq!(
            progress_line(&enriching, 3_200.0, 100),
            "enriching, 64 in flight: 36k/100k rows, 3.2k/s, 12 rejected, ETA 20s"
        );
        // More requests waiting for the rate limit than in flight: the limit sets the pace.
        let mut limited = enriching.clone();
        limited.http[0].in_flight = 3;
        limited.http[0].rate_waiting = 61;
        assert_eq!(
            at80(&limited, 50.0),
            "waiting for API rate limit: 36k/100k rows, 50/s, 12 rejected"
        );
        for s in [&loading, &committing, &enriching, &limited] {
            assert!(at80(s, 123_456.0).chars().count() <= 67);
            // A narrow terminal leaves out the least important parts, never the phase.
            let narrow = progress_line(s, 123_456.0, 45);
            assert!(narrow.chars().count() <= 45, "{narrow}");
            assert!(narrow.contains(": "), "{narrow}");
        }
        // Snapshots that go back (the chunks of `run --shard`, one after another).
        let obs = CliObserver::new(Display::Quiet);
        let mut a = snap(10, 10, 100, 10, 0);
        a.elapsed = Duration::from_secs(9);
        assert_eq!(obs.recent_rate(&a), 0.0);
        a.elapsed = Duration::from_secs(10);
        a.rows_written = 20;
        assert_eq!(obs.recent_rate(&a), 10.0);
        a.elapsed = Duration::from_secs(1);
        a.rows_written = 5;
        assert_eq!(obs.recent_rate(&a), 0.0, "no overflow, a fresh start");
        assert_eq!(short_time(3725.0), "1h02m");
        assert_eq!(short_time(185.0), "3m05s");
    }
}
