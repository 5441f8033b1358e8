//! `SELECT <items> FROM <anything> [WHERE <cond>]` as one row-at-a-time stage.

use sqlparser::ast::{Expr, GroupByExpr, SelectItem, SetExpr, Spanned, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Span;

use super::compile::compile_ast;
use super::{CompiledExpr, ExprContext, ExprError, Node, check_filter, syntax_error};
use crate::schema::Schema;

/// A compiled `SELECT`: output columns in order, and the optional `WHERE` filter
/// (evaluated against the input row, before the columns).
#[derive(Debug, Clone)]
pub struct SelectStage {
    /// Output column names and their expressions (over the input schema).
    pub columns: Vec<(String, CompiledExpr)>,
    /// The `WHERE` condition (type bool), if any.
    pub filter: Option<CompiledExpr>,
}

impl SelectStage {
    /// The schema of the rows this stage produces.
    pub fn output_schema(&self) -> Schema {
        Schema::new(self.columns.iter().map(|(n, e)| (n.clone(), e.data_type())))
    }
}

const SHAPE: &str = "supported: SELECT <expressions> FROM <anything> [WHERE <condition>]";

fn plan_error(sql: &str, span: Option<Span>, message: String) -> ExprError {
    let (line, col) = match span {
        Some(s) if s.start.line > 0 => (Some(s.start.line), Some(s.start.column)),
        _ => (None, None),
    };
    ExprError {
        expr: sql.to_string(),
        message,
        column: None,
        line,
        col,
    }
}

fn unsupported(sql: &str, clause: &str) -> ExprError {
    plan_error(
        sql,
        None,
        format!(
            "unsupported clause in `{sql}`: {clause} is not supported, a SELECT stage transforms one row at a time ({SHAPE})"
        ),
    )
}

/// Compile a whole `SELECT` statement as one stage.
///
/// Supports `*` (all input columns, in order), `expr AS name`, and bare column
/// references (named after the column). Other clauses are plan errors.
pub fn compile_select(
    sql: &str,
    input: &Schema,
    ctx: &ExprContext,
) -> Result<SelectStage, ExprError> {
    let dialect = PostgreSqlDialect {};
    let statements = Parser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| syntax_error(sql, &e.to_string()))?;
    let [Statement::Query(query)] = statements.as_slice() else {
        return Err(plan_error(
            sql,
            None,
            format!("`{sql}` must be exactly one SELECT statement ({SHAPE})"),
        ));
    };
    if query.with.is_some() {
        return Err(unsupported(sql, "WITH"));
    }
    if query.order_by.is_some() {
        return Err(unsupported(sql, "ORDER BY"));
    }
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(unsupported(sql, "LIMIT/OFFSET/FETCH"));
    }
    if !query.locks.is_empty() || query.for_clause.is_some() {
        return Err(unsupported(sql, "FOR ..."));
    }
    if query.settings.is_some() || query.format_clause.is_some() || !query.pipe_operators.is_empty()
    {
        return Err(unsupported(sql, "SETTINGS/FORMAT/pipe operators"));
    }
    let select = match query.body.as_ref() {
        SetExpr::Select(s) => s,
        SetExpr::SetOperation { .. } => return Err(unsupported(sql, "UNION/INTERSECT/EXCEPT")),
        SetExpr::Values(_) => return Err(unsupported(sql, "VALUES")),
        _ => {
            return Err(plan_error(
                sql,
                None,
                format!("`{sql}` must be a plain SELECT ({SHAPE})"),
            ));
        }
    };
    if select.distinct.is_some() {
        return Err(unsupported(sql, "DISTINCT"));
    }
    if select.top.is_some() {
        return Err(unsupported(sql, "TOP"));
    }
    if select.into.is_some() {
        return Err(unsupported(sql, "INTO"));
    }
    if select.from.len() > 1 || select.from.iter().any(|t| !t.joins.is_empty()) {
        return Err(unsupported(sql, "JOIN (or several tables in FROM)"));
    }
    match &select.group_by {
        GroupByExpr::Expressions(exprs, mods) if exprs.is_empty() && mods.is_empty() => {}
        _ => return Err(unsupported(sql, "GROUP BY")),
    }
    if select.having.is_some() {
        return Err(unsupported(sql, "HAVING"));
    }
    if !select.named_window.is_empty() || select.qualify.is_some() {
        return Err(unsupported(sql, "WINDOW/QUALIFY"));
    }
    if !select.lateral_views.is_empty()
        || select.prewhere.is_some()
        || !select.connect_by.is_empty()
        || !select.cluster_by.is_empty()
        || !select.distribute_by.is_empty()
        || !select.sort_by.is_empty()
        || select.exclude.is_some()
        || select.value_table_mode.is_some()
    {
        return Err(unsupported(sql, "this dialect-specific clause"));
    }

    let mut columns: Vec<(String, CompiledExpr)> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(opts) | SelectItem::QualifiedWildcard(_, opts) => {
                if opts.opt_ilike.is_some()
                    || opts.opt_exclude.is_some()
                    || opts.opt_except.is_some()
                    || opts.opt_replace.is_some()
                    || opts.opt_rename.is_some()
                    || opts.opt_alias.is_some()
                {
                    return Err(unsupported(sql, "* with EXCLUDE/EXCEPT/REPLACE/RENAME"));
                }
                for (i, c) in input.columns.iter().enumerate() {
                    let expr = CompiledExpr::from_parts(
                        format!("\"{}\"", c.name.replace('"', "\"\"")),
                        Node::Col(i),
                        c.data_type,
                    );
                    columns.push((c.name.clone(), expr));
                }
            }
            SelectItem::UnnamedExpr(e) => {
                let compiled = compile_ast(e, &e.to_string(), input, ctx)?;
                let name = match (e, &compiled.node) {
                    (Expr::Identifier(_) | Expr::CompoundIdentifier(_), Node::Col(i)) => {
                        input.columns.get(*i).map(|c| c.name.clone())
                    }
                    _ => None,
                };
                let Some(name) = name else {
                    return Err(plan_error(
                        sql,
                        Some(e.span()),
                        format!("the select item `{e}` needs a name: write `{e} AS name`"),
                    ));
                };
                columns.push((name, compiled));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let compiled = compile_ast(expr, &expr.to_string(), input, ctx)?;
                columns.push((alias.value.clone(), compiled));
            }
            SelectItem::ExprWithAliases { .. } => return Err(unsupported(sql, "AS (a, b)")),
        }
    }
    for (i, (name, _)) in columns.iter().enumerate() {
        if columns.iter().skip(i + 1).any(|(other, _)| other == name) {
            return Err(plan_error(
                sql,
                None,
                format!("duplicate output column \"{name}\" in `{sql}` (rename one with AS)"),
            ));
        }
    }

    let filter = match &select.selection {
        Some(w) => {
            let f = compile_ast(w, &w.to_string(), input, ctx)?;
            check_filter(&f).map_err(|mut e| {
                e.message = format!("{} in `{sql}`", e.message);
                e
            })?;
            Some(f)
        }
        None => None,
    };
    Ok(SelectStage { columns, filter })
}
