//! A source row's key: the values of its table's key columns (any count, any orderable type),
//! as one canonical text.
//!
//! The canonical text is what the state tables store (checkpoint, id map, quarantine, skips),
//! what UUIDv5s are minted over, and what a plugin's `ids.resolve-key` is matched by:
//! - one column: the value's text (`42`, `US`, `2019-03-07`, a lowercase uuid, a numeric's
//!   decimal text, `true`, `\x0aff` for bytes);
//! - several columns: a JSON array of those texts (`["12","7"]`).
//!
//! A single key whose text is a plain integer is held as [`Key::Int`], whatever its column
//! type, so an integer key keeps its UUIDs (`entity:42`) and the lookups stay cheap; two keys
//! are equal exactly when their canonical texts are.

use std::fmt;

use crate::wasm::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A single key whose canonical text is a plain integer.
    Int(i64),
    /// Any other key, by its canonical text.
    Text(Box<str>),
}

impl Key {
    /// The key of values (the key columns' values, in key order). Err says why they cannot
    /// be a key (a NULL, a float, JSON).
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a Value>) -> Result<Key, String> {
        let parts = values
            .into_iter()
            .map(part_text)
            .collect::<Result<Vec<_>, _>>()?;
        match parts.as_slice() {
            [] => Err("a key needs at least one value".into()),
            [one] => Ok(Key::from_stored(one)),
            _ => Ok(Key::Text(
                serde_json::to_string(&parts)
                    .expect("strings serialize")
                    .into(),
            )),
        }
    }

    /// A key from its canonical text (as the state tables store it).
    pub fn from_stored(text: &str) -> Key {
        match text.parse::<i64>() {
            Ok(n) if n.to_string() == text => Key::Int(n),
            _ => Key::Text(text.into()),
        }
    }

    /// The integer of a single integer key.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Key::Int(n) => Some(*n),
            Key::Text(_) => None,
        }
    }

    /// The text of each of the `arity` key columns' values, each valid input for its column
    /// type (for the source queries' literals). Err when the stored text does not have
    /// `arity` parts (the plan's key changed since it was stored).
    pub fn parts(&self, arity: usize) -> Result<Vec<String>, String> {
        if arity == 1 {
            return Ok(vec![self.to_string()]);
        }
        let text = self.to_string();
        match serde_json::from_str::<Vec<String>>(&text) {
            Ok(parts) if parts.len() == arity => Ok(parts),
            _ => Err(format!(
                "the stored key {text} does not have the {arity} values of this table's key: was the table's key changed since it was stored?"
            )),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(n) => write!(f, "{n}"),
            Key::Text(s) => f.write_str(s),
        }
    }
}

/// In JSON output an integer key is a number, any other key its canonical text.
impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Key::Int(n) => s.serialize_i64(*n),
            Key::Text(t) => s.serialize_str(t),
        }
    }
}

impl From<i64> for Key {
    fn from(n: i64) -> Key {
        Key::Int(n)
    }
}

/// The canonical text of one key value.
fn part_text(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::Int(n) => n.to_string(),
        Value::Uuid(s) => s.to_ascii_lowercase(),
        Value::Text(s)
        | Value::Numeric(s)
        | Value::Date(s)
        | Value::Timestamp(s)
        | Value::Timestamptz(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Bytes(b) => format!("\\x{}", hex::encode(b)),
        Value::Null => return Err("a key value is NULL".into()),
        Value::Float(_) => {
            return Err("a floating-point value cannot be a key (it has no exact text)".into())
        }
        Value::Json(_) => return Err("a JSON value cannot be a key".into()),
    })
}

/// Column types a key may have: ordered by a B-tree, with an exact text that reads back.
pub fn is_key_type(type_name: &str) -> bool {
    !matches!(
        type_name,
        "float4" | "float8" | "json" | "jsonb" | "xml" | "point" | "box" | "polygon" | "circle"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_key_is_an_int_whatever_its_value_kind() {
        assert_eq!(Key::from_values(&[Value::Int(42)]).unwrap(), Key::Int(42));
        assert_eq!(
            Key::from_values(&[Value::Text("42".into())]).unwrap(),
            Key::Int(42)
        );
        assert_eq!(Key::from_stored("42"), Key::Int(42));
        assert_eq!(
            Key::from_stored("042"),
            Key::Text("042".into()),
            "not the canonical text of an integer"
        );
        assert_eq!(Key::Int(-7).to_string(), "-7");
    }

    #[test]
    fn text_and_composite_keys_round_trip_through_their_stored_text() {
        let uuid = Key::from_values(&[Value::Uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11".into())])
            .unwrap();
        assert_eq!(uuid.to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        let pair = Key::from_values(&[Value::Date("2024-01-31".into()), Value::Int(7)]).unwrap();
        assert_eq!(pair.to_string(), r#"["2024-01-31","7"]"#);
        let back = Key::from_stored(&pair.to_string());
        assert_eq!(back, pair);
        assert_eq!(back.parts(2).unwrap(), ["2024-01-31", "7"]);
        assert!(back.parts(3).is_err());
        assert_eq!(Key::from_stored("it's").parts(1).unwrap(), ["it's"]);
    }

    #[test]
    fn nulls_floats_and_json_are_no_keys() {
        assert!(Key::from_values(&[Value::Null]).is_err());
        assert!(Key::from_values(&[Value::Int(1), Value::Float(1.5)]).is_err());
        assert!(Key::from_values(&[]).is_err());
    }
}
