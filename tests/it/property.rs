//! Property: any table written with the `csv` crate loads into SQLite with identical
//! values (NULL for empty fields, every other value exactly as typed): numbers that
//! need more precision than a double, numbers out of its range and numbers with
//! leading zeros included.

use proptest::prelude::*;
use rusqlite::types::Value as Sql;

use rowflow::{Pipeline, SinkSpec, SourceSpec};

#[derive(Debug, Clone)]
enum Col {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
    /// Exact values stored as text: long decimals, dates, timestamps, and numbers that
    /// must stay text (leading zeros, too many digits, out of a double's range).
    Exact(Vec<Option<String>>),
}

/// A plain decimal with 16 to 28 significant digits: too precise for a double, so
/// inferred as decimal and stored (by SQLite) as its exact text.
fn long_decimal() -> impl Strategy<Value = String> {
    (16usize..=28, any::<bool>(), "[1-9]", "[0-9]{27}").prop_flat_map(|(n, neg, first, rest)| {
        // At least one decimal place: a long integer that fits 64 bits is an int.
        (1..=n).prop_map(move |scale| {
            let digits = format!("{first}{}", &rest[..n - 1]);
            let (int, frac) = digits.split_at(n - scale);
            let int = if int.is_empty() { "0" } else { int };
            let sign = if neg { "-" } else { "" };
            if frac.is_empty() {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            }
        })
    })
}

/// Numbers that fit no numeric type without loss, so they must stay text.
fn numeric_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "0[0-9]{1,6}",                      // leading zeros: zip codes, account numbers
        "-?[1-9][0-9]{29,40}",              // more digits than i64, f64 or a decimal hold
        "[1-9]\\.[0-9]{1,3}e[4-9][0-9]{2}", // beyond f64's range
        "[1-9]e-[4-9][0-9]{2}",             // below it
        "0\\.[1-9][0-9]{20}[1-9]{9}",       // 31 significant digits
    ]
}

fn date() -> impl Strategy<Value = String> {
    (1i32..=9999, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
}

fn timestamp() -> impl Strategy<Value = String> {
    let offsets = prop_oneof![
        Just("+00:00"),
        Just("+05:30"),
        Just("-08:00"),
        Just("+14:00"),
        Just("-03:30")
    ];
    (date(), 0u32..24, 0u32..60, 0u32..60, offsets)
        .prop_map(|(d, h, mi, s, o)| format!("{d}T{h:02}:{mi:02}:{s:02}{o}"))
}

fn text_value() -> impl Strategy<Value = String> {
    // At least one letter so the column is text, plus the characters that need quoting.
    (
        "[a-zA-Z]",
        proptest::collection::vec(
            prop_oneof![
                Just(",".to_string()),
                Just("\"".to_string()),
                Just("\n".to_string()),
                Just("\r\n".to_string()),
                Just(" ".to_string()),
                Just("'".to_string()),
                Just("é".to_string()),
                Just("名".to_string()),
                Just("🚀".to_string()),
                "[ -~]{0,5}",
            ],
            0..6,
        ),
    )
        .prop_map(|(a, rest)| format!("{a}{}", rest.concat()))
}

fn column(rows: usize) -> impl Strategy<Value = Col> {
    prop_oneof![
        proptest::collection::vec(proptest::option::weighted(0.9, any::<i64>()), rows)
            .prop_map(Col::Int),
        proptest::collection::vec(proptest::option::weighted(0.9, -1e300f64..1e300), rows)
            .prop_map(Col::Float),
        proptest::collection::vec(proptest::option::weighted(0.9, text_value()), rows)
            .prop_map(Col::Text),
        proptest::collection::vec(proptest::option::weighted(0.9, any::<bool>()), rows)
            .prop_map(Col::Bool),
        proptest::collection::vec(proptest::option::weighted(0.9, long_decimal()), rows)
            .prop_map(Col::Exact),
        proptest::collection::vec(proptest::option::weighted(0.9, numeric_text()), rows)
            .prop_map(Col::Exact),
        proptest::collection::vec(proptest::option::weighted(0.9, date()), rows)
            .prop_map(Col::Exact),
        proptest::collection::vec(proptest::option::weighted(0.9, timestamp()), rows)
            .prop_map(Col::Exact),
    ]
}

fn table() -> impl Strategy<Value = (Vec<String>, Vec<Col>)> {
    // At least two columns: for a one-column record the csv crate writes an empty field
    // as `""` (an empty string), so NULL is not representable there.
    (1usize..30, 2usize..6).prop_flat_map(|(rows, cols)| {
        (
            proptest::collection::vec("[a-zA-Z _\"é]{1,8}", cols),
            proptest::collection::vec(column(rows), cols),
        )
    })
}

fn cell(c: &Col, r: usize) -> String {
    match c {
        Col::Int(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
        Col::Float(v) => v[r].map(|x| format!("{x:?}")).unwrap_or_default(),
        Col::Text(v) | Col::Exact(v) => v[r].clone().unwrap_or_default(),
        Col::Bool(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
    }
}

fn expected(c: &Col, r: usize) -> Sql {
    match c {
        Col::Int(v) => v[r].map_or(Sql::Null, Sql::Integer),
        Col::Float(v) => v[r].map_or(Sql::Null, Sql::Real),
        Col::Text(v) | Col::Exact(v) => v[r].clone().map_or(Sql::Null, Sql::Text),
        Col::Bool(v) => v[r].map_or(Sql::Null, |b| Sql::Integer(b as i64)),
    }
}

fn rows_of(c: &Col) -> usize {
    match c {
        Col::Int(v) => v.len(),
        Col::Float(v) => v.len(),
        Col::Text(v) | Col::Exact(v) => v.len(),
        Col::Bool(v) => v.len(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn csv_crate_tables_round_trip_through_sqlite((names, cols) in table()) {
        let rows = rows_of(&cols[0]);
        // Distinct names: the property is about values (name handling is tested elsewhere).
        let names: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{n}{i}")).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        {
            let mut w = csv::Writer::from_path(&path).unwrap();
            w.write_record(&names).unwrap();
            for r in 0..rows {
                let rec: Vec<String> = cols.iter().map(|c| cell(c, r)).collect();
                w.write_record(&rec).unwrap();
            }
            w.flush().unwrap();
        }
        let db = dir.path().join("t.db");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut source = SourceSpec::paths([path.to_string_lossy().into_owned()]);
        source.has_header = Some(true);
        let report = rt.block_on(
            Pipeline::new(source, SinkSpec::new(format!("sqlite://{}", db.display()), "t")).run(),
        ).unwrap();
        let expected_rows: Vec<Vec<Sql>> = (0..rows)
            .map(|r| cols.iter().map(|c| expected(c, r)).collect())
            .collect();
        prop_assert_eq!(report.rows_written as usize, expected_rows.len());
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut stmt = conn.prepare("SELECT * FROM t ORDER BY rowid").unwrap();
        let got: Vec<Vec<Sql>> = stmt
            .query_map([], |r| (0..cols.len()).map(|i| r.get::<_, Sql>(i)).collect())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        prop_assert_eq!(got, expected_rows);
    }
}
