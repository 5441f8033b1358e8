//! `SELECT <items> FROM <anything> [WHERE <cond>]` as one row-at-a-time stage.

use sqlparser::ast::{Expr, GroupByExpr, Query, Select, SelectItem, SetExpr, Statement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Location, Span, Token, Tokenizer};

use super::compile::{compile_ast, pos};
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
    let select = plain_select(sql, query)?;
    check_clauses(sql, select)?;
    let columns = output_columns(sql, select, input, ctx)?;
    let filter = match &select.selection {
        Some(w) => {
            let text = where_text(sql).unwrap_or_else(|| "WHERE condition".to_string());
            let f = compile_ast(w, &text, input, ctx)?;
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

/// The query's one SELECT, after refusing the clauses of a whole query.
fn plain_select<'q>(sql: &str, query: &'q Query) -> Result<&'q Select, ExprError> {
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
    match query.body.as_ref() {
        SetExpr::Select(s) => Ok(s),
        SetExpr::SetOperation { .. } => Err(unsupported(sql, "UNION/INTERSECT/EXCEPT")),
        SetExpr::Values(_) => Err(unsupported(sql, "VALUES")),
        _ => Err(plan_error(
            sql,
            None,
            format!("`{sql}` must be a plain SELECT ({SHAPE})"),
        )),
    }
}

/// Refuse the clauses of a SELECT that do not work one row at a time.
fn check_clauses(sql: &str, select: &Select) -> Result<(), ExprError> {
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
    Ok(())
}

/// The output columns, in order, each compiled against the input; names must differ.
fn output_columns(
    sql: &str,
    select: &Select,
    input: &Schema,
    ctx: &ExprContext,
) -> Result<Vec<(String, CompiledExpr)>, ExprError> {
    // The text of each item as written (without its alias), for messages and
    // `CompiledExpr::source`.
    let texts = item_texts(sql).filter(|t| t.len() == select.projection.len());
    let mut columns: Vec<(String, CompiledExpr)> = Vec::new();
    for (n, item) in select.projection.iter().enumerate() {
        let text = texts
            .as_ref()
            .and_then(|t| t.get(n))
            .map(|(full, without_alias)| {
                if matches!(item, SelectItem::ExprWithAlias { .. }) {
                    without_alias.clone()
                } else {
                    full.clone()
                }
            })
            .unwrap_or_else(|| format!("select item {}", n + 1));
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
                let compiled = compile_ast(e, &text, input, ctx)?;
                let name = match (e, &compiled.node) {
                    (Expr::Identifier(_) | Expr::CompoundIdentifier(_), Node::Col(i)) => {
                        input.columns.get(*i).map(|c| c.name.clone())
                    }
                    _ => None,
                };
                let Some(name) = name else {
                    return Err(plan_error(
                        sql,
                        Some(pos(e)),
                        format!("the select item `{text}` needs a name: write `{text} AS name`"),
                    ));
                };
                columns.push((name, compiled));
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let compiled = compile_ast(expr, &text, input, ctx)?;
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

    Ok(columns)
}

/// Byte offset of a tokenizer location (1-based line and character column).
fn offset(sql: &str, loc: Location) -> Option<usize> {
    if loc.line == 0 || loc.column == 0 {
        return None;
    }
    let mut line_start = 0usize;
    let mut line = 1u64;
    if loc.line > 1 {
        for (i, ch) in sql.char_indices() {
            if ch == '\n' {
                line += 1;
                line_start = i + 1;
                if line == loc.line {
                    break;
                }
            }
        }
        if line != loc.line {
            return None;
        }
    }
    let rest = sql.get(line_start..)?;
    let col = usize::try_from(loc.column - 1).ok()?;
    rest.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(rest.len()))
        .nth(col)
        .map(|i| line_start + i)
}

/// Top-level pieces of the statement: the select items (each as written, and without
/// a trailing alias) and the WHERE condition. `None` when the text cannot be split.
struct Pieces {
    items: Vec<(String, String)>,
    filter: Option<String>,
}

fn pieces(sql: &str) -> Option<Pieces> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .ok()?;
    let text = |from: usize, to: usize| -> Option<String> {
        // `from..to` is a token index range; trim whitespace tokens at both ends.
        let slice = tokens.get(from..to)?;
        let first = slice
            .iter()
            .position(|t| !matches!(t.token, Token::Whitespace(_)))?;
        let last = slice
            .iter()
            .rposition(|t| !matches!(t.token, Token::Whitespace(_)))?;
        let a = offset(sql, slice.get(first)?.span.start)?;
        let b = offset(sql, slice.get(last)?.span.end)?;
        sql.get(a..b).map(|s| s.to_string())
    };
    let keyword = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    };
    let mut depth = 0i64;
    let mut items = Vec::new();
    let mut filter = None;
    let mut state = 0; // 0: before SELECT, 1: items, 2: after items, 3: WHERE
    let mut start = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match &t.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth -= 1,
            _ => {}
        }
        if depth != 0 {
            continue;
        }
        let kw = keyword(&t.token);
        match state {
            0 if kw == Some(Keyword::SELECT) => {
                state = 1;
                start = i + 1;
            }
            1 if t.token == Token::Comma
                || matches!(kw, Some(Keyword::FROM | Keyword::WHERE))
                || t.token == Token::SemiColon =>
            {
                items.push(item_piece(&tokens, start, i, &text)?);
                start = i + 1;
                if t.token != Token::Comma {
                    state = 2;
                }
                if kw == Some(Keyword::WHERE) {
                    state = 3;
                }
            }
            2 if kw == Some(Keyword::WHERE) => {
                state = 3;
                start = i + 1;
            }
            3 if t.token == Token::SemiColon
                || matches!(kw, Some(Keyword::GROUP | Keyword::ORDER | Keyword::LIMIT)) =>
            {
                filter = text(start, i);
                state = 4;
            }
            _ => {}
        }
    }
    match state {
        1 => items.push(item_piece(&tokens, start, tokens.len(), &text)?),
        3 => filter = text(start, tokens.len()),
        _ => {}
    }
    Some(Pieces { items, filter })
}

/// One select item: its full text and its text without a trailing `[AS] alias`.
fn item_piece(
    tokens: &[sqlparser::tokenizer::TokenWithSpan],
    from: usize,
    to: usize,
    text: &dyn Fn(usize, usize) -> Option<String>,
) -> Option<(String, String)> {
    let full = text(from, to)?;
    let mut end = to;
    let significant = |j: usize| {
        tokens
            .get(j)
            .is_some_and(|t| !matches!(t.token, Token::Whitespace(_)))
    };
    while end > from && !significant(end - 1) {
        end -= 1;
    }
    // Drop the alias word, then an optional AS.
    if end > from && matches!(tokens.get(end - 1).map(|t| &t.token), Some(Token::Word(_))) {
        end -= 1;
        while end > from && !significant(end - 1) {
            end -= 1;
        }
        if end > from
            && matches!(tokens.get(end - 1).map(|t| &t.token), Some(Token::Word(w)) if w.quote_style.is_none() && w.keyword == Keyword::AS)
        {
            end -= 1;
        }
    }
    let bare = text(from, end).unwrap_or_else(|| full.clone());
    Some((full, bare))
}

fn item_texts(sql: &str) -> Option<Vec<(String, String)>> {
    pieces(sql).map(|p| p.items)
}

fn where_text(sql: &str) -> Option<String> {
    pieces(sql).and_then(|p| p.filter)
}
