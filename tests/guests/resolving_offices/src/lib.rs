//! `fixed_offices` that also declares it resolves `offices` ids (its own table): a hot swap
//! to it must be refused once offices began without keeping its id map.

use guest_common::{office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct Resolving;

impl Transform for Resolving {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;
    const RESOLVES: &'static [&'static str] = &["offices"];

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(Resolving);
