//! Filter: keep rows where a SQL boolean expression is true.

use super::Transform;
use crate::expr::CompiledExpr;
use crate::row::Batch;

/// The filter stage. NULL and false drop the row (counted as filtered, not rejected).
pub struct Filter {
    expr: CompiledExpr,
}

impl Filter {
    /// A filter on a compiled boolean expression.
    pub fn new(expr: CompiledExpr) -> Self {
        Filter { expr }
    }
}

impl Transform for Filter {
    fn describe(&self) -> String {
        format!("filter({})", self.expr.source())
    }

    fn apply(&self, batch: &mut Batch) {
        let rows = std::mem::take(&mut batch.rows);
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            match self.expr.matches(&row.values) {
                Ok(true) => kept.push(row),
                Ok(false) => batch.filtered += 1,
                Err(e) => {
                    let reason = format!("filter `{}`: {}", self.expr.source(), e);
                    batch.reject(row, reason);
                }
            }
        }
        batch.rows = kept;
    }
}
