//! The `rowflow` command: parses arguments, wires Ctrl-C, renders progress and the
//! summary. All the work happens in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
