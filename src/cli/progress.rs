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
}

fn rate(n: u64, d: Duration) -> u64 {
    let s = d.as_secs_f64();
    if s > 0.0 { (n as f64 / s) as u64 } else { 0 }
}

impl Observer for CliObserver {
    fn progress(&self, s: &Snapshot) {
        let mut msg = format!(
            "{} rows ({} rows/s), {} written",
            thousands(s.rows_read),
            thousands(rate(s.rows_read, s.elapsed)),
            thousands(s.rows_written),
        );
        if s.rows_uncommitted > 0 {
            msg.push_str(&format!(" ({} uncommitted)", thousands(s.rows_uncommitted)));
        }
        msg.push_str(&format!(", {} rejected", thousands(s.rows_rejected)));
        for h in &s.http {
            msg.push_str(&format!(
                "; {}: {} in flight, {} req/s, {} retries",
                h.name,
                h.in_flight,
                thousands(rate(h.requests, s.elapsed)),
                thousands(h.retries)
            ));
        }
        match &self.display {
            Display::Bar(bar) => {
                if let Some(t) = s.bytes_total {
                    bar.set_length(t);
                }
                bar.set_position(s.bytes_read);
                bar.set_message(msg);
            }
            Display::Log { last } => {
                let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    let pct = s
                        .bytes_total
                        .filter(|t| *t > 0)
                        .map(|t| {
                            format!(" ({:.0}% of input)", 100.0 * s.bytes_read as f64 / t as f64)
                        })
                        .unwrap_or_default();
                    eprintln!("rowflow: {msg}{pct}");
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
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Display::Bar(bar)
    } else {
        Display::Log {
            last: Mutex::new(Instant::now()),
        }
    };
    let observer = Arc::new(CliObserver { display });
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
