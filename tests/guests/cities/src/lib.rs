//! Legacy `cities (country char(2), name text, population int, near text,
//! PRIMARY KEY (country, name))`: a composite text key. `country` resolves a country by its
//! code; `near` names another city of the same country: migrated already (resolved), or not
//! yet (a forward reference, `later`, which the runner settles once the table is done).

use migrate_sdk::{later, mint, resolve, Fate, Table, TargetRow, Transform, Uuid, Value};

migrate_sdk::source! {
    pub struct City from "cities" {
        country: Text,
        name: Text,
        population: Int,
        near: Text,
    }
}

migrate_sdk::target! {
    pub struct CityRow into "cities" {
        id: Uuid,
        country_id: Uuid,
        name: String,
        population: Option<i64>,
        near_id: Value,
    }
}

#[derive(Default)]
struct Cities;

impl Transform for Cities {
    type Source = City;
    const WRITES: &'static [Table] = &[CityRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["countries", "cities"];

    fn transform_row(&mut self, c: City) -> Result<Vec<TargetRow>, Fate> {
        let (country, name) = (c.country.require()?, c.name.require()?);
        let country_id = resolve("countries", country, "country")?;
        let near_id = match c.near.get() {
            None => Value::Null,
            Some(near) => Value::Uuid(
                resolve("cities", (country, near), "near")
                    .unwrap_or_else(|_| later("cities", (country, near))),
            ),
        };
        Ok(vec![CityRow {
            id: Uuid(mint("cities", (country, name))),
            country_id: Uuid(country_id),
            name: name.to_string(),
            population: c.population.get(),
            near_id,
        }
        .into()])
    }
}

migrate_sdk::plugin!(Cities);
