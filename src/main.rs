//! The `rowflow` command: parses arguments, wires Ctrl-C, renders progress and the
//! summary. All the work happens in the library.

// The binary prints and exits; the library may not (Cargo.toml [lints]).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod cli;

// Rows are allocated on worker threads and freed on the sink thread; mimalloc handles
// that pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// mimalloc's own options (C API; `mi_option_t` is a C enum).
unsafe extern "C" {
    fn mi_version() -> std::ffi::c_int;
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc 3 holds memory freed by the program for a second (`purge_delay`, 1000 ms)
/// before it gives it back to the OS. Rows are freed by the tens of thousands every few
/// milliseconds, so a second's worth stays resident. 50 ms measured (1M workload rows
/// into SQLite, farm-bench, 7 pairs): peak RSS 73 MB instead of 87 at 1.015x the wall;
/// 10 ms cost 7%.
fn return_freed_memory_sooner() {
    // `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (include/mimalloc.h).
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    // MIMALLOC_PURGE_DELAY, when set, is the user's choice and mimalloc's to read.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: both functions take plain integers; mimalloc reads its options on every
    // use, so setting one at any time is allowed. The option's number is checked
    // against the major version it was read from.
    unsafe {
        if mi_version() / 10000 == 3 {
            mi_option_set(MI_OPTION_PURGE_DELAY, 50);
        }
    }
}

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
    return_freed_memory_sooner();
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
