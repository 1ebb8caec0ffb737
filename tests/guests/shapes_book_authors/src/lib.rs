//! legacy `book_authors` -> `book_authors`: a link table keyed by its two references, with no
//! id of its own; `role` points into another schema (`ref.contributor_roles`). The source's
//! surrogate `id` is only what the runner pages by; nothing of it reaches the target.

use migrate_sdk::{resolve, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    pub struct LegacyBookAuthor from "book_authors" {
        id: Key,
        book_id: Int,
        author_id: Int,
        role: Text,
        position: Int,
    }
}

migrate_sdk::target! {
    pub struct BookAuthorRow into "book_authors" {
        book_id: Value,
        author_id: Value,
        role: Value,
        position: Value,
    }
}

#[derive(Default)]
struct BookAuthors;

impl Transform for BookAuthors {
    type Source = LegacyBookAuthor;
    const WRITES: &'static [Table] = &[BookAuthorRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["books", "authors"];

    fn transform_row(&mut self, input: LegacyBookAuthor) -> Result<Vec<TargetRow>, Fate> {
        let book = resolve("books", input.book_id.require()?, "book_id")?;
        let author = resolve("authors", input.author_id.require()?, "author_id")?;
        Ok(vec![BookAuthorRow {
            book_id: v::uuid(book),
            author_id: v::uuid(author),
            role: v::text(input.role.require()?),
            position: v::int(input.position.require()?),
        }
        .into()])
    }
}

migrate_sdk::plugin!(BookAuthors);
