//! Emits rows that break the contract or do not fit the target, one kind per legacy office,
//! chosen by the office's `name` (any other name migrates cleanly). Used by the bad-input
//! catalogue (tests/e2e/catalogue.rs) with a target whose `offices` has two extra columns:
//! `code varchar(5)` and `amount numeric(6,2)`.
//!
//! It implements the WIT exports itself (not `plugin!`) so it can also return the wrong number
//! of outcomes and call imports it did not declare.

use migrate_sdk::bindings::migrate::transform::ids;
use migrate_sdk::bindings::Guest;
use migrate_sdk::{mint, v, Description, Outcome, TargetColumns, TargetRow, Value};

struct Misfits;

/// Columns: id, legacy_id, name, created_at, code, amount.
const OFFICES: &[&str] = &["id", "legacy_id", "name", "created_at", "code", "amount"];
const ID: usize = 0;
const NAME: usize = 2;
const CREATED_AT: usize = 3;
const CODE: usize = 4;
const AMOUNT: usize = 5;

impl Guest for Misfits {
    fn describe() -> Description {
        let strings = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        Description {
            source_table: "offices".into(),
            reads: strings(&["id", "name"]),
            writes: vec![TargetColumns {
                table: "offices".into(),
                columns: strings(OFFICES),
            }],
            resolves: vec![],
        }
    }

    fn transform(rows: Vec<Vec<Value>>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(rows.len());
        for row in &rows {
            let Value::Int(key) = row[0] else {
                panic!("the first value must be the integer key, got {:?}", row[0])
            };
            let name = match &row[1] {
                Value::Text(s) => s.clone(),
                _ => String::new(),
            };
            let mut table = "offices".to_string();
            let mut values = vec![
                v::uuid(mint("offices", key)),
                v::int(key),
                v::text(name.clone()),
                Value::Timestamptz("2020-01-02 03:04:05+00".into()),
                v::text("OK"),
                v::numeric("12.50"),
            ];
            match name.as_str() {
                "undeclared-table" => table = "office_annex".into(),
                "wrong-arity" => {
                    values.pop();
                }
                "text-into-uuid" => values[ID] = v::text(mint("offices", key)),
                "float-money" => values[AMOUNT] = Value::Float(12.5),
                "invalid-uuid" => values[ID] = v::uuid("not-a-uuid"),
                "too-long" => values[CODE] = v::text("TOO-LONG-CODE"),
                "nan" => values[AMOUNT] = v::numeric("NaN"),
                "overflow" => values[AMOUNT] = v::numeric("123456.78"),
                "bad-timestamp" => {
                    values[CREATED_AT] = Value::Timestamptz("2021-02-30 10:00:00+00".into())
                }
                "nul" => values[NAME] = v::text("Main\0Street"),
                "null-required" => values[NAME] = Value::Null,
                "blank-name" => values[NAME] = v::text("   "),
                "extra-outcome" => outcomes.push(Outcome::Skip("one outcome too many".into())),
                "resolve-undeclared" => {
                    ids::resolve("doctors", 1);
                }
                _ => {}
            }
            outcomes.push(Outcome::Write(vec![TargetRow { table, values }]));
        }
        outcomes
    }
}

migrate_sdk::bindings::export_transform!(Misfits with_types_in migrate_sdk::bindings);
