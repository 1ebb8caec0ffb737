//! legacy `offices` -> `public.offices`.
//!
//! Skips soft-deleted offices (`is_deleted`); rejects an office without a name.

use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{describe, mint, row, v, Description, Fate, Input, TargetRow, Transform};

const READS: &[&str] = &[
    "id",
    "name",
    "address",
    "city",
    "state",
    "zip",
    "phone",
    "email",
    "is_deleted",
    "created_at",
    "updated_at",
];
const OFFICES: &[&str] = &[
    "id",
    "legacy_id",
    "name",
    "address",
    "city",
    "state",
    "zip",
    "phone",
    "email",
    "created_at",
    "updated_at",
];

pub struct Offices;

impl Transform for Offices {
    fn describe() -> Description {
        describe("offices", READS, &[("offices", OFFICES)], &[])
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        if input.boolean("is_deleted") == Some(true) {
            return Err(Fate::skip("soft-deleted office (is_deleted)"));
        }
        let name = input.require_text("name")?;
        Ok(vec![row(
            "offices",
            vec![
                v::uuid(mint("offices", key)),
                v::int(key),
                v::text(name),
                v::opt_text(input.trimmed("address")),
                v::opt_text(input.trimmed("city")),
                v::opt_text(input.trimmed("state")),
                v::opt_text(input.trimmed("zip")),
                v::opt_text(input.trimmed("phone")),
                v::opt_text(input.trimmed("email")),
                opt_timestamptz(input.text("created_at")),
                opt_timestamptz(input.text("updated_at")),
            ],
        )])
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
