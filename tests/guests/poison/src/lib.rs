//! Traps on every offices row whose key is divisible by 7 (a "poison row"); migrates the rest.
//! The runner must bisect each batch down to those rows and quarantine them.

use guest_common::{office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

/// Rows whose key is a multiple of this trap.
pub const EVERY: i64 = 7;

#[derive(Default)]
struct Poison;

impl Transform for Poison {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        let key = input.id;
        if key % EVERY == 0 {
            panic!("poison row: key {key} is divisible by {EVERY}");
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(Poison);
