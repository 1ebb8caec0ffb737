//! legacy `discounts` -> `public.discounts`.
//!
//! Skips soft-deleted codes (`is_deleted`) and the private codes of a skipped (soft-deleted)
//! doctor (made public they would change who may use them). Rejects a code that is NULL or
//! blank, whose offer or doctor was not migrated (orphan: an offer's code must not lose the
//! offer's terms), that has both or neither of `amount_cents` and `percent_off`, whose
//! `amount_cents` is not above 0, or whose `percent_off` is not a decimal, has sub-cent
//! digits, or is not above 0 and at most 100. Money is never rounded. A link to a skipped
//! offer becomes NULL. A negative `max_uses` or `times_used` is written as NULL and kept raw
//! in `legacy_metadata`, e.g. {"max_uses":-1}.

use lab_conventions::{opt_timestamptz, skip_if_flagged_deleted};
use migrate_sdk::json::Json;
use migrate_sdk::money::{cents_to_decimal, fits, is_negative, to_cents};
use migrate_sdk::read::Int;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `discounts`, in the order rows carry them (the key first).
    pub struct LegacyDiscounts from "discounts" {
        id: Key,
        offer_id: Int,
        doctor_id: Int,
        code: Text,
        amount_cents: Int,
        percent_off: Text,
        max_uses: Int,
        times_used: Int,
        expires_at: Text,
        is_deleted: Bool,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `discounts`.
    pub struct DiscountsRow into "discounts" {
        id: Value,
        legacy_id: Value,
        offer_id: Value,
        doctor_id: Value,
        code: Value,
        discount_type: Value,
        amount_off: Value,
        percent_off: Value,
        max_uses: Value,
        times_used: Value,
        expires_at: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

/// What a code takes off: a fixed amount (canonical dollars) or a percentage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    Fixed(String),
    Percent(String),
}

/// The discount of a legacy code from its two exclusive columns.
pub fn amount(cents: Option<i64>, percent: Option<&str>) -> Result<Amount, Fate> {
    match (cents, percent) {
        (Some(_), Some(_)) => Err(Fate::reject(
            "both amount_cents and percent_off are set: which discount applies is unknown",
        )),
        (None, None) => Err(Fate::reject(
            "neither amount_cents nor percent_off is set: the code discounts nothing",
        )),
        (Some(c), None) if c <= 0 => Err(Fate::reject(format!("amount_cents {c} is not above 0"))),
        (Some(c), None) => {
            let dollars = cents_to_decimal(c);
            if !fits(&dollars, 12, 2) {
                return Err(Fate::reject(format!(
                    "amount_cents {c} does not fit numeric(12,2)"
                )));
            }
            Ok(Amount::Fixed(dollars))
        }
        (None, Some(text)) => {
            let p = to_cents(text, "percent_off")?;
            let hundredths: i64 = if fits(&p, 5, 2) {
                p.replace('.', "").parse().unwrap_or(i64::MAX)
            } else {
                i64::MAX
            };
            if is_negative(&p) || hundredths == 0 || hundredths > 10_000 {
                return Err(Fate::reject(format!(
                    "percent_off {p} is not above 0 and at most 100"
                )));
            }
            Ok(Amount::Percent(p))
        }
    }
}

/// A use counter: Ok for NULL or >= 0, Err(raw) when negative.
pub fn counter(n: Option<i64>) -> Result<Option<i64>, i64> {
    match n {
        Some(n) if n < 0 => Err(n),
        other => Ok(other),
    }
}

#[derive(Default)]
pub struct Discounts;

impl Transform for Discounts {
    type Source = LegacyDiscounts;
    const WRITES: &'static [Table] = &[DiscountsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["offers", "doctors"];

    fn transform_row(&mut self, input: LegacyDiscounts) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_flagged_deleted(&input.is_deleted, "discount code")?;
        let code = input.code.require()?;
        let amount = amount(input.amount_cents.get(), input.percent_off.get())?;
        let offer = resolve_optional("offers", input.offer_id.get(), "offer_id")?;
        // A private code of a soft-deleted doctor is not made public: it goes with the doctor.
        let doctor = match input.doctor_id.get() {
            None => Value::Null,
            Some(id) => v::uuid(resolve("doctors", id, "doctor_id")?),
        };

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let mut count = |column: &Int| {
            counter(column.get()).unwrap_or_else(|raw| {
                kept.push((column.column(), Json::Number(raw.to_string())));
                None
            })
        };
        let max_uses = count(&input.max_uses);
        let times_used = count(&input.times_used);
        let (kind, amount_off, percent_off) = match amount {
            Amount::Fixed(d) => ("fixed_amount", Some(d), None),
            Amount::Percent(p) => ("percent", None, Some(p)),
        };
        Ok(vec![DiscountsRow {
            id: v::uuid(mint("discounts", key)),
            legacy_id: v::int(key),
            offer_id: offer,
            doctor_id: doctor,
            code: v::text(code),
            discount_type: v::text(kind),
            amount_off: v::opt(amount_off.map(v::numeric)),
            percent_off: v::opt(percent_off.map(v::numeric)),
            max_uses: v::opt_int(max_uses),
            times_used: v::opt_int(times_used),
            expires_at: opt_timestamptz(input.expires_at.get()),
            legacy_metadata: migrate_sdk::json::metadata(kept),
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Discounts);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn code(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(1)),
            ("offer_id", v::int(20)),
            ("doctor_id", v::int(193)),
            ("code", v::text(" FALL15-U3HX ")),
            ("amount_cents", v::int(26800)),
            ("percent_off", Value::Null),
            ("max_uses", v::int(44)),
            ("times_used", v::int(45)),
            ("expires_at", Value::Timestamp("2016-02-16 00:30:51".into())),
            ("is_deleted", v::boolean(false)),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Discounts>(&row)
    }

    #[test]
    fn migrates_codes() {
        migrated("offers", &[20]);
        migrated("doctors", &[193]);
        let rows = code(&[]).unwrap();
        let d = &rows[0];
        assert_eq!(get::<Discounts>(d, "id"), &v::uuid(uuid("discounts", 1)));
        assert_eq!(
            get::<Discounts>(d, "offer_id"),
            &v::uuid(uuid("offers", 20))
        );
        assert_eq!(
            get::<Discounts>(d, "doctor_id"),
            &v::uuid(uuid("doctors", 193))
        );
        assert_eq!(get::<Discounts>(d, "code"), &v::text("FALL15-U3HX"));
        assert_eq!(
            get::<Discounts>(d, "discount_type"),
            &v::text("fixed_amount")
        );
        assert_eq!(get::<Discounts>(d, "amount_off"), &v::numeric("268.00"));
        assert_eq!(get::<Discounts>(d, "percent_off"), &Value::Null);
        assert_eq!(get::<Discounts>(d, "max_uses"), &v::int(44));
        assert_eq!(get::<Discounts>(d, "times_used"), &v::int(45));
        assert_eq!(get::<Discounts>(d, "legacy_metadata"), &Value::Null);

        let public = code(&[
            ("offer_id", Value::Null),
            ("doctor_id", Value::Null),
            ("amount_cents", Value::Null),
            ("percent_off", v::numeric("11.0")),
            ("max_uses", Value::Null),
            ("times_used", v::int(-2)),
        ])
        .unwrap();
        let p = &public[0];
        assert_eq!(get::<Discounts>(p, "offer_id"), &Value::Null);
        assert_eq!(get::<Discounts>(p, "doctor_id"), &Value::Null);
        assert_eq!(get::<Discounts>(p, "discount_type"), &v::text("percent"));
        assert_eq!(get::<Discounts>(p, "percent_off"), &v::numeric("11.00"));
        assert_eq!(get::<Discounts>(p, "amount_off"), &Value::Null);
        assert_eq!(get::<Discounts>(p, "max_uses"), &Value::Null);
        assert_eq!(get::<Discounts>(p, "times_used"), &Value::Null);
        assert_eq!(
            get::<Discounts>(p, "legacy_metadata"),
            &Value::Json(r#"{"times_used":-2}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("offers", &[20]);
        migrated("doctors", &[193]);
        skipped_rows("offers", &[21]);
        skipped_rows("doctors", &[194]);
        assert!(matches!(
            code(&[("is_deleted", v::boolean(true))]),
            Err(Fate::Skip(_))
        ));
        let to_skipped_offer = code(&[("offer_id", v::int(21))]).unwrap();
        assert_eq!(
            get::<Discounts>(&to_skipped_offer[0], "offer_id"),
            &Value::Null
        );
        assert!(matches!(
            code(&[("doctor_id", v::int(194))]),
            Err(Fate::Skip(r)) if r.contains("doctor_id=194")
        ));
        let rejected = |changes: &[(&'static str, Value)], what: &str| match code(changes) {
            Err(Fate::Reject(r)) => assert!(r.contains(what), "{r:?} lacks {what:?}"),
            other => panic!("expected a reject about {what}, got {other:?}"),
        };
        rejected(&[("offer_id", v::int(99))], "orphan: offer_id=99");
        rejected(&[("doctor_id", v::int(99))], "orphan: doctor_id=99");
        rejected(&[("code", v::text("  "))], "code");
        rejected(&[("percent_off", v::numeric("5"))], "both");
        rejected(&[("amount_cents", Value::Null)], "neither");
        rejected(&[("amount_cents", v::int(0))], "not above 0");
    }

    #[test]
    fn amounts() {
        assert_eq!(amount(Some(5), None), Ok(Amount::Fixed("0.05".into())));
        assert_eq!(
            amount(None, Some("30.0")),
            Ok(Amount::Percent("30.00".into()))
        );
        assert_eq!(
            amount(None, Some("100")),
            Ok(Amount::Percent("100.00".into()))
        );
        assert!(amount(None, Some("100.01")).is_err());
        assert!(amount(None, Some("250")).is_err());
        assert!(amount(None, Some("0.0")).is_err());
        assert!(amount(None, Some("-5")).is_err());
        assert!(
            matches!(amount(None, Some("12.345")), Err(Fate::Reject(r)) if r.contains("more than 2 decimals"))
        );
        assert!(amount(Some(-100), None).is_err());
        assert!(amount(Some(i64::MAX), None).is_err());
    }

    #[test]
    fn counters() {
        assert_eq!(counter(None), Ok(None));
        assert_eq!(counter(Some(0)), Ok(Some(0)));
        assert_eq!(counter(Some(-1)), Err(-1));
    }
}
