//! The `typed` guest (tests/guests/typed) built against the frozen contract 0.3.0, whose
//! values have no array: every array column arrives as its PostgreSQL text and goes back
//! out as that text, for the target to read. tests/e2e/types.rs checks that it writes exactly
//! what `typed` (contract 0.4.0, typed arrays) writes.

wit_bindgen::generate!({
    path: "../../../wit/frozen/migrate-transform-0.3.0.wit",
    world: "transform",
});

use migrate::transform::ids::mint;
use migrate::transform::types::{TargetColumns, TargetRow, Value};

struct Typed;

/// The columns after the key, as in `typed`.
const COLUMNS: &[&str] = &[
    "note",
    "text_arr",
    "varchar_arr",
    "int2_arr",
    "int4_arr",
    "int8_arr",
    "numeric_arr",
    "float8_arr",
    "bool_arr",
    "uuid_arr",
    "date_arr",
    "timestamp_arr",
    "timestamptz_arr",
    "jsonb_arr",
    "bytea_arr",
    "mood",
    "mood_arr",
    "int4range",
    "numrange",
    "tstzrange",
    "daterange",
    "tsvector",
    "inet",
    "cidr",
    "macaddr",
    "interval",
    "money",
    "bit",
    "varbit",
    "xml",
    "point",
    "year",
    "tags",
    "code",
];

impl Guest for Typed {
    fn describe() -> Description {
        let reads = std::iter::once("id").chain(COLUMNS.iter().copied());
        let writes = ["id", "legacy_id"]
            .into_iter()
            .chain(COLUMNS.iter().copied());
        Description {
            source_table: "typed".into(),
            reads: reads.map(str::to_string).collect(),
            writes: vec![TargetColumns {
                table: "typed".into(),
                columns: writes.map(str::to_string).collect(),
            }],
            resolves: vec![],
        }
    }

    fn transform(rows: Vec<Vec<Value>>) -> Vec<Outcome> {
        rows.into_iter()
            .map(|mut row| {
                let Value::Int(key) = row[0] else {
                    return Outcome::Reject(format!("the key is not an integer: {:?}", row[0]));
                };
                if let Some(code) = row.last_mut() {
                    if let Value::Int(n) = code {
                        *code = Value::Text(format!("C-{n}"));
                    }
                }
                row.insert(0, Value::Uuid(mint("typed", key)));
                Outcome::Write(vec![TargetRow {
                    table: "typed".into(),
                    values: row,
                }])
            })
            .collect()
    }
}

export!(Typed);
