//! legacy `offices` -> `public.offices`.
//!
//! Skips soft-deleted offices (`is_deleted`); rejects an office without a name.

use lab_conventions::{opt_timestamptz, skip_if_flagged_deleted};
use migrate_sdk::{mint, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `offices`, in the order rows carry them (the key first).
    pub struct LegacyOffices from "offices" {
        id: Key,
        name: Text,
        address: Text,
        city: Text,
        state: Text,
        zip: Text,
        phone: Text,
        email: Text,
        is_deleted: Bool,
        created_at: Text,
        updated_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `offices`.
    pub struct OfficesRow into "offices" {
        id: Value,
        legacy_id: Value,
        name: Value,
        address: Value,
        city: Value,
        state: Value,
        zip: Value,
        phone: Value,
        email: Value,
        created_at: Value,
        updated_at: Value,
    }
}

#[derive(Default)]
pub struct Offices;

impl Transform for Offices {
    type Source = LegacyOffices;
    const WRITES: &'static [Table] = &[OfficesRow::TABLE];

    fn transform_row(&mut self, input: LegacyOffices) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_flagged_deleted(&input.is_deleted, "office")?;
        let name = input.name.require()?;
        Ok(vec![OfficesRow {
            id: v::uuid(mint("offices", key)),
            legacy_id: v::int(key),
            name: v::text(name),
            address: v::opt_text(input.address.trimmed()),
            city: v::opt_text(input.city.trimmed()),
            state: v::opt_text(input.state.trimmed()),
            zip: v::opt_text(input.zip.trimmed()),
            phone: v::opt_text(input.phone.trimmed()),
            email: v::opt_text(input.email.trimmed()),
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Offices);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, run, uuid};
    use migrate_sdk::Value;

    #[test]
    fn migrates_an_office() {
        let rows = run::<Offices>(&[
            ("id", v::int(7)),
            ("name", v::text(" Main St Dental ")),
            ("city", v::text("")),
            ("is_deleted", v::boolean(false)),
            ("created_at", Value::Timestamp("2019-03-07 14:05:00".into())),
        ])
        .unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(get::<Offices>(r, "id"), &v::uuid(uuid("offices", 7)));
        assert_eq!(get::<Offices>(r, "legacy_id"), &v::int(7));
        assert_eq!(get::<Offices>(r, "name"), &v::text("Main St Dental"));
        assert_eq!(get::<Offices>(r, "city"), &Value::Null);
        assert_eq!(
            get::<Offices>(r, "created_at"),
            &Value::Timestamptz("2019-03-07 14:05:00 America/Chicago".into())
        );
        assert_eq!(get::<Offices>(r, "updated_at"), &Value::Null);
    }

    #[test]
    fn skips_and_rejects() {
        let deleted = run::<Offices>(&[
            ("id", v::int(1)),
            ("name", v::text("X")),
            ("is_deleted", v::boolean(true)),
        ]);
        assert!(matches!(deleted, Err(Fate::Skip(_))));
        let unnamed = run::<Offices>(&[
            ("id", v::int(2)),
            ("name", v::text("  ")),
            ("is_deleted", v::boolean(false)),
        ]);
        assert_eq!(
            unnamed,
            Err(Fate::reject("required column name is NULL or blank"))
        );
    }
}
