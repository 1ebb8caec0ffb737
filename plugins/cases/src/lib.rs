//! legacy `cases` -> `public.cases`.
//!
//! Skips soft-deleted cases (`is_deleted`), and cases whose patient was skipped. Rejects a
//! case without a patient or a case number, whose patient or doctor was not migrated
//! (orphan), or whose `current_state` is NULL or an unknown code. A soft-deleted doctor
//! (skipped) leaves `doctor_id` NULL. `angle_class` (free text) is normalized to the
//! `angle_class` enum; a non-blank text that is not a known class is written as NULL and
//! kept raw in `legacy_metadata` as {"angle_class": "<raw>"}.

use lab_conventions::{case_status, opt_timestamptz, skip_if_flagged_deleted};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `cases`, in the order rows carry them (the key first).
    pub struct LegacyCases from "cases" {
        id: Key,
        patient_id: Int,
        doctor_id: Int,
        case_number: Text,
        current_state: Int,
        angle_class: Text,
        chief_complaint: Text,
        diagnosis: Text,
        is_deleted: Bool,
        created_at: Text,
        updated_at: Text,
        closed_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `cases`.
    pub struct CasesRow into "cases" {
        id: Value,
        legacy_id: Value,
        patient_id: Value,
        doctor_id: Value,
        case_number: Value,
        status: Value,
        angle_class: Value,
        chief_complaint: Value,
        diagnosis: Value,
        legacy_metadata: Value,
        created_at: Value,
        updated_at: Value,
        closed_at: Value,
    }
}

/// Free-text Angle classification -> `angle_class` label, None when it is not a known class.
///
/// Case, blanks, a leading "Class", "div"/"division" and the separators `/ - .` do not
/// matter: 'II/1', 'II div 1', 'Class II division 1' are all class II division 1. Roman and
/// Arabic numerals are both read ('2/1'). 'Class II' without a division is `class_ii`.
pub fn angle_class(text: &str) -> Option<&'static str> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_prefix("class").unwrap_or(&lower);
    let compact: String = lower
        .replace("division", "")
        .replace("div", "")
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '/' | '-' | '.'))
        .collect();
    Some(match compact.as_str() {
        "i" | "1" => "class_i",
        "ii" | "2" => "class_ii",
        "ii1" | "21" => "class_ii_div_1",
        "ii2" | "22" => "class_ii_div_2",
        "iii" | "3" => "class_iii",
        _ => return None,
    })
}

/// Text kept as it was typed, NULL when blank.
fn opt_nonblank(text: Option<&str>) -> Value {
    v::opt_text(text.filter(|s| !s.trim().is_empty()))
}

#[derive(Default)]
pub struct Cases;

impl Transform for Cases {
    type Source = LegacyCases;
    const WRITES: &'static [Table] = &[CasesRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["patients", "doctors"];

    fn transform_row(&mut self, input: LegacyCases) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_flagged_deleted(&input.is_deleted, "case")?;
        let case_number = input.case_number.require()?;
        let code = input.current_state.require()?;
        let status = case_status(code)
            .ok_or_else(|| Fate::reject(format!("unknown case state code {code}")))?;
        let patient = resolve("patients", input.patient_id.require()?, "patient_id")?;
        let doctor = resolve_optional("doctors", input.doctor_id.get(), "doctor_id")?;

        let mut metadata = Vec::new();
        let angle = match input.angle_class.trimmed() {
            None => Value::Null,
            Some(text) => match angle_class(text) {
                Some(label) => v::text(label),
                None => {
                    metadata.push(("angle_class", Json::string(text)));
                    Value::Null
                }
            },
        };
        let metadata = migrate_sdk::json::metadata(metadata);

        Ok(vec![CasesRow {
            id: v::uuid(mint("cases", key)),
            legacy_id: v::int(key),
            patient_id: v::uuid(patient),
            doctor_id: doctor,
            case_number: v::text(case_number),
            status: v::text(status),
            angle_class: angle,
            chief_complaint: opt_nonblank(input.chief_complaint.get()),
            diagnosis: opt_nonblank(input.diagnosis.get()),
            legacy_metadata: metadata,
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
            closed_at: opt_timestamptz(input.closed_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Cases);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn case(id: i64) -> Vec<(&'static str, Value)> {
        vec![
            ("id", v::int(id)),
            ("patient_id", v::int(4)),
            ("doctor_id", v::int(2)),
            ("case_number", v::text("C19-00012")),
            ("current_state", v::int(5)),
            ("angle_class", v::text("II div 1")),
            ("chief_complaint", v::text("Crowding")),
            ("diagnosis", v::text("  ")),
            ("is_deleted", v::boolean(false)),
            ("created_at", Value::Timestamp("2019-03-07 14:05:00".into())),
        ]
    }

    fn with(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = case(1);
        for (name, value) in changes {
            match row.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => row.push((name, value.clone())),
            }
        }
        run::<Cases>(&row)
    }

    #[test]
    fn migrates_a_case() {
        migrated("patients", &[4]);
        migrated("doctors", &[2]);
        let rows = run::<Cases>(&case(7)).unwrap();
        assert_eq!(rows.len(), 1);
        let c = &rows[0];
        assert_eq!(get::<Cases>(c, "id"), &v::uuid(uuid("cases", 7)));
        assert_eq!(get::<Cases>(c, "legacy_id"), &v::int(7));
        assert_eq!(get::<Cases>(c, "patient_id"), &v::uuid(uuid("patients", 4)));
        assert_eq!(get::<Cases>(c, "doctor_id"), &v::uuid(uuid("doctors", 2)));
        assert_eq!(get::<Cases>(c, "status"), &v::text("active_treatment"));
        assert_eq!(get::<Cases>(c, "angle_class"), &v::text("class_ii_div_1"));
        assert_eq!(get::<Cases>(c, "chief_complaint"), &v::text("Crowding"));
        assert_eq!(get::<Cases>(c, "diagnosis"), &Value::Null);
        assert_eq!(get::<Cases>(c, "legacy_metadata"), &Value::Null);
        assert_eq!(
            get::<Cases>(c, "created_at"),
            &Value::Timestamptz("2019-03-07 14:05:00 America/Chicago".into())
        );
        assert_eq!(get::<Cases>(c, "closed_at"), &Value::Null);
    }

    #[test]
    fn keeps_unknown_angle_class() {
        migrated("patients", &[4]);
        migrated("doctors", &[2]);
        let rows = with(&[("angle_class", v::text("IV?"))]).unwrap();
        assert_eq!(get::<Cases>(&rows[0], "angle_class"), &Value::Null);
        assert_eq!(
            get::<Cases>(&rows[0], "legacy_metadata"),
            &Value::Json(r#"{"angle_class":"IV?"}"#.into())
        );
        let rows = with(&[("angle_class", Value::Null)]).unwrap();
        assert_eq!(get::<Cases>(&rows[0], "angle_class"), &Value::Null);
        assert_eq!(get::<Cases>(&rows[0], "legacy_metadata"), &Value::Null);
    }

    #[test]
    fn skips_and_rejects() {
        migrated("patients", &[4]);
        migrated("doctors", &[2]);
        skipped_rows("patients", &[6]);
        skipped_rows("doctors", &[3]);
        assert!(with(&[]).is_ok());
        assert!(matches!(
            with(&[("is_deleted", v::boolean(true))]),
            Err(Fate::Skip(_))
        ));
        assert!(matches!(
            with(&[("patient_id", v::int(6))]),
            Err(Fate::Skip(r)) if r.contains("patient_id=6")
        ));
        assert!(matches!(
            with(&[("patient_id", v::int(5))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: patient_id=5")
        ));
        assert!(matches!(
            with(&[("patient_id", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("patient_id")
        ));
        assert!(matches!(
            with(&[("doctor_id", v::int(9))]),
            Err(Fate::Reject(r)) if r.contains("doctor_id=9")
        ));
        let no_doctor = with(&[("doctor_id", v::int(3))]).unwrap();
        assert_eq!(get::<Cases>(&no_doctor[0], "doctor_id"), &Value::Null);
        assert!(matches!(
            with(&[("case_number", v::text(" "))]),
            Err(Fate::Reject(r)) if r.contains("case_number")
        ));
        assert_eq!(
            with(&[("current_state", v::int(9))]),
            Err(Fate::reject("unknown case state code 9"))
        );
        assert!(matches!(
            with(&[("current_state", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("current_state")
        ));
    }

    #[test]
    fn statuses() {
        let all: Vec<_> = (1..=8).map(|c| case_status(c).unwrap()).collect();
        assert_eq!(
            all,
            [
                "intake",
                "records",
                "diagnosis",
                "planning",
                "active_treatment",
                "retention",
                "closed",
                "transferred_out"
            ]
        );
        for unknown in [-1, 0, 9, 10] {
            assert_eq!(case_status(unknown), None);
        }
    }

    #[test]
    fn angle_classes() {
        for (text, label) in [
            ("I", "class_i"),
            ("Class I", "class_i"),
            ("II/1", "class_ii_div_1"),
            ("II div 1", "class_ii_div_1"),
            ("class ii division 1", "class_ii_div_1"),
            ("Class II", "class_ii"),
            ("II/2", "class_ii_div_2"),
            ("II Div. 2", "class_ii_div_2"),
            ("III", "class_iii"),
            ("Class III", "class_iii"),
            (" iii ", "class_iii"),
            ("2/1", "class_ii_div_1"),
        ] {
            assert_eq!(angle_class(text), Some(label), "{text}");
        }
        for bad in ["", "IV", "II/3", "normal", "class"] {
            assert_eq!(angle_class(bad), None, "{bad}");
        }
    }
}
