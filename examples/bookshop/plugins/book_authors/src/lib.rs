//! legacy shop."BookAuthors" -> public.book_authors, in Rust.
//!
//! A link table keyed by both its columns ("BookId", "AuthorId"), and so is the new one: no
//! id is minted, the id map has no rows for it, and validate checks it by its key. A link
//! follows what became of its book and its author: skipped with a skipped one (a
//! soft-deleted author), rejected as an orphan when one was never migrated.

use migrate_sdk::{resolve, Fate, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    /// What the plugin reads from shop."BookAuthors": the two key columns first.
    pub struct LegacyBookAuthor from "BookAuthors" {
        book_id: Int as "BookId",
        author_id: Int as "AuthorId",
        role: Text as "Role",
    }
}

migrate_sdk::target! {
    /// One row of public.book_authors.
    pub struct BookAuthor into "book_authors" {
        book_id: Uuid,
        author_id: Uuid,
        role: String,
    }
}

#[derive(Default)]
pub struct BookAuthors;

impl Transform for BookAuthors {
    type Source = LegacyBookAuthor;
    const WRITES: &'static [Table] = &[BookAuthor::TABLE];
    const RESOLVES: &'static [&'static str] = &["Books", "Authors"];

    fn transform_row(&mut self, row: LegacyBookAuthor) -> Result<Vec<TargetRow>, Fate> {
        let book = resolve("Books", row.book_id.require()?, "BookId")?;
        let author = resolve("Authors", row.author_id.require()?, "AuthorId")?;
        Ok(vec![BookAuthor {
            book_id: Uuid(book),
            author_id: Uuid(author),
            role: row.role.require()?.to_string(),
        }
        .into()])
    }
}

migrate_sdk::plugin!(BookAuthors);
