//! legacy `tasks` -> `public.tasks` + `public.task_assignments` (with the seeded
//! `public.task_types`).
//!
//! Skips the tasks of a skipped (soft-deleted) order. Rejects a task without an order, whose
//! order (some were deleted by hand years ago) or technician was not migrated (orphan), or
//! whose `task_type` or `status` is NULL or an unknown code. `technician_id` becomes a
//! `task_assignments` row (none while unassigned). A `priority` outside 1-5 or a negative
//! `duration_seconds` is written as NULL and kept raw in `legacy_metadata`.
//!
//! This is the biggest table (about 33 rows per order), so the transform stays lean: no
//! allocation beyond the output values, metadata built only when something is kept, and
//! the runner's id map asked once per order and once per technician (see [`cached`]).

use std::cell::RefCell;
use std::collections::BTreeMap;

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `tasks`, in the order rows carry them (the key first).
    pub struct LegacyTasks from "tasks" {
        id: Key,
        order_id: Int,
        technician_id: Int,
        task_type: Int,
        status: Int,
        priority: Int,
        started_at: Text,
        completed_at: Text,
        duration_seconds: Int,
        notes: Text,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `tasks`.
    pub struct TasksRow into "tasks" {
        id: Value,
        legacy_id: Value,
        order_id: Value,
        task_type_id: Value,
        status: Value,
        priority: Value,
        started_at: Value,
        completed_at: Value,
        duration_seconds: Value,
        notes: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `task_assignments`.
    pub struct TaskAssignmentsRow into "task_assignments" {
        id: Value,
        task_id: Value,
        technician_id: Value,
    }
}

/// Legacy task_type code -> the id of the seeded `task_types` row
/// (schema/target-production.sql).
pub fn task_type_id(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "a2c4e000-0004-4000-8000-000000000001", // scan check
        2 => "a2c4e000-0004-4000-8000-000000000002", // model prep
        3 => "a2c4e000-0004-4000-8000-000000000003", // setup
        4 => "a2c4e000-0004-4000-8000-000000000004", // bracket placement
        5 => "a2c4e000-0004-4000-8000-000000000005", // tray design
        6 => "a2c4e000-0004-4000-8000-000000000006", // 3D print
        7 => "a2c4e000-0004-4000-8000-000000000007", // QA
        8 => "a2c4e000-0004-4000-8000-000000000008", // packaging
        9 => "a2c4e000-0004-4000-8000-000000000009", // shipping
        _ => return None,
    })
}

/// Legacy status code -> `task_status` label.
pub fn task_status(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "open",
        1 => "in_progress",
        2 => "done",
        3 => "skipped",
        4 => "failed",
        _ => return None,
    })
}

thread_local! {
    /// The last order resolved and what came of it. Tasks arrive in key order, grouped by
    /// order (about 33 in a row), so this spares almost every order lookup.
    static LAST_ORDER: RefCell<Option<(i64, Result<String, Fate>)>> = const { RefCell::new(None) };
    /// Every technician resolved so far (a few dozen in all).
    static TECHNICIANS: RefCell<BTreeMap<i64, Result<Value, Fate>>> = const { RefCell::new(BTreeMap::new()) };
}

/// `resolve` / `resolve_optional` through a cache. Sound because the runner loads the id
/// maps once before a table starts and they do not change while it runs; a new plugin
/// instance (the runner makes one per table, and after a trap) starts with empty caches.
pub mod cached {
    use super::*;

    /// [`migrate_sdk::resolve`] of an order, remembering the last one.
    pub fn order(id: i64) -> Result<String, Fate> {
        LAST_ORDER.with(|last| {
            let mut last = last.borrow_mut();
            match &*last {
                Some((key, result)) if *key == id => result.clone(),
                _ => {
                    let result = resolve("orders", id, "order_id");
                    *last = Some((id, result.clone()));
                    result
                }
            }
        })
    }

    /// [`migrate_sdk::resolve_optional`] of a technician, remembering each one.
    pub fn technician(id: Option<i64>) -> Result<Value, Fate> {
        let Some(id) = id else {
            return Ok(Value::Null);
        };
        TECHNICIANS.with(|known| {
            known
                .borrow_mut()
                .entry(id)
                .or_insert_with(|| resolve_optional("technicians", Some(id), "technician_id"))
                .clone()
        })
    }
}

#[derive(Default)]
pub struct Tasks;

impl Transform for Tasks {
    type Source = LegacyTasks;
    const WRITES: &'static [Table] = &[TasksRow::TABLE, TaskAssignmentsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["orders", "technicians"];

    fn transform_row(&mut self, input: LegacyTasks) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let order = cached::order(input.order_id.require()?)?;
        let code = input.task_type.require()?;
        let task_type = task_type_id(code)
            .ok_or_else(|| Fate::reject(format!("unknown task_type code {code}")))?;
        let code = input.status.require()?;
        let status = task_status(code)
            .ok_or_else(|| Fate::reject(format!("unknown task status code {code}")))?;
        // A skipped technician (none are, today) would only drop the assignment.
        let technician = match cached::technician(input.technician_id.get())? {
            Value::Uuid(uuid) => Some(uuid),
            _ => None,
        };

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let priority = match input.priority.get() {
            Some(p) if !(1..=5).contains(&p) => {
                kept.push(("priority", Json::Number(p.to_string())));
                Value::Null
            }
            p => v::opt_int(p),
        };
        let duration = match input.duration_seconds.get() {
            Some(d) if d < 0 => {
                kept.push(("duration_seconds", Json::Number(d.to_string())));
                Value::Null
            }
            d => v::opt_int(d),
        };
        let metadata = migrate_sdk::json::metadata(kept);

        let id = mint("tasks", key);
        let assignment = technician.map(|technician| {
            TaskAssignmentsRow {
                id: v::uuid(mint("task_assignments", key)),
                task_id: v::uuid(id.clone()),
                technician_id: v::uuid(technician),
            }
            .into()
        });
        let task = TasksRow {
            id: v::uuid(id),
            legacy_id: v::int(key),
            order_id: v::uuid(order),
            task_type_id: v::uuid(task_type),
            status: v::text(status),
            priority,
            started_at: opt_timestamptz(input.started_at.get()),
            completed_at: opt_timestamptz(input.completed_at.get()),
            duration_seconds: duration,
            notes: v::opt_text(input.notes.get().filter(|s| !s.trim().is_empty())),
            legacy_metadata: metadata,
            created_at: opt_timestamptz(input.created_at.get()),
        }
        .into();
        Ok(match assignment {
            Some(assignment) => vec![task, assignment],
            None => vec![task],
        })
    }
}

migrate_sdk::plugin!(Tasks);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn task(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(100)),
            ("order_id", v::int(4)),
            ("technician_id", v::int(3)),
            ("task_type", v::int(6)),
            ("status", v::int(2)),
            ("priority", v::int(3)),
            ("started_at", Value::Timestamp("2019-03-07 14:05:00".into())),
            (
                "completed_at",
                Value::Timestamp("2019-03-07 15:05:00".into()),
            ),
            ("duration_seconds", v::int(3600)),
            ("notes", v::text("Printer 3 jammed\nreprinted")),
            ("created_at", Value::Timestamp("2019-03-07 13:00:00".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Tasks>(&row)
    }

    #[test]
    fn migrates_a_task_and_its_assignment() {
        migrated("orders", &[4]);
        migrated("technicians", &[3]);
        let rows = task(&[]).unwrap();
        assert_eq!(rows.len(), 2);
        let t = &rows[0];
        assert_eq!(t.table, "tasks");
        assert_eq!(get::<Tasks>(t, "id"), &v::uuid(uuid("tasks", 100)));
        assert_eq!(get::<Tasks>(t, "legacy_id"), &v::int(100));
        assert_eq!(get::<Tasks>(t, "order_id"), &v::uuid(uuid("orders", 4)));
        assert_eq!(
            get::<Tasks>(t, "task_type_id"),
            &v::uuid("a2c4e000-0004-4000-8000-000000000006")
        );
        assert_eq!(get::<Tasks>(t, "status"), &v::text("done"));
        assert_eq!(get::<Tasks>(t, "priority"), &v::int(3));
        assert_eq!(get::<Tasks>(t, "duration_seconds"), &v::int(3600));
        assert_eq!(
            get::<Tasks>(t, "notes"),
            &v::text("Printer 3 jammed\nreprinted")
        );
        assert_eq!(get::<Tasks>(t, "legacy_metadata"), &Value::Null);
        assert_eq!(
            get::<Tasks>(t, "started_at"),
            &Value::Timestamptz("2019-03-07 14:05:00 America/Chicago".into())
        );
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("task_assignments", 100)),
                v::uuid(uuid("tasks", 100)),
                v::uuid(uuid("technicians", 3)),
            ]
        );
        let open = task(&[
            ("technician_id", Value::Null),
            ("status", v::int(0)),
            ("started_at", Value::Null),
            ("completed_at", Value::Null),
            ("duration_seconds", Value::Null),
            ("notes", Value::Null),
        ])
        .unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(get::<Tasks>(&open[0], "status"), &v::text("open"));
        assert_eq!(get::<Tasks>(&open[0], "started_at"), &Value::Null);
        assert_eq!(get::<Tasks>(&open[0], "notes"), &Value::Null);
    }

    #[test]
    fn keeps_what_did_not_convert() {
        migrated("orders", &[4]);
        migrated("technicians", &[3]);
        let rows = task(&[("priority", v::int(0)), ("duration_seconds", v::int(-60))]).unwrap();
        let t = &rows[0];
        assert_eq!(get::<Tasks>(t, "priority"), &Value::Null);
        assert_eq!(get::<Tasks>(t, "duration_seconds"), &Value::Null);
        assert_eq!(
            get::<Tasks>(t, "legacy_metadata"),
            &Value::Json(r#"{"priority":0,"duration_seconds":-60}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("orders", &[4]);
        migrated("technicians", &[3]);
        skipped_rows("orders", &[5]);
        assert!(matches!(
            task(&[("order_id", v::int(5))]),
            Err(Fate::Skip(_))
        ));
        assert_eq!(
            task(&[("order_id", v::int(99999))]),
            Err(Fate::reject("orphan: order_id=99999 has no migrated row in orders (missing in the legacy data, or quarantined)"))
        );
        assert!(
            matches!(task(&[("order_id", Value::Null)]), Err(Fate::Reject(r)) if r.contains("order_id"))
        );
        assert!(
            matches!(task(&[("technician_id", v::int(40))]), Err(Fate::Reject(r)) if r.contains("technician_id=40"))
        );
        assert_eq!(
            task(&[("task_type", v::int(10))]),
            Err(Fate::reject("unknown task_type code 10"))
        );
        assert_eq!(
            task(&[("status", v::int(5))]),
            Err(Fate::reject("unknown task status code 5"))
        );
        assert!(
            matches!(task(&[("task_type", Value::Null)]), Err(Fate::Reject(r)) if r.contains("task_type"))
        );
    }

    #[test]
    fn caches_lookups() {
        migrated("orders", &[4]);
        migrated("technicians", &[3]);
        assert!(task(&[]).is_ok());
        // The id map does not change while a table runs: what was resolved stays resolved.
        migrate_sdk::testing::reset();
        assert!(task(&[]).is_ok());
        assert_eq!(cached::order(4), Ok(uuid("orders", 4)));
        assert!(matches!(cached::order(5), Err(Fate::Reject(_))));
        assert_eq!(
            cached::technician(Some(3)),
            Ok(v::uuid(uuid("technicians", 3)))
        );
        assert_eq!(cached::technician(None), Ok(Value::Null));
        assert!(matches!(cached::technician(Some(4)), Err(Fate::Reject(_))));
    }

    #[test]
    fn codes() {
        let all: Vec<_> = (0..=4).map(|c| task_status(c).unwrap()).collect();
        assert_eq!(all, ["open", "in_progress", "done", "skipped", "failed"]);
        assert_eq!(task_status(-1), None);
        assert_eq!(task_status(5), None);
        assert!((1..=9).all(|c| task_type_id(c).is_some()));
        assert_eq!(task_type_id(0), None);
        assert_eq!(task_type_id(10), None);
    }
}
