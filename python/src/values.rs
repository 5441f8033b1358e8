//! Values between rowflow and Python: `int`, `float`, `decimal.Decimal`, `bool`,
//! `datetime.date`, timezone-aware `datetime.datetime`, `str` and `None`.

use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDate, PyDateTime, PyDict, PyFloat, PyInt, PyString};

use rowflow::{DataType, Record, Value};

/// A value as a Python object.
pub fn to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    match v {
        Value::Null => Ok(py.None()),
        Value::Int(i) => i.into_py_any(py),
        Value::Float(f) => f.into_py_any(py),
        Value::Decimal(d) => d.into_py_any(py),
        Value::Bool(b) => b.into_py_any(py),
        Value::Date(d) => d.into_py_any(py),
        Value::Timestamp(t) => t.into_py_any(py),
        Value::Text(s) => s.into_py_any(py),
    }
}

/// The Python type's name, for messages.
fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A Python object as a value of column `name`'s type `ty`, or why it cannot be one.
pub fn from_py(v: &Bound<'_, PyAny>, name: &str, ty: DataType) -> Result<Value, String> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    let wrong = || {
        format!(
            "column {name:?} is {ty} but the function returned a {} ({})",
            type_name(v),
            v.repr()
                .map(|r| shorten(&r.to_string_lossy()))
                .unwrap_or_default()
        )
    };
    let is_bool = v.is_instance_of::<PyBool>();
    let is_int = v.is_instance_of::<PyInt>() && !is_bool;
    Ok(match ty {
        DataType::Int if is_int => Value::Int(v.extract::<i64>().map_err(|_| {
            format!(
                "column {name:?}: {} does not fit in 64 bits",
                shorten(&v.to_string())
            )
        })?),
        DataType::Float if v.is_instance_of::<PyFloat>() || is_int => {
            Value::Float(v.extract::<f64>().map_err(|_| wrong())?)
        }
        DataType::Decimal if is_int || type_name(v) == "Decimal" => {
            Value::Decimal(v.extract().map_err(|e| format!("column {name:?}: {e}"))?)
        }
        DataType::Bool if is_bool => Value::Bool(v.extract().map_err(|_| wrong())?),
        DataType::Date if v.is_instance_of::<PyDate>() && !v.is_instance_of::<PyDateTime>() => {
            Value::Date(v.extract().map_err(|_| wrong())?)
        }
        DataType::Timestamp if v.is_instance_of::<PyDateTime>() => {
            if v.getattr("tzinfo").map(|t| t.is_none()).unwrap_or(true) {
                return Err(format!(
                    "column {name:?} is timestamp but the function returned a naive datetime: \
                     give it a timezone (datetime.timezone.utc, or zoneinfo)"
                ));
            }
            Value::Timestamp(v.extract().map_err(|e| format!("column {name:?}: {e}"))?)
        }
        DataType::Text if v.is_instance_of::<PyString>() => {
            Value::Text(v.extract().map_err(|_| wrong())?)
        }
        _ => return Err(wrong()),
    })
}

fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        return s.to_string();
    }
    let cut: String = s.chars().take(MAX).collect();
    format!("{cut}...")
}

/// A record as a new dict of its columns.
pub fn record_to_dict<'py>(py: Python<'py>, rec: &Record) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for c in &rec.schema().columns {
        let v = rec.get(&c.name).unwrap_or(&Value::Null);
        d.set_item(&c.name, to_py(py, v)?)?;
    }
    Ok(d)
}

/// Set the record's columns from what the function returned (a dict: its keys set
/// those columns, the others keep their values).
pub fn update_record(rec: &mut Record, out: &Bound<'_, PyAny>) -> Result<(), String> {
    let d = out.cast::<PyDict>().map_err(|_| {
        format!(
            "the function returned a {}: expected a dict (the row) or None (drop the row)",
            type_name(out)
        )
    })?;
    for (k, v) in d.iter() {
        let key: String = k.extract().map_err(|_| {
            format!(
                "the returned dict has a key that is not a str: {}",
                shorten(&k.to_string())
            )
        })?;
        let ty = rec
            .schema()
            .columns
            .iter()
            .find(|c| c.name == key)
            .map(|c| c.data_type)
            .ok_or_else(|| {
                format!("the function returned a column {key:?} the stage does not declare: add it to columns=")
            })?;
        let value = from_py(&v, &key, ty)?;
        rec.set(&key, value)?;
    }
    Ok(())
}
