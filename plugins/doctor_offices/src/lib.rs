//! legacy `doctor_offices` -> `public.doctor_offices`.
//!
//! Rejects a link without a doctor or an office, or whose doctor or office was not migrated
//! (orphan; this includes links to soft-deleted doctors and offices, which were skipped).
//! A NULL `is_primary` is written as false.

use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{
    describe, mint, resolve, row, v, Description, Fate, Input, TargetRow, Transform,
};

const READS: &[&str] = &["id", "doctor_id", "office_id", "is_primary", "created_at"];
const DOCTOR_OFFICES: &[&str] = &[
    "id",
    "legacy_id",
    "doctor_id",
    "office_id",
    "is_primary",
    "created_at",
];

pub struct DoctorOffices;

impl Transform for DoctorOffices {
    fn describe() -> Description {
        describe(
            "doctor_offices",
            READS,
            &[("doctor_offices", DOCTOR_OFFICES)],
            &["doctors", "offices"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        let doctor = resolve("doctors", input.require_int("doctor_id")?, "doctor_id")?;
        let office = resolve("offices", input.require_int("office_id")?, "office_id")?;
        Ok(vec![row(
            "doctor_offices",
            vec![
                v::uuid(mint("doctor_offices", key)),
                v::int(key),
                v::uuid(doctor),
                v::uuid(office),
                v::boolean(input.boolean("is_primary").unwrap_or(false)),
                opt_timestamptz(input.text("created_at")),
            ],
        )])
    }
}

migrate_sdk::plugin!(DoctorOffices);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{migrated, run, uuid};
    use migrate_sdk::Value;

    #[test]
    fn migrates_a_link() {
        migrated("doctors", &[2]);
        migrated("offices", &[1]);
        let rows = run::<DoctorOffices>(&[
            ("id", v::int(5)),
            ("doctor_id", v::int(2)),
            ("office_id", v::int(1)),
        ])
        .unwrap();
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("doctor_offices", 5)),
                v::int(5),
                v::uuid(uuid("doctors", 2)),
                v::uuid(uuid("offices", 1)),
                v::boolean(false),
                Value::Null,
            ]
        );
    }

    #[test]
    fn rejects() {
        migrated("doctors", &[2]);
        migrated("offices", &[1]);
        assert!(
            matches!(run::<DoctorOffices>(&[("id", v::int(1)), ("office_id", v::int(1))]), Err(Fate::Reject(r)) if r.contains("doctor_id"))
        );
        assert!(
            matches!(run::<DoctorOffices>(&[("id", v::int(2)), ("doctor_id", v::int(2))]), Err(Fate::Reject(r)) if r.contains("office_id"))
        );
        let orphan = run::<DoctorOffices>(&[
            ("id", v::int(3)),
            ("doctor_id", v::int(9)),
            ("office_id", v::int(1)),
        ]);
        assert_eq!(orphan, Err(Fate::reject("orphan: doctor_id=9 has no migrated row in doctors (missing in the legacy data, or quarantined)")));
    }
}
