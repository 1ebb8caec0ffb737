//! legacy `doctor_notes` -> `public.doctor_notes`.
//!
//! Skips soft-deleted notes (`deleted_at` set) and notes about a skipped (soft-deleted)
//! doctor. Rejects a note without a doctor or a text, or whose doctor or author was not
//! migrated (orphan). A soft-deleted author (skipped) becomes NULL. A NULL `is_pinned` is
//! written as false.

use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{
    describe, mint, resolve, resolve_optional, row, v, Description, Fate, Input, TargetRow,
    Transform,
};

const READS: &[&str] = &[
    "id",
    "doctor_id",
    "author_profile_id",
    "note",
    "is_pinned",
    "created_at",
    "updated_at",
    "deleted_at",
];
const DOCTOR_NOTES: &[&str] = &[
    "id",
    "legacy_id",
    "doctor_id",
    "author_profile_id",
    "note",
    "is_pinned",
    "created_at",
    "updated_at",
];

pub struct DoctorNotes;

impl Transform for DoctorNotes {
    fn describe() -> Description {
        describe(
            "doctor_notes",
            READS,
            &[("doctor_notes", DOCTOR_NOTES)],
            &["doctors", "profiles"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        if !input.is_null("deleted_at") {
            return Err(Fate::skip("soft-deleted doctor note (deleted_at set)"));
        }
        let doctor = resolve("doctors", input.require_int("doctor_id")?, "doctor_id")?;
        input.require_text("note")?;
        let author = resolve_optional(
            "profiles",
            input.int("author_profile_id"),
            "author_profile_id",
        )?;
        Ok(vec![row(
            "doctor_notes",
            vec![
                v::uuid(mint("doctor_notes", key)),
                v::int(key),
                v::uuid(doctor),
                author,
                v::text(input.text("note").unwrap_or_default()),
                v::boolean(input.boolean("is_pinned").unwrap_or(false)),
                opt_timestamptz(input.text("created_at")),
                opt_timestamptz(input.text("updated_at")),
            ],
        )])
    }
}

migrate_sdk::plugin!(DoctorNotes);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};
    use migrate_sdk::Value;

    fn note(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(8)),
            ("doctor_id", v::int(2)),
            ("author_profile_id", v::int(30)),
            ("note", v::text("Prefers text messages")),
            ("is_pinned", v::boolean(true)),
            ("created_at", Value::Timestamp("2016-04-05 11:00:00".into())),
            ("updated_at", Value::Timestamp("2016-04-06 11:00:00".into())),
            ("deleted_at", Value::Null),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<DoctorNotes>(&row)
    }

    fn setup() {
        migrated("doctors", &[2]);
        migrated("profiles", &[30]);
        skipped_rows("doctors", &[3]);
        skipped_rows("profiles", &[31]);
    }

    #[test]
    fn migrates_a_note() {
        setup();
        let rows = note(&[]).unwrap();
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("doctor_notes", 8)),
                v::int(8),
                v::uuid(uuid("doctors", 2)),
                v::uuid(uuid("profiles", 30)),
                v::text("Prefers text messages"),
                v::boolean(true),
                Value::Timestamptz("2016-04-05 11:00:00 America/Chicago".into()),
                Value::Timestamptz("2016-04-06 11:00:00 America/Chicago".into()),
            ]
        );
        let unpinned = note(&[("is_pinned", Value::Null)]).unwrap();
        assert_eq!(
            get::<DoctorNotes>(&unpinned[0], "is_pinned"),
            &v::boolean(false)
        );
        let gone = note(&[("author_profile_id", v::int(31))]).unwrap();
        assert_eq!(
            get::<DoctorNotes>(&gone[0], "author_profile_id"),
            &Value::Null
        );
    }

    #[test]
    fn skips_and_rejects() {
        setup();
        assert!(matches!(
            note(&[("deleted_at", Value::Timestamp("2017-01-01 00:00:00".into()))]),
            Err(Fate::Skip(r)) if r.contains("deleted_at")
        ));
        assert!(matches!(
            note(&[("doctor_id", v::int(3))]),
            Err(Fate::Skip(r)) if r.contains("doctor_id=3")
        ));
        assert!(matches!(
            note(&[("doctor_id", v::int(4))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: doctor_id=4")
        ));
        assert!(matches!(
            note(&[("note", v::text("  "))]),
            Err(Fate::Reject(r)) if r.contains("note")
        ));
        assert!(matches!(
            note(&[("author_profile_id", v::int(32))]),
            Err(Fate::Reject(r)) if r.contains("author_profile_id=32")
        ));
    }
}
