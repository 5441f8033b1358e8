//! Projection: choose, reorder or compute the output columns (select, drop, and the
//! column list of a `sql` stage).

use super::Transform;
use crate::expr::CompiledExpr;
use crate::row::{Batch, Value};

/// One output column of a projection.
pub enum ProjectColumn {
    /// Take the input column at this index.
    Input(usize),
    /// Evaluate an expression.
    Expr(String, CompiledExpr),
}

/// The projection stage, optionally preceded by a filter (a `sql` stage's WHERE).
pub struct Project {
    label: String,
    filter: Option<CompiledExpr>,
    columns: Vec<ProjectColumn>,
    /// Input values can be moved out (no expression reads them, none is used twice).
    can_take: bool,
}

impl Project {
    /// A projection.
    pub fn new(label: String, filter: Option<CompiledExpr>, columns: Vec<ProjectColumn>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let can_take = columns.iter().all(|c| match c {
            ProjectColumn::Input(i) => seen.insert(*i),
            ProjectColumn::Expr(..) => false,
        });
        Project {
            label,
            filter,
            columns,
            can_take,
        }
    }
}

impl Transform for Project {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn apply(&self, batch: &mut Batch) {
        if self.filter.is_none() && self.can_take {
            // Only moves, which cannot fail: in place, each row keeping its vector.
            let mut scratch: Vec<Value> = Vec::new();
            for row in &mut batch.rows {
                scratch.clear();
                scratch.append(&mut row.values);
                for c in &self.columns {
                    if let ProjectColumn::Input(i) = c {
                        row.values
                            .push(std::mem::replace(&mut scratch[*i], Value::Null));
                    }
                }
            }
            return;
        }
        let rows = std::mem::take(&mut batch.rows);
        let mut kept = Vec::with_capacity(rows.len());
        'rows: for mut row in rows {
            if let Some(f) = &self.filter {
                match f.matches(&row.values) {
                    Ok(true) => {}
                    Ok(false) => {
                        batch.filtered += 1;
                        continue;
                    }
                    Err(e) => {
                        let reason = format!("{} WHERE `{}`: {}", self.label, f.source(), e);
                        batch.reject(row, reason);
                        continue;
                    }
                }
            }
            let mut out = Vec::with_capacity(self.columns.len());
            for c in &self.columns {
                match c {
                    ProjectColumn::Input(i) if self.can_take => {
                        out.push(std::mem::replace(&mut row.values[*i], Value::Null))
                    }
                    ProjectColumn::Input(i) => out.push(row.values[*i].clone()),
                    ProjectColumn::Expr(name, e) => match e.eval(&row.values) {
                        Ok(v) => out.push(v),
                        Err(err) => {
                            let reason = format!(
                                "{}: column {name:?} = `{}`: {err}",
                                self.label,
                                e.source()
                            );
                            batch.reject(row, reason);
                            continue 'rows;
                        }
                    },
                }
            }
            row.values = out;
            kept.push(row);
        }
        batch.rows = kept;
    }
}
