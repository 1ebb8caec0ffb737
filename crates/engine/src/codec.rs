//! Values between PostgreSQL's COPY text format and the WIT `value` type.
//!
//! Source rows are read with `COPY ... TO STDOUT` and decoded by the source column's type;
//! target rows are encoded for `COPY ... FROM STDIN`, checked against the target column first
//! so a value that cannot fit rejects its row with a reason instead of failing the batch.

use tokio_postgres::types::Type;

use crate::pg::Column;
use crate::wasm::{Array, Element, Value};

/// Splits one line of COPY text output (without its newline) into raw fields, unescaped;
/// `None` is SQL NULL.
pub fn split_copy_line(line: &[u8]) -> Vec<Option<Vec<u8>>> {
    line.split(|b| *b == b'\t')
        .map(|field| {
            if field == b"\\N" {
                None
            } else {
                Some(unescape(field))
            }
        })
        .collect()
}

fn unescape(field: &[u8]) -> Vec<u8> {
    if !field.contains(&b'\\') {
        return field.to_vec();
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b != b'\\' || i + 1 == field.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let next = field[i + 1];
        i += 2;
        match next {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = (next - b'0') as u32;
                let mut n = 1;
                while n < 3 && i < field.len() && (b'0'..=b'7').contains(&field[i]) {
                    v = v * 8 + (field[i] - b'0') as u32;
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            b'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 && i < field.len() && field[i].is_ascii_hexdigit() {
                    v = v * 16 + (field[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    out
}

/// A source field as a WIT value, by the column's type. Errors name the column and value.
pub fn decode(column: &Column, raw: Option<Vec<u8>>) -> Result<Value, String> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    let text = || {
        String::from_utf8(raw.clone()).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            format!(
                "column {} holds bytes that are not valid UTF-8 (0x{:02x} at byte {at}); a SQL_ASCII source stores any bytes. \
                 Fix the text in the source (for example convert it from its real encoding with convert_from), then retry the row",
                column.name, raw[at]
            )
        })
    };
    if let Some(element) = &column.element {
        return decode_array(column, element, text()?);
    }
    Ok(match pg_type(column) {
        Some(Type::BOOL) => Value::Boolean(raw == b"t"),
        Some(Type::INT2 | Type::INT4 | Type::INT8 | Type::OID) => Value::Int(
            text()?
                .parse()
                .map_err(|e| format!("column {}: integer {:?}: {e}", column.name, text()))?,
        ),
        Some(Type::FLOAT4 | Type::FLOAT8) => {
            let t = text()?;
            Value::Float(match t.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => t
                    .parse()
                    .map_err(|e| format!("column {}: float {t:?}: {e}", column.name))?,
            })
        }
        Some(Type::NUMERIC) => Value::Numeric(text()?),
        Some(Type::DATE) => Value::Date(text()?),
        Some(Type::TIMESTAMP) => Value::Timestamp(text()?),
        Some(Type::TIMESTAMPTZ) => Value::Timestamptz(text()?),
        Some(Type::UUID) => Value::Uuid(text()?),
        Some(Type::JSON | Type::JSONB) => Value::Json(text()?),
        Some(Type::BYTEA) => {
            let t = text()?;
            let hex_digits = t
                .strip_prefix("\\x")
                .ok_or_else(|| format!("column {}: bytea not in hex format", column.name))?;
            Value::Bytes(
                hex::decode(hex_digits)
                    .map_err(|e| format!("column {}: bytea: {e}", column.name))?,
            )
        }
        _ => Value::Text(text()?),
    })
}

/// An array column's field: each element decoded by the element's type. An array with
/// explicit bounds (`[0:1]={7,8}`) stays its text, which PostgreSQL reads back the same.
fn decode_array(column: &Column, element: &Column, text: String) -> Result<Value, String> {
    let parsed =
        crate::pgarray::parse(&text).map_err(|why| format!("column {}: {why}", column.name))?;
    let Some(parsed) = parsed else {
        return Ok(Value::Text(text));
    };
    let elements = parsed
        .elements
        .into_iter()
        .map(|e| {
            let value = decode(element, e.map(String::into_bytes))?;
            crate::wasm::value_element(value)
                .ok_or_else(|| format!("column {}: an array inside an array", column.name))
        })
        .collect::<Result<_, _>>()?;
    Ok(Value::Array(Array {
        dims: parsed.dims,
        elements,
    }))
}

/// Like [`decode`], but a field that cannot be decoded does not stop the table: its text is
/// kept (invalid bytes as U+FFFD) for the quarantine record, with the reason the row is
/// unreadable.
pub fn decode_or_keep(column: &Column, raw: Option<Vec<u8>>) -> (Value, Option<String>) {
    let kept = raw
        .as_deref()
        .map(|b| Value::Text(String::from_utf8_lossy(b).into_owned()));
    match decode(column, raw) {
        Ok(value) => (value, None),
        Err(why) => (kept.unwrap_or(Value::Null), Some(why)),
    }
}

/// A value as JSON, for quarantine records: exact numbers stay strings.
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| J::String(f.to_string()), J::Number)
        }
        Value::Bytes(b) => J::String(format!("\\x{}", hex::encode(b))),
        Value::Array(a) => {
            // Nested as the dimensions say (flat when they do not hold the elements).
            // A JSON element is itself (jsonb[] becomes an array of objects).
            let flat: Vec<J> = a
                .elements
                .iter()
                .map(|e| match e {
                    Element::Json(s) => serde_json::from_str(s).unwrap_or(J::String(s.clone())),
                    e => to_json(&crate::wasm::element_value(e)),
                })
                .collect();
            crate::pgarray::nest(&a.dims, flat, &J::Array)
        }
        other => J::String(carried_text(other).unwrap_or_default().to_string()),
    }
}

pub use crate::wasm::carried_text;

/// Why one value cannot go into its target column.
pub type Misfit = String;

/// Appends `value` to a COPY text line for `column`, or says why it does not fit.
pub fn encode(out: &mut Vec<u8>, column: &Column, value: &Value) -> Result<(), Misfit> {
    match value {
        Value::Null => encode_null(out, column),
        Value::Boolean(b) => encode_bool(out, column, *b),
        Value::Int(i) => encode_int(out, column, *i),
        Value::Float(f) => encode_float(out, column, *f),
        Value::Numeric(s) => encode_numeric(out, column, s),
        Value::Uuid(s) => encode_uuid(out, column, s),
        Value::Date(s) | Value::Timestamp(s) | Value::Timestamptz(s) => {
            encode_date_time(out, column, s)
        }
        Value::Json(s) => encode_json(out, column, s),
        Value::Text(s) => encode_text(out, column, s),
        Value::Bytes(b) => encode_bytes(out, column, b),
        Value::Array(a) => encode_array(out, column, a),
    }
}

/// An array into an array column, each element checked against the element type as a value
/// of its own would be; into a text column, its literal; into a JSON column, a JSON array
/// (see [`to_json`]).
fn encode_array(out: &mut Vec<u8>, column: &Column, array: &Array) -> Result<(), Misfit> {
    let Some(element) = &column.element else {
        if matches!(pg_type(column), Some(Type::JSON | Type::JSONB)) {
            let json = to_json(&Value::Array(array.clone())).to_string();
            return encode_json(out, column, &json);
        }
        if is_texty(column) {
            let literal = crate::wasm::array_text(array)
                .map_err(|why| format!("{why}, for column {}", column.name))?;
            return encode_text(out, column, &literal);
        }
        return Err(misfit(column, "an array"));
    };
    let mut texts = Vec::with_capacity(array.elements.len());
    let mut field = Vec::new();
    for e in &array.elements {
        let value = crate::wasm::element_value(e);
        match &value {
            Value::Null => {
                texts.push(None);
                continue;
            }
            // A numeric array holds NaN and infinities as PostgreSQL printed them (a lone
            // numeric column refuses them: an exact amount is never NaN); PostgreSQL checks
            // them against the column.
            Value::Numeric(s) if matches!(s.as_str(), "NaN" | "Infinity" | "-Infinity") => {
                texts.push(Some(s.clone()));
                continue;
            }
            _ => {}
        }
        field.clear();
        encode(&mut field, element, &value)
            .map_err(|why| format!("an element of column {}: {why}", column.name))?;
        let text = String::from_utf8(unescape(&field))
            .map_err(|_| format!("an element of column {} is not UTF-8", column.name))?;
        texts.push(Some(text));
    }
    let literal = crate::pgarray::format(&array.dims, &texts)
        .map_err(|why| format!("{why}, for column {}", column.name))?;
    escape_into(out, &literal);
    Ok(())
}

/// "`what` for column `name` (`type`)": a value of the wrong kind.
fn misfit(column: &Column, what: &str) -> Misfit {
    format!("{what} for column {} ({})", column.name, column.type_name)
}

/// The column's type, when the driver knows it (built-in types); None for enums, domains of
/// extension types and the like.
fn pg_type(column: &Column) -> Option<Type> {
    Type::from_oid(column.type_oid)
}

/// A NULL into a NOT NULL column is refused here, default or not: COPY applies a column's
/// DEFAULT only when the column is left out of its column list, and the host lists every
/// column the plugin writes, so the target would refuse the NULL and the whole batch with it.
fn encode_null(out: &mut Vec<u8>, column: &Column) -> Result<(), Misfit> {
    if column.not_null {
        let name = &column.name;
        return Err(if column.has_default {
            format!(
                "NULL for required column {name}: it is NOT NULL, and its DEFAULT applies only to rows that leave the column out, never to a NULL written into it \
                 (write a value, or leave {name} out of describe()'s writes so PostgreSQL fills in the default)"
            )
        } else {
            format!("NULL for required column {name}")
        });
    }
    out.extend_from_slice(b"\\N");
    Ok(())
}

fn encode_bool(out: &mut Vec<u8>, column: &Column, b: bool) -> Result<(), Misfit> {
    if pg_type(column) != Some(Type::BOOL) {
        return Err(misfit(column, "a boolean"));
    }
    out.push(if b { b't' } else { b'f' });
    Ok(())
}

/// Integers go into integer, numeric and float columns, within the column's range.
fn encode_int(out: &mut Vec<u8>, column: &Column, i: i64) -> Result<(), Misfit> {
    let ty = pg_type(column);
    if !matches!(
        ty,
        Some(
            Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::NUMERIC
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::OID
        )
    ) {
        return Err(misfit(column, "an integer"));
    }
    let limit = match ty {
        Some(Type::INT2) => Some(i16::MIN as i64..=i16::MAX as i64),
        Some(Type::INT4) => Some(i32::MIN as i64..=i32::MAX as i64),
        _ => None,
    };
    if ty == Some(Type::NUMERIC) {
        check_precision(column, &i.to_string())?;
    }
    if limit.is_some_and(|r| !r.contains(&i)) {
        return Err(format!(
            "{i} is out of range for column {} ({})",
            column.name, column.type_name
        ));
    }
    out.extend_from_slice(i.to_string().as_bytes());
    Ok(())
}

/// Floats go into float columns only: an exact column takes numeric text.
fn encode_float(out: &mut Vec<u8>, column: &Column, f: f64) -> Result<(), Misfit> {
    if !matches!(pg_type(column), Some(Type::FLOAT4 | Type::FLOAT8)) {
        return Err(misfit(
            column,
            "a float (exact columns take numeric text, never floats)",
        ));
    }
    let text = if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        f.to_string()
    };
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// A plain decimal that fits the column's precision.
fn encode_numeric(out: &mut Vec<u8>, column: &Column, s: &str) -> Result<(), Misfit> {
    if !matches!(
        pg_type(column),
        Some(Type::NUMERIC | Type::INT2 | Type::INT4 | Type::INT8)
    ) {
        return Err(misfit(column, "a numeric"));
    }
    if !is_plain_decimal(s) {
        return Err(format!(
            "{s:?} is not a finite decimal number, for column {} (exact columns take digits with an optional sign and point; no NaN, Infinity or exponent)",
            column.name
        ));
    }
    check_precision(column, s)?;
    escape_into(out, s);
    Ok(())
}

fn encode_uuid(out: &mut Vec<u8>, column: &Column, s: &str) -> Result<(), Misfit> {
    if pg_type(column) != Some(Type::UUID) {
        return Err(misfit(column, "a uuid"));
    }
    if uuid::Uuid::try_parse(s).is_err() {
        return Err(format!(
            "{s:?} is not a valid UUID, for column {}",
            column.name
        ));
    }
    escape_into(out, s);
    Ok(())
}

/// Dates and timestamps go into any date/time column: PostgreSQL reads the text.
fn encode_date_time(out: &mut Vec<u8>, column: &Column, s: &str) -> Result<(), Misfit> {
    if !matches!(
        pg_type(column),
        Some(Type::DATE | Type::TIMESTAMP | Type::TIMESTAMPTZ)
    ) {
        return Err(misfit(column, "a date/time"));
    }
    check_text(&column.name, s)?;
    escape_into(out, s);
    Ok(())
}

/// Valid JSON, into a json, jsonb or text column.
fn encode_json(out: &mut Vec<u8>, column: &Column, s: &str) -> Result<(), Misfit> {
    if !matches!(pg_type(column), Some(Type::JSON | Type::JSONB)) && !is_texty(column) {
        return Err(misfit(column, "JSON"));
    }
    if serde_json::from_str::<serde::de::IgnoredAny>(s).is_err() {
        return Err(format!("invalid JSON for column {}", column.name));
    }
    check_text(&column.name, s)?;
    escape_into(out, s);
    Ok(())
}

/// Text: one of the labels of an enum column, within a varchar's length, and never into a
/// column the codec has a typed value for (a number or a date must come as one).
fn encode_text(out: &mut Vec<u8>, column: &Column, s: &str) -> Result<(), Misfit> {
    let name = &column.name;
    check_text(name, s)?;
    if let Some(labels) = &column.enum_labels {
        if !labels.iter().any(|l| l == s) {
            return Err(format!(
                "{s:?} is not a value of enum {} (column {name})",
                column.type_name
            ));
        }
    } else if !is_texty(column) && is_typed_by_codec(column) {
        return Err(misfit(column, "text"));
    }
    if let Some(max) = column.max_chars {
        let chars = s.chars().count();
        if chars > max as usize {
            return Err(format!(
                "text of {chars} characters is too long for column {name} ({}({max}))",
                column.type_name
            ));
        }
    }
    escape_into(out, s);
    Ok(())
}

fn encode_bytes(out: &mut Vec<u8>, column: &Column, b: &[u8]) -> Result<(), Misfit> {
    if pg_type(column) != Some(Type::BYTEA) {
        return Err(misfit(column, "bytes"));
    }
    out.extend_from_slice(b"\\\\x");
    out.extend_from_slice(hex::encode(b).as_bytes());
    Ok(())
}

/// For `numeric(p, s)`: the digits before the point must fit in `p - s` (PostgreSQL would
/// refuse the whole batch with "numeric field overflow").
fn check_precision(column: &Column, s: &str) -> Result<(), Misfit> {
    let Some((precision, scale)) = column.numeric_precision else {
        return Ok(());
    };
    if scale < 0 || scale > precision {
        return Ok(());
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let whole = digits.split_once('.').map_or(digits, |(w, _)| w);
    let whole = whole.trim_start_matches('0').len() as i32;
    let room = precision - scale;
    if whole > room {
        return Err(format!(
            "{s} has too many digits for column {} (numeric({precision},{scale})): at most {room} before the decimal point",
            column.name
        ));
    }
    Ok(())
}

/// Whether the codec has a typed value for the column's type. Columns of any other type
/// (arrays, ranges, tsvector, inet, interval, money, bit strings, xml, extension types...)
/// take text, which PostgreSQL casts on COPY: a value it cannot cast is refused there, and
/// its row quarantined with PostgreSQL's reason.
pub fn is_typed_by_codec(column: &Column) -> bool {
    matches!(
        pg_type(column),
        Some(
            Type::BOOL
                | Type::BYTEA
                | Type::INT8
                | Type::INT2
                | Type::INT4
                | Type::OID
                | Type::JSON
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::DATE
                | Type::TIMESTAMP
                | Type::TIMESTAMPTZ
                | Type::NUMERIC
                | Type::UUID
                | Type::JSONB
        )
    )
}

fn is_texty(column: &Column) -> bool {
    matches!(
        column.type_name.as_str(),
        "text" | "varchar" | "bpchar" | "citext" | "name"
    )
}

fn check_text(column: &str, s: &str) -> Result<(), Misfit> {
    if s.contains('\0') {
        return Err(format!(
            "text for column {column} contains a NUL byte, which PostgreSQL cannot store"
        ));
    }
    Ok(())
}

fn is_plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    !(whole.is_empty() && frac.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// COPY text escaping: backslash, tab, newline and carriage return.
fn escape_into(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Text as a COPY field (for the runner's own state rows).
pub fn escape_text(out: &mut Vec<u8>, s: &str) {
    escape_into(out, &s.replace('\0', "\\0"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column of a built-in type, named as the catalog names it.
    fn col(name: &str, ty: Type, max: Option<i32>, not_null: bool) -> Column {
        Column {
            name: name.into(),
            type_oid: ty.oid(),
            type_name: ty.name().into(),
            max_chars: max,
            numeric_precision: None,
            not_null,
            has_default: false,
            enum_labels: None,
            sql_type: ty.name().into(),
            element: None,
        }
    }

    /// An array column of `element` (its element named as pg.rs names it).
    fn array_col(name: &str, ty: Type, element: Column) -> Column {
        Column {
            element: Some(Box::new(Column {
                name: format!("{name} element"),
                ..element
            })),
            ..col(name, ty, None, false)
        }
    }

    #[test]
    fn copy_fields_unescape() {
        let fields = split_copy_line(b"1\ta\\tb\\\\c\t\\N\t\\x41\\101");
        assert_eq!(
            fields,
            vec![
                Some(b"1".to_vec()),
                Some(b"a\tb\\c".to_vec()),
                None,
                Some(b"AA".to_vec())
            ]
        );
    }

    #[test]
    fn decode_by_type() {
        assert_eq!(
            decode(
                &col("n", Type::NUMERIC, None, false),
                Some(b"12.345".to_vec())
            )
            .unwrap(),
            Value::Numeric("12.345".into())
        );
        assert_eq!(
            decode(&col("i", Type::INT4, None, false), Some(b"-7".to_vec())).unwrap(),
            Value::Int(-7)
        );
        assert_eq!(
            decode(&col("b", Type::BOOL, None, false), Some(b"t".to_vec())).unwrap(),
            Value::Boolean(true)
        );
        assert_eq!(
            decode(
                &col("x", Type::BYTEA, None, false),
                Some(b"\\x00ff".to_vec())
            )
            .unwrap(),
            Value::Bytes(vec![0, 255])
        );
        let t = col("t", Type::TEXT, None, false);
        assert!(decode(&t, Some(b"ab\xff".to_vec()))
            .unwrap_err()
            .contains("not valid UTF-8 (0xff at byte 2)"));
        let (kept, why) = decode_or_keep(&t, Some(b"Caf\xe9".to_vec()));
        assert_eq!(kept, Value::Text("Caf\u{fffd}".into()));
        assert!(why.unwrap().contains("SQL_ASCII"));
        assert_eq!(decode_or_keep(&t, None), (Value::Null, None));
    }

    #[test]
    fn encode_checks_fit() {
        let mut out = Vec::new();
        let v = col("name", Type::VARCHAR, Some(3), true);
        assert!(encode(&mut out, &v, &Value::Text("abcd".into()))
            .unwrap_err()
            .contains("too long"));
        assert!(encode(&mut out, &v, &Value::Null)
            .unwrap_err()
            .contains("required"));
        // A default does not make a NULL fit: COPY writes the NULL it is given.
        let with_default = Column {
            has_default: true,
            ..v.clone()
        };
        assert!(encode(&mut out, &with_default, &Value::Null)
            .unwrap_err()
            .contains("its DEFAULT applies only to rows that leave the column out"));
        assert!(encode(&mut out, &v, &Value::Text("a\0".into()))
            .unwrap_err()
            .contains("NUL"));
        let u = col("id", Type::UUID, None, true);
        assert!(encode(&mut out, &u, &Value::Uuid("nope".into()))
            .unwrap_err()
            .contains("not a valid UUID"));
        let n = col("amount", Type::NUMERIC, None, true);
        assert!(encode(&mut out, &n, &Value::Numeric("NaN".into())).is_err());
        let money = Column {
            numeric_precision: Some((6, 2)),
            ..n.clone()
        };
        assert!(
            encode(&mut out, &money, &Value::Numeric("123456.78".into()))
                .unwrap_err()
                .contains("at most 4 before the decimal point")
        );
        assert!(encode(&mut out, &money, &Value::Numeric("-0009999.99".into())).is_ok());
        assert!(encode(&mut out, &money, &Value::Int(12345)).is_err());
        assert!(encode(&mut out, &n, &Value::Float(1.5))
            .unwrap_err()
            .contains("never floats"));
        let s = col("small", Type::INT2, None, true);
        assert!(encode(&mut out, &s, &Value::Int(70000))
            .unwrap_err()
            .contains("out of range"));
        out.clear();
        encode(
            &mut out,
            &col("t", Type::TEXT, None, false),
            &Value::Text("a\tb\\".into()),
        )
        .unwrap();
        assert_eq!(out, b"a\\tb\\\\");
    }

    #[test]
    fn types_the_codec_does_not_type_take_text_for_postgresql_to_cast() {
        // (An array column as pg.rs reads it has its element: see the array test.)
        let mut out = Vec::new();
        for ty in [
            Type::INT4_ARRAY,
            Type::TS_VECTOR,
            Type::INET,
            Type::INTERVAL,
        ] {
            let name = ty.name().to_string();
            out.clear();
            encode(
                &mut out,
                &col("c", ty, None, false),
                &Value::Text("{1,2}".into()),
            )
            .unwrap();
            assert_eq!(out, b"{1,2}", "{name}");
        }
        // A typed column still refuses text.
        assert!(encode(
            &mut out,
            &col("n", Type::INT4, None, false),
            &Value::Text("1".into())
        )
        .unwrap_err()
        .contains("text for column n (int4)"));
    }

    #[test]
    fn arrays_are_typed_element_by_element_and_written_back_as_read() {
        let ints = array_col("r", Type::INT4_ARRAY, col("", Type::INT4, None, false));
        let read = decode(&ints, Some(b"{{1,NULL},{-3,4}}".to_vec())).unwrap();
        let Value::Array(array) = &read else {
            panic!("{read:?}")
        };
        assert_eq!(array.dims, vec![2, 2]);
        assert_eq!(
            array.elements,
            vec![
                Element::Int(1),
                Element::Null,
                Element::Int(-3),
                Element::Int(4)
            ]
        );
        let mut out = Vec::new();
        encode(&mut out, &ints, &read).unwrap();
        assert_eq!(out, b"{{1,NULL},{-3,4}}");
        // Bounds other than 1 stay the literal, for PostgreSQL to read back.
        assert_eq!(
            decode(&ints, Some(b"[0:1]={7,8}".to_vec())).unwrap(),
            Value::Text("[0:1]={7,8}".into())
        );

        // Text elements: quoted as PostgreSQL quotes them, then escaped for COPY.
        let texts = array_col(
            "t",
            Type::TEXT_ARRAY,
            col("", Type::VARCHAR, Some(4), false),
        );
        let read = decode(&texts, Some(b"{a,\"b\tc\",NULL,\"NULL\",\"\"}".to_vec())).unwrap();
        out.clear();
        encode(&mut out, &texts, &read).unwrap();
        assert_eq!(out, b"{a,\"b\\tc\",NULL,\"NULL\",\"\"}");
        assert_eq!(
            to_json(&read),
            serde_json::json!(["a", "b\tc", null, "NULL", ""])
        );
        // Each element is checked as a value of its own: too long for varchar(4).
        let long = Value::Array(Array {
            dims: vec![1],
            elements: vec![Element::Text("abcde".into())],
        });
        let why = encode(&mut out, &texts, &long).unwrap_err();
        assert!(why.contains("an element of column t"), "{why}");
        // Dims that do not hold the elements, or an array where no array goes.
        let wrong = Value::Array(Array {
            dims: vec![2],
            elements: vec![Element::Int(1)],
        });
        assert!(encode(&mut out, &ints, &wrong)
            .unwrap_err()
            .contains("dims"));
        assert!(encode(&mut out, &col("n", Type::INT4, None, false), &read)
            .unwrap_err()
            .contains("an array for column n"));
        // Into a text column: its literal.
        out.clear();
        encode(&mut out, &col("s", Type::TEXT, None, false), &read).unwrap();
        assert_eq!(out, b"{a,\"b\\tc\",NULL,\"NULL\",\"\"}");
        let nested = Value::Array(Array {
            dims: vec![2, 1],
            elements: vec![Element::Int(1), Element::Int(2)],
        });
        assert_eq!(to_json(&nested), serde_json::json!([[1], [2]]));
        // Into a JSON column: a JSON array, JSON elements as themselves.
        let jsons = Value::Array(Array {
            dims: vec![2],
            elements: vec![Element::Json(r#"{"a": 1}"#.into()), Element::Null],
        });
        out.clear();
        encode(&mut out, &col("j", Type::JSONB, None, false), &jsons).unwrap();
        assert_eq!(out, br#"[{"a":1},null]"#);
    }

    /// The COPY text of `value` in a column of type `ty`, or why it does not fit.
    fn encoded(ty: Type, value: Value) -> Result<String, Misfit> {
        let mut out = Vec::new();
        encode(&mut out, &col("c", ty, None, false), &value)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn each_value_goes_into_the_column_types_that_take_it() {
        assert_eq!(encoded(Type::BOOL, Value::Boolean(false)).unwrap(), "f");
        assert_eq!(
            encoded(Type::INT4, Value::Boolean(true)).unwrap_err(),
            "a boolean for column c (int4)"
        );
        assert_eq!(encoded(Type::FLOAT8, Value::Int(3)).unwrap(), "3");
        assert_eq!(encoded(Type::NUMERIC, Value::Int(-3)).unwrap(), "-3");
        assert_eq!(
            encoded(Type::INT4, Value::Int(3_000_000_000)).unwrap_err(),
            "3000000000 is out of range for column c (int4)"
        );
        assert_eq!(
            encoded(Type::INT8, Value::Int(3_000_000_000)).unwrap(),
            "3000000000"
        );
        assert_eq!(
            encoded(Type::TEXT, Value::Int(1)).unwrap_err(),
            "an integer for column c (text)"
        );
        assert_eq!(
            encoded(Type::FLOAT4, Value::Float(f64::NAN)).unwrap(),
            "NaN"
        );
        assert_eq!(
            encoded(Type::FLOAT8, Value::Float(f64::NEG_INFINITY)).unwrap(),
            "-Infinity"
        );
        assert_eq!(
            encoded(Type::INT8, Value::Numeric("42".into())).unwrap(),
            "42"
        );
        assert!(encoded(Type::NUMERIC, Value::Numeric("1e5".into()))
            .unwrap_err()
            .contains("is not a finite decimal number"));
        assert_eq!(
            encoded(Type::TEXT, Value::Numeric("1".into())).unwrap_err(),
            "a numeric for column c (text)"
        );
        let id = "5f0c8a9e-3c1b-4e0a-9d2f-1a2b3c4d5e6f";
        assert_eq!(encoded(Type::UUID, Value::Uuid(id.into())).unwrap(), id);
        assert_eq!(
            encoded(Type::TEXT, Value::Uuid(id.into())).unwrap_err(),
            "a uuid for column c (text)"
        );
        assert_eq!(
            encoded(Type::TIMESTAMPTZ, Value::Date("2024-02-29".into())).unwrap(),
            "2024-02-29"
        );
        assert_eq!(
            encoded(Type::TEXT, Value::Timestamp("2024-02-29 10:00".into())).unwrap_err(),
            "a date/time for column c (text)"
        );
        assert_eq!(
            encoded(Type::JSONB, Value::Json("{\"a\":\"b\\tc\"}".into())).unwrap(),
            "{\"a\":\"b\\\\tc\"}"
        );
        assert_eq!(
            encoded(Type::TEXT, Value::Json("[1]".into())).unwrap(),
            "[1]"
        );
        assert_eq!(
            encoded(Type::JSON, Value::Json("{".into())).unwrap_err(),
            "invalid JSON for column c"
        );
        assert_eq!(
            encoded(Type::INT4, Value::Json("1".into())).unwrap_err(),
            "JSON for column c (int4)"
        );
        assert_eq!(
            encoded(Type::BYTEA, Value::Bytes(vec![0, 255])).unwrap(),
            "\\\\x00ff"
        );
        assert_eq!(
            encoded(Type::TEXT, Value::Bytes(vec![1])).unwrap_err(),
            "bytes for column c (text)"
        );
        assert_eq!(encoded(Type::UUID, Value::Null).unwrap(), "\\N");
    }

    #[test]
    fn enum_columns_take_their_labels_only() {
        let status = Column {
            type_oid: 0,
            type_name: "order_status".into(),
            enum_labels: Some(vec!["open".into(), "paid".into()]),
            ..col("status", Type::TEXT, None, false)
        };
        let mut out = Vec::new();
        encode(&mut out, &status, &Value::Text("paid".into())).unwrap();
        assert_eq!(out, b"paid");
        assert_eq!(
            encode(&mut out, &status, &Value::Text("lost".into())).unwrap_err(),
            "\"lost\" is not a value of enum order_status (column status)"
        );
    }
}
