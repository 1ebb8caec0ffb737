//! legacy shop."Staff" -> public.staff, in Rust.
//!
//! The other side of the stores' cycle (a staff member's store is migrated already: resolved),
//! and a self-reference: "ReportsTo" points at another staff row, most often one with a
//! HIGHER key (managers were entered last), which is not migrated yet when this row is. The
//! plugin does not resolve it: it writes the id that row will get (`later`: the deterministic
//! UUID the runner gives it), and the runner settles the foreign key once the table is done
//! (a reference to a row that never came is set to NULL there, and recorded).

use migrate_sdk::{later, mint, resolve, Date, Fate, Table, TargetRow, Transform, Uuid};

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

#[derive(Default)]
pub struct Staff;

impl Transform for Staff {
    type Source = LegacyStaff;
    const WRITES: &'static [Table] = &[StaffRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["Stores"];

    fn transform_row(&mut self, row: LegacyStaff) -> Result<Vec<TargetRow>, Fate> {
        let store = resolve("Stores", row.store_id.require()?, "StoreId")?;
        // Earlier or later in key order alike: the id the manager's row gets.
        let reports_to = row.reports_to.get().map(|m| Uuid(later("Staff", m)));
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
