//! Measures how fast the expression evaluator runs the standard workload's computed
//! columns on one core (used by `bench/run.sh`; not a test).
//!
//! `cargo run --release --example expr_throughput [ROWS]`

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::time::Instant;

use rowflow::expr::{CompiledExpr, ExprContext};
use rowflow::schema::{Column, DataType, Schema, parse_value};
use rowflow::{Value, generate};

const EXPRS: &[(&str, &str)] = &[
    ("full_name", "first_name || ' ' || last_name"),
    ("email", "lower(trim(email))"),
    ("email_domain", "split_part(email, '@', 2)"),
    (
        "age_years",
        "date_part('year', age(date '2026-01-01', birthdate))::int",
    ),
    (
        "annual_spend",
        "CAST(monthly_spend * 12 AS double precision)",
    ),
    (
        "tier",
        "CASE WHEN annual_spend >= 1000 THEN 'gold' WHEN annual_spend >= 200 THEN 'silver' ELSE 'bronze' END",
    ),
];

fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let distinct = total.min(200_000);
    let mut csv = Vec::new();
    generate::users(distinct as u64, 1, &mut csv).expect("generate");
    let types = [
        DataType::Int,
        DataType::Text,
        DataType::Text,
        DataType::Text,
        DataType::Date,
        DataType::Timestamp,
        DataType::Text,
        DataType::Text,
        DataType::Decimal,
        DataType::Int,
        DataType::Text,
    ];
    let mut rdr = csv::Reader::from_reader(&csv[..]);
    let names: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let mut rows: Vec<Vec<Value>> = rdr
        .records()
        .map(|r| {
            let r = r.expect("record");
            r.iter()
                .zip(types)
                .map(|(f, t)| {
                    if f.is_empty() {
                        Value::Null
                    } else {
                        parse_value(f, t).expect("typed")
                    }
                })
                .collect()
        })
        .collect();
    let ctx = ExprContext::from_clock();
    let mut schema = Schema::new(names.into_iter().zip(types));
    let mut compiled = Vec::new();
    for (name, sql) in EXPRS {
        let e = CompiledExpr::compile(sql, &schema, &ctx).expect("compiles");
        let target = schema.index_of(name);
        if target.is_none() {
            schema.columns.push(Column::new(*name, e.data_type()));
        }
        compiled.push((target, e));
    }
    let base = types.len();
    let start = Instant::now();
    let mut done = 0usize;
    while done < total {
        for row in rows.iter_mut() {
            if done == total {
                break;
            }
            for (target, e) in &compiled {
                let v = e.eval(row).expect("no row errors in the workload");
                match target {
                    Some(i) => row[*i] = v,
                    None => row.push(v),
                }
            }
            row.truncate(base);
            done += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.0} rows/s ({} expressions per row, {} rows, {:.3} s, {:.0} ns per row)",
        total as f64 / secs,
        EXPRS.len(),
        total,
        secs,
        secs * 1e9 / total as f64
    );
}
