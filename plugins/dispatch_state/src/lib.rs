//! legacy `dispatch_state` -> `public.dispatch_queues` + `public.dispatch_queue_state` +
//! `public.dispatch_queue_locks`.
//!
//! One queue per legacy row. Rejects a row without a `queue_name`; nothing else rejects.
//! `status` (free text) is normalized to `dispatch_queue_status`; an unknown text is NULL
//! and kept raw in `legacy_metadata`. `last_message_id` links the migrated dispatch message;
//! when that message was not migrated (soft-deleted, missing, or quarantined with its
//! order) the link is NULL and the legacy id is kept in `legacy_metadata`
//! ({"last_message_id": 123}): the queue's bookkeeping matters more than the pointer, which
//! is also in the state's cursor. A negative `error_count` is NULL and kept there too.
//! `state_json` (a JSON object as text) becomes one typed `dispatch_queue_state` row per key
//! (a repeated key keeps its last value, as jsonb does); text that is not a JSON object is
//! kept raw in `legacy_metadata` as {"state_json": "<raw>"} and gives no state rows.
//! `lock_owner` ('host:pid') becomes one `dispatch_queue_locks` row, stale or not.

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::{self, Json};
use migrate_sdk::{mint, resolve, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `dispatch_state`, in the order rows carry them (the key first).
    pub struct LegacyDispatchState from "dispatch_state" {
        id: Key,
        queue_name: Text,
        status: Text,
        last_message_id: Int,
        last_run_at: Text,
        error_count: Int,
        last_error: Text,
        lock_owner: Text,
        state_json: Text,
        updated_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `dispatch_queues`.
    pub struct DispatchQueuesRow into "dispatch_queues" {
        id: Value,
        legacy_id: Value,
        queue_name: Value,
        status: Value,
        last_message_id: Value,
        last_run_at: Value,
        error_count: Value,
        last_error: Value,
        legacy_metadata: Value,
        updated_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `dispatch_queue_state`.
    pub struct DispatchQueueStateRow into "dispatch_queue_state" {
        id: Value,
        queue_id: Value,
        position: Value,
        key: Value,
        value_int: Value,
        value_numeric: Value,
        value_text: Value,
        value_bool: Value,
        value_json: Value,
    }
}

migrate_sdk::target! {
    /// A row of `dispatch_queue_locks`.
    pub struct DispatchQueueLocksRow into "dispatch_queue_locks" {
        id: Value,
        queue_id: Value,
        owner: Value,
        host: Value,
        pid: Value,
    }
}

/// Free-text queue status -> `dispatch_queue_status` label, None when not known.
pub fn queue_status(text: &str) -> Option<&'static str> {
    Some(match text.trim().to_ascii_lowercase().as_str() {
        "idle" => "idle",
        "running" => "running",
        "error" => "error",
        "stalled" => "stalled",
        _ => return None,
    })
}

/// One key of the queue state with its value in the column of its JSON type, in the order
/// of `DISPATCH_QUEUE_STATE`'s value columns: int, numeric, text, bool, json.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEntry {
    pub key: String,
    pub values: [Value; 5],
}

/// Parses `state_json` into one entry per key, in the object's order; a repeated key keeps
/// its first position and its last value. Anything but a JSON object is an error.
pub fn parse_state(text: &str) -> Result<Vec<StateEntry>, String> {
    let value = json::parse(text)?;
    let Json::Object(pairs) = value else {
        return Err("not a JSON object".into());
    };
    let mut entries: Vec<StateEntry> = Vec::new();
    for (key, value) in pairs {
        let values = typed(&value);
        match entries.iter_mut().find(|e| e.key == key) {
            Some(entry) => entry.values = values,
            None => entries.push(StateEntry { key, values }),
        }
    }
    Ok(entries)
}

fn typed(value: &Json) -> [Value; 5] {
    let mut out = [
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
    ];
    match value {
        Json::Number(n) => match value.as_i64() {
            Some(i) => out[0] = v::int(i),
            None => out[1] = v::numeric(n.clone()),
        },
        Json::String(s) => out[2] = v::text(s.clone()),
        Json::Bool(b) => out[3] = v::boolean(*b),
        Json::Null | Json::Array(_) | Json::Object(_) => out[4] = v::json(value.to_string()),
    }
    out
}

/// A lock owner 'host:pid' as (host, pid); None when it is not of that shape.
pub fn lock_owner(text: &str) -> Option<(&str, i64)> {
    let (host, pid) = text.trim().rsplit_once(':')?;
    let host = host.trim();
    let pid = pid.trim();
    if host.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pid: i64 = pid.parse().ok()?;
    (1..=i64::from(i32::MAX))
        .contains(&pid)
        .then_some((host, pid))
}

#[derive(Default)]
pub struct DispatchState;

impl Transform for DispatchState {
    type Source = LegacyDispatchState;
    const WRITES: &'static [Table] = &[
        DispatchQueuesRow::TABLE,
        DispatchQueueStateRow::TABLE,
        DispatchQueueLocksRow::TABLE,
    ];
    const RESOLVES: &'static [&'static str] = &["messages"];

    fn transform_row(&mut self, input: LegacyDispatchState) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let queue_name = input.queue_name.require()?;
        let mut metadata = Vec::new();

        let status = match input.status.trimmed() {
            None => Value::Null,
            Some(text) => match queue_status(text) {
                Some(label) => v::text(label),
                None => {
                    metadata.push(("status", Json::string(text)));
                    Value::Null
                }
            },
        };
        let last_message = match input.last_message_id.get() {
            None => Value::Null,
            Some(legacy) => match resolve("messages", legacy, "last_message_id") {
                Ok(id) => v::uuid(id),
                Err(_) => {
                    metadata.push(("last_message_id", Json::Number(legacy.to_string())));
                    Value::Null
                }
            },
        };
        let error_count = match input.error_count.get() {
            Some(n) if n < 0 => {
                metadata.push(("error_count", Json::Number(n.to_string())));
                Value::Null
            }
            other => v::opt_int(other),
        };
        let state = match input.state_json.get() {
            None => Vec::new(),
            Some(text) if text.trim().is_empty() => Vec::new(),
            Some(text) => parse_state(text).unwrap_or_else(|_| {
                metadata.push(("state_json", Json::string(text)));
                Vec::new()
            }),
        };
        let metadata = migrate_sdk::json::metadata(metadata);

        let id = mint("dispatch_state", key);
        let mut rows = vec![DispatchQueuesRow {
            id: v::uuid(id.clone()),
            legacy_id: v::int(key),
            queue_name: v::text(queue_name),
            status,
            last_message_id: last_message,
            last_run_at: opt_timestamptz(input.last_run_at.get()),
            error_count,
            last_error: v::opt_text(input.last_error.get().filter(|s| !s.trim().is_empty())),
            legacy_metadata: metadata,
            updated_at: opt_timestamptz(input.updated_at.get()),
        }
        .into()];
        for (i, entry) in state.into_iter().enumerate() {
            let position = i as i64 + 1;
            let [value_int, value_numeric, value_text, value_bool, value_json] = entry.values;
            rows.push(
                DispatchQueueStateRow {
                    id: v::uuid(mint(&format!("dispatch_queue_state:{position}"), key)),
                    queue_id: v::uuid(id.clone()),
                    position: v::int(position),
                    key: v::text(entry.key),
                    value_int,
                    value_numeric,
                    value_text,
                    value_bool,
                    value_json,
                }
                .into(),
            );
        }
        if let Some(owner) = input.lock_owner.trimmed() {
            let parsed = lock_owner(owner);
            rows.push(
                DispatchQueueLocksRow {
                    id: v::uuid(mint("dispatch_queue_locks", key)),
                    queue_id: v::uuid(id),
                    owner: v::text(owner),
                    host: v::opt_text(parsed.map(|(host, _)| host)),
                    pid: v::opt_int(parsed.map(|(_, pid)| pid)),
                }
                .into(),
            );
        }
        Ok(rows)
    }
}

migrate_sdk::plugin!(DispatchState);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn queue(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(13)),
            ("queue_name", v::text("dispatch.us-west.0")),
            ("status", v::text("running")),
            ("last_message_id", v::int(56764)),
            (
                "last_run_at",
                Value::Timestamp("2025-06-29 10:00:00".into()),
            ),
            ("error_count", v::int(2)),
            ("last_error", Value::Null),
            ("lock_owner", v::text("disp01:41633")),
            (
                "state_json",
                v::text(r#"{"cursor":56764,"batch":500,"region":"us-west"}"#),
            ),
            ("updated_at", Value::Timestamp("2025-06-29 10:00:30".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<DispatchState>(&row)
    }

    fn setup() {
        migrated("messages", &[56764]);
        skipped_rows("messages", &[56765]);
    }

    #[test]
    fn migrates_a_queue_with_state_and_lock() {
        setup();
        let rows = queue(&[]).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("dispatch_state", 13)),
                v::int(13),
                v::text("dispatch.us-west.0"),
                v::text("running"),
                v::uuid(uuid("messages", 56764)),
                Value::Timestamptz("2025-06-29 10:00:00 America/Chicago".into()),
                v::int(2),
                Value::Null,
                Value::Null,
                Value::Timestamptz("2025-06-29 10:00:30 America/Chicago".into()),
            ]
        );
        let q = v::uuid(uuid("dispatch_state", 13));
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("dispatch_queue_state:1", 13)),
                q.clone(),
                v::int(1),
                v::text("cursor"),
                v::int(56764),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ]
        );
        assert_eq!(get::<DispatchState>(&rows[3], "key"), &v::text("region"));
        assert_eq!(
            get::<DispatchState>(&rows[3], "value_text"),
            &v::text("us-west")
        );
        assert_eq!(
            rows[4].values,
            vec![
                v::uuid(uuid("dispatch_queue_locks", 13)),
                q,
                v::text("disp01:41633"),
                v::text("disp01"),
                v::int(41633),
            ]
        );
    }

    #[test]
    fn keeps_what_does_not_convert() {
        setup();
        let rows = queue(&[
            ("status", v::text("Paused")),
            ("last_message_id", v::int(99)),
            ("error_count", v::int(-1)),
            ("state_json", v::text("{'cursor': 1}")),
            ("lock_owner", v::text("stale lock")),
        ])
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(get::<DispatchState>(&rows[0], "status"), &Value::Null);
        assert_eq!(
            get::<DispatchState>(&rows[0], "last_message_id"),
            &Value::Null
        );
        assert_eq!(get::<DispatchState>(&rows[0], "error_count"), &Value::Null);
        assert_eq!(
            get::<DispatchState>(&rows[0], "legacy_metadata"),
            &Value::Json(
                r#"{"status":"Paused","last_message_id":99,"error_count":-1,"state_json":"{'cursor': 1}"}"#
                    .into()
            )
        );
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("dispatch_queue_locks", 13)),
                v::uuid(uuid("dispatch_state", 13)),
                v::text("stale lock"),
                Value::Null,
                Value::Null,
            ]
        );
        let skipped = queue(&[("last_message_id", v::int(56765))]).unwrap();
        assert_eq!(
            get::<DispatchState>(&skipped[0], "legacy_metadata"),
            &Value::Json(r#"{"last_message_id":56765}"#.into())
        );
    }

    #[test]
    fn idle_queue_without_lock_or_state() {
        setup();
        let rows = queue(&[
            ("status", v::text("IDLE")),
            ("lock_owner", Value::Null),
            ("state_json", v::text(" ")),
            ("last_message_id", Value::Null),
        ])
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(get::<DispatchState>(&rows[0], "status"), &v::text("idle"));
        assert_eq!(
            get::<DispatchState>(&rows[0], "legacy_metadata"),
            &Value::Null
        );
    }

    #[test]
    fn rejects_a_queue_without_a_name() {
        setup();
        assert!(matches!(
            queue(&[("queue_name", v::text(""))]),
            Err(Fate::Reject(r)) if r.contains("queue_name")
        ));
    }

    #[test]
    fn state_values_are_typed() {
        let entries =
            parse_state(r#"{"a":1,"b":1.5,"c":"x","d":true,"e":null,"f":[1],"a":2,"g":{"h":1}}"#)
                .unwrap();
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(entries[0].values[0], v::int(2));
        assert_eq!(entries[1].values[1], v::numeric("1.5"));
        assert_eq!(entries[2].values[2], v::text("x"));
        assert_eq!(entries[3].values[3], v::boolean(true));
        assert_eq!(entries[4].values[4], v::json("null"));
        assert_eq!(entries[5].values[4], v::json("[1]"));
        assert_eq!(entries[6].values[4], v::json(r#"{"h":1}"#));
        for entry in &entries {
            assert_eq!(
                entry.values.iter().filter(|v| **v != Value::Null).count(),
                1
            );
        }
        assert_eq!(
            parse_state("99999999999999999999").unwrap_err(),
            "not a JSON object"
        );
        assert!(parse_state("[1]").is_err());
        assert!(parse_state(r#"{"cursor":1,"#).is_err());
        let big = parse_state(r#"{"n":99999999999999999999}"#).unwrap();
        assert_eq!(big[0].values[1], v::numeric("99999999999999999999"));
    }

    #[test]
    fn statuses_and_owners() {
        for (text, label) in [
            ("idle", "idle"),
            ("IDLE", "idle"),
            ("running", "running"),
            ("error", "error"),
            ("stalled", "stalled"),
        ] {
            assert_eq!(queue_status(text), Some(label));
        }
        assert_eq!(queue_status("paused"), None);
        assert_eq!(lock_owner("disp01:41633"), Some(("disp01", 41633)));
        assert_eq!(lock_owner("host.local:7"), Some(("host.local", 7)));
        assert_eq!(lock_owner("disp01"), None);
        assert_eq!(lock_owner(":12"), None);
        assert_eq!(lock_owner("disp01:0"), None);
        assert_eq!(lock_owner("disp01:-3"), None);
        assert_eq!(lock_owner("disp01:99999999999"), None);
    }
}
