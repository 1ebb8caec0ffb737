//! Legacy `countries (code char(2) PRIMARY KEY, name text)`: a table keyed by text. A country
//! named "skip me" is skipped, one named "bad" rejected.

use migrate_sdk::{mint, Fate, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    pub struct Country from "countries" {
        code: Text,
        name: Text,
    }
}

migrate_sdk::target! {
    pub struct CountryRow into "countries" {
        id: Uuid,
        code: String,
        name: Option<String>,
    }
}

#[derive(Default)]
struct Countries;

impl Transform for Countries {
    type Source = Country;
    const WRITES: &'static [Table] = &[CountryRow::TABLE];

    fn transform_row(&mut self, c: Country) -> Result<Vec<TargetRow>, Fate> {
        let code = c.code.require()?;
        match c.name.get() {
            Some("skip me") => return Err(Fate::skip("a placeholder country")),
            Some("bad") => return Err(Fate::reject("a country named bad")),
            _ => {}
        }
        Ok(vec![CountryRow {
            id: Uuid(mint("countries", code)),
            code: code.to_string(),
            name: c.name.get().map(str::to_string),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Countries);
