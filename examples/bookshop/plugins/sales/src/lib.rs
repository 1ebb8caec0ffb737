//! legacy shop."Sales" -> public.sales, in Rust.
//!
//! A table partitioned by month and keyed by ("SoldOn", "SaleNo"): the runner reads it
//! through its parent, in key order. The new table keeps that key. A sale follows its book
//! and its customer alike (skipped with a skipped one, rejected when it was never migrated:
//! the customers are keyed by a uuid, resolved like any key); a walk-in has no customer.

use migrate_sdk::{resolve, Date, Fate, Numeric, Table, TargetRow, Transform, Uuid};

migrate_sdk::source! {
    /// What the plugin reads from shop."Sales": the two key columns first.
    pub struct LegacySale from "Sales" {
        sold_on: Text as "SoldOn",
        sale_no: Int as "SaleNo",
        book_id: Int as "BookId",
        customer_id: Text as "CustomerId",
        quantity: Int as "Quantity",
        amount: Text as "Amount",
    }
}

migrate_sdk::target! {
    /// One row of public.sales.
    pub struct Sale into "sales" {
        sold_on: Date,
        sale_no: i64,
        book_id: Uuid,
        customer_id: Option<Uuid>,
        quantity: i64,
        amount: Numeric,
    }
}

#[derive(Default)]
pub struct Sales;

impl Transform for Sales {
    type Source = LegacySale;
    const WRITES: &'static [Table] = &[Sale::TABLE];
    const RESOLVES: &'static [&'static str] = &["Books", "Customers"];

    fn transform_row(&mut self, row: LegacySale) -> Result<Vec<TargetRow>, Fate> {
        let book = resolve("Books", row.book_id.require()?, "BookId")?;
        let customer = match row.customer_id.get() {
            None => None,
            Some(c) => Some(Uuid(resolve("Customers", Uuid(c.to_string()), "CustomerId")?)),
        };
        Ok(vec![Sale {
            sold_on: Date(row.sold_on.require()?.to_string()),
            sale_no: row.sale_no.require()?,
            book_id: Uuid(book),
            customer_id: customer,
            quantity: row.quantity.require()?,
            amount: Numeric(row.amount.require()?.to_string()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Sales);
