//! legacy `offers` -> `public.offers`.
//!
//! Rejects an offer without a name, whose product was not migrated (orphan), whose
//! `discount_type` is NULL or an unknown code, whose `discount_value` is NULL, not a decimal,
//! negative, zero, has sub-cent digits, is a percentage above 100 or does not fit its column,
//! or whose `min_order_amount` is not a decimal, negative, has sub-cent digits or does not
//! fit numeric(12,2). Money is never rounded. A link to a skipped product becomes NULL (the
//! offer then reads "every product": none is skipped today, products have no soft delete).
//! A NULL `is_active` is written as false.

use lab_conventions::opt_timestamptz;
use migrate_sdk::money::{fits, is_negative, to_cents};
use migrate_sdk::{mint, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `offers`, in the order rows carry them (the key first).
    pub struct LegacyOffers from "offers" {
        id: Key,
        product_id: Int,
        name: Text,
        description: Text,
        discount_type: Int,
        discount_value: Text,
        min_order_amount: Text,
        starts_at: Text,
        ends_at: Text,
        is_active: Bool,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `offers`.
    pub struct OffersRow into "offers" {
        id: Value,
        legacy_id: Value,
        product_id: Value,
        name: Value,
        description: Value,
        discount_type: Value,
        percent_off: Value,
        amount_off: Value,
        min_order_amount: Value,
        starts_at: Value,
        ends_at: Value,
        is_active: Value,
        created_at: Value,
    }
}

/// Legacy discount_type code -> `discount_type` label.
pub fn discount_type(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "percent",
        2 => "fixed_amount",
        _ => return None,
    })
}

/// A legacy discount value as canonical two-decimal text: a percentage (0 < p <= 100,
/// numeric(5,2)) for `percent`, a dollar amount (> 0, numeric(12,2)) otherwise.
pub fn discount_value(text: &str, column: &str, kind: &str) -> Result<String, Fate> {
    let value = to_cents(text, column)?;
    if is_negative(&value) {
        return Err(Fate::reject(format!("negative {column} {value}")));
    }
    if value == "0.00" {
        return Err(Fate::reject(format!(
            "{column} is zero: a discount of nothing"
        )));
    }
    if kind == "percent" {
        if !fits(&value, 5, 2) || cents(&value) > 10_000 {
            return Err(Fate::reject(format!(
                "{column} {value} is a percentage above 100"
            )));
        }
    } else if !fits(&value, 12, 2) {
        return Err(Fate::reject(format!(
            "{column} {value} does not fit numeric(12,2)"
        )));
    }
    Ok(value)
}

/// Canonical non-negative two-decimal text that fits numeric(5,2) as integer hundredths.
fn cents(value: &str) -> i64 {
    value.replace('.', "").parse().unwrap_or(i64::MAX)
}

/// A legacy minimum order amount as canonical two-decimal text (>= 0, numeric(12,2)).
pub fn min_order_amount(text: &str) -> Result<String, Fate> {
    let value = to_cents(text, "min_order_amount")?;
    if is_negative(&value) {
        return Err(Fate::reject(format!("negative min_order_amount {value}")));
    }
    if !fits(&value, 12, 2) {
        return Err(Fate::reject(format!(
            "min_order_amount {value} does not fit numeric(12,2)"
        )));
    }
    Ok(value)
}

#[derive(Default)]
pub struct Offers;

impl Transform for Offers {
    type Source = LegacyOffers;
    const WRITES: &'static [Table] = &[OffersRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["products"];

    fn transform_row(&mut self, input: LegacyOffers) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let name = input.name.require()?;
        let code = input.discount_type.require()?;
        let kind = discount_type(code)
            .ok_or_else(|| Fate::reject(format!("unknown discount_type code {code}")))?;
        let value = discount_value(input.discount_value.require()?, "discount_value", kind)?;
        let min_order = match input.min_order_amount.get() {
            None => None,
            Some(text) => Some(min_order_amount(text)?),
        };
        let product = resolve_optional("products", input.product_id.get(), "product_id")?;
        let (percent_off, amount_off) = if kind == "percent" {
            (Some(value), None)
        } else {
            (None, Some(value))
        };
        Ok(vec![OffersRow {
            id: v::uuid(mint("offers", key)),
            legacy_id: v::int(key),
            product_id: product,
            name: v::text(name.trim()),
            description: v::opt_text(input.description.get().filter(|s| !s.trim().is_empty())),
            discount_type: v::text(kind),
            percent_off: v::opt(percent_off.map(v::numeric)),
            amount_off: v::opt(amount_off.map(v::numeric)),
            min_order_amount: v::opt(min_order.map(v::numeric)),
            starts_at: opt_timestamptz(input.starts_at.get()),
            ends_at: opt_timestamptz(input.ends_at.get()),
            is_active: v::boolean(input.is_active.get().unwrap_or(false)),
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Offers);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};
    use migrate_sdk::Value;

    fn offer(kind: i64, value: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("id", v::int(3)),
            ("product_id", v::int(7)),
            ("name", v::text(" Loyalty 2015 Q1 ")),
            (
                "description",
                v::text("Applies to Digital Setup.\nNot combinable."),
            ),
            ("discount_type", v::int(kind)),
            ("discount_value", v::numeric(value)),
            ("min_order_amount", v::numeric("343")),
            ("starts_at", Value::Timestamp("2015-03-18 11:41:33".into())),
            ("is_active", v::boolean(true)),
        ]
    }

    fn with(
        base: Vec<(&'static str, Value)>,
        changes: &[(&'static str, Value)],
    ) -> Result<Vec<TargetRow>, Fate> {
        let mut row = base;
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Offers>(&row)
    }

    #[test]
    fn migrates_offers() {
        migrated("products", &[7]);
        let rows = run::<Offers>(&offer(1, "15.5")).unwrap();
        let o = &rows[0];
        assert_eq!(get::<Offers>(o, "id"), &v::uuid(uuid("offers", 3)));
        assert_eq!(
            get::<Offers>(o, "product_id"),
            &v::uuid(uuid("products", 7))
        );
        assert_eq!(get::<Offers>(o, "name"), &v::text("Loyalty 2015 Q1"));
        assert_eq!(get::<Offers>(o, "discount_type"), &v::text("percent"));
        assert_eq!(get::<Offers>(o, "percent_off"), &v::numeric("15.50"));
        assert_eq!(get::<Offers>(o, "amount_off"), &Value::Null);
        assert_eq!(get::<Offers>(o, "min_order_amount"), &v::numeric("343.00"));
        assert_eq!(get::<Offers>(o, "ends_at"), &Value::Null);
        assert_eq!(get::<Offers>(o, "is_active"), &v::boolean(true));
        assert_eq!(
            get::<Offers>(o, "starts_at"),
            &Value::Timestamptz("2015-03-18 11:41:33 America/Chicago".into())
        );

        let fixed = with(
            offer(2, "116"),
            &[
                ("min_order_amount", Value::Null),
                ("product_id", Value::Null),
                ("is_active", Value::Null),
            ],
        )
        .unwrap();
        let f = &fixed[0];
        assert_eq!(get::<Offers>(f, "discount_type"), &v::text("fixed_amount"));
        assert_eq!(get::<Offers>(f, "percent_off"), &Value::Null);
        assert_eq!(get::<Offers>(f, "amount_off"), &v::numeric("116.00"));
        assert_eq!(get::<Offers>(f, "min_order_amount"), &Value::Null);
        assert_eq!(get::<Offers>(f, "product_id"), &Value::Null);
        assert_eq!(get::<Offers>(f, "is_active"), &v::boolean(false));
    }

    #[test]
    fn rejects() {
        migrated("products", &[7]);
        skipped_rows("products", &[8]);
        let reject =
            |kind: i64, value: &str, changes: &[(&'static str, Value)], what: &str| match with(
                offer(kind, value),
                changes,
            ) {
                Err(Fate::Reject(r)) => assert!(r.contains(what), "{r:?} lacks {what:?}"),
                other => panic!("expected a reject about {what}, got {other:?}"),
            };
        reject(1, "15.0012", &[], "more than 2 decimals");
        reject(1, "-22.00", &[], "negative discount_value");
        reject(2, "0", &[], "zero");
        reject(1, "100.01", &[], "above 100");
        reject(1, "250", &[], "above 100");
        reject(2, "10000000000", &[], "numeric(12,2)");
        reject(
            2,
            "10",
            &[("min_order_amount", v::numeric("1115.0012"))],
            "more than 2 decimals",
        );
        reject(
            2,
            "10",
            &[("min_order_amount", v::numeric("-1"))],
            "negative min_order_amount",
        );
        reject(3, "10", &[], "unknown discount_type code 3");
        reject(1, "10", &[("discount_type", Value::Null)], "discount_type");
        reject(
            1,
            "10",
            &[("discount_value", Value::Null)],
            "discount_value",
        );
        reject(1, "10", &[("name", v::text(""))], "name");
        reject(
            1,
            "10",
            &[("product_id", v::int(99))],
            "orphan: product_id=99",
        );
        let to_skipped = with(offer(1, "100"), &[("product_id", v::int(8))]).unwrap();
        assert_eq!(get::<Offers>(&to_skipped[0], "product_id"), &Value::Null);
        assert_eq!(
            get::<Offers>(&to_skipped[0], "percent_off"),
            &v::numeric("100.00")
        );
    }

    #[test]
    fn values() {
        assert_eq!(discount_type(1), Some("percent"));
        assert_eq!(discount_type(2), Some("fixed_amount"));
        assert_eq!(discount_type(0), None);
        assert_eq!(discount_value("30.0", "v", "percent").unwrap(), "30.00");
        assert_eq!(discount_value("100", "v", "percent").unwrap(), "100.00");
        assert_eq!(discount_value("0.01", "v", "percent").unwrap(), "0.01");
        assert!(discount_value("100.5", "v", "percent").is_err());
        assert!(discount_value("1000", "v", "percent").is_err());
        assert_eq!(
            discount_value("500.00", "v", "fixed_amount").unwrap(),
            "500.00"
        );
        assert_eq!(
            discount_value("1000", "v", "fixed_amount").unwrap(),
            "1000.00"
        );
        assert!(discount_value("0.00", "v", "fixed_amount").is_err());
        assert_eq!(min_order_amount("0").unwrap(), "0.00");
        assert_eq!(min_order_amount("1558.00").unwrap(), "1558.00");
        assert!(min_order_amount("abc").is_err());
    }
}
