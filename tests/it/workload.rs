//! The example pipeline (the standard workload) checked against checksums computed
//! independently from the CSV, the way `bench/verify.py` does.

use std::collections::HashSet;
use std::path::Path;

use crate::harness::{query, root, rowflow};

#[derive(Debug, Default, PartialEq)]
pub(crate) struct Sums {
    rows: i64,
    sum_id: i64,
    sum_visits: i64,
    n_domains: i64,
    sum_age: i64,
    sum_spend_cents: i64,
    n_gold: i64,
    n_silver: i64,
    n_bronze: i64,
    sum_len_notes: i64,
    sum_len_name_email: i64,
    sum_epoch: i64,
}

/// Plain Rust over the CSV: integer cents, string slicing, no rowflow code.
pub(crate) fn expected(csv_path: &Path) -> Sums {
    let mut s = Sums::default();
    let mut domains = HashSet::new();
    let mut rdr = csv::Reader::from_path(csv_path).unwrap();
    for rec in rdr.records() {
        let r = rec.unwrap();
        s.rows += 1;
        s.sum_id += r[0].parse::<i64>().unwrap();
        s.sum_visits += r[9].parse::<i64>().unwrap();
        let email = r[3].trim_matches(' ').to_lowercase();
        domains.insert(email.split_once('@').unwrap().1.to_string());
        let b = &r[4];
        let (y, m, d): (i64, i64, i64) = (
            b[0..4].parse().unwrap(),
            b[5..7].parse().unwrap(),
            b[8..10].parse().unwrap(),
        );
        s.sum_age += (20260101 - (y * 10000 + m * 100 + d)) / 10000;
        let (whole, frac) = r[8].split_once('.').unwrap();
        let cents = whole.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap();
        let annual = cents * 12;
        s.sum_spend_cents += annual;
        match annual {
            a if a >= 100_000 => s.n_gold += 1,
            a if a >= 20_000 => s.n_silver += 1,
            _ => s.n_bronze += 1,
        }
        s.sum_len_notes += r[10].chars().count() as i64;
        s.sum_len_name_email +=
            (r[1].chars().count() + 1 + r[2].chars().count() + email.chars().count()) as i64;
        s.sum_epoch += chrono::DateTime::parse_from_rfc3339(&r[5])
            .unwrap()
            .timestamp();
    }
    s.n_domains = domains.len() as i64;
    s
}

const SQLITE_OUT: &str =
    "SELECT count(*), sum(id), sum(visits), count(DISTINCT email_domain), sum(age_years),
 sum(CAST(round(annual_spend*100) AS INTEGER)), sum(tier='gold'), sum(tier='silver'),
 sum(tier='bronze'), sum(length(coalesce(notes,''))), sum(length(full_name)+length(email)),
 sum(unixepoch(signup_ts)) FROM users_out";

pub(crate) fn got(db: &Path) -> Sums {
    let r = &query(db, SQLITE_OUT)[0];
    let v: Vec<i64> = r
        .iter()
        .map(|x| match x {
            rusqlite::types::Value::Integer(i) => *i,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    Sums {
        rows: v[0],
        sum_id: v[1],
        sum_visits: v[2],
        n_domains: v[3],
        sum_age: v[4],
        sum_spend_cents: v[5],
        n_gold: v[6],
        n_silver: v[7],
        n_bronze: v[8],
        sum_len_notes: v[9],
        sum_len_name_email: v[10],
        sum_epoch: v[11],
    }
}

fn run_example(csv: &Path, dir: &Path) -> Sums {
    let db = dir.join("users.db");
    let pipeline = root().join("examples/users/pipeline.toml");
    let run = rowflow(
        dir,
        &[
            "run",
            pipeline.to_str().unwrap(),
            "--set",
            &format!("source.path={}", csv.display()),
            "--set",
            &format!("sink.url=sqlite://{}", db.display()),
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let j = run.json();
    assert_eq!(j["rows_rejected"], 0, "{j}");
    assert_eq!(j["rows_written"], j["rows_read"]);
    got(&db)
}

#[test]
fn example_pipeline_passes_the_workload_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let csv = root().join("examples/users/users.csv");
    let exp = expected(&csv);
    assert_eq!(exp.rows, 1000);
    assert_eq!(run_example(&csv, dir.path()), exp);
}

#[test]
fn generated_workload_passes_the_checksums() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("gen.csv");
    rowflow::generate::users(70_000, 42, std::fs::File::create(&csv).unwrap()).unwrap();
    let exp = expected(&csv);
    assert_eq!(
        exp.rows, 70_000,
        "more rows than one sort run: the spill and merge path"
    );
    assert_eq!(run_example(&csv, dir.path()), exp);
}
