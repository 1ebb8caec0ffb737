//! legacy `books` -> `books`.

use migrate_sdk::{mint, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    pub struct LegacyBook from "books" {
        id: Key,
        title: Text,
    }
}

migrate_sdk::target! {
    pub struct BookRow into "books" {
        id: Value,
        legacy_id: Value,
        title: Value,
    }
}

#[derive(Default)]
struct Books;

impl Transform for Books {
    type Source = LegacyBook;
    const WRITES: &'static [Table] = &[BookRow::TABLE];

    fn transform_row(&mut self, input: LegacyBook) -> Result<Vec<TargetRow>, Fate> {
        Ok(vec![BookRow {
            id: v::uuid(mint("books", input.id)),
            legacy_id: v::int(input.id),
            title: v::text(input.title.require()?),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Books);
