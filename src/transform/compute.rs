//! Computed columns: SQL expressions evaluated in order on every row.

use super::Transform;
use crate::expr::CompiledExpr;
use crate::row::Batch;

/// Where a computed value goes.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// Replace the column at this index.
    Replace(usize),
    /// Append a new column.
    Append,
}

/// One computed column.
pub struct ComputedColumn {
    /// Output name.
    pub name: String,
    /// Compiled against the schema as it is just before this column.
    pub expr: CompiledExpr,
    /// Where the value goes.
    pub target: Target,
}

/// The compute stage (also used for `cast`, as `CAST(col AS type)` expressions).
pub struct Compute {
    label: &'static str,
    columns: Vec<ComputedColumn>,
}

impl Compute {
    /// A stage named `label` (`compute` or `cast`) computing `columns` in order.
    pub fn new(label: &'static str, columns: Vec<ComputedColumn>) -> Self {
        Compute { label, columns }
    }
}

impl Transform for Compute {
    fn describe(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        format!("{}({})", self.label, names.join(", "))
    }

    fn apply(&self, batch: &mut Batch) {
        // In place: rows are not moved unless one fails.
        let mut failed: Vec<(usize, String)> = Vec::new();
        for (n, row) in batch.rows.iter_mut().enumerate() {
            for c in &self.columns {
                match c.expr.eval(&row.values) {
                    Ok(v) => match c.target {
                        Target::Replace(i) => row.values[i] = v,
                        Target::Append => row.values.push(v),
                    },
                    Err(e) => {
                        let reason = format!(
                            "{}: column {:?} = `{}`: {}",
                            self.label,
                            c.name,
                            c.expr.source(),
                            e
                        );
                        failed.push((n, reason));
                        break;
                    }
                }
            }
        }
        batch.reject_indexes(failed);
    }
}
