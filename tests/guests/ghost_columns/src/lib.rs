//! Its description names a source column and a target column that do not exist
//! (`nickname`): `host check` must say so before any row moves.
//!
//! As before the SDK rewrite, the rows it would write are the plain four-column office rows:
//! only the declarations are wrong.

use guest_common::{office, Office};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

migrate_sdk::source! {
    /// The offices columns every guest reads, and a `nickname` legacy `offices` has not.
    pub struct GhostOffice from "offices" {
        id: Key,
        name: Text,
        address: Text,
        nickname: Any,
    }
}

/// `public.offices` has no `nickname` either.
const GHOST_OFFICES: Table = Table {
    name: "offices",
    columns: &["id", "legacy_id", "name", "address", "nickname"],
};

#[derive(Default)]
struct GhostColumns;

impl Transform for GhostColumns {
    type Source = GhostOffice;
    const WRITES: &'static [Table] = &[GHOST_OFFICES];

    fn transform_row(&mut self, input: GhostOffice) -> Result<Vec<TargetRow>, Fate> {
        let plain = Office {
            id: input.id,
            name: input.name,
            address: input.address,
        };
        Ok(office(&plain, None))
    }
}

migrate_sdk::plugin!(GhostColumns);
