//! legacy `communications` -> `public.communications`.
//!
//! Skips contacts with a skipped (soft-deleted) office. Rejects a contact without an
//! office, or whose office, doctor or author was not migrated (orphan). A soft-deleted
//! doctor or author (skipped) becomes NULL. `channel` and `direction` (free text) are
//! normalized to enums; a non-blank text that is not known is written as NULL and kept raw
//! in `legacy_metadata` (e.g. {"channel": "pigeon"}). The legacy `created_at` (when the
//! contact was typed in) is `recorded_at`.

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::Json;
use migrate_sdk::read::Text;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `communications`, in the order rows carry them (the key first).
    pub struct LegacyCommunications from "communications" {
        id: Key,
        office_id: Int,
        doctor_id: Int,
        author_profile_id: Int,
        channel: Text,
        direction: Text,
        subject: Text,
        body: Text,
        follow_up_at: Text,
        occurred_at: Text,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `communications`.
    pub struct CommunicationsRow into "communications" {
        id: Value,
        legacy_id: Value,
        office_id: Value,
        doctor_id: Value,
        author_profile_id: Value,
        channel: Value,
        direction: Value,
        subject: Value,
        body: Value,
        follow_up_at: Value,
        occurred_at: Value,
        legacy_metadata: Value,
        recorded_at: Value,
    }
}

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

#[derive(Default)]
pub struct Communications;

impl Transform for Communications {
    type Source = LegacyCommunications;
    const WRITES: &'static [Table] = &[CommunicationsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["offices", "doctors", "profiles"];

    fn transform_row(&mut self, input: LegacyCommunications) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let office = resolve("offices", input.office_id.require()?, "office_id")?;
        let doctor = resolve_optional("doctors", input.doctor_id.get(), "doctor_id")?;
        let author = resolve_optional(
            "profiles",
            input.author_profile_id.get(),
            "author_profile_id",
        )?;

        let mut metadata = Vec::new();
        let mut code = |column: &Text, map: fn(&str) -> Option<&'static str>| match column.trimmed()
        {
            None => Value::Null,
            Some(text) => match map(text) {
                Some(label) => v::text(label),
                None => {
                    metadata.push((column.column(), Json::string(text)));
                    Value::Null
                }
            },
        };
        let channel = code(&input.channel, channel);
        let direction = code(&input.direction, direction);
        let metadata = migrate_sdk::json::metadata(metadata);

        Ok(vec![CommunicationsRow {
            id: v::uuid(mint("communications", key)),
            legacy_id: v::int(key),
            office_id: v::uuid(office),
            doctor_id: doctor,
            author_profile_id: author,
            channel,
            direction,
            subject: v::opt_text(input.subject.get().filter(|s| !s.trim().is_empty())),
            body: v::opt_text(input.body.get().filter(|s| !s.trim().is_empty())),
            follow_up_at: opt_timestamptz(input.follow_up_at.get()),
            occurred_at: opt_timestamptz(input.occurred_at.get()),
            legacy_metadata: metadata,
            recorded_at: opt_timestamptz(input.created_at.get()),
        }
        .into()])
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
