//! SQL AST → typed [`Node`] tree: column resolution, literals, operators, CASE, casts.
//! Function calls are resolved in `functions`.

use std::fmt::Display;

use rust_decimal::Decimal;
use sqlparser::ast::{self, BinaryOperator, Expr, Ident, Spanned, UnaryOperator};
use sqlparser::tokenizer::Span;

use super::datetime::DateField;
use super::functions;
use super::like::{LikeMatcher, LikePat};
use super::node::{ArithOp, CmpOp, Node};
use super::types::{self, CastTo, Lit, Typed, fold};
use super::{CompiledExpr, ExprContext, ExprError};
use crate::row::Value;
use crate::schema::{DataType, Schema};

/// Deepest nesting accepted (keeps recursion in compile and eval bounded).
const MAX_DEPTH: usize = 100;

/// Compile a parsed expression. `sql` is the text shown in messages.
pub(crate) fn compile_ast(
    expr: &Expr,
    sql: &str,
    input: &Schema,
    ctx: &ExprContext,
) -> Result<CompiledExpr, ExprError> {
    let mut c = Compiler {
        sql,
        schema: input,
        ctx,
        depth: 0,
    };
    let t = c.expr(expr)?;
    let ty = if t.lit == Lit::Null {
        DataType::Text
    } else {
        t.ty
    };
    Ok(CompiledExpr::from_parts(sql.to_string(), t.node, ty))
}

pub(crate) struct Compiler<'s> {
    pub(crate) sql: &'s str,
    pub(crate) schema: &'s Schema,
    pub(crate) ctx: &'s ExprContext,
    depth: usize,
}

/// Where an expression starts, found without recursion: sqlparser's own `span()`
/// recurses through the whole tree, and chains of infix operators (`a + b + ...`) are
/// built left-deep without a depth limit, so it could overflow the stack. Only the
/// start of the span is meaningful.
pub(crate) fn pos(e: &Expr) -> Span {
    let mut e = e;
    loop {
        e = match e {
            Expr::BinaryOp { left, .. } => left,
            Expr::Nested(inner)
            | Expr::UnaryOp { expr: inner, .. }
            | Expr::Cast { expr: inner, .. }
            | Expr::IsNull(inner)
            | Expr::IsNotNull(inner)
            | Expr::IsTrue(inner)
            | Expr::IsFalse(inner)
            | Expr::IsNotTrue(inner)
            | Expr::IsNotFalse(inner)
            | Expr::IsUnknown(inner)
            | Expr::IsNotUnknown(inner)
            | Expr::IsDistinctFrom(inner, _)
            | Expr::IsNotDistinctFrom(inner, _)
            | Expr::In { expr: inner, .. }
            | Expr::Between { expr: inner, .. }
            | Expr::Like { expr: inner, .. }
            | Expr::ILike { expr: inner, .. }
            | Expr::SimilarTo { expr: inner, .. }
            | Expr::RLike { expr: inner, .. }
            | Expr::AnyOp { left: inner, .. }
            | Expr::AllOp { left: inner, .. }
            | Expr::Collate { expr: inner, .. }
            | Expr::AtTimeZone {
                timestamp: inner, ..
            }
            | Expr::CompoundFieldAccess { root: inner, .. }
            | Expr::JsonAccess { value: inner, .. }
            | Expr::Extract { expr: inner, .. }
            | Expr::Ceil { expr: inner, .. }
            | Expr::Floor { expr: inner, .. }
            | Expr::Position { expr: inner, .. }
            | Expr::Substring { expr: inner, .. }
            | Expr::Trim { expr: inner, .. } => inner,
            Expr::Identifier(id) => return id.span,
            Expr::CompoundIdentifier(ids) => {
                return ids.first().map(|i| i.span).unwrap_or(Span::empty());
            }
            Expr::Value(v) => return v.span,
            Expr::TypedString(t) => return t.value.span,
            Expr::Function(f) => return f.name.span(),
            Expr::Case { case_token, .. } => return case_token.0.span,
            _ => return Span::empty(),
        };
    }
}

fn cmp_op(op: &BinaryOperator) -> Option<CmpOp> {
    Some(match op {
        BinaryOperator::Eq => CmpOp::Eq,
        BinaryOperator::NotEq => CmpOp::NotEq,
        BinaryOperator::Lt => CmpOp::Lt,
        BinaryOperator::LtEq => CmpOp::LtEq,
        BinaryOperator::Gt => CmpOp::Gt,
        BinaryOperator::GtEq => CmpOp::GtEq,
        _ => return None,
    })
}

fn arith_op(op: &BinaryOperator) -> Option<ArithOp> {
    Some(match op {
        BinaryOperator::Plus => ArithOp::Add,
        BinaryOperator::Minus => ArithOp::Sub,
        BinaryOperator::Multiply => ArithOp::Mul,
        BinaryOperator::Divide => ArithOp::Div,
        BinaryOperator::Modulo => ArithOp::Mod,
        _ => return None,
    })
}

/// The text of a string-like literal.
pub(crate) fn string_value(v: &ast::Value) -> Option<&str> {
    use ast::Value as V;
    match v {
        V::SingleQuotedString(s)
        | V::EscapedStringLiteral(s)
        | V::UnicodeStringLiteral(s)
        | V::NationalStringLiteral(s)
        | V::TripleSingleQuotedString(s)
        | V::TripleDoubleQuotedString(s) => Some(s),
        V::DollarQuotedString(d) => Some(&d.value),
        _ => None,
    }
}

impl<'s> Compiler<'s> {
    // ----- errors -------------------------------------------------------------------

    pub(crate) fn error(&self, span: Span, message: String, column: Option<String>) -> ExprError {
        let known = span.start.line > 0;
        let message = match (known, self.sql.contains('\n')) {
            (false, _) => message,
            (true, false) => format!("{message} (at character {})", span.start.column),
            (true, true) => format!(
                "{message} (at line {}, character {})",
                span.start.line, span.start.column
            ),
        };
        ExprError {
            expr: self.sql.to_string(),
            message,
            column,
            line: known.then_some(span.start.line),
            col: known.then_some(span.start.column),
        }
    }

    /// `invalid expression `sql`: msg`
    pub(crate) fn invalid(&self, span: Span, msg: impl Display) -> ExprError {
        self.error(
            span,
            format!("invalid expression `{}`: {msg}", self.sql),
            None,
        )
    }

    /// `type mismatch in `sql`: msg`
    pub(crate) fn mismatch(
        &self,
        span: Span,
        msg: impl Display,
        column: Option<String>,
    ) -> ExprError {
        self.error(
            span,
            format!("type mismatch in `{}`: {msg}", self.sql),
            column,
        )
    }

    fn unsupported(&self, span: Span, what: impl Display) -> ExprError {
        self.invalid(span, format!("{what} is not supported"))
    }

    // ----- entry --------------------------------------------------------------------

    pub(crate) fn expr(&mut self, e: &Expr) -> Result<Typed, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.invalid(pos(e), "expression is nested too deeply"));
        }
        let r = self.expr_inner(e);
        self.depth -= 1;
        r
    }

    /// Dispatch on the syntax. Every arm calls a separate function so that this frame,
    /// which is live during the recursion, stays small (unoptimised builds do not share
    /// stack slots between match arms).
    fn expr_inner(&mut self, e: &Expr) -> Result<Typed, ExprError> {
        let span = pos(e);
        match e {
            Expr::Identifier(id) => self.column(std::slice::from_ref(id), span),
            Expr::CompoundIdentifier(ids) => self.column(ids, span),
            Expr::Value(v) => self.literal(&v.value, span),
            Expr::TypedString(ts) => self.typed_literal(&ts.data_type, &ts.value.value, span),
            Expr::Nested(inner) => self.expr(inner),
            Expr::UnaryOp { op, expr } => self.unary(op, expr, span),
            Expr::BinaryOp { left, op, right } => self.binary(e, left, op, right, span),
            Expr::IsNull(_)
            | Expr::IsNotNull(_)
            | Expr::IsTrue(_)
            | Expr::IsFalse(_)
            | Expr::IsNotTrue(_)
            | Expr::IsNotFalse(_)
            | Expr::IsUnknown(_)
            | Expr::IsNotUnknown(_)
            | Expr::IsDistinctFrom(..)
            | Expr::IsNotDistinctFrom(..) => self.is_test(e, span),
            Expr::In {
                expr, target, negated, ..
            } => match target {
                ast::InTarget::List(list) => self.in_list(expr, list, *negated, span),
                _ => Err(self.unsupported(span, "IN with a subquery or table")),
            },
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => self.between(expr, low, high, *negated, span),
            Expr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => self.like(*negated, *any, expr, pattern, escape_char.as_deref(), false, span),
            Expr::ILike {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => self.like(*negated, *any, expr, pattern, escape_char.as_deref(), true, span),
            Expr::Cast {
                kind,
                expr,
                data_type,
                format,
            } => self.cast_expr(kind, expr, data_type, format.is_some(), span),
            Expr::Extract { field, expr, .. } => self.extract(field, expr, span),
            Expr::Ceil { expr, field } => self.ceil_floor("ceil", expr, field, span),
            Expr::Floor { expr, field } => self.ceil_floor("floor", expr, field, span),
            Expr::Position { expr, r#in } => self.position(expr, r#in, span),
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => self.substring(expr, substring_from.as_deref(), substring_for.as_deref(), span),
            Expr::Trim {
                trim_where,
                trim_what,
                expr,
                trim_characters,
            } => self.trim(trim_where.as_ref(), trim_what.as_deref(), expr, trim_characters.as_deref(), span),
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(operand.as_deref(), conditions, else_result.as_deref(), span),
            Expr::Function(f) => functions::compile_function(self, f, span),
            Expr::Interval(_) => Err(self.invalid(
                span,
                "intervals are not supported; use date + integer days, age_years(a, b), date_part('year', age(a, b)) or date_trunc()",
            )),
            Expr::Subquery(_) | Expr::Exists { .. } => Err(self.unsupported(span, "a subquery")),
            Expr::SimilarTo { .. } => Err(self.unsupported(span, "SIMILAR TO (use LIKE or ~)")),
            _ => Err(self.invalid(span, "this syntax is not supported (see docs/expressions.md)")),
        }
    }

    #[inline(never)]
    fn is_test(&mut self, e: &Expr, span: Span) -> Result<Typed, ExprError> {
        match e {
            Expr::IsNull(a) | Expr::IsNotNull(a) => {
                let t = self.expr(a)?;
                let negated = matches!(e, Expr::IsNotNull(_));
                Ok(self.boolean(
                    Node::IsNull {
                        arg: Box::new(t.node),
                        negated,
                    },
                    span,
                ))
            }
            Expr::IsTrue(a) | Expr::IsFalse(a) | Expr::IsNotTrue(a) | Expr::IsNotFalse(a) => {
                let t = self.expr(a)?;
                let t = self.want_bool(t, "IS TRUE/IS FALSE")?;
                let want = matches!(e, Expr::IsTrue(_) | Expr::IsNotTrue(_));
                let negated = matches!(e, Expr::IsNotTrue(_) | Expr::IsNotFalse(_));
                Ok(self.boolean(
                    Node::IsBool {
                        arg: Box::new(t.node),
                        want,
                        negated,
                    },
                    span,
                ))
            }
            Expr::IsUnknown(a) | Expr::IsNotUnknown(a) => {
                let t = self.expr(a)?;
                let t = self.want_bool(t, "IS UNKNOWN")?;
                let negated = matches!(e, Expr::IsNotUnknown(_));
                Ok(self.boolean(
                    Node::IsNull {
                        arg: Box::new(t.node),
                        negated,
                    },
                    span,
                ))
            }
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                let l = self.expr(a)?;
                let r = self.expr(b)?;
                let (l, r) = self.same_type(l, r, "IS DISTINCT FROM", span)?;
                let negated = matches!(e, Expr::IsNotDistinctFrom(..));
                Ok(self.boolean(
                    Node::Distinct {
                        l: Box::new(l.node),
                        r: Box::new(r.node),
                        negated,
                    },
                    span,
                ))
            }
            _ => Err(self.invalid(span, "internal error: not an IS test")),
        }
    }

    #[inline(never)]
    fn cast_expr(
        &mut self,
        kind: &ast::CastKind,
        e: &Expr,
        dt: &ast::DataType,
        format: bool,
        span: Span,
    ) -> Result<Typed, ExprError> {
        if format {
            return Err(self.unsupported(span, "CAST ... FORMAT"));
        }
        if matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast) {
            return Err(self.unsupported(span, "TRY_CAST/SAFE_CAST"));
        }
        let to = types::cast_target(dt).map_err(|m| self.invalid(span, m))?;
        let t = self.expr(e)?;
        self.cast(t, to, span)
    }

    #[inline(never)]
    fn extract(
        &mut self,
        field: &ast::DateTimeField,
        e: &Expr,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let f = DateField::from_ast(field).ok_or_else(|| {
            self.invalid(
                span,
                format!(
                    "extract(): unknown field `{field}` (supported: {})",
                    super::datetime::DATE_FIELDS
                ),
            )
        })?;
        functions::date_part(self, f, e, true, span)
    }

    #[inline(never)]
    fn ceil_floor(
        &mut self,
        name: &str,
        e: &Expr,
        field: &ast::CeilFloorKind,
        span: Span,
    ) -> Result<Typed, ExprError> {
        if !matches!(
            field,
            ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime)
        ) {
            return Err(self.invalid(span, format!("{name}() takes exactly one argument")));
        }
        let t = self.expr(e)?;
        functions::build(self, name, vec![t], span)
    }

    #[inline(never)]
    fn position(&mut self, needle: &Expr, hay: &Expr, span: Span) -> Result<Typed, ExprError> {
        let needle = self.expr(needle)?;
        let hay = self.expr(hay)?;
        functions::build(self, "strpos", vec![hay, needle], span)
    }

    #[inline(never)]
    fn substring(
        &mut self,
        e: &Expr,
        from: Option<&Expr>,
        count: Option<&Expr>,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let s = self.expr(e)?;
        let from = match from {
            Some(f) => self.expr(f)?,
            None => Typed::new(Node::Const(Value::Int(1)), DataType::Int, span),
        };
        let mut args = vec![s, from];
        if let Some(n) = count {
            args.push(self.expr(n)?);
        }
        functions::build(self, "substr", args, span)
    }

    #[inline(never)]
    fn trim(
        &mut self,
        side: Option<&ast::TrimWhereField>,
        what: Option<&Expr>,
        e: &Expr,
        chars: Option<&[Expr]>,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let name = match side {
            None | Some(ast::TrimWhereField::Both) => "btrim",
            Some(ast::TrimWhereField::Leading) => "ltrim",
            Some(ast::TrimWhereField::Trailing) => "rtrim",
        };
        let mut args = vec![self.expr(e)?];
        if let Some(w) = what {
            args.push(self.expr(w)?);
        }
        for c in chars.unwrap_or_default() {
            args.push(self.expr(c)?);
        }
        functions::build(self, name, args, span)
    }

    fn boolean(&self, node: Node, span: Span) -> Typed {
        Typed::new(fold(node), DataType::Bool, span)
    }

    // ----- leaves -------------------------------------------------------------------

    pub(crate) fn column(&self, ids: &[Ident], span: Span) -> Result<Typed, ExprError> {
        let full: String = ids
            .iter()
            .map(|i| i.value.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let quoted = ids.iter().any(|i| i.quote_style.is_some());
        let mut found = self.resolve(&full, quoted);
        if matches!(found, Ok(None))
            && ids.len() > 1
            && let Some(last) = ids.last()
        {
            // `t.col`: ignore the table qualifier.
            found = self.resolve(&last.value, last.quote_style.is_some());
        }
        match found {
            Ok(Some(i)) => {
                let col = self.schema.columns.get(i).ok_or_else(|| self.invalid(span, "column index out of range"))?;
                let mut t = Typed::new(Node::Col(i), col.data_type, span);
                t.col = Some(col.name.clone());
                Ok(t)
            }
            Ok(None) => {
                let hint = match crate::format::closest(&full, self.schema.names()) {
                    Some(s) => format!(" (did you mean \"{s}\"?)"),
                    None if self.schema.is_empty() => " (the input has no columns)".to_string(),
                    None => {
                        let names: Vec<String> = self.schema.names().take(12).map(|n| format!("\"{n}\"")).collect();
                        let more = if self.schema.len() > 12 { ", ..." } else { "" };
                        format!(" (columns: {}{more})", names.join(", "))
                    }
                };
                Err(self.error(
                    span,
                    format!("unknown column \"{full}\" in expression `{}`{hint}", self.sql),
                    Some(full),
                ))
            }
            Err(matches) => Err(self.error(
                span,
                format!(
                    "column reference \"{full}\" is ambiguous in expression `{}`: it matches {} (write the exact name in double quotes)",
                    self.sql,
                    matches.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ")
                ),
                Some(full),
            )),
        }
    }

    /// Exact match; for unquoted names then a unique case-insensitive match.
    /// `Err` lists the names of an ambiguous case-insensitive match.
    fn resolve(&self, name: &str, quoted: bool) -> Result<Option<usize>, Vec<String>> {
        if let Some(i) = self.schema.index_of(name) {
            return Ok(Some(i));
        }
        if quoted {
            return Ok(None);
        }
        let lname = name.to_lowercase();
        let hits: Vec<usize> = self
            .schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name.to_lowercase() == lname)
            .map(|(i, _)| i)
            .collect();
        match hits.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(many
                .iter()
                .filter_map(|i| self.schema.columns.get(*i).map(|c| c.name.clone()))
                .collect()),
        }
    }

    fn literal(&self, v: &ast::Value, span: Span) -> Result<Typed, ExprError> {
        use ast::Value as V;
        if let Some(s) = string_value(v) {
            let mut t = Typed::new(
                Node::Const(Value::Text(s.to_string())),
                DataType::Text,
                span,
            );
            t.lit = Lit::Str;
            return Ok(t);
        }
        Ok(match v {
            V::Number(n, _) => {
                let value = parse_number(n)
                    .ok_or_else(|| self.invalid(span, format!("invalid number {n}")))?;
                let ty = value.data_type().unwrap_or(DataType::Float);
                Typed::new(Node::Const(value), ty, span)
            }
            V::Boolean(b) => Typed::new(Node::Const(Value::Bool(*b)), DataType::Bool, span),
            V::Null => {
                let mut t = Typed::new(Node::Const(Value::Null), DataType::Text, span);
                t.lit = Lit::Null;
                t
            }
            V::Placeholder(p) => return Err(self.unsupported(span, format!("parameter {p}"))),
            other => return Err(self.unsupported(span, format!("literal {other}"))),
        })
    }

    /// `date '2026-01-01'`, `timestamp '...'`, `numeric '1.5'`, ...
    fn typed_literal(
        &self,
        dt: &ast::DataType,
        v: &ast::Value,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let to = types::cast_target(dt).map_err(|m| self.invalid(span, m))?;
        let Some(s) = string_value(v) else {
            return Err(self.invalid(span, format!("{dt} literal must be a quoted string")));
        };
        let mut t = Typed::new(
            Node::Const(Value::Text(s.to_string())),
            DataType::Text,
            span,
        );
        t.lit = Lit::Str;
        self.cast(t, to, span)
    }

    // ----- coercion -----------------------------------------------------------------

    /// Bring `t` to type `ty`: NULL adopts it, string literals are parsed now, numbers
    /// widen (int → decimal → float) and dates widen to timestamps.
    pub(crate) fn coerce(&self, t: Typed, ty: DataType) -> Result<Typed, ExprError> {
        if t.lit == Lit::Null {
            return Ok(Typed { ty, ..t });
        }
        if t.ty == ty {
            return Ok(t);
        }
        if let Some(s) = t.str_lit() {
            let v = types::parse_literal(s, ty)
                .map_err(|_| self.invalid(t.span, format!("invalid input for type {ty}: {s:?}")))?;
            return Ok(Typed::new(Node::Const(v), ty, t.span));
        }
        if types::common(t.ty, ty) == Some(ty) {
            let span = t.span;
            let col = t.col.clone();
            let node = fold(Node::Cast {
                arg: Box::new(t.node),
                to: CastTo::plain(ty),
            });
            let mut out = Typed::new(node, ty, span);
            out.col = col;
            return Ok(out);
        }
        Err(self.mismatch(
            t.span,
            format!("expected {ty}, got {}{}", t.type_name(), t.col_note()),
            t.col.clone(),
        ))
    }

    /// Unify several subexpressions (CASE results, IN lists, COALESCE, ...) and coerce
    /// them all to the common type. `what` names the construct in messages.
    pub(crate) fn unify_all(
        &self,
        items: Vec<Typed>,
        what: &str,
        span: Span,
    ) -> Result<(Vec<Typed>, DataType), ExprError> {
        let refs: Vec<&Typed> = items.iter().collect();
        let ty = match types::unify(&refs) {
            Ok(t) => t,
            Err((a, b)) => {
                let col = items
                    .iter()
                    .filter(|t| t.lit == Lit::No && (t.ty == a || t.ty == b))
                    .find_map(|t| t.col.clone());
                let note = col
                    .as_ref()
                    .map(|c| format!(" (column \"{c}\")"))
                    .unwrap_or_default();
                return Err(self.mismatch(
                    span,
                    format!("{what} types {a} and {b} cannot be matched{note}"),
                    col,
                ));
            }
        };
        let out = items
            .into_iter()
            .map(|t| self.coerce(t, ty))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((out, ty))
    }

    /// Two operands brought to one type (for comparisons).
    fn same_type(
        &self,
        l: Typed,
        r: Typed,
        what: &str,
        span: Span,
    ) -> Result<(Typed, Typed), ExprError> {
        if l.lit != Lit::No || r.lit != Lit::No || types::common(l.ty, r.ty).is_some() {
            let (mut v, _) = self.unify_all(vec![l, r], what, span)?;
            // `unify_all` returns exactly the two items it was given.
            if let (Some(r), Some(l)) = (v.pop(), v.pop()) {
                return Ok((l, r));
            }
            return Err(self.invalid(span, "internal error: lost an operand"));
        }
        let col = l.col.clone().or_else(|| r.col.clone());
        Err(self.mismatch(
            span,
            format!(
                "cannot compare {}{} with {}{}",
                l.type_name(),
                l.col_note(),
                r.type_name(),
                r.col_note()
            ),
            col,
        ))
    }

    pub(crate) fn want_bool(&self, t: Typed, what: &str) -> Result<Typed, ExprError> {
        if t.ty == DataType::Bool || t.lit != Lit::No {
            return self.coerce(t, DataType::Bool);
        }
        let col = t.col.clone();
        Err(self.mismatch(
            t.span,
            format!(
                "argument of {what} must be boolean, got {}{}",
                t.type_name(),
                t.col_note()
            ),
            col,
        ))
    }

    /// `CAST(t AS to)`.
    pub(crate) fn cast(&self, t: Typed, to: CastTo, span: Span) -> Result<Typed, ExprError> {
        let ty = to.data_type();
        if t.lit == Lit::Null {
            return Ok(Typed::new(Node::Const(Value::Null), ty, span));
        }
        if let Some(s) = t.str_lit() {
            let parsed = types::parse_literal(s, ty)
                .map_err(|_| self.invalid(span, format!("invalid input for type {ty}: {s:?}")))?;
            let v = types::cast(std::borrow::Cow::Owned(parsed), &to)
                .map_err(|e| self.invalid(span, e.message))?;
            return Ok(Typed::new(Node::Const(v.into_owned()), ty, span));
        }
        if !types::castable(t.ty, ty) {
            let col = t.col.clone();
            return Err(self.mismatch(
                span,
                format!("cannot cast {}{} to {ty}", t.ty, t.col_note()),
                col,
            ));
        }
        let node = fold(Node::Cast {
            arg: Box::new(t.node),
            to,
        });
        Ok(Typed::new(node, ty, span))
    }

    // ----- operators ----------------------------------------------------------------

    #[inline(never)]
    fn unary(&mut self, op: &UnaryOperator, e: &Expr, span: Span) -> Result<Typed, ExprError> {
        let t = self.expr(e)?;
        self.unary_op(op, t, span)
    }

    #[inline(never)]
    fn unary_op(&mut self, op: &UnaryOperator, t: Typed, span: Span) -> Result<Typed, ExprError> {
        match op {
            UnaryOperator::Not => {
                let t = self.want_bool(t, "NOT")?;
                Ok(self.boolean(Node::Not(Box::new(t.node)), span))
            }
            UnaryOperator::Minus | UnaryOperator::Plus => {
                let t = if t.str_lit().is_some() || t.lit == Lit::Null {
                    self.coerce(t, DataType::Decimal)?
                } else {
                    t
                };
                if !t.ty.is_numeric() {
                    let col = t.col.clone();
                    let sym = if *op == UnaryOperator::Minus {
                        "-"
                    } else {
                        "+"
                    };
                    return Err(self.mismatch(
                        span,
                        format!(
                            "unary {sym} expects a number, got {}{}",
                            t.type_name(),
                            t.col_note()
                        ),
                        col,
                    ));
                }
                if *op == UnaryOperator::Plus {
                    return Ok(t);
                }
                let ty = t.ty;
                Ok(Typed::new(fold(Node::Neg(Box::new(t.node))), ty, span))
            }
            other => Err(self.unsupported(span, format!("operator {other}"))),
        }
    }

    #[inline(never)]
    fn binary(
        &mut self,
        whole: &Expr,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
        span: Span,
    ) -> Result<Typed, ExprError> {
        if *op == BinaryOperator::StringConcat {
            return self.concat(whole, span);
        }
        let l = self.expr(left)?;
        let r = self.expr(right)?;
        self.binary_op(op, l, r, span)
    }

    #[inline(never)]
    fn binary_op(
        &mut self,
        op: &BinaryOperator,
        l: Typed,
        r: Typed,
        span: Span,
    ) -> Result<Typed, ExprError> {
        if let Some(cmp) = cmp_op(op) {
            return self.build_cmp(cmp, l, r, span);
        }
        if let Some(a) = arith_op(op) {
            return self.build_arith(a, l, r, span);
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let name = if *op == BinaryOperator::And {
                    "AND"
                } else {
                    "OR"
                };
                let l = self.want_bool(l, name)?;
                let r = self.want_bool(r, name)?;
                let node = if *op == BinaryOperator::And {
                    Node::And(Box::new(l.node), Box::new(r.node))
                } else {
                    Node::Or(Box::new(l.node), Box::new(r.node))
                };
                Ok(self.boolean(node, span))
            }
            BinaryOperator::PGRegexMatch
            | BinaryOperator::PGRegexIMatch
            | BinaryOperator::PGRegexNotMatch
            | BinaryOperator::PGRegexNotIMatch => {
                let ci = matches!(
                    op,
                    BinaryOperator::PGRegexIMatch | BinaryOperator::PGRegexNotIMatch
                );
                let negated = matches!(
                    op,
                    BinaryOperator::PGRegexNotMatch | BinaryOperator::PGRegexNotIMatch
                );
                functions::regex_match(self, &op.to_string(), l, r, ci, negated, span)
            }
            BinaryOperator::PGLikeMatch
            | BinaryOperator::PGILikeMatch
            | BinaryOperator::PGNotLikeMatch
            | BinaryOperator::PGNotILikeMatch => {
                let ci = matches!(
                    op,
                    BinaryOperator::PGILikeMatch | BinaryOperator::PGNotILikeMatch
                );
                let negated = matches!(
                    op,
                    BinaryOperator::PGNotLikeMatch | BinaryOperator::PGNotILikeMatch
                );
                self.build_like(l, r, Some('\\'), ci, negated, span)
            }
            BinaryOperator::PGExp => functions::build(self, "power", vec![l, r], span),
            BinaryOperator::PGStartsWith => functions::build(self, "starts_with", vec![l, r], span),
            other => Err(self.unsupported(span, format!("operator {other}"))),
        }
    }

    pub(crate) fn build_cmp(
        &self,
        op: CmpOp,
        l: Typed,
        r: Typed,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let (l, r) = self.same_type(l, r, "comparison", span)?;
        Ok(self.boolean(
            Node::Cmp {
                op,
                l: Box::new(l.node),
                r: Box::new(r.node),
            },
            span,
        ))
    }

    pub(crate) fn build_arith(
        &self,
        op: ArithOp,
        l: Typed,
        r: Typed,
        span: Span,
    ) -> Result<Typed, ExprError> {
        use DataType::{Date, Int};
        let known = |t: &Typed| if t.lit == Lit::No { Some(t.ty) } else { None };
        let make = |l: Typed, r: Typed, ty: DataType| {
            Typed::new(
                fold(Node::Arith {
                    op,
                    l: Box::new(l.node),
                    r: Box::new(r.node),
                }),
                ty,
                span,
            )
        };
        // Date arithmetic: date ± int → date, int + date → date, date - date → int.
        match (known(&l), known(&r), op) {
            (Some(Date), Some(Date), ArithOp::Sub) => return Ok(make(l, r, Int)),
            (Some(Date), rt, ArithOp::Add | ArithOp::Sub) if rt.is_none() || rt == Some(Int) => {
                let r = self.coerce(r, Int)?;
                return Ok(make(l, r, Date));
            }
            (lt, Some(Date), ArithOp::Add) if lt.is_none() || lt == Some(Int) => {
                let l = self.coerce(l, Int)?;
                return Ok(make(l, r, Date));
            }
            _ => {}
        }
        let numeric_or_lit = |t: &Typed| t.lit != Lit::No || t.ty.is_numeric();
        let both_lits = l.lit != Lit::No && r.lit != Lit::No;
        if numeric_or_lit(&l) && numeric_or_lit(&r) && !both_lits {
            let (mut v, ty) = self.unify_all(vec![l, r], "operand", span)?;
            if let (Some(r), Some(l)) = (v.pop(), v.pop()) {
                return Ok(make(l, r, ty));
            }
            return Err(self.invalid(span, "internal error: lost an operand"));
        }
        let hint = if op == ArithOp::Add && (l.ty == DataType::Text || r.ty == DataType::Text) {
            " (use || to concatenate text, or cast the text to a number)"
        } else if l.ty == DataType::Timestamp || r.ty == DataType::Timestamp {
            " (timestamp arithmetic needs intervals, which are not supported; use date_trunc(), age_years() or ::date)"
        } else {
            ""
        };
        let col = l.col.clone().or_else(|| r.col.clone());
        Err(self.mismatch(
            span,
            format!(
                "operator {} cannot be applied to {}{} and {}{}{hint}",
                op.symbol(),
                l.type_name(),
                l.col_note(),
                r.type_name(),
                r.col_note()
            ),
            col,
        ))
    }

    /// `a || b || c`: flattened into one node; any type is rendered as text.
    fn concat(&mut self, whole: &Expr, span: Span) -> Result<Typed, ExprError> {
        let mut rights: Vec<&Expr> = Vec::new();
        let mut cur = whole;
        while let Expr::BinaryOp {
            left,
            op: BinaryOperator::StringConcat,
            right,
        } = cur
        {
            rights.push(right);
            cur = left;
        }
        if rights.len() > MAX_DEPTH * 4 {
            return Err(self.invalid(span, "too many || operands"));
        }
        let mut operands = vec![cur];
        operands.extend(rights.into_iter().rev());
        let mut parts: Vec<Node> = Vec::with_capacity(operands.len());
        for o in operands {
            let t = self.expr(o)?;
            match t.node {
                Node::Concat(inner) => parts.extend(inner),
                other => parts.push(other),
            }
        }
        // Merge adjacent constants ('a' || 'b').
        let mut merged: Vec<Node> = Vec::with_capacity(parts.len());
        for p in parts {
            if let (Some(Node::Const(Value::Text(prev))), Node::Const(Value::Text(next))) =
                (merged.last_mut(), &p)
            {
                prev.push_str(next);
                continue;
            }
            merged.push(p);
        }
        Ok(Typed::new(fold(Node::Concat(merged)), DataType::Text, span))
    }

    fn in_list(
        &mut self,
        e: &Expr,
        list: &[Expr],
        negated: bool,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let mut items = vec![self.expr(e)?];
        for x in list {
            items.push(self.expr(x)?);
        }
        let (items, _) = self.unify_all(items, "IN", span)?;
        let mut it = items.into_iter().map(|t| t.node);
        let Some(arg) = it.next() else {
            return Err(self.invalid(span, "internal error: lost an operand"));
        };
        Ok(self.boolean(
            Node::In {
                arg: Box::new(arg),
                list: it.collect(),
                negated,
            },
            span,
        ))
    }

    fn between(
        &mut self,
        e: &Expr,
        low: &Expr,
        high: &Expr,
        negated: bool,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let items = vec![self.expr(e)?, self.expr(low)?, self.expr(high)?];
        let (items, _) = self.unify_all(items, "BETWEEN", span)?;
        let mut it = items.into_iter();
        let (Some(x), Some(lo), Some(hi)) = (it.next(), it.next(), it.next()) else {
            return Err(self.invalid(span, "internal error: lost an operand"));
        };
        let node = Node::And(
            Box::new(Node::Cmp {
                op: CmpOp::GtEq,
                l: Box::new(x.node.clone()),
                r: Box::new(lo.node),
            }),
            Box::new(Node::Cmp {
                op: CmpOp::LtEq,
                l: Box::new(x.node),
                r: Box::new(hi.node),
            }),
        );
        let node = if negated {
            Node::Not(Box::new(node))
        } else {
            node
        };
        Ok(self.boolean(node, span))
    }

    #[allow(clippy::too_many_arguments)]
    fn like(
        &mut self,
        negated: bool,
        any: bool,
        e: &Expr,
        pattern: &Expr,
        escape: Option<&Expr>,
        ci: bool,
        span: Span,
    ) -> Result<Typed, ExprError> {
        if any {
            return Err(self.unsupported(span, "LIKE ANY"));
        }
        let escape = match escape {
            None => Some('\\'),
            Some(Expr::Value(v)) => match string_value(&v.value) {
                Some(s) => {
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (None, _) => None,
                        (Some(c), None) => Some(c),
                        _ => return Err(self.invalid(span, "ESCAPE must be a single character")),
                    }
                }
                None => return Err(self.invalid(span, "ESCAPE must be a string literal")),
            },
            Some(_) => return Err(self.invalid(span, "ESCAPE must be a string literal")),
        };
        let l = self.expr(e)?;
        let r = self.expr(pattern)?;
        self.build_like(l, r, escape, ci, negated, span)
    }

    fn build_like(
        &self,
        l: Typed,
        r: Typed,
        escape: Option<char>,
        ci: bool,
        negated: bool,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let what = if ci { "ILIKE" } else { "LIKE" };
        let l = functions::want_text(self, what, 0, 1, l)?;
        let pat = if let Some(p) = r.str_lit() {
            LikePat::Fixed(LikeMatcher::new(p, escape, ci).map_err(|m| self.invalid(r.span, m))?)
        } else {
            let r = functions::want_text(self, what, 0, 1, r)?;
            LikePat::Dynamic {
                pattern: Box::new(r.node),
                escape,
                ci,
            }
        };
        Ok(self.boolean(
            Node::Like {
                arg: Box::new(l.node),
                pat,
                negated,
            },
            span,
        ))
    }

    fn case(
        &mut self,
        operand: Option<&Expr>,
        whens: &[ast::CaseWhen],
        otherwise: Option<&Expr>,
        span: Span,
    ) -> Result<Typed, ExprError> {
        let operand = match operand {
            Some(o) => Some(self.expr(o)?),
            None => None,
        };
        let mut conds = Vec::with_capacity(whens.len());
        let mut results = Vec::with_capacity(whens.len() + 1);
        for w in whens {
            let c = self.expr(&w.condition)?;
            let cond = match &operand {
                Some(op) => self.build_cmp(CmpOp::Eq, op.clone(), c, span)?,
                None => self.want_bool(c, "CASE WHEN")?,
            };
            conds.push(cond.node);
            results.push(self.expr(&w.result)?);
        }
        let has_else = otherwise.is_some();
        if let Some(e) = otherwise {
            results.push(self.expr(e)?);
        }
        let all_null = results.iter().all(|t| t.lit == Lit::Null);
        let (results, ty) = self.unify_all(results, "CASE", span)?;
        let mut results = results.into_iter().map(|t| t.node);
        let mut pairs = Vec::with_capacity(conds.len());
        for c in conds {
            let Some(r) = results.next() else {
                return Err(self.invalid(span, "internal error: lost a CASE result"));
            };
            pairs.push((c, r));
        }
        let otherwise = if has_else {
            results.next().unwrap_or(Node::Const(Value::Null))
        } else {
            Node::Const(Value::Null)
        };
        // Drop branches that can never be taken; a constant-true branch ends the list.
        let mut kept = Vec::with_capacity(pairs.len());
        let mut otherwise = otherwise;
        for (c, r) in pairs {
            match &c {
                Node::Const(Value::Bool(false)) | Node::Const(Value::Null) => continue,
                Node::Const(Value::Bool(true)) => {
                    otherwise = r;
                    break;
                }
                _ => kept.push((c, r)),
            }
        }
        let node = if kept.is_empty() {
            otherwise
        } else {
            fold(Node::Case {
                whens: kept,
                otherwise: Box::new(otherwise),
            })
        };
        let mut t = Typed::new(node, ty, span);
        if all_null {
            t.lit = Lit::Null;
        }
        Ok(t)
    }
}

/// A numeric literal: integers that fit are int, other numbers are decimal (like
/// PostgreSQL's numeric), falling back to float beyond decimal's range.
pub(crate) fn parse_number(n: &str) -> Option<Value> {
    if n.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = n.parse::<i64>()
    {
        return Some(Value::Int(i));
    }
    let has_exp = n.contains(['e', 'E']);
    let dec = if has_exp {
        Decimal::from_scientific(n).ok()
    } else {
        n.parse::<Decimal>().ok()
    };
    if let Some(d) = dec {
        return Some(Value::Decimal(d));
    }
    n.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::Float)
}
