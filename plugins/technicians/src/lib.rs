//! legacy `technicians` -> `public.technicians`.
//!
//! Rejects a technician whose profile or role was not migrated (orphan; a soft-deleted
//! profile only drops the link, the legacy id is kept as {"profile_id": id}). Nothing is skipped (no soft delete: `terminated_at` and
//! `is_active` migrate as they are, even where they disagree). `employee_no` is trimmed and
//! upper-cased; `hourly_rate_cents` becomes exact dollars (a negative rate is NULL and kept
//! raw). An unknown `shift` code is written as NULL and kept raw in `legacy_metadata`; a NULL
//! `is_active` is written as "not terminated" and recorded as {"is_active": null}.

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::Json;
use migrate_sdk::money::cents_to_decimal;
use migrate_sdk::{mint, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `technicians`, in the order rows carry them (the key first).
    pub struct LegacyTechnicians from "technicians" {
        id: Key,
        profile_id: Int,
        role_id: Int,
        employee_no: Text,
        shift: Int,
        hourly_rate_cents: Int,
        is_active: Bool,
        hired_at: Text,
        terminated_at: Text,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `technicians`.
    pub struct TechniciansRow into "technicians" {
        id: Value,
        legacy_id: Value,
        profile_id: Value,
        role_id: Value,
        employee_no: Value,
        shift: Value,
        hourly_rate: Value,
        is_active: Value,
        legacy_metadata: Value,
        hired_at: Value,
        terminated_at: Value,
        created_at: Value,
    }
}

/// Legacy shift code -> `work_shift` label.
pub fn work_shift(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "day",
        2 => "evening",
        3 => "night",
        _ => return None,
    })
}

/// An employee number trimmed and upper-cased ('t-0005' -> 'T-0005'); None when blank.
pub fn employee_no(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_uppercase)
}

#[derive(Default)]
pub struct Technicians;

impl Transform for Technicians {
    type Source = LegacyTechnicians;
    const WRITES: &'static [Table] = &[TechniciansRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["profiles", "technician_roles"];

    fn transform_row(&mut self, input: LegacyTechnicians) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let profile = resolve_optional("profiles", input.profile_id.get(), "profile_id")?;
        let role = resolve_optional("technician_roles", input.role_id.get(), "role_id")?;

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let shift = input.shift.get().and_then(|code| {
            let label = work_shift(code);
            if label.is_none() {
                kept.push(("shift", Json::Number(code.to_string())));
            }
            label
        });
        let rate = input.hourly_rate_cents.get().and_then(|cents| {
            if cents < 0 {
                kept.push(("hourly_rate_cents", Json::Number(cents.to_string())));
                None
            } else {
                Some(v::numeric(cents_to_decimal(cents)))
            }
        });
        let is_active = input.is_active.get().unwrap_or_else(|| {
            kept.push(("is_active", Json::Null));
            input.terminated_at.is_null()
        });
        if profile == Value::Null {
            if let Some(id) = input.profile_id.get() {
                // The profile was soft-deleted: the link is gone, the legacy id stays.
                kept.push(("profile_id", Json::Number(id.to_string())));
            }
        }
        let metadata = migrate_sdk::json::metadata(kept);

        Ok(vec![TechniciansRow {
            id: v::uuid(mint("technicians", key)),
            legacy_id: v::int(key),
            profile_id: profile,
            role_id: role,
            employee_no: v::opt(employee_no(input.employee_no.get()).map(v::text)),
            shift: v::opt_text(shift),
            hourly_rate: v::opt(rate),
            is_active: v::boolean(is_active),
            legacy_metadata: metadata,
            hired_at: opt_timestamptz(input.hired_at.get()),
            terminated_at: opt_timestamptz(input.terminated_at.get()),
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Technicians);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn technician(id: i64) -> Vec<(&'static str, Value)> {
        vec![
            ("id", v::int(id)),
            ("profile_id", v::int(261)),
            ("role_id", v::int(26)),
            ("employee_no", v::text(" t-0005")),
            ("shift", v::int(2)),
            ("hourly_rate_cents", v::int(3125)),
            ("is_active", v::boolean(true)),
            ("hired_at", Value::Timestamp("2014-12-26 17:58:04".into())),
            ("terminated_at", Value::Null),
        ]
    }

    fn with(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = technician(5);
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Technicians>(&row)
    }

    #[test]
    fn migrates_a_technician() {
        migrated("profiles", &[261]);
        migrated("technician_roles", &[26]);
        let rows = with(&[]).unwrap();
        let r = &rows[0];
        assert_eq!(
            get::<Technicians>(r, "id"),
            &v::uuid(uuid("technicians", 5))
        );
        assert_eq!(get::<Technicians>(r, "legacy_id"), &v::int(5));
        assert_eq!(
            get::<Technicians>(r, "profile_id"),
            &v::uuid(uuid("profiles", 261))
        );
        assert_eq!(
            get::<Technicians>(r, "role_id"),
            &v::uuid(uuid("technician_roles", 26))
        );
        assert_eq!(get::<Technicians>(r, "employee_no"), &v::text("T-0005"));
        assert_eq!(get::<Technicians>(r, "shift"), &v::text("evening"));
        assert_eq!(get::<Technicians>(r, "hourly_rate"), &v::numeric("31.25"));
        assert_eq!(get::<Technicians>(r, "is_active"), &v::boolean(true));
        assert_eq!(get::<Technicians>(r, "legacy_metadata"), &Value::Null);
        assert_eq!(
            get::<Technicians>(r, "hired_at"),
            &Value::Timestamptz("2014-12-26 17:58:04 America/Chicago".into())
        );
        assert_eq!(get::<Technicians>(r, "terminated_at"), &Value::Null);
        let unassigned = with(&[("role_id", Value::Null)]).unwrap();
        assert_eq!(get::<Technicians>(&unassigned[0], "role_id"), &Value::Null);
    }

    #[test]
    fn keeps_what_did_not_convert() {
        migrated("technician_roles", &[26]);
        skipped_rows("profiles", &[261]);
        let rows = with(&[
            ("shift", v::int(4)),
            ("is_active", Value::Null),
            (
                "terminated_at",
                Value::Timestamp("2020-01-01 00:00:00".into()),
            ),
            ("hourly_rate_cents", v::int(-5)),
        ])
        .unwrap();
        let r = &rows[0];
        assert_eq!(get::<Technicians>(r, "profile_id"), &Value::Null);
        assert_eq!(get::<Technicians>(r, "shift"), &Value::Null);
        assert_eq!(get::<Technicians>(r, "hourly_rate"), &Value::Null);
        assert_eq!(get::<Technicians>(r, "is_active"), &v::boolean(false));
        assert_eq!(
            get::<Technicians>(r, "legacy_metadata"),
            &Value::Json(
                r#"{"shift":4,"hourly_rate_cents":-5,"is_active":null,"profile_id":261}"#.into()
            )
        );
    }

    #[test]
    fn rejects_orphans() {
        migrated("profiles", &[261]);
        assert!(matches!(with(&[]), Err(Fate::Reject(r)) if r.contains("role_id=26")));
        migrated("technician_roles", &[26]);
        assert!(
            matches!(with(&[("profile_id", v::int(3))]), Err(Fate::Reject(r)) if r.contains("profile_id=3"))
        );
        assert!(with(&[("profile_id", Value::Null)]).is_ok());
    }

    #[test]
    fn shifts_and_numbers() {
        assert_eq!(work_shift(1), Some("day"));
        assert_eq!(work_shift(3), Some("night"));
        assert_eq!(work_shift(0), None);
        assert_eq!(employee_no(Some("t-0012 ")), Some("T-0012".into()));
        assert_eq!(employee_no(Some("  ")), None);
        assert_eq!(employee_no(None), None);
    }
}
