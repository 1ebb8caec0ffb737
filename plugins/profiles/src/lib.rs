//! legacy `profiles` -> `public.profiles` + `public.profile_roles`.
//!
//! Skips soft-deleted profiles (`deleted_at` set). Rejects a profile whose `profile_type` is
//! NULL or not one of the known codes (the code is in the reason). `settings` (JSON kept as
//! text) is written as jsonb when it is valid JSON; otherwise the raw text goes to
//! `legacy_metadata` and `settings` is NULL. A NULL `is_active` is written as false: an
//! account nobody marked active is not activated by the migration. `password_hash` is not
//! read: authentication is not part of the public schema.

use migrate_sdk::json::{self, Json};
use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{describe, mint, row, v, Description, Fate, Input, TargetRow, Transform, Value};

const READS: &[&str] = &[
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "profile_type",
    "is_active",
    "settings",
    "created_at",
    "updated_at",
    "deleted_at",
];
const PROFILES: &[&str] = &[
    "id",
    "legacy_id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "is_active",
    "settings",
    "legacy_metadata",
    "created_at",
    "updated_at",
];
const PROFILE_ROLES: &[&str] = &["id", "profile_id", "role"];

/// Legacy `profile_type` code -> `app_role` label.
pub fn app_role(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "doctor",
        2 => "patient",
        3 => "technician",
        4 => "admin",
        5 => "staff",
        _ => return None,
    })
}

/// Legacy settings text -> (settings jsonb, raw text to keep when it is not valid JSON).
/// Blank or NULL settings are simply absent.
pub fn settings(raw: Option<&str>) -> (Option<String>, Option<&str>) {
    match raw {
        None => (None, None),
        Some(text) if text.trim().is_empty() => (None, None),
        Some(text) if json::is_valid(text) => (Some(text.to_string()), None),
        Some(text) => (None, Some(text)),
    }
}

pub struct Profiles;

impl Transform for Profiles {
    fn describe() -> Description {
        describe(
            "profiles",
            READS,
            &[("profiles", PROFILES), ("profile_roles", PROFILE_ROLES)],
            &[],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        if !input.is_null("deleted_at") {
            return Err(Fate::skip("soft-deleted profile (deleted_at is set)"));
        }
        let code = input.require_int("profile_type")?;
        let role =
            app_role(code).ok_or_else(|| Fate::reject(format!("unknown profile_type {code}")))?;
        let (settings, bad_settings) = settings(input.text("settings"));
        let metadata =
            bad_settings.map(|raw| Json::object([("settings", Json::string(raw))]).to_string());
        let id = mint("profiles", key);
        Ok(vec![
            row(
                "profiles",
                vec![
                    v::uuid(id.clone()),
                    v::int(key),
                    v::opt_text(input.trimmed("email")),
                    v::opt_text(input.trimmed("first_name")),
                    v::opt_text(input.trimmed("last_name")),
                    v::opt_text(input.trimmed("phone")),
                    v::boolean(input.boolean("is_active").unwrap_or(false)),
                    settings.map_or(Value::Null, Value::Json),
                    metadata.map_or(Value::Null, Value::Json),
                    opt_timestamptz(input.text("created_at")),
                    opt_timestamptz(input.text("updated_at")),
                ],
            ),
            row(
                "profile_roles",
                vec![
                    v::uuid(mint("profile_roles", key)),
                    v::uuid(id),
                    v::text(role),
                ],
            ),
        ])
    }
}

migrate_sdk::plugin!(Profiles);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        assert_eq!(app_role(1), Some("doctor"));
        assert_eq!(app_role(2), Some("patient"));
        assert_eq!(app_role(3), Some("technician"));
        assert_eq!(app_role(4), Some("admin"));
        assert_eq!(app_role(5), Some("staff"));
        assert_eq!(app_role(0), None);
        assert_eq!(app_role(6), None);
        assert_eq!(app_role(-1), None);
    }

    use migrate_sdk::testing::{get, run, uuid};

    #[test]
    fn migrates_a_profile_with_its_role() {
        let rows = run::<Profiles>(&[
            ("id", v::int(9)),
            ("email", v::text("a@b.example")),
            ("profile_type", v::int(1)),
            ("settings", v::text("{oops")),
        ])
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            get::<Profiles>(&rows[0], "id"),
            &v::uuid(uuid("profiles", 9))
        );
        assert_eq!(get::<Profiles>(&rows[0], "is_active"), &v::boolean(false));
        assert_eq!(get::<Profiles>(&rows[0], "settings"), &Value::Null);
        assert_eq!(
            get::<Profiles>(&rows[0], "legacy_metadata"),
            &Value::Json(r#"{"settings":"{oops"}"#.into())
        );
        assert_eq!(rows[1].table, "profile_roles");
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("profile_roles", 9)),
                v::uuid(uuid("profiles", 9)),
                v::text("doctor")
            ]
        );
        let ok = run::<Profiles>(&[
            ("id", v::int(10)),
            ("profile_type", v::int(4)),
            ("settings", v::text("{}")),
        ])
        .unwrap();
        assert_eq!(
            get::<Profiles>(&ok[0], "settings"),
            &Value::Json("{}".into())
        );
        assert_eq!(get::<Profiles>(&ok[0], "legacy_metadata"), &Value::Null);
    }

    #[test]
    fn skips_and_rejects() {
        let deleted = run::<Profiles>(&[
            ("id", v::int(1)),
            ("profile_type", v::int(1)),
            ("deleted_at", Value::Timestamp("2020-01-01 00:00:00".into())),
        ]);
        assert!(matches!(deleted, Err(Fate::Skip(_))));
        assert_eq!(
            run::<Profiles>(&[("id", v::int(2)), ("profile_type", v::int(7))]),
            Err(Fate::reject("unknown profile_type 7"))
        );
        assert!(
            matches!(run::<Profiles>(&[("id", v::int(3))]), Err(Fate::Reject(r)) if r.contains("profile_type"))
        );
    }

    #[test]
    fn settings_json() {
        assert_eq!(settings(None), (None, None));
        assert_eq!(settings(Some("  ")), (None, None));
        assert_eq!(
            settings(Some(r#"{"theme":"dark"}"#)),
            (Some(r#"{"theme":"dark"}"#.to_string()), None)
        );
        assert_eq!(settings(Some("{theme: dark")), (None, Some("{theme: dark")));
    }
}
