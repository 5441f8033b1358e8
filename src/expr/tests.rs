//! Tests of the expression compiler and evaluator, through the public API.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;

use super::*;
use crate::schema::Column;

fn ctx() -> ExprContext {
    ExprContext::new(DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap())
}

fn schema() -> Schema {
    use DataType::*;
    Schema::new(
        [
            ("first_name", Text),
            ("last_name", Text),
            ("email", Text),
            ("birthdate", Date),
            ("monthly_spend", Decimal),
            ("visits", Int),
            ("score", Float),
            ("active", Bool),
            ("signup", Timestamp),
            ("note", Text),
            ("annual_spend", Float),
            ("First Name", Text),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t)),
    )
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn ts(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn row() -> Vec<Value> {
    vec![
        text("Ada"),
        text("Lovelace"),
        text("  Ada.Lovelace@Example.COM "),
        Value::Date(date("2000-01-02")),
        Value::Decimal(dec("16.66")),
        Value::Int(42),
        Value::Float(2.5),
        Value::Bool(true),
        Value::Timestamp(ts("2021-03-04T05:06:07+05:30")),
        Value::Null,
        Value::Float(199.92),
        text("Grace"),
    ]
}

fn compile(sql: &str) -> CompiledExpr {
    CompiledExpr::compile(sql, &schema(), &ctx()).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Evaluate against the default row.
fn ev(sql: &str) -> Value {
    ev_row(sql, &row())
}

fn ev_row(sql: &str, r: &[Value]) -> Value {
    compile(sql)
        .eval(r)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn plan_err(sql: &str) -> ExprError {
    match CompiledExpr::compile(sql, &schema(), &ctx()) {
        Ok(e) => panic!("{sql}: expected a plan error, compiled to {:?}", e.node),
        Err(e) => e,
    }
}

fn row_err(sql: &str) -> EvalError {
    match compile(sql).eval(&row()) {
        Ok(v) => panic!("{sql}: expected a row error, got {v:?}"),
        Err(e) => e,
    }
}

fn ty(sql: &str) -> DataType {
    compile(sql).data_type()
}

// ----- the standard workload -----------------------------------------------------------

#[test]
fn workload_expressions() {
    assert_eq!(ev("first_name || ' ' || last_name"), text("Ada Lovelace"));
    assert_eq!(ev("lower(trim(email))"), text("ada.lovelace@example.com"));
    assert_eq!(
        ev("split_part(lower(trim(email)), '@', 2)"),
        text("example.com")
    );
    assert_eq!(ev("split_part(email, '@', 2)"), text("Example.COM "));
    let age = "date_part('year', age(date '2026-01-01', birthdate))::int";
    assert_eq!(ty(age), DataType::Int);
    assert_eq!(ev(age), Value::Int(25));
    let mut r = row();
    r[3] = Value::Date(date("2000-01-01"));
    assert_eq!(ev_row(age, &r), Value::Int(26));
    r[3] = Value::Null;
    assert_eq!(ev_row(age, &r), Value::Null);

    let annual = "CAST(monthly_spend * 12 AS double precision)";
    assert_eq!(ty(annual), DataType::Float);
    let tier = "CASE WHEN annual_spend >= 1000 THEN 'gold' WHEN annual_spend >= 200 THEN 'silver' ELSE 'bronze' END";
    assert_eq!(ty(tier), DataType::Text);
    for (monthly, annual_v, tier_v) in [
        ("16.66", 199.92, "bronze"),
        ("16.67", 200.04, "silver"),
        ("83.34", 1000.08, "gold"),
    ] {
        let mut r = row();
        r[4] = Value::Decimal(dec(monthly));
        let a = ev_row(annual, &r);
        assert_eq!(a, Value::Float(annual_v), "{monthly}");
        assert_eq!(
            ev_row("monthly_spend * 12", &r),
            Value::Decimal(dec(&annual_v.to_string()))
        );
        r[10] = a;
        assert_eq!(ev_row(tier, &r), text(tier_v), "{monthly}");
    }
}

// ----- columns -------------------------------------------------------------------------

#[test]
fn column_resolution() {
    assert_eq!(ev("EMAIL"), ev("email"));
    assert_eq!(ev("Visits"), Value::Int(42));
    assert_eq!(ev("\"First Name\""), text("Grace"));
    assert_eq!(ev("t.visits"), Value::Int(42));

    let e = plan_err("lower(emial)");
    assert_eq!(
        e.to_string(),
        "unknown column \"emial\" in expression `lower(emial)` (did you mean \"email\"?) (at character 7)"
    );
    assert_eq!(e.column.as_deref(), Some("emial"));
    assert_eq!((e.line, e.col), (Some(1), Some(7)));
    assert_eq!(e.expr, "lower(emial)");

    // Quoted names match exactly.
    let e = plan_err("\"Email\"");
    assert!(e.message.contains("did you mean \"email\""), "{e}");

    // A case-insensitive match that is not unique is an error.
    let s = Schema::new([
        ("Email".to_string(), DataType::Text),
        ("EMAIL".to_string(), DataType::Text),
    ]);
    let e = CompiledExpr::compile("lower(email)", &s, &ctx()).unwrap_err();
    assert!(e.message.contains("ambiguous"), "{e}");
    assert!(CompiledExpr::compile("lower(\"Email\")", &s, &ctx()).is_ok());
    assert!(CompiledExpr::compile("lower(EMAIL)", &s, &ctx()).is_ok());

    let e = plan_err("zzzzzz + 1");
    assert!(e.message.contains("columns: \"first_name\""), "{e}");
}

// ----- NULL ----------------------------------------------------------------------------

#[test]
fn null_propagation() {
    assert_eq!(ev("note || 'x'"), Value::Null);
    assert_eq!(ev("concat(note, 'x', visits)"), text("x42"));
    assert_eq!(ev("upper(note)"), Value::Null);
    assert_eq!(ev("length(note)"), Value::Null);
    assert_eq!(ev("visits + NULL"), Value::Null);
    assert_eq!(ev("split_part(note, '@', 1)"), Value::Null);
    assert_eq!(ev("substr(first_name, NULL)"), Value::Null);
    assert_eq!(ev("note IS NULL"), Value::Bool(true));
    assert_eq!(ev("visits IS NOT NULL"), Value::Bool(true));
    assert_eq!(ev("upper(note) IS NULL"), Value::Bool(true));
    assert_eq!(ev("note = 'a'"), Value::Null);
    assert_eq!(ev("NOT (note = 'a')"), Value::Null);
    assert_eq!(ev("(note = 'a') AND false"), Value::Bool(false));
    assert_eq!(ev("(note = 'a') AND true"), Value::Null);
    assert_eq!(ev("(note = 'a') OR true"), Value::Bool(true));
    assert_eq!(ev("(note = 'a') OR false"), Value::Null);
    assert_eq!(ev("coalesce(note, first_name)"), text("Ada"));
    assert_eq!(ev("coalesce(note, NULL)"), Value::Null);
    assert_eq!(ty("NULL"), DataType::Text);
    assert_eq!(ev("NULL"), Value::Null);
    assert_eq!(ty("coalesce(NULL, visits)"), DataType::Int);
}

// ----- arithmetic ----------------------------------------------------------------------

#[test]
fn integer_arithmetic() {
    assert_eq!(ev("visits / 5"), Value::Int(8));
    assert_eq!(ev("-visits / 5"), Value::Int(-8));
    assert_eq!(ev("7 / 2"), Value::Int(3));
    assert_eq!(ev("-7 / 2"), Value::Int(-3));
    assert_eq!(ev("visits % 5"), Value::Int(2));
    assert_eq!(ev("-7 % 3"), Value::Int(-1));
    assert_eq!(ev("visits * 2 - 4 + 1"), Value::Int(81));
    assert_eq!(ev("-visits"), Value::Int(-42));
    assert_eq!(row_err("visits / 0").message, "division by zero");
    assert_eq!(row_err("visits % 0").message, "division by zero");
    assert_eq!(row_err("1 / 0").message, "division by zero");
    assert_eq!(
        row_err("visits + 9223372036854775807").message,
        "integer overflow"
    );
    assert_eq!(
        row_err("visits * 9223372036854775807").message,
        "integer overflow"
    );
    assert_eq!(
        row_err("-9223372036854775807 - visits").message,
        "integer overflow"
    );
    assert_eq!(row_err("score / 0").message, "division by zero");
    assert_eq!(row_err("monthly_spend / 0").message, "division by zero");
}

#[test]
fn mixed_numeric_arithmetic() {
    assert_eq!(ty("visits + 1.5"), DataType::Decimal);
    assert_eq!(ev("visits + 1.5"), Value::Decimal(dec("43.5")));
    assert_eq!(ev("visits + score"), Value::Float(44.5));
    assert_eq!(ev("monthly_spend * 12"), Value::Decimal(dec("199.92")));
    assert_eq!(ty("monthly_spend + score"), DataType::Float);
    assert_eq!(ev("monthly_spend + 0.34"), Value::Decimal(dec("17.00")));
    assert_eq!(ev("visits / 4.0"), Value::Decimal(dec("10.5")));
    assert_eq!(ev("7.5 % 2"), Value::Decimal(dec("1.5")));
    assert_eq!(ev("visits + '8'"), Value::Int(50));
    assert_eq!(ev("1e3"), Value::Decimal(dec("1000")));
    assert_eq!(ev("2 ^ 10"), Value::Float(1024.0));
    assert_eq!(ev("birthdate + 30"), Value::Date(date("2000-02-01")));
    assert_eq!(ev("birthdate - 2"), Value::Date(date("1999-12-31")));
    assert_eq!(ev("date '2026-01-01' - birthdate"), Value::Int(9496));
    let e = plan_err("first_name + 1");
    assert!(
        e.message
            .starts_with("type mismatch in `first_name + 1`: operator + cannot be applied to text"),
        "{e}"
    );
    assert!(e.message.contains("use ||"), "{e}");
    assert!(plan_err("signup + 1").message.contains("intervals"));
}

// ----- comparisons ---------------------------------------------------------------------

#[test]
fn comparisons() {
    assert_eq!(ev("visits > 41.5"), Value::Bool(true));
    assert_eq!(ev("visits = 42.0"), Value::Bool(true));
    assert_eq!(ev("visits <> 42"), Value::Bool(false));
    assert_eq!(ev("visits != 41"), Value::Bool(true));
    assert_eq!(ev("score < visits"), Value::Bool(true));
    assert_eq!(ev("monthly_spend > 16"), Value::Bool(true));
    assert_eq!(ev("monthly_spend <= 16.66"), Value::Bool(true));
    assert_eq!(ev("monthly_spend >= score"), Value::Bool(true));
    assert_eq!(ev("visits > '10'"), Value::Bool(true));
    assert_eq!(ev("first_name < 'Bob'"), Value::Bool(true));
    assert_eq!(ev("first_name = 'Ada'"), Value::Bool(true));
    assert_eq!(ev("active = true"), Value::Bool(true));
    assert_eq!(ev("birthdate < '2001-01-01'"), Value::Bool(true));
    assert_eq!(ev("birthdate = date '2000-01-02'"), Value::Bool(true));
    assert_eq!(ev("signup > date '2021-03-03'"), Value::Bool(true));
    assert_eq!(ev("signup > birthdate"), Value::Bool(true));
    assert_eq!(
        ev("signup = timestamp '2021-03-03 23:36:07+00'"),
        Value::Bool(true)
    );
    assert_eq!(ev("'NaN'::float > score"), Value::Bool(true));

    let e = plan_err("first_name > 5");
    assert!(
        e.message
            .contains("cannot compare text (column \"first_name\") with int"),
        "{e}"
    );
    assert_eq!(e.column.as_deref(), Some("first_name"));
    let e = plan_err("visits > 'abc'");
    assert!(
        e.message.contains("invalid input for type int: \"abc\""),
        "{e}"
    );
    assert!(
        plan_err("birthdate = visits")
            .message
            .contains("cannot compare date")
    );
}

#[test]
fn predicates() {
    assert_eq!(ev("email LIKE '%Example%'"), Value::Bool(true));
    assert_eq!(ev("email LIKE '%example%'"), Value::Bool(false));
    assert_eq!(ev("email ILIKE '%example.com%'"), Value::Bool(true));
    assert_eq!(ev("email NOT ILIKE '%EXAMPLE.COM%'"), Value::Bool(false));
    assert_eq!(ev("first_name LIKE 'A_a'"), Value::Bool(true));
    assert_eq!(ev("first_name NOT LIKE 'B%'"), Value::Bool(true));
    assert_eq!(ev("'50%' LIKE '50!%' ESCAPE '!'"), Value::Bool(true));
    assert_eq!(ev("first_name LIKE last_name"), Value::Bool(false));
    assert_eq!(ev("first_name LIKE first_name || '%'"), Value::Bool(true));
    assert_eq!(ev("note LIKE 'a'"), Value::Null);
    assert_eq!(ev("first_name ~~ 'A%'"), Value::Bool(true));

    assert_eq!(ev("visits BETWEEN 40 AND 50"), Value::Bool(true));
    assert_eq!(ev("visits NOT BETWEEN 40 AND 50"), Value::Bool(false));
    assert_eq!(ev("score BETWEEN 1 AND 2"), Value::Bool(false));
    assert_eq!(
        ev("birthdate BETWEEN '2000-01-01' AND '2000-12-31'"),
        Value::Bool(true)
    );

    assert_eq!(ev("visits IN (1, 42)"), Value::Bool(true));
    assert_eq!(ev("visits IN (1, NULL)"), Value::Null);
    assert_eq!(ev("visits IN (42, NULL)"), Value::Bool(true));
    assert_eq!(ev("visits NOT IN (1, 2)"), Value::Bool(true));
    assert_eq!(ev("visits IN (1.5, 42)"), Value::Bool(true));
    assert_eq!(ev("first_name IN ('Ada', 'Bob')"), Value::Bool(true));
    assert!(
        plan_err("first_name IN (1, 2)")
            .message
            .contains("IN types text and int")
    );

    assert_eq!(ev("note IS DISTINCT FROM NULL"), Value::Bool(false));
    assert_eq!(ev("note IS NOT DISTINCT FROM NULL"), Value::Bool(true));
    assert_eq!(ev("visits IS DISTINCT FROM 42"), Value::Bool(false));
    assert_eq!(ev("visits IS DISTINCT FROM note::int"), Value::Bool(true));
    assert_eq!(ev("active IS TRUE"), Value::Bool(true));
    assert_eq!(ev("active IS NOT FALSE"), Value::Bool(true));
    assert_eq!(ev("(note = 'x') IS UNKNOWN"), Value::Bool(true));
    assert_eq!(ev("(note = 'x') IS FALSE"), Value::Bool(false));
    assert_eq!(ev("NOT active OR visits > 40"), Value::Bool(true));
}

// ----- CASE ----------------------------------------------------------------------------

#[test]
fn case_expressions() {
    assert_eq!(
        ty("CASE WHEN active THEN visits ELSE 1.5 END"),
        DataType::Decimal
    );
    assert_eq!(
        ev("CASE WHEN active THEN visits ELSE 1.5 END"),
        Value::Decimal(dec("42"))
    );
    assert_eq!(
        ty("CASE WHEN active THEN 1 ELSE score END"),
        DataType::Float
    );
    assert_eq!(
        ev("CASE WHEN active THEN 1 ELSE score END"),
        Value::Float(1.0)
    );
    assert_eq!(
        ty("CASE WHEN active THEN birthdate ELSE signup END"),
        DataType::Timestamp
    );
    assert_eq!(
        ev("CASE visits WHEN 41 THEN 'a' WHEN 42 THEN 'b' END"),
        text("b")
    );
    assert_eq!(ev("CASE visits WHEN 1 THEN 'a' END"), Value::Null);
    assert_eq!(ev("CASE WHEN note = 'x' THEN 1 ELSE 2 END"), Value::Int(2));
    assert_eq!(ev("CASE WHEN false THEN 1 / 0 ELSE 3 END"), Value::Int(3));
    assert_eq!(ev("CASE WHEN active THEN NULL ELSE 'x' END"), Value::Null);
    assert_eq!(ty("CASE WHEN active THEN visits END"), DataType::Int);
    let e = plan_err("CASE WHEN active THEN first_name ELSE visits END");
    assert!(
        e.message
            .contains("CASE types text and int cannot be matched"),
        "{e}"
    );
    assert!(
        plan_err("CASE WHEN active THEN 'a' ELSE 1 END")
            .message
            .contains("invalid input for type int")
    );
    assert!(
        plan_err("CASE WHEN visits THEN 1 END")
            .message
            .contains("must be boolean")
    );
}

// ----- casts ---------------------------------------------------------------------------

#[test]
fn casts() {
    assert_eq!(ev("'42'::int"), Value::Int(42));
    assert_eq!(ev("CAST(' 7 ' AS bigint)"), Value::Int(7));
    assert_eq!(ev("score::int"), Value::Int(2), "2.5 rounds half to even");
    assert_eq!(ev("(-score)::int"), Value::Int(-2));
    assert_eq!(ev("2.4::float::int"), Value::Int(2));
    assert_eq!(ev("monthly_spend::int"), Value::Int(17));
    assert_eq!(ev("monthly_spend::integer"), Value::Int(17));
    assert_eq!(
        ev("CAST(monthly_spend AS numeric(12,1))"),
        Value::Decimal(dec("16.7"))
    );
    assert_eq!(ev("CAST(visits AS numeric(12,2))").to_string(), "42.00");
    assert_eq!(
        ev("CAST('12.345' AS numeric(5,2))"),
        Value::Decimal(dec("12.35"))
    );
    assert_eq!(ev("score::numeric"), Value::Decimal(dec("2.5")));
    assert_eq!(ev("visits::double precision"), Value::Float(42.0));
    assert_eq!(ev("visits::float8"), Value::Float(42.0));
    assert_eq!(ev("monthly_spend::real"), Value::Float(16.66));
    assert_eq!(ev("CAST(score AS text)"), text("2.5"));
    assert_eq!(ev("visits::text"), text("42"));
    assert_eq!(ev("monthly_spend::varchar"), text("16.66"));
    assert_eq!(ev("first_name::varchar(2)"), text("Ad"));
    assert_eq!(ev("birthdate::text"), text("2000-01-02"));
    assert_eq!(ev("active::text"), text("true"));
    assert_eq!(ev("1e20::float::text"), text("1e+20"));
    assert_eq!(ev("active::int"), Value::Int(1));
    assert_eq!(ev("0::boolean"), Value::Bool(false));
    assert_eq!(ev("'yes'::bool"), Value::Bool(true));
    assert_eq!(ev("signup::date"), Value::Date(date("2021-03-04")));
    assert_eq!(
        ev("birthdate::timestamp"),
        Value::Timestamp(ts("2000-01-02T00:00:00Z"))
    );
    assert_eq!(
        ev("birthdate::timestamptz"),
        Value::Timestamp(ts("2000-01-02T00:00:00Z"))
    );
    assert_eq!(ev("'2026-01-01'::date"), Value::Date(date("2026-01-01")));
    assert_eq!(
        ev("'2026-01-01 10:00:00+02'::timestamp"),
        Value::Timestamp(ts("2026-01-01T10:00:00+02:00"))
    );
    assert_eq!(
        ev("timestamp '2026-01-01'"),
        Value::Timestamp(ts("2026-01-01T00:00:00Z"))
    );
    assert_eq!(ev("numeric '1.50'").to_string(), "1.50");
    assert_eq!(ev("CAST(NULL AS int)"), Value::Null);
    assert_eq!(ty("CAST(NULL AS int)"), DataType::Int);
    assert_eq!(ev("CAST(visits AS int)"), Value::Int(42));

    // Row-time failures name the value.
    assert_eq!(
        row_err("CAST(email AS int)").message,
        "cannot cast \"  Ada.Lovelace@Example.COM \" to int"
    );
    assert_eq!(
        row_err("first_name::date").message,
        "cannot cast \"Ada\" to date"
    );
    assert_eq!(row_err("1e19::float::int").message, "integer out of range");
    assert!(
        row_err("CAST(1234.5 AS numeric(4,1))")
            .message
            .contains("numeric field overflow")
    );
    assert!(
        row_err("'NaN'::float::numeric")
            .message
            .contains("cannot convert NaN")
    );

    // Plan-time failures.
    assert!(
        plan_err("'abc'::int")
            .message
            .contains("invalid input for type int: \"abc\"")
    );
    assert!(
        plan_err("date '2026-13-01'")
            .message
            .contains("invalid input for type date")
    );
    let e = plan_err("birthdate::int");
    assert!(
        e.message
            .contains("cannot cast date (column \"birthdate\") to int"),
        "{e}"
    );
    assert!(
        plan_err("score::boolean")
            .message
            .contains("cannot cast float")
    );
    assert!(
        plan_err("visits::interval")
            .message
            .contains("unsupported type")
    );
    assert!(
        plan_err("CAST(visits AS numeric(40,2))")
            .message
            .contains("precision")
    );
}

// ----- functions -----------------------------------------------------------------------

#[test]
fn text_functions() {
    assert_eq!(ev("upper(first_name)"), text("ADA"));
    assert_eq!(ev("lower('ÀBÇ')"), text("àbç"));
    assert_eq!(ev("upper('straße')"), text("STRASSE"));
    assert_eq!(ev("initcap('hello wORLD-foo')"), text("Hello World-Foo"));
    assert_eq!(ev("reverse('abé')"), text("éba"));

    assert_eq!(ev("trim(email)"), text("Ada.Lovelace@Example.COM"));
    assert_eq!(ev("trim(both 'x' from 'xxaxx')"), text("a"));
    assert_eq!(ev("trim(leading 'x' from 'xxaxx')"), text("axx"));
    assert_eq!(ev("trim(trailing from '  a  ')"), text("  a"));
    assert_eq!(ev("trim('xyaxy', 'xy')"), text("a"));
    assert_eq!(ev("btrim('xyaxy', 'xy')"), text("a"));
    assert_eq!(ev("ltrim('  a ')"), text("a "));
    assert_eq!(ev("rtrim('  a ')"), text("  a"));
    assert_eq!(ev("ltrim('xxa', 'x')"), text("a"));
    assert_eq!(ev("trim(E'\\ta ')"), text("\ta"));

    assert_eq!(ev("length('héllo')"), Value::Int(5));
    assert_eq!(ev("char_length(first_name)"), Value::Int(3));
    assert_eq!(ev("octet_length('héllo')"), Value::Int(6));

    assert_eq!(ev("substr('hello', 2, 3)"), text("ell"));
    assert_eq!(ev("substr('hello', 2)"), text("ello"));
    assert_eq!(ev("substring('hello' from 2 for 3)"), text("ell"));
    assert_eq!(ev("substring('hello' from 3)"), text("llo"));
    assert_eq!(ev("substring('hello', 0, 2)"), text("h"));
    assert_eq!(ev("substr('héllo', 2, 2)"), text("él"));
    assert_eq!(ev("substr('hello', 10)"), text(""));
    assert_eq!(
        row_err("substr(first_name, 1, -1)").message,
        "negative substring length not allowed"
    );

    assert_eq!(ev("replace('abcabc', 'b', 'X')"), text("aXcaXc"));
    assert_eq!(ev("replace('abc', '', 'X')"), text("abc"));

    assert_eq!(ev("split_part('a,b,c', ',', 2)"), text("b"));
    assert_eq!(ev("split_part('a,b,c', ',', -1)"), text("c"));
    assert_eq!(ev("split_part('a,b,c', ',', 5)"), text(""));
    assert_eq!(ev("split_part('a::b', '::', 2)"), text("b"));
    assert_eq!(
        row_err("split_part(first_name, ',', 0)").message,
        "field position must not be zero"
    );

    assert_eq!(
        ev("concat('a', NULL, 1, true, 2.50, date '2020-01-02')"),
        text("a1true2.502020-01-02")
    );
    assert_eq!(ev("concat_ws('-', 'a', NULL, 'b', visits)"), text("a-b-42"));
    assert_eq!(ev("concat_ws(NULL, 'a')"), Value::Null);
    assert_eq!(
        ev("visits || '/' || score || '/' || monthly_spend || '/' || active"),
        text("42/2.5/16.66/true")
    );

    assert_eq!(ev("left('hello', 2)"), text("he"));
    assert_eq!(ev("left('hello', -2)"), text("hel"));
    assert_eq!(ev("right('hello', 2)"), text("lo"));
    assert_eq!(ev("right('hello', -2)"), text("llo"));
    assert_eq!(ev("lpad('7', 3, '0')"), text("007"));
    assert_eq!(ev("lpad('ab', 4)"), text("  ab"));
    assert_eq!(ev("rpad('ab', 5, 'xy')"), text("abxyx"));
    assert_eq!(ev("lpad('hello', 2)"), text("he"));

    assert_eq!(ev("strpos('hello', 'll')"), Value::Int(3));
    assert_eq!(ev("strpos('héllo', 'l')"), Value::Int(3));
    assert_eq!(ev("position('z' in 'hello')"), Value::Int(0));
    assert_eq!(ev("position('lo' in first_name || 'lo')"), Value::Int(4));
    assert_eq!(ev("starts_with(email, '  Ada')"), Value::Bool(true));
    assert_eq!(ev("starts_with(email, 'Ada')"), Value::Bool(false));

    assert_eq!(ev("md5('abc')"), text("900150983cd24fb0d6963f7d28e17f72"));
    assert_eq!(
        ev("sha256('abc')"),
        text("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    assert_eq!(
        ev("md5(lower(trim(email)))"),
        ev("md5('ada.lovelace@example.com')")
    );
}

#[test]
fn regex_functions() {
    assert_eq!(
        ev("regexp_replace('foo bar foo', 'foo', 'x')"),
        text("x bar foo")
    );
    assert_eq!(
        ev("regexp_replace('foo bar foo', 'foo', 'x', 'g')"),
        text("x bar x")
    );
    assert_eq!(
        ev("regexp_replace('Foo foo', 'foo', 'x', 'gi')"),
        text("x x")
    );
    assert_eq!(
        ev(r"regexp_replace('John Smith', '(\w+) (\w+)', '\2, \1')"),
        text("Smith, John")
    );
    assert_eq!(ev(r"regexp_replace('abc', 'b', '[\&]')"), text("a[b]c"));
    assert_eq!(
        ev("regexp_replace('a1b22', '[0-9]+', '$', 'g')"),
        text("a$b$")
    );
    assert_eq!(ev("regexp_replace(first_name, 'z', 'y')"), text("Ada"));
    assert_eq!(
        ev("regexp_replace(first_name, 'a', last_name)"),
        text("AdLovelace")
    );
    assert_eq!(ev("regexp_replace(note, 'a', 'b')"), Value::Null);
    assert_eq!(
        ev(r"regexp_like(email, 'example\.com', 'i')"),
        Value::Bool(true)
    );
    assert_eq!(
        ev(r"regexp_like(email, 'example\.com')"),
        Value::Bool(false)
    );
    assert_eq!(ev("email ~ 'Example'"), Value::Bool(true));
    assert_eq!(ev("email ~* 'example'"), Value::Bool(true));
    assert_eq!(ev("email !~ 'zzz'"), Value::Bool(true));
    assert_eq!(ev("email !~* 'EXAMPLE'"), Value::Bool(false));

    let e = plan_err("regexp_replace(email, '(', 'x')");
    assert_eq!(
        e.message,
        "invalid expression `regexp_replace(email, '(', 'x')`: invalid regular expression \"(\": unclosed group (at character 23)"
    );
    assert!(
        plan_err("email ~ '['")
            .message
            .contains("invalid regular expression")
    );
    assert!(
        plan_err("regexp_replace(email, first_name, 'x')")
            .message
            .contains("must be a string literal")
    );
    assert!(
        plan_err("regexp_replace(email, 'a', 'x', 'q')")
            .message
            .contains("unsupported regular expression flag")
    );
    assert!(
        plan_err("regexp_like(email, 'a', 'g')")
            .message
            .contains("unsupported regular expression flag")
    );
}

#[test]
fn null_handling_functions() {
    assert_eq!(ev("nullif(visits, 42)"), Value::Null);
    assert_eq!(ev("nullif(visits, 1)"), Value::Int(42));
    assert_eq!(ev("nullif(first_name, '')"), text("Ada"));
    assert_eq!(ev("greatest(1, visits, 7)"), Value::Int(42));
    assert_eq!(ev("least(1.5, visits)"), Value::Decimal(dec("1.5")));
    assert_eq!(ev("greatest(NULL, 3)"), Value::Int(3));
    assert_eq!(ev("least(first_name, last_name)"), text("Ada"));
    assert_eq!(
        ev("greatest(birthdate, date '2001-01-01')"),
        Value::Date(date("2001-01-01"))
    );
    assert_eq!(ty("greatest(visits, score)"), DataType::Float);
    assert_eq!(ev("coalesce(note, 'none')"), text("none"));
    assert!(
        plan_err("coalesce(visits, first_name)")
            .message
            .contains("COALESCE types int and text")
    );
}

#[test]
fn numeric_functions() {
    assert_eq!(ev("abs(-5)"), Value::Int(5));
    assert_eq!(ev("abs(score - 10)"), Value::Float(7.5));
    assert_eq!(ev("abs(-monthly_spend)"), Value::Decimal(dec("16.66")));
    assert_eq!(
        row_err("abs(-9223372036854775807 - 1 + visits - 42)").message,
        "integer overflow"
    );

    assert_eq!(ev("round(2.5)"), Value::Decimal(dec("3")));
    assert_eq!(ev("round(-2.5)"), Value::Decimal(dec("-3")));
    assert_eq!(ev("round(score)"), Value::Float(2.0));
    assert_eq!(ev("round(3.5::float)"), Value::Float(4.0));
    assert_eq!(ev("round(visits)"), Value::Int(42));
    assert_eq!(ev("round(monthly_spend, 1)"), Value::Decimal(dec("16.7")));
    assert_eq!(ev("round(16.65, 1)"), Value::Decimal(dec("16.7")));
    assert_eq!(ev("round(1234.5678, 2)").to_string(), "1234.57");
    assert_eq!(ev("round(1.5, 3)").to_string(), "1.500");
    assert_eq!(ev("round(visits, -1)"), Value::Decimal(dec("40")));
    assert_eq!(ev("round(1250, -2)"), Value::Decimal(dec("1300")));
    assert_eq!(ev("round(2.675::float, 2)"), Value::Float(2.68));
    assert_eq!(ev("trunc(-2.7)"), Value::Decimal(dec("-2")));
    assert_eq!(ev("trunc(1234.5678, 2)").to_string(), "1234.56");
    assert_eq!(ev("trunc(score)"), Value::Float(2.0));

    assert_eq!(ev("floor(-1.5)"), Value::Decimal(dec("-2")));
    assert_eq!(ev("ceil(1.2)"), Value::Decimal(dec("2")));
    assert_eq!(ev("ceiling(score)"), Value::Float(3.0));
    assert_eq!(ev("floor(score)"), Value::Float(2.0));
    assert_eq!(ev("floor(visits)"), Value::Int(42));

    assert_eq!(ev("mod(7, 3)"), Value::Int(1));
    assert_eq!(ev("mod(-7, 3)"), Value::Int(-1));
    assert_eq!(ev("mod(monthly_spend, 5)"), Value::Decimal(dec("1.66")));
    assert_eq!(row_err("mod(visits, 0)").message, "division by zero");

    assert_eq!(ev("power(2, 10)"), Value::Float(1024.0));
    assert_eq!(ev("pow(visits, 0.5)"), Value::Float(42f64.sqrt()));
    assert_eq!(ev("sqrt(16)"), Value::Float(4.0));
    assert_eq!(ev("sqrt(monthly_spend * 0)"), Value::Float(0.0));
    assert_eq!(
        row_err("sqrt(-1 * visits)").message,
        "cannot take square root of a negative number"
    );
    assert!(
        row_err("power(-8 * visits, 0.5)")
            .message
            .contains("complex")
    );
    assert!(
        row_err("power(visits * 0, -1)")
            .message
            .contains("zero raised")
    );
    assert!(row_err("power(visits, 1000)").message.contains("overflow"));

    let e = plan_err("abs(first_name)");
    assert_eq!(
        e.message,
        "type mismatch in `abs(first_name)`: abs() expects a number, got text (column \"first_name\") (at character 5)"
    );
}

#[test]
fn date_functions() {
    assert_eq!(ev("date_part('month', birthdate)"), Value::Float(1.0));
    assert_eq!(ev("date_part('year', birthdate)"), Value::Float(2000.0));
    assert_eq!(ty("extract(year from birthdate)"), DataType::Decimal);
    assert_eq!(
        ev("extract(year from birthdate)"),
        Value::Decimal(dec("2000"))
    );
    assert_eq!(ev("extract(day from birthdate)"), Value::Decimal(dec("2")));
    assert_eq!(ev("date_part('dow', date '2026-01-01')"), Value::Float(4.0));
    assert_eq!(
        ev("date_part('isodow', date '2026-01-04')"),
        Value::Float(7.0)
    );
    assert_eq!(
        ev("extract(dow from date '2026-01-04')"),
        Value::Decimal(dec("0"))
    );
    assert_eq!(
        ev("date_part('doy', date '2026-02-01')"),
        Value::Float(32.0)
    );
    assert_eq!(
        ev("date_part('quarter', date '2026-05-01')"),
        Value::Float(2.0)
    );
    assert_eq!(
        ev("date_part('week', date '2026-01-01')"),
        Value::Float(1.0)
    );
    assert_eq!(
        ev("date_part('week', date '2027-01-01')"),
        Value::Float(53.0)
    );
    assert_eq!(ev("date_part('hour', signup)"), Value::Float(5.0));
    assert_eq!(ev("date_part('minute', signup)"), Value::Float(6.0));
    assert_eq!(ev("date_part('second', signup)"), Value::Float(7.0));
    assert_eq!(ev("date_part('epoch', signup)"), Value::Float(1614814567.0));
    assert_eq!(
        ev("date_part('epoch', date '1970-01-02')"),
        Value::Float(86400.0)
    );
    assert_eq!(
        ev("extract(epoch from signup)").to_string(),
        "1614814567.000000"
    );
    assert_eq!(
        ev("extract(second from timestamp '2021-03-04 05:06:07.5+00')").to_string(),
        "7.500000"
    );
    assert_eq!(
        ev("date_part('century', date '2000-06-01')"),
        Value::Float(20.0)
    );
    assert_eq!(
        ev("date_part('century', date '2001-06-01')"),
        Value::Float(21.0)
    );
    assert_eq!(
        ev("date_part('decade', date '2026-06-01')"),
        Value::Float(202.0)
    );
    assert_eq!(ev("date_part('month', NULL::date)"), Value::Null);

    assert_eq!(ty("date_trunc('month', signup)"), DataType::Timestamp);
    assert_eq!(
        ev("date_trunc('month', signup)"),
        Value::Timestamp(ts("2021-03-01T00:00:00+05:30"))
    );
    assert_eq!(
        ev("date_trunc('hour', signup)"),
        Value::Timestamp(ts("2021-03-04T05:00:00+05:30"))
    );
    assert_eq!(
        ev("date_trunc('minute', signup)"),
        Value::Timestamp(ts("2021-03-04T05:06:00+05:30"))
    );
    assert_eq!(
        ev("date_trunc('year', birthdate)"),
        Value::Timestamp(ts("2000-01-01T00:00:00Z"))
    );
    assert_eq!(
        ev("date_trunc('week', date '2026-01-01')"),
        Value::Timestamp(ts("2025-12-29T00:00:00Z"))
    );
    assert_eq!(
        ev("date_trunc('quarter', date '2026-05-17')"),
        Value::Timestamp(ts("2026-04-01T00:00:00Z"))
    );
    assert_eq!(
        ev("date_trunc('day', signup)::date"),
        Value::Date(date("2021-03-04"))
    );
    assert!(
        plan_err("date_trunc('fortnight', signup)")
            .message
            .contains("unknown unit")
    );
    assert!(
        plan_err("date_part('fortnight', signup)")
            .message
            .contains("unknown field")
    );
    assert!(
        plan_err("date_part(first_name, signup)")
            .message
            .contains("string literal")
    );
    assert!(
        plan_err("date_part('year', first_name)")
            .message
            .contains("expects a date or timestamp")
    );
}

#[test]
fn age_functions() {
    assert_eq!(
        ev("extract(year from age(date '2026-01-01', birthdate))"),
        Value::Decimal(dec("25"))
    );
    assert_eq!(
        ev("date_part('month', age(date '2026-01-01', birthdate))"),
        Value::Float(11.0)
    );
    assert_eq!(
        ev("date_part('day', age(date '2026-01-01', birthdate))"),
        Value::Float(30.0)
    );
    assert_eq!(ev("date_part('year', age(birthdate))"), Value::Float(25.0));
    assert_eq!(
        ev("date_part('year', age(birthdate, date '2026-01-01'))"),
        Value::Float(-25.0)
    );
    assert_eq!(
        ev("date_part('year', age(timestamp '2026-01-02 00:00:00', birthdate))"),
        Value::Float(26.0)
    );
    assert_eq!(
        ev("age_years(date '2026-01-01', birthdate)"),
        Value::Int(25)
    );
    assert_eq!(ev("age_years(current_date, birthdate)"), Value::Int(25));
    assert_eq!(
        ev("age_years(date '2026-01-01', date '2000-01-01')"),
        Value::Int(26)
    );
    assert_eq!(
        ev("age_years(date '2024-02-28', date '2020-02-29')"),
        Value::Int(3)
    );
    assert_eq!(
        ev("age_years(date '2024-02-29', date '2020-02-29')"),
        Value::Int(4)
    );
    assert_eq!(ev("age_years(note::date, birthdate)"), Value::Null);

    let e = plan_err("age(birthdate)");
    assert!(e.message.contains("age_years"), "{e}");
    assert!(
        plan_err("age(date '2026-01-01', birthdate)")
            .message
            .contains("date_part('year', age(a, b))")
    );
    assert!(
        plan_err("date_part('dow', age(birthdate))")
            .message
            .contains("not available for age()")
    );
}

#[test]
fn now_is_fixed() {
    assert_eq!(ev("now()"), Value::Timestamp(ctx().now));
    assert_eq!(ev("current_timestamp"), Value::Timestamp(ctx().now));
    assert_eq!(ev("current_date"), Value::Date(date("2026-01-01")));
    assert!(compile("now()").is_constant());
    assert!(compile("date_part('year', current_date) + 1").is_constant());
    assert!(!compile("visits + 1").is_constant());
}

// ----- plan errors -----------------------------------------------------------------------

#[test]
fn plan_errors() {
    let e = plan_err("upper(visits)");
    assert_eq!(
        e.to_string(),
        "type mismatch in `upper(visits)`: upper() expects text, got int (column \"visits\") (at character 7)"
    );
    assert_eq!(e.column.as_deref(), Some("visits"));
    assert_eq!((e.line, e.col), (Some(1), Some(7)));

    let e = plan_err("split_part(email, '@')");
    assert_eq!(
        e.message,
        "invalid expression `split_part(email, '@')`: wrong number of arguments: split_part() takes 3 arguments, got 2 (at character 1)"
    );
    assert!(
        plan_err("lower()")
            .message
            .contains("lower() takes 1 argument, got 0")
    );
    let e = plan_err("split_part(email, '@', 'x')");
    assert!(e.message.contains("split_part() argument 3"), "{e}");
    assert!(
        plan_err("left(first_name, 1.5)")
            .message
            .contains("left() argument 2 expects int, got decimal")
    );

    assert!(
        plan_err("lowr(email)")
            .message
            .contains("did you mean lower()?")
    );
    assert!(plan_err("sum(visits)").message.contains("aggregate"));
    assert!(
        plan_err("visits +")
            .message
            .starts_with("syntax error in expression `visits +`")
    );
    let e = plan_err("lower(email");
    assert_eq!(
        e.message,
        "syntax error in expression `lower(email`: Expected: ), found: end of expression at line 1, column 12"
    );
    assert_eq!((e.line, e.col), (Some(1), Some(12)));
    let e = plan_err("visits visits");
    assert!(e.message.contains("unexpected"), "{e}");
    assert_eq!((e.line, e.col), (Some(1), Some(8)));
    let e = plan_err("lower(email) +\n  )");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        plan_err("NOT visits")
            .message
            .contains("argument of NOT must be boolean, got int")
    );
    assert!(
        plan_err("active AND visits")
            .message
            .contains("argument of AND must be boolean")
    );
    assert!(
        plan_err("interval '1 day'")
            .message
            .contains("intervals are not supported")
    );
    assert!(plan_err("(SELECT 1)").message.contains("subquery"));
    assert!(
        plan_err("visits::int[]")
            .message
            .contains("unsupported type")
    );
    assert!(plan_err("$1").message.contains("not supported"));
}

#[test]
fn filters_must_be_boolean() {
    let s = schema();
    let f = compile_filter("visits > 10 AND active", &s, &ctx()).unwrap();
    assert!(f.matches(&row()).unwrap());
    assert_eq!(f.eval_bool(&row()).unwrap(), Some(true));
    let f = compile_filter("note = 'x'", &s, &ctx()).unwrap();
    assert!(!f.matches(&row()).unwrap());
    assert_eq!(f.eval_bool(&row()).unwrap(), None);
    let e = compile_filter("visits + 1", &s, &ctx()).unwrap_err();
    assert!(
        e.message.contains("must be a boolean expression, got int"),
        "{e}"
    );
    assert!(check_filter(&compile("first_name")).is_err());
    assert!(check_filter(&compile("first_name IS NULL")).is_ok());
}

// ----- SELECT ----------------------------------------------------------------------------

#[test]
fn select_stage() {
    let s = schema();
    let st = compile_select(
        "SELECT *, lower(trim(email)) AS clean_email FROM users WHERE visits > 10",
        &s,
        &ctx(),
    )
    .unwrap();
    assert_eq!(st.columns.len(), s.len() + 1);
    assert_eq!(st.columns[0].0, "first_name");
    assert_eq!(st.columns[11].0, "First Name");
    assert_eq!(st.columns[12].0, "clean_email");
    assert_eq!(
        st.columns[12].1.eval(&row()).unwrap(),
        text("ada.lovelace@example.com")
    );
    assert_eq!(st.columns[5].1.eval(&row()).unwrap(), Value::Int(42));
    assert!(st.filter.as_ref().unwrap().matches(&row()).unwrap());
    assert_eq!(st.columns[12].1.source(), "lower(trim(email))");
    assert_eq!(st.filter.as_ref().unwrap().source(), "visits > 10");
    let e = compile_select(
        "SELECT\n  first_name || ' ' || last_name full_name,\n  CAST(visits AS text) AS v,\n  visits\nFROM t\nWHERE (visits, 1) IS NOT NULL OR active\n;",
        &s,
        &ctx(),
    )
    .unwrap_err();
    assert!(
        e.message.contains("`(visits, 1) IS NOT NULL OR active`"),
        "{e}"
    );
    let st2 = compile_select(
        "SELECT\n  first_name || ' ' || last_name full_name,\n  CAST(visits AS text) AS v,\n  visits\nFROM t\nWHERE active;",
        &s,
        &ctx(),
    )
    .unwrap();
    let sources: Vec<&str> = st2.columns.iter().map(|(_, e)| e.source()).collect();
    assert_eq!(
        sources,
        [
            "first_name || ' ' || last_name",
            "CAST(visits AS text)",
            "visits"
        ]
    );
    assert_eq!(st2.columns[0].0, "full_name");
    assert_eq!(st2.columns[1].1.eval(&row()).unwrap(), text("42"));
    assert_eq!(st2.filter.as_ref().unwrap().source(), "active");
    let out = st.output_schema();
    assert_eq!(out.columns[12], Column::new("clean_email", DataType::Text));

    let st = compile_select(
        "select Email, visits * 2 as double_visits, \"First Name\" from t",
        &s,
        &ctx(),
    )
    .unwrap();
    let names: Vec<&str> = st.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["email", "double_visits", "First Name"]);
    assert_eq!(st.columns[1].1.eval(&row()).unwrap(), Value::Int(84));
    assert!(st.filter.is_none());

    assert!(
        compile_select("SELECT visits + 1 FROM t", &s, &ctx())
            .unwrap_err()
            .message
            .contains("needs a name")
    );
    for (sql, clause) in [
        ("SELECT visits FROM t GROUP BY visits", "GROUP BY"),
        ("SELECT visits FROM t ORDER BY visits", "ORDER BY"),
        ("SELECT visits FROM t LIMIT 5", "LIMIT"),
        ("SELECT visits FROM a JOIN b ON a.x = b.x", "JOIN"),
        ("SELECT DISTINCT visits FROM t", "DISTINCT"),
        ("SELECT visits FROM t UNION SELECT visits FROM u", "UNION"),
        ("SELECT visits FROM t HAVING visits > 1", "HAVING"),
    ] {
        let e = compile_select(sql, &s, &ctx()).unwrap_err();
        assert!(
            e.message.contains(clause) && e.message.contains("not supported"),
            "{sql}: {e}"
        );
    }
    let e = compile_select("SELECT visits FROM t WHERE visits", &s, &ctx()).unwrap_err();
    assert!(e.message.contains("must be a boolean"), "{e}");
    let e = compile_select("SELECT visits AS a, first_name AS a FROM t", &s, &ctx()).unwrap_err();
    assert!(e.message.contains("duplicate output column"), "{e}");
    let e = compile_select("SELECT lower(emial) AS e FROM t", &s, &ctx()).unwrap_err();
    assert!(e.message.contains("did you mean \"email\""), "{e}");
    assert!(compile_select("DELETE FROM t", &s, &ctx()).is_err());
    assert!(compile_select("SELECT FROM", &s, &ctx()).is_err());
}

// ----- robustness ------------------------------------------------------------------------

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let deep = format!("{}1{}", "(".repeat(2000), ")".repeat(2000));
    let chain = vec!["first_name"; 3000].join(" || ");
    let sum = vec!["visits"; 3000].join(" + ");
    for sql in [
        "",
        "(",
        ")",
        "'",
        "\"",
        "lower(",
        "1 +",
        "CASE END",
        "x::",
        "SELECT",
        "a b c",
        "date 'x'",
        "@@@",
        "ARRAY[1]",
        "visits[1]",
        "ROW(1, 2)",
        "(1, 2)",
        "visits IN (SELECT 1)",
        "email SIMILAR TO 'a'",
        "count(*)",
        "lower(*)",
        "lower(email ORDER BY email)",
        "f(x => 1)",
        "visits COLLATE \"C\"",
        "EXISTS (SELECT 1)",
        "1 <=> 2",
        "visits & 1",
        "~visits",
        "a.b.c.d",
        "x LIKE ANY ('a')",
        "'a' LIKE 'b\\'",
        "trim(both visits from email)",
        "current_time",
        "email::json",
        &deep,
    ] {
        let _ = CompiledExpr::compile(sql, &schema(), &ctx());
        let _ = compile_select(sql, &schema(), &ctx());
    }
    // Long chains are flattened or rejected, without overflowing the stack.
    if let Ok(e) = CompiledExpr::compile(&chain, &schema(), &ctx()) {
        assert_eq!(e.eval(&row()).unwrap(), text(&"Ada".repeat(3000)));
    }
    let e = CompiledExpr::compile(&sum, &schema(), &ctx()).unwrap_err();
    assert!(e.message.contains("nested too deeply"), "{e}");
    let sum = vec!["visits"; 90].join(" + ");
    assert_eq!(ev(&sum), Value::Int(42 * 90));
    let casts = format!("visits{}", "::text::int".repeat(40));
    assert_eq!(ev(&casts), Value::Int(42));
    // Rows that do not match the schema produce errors.
    let e = compile("lower(email)");
    assert!(e.eval(&[]).is_err());
    assert!(e.eval(&[Value::Null, Value::Null, Value::Int(1)]).is_ok());
    let e = compile("visits + 1");
    assert!(e.eval(&vec![Value::Null; 5]).is_err());
    assert!(
        e.eval(&[
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            text("x")
        ])
        .is_err()
    );
}

#[test]
fn borrowed_results_do_not_clone() {
    let e = compile("email");
    let r = row();
    assert!(matches!(
        e.eval_ref(&r).unwrap(),
        std::borrow::Cow::Borrowed(_)
    ));
    let e = compile("coalesce(note, first_name)");
    assert!(matches!(
        e.eval_ref(&r).unwrap(),
        std::borrow::Cow::Borrowed(_)
    ));
    let e = compile("CASE WHEN active THEN 'yes' ELSE 'no' END");
    assert!(matches!(
        e.eval_ref(&r).unwrap(),
        std::borrow::Cow::Borrowed(Value::Text(_))
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn compiling_arbitrary_text_never_panics(sql in "\\PC{0,40}") {
            let _ = CompiledExpr::compile(&sql, &schema(), &ctx());
        }

        #[test]
        fn compiling_sql_like_text_never_panics(sql in "[a-z_ ()',.:|*+/%<>=!~0-9-]{0,40}") {
            if let Ok(e) = CompiledExpr::compile(&sql, &schema(), &ctx()) {
                let _ = e.eval(&row());
            }
        }

        #[test]
        fn text_functions_never_panic(s in "\\PC{0,20}", d in "\\PC{0,3}", n in -30i64..30, m in -30i64..30) {
            let r = vec![text(&s), text(&d), Value::Int(n), Value::Int(m)];
            let sch = Schema::new([
                ("s".to_string(), DataType::Text),
                ("d".to_string(), DataType::Text),
                ("n".to_string(), DataType::Int),
                ("m".to_string(), DataType::Int),
            ]);
            for sql in [
                "substr(s, n, m)", "substr(s, n)", "split_part(s, d, n)", "left(s, n)", "right(s, n)",
                "lpad(s, m, d)", "rpad(s, m, d)", "trim(s, d)", "ltrim(s, d)", "strpos(s, d)",
                "replace(s, d, s)", "s LIKE d", "s ILIKE d || '%'", "initcap(s)", "upper(s)", "lower(s)",
                "length(s)", "reverse(s)",
            ] {
                let e = CompiledExpr::compile(sql, &sch, &ctx()).unwrap();
                let _ = e.eval(&r);
            }
            // substr agrees with a char-vector model.
            let chars: Vec<char> = s.chars().collect();
            if m >= 0 {
                let lo = n.max(1);
                let hi = (n + m).max(lo);
                let want: String = chars.iter().enumerate()
                    .filter(|(i, _)| { let p = *i as i64 + 1; p >= lo && p < hi })
                    .map(|(_, c)| *c).collect();
                let e = CompiledExpr::compile("substr(s, n, m)", &sch, &ctx()).unwrap();
                prop_assert_eq!(e.eval(&r).unwrap(), text(&want));
            }
        }

        #[test]
        fn like_agrees_with_regex(s in "[abc%_]{0,8}", p in "[abc%_]{0,6}") {
            let sch = Schema::new([("s".to_string(), DataType::Text), ("p".to_string(), DataType::Text)]);
            let r = vec![text(&s), text(&p)];
            let mut re = String::from("^");
            for c in p.chars() {
                match c {
                    '%' => re.push_str("(?s:.*)"),
                    '_' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push('$');
            let want = regex::Regex::new(&re).unwrap().is_match(&s);
            let e = CompiledExpr::compile("s LIKE p", &sch, &ctx()).unwrap();
            prop_assert_eq!(e.eval(&r).unwrap(), Value::Bool(want));
            let lit = format!("s LIKE '{}'", p.replace('\'', "''"));
            let e = CompiledExpr::compile(&lit, &sch, &ctx()).unwrap();
            prop_assert_eq!(e.eval(&r).unwrap(), Value::Bool(want));
        }
    }
}

#[test]
fn compiled_expressions_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<CompiledExpr>();
    assert_send_sync::<SelectStage>();
    let e = std::sync::Arc::new(compile("lower(trim(email)) ~ 'example'"));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || e.eval(&row()).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Value::Bool(true));
    }
}

#[test]
fn null_filter_keeps_nothing() {
    let f = compile_filter("NULL", &schema(), &ctx()).unwrap();
    assert!(!f.matches(&row()).unwrap());
}

/// Every `| ... | `example` | `result` |` row of docs/expressions.md evaluates as shown.
#[test]
fn documented_examples_hold() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/expressions.md");
    let doc = std::fs::read_to_string(path).expect("docs/expressions.md exists");
    let render = |v: &Value| match v {
        Value::Null => "NULL".to_string(),
        Value::Text(s) => format!("'{}'", s.replace('\'', "''")),
        other => super::text::render(other),
    };
    let empty = Schema::default();
    let mut checked = 0;
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line
            .replace("\\|", "\u{1}")
            .split('|')
            .map(|c| c.trim().replace('\u{1}', "|"))
            .collect();
        // ["", name, example, result, ""]
        let (Some(example), Some(result)) = (cells.get(2), cells.get(3)) else {
            continue;
        };
        let code = |c: &str| {
            (c.len() >= 2 && c.starts_with('`') && c.ends_with('`') && c.matches('`').count() == 2)
                .then(|| c[1..c.len() - 1].to_string())
        };
        let (Some(sql), Some(want)) = (code(example), code(result)) else {
            continue;
        };
        checked += 1;
        let got = CompiledExpr::compile(&sql, &empty, &ctx())
            .map_err(|e| e.message)
            .and_then(|e| e.eval(&[]).map_err(|e| e.message));
        match (want.strip_prefix("error: "), got) {
            (Some(msg), Err(e)) => {
                assert!(e.contains(msg), "{sql}: expected error {msg:?}, got {e:?}")
            }
            (None, Ok(v)) => assert_eq!(render(&v), want, "{sql}"),
            (_, got) => panic!("{sql}: expected {want}, got {got:?}"),
        }
    }
    assert!(checked >= 90, "only {checked} documented examples found");
}
#[test]
fn keyword_named_columns() {
    let names = [
        "date",
        "year",
        "user",
        "plan",
        "value",
        "type",
        "timestamp",
        "order",
        "left",
        "count",
    ];
    let s = Schema::new(names.iter().map(|n| (n.to_string(), DataType::Text)));
    let r: Vec<Value> = names.iter().map(|n| text(n)).collect();
    for (sql, want) in [
        ("date", "date"),
        ("year", "year"),
        ("user", "user"),
        ("timestamp", "timestamp"),
        ("\"order\"", "order"),
        ("left", "left"),
        ("upper(count)", "COUNT"),
        ("date || type", "datetype"),
        ("left(value, 2)", "va"),
    ] {
        let e = CompiledExpr::compile(sql, &s, &ctx()).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(e.eval(&r).unwrap(), text(want), "{sql}");
    }
    let e = plan_err("user");
    assert!(e.message.contains("quote it"), "{e}");
}
