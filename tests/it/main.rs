//! The one integration test binary: runs the real `rowflow` binary (and the library) on
//! fixture files and reads the real SQLite databases back.

mod cli;
mod csv_edge;
mod harness;
mod library;
mod property;
mod workload;
