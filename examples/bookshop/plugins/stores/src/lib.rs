//! legacy shop."Stores" -> public.stores, in Rust.
//!
//! One side of a cycle: a store's manager is one of the staff, and every staff member works
//! in a store. Stores run first (the cycle is broken at the nullable `manager_id`), so the
//! manager is not migrated yet: the plugin writes the id that staff row WILL get (`later`: the
//! deterministic UUID the runner gives it), and the runner settles the foreign key once the
//! staff are done. It does not `resolve` the manager: that would make stores wait for staff.

use migrate_sdk::{later, mint, Fate, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    /// What the plugin reads from shop."Stores", the key first.
    pub struct LegacyStore from "Stores" {
        store_id: Key as "StoreId",
        name: Text as "Name",
        city: Text as "City",
        manager_id: Int as "ManagerId",
    }
}

migrate_sdk::target! {
    /// One row of public.stores.
    pub struct Store into "stores" {
        id: Uuid,
        legacy_id: i64,
        name: String,
        city: String,
        manager_id: Option<Uuid>,
    }
}

#[derive(Default)]
pub struct Stores;

impl Transform for Stores {
    type Source = LegacyStore;
    const WRITES: &'static [Table] = &[Store::TABLE];

    fn transform_row(&mut self, row: LegacyStore) -> Result<Vec<TargetRow>, Fate> {
        Ok(vec![Store {
            id: Uuid(mint("Stores", row.store_id)),
            legacy_id: row.store_id,
            name: row.name.require()?.to_string(),
            city: row.city.require()?.to_string(),
            // Not migrated yet: the id that staff row gets.
            manager_id: row.manager_id.get().map(|m| Uuid(later("Staff", m))),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Stores);
