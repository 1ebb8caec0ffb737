//! legacy `case_states` -> `public.case_state_transitions`.
//!
//! One transition per legacy row: `previous_state` -> `state`. Skips the states of a skipped
//! case. Rejects a row without a case, whose case was not migrated (orphan), or whose
//! `state` is NULL or an unknown code. An unknown `previous_state` code is written as NULL
//! and kept in `legacy_metadata` as {"previous_state": code}. `changed_by` is NULL when that
//! profile was soft-deleted (skipped); a dangling `changed_by` rejects (orphan).

use lab_conventions::{case_status, opt_timestamptz};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `case_states`, in the order rows carry them (the key first).
    pub struct LegacyCaseStates from "case_states" {
        id: Key,
        case_id: Int,
        state: Int,
        previous_state: Int,
        changed_by: Int,
        reason: Text,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `case_state_transitions`.
    pub struct CaseStateTransitionsRow into "case_state_transitions" {
        id: Value,
        legacy_id: Value,
        case_id: Value,
        from_status: Value,
        to_status: Value,
        changed_by_profile_id: Value,
        reason: Value,
        legacy_metadata: Value,
        changed_at: Value,
    }
}

#[derive(Default)]
pub struct CaseStates;

impl Transform for CaseStates {
    type Source = LegacyCaseStates;
    const WRITES: &'static [Table] = &[CaseStateTransitionsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["cases", "profiles"];

    fn transform_row(&mut self, input: LegacyCaseStates) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let code = input.state.require()?;
        let to = case_status(code)
            .ok_or_else(|| Fate::reject(format!("unknown case state code {code}")))?;
        let case = resolve("cases", input.case_id.require()?, "case_id")?;
        let changed_by = resolve_optional("profiles", input.changed_by.get(), "changed_by")?;

        let mut metadata = Vec::new();
        let from = match input.previous_state.get() {
            None => Value::Null,
            Some(code) => match case_status(code) {
                Some(label) => v::text(label),
                None => {
                    metadata.push(("previous_state", Json::Number(code.to_string())));
                    Value::Null
                }
            },
        };
        let metadata = migrate_sdk::json::metadata(metadata);

        Ok(vec![CaseStateTransitionsRow {
            id: v::uuid(mint("case_states", key)),
            legacy_id: v::int(key),
            case_id: v::uuid(case),
            from_status: from,
            to_status: v::text(to),
            changed_by_profile_id: changed_by,
            reason: v::opt_text(input.reason.get().filter(|s| !s.trim().is_empty())),
            legacy_metadata: metadata,
            changed_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(CaseStates);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn state(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(3)),
            ("case_id", v::int(10)),
            ("state", v::int(2)),
            ("previous_state", v::int(1)),
            ("changed_by", v::int(40)),
            ("reason", v::text("Records complete")),
            ("created_at", Value::Timestamp("2020-11-01 09:30:00".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<CaseStates>(&row)
    }

    #[test]
    fn migrates_a_transition() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        let rows = state(&[]).unwrap();
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("case_states", 3)),
                v::int(3),
                v::uuid(uuid("cases", 10)),
                v::text("intake"),
                v::text("records"),
                v::uuid(uuid("profiles", 40)),
                v::text("Records complete"),
                Value::Null,
                Value::Timestamptz("2020-11-01 09:30:00 America/Chicago".into()),
            ]
        );
        let first = state(&[("previous_state", Value::Null), ("reason", Value::Null)]).unwrap();
        assert_eq!(get::<CaseStates>(&first[0], "from_status"), &Value::Null);
        assert_eq!(get::<CaseStates>(&first[0], "reason"), &Value::Null);
    }

    #[test]
    fn keeps_unknown_previous_state() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        let rows = state(&[("previous_state", v::int(12))]).unwrap();
        assert_eq!(get::<CaseStates>(&rows[0], "from_status"), &Value::Null);
        assert_eq!(
            get::<CaseStates>(&rows[0], "legacy_metadata"),
            &Value::Json(r#"{"previous_state":12}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        skipped_rows("cases", &[11]);
        skipped_rows("profiles", &[41]);
        assert!(matches!(
            state(&[("case_id", v::int(11))]),
            Err(Fate::Skip(r)) if r.contains("case_id=11")
        ));
        assert!(matches!(
            state(&[("case_id", v::int(12))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: case_id=12")
        ));
        assert!(matches!(
            state(&[("case_id", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("case_id")
        ));
        assert_eq!(
            state(&[("state", v::int(0))]),
            Err(Fate::reject("unknown case state code 0"))
        );
        assert!(matches!(
            state(&[("state", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("state")
        ));
        let gone = state(&[("changed_by", v::int(41))]).unwrap();
        assert_eq!(
            get::<CaseStates>(&gone[0], "changed_by_profile_id"),
            &Value::Null
        );
        assert!(matches!(
            state(&[("changed_by", v::int(42))]),
            Err(Fate::Reject(r)) if r.contains("changed_by=42")
        ));
    }

    #[test]
    fn statuses() {
        assert_eq!(case_status(1), Some("intake"));
        assert_eq!(case_status(8), Some("transferred_out"));
        assert_eq!(case_status(0), None);
        assert_eq!(case_status(9), None);
    }
}
