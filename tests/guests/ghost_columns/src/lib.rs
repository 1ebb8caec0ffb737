//! describe() names a source column and a target column that do not exist (`nickname`):
//! `host check` must say so before any row moves.

use guest_common::office;
use migrate_sdk::{describe, Description, Fate, Input, TargetRow, Transform};

struct GhostColumns;

impl Transform for GhostColumns {
    fn describe() -> Description {
        describe(
            "offices",
            &["id", "name", "address", "nickname"],
            &[(
                "offices",
                &["id", "legacy_id", "name", "address", "nickname"],
            )],
            &[],
        )
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        Ok(office(input, None))
    }
}

migrate_sdk::plugin!(GhostColumns);
