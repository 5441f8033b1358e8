//! The commands of loads past one process: `submit`, `worker`, `status`, `wait`,
//! `cancel`, `retry`, `rejects` (NATS JetStream), and `run --shard` (see `run`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rowflow::distributed::{self, DEFAULT_NATS, status::LoadStatus};
use rowflow::format::thousands;

use super::{fail, runtime};

/// Where NATS is.
#[derive(Debug, Clone, clap::Args)]
pub struct NatsArgs {
    /// The NATS server (with JetStream); several: comma-separated. Default: $ROWFLOW_NATS,
    /// else nats://127.0.0.1:4222.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
}

impl NatsArgs {
    fn url(&self) -> String {
        self.nats
            .clone()
            .or_else(|| std::env::var("ROWFLOW_NATS").ok())
            .unwrap_or_else(|| DEFAULT_NATS.to_string())
    }
}

#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The pipeline file (TOML).
    pipeline: PathBuf,
    #[command(flatten)]
    nats: NatsArgs,
    /// Override a setting of the file: `--set source.path=big.csv`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Split plain files into chunks of about this size (256MiB, 64MB, ...); compressed
    /// files and remote objects are one chunk each.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    chunk_size: String,
    /// Seconds without a heartbeat before a chunk is given to another worker.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    ack_wait: f64,
    /// Deliveries of a chunk before it is failed.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_deliver: u32,
    /// Submit even though an earlier load of this pipeline into this table did not
    /// complete (cancelled, or failed chunks): its committed rows may be loaded twice.
    #[arg(long)]
    force: bool,
    /// Print the load as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn submit(a: SubmitArgs) -> i32 {
    let chunk_bytes = match distributed::parse_size(&a.chunk_size) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    if !(a.ack_wait.is_finite() && (0.5..=86_400.0).contains(&a.ack_wait)) || a.max_deliver == 0 {
        return fail("--ack-wait must be 0.5 to 86400 seconds and --max-deliver at least 1");
    }
    let opts = distributed::submit::SubmitOptions {
        overrides: a.set.clone(),
        chunk_bytes,
        ack_wait: Duration::from_secs_f64(a.ack_wait),
        max_deliver: a.max_deliver,
        force: a.force,
        ..distributed::submit::SubmitOptions::new(a.nats.url())
    };
    let rt = match runtime(2) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let quiet = a.json;
    let r = rt.block_on(distributed::submit::submit(&a.pipeline, &opts, &mut |n| {
        if !quiet {
            eprintln!("rowflow: {n}");
        }
    }));
    match r {
        Ok(s) => {
            if a.json {
                println!(
                    "{}",
                    serde_json::json!({"load": s.load, "chunks": s.chunks, "bytes": s.bytes})
                );
            } else {
                eprintln!(
                    "rowflow: submitted {} chunks ({} bytes); start workers with `rowflow worker --load {}`, \
                     follow with `rowflow status {}` or `rowflow wait {}`",
                    s.chunks,
                    thousands(s.bytes),
                    s.load,
                    s.load,
                    s.load
                );
                println!("{}", s.load);
            }
            0
        }
        Err(e) => fail(e),
    }
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    nats: NatsArgs,
    /// Work on this load only, and exit once it is finished (by default: every load
    /// with chunks left, until stopped with SIGTERM or Ctrl-C).
    #[arg(long, value_name = "ID")]
    load: Option<String>,
    /// Chunks loaded at once.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    concurrency: u16,
}

pub fn worker(a: WorkerArgs) -> i32 {
    let rt = match runtime(2) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    let quiet = super::quiet();
    rt.spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if !quiet {
            eprintln!("rowflow worker: stopping (the chunks in progress commit and are released)");
        }
        let _ = tx.send(true);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!(
            "rowflow worker: stopped again; exiting at once (chunks resume from their last commit)"
        );
        std::process::exit(2);
    });
    let events: distributed::worker::Events = Arc::new(move |line: &str| {
        if !quiet {
            eprintln!("rowflow worker: {}", rowflow::redact::redact_text(line));
        }
    });
    let opts = distributed::worker::WorkerOptions {
        nats: a.nats.url(),
        load: a.load,
        concurrency: a.concurrency as usize,
    };
    match rt.block_on(distributed::worker::work(opts, events, rx)) {
        Ok(s) => {
            if !quiet {
                eprintln!(
                    "rowflow worker: {} chunks done ({} rows written), {} failed, {} released",
                    s.done,
                    thousands(s.rows_written),
                    s.failed,
                    s.released
                );
            }
            0
        }
        Err(e) => fail(e),
    }
}

#[derive(Debug, clap::Args)]
pub struct LoadIdArgs {
    /// The load's id (printed by `submit`).
    load: String,
    #[command(flatten)]
    nats: NatsArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn print_status(s: &LoadStatus, json: bool, chunks: bool) {
    if json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
        return;
    }
    let c = s.counts;
    println!(
        "load {} ({} into {} table {:?}), submitted {}{}",
        s.load,
        s.name,
        s.target,
        s.table,
        s.submitted,
        if s.cancelled { ", CANCELLED" } else { "" }
    );
    println!(
        "  chunks: {} pending, {} running, {} done, {} failed; rows: {} read, {} written, {} filtered, {} rejected; {} rows/s{}{}",
        c.pending,
        c.running,
        c.done,
        c.failed,
        thousands(s.rows.read),
        thousands(s.rows.written),
        thousands(s.rows.filtered),
        thousands(s.rows.rejected),
        thousands(s.rows_per_s as u64),
        s.eta_s
            .map(|e| format!(", ETA {}s", e.round() as u64))
            .unwrap_or_default(),
        if s.published {
            ""
        } else {
            " (NOT ALL CHUNKS PUBLISHED: submit still running, or stopped half-way)"
        }
    );
    if chunks {
        for c in &s.chunks {
            if c.state == "done" && c.error.is_none() {
                continue;
            }
            println!(
                "  chunk {} {}: {}{}{}",
                c.chunk,
                c.state,
                c.input,
                if c.worker.is_empty() {
                    String::new()
                } else {
                    format!(" (worker {}, delivery {})", c.worker, c.delivery)
                },
                c.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        }
    }
}

pub fn status(a: LoadIdArgs) -> i32 {
    let rt = match runtime(1) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match rt.block_on(distributed::status::status(&a.nats.url(), &a.load)) {
        Ok(s) => {
            print_status(&s, a.json, true);
            0
        }
        Err(e) => fail(e),
    }
}

pub fn wait(a: LoadIdArgs) -> i32 {
    let rt = match runtime(1) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let json = a.json;
    let mut last = std::time::Instant::now();
    let r = rt.block_on(distributed::status::wait(
        &a.nats.url(),
        &a.load,
        Duration::from_millis(500),
        &mut |s| {
            if !json && last.elapsed() >= Duration::from_secs(10) {
                last = std::time::Instant::now();
                let c = s.counts;
                eprintln!(
                    "rowflow wait: {} of {} chunks done ({} pending, {} running, {} failed), {} rows written",
                    c.done,
                    s.chunks.len(),
                    c.pending,
                    c.running,
                    c.failed,
                    thousands(s.rows.written)
                );
            }
        },
    ));
    match r {
        Ok(s) => {
            print_status(&s, json, true);
            s.exit_code()
        }
        Err(e) => fail(e),
    }
}

pub fn cancel(a: LoadIdArgs) -> i32 {
    let rt = match runtime(1) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match rt.block_on(distributed::status::cancel(&a.nats.url(), &a.load)) {
        Ok(s) => {
            eprintln!(
                "rowflow: load {} cancelled: chunks not started are dropped; running ones stop after their next commit (committed rows stay)",
                a.load
            );
            print_status(&s, a.json, false);
            0
        }
        Err(e) => fail(e),
    }
}

pub fn retry(a: LoadIdArgs) -> i32 {
    let rt = match runtime(1) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match rt.block_on(distributed::status::retry(&a.nats.url(), &a.load)) {
        Ok(n) => {
            if a.json {
                println!("{}", serde_json::json!({"load": a.load, "requeued": n}));
            } else {
                eprintln!(
                    "rowflow: {n} chunk{} of load {} requeued (each resumes from its last commit)",
                    if n == 1 { "" } else { "s" },
                    a.load
                );
            }
            0
        }
        Err(e) => fail(e),
    }
}

#[derive(Debug, clap::Args)]
pub struct RejectsArgs {
    /// The load's id.
    load: String,
    #[command(flatten)]
    nats: NatsArgs,
    /// Write the reject CSV here (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn rejects(a: RejectsArgs) -> i32 {
    let rt = match runtime(1) {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    if let Some(p) = &a.output
        && let Err(why) = replaceable(p)
    {
        return fail(why);
    }
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => return fail(format!("{}: {e}", p.display())),
        },
        None => Box::new(std::io::stdout().lock()),
    };
    match rt.block_on(distributed::status::rejects(
        &a.nats.url(),
        &a.load,
        &mut out,
    )) {
        Ok(n) => {
            eprintln!("rowflow: {n} rejected rows of load {}", a.load);
            0
        }
        Err(e) => fail(e),
    }
}

/// Whether `path` may be written: missing, empty, or an earlier reject file (its first
/// line ends with `_line,_error`); anything else (an input, a database) is not replaced.
fn replaceable(path: &std::path::Path) -> Result<(), String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_file() {
        return Err(format!("{} exists and is not a file", path.display()));
    }
    let mut head = String::new();
    let first = std::fs::File::open(path)
        .and_then(|f| {
            std::io::BufRead::read_line(&mut std::io::BufReader::new(f).take(1 << 20), &mut head)
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if first == 0 || head.trim_end().ends_with("_line,_error") {
        return Ok(());
    }
    Err(format!(
        "{} exists and is not a reject file (its first line does not end with `_line,_error`): \
         rowflow replaces only reject files; choose another --output",
        path.display()
    ))
}
