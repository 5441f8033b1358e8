//! The compiled expression tree and its per-row evaluation.
//!
//! Every node was type-checked at plan time, so evaluation only dispatches on the node
//! and on the runtime value variant. Values are passed around as `Cow<Value>` (column
//! references and constants are borrowed, never cloned) and text as `Cow<str>`, so a
//! chain such as `lower(trim(email))` slices the input and allocates once at most.
//! Comparisons never allocate.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::node::{ArithOp, CowResult, Node, Repl, TextResult};
use super::{EvalError, call, datetime, text, type_error, types};
use crate::row::Value;

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
            Node::Call { f, args } => call::eval_call(*f, args, row),
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
            Node::Format { f, arg } => {
                let v = arg.operand(row)?;
                if v.is_null() {
                    return Ok(Cow::Owned(Value::Null));
                }
                super::template::apply(f, &v).map(Cow::Owned)
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
            Node::Text { f, args } => call::eval_text_fn(*f, args, row),
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
