//! legacy `orders` -> `public.orders` + `public.order_status_history`.
//!
//! Skips soft-deleted orders (`is_deleted`). Rejects an order without a patient or an order
//! number, whose patient was not migrated (orphan; a missing doctor or office unlinks to
//! NULL with the old id kept in `legacy_metadata`), whose status is NULL
//! or an unknown code, whose total is NULL, not a decimal, negative, has sub-cent digits or
//! does not fit numeric(12,2), or whose currency is not three
//! letters. `status_history` (JSON text) becomes one history row per entry; when it is not
//! the expected shape the order still migrates, with no history rows and the raw text kept
//! in `legacy_metadata` as {"status_history": "<raw>"}.

use lab_conventions::{currency, local_to_timestamptz, opt_timestamptz, skip_if_flagged_deleted};
use migrate_sdk::json::{self, Json};
use migrate_sdk::money::{cents_to_decimal, fits, is_negative, to_cents};
use migrate_sdk::time::parse_local_timestamp;
use migrate_sdk::{mint, resolve, resolve_or_unlink, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `orders`, in the order rows carry them (the key first).
    pub struct LegacyOrders from "orders" {
        id: Key,
        patient_id: Int,
        doctor_id: Int,
        office_id: Int,
        order_number: Text,
        status: Int,
        total_amount: Text,
        amount_paid_cents: Int,
        currency: Text,
        status_history: Text,
        notes: Text,
        submitted_at: Text,
        shipped_at: Text,
        is_deleted: Bool,
        created_at: Text,
        updated_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `orders`.
    pub struct OrdersRow into "orders" {
        id: Value,
        legacy_id: Value,
        patient_id: Value,
        doctor_id: Value,
        office_id: Value,
        order_number: Value,
        status: Value,
        total_amount: Value,
        amount_paid: Value,
        currency: Value,
        notes: Value,
        legacy_metadata: Value,
        submitted_at: Value,
        shipped_at: Value,
        created_at: Value,
        updated_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `order_status_history`.
    pub struct OrderStatusHistoryRow into "order_status_history" {
        id: Value,
        order_id: Value,
        position: Value,
        status: Value,
        changed_at: Value,
    }
}

/// Legacy status code -> `order_status` label.
pub fn order_status(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "draft",
        1 => "submitted",
        2 => "in_production",
        3 => "shipped",
        4 => "delivered",
        5 => "cancelled",
        9 => "on_hold",
        _ => return None,
    })
}

/// One entry of a legacy status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub status: &'static str,
    /// Local wall-clock time, canonical `YYYY-MM-DD HH:MM:SS[.f]`.
    pub at: String,
}

/// Parses legacy `status_history` text of the shape
/// `[{"status": 1, "at": "YYYY-MM-DD HH:MM:SS"}, ...]` (other keys ignored). Any other
/// shape, an unknown status code or an impossible time is an error saying what was wrong.
pub fn parse_history(text: &str) -> Result<Vec<HistoryEntry>, String> {
    let value = json::parse(text)?;
    let items = value.as_array().ok_or("not a JSON array")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if !matches!(item, Json::Object(_)) {
                return Err(format!("entry {i} is not an object"));
            }
            let code = item
                .get("status")
                .and_then(Json::as_i64)
                .ok_or(format!("entry {i}: no integer status"))?;
            let status =
                order_status(code).ok_or(format!("entry {i}: unknown status code {code}"))?;
            let at = item
                .get("at")
                .and_then(Json::as_str)
                .ok_or(format!("entry {i}: no \"at\" text"))?;
            let at = parse_local_timestamp(at)
                .ok_or(format!("entry {i}: \"at\" is not a time: {at:?}"))?;
            Ok(HistoryEntry { status, at })
        })
        .collect()
}

/// The order total as canonical decimal text, or the reason it cannot be migrated.
pub fn total_amount(text: &str) -> Result<String, Fate> {
    let total = to_cents(text, "total_amount")?;
    if is_negative(&total) {
        return Err(Fate::reject(format!("negative total_amount {total}")));
    }
    if !fits(&total, 12, 2) {
        return Err(Fate::reject(format!(
            "total_amount {total} does not fit numeric(12,2)"
        )));
    }
    Ok(total)
}

#[derive(Default)]
pub struct Orders;

impl Transform for Orders {
    type Source = LegacyOrders;
    const WRITES: &'static [Table] = &[OrdersRow::TABLE, OrderStatusHistoryRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["patients", "doctors", "offices"];

    fn transform_row(&mut self, input: LegacyOrders) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_flagged_deleted(&input.is_deleted, "order")?;
        let order_number = input.order_number.require()?;
        let code = input.status.require()?;
        let status = order_status(code)
            .ok_or_else(|| Fate::reject(format!("unknown order status code {code}")))?;
        let total = total_amount(input.total_amount.require()?)?;
        // NULL paid cents means "not recorded", which is not "paid nothing": it stays NULL.
        let paid = input
            .amount_paid_cents
            .get()
            .map(|cents| v::numeric(cents_to_decimal(cents)));
        let currency = currency(input.currency.get()).map_err(|raw| {
            Fate::reject(format!(
                "currency {:?} is not a three-letter code",
                raw.trim()
            ))
        })?;
        let patient = resolve("patients", input.patient_id.require()?, "patient_id")?;
        // The order is kept when its doctor or office is gone; the old ids are kept too.
        let mut kept: Vec<(&str, Json)> = Vec::new();
        let (doctor, dangling_doctor) =
            resolve_or_unlink("doctors", input.doctor_id.get(), "doctor_id");
        let (office, dangling_office) =
            resolve_or_unlink("offices", input.office_id.get(), "office_id");
        if let Some(id) = dangling_doctor {
            kept.push(("doctor_id", Json::string(id.to_string())));
        }
        if let Some(id) = dangling_office {
            kept.push(("office_id", Json::string(id.to_string())));
        }

        let history = match input.status_history.get() {
            None => Vec::new(),
            Some(text) if text.trim().is_empty() => Vec::new(),
            Some(text) => parse_history(text).unwrap_or_else(|_| {
                kept.push(("status_history", Json::string(text)));
                Vec::new()
            }),
        };
        let metadata = (!kept.is_empty()).then(|| Json::object(kept).to_string());

        let id = mint("orders", key);
        let mut rows = vec![OrdersRow {
            id: v::uuid(id.clone()),
            legacy_id: v::int(key),
            patient_id: v::uuid(patient),
            doctor_id: doctor,
            office_id: office,
            order_number: v::text(order_number),
            status: v::text(status),
            total_amount: v::numeric(total),
            amount_paid: v::opt(paid),
            currency: v::opt(currency.map(v::text)),
            notes: v::opt_text(input.notes.get().filter(|s| !s.trim().is_empty())),
            legacy_metadata: metadata.map_or(Value::Null, Value::Json),
            submitted_at: opt_timestamptz(input.submitted_at.get()),
            shipped_at: opt_timestamptz(input.shipped_at.get()),
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
        }
        .into()];
        for (i, entry) in history.into_iter().enumerate() {
            let position = i as i64 + 1;
            rows.push(
                OrderStatusHistoryRow {
                    id: v::uuid(mint(&format!("order_status_history:{position}"), key)),
                    order_id: v::uuid(id.clone()),
                    position: v::int(position),
                    status: v::text(entry.status),
                    changed_at: Value::Timestamptz(local_to_timestamptz(&entry.at)),
                }
                .into(),
            );
        }
        Ok(rows)
    }
}

migrate_sdk::plugin!(Orders);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, uuid};

    fn order(id: i64, history: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("id", v::int(id)),
            ("patient_id", v::int(4)),
            ("doctor_id", v::int(2)),
            ("order_number", v::text("A-100")),
            ("status", v::int(3)),
            ("total_amount", v::numeric("1234.5")),
            ("amount_paid_cents", v::int(100050)),
            ("currency", v::text("usd")),
            ("status_history", v::text(history)),
            ("is_deleted", v::boolean(false)),
            (
                "submitted_at",
                Value::Timestamp("2019-03-07 14:05:00".into()),
            ),
        ]
    }

    #[test]
    fn migrates_an_order_with_history() {
        migrated("patients", &[4]);
        migrated("doctors", &[2]);
        let rows = run::<Orders>(&order(
            8,
            r#"[{"status":1,"at":"2019-03-07 14:05:00"},{"status":3,"at":"2019-03-09 10:00:00"}]"#,
        ))
        .unwrap();
        assert_eq!(rows.len(), 3);
        let o = &rows[0];
        assert_eq!(o.table, "orders");
        assert_eq!(get::<Orders>(o, "id"), &v::uuid(uuid("orders", 8)));
        assert_eq!(
            get::<Orders>(o, "patient_id"),
            &v::uuid(uuid("patients", 4))
        );
        assert_eq!(get::<Orders>(o, "doctor_id"), &v::uuid(uuid("doctors", 2)));
        assert_eq!(get::<Orders>(o, "office_id"), &Value::Null);
        assert_eq!(get::<Orders>(o, "status"), &v::text("shipped"));
        assert_eq!(get::<Orders>(o, "total_amount"), &v::numeric("1234.50"));
        assert_eq!(get::<Orders>(o, "amount_paid"), &v::numeric("1000.50"));
        assert_eq!(get::<Orders>(o, "currency"), &v::text("USD"));
        assert_eq!(get::<Orders>(o, "legacy_metadata"), &Value::Null);
        assert_eq!(
            get::<Orders>(o, "submitted_at"),
            &Value::Timestamptz("2019-03-07 14:05:00 America/Chicago".into())
        );
        assert_eq!(
            rows[2].values,
            vec![
                v::uuid(uuid("order_status_history:2", 8)),
                v::uuid(uuid("orders", 8)),
                v::int(2),
                v::text("shipped"),
                Value::Timestamptz("2019-03-09 10:00:00 America/Chicago".into()),
            ]
        );
        assert_eq!(
            rows[1].values[0],
            v::uuid(uuid("order_status_history:1", 8))
        );
    }

    #[test]
    fn keeps_malformed_history() {
        migrated("patients", &[4]);
        migrated("doctors", &[2]);
        let raw = r#"[{"status":1,"at":"2019-03-07 14:05:00"},"#;
        let rows = run::<Orders>(&order(9, raw)).unwrap();
        assert_eq!(rows.len(), 1);
        let metadata = get::<Orders>(&rows[0], "legacy_metadata");
        assert_eq!(
            metadata,
            &Value::Json(
                r#"{"status_history":"[{\"status\":1,\"at\":\"2019-03-07 14:05:00\"},"}"#.into()
            )
        );
        let Value::Json(text) = metadata else {
            unreachable!()
        };
        assert_eq!(
            json::parse(text)
                .unwrap()
                .get("status_history")
                .unwrap()
                .as_str(),
            Some(raw)
        );
        let blank = run::<Orders>(&order(10, "  ")).unwrap();
        assert_eq!(blank.len(), 1);
        assert_eq!(get::<Orders>(&blank[0], "legacy_metadata"), &Value::Null);
    }

    #[test]
    fn skips_and_rejects() {
        migrated("patients", &[4]);
        migrated("doctors", &[2]);
        let with = |changes: &[(&'static str, Value)]| {
            let mut row = order(1, "[]");
            for (name, value) in changes {
                row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
            }
            run::<Orders>(&row)
        };
        assert!(with(&[]).is_ok());
        assert!(matches!(
            with(&[("is_deleted", v::boolean(true))]),
            Err(Fate::Skip(_))
        ));
        assert!(
            matches!(with(&[("order_number", v::text(" "))]), Err(Fate::Reject(r)) if r.contains("order_number"))
        );
        assert!(
            matches!(with(&[("status", Value::Null)]), Err(Fate::Reject(r)) if r.contains("status"))
        );
        assert_eq!(
            with(&[("status", v::int(7))]),
            Err(Fate::reject("unknown order status code 7"))
        );
        assert!(
            matches!(with(&[("total_amount", v::numeric("-10"))]), Err(Fate::Reject(r)) if r.contains("negative"))
        );
        assert!(
            matches!(with(&[("total_amount", v::numeric("99.999"))]), Err(Fate::Reject(r)) if r.contains("decimals"))
        );
        assert!(
            matches!(with(&[("total_amount", Value::Null)]), Err(Fate::Reject(r)) if r.contains("total_amount"))
        );
        let unpaid = with(&[("amount_paid_cents", Value::Null)]).unwrap();
        assert_eq!(get::<Orders>(&unpaid[0], "amount_paid"), &Value::Null);
        assert!(
            matches!(with(&[("currency", v::text("US$"))]), Err(Fate::Reject(r)) if r.contains("currency"))
        );
        assert!(
            matches!(with(&[("patient_id", Value::Null)]), Err(Fate::Reject(r)) if r.contains("patient_id"))
        );
        assert_eq!(with(&[("patient_id", v::int(5))]), Err(Fate::reject("orphan: patient_id=5 has no migrated row in patients (missing in the legacy data, or quarantined)")));
        // A dangling doctor unlinks, and the old id is kept in legacy_metadata.
        let unlinked = with(&[("doctor_id", v::int(3))]).unwrap();
        assert_eq!(get::<Orders>(&unlinked[0], "doctor_id"), &Value::Null);
        assert_eq!(
            get::<Orders>(&unlinked[0], "legacy_metadata"),
            &Value::Json(r#"{"doctor_id":"3"}"#.into())
        );
        let no_doctor = with(&[("doctor_id", Value::Null)]).unwrap();
        assert_eq!(get::<Orders>(&no_doctor[0], "doctor_id"), &Value::Null);
    }

    #[test]
    fn statuses() {
        let all: Vec<_> = [0, 1, 2, 3, 4, 5, 9]
            .into_iter()
            .map(|c| order_status(c).unwrap())
            .collect();
        assert_eq!(
            all,
            [
                "draft",
                "submitted",
                "in_production",
                "shipped",
                "delivered",
                "cancelled",
                "on_hold"
            ]
        );
        for unknown in [-1, 6, 7, 8, 10] {
            assert_eq!(order_status(unknown), None);
        }
    }

    #[test]
    fn history() {
        let h = parse_history(r#"[{"status":1,"at":"2019-03-07 14:05:00"}, {"at": "2019-03-08 09:00:00.5", "status": 9, "by": "x"}]"#)
            .unwrap();
        assert_eq!(
            h,
            vec![
                HistoryEntry {
                    status: "submitted",
                    at: "2019-03-07 14:05:00".into()
                },
                HistoryEntry {
                    status: "on_hold",
                    at: "2019-03-08 09:00:00.5".into()
                },
            ]
        );
        assert_eq!(parse_history("[]").unwrap(), vec![]);
        for bad in [
            "{\"status\":1}",
            "[{\"status\":1,\"at\":\"2019-03-07 14:05:00\"",
            "[{\"status\":7,\"at\":\"2019-03-07 14:05:00\"}]",
            "[{\"status\":\"1\",\"at\":\"2019-03-07 14:05:00\"}]",
            "[{\"status\":1.5,\"at\":\"2019-03-07 14:05:00\"}]",
            "[{\"status\":1}]",
            "[{\"status\":1,\"at\":\"2019-02-30 14:05:00\"}]",
            "[{\"status\":1,\"at\":\"yesterday\"}]",
            "[1]",
            "not json",
            "[{'status':1,'at':'2019-03-07 14:05:00'}]",
        ] {
            assert!(parse_history(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn totals() {
        assert_eq!(total_amount("1234.5").unwrap(), "1234.50");
        assert_eq!(total_amount("0").unwrap(), "0.00");
        assert_eq!(total_amount("9999999999.99").unwrap(), "9999999999.99");
        assert!(matches!(total_amount("-10"), Err(Fate::Reject(r)) if r.contains("negative")));
        assert!(
            matches!(total_amount("99.999"), Err(Fate::Reject(r)) if r.contains("more than 2 decimals"))
        );
        assert!(
            matches!(total_amount("10000000000"), Err(Fate::Reject(r)) if r.contains("numeric(12,2)"))
        );
        assert!(total_amount("NaN").is_err());
    }

    #[test]
    fn currencies() {
        assert_eq!(currency(Some("usd")), Ok(Some("USD".to_string())));
        assert_eq!(currency(Some("EUR")), Ok(Some("EUR".to_string())));
        assert_eq!(currency(Some("   ")), Ok(None));
        assert_eq!(currency(None), Ok(None));
        assert!(currency(Some("US")).is_err());
        assert!(currency(Some("€")).is_err());
    }
}
