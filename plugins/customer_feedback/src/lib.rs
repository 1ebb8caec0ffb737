//! legacy `customer_feedback` -> `public.customer_feedback` + `public.feedback_ratings` (one
//! row per score given), with the seeded `public.feedback_categories`.
//!
//! Skips the feedback of a skipped (soft-deleted) order. Rejects a feedback without an order
//! or whose order was not migrated (orphan). `rating` 1..5 and `nps` 0..10 become
//! feedback_ratings rows; a rating of 0 or NULL (the old form's "no answer") and a NULL nps
//! give none. A score out of its range and a category spelling the seed does not know are
//! left out (NULL) and kept raw in `legacy_metadata`, e.g. {"rating":9,"category":"Price"}.
//! The legacy `doctor_id` (a copy of the order's doctor) is not read. A NULL `is_resolved`
//! is written as "resolved_at is set".

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `customer_feedback`, in the order rows carry them (the key first).
    pub struct LegacyCustomerFeedback from "customer_feedback" {
        id: Key,
        order_id: Int,
        rating: Int,
        nps: Int,
        category: Text,
        comment: Text,
        is_resolved: Bool,
        resolved_at: Text,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `customer_feedback`.
    pub struct CustomerFeedbackRow into "customer_feedback" {
        id: Value,
        legacy_id: Value,
        order_id: Value,
        category_id: Value,
        comment: Value,
        is_resolved: Value,
        resolved_at: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `feedback_ratings`.
    pub struct FeedbackRatingsRow into "feedback_ratings" {
        id: Value,
        feedback_id: Value,
        kind: Value,
        score: Value,
    }
}

/// Legacy free-text category -> the id of the seeded `feedback_categories` row
/// (schema/target-financial.sql); case and surrounding blanks do not matter.
pub fn category_id(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "fit" => "f1a0c000-0003-4000-8000-000000000001",
        "shipping" => "f1a0c000-0003-4000-8000-000000000002",
        "turnaround" => "f1a0c000-0003-4000-8000-000000000003",
        "communication" => "f1a0c000-0003-4000-8000-000000000004",
        "billing" => "f1a0c000-0003-4000-8000-000000000005",
        "other" => "f1a0c000-0003-4000-8000-000000000006",
        _ => return None,
    })
}

/// A legacy satisfaction rating: Ok(None) for "no answer" (NULL or 0), Ok(Some) for 1..5,
/// Err(raw) otherwise.
pub fn rating(raw: Option<i64>) -> Result<Option<i64>, i64> {
    match raw {
        None | Some(0) => Ok(None),
        Some(r @ 1..=5) => Ok(Some(r)),
        Some(r) => Err(r),
    }
}

/// A legacy net promoter score: Ok(None) for NULL, Ok(Some) for 0..10, Err(raw) otherwise.
pub fn nps(raw: Option<i64>) -> Result<Option<i64>, i64> {
    match raw {
        None => Ok(None),
        Some(n @ 0..=10) => Ok(Some(n)),
        Some(n) => Err(n),
    }
}

#[derive(Default)]
pub struct CustomerFeedback;

impl Transform for CustomerFeedback {
    type Source = LegacyCustomerFeedback;
    const WRITES: &'static [Table] = &[CustomerFeedbackRow::TABLE, FeedbackRatingsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["orders"];

    fn transform_row(&mut self, input: LegacyCustomerFeedback) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let order = resolve("orders", input.order_id.require()?, "order_id")?;

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let satisfaction = rating(input.rating.get()).unwrap_or_else(|raw| {
            kept.push(("rating", Json::Number(raw.to_string())));
            None
        });
        let nps = nps(input.nps.get()).unwrap_or_else(|raw| {
            kept.push(("nps", Json::Number(raw.to_string())));
            None
        });
        let category = input.category.trimmed().and_then(|text| {
            let id = category_id(text);
            if id.is_none() {
                kept.push(("category", Json::string(text)));
            }
            id
        });
        let resolved_at = opt_timestamptz(input.resolved_at.get());
        let is_resolved = input
            .is_resolved
            .get()
            .unwrap_or(resolved_at != Value::Null);

        let id = mint("customer_feedback", key);
        let mut rows = vec![CustomerFeedbackRow {
            id: v::uuid(id.clone()),
            legacy_id: v::int(key),
            order_id: v::uuid(order),
            category_id: v::opt(category.map(v::uuid)),
            comment: v::opt_text(input.comment.get().filter(|s| !s.trim().is_empty())),
            is_resolved: v::boolean(is_resolved),
            resolved_at,
            legacy_metadata: migrate_sdk::json::metadata(kept),
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into()];
        for (n, kind, score) in [(1, "satisfaction", satisfaction), (2, "nps", nps)] {
            if let Some(score) = score {
                rows.push(
                    FeedbackRatingsRow {
                        id: v::uuid(mint(&format!("feedback_ratings:{n}"), key)),
                        feedback_id: v::uuid(id.clone()),
                        kind: v::text(kind),
                        score: v::int(score),
                    }
                    .into(),
                );
            }
        }
        Ok(rows)
    }
}

migrate_sdk::plugin!(CustomerFeedback);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn feedback(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(8)),
            ("order_id", v::int(2)),
            ("rating", v::int(3)),
            ("nps", v::int(0)),
            ("category", v::text("fit ")),
            ("comment", v::text("Upper aligner too tight.")),
            ("is_resolved", v::boolean(true)),
            (
                "resolved_at",
                Value::Timestamp("2020-05-01 09:00:00".into()),
            ),
            ("created_at", Value::Timestamp("2020-04-28 10:00:00".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<CustomerFeedback>(&row)
    }

    #[test]
    fn migrates_feedback_and_its_scores() {
        migrated("orders", &[2]);
        let rows = feedback(&[]).unwrap();
        assert_eq!(rows.len(), 3);
        let f = &rows[0];
        assert_eq!(
            get::<CustomerFeedback>(f, "id"),
            &v::uuid(uuid("customer_feedback", 8))
        );
        assert_eq!(
            get::<CustomerFeedback>(f, "order_id"),
            &v::uuid(uuid("orders", 2))
        );
        assert_eq!(
            get::<CustomerFeedback>(f, "category_id"),
            &v::uuid("f1a0c000-0003-4000-8000-000000000001")
        );
        assert_eq!(get::<CustomerFeedback>(f, "is_resolved"), &v::boolean(true));
        assert_eq!(get::<CustomerFeedback>(f, "legacy_metadata"), &Value::Null);
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("feedback_ratings:1", 8)),
                v::uuid(uuid("customer_feedback", 8)),
                v::text("satisfaction"),
                v::int(3),
            ]
        );
        assert_eq!(
            rows[2].values,
            vec![
                v::uuid(uuid("feedback_ratings:2", 8)),
                v::uuid(uuid("customer_feedback", 8)),
                v::text("nps"),
                v::int(0),
            ]
        );
    }

    #[test]
    fn no_answers_and_odd_values() {
        migrated("orders", &[2]);
        let rows = feedback(&[
            ("rating", v::int(0)),
            ("nps", Value::Null),
            ("category", Value::Null),
            ("comment", v::text(" ")),
            ("is_resolved", Value::Null),
            ("resolved_at", Value::Null),
        ])
        .unwrap();
        assert_eq!(rows.len(), 1);
        let f = &rows[0];
        assert_eq!(get::<CustomerFeedback>(f, "category_id"), &Value::Null);
        assert_eq!(get::<CustomerFeedback>(f, "comment"), &Value::Null);
        assert_eq!(
            get::<CustomerFeedback>(f, "is_resolved"),
            &v::boolean(false)
        );
        assert_eq!(get::<CustomerFeedback>(f, "legacy_metadata"), &Value::Null);

        let odd = feedback(&[
            ("rating", v::int(9)),
            ("nps", v::int(11)),
            ("category", v::text("Price")),
            ("is_resolved", Value::Null),
        ])
        .unwrap();
        assert_eq!(odd.len(), 1);
        assert_eq!(
            get::<CustomerFeedback>(&odd[0], "is_resolved"),
            &v::boolean(true)
        );
        assert_eq!(
            get::<CustomerFeedback>(&odd[0], "legacy_metadata"),
            &Value::Json(r#"{"rating":9,"nps":11,"category":"Price"}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("orders", &[2]);
        skipped_rows("orders", &[3]);
        assert!(matches!(
            feedback(&[("order_id", v::int(3))]),
            Err(Fate::Skip(r)) if r.contains("order_id=3")
        ));
        assert!(matches!(
            feedback(&[("order_id", v::int(4))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: order_id=4")
        ));
        assert!(matches!(
            feedback(&[("order_id", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("order_id")
        ));
    }

    #[test]
    fn codes() {
        for text in [
            "Fit",
            "fit",
            "Shipping",
            "Turnaround",
            "Communication",
            "Billing",
            "other",
        ] {
            assert!(category_id(text).is_some(), "{text}");
        }
        assert_eq!(category_id("Price"), None);
        assert_eq!(rating(Some(0)), Ok(None));
        assert_eq!(rating(None), Ok(None));
        assert_eq!(rating(Some(5)), Ok(Some(5)));
        assert_eq!(rating(Some(6)), Err(6));
        assert_eq!(rating(Some(-1)), Err(-1));
        assert_eq!(nps(Some(0)), Ok(Some(0)));
        assert_eq!(nps(Some(10)), Ok(Some(10)));
        assert_eq!(nps(Some(11)), Err(11));
        assert_eq!(nps(None), Ok(None));
    }
}
