//! Legacy keys of any shape, for [`crate::resolve`], [`crate::mint`] and [`crate::later`].
//!
//! Most tables are keyed by one integer (`mint("offices", office.id)`); a link table by two
//! columns (`mint("book_authors", (book_id, author_id))`), a lookup table by a code
//! (`resolve("countries", "US", "country")`). The runner matches a key by the text of its
//! values, so a key passed here must hold the same values, in the same order, as the
//! referenced table's key columns (its primary key unless the plan names another).

use crate::{IntoValue, Value};

/// A key as the runner receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValues {
    /// A single integer key: the contract's integer functions.
    Int(i64),
    /// Any other key: one value per key column, in key order.
    Values(Vec<Value>),
}

impl KeyValues {
    /// The key's text as the runner records it (`42`, `US`, `["12","7"]`), for messages.
    pub fn text(&self) -> String {
        match self {
            KeyValues::Int(n) => n.to_string(),
            KeyValues::Values(values) => {
                let parts: Vec<String> = values.iter().map(part_text).collect();
                match parts.as_slice() {
                    [one] => one.clone(),
                    _ => format!(
                        "[{}]",
                        parts
                            .iter()
                            .map(|p| crate::json::quote(p))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                }
            }
        }
    }
}

fn part_text(value: &Value) -> String {
    match value {
        Value::Int(n) => n.to_string(),
        Value::Uuid(s) => s.to_ascii_lowercase(),
        Value::Text(s)
        | Value::Numeric(s)
        | Value::Date(s)
        | Value::Timestamp(s)
        | Value::Timestamptz(s)
        | Value::Json(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Bytes(b) => format!(
            "\\x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        Value::Null => "NULL".into(),
        Value::Float(f) => f.to_string(),
        // Never a key (the runner refuses it); for a test's readable stand-in only.
        Value::Array(a) => format!("{a:?}"),
    }
}

/// Anything that names a row by its key.
pub trait LegacyKey {
    fn key_values(self) -> KeyValues;
}

impl LegacyKey for KeyValues {
    fn key_values(self) -> KeyValues {
        self
    }
}
impl LegacyKey for i64 {
    fn key_values(self) -> KeyValues {
        KeyValues::Int(self)
    }
}
impl LegacyKey for i32 {
    fn key_values(self) -> KeyValues {
        KeyValues::Int(self.into())
    }
}
impl LegacyKey for &str {
    fn key_values(self) -> KeyValues {
        KeyValues::Values(vec![Value::Text(self.to_string())])
    }
}
impl LegacyKey for &String {
    fn key_values(self) -> KeyValues {
        self.as_str().key_values()
    }
}
impl LegacyKey for String {
    fn key_values(self) -> KeyValues {
        KeyValues::Values(vec![Value::Text(self)])
    }
}
impl LegacyKey for Value {
    fn key_values(self) -> KeyValues {
        match self {
            Value::Int(n) => KeyValues::Int(n),
            other => KeyValues::Values(vec![other]),
        }
    }
}
impl LegacyKey for crate::Uuid {
    fn key_values(self) -> KeyValues {
        KeyValues::Values(vec![self.into_value()])
    }
}
impl LegacyKey for Vec<Value> {
    fn key_values(self) -> KeyValues {
        KeyValues::Values(self)
    }
}
impl<A: IntoValue, B: IntoValue> LegacyKey for (A, B) {
    fn key_values(self) -> KeyValues {
        KeyValues::Values(vec![self.0.into_value(), self.1.into_value()])
    }
}
impl<A: IntoValue, B: IntoValue, C: IntoValue> LegacyKey for (A, B, C) {
    fn key_values(self) -> KeyValues {
        KeyValues::Values(vec![
            self.0.into_value(),
            self.1.into_value(),
            self.2.into_value(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_the_runner_records_them() {
        assert_eq!(42.key_values().text(), "42");
        assert_eq!("US".key_values().text(), "US");
        assert_eq!((12i64, 7i64).key_values().text(), r#"["12","7"]"#);
    }
}
