//! The kinds of source columns a [`crate::source!`] struct holds. Each keeps its column's
//! name, so a reject reason names the column without the plugin spelling it again.
//!
//! A value of another kind than the one declared (an integer declared `Text`, say) is a bug
//! in the plugin: decoding panics with the column's name, and the runner turns that into a
//! failed batch with the message.

use crate::{Fate, Value};

/// The integer key: the first column of every source row.
pub type Key = i64;

/// How a column's value becomes its field. Implemented by the kinds of this module.
pub trait Decode: Sized {
    fn decode(column: &'static str, value: Value) -> Self;
}

/// Panics unless a row carries one value per declared column.
#[doc(hidden)]
pub fn check_width(columns: &[&str], values: &[Value]) {
    assert!(
        values.len() == columns.len(),
        "a row of {} values for the {} columns read ({columns:?})",
        values.len(),
        columns.len()
    );
}

fn wrong_kind(column: &str, expected: &str, value: &Value) -> ! {
    panic!("column `{column}` is declared {expected} but holds {value:?}")
}

impl Decode for Key {
    fn decode(column: &'static str, value: Value) -> Self {
        match value {
            Value::Int(key) => key,
            other => wrong_kind(column, "the integer key (Key)", &other),
        }
    }
}

/// An integer column (NULL allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Int {
    column: &'static str,
    value: Option<i64>,
}

impl Decode for Int {
    fn decode(column: &'static str, value: Value) -> Self {
        let value = match value {
            Value::Int(v) => Some(v),
            Value::Null => None,
            other => wrong_kind(column, "Int", &other),
        };
        Int { column, value }
    }
}

impl Int {
    /// The column's name.
    pub fn column(&self) -> &'static str {
        self.column
    }
    pub fn get(&self) -> Option<i64> {
        self.value
    }
    pub fn is_null(&self) -> bool {
        self.value.is_none()
    }
    /// A value the target requires: rejects the row when it is NULL.
    pub fn require(&self) -> Result<i64, Fate> {
        self.value
            .ok_or_else(|| Fate::reject(format!("required column {} is NULL", self.column)))
    }
}

/// A boolean column (NULL allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bool {
    column: &'static str,
    value: Option<bool>,
}

impl Decode for Bool {
    fn decode(column: &'static str, value: Value) -> Self {
        let value = match value {
            Value::Boolean(v) => Some(v),
            Value::Null => None,
            other => wrong_kind(column, "Bool", &other),
        };
        Bool { column, value }
    }
}

impl Bool {
    /// The column's name.
    pub fn column(&self) -> &'static str {
        self.column
    }
    pub fn get(&self) -> Option<bool> {
        self.value
    }
    pub fn is_null(&self) -> bool {
        self.value.is_none()
    }
    /// True only when the value is true (NULL counts as false).
    pub fn is_true(&self) -> bool {
        self.value == Some(true)
    }
}

/// A text-like column: text, numeric, uuid, date, timestamp, timestamptz or json, as its
/// text (NULL allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    column: &'static str,
    value: Option<String>,
}

impl Decode for Text {
    fn decode(column: &'static str, value: Value) -> Self {
        let value = match value {
            Value::Text(s)
            | Value::Numeric(s)
            | Value::Uuid(s)
            | Value::Date(s)
            | Value::Timestamp(s)
            | Value::Timestamptz(s)
            | Value::Json(s) => Some(s),
            Value::Null => None,
            other => wrong_kind(column, "Text", &other),
        };
        Text { column, value }
    }
}

impl Text {
    /// The column's name.
    pub fn column(&self) -> &'static str {
        self.column
    }
    pub fn get(&self) -> Option<&str> {
        self.value.as_deref()
    }
    pub fn is_null(&self) -> bool {
        self.value.is_none()
    }
    /// The text with surrounding blanks removed; empty text counts as missing.
    pub fn trimmed(&self) -> Option<&str> {
        self.get().map(str::trim).filter(|s| !s.is_empty())
    }
    /// Text the target requires: rejects the row when it is NULL or blank; trimmed.
    pub fn require(&self) -> Result<&str, Fate> {
        self.trimmed().ok_or_else(|| {
            Fate::reject(format!("required column {} is NULL or blank", self.column))
        })
    }
}

/// A column of any kind, as the value it comes as.
#[derive(Debug, Clone, PartialEq)]
pub struct Any {
    column: &'static str,
    value: Value,
}

impl Decode for Any {
    fn decode(column: &'static str, value: Value) -> Self {
        Any { column, value }
    }
}

impl Any {
    /// The column's name.
    pub fn column(&self) -> &'static str {
        self.column
    }
    pub fn get(&self) -> &Value {
        &self.value
    }
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
}

/// An array column (`text[]`, `integer[][]`...; NULL allowed), since contract 0.4.0.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    column: &'static str,
    value: Option<crate::ArrayValue>,
}

impl Decode for Array {
    fn decode(column: &'static str, value: Value) -> Self {
        let value = match value {
            Value::Array(a) => Some(a),
            Value::Null => None,
            other => wrong_kind(column, "Array", &other),
        };
        Array { column, value }
    }
}

impl Array {
    /// The column's name.
    pub fn column(&self) -> &'static str {
        self.column
    }
    /// The array: its dimensions and elements (row-major).
    pub fn get(&self) -> Option<&crate::ArrayValue> {
        self.value.as_ref()
    }
    pub fn is_null(&self) -> bool {
        self.value.is_none()
    }
    /// The elements in order (row-major for several dimensions); empty when NULL.
    pub fn elements(&self) -> &[crate::Element] {
        self.value.as_ref().map_or(&[], |a| &a.elements)
    }
    /// The elements as text (text, numeric, uuid, date and time, json elements, and those of
    /// types the host does not type); None for a NULL element or one of another kind.
    pub fn texts(&self) -> Vec<Option<&str>> {
        self.elements().iter().map(crate::element_text).collect()
    }
    /// The integer elements; None for a NULL element or one of another kind.
    pub fn ints(&self) -> Vec<Option<i64>> {
        self.elements()
            .iter()
            .map(|e| match e {
                crate::Element::Int(i) => Some(*i),
                _ => None,
            })
            .collect()
    }
}
