//! Traps on every offices row whose key is divisible by 7 (a "poison row"); migrates the rest.
//! The runner must bisect each batch down to those rows and quarantine them.

use guest_common::{office, offices};
use migrate_sdk::{Description, Fate, Input, TargetRow, Transform};

/// Rows whose key is a multiple of this trap.
pub const EVERY: i64 = 7;

struct Poison;

impl Transform for Poison {
    fn describe() -> Description {
        offices()
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        let key = input.key();
        if key % EVERY == 0 {
            panic!("poison row: key {key} is divisible by {EVERY}");
        }
        Ok(office(input, None))
    }
}

migrate_sdk::plugin!(Poison);
