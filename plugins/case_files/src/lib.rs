//! legacy `case_files` -> `public.storage_objects` (partition `storage_objects_case_files`,
//! bucket case-files) + `public.case_files`.
//!
//! Each legacy row is one stored file: a storage object (path = the legacy S3 key, which is
//! also its `legacy_location`; mime type and size) and the case record pointing at it.
//! Skips soft-deleted files (`is_deleted`) and the files of a skipped case. Rejects a file
//! without a case or a `storage_key` (nothing to locate), or whose case was not migrated
//! (orphan). A blank `file_name` falls back to the last segment of the key. An unknown
//! `category` code or a negative `file_size` is written as NULL and kept in
//! `legacy_metadata`. The uploader is NULL when that profile was soft-deleted.

use lab_conventions::{opt_timestamptz, skip_if_flagged_deleted};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

/// The seeded `storage_buckets` row 'case-files' (schema/target-cases.sql).
pub const CASE_FILES_BUCKET: &str = "b0c4e700-0000-4000-8000-000000000001";

migrate_sdk::source! {
    /// The columns read from legacy `case_files`, in the order rows carry them (the key first).
    pub struct LegacyCaseFiles from "case_files" {
        id: Key,
        case_id: Int,
        category: Int,
        file_name: Text,
        storage_key: Text,
        mime_type: Text,
        file_size: Int,
        uploaded_by: Int,
        is_deleted: Bool,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `storage_objects_case_files`, the partition of `storage_objects` that holds the bucket's objects.
    pub struct StorageObjectsRow into "storage_objects_case_files" {
        id: Value,
        bucket_id: Value,
        path: Value,
        mime_type: Value,
        size_bytes: Value,
        legacy_location: Value,
        created_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `case_files`.
    pub struct CaseFilesRow into "case_files" {
        id: Value,
        legacy_id: Value,
        case_id: Value,
        storage_object_id: Value,
        category: Value,
        file_name: Value,
        uploaded_by_profile_id: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

/// Legacy category code -> `case_file_category` label.
pub fn category(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "extraoral_photo",
        2 => "intraoral_photo",
        3 => "panoramic_xray",
        4 => "cephalometric_xray",
        5 => "cbct",
        6 => "stl_scan",
        7 => "document",
        _ => return None,
    })
}

/// The last segment of a storage key or path (`cases/12/ab/ceph lateral.jpg` ->
/// `ceph lateral.jpg`), None when it is blank.
pub fn last_segment(path: &str) -> Option<&str> {
    path.trim()
        .rsplit(['/', '\\'])
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[derive(Default)]
pub struct CaseFiles;

impl Transform for CaseFiles {
    type Source = LegacyCaseFiles;
    const WRITES: &'static [Table] = &[StorageObjectsRow::TABLE, CaseFilesRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["cases", "profiles"];

    fn transform_row(&mut self, input: LegacyCaseFiles) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_flagged_deleted(&input.is_deleted, "case file")?;
        let case = resolve("cases", input.case_id.require()?, "case_id")?;
        let storage_key = input.storage_key.require()?;
        let file_name = match input.file_name.trimmed() {
            Some(_) => input.file_name.get().unwrap_or_default(),
            None => last_segment(storage_key).ok_or_else(|| {
                Fate::reject(format!(
                    "no file_name, and storage_key {storage_key:?} has no file name"
                ))
            })?,
        };
        let uploaded_by = resolve_optional("profiles", input.uploaded_by.get(), "uploaded_by")?;

        let mut metadata = Vec::new();
        let category = match input.category.get() {
            None => Value::Null,
            Some(code) => match category(code) {
                Some(label) => v::text(label),
                None => {
                    metadata.push(("category", Json::Number(code.to_string())));
                    Value::Null
                }
            },
        };
        let size = match input.file_size.get() {
            Some(bytes) if bytes < 0 => {
                metadata.push(("file_size", Json::Number(bytes.to_string())));
                Value::Null
            }
            other => v::opt_int(other),
        };
        let metadata = migrate_sdk::json::metadata(metadata);
        let created_at = opt_timestamptz(input.created_at.get());

        let object = mint("storage_objects:case_files", key);
        Ok(vec![
            StorageObjectsRow {
                id: v::uuid(object.clone()),
                bucket_id: v::uuid(CASE_FILES_BUCKET),
                path: v::text(storage_key),
                mime_type: v::opt_text(input.mime_type.trimmed()),
                size_bytes: size,
                legacy_location: v::text(storage_key),
                created_at: created_at.clone(),
            }
            .into(),
            CaseFilesRow {
                id: v::uuid(mint("case_files", key)),
                legacy_id: v::int(key),
                case_id: v::uuid(case),
                storage_object_id: v::uuid(object),
                category,
                file_name: v::text(file_name),
                uploaded_by_profile_id: uploaded_by,
                legacy_metadata: metadata,
                created_at,
            }
            .into(),
        ])
    }
}

migrate_sdk::plugin!(CaseFiles);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn file(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(5)),
            ("case_id", v::int(10)),
            ("category", v::int(4)),
            ("file_name", v::text("ceph lateral.jpg")),
            (
                "storage_key",
                v::text("cases/10/00a1b2c3d4e5f607/ceph lateral.jpg"),
            ),
            ("mime_type", v::text("image/jpeg")),
            ("file_size", v::int(1_500_000)),
            ("uploaded_by", v::int(40)),
            ("is_deleted", v::boolean(false)),
            ("created_at", Value::Timestamp("2018-07-01 12:00:00".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<CaseFiles>(&row)
    }

    #[test]
    fn migrates_a_file_and_its_object() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        let rows = file(&[]).unwrap();
        assert_eq!(rows.len(), 2);
        let t = Value::Timestamptz("2018-07-01 12:00:00 America/Chicago".into());
        assert_eq!(rows[0].table, "storage_objects_case_files");
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("storage_objects:case_files", 5)),
                v::uuid(CASE_FILES_BUCKET),
                v::text("cases/10/00a1b2c3d4e5f607/ceph lateral.jpg"),
                v::text("image/jpeg"),
                v::int(1_500_000),
                v::text("cases/10/00a1b2c3d4e5f607/ceph lateral.jpg"),
                t.clone(),
            ]
        );
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("case_files", 5)),
                v::int(5),
                v::uuid(uuid("cases", 10)),
                v::uuid(uuid("storage_objects:case_files", 5)),
                v::text("cephalometric_xray"),
                v::text("ceph lateral.jpg"),
                v::uuid(uuid("profiles", 40)),
                Value::Null,
                t,
            ]
        );
    }

    #[test]
    fn falls_back_and_keeps_raw() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        let rows = file(&[
            ("file_name", v::text("  ")),
            ("category", v::int(9)),
            ("file_size", v::int(-1)),
            ("mime_type", Value::Null),
        ])
        .unwrap();
        assert_eq!(
            get::<CaseFiles>(&rows[1], "file_name"),
            &v::text("ceph lateral.jpg")
        );
        assert_eq!(get::<CaseFiles>(&rows[1], "category"), &Value::Null);
        assert_eq!(
            get::<CaseFiles>(&rows[1], "legacy_metadata"),
            &Value::Json(r#"{"category":9,"file_size":-1}"#.into())
        );
        assert_eq!(get::<CaseFiles>(&rows[0], "size_bytes"), &Value::Null);
        assert_eq!(get::<CaseFiles>(&rows[0], "mime_type"), &Value::Null);
    }

    #[test]
    fn skips_and_rejects() {
        migrated("cases", &[10]);
        migrated("profiles", &[40]);
        skipped_rows("cases", &[11]);
        skipped_rows("profiles", &[41]);
        assert!(matches!(
            file(&[("is_deleted", v::boolean(true))]),
            Err(Fate::Skip(_))
        ));
        assert!(matches!(
            file(&[("case_id", v::int(11))]),
            Err(Fate::Skip(_))
        ));
        assert!(matches!(
            file(&[("case_id", v::int(12))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: case_id=12")
        ));
        assert!(matches!(
            file(&[("storage_key", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("storage_key")
        ));
        assert!(matches!(
            file(&[("storage_key", v::text("cases/10/")), ("file_name", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("no file_name")
        ));
        let gone = file(&[("uploaded_by", v::int(41))]).unwrap();
        assert_eq!(
            get::<CaseFiles>(&gone[1], "uploaded_by_profile_id"),
            &Value::Null
        );
    }

    #[test]
    fn categories_and_segments() {
        let all: Vec<_> = (1..=7).map(|c| category(c).unwrap()).collect();
        assert_eq!(
            all,
            [
                "extraoral_photo",
                "intraoral_photo",
                "panoramic_xray",
                "cephalometric_xray",
                "cbct",
                "stl_scan",
                "document"
            ]
        );
        assert_eq!(category(0), None);
        assert_eq!(category(8), None);
        assert_eq!(last_segment("a/b/c d.pdf"), Some("c d.pdf"));
        assert_eq!(last_segment("c.pdf"), Some("c.pdf"));
        assert_eq!(last_segment("a\\b.stl"), Some("b.stl"));
        assert_eq!(last_segment("a/b/"), None);
        assert_eq!(last_segment(" "), None);
    }
}
