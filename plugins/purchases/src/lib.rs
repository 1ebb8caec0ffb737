//! legacy `purchases` -> `public.payments` + `public.payment_allocations` (the order paid) +
//! `public.payment_refunds` (money returned) + `public.discount_redemptions` (the code
//! used), with the seeded `public.payment_methods`.
//!
//! Skips the payments of a skipped (soft-deleted) order. Rejects a payment whose `amount` is
//! NULL, not a decimal, negative, has sub-cent digits or does not fit numeric(12,2), whose
//! `status` is NULL or an unknown code, whose `refunded_cents` is negative or larger than
//! the amount, whose paying doctor was not migrated (orphan), or that is left with neither an
//! order nor a payer. Money is never rounded.
//!
//! A payment whose order was not migrated (missing in the legacy data, or quarantined) is
//! still money received: it migrates unallocated (no payment_allocations row) with the legacy
//! order id in `legacy_metadata`, e.g. {"order_id":123}. Likewise a discount code that was not
//! migrated gives no redemption and {"discount_id":7}, a method spelling the seed does not
//! know gives a NULL method and {"method":"..."}, and a currency that is not three letters a
//! NULL currency and {"currency":"..."}.

use lab_conventions::{currency, opt_timestamptz};
use migrate_sdk::json::Json;
use migrate_sdk::money::{cents_to_decimal, fits, is_negative, to_cents};
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `purchases`, in the order rows carry them (the key first).
    pub struct LegacyPurchases from "purchases" {
        id: Key,
        order_id: Int,
        doctor_id: Int,
        discount_id: Int,
        amount: Text,
        currency: Text,
        method: Text,
        status: Int,
        transaction_ref: Text,
        refunded_cents: Int,
        paid_at: Text,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `payments`.
    pub struct PaymentsRow into "payments" {
        id: Value,
        legacy_id: Value,
        doctor_id: Value,
        method_id: Value,
        status: Value,
        amount: Value,
        currency: Value,
        transaction_ref: Value,
        paid_at: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `payment_allocations`.
    pub struct PaymentAllocationsRow into "payment_allocations" {
        id: Value,
        payment_id: Value,
        order_id: Value,
        amount: Value,
    }
}

migrate_sdk::target! {
    /// A row of `payment_refunds`.
    pub struct PaymentRefundsRow into "payment_refunds" {
        id: Value,
        payment_id: Value,
        kind: Value,
        amount: Value,
    }
}

migrate_sdk::target! {
    /// A row of `discount_redemptions`.
    pub struct DiscountRedemptionsRow into "discount_redemptions" {
        id: Value,
        discount_id: Value,
        payment_id: Value,
        redeemed_at: Value,
    }
}

/// Legacy status code -> `payment_status` label.
pub fn payment_status(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "pending",
        1 => "completed",
        2 => "failed",
        3 => "refunded",
        4 => "charged_back",
        _ => return None,
    })
}

/// Legacy free-text method -> the id of the seeded `payment_methods` row
/// (schema/target-financial.sql); case and surrounding blanks do not matter.
pub fn payment_method_id(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "card" | "credit card" | "visa" => "f1a0c000-0002-4000-8000-000000000001",
        "check" => "f1a0c000-0002-4000-8000-000000000002",
        "ach" => "f1a0c000-0002-4000-8000-000000000003",
        "wire" => "f1a0c000-0002-4000-8000-000000000004",
        "cash" => "f1a0c000-0002-4000-8000-000000000005",
        _ => return None,
    })
}

/// The payment amount as canonical decimal text and in cents, or why it cannot migrate.
pub fn payment_amount(text: &str) -> Result<(String, i64), Fate> {
    let amount = to_cents(text, "amount")?;
    if is_negative(&amount) {
        return Err(Fate::reject(format!("negative amount {amount}")));
    }
    if !fits(&amount, 12, 2) {
        return Err(Fate::reject(format!(
            "amount {amount} does not fit numeric(12,2)"
        )));
    }
    // Canonical, non-negative and at most 12 digits: the digits without the point are cents.
    let cents = amount.replace('.', "").parse().expect("canonical amount");
    Ok((amount, cents))
}

/// The refund of a payment: None when nothing was returned (NULL or 0 cents), else the
/// amount and its kind (a chargeback when the payment was charged back).
pub fn refund(
    refunded_cents: Option<i64>,
    amount_cents: i64,
    status: &str,
) -> Result<Option<(String, &'static str)>, Fate> {
    match refunded_cents {
        None | Some(0) => Ok(None),
        Some(c) if c < 0 => Err(Fate::reject(format!("negative refunded_cents {c}"))),
        Some(c) if c > amount_cents => Err(Fate::reject(format!(
            "refunded_cents {c} is more than the payment ({amount_cents} cents)"
        ))),
        Some(c) => {
            let kind = if status == "charged_back" {
                "chargeback"
            } else {
                "refund"
            };
            Ok(Some((cents_to_decimal(c), kind)))
        }
    }
}

/// The migrated row of an optional link, or None when it was not migrated (any reason).
fn found(entity: &str, legacy_id: i64, column: &str) -> Option<String> {
    resolve(entity, legacy_id, column).ok()
}

#[derive(Default)]
pub struct Purchases;

impl Transform for Purchases {
    type Source = LegacyPurchases;
    const WRITES: &'static [Table] = &[
        PaymentsRow::TABLE,
        PaymentAllocationsRow::TABLE,
        PaymentRefundsRow::TABLE,
        DiscountRedemptionsRow::TABLE,
    ];
    const RESOLVES: &'static [&'static str] = &["orders", "doctors", "discounts"];

    fn transform_row(&mut self, input: LegacyPurchases) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let mut kept: Vec<(&str, Json)> = Vec::new();
        let order = match input.order_id.get() {
            None => None,
            Some(legacy) => match resolve("orders", legacy, "order_id") {
                Ok(id) => Some(id),
                Err(Fate::Skip(reason)) => return Err(Fate::Skip(reason)),
                Err(Fate::Reject(_)) => {
                    kept.push(("order_id", Json::Number(legacy.to_string())));
                    None
                }
            },
        };
        let (amount, amount_cents) = payment_amount(input.amount.require()?)?;
        let code = input.status.require()?;
        let status = payment_status(code)
            .ok_or_else(|| Fate::reject(format!("unknown payment status code {code}")))?;
        let refund = refund(input.refunded_cents.get(), amount_cents, status)?;
        let doctor = resolve_optional("doctors", input.doctor_id.get(), "doctor_id")?;
        if order.is_none() && doctor == Value::Null {
            return Err(Fate::reject(
                "the payment belongs to no migrated order and no migrated doctor",
            ));
        }
        let discount = input.discount_id.get().and_then(|legacy| {
            let id = found("discounts", legacy, "discount_id");
            if id.is_none() {
                kept.push(("discount_id", Json::Number(legacy.to_string())));
            }
            id
        });
        let method = input.method.trimmed().and_then(|text| {
            let id = payment_method_id(text);
            if id.is_none() {
                kept.push(("method", Json::string(text)));
            }
            id
        });
        let currency = currency(input.currency.get()).unwrap_or_else(|raw| {
            kept.push(("currency", Json::String(raw)));
            None
        });
        let created_at = opt_timestamptz(input.created_at.get());

        let id = mint("purchases", key);
        let mut rows = vec![PaymentsRow {
            id: v::uuid(id.clone()),
            legacy_id: v::int(key),
            doctor_id: doctor,
            method_id: v::opt(method.map(v::uuid)),
            status: v::text(status),
            amount: v::numeric(amount.clone()),
            currency: v::opt(currency.map(v::text)),
            transaction_ref: v::opt_text(input.transaction_ref.trimmed()),
            paid_at: opt_timestamptz(input.paid_at.get()),
            legacy_metadata: migrate_sdk::json::metadata(kept),
            created_at: created_at.clone(),
        }
        .into()];
        if let Some(order) = order {
            rows.push(
                PaymentAllocationsRow {
                    id: v::uuid(mint("payment_allocations", key)),
                    payment_id: v::uuid(id.clone()),
                    order_id: v::uuid(order),
                    amount: v::numeric(amount),
                }
                .into(),
            );
        }
        if let Some((refunded, kind)) = refund {
            rows.push(
                PaymentRefundsRow {
                    id: v::uuid(mint("payment_refunds", key)),
                    payment_id: v::uuid(id.clone()),
                    kind: v::text(kind),
                    amount: v::numeric(refunded),
                }
                .into(),
            );
        }
        if let Some(discount) = discount {
            rows.push(
                DiscountRedemptionsRow {
                    id: v::uuid(mint("discount_redemptions", key)),
                    discount_id: v::uuid(discount),
                    payment_id: v::uuid(id),
                    redeemed_at: created_at,
                }
                .into(),
            );
        }
        Ok(rows)
    }
}

migrate_sdk::plugin!(Purchases);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn purchase(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(5)),
            ("order_id", v::int(3)),
            ("doctor_id", v::int(227)),
            ("discount_id", v::int(9)),
            ("amount", v::numeric("429.1")),
            ("currency", v::text("usd")),
            ("method", v::text(" Credit Card")),
            ("status", v::int(4)),
            ("transaction_ref", v::text("ch_oP26tGpNplUfPE21uWUvPkwO")),
            ("refunded_cents", v::int(42910)),
            ("paid_at", Value::Timestamp("2015-02-20 13:24:54".into())),
            ("created_at", Value::Timestamp("2015-02-18 22:14:30".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Purchases>(&row)
    }

    fn setup() {
        migrated("orders", &[3]);
        migrated("doctors", &[227]);
        migrated("discounts", &[9]);
        skipped_rows("orders", &[4]);
        skipped_rows("doctors", &[228]);
        skipped_rows("discounts", &[10]);
    }

    #[test]
    fn migrates_a_payment_with_its_split_rows() {
        setup();
        let rows = purchase(&[]).unwrap();
        let tables: Vec<_> = rows.iter().map(|r| r.table.as_str()).collect();
        assert_eq!(
            tables,
            [
                "payments",
                "payment_allocations",
                "payment_refunds",
                "discount_redemptions"
            ]
        );
        let p = &rows[0];
        assert_eq!(get::<Purchases>(p, "id"), &v::uuid(uuid("purchases", 5)));
        assert_eq!(get::<Purchases>(p, "legacy_id"), &v::int(5));
        assert_eq!(
            get::<Purchases>(p, "doctor_id"),
            &v::uuid(uuid("doctors", 227))
        );
        assert_eq!(
            get::<Purchases>(p, "method_id"),
            &v::uuid("f1a0c000-0002-4000-8000-000000000001")
        );
        assert_eq!(get::<Purchases>(p, "status"), &v::text("charged_back"));
        assert_eq!(get::<Purchases>(p, "amount"), &v::numeric("429.10"));
        assert_eq!(get::<Purchases>(p, "currency"), &v::text("USD"));
        assert_eq!(get::<Purchases>(p, "legacy_metadata"), &Value::Null);
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("payment_allocations", 5)),
                v::uuid(uuid("purchases", 5)),
                v::uuid(uuid("orders", 3)),
                v::numeric("429.10"),
            ]
        );
        assert_eq!(
            rows[2].values,
            vec![
                v::uuid(uuid("payment_refunds", 5)),
                v::uuid(uuid("purchases", 5)),
                v::text("chargeback"),
                v::numeric("429.10"),
            ]
        );
        assert_eq!(
            rows[3].values,
            vec![
                v::uuid(uuid("discount_redemptions", 5)),
                v::uuid(uuid("discounts", 9)),
                v::uuid(uuid("purchases", 5)),
                Value::Timestamptz("2015-02-18 22:14:30 America/Chicago".into()),
            ]
        );

        let plain = purchase(&[
            ("discount_id", Value::Null),
            ("refunded_cents", v::int(0)),
            ("status", v::int(1)),
            ("method", Value::Null),
            ("currency", Value::Null),
        ])
        .unwrap();
        assert_eq!(plain.len(), 2);
        assert_eq!(get::<Purchases>(&plain[0], "method_id"), &Value::Null);
        assert_eq!(get::<Purchases>(&plain[0], "currency"), &Value::Null);
        assert_eq!(get::<Purchases>(&plain[0], "status"), &v::text("completed"));
    }

    #[test]
    fn keeps_unallocated_payments_and_odd_values() {
        setup();
        let rows = purchase(&[
            ("order_id", v::int(99)),
            ("discount_id", v::int(10)),
            ("method", v::text("bitcoin")),
            ("currency", v::text("US$")),
            ("refunded_cents", Value::Null),
        ])
        .unwrap();
        assert_eq!(rows.len(), 1, "no allocation, refund or redemption");
        assert_eq!(get::<Purchases>(&rows[0], "method_id"), &Value::Null);
        assert_eq!(get::<Purchases>(&rows[0], "currency"), &Value::Null);
        assert_eq!(
            get::<Purchases>(&rows[0], "legacy_metadata"),
            &Value::Json(
                r#"{"order_id":99,"discount_id":10,"method":"bitcoin","currency":"US$"}"#.into()
            )
        );
        let no_order =
            purchase(&[("order_id", Value::Null), ("discount_id", Value::Null)]).unwrap();
        assert_eq!(no_order.len(), 2, "payment and refund");
        assert_eq!(
            get::<Purchases>(&no_order[0], "legacy_metadata"),
            &Value::Null
        );
    }

    #[test]
    fn skips_and_rejects() {
        setup();
        assert!(matches!(
            purchase(&[("order_id", v::int(4))]),
            Err(Fate::Skip(r)) if r.contains("order_id=4")
        ));
        let rejected = |changes: &[(&'static str, Value)], what: &str| match purchase(changes) {
            Err(Fate::Reject(r)) => assert!(r.contains(what), "{r:?} lacks {what:?}"),
            other => panic!("expected a reject about {what}, got {other:?}"),
        };
        rejected(
            &[("amount", v::numeric("1234.567"))],
            "more than 2 decimals",
        );
        rejected(&[("amount", v::numeric("99.9912"))], "more than 2 decimals");
        rejected(&[("amount", v::numeric("-429.10"))], "negative amount");
        rejected(&[("amount", Value::Null)], "amount");
        rejected(&[("amount", v::numeric("10000000000"))], "numeric(12,2)");
        rejected(&[("status", v::int(7))], "unknown payment status code 7");
        rejected(&[("status", Value::Null)], "status");
        rejected(&[("refunded_cents", v::int(-1))], "negative refunded_cents");
        rejected(
            &[("refunded_cents", v::int(42911))],
            "more than the payment",
        );
        rejected(&[("doctor_id", v::int(99))], "orphan: doctor_id=99");
        rejected(
            &[("order_id", v::int(99)), ("doctor_id", v::int(228))],
            "no migrated order and no migrated doctor",
        );
        rejected(
            &[("order_id", Value::Null), ("doctor_id", Value::Null)],
            "no migrated order",
        );
        // A soft-deleted payer is only a lost link when the order is there.
        let rows = purchase(&[("doctor_id", v::int(228))]).unwrap();
        assert_eq!(get::<Purchases>(&rows[0], "doctor_id"), &Value::Null);
    }

    #[test]
    fn codes() {
        let all: Vec<_> = (0..=4).map(|c| payment_status(c).unwrap()).collect();
        assert_eq!(
            all,
            ["pending", "completed", "failed", "refunded", "charged_back"]
        );
        assert_eq!(payment_status(5), None);
        assert_eq!(payment_status(-1), None);
        for (text, code) in [
            ("card", 1),
            ("Credit Card", 1),
            ("VISA", 1),
            ("check", 2),
            ("Check ", 2),
            ("ACH", 3),
            ("wire", 4),
            ("cash", 5),
        ] {
            let expected = format!("f1a0c000-0002-4000-8000-00000000000{code}");
            assert_eq!(payment_method_id(text), Some(expected.as_str()), "{text}");
        }
        assert_eq!(payment_method_id("bitcoin"), None);
    }

    #[test]
    fn amounts_and_refunds() {
        assert_eq!(
            payment_amount("1200").unwrap(),
            ("1200.00".to_string(), 120_000)
        );
        assert_eq!(payment_amount("0.5").unwrap(), ("0.50".to_string(), 50));
        assert_eq!(
            payment_amount("4505.65").unwrap(),
            ("4505.65".to_string(), 450_565)
        );
        assert!(payment_amount("NaN").is_err());
        assert_eq!(refund(None, 100, "refunded"), Ok(None));
        assert_eq!(refund(Some(0), 100, "completed"), Ok(None));
        assert_eq!(
            refund(Some(100), 100, "refunded"),
            Ok(Some(("1.00".into(), "refund")))
        );
        assert_eq!(
            refund(Some(5), 100, "charged_back"),
            Ok(Some(("0.05".into(), "chargeback")))
        );
        assert!(refund(Some(101), 100, "refunded").is_err());
        assert!(refund(Some(-1), 100, "refunded").is_err());
    }

    #[test]
    fn currencies() {
        assert_eq!(currency(Some("usd")), Ok(Some("USD".into())));
        assert_eq!(currency(Some(" ")), Ok(None));
        assert_eq!(currency(None), Ok(None));
        assert_eq!(currency(Some("US")), Err("US".into()));
    }
}
