//! SQL expressions compiled once into a typed evaluator.
//!
//! Users write calculations and filters as PostgreSQL-flavoured SQL expressions
//! (`lower(trim(email))`, `CASE WHEN spend >= 1000 THEN 'gold' ELSE 'bronze' END`, ...).
//! [`CompiledExpr::compile`] parses the text with `sqlparser`, resolves column names to
//! indexes, resolves functions, type-checks every operator and function call, compiles
//! regular expressions and pre-parses literals. The result is a tree of `Node`s that is
//! evaluated per row without looking at SQL text again.
//!
//! Errors come in two kinds:
//! * [`ExprError`] — plan errors (syntax, unknown column, type mismatch, wrong arity, bad
//!   regular expression). They are raised once, before any row is read.
//! * [`EvalError`] — row errors (division by zero, a text value that cannot be cast,
//!   integer overflow). They reject one row.
//!
//! The rules are documented in `docs/expressions.md`.
//!
//! Module layout:
//! * `node` — the compiled tree (`Node`, operators, function identities): its shape only;
//! * `compile` — SQL AST → typed `Node` tree (operators, CASE, casts, literals);
//! * `functions` — function-call resolution and type checking at plan time, from a
//!   table of signatures;
//! * `types` — type unification, literal coercion and casts;
//! * `eval` — the per-row evaluator; `call` — per-row evaluation of function calls;
//! * `text`, `like`, `datetime` — helpers for text functions, `LIKE` and date/time;
//! * `select` — `SELECT ... FROM ... WHERE ...` as one stage.

mod call;
mod compile;
mod datetime;
mod eval;
mod functions;
mod like;
mod node;
mod select;
pub(crate) mod template;
mod text;
mod types;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, Utc};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::row::Value;
use crate::schema::{DataType, Schema};

pub(crate) use node::Node;
pub use select::{SelectStage, compile_select};

/// Run-wide inputs of expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExprContext {
    /// The instant returned by `now()`, `current_timestamp` and (as a date in its
    /// offset) `current_date`: the start of the run, so every row sees the same value.
    pub now: DateTime<FixedOffset>,
}

impl ExprContext {
    /// A context with a fixed `now`.
    pub fn new(now: DateTime<FixedOffset>) -> Self {
        ExprContext { now }
    }

    /// A context whose `now` is the current time (UTC).
    pub fn from_clock() -> Self {
        ExprContext {
            now: Utc::now().fixed_offset(),
        }
    }
}

/// A type-checked expression ready to be evaluated against rows of its input schema.
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    source: String,
    node: Node,
    ty: DataType,
}

impl CompiledExpr {
    /// Parse and type-check `sql` against `input`. Errors are plan errors.
    pub fn compile(
        sql: &str,
        input: &Schema,
        ctx: &ExprContext,
    ) -> Result<CompiledExpr, ExprError> {
        let ast = parse_expr(sql)?;
        compile::compile_ast(&ast, sql, input, ctx)
    }

    /// Static result type (a bare `NULL` literal is `text`).
    pub fn data_type(&self) -> DataType {
        self.ty
    }

    /// The size of the result when the expression is a cast to a sized type
    /// (`CAST(x AS numeric(12,2))`, `x::varchar(40)`): what a created column gets.
    pub fn type_size(&self) -> crate::value::TypeSize {
        use crate::value::TypeSize;
        match &self.node {
            Node::Cast {
                to:
                    types::CastTo::Decimal {
                        precision: Some(p),
                        scale,
                    },
                ..
            } => TypeSize::Numeric {
                precision: *p,
                scale: scale.unwrap_or(0),
            },
            Node::Cast {
                to: types::CastTo::Text { max_chars: Some(n) },
                ..
            } => TypeSize::Chars(*n),
            _ => TypeSize::Any,
        }
    }

    /// The SQL text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluate against one row; `row[i]` matches `input.columns[i]`.
    pub fn eval(&self, row: &[Value]) -> Result<Value, EvalError> {
        self.node.eval(row).map(Cow::into_owned)
    }

    /// Like [`CompiledExpr::eval`] but borrows from the row or the expression when the
    /// result is a column or a constant (no clone).
    pub fn eval_ref<'a>(&'a self, row: &'a [Value]) -> Result<Cow<'a, Value>, EvalError> {
        self.node.eval(row)
    }

    /// Evaluate a boolean expression without building a [`Value`]; `None` is NULL.
    /// For a non-boolean expression this is an error.
    pub fn eval_bool(&self, row: &[Value]) -> Result<Option<bool>, EvalError> {
        self.node.eval_bool(row)
    }

    /// Evaluate as a filter: true keeps the row; false and NULL drop it (like `WHERE`).
    pub fn matches(&self, row: &[Value]) -> Result<bool, EvalError> {
        Ok(self.node.eval_bool(row)? == Some(true))
    }

    /// True when the expression does not depend on the row (it was folded to a constant).
    pub fn is_constant(&self) -> bool {
        matches!(self.node, Node::Const(_))
    }

    pub(crate) fn from_parts(source: String, node: Node, ty: DataType) -> Self {
        CompiledExpr { source, node, ty }
    }
}

/// Compile a filter: a boolean SQL expression. A non-boolean expression is a plan error.
pub fn compile_filter(
    sql: &str,
    input: &Schema,
    ctx: &ExprContext,
) -> Result<CompiledExpr, ExprError> {
    let expr = CompiledExpr::compile(sql, input, ctx)?;
    check_filter(&expr)?;
    Ok(expr)
}

/// Check that an already compiled expression can be used as a filter (its type is bool).
pub fn check_filter(expr: &CompiledExpr) -> Result<(), ExprError> {
    // A bare NULL (unknown) is accepted like in PostgreSQL: it keeps no row.
    if expr.ty == DataType::Bool || matches!(expr.node, Node::Const(Value::Null)) {
        return Ok(());
    }
    Err(ExprError {
        expr: expr.source.clone(),
        message: format!(
            "filter `{}` must be a boolean expression, got {} (compare it, e.g. `... = ...` or `... IS NOT NULL`)",
            expr.source, expr.ty
        ),
        column: None,
        line: None,
        col: None,
    })
}

/// Plan-time error: the expression cannot be compiled. `Display` gives the full
/// message, which names the expression, the column when relevant, and the position for
/// syntax errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// The expression text.
    pub expr: String,
    /// The complete human-readable message.
    pub message: String,
    /// The column the error is about, when there is one.
    pub column: Option<String>,
    /// 1-based line of the offending token in `expr`, when known.
    pub line: Option<u64>,
    /// 1-based character column of the offending token in `expr`, when known.
    pub col: Option<u64>,
}

/// Row-time error, e.g. `division by zero`, `cannot cast "abc" to int`, `integer overflow`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// What went wrong.
    pub message: String,
}

impl EvalError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
        }
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

/// Parse one standalone expression (the whole text must be consumed).
fn parse_expr(sql: &str) -> Result<sqlparser::ast::Expr, ExprError> {
    let dialect = PostgreSqlDialect {};
    let mut parser = Parser::new(&dialect)
        .try_with_sql(sql)
        .map_err(|e| syntax_error(sql, &e.to_string()))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| syntax_error(sql, &e.to_string()))?;
    let next = parser.peek_token();
    if next.token != Token::EOF {
        let loc = next.span.start;
        let mut err = syntax_error(
            sql,
            &format!(
                "unexpected `{}` after the end of the expression",
                next.token
            ),
        );
        if loc.line > 0 {
            err.message = format!(
                "{} at line {}, column {}",
                err.message, loc.line, loc.column
            );
            err.line = Some(loc.line);
            err.col = Some(loc.column);
        }
        return Err(err);
    }
    Ok(expr)
}

/// Turn a sqlparser error message into an [`ExprError`], extracting the position from
/// its ` at Line: L, Column: C` suffix.
pub(crate) fn syntax_error(sql: &str, raw: &str) -> ExprError {
    let msg = raw
        .strip_prefix("sql parser error: ")
        .or_else(|| raw.strip_prefix("sql tokenizer error: "))
        .unwrap_or(raw);
    let (text, line, col) = match msg.rfind(" at Line: ") {
        Some(i) => {
            let (head, tail) = msg.split_at(i);
            let tail = tail.strip_prefix(" at Line: ").unwrap_or(tail);
            let mut parts = tail.splitn(2, ", Column: ");
            let line = parts.next().and_then(|l| l.trim().parse::<u64>().ok());
            let col = parts.next().and_then(|c| {
                let digits: String = c.chars().take_while(|ch| ch.is_ascii_digit()).collect();
                digits.parse::<u64>().ok()
            });
            if line.is_some() && col.is_some() {
                (head.to_string(), line, col)
            } else {
                (msg.to_string(), None, None)
            }
        }
        None => (msg.to_string(), None, None),
    };
    let at_end = text.contains("found: EOF");
    let text = text.replace("found: EOF", "found: end of expression");
    // sqlparser gives no position for an unexpected end: point just past the text.
    let (line, col) = match (line, col) {
        (None, None) if at_end => {
            let last = sql.rsplit('\n').next().unwrap_or(sql);
            let lines = u64::try_from(sql.split('\n').count()).unwrap_or(u64::MAX);
            let chars = u64::try_from(last.chars().count()).unwrap_or(u64::MAX);
            (Some(lines), Some(chars.saturating_add(1)))
        }
        other => other,
    };
    let position = match (line, col) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        _ => String::new(),
    };
    ExprError {
        expr: sql.to_string(),
        message: format!("syntax error in expression `{sql}`: {text}{position}"),
        column: None,
        line,
        col,
    }
}
