//! legacy `doctors` -> `public.doctors`.
//!
//! Skips soft-deleted doctors (`deleted_at` set). Rejects a doctor without an office, whose
//! office or profile was not migrated (orphan), or whose status is not a known word (the
//! status is in the reason). A blank or NULL status is written as NULL.

use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{
    describe, mint, resolve, resolve_optional, row, v, Description, Fate, Input, TargetRow,
    Transform,
};

const READS: &[&str] = &[
    "id",
    "profile_id",
    "office_id",
    "license_no",
    "specialty",
    "status",
    "created_at",
    "updated_at",
    "deleted_at",
];
const DOCTORS: &[&str] = &[
    "id",
    "legacy_id",
    "profile_id",
    "office_id",
    "license_no",
    "specialty",
    "status",
    "created_at",
    "updated_at",
];

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

pub struct Doctors;

impl Transform for Doctors {
    fn describe() -> Description {
        describe(
            "doctors",
            READS,
            &[("doctors", DOCTORS)],
            &["profiles", "offices"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        if !input.is_null("deleted_at") {
            return Err(Fate::skip("soft-deleted doctor (deleted_at is set)"));
        }
        let office = resolve("offices", input.require_int("office_id")?, "office_id")?;
        let profile = resolve_optional("profiles", input.int("profile_id"), "profile_id")?;
        let status = doctor_status(input.text("status"))?;
        Ok(vec![row(
            "doctors",
            vec![
                v::uuid(mint("doctors", key)),
                v::int(key),
                profile,
                v::uuid(office),
                v::opt_text(input.trimmed("license_no")),
                v::opt_text(input.trimmed("specialty")),
                v::opt_text(status),
                opt_timestamptz(input.text("created_at")),
                opt_timestamptz(input.text("updated_at")),
            ],
        )])
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
