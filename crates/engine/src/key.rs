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

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A single key whose canonical text is a plain integer.
    Int(i64),
    /// Any other key, by its canonical text.
    Text(Box<str>),
}

impl Key {
    /// The key of its columns' values as text (each part as `wasm::key_of` writes it), in
    /// key order.
    pub fn from_parts(parts: Vec<String>) -> Result<Key, String> {
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
    fn an_integer_key_is_an_int_whatever_its_column_type() {
        assert_eq!(Key::from_parts(vec!["42".into()]).unwrap(), Key::Int(42));
        assert_eq!(Key::from_stored("42"), Key::Int(42));
        assert_eq!(
            Key::from_stored("042"),
            Key::Text("042".into()),
            "not the canonical text of an integer"
        );
        assert_eq!(Key::Int(-7).to_string(), "-7");
        assert!(Key::from_parts(Vec::new()).is_err());
    }

    #[test]
    fn composite_keys_round_trip_through_their_stored_text() {
        let pair = Key::from_parts(vec!["2024-01-31".into(), "7".into()]).unwrap();
        assert_eq!(pair.to_string(), r#"["2024-01-31","7"]"#);
        let back = Key::from_stored(&pair.to_string());
        assert_eq!(back, pair);
        assert_eq!(back.parts(2).unwrap(), ["2024-01-31", "7"]);
        assert!(back.parts(3).is_err());
        assert_eq!(Key::from_stored("it's").parts(1).unwrap(), ["it's"]);
    }
}
