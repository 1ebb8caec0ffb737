//! The plain mapping of legacy `offices` to `public.offices` (schema/target.sql) that the
//! sandbox and poison guests use for their well-behaved rows.
//!
//! A guest misbehaves only on the rows the test plants for it (named `probe`, or by key), so
//! a test sees the bad row isolated and the others written.

use migrate_sdk::{mint, Table, TargetRow, Uuid};

migrate_sdk::source! {
    /// What every offices guest reads from legacy `offices`.
    pub struct Office from "offices" {
        id: Key,
        name: Text,
        address: Text,
    }
}

migrate_sdk::target! {
    /// What every offices guest writes to `public.offices`.
    pub struct OfficeRow into "offices" {
        id: Uuid,
        legacy_id: i64,
        name: Option<String>,
        address: Option<String>,
    }
}

/// The tables every offices guest writes (its `Transform::WRITES`).
pub const WRITES: &[Table] = &[OfficeRow::TABLE];

/// The row name a test gives the row a guest should misbehave on.
pub fn is_probe(office: &Office) -> bool {
    office.name.get() == Some("probe")
}

/// The target row for `office`, with `address` replaced when given (a probe's finding).
pub fn office(office: &Office, address: Option<String>) -> Vec<TargetRow> {
    let key = office.id;
    vec![OfficeRow {
        id: Uuid(mint("offices", key)),
        legacy_id: key,
        name: office.name.get().map(str::to_string),
        address: address.or_else(|| office.address.get().map(str::to_string)),
    }
    .into()]
}
