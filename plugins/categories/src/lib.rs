//! legacy `categories` -> `public.categories`.
//!
//! Rejects a category without a name. The legacy table has no soft delete: inactive
//! categories migrate with `is_active = false`; a NULL `is_active` takes the legacy
//! column's default, true.

use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{describe, mint, row, v, Description, Fate, Input, TargetRow, Transform};

const READS: &[&str] = &[
    "id",
    "name",
    "description",
    "sort_order",
    "is_active",
    "created_at",
];
const CATEGORIES: &[&str] = &[
    "id",
    "legacy_id",
    "name",
    "description",
    "sort_order",
    "is_active",
    "created_at",
];

pub struct Categories;

impl Transform for Categories {
    fn describe() -> Description {
        describe("categories", READS, &[("categories", CATEGORIES)], &[])
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        let name = input.require_text("name")?;
        Ok(vec![row(
            "categories",
            vec![
                v::uuid(mint("categories", key)),
                v::int(key),
                v::text(name),
                v::opt_text(input.trimmed("description")),
                v::opt_int(input.int("sort_order")),
                v::boolean(input.boolean("is_active").unwrap_or(true)),
                opt_timestamptz(input.text("created_at")),
            ],
        )])
    }
}

migrate_sdk::plugin!(Categories);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, run, uuid};
    use migrate_sdk::Value;

    #[test]
    fn migrates_a_category() {
        let rows = run::<Categories>(&[
            ("id", v::int(3)),
            ("name", v::text("Aligners")),
            ("sort_order", v::int(2)),
        ])
        .unwrap();
        let r = &rows[0];
        assert_eq!(get::<Categories>(r, "id"), &v::uuid(uuid("categories", 3)));
        assert_eq!(get::<Categories>(r, "sort_order"), &v::int(2));
        assert_eq!(get::<Categories>(r, "is_active"), &v::boolean(true));
        assert_eq!(get::<Categories>(r, "description"), &Value::Null);
        let inactive = run::<Categories>(&[
            ("id", v::int(4)),
            ("name", v::text("Old")),
            ("is_active", v::boolean(false)),
        ])
        .unwrap();
        assert_eq!(
            get::<Categories>(&inactive[0], "is_active"),
            &v::boolean(false)
        );
    }

    #[test]
    fn rejects_a_nameless_category() {
        assert!(matches!(
            run::<Categories>(&[("id", v::int(5))]),
            Err(Fate::Reject(_))
        ));
    }
}
