//! Fit: values of sized columns (`numeric(12,2)`, `varchar(40)`) made to fit their size
//! before they reach the sink: decimals rounded to the scale as PostgreSQL rounds them,
//! and a value too large for the column rejected with the column named, rather than
//! rounded differently, cut short or refused by each database in its own way.

use super::Transform;
use crate::row::Batch;
use crate::schema::{Schema, TypeSize};

/// The fit stage over the output schema's sized columns.
pub struct Fit {
    columns: Vec<(usize, String, TypeSize)>,
}

impl Fit {
    /// The stage for `schema`, or `None` when no column has a size.
    pub fn of(schema: &Schema) -> Option<Fit> {
        let columns: Vec<(usize, String, TypeSize)> = schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.size != TypeSize::Any)
            .map(|(i, c)| (i, c.name.clone(), c.size))
            .collect();
        (!columns.is_empty()).then_some(Fit { columns })
    }
}

impl Transform for Fit {
    fn describe(&self) -> String {
        let cols: Vec<&str> = self.columns.iter().map(|c| c.1.as_str()).collect();
        format!("fit({})", cols.join(", "))
    }

    fn apply(&self, batch: &mut Batch) {
        let rows = std::mem::take(&mut batch.rows);
        let mut kept = Vec::with_capacity(rows.len());
        'rows: for mut row in rows {
            for (i, name, size) in &self.columns {
                let Some(v) = row.values.get_mut(*i) else {
                    continue;
                };
                match size.fit(std::mem::replace(v, crate::value::Value::Null)) {
                    Ok(fitted) => *v = fitted,
                    Err(e) => {
                        batch.reject(row, format!("column {name:?}: {e}"));
                        continue 'rows;
                    }
                }
            }
            kept.push(row);
        }
        batch.rows = kept;
    }
}

#[cfg(test)]
mod tests {
    use crate::schema::{DataType, TypeSize};
    use crate::value::Value;

    #[test]
    fn sizes_parse_and_fit() {
        let t = |s: &str| TypeSize::parse_type(s).unwrap();
        assert_eq!(
            t("numeric(12,2)"),
            (
                DataType::Decimal,
                TypeSize::Numeric {
                    precision: 12,
                    scale: 2
                }
            )
        );
        assert_eq!(t("varchar(3)"), (DataType::Text, TypeSize::Chars(3)));
        assert_eq!(t("jsonb"), (DataType::Text, TypeSize::Json));
        assert_eq!(t("JSON"), (DataType::Text, TypeSize::Json));
        assert!(TypeSize::parse_type("numeric(2,3)").is_err());
        let text = |s: &str| Value::Text(s.to_string());
        assert_eq!(
            TypeSize::Json.fit(text("{\"a\": [1]}")),
            Ok(text("{\"a\": [1]}"))
        );
        assert_eq!(TypeSize::Json.fit(Value::Null), Ok(Value::Null));
        let e = TypeSize::Json.fit(text("{oops")).unwrap_err();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = TypeSize::Chars(3).fit(text("abcd")).unwrap_err();
        assert!(e.contains("varchar(3)"), "{e}");
    }
}
