//! Function calls: resolution and type checking at plan time, evaluation at row time.

use std::borrow::Cow;

use regex::{Regex, RegexBuilder};
use rust_decimal::{Decimal, RoundingStrategy};
use sqlparser::ast::{self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart};
use sqlparser::tokenizer::Span;

use super::EvalError;
use super::ExprError;
use super::compile::{Compiler, string_value};
use super::datetime::{self, AgeField, DATE_FIELDS, DateField, TRUNC_UNITS, TruncUnit};
use super::eval::{ArithOp, CowResult, Node, Repl, TextResult, type_error};
use super::text::{self, TrimSide};
use super::types::{self, Lit, Typed, fold};
use crate::row::Value;
use crate::schema::DataType;

/// Functions returning text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextFn {
    Lower,
    Upper,
    Initcap,
    Reverse,
    Trim(TrimSide),
    Substr,
    Replace,
    SplitPart,
    Concat,
    ConcatWs,
    Left,
    Right,
    Lpad,
    Rpad,
    Md5,
    Sha256,
}

/// Other simple functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Length,
    OctetLength,
    Strpos,
    StartsWith,
    Abs,
    Round,
    Trunc,
    Floor,
    Ceil,
    Power,
    Sqrt,
    AgeYears,
}

/// Every function name, for "did you mean" suggestions.
const KNOWN: &[&str] = &[
    "lower",
    "upper",
    "initcap",
    "reverse",
    "trim",
    "btrim",
    "ltrim",
    "rtrim",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "substr",
    "substring",
    "replace",
    "split_part",
    "concat",
    "concat_ws",
    "left",
    "right",
    "lpad",
    "rpad",
    "strpos",
    "position",
    "starts_with",
    "md5",
    "sha256",
    "regexp_replace",
    "regexp_like",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "abs",
    "round",
    "trunc",
    "floor",
    "ceil",
    "ceiling",
    "mod",
    "power",
    "pow",
    "sqrt",
    "date_part",
    "extract",
    "date_trunc",
    "age",
    "age_years",
    "now",
    "current_timestamp",
    "current_date",
];

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

/// Build a call from compiled arguments.
pub(crate) fn build(
    c: &Compiler,
    name: &str,
    args: Vec<Typed>,
    span: Span,
) -> Result<Typed, ExprError> {
    let n = args.len();
    let fname = format!("{name}()");
    let texts = |args: Vec<Typed>| -> Result<Vec<Typed>, ExprError> {
        let total = args.len();
        args.into_iter()
            .enumerate()
            .map(|(i, t)| want_text(c, &fname, i, total, t))
            .collect()
    };
    match name {
        "lower" | "upper" | "initcap" | "reverse" | "md5" | "sha256" => {
            arity(c, name, n, 1, 1, span)?;
            let f = match name {
                "lower" => TextFn::Lower,
                "upper" => TextFn::Upper,
                "initcap" => TextFn::Initcap,
                "reverse" => TextFn::Reverse,
                "md5" => TextFn::Md5,
                _ => TextFn::Sha256,
            };
            Ok(text_node(f, texts(args)?, span))
        }
        "trim" | "btrim" | "ltrim" | "rtrim" => {
            arity(c, name, n, 1, 2, span)?;
            let side = match name {
                "ltrim" => TrimSide::Leading,
                "rtrim" => TrimSide::Trailing,
                _ => TrimSide::Both,
            };
            Ok(text_node(TextFn::Trim(side), texts(args)?, span))
        }
        "length" | "char_length" | "character_length" | "octet_length" => {
            arity(c, name, n, 1, 1, span)?;
            let f = if name == "octet_length" {
                Func::OctetLength
            } else {
                Func::Length
            };
            Ok(call_node(f, texts(args)?, DataType::Int, span))
        }
        "substr" | "substring" => {
            arity(c, name, n, 2, 3, span)?;
            let mut out = Vec::with_capacity(n);
            for (i, t) in args.into_iter().enumerate() {
                out.push(if i == 0 {
                    want_text(c, &fname, i, n, t)?
                } else {
                    want_int(c, &fname, i, n, t)?
                });
            }
            Ok(text_node(TextFn::Substr, out, span))
        }
        "replace" => {
            arity(c, name, n, 3, 3, span)?;
            Ok(text_node(TextFn::Replace, texts(args)?, span))
        }
        "split_part" => {
            arity(c, name, n, 3, 3, span)?;
            let mut out = Vec::with_capacity(n);
            for (i, t) in args.into_iter().enumerate() {
                out.push(if i < 2 {
                    want_text(c, &fname, i, n, t)?
                } else {
                    want_int(c, &fname, i, n, t)?
                });
            }
            Ok(text_node(TextFn::SplitPart, out, span))
        }
        "concat" => {
            arity(c, name, n, 1, usize::MAX, span)?;
            Ok(text_node(TextFn::Concat, args, span))
        }
        "concat_ws" => {
            arity(c, name, n, 1, usize::MAX, span)?;
            let mut it = args.into_iter();
            let mut out = Vec::with_capacity(n);
            if let Some(sep) = it.next() {
                out.push(want_text(c, &fname, 0, n, sep)?);
            }
            out.extend(it);
            Ok(text_node(TextFn::ConcatWs, out, span))
        }
        "left" | "right" | "lpad" | "rpad" => {
            let (lo, hi, f) = match name {
                "left" => (2, 2, TextFn::Left),
                "right" => (2, 2, TextFn::Right),
                "lpad" => (2, 3, TextFn::Lpad),
                _ => (2, 3, TextFn::Rpad),
            };
            arity(c, name, n, lo, hi, span)?;
            // (text, int[, text]): the second argument is a length.
            let mut out = Vec::with_capacity(n);
            for (i, t) in args.into_iter().enumerate() {
                out.push(if i == 1 {
                    want_int(c, &fname, i, n, t)?
                } else {
                    want_text(c, &fname, i, n, t)?
                });
            }
            Ok(text_node(f, out, span))
        }
        "strpos" | "position" => {
            arity(c, name, n, 2, 2, span)?;
            Ok(call_node(Func::Strpos, texts(args)?, DataType::Int, span))
        }
        "starts_with" => {
            arity(c, name, n, 2, 2, span)?;
            Ok(call_node(
                Func::StartsWith,
                texts(args)?,
                DataType::Bool,
                span,
            ))
        }
        "regexp_like" => {
            arity(c, name, n, 2, 3, span)?;
            let mut it = args.into_iter();
            let (Some(s), Some(p)) = (it.next(), it.next()) else {
                return Err(c.invalid(span, "internal error: lost an argument"));
            };
            let ci = match it.next() {
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
        "regexp_replace" => {
            arity(c, name, n, 3, 4, span)?;
            let mut it = args.into_iter();
            let (Some(s), Some(p), Some(r)) = (it.next(), it.next(), it.next()) else {
                return Err(c.invalid(span, "internal error: lost an argument"));
            };
            let (global, ci) = match it.next() {
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
        "coalesce" => {
            arity(c, name, n, 1, usize::MAX, span)?;
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
        "nullif" => {
            arity(c, name, n, 2, 2, span)?;
            let (args, ty) = c.unify_all(args, "NULLIF", span)?;
            let mut it = args.into_iter();
            let (Some(l), Some(r)) = (it.next(), it.next()) else {
                return Err(c.invalid(span, "internal error: lost an argument"));
            };
            Ok(Typed::new(
                fold(Node::NullIf {
                    l: Box::new(l.node),
                    r: Box::new(r.node),
                }),
                ty,
                span,
            ))
        }
        "greatest" | "least" => {
            arity(c, name, n, 1, usize::MAX, span)?;
            let what = if name == "greatest" {
                "GREATEST"
            } else {
                "LEAST"
            };
            let (args, ty) = c.unify_all(args, what, span)?;
            Ok(Typed::new(
                fold(Node::Extreme {
                    args: args.into_iter().map(|t| t.node).collect(),
                    greatest: name == "greatest",
                }),
                ty,
                span,
            ))
        }
        "abs" | "floor" | "ceil" | "ceiling" => {
            arity(c, name, n, 1, 1, span)?;
            let f = match name {
                "abs" => Func::Abs,
                "floor" => Func::Floor,
                _ => Func::Ceil,
            };
            let mut out = Vec::with_capacity(1);
            for t in args {
                out.push(want_numeric(c, &fname, 0, 1, t)?);
            }
            let ty = out.first().map(|t| t.ty).unwrap_or(DataType::Decimal);
            Ok(call_node(f, out, ty, span))
        }
        "round" | "trunc" => {
            arity(c, name, n, 1, 2, span)?;
            let f = if name == "round" {
                Func::Round
            } else {
                Func::Trunc
            };
            let mut it = args.into_iter();
            let Some(x) = it.next() else {
                return Err(c.invalid(span, "internal error: lost an argument"));
            };
            let x = want_numeric(c, &fname, 0, n, x)?;
            match it.next() {
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
        "mod" => {
            arity(c, name, n, 2, 2, span)?;
            let mut out = Vec::with_capacity(2);
            for (i, t) in args.into_iter().enumerate() {
                out.push(want_numeric(c, &fname, i, n, t)?);
            }
            let mut it = out.into_iter();
            let (Some(a), Some(b)) = (it.next(), it.next()) else {
                return Err(c.invalid(span, "internal error: lost an argument"));
            };
            c.build_arith(ArithOp::Mod, a, b, span)
        }
        "power" | "pow" | "sqrt" => {
            let want = if name == "sqrt" { 1 } else { 2 };
            arity(c, name, n, want, want, span)?;
            let mut out = Vec::with_capacity(want);
            for (i, t) in args.into_iter().enumerate() {
                let t = want_numeric(c, &fname, i, n, t)?;
                out.push(c.coerce(t, DataType::Float)?);
            }
            let f = if name == "sqrt" {
                Func::Sqrt
            } else {
                Func::Power
            };
            Ok(call_node(f, out, DataType::Float, span))
        }
        "date_trunc" => {
            arity(c, name, n, 2, 2, span)?;
            let mut it = args.into_iter();
            let (Some(u), Some(x)) = (it.next(), it.next()) else {
                return Err(c.invalid(span, "internal error: lost an argument"));
            };
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
        "date_part" => Err(c.invalid(
            span,
            "date_part() argument 1 (the field) must be a string literal such as 'year'",
        )),
        "age_years" => {
            arity(c, name, n, 2, 2, span)?;
            let mut out = Vec::with_capacity(2);
            for (i, t) in args.into_iter().enumerate() {
                out.push(want_datetime(c, &fname, i, n, t)?);
            }
            Ok(call_node(Func::AgeYears, out, DataType::Int, span))
        }
        "now"
        | "current_timestamp"
        | "localtimestamp"
        | "transaction_timestamp"
        | "statement_timestamp" => {
            arity(c, name, n, 0, 0, span)?;
            Ok(Typed::new(
                Node::Const(Value::Timestamp(c.ctx.now)),
                DataType::Timestamp,
                span,
            ))
        }
        "current_date" => {
            arity(c, name, n, 0, 0, span)?;
            Ok(Typed::new(
                Node::Const(Value::Date(c.ctx.now.date_naive())),
                DataType::Date,
                span,
            ))
        }
        "age" => Err(c.invalid(span, AGE_HELP)),
        other => {
            let hint = match crate::format::closest(other, KNOWN.iter().copied()) {
                Some(s) => format!(" (did you mean {s}()?)"),
                None => " (see docs/expressions.md for the supported functions)".to_string(),
            };
            Err(c.invalid(span, format!("unknown function {other}(){hint}")))
        }
    }
}

// ----- row time ----------------------------------------------------------------------

#[inline]
fn arg(args: &[Node], i: usize) -> Result<&Node, EvalError> {
    args.get(i)
        .ok_or_else(|| EvalError::new("internal error: missing function argument"))
}

#[inline]
fn text_arg<'a>(args: &'a [Node], i: usize, row: &'a [Value]) -> TextResult<'a> {
    arg(args, i)?.text_operand(row)
}

#[inline]
fn int_arg(args: &[Node], i: usize, row: &[Value]) -> Result<Option<i64>, EvalError> {
    match &*arg(args, i)?.operand(row)? {
        Value::Int(n) => Ok(Some(*n)),
        Value::Null => Ok(None),
        other => Err(type_error("int", other)),
    }
}

/// Evaluate a text function.
pub(crate) fn eval_text_fn<'a>(f: TextFn, args: &'a [Node], row: &'a [Value]) -> TextResult<'a> {
    macro_rules! text {
        ($i:expr) => {
            match text_arg(args, $i, row)? {
                Some(s) => s,
                None => return Ok(None),
            }
        };
    }
    macro_rules! int {
        ($i:expr) => {
            match int_arg(args, $i, row)? {
                Some(n) => n,
                None => return Ok(None),
            }
        };
    }
    Ok(Some(match f {
        TextFn::Lower => text::lower(text!(0)),
        TextFn::Upper => text::upper(text!(0)),
        TextFn::Initcap => Cow::Owned(text::initcap(&text!(0))),
        TextFn::Reverse => Cow::Owned(text::reverse(&text!(0))),
        TextFn::Md5 => Cow::Owned(text::md5_hex(&text!(0))),
        TextFn::Sha256 => Cow::Owned(text::sha256_hex(&text!(0))),
        TextFn::Trim(side) => {
            let s = text!(0);
            let range = if args.len() > 1 {
                let chars = text!(1);
                text::trim_range(&s, &chars, side)
            } else {
                text::trim_range(&s, " ", side)
            };
            text::slice_cow(s, range)
        }
        TextFn::Substr => {
            let s = text!(0);
            let start = int!(1);
            let count = if args.len() > 2 { Some(int!(2)) } else { None };
            let range = text::substr_range(&s, start, count)?;
            text::slice_cow(s, range)
        }
        TextFn::Replace => {
            let s = text!(0);
            let from = text!(1);
            let to = text!(2);
            text::replace(s, &from, &to)
        }
        TextFn::SplitPart => {
            let s = text!(0);
            let delim = text!(1);
            let n = int!(2);
            match text::split_part_range(&s, &delim, n)? {
                Some(range) => text::slice_cow(s, range),
                None => Cow::Borrowed(""),
            }
        }
        TextFn::Concat => {
            let mut out = String::new();
            for a in args {
                if let Some(s) = a.text_operand(row)? {
                    out.push_str(&s);
                }
            }
            Cow::Owned(out)
        }
        TextFn::ConcatWs => {
            let sep = text!(0);
            let mut out = String::new();
            let mut first = true;
            for a in args.iter().skip(1) {
                if let Some(s) = a.text_operand(row)? {
                    if !first {
                        out.push_str(&sep);
                    }
                    out.push_str(&s);
                    first = false;
                }
            }
            Cow::Owned(out)
        }
        TextFn::Left => {
            let s = text!(0);
            let range = text::left_range(&s, int!(1));
            text::slice_cow(s, range)
        }
        TextFn::Right => {
            let s = text!(0);
            let range = text::right_range(&s, int!(1));
            text::slice_cow(s, range)
        }
        TextFn::Lpad | TextFn::Rpad => {
            let s = text!(0);
            let len = int!(1);
            let fill = if args.len() > 2 {
                text!(2)
            } else {
                Cow::Borrowed(" ")
            };
            Cow::Owned(text::pad(&s, len, &fill, f == TextFn::Lpad)?)
        }
    }))
}

fn round_decimal(
    d: Decimal,
    digits: i64,
    strategy: RoundingStrategy,
) -> Result<Decimal, EvalError> {
    if digits >= 0 {
        let dp = u32::try_from(digits.min(28)).unwrap_or(28);
        let mut r = d.round_dp_with_strategy(dp, strategy);
        r.rescale(dp);
        return Ok(r);
    }
    let k = digits.unsigned_abs();
    if k > 28 {
        return Ok(Decimal::ZERO);
    }
    // k <= 28, so 10^k fits in i128 and in a decimal's 96-bit mantissa.
    let factor = Decimal::try_from_i128_with_scale(10i128.pow(u32::try_from(k).unwrap_or(28)), 0)
        .map_err(|_| EvalError::new("numeric value out of range"))?;
    let q = d
        .checked_div(factor)
        .ok_or_else(|| EvalError::new("numeric value out of range"))?;
    q.round_dp_with_strategy(0, strategy)
        .checked_mul(factor)
        .ok_or_else(|| EvalError::new("numeric value out of range"))
}

fn round_float(x: f64, digits: i64, strategy: RoundingStrategy) -> Result<f64, EvalError> {
    if !x.is_finite() {
        return Ok(x);
    }
    match types::f64_to_dec(x) {
        Ok(d) => Ok(types::dec_to_f64(round_decimal(d, digits, strategy)?)),
        // Beyond decimal's range a float has no fractional digits left to round.
        Err(_) => Ok(x),
    }
}

/// Evaluate a non-text function.
pub(crate) fn eval_call<'a>(f: Func, args: &'a [Node], row: &'a [Value]) -> CowResult<'a> {
    let owned = |v: Value| Ok(Cow::Owned(v));
    match f {
        Func::Length | Func::OctetLength => match text_arg(args, 0, row)? {
            Some(s) => {
                let n = if f == Func::Length {
                    text::char_len(&s)
                } else {
                    s.len()
                };
                owned(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            None => owned(Value::Null),
        },
        Func::Strpos | Func::StartsWith => {
            let (Some(s), Some(sub)) = (text_arg(args, 0, row)?, text_arg(args, 1, row)?) else {
                return owned(Value::Null);
            };
            owned(if f == Func::Strpos {
                Value::Int(text::strpos(&s, &sub))
            } else {
                Value::Bool(s.starts_with(&*sub))
            })
        }
        Func::Abs | Func::Floor | Func::Ceil => {
            let v = arg(args, 0)?.operand(row)?;
            owned(match &*v {
                Value::Null => Value::Null,
                Value::Int(i) => match f {
                    Func::Abs => Value::Int(
                        i.checked_abs()
                            .ok_or_else(|| EvalError::new("integer overflow"))?,
                    ),
                    _ => Value::Int(*i),
                },
                Value::Float(x) => Value::Float(match f {
                    Func::Abs => x.abs(),
                    Func::Floor => x.floor(),
                    _ => x.ceil(),
                }),
                Value::Decimal(d) => Value::Decimal(match f {
                    Func::Abs => d.abs(),
                    Func::Floor => d.floor(),
                    _ => d.ceil(),
                }),
                other => return Err(type_error("numeric", other)),
            })
        }
        Func::Round | Func::Trunc => {
            let strategy = if f == Func::Round {
                RoundingStrategy::MidpointAwayFromZero
            } else {
                RoundingStrategy::ToZero
            };
            let v = arg(args, 0)?.operand(row)?;
            if v.is_null() {
                return owned(Value::Null);
            }
            let digits = if args.len() > 1 {
                match int_arg(args, 1, row)? {
                    Some(d) => Some(d),
                    None => return owned(Value::Null),
                }
            } else {
                None
            };
            owned(match (&*v, digits) {
                (Value::Int(i), None) => Value::Int(*i),
                (Value::Float(x), None) => Value::Float(if f == Func::Round {
                    x.round_ties_even()
                } else {
                    x.trunc()
                }),
                (Value::Float(x), Some(d)) => Value::Float(round_float(*x, d, strategy)?),
                (Value::Decimal(x), d) => {
                    Value::Decimal(round_decimal(*x, d.unwrap_or(0), strategy)?)
                }
                (other, _) => return Err(type_error("numeric", other)),
            })
        }
        Func::Power => {
            let a = arg(args, 0)?.operand(row)?;
            let b = arg(args, 1)?.operand(row)?;
            let (Value::Float(x), Value::Float(y)) = (&*a, &*b) else {
                if a.is_null() || b.is_null() {
                    return owned(Value::Null);
                }
                return Err(type_error(
                    "float",
                    if matches!(&*a, Value::Float(_)) {
                        &b
                    } else {
                        &a
                    },
                ));
            };
            let (x, y) = (*x, *y);
            if x == 0.0 && y < 0.0 {
                return Err(EvalError::new(
                    "zero raised to a negative power is undefined",
                ));
            }
            if x < 0.0 && y.fract() != 0.0 {
                return Err(EvalError::new(
                    "a negative number raised to a non-integer power yields a complex result",
                ));
            }
            let r = x.powf(y);
            if r.is_infinite() && x.is_finite() && y.is_finite() {
                return Err(EvalError::new("value out of range: overflow"));
            }
            owned(Value::Float(r))
        }
        Func::Sqrt => {
            let v = arg(args, 0)?.operand(row)?;
            owned(match &*v {
                Value::Null => Value::Null,
                Value::Float(x) if *x < 0.0 => {
                    return Err(EvalError::new(
                        "cannot take square root of a negative number",
                    ));
                }
                Value::Float(x) => Value::Float(x.sqrt()),
                other => return Err(type_error("float", other)),
            })
        }
        Func::AgeYears => {
            let a = arg(args, 0)?.operand(row)?;
            let b = arg(args, 1)?.operand(row)?;
            owned(datetime::age_years(&a, &b)?)
        }
    }
}
