//! Components built against a frozen contract (0.3.0, and 0.2.0 and 0.1.0, which share its
//! types): their values have no `array` case, so an array crosses to them as its PostgreSQL
//! text (the text they were given before 0.4.0), and their rows and outcomes are converted
//! to and from the current types around each call.

use super::contract_0_3::migrate::transform::types as old;
use super::migrate::transform::types::{Description, Outcome, TargetColumns, TargetRow, Value};

/// A value of the frozen contracts.
pub type Old = old::Value;

/// One call of a frozen component's `transform`: `rows` converted for it, its outcomes back.
pub fn transform(
    rows: &[Vec<Value>],
    call: impl FnOnce(&[Vec<Old>]) -> wasmtime::Result<Vec<old::Outcome>>,
) -> wasmtime::Result<Vec<Outcome>> {
    let rows: Vec<Vec<Old>> = rows
        .iter()
        .map(|row| row.iter().map(to_old).collect())
        .collect();
    Ok(call(&rows)?.into_iter().map(outcome).collect())
}

/// A key a frozen component passed, as current values.
pub fn key(key: Vec<Old>) -> Vec<Value> {
    key.into_iter().map(from_old).collect()
}

pub fn description(d: old::Description) -> Description {
    Description {
        source_table: d.source_table,
        reads: d.reads,
        writes: d
            .writes
            .into_iter()
            .map(|w| TargetColumns {
                table: w.table,
                columns: w.columns,
            })
            .collect(),
        resolves: d.resolves,
    }
}

fn outcome(o: old::Outcome) -> Outcome {
    match o {
        old::Outcome::Write(rows) => Outcome::Write(
            rows.into_iter()
                .map(|r| TargetRow {
                    table: r.table,
                    values: r.values.into_iter().map(from_old).collect(),
                })
                .collect(),
        ),
        old::Outcome::Skip(why) => Outcome::Skip(why),
        old::Outcome::Reject(why) => Outcome::Reject(why),
    }
}

fn to_old(v: &Value) -> Old {
    match v {
        Value::Null => Old::Null,
        Value::Boolean(b) => Old::Boolean(*b),
        Value::Int(i) => Old::Int(*i),
        Value::Float(f) => Old::Float(*f),
        Value::Numeric(s) => Old::Numeric(s.clone()),
        Value::Text(s) => Old::Text(s.clone()),
        Value::Bytes(b) => Old::Bytes(b.clone()),
        Value::Uuid(s) => Old::Uuid(s.clone()),
        Value::Date(s) => Old::Date(s.clone()),
        Value::Timestamp(s) => Old::Timestamp(s.clone()),
        Value::Timestamptz(s) => Old::Timestamptz(s.clone()),
        Value::Json(s) => Old::Json(s.clone()),
        // The codec made it from a literal, so its dims hold its elements.
        Value::Array(a) => Old::Text(super::array_text(a).unwrap_or_default()),
    }
}

fn from_old(v: Old) -> Value {
    match v {
        Old::Null => Value::Null,
        Old::Boolean(b) => Value::Boolean(b),
        Old::Int(i) => Value::Int(i),
        Old::Float(f) => Value::Float(f),
        Old::Numeric(s) => Value::Numeric(s),
        Old::Text(s) => Value::Text(s),
        Old::Bytes(b) => Value::Bytes(b),
        Old::Uuid(s) => Value::Uuid(s),
        Old::Date(s) => Value::Date(s),
        Old::Timestamp(s) => Value::Timestamp(s),
        Old::Timestamptz(s) => Value::Timestamptz(s),
        Old::Json(s) => Value::Json(s),
    }
}
