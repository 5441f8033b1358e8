//! The `rowflow` command: parses arguments, wires Ctrl-C, renders progress and the
//! summary. All the work happens in the library.

// The binary prints and exits; the library may not (Cargo.toml [lints]).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod cli;

// Rows are allocated on worker threads and freed on the sink thread; mimalloc handles
// that pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // No transparent huge pages: mimalloc returns freed pages to the OS in small pieces,
    // and with huge pages every reuse faults in (and the kernel zeroes) a whole 2 MiB
    // page. Measured: up to half of the CPU time of an HTTP-bound run went to that.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_THP_DISABLE) only sets a flag on this process's memory
    // descriptor; it takes no pointers, and a failure (old kernel) is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    // `rowflow ... | head` ends quietly when the reader goes away, as command-line tools
    // do, instead of panicking on a write to a closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The C libraries inside (SQLite, zstd) allocate with the system's malloc, which
    // reserves 64 MiB of address space for every thread that does: with one arena for
    // them all, the process stays far below a virtual-memory limit (`ulimit -v`).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the C allocator; called before any
    // thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    cli::main()
}
