//! legacy `products` -> `public.products`.
//!
//! Rejects a product without a name, whose category was not migrated (orphan), or whose
//! `unit_price` is not a decimal, is negative, has sub-cent digits or does not fit
//! numeric(12,2). Nothing is skipped (no soft delete; a NULL `is_active` takes the legacy
//! column default, true). A NULL price stays NULL (not recorded is not free).

use migrate_sdk::money::{fits, is_negative, to_cents};
use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{
    describe, mint, resolve_optional, row, v, Description, Fate, Input, TargetRow, Transform,
};

const READS: &[&str] = &[
    "id",
    "category_id",
    "sku",
    "name",
    "description",
    "unit_price",
    "is_active",
    "created_at",
    "updated_at",
];
const PRODUCTS: &[&str] = &[
    "id",
    "legacy_id",
    "category_id",
    "sku",
    "name",
    "description",
    "unit_price",
    "is_active",
    "created_at",
    "updated_at",
];

/// The unit price as canonical decimal text, or the reason it cannot be migrated.
pub fn unit_price(text: &str) -> Result<String, Fate> {
    let price = to_cents(text, "unit_price")?;
    if is_negative(&price) {
        return Err(Fate::reject(format!("negative unit_price {price}")));
    }
    if !fits(&price, 12, 2) {
        return Err(Fate::reject(format!(
            "unit_price {price} does not fit numeric(12,2)"
        )));
    }
    Ok(price)
}

pub struct Products;

impl Transform for Products {
    fn describe() -> Description {
        describe(
            "products",
            READS,
            &[("products", PRODUCTS)],
            &["categories"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        let name = input.require_text("name")?;
        let price = input.trimmed("unit_price").map(unit_price).transpose()?;
        let category = resolve_optional("categories", input.int("category_id"), "category_id")?;
        Ok(vec![row(
            "products",
            vec![
                v::uuid(mint("products", key)),
                v::int(key),
                category,
                v::opt_text(input.trimmed("sku")),
                v::text(name),
                v::opt_text(input.text("description").filter(|s| !s.trim().is_empty())),
                v::opt(price.map(v::numeric)),
                v::boolean(input.boolean("is_active").unwrap_or(true)),
                opt_timestamptz(input.text("created_at")),
                opt_timestamptz(input.text("updated_at")),
            ],
        )])
    }
}

migrate_sdk::plugin!(Products);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, uuid};
    use migrate_sdk::Value;

    fn product(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(3)),
            ("category_id", v::int(2)),
            ("sku", v::text("CA-FULL")),
            ("name", v::text("Clear Aligners - Comprehensive")),
            ("description", v::text("Clear aligners.\nPrice per case.")),
            ("unit_price", v::numeric("1450.5")),
            ("is_active", Value::Null),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Products>(&row)
    }

    #[test]
    fn migrates_a_product() {
        migrated("categories", &[2]);
        let rows = product(&[]).unwrap();
        let r = &rows[0];
        assert_eq!(get::<Products>(r, "id"), &v::uuid(uuid("products", 3)));
        assert_eq!(
            get::<Products>(r, "category_id"),
            &v::uuid(uuid("categories", 2))
        );
        assert_eq!(get::<Products>(r, "sku"), &v::text("CA-FULL"));
        assert_eq!(
            get::<Products>(r, "description"),
            &v::text("Clear aligners.\nPrice per case.")
        );
        assert_eq!(get::<Products>(r, "unit_price"), &v::numeric("1450.50"));
        assert_eq!(get::<Products>(r, "is_active"), &v::boolean(true));
        let unpriced =
            product(&[("unit_price", Value::Null), ("category_id", Value::Null)]).unwrap();
        assert_eq!(get::<Products>(&unpriced[0], "unit_price"), &Value::Null);
        assert_eq!(get::<Products>(&unpriced[0], "category_id"), &Value::Null);
        let retired = product(&[("is_active", v::boolean(false))]).unwrap();
        assert_eq!(
            get::<Products>(&retired[0], "is_active"),
            &v::boolean(false)
        );
    }

    #[test]
    fn rejects() {
        migrated("categories", &[2]);
        assert!(
            matches!(product(&[("name", Value::Null)]), Err(Fate::Reject(r)) if r.contains("name"))
        );
        assert!(
            matches!(product(&[("category_id", v::int(99))]), Err(Fate::Reject(r)) if r.contains("category_id=99"))
        );
        assert!(
            matches!(product(&[("unit_price", v::numeric("89.999"))]), Err(Fate::Reject(r)) if r.contains("decimals"))
        );
        assert!(
            matches!(product(&[("unit_price", v::numeric("-1"))]), Err(Fate::Reject(r)) if r.contains("negative"))
        );
        assert!(
            matches!(product(&[("unit_price", v::numeric("NaN"))]), Err(Fate::Reject(r)) if r.contains("unit_price"))
        );
    }

    #[test]
    fn prices() {
        assert_eq!(unit_price("395").unwrap(), "395.00");
        assert_eq!(unit_price("89.99").unwrap(), "89.99");
        assert_eq!(unit_price("175.0").unwrap(), "175.00");
        assert!(unit_price("10000000000").is_err());
    }
}
