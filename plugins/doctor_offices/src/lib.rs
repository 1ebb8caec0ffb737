//! legacy `doctor_offices` -> `public.doctor_offices`.
//!
//! Rejects a link without a doctor or an office, or whose doctor or office was not migrated
//! (orphan; this includes links to soft-deleted doctors and offices, which were skipped).
//! A NULL `is_primary` is written as false.

use lab_conventions::opt_timestamptz;
use migrate_sdk::{mint, resolve, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `doctor_offices`, in the order rows carry them (the key first).
    pub struct LegacyDoctorOffices from "doctor_offices" {
        id: Key,
        doctor_id: Int,
        office_id: Int,
        is_primary: Bool,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `doctor_offices`.
    pub struct DoctorOfficesRow into "doctor_offices" {
        id: Value,
        legacy_id: Value,
        doctor_id: Value,
        office_id: Value,
        is_primary: Value,
        created_at: Value,
    }
}

#[derive(Default)]
pub struct DoctorOffices;

impl Transform for DoctorOffices {
    type Source = LegacyDoctorOffices;
    const WRITES: &'static [Table] = &[DoctorOfficesRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["doctors", "offices"];

    fn transform_row(&mut self, input: LegacyDoctorOffices) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let doctor = resolve("doctors", input.doctor_id.require()?, "doctor_id")?;
        let office = resolve("offices", input.office_id.require()?, "office_id")?;
        Ok(vec![DoctorOfficesRow {
            id: v::uuid(mint("doctor_offices", key)),
            legacy_id: v::int(key),
            doctor_id: v::uuid(doctor),
            office_id: v::uuid(office),
            is_primary: v::boolean(input.is_primary.get().unwrap_or(false)),
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
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
