//! Array columns (contract 0.4.0): read as `read::Array`, written with `v::texts` / `v::ints`
//! / `v::array`, passed through as they came.

use migrate_sdk::testing::{get, run};
use migrate_sdk::{mint, v, ArrayValue, Element, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    pub struct Book from "books" {
        id: Key,
        tags: Array,
        ratings: Array,
    }
}

migrate_sdk::target! {
    pub struct NewBook into "books" {
        id: migrate_sdk::Uuid,
        tags: Value,
        ratings: Value,
        best: Option<i64>,
    }
}

#[derive(Default)]
struct Books;

impl Transform for Books {
    type Source = Book;
    const WRITES: &'static [Table] = &[NewBook::TABLE];

    fn transform_row(&mut self, row: Book) -> Result<Vec<TargetRow>, Fate> {
        // Tags upper-cased (NULL elements kept), ratings passed through as they came.
        let tags = v::texts(
            row.tags
                .texts()
                .into_iter()
                .map(|t| t.map(str::to_uppercase)),
        );
        let best = row.ratings.ints().into_iter().flatten().max();
        Ok(vec![NewBook {
            id: migrate_sdk::Uuid(mint("books", row.id)),
            tags,
            ratings: row.ratings.get().cloned().map_or(Value::Null, Value::Array),
            best,
        }
        .into()])
    }
}

#[test]
fn arrays_read_and_write_element_by_element() {
    let ratings = ArrayValue {
        dims: vec![2, 2],
        elements: vec![
            Element::Int(3),
            Element::Null,
            Element::Int(5),
            Element::Int(1),
        ],
    };
    let tags = v::texts([Some("sci-fi"), None, Some("old")]);
    let rows = run::<Books>(&[
        ("id", Value::Int(1)),
        ("tags", tags),
        ("ratings", Value::Array(ratings.clone())),
    ])
    .unwrap();
    let out = &rows[0];
    assert_eq!(
        get::<Books>(out, "tags"),
        &Value::Array(ArrayValue {
            dims: vec![3],
            elements: vec![
                Element::Text("SCI-FI".into()),
                Element::Null,
                Element::Text("OLD".into())
            ],
        })
    );
    assert_eq!(get::<Books>(out, "ratings"), &Value::Array(ratings));
    assert_eq!(get::<Books>(out, "best"), &Value::Int(5));

    // NULL arrays read as empty; an empty array has no dimensions.
    let rows = run::<Books>(&[("id", Value::Int(2))]).unwrap();
    assert_eq!(
        get::<Books>(&rows[0], "tags"),
        &Value::Array(ArrayValue {
            dims: vec![],
            elements: vec![]
        })
    );
    assert_eq!(get::<Books>(&rows[0], "ratings"), &Value::Null);
    assert_eq!(
        v::ints([Some(1), None]),
        v::array(vec![Element::Int(1), Element::Null])
    );
}
