//! legacy `products` -> `public.products`.
//!
//! Rejects a product without a name, whose category was not migrated (orphan), or whose
//! `unit_price` is not a decimal, is negative, has sub-cent digits or does not fit
//! numeric(12,2). Nothing is skipped (no soft delete; a NULL `is_active` takes the legacy
//! column default, true). A NULL price stays NULL (not recorded is not free).

use lab_conventions::opt_timestamptz;
use migrate_sdk::money::{fits, is_negative, to_cents};
use migrate_sdk::{mint, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `products`, in the order rows carry them (the key first).
    pub struct LegacyProducts from "products" {
        id: Key,
        category_id: Int,
        sku: Text,
        name: Text,
        description: Text,
        unit_price: Text,
        is_active: Bool,
        created_at: Text,
        updated_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `products`.
    pub struct ProductsRow into "products" {
        id: Value,
        legacy_id: Value,
        category_id: Value,
        sku: Value,
        name: Value,
        description: Value,
        unit_price: Value,
        is_active: Value,
        created_at: Value,
        updated_at: Value,
    }
}

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

#[derive(Default)]
pub struct Products;

impl Transform for Products {
    type Source = LegacyProducts;
    const WRITES: &'static [Table] = &[ProductsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["categories"];

    fn transform_row(&mut self, input: LegacyProducts) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let name = input.name.require()?;
        let price = input.unit_price.trimmed().map(unit_price).transpose()?;
        let category = resolve_optional("categories", input.category_id.get(), "category_id")?;
        Ok(vec![ProductsRow {
            id: v::uuid(mint("products", key)),
            legacy_id: v::int(key),
            category_id: category,
            sku: v::opt_text(input.sku.trimmed()),
            name: v::text(name),
            description: v::opt_text(input.description.get().filter(|s| !s.trim().is_empty())),
            unit_price: v::opt(price.map(v::numeric)),
            is_active: v::boolean(input.is_active.get().unwrap_or(true)),
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
        }
        .into()])
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
