//! The plain offices mapping of `fixed_offices` (tests/guests/common), built against the
//! frozen contract 0.3.0 (`migrate:transform@0.3.0`, wit/frozen/): what an existing user's
//! plugin, compiled before 0.4.0, looks like to the host. It uses both imports (`ids` to
//! mint, `log` once per batch) so their 0.3.0 names are linked too.

wit_bindgen::generate!({
    path: "../../../wit/frozen/migrate-transform-0.3.0.wit",
    world: "transform",
});

use migrate::transform::ids::mint_key;
use migrate::transform::log::{log, Level};
use migrate::transform::types::{TargetColumns, TargetRow, Value};

struct Offices;

const READS: &[&str] = &["id", "name", "address"];
const OFFICES: &[&str] = &["id", "legacy_id", "name", "address"];

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn text_or_null(value: &Value) -> Value {
    match value {
        Value::Text(s) => Value::Text(s.clone()),
        _ => Value::Null,
    }
}

impl Guest for Offices {
    fn describe() -> Description {
        Description {
            source_table: "offices".into(),
            reads: strings(READS),
            writes: vec![TargetColumns {
                table: "offices".into(),
                columns: strings(OFFICES),
            }],
            resolves: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        log(
            Level::Debug,
            &format!("contract 0.3.0 guest: {} rows", rows.len()),
        );
        rows.iter()
            .map(|values| {
                let Some(Value::Int(key)) = values.first() else {
                    return Outcome::Reject("the first column must be the integer key".into());
                };
                Outcome::Write(vec![TargetRow {
                    table: "offices".into(),
                    values: vec![
                        Value::Uuid(mint_key("offices", &[Value::Int(*key)])),
                        Value::Int(*key),
                        text_or_null(&values[1]),
                        text_or_null(&values[2]),
                    ],
                }])
            })
            .collect()
    }
}

export!(Offices);
