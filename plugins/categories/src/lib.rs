//! legacy `categories` -> `public.categories`.
//!
//! Rejects a category without a name. The legacy table has no soft delete: inactive
//! categories migrate with `is_active = false`; a NULL `is_active` takes the legacy
//! column's default, true.

use lab_conventions::opt_timestamptz;
use migrate_sdk::{mint, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `categories`, in the order rows carry them (the key first).
    pub struct LegacyCategories from "categories" {
        id: Key,
        name: Text,
        description: Text,
        sort_order: Int,
        is_active: Bool,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `categories`.
    pub struct CategoriesRow into "categories" {
        id: Value,
        legacy_id: Value,
        name: Value,
        description: Value,
        sort_order: Value,
        is_active: Value,
        created_at: Value,
    }
}

#[derive(Default)]
pub struct Categories;

impl Transform for Categories {
    type Source = LegacyCategories;
    const WRITES: &'static [Table] = &[CategoriesRow::TABLE];

    fn transform_row(&mut self, input: LegacyCategories) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let name = input.name.require()?;
        Ok(vec![CategoriesRow {
            id: v::uuid(mint("categories", key)),
            legacy_id: v::int(key),
            name: v::text(name),
            description: v::opt_text(input.description.trimmed()),
            sort_order: v::opt_int(input.sort_order.get()),
            is_active: v::boolean(input.is_active.get().unwrap_or(true)),
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
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
