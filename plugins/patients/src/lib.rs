//! legacy `patients` -> `public.patients`.
//!
//! Rejects a patient without a doctor or a last name, or whose doctor was not migrated
//! (orphan); skips one whose doctor was skipped. A missing office or profile unlinks (NULL)
//! and its old id is kept in `legacy_metadata`. Archived patients migrate (`is_archived`): archiving is not a
//! delete. `date_of_birth` (hand-typed text) and `gender` (a letter) are parsed; a
//! non-blank value that cannot be parsed is written as NULL and kept raw in
//! `legacy_metadata`, e.g. {"date_of_birth":"N/A"}.

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::Json;
use migrate_sdk::time::parse_loose_date;
use migrate_sdk::{mint, resolve, resolve_or_unlink, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `patients`, in the order rows carry them (the key first).
    pub struct LegacyPatients from "patients" {
        id: Key,
        doctor_id: Int,
        office_id: Int,
        profile_id: Int,
        first_name: Text,
        last_name: Text,
        date_of_birth: Text,
        gender: Text,
        email: Text,
        phone: Text,
        notes: Text,
        archived: Bool,
        created_at: Text,
        updated_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `patients`.
    pub struct PatientsRow into "patients" {
        id: Value,
        legacy_id: Value,
        doctor_id: Value,
        office_id: Value,
        profile_id: Value,
        first_name: Value,
        last_name: Value,
        date_of_birth: Value,
        gender: Value,
        email: Value,
        phone: Value,
        notes: Value,
        is_archived: Value,
        legacy_metadata: Value,
        created_at: Value,
        updated_at: Value,
    }
}

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

#[derive(Default)]
pub struct Patients;

impl Transform for Patients {
    type Source = LegacyPatients;
    const WRITES: &'static [Table] = &[PatientsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["doctors", "offices", "profiles"];

    fn transform_row(&mut self, input: LegacyPatients) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let last_name = input.last_name.require()?;
        let doctor = resolve("doctors", input.doctor_id.require()?, "doctor_id")?;
        // A patient is kept even when its office or login is gone; the old id is kept too.
        let mut kept = Vec::new();
        let (office, dangling_office) =
            resolve_or_unlink("offices", input.office_id.get(), "office_id");
        let (profile, dangling_profile) =
            resolve_or_unlink("profiles", input.profile_id.get(), "profile_id");
        if let Some(id) = dangling_office {
            kept.push(("office_id", id.to_string()));
        }
        if let Some(id) = dangling_profile {
            kept.push(("profile_id", id.to_string()));
        }
        let dob = date_of_birth(input.date_of_birth.get()).unwrap_or_else(|raw| {
            kept.push(("date_of_birth", raw));
            None
        });
        let gender = gender(input.gender.get()).unwrap_or_else(|raw| {
            kept.push(("gender", raw));
            None
        });

        Ok(vec![PatientsRow {
            id: v::uuid(mint("patients", key)),
            legacy_id: v::int(key),
            doctor_id: v::uuid(doctor),
            office_id: office,
            profile_id: profile,
            first_name: v::opt_text(input.first_name.trimmed()),
            last_name: v::text(last_name),
            date_of_birth: dob.map_or(Value::Null, Value::Date),
            gender: v::opt_text(gender),
            email: v::opt_text(input.email.trimmed()),
            phone: v::opt_text(input.phone.trimmed()),
            notes: v::opt_text(input.notes.get().filter(|s| !s.trim().is_empty())),
            is_archived: v::boolean(input.archived.get().unwrap_or(false)),
            legacy_metadata: legacy_metadata(kept).map_or(Value::Null, Value::Json),
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
        }
        .into()])
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
