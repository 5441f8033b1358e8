//! The one integration test binary: runs the real `rowflow` binary (and the library) on
//! fixture files and reads the real databases back (SQLite files, and the PostgreSQL and
//! MariaDB servers on the machine).

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

mod cli;
mod crash;
mod csv_edge;
mod db;
mod debug_guard;
mod dialect;
mod distributed;
mod first_hour;
mod formats;
mod harness;
mod http;
mod library;
mod mock_http;
mod property;
mod remote;
mod sinks;
mod trust;
mod workload;
