//! Row-time evaluation of function calls (`Node::Text` and `Node::Call`): the
//! functions were resolved and type-checked at plan time by `functions`.

use std::borrow::Cow;

use rust_decimal::{Decimal, RoundingStrategy};

use super::node::{CowResult, Func, Node, TextFn, TextResult};
use super::{EvalError, datetime, text, type_error, types};
use crate::row::Value;

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
