//! Conversions between plain Python values and TOML values, the form in which deepq's
//! configuration and environment keyword arguments travel.
//!
//! Python → TOML accepts `bool`, `int`, `float`, `str`, lists and tuples of those, and dicts
//! with string keys (the Python layer turns NumPy scalars and arrays into these first).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

/// Converts a plain Python value into a TOML value; the error describes what was not accepted.
pub fn to_toml(value: &Bound<'_, PyAny>) -> Result<toml::Value, String> {
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(toml::Value::Boolean(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        return value
            .extract::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("the integer {} does not fit in 64 bits", repr(value)));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(toml::Value::Float(f.value()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return s
            .to_str()
            .map(|s| toml::Value::String(s.to_owned()))
            .map_err(|_| format!("the string {} is not valid UTF-8", repr(value)));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items = value
            .try_iter()
            .map_err(|e| e.to_string())?
            .map(|item| item.map_err(|e| e.to_string()).and_then(|i| to_toml(&i)))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(toml::Value::Array(items));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut table = toml::Table::new();
        for (k, v) in dict.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| format!("dict keys must be strings, not {}", repr(&k)))?
                .to_str()
                .map_err(|e| e.to_string())?
                .to_owned();
            table.insert(key, to_toml(&v)?);
        }
        return Ok(toml::Value::Table(table));
    }
    Err(format!(
        "{} of type '{}' is not a number, string, bool, list or dict",
        repr(value),
        type_name(value)
    ))
}

/// Converts a TOML value into the matching Python value (tables become dicts).
pub fn from_toml<'py>(py: Python<'py>, value: &toml::Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        toml::Value::String(s) => PyString::new(py, s).into_any(),
        toml::Value::Integer(i) => i.into_pyobject(py)?.into_any(),
        toml::Value::Float(f) => PyFloat::new(py, *f).into_any(),
        toml::Value::Boolean(b) => PyBool::new(py, *b).to_owned().into_any(),
        toml::Value::Datetime(d) => PyString::new(py, &d.to_string()).into_any(),
        toml::Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_toml(py, item)?)?;
            }
            list.into_any()
        }
        toml::Value::Table(table) => table_to_dict(py, table)?.into_any(),
    })
}

/// Converts a TOML table into a Python dict.
pub fn table_to_dict<'py>(py: Python<'py>, table: &toml::Table) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in table {
        dict.set_item(k, from_toml(py, v)?)?;
    }
    Ok(dict)
}

/// Converts a Python dict with string keys into a TOML table, naming the key of a bad value.
pub fn dict_to_table(dict: &Bound<'_, PyDict>) -> Result<toml::Table, String> {
    match to_toml(dict.as_any())? {
        toml::Value::Table(t) => Ok(t),
        _ => unreachable!("a dict converts to a table"),
    }
}

/// `repr(value)`, or a placeholder when even that fails.
pub fn repr(value: &Bound<'_, PyAny>) -> String {
    value
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unprintable value>".into())
}

/// The name of the value's Python type.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}
