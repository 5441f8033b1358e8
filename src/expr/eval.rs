//! The compiled expression tree and its per-row evaluation.
//!
//! Every node was type-checked at plan time, so evaluation only dispatches on the node
//! and on the runtime value variant. Values are passed around as `Cow<Value>` (column
//! references and constants are borrowed, never cloned) and text as `Cow<str>`, so a
//! chain such as `lower(trim(email))` slices the input and allocates once at most.
//! Comparisons never allocate.

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;

use super::EvalError;
use super::datetime::{self, AgeField, DateField, TruncUnit};
use super::functions::{self, Func, TextFn};
use super::like::LikePat;
use super::text;
use super::types::{self, CastTo};
use crate::row::Value;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    #[inline]
    fn test(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::NotEq => ord != Ordering::Equal,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::LtEq => ord != Ordering::Greater,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::GtEq => ord != Ordering::Less,
        }
    }
}

/// Arithmetic operators. Operands were brought to one numeric type at plan time
/// (or are a date and an int / two dates for `+` and `-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

/// The replacement of `regexp_replace`.
#[derive(Debug, Clone)]
pub(crate) enum Repl {
    /// A literal replacement, already translated to the regex crate's syntax
    /// (`expand`) or used verbatim (no group references).
    Literal { text: String, expand: bool },
    /// A computed replacement in PostgreSQL syntax, translated per row.
    Dynamic(Box<Node>),
}

/// A compiled expression node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A literal, or a folded constant subexpression.
    Const(Value),
    /// A column, by index in the input row.
    Col(usize),
    /// Boolean `NOT`.
    Not(Box<Node>),
    /// Three-valued `AND`.
    And(Box<Node>, Box<Node>),
    /// Three-valued `OR`.
    Or(Box<Node>, Box<Node>),
    /// `IS NULL` (`negated`: `IS NOT NULL`).
    IsNull { arg: Box<Node>, negated: bool },
    /// `IS TRUE` / `IS FALSE` (`negated`: `IS NOT ...`); `want` is TRUE or FALSE.
    IsBool {
        arg: Box<Node>,
        want: bool,
        negated: bool,
    },
    /// `IS DISTINCT FROM` (`negated`: `IS NOT DISTINCT FROM`).
    Distinct {
        l: Box<Node>,
        r: Box<Node>,
        negated: bool,
    },
    /// Comparison of two values of the same type.
    Cmp {
        op: CmpOp,
        l: Box<Node>,
        r: Box<Node>,
    },
    /// `IN (list)`.
    In {
        arg: Box<Node>,
        list: Vec<Node>,
        negated: bool,
    },
    /// `LIKE` / `ILIKE`.
    Like {
        arg: Box<Node>,
        pat: LikePat,
        negated: bool,
    },
    /// `~`, `~*`, `regexp_like`.
    Regex {
        arg: Box<Node>,
        re: Regex,
        negated: bool,
    },
    /// `+ - * / %` on numbers, date ± int, date - date.
    Arith {
        op: ArithOp,
        l: Box<Node>,
        r: Box<Node>,
    },
    /// Unary minus.
    Neg(Box<Node>),
    /// `a || b || ...`: NULL if any part is NULL.
    Concat(Vec<Node>),
    /// Searched CASE (a simple CASE is compiled to comparisons).
    Case {
        whens: Vec<(Node, Node)>,
        otherwise: Box<Node>,
    },
    /// `coalesce(...)`.
    Coalesce(Vec<Node>),
    /// `nullif(a, b)`.
    NullIf { l: Box<Node>, r: Box<Node> },
    /// `greatest(...)` / `least(...)`.
    Extreme { args: Vec<Node>, greatest: bool },
    /// `CAST(arg AS to)` / `arg::to`, and implicit numeric widening.
    Cast { arg: Box<Node>, to: CastTo },
    /// A function returning text.
    Text { f: TextFn, args: Vec<Node> },
    /// Any other simple function.
    Call { f: Func, args: Vec<Node> },
    /// `regexp_replace(arg, pattern, replacement [, flags])`.
    RegexpReplace {
        arg: Box<Node>,
        re: Regex,
        repl: Repl,
        global: bool,
    },
    /// `date_part(field, arg)` (float) / `extract(field from arg)` (decimal).
    DatePart {
        field: DateField,
        arg: Box<Node>,
        decimal: bool,
    },
    /// `date_part(field, age(a, b))` / `extract(field from age(a, b))`.
    AgePart {
        field: AgeField,
        a: Box<Node>,
        b: Box<Node>,
        decimal: bool,
    },
    /// `date_trunc(unit, arg)`.
    DateTrunc { unit: TruncUnit, arg: Box<Node> },
}

pub(crate) type CowResult<'a> = Result<Cow<'a, Value>, EvalError>;
pub(crate) type TextResult<'a> = Result<Option<Cow<'a, str>>, EvalError>;

#[inline(always)]
fn column(row: &[Value], i: usize) -> Result<&Value, EvalError> {
    match row.get(i) {
        Some(v) => Ok(v),
        None => Err(short_row(row.len(), i)),
    }
}

#[cold]
#[inline(never)]
fn short_row(len: usize, i: usize) -> EvalError {
    EvalError::new(format!(
        "row has {len} values but the expression reads value {} (row does not match the schema)",
        i + 1
    ))
}

/// Borrowed text of a value; non-text values are rendered.
#[inline]
fn value_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Text(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Null => None,
        other => Some(Cow::Owned(text::render(other))),
    }
}

impl Node {
    /// All direct children.
    pub(crate) fn children(&self) -> Vec<&Node> {
        match self {
            Node::Const(_) | Node::Col(_) => Vec::new(),
            Node::Not(a) | Node::Neg(a) => vec![a],
            Node::IsNull { arg, .. }
            | Node::IsBool { arg, .. }
            | Node::Like { arg, .. }
            | Node::Regex { arg, .. }
            | Node::Cast { arg, .. }
            | Node::DatePart { arg, .. }
            | Node::DateTrunc { arg, .. } => vec![arg],
            Node::And(l, r)
            | Node::Or(l, r)
            | Node::Distinct { l, r, .. }
            | Node::Cmp { l, r, .. }
            | Node::Arith { l, r, .. }
            | Node::NullIf { l, r }
            | Node::AgePart { a: l, b: r, .. } => vec![l, r],
            Node::In { arg, list, .. } => {
                let mut v: Vec<&Node> = vec![arg];
                v.extend(list.iter());
                v
            }
            Node::Concat(args)
            | Node::Coalesce(args)
            | Node::Extreme { args, .. }
            | Node::Text { args, .. }
            | Node::Call { args, .. } => args.iter().collect(),
            Node::Case { whens, otherwise } => {
                let mut v: Vec<&Node> = Vec::with_capacity(whens.len() * 2 + 1);
                for (c, r) in whens {
                    v.push(c);
                    v.push(r);
                }
                v.push(otherwise);
                v
            }
            Node::RegexpReplace { arg, repl, .. } => {
                let mut v: Vec<&Node> = vec![arg];
                if let Repl::Dynamic(n) = repl {
                    v.push(n);
                }
                v
            }
        }
    }

    /// True when the node does not read the row (all leaves are constants). Dynamic
    /// LIKE patterns count as children through `LikePat`.
    pub(crate) fn is_const(&self) -> bool {
        match self {
            Node::Const(_) => true,
            Node::Col(_) => false,
            Node::Like { arg, pat, .. } => arg.is_const() && pat.is_const(),
            other => other.children().iter().all(|c| c.is_const()),
        }
    }

    /// A child's value: columns and constants are read inline (no call, no copy);
    /// anything else is evaluated.
    #[inline(always)]
    pub(crate) fn operand<'a>(&'a self, row: &'a [Value]) -> CowResult<'a> {
        match self {
            Node::Col(i) => column(row, *i).map(Cow::Borrowed),
            Node::Const(v) => Ok(Cow::Borrowed(v)),
            _ => self.eval(row),
        }
    }

    /// A child's text, with columns and constants read inline.
    #[inline(always)]
    pub(crate) fn text_operand<'a>(&'a self, row: &'a [Value]) -> TextResult<'a> {
        match self {
            Node::Col(i) => match column(row, *i)? {
                Value::Text(s) => Ok(Some(Cow::Borrowed(s.as_str()))),
                other => Ok(value_text(other)),
            },
            Node::Const(Value::Text(s)) => Ok(Some(Cow::Borrowed(s.as_str()))),
            _ => self.eval_text(row),
        }
    }

    /// Evaluate to a value (borrowed when it is a column or a constant).
    pub(crate) fn eval<'a>(&'a self, row: &'a [Value]) -> CowResult<'a> {
        match self {
            Node::Const(v) => Ok(Cow::Borrowed(v)),
            Node::Col(i) => column(row, *i).map(Cow::Borrowed),
            Node::Not(_)
            | Node::And(..)
            | Node::Or(..)
            | Node::IsNull { .. }
            | Node::IsBool { .. }
            | Node::Distinct { .. }
            | Node::Cmp { .. }
            | Node::In { .. }
            | Node::Like { .. }
            | Node::Regex { .. } => Ok(Cow::Owned(match self.eval_bool(row)? {
                Some(b) => Value::Bool(b),
                None => Value::Null,
            })),
            Node::Text { .. } | Node::RegexpReplace { .. } | Node::Concat(_) => {
                Ok(Cow::Owned(match self.eval_text(row)? {
                    Some(s) => Value::Text(s.into_owned()),
                    None => Value::Null,
                }))
            }
            Node::Arith { op, l, r } => {
                let a = l.operand(row)?;
                if a.is_null() {
                    return Ok(Cow::Owned(Value::Null));
                }
                let b = r.operand(row)?;
                arith(*op, &a, &b).map(Cow::Owned)
            }
            Node::Neg(a) => negate(&*a.operand(row)?).map(Cow::Owned),
            Node::Case { whens, otherwise } => {
                for (cond, result) in whens {
                    if cond.eval_bool(row)? == Some(true) {
                        return result.operand(row);
                    }
                }
                otherwise.operand(row)
            }
            Node::Coalesce(args) => {
                for a in args {
                    let v = a.operand(row)?;
                    if !v.is_null() {
                        return Ok(v);
                    }
                }
                Ok(Cow::Owned(Value::Null))
            }
            Node::NullIf { l, r } => {
                let a = l.operand(row)?;
                if a.is_null() {
                    return Ok(a);
                }
                let b = r.operand(row)?;
                if !b.is_null() && compare(&a, &b)? == Ordering::Equal {
                    return Ok(Cow::Owned(Value::Null));
                }
                Ok(a)
            }
            Node::Extreme { args, greatest } => {
                let mut best: Option<Cow<'a, Value>> = None;
                for a in args {
                    let v = a.operand(row)?;
                    if v.is_null() {
                        continue;
                    }
                    let replace = match &best {
                        None => true,
                        Some(b) => {
                            let ord = compare(&v, b)?;
                            if *greatest {
                                ord == Ordering::Greater
                            } else {
                                ord == Ordering::Less
                            }
                        }
                    };
                    if replace {
                        best = Some(v);
                    }
                }
                Ok(best.unwrap_or(Cow::Owned(Value::Null)))
            }
            Node::Cast { arg, to } => types::cast(arg.operand(row)?, to),
            Node::Call { f, args } => functions::eval_call(*f, args, row),
            Node::DatePart {
                field,
                arg,
                decimal,
            } => {
                let v = arg.operand(row)?;
                datetime::date_part(*field, &v, *decimal).map(Cow::Owned)
            }
            Node::AgePart {
                field,
                a,
                b,
                decimal,
            } => {
                let x = a.operand(row)?;
                if x.is_null() {
                    return Ok(Cow::Owned(Value::Null));
                }
                let y = b.operand(row)?;
                datetime::age_part(*field, &x, &y, *decimal).map(Cow::Owned)
            }
            Node::DateTrunc { unit, arg } => {
                let v = arg.operand(row)?;
                datetime::date_trunc(*unit, &v).map(Cow::Owned)
            }
        }
    }

    /// Evaluate a text-typed node to a string slice when possible. `None` is NULL.
    pub(crate) fn eval_text<'a>(&'a self, row: &'a [Value]) -> TextResult<'a> {
        match self {
            Node::Col(i) => Ok(value_text(column(row, *i)?)),
            Node::Const(v) => Ok(value_text(v)),
            Node::Concat(parts) => concat_op(parts, row),
            Node::Text { f, args } => functions::eval_text_fn(*f, args, row),
            Node::RegexpReplace {
                arg,
                re,
                repl,
                global,
            } => {
                let Some(s) = arg.text_operand(row)? else {
                    return Ok(None);
                };
                let out = match repl {
                    Repl::Literal { text, expand } => {
                        text::regex_replace(s, re, text, *expand, *global)
                    }
                    Repl::Dynamic(node) => {
                        let Some(r) = node.text_operand(row)? else {
                            return Ok(None);
                        };
                        let (text, expand) = text::pg_replacement(&r);
                        text::regex_replace(s, re, &text, expand, *global)
                    }
                };
                Ok(Some(out))
            }
            _ => Ok(match self.eval(row)? {
                Cow::Borrowed(v) => value_text(v),
                Cow::Owned(Value::Text(s)) => Some(Cow::Owned(s)),
                Cow::Owned(Value::Null) => None,
                Cow::Owned(other) => Some(Cow::Owned(text::render(&other))),
            }),
        }
    }

    /// Evaluate a boolean node. `None` is NULL.
    pub(crate) fn eval_bool(&self, row: &[Value]) -> Result<Option<bool>, EvalError> {
        match self {
            Node::Const(v) => bool_of(v),
            Node::Col(i) => bool_of(column(row, *i)?),
            Node::Not(a) => Ok(a.eval_bool(row)?.map(|b| !b)),
            Node::And(a, b) => {
                let x = a.eval_bool(row)?;
                if x == Some(false) {
                    return Ok(Some(false));
                }
                Ok(match (x, b.eval_bool(row)?) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                })
            }
            Node::Or(a, b) => {
                let x = a.eval_bool(row)?;
                if x == Some(true) {
                    return Ok(Some(true));
                }
                Ok(match (x, b.eval_bool(row)?) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                })
            }
            Node::IsNull { arg, negated } => Ok(Some(arg.is_null_at(row)? != *negated)),
            Node::IsBool { arg, want, negated } => {
                Ok(Some((arg.eval_bool(row)? == Some(*want)) != *negated))
            }
            Node::Distinct { l, r, negated } => {
                let a = l.operand(row)?;
                let b = r.operand(row)?;
                let distinct = match (a.is_null(), b.is_null()) {
                    (true, true) => false,
                    (true, false) | (false, true) => true,
                    (false, false) => compare(&a, &b)? != Ordering::Equal,
                };
                Ok(Some(distinct != *negated))
            }
            Node::Cmp { op, l, r } => {
                let a = l.operand(row)?;
                if a.is_null() {
                    return Ok(None);
                }
                let b = r.operand(row)?;
                if b.is_null() {
                    return Ok(None);
                }
                Ok(Some(op.test(fast_compare(&a, &b)?)))
            }
            Node::In { arg, list, negated } => {
                let a = arg.operand(row)?;
                if a.is_null() {
                    return Ok(None);
                }
                let mut saw_null = false;
                for item in list {
                    // Constant lists (the usual case) are compared in place.
                    let equal = match item {
                        Node::Const(Value::Null) => {
                            saw_null = true;
                            continue;
                        }
                        Node::Const(v) => values_equal(&a, v)?,
                        other => {
                            let v = other.eval(row)?;
                            if v.is_null() {
                                saw_null = true;
                                continue;
                            }
                            values_equal(&a, &v)?
                        }
                    };
                    if equal {
                        return Ok(Some(!*negated));
                    }
                }
                Ok(if saw_null { None } else { Some(*negated) })
            }
            Node::Like { arg, pat, negated } => {
                let Some(s) = arg.text_operand(row)? else {
                    return Ok(None);
                };
                Ok(pat.matches(&s, row)?.map(|m| m != *negated))
            }
            Node::Regex { arg, re, negated } => {
                let Some(s) = arg.text_operand(row)? else {
                    return Ok(None);
                };
                Ok(Some(re.is_match(&s) != *negated))
            }
            _ => bool_of(&*self.eval(row)?),
        }
    }

    /// NULL test without building text values.
    fn is_null_at(&self, row: &[Value]) -> Result<bool, EvalError> {
        match self {
            Node::Text { .. } | Node::RegexpReplace { .. } | Node::Concat(_) => {
                Ok(self.eval_text(row)?.is_none())
            }
            Node::Not(_)
            | Node::And(..)
            | Node::Or(..)
            | Node::Cmp { .. }
            | Node::In { .. }
            | Node::Like { .. }
            | Node::Regex { .. } => Ok(self.eval_bool(row)?.is_none()),
            _ => Ok(self.eval(row)?.is_null()),
        }
    }
}

fn bool_of(v: &Value) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        other => Err(type_error("bool", other)),
    }
}

/// Error for a runtime value whose type differs from the plan (the row does not match
/// the schema the expression was compiled against).
pub(crate) fn type_error(expected: &str, got: &Value) -> EvalError {
    let got = got.data_type().map(|t| t.name()).unwrap_or("null");
    EvalError::new(format!(
        "expected a {expected} value, got {got} (row does not match the schema)"
    ))
}

/// `a || b || ...`
fn concat_op<'a>(parts: &'a [Node], row: &'a [Value]) -> TextResult<'a> {
    // Size the buffer once: exact for constants and text columns, a guess otherwise.
    let mut cap = 0usize;
    for p in parts {
        cap += match p {
            Node::Const(Value::Text(s)) => s.len(),
            Node::Col(i) => match row.get(*i) {
                Some(Value::Text(s)) => s.len(),
                _ => 8,
            },
            _ => 16,
        };
    }
    let mut out = String::with_capacity(cap);
    for p in parts {
        match p {
            Node::Const(Value::Text(s)) => out.push_str(s),
            Node::Const(Value::Null) => return Ok(None),
            Node::Col(i) => match column(row, *i)? {
                Value::Text(s) => out.push_str(s),
                Value::Null => return Ok(None),
                other => text::render_into(other, &mut out),
            },
            other => match other.text_operand(row)? {
                Some(s) => out.push_str(&s),
                None => return Ok(None),
            },
        }
    }
    Ok(Some(Cow::Owned(out)))
}

/// Float comparison like PostgreSQL: NaN equals NaN and sorts above every number.
#[inline]
pub(crate) fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// [`compare`] with the common same-type cases inlined.
#[inline(always)]
fn fast_compare(a: &Value, b: &Value) -> Result<Ordering, EvalError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(cmp_f64(*x, *y)),
        (Value::Text(x), Value::Text(y)) => Ok(x.as_str().cmp(y.as_str())),
        _ => compare(a, b),
    }
}

/// Equality of two non-null values (IN lists).
#[inline(always)]
fn values_equal(a: &Value, b: &Value) -> Result<bool, EvalError> {
    match (a, b) {
        (Value::Text(x), Value::Text(y)) => Ok(x.len() == y.len() && x.as_bytes() == y.as_bytes()),
        (Value::Int(x), Value::Int(y)) => Ok(x == y),
        _ => Ok(compare(a, b)? == Ordering::Equal),
    }
}

/// Compare two non-null values of compatible types.
pub(crate) fn compare(a: &Value, b: &Value) -> Result<Ordering, EvalError> {
    use Value::*;
    Ok(match (a, b) {
        (Int(x), Int(y)) => x.cmp(y),
        (Float(x), Float(y)) => cmp_f64(*x, *y),
        (Decimal(x), Decimal(y)) => x.cmp(y),
        (Text(x), Text(y)) => x.as_str().cmp(y.as_str()),
        (Bool(x), Bool(y)) => x.cmp(y),
        (Date(x), Date(y)) => x.cmp(y),
        (Timestamp(x), Timestamp(y)) => x.cmp(y),
        // Mixed numeric and date/timestamp pairs do not occur after planning (operands
        // are cast to one type), but rows that disagree with the schema still compare
        // sensibly instead of failing.
        (Int(x), Decimal(y)) => rust_decimal::Decimal::from(*x).cmp(y),
        (Decimal(x), Int(y)) => x.cmp(&rust_decimal::Decimal::from(*y)),
        (Int(x), Float(y)) => cmp_f64(*x as f64, *y),
        (Float(x), Int(y)) => cmp_f64(*x, *y as f64),
        (Decimal(x), Float(y)) => cmp_f64(types::dec_to_f64(*x), *y),
        (Float(x), Decimal(y)) => cmp_f64(*x, types::dec_to_f64(*y)),
        (Date(x), Timestamp(y)) => types::date_to_ts(*x).cmp(y),
        (Timestamp(x), Date(y)) => x.cmp(&types::date_to_ts(*y)),
        (x, y) => {
            let name = |v: &Value| v.data_type().map(|t| t.name()).unwrap_or("null");
            return Err(EvalError::new(format!(
                "cannot compare {} with {} (row does not match the schema)",
                name(x),
                name(y)
            )));
        }
    })
}

fn overflow() -> EvalError {
    EvalError::new("integer overflow")
}

fn div_zero() -> EvalError {
    EvalError::new("division by zero")
}

fn numeric_overflow() -> EvalError {
    EvalError::new("numeric value out of range")
}

fn float_result(v: f64, a: f64, b: f64) -> Result<Value, EvalError> {
    if v.is_infinite() && a.is_finite() && b.is_finite() {
        return Err(EvalError::new("value out of range: overflow"));
    }
    Ok(Value::Float(v))
}

/// Binary arithmetic. NULL in, NULL out.
pub(crate) fn arith(op: ArithOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    use Value::*;
    Ok(match (a, b) {
        (Null, _) | (_, Null) => Null,
        (Int(x), Int(y)) => {
            let (x, y) = (*x, *y);
            Int(match op {
                ArithOp::Add => x.checked_add(y).ok_or_else(overflow)?,
                ArithOp::Sub => x.checked_sub(y).ok_or_else(overflow)?,
                ArithOp::Mul => x.checked_mul(y).ok_or_else(overflow)?,
                ArithOp::Div => {
                    if y == 0 {
                        return Err(div_zero());
                    }
                    x.checked_div(y).ok_or_else(overflow)?
                }
                ArithOp::Mod => {
                    if y == 0 {
                        return Err(div_zero());
                    }
                    // i64::MIN % -1 overflows in Rust; mathematically it is 0.
                    x.checked_rem(y).unwrap_or(0)
                }
            })
        }
        (Float(x), Float(y)) => {
            let (x, y) = (*x, *y);
            match op {
                ArithOp::Add => float_result(x + y, x, y)?,
                ArithOp::Sub => float_result(x - y, x, y)?,
                ArithOp::Mul => float_result(x * y, x, y)?,
                ArithOp::Div => {
                    if y == 0.0 {
                        return Err(div_zero());
                    }
                    float_result(x / y, x, y)?
                }
                ArithOp::Mod => {
                    if y == 0.0 {
                        return Err(div_zero());
                    }
                    Float(x % y)
                }
            }
        }
        (Decimal(x), Decimal(y)) => {
            let (x, y) = (*x, *y);
            Decimal(match op {
                ArithOp::Add => x.checked_add(y).ok_or_else(numeric_overflow)?,
                ArithOp::Sub => x.checked_sub(y).ok_or_else(numeric_overflow)?,
                ArithOp::Mul => x.checked_mul(y).ok_or_else(numeric_overflow)?,
                ArithOp::Div => {
                    if y.is_zero() {
                        return Err(div_zero());
                    }
                    x.checked_div(y).ok_or_else(numeric_overflow)?
                }
                ArithOp::Mod => {
                    if y.is_zero() {
                        return Err(div_zero());
                    }
                    x.checked_rem(y).ok_or_else(numeric_overflow)?
                }
            })
        }
        (Date(d), Int(n)) if matches!(op, ArithOp::Add | ArithOp::Sub) => {
            let n = if op == ArithOp::Sub {
                n.checked_neg().ok_or_else(date_range)?
            } else {
                *n
            };
            Date(datetime::add_days(*d, n).ok_or_else(date_range)?)
        }
        (Int(n), Date(d)) if op == ArithOp::Add => {
            Date(datetime::add_days(*d, *n).ok_or_else(date_range)?)
        }
        (Date(x), Date(y)) if op == ArithOp::Sub => Int(x.signed_duration_since(*y).num_days()),
        (x, y) => {
            let name = |v: &Value| v.data_type().map(|t| t.name()).unwrap_or("null");
            return Err(EvalError::new(format!(
                "operator {} cannot be applied to {} and {} (row does not match the schema)",
                op.symbol(),
                name(x),
                name(y)
            )));
        }
    })
}

fn date_range() -> EvalError {
    EvalError::new("date out of range")
}

/// Unary minus.
pub(crate) fn negate(v: &Value) -> Result<Value, EvalError> {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Int(x) => Value::Int(x.checked_neg().ok_or_else(overflow)?),
        Value::Float(x) => Value::Float(-x),
        Value::Decimal(x) => Value::Decimal(-*x),
        other => return Err(type_error("numeric", other)),
    })
}
