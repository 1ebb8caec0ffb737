//! The fixed version of `buggy_offices`: the plain mapping for every row.

use guest_common::{office, offices};
use migrate_sdk::{Description, Fate, Input, TargetRow, Transform};

struct Fixed;

impl Transform for Fixed {
    fn describe() -> Description {
        offices()
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        Ok(office(input, None))
    }
}

migrate_sdk::plugin!(Fixed);
