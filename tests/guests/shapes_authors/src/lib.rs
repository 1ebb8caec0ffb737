//! legacy `authors` -> `authors`, whose (country, region) points into another schema
//! (`ref.regions`, two columns).

use migrate_sdk::{mint, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    pub struct LegacyAuthor from "authors" {
        id: Key,
        name: Text,
        country: Text,
        region: Text,
    }
}

migrate_sdk::target! {
    pub struct AuthorRow into "authors" {
        id: Value,
        legacy_id: Value,
        name: Value,
        country: Value,
        region: Value,
    }
}

#[derive(Default)]
struct Authors;

impl Transform for Authors {
    type Source = LegacyAuthor;
    const WRITES: &'static [Table] = &[AuthorRow::TABLE];

    fn transform_row(&mut self, input: LegacyAuthor) -> Result<Vec<TargetRow>, Fate> {
        Ok(vec![AuthorRow {
            id: v::uuid(mint("authors", input.id)),
            legacy_id: v::int(input.id),
            name: v::text(input.name.require()?),
            country: v::opt_text(input.country.get()),
            region: v::opt_text(input.region.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Authors);
