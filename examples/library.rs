//! Using rowflow as a library: SQL computed columns plus a Rust `async fn` per row (the
//! `process_row` of the usual asyncio script), with a concurrency limit.
//!
//! Run with `cargo run --example library`. It writes `users.csv` and `library.db` into
//! a temporary directory and prints what it loaded.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::time::Duration;

use rowflow::{AsyncOptions, DataType, Pipeline, SinkSpec, SourceSpec, WriteMode};

/// Stands in for a slow HTTP call: a "risk score" for an e-mail domain.
async fn score_domain(domain: &str) -> Result<i64, String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if domain.is_empty() {
        return Err("no domain".into());
    }
    Ok(domain.bytes().map(i64::from).sum::<i64>() % 100)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("rowflow-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join("users.csv");
    rowflow::generate::users(2_000, 7, std::fs::File::create(&csv)?)?;
    let db = dir.join("library.db");

    let mut sink = SinkSpec::new(format!("sqlite://{}", db.display()), "scored");
    sink.mode = WriteMode::Replace;
    sink.key = vec!["id".into()];

    let report = Pipeline::new(SourceSpec::paths([csv.display().to_string()]), sink)
        .compute("email", "lower(trim(email))")
        .compute("domain", "split_part(email, '@', 2)")
        .map_async(
            AsyncOptions::new("score_domain")
                .concurrency(64)
                .add_column("risk", DataType::Int),
            |mut rec| async move {
                let domain = rec.get_str("domain").unwrap_or_default().to_string();
                let risk = score_domain(&domain).await?;
                rec.set("risk", risk)?;
                // Returning Ok(None) would drop the row (counted as filtered).
                Ok::<_, String>(Some(rec))
            },
        )
        .filter("risk < 90")
        .run()
        .await?;

    println!(
        "{} rows read: {} written, {} filtered, {} rejected in {:.2} s",
        report.rows_read,
        report.rows_written,
        report.rows_filtered,
        report.rows_rejected,
        report.elapsed.as_secs_f64()
    );
    println!("table `scored` in {}", db.display());
    assert_eq!(
        report.rows_read,
        report.rows_written + report.rows_filtered + report.rows_rejected
    );
    Ok(())
}
