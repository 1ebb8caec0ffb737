//! legacy `profiles` -> `public.profiles` + `public.profile_roles`.
//!
//! Skips soft-deleted profiles (`deleted_at` set). Rejects a profile whose `profile_type` is
//! NULL or not one of the known codes (the code is in the reason). `settings` (JSON kept as
//! text) is written as jsonb when it is valid JSON; otherwise the raw text goes to
//! `legacy_metadata` and `settings` is NULL. A NULL `is_active` is written as false: an
//! account nobody marked active is not activated by the migration. `password_hash` is not
//! read: authentication is not part of the public schema.

use lab_conventions::{opt_timestamptz, skip_if_deleted_at};
use migrate_sdk::json::{self, Json};
use migrate_sdk::{mint, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `profiles`, in the order rows carry them (the key first).
    pub struct LegacyProfiles from "profiles" {
        id: Key,
        email: Text,
        first_name: Text,
        last_name: Text,
        phone: Text,
        profile_type: Int,
        is_active: Bool,
        settings: Text,
        created_at: Text,
        updated_at: Text,
        deleted_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `profiles`.
    pub struct ProfilesRow into "profiles" {
        id: Value,
        legacy_id: Value,
        email: Value,
        first_name: Value,
        last_name: Value,
        phone: Value,
        is_active: Value,
        settings: Value,
        legacy_metadata: Value,
        created_at: Value,
        updated_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `profile_roles`.
    pub struct ProfileRolesRow into "profile_roles" {
        id: Value,
        profile_id: Value,
        role: Value,
    }
}

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

#[derive(Default)]
pub struct Profiles;

impl Transform for Profiles {
    type Source = LegacyProfiles;
    const WRITES: &'static [Table] = &[ProfilesRow::TABLE, ProfileRolesRow::TABLE];

    fn transform_row(&mut self, input: LegacyProfiles) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_deleted_at(&input.deleted_at, "profile")?;
        let code = input.profile_type.require()?;
        let role =
            app_role(code).ok_or_else(|| Fate::reject(format!("unknown profile_type {code}")))?;
        let (settings, bad_settings) = settings(input.settings.get());
        let metadata =
            bad_settings.map(|raw| Json::object([("settings", Json::string(raw))]).to_string());
        let id = mint("profiles", key);
        Ok(vec![
            ProfilesRow {
                id: v::uuid(id.clone()),
                legacy_id: v::int(key),
                email: v::opt_text(input.email.trimmed()),
                first_name: v::opt_text(input.first_name.trimmed()),
                last_name: v::opt_text(input.last_name.trimmed()),
                phone: v::opt_text(input.phone.trimmed()),
                is_active: v::boolean(input.is_active.get().unwrap_or(false)),
                settings: settings.map_or(Value::Null, Value::Json),
                legacy_metadata: metadata.map_or(Value::Null, Value::Json),
                created_at: opt_timestamptz(input.created_at.get()),
                updated_at: opt_timestamptz(input.updated_at.get()),
            }
            .into(),
            ProfileRolesRow {
                id: v::uuid(mint("profile_roles", key)),
                profile_id: v::uuid(id),
                role: v::text(role),
            }
            .into(),
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
