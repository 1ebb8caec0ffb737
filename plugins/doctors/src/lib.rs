//! legacy `doctors` -> `public.doctors`.
//!
//! Skips soft-deleted doctors (`deleted_at` set). Rejects a doctor without an office, whose
//! office or profile was not migrated (orphan), or whose status is not a known word (the
//! status is in the reason). A blank or NULL status is written as NULL.

use lab_conventions::{opt_timestamptz, skip_if_deleted_at};
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `doctors`, in the order rows carry them (the key first).
    pub struct LegacyDoctors from "doctors" {
        id: Key,
        profile_id: Int,
        office_id: Int,
        license_no: Text,
        specialty: Text,
        status: Text,
        created_at: Text,
        updated_at: Text,
        deleted_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `doctors`.
    pub struct DoctorsRow into "doctors" {
        id: Value,
        legacy_id: Value,
        profile_id: Value,
        office_id: Value,
        license_no: Value,
        specialty: Value,
        status: Value,
        created_at: Value,
        updated_at: Value,
    }
}

/// Legacy free-text status -> `doctor_status` label; Ok(None) for blank or NULL.
pub fn doctor_status(raw: Option<&str>) -> Result<Option<&'static str>, Fate> {
    let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match text.to_ascii_lowercase().as_str() {
        "active" => Ok(Some("active")),
        "inactive" => Ok(Some("inactive")),
        "suspended" => Ok(Some("suspended")),
        "pending" => Ok(Some("pending")),
        "on hold" | "on_hold" | "onhold" => Ok(Some("on_hold")),
        _ => Err(Fate::reject(format!(
            "unknown doctor status {:?}",
            raw.unwrap_or_default()
        ))),
    }
}

#[derive(Default)]
pub struct Doctors;

impl Transform for Doctors {
    type Source = LegacyDoctors;
    const WRITES: &'static [Table] = &[DoctorsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["profiles", "offices"];

    fn transform_row(&mut self, input: LegacyDoctors) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_deleted_at(&input.deleted_at, "doctor")?;
        let office = resolve("offices", input.office_id.require()?, "office_id")?;
        let profile = resolve_optional("profiles", input.profile_id.get(), "profile_id")?;
        let status = doctor_status(input.status.get())?;
        Ok(vec![DoctorsRow {
            id: v::uuid(mint("doctors", key)),
            legacy_id: v::int(key),
            profile_id: profile,
            office_id: v::uuid(office),
            license_no: v::opt_text(input.license_no.trimmed()),
            specialty: v::opt_text(input.specialty.trimmed()),
            status: v::opt_text(status),
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Doctors);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, uuid};
    use migrate_sdk::Value;

    #[test]
    fn migrates_a_doctor() {
        migrated("offices", &[1]);
        migrated("profiles", &[5]);
        let rows = run::<Doctors>(&[
            ("id", v::int(3)),
            ("profile_id", v::int(5)),
            ("office_id", v::int(1)),
            ("status", v::text("ACTIVE ")),
        ])
        .unwrap();
        let r = &rows[0];
        assert_eq!(get::<Doctors>(r, "id"), &v::uuid(uuid("doctors", 3)));
        assert_eq!(get::<Doctors>(r, "office_id"), &v::uuid(uuid("offices", 1)));
        assert_eq!(
            get::<Doctors>(r, "profile_id"),
            &v::uuid(uuid("profiles", 5))
        );
        assert_eq!(get::<Doctors>(r, "status"), &v::text("active"));
        let no_profile = run::<Doctors>(&[("id", v::int(4)), ("office_id", v::int(1))]).unwrap();
        assert_eq!(get::<Doctors>(&no_profile[0], "profile_id"), &Value::Null);
        assert_eq!(get::<Doctors>(&no_profile[0], "status"), &Value::Null);
    }

    #[test]
    fn skips_and_rejects() {
        migrated("offices", &[1]);
        let deleted = run::<Doctors>(&[
            ("id", v::int(1)),
            ("deleted_at", Value::Timestamp("2020-01-01 00:00:00".into())),
        ]);
        assert!(matches!(deleted, Err(Fate::Skip(_))));
        assert!(
            matches!(run::<Doctors>(&[("id", v::int(2))]), Err(Fate::Reject(r)) if r.contains("office_id"))
        );
        let orphan = run::<Doctors>(&[("id", v::int(3)), ("office_id", v::int(99))]);
        assert_eq!(orphan, Err(Fate::reject("orphan: office_id=99 has no migrated row in offices (missing in the legacy data, or quarantined)")));
        let orphan_profile = run::<Doctors>(&[
            ("id", v::int(4)),
            ("office_id", v::int(1)),
            ("profile_id", v::int(98)),
        ]);
        assert!(matches!(orphan_profile, Err(Fate::Reject(r)) if r.contains("profile_id=98")));
        let status = run::<Doctors>(&[
            ("id", v::int(5)),
            ("office_id", v::int(1)),
            ("status", v::text("on leave")),
        ]);
        assert!(matches!(status, Err(Fate::Reject(r)) if r.contains("on leave")));
    }

    #[test]
    fn statuses() {
        assert_eq!(doctor_status(Some("active")), Ok(Some("active")));
        assert_eq!(doctor_status(Some("Active")), Ok(Some("active")));
        assert_eq!(doctor_status(Some("ACTIVE ")), Ok(Some("active")));
        assert_eq!(doctor_status(Some(" Inactive")), Ok(Some("inactive")));
        assert_eq!(doctor_status(Some("SUSPENDED")), Ok(Some("suspended")));
        assert_eq!(doctor_status(Some("")), Ok(None));
        assert_eq!(doctor_status(Some("   ")), Ok(None));
        assert_eq!(doctor_status(None), Ok(None));
        assert_eq!(
            doctor_status(Some("retired")),
            Err(Fate::reject("unknown doctor status \"retired\""))
        );
    }
}
