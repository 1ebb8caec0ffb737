//! Passes legacy `typed` through to target `typed` unchanged: `id` becomes the minted UUID
//! and `legacy_id`, every other column goes out as the value it came in as, except `code`
//! (last), which it converts: integer 5 becomes the text `C-5`. Used by
//! tests/e2e/types.rs, whose tables hold one column per PostgreSQL type (the names below);
//! a test changes the target's types or constraints to see what check, run and dry run do.
//!
//! It implements the WIT exports itself (not `plugin!`) so that values pass untouched,
//! whatever their kind.

use migrate_sdk::bindings::Guest;
use migrate_sdk::{mint, v, Description, Outcome, TargetColumns, TargetRow, Value};

struct Typed;

/// The columns after the key, in both tables (tests/e2e/types.rs `COLUMNS` gives their types).
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
                row[0] = v::int(key);
                if let Some(code) = row.last_mut() {
                    if let Value::Int(n) = code {
                        *code = v::text(format!("C-{n}"));
                    }
                }
                row.insert(0, v::uuid(mint("typed", key)));
                Outcome::Write(vec![TargetRow {
                    table: "typed".into(),
                    values: row,
                }])
            })
            .collect()
    }
}

migrate_sdk::bindings::export_transform!(Typed with_types_in migrate_sdk::bindings);
