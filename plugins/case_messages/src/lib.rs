//! legacy `case_messages` -> `public.case_messages`.
//!
//! Skips soft-deleted messages (`deleted_at` set) and the messages of a skipped case.
//! Rejects a message without a case or a body, or whose case was not migrated (orphan: a
//! few legacy rows point at cases that no longer exist). `sender_role` (free text) is
//! normalized to `message_sender_role`; a non-blank role that is not known is written as
//! NULL and kept raw in `legacy_metadata`. `is_read` is true when the legacy row is marked
//! read or has a `read_at`; a `read_at` on a row marked unread keeps {"is_read": false} in
//! `legacy_metadata`. The sender is NULL for system messages and soft-deleted senders.

use lab_conventions::{opt_timestamptz, read_state, skip_if_deleted_at};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `case_messages`, in the order rows carry them (the key first).
    pub struct LegacyCaseMessages from "case_messages" {
        id: Key,
        case_id: Int,
        sender_profile_id: Int,
        sender_role: Text,
        body: Text,
        is_read: Bool,
        read_at: Text,
        created_at: Text,
        deleted_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `case_messages`.
    pub struct CaseMessagesRow into "case_messages" {
        id: Value,
        legacy_id: Value,
        case_id: Value,
        sender_profile_id: Value,
        sender_role: Value,
        body: Value,
        is_read: Value,
        read_at: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

/// Free-text sender role -> `message_sender_role` label, None when not known.
pub fn sender_role(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "doctor" | "dr" | "dr." => "doctor",
        "technician" | "tech" => "technician",
        "staff" => "staff",
        "system" => "system",
        _ => return None,
    })
}

#[derive(Default)]
pub struct CaseMessages;

impl Transform for CaseMessages {
    type Source = LegacyCaseMessages;
    const WRITES: &'static [Table] = &[CaseMessagesRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["cases", "profiles"];

    fn transform_row(&mut self, input: LegacyCaseMessages) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_deleted_at(&input.deleted_at, "case message")?;
        let case = resolve("cases", input.case_id.require()?, "case_id")?;
        input.body.require()?;
        let body = input.body.get().unwrap_or_default();
        let sender = resolve_optional(
            "profiles",
            input.sender_profile_id.get(),
            "sender_profile_id",
        )?;

        let mut metadata = Vec::new();
        let role = match input.sender_role.trimmed() {
            None => Value::Null,
            Some(text) => match sender_role(text) {
                Some(label) => v::text(label),
                None => {
                    metadata.push(("sender_role", Json::string(text)));
                    Value::Null
                }
            },
        };
        let read_at = input.read_at.get();
        let (is_read, kept) = read_state(input.is_read.get(), read_at.is_some());
        if let Some(flag) = kept {
            metadata.push(("is_read", Json::Bool(flag)));
        }
        let metadata = migrate_sdk::json::metadata(metadata);

        Ok(vec![CaseMessagesRow {
            id: v::uuid(mint("case_messages", key)),
            legacy_id: v::int(key),
            case_id: v::uuid(case),
            sender_profile_id: sender,
            sender_role: role,
            body: v::text(body),
            is_read: v::boolean(is_read),
            read_at: opt_timestamptz(read_at),
            legacy_metadata: metadata,
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(CaseMessages);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn message(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(21)),
            ("case_id", v::int(10)),
            ("sender_profile_id", v::int(40)),
            ("sender_role", v::text("Doctor")),
            ("body", v::text("Please check the\nupper midline.")),
            ("is_read", v::boolean(true)),
            ("read_at", Value::Timestamp("2021-05-02 08:00:00".into())),
            ("created_at", Value::Timestamp("2021-05-01 17:45:10".into())),
            ("deleted_at", Value::Null),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<CaseMessages>(&row)
    }

    #[test]
    fn migrates_a_message() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        let rows = message(&[]).unwrap();
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("case_messages", 21)),
                v::int(21),
                v::uuid(uuid("cases", 10)),
                v::uuid(uuid("profiles", 40)),
                v::text("doctor"),
                v::text("Please check the\nupper midline."),
                v::boolean(true),
                Value::Timestamptz("2021-05-02 08:00:00 America/Chicago".into()),
                Value::Null,
                Value::Timestamptz("2021-05-01 17:45:10 America/Chicago".into()),
            ]
        );
        let system = message(&[
            ("sender_profile_id", Value::Null),
            ("sender_role", v::text("system")),
        ])
        .unwrap();
        assert_eq!(
            get::<CaseMessages>(&system[0], "sender_profile_id"),
            &Value::Null
        );
        assert_eq!(
            get::<CaseMessages>(&system[0], "sender_role"),
            &v::text("system")
        );
    }

    #[test]
    fn read_flags() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        let unread_with_time = message(&[("is_read", v::boolean(false))]).unwrap();
        assert_eq!(
            get::<CaseMessages>(&unread_with_time[0], "is_read"),
            &v::boolean(true)
        );
        assert_eq!(
            get::<CaseMessages>(&unread_with_time[0], "legacy_metadata"),
            &Value::Json(r#"{"is_read":false}"#.into())
        );
        let read_no_time = message(&[("read_at", Value::Null)]).unwrap();
        assert_eq!(
            get::<CaseMessages>(&read_no_time[0], "is_read"),
            &v::boolean(true)
        );
        assert_eq!(
            get::<CaseMessages>(&read_no_time[0], "read_at"),
            &Value::Null
        );
        let unread = message(&[("is_read", Value::Null), ("read_at", Value::Null)]).unwrap();
        assert_eq!(
            get::<CaseMessages>(&unread[0], "is_read"),
            &v::boolean(false)
        );
        assert_eq!(
            get::<CaseMessages>(&unread[0], "legacy_metadata"),
            &Value::Null
        );
    }

    #[test]
    fn keeps_unknown_role() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        let rows = message(&[("sender_role", v::text("Receptionist"))]).unwrap();
        assert_eq!(get::<CaseMessages>(&rows[0], "sender_role"), &Value::Null);
        assert_eq!(
            get::<CaseMessages>(&rows[0], "legacy_metadata"),
            &Value::Json(r#"{"sender_role":"Receptionist"}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        skipped_rows("cases", &[11]);
        skipped_rows("profiles", &[41]);
        assert!(matches!(
            message(&[("deleted_at", Value::Timestamp("2022-01-01 10:00:00".into()))]),
            Err(Fate::Skip(r)) if r.contains("deleted_at")
        ));
        assert!(matches!(
            message(&[("case_id", v::int(11))]),
            Err(Fate::Skip(_))
        ));
        assert!(matches!(
            message(&[("case_id", v::int(99999))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: case_id=99999")
        ));
        assert!(matches!(
            message(&[("body", v::text(" \n"))]),
            Err(Fate::Reject(r)) if r.contains("body")
        ));
        let gone = message(&[("sender_profile_id", v::int(41))]).unwrap();
        assert_eq!(
            get::<CaseMessages>(&gone[0], "sender_profile_id"),
            &Value::Null
        );
    }

    #[test]
    fn roles() {
        for (text, label) in [
            ("doctor", "doctor"),
            ("Doctor", "doctor"),
            ("technician", "technician"),
            ("tech", "technician"),
            (" staff ", "staff"),
            ("system", "system"),
        ] {
            assert_eq!(sender_role(text), Some(label), "{text}");
        }
        assert_eq!(sender_role("patient"), None);
        assert_eq!(read_state(Some(true), true), (true, None));
        assert_eq!(read_state(Some(false), true), (true, Some(false)));
        assert_eq!(read_state(Some(true), false), (true, None));
        assert_eq!(read_state(Some(false), false), (false, None));
        assert_eq!(read_state(None, false), (false, None));
    }
}
