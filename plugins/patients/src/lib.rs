//! legacy `patients` -> `public.patients`.
//!
//! Rejects a patient without a doctor or a last name, or whose doctor was not migrated
//! (orphan); skips one whose doctor was skipped. A missing office or profile unlinks (NULL)
//! and its old id is kept in `legacy_metadata`. Archived patients migrate (`is_archived`): archiving is not a
//! delete. `date_of_birth` (hand-typed text) and `gender` (a letter) are parsed; a
//! non-blank value that cannot be parsed is written as NULL and kept raw in
//! `legacy_metadata`, e.g. {"date_of_birth":"N/A"}.

use migrate_sdk::json::Json;
use migrate_sdk::time::{opt_timestamptz, parse_loose_date};
use migrate_sdk::{
    describe, mint, resolve, resolve_or_unlink, row, v, Description, Fate, Input, TargetRow,
    Transform, Value,
};

const READS: &[&str] = &[
    "id",
    "doctor_id",
    "office_id",
    "profile_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "email",
    "phone",
    "notes",
    "archived",
    "created_at",
    "updated_at",
];
const PATIENTS: &[&str] = &[
    "id",
    "legacy_id",
    "doctor_id",
    "office_id",
    "profile_id",
    "first_name",
    "last_name",
    "date_of_birth",
    "gender",
    "email",
    "phone",
    "notes",
    "is_archived",
    "legacy_metadata",
    "created_at",
    "updated_at",
];

/// Legacy gender letter -> `gender` label: Ok(None) when blank or NULL, Err(raw) when unknown.
pub fn gender(raw: Option<&str>) -> Result<Option<&'static str>, String> {
    let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match text {
        "M" | "m" => Ok(Some("male")),
        "F" | "f" => Ok(Some("female")),
        "U" | "u" => Ok(Some("unknown")),
        _ => Err(raw.unwrap_or_default().to_string()),
    }
}

/// Legacy hand-typed date of birth -> ISO date: Ok(None) when blank or NULL, Err(raw)
/// when it is not a date.
pub fn date_of_birth(raw: Option<&str>) -> Result<Option<String>, String> {
    match raw {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => parse_loose_date(text)
            .map(Some)
            .ok_or_else(|| text.to_string()),
    }
}

/// The `legacy_metadata` object for raw values that did not convert; None when all did.
pub fn legacy_metadata(kept: Vec<(&str, String)>) -> Option<String> {
    if kept.is_empty() {
        None
    } else {
        Some(Json::object(kept.into_iter().map(|(k, raw)| (k, Json::String(raw)))).to_string())
    }
}

pub struct Patients;

impl Transform for Patients {
    fn describe() -> Description {
        describe(
            "patients",
            READS,
            &[("patients", PATIENTS)],
            &["doctors", "offices", "profiles"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        let last_name = input.require_text("last_name")?;
        let doctor = resolve("doctors", input.require_int("doctor_id")?, "doctor_id")?;
        // A patient is kept even when its office or login is gone; the old id is kept too.
        let mut kept = Vec::new();
        let (office, dangling_office) =
            resolve_or_unlink("offices", input.int("office_id"), "office_id");
        let (profile, dangling_profile) =
            resolve_or_unlink("profiles", input.int("profile_id"), "profile_id");
        if let Some(id) = dangling_office {
            kept.push(("office_id", id.to_string()));
        }
        if let Some(id) = dangling_profile {
            kept.push(("profile_id", id.to_string()));
        }
        let dob = date_of_birth(input.text("date_of_birth")).unwrap_or_else(|raw| {
            kept.push(("date_of_birth", raw));
            None
        });
        let gender = gender(input.text("gender")).unwrap_or_else(|raw| {
            kept.push(("gender", raw));
            None
        });

        Ok(vec![row(
            "patients",
            vec![
                v::uuid(mint("patients", key)),
                v::int(key),
                v::uuid(doctor),
                office,
                profile,
                v::opt_text(input.trimmed("first_name")),
                v::text(last_name),
                dob.map_or(Value::Null, Value::Date),
                v::opt_text(gender),
                v::opt_text(input.trimmed("email")),
                v::opt_text(input.trimmed("phone")),
                v::opt_text(input.text("notes").filter(|s| !s.trim().is_empty())),
                v::boolean(input.boolean("archived").unwrap_or(false)),
                legacy_metadata(kept).map_or(Value::Null, Value::Json),
                opt_timestamptz(input.text("created_at")),
                opt_timestamptz(input.text("updated_at")),
            ],
        )])
    }
}

migrate_sdk::plugin!(Patients);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, uuid};

    #[test]
    fn migrates_a_patient() {
        migrated("doctors", &[2]);
        migrated("offices", &[1]);
        let rows = run::<Patients>(&[
            ("id", v::int(11)),
            ("doctor_id", v::int(2)),
            ("office_id", v::int(1)),
            ("last_name", v::text("Doe")),
            ("date_of_birth", v::text("N/A")),
            ("gender", v::text("f")),
            ("archived", v::boolean(true)),
        ])
        .unwrap();
        let r = &rows[0];
        assert_eq!(get::<Patients>(r, "id"), &v::uuid(uuid("patients", 11)));
        assert_eq!(
            get::<Patients>(r, "doctor_id"),
            &v::uuid(uuid("doctors", 2))
        );
        assert_eq!(
            get::<Patients>(r, "office_id"),
            &v::uuid(uuid("offices", 1))
        );
        assert_eq!(get::<Patients>(r, "profile_id"), &Value::Null);
        assert_eq!(get::<Patients>(r, "date_of_birth"), &Value::Null);
        assert_eq!(get::<Patients>(r, "gender"), &v::text("female"));
        assert_eq!(get::<Patients>(r, "is_archived"), &v::boolean(true));
        assert_eq!(
            get::<Patients>(r, "legacy_metadata"),
            &Value::Json(r#"{"date_of_birth":"N/A"}"#.into())
        );
        let dated = run::<Patients>(&[
            ("id", v::int(12)),
            ("doctor_id", v::int(2)),
            ("last_name", v::text("Roe")),
            ("date_of_birth", v::text("03/12/1985")),
        ])
        .unwrap();
        assert_eq!(
            get::<Patients>(&dated[0], "date_of_birth"),
            &Value::Date("1985-03-12".into())
        );
        assert_eq!(get::<Patients>(&dated[0], "legacy_metadata"), &Value::Null);
    }

    #[test]
    fn rejects() {
        migrated("doctors", &[2]);
        assert!(
            matches!(run::<Patients>(&[("id", v::int(1)), ("doctor_id", v::int(2))]), Err(Fate::Reject(r)) if r.contains("last_name"))
        );
        assert!(
            matches!(run::<Patients>(&[("id", v::int(2)), ("last_name", v::text("X"))]), Err(Fate::Reject(r)) if r.contains("doctor_id"))
        );
        let orphan = run::<Patients>(&[
            ("id", v::int(3)),
            ("last_name", v::text("X")),
            ("doctor_id", v::int(77)),
        ]);
        assert_eq!(orphan, Err(Fate::reject("orphan: doctor_id=77 has no migrated row in doctors (missing in the legacy data, or quarantined)")));
        let orphan_office = run::<Patients>(&[
            ("id", v::int(4)),
            ("last_name", v::text("X")),
            ("doctor_id", v::int(2)),
            ("office_id", v::int(66)),
        ]);
        // A dangling office unlinks; the old id is kept in legacy_metadata.
        let kept = orphan_office.unwrap();
        assert_eq!(get::<Patients>(&kept[0], "office_id"), &Value::Null);
        assert_eq!(
            get::<Patients>(&kept[0], "legacy_metadata"),
            &Value::Json(r#"{"office_id":"66"}"#.into())
        );
    }

    #[test]
    fn genders() {
        assert_eq!(gender(Some("M")), Ok(Some("male")));
        assert_eq!(gender(Some("f")), Ok(Some("female")));
        assert_eq!(gender(Some("U")), Ok(Some("unknown")));
        assert_eq!(gender(Some(" ")), Ok(None));
        assert_eq!(gender(None), Ok(None));
        assert_eq!(gender(Some("X")), Err("X".to_string()));
    }

    #[test]
    fn dates_of_birth() {
        assert_eq!(
            date_of_birth(Some("1985-03-12")),
            Ok(Some("1985-03-12".to_string()))
        );
        assert_eq!(
            date_of_birth(Some("03/12/1985")),
            Ok(Some("1985-03-12".to_string()))
        );
        assert_eq!(
            date_of_birth(Some("12.03.1985")),
            Ok(Some("1985-03-12".to_string()))
        );
        assert_eq!(date_of_birth(Some("")), Ok(None));
        assert_eq!(date_of_birth(None), Ok(None));
        assert_eq!(date_of_birth(Some("N/A")), Err("N/A".to_string()));
    }

    #[test]
    fn metadata() {
        assert_eq!(legacy_metadata(vec![]), None);
        assert_eq!(
            legacy_metadata(vec![
                ("date_of_birth", "N/A".into()),
                ("gender", "\"?\"".into())
            ])
            .as_deref(),
            Some(r#"{"date_of_birth":"N/A","gender":"\"?\""}"#)
        );
    }
}
