//! legacy `communications` -> `public.communications`.
//!
//! Skips contacts with a skipped (soft-deleted) office. Rejects a contact without an
//! office, or whose office, doctor or author was not migrated (orphan). A soft-deleted
//! doctor or author (skipped) becomes NULL. `channel` and `direction` (free text) are
//! normalized to enums; a non-blank text that is not known is written as NULL and kept raw
//! in `legacy_metadata` (e.g. {"channel": "pigeon"}). The legacy `created_at` (when the
//! contact was typed in) is `recorded_at`.

use migrate_sdk::json::Json;
use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{
    describe, mint, resolve, resolve_optional, row, v, Description, Fate, Input, TargetRow,
    Transform, Value,
};

const READS: &[&str] = &[
    "id",
    "office_id",
    "doctor_id",
    "author_profile_id",
    "channel",
    "direction",
    "subject",
    "body",
    "follow_up_at",
    "occurred_at",
    "created_at",
];
const COMMUNICATIONS: &[&str] = &[
    "id",
    "legacy_id",
    "office_id",
    "doctor_id",
    "author_profile_id",
    "channel",
    "direction",
    "subject",
    "body",
    "follow_up_at",
    "occurred_at",
    "legacy_metadata",
    "recorded_at",
];

/// Free-text channel -> `communication_channel` label (case, blanks, '-' and '_' do not
/// matter: 'E-mail', 'in person', 'In-Person'), None when not known.
pub fn channel(text: &str) -> Option<&'static str> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_'))
        .collect::<String>()
        .to_ascii_lowercase();
    Some(match compact.as_str() {
        "phone" | "telephone" | "call" => "phone",
        "email" | "mail" => "email",
        "fax" => "fax",
        "inperson" | "visit" => "in_person",
        "sms" | "text" => "sms",
        _ => return None,
    })
}

/// Free-text direction -> `communication_direction` label, None when not known.
pub fn direction(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "in" | "inbound" | "incoming" => "inbound",
        "out" | "outbound" | "outgoing" => "outbound",
        _ => return None,
    })
}

pub struct Communications;

impl Transform for Communications {
    fn describe() -> Description {
        describe(
            "communications",
            READS,
            &[("communications", COMMUNICATIONS)],
            &["offices", "doctors", "profiles"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        let office = resolve("offices", input.require_int("office_id")?, "office_id")?;
        let doctor = resolve_optional("doctors", input.int("doctor_id"), "doctor_id")?;
        let author = resolve_optional(
            "profiles",
            input.int("author_profile_id"),
            "author_profile_id",
        )?;

        let mut metadata = Vec::new();
        let mut code = |column: &'static str, map: fn(&str) -> Option<&'static str>| match input
            .trimmed(column)
        {
            None => Value::Null,
            Some(text) => match map(text) {
                Some(label) => v::text(label),
                None => {
                    metadata.push((column, Json::string(text)));
                    Value::Null
                }
            },
        };
        let channel = code("channel", channel);
        let direction = code("direction", direction);
        let metadata = migrate_sdk::json::metadata(metadata);

        Ok(vec![row(
            "communications",
            vec![
                v::uuid(mint("communications", key)),
                v::int(key),
                v::uuid(office),
                doctor,
                author,
                channel,
                direction,
                v::opt_text(input.text("subject").filter(|s| !s.trim().is_empty())),
                v::opt_text(input.text("body").filter(|s| !s.trim().is_empty())),
                opt_timestamptz(input.text("follow_up_at")),
                opt_timestamptz(input.text("occurred_at")),
                metadata,
                opt_timestamptz(input.text("created_at")),
            ],
        )])
    }
}

migrate_sdk::plugin!(Communications);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn contact(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(4)),
            ("office_id", v::int(1)),
            ("doctor_id", v::int(2)),
            ("author_profile_id", v::int(30)),
            ("channel", v::text("E-mail")),
            ("direction", v::text("IN")),
            ("subject", v::text("Invoice question")),
            ("body", v::text("Asked about March.\nSpoke with Ana.")),
            ("follow_up_at", Value::Null),
            (
                "occurred_at",
                Value::Timestamp("2020-06-01 10:00:00".into()),
            ),
            ("created_at", Value::Timestamp("2020-06-02 08:00:00".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Communications>(&row)
    }

    fn setup() {
        migrated("offices", &[1]);
        migrated("doctors", &[2]);
        migrated("profiles", &[30]);
        skipped_rows("offices", &[5]);
        skipped_rows("doctors", &[6]);
    }

    #[test]
    fn migrates_a_contact() {
        setup();
        let rows = contact(&[]).unwrap();
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("communications", 4)),
                v::int(4),
                v::uuid(uuid("offices", 1)),
                v::uuid(uuid("doctors", 2)),
                v::uuid(uuid("profiles", 30)),
                v::text("email"),
                v::text("inbound"),
                v::text("Invoice question"),
                v::text("Asked about March.\nSpoke with Ana."),
                Value::Null,
                Value::Timestamptz("2020-06-01 10:00:00 America/Chicago".into()),
                Value::Null,
                Value::Timestamptz("2020-06-02 08:00:00 America/Chicago".into()),
            ]
        );
    }

    #[test]
    fn keeps_unknown_codes() {
        setup();
        let rows = contact(&[
            ("channel", v::text("pigeon")),
            ("direction", v::text("both")),
        ])
        .unwrap();
        assert_eq!(get::<Communications>(&rows[0], "channel"), &Value::Null);
        assert_eq!(get::<Communications>(&rows[0], "direction"), &Value::Null);
        assert_eq!(
            get::<Communications>(&rows[0], "legacy_metadata"),
            &Value::Json(r#"{"channel":"pigeon","direction":"both"}"#.into())
        );
        let blank = contact(&[("channel", v::text(" ")), ("direction", Value::Null)]).unwrap();
        assert_eq!(get::<Communications>(&blank[0], "channel"), &Value::Null);
        assert_eq!(
            get::<Communications>(&blank[0], "legacy_metadata"),
            &Value::Null
        );
    }

    #[test]
    fn skips_and_rejects() {
        setup();
        assert!(matches!(
            contact(&[("office_id", v::int(5))]),
            Err(Fate::Skip(r)) if r.contains("office_id=5")
        ));
        assert!(matches!(
            contact(&[("office_id", v::int(7))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: office_id=7")
        ));
        assert!(matches!(
            contact(&[("office_id", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("office_id")
        ));
        let gone = contact(&[("doctor_id", v::int(6))]).unwrap();
        assert_eq!(get::<Communications>(&gone[0], "doctor_id"), &Value::Null);
        let general = contact(&[("doctor_id", Value::Null)]).unwrap();
        assert_eq!(
            get::<Communications>(&general[0], "doctor_id"),
            &Value::Null
        );
        assert!(matches!(
            contact(&[("doctor_id", v::int(8))]),
            Err(Fate::Reject(r)) if r.contains("doctor_id=8")
        ));
    }

    #[test]
    fn codes() {
        for (text, label) in [
            ("phone", "phone"),
            ("Phone", "phone"),
            ("email", "email"),
            ("E-mail", "email"),
            ("fax", "fax"),
            ("in person", "in_person"),
            ("In-Person", "in_person"),
            ("sms", "sms"),
        ] {
            assert_eq!(channel(text), Some(label), "{text}");
        }
        assert_eq!(channel("carrier pigeon"), None);
        for (text, label) in [
            ("in", "inbound"),
            ("IN", "inbound"),
            ("out", "outbound"),
            ("OUT ", "outbound"),
        ] {
            assert_eq!(direction(text), Some(label), "{text}");
        }
        assert_eq!(direction("sideways"), None);
    }
}
