//! Measures how fast the expression evaluator runs the standard workload's computed
//! columns on one core (used by `bench/run.sh`; not a test), and, in the same run, the
//! same six computations written by hand in plain Rust over the same values: the ratio
//! of the two is the evaluator's cost on this machine today, whatever its speed.
//!
//! `cargo run --release --example expr_throughput [ROWS]`

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

use std::time::Instant;

use chrono::Datelike;
use rust_decimal::prelude::ToPrimitive;

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
    let at = |n: &str| schema.index_of(n).expect("a workload column");
    let cols = Cols {
        first_name: at("first_name"),
        last_name: at("last_name"),
        email: at("email"),
        birthdate: at("birthdate"),
        monthly_spend: at("monthly_spend"),
    };
    // The hand-written version computes what the evaluator does, value for value.
    for row in rows.iter().take(10_000) {
        let mut a = row.clone();
        let mut b = row.clone();
        for (target, e) in &compiled {
            let v = e.eval(&a).expect("no row errors");
            match target {
                Some(i) => a[*i] = v,
                None => a.push(v),
            }
        }
        by_hand(&mut b, &cols);
        assert_eq!(
            a, b,
            "the hand-written computations differ from the evaluator's"
        );
    }
    // Alternating, three times each; the best of each counts (the least disturbed).
    let mut evaluator = f64::MAX;
    let mut hand = f64::MAX;
    for _ in 0..3 {
        evaluator = evaluator.min(time(total, &mut rows, base, |row| {
            for (target, e) in &compiled {
                let v = e.eval(row).expect("no row errors in the workload");
                match target {
                    Some(i) => row[*i] = v,
                    None => row.push(v),
                }
            }
        }));
        hand = hand.min(time(total, &mut rows, base, |row| by_hand(row, &cols)));
    }
    println!(
        "{:.0} rows/s ({} expressions per row, {} rows, {:.3} s, {:.0} ns per row); by hand in \
         plain Rust {:.0} rows/s ({:.0} ns per row): the evaluator at {:.0}% of hand-written",
        total as f64 / evaluator,
        EXPRS.len(),
        total,
        evaluator,
        evaluator * 1e9 / total as f64,
        total as f64 / hand,
        hand * 1e9 / total as f64,
        100.0 * hand / evaluator
    );
}

/// Where the hand-written computations find their inputs.
struct Cols {
    first_name: usize,
    last_name: usize,
    email: usize,
    birthdate: usize,
    monthly_spend: usize,
}

/// The six computed columns of the workload, written by hand (the same NULL rules).
fn by_hand(row: &mut Vec<Value>, c: &Cols) {
    let full_name = match (&row[c.first_name], &row[c.last_name]) {
        (Value::Text(f), Value::Text(l)) => {
            let mut s = String::with_capacity(f.len() + 1 + l.len());
            s.push_str(f);
            s.push(' ');
            s.push_str(l);
            Value::Text(s)
        }
        _ => Value::Null,
    };
    row.push(full_name);
    if let Value::Text(e) = &row[c.email] {
        row[c.email] = Value::Text(e.trim().to_lowercase());
    }
    let domain = match &row[c.email] {
        Value::Text(e) => Value::Text(e.split('@').nth(1).unwrap_or("").to_string()),
        _ => Value::Null,
    };
    row.push(domain);
    let age = match &row[c.birthdate] {
        Value::Date(b) => {
            let on = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
            let mut years = on.year() - b.year();
            if (on.month(), on.day()) < (b.month(), b.day()) {
                years -= 1;
            }
            Value::Int(i64::from(years))
        }
        _ => Value::Null,
    };
    row.push(age);
    let annual = match &row[c.monthly_spend] {
        Value::Decimal(d) => (d * rust_decimal::Decimal::from(12))
            .to_f64()
            .map_or(Value::Null, Value::Float),
        _ => Value::Null,
    };
    let tier = match annual {
        Value::Float(a) if a >= 1000.0 => Value::Text("gold".into()),
        Value::Float(a) if a >= 200.0 => Value::Text("silver".into()),
        _ => Value::Text("bronze".into()),
    };
    row.push(annual);
    row.push(tier);
}

/// Seconds to run `f` over `total` rows (the rows reused in turn; each put back).
fn time(
    total: usize,
    rows: &mut [Vec<Value>],
    base: usize,
    mut f: impl FnMut(&mut Vec<Value>),
) -> f64 {
    let start = Instant::now();
    let mut done = 0usize;
    while done < total {
        for row in rows.iter_mut() {
            if done == total {
                break;
            }
            f(row);
            row.truncate(base);
            done += 1;
        }
    }
    start.elapsed().as_secs_f64()
}
