//! The `rowflow` command: parses arguments, wires Ctrl-C, renders progress and the
//! summary. All the work happens in the library.

mod cli;

// Rows are allocated on worker threads and freed on the sink thread; mimalloc handles
// that pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
