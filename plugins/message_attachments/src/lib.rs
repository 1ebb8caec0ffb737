//! legacy `message_attachments` -> `public.storage_objects` (partition
//! `storage_objects_message_attachments`, bucket message-attachments) +
//! `public.message_attachments`.
//!
//! Each legacy row is one stored file: a storage object and the attachment row pointing at
//! it. The object's `legacy_location` is the old file-server URL; its path is
//! `<legacy message id>/<legacy attachment id>/<file name from the URL>` (the URLs alone are
//! not unique: two attachments of one message with the same name share one). Skips the
//! attachments of a skipped (soft-deleted) message. Rejects an attachment without a
//! message or a `file_url` (nothing to locate), or whose message was not migrated (orphan,
//! which includes messages quarantined with their order). A blank `file_name` falls back to
//! the URL's file name; a negative `size_bytes` is written as NULL (mime type and size stay
//! NULL where the legacy system recorded none).

use lab_conventions::opt_timestamptz;
use migrate_sdk::{mint, resolve, v, Fate, Table, TargetRow, Transform, Value};

/// The seeded `storage_buckets` row 'message-attachments' (schema/target-cases.sql).
pub const ATTACHMENTS_BUCKET: &str = "b0c4e700-0000-4000-8000-000000000002";

migrate_sdk::source! {
    /// The columns read from legacy `message_attachments`, in the order rows carry them (the key first).
    pub struct LegacyMessageAttachments from "message_attachments" {
        id: Key,
        message_id: Int,
        file_name: Text,
        file_url: Text,
        mime_type: Text,
        size_bytes: Int,
        created_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `storage_objects_message_attachments`, the partition of `storage_objects` that holds the bucket's objects.
    pub struct StorageObjectsRow into "storage_objects_message_attachments" {
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
    /// A row of `message_attachments`.
    pub struct MessageAttachmentsRow into "message_attachments" {
        id: Value,
        legacy_id: Value,
        message_id: Value,
        storage_object_id: Value,
        file_name: Value,
        created_at: Value,
    }
}

/// The file name at the end of a URL (query and fragment dropped), None when the URL ends
/// in `/` or has no path.
pub fn url_file_name(url: &str) -> Option<&str> {
    let url = url.trim();
    let url = url.split(['?', '#']).next().unwrap_or(url);
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => url,
    };
    path.rsplit(['/', '\\'])
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The object's path in the bucket: `<message>/<attachment>/<name>` (no trailing name when
/// there is none; slashes in a name become '_', so the path keeps three segments).
pub fn object_path(message: i64, attachment: i64, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{message}/{attachment}/{}", name.replace(['/', '\\'], "_")),
        None => format!("{message}/{attachment}"),
    }
}

#[derive(Default)]
pub struct MessageAttachments;

impl Transform for MessageAttachments {
    type Source = LegacyMessageAttachments;
    const WRITES: &'static [Table] = &[StorageObjectsRow::TABLE, MessageAttachmentsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &["messages"];

    fn transform_row(&mut self, input: LegacyMessageAttachments) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        let message_legacy = input.message_id.require()?;
        let message = resolve("messages", message_legacy, "message_id")?;
        let url = input.file_url.require()?;
        let url_name = url_file_name(url);
        let file_name = match input.file_name.trimmed() {
            Some(_) => input.file_name.get().unwrap_or_default(),
            None => url_name.ok_or_else(|| {
                Fate::reject(format!("no file_name, and file_url {url:?} names no file"))
            })?,
        };
        let path = object_path(message_legacy, key, url_name.or(input.file_name.trimmed()));
        let size = input.size_bytes.get().filter(|bytes| *bytes >= 0);
        let created_at = opt_timestamptz(input.created_at.get());

        let object = mint("storage_objects:message_attachments", key);
        Ok(vec![
            StorageObjectsRow {
                id: v::uuid(object.clone()),
                bucket_id: v::uuid(ATTACHMENTS_BUCKET),
                path: v::text(path),
                mime_type: v::opt_text(input.mime_type.trimmed()),
                size_bytes: v::opt_int(size),
                legacy_location: v::text(url),
                created_at: created_at.clone(),
            }
            .into(),
            MessageAttachmentsRow {
                id: v::uuid(mint("message_attachments", key)),
                legacy_id: v::int(key),
                message_id: v::uuid(message),
                storage_object_id: v::uuid(object),
                file_name: v::text(file_name),
                created_at,
            }
            .into(),
        ])
    }
}

migrate_sdk::plugin!(MessageAttachments);

#[cfg(test)]
mod tests {
    use super::*;
    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};
    use migrate_sdk::Value;

    fn attachment(changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(9)),
            ("message_id", v::int(77)),
            ("file_name", v::text("photo 1.png")),
            (
                "file_url",
                v::text("http://files.lab-legacy.local/attachments/77/photo 1.png"),
            ),
            ("mime_type", v::text("image/png")),
            ("size_bytes", v::int(20_480)),
            ("created_at", Value::Timestamp("2017-02-03 10:11:12".into())),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<MessageAttachments>(&row)
    }

    #[test]
    fn migrates_an_attachment_and_its_object() {
        migrated("messages", &[77]);
        let rows = attachment(&[]).unwrap();
        let t = Value::Timestamptz("2017-02-03 10:11:12 America/Chicago".into());
        assert_eq!(rows[0].table, "storage_objects_message_attachments");
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("storage_objects:message_attachments", 9)),
                v::uuid(ATTACHMENTS_BUCKET),
                v::text("77/9/photo 1.png"),
                v::text("image/png"),
                v::int(20_480),
                v::text("http://files.lab-legacy.local/attachments/77/photo 1.png"),
                t.clone(),
            ]
        );
        assert_eq!(
            rows[1].values,
            vec![
                v::uuid(uuid("message_attachments", 9)),
                v::int(9),
                v::uuid(uuid("messages", 77)),
                v::uuid(uuid("storage_objects:message_attachments", 9)),
                v::text("photo 1.png"),
                t,
            ]
        );
    }

    #[test]
    fn unknown_sizes_and_names() {
        migrated("messages", &[77]);
        let rows = attachment(&[
            ("size_bytes", Value::Null),
            ("mime_type", Value::Null),
            ("file_name", v::text(" ")),
        ])
        .unwrap();
        assert_eq!(
            get::<MessageAttachments>(&rows[0], "size_bytes"),
            &Value::Null
        );
        assert_eq!(
            get::<MessageAttachments>(&rows[0], "mime_type"),
            &Value::Null
        );
        assert_eq!(
            get::<MessageAttachments>(&rows[1], "file_name"),
            &v::text("photo 1.png")
        );
        let negative = attachment(&[("size_bytes", v::int(-5))]).unwrap();
        assert_eq!(
            get::<MessageAttachments>(&negative[0], "size_bytes"),
            &Value::Null
        );
    }

    #[test]
    fn skips_and_rejects() {
        migrated("messages", &[77]);
        skipped_rows("messages", &[78]);
        assert!(matches!(
            attachment(&[("message_id", v::int(78))]),
            Err(Fate::Skip(r)) if r.contains("message_id=78")
        ));
        assert!(matches!(
            attachment(&[("message_id", v::int(79))]),
            Err(Fate::Reject(r)) if r.starts_with("orphan: message_id=79")
        ));
        assert!(matches!(
            attachment(&[("message_id", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("message_id")
        ));
        assert!(matches!(
            attachment(&[("file_url", v::text(""))]),
            Err(Fate::Reject(r)) if r.contains("file_url")
        ));
        assert!(matches!(
            attachment(&[("file_url", v::text("http://files/x/")), ("file_name", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("no file_name")
        ));
        let named = attachment(&[("file_url", v::text("http://files/x/"))]).unwrap();
        assert_eq!(
            get::<MessageAttachments>(&named[0], "path"),
            &v::text("77/9/photo 1.png")
        );
    }

    #[test]
    fn urls_and_paths() {
        assert_eq!(
            url_file_name("http://files.lab-legacy.local/attachments/12/rx.pdf"),
            Some("rx.pdf")
        );
        assert_eq!(url_file_name("https://h/a/b c.png?x=1#y"), Some("b c.png"));
        assert_eq!(url_file_name("attachments/1/n.docx"), Some("n.docx"));
        assert_eq!(url_file_name("http://host"), None);
        assert_eq!(url_file_name("http://host/dir/"), None);
        assert_eq!(object_path(1, 2, Some("rx.pdf")), "1/2/rx.pdf");
        assert_eq!(object_path(1, 2, Some("a/b.pdf")), "1/2/a_b.pdf");
        assert_eq!(object_path(1, 2, None), "1/2");
    }
}
