//! legacy shop."Countries" -> public.countries, in Rust.
//!
//! A table keyed by text ("Code", a char(2)): the runner pages it by its key like any other.
//! The new table keeps the natural key, so no id is minted and the id map has no rows for it.

use migrate_sdk::{Fate, Table, TargetRow, Transform};

migrate_sdk::source! {
    /// What the plugin reads from shop."Countries", the key first.
    pub struct LegacyCountry from "Countries" {
        code: Text as "Code",
        name: Text as "Name",
    }
}

migrate_sdk::target! {
    /// One row of public.countries.
    pub struct Country into "countries" {
        code: String,
        name: String,
    }
}

#[derive(Default)]
pub struct Countries;

impl Transform for Countries {
    type Source = LegacyCountry;
    const WRITES: &'static [Table] = &[Country::TABLE];

    fn transform_row(&mut self, row: LegacyCountry) -> Result<Vec<TargetRow>, Fate> {
        Ok(vec![Country {
            code: row.code.require()?.to_uppercase(),
            name: row.name.require()?.to_string(),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Countries);
