//! The fixed version of `buggy_offices`: the plain mapping for every row.

use guest_common::{office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct Fixed;

impl Transform for Fixed {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(Fixed);
