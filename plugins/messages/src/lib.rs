//! legacy `messages` (the dispatch records) -> `public.dispatch_messages` +
//! `public.dispatch_recipients` + `public.shipment_trackings`.
//!
//! Skips soft-deleted messages (`deleted_at` set) and the messages of a skipped order.
//! Rejects a message without an order, whose order was not migrated (orphan: missing, or
//! quarantined), whose `message_type` is NULL or an unknown code, or whose sender or
//! recipient id is dangling (orphan). A soft-deleted sender (skipped) becomes NULL, as for
//! messages sent by the system.
//! The recipient becomes one `dispatch_recipients` row with the read state (`is_read` true
//! when marked read or when a `read_at` exists; {"is_read": false} kept when they disagree).
//! When there is no recipient to link (none recorded, or a soft-deleted profile) there is no
//! recipient row and `legacy_metadata` keeps what is known: {"recipient_profile_id": id,
//! "is_read": true, "read_at": "<local time>"} (each only when present / true).
//! `carrier` / `tracking_no` become one `shipment_trackings` row when either is non-blank;
//! the carrier text is normalized to a `shipping_carriers` row ('Fedex Ground' -> fedex with
//! service_level 'ground'); an unknown carrier text is kept raw in that row's
//! `legacy_metadata` with carrier_id NULL.

use lab_conventions::{opt_timestamptz, read_state, skip_if_deleted_at};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `messages`, in the order rows carry them (the key first).
    pub struct LegacyMessages from "messages" {
        id: Key,
        order_id: Int,
        sender_profile_id: Int,
        recipient_profile_id: Int,
        message_type: Int,
        subject: Text,
        body: Text,
        carrier: Text,
        tracking_no: Text,
        is_read: Bool,
        sent_at: Text,
        read_at: Text,
        deleted_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `dispatch_messages`.
    pub struct DispatchMessagesRow into "dispatch_messages" {
        id: Value,
        legacy_id: Value,
        order_id: Value,
        sender_profile_id: Value,
        message_type: Value,
        subject: Value,
        body: Value,
        legacy_metadata: Value,
        sent_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `dispatch_recipients`.
    pub struct DispatchRecipientsRow into "dispatch_recipients" {
        id: Value,
        message_id: Value,
        recipient_profile_id: Value,
        is_read: Value,
        read_at: Value,
        legacy_metadata: Value,
    }
}

migrate_sdk::target! {
    /// A row of `shipment_trackings`.
    pub struct ShipmentTrackingsRow into "shipment_trackings" {
        id: Value,
        message_id: Value,
        carrier_id: Value,
        service_level: Value,
        tracking_number: Value,
        legacy_metadata: Value,
    }
}

/// Legacy message_type code -> `dispatch_message_type` label.
pub fn message_type(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "dispatch_notice",
        2 => "tracking_update",
        3 => "question",
        4 => "reply",
        5 => "system_notice",
        _ => return None,
    })
}

/// A known shipping carrier: its seeded `shipping_carriers` id (schema/target-cases.sql)
/// and, when the legacy text named one, the service level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carrier {
    pub id: &'static str,
    pub service_level: Option<&'static str>,
}

const UPS: &str = "ca771e20-0000-4000-8000-000000000001";
const FEDEX: &str = "ca771e20-0000-4000-8000-000000000002";
const USPS: &str = "ca771e20-0000-4000-8000-000000000003";

/// Free-text carrier -> known carrier (case and inner blanks do not matter), None when the
/// text is not a known carrier.
pub fn carrier(text: &str) -> Option<Carrier> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let (id, service_level) = match words.join(" ").as_str() {
        "ups" | "united parcel service" => (UPS, None),
        "fedex" | "fed ex" | "federal express" => (FEDEX, None),
        "fedex ground" | "fed ex ground" => (FEDEX, Some("ground")),
        "fedex express" => (FEDEX, Some("express")),
        "usps" | "us mail" | "u.s. mail" => (USPS, None),
        _ => return None,
    };
    Some(Carrier { id, service_level })
}

fn json_or_null(pairs: Vec<(&str, Json)>) -> Value {
    migrate_sdk::json::metadata(pairs)
}

#[derive(Default)]
pub struct Messages;

impl Transform for Messages {
    type Source = LegacyMessages;
    const WRITES: &'static [Table] = &[
        DispatchMessagesRow::TABLE,
        DispatchRecipientsRow::TABLE,
        ShipmentTrackingsRow::TABLE,
    ];
    const RESOLVES: &'static [&'static str] = &["orders", "profiles"];

    fn transform_row(&mut self, input: LegacyMessages) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_deleted_at(&input.deleted_at, "message")?;
        let order = resolve("orders", input.order_id.require()?, "order_id")?;
        let code = input.message_type.require()?;
        let kind = message_type(code)
            .ok_or_else(|| Fate::reject(format!("unknown message_type code {code}")))?;
        let sender = resolve_optional(
            "profiles",
            input.sender_profile_id.get(),
            "sender_profile_id",
        )?;
        let recipient_legacy = input.recipient_profile_id.get();
        let recipient = resolve_optional("profiles", recipient_legacy, "recipient_profile_id")?;

        let id = mint("messages", key);
        let read_at = input.read_at.get();
        let legacy_is_read = input.is_read.get();
        let mut message_metadata = Vec::new();
        let mut recipient_row = None;
        match recipient {
            Value::Uuid(profile) => {
                let (is_read, kept) = read_state(legacy_is_read, read_at.is_some());
                recipient_row = Some(
                    DispatchRecipientsRow {
                        id: v::uuid(mint("dispatch_recipients", key)),
                        message_id: v::uuid(id.clone()),
                        recipient_profile_id: v::uuid(profile),
                        is_read: v::boolean(is_read),
                        read_at: opt_timestamptz(read_at),
                        legacy_metadata: json_or_null(
                            kept.map(|flag| ("is_read", Json::Bool(flag)))
                                .into_iter()
                                .collect(),
                        ),
                    }
                    .into(),
                );
            }
            _ => {
                if let Some(legacy) = recipient_legacy {
                    message_metadata
                        .push(("recipient_profile_id", Json::Number(legacy.to_string())));
                }
                if legacy_is_read == Some(true) {
                    message_metadata.push(("is_read", Json::Bool(true)));
                }
                if let Some(at) = read_at {
                    message_metadata.push(("read_at", Json::string(at)));
                }
            }
        }

        let carrier_text = input.carrier.trimmed();
        let tracking_no = input.tracking_no.trimmed();
        let tracking_row = (carrier_text.is_some() || tracking_no.is_some()).then(|| {
            let known = carrier_text.and_then(carrier);
            let raw = match (carrier_text, &known) {
                (Some(text), None) => vec![("carrier", Json::string(text))],
                _ => Vec::new(),
            };
            ShipmentTrackingsRow {
                id: v::uuid(mint("shipment_trackings", key)),
                message_id: v::uuid(id.clone()),
                carrier_id: v::opt(known.as_ref().map(|c| v::uuid(c.id))),
                service_level: v::opt_text(known.as_ref().and_then(|c| c.service_level)),
                tracking_number: v::opt_text(tracking_no),
                legacy_metadata: json_or_null(raw),
            }
            .into()
        });

        let mut rows = vec![DispatchMessagesRow {
            id: v::uuid(id.clone()),
            legacy_id: v::int(key),
            order_id: v::uuid(order),
            sender_profile_id: sender,
            message_type: v::text(kind),
            subject: v::opt_text(input.subject.get().filter(|s| !s.trim().is_empty())),
            body: v::opt_text(input.body.get().filter(|s| !s.trim().is_empty())),
            legacy_metadata: json_or_null(message_metadata),
            sent_at: opt_timestamptz(input.sent_at.get()),
        }
        .into()];
        rows.extend(recipient_row);
        rows.extend(tracking_row);
        Ok(rows)
    }
}

migrate_sdk::plugin!(Messages);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn message(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(77)),
            ("order_id", v::int(3)),
            ("sender_profile_id", Value::Null),
            ("recipient_profile_id", v::int(40)),
            ("message_type", v::int(1)),
            ("subject", v::text("Order L19-00003 has shipped")),
            ("body", v::text("Your case is on its way.")),
            ("carrier", v::text("Fedex Ground")),
            ("tracking_no", v::text("123456789012")),
            ("is_read", v::boolean(true)),
            ("sent_at", Value::Timestamp("2019-03-07 14:05:00".into())),
            ("read_at", Value::Timestamp("2019-03-08 09:00:00".into())),
            ("deleted_at", Value::Null),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Messages>(&row)
    }

    fn setup() {
        migrated("orders", &[3]);
        migrated("profiles", &[40, 50]);
        skipped_rows("orders", &[4]);
        skipped_rows("profiles", &[41]);
    }

    #[test]
    fn migrates_a_dispatch_notice() {
        setup();
        let rows = message(&[]).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("messages", 77)),
                v::int(77),
                v::uuid(uuid("orders", 3)),
                Value::Null,
                v::text("dispatch_notice"),
                v::text("Order L19-00003 has shipped"),
                v::text("Your case is on its way."),
                Value::Null,
                Value::Timestamptz("2019-03-07 14:05:00 America/Chicago".into()),
            ]
        );
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("dispatch_recipients", 77)),
                v::uuid(uuid("messages", 77)),
                v::uuid(uuid("profiles", 40)),
                v::boolean(true),
                Value::Timestamptz("2019-03-08 09:00:00 America/Chicago".into()),
                Value::Null,
            ]
        );
        assert_eq!(
            rows[2].values,
            vec![
                v::uuid(uuid("shipment_trackings", 77)),
                v::uuid(uuid("messages", 77)),
                v::uuid(FEDEX),
                v::text("ground"),
                v::text("123456789012"),
                Value::Null,
            ]
        );
    }

    #[test]
    fn a_question_has_no_tracking() {
        setup();
        let rows = message(&[
            ("message_type", v::int(3)),
            ("sender_profile_id", v::int(50)),
            ("carrier", Value::Null),
            ("tracking_no", Value::Null),
            ("is_read", v::boolean(false)),
            ("read_at", Value::Null),
        ])
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            get::<Messages>(&rows[0], "message_type"),
            &v::text("question")
        );
        assert_eq!(
            get::<Messages>(&rows[0], "sender_profile_id"),
            &v::uuid(uuid("profiles", 50))
        );
        assert_eq!(get::<Messages>(&rows[1], "is_read"), &v::boolean(false));
    }

    #[test]
    fn tracking_variants() {
        setup();
        let blank_carrier = message(&[("carrier", v::text(""))]).unwrap();
        assert_eq!(
            get::<Messages>(&blank_carrier[2], "carrier_id"),
            &Value::Null
        );
        assert_eq!(
            get::<Messages>(&blank_carrier[2], "legacy_metadata"),
            &Value::Null
        );
        assert_eq!(
            get::<Messages>(&blank_carrier[2], "tracking_number"),
            &v::text("123456789012")
        );
        let unknown = message(&[("carrier", v::text("DHL"))]).unwrap();
        assert_eq!(get::<Messages>(&unknown[2], "carrier_id"), &Value::Null);
        assert_eq!(
            get::<Messages>(&unknown[2], "legacy_metadata"),
            &Value::Json(r#"{"carrier":"DHL"}"#.into())
        );
        let none = message(&[("carrier", v::text(" ")), ("tracking_no", Value::Null)]).unwrap();
        assert_eq!(none.len(), 2);
    }

    #[test]
    fn recipient_not_linked() {
        setup();
        let gone = message(&[("recipient_profile_id", v::int(41))]).unwrap();
        assert_eq!(gone.len(), 2);
        assert_eq!(gone[1].table, "shipment_trackings");
        assert_eq!(
            get::<Messages>(&gone[0], "legacy_metadata"),
            &Value::Json(
                r#"{"recipient_profile_id":41,"is_read":true,"read_at":"2019-03-08 09:00:00"}"#
                    .into()
            )
        );
        let nobody = message(&[
            ("recipient_profile_id", Value::Null),
            ("is_read", v::boolean(false)),
            ("read_at", Value::Null),
        ])
        .unwrap();
        assert_eq!(get::<Messages>(&nobody[0], "legacy_metadata"), &Value::Null);
        let disagree = message(&[("is_read", v::boolean(false))]).unwrap();
        assert_eq!(get::<Messages>(&disagree[1], "is_read"), &v::boolean(true));
        assert_eq!(
            get::<Messages>(&disagree[1], "legacy_metadata"),
            &Value::Json(r#"{"is_read":false}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        setup();
        assert!(matches!(
            message(&[("deleted_at", Value::Timestamp("2020-01-01 00:00:00".into()))]),
            Err(Fate::Skip(r)) if r.contains("deleted_at")
        ));
        assert!(matches!(
            message(&[("order_id", v::int(4))]),
            Err(Fate::Skip(_))
        ));
        assert!(matches!(
            message(&[("order_id", v::int(5))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: order_id=5")
        ));
        assert!(matches!(
            message(&[("order_id", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("order_id")
        ));
        assert_eq!(
            message(&[("message_type", v::int(6))]),
            Err(Fate::reject("unknown message_type code 6"))
        );
        assert!(matches!(
            message(&[("sender_profile_id", v::int(42))]),
            Err(Fate::Reject(r)) if r.contains("sender_profile_id=42")
        ));
        let gone = message(&[("sender_profile_id", v::int(41))]).unwrap();
        assert_eq!(get::<Messages>(&gone[0], "sender_profile_id"), &Value::Null);
    }

    #[test]
    fn codes() {
        let all: Vec<_> = (1..=5).map(|c| message_type(c).unwrap()).collect();
        assert_eq!(
            all,
            [
                "dispatch_notice",
                "tracking_update",
                "question",
                "reply",
                "system_notice"
            ]
        );
        assert_eq!(message_type(0), None);
        assert_eq!(message_type(6), None);
        for (text, id, service) in [
            ("UPS", UPS, None),
            ("ups", UPS, None),
            ("FedEx", FEDEX, None),
            ("Fedex Ground", FEDEX, Some("ground")),
            ("fedex   ground", FEDEX, Some("ground")),
            ("USPS", USPS, None),
        ] {
            assert_eq!(
                carrier(text),
                Some(Carrier {
                    id,
                    service_level: service
                }),
                "{text}"
            );
        }
        assert_eq!(carrier("DHL"), None);
        assert_eq!(carrier(""), None);
    }
}
