//! legacy `projects` -> `public.projects` (with the seeded `public.project_types`).
//!
//! Skips soft-deleted projects (`is_deleted`) and the projects of a skipped (soft-deleted)
//! order. Rejects a project without an order, whose order or technician was not migrated
//! (orphan), or whose `project_type` or `status` is NULL or an unknown code. A `version`
//! below 1 is written as NULL and kept raw in `legacy_metadata`.

use lab_conventions::{opt_timestamptz, skip_if_flagged_deleted};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `projects`, in the order rows carry them (the key first).
    pub struct LegacyProjects from "projects" {
        id: Key,
        order_id: Int,
        technician_id: Int,
        project_type: Int,
        name: Text,
        status: Int,
        version: Int,
        is_deleted: Bool,
        created_at: Text,
        updated_at: Text,
        completed_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `projects`.
    pub struct ProjectsRow into "projects" {
        id: Value,
        legacy_id: Value,
        order_id: Value,
        project_type_id: Value,
        technician_id: Value,
        name: Value,
        status: Value,
        version: Value,
        legacy_metadata: Value,
        created_at: Value,
        updated_at: Value,
        completed_at: Value,
    }
}

/// Legacy project_type code -> the id of the seeded `project_types` row
/// (schema/target-production.sql).
pub fn project_type_id(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "a2c4e000-0003-4000-8000-000000000001", // digital setup
        2 => "a2c4e000-0003-4000-8000-000000000002", // bracket placement
        3 => "a2c4e000-0003-4000-8000-000000000003", // IDB tray design
        4 => "a2c4e000-0003-4000-8000-000000000004", // aligner staging
        5 => "a2c4e000-0003-4000-8000-000000000005", // retainer design
        _ => return None,
    })
}

/// Legacy status code -> `project_status` label.
pub fn project_status(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "new",
        1 => "in_progress",
        2 => "in_review",
        3 => "approved",
        4 => "rejected",
        5 => "archived",
        _ => return None,
    })
}

#[derive(Default)]
pub struct Projects;

impl Transform for Projects {
    type Source = LegacyProjects;
    const WRITES: &'static [Table] = &[ProjectsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["orders", "technicians"];

    fn transform_row(&mut self, input: LegacyProjects) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_flagged_deleted(&input.is_deleted, "project")?;
        let order = resolve("orders", input.order_id.require()?, "order_id")?;
        let code = input.project_type.require()?;
        let project_type = project_type_id(code)
            .ok_or_else(|| Fate::reject(format!("unknown project_type code {code}")))?;
        let code = input.status.require()?;
        let status = project_status(code)
            .ok_or_else(|| Fate::reject(format!("unknown project status code {code}")))?;
        let technician =
            resolve_optional("technicians", input.technician_id.get(), "technician_id")?;

        let version = input.version.get();
        let (version, metadata) = match version {
            Some(n) if n < 1 => (
                Value::Null,
                Value::Json(Json::object([("version", Json::Number(n.to_string()))]).to_string()),
            ),
            other => (v::opt_int(other), Value::Null),
        };

        Ok(vec![ProjectsRow {
            id: v::uuid(mint("projects", key)),
            legacy_id: v::int(key),
            order_id: v::uuid(order),
            project_type_id: v::uuid(project_type),
            technician_id: technician,
            name: v::opt_text(input.name.trimmed()),
            status: v::text(status),
            version,
            legacy_metadata: metadata,
            created_at: opt_timestamptz(input.created_at.get()),
            updated_at: opt_timestamptz(input.updated_at.get()),
            completed_at: opt_timestamptz(input.completed_at.get()),
        }
        .into()])
    }
}

migrate_sdk::plugin!(Projects);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn project(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(12)),
            ("order_id", v::int(4)),
            ("technician_id", v::int(3)),
            ("project_type", v::int(2)),
            ("name", v::text("Bracket Placement v1")),
            ("status", v::int(3)),
            ("version", v::int(1)),
            ("is_deleted", v::boolean(false)),
            ("created_at", Value::Timestamp("2019-03-07 14:05:00".into())),
            (
                "completed_at",
                Value::Timestamp("2019-03-08 10:00:00".into()),
            ),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Projects>(&row)
    }

    #[test]
    fn migrates_a_project() {
        migrated("orders", &[4]);
        migrated("technicians", &[3]);
        let rows = project(&[]).unwrap();
        let r = &rows[0];
        assert_eq!(get::<Projects>(r, "id"), &v::uuid(uuid("projects", 12)));
        assert_eq!(get::<Projects>(r, "order_id"), &v::uuid(uuid("orders", 4)));
        assert_eq!(
            get::<Projects>(r, "project_type_id"),
            &v::uuid("a2c4e000-0003-4000-8000-000000000002")
        );
        assert_eq!(
            get::<Projects>(r, "technician_id"),
            &v::uuid(uuid("technicians", 3))
        );
        assert_eq!(get::<Projects>(r, "name"), &v::text("Bracket Placement v1"));
        assert_eq!(get::<Projects>(r, "status"), &v::text("approved"));
        assert_eq!(get::<Projects>(r, "version"), &v::int(1));
        assert_eq!(get::<Projects>(r, "legacy_metadata"), &Value::Null);
        assert_eq!(
            get::<Projects>(r, "completed_at"),
            &Value::Timestamptz("2019-03-08 10:00:00 America/Chicago".into())
        );
        let unassigned = project(&[("technician_id", Value::Null)]).unwrap();
        assert_eq!(
            get::<Projects>(&unassigned[0], "technician_id"),
            &Value::Null
        );
        let odd = project(&[("version", v::int(0))]).unwrap();
        assert_eq!(get::<Projects>(&odd[0], "version"), &Value::Null);
        assert_eq!(
            get::<Projects>(&odd[0], "legacy_metadata"),
            &Value::Json(r#"{"version":0}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("orders", &[4]);
        migrated("technicians", &[3]);
        skipped_rows("orders", &[5]);
        assert!(matches!(
            project(&[("is_deleted", v::boolean(true))]),
            Err(Fate::Skip(_))
        ));
        assert!(matches!(
            project(&[("order_id", v::int(5))]),
            Err(Fate::Skip(_))
        ));
        assert!(
            matches!(project(&[("order_id", v::int(6))]), Err(Fate::Reject(r)) if r.contains("order_id=6"))
        );
        assert!(
            matches!(project(&[("technician_id", v::int(40))]), Err(Fate::Reject(r)) if r.contains("technician_id=40"))
        );
        assert_eq!(
            project(&[("project_type", v::int(6))]),
            Err(Fate::reject("unknown project_type code 6"))
        );
        assert_eq!(
            project(&[("status", v::int(6))]),
            Err(Fate::reject("unknown project status code 6"))
        );
        assert!(
            matches!(project(&[("status", Value::Null)]), Err(Fate::Reject(r)) if r.contains("status"))
        );
    }

    #[test]
    fn codes() {
        let all: Vec<_> = (0..=5).map(|c| project_status(c).unwrap()).collect();
        assert_eq!(
            all,
            [
                "new",
                "in_progress",
                "in_review",
                "approved",
                "rejected",
                "archived"
            ]
        );
        assert_eq!(project_status(6), None);
        assert!((1..=5).all(|c| project_type_id(c).is_some()));
        assert_eq!(project_type_id(0), None);
        assert_eq!(project_type_id(6), None);
    }
}
