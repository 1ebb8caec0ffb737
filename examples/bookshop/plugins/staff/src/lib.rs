//! legacy shop."Staff" -> public.staff, in Rust.
//!
//! The other side of the stores' cycle (a staff member's store is migrated already: resolved),
//! and a self-reference: "ReportsTo" points at another staff row, most often one with a
//! HIGHER key (managers were entered last), which is not migrated yet when this row is. Such
//! a reference gets the id that row will get (the deterministic UUID) and the runner settles
//! the foreign key once the table is done; a manager that was skipped leaves the link NULL.

use migrate_sdk::{mint, resolve, Date, Fate, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    /// What the plugin reads from shop."Staff", the key first.
    pub struct LegacyStaff from "Staff" {
        staff_id: Key as "StaffId",
        store_id: Int as "StoreId",
        reports_to: Int as "ReportsTo",
        full_name: Text as "FullName",
        hired_on: Text as "HiredOn",
    }
}

migrate_sdk::target! {
    /// One row of public.staff.
    pub struct StaffRow into "staff" {
        id: Uuid,
        legacy_id: i64,
        store_id: Uuid,
        reports_to: Option<Uuid>,
        full_name: String,
        hired_on: Date,
    }
}

/// The manager's id: migrated already, or the id it will get; None when it was skipped.
fn manager(legacy_id: i64) -> Result<Option<Uuid>, Fate> {
    match resolve("Staff", legacy_id, "ReportsTo") {
        Ok(id) => Ok(Some(Uuid(id))),
        Err(Fate::Skip(_)) => Ok(None),
        // Not migrated yet (a higher key, or earlier in this batch): the id it will get.
        Err(Fate::Reject(_)) => Ok(Some(Uuid(mint("Staff", legacy_id)))),
    }
}

#[derive(Default)]
pub struct Staff;

impl Transform for Staff {
    type Source = LegacyStaff;
    const WRITES: &'static [Table] = &[StaffRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["Stores", "Staff"];

    fn transform_row(&mut self, row: LegacyStaff) -> Result<Vec<TargetRow>, Fate> {
        let store = resolve("Stores", row.store_id.require()?, "StoreId")?;
        let reports_to = match row.reports_to.get() {
            None => None,
            Some(m) => manager(m)?,
        };
        Ok(vec![StaffRow {
            id: Uuid(mint("Staff", row.staff_id)),
            legacy_id: row.staff_id,
            store_id: Uuid(store),
            reports_to,
            full_name: row.full_name.require()?.to_string(),
            hired_on: Date(row.hired_on.require()?.to_string()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Staff);
