//! Function calls at plan time: resolution from a table of signatures, argument type
//! checks and the special forms (`date_part`, `age`, regular expressions). Row-time
//! evaluation is in `call`.

use regex::{Regex, RegexBuilder};
use sqlparser::ast::{self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart};
use sqlparser::tokenizer::Span;

use super::ExprError;
use super::compile::{Compiler, string_value};
use super::datetime::{AgeField, DATE_FIELDS, DateField, TRUNC_UNITS, TruncUnit};
use super::node::{ArithOp, Func, Node, Repl, TextFn};
use super::text::{self, TrimSide};
use super::types::{self, Lit, Typed, fold};
use crate::row::Value;
use crate::schema::DataType;

const AGGREGATES: &[&str] = &[
    "sum",
    "count",
    "avg",
    "min",
    "max",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "stddev",
    "variance",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
];

const AGE_HELP: &str = "age() is only supported as date_part('year', age(a, b)) or extract(year from age(a, b)) \
(also month, day, hour, minute, second), or use age_years(a, b) for whole years";

// ----- plan time: argument checks ----------------------------------------------------

/// Coerce a literal argument, naming the function and argument when it does not parse.
fn coerce_arg(
    c: &Compiler,
    fname: &str,
    idx: usize,
    total: usize,
    t: Typed,
    ty: DataType,
) -> Result<Typed, ExprError> {
    if let Some(s) = t.str_lit()
        && types::parse_literal(s, ty).is_err()
    {
        return Err(c.mismatch(
            t.span,
            format!(
                "{} expects {ty}, got {}",
                arg_label(fname, idx, total),
                crate::format::quote_value(s)
            ),
            None,
        ));
    }
    c.coerce(t, ty)
}

fn arg_label(fname: &str, idx: usize, total: usize) -> String {
    if total > 1 {
        format!("{fname} argument {}", idx + 1)
    } else {
        fname.to_string()
    }
}

/// The plan error for an argument of the wrong type, naming the function, the argument
/// and, for a column reference, the column.
fn arg_mismatch(
    c: &Compiler,
    fname: &str,
    idx: usize,
    total: usize,
    t: &Typed,
    expected: &str,
) -> ExprError {
    c.mismatch(
        t.span,
        format!(
            "{} expects {expected}, got {}{}",
            arg_label(fname, idx, total),
            t.type_name(),
            t.col_note()
        ),
        t.col.clone(),
    )
}

/// A text argument: text values, string literals and NULL are accepted.
pub(crate) fn want_text(
    c: &Compiler,
    fname: &str,
    idx: usize,
    total: usize,
    t: Typed,
) -> Result<Typed, ExprError> {
    if t.ty == DataType::Text || t.lit != Lit::No {
        return c.coerce(t, DataType::Text);
    }
    Err(arg_mismatch(c, fname, idx, total, &t, "text"))
}

fn want_int(
    c: &Compiler,
    fname: &str,
    idx: usize,
    total: usize,
    t: Typed,
) -> Result<Typed, ExprError> {
    if t.ty == DataType::Int || t.lit != Lit::No {
        return coerce_arg(c, fname, idx, total, t, DataType::Int);
    }
    Err(arg_mismatch(c, fname, idx, total, &t, "int"))
}

fn want_numeric(
    c: &Compiler,
    fname: &str,
    idx: usize,
    total: usize,
    t: Typed,
) -> Result<Typed, ExprError> {
    if t.lit != Lit::No {
        return coerce_arg(c, fname, idx, total, t, DataType::Decimal);
    }
    if t.ty.is_numeric() {
        return Ok(t);
    }
    Err(arg_mismatch(c, fname, idx, total, &t, "a number"))
}

fn want_datetime(
    c: &Compiler,
    fname: &str,
    idx: usize,
    total: usize,
    t: Typed,
) -> Result<Typed, ExprError> {
    if matches!(t.ty, DataType::Date | DataType::Timestamp) && t.lit == Lit::No {
        return Ok(t);
    }
    if let Some(s) = t.str_lit() {
        let ty = if types::parse_literal(s, DataType::Date).is_ok() {
            DataType::Date
        } else {
            DataType::Timestamp
        };
        return c.coerce(t, ty);
    }
    if t.lit == Lit::Null {
        return c.coerce(t, DataType::Timestamp);
    }
    Err(arg_mismatch(
        c,
        fname,
        idx,
        total,
        &t,
        "a date or timestamp",
    ))
}

/// An argument that must be a string literal (patterns, flags, field names).
fn want_str_lit(
    c: &Compiler,
    fname: &str,
    idx: usize,
    total: usize,
    t: &Typed,
    what: &str,
) -> Result<String, ExprError> {
    match t.str_lit() {
        Some(s) => Ok(s.to_string()),
        None => Err(c.invalid(
            t.span,
            format!(
                "{} ({what}) must be a string literal",
                arg_label(fname, idx, total)
            ),
        )),
    }
}

fn arity(
    c: &Compiler,
    name: &str,
    n: usize,
    min: usize,
    max: usize,
    span: Span,
) -> Result<(), ExprError> {
    if (min..=max).contains(&n) {
        return Ok(());
    }
    let s = |k: usize| if k == 1 { "" } else { "s" };
    let want = if min == max {
        format!("{min} argument{}", s(min))
    } else if max == usize::MAX {
        format!("at least {min} argument{}", s(min))
    } else {
        format!("{min} to {max} arguments")
    };
    Err(c.invalid(
        span,
        format!("wrong number of arguments: {name}() takes {want}, got {n}"),
    ))
}

/// Compile a regular expression given as a literal.
fn regex(c: &Compiler, pattern: &str, ci: bool, span: Span) -> Result<Regex, ExprError> {
    RegexBuilder::new(pattern)
        .case_insensitive(ci)
        .size_limit(1 << 22)
        .build()
        .map_err(|e| {
            // The regex crate draws a caret diagram over several lines; keep the reason.
            let full = e.to_string();
            let reason = full
                .rsplit("error: ")
                .next()
                .unwrap_or(&full)
                .trim()
                .to_string();
            c.invalid(
                span,
                format!("invalid regular expression {pattern:?}: {reason}"),
            )
        })
}

/// Flags of regexp functions: `g` (all matches), `i` (case-insensitive), `c` (case-sensitive).
fn regex_flags(
    c: &Compiler,
    fname: &str,
    flags: &str,
    allow_global: bool,
    span: Span,
) -> Result<(bool, bool), ExprError> {
    let (mut global, mut ci) = (false, false);
    for f in flags.chars() {
        match f {
            'g' if allow_global => global = true,
            'i' => ci = true,
            'c' => ci = false,
            other => {
                let supported = if allow_global { "g, i, c" } else { "i, c" };
                return Err(c.invalid(
                    span,
                    format!("{fname}(): unsupported regular expression flag {other:?} (supported: {supported})"),
                ));
            }
        }
    }
    Ok((global, ci))
}

fn text_node(f: TextFn, args: Vec<Typed>, span: Span) -> Typed {
    let args = args.into_iter().map(|t| t.node).collect();
    Typed::new(fold(Node::Text { f, args }), DataType::Text, span)
}

fn call_node(f: Func, args: Vec<Typed>, ty: DataType, span: Span) -> Typed {
    let args = args.into_iter().map(|t| t.node).collect();
    Typed::new(fold(Node::Call { f, args }), ty, span)
}

fn null_of(ty: DataType, span: Span) -> Typed {
    Typed::new(Node::Const(Value::Null), ty, span)
}

// ----- plan time: calls --------------------------------------------------------------

/// The function name (lower case) of a call, when it is a plain or `pg_catalog.` name.
fn plain_name(f: &ast::Function) -> Option<String> {
    let ident = |p: &ObjectNamePart| match p {
        ObjectNamePart::Identifier(id) => Some(id.value.to_ascii_lowercase()),
        _ => None,
    };
    match f.name.0.as_slice() {
        [one] => ident(one),
        [schema, one] if ident(schema).as_deref() == Some("pg_catalog") => ident(one),
        _ => None,
    }
}

/// The positional arguments of a call; `None` when written without parentheses
/// (`current_date`).
fn call_args<'f>(
    c: &Compiler,
    f: &'f ast::Function,
    name: &str,
    span: Span,
) -> Result<Option<Vec<&'f Expr>>, ExprError> {
    if f.over.is_some()
        || f.filter.is_some()
        || !f.within_group.is_empty()
        || f.null_treatment.is_some()
    {
        return Err(c.invalid(
            span,
            format!("{name}(): window and aggregate clauses are not supported"),
        ));
    }
    if !matches!(f.parameters, FunctionArguments::None) {
        return Err(c.invalid(
            span,
            format!("{name}(): parametric function syntax is not supported"),
        ));
    }
    match &f.args {
        FunctionArguments::None => Ok(None),
        FunctionArguments::Subquery(_) => Err(c.invalid(
            span,
            format!("{name}(): a subquery argument is not supported"),
        )),
        FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                return Err(c.invalid(
                    span,
                    format!("{name}(): DISTINCT/ORDER BY inside a call is not supported"),
                ));
            }
            let mut out = Vec::with_capacity(list.args.len());
            for a in &list.args {
                match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => out.push(e),
                    FunctionArg::Unnamed(_) => {
                        return Err(
                            c.invalid(span, format!("{name}(): `*` is not a valid argument"))
                        );
                    }
                    _ => {
                        return Err(c.invalid(
                            span,
                            format!("{name}(): named arguments are not supported"),
                        ));
                    }
                }
            }
            Ok(Some(out))
        }
    }
}

/// Compile a function call from the AST.
pub(crate) fn compile_function(
    c: &mut Compiler,
    f: &ast::Function,
    span: Span,
) -> Result<Typed, ExprError> {
    let Some(name) = plain_name(f) else {
        return Err(c.invalid(span, format!("unknown function {}()", f.name)));
    };
    let args = call_args(c, f, &name, span)?;
    let Some(args) = args else {
        // Called without parentheses.
        return match name.as_str() {
            "current_date" | "current_timestamp" | "localtimestamp" => {
                build(c, &name, Vec::new(), span)
            }
            other => {
                // A keyword such as `user` may also be a column name.
                if let [ObjectNamePart::Identifier(id)] = f.name.0.as_slice()
                    && let Ok(t) = c.column(std::slice::from_ref(id), span)
                {
                    return Ok(t);
                }
                Err(c.invalid(
                    span,
                    format!("unsupported keyword {other} (for a column of that name, quote it: \"{other}\")"),
                ))
            }
        };
    };
    if AGGREGATES.contains(&name.as_str()) {
        return Err(c.invalid(
            span,
            format!("aggregate and window functions such as {name}() are not supported: expressions work on one row at a time"),
        ));
    }
    if name == "age" {
        return Err(c.invalid(span, AGE_HELP));
    }
    if name == "date_part" {
        arity(c, "date_part", args.len(), 2, 2, span)?;
        if let [field, arg] = args.as_slice() {
            let field_name = match field {
                Expr::Value(v) => string_value(&v.value),
                _ => None,
            };
            let Some(field_name) = field_name else {
                return Err(c.invalid(
                    span,
                    "date_part() argument 1 (the field) must be a string literal such as 'year'",
                ));
            };
            let field = DateField::parse(field_name).ok_or_else(|| {
                c.invalid(
                    span,
                    format!("date_part(): unknown field {field_name:?} (supported: {DATE_FIELDS})"),
                )
            })?;
            return date_part(c, field, arg, false, span);
        }
    }
    let mut typed = Vec::with_capacity(args.len());
    for a in args {
        typed.push(c.expr(a)?);
    }
    build(c, &name, typed, span)
}

/// `date_part(field, x)` (float) / `extract(field from x)` (decimal), including the
/// `age(a, b)` forms.
pub(crate) fn date_part(
    c: &mut Compiler,
    field: DateField,
    arg: &Expr,
    decimal: bool,
    span: Span,
) -> Result<Typed, ExprError> {
    let ty = if decimal {
        DataType::Decimal
    } else {
        DataType::Float
    };
    let fname = if decimal { "extract()" } else { "date_part()" };
    let mut inner = arg;
    while let Expr::Nested(e) = inner {
        inner = e;
    }
    if let Expr::Function(f) = inner
        && plain_name(f).as_deref() == Some("age")
    {
        let age_field = AgeField::from_date_field(field).ok_or_else(|| {
            c.invalid(
                span,
                format!("{fname}: this field is not available for age(); use year, month, day, hour, minute or second"),
            )
        })?;
        let Some(args) = call_args(c, f, "age", span)? else {
            return Err(c.invalid(span, AGE_HELP));
        };
        arity(c, "age", args.len(), 1, 2, span)?;
        let total = args.len();
        let mut typed = Vec::with_capacity(2);
        for (i, a) in args.into_iter().enumerate() {
            let t = c.expr(a)?;
            typed.push(want_datetime(c, "age()", i, total, t)?);
        }
        if typed.len() == 1 {
            // age(x) = age(current_date, x)
            let today = Typed::new(
                Node::Const(Value::Date(c.ctx.now.date_naive())),
                DataType::Date,
                span,
            );
            typed.insert(0, today);
        }
        let mut it = typed.into_iter();
        let (Some(a), Some(b)) = (it.next(), it.next()) else {
            return Err(c.invalid(span, "internal error: lost an argument"));
        };
        let node = Node::AgePart {
            field: age_field,
            a: Box::new(a.node),
            b: Box::new(b.node),
            decimal,
        };
        return Ok(Typed::new(fold(node), ty, span));
    }
    let t = c.expr(arg)?;
    let t = want_datetime(c, fname, 1, 2, t)?;
    let node = Node::DatePart {
        field,
        arg: Box::new(t.node),
        decimal,
    };
    Ok(Typed::new(fold(node), ty, span))
}

/// `a ~ 'pattern'` and friends.
pub(crate) fn regex_match(
    c: &Compiler,
    op: &str,
    l: Typed,
    r: Typed,
    ci: bool,
    negated: bool,
    span: Span,
) -> Result<Typed, ExprError> {
    let l = want_text(c, &format!("operator {op}"), 0, 2, l)?;
    if r.lit == Lit::Null {
        return Ok(null_of(DataType::Bool, span));
    }
    let Some(p) = r.str_lit() else {
        return Err(c.invalid(
            span,
            format!("the pattern of {op} must be a string literal (patterns are compiled once, before reading rows)"),
        ));
    };
    let re = regex(c, p, ci, r.span)?;
    Ok(Typed::new(
        fold(Node::Regex {
            arg: Box::new(l.node),
            re,
            negated,
        }),
        DataType::Bool,
        span,
    ))
}

/// How one argument is checked; the last kind applies to any further arguments.
#[derive(Debug, Clone, Copy)]
enum Arg {
    /// Text, a string literal or NULL.
    Text,
    /// An integer (literals are coerced).
    Int,
    /// Any number, kept in its type.
    Numeric,
    /// Any number, widened to float.
    Float,
    /// A date or timestamp (string literals are parsed as one).
    DateTime,
    /// Anything (rendered as text at row time).
    Any,
}

/// The result type of a simple call.
#[derive(Debug, Clone, Copy)]
enum Ret {
    Int,
    Bool,
    Float,
    /// The type of the first argument (`abs`, `floor`, `ceil`).
    First,
}

/// A function with its own rules: literal patterns, unified argument types, constants.
type Special = fn(&Compiler, &str, Vec<Typed>, Span) -> Result<Typed, ExprError>;

/// How a call is built from its compiled arguments.
#[derive(Clone, Copy)]
enum Build {
    /// A text function: arguments checked by kind.
    Text(TextFn, &'static [Arg]),
    /// A simple function: arguments checked by kind, result typed by `Ret`.
    Call(Func, &'static [Arg], Ret),
    /// A function with its own builder.
    Special(Special),
}

/// One function's plan-time signature.
struct Sig {
    name: &'static str,
    min: usize,
    max: usize,
    build: Build,
}

const MANY: usize = usize::MAX;

const fn sig(name: &'static str, min: usize, max: usize, build: Build) -> Sig {
    Sig {
        name,
        min,
        max,
        build,
    }
}

use Arg::{Any, DateTime as Dt, Float as Fl, Int as I, Numeric as Num, Text as T};

/// Every function that can be called by name, with its arity and how it is built
/// (`date_part(field, x)` and the `age()` forms are compiled from the AST by
/// [`compile_function`] first; their rows here only give the error for other uses).
#[rustfmt::skip]
static SIGNATURES: &[Sig] = &[
    sig("lower", 1, 1, Build::Text(TextFn::Lower, &[T])),
    sig("upper", 1, 1, Build::Text(TextFn::Upper, &[T])),
    sig("initcap", 1, 1, Build::Text(TextFn::Initcap, &[T])),
    sig("reverse", 1, 1, Build::Text(TextFn::Reverse, &[T])),
    sig("md5", 1, 1, Build::Text(TextFn::Md5, &[T])),
    sig("sha256", 1, 1, Build::Text(TextFn::Sha256, &[T])),
    sig("trim", 1, 2, Build::Text(TextFn::Trim(TrimSide::Both), &[T])),
    sig("btrim", 1, 2, Build::Text(TextFn::Trim(TrimSide::Both), &[T])),
    sig("ltrim", 1, 2, Build::Text(TextFn::Trim(TrimSide::Leading), &[T])),
    sig("rtrim", 1, 2, Build::Text(TextFn::Trim(TrimSide::Trailing), &[T])),
    sig("length", 1, 1, Build::Call(Func::Length, &[T], Ret::Int)),
    sig("char_length", 1, 1, Build::Call(Func::Length, &[T], Ret::Int)),
    sig("character_length", 1, 1, Build::Call(Func::Length, &[T], Ret::Int)),
    sig("octet_length", 1, 1, Build::Call(Func::OctetLength, &[T], Ret::Int)),
    sig("substr", 2, 3, Build::Text(TextFn::Substr, &[T, I])),
    sig("substring", 2, 3, Build::Text(TextFn::Substr, &[T, I])),
    sig("replace", 3, 3, Build::Text(TextFn::Replace, &[T])),
    sig("split_part", 3, 3, Build::Text(TextFn::SplitPart, &[T, T, I])),
    sig("concat", 1, MANY, Build::Text(TextFn::Concat, &[Any])),
    sig("concat_ws", 1, MANY, Build::Text(TextFn::ConcatWs, &[T, Any])),
    sig("left", 2, 2, Build::Text(TextFn::Left, &[T, I])),
    sig("right", 2, 2, Build::Text(TextFn::Right, &[T, I])),
    sig("lpad", 2, 3, Build::Text(TextFn::Lpad, &[T, I, T])),
    sig("rpad", 2, 3, Build::Text(TextFn::Rpad, &[T, I, T])),
    sig("strpos", 2, 2, Build::Call(Func::Strpos, &[T], Ret::Int)),
    sig("position", 2, 2, Build::Call(Func::Strpos, &[T], Ret::Int)),
    sig("starts_with", 2, 2, Build::Call(Func::StartsWith, &[T], Ret::Bool)),
    sig("regexp_like", 2, 3, Build::Special(regexp_like)),
    sig("regexp_replace", 3, 4, Build::Special(regexp_replace)),
    sig("coalesce", 1, MANY, Build::Special(coalesce)),
    sig("nullif", 2, 2, Build::Special(nullif)),
    sig("greatest", 1, MANY, Build::Special(extreme)),
    sig("least", 1, MANY, Build::Special(extreme)),
    sig("abs", 1, 1, Build::Call(Func::Abs, &[Num], Ret::First)),
    sig("floor", 1, 1, Build::Call(Func::Floor, &[Num], Ret::First)),
    sig("ceil", 1, 1, Build::Call(Func::Ceil, &[Num], Ret::First)),
    sig("ceiling", 1, 1, Build::Call(Func::Ceil, &[Num], Ret::First)),
    sig("round", 1, 2, Build::Special(round_or_trunc)),
    sig("trunc", 1, 2, Build::Special(round_or_trunc)),
    sig("mod", 2, 2, Build::Special(modulo)),
    sig("power", 2, 2, Build::Call(Func::Power, &[Fl], Ret::Float)),
    sig("pow", 2, 2, Build::Call(Func::Power, &[Fl], Ret::Float)),
    sig("sqrt", 1, 1, Build::Call(Func::Sqrt, &[Fl], Ret::Float)),
    sig("date_trunc", 2, 2, Build::Special(date_trunc)),
    sig("to_date", 2, 2, Build::Special(formatting)),
    sig("to_timestamp", 2, 2, Build::Special(formatting)),
    sig("to_char", 2, 2, Build::Special(formatting)),
    sig("to_number", 2, 2, Build::Special(formatting)),
    sig("date_part", 0, MANY, Build::Special(date_part_misuse)),
    sig("age", 0, MANY, Build::Special(age_misuse)),
    sig("age_years", 2, 2, Build::Call(Func::AgeYears, &[Dt], Ret::Int)),
    sig("now", 0, 0, Build::Special(now)),
    sig("current_timestamp", 0, 0, Build::Special(now)),
    sig("localtimestamp", 0, 0, Build::Special(now)),
    sig("transaction_timestamp", 0, 0, Build::Special(now)),
    sig("statement_timestamp", 0, 0, Build::Special(now)),
    sig("current_date", 0, 0, Build::Special(current_date)),
];

/// Build a call from compiled arguments.
pub(crate) fn build(
    c: &Compiler,
    name: &str,
    args: Vec<Typed>,
    span: Span,
) -> Result<Typed, ExprError> {
    let Some(sig) = SIGNATURES.iter().find(|s| s.name == name) else {
        let known = SIGNATURES.iter().map(|s| s.name).chain(["extract"]);
        let hint = match crate::format::closest(name, known) {
            Some(s) => format!(" (did you mean {s}()?)"),
            None => " (see docs/expressions.md for the supported functions)".to_string(),
        };
        return Err(c.invalid(span, format!("unknown function {name}(){hint}")));
    };
    arity(c, name, args.len(), sig.min, sig.max, span)?;
    match sig.build {
        Build::Text(f, kinds) => Ok(text_node(f, check_args(c, name, args, kinds)?, span)),
        Build::Call(f, kinds, ret) => {
            let args = check_args(c, name, args, kinds)?;
            let ty = match ret {
                Ret::Int => DataType::Int,
                Ret::Bool => DataType::Bool,
                Ret::Float => DataType::Float,
                Ret::First => args.first().map(|t| t.ty).unwrap_or(DataType::Decimal),
            };
            Ok(call_node(f, args, ty, span))
        }
        Build::Special(special) => special(c, name, args, span),
    }
}

/// Check each argument by its kind, in order.
fn check_args(
    c: &Compiler,
    name: &str,
    args: Vec<Typed>,
    kinds: &[Arg],
) -> Result<Vec<Typed>, ExprError> {
    let fname = format!("{name}()");
    let n = args.len();
    args.into_iter()
        .enumerate()
        .map(
            |(i, t)| match kinds.get(i).or(kinds.last()).copied().unwrap_or(Any) {
                T => want_text(c, &fname, i, n, t),
                I => want_int(c, &fname, i, n, t),
                Num => want_numeric(c, &fname, i, n, t),
                Fl => {
                    let t = want_numeric(c, &fname, i, n, t)?;
                    c.coerce(t, DataType::Float)
                }
                Dt => want_datetime(c, &fname, i, n, t),
                Any => Ok(t),
            },
        )
        .collect()
}

/// The first `N` arguments, after the arity check.
fn take<const N: usize>(
    c: &Compiler,
    args: Vec<Typed>,
    span: Span,
) -> Result<([Typed; N], std::vec::IntoIter<Typed>), ExprError> {
    let mut it = args.into_iter();
    let mut first = Vec::with_capacity(N);
    for _ in 0..N {
        match it.next() {
            Some(t) => first.push(t),
            None => return Err(c.invalid(span, "internal error: lost an argument")),
        }
    }
    let first: [Typed; N] = first
        .try_into()
        .map_err(|_| c.invalid(span, "internal error: lost an argument"))?;
    Ok((first, it))
}

fn regexp_like(c: &Compiler, name: &str, args: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    let fname = format!("{name}()");
    let n = args.len();
    let ([s, p], mut rest) = take(c, args, span)?;
    let ci = match rest.next() {
        Some(flags) => {
            let f = want_str_lit(c, &fname, 2, n, &flags, "the flags")?;
            regex_flags(c, name, &f, false, flags.span)?.1
        }
        None => false,
    };
    let s = want_text(c, &fname, 0, n, s)?;
    if p.lit == Lit::Null {
        return Ok(null_of(DataType::Bool, span));
    }
    let pattern = want_str_lit(c, &fname, 1, n, &p, "the pattern")?;
    let re = regex(c, &pattern, ci, p.span)?;
    Ok(Typed::new(
        fold(Node::Regex {
            arg: Box::new(s.node),
            re,
            negated: false,
        }),
        DataType::Bool,
        span,
    ))
}

fn regexp_replace(
    c: &Compiler,
    name: &str,
    args: Vec<Typed>,
    span: Span,
) -> Result<Typed, ExprError> {
    let fname = format!("{name}()");
    let n = args.len();
    let ([s, p, r], mut rest) = take(c, args, span)?;
    let (global, ci) = match rest.next() {
        Some(flags) => {
            let f = want_str_lit(c, &fname, 3, n, &flags, "the flags")?;
            regex_flags(c, name, &f, true, flags.span)?
        }
        None => (false, false),
    };
    let s = want_text(c, &fname, 0, n, s)?;
    if p.lit == Lit::Null || r.lit == Lit::Null {
        return Ok(null_of(DataType::Text, span));
    }
    let pattern = want_str_lit(c, &fname, 1, n, &p, "the pattern")?;
    let re = regex(c, &pattern, ci, p.span)?;
    let repl = match r.str_lit() {
        Some(lit) => {
            let (text, expand) = text::pg_replacement(lit);
            Repl::Literal { text, expand }
        }
        None => Repl::Dynamic(Box::new(want_text(c, &fname, 2, n, r)?.node)),
    };
    Ok(Typed::new(
        fold(Node::RegexpReplace {
            arg: Box::new(s.node),
            re,
            repl,
            global,
        }),
        DataType::Text,
        span,
    ))
}

fn coalesce(c: &Compiler, _: &str, args: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    let all_null = args.iter().all(|t| t.lit == Lit::Null);
    let (args, ty) = c.unify_all(args, "COALESCE", span)?;
    let mut t = Typed::new(
        fold(Node::Coalesce(args.into_iter().map(|t| t.node).collect())),
        ty,
        span,
    );
    if all_null {
        t.lit = Lit::Null;
    }
    Ok(t)
}

fn nullif(c: &Compiler, _: &str, args: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    let (args, ty) = c.unify_all(args, "NULLIF", span)?;
    let ([l, r], _) = take(c, args, span)?;
    Ok(Typed::new(
        fold(Node::NullIf {
            l: Box::new(l.node),
            r: Box::new(r.node),
        }),
        ty,
        span,
    ))
}

/// `greatest(...)` and `least(...)`.
fn extreme(c: &Compiler, name: &str, args: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    let greatest = name == "greatest";
    let what = if greatest { "GREATEST" } else { "LEAST" };
    let (args, ty) = c.unify_all(args, what, span)?;
    Ok(Typed::new(
        fold(Node::Extreme {
            args: args.into_iter().map(|t| t.node).collect(),
            greatest,
        }),
        ty,
        span,
    ))
}

/// `round(x[, digits])` and `trunc(x[, digits])`: with digits, an int becomes a decimal.
fn round_or_trunc(
    c: &Compiler,
    name: &str,
    args: Vec<Typed>,
    span: Span,
) -> Result<Typed, ExprError> {
    let fname = format!("{name}()");
    let n = args.len();
    let f = if name == "round" {
        Func::Round
    } else {
        Func::Trunc
    };
    let ([x], mut rest) = take(c, args, span)?;
    let x = want_numeric(c, &fname, 0, n, x)?;
    match rest.next() {
        None => {
            let ty = x.ty;
            Ok(call_node(f, vec![x], ty, span))
        }
        Some(digits) => {
            let digits = want_int(c, &fname, 1, n, digits)?;
            let x = if x.ty == DataType::Int {
                c.coerce(x, DataType::Decimal)?
            } else {
                x
            };
            let ty = x.ty;
            Ok(call_node(f, vec![x, digits], ty, span))
        }
    }
}

/// `mod(a, b)` is the `%` operator.
fn modulo(c: &Compiler, name: &str, args: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    let args = check_args(c, name, args, &[Num])?;
    let ([a, b], _) = take(c, args, span)?;
    c.build_arith(ArithOp::Mod, a, b, span)
}

fn date_trunc(c: &Compiler, name: &str, args: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    let fname = format!("{name}()");
    let n = args.len();
    let ([u, x], _) = take(c, args, span)?;
    let unit_name = want_str_lit(c, &fname, 0, n, &u, "the unit, such as 'month'")?;
    let unit = TruncUnit::parse(&unit_name).ok_or_else(|| {
        c.invalid(
            u.span,
            format!("date_trunc(): unknown unit {unit_name:?} (supported: {TRUNC_UNITS})"),
        )
    })?;
    let x = want_datetime(c, &fname, 1, n, x)?;
    Ok(Typed::new(
        fold(Node::DateTrunc {
            unit,
            arg: Box::new(x.node),
        }),
        DataType::Timestamp,
        span,
    ))
}

/// `to_date`, `to_timestamp`, `to_char`, `to_number`: the template (a string literal)
/// is parsed now; a template that cannot be is a plan error.
fn formatting(c: &Compiler, name: &str, args: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    use super::node::Formatted as F;
    use super::template::{DateTemplate, NumberTemplate};
    let fname = format!("{name}()");
    let n = args.len();
    let ([x, f], _) = take(c, args, span)?;
    let out = match name {
        "to_date" => DataType::Date,
        "to_timestamp" => DataType::Timestamp,
        "to_number" => DataType::Decimal,
        _ => DataType::Text,
    };
    if f.lit == Lit::Null || x.lit == Lit::Null {
        return Ok(null_of(out, span));
    }
    let fmt = want_str_lit(c, &fname, 1, n, &f, "the format")?;
    let bad = |e: String| c.invalid(f.span, format!("{fname}: {e}"));
    let (formatted, x) = match name {
        "to_date" => (
            F::ToDate(DateTemplate::parse(&fmt).map_err(bad)?),
            want_text(c, &fname, 0, n, x)?,
        ),
        "to_timestamp" => (
            F::ToTimestamp(DateTemplate::parse(&fmt).map_err(bad)?),
            want_text(c, &fname, 0, n, x)?,
        ),
        "to_number" => (
            F::ToNumber(NumberTemplate::parse(&fmt).map_err(bad)?),
            want_text(c, &fname, 0, n, x)?,
        ),
        _ => match x.ty {
            DataType::Date | DataType::Timestamp => {
                (F::CharDate(DateTemplate::parse(&fmt).map_err(bad)?), x)
            }
            DataType::Int | DataType::Float | DataType::Decimal => {
                (F::CharNumber(NumberTemplate::parse(&fmt).map_err(bad)?), x)
            }
            _ => {
                return Err(arg_mismatch(
                    c,
                    &fname,
                    0,
                    n,
                    &x,
                    "a date, a timestamp or a number",
                ));
            }
        },
    };
    Ok(Typed::new(
        fold(Node::Format {
            f: formatted,
            arg: Box::new(x.node),
        }),
        out,
        span,
    ))
}

fn date_part_misuse(c: &Compiler, _: &str, _: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    Err(c.invalid(
        span,
        "date_part() argument 1 (the field) must be a string literal such as 'year'",
    ))
}

fn age_misuse(c: &Compiler, _: &str, _: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    Err(c.invalid(span, AGE_HELP))
}

/// `now()` and its synonyms: the run's start, the same for every row.
fn now(c: &Compiler, _: &str, _: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    Ok(Typed::new(
        Node::Const(Value::Timestamp(c.ctx.now)),
        DataType::Timestamp,
        span,
    ))
}

fn current_date(c: &Compiler, _: &str, _: Vec<Typed>, span: Span) -> Result<Typed, ExprError> {
    Ok(Typed::new(
        Node::Const(Value::Date(c.ctx.now.date_naive())),
        DataType::Date,
        span,
    ))
}

#[cfg(test)]
mod tests {
    use super::SIGNATURES;

    #[test]
    fn each_function_is_in_the_table_once_with_a_sane_arity() {
        for (i, s) in SIGNATURES.iter().enumerate() {
            assert!(s.min <= s.max, "{}: min {} > max {}", s.name, s.min, s.max);
            assert!(
                SIGNATURES[i + 1..].iter().all(|o| o.name != s.name),
                "{} is in the table twice",
                s.name
            );
        }
    }

    #[test]
    fn every_function_in_the_table_is_documented() {
        // docs/expressions.md names each function as `name(` (or `name` for keywords).
        let doc = include_str!("../../docs/expressions.md");
        let mut missing = Vec::new();
        for s in SIGNATURES {
            if !doc.contains(&format!("{}(", s.name)) && !doc.contains(&format!("`{}`", s.name)) {
                missing.push(s.name);
            }
        }
        assert!(
            missing.is_empty(),
            "not documented in docs/expressions.md: {missing:?}"
        );
    }
}
