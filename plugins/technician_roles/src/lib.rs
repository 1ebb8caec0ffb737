//! legacy `technician_roles` -> `public.technician_roles` + `public.technician_role_permissions`.
//!
//! Rejects a role without a name. Nothing is skipped (the legacy table has no soft delete;
//! retired roles migrate with `is_active = false`). `level` is mapped to the
//! `technician_level` enum; an unknown level is written as NULL and kept raw in
//! `legacy_metadata`. A NULL `is_active` is written as true and recorded as
//! {"is_active": null}. `permissions` (JSON text array of names) becomes one permission row
//! per distinct name; text that is not a JSON array of strings gives no rows and is kept raw
//! as {"permissions": "<raw>"}.

use lab_conventions::opt_timestamptz;
use migrate_sdk::json::{self, Json};
use migrate_sdk::{mint, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `technician_roles`, in the order rows carry them (the key first).
    pub struct LegacyTechnicianRoles from "technician_roles" {
        id: Key,
        code: Text,
        name: Text,
        description: Text,
        level: Int,
        permissions: Text,
        is_active: Bool,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `technician_roles`.
    pub struct TechnicianRolesRow into "technician_roles" {
        id: Value,
        legacy_id: Value,
        code: Value,
        name: Value,
        description: Value,
        level: Value,
        is_active: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `technician_role_permissions`.
    pub struct TechnicianRolePermissionsRow into "technician_role_permissions" {
        id: Value,
        role_id: Value,
        permission: Value,
    }
}

/// Legacy level code -> `technician_level` label.
pub fn technician_level(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "trainee",
        2 => "technician",
        3 => "senior",
        4 => "supervisor",
        5 => "lead",
        _ => return None,
    })
}

/// Parses legacy `permissions` text (a JSON array of permission names) into the distinct,
/// trimmed, non-blank names in their first-seen order. Any other shape is an error.
pub fn parse_permissions(text: &str) -> Result<Vec<String>, String> {
    let value = json::parse(text)?;
    let items = value.as_array().ok_or("not a JSON array")?;
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let name = item
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(format!("entry {i} is not a non-blank string"))?;
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[derive(Default)]
pub struct TechnicianRoles;

impl Transform for TechnicianRoles {
    type Source = LegacyTechnicianRoles;
    const WRITES: &'static [Table] = &[
        TechnicianRolesRow::TABLE,
        TechnicianRolePermissionsRow::TABLE,
    ];

    fn transform_row(&mut self, input: LegacyTechnicianRoles) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let name = input.name.require()?;

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let level = match input.level.get() {
            None => None,
            Some(code) => {
                let label = technician_level(code);
                if label.is_none() {
                    kept.push(("level", Json::Number(code.to_string())));
                }
                label
            }
        };
        let is_active = input.is_active.get().unwrap_or_else(|| {
            kept.push(("is_active", Json::Null));
            true
        });
        let permissions = match input.permissions.get() {
            None => Vec::new(),
            Some(text) => parse_permissions(text).unwrap_or_else(|_| {
                kept.push(("permissions", Json::string(text)));
                Vec::new()
            }),
        };
        let metadata = migrate_sdk::json::metadata(kept);

        let id = mint("technician_roles", key);
        let mut rows = Vec::with_capacity(1 + permissions.len());
        rows.push(
            TechnicianRolesRow {
                id: v::uuid(id.clone()),
                legacy_id: v::int(key),
                code: v::opt_text(input.code.trimmed()),
                name: v::text(name),
                description: v::opt_text(input.description.trimmed()),
                level: v::opt_text(level),
                is_active: v::boolean(is_active),
                legacy_metadata: metadata,
                created_at: opt_timestamptz(input.created_at.get()),
            }
            .into(),
        );
        for (i, permission) in permissions.into_iter().enumerate() {
            rows.push(
                TechnicianRolePermissionsRow {
                    id: v::uuid(mint(&format!("technician_role_permissions:{}", i + 1), key)),
                    role_id: v::uuid(id.clone()),
                    permission: v::text(permission),
                }
                .into(),
            );
        }
        Ok(rows)
    }
}

migrate_sdk::plugin!(TechnicianRoles);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, run, uuid};
    use migrate_sdk::Value;

    #[test]
    fn migrates_a_role_with_permissions() {
        let rows = run::<TechnicianRoles>(&[
            ("id", v::int(2)),
            ("code", v::text("scan_qa_sr")),
            ("name", v::text("Scan QA Senior")),
            ("description", v::text("  ")),
            ("level", Value::Int(3)),
            (
                "permissions",
                v::text(r#"["orders.read", "tasks.assign","orders.read"]"#),
            ),
            ("is_active", v::boolean(false)),
            ("created_at", Value::Timestamp("2015-01-03 02:17:00".into())),
        ])
        .unwrap();
        assert_eq!(rows.len(), 3);
        let r = &rows[0];
        assert_eq!(r.table, "technician_roles");
        assert_eq!(
            get::<TechnicianRoles>(r, "id"),
            &v::uuid(uuid("technician_roles", 2))
        );
        assert_eq!(get::<TechnicianRoles>(r, "code"), &v::text("scan_qa_sr"));
        assert_eq!(get::<TechnicianRoles>(r, "description"), &Value::Null);
        assert_eq!(get::<TechnicianRoles>(r, "level"), &v::text("senior"));
        assert_eq!(get::<TechnicianRoles>(r, "is_active"), &v::boolean(false));
        assert_eq!(get::<TechnicianRoles>(r, "legacy_metadata"), &Value::Null);
        assert_eq!(
            get::<TechnicianRoles>(r, "created_at"),
            &Value::Timestamptz("2015-01-03 02:17:00 America/Chicago".into())
        );
        assert_eq!(
            rows[2].values,
            vec![
                v::uuid(uuid("technician_role_permissions:2", 2)),
                v::uuid(uuid("technician_roles", 2)),
                v::text("tasks.assign"),
            ]
        );
    }

    #[test]
    fn keeps_what_did_not_convert() {
        let rows = run::<TechnicianRoles>(&[
            ("id", v::int(7)),
            ("name", v::text("Bracket Placement Tech")),
            ("level", Value::Int(9)),
            ("permissions", v::text("['admin']")),
        ])
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(get::<TechnicianRoles>(&rows[0], "level"), &Value::Null);
        assert_eq!(
            get::<TechnicianRoles>(&rows[0], "is_active"),
            &v::boolean(true)
        );
        assert_eq!(
            get::<TechnicianRoles>(&rows[0], "legacy_metadata"),
            &Value::Json(r#"{"level":9,"is_active":null,"permissions":"['admin']"}"#.into())
        );
        let no_permissions = run::<TechnicianRoles>(&[
            ("id", v::int(8)),
            ("name", v::text("Packaging")),
            ("is_active", v::boolean(true)),
        ])
        .unwrap();
        assert_eq!(no_permissions.len(), 1);
        assert_eq!(
            get::<TechnicianRoles>(&no_permissions[0], "legacy_metadata"),
            &Value::Null
        );
    }

    #[test]
    fn rejects_a_role_without_name() {
        assert!(
            matches!(run::<TechnicianRoles>(&[("id", v::int(1)), ("name", v::text(" "))]), Err(Fate::Reject(r)) if r.contains("name"))
        );
    }

    #[test]
    fn levels_and_permissions() {
        let all: Vec<_> = (1..=5).map(|c| technician_level(c).unwrap()).collect();
        assert_eq!(
            all,
            ["trainee", "technician", "senior", "supervisor", "lead"]
        );
        assert_eq!(technician_level(0), None);
        assert_eq!(technician_level(6), None);
        assert_eq!(parse_permissions("[]").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_permissions(r#"[" admin ","qa.approve","admin"]"#).unwrap(),
            vec!["admin".to_string(), "qa.approve".to_string()]
        );
        for bad in [
            "",
            "{}",
            "[1]",
            "[\"\"]",
            "[\"a\",]",
            "\"admin\"",
            "admin,qa",
        ] {
            assert!(parse_permissions(bad).is_err(), "accepted {bad:?}");
        }
    }
}
