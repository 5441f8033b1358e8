//! Command-line interface: one module per subcommand, progress and summary rendering.
//! The only place that prints.

mod check;
mod checkpoints;
mod distributed;
mod generate;
mod load;
mod preview;
mod progress;
mod run;
mod schema;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Stream CSV files into a database: typed, transformed, every row accounted for.
#[derive(Debug, Parser)]
#[command(name = "rowflow", version = env!("ROWFLOW_VERSION"), about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Say more: -v the plan's decisions (types, dialect, resume, batch and commit
    /// sizes), -vv every commit and HTTP retry. RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// No progress and no notes: errors and the summary only.
    #[arg(short, long, global = true)]
    quiet: bool,
}

/// `-q` was given (see [`Cli`]).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// How many `-v` were given.
static VERBOSE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// How many `-v` were given.
pub fn verbose() -> u8 {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Log the library's `tracing` events on stderr: `RUST_LOG` when set, else by `-v`
/// (none without it: the notes and the progress say what a user needs).
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => EnvFilter::new(s),
        _ => EnvFilter::new(match (quiet, verbose) {
            (true, _) | (false, 0) => "off",
            (false, 1) => "rowflow=info",
            (false, 2) => "rowflow=debug",
            _ => "rowflow=trace",
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .try_init();
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a pipeline file.
    Run(run::RunArgs),
    /// Load CSV files into a table in one line: infer, create, load.
    Load(Box<load::LoadArgs>),
    /// Validate a pipeline: print the plan and schemas, write nothing.
    Check(check::CheckArgs),
    /// Run a pipeline on its first rows and show the results; write nothing.
    Preview(preview::PreviewArgs),
    /// List the loads the checkpoint table records (or clear them: `checkpoints clear`).
    Checkpoints(checkpoints::CheckpointsArgs),
    /// Print a CSV file's inferred schema as a TOML block to paste into a pipeline.
    Schema(schema::SchemaArgs),
    /// Generate the deterministic `users` workload CSV.
    Generate(generate::GenerateArgs),
    /// Plan a load once and publish its chunks to NATS JetStream for workers to take.
    Submit(distributed::SubmitArgs),
    /// Take chunks of distributed loads from NATS and load them.
    Worker(distributed::WorkerArgs),
    /// A distributed load's chunks and rows (`--json` for scripts).
    Status(distributed::LoadIdArgs),
    /// Wait until a distributed load is finished; exit 0 all written, 1 rejects, 2 failed chunks.
    Wait(distributed::LoadIdArgs),
    /// Stop a distributed load (running chunks stop after their next commit).
    Cancel(distributed::LoadIdArgs),
    /// Requeue a distributed load's failed chunks.
    Retry(distributed::LoadIdArgs),
    /// Write a distributed load's rejected rows (kept in the target database) as a reject CSV.
    Rejects(distributed::RejectsArgs),
    /// Print a shell completion script: bash, zsh, fish, powershell or elvish.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one per command into a directory.
    Man(ManArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write rowflow.1 and rowflow-COMMAND.1 for every command into this directory
    /// (default: print rowflow.1 on standard output).
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

/// `rowflow completions SHELL`.
fn completions(a: CompletionsArgs) -> i32 {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "rowflow", &mut std::io::stdout());
    0
}

/// `rowflow man [--dir DIR]`.
fn man(a: ManArgs) -> i32 {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let Some(dir) = a.dir else {
        return match clap_mangen::Man::new(cmd).render(&mut std::io::stdout()) {
            Ok(()) => 0,
            Err(e) => fail(format!("writing the manual page: {e}")),
        };
    };
    let write = |name: &str, c: clap::Command| -> std::io::Result<()> {
        let mut out = Vec::new();
        clap_mangen::Man::new(c).render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.1")), out)
    };
    let mut done = vec![];
    let result = std::fs::create_dir_all(&dir).and_then(|()| {
        write("rowflow", cmd.clone())?;
        done.push("rowflow.1".to_string());
        for sub in cmd.get_subcommands() {
            let name = format!("rowflow-{}", sub.get_name());
            write(&name, sub.clone().name(name.clone()))?;
            done.push(format!("{name}.1"));
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            eprintln!(
                "rowflow: wrote {} manual pages into {} (read one with `man {}`)",
                done.len(),
                dir.display(),
                dir.join("rowflow.1").display()
            );
            0
        }
        Err(e) => fail(format!("writing manual pages into {}: {e}", dir.display())),
    }
}

/// Output options shared by commands that run a pipeline.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Start from the beginning even if an earlier run over the same input was
    /// interrupted (by default it is resumed from its checkpoint).
    #[arg(long)]
    pub restart: bool,
    /// When another run of the same load is in progress, wait for it to end (by default
    /// this run is refused, naming the other).
    #[arg(long)]
    pub wait: bool,
    /// Load at most N rows and stop: a partial load, never taken for a complete one
    /// (the next run goes on after them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    VERBOSE.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    init_logging(cli.verbose, cli.quiet);
    let code = match cli.command {
        Command::Run(a) => run::run(a),
        // `--compute` and `--where` run in the order given: the matches know it.
        Command::Load(a) => load::run(*a, matches.subcommand_matches("load")),
        Command::Check(a) => check::run(a),
        Command::Preview(a) => preview::run(a),
        Command::Checkpoints(a) => checkpoints::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Submit(a) => distributed::submit(a),
        Command::Worker(a) => distributed::worker(a),
        Command::Status(a) => distributed::status(a),
        Command::Wait(a) => distributed::wait(a),
        Command::Cancel(a) => distributed::cancel(a),
        Command::Retry(a) => distributed::retry(a),
        Command::Rejects(a) => distributed::rejects(a),
        Command::Completions(a) => completions(a),
        Command::Man(a) => man(a),
    };
    ExitCode::from(code as u8)
}

/// Print a fatal error the way every command does, and return exit code 2.
pub fn fail(e: impl std::fmt::Display) -> i32 {
    eprintln!(
        "error: {}",
        words(&rowflow::redact::redact_text(&e.to_string()))
    );
    2
}

/// Messages speak of pipeline keys; `rowflow load` users know flags instead.
static LOAD_FLAGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, say `load`'s flags where messages name the pipeline keys they set.
pub fn speak_load_flags() {
    LOAD_FLAGS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `message` in the words of the command that runs (see [`speak_load_flags`]).
pub fn words(message: &str) -> String {
    if !LOAD_FLAGS.load(std::sync::atomic::Ordering::Relaxed) {
        return message.to_string();
    }
    // Longest first: a key that another contains is replaced after it.
    const FLAGS: [(&str, &str); 17] = [
        ("set has_header = false", "use --no-header"),
        ("set has_header = true", "use --header"),
        ("source.has_header = false", "--no-header"),
        ("source.has_header = true", "--header"),
        ("has_header = true", "--header"),
        ("has_header = false", "--no-header"),
        ("source.union_by_name = true", "--union-by-name"),
        ("set sink.alter = true", "use --alter"),
        ("sink.alter = true", "--alter"),
        ("source.null_values", "--null"),
        ("source.delimiter", "--delimiter"),
        ("source.encoding", "--encoding"),
        ("source.timezone", "--timezone"),
        ("source.skip_rows", "--skip"),
        ("sink.url", "--into"),
        ("sink.key", "--key"),
        ("source.schema.", "--type "),
    ];
    let mut out = message.to_string();
    for (key, flag) in FLAGS {
        out = out.replace(key, flag);
    }
    out
}

/// A multi-thread runtime with `threads` async threads (`runtime.async_threads`; CPU
/// stages run on its blocking pool, sized to the machine). Its threads run at a slightly
/// lower priority than the sink thread, which is the critical path of a load: when every
/// core is busy, the scheduler then keeps the database writer running.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .thread_name("rowflow-worker")
        .on_thread_start(|| {
            #[cfg(target_os = "linux")]
            // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the calling
            // thread's nice value on Linux; lowering priority needs no privilege, and a
            // failure is harmless (ignored).
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 5);
            }
        })
        .build()
}
