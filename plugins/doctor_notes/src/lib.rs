//! legacy `doctor_notes` -> `public.doctor_notes`.
//!
//! Skips soft-deleted notes (`deleted_at` set) and notes about a skipped (soft-deleted)
//! doctor. Rejects a note without a doctor or a text, or whose doctor or author was not
//! migrated (orphan). A soft-deleted author (skipped) becomes NULL. A NULL `is_pinned` is
//! written as false.

use lab_conventions::{opt_timestamptz, skip_if_deleted_at};
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `doctor_notes`, in the order rows carry them (the key first).
    pub struct LegacyDoctorNotes from "doctor_notes" {
        id: Key,
        doctor_id: Int,
        author_profile_id: Int,
        note: Text,
        is_pinned: Bool,
        created_at: Text,
        updated_at: Text,
        deleted_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `doctor_notes`.
    pub struct DoctorNotesRow into "doctor_notes" {
        id: Value,
        legacy_id: Value,
        doctor_id: Value,
        author_profile_id: Value,
        note: Value,
        is_pinned: Value,
        created_at: Value,
        updated_at: Value,
    }
}

#[derive(Default)]
pub struct DoctorNotes;

impl Transform for DoctorNotes {
    type Source = LegacyDoctorNotes;
    const WRITES: &'static [Table] = &[DoctorNotesRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["doctors", "profiles"];

    fn transform_row(&mut self, input: LegacyDoctorNotes) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_deleted_at(&input.deleted_at, "doctor note")?;
        let doctor = resolve("doctors", input.doctor_id.require()?, "doctor_id")?;
        input.note.require()?;
        let author = resolve_optional(
            "profiles",
            input.author_profile_id.get(),
            "author_profile_id",
        )?;
        Ok(vec![DoctorNotesRow {
            id: v::uuid(mint("doctor_notes", key)),
            legacy_id: v::int(key),
            doctor_id: v::uuid(doctor),
            author_profile_id: author,
            note: v::text(input.note.get().unwrap_or_default()),
            is_pinned: v::boolean(input.is_pinned.get().unwrap_or(false)),
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
        }
        .into()])
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
