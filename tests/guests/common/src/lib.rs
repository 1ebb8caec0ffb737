//! The plain mapping of legacy `offices` to `public.offices` (schema/target.sql) that the
//! sandbox and poison guests use for their well-behaved rows.
//!
//! A guest misbehaves only on the rows the test plants for it (named `probe`, or by key), so
//! a test sees the bad row isolated and the others written.

use migrate_sdk::{describe, mint, row, v, Description, Input, TargetRow, Value};

pub const READS: &[&str] = &["id", "name", "address"];
pub const OFFICES: &[&str] = &["id", "legacy_id", "name", "address"];

/// What every offices guest reads and writes.
pub fn offices() -> Description {
    describe("offices", READS, &[("offices", OFFICES)], &[])
}

/// The row name a test gives the row a guest should misbehave on.
pub fn is_probe(input: &Input<'_>) -> bool {
    input.text("name") == Some("probe")
}

/// The target row for `input`, with `address` replaced when given (a probe's finding).
pub fn office(input: &Input<'_>, address: Option<String>) -> Vec<TargetRow> {
    let key = input.key();
    let address = match address {
        Some(found) => v::text(found),
        None => v::opt_text(input.text("address")),
    };
    vec![row(
        "offices",
        vec![
            v::uuid(mint("offices", key)),
            v::int(key),
            input.text("name").map_or(Value::Null, v::text),
            address,
        ],
    )]
}
