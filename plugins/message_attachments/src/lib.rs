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

use migrate_sdk::time::opt_timestamptz;
use migrate_sdk::{
    describe, mint, resolve, row, v, Description, Fate, Input, TargetRow, Transform,
};

/// The seeded `storage_buckets` row 'message-attachments' (schema/target-cases.sql).
pub const ATTACHMENTS_BUCKET: &str = "b0c4e700-0000-4000-8000-000000000002";
/// The partition of `storage_objects` that holds the bucket's objects.
const OBJECTS: &str = "storage_objects_message_attachments";

const READS: &[&str] = &[
    "id",
    "message_id",
    "file_name",
    "file_url",
    "mime_type",
    "size_bytes",
    "created_at",
];
const STORAGE_OBJECTS: &[&str] = &[
    "id",
    "bucket_id",
    "path",
    "mime_type",
    "size_bytes",
    "legacy_location",
    "created_at",
];
const MESSAGE_ATTACHMENTS: &[&str] = &[
    "id",
    "legacy_id",
    "message_id",
    "storage_object_id",
    "file_name",
    "created_at",
];

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

pub struct MessageAttachments;

impl Transform for MessageAttachments {
    fn describe() -> Description {
        describe(
            "message_attachments",
            READS,
            &[
                (OBJECTS, STORAGE_OBJECTS),
                ("message_attachments", MESSAGE_ATTACHMENTS),
            ],
            &["messages"],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        let message_legacy = input.require_int("message_id")?;
        let message = resolve("messages", message_legacy, "message_id")?;
        let url = input.require_text("file_url")?;
        let url_name = url_file_name(url);
        let file_name = match input.trimmed("file_name") {
            Some(_) => input.text("file_name").unwrap_or_default(),
            None => url_name.ok_or_else(|| {
                Fate::reject(format!("no file_name, and file_url {url:?} names no file"))
            })?,
        };
        let path = object_path(message_legacy, key, url_name.or(input.trimmed("file_name")));
        let size = input.int("size_bytes").filter(|bytes| *bytes >= 0);
        let created_at = opt_timestamptz(input.text("created_at"));

        let object = mint("storage_objects:message_attachments", key);
        Ok(vec![
            row(
                OBJECTS,
                vec![
                    v::uuid(object.clone()),
                    v::uuid(ATTACHMENTS_BUCKET),
                    v::text(path),
                    v::opt_text(input.trimmed("mime_type")),
                    v::opt_int(size),
                    v::text(url),
                    created_at.clone(),
                ],
            ),
            row(
                "message_attachments",
                vec![
                    v::uuid(mint("message_attachments", key)),
                    v::int(key),
                    v::uuid(message),
                    v::uuid(object),
                    v::text(file_name),
                    created_at,
                ],
            ),
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
