//! Rust types for the columns of a [`crate::target!`] struct, and how each becomes a value.

use crate::Value;

/// How a target field becomes the WIT value written to its column.
pub trait IntoValue {
    fn into_value(self) -> Value;
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}
impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::Int(self)
    }
}
impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Boolean(self)
    }
}
impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Float(self)
    }
}
impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}
impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_string())
    }
}
/// A nullable column: None is NULL.
impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}

macro_rules! text_kinds {
    ($( $(#[$doc:meta])* $name:ident => $variant:ident ),+ $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq)]
            pub struct $name(pub String);
            impl IntoValue for $name {
                fn into_value(self) -> Value {
                    Value::$variant(self.0)
                }
            }
        )+
    };
}

text_kinds! {
    /// A `uuid` column, e.g. `Uuid(mint("offices", key))`.
    Uuid => Uuid,
    /// A `numeric` column as decimal text ("-1234.50"): exact, never a float.
    Numeric => Numeric,
    /// A `date` column as ISO text ("2019-03-07").
    Date => Date,
    /// A `timestamptz` column as text PostgreSQL accepts ("2019-03-07 14:05:00+00").
    Timestamptz => Timestamptz,
}
