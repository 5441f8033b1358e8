//! Planning the stages: each one checked against the schema the one before it produces,
//! compiled, and grouped for the runtime (CPU transforms in runs between async stages).

use std::sync::Arc;

use super::{AsyncSpec, PlanStep, StageSpec};
use crate::config::{HttpSpec, TransformSpec};
use crate::expr::{CompiledExpr, ExprContext, compile_filter, compile_select};
use crate::runtime::Stage;
use crate::schema::{Column, DataType, Schema};
use crate::sink::quote_ident;
use crate::transform::{AsyncStage, AsyncWork, HttpStats};
use crate::transform::{
    Compute, ComputedColumn, Filter, Project, ProjectColumn, Target, Transform,
};

/// The stages, planned.
pub(crate) struct Staged {
    /// For the runtime: CPU transforms grouped between async stages.
    pub stages: Vec<Stage>,
    /// For display: each stage and the schema after it.
    pub steps: Vec<PlanStep>,
    /// The counters of each http stage.
    pub http: Vec<Arc<HttpStats>>,
    /// The schema after the last stage: what the sink receives.
    pub output: Schema,
    /// Some async stage may reorder rows.
    pub unordered: bool,
}

/// The stages being planned, in order.
struct Planner {
    staged: Staged,
    /// CPU transforms since the last async stage.
    cpu: Vec<Arc<dyn Transform>>,
    schema: Arc<Schema>,
}

impl Planner {
    /// Close the current run of CPU transforms (before an async stage).
    fn close_cpu(&mut self) {
        if !self.cpu.is_empty() {
            let cpu = std::mem::take(&mut self.cpu);
            self.staged.stages.push(Stage::Cpu(cpu));
        }
    }

    /// Add an async stage whose output is `output`.
    fn push_async(&mut self, stage: AsyncStage, describe: String, output: Schema) {
        self.close_cpu();
        self.staged.stages.push(Stage::Async(stage));
        self.staged.steps.push(PlanStep {
            describe,
            output: output.clone(),
        });
        self.schema = Arc::new(output);
    }

    fn http(&mut self, h: &HttpSpec, n: usize) -> Result<(), Vec<String>> {
        let hp = crate::transform::http::plan(h, &self.schema).map_err(|es| {
            es.into_iter()
                .map(|e| format!("transform {n} (http {}{}): {e}", h.name, set_hint(n)))
                .collect::<Vec<_>>()
        })?;
        let stage = AsyncStage {
            name: h.name.clone(),
            concurrency: h.concurrency,
            ordered: h.ordered,
            work: hp.work,
            http_columns: Some(hp.output.len() - self.schema.len()),
        };
        self.staged.http.push(hp.stats);
        self.push_async(stage, hp.describe, hp.output);
        Ok(())
    }

    fn transform(
        &mut self,
        t: &TransformSpec,
        n: usize,
        ctx: &ExprContext,
    ) -> Result<(), Vec<String>> {
        let (tr, out) = plan_transform(t, &self.schema, ctx).map_err(|es| {
            es.into_iter()
                .map(|e| format!("transform {n} ({}{}): {e}", kind_name(t), set_hint(n)))
                .collect::<Vec<_>>()
        })?;
        let describe = match &tr {
            Some(tr) => tr.describe(),
            None => describe_spec(t),
        };
        self.cpu.extend(tr);
        self.staged.steps.push(PlanStep {
            describe,
            output: out.clone(),
        });
        self.schema = Arc::new(out);
        Ok(())
    }

    fn user_async(&mut self, a: AsyncSpec, n: usize) -> Result<(), Vec<String>> {
        let mut out = (*self.schema).clone();
        let mut errors = Vec::new();
        for (name, ty) in &a.add_columns {
            if out.index_of(name).is_some() {
                errors.push(format!(
                    "stage {n} ({}): column {name:?} already exists",
                    a.name
                ));
            }
            out.columns.push(Column {
                name: name.clone(),
                data_type: *ty,
                size: crate::schema::TypeSize::Any,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        self.staged.unordered |= !a.ordered;
        let describe = format!(
            "async {}(concurrency {}, {})",
            a.name,
            a.concurrency,
            if a.ordered { "ordered" } else { "unordered" }
        );
        let stage = AsyncStage {
            name: a.name.clone(),
            concurrency: a.concurrency,
            ordered: a.ordered,
            work: AsyncWork::Each((a.make)(Arc::new(out.clone()))),
            http_columns: None,
        };
        self.push_async(stage, describe, out);
        Ok(())
    }
}

/// Plan `stages` over rows of `input`, after `decode` (the first CPU step). Problems go
/// to `errors`; a stage with problems ends the planning (the later ones depend on its
/// output).
pub(crate) fn plan_stages(
    stages: Vec<StageSpec>,
    input: &Schema,
    decode: Arc<dyn Transform>,
    ctx: &ExprContext,
    errors: &mut Vec<String>,
) -> Staged {
    let mut p = Planner {
        staged: Staged {
            stages: Vec::new(),
            steps: Vec::new(),
            http: Vec::new(),
            output: Schema::default(),
            unordered: false,
        },
        cpu: vec![decode],
        schema: Arc::new(input.clone()),
    };
    for (n, stage) in stages.into_iter().enumerate() {
        let n = n + 1;
        let planned = match stage {
            StageSpec::Transform(TransformSpec::Http(h)) => p.http(&h, n),
            StageSpec::Transform(t) => p.transform(&t, n, ctx),
            StageSpec::Async(a) => p.user_async(a, n),
        };
        if let Err(es) = planned {
            errors.extend(es);
            break;
        }
    }
    // Sized columns (`numeric(12,2)`, `varchar(40)`) are fitted as the rows leave the
    // last stage, so every sink gets the same values and the same row errors.
    if errors.is_empty()
        && let Some(fit) = crate::transform::Fit::of(&p.schema)
    {
        p.cpu.push(Arc::new(fit));
    }
    p.close_cpu();
    p.staged.output = (*p.schema).clone();
    p.staged
}

/// Columns that compute and async stages may add (an upper bound).
pub(crate) fn width_hint(stages: &[StageSpec]) -> usize {
    stages
        .iter()
        .map(|s| match s {
            StageSpec::Transform(TransformSpec::Compute { columns }) => columns.len(),
            StageSpec::Async(a) => a.add_columns.len(),
            _ => 0,
        })
        .sum()
}

fn kind_name(t: &TransformSpec) -> &'static str {
    match t {
        TransformSpec::Compute { .. } => "compute",
        TransformSpec::Filter { .. } => "filter",
        TransformSpec::Select { .. } => "select",
        TransformSpec::Drop { .. } => "drop",
        TransformSpec::Rename { .. } => "rename",
        TransformSpec::Cast { .. } => "cast",
        TransformSpec::Sql { .. } => "sql",
        TransformSpec::Http(_) => "http",
    }
}

fn describe_spec(t: &TransformSpec) -> String {
    match t {
        TransformSpec::Rename { columns } => {
            let r: Vec<String> = columns.iter().map(|(a, b)| format!("{a} → {b}")).collect();
            format!("rename({})", r.join(", "))
        }
        other => kind_name(other).to_string(),
    }
}

/// A transform (none: the stage only changes the schema, as `rename`) and its output.
type Planned = (Option<Arc<dyn Transform>>, Schema);

fn find(schema: &Schema, col: &str) -> Result<usize, String> {
    schema.index_of(col).ok_or_else(|| {
        let names: Vec<String> = schema.names().map(String::from).collect();
        format!(
            "no column {col:?}{}",
            crate::format::did_you_mean(col, &names)
        )
    })
}

/// Plan one configured transform (not `http`: an async stage) over `schema`.
fn plan_transform(
    t: &TransformSpec,
    schema: &Schema,
    ctx: &ExprContext,
) -> Result<Planned, Vec<String>> {
    match t {
        TransformSpec::Compute { columns } => compute(columns, false, schema, ctx),
        TransformSpec::Cast { columns } => compute(columns, true, schema, ctx),
        TransformSpec::Filter { condition } => match compile_filter(condition, schema, ctx) {
            Ok(e) => Ok((Some(Arc::new(Filter::new(e))), schema.clone())),
            Err(e) => Err(vec![e.to_string()]),
        },
        TransformSpec::Select { columns } => project(t, columns, true, schema),
        TransformSpec::Drop { columns } => project(t, columns, false, schema),
        TransformSpec::Rename { columns } => rename(columns, schema),
        // Planned as an async stage by `plan_stages`.
        TransformSpec::Http(_) => Err(vec!["internal: the http stage is planned apart".into()]),
        TransformSpec::Sql { query } => sql(query, schema, ctx),
    }
}

/// `compute` (and `cast`, a compute of `CAST(column AS type)`): each column's expression
/// sees the columns computed before it.
fn compute(
    columns: &indexmap::IndexMap<String, String>,
    is_cast: bool,
    schema: &Schema,
    ctx: &ExprContext,
) -> Result<Planned, Vec<String>> {
    let mut errors = Vec::new();
    let mut cur = schema.clone();
    let mut out = Vec::new();
    for (name, text) in columns {
        let sql = if is_cast {
            if let Err(e) = find(&cur, name) {
                errors.push(e);
                continue;
            }
            match crate::schema::TypeSize::parse_type(text) {
                // A numeric(p,s) rounds as the expression's cast does; a varchar(n)
                // is checked, not cut short (see `Fit`).
                Ok((ty @ DataType::Decimal, size)) => format!(
                    "CAST({} AS {}{})",
                    quote_ident(name),
                    ty.postgres_name(),
                    size.suffix()
                ),
                Ok((ty, _)) => format!("CAST({} AS {})", quote_ident(name), ty.postgres_name()),
                Err(e) => {
                    errors.push(format!("column {name:?}: {e}"));
                    continue;
                }
            }
        } else {
            text.clone()
        };
        let expr = match CompiledExpr::compile(&sql, &cur, ctx) {
            Ok(expr) => expr,
            Err(e) => {
                errors.push(format!("column {name:?}: {e}"));
                continue;
            }
        };
        let ty = expr.data_type();
        let size = match (is_cast, crate::schema::TypeSize::parse_type(text)) {
            (true, Ok((_, size))) => size,
            _ => expr.type_size(),
        };
        let target = match cur.index_of(name) {
            Some(i) => {
                cur.columns[i].data_type = ty;
                cur.columns[i].size = size;
                Target::Replace(i)
            }
            None => {
                cur.columns.push(Column {
                    name: name.clone(),
                    data_type: ty,
                    size,
                });
                Target::Append
            }
        };
        out.push(ComputedColumn {
            name: name.clone(),
            expr,
            target,
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let label = if is_cast { "cast" } else { "compute" };
    Ok((Some(Arc::new(Compute::new(label, out))), cur))
}

/// `select` (`keep`) or `drop` of `columns`.
fn project(
    t: &TransformSpec,
    columns: &[String],
    keep: bool,
    schema: &Schema,
) -> Result<Planned, Vec<String>> {
    let mut idx = Vec::new();
    let mut errors = Vec::new();
    for c in columns {
        match find(schema, c) {
            Ok(i) => idx.push(i),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let kept: Vec<usize> = if keep {
        idx
    } else {
        (0..schema.len()).filter(|i| !idx.contains(i)).collect()
    };
    let out = Schema {
        columns: kept.iter().map(|&i| schema.columns[i].clone()).collect(),
    };
    let label = format!("{}({})", kind_name(t), columns.join(", "));
    let cols = kept.into_iter().map(ProjectColumn::Input).collect();
    Ok((Some(Arc::new(Project::new(label, None, cols))), out))
}

/// `rename`: the schema only; rows are untouched.
fn rename(
    columns: &indexmap::IndexMap<String, String>,
    schema: &Schema,
) -> Result<Planned, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = schema.clone();
    for (old, new) in columns {
        match find(schema, old) {
            Ok(i) => out.columns[i].name = new.clone(),
            Err(e) => errors.push(e),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &out.columns {
        if !seen.insert(c.name.as_str()) {
            errors.push(format!(
                "after renaming, two columns are named {:?}",
                c.name
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((None, out))
}

/// `sql`: a `SELECT ... [WHERE ...]` over the row.
fn sql(query: &str, schema: &Schema, ctx: &ExprContext) -> Result<Planned, Vec<String>> {
    let sel = compile_select(query, schema, ctx).map_err(|e| vec![e.to_string()])?;
    let mut errors = Vec::new();
    let mut out = Schema::default();
    let mut cols = Vec::new();
    for (name, e) in sel.columns {
        if out.index_of(&name).is_some() {
            errors.push(format!("the query produces two columns named {name:?}"));
        }
        out.columns.push(Column {
            name: name.clone(),
            data_type: e.data_type(),
            size: e.type_size(),
        });
        cols.push(ProjectColumn::Expr(name, e));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let project = Project::new("sql".into(), sel.filter, cols);
    Ok((Some(Arc::new(project)), out))
}

/// How `--set` names transform `n` (counted from 1 in messages, from 0 in keys, as
/// TOML arrays are).
fn set_hint(n: usize) -> String {
    format!(
        "; --set transform.{}.KEY=VALUE changes it",
        n.saturating_sub(1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{Decode, DecodeOptions};

    fn input() -> Schema {
        Schema::new([
            ("id".to_string(), DataType::Int),
            ("email".to_string(), DataType::Text),
            ("visits".to_string(), DataType::Text),
        ])
    }

    fn plan(stages: Vec<StageSpec>) -> (Staged, Vec<String>) {
        let decode = Arc::new(Decode::new(DecodeOptions {
            schema: Arc::new(input()),
            null_values: Vec::new(),
            ragged: Default::default(),
            type_hint: None,
            row_capacity: 8,
            formats: Vec::new(),
            column_nulls: Vec::new(),
            encoding: None,
            json: None,
        }));
        let mut errors = Vec::new();
        let ctx = ExprContext::from_clock();
        let staged = plan_stages(stages, &input(), decode, &ctx, &mut errors);
        (staged, errors)
    }

    fn t(toml: &str) -> StageSpec {
        #[derive(serde::Deserialize)]
        struct One {
            transform: TransformSpec,
        }
        StageSpec::Transform(toml::from_str::<One>(toml).unwrap().transform)
    }

    fn columns(s: &Schema) -> Vec<(String, DataType)> {
        s.columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type))
            .collect()
    }

    #[test]
    fn each_stage_sees_the_schema_before_it() {
        let (staged, errors) = plan(vec![
            t("transform = { type = \"cast\", columns = { visits = \"int\" } }"),
            t(
                "transform = { type = \"compute\", columns = { double = \"visits * 2\", half = \"double / 2\" } }",
            ),
            t("transform = { type = \"drop\", columns = [\"email\"] }"),
            t("transform = { type = \"rename\", columns = { id = \"user_id\" } }"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            columns(&staged.output),
            vec![
                ("user_id".into(), DataType::Int),
                ("visits".into(), DataType::Int),
                ("double".into(), DataType::Int),
                ("half".into(), DataType::Int),
            ]
        );
        assert_eq!(staged.steps.len(), 4);
        // Decode, cast, compute and drop in one CPU group; rename changes no row.
        assert!(matches!(&staged.stages[..], [Stage::Cpu(ts)] if ts.len() == 4));
        assert!(!staged.unordered);
    }

    #[test]
    fn a_failing_stage_names_itself_and_ends_the_planning() {
        let (_, errors) = plan(vec![
            t("transform = { type = \"select\", columns = [\"id\", \"emial\"] }"),
            t("transform = { type = \"filter\", where = \"nope > 1\" }"),
        ]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with(
                "transform 1 (select; --set transform.0.KEY=VALUE changes it): no column \"emial\""
            ) && errors[0].contains("email"),
            "{errors:?}"
        );
    }

    #[test]
    fn renames_and_queries_cannot_make_two_columns_of_one_name() {
        let (_, errors) = plan(vec![t(
            "transform = { type = \"rename\", columns = { id = \"email\" } }",
        )]);
        assert!(
            errors[0].contains("two columns are named \"email\""),
            "{errors:?}"
        );
        let (_, errors) = plan(vec![t(
            "transform = { type = \"sql\", query = \"SELECT id AS a, email AS a\" }",
        )]);
        assert!(
            errors[0].contains("duplicate output column \"a\""),
            "{errors:?}"
        );
        let (_, errors) = plan(vec![t(
            "transform = { type = \"cast\", columns = { visits = \"number\" } }",
        )]);
        assert!(
            errors[0].starts_with(
                "transform 1 (cast; --set transform.0.KEY=VALUE changes it): column \"visits\""
            ),
            "{errors:?}"
        );
    }

    #[test]
    fn async_stages_split_the_cpu_groups_and_add_their_columns() {
        let user = |name: &str, add: &str, ordered: bool| {
            StageSpec::Async(AsyncSpec {
                name: name.into(),
                concurrency: 4,
                ordered,
                add_columns: vec![(add.to_string(), DataType::Text)],
                make: Box::new(|_| -> crate::transform::AsyncFn {
                    Arc::new(|row| {
                        Box::pin(async move { (row, crate::transform::AsyncOutcome::Keep) })
                    })
                }),
            })
        };
        let (staged, errors) = plan(vec![
            user("enrich", "country", false),
            t("transform = { type = \"filter\", where = \"country IS NOT NULL\" }"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(staged.unordered);
        assert!(matches!(
            &staged.stages[..],
            [Stage::Cpu(a), Stage::Async(_), Stage::Cpu(b)] if a.len() == 1 && b.len() == 1
        ));
        assert_eq!(staged.output.index_of("country"), Some(3));
        let (_, errors) = plan(vec![user("again", "email", true)]);
        assert_eq!(
            errors,
            vec!["stage 1 (again): column \"email\" already exists"]
        );
    }
}
