//! legacy `order_files` -> `public.order_file_objects` (the stored file: bucket + path) +
//! `public.order_files` (the file of an order), with the seeded `public.file_types`.
//!
//! Skips soft-deleted files (`is_deleted`) and the files of a skipped (soft-deleted) order.
//! Rejects a file without an order, whose order or uploader was not migrated (orphan), or
//! whose `file_path` is NULL or blank (no bytes to point at). A `file_type` code the seed
//! does not know, an `md5` that is not 32 hex digits and a negative `file_size` are written
//! as NULL and kept raw in `legacy_metadata`, e.g. {"file_type":12}.
//!
//! The storage path is the legacy S3 key unchanged; a file of the old Windows share
//! (`\\fs01\scans\2016\L001234\Upper Jaw.stl`) gets `orders/<order>/legacy-<file>/<name>`
//! (share paths are not unique). The legacy path is kept as written in `legacy_location`.

use lab_conventions::{opt_timestamptz, skip_if_flagged_deleted};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `order_files`, in the order rows carry them (the key first).
    pub struct LegacyOrderFiles from "order_files" {
        id: Key,
        order_id: Int,
        file_type: Int,
        file_name: Text,
        file_path: Text,
        mime_type: Text,
        file_size: Int,
        md5: Text,
        uploaded_by: Int,
        is_deleted: Bool,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `order_file_objects`.
    pub struct OrderFileObjectsRow into "order_file_objects" {
        id: Value,
        bucket: Value,
        path: Value,
        mime_type: Value,
        size_bytes: Value,
        md5: Value,
        legacy_location: Value,
        created_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `order_files`.
    pub struct OrderFilesRow into "order_files" {
        id: Value,
        legacy_id: Value,
        order_id: Value,
        storage_object_id: Value,
        file_type_id: Value,
        file_name: Value,
        uploaded_by_profile_id: Value,
        legacy_metadata: Value,
        created_at: Value,
    }
}

/// The one storage bucket of order files.
pub const BUCKET: &str = "order-files";

/// Legacy file_type code -> the id of the seeded `file_types` row
/// (schema/target-financial.sql).
pub fn file_type_id(code: i64) -> Option<&'static str> {
    Some(match code {
        1 => "f1a0c000-0001-4000-8000-000000000001", // upper scan
        2 => "f1a0c000-0001-4000-8000-000000000002", // lower scan
        3 => "f1a0c000-0001-4000-8000-000000000003", // bite scan
        4 => "f1a0c000-0001-4000-8000-000000000004", // photo
        5 => "f1a0c000-0001-4000-8000-000000000005", // x-ray
        6 => "f1a0c000-0001-4000-8000-000000000006", // treatment PDF
        7 => "f1a0c000-0001-4000-8000-000000000007", // print file
        8 => "f1a0c000-0001-4000-8000-000000000008", // other
        _ => return None,
    })
}

/// Whether a legacy path is a Windows share path (`\\server\share\...`).
pub fn is_share_path(path: &str) -> bool {
    path.starts_with("\\\\")
}

/// The last segment of a legacy path, `/` or `\` separated ("" when it ends in one).
pub fn last_segment(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Whether a legacy path can be used as a storage path as it is: an S3 key, relative, with
/// `/` separators, no empty or dot segment.
pub fn is_s3_key(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..")
}

/// The storage path of a file: the legacy S3 key unchanged, else
/// `orders/<order>/legacy-<file>/<name>` (`name` the last segment of the legacy path, or the
/// file name when that is blank; a `/` in it becomes `_`).
pub fn storage_path(legacy_path: &str, order_id: i64, key: i64, file_name: &str) -> String {
    if is_s3_key(legacy_path) {
        return legacy_path.to_string();
    }
    let segment = last_segment(legacy_path).trim();
    let name = if segment.is_empty() {
        file_name
    } else {
        segment
    };
    format!("orders/{order_id}/legacy-{key}/{}", name.replace('/', "_"))
}

/// A legacy md5 as 32 lower-case hex digits: Ok(None) for NULL or blank, Err(raw) when it
/// is not one.
pub fn md5(raw: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(text.to_ascii_lowercase()))
    } else {
        Err(raw.unwrap_or_default().to_string())
    }
}

#[derive(Default)]
pub struct OrderFiles;

impl Transform for OrderFiles {
    type Source = LegacyOrderFiles;
    const WRITES: &'static [Table] = &[OrderFileObjectsRow::TABLE, OrderFilesRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["orders", "profiles"];

    fn transform_row(&mut self, input: LegacyOrderFiles) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_flagged_deleted(&input.is_deleted, "file")?;
        let legacy_order = input.order_id.require()?;
        let order = resolve("orders", legacy_order, "order_id")?;
        let legacy_path = input.file_path.require()?;
        let uploader = resolve_optional("profiles", input.uploaded_by.get(), "uploaded_by")?;

        let mut kept: Vec<(&str, Json)> = Vec::new();
        let file_type = match input.file_type.get() {
            None => Value::Null,
            Some(code) => match file_type_id(code) {
                Some(id) => v::uuid(id),
                None => {
                    kept.push(("file_type", Json::Number(code.to_string())));
                    Value::Null
                }
            },
        };
        let md5 = md5(input.md5.get()).unwrap_or_else(|raw| {
            kept.push(("md5", Json::String(raw)));
            None
        });
        let size = match input.file_size.get() {
            Some(bytes) if bytes < 0 => {
                kept.push(("file_size", Json::Number(bytes.to_string())));
                None
            }
            other => other,
        };
        let file_name = match input.file_name.trimmed() {
            Some(name) => name,
            None => last_segment(legacy_path.trim()).trim(),
        };
        if file_name.is_empty() {
            return Err(Fate::reject(
                "file_name is blank and file_path ends without a file name",
            ));
        }
        let path = storage_path(legacy_path.trim(), legacy_order, key, file_name);
        let metadata = migrate_sdk::json::metadata(kept);
        let created_at = opt_timestamptz(input.created_at.get());

        let object_id = mint("order_file_objects", key);
        Ok(vec![
            OrderFileObjectsRow {
                id: v::uuid(object_id.clone()),
                bucket: v::text(BUCKET),
                path: v::text(path),
                mime_type: v::opt_text(input.mime_type.trimmed()),
                size_bytes: v::opt_int(size),
                md5: v::opt(md5.map(v::text)),
                legacy_location: v::text(legacy_path),
                created_at: created_at.clone(),
            }
            .into(),
            OrderFilesRow {
                id: v::uuid(mint("order_files", key)),
                legacy_id: v::int(key),
                order_id: v::uuid(order),
                storage_object_id: v::uuid(object_id),
                file_type_id: file_type,
                file_name: v::text(file_name),
                uploaded_by_profile_id: uploader,
                legacy_metadata: metadata,
                created_at,
            }
            .into(),
        ])
    }
}

migrate_sdk::plugin!(OrderFiles);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn file(id: i64, path: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("id", v::int(id)),
            ("order_id", v::int(4)),
            ("file_type", v::int(1)),
            ("file_name", v::text("Upper Jaw.stl")),
            ("file_path", v::text(path)),
            ("mime_type", v::text("model/stl")),
            ("file_size", v::int(2_000_000)),
            ("md5", v::text("0123456789ABCDEF0123456789abcdef")),
            ("uploaded_by", v::int(7)),
            ("is_deleted", v::boolean(false)),
            ("created_at", Value::Timestamp("2019-03-07 14:05:00".into())),
        ]
    }

    fn with(
        base: Vec<(&'static str, Value)>,
        changes: &[(&'static str, Value)],
    ) -> Vec<(&'static str, Value)> {
        let mut row = base;
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        row
    }

    #[test]
    fn migrates_an_s3_file() {
        migrated("orders", &[4]);
        migrated("profiles", &[7]);
        let rows = run::<OrderFiles>(&file(9, "orders/4/0133126c89952a07/Upper Jaw.stl")).unwrap();
        assert_eq!(rows.len(), 2);
        let (object, f) = (&rows[0], &rows[1]);
        assert_eq!(object.table, "order_file_objects");
        assert_eq!(
            object.values,
            vec![
                v::uuid(uuid("order_file_objects", 9)),
                v::text("order-files"),
                v::text("orders/4/0133126c89952a07/Upper Jaw.stl"),
                v::text("model/stl"),
                v::int(2_000_000),
                v::text("0123456789abcdef0123456789abcdef"),
                v::text("orders/4/0133126c89952a07/Upper Jaw.stl"),
                Value::Timestamptz("2019-03-07 14:05:00 America/Chicago".into()),
            ]
        );
        assert_eq!(get::<OrderFiles>(f, "id"), &v::uuid(uuid("order_files", 9)));
        assert_eq!(get::<OrderFiles>(f, "legacy_id"), &v::int(9));
        assert_eq!(
            get::<OrderFiles>(f, "order_id"),
            &v::uuid(uuid("orders", 4))
        );
        assert_eq!(
            get::<OrderFiles>(f, "storage_object_id"),
            &v::uuid(uuid("order_file_objects", 9))
        );
        assert_eq!(
            get::<OrderFiles>(f, "file_type_id"),
            &v::uuid("f1a0c000-0001-4000-8000-000000000001")
        );
        assert_eq!(get::<OrderFiles>(f, "file_name"), &v::text("Upper Jaw.stl"));
        assert_eq!(
            get::<OrderFiles>(f, "uploaded_by_profile_id"),
            &v::uuid(uuid("profiles", 7))
        );
        assert_eq!(get::<OrderFiles>(f, "legacy_metadata"), &Value::Null);
    }

    #[test]
    fn migrates_a_share_file_and_keeps_odd_values() {
        migrated("orders", &[4]);
        skipped_rows("profiles", &[7]);
        let share = r"\\fs01\scans\2016\L001234\Upper Jaw.stl";
        let rows = run::<OrderFiles>(&with(
            file(10, share),
            &[
                ("file_type", v::int(12)),
                ("md5", v::text("not-a-digest")),
                ("file_size", v::int(-5)),
                ("file_name", v::text("  ")),
                ("mime_type", Value::Null),
            ],
        ))
        .unwrap();
        let (object, f) = (&rows[0], &rows[1]);
        assert_eq!(
            get::<OrderFiles>(object, "path"),
            &v::text("orders/4/legacy-10/Upper Jaw.stl")
        );
        assert_eq!(
            get::<OrderFiles>(object, "legacy_location"),
            &v::text(share)
        );
        assert_eq!(get::<OrderFiles>(object, "md5"), &Value::Null);
        assert_eq!(get::<OrderFiles>(object, "size_bytes"), &Value::Null);
        assert_eq!(get::<OrderFiles>(object, "mime_type"), &Value::Null);
        assert_eq!(get::<OrderFiles>(f, "file_name"), &v::text("Upper Jaw.stl"));
        assert_eq!(get::<OrderFiles>(f, "file_type_id"), &Value::Null);
        assert_eq!(get::<OrderFiles>(f, "uploaded_by_profile_id"), &Value::Null);
        assert_eq!(
            get::<OrderFiles>(f, "legacy_metadata"),
            &Value::Json(r#"{"file_type":12,"md5":"not-a-digest","file_size":-5}"#.into())
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("orders", &[4]);
        migrated("profiles", &[7]);
        skipped_rows("orders", &[5]);
        let base = || file(1, "orders/4/0133126c89952a07/x.stl");
        assert!(run::<OrderFiles>(&base()).is_ok());
        assert!(matches!(
            run::<OrderFiles>(&with(base(), &[("is_deleted", v::boolean(true))])),
            Err(Fate::Skip(r)) if r.contains("is_deleted")
        ));
        assert!(matches!(
            run::<OrderFiles>(&with(base(), &[("order_id", v::int(5))])),
            Err(Fate::Skip(r)) if r.contains("order_id=5")
        ));
        assert!(matches!(
            run::<OrderFiles>(&with(base(), &[("order_id", v::int(6))])),
            Err(Fate::Reject(r)) if r.starts_with("orphan: order_id=6")
        ));
        assert!(matches!(
            run::<OrderFiles>(&with(base(), &[("order_id", Value::Null)])),
            Err(Fate::Reject(r)) if r.contains("order_id")
        ));
        assert!(matches!(
            run::<OrderFiles>(&with(base(), &[("file_path", v::text(" "))])),
            Err(Fate::Reject(r)) if r.contains("file_path")
        ));
        assert!(matches!(
            run::<OrderFiles>(&with(base(), &[("uploaded_by", v::int(8))])),
            Err(Fate::Reject(r)) if r.contains("uploaded_by=8")
        ));
        assert!(matches!(
            run::<OrderFiles>(&with(base(), &[("file_name", Value::Null), ("file_path", v::text(r"\\fs01\scans\"))])),
            Err(Fate::Reject(r)) if r.contains("file_name")
        ));
        let untyped = run::<OrderFiles>(&with(base(), &[("file_type", Value::Null)])).unwrap();
        assert_eq!(get::<OrderFiles>(&untyped[1], "file_type_id"), &Value::Null);
        assert_eq!(
            get::<OrderFiles>(&untyped[1], "legacy_metadata"),
            &Value::Null
        );
    }

    #[test]
    fn file_types() {
        for code in 1..=8 {
            assert!(file_type_id(code).is_some(), "code {code}");
        }
        for unknown in [0, 9, -1] {
            assert_eq!(file_type_id(unknown), None);
        }
        assert_eq!(
            file_type_id(5),
            Some("f1a0c000-0001-4000-8000-000000000005")
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            storage_path(
                "orders/15663/0133126c89952a07/print_5.3mf",
                15663,
                1,
                "print_5.3mf"
            ),
            "orders/15663/0133126c89952a07/print_5.3mf"
        );
        assert_eq!(
            storage_path(
                r"\\fs01\scans\2015\L000001\IMG_0001.JPG",
                1,
                77,
                "IMG_0001.JPG"
            ),
            "orders/1/legacy-77/IMG_0001.JPG"
        );
        assert_eq!(
            storage_path(r"\\fs01\scans\", 1, 77, "a/b.txt"),
            "orders/1/legacy-77/a_b.txt"
        );
        assert_eq!(
            storage_path("/abs/x.stl", 2, 3, "x.stl"),
            "orders/2/legacy-3/x.stl"
        );
        assert_eq!(
            storage_path("a//b.stl", 2, 3, "b.stl"),
            "orders/2/legacy-3/b.stl"
        );
        assert_eq!(
            storage_path("../b.stl", 2, 3, "b.stl"),
            "orders/2/legacy-3/b.stl"
        );
        assert!(is_share_path(r"\\fs01\x"));
        assert!(!is_share_path("orders/1/x"));
        assert_eq!(last_segment(r"\\fs01\scans\Upper Jaw.stl"), "Upper Jaw.stl");
        assert_eq!(last_segment("orders/1/ab/x y.pdf"), "x y.pdf");
        assert_eq!(last_segment("plain"), "plain");
    }

    #[test]
    fn digests() {
        assert_eq!(md5(None), Ok(None));
        assert_eq!(md5(Some(" ")), Ok(None));
        assert_eq!(
            md5(Some("ABCDEF0123456789abcdef0123456789")),
            Ok(Some("abcdef0123456789abcdef0123456789".into()))
        );
        assert_eq!(md5(Some("xyz")), Err("xyz".into()));
        assert_eq!(
            md5(Some("g123456789abcdef0123456789abcdef")),
            Err("g123456789abcdef0123456789abcdef".into())
        );
    }
}
