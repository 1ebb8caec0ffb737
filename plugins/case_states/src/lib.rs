//! legacy `case_states` -> `public.case_state_transitions`.
//!
//! One transition per legacy row: `previous_state` -> `state`. Skips the states of a skipped
//! case. Rejects a row without a case, whose case was not migrated (orphan), or whose
//! `state` is NULL or an unknown code. An unknown `previous_state` code is written as NULL
//! and kept in `legacy_metadata` as {"previous_state": code}. `changed_by` is NULL when that
//! profile was soft-deleted (skipped); a dangling `changed_by` rejects (orphan).

use migrate_sdk::json::Json;
use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{
    describe, mint, resolve, resolve_optional, row, v, Description, Fate, Input, TargetRow,
    Transform, Value,
};

const READS: &[&str] = &[
    "id",
    "case_id",
    "state",
    "previous_state",
    "changed_by",
    "reason",
    "created_at",
];
const CASE_STATE_TRANSITIONS: &[&str] = &[
    "id",
    "legacy_id",
    "case_id",
    "from_status",
    "to_status",
    "changed_by_profile_id",
    "reason",
    "legacy_metadata",
    "changed_at",
];

/// Legacy case state code -> `case_status` label (as in legacy cases.current_state).
pub fn case_status(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "intake",
        2 => "records",
        3 => "diagnosis",
        4 => "planning",
        5 => "active_treatment",
        6 => "retention",
        7 => "closed",
        8 => "transferred_out",
        _ => return None,
    })
}

pub struct CaseStates;

impl Transform for CaseStates {
    fn describe() -> Description {
        describe(
            "case_states",
            READS,
            &[("case_state_transitions", CASE_STATE_TRANSITIONS)],
            &["cases", "profiles"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        let code = input.require_int("state")?;
        let to = case_status(code)
            .ok_or_else(|| Fate::reject(format!("unknown case state code {code}")))?;
        let case = resolve("cases", input.require_int("case_id")?, "case_id")?;
        let changed_by = resolve_optional("profiles", input.int("changed_by"), "changed_by")?;

        let mut metadata = Vec::new();
        let from = match input.int("previous_state") {
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

        Ok(vec![row(
            "case_state_transitions",
            vec![
                v::uuid(mint("case_states", key)),
                v::int(key),
                v::uuid(case),
                from,
                v::text(to),
                changed_by,
                v::opt_text(input.text("reason").filter(|s| !s.trim().is_empty())),
                metadata,
                opt_timestamptz(input.text("created_at")),
            ],
        )])
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
