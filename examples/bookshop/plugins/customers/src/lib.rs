//! legacy shop."Customers" -> public.customers, in Rust.
//!
//! A table keyed by a uuid ("CustomerId"): the new id is minted from it (`mint` takes a key
//! of any shape) and the legacy uuid is kept in `legacy_id`. A blank
//! e-mail becomes NULL. A country the target's `countries` does not hold is passed on: the
//! target's foreign key refuses the row and the runner quarantines it with PostgreSQL's reason.

use migrate_sdk::{mint, Date, Fate, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    /// What the plugin reads from shop."Customers", the key first.
    pub struct LegacyCustomer from "Customers" {
        customer_id: Text as "CustomerId",
        full_name: Text as "FullName",
        email: Text as "Email",
        country: Text as "Country",
        since: Text as "Since",
    }
}

migrate_sdk::target! {
    /// One row of public.customers.
    pub struct Customer into "customers" {
        id: Uuid,
        legacy_id: Uuid,
        full_name: String,
        email: Option<String>,
        country: String,
        customer_since: Date,
    }
}

#[derive(Default)]
pub struct Customers;

impl Transform for Customers {
    type Source = LegacyCustomer;
    const WRITES: &'static [Table] = &[Customer::TABLE];

    fn transform_row(&mut self, row: LegacyCustomer) -> Result<Vec<TargetRow>, Fate> {
        let key = row.customer_id.require()?.to_string();
        Ok(vec![Customer {
            id: Uuid(mint("Customers", Uuid(key.clone()))),
            legacy_id: Uuid(key),
            full_name: row.full_name.require()?.trim().to_string(),
            email: row.email.trimmed().map(str::to_string),
            country: row.country.require()?.trim().to_uppercase(),
            customer_since: Date(row.since.require()?.to_string()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Customers);
