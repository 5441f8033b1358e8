//! The compiled expression tree: what `compile` and `functions` build at plan time and
//! `eval` walks per row. Only the shape of the tree lives here; evaluation is in `eval`
//! and `call`.

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;

use super::EvalError;
use super::datetime::{AgeField, DateField, TruncUnit};
use super::like::LikePat;
use super::text::TrimSide;
use super::types::CastTo;
use crate::row::Value;

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
    pub(crate) fn test(self, ord: Ordering) -> bool {
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
    /// `to_date`, `to_timestamp`, `to_char`, `to_number`: a template parsed at plan time.
    Format { f: Formatted, arg: Box<Node> },
}

/// What a formatting function does, with its template.
#[derive(Debug, Clone)]
pub(crate) enum Formatted {
    /// `to_date(text, fmt)`.
    ToDate(super::template::DateTemplate),
    /// `to_timestamp(text, fmt)`.
    ToTimestamp(super::template::DateTemplate),
    /// `to_char(date or timestamp, fmt)`.
    CharDate(super::template::DateTemplate),
    /// `to_char(number, fmt)`.
    CharNumber(super::template::NumberTemplate),
    /// `to_number(text, fmt)`.
    ToNumber(super::template::NumberTemplate),
}

pub(crate) type CowResult<'a> = Result<Cow<'a, Value>, EvalError>;
pub(crate) type TextResult<'a> = Result<Option<Cow<'a, str>>, EvalError>;

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
            | Node::DateTrunc { arg, .. }
            | Node::Format { arg, .. } => vec![arg],
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
}
