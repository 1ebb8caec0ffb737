//! legacy `comments` -> `public.comments`, or `public.unlinked_comments` when the target
//! row was not migrated.
//!
//! The legacy comments are polymorphic (`commentable_type` names the model, any case:
//! 'Order', 'Case', 'Project', 'TreatmentPlan', 'Patient', 'order', 'case'; `commentable_id`
//! the row). Each becomes a comment with exactly one of order_id, case_id, project_id,
//! treatment_plan_id, patient_id set, so the target is an enforced foreign key.
//!
//! Skips soft-deleted comments (`deleted_at` set) and the comments on a skipped
//! (soft-deleted) row. Rejects a comment whose `commentable_type` is NULL or unknown, whose
//! `commentable_id` is NULL, whose author was not migrated (orphan), or whose body is NULL
//! or blank. A comment whose target was not migrated (missing in the legacy data, or
//! quarantined upstream) is written to `unlinked_comments` (same id) with the legacy
//! reference, so `comments` keeps an enforced target for every row and no comment is lost.
//! A reply (`parent_id`) whose parent comment is not in `comments` (skipped, quarantined,
//! unlinked or missing) keeps its target with parent_id NULL and the legacy id in
//! `legacy_metadata`, e.g. {"parent_id":12}. A NULL `is_internal` is written as true (not
//! shown to doctors).
//!
//! Parents are earlier rows of this same table: rows of earlier batches come from the id map
//! (the runner records each committed batch of this table there, and a resumed run loads
//! them), rows earlier in the same batch from an in-memory set cleared at every batch. A
//! reply to an unlinked parent of an earlier batch links to it and is refused by the foreign
//! key (quarantined by the runner).

use std::collections::HashSet;

use lab_conventions::{opt_timestamptz, skip_if_deleted_at};
use migrate_sdk::json::Json;
use migrate_sdk::{mint, resolve, resolve_optional, v, Fate, Table, TargetRow, Transform, Value};

migrate_sdk::source! {
    /// The columns read from legacy `comments`, in the order rows carry them (the key first).
    pub struct LegacyComments from "comments" {
        id: Key,
        commentable_type: Text,
        commentable_id: Int,
        parent_id: Int,
        author_profile_id: Int,
        body: Text,
        is_internal: Bool,
        created_at: Text,
        updated_at: Text,
        deleted_at: Text,
    }
}

migrate_sdk::target! {
    /// A row of `comments`.
    pub struct CommentsRow into "comments" {
        id: Value,
        legacy_id: Value,
        order_id: Value,
        case_id: Value,
        project_id: Value,
        treatment_plan_id: Value,
        patient_id: Value,
        parent_id: Value,
        author_profile_id: Value,
        body: Value,
        is_internal: Value,
        legacy_metadata: Value,
        created_at: Value,
        updated_at: Value,
    }
}

migrate_sdk::target! {
    /// A row of `unlinked_comments`.
    pub struct UnlinkedCommentsRow into "unlinked_comments" {
        id: Value,
        legacy_id: Value,
        commentable_kind: Value,
        commentable_legacy_id: Value,
        parent_legacy_id: Value,
        author_profile_id: Value,
        body: Value,
        is_internal: Value,
        created_at: Value,
        updated_at: Value,
    }
}

/// The kinds of commentable rows, in the order of their target columns: the entity, its
/// column in `comments` and its `commentable_kind` label.
const TARGETS: [(&str, &str, &str); 5] = [
    ("orders", "order_id", "order"),
    ("cases", "case_id", "case"),
    ("projects", "project_id", "project"),
    ("treatment_plans", "treatment_plan_id", "treatment_plan"),
    ("patients", "patient_id", "patient"),
];

/// Legacy `commentable_type` -> index into [`TARGETS`] (the entity and its column). Case,
/// blanks and `_` do not matter ('TreatmentPlan', 'treatment_plan', ' order').
pub fn commentable(type_name: &str) -> Option<usize> {
    let key: String = type_name
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    Some(match key.as_str() {
        "order" => 0,
        "case" => 1,
        "project" => 2,
        "treatmentplan" => 3,
        "patient" => 4,
        _ => return None,
    })
}

#[derive(Default)]
pub struct Comments {
    /// Legacy ids of the comments written to `comments` earlier in the current batch.
    written: HashSet<i64>,
}

impl Comments {
    /// The id of a migrated parent comment: written earlier in this run, or in the id map.
    fn parent_comment(&self, legacy_id: i64) -> Option<String> {
        if self.written.contains(&legacy_id) {
            return Some(mint("comments", legacy_id));
        }
        resolve("comments", legacy_id, "parent_id").ok()
    }
}

impl Transform for Comments {
    type Source = LegacyComments;
    const WRITES: &'static [Table] = &[CommentsRow::TABLE, UnlinkedCommentsRow::TABLE];
    const RESOLVES: &'static [&'static str] = &[
        "orders",
        "cases",
        "projects",
        "treatment_plans",
        "patients",
        "profiles",
        "comments",
    ];

    fn begin_batch(&mut self) {
        self.written.clear();
    }

    fn transform_row(&mut self, input: LegacyComments) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        skip_if_deleted_at(&input.deleted_at, "comment")?;
        let type_name = input.commentable_type.require()?;
        let kind = commentable(type_name)
            .ok_or_else(|| Fate::reject(format!("unknown commentable_type {type_name:?}")))?;
        let (entity, _, kind_label) = TARGETS[kind];
        let legacy_target = input.commentable_id.require()?;
        let target = match resolve(entity, legacy_target, "commentable_id") {
            Ok(id) => Some(id),
            Err(Fate::Skip(reason)) => return Err(Fate::Skip(reason)),
            Err(Fate::Reject(_)) => None,
        };
        let body = input
            .body
            .get()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| Fate::reject("required column body is NULL or blank"))?;
        let author = resolve_optional(
            "profiles",
            input.author_profile_id.get(),
            "author_profile_id",
        )?;
        let is_internal = v::boolean(input.is_internal.get().unwrap_or(true));
        let created_at = opt_timestamptz(input.created_at.get());
        let updated_at = opt_timestamptz(input.updated_at.get());
        let id = v::uuid(mint("comments", key));

        let Some(target) = target else {
            return Ok(vec![UnlinkedCommentsRow {
                id,
                legacy_id: v::int(key),
                commentable_kind: v::text(kind_label),
                commentable_legacy_id: v::int(legacy_target),
                parent_legacy_id: v::opt_int(input.parent_id.get()),
                author_profile_id: author,
                body: v::text(body),
                is_internal,
                created_at,
                updated_at,
            }
            .into()]);
        };
        let mut kept: Vec<(&str, Json)> = Vec::new();
        let parent = match input.parent_id.get() {
            None => Value::Null,
            Some(p) => match self.parent_comment(p) {
                Some(id) if p != key => v::uuid(id),
                _ => {
                    kept.push(("parent_id", Json::Number(p.to_string())));
                    Value::Null
                }
            },
        };

        // Exactly one target column is set: the one of this comment's kind (TARGETS order).
        let link = |i: usize| {
            if i == kind {
                v::uuid(target.clone())
            } else {
                Value::Null
            }
        };
        let comment = CommentsRow {
            id,
            legacy_id: v::int(key),
            order_id: link(0),
            case_id: link(1),
            project_id: link(2),
            treatment_plan_id: link(3),
            patient_id: link(4),
            parent_id: parent,
            author_profile_id: author,
            body: v::text(body),
            is_internal,
            legacy_metadata: migrate_sdk::json::metadata(kept),
            created_at,
            updated_at,
        };
        self.written.insert(key);
        Ok(vec![comment.into()])
    }
}

migrate_sdk::plugin!(Comments);

#[cfg(test)]
mod tests {
    use super::*;

    use migrate_sdk::testing::{get, migrated, run, skipped_rows, uuid};

    fn comment(id: i64, changes: &[(&'static str, Value)]) -> Result<Vec<TargetRow>, Fate> {
        let mut row = vec![
            ("id", v::int(id)),
            ("commentable_type", v::text("Project")),
            ("commentable_id", v::int(64838)),
            ("parent_id", Value::Null),
            ("author_profile_id", v::int(97)),
            ("body", v::text("Called office, left voicemail")),
            ("is_internal", v::boolean(false)),
            ("created_at", Value::Timestamp("2025-04-20 07:25:26".into())),
            ("updated_at", Value::Timestamp("2025-04-20 07:25:26".into())),
            ("deleted_at", Value::Null),
        ];
        for (name, value) in changes {
            row.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.clone();
        }
        run::<Comments>(&row)
    }

    fn setup() {
        migrated("projects", &[64838]);
        migrated("orders", &[1]);
        migrated("cases", &[2]);
        migrated("treatment_plans", &[3]);
        migrated("patients", &[4]);
        migrated("profiles", &[97]);
        skipped_rows("profiles", &[98]);
        skipped_rows("orders", &[5]);
    }

    #[test]
    fn migrates_a_comment_on_each_kind() {
        setup();
        let rows = comment(1, &[]).unwrap();
        let c = &rows[0];
        assert_eq!(get::<Comments>(c, "id"), &v::uuid(uuid("comments", 1)));
        assert_eq!(get::<Comments>(c, "legacy_id"), &v::int(1));
        assert_eq!(
            get::<Comments>(c, "project_id"),
            &v::uuid(uuid("projects", 64838))
        );
        for other in [
            "order_id",
            "case_id",
            "treatment_plan_id",
            "patient_id",
            "parent_id",
        ] {
            assert_eq!(get::<Comments>(c, other), &Value::Null, "{other}");
        }
        assert_eq!(
            get::<Comments>(c, "author_profile_id"),
            &v::uuid(uuid("profiles", 97))
        );
        assert_eq!(
            get::<Comments>(c, "body"),
            &v::text("Called office, left voicemail")
        );
        assert_eq!(get::<Comments>(c, "is_internal"), &v::boolean(false));
        assert_eq!(get::<Comments>(c, "legacy_metadata"), &Value::Null);
        assert_eq!(
            get::<Comments>(c, "created_at"),
            &Value::Timestamptz("2025-04-20 07:25:26 America/Chicago".into())
        );

        for (type_name, id, column, entity) in [
            ("Order", 1, "order_id", "orders"),
            ("order", 1, "order_id", "orders"),
            ("Case", 2, "case_id", "cases"),
            ("case", 2, "case_id", "cases"),
            ("TreatmentPlan", 3, "treatment_plan_id", "treatment_plans"),
            ("Patient", 4, "patient_id", "patients"),
        ] {
            let rows = comment(
                10,
                &[
                    ("commentable_type", v::text(type_name)),
                    ("commentable_id", v::int(id)),
                    ("is_internal", Value::Null),
                    ("author_profile_id", v::int(98)),
                ],
            )
            .unwrap();
            let c = &rows[0];
            assert_eq!(
                get::<Comments>(c, column),
                &v::uuid(uuid(entity, id)),
                "{type_name}"
            );
            let set = TARGETS
                .iter()
                .filter(|(_, col, _)| get::<Comments>(c, col) != &Value::Null)
                .count();
            assert_eq!(set, 1, "{type_name}: exactly one target");
            assert_eq!(get::<Comments>(c, "is_internal"), &v::boolean(true));
            assert_eq!(get::<Comments>(c, "author_profile_id"), &Value::Null);
        }
    }

    #[test]
    fn replies() {
        setup();
        migrated("comments", &[2]); // committed by an earlier run
        comment(3, &[]).unwrap(); // written earlier in this run
        let to_written = comment(4, &[("parent_id", v::int(3))]).unwrap();
        assert_eq!(
            get::<Comments>(&to_written[0], "parent_id"),
            &v::uuid(uuid("comments", 3))
        );
        assert_eq!(
            get::<Comments>(&to_written[0], "legacy_metadata"),
            &Value::Null
        );
        let to_committed = comment(5, &[("parent_id", v::int(2))]).unwrap();
        assert_eq!(
            get::<Comments>(&to_committed[0], "parent_id"),
            &v::uuid(uuid("comments", 2))
        );

        // A soft-deleted parent is not written: the reply stays, unlinked.
        assert!(matches!(
            comment(
                6,
                &[("deleted_at", Value::Timestamp("2025-05-01 10:00:00".into()))]
            ),
            Err(Fate::Skip(_))
        ));
        for parent in [6, 99, 7] {
            let rows = comment(7, &[("parent_id", v::int(parent))]).unwrap();
            assert_eq!(
                get::<Comments>(&rows[0], "parent_id"),
                &Value::Null,
                "parent {parent}"
            );
            assert_eq!(
                get::<Comments>(&rows[0], "legacy_metadata"),
                &Value::Json(format!(r#"{{"parent_id":{parent}}}"#)),
            );
        }
        // A rejected row is not remembered as written.
        assert!(comment(8, &[("body", v::text(" "))]).is_err());
        let rows = comment(9, &[("parent_id", v::int(8))]).unwrap();
        assert_eq!(get::<Comments>(&rows[0], "parent_id"), &Value::Null);
    }

    #[test]
    fn skips_and_rejects() {
        setup();
        assert!(matches!(
            comment(1, &[("commentable_type", v::text("Order")), ("commentable_id", v::int(5))]),
            Err(Fate::Skip(r)) if r.contains("commentable_id=5")
        ));
        let rejected = |changes: &[(&'static str, Value)], what: &str| match comment(1, changes) {
            Err(Fate::Reject(r)) => assert!(r.contains(what), "{r:?} lacks {what:?}"),
            other => panic!("expected a reject about {what}, got {other:?}"),
        };
        rejected(
            &[("commentable_type", v::text("Invoice"))],
            "unknown commentable_type \"Invoice\"",
        );
        rejected(&[("commentable_type", Value::Null)], "commentable_type");
        rejected(&[("commentable_id", Value::Null)], "commentable_id");
        rejected(&[("body", Value::Null)], "body");
        rejected(&[("body", v::text(" \n"))], "body");
        rejected(
            &[("author_profile_id", v::int(5))],
            "orphan: author_profile_id=5",
        );
    }

    #[test]
    fn keeps_comments_on_rows_not_migrated() {
        setup();
        let rows = comment(
            12,
            &[
                ("commentable_type", v::text("order")),
                ("commentable_id", v::int(70000)),
                ("parent_id", v::int(11)),
                ("is_internal", Value::Null),
            ],
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].table, "unlinked_comments");
        assert_eq!(
            rows[0].values,
            vec![
                v::uuid(uuid("comments", 12)),
                v::int(12),
                v::text("order"),
                v::int(70000),
                v::int(11),
                v::uuid(uuid("profiles", 97)),
                v::text("Called office, left voicemail"),
                v::boolean(true),
                Value::Timestamptz("2025-04-20 07:25:26 America/Chicago".into()),
                Value::Timestamptz("2025-04-20 07:25:26 America/Chicago".into()),
            ]
        );
        // Not a comment a reply can link to.
        let reply = comment(13, &[("parent_id", v::int(12))]).unwrap();
        assert_eq!(get::<Comments>(&reply[0], "parent_id"), &Value::Null);
        // The author and the body are checked all the same.
        assert!(matches!(
            comment(14, &[("commentable_id", v::int(70000)), ("author_profile_id", v::int(5))]),
            Err(Fate::Reject(r)) if r.contains("author_profile_id=5")
        ));
        assert!(matches!(
            comment(15, &[("commentable_id", v::int(70000)), ("body", Value::Null)]),
            Err(Fate::Reject(r)) if r.contains("body")
        ));
    }

    #[test]
    fn commentable_types() {
        assert_eq!(commentable("Order"), Some(0));
        assert_eq!(commentable("order"), Some(0));
        assert_eq!(commentable(" ORDER "), Some(0));
        assert_eq!(commentable("Case"), Some(1));
        assert_eq!(commentable("Project"), Some(2));
        assert_eq!(commentable("TreatmentPlan"), Some(3));
        assert_eq!(commentable("treatment_plan"), Some(3));
        assert_eq!(commentable("Patient"), Some(4));
        assert_eq!(commentable("Orders"), None);
        assert_eq!(commentable(""), None);
    }
}
