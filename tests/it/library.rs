//! The library API: user async functions with bounded concurrency, rejects, order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rowflow::{AsyncOptions, DataType, Pipeline, SinkSpec, SourceSpec};
use rusqlite::types::Value as Sql;

use crate::harness::query;

/// A pipeline from `n.csv` (one int column `n`: 0, 1, ... `rows - 1`) into table `t`
/// of `n.db` in `dir`, in batches of 100; and the database's path.
fn numbers(
    dir: &std::path::Path,
    rows: u64,
    sink: impl FnOnce(&mut SinkSpec),
) -> (rowflow::PipelineSpec, std::path::PathBuf) {
    let csv = dir.join("n.csv");
    let mut body = String::from("n\n");
    for i in 0..rows {
        body.push_str(&format!("{i}\n"));
    }
    std::fs::write(&csv, body).unwrap();
    let db = dir.join("n.db");
    let mut spec = SinkSpec::new(format!("sqlite://{}", db.display()), "t");
    sink(&mut spec);
    let mut source = SourceSpec::paths([csv.to_string_lossy().into_owned()]);
    source.schema.insert("n".into(), "int".into());
    let mut spec = Pipeline::new(source, spec).spec().clone();
    spec.runtime.batch_rows = 100;
    (spec, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stage_keeps_concurrency_bound_order_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spec, db) = numbers(dir.path(), 2000, |s| s.commit_rows = Some(300));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    spec.errors.reject_file = Some(dir.path().join("rej.csv"));
    let report = Pipeline::from_spec(spec)
        .map_async(
            AsyncOptions::new("slow_square")
                .concurrency(8)
                .add_column("sq", DataType::Int),
            move |mut rec| {
                let (f, p) = (f.clone(), p.clone());
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    let n = rec.get_i64("n").unwrap_or_default();
                    // Later rows finish sooner, so order has to be restored.
                    tokio::time::sleep(Duration::from_micros(((2000 - n) % 7) as u64 * 300)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    if n % 500 == 7 {
                        return Err(format!("n = {n} is unlucky"));
                    }
                    if n % 2 == 1 {
                        return Ok(None);
                    }
                    rec.set("sq", n * n).map_err(|e| e.to_string())?;
                    Ok(Some(rec))
                }
            },
        )
        .run()
        .await
        .unwrap();
    assert!(
        peak.load(Ordering::SeqCst) <= 8,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert!(peak.load(Ordering::SeqCst) >= 2, "ran concurrently");
    assert_eq!(report.rows_read, 2000);
    assert_eq!(report.rows_written, 1000);
    assert_eq!(report.rows_rejected, 4);
    assert_eq!(report.rows_filtered, 996);
    let rows = query(&db, "SELECT n, sq FROM t ORDER BY rowid LIMIT 3");
    assert_eq!(
        rows,
        vec![
            vec![Sql::Integer(0), Sql::Integer(0)],
            vec![Sql::Integer(2), Sql::Integer(4)],
            vec![Sql::Integer(4), Sql::Integer(16)]
        ]
    );
    let ordered = query(
        &db,
        "SELECT count(*) FROM t a JOIN t b ON b.rowid = a.rowid + 1 WHERE b.n < a.n",
    );
    assert_eq!(ordered, vec![vec![Sql::Integer(0)]], "input order kept");
    let rej = std::fs::read_to_string(dir.path().join("rej.csv")).unwrap();
    assert!(rej.contains("slow_square: n = 507 is unlucky"), "{rej}");
    assert!(rej.contains("507,509,"), "line of n=507 is 509: {rej}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unordered_async_stage_lets_fast_rows_pass_and_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("n.csv");
    let mut body = String::from("n\n");
    for i in 0..600 {
        body.push_str(&format!("{i}\n"));
    }
    std::fs::write(&csv, body).unwrap();
    let db = dir.path().join("n.db");
    let mut source = SourceSpec::paths([csv.to_string_lossy().into_owned()]);
    source.schema.insert("n".into(), "int".into());
    let mut spec = Pipeline::new(
        source,
        SinkSpec::new(format!("sqlite://{}", db.display()), "t"),
    )
    .spec()
    .clone();
    spec.runtime.batch_rows = 200;
    let report = Pipeline::from_spec(spec)
        .map_async(
            AsyncOptions::new("jitter").concurrency(16).ordered(false),
            |rec| async move {
                // Every tenth row is slow: the rows after it finish first.
                let n = rec.get_i64("n").unwrap_or_default();
                let ms = if n % 10 == 0 { 20 } else { 1 };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, String>(Some(rec))
            },
        )
        .run()
        .await
        .unwrap();
    assert_eq!(report.rows_written, 600);
    assert_eq!(
        query(&db, "SELECT count(DISTINCT n), sum(n) FROM t"),
        vec![vec![Sql::Integer(600), Sql::Integer(599 * 600 / 2)]],
        "every row exactly once"
    );
    let inversions = query(
        &db,
        "SELECT count(*) FROM t a JOIN t b ON b.rowid = a.rowid + 1 WHERE b.n < a.n",
    );
    assert_ne!(
        inversions,
        vec![vec![Sql::Integer(0)]],
        "with ordered(false) slow rows do not hold back the fast ones"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_stage_from_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let mock = crate::mock_http::Mock::start(Duration::from_millis(2));
    let csv = dir.path().join("n.csv");
    std::fs::write(&csv, "id,email\n1,a@x.io\n2,b@y.io\n3,c@z.io\n").unwrap();
    let db = dir.path().join("n.db");
    let report = Pipeline::new(
        SourceSpec::paths([csv.to_string_lossy().into_owned()]),
        SinkSpec::new(format!("sqlite://{}", db.display()), "t"),
    )
    .http(
        rowflow::config::HttpSpec::get(mock.url("/api?id={id}&email={email}"))
            .name("score")
            .concurrency(2)
            .field("score", "/score", "int")
            .field("echo", "/data/email", "text"),
    )
    .run()
    .await
    .unwrap();
    assert_eq!(report.rows_written, 3);
    assert_eq!(report.http[0].requests, 3);
    assert_eq!(
        query(&db, "SELECT id, score, echo FROM t ORDER BY id"),
        vec![
            vec![Sql::Integer(1), Sql::Integer(2), Sql::Text("a@x.io".into())],
            vec![Sql::Integer(2), Sql::Integer(4), Sql::Text("b@y.io".into())],
            vec![Sql::Integer(3), Sql::Integer(6), Sql::Text("c@z.io".into())],
        ]
    );
}

/// Collects every progress snapshot.
struct Snapshots(std::sync::Mutex<Vec<rowflow::Snapshot>>);

impl rowflow::Observer for Snapshots {
    fn progress(&self, s: &rowflow::Snapshot) {
        self.0.lock().unwrap().push(s.clone());
    }
}

/// Progress counts the rows held in an open transaction (read, handed to the sink, not
/// committed) apart from the written ones; committed rows leave that count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_shows_uncommitted_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = numbers(dir.path(), 3000, |s| {
        s.key = vec!["n".into()];
        s.commit_rows = Some(1500);
    });
    let seen = Arc::new(Snapshots(std::sync::Mutex::new(Vec::new())));
    let report = Pipeline::from_spec(spec)
        .map_async(AsyncOptions::new("slow").concurrency(4), |rec| async move {
            // About 1.5 s in all: several snapshots (every 200 ms) see open transactions.
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok::<_, String>(Some(rec))
        })
        .run_with(seen.clone(), Box::pin(std::future::pending()))
        .await
        .unwrap();
    assert_eq!(report.rows_written, 3000);
    let seen = seen.0.lock().unwrap();
    assert!(
        seen.iter().any(|s| s.rows_uncommitted > 0),
        "no snapshot saw an open transaction: {seen:?}"
    );
    for s in seen.iter() {
        assert!(
            s.rows_written + s.rows_uncommitted <= s.rows_read,
            "more written and held than read: {s:?}"
        );
    }
    // After the first commit the invariant above checks that committed rows left the
    // uncommitted count.
    assert!(
        seen.iter().any(|s| s.rows_written > 0),
        "no snapshot after the first commit: {seen:?}"
    );
}
