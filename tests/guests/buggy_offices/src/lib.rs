//! A transform with a bug: it rejects every office with an even key. The hot-swap test starts
//! a run with it, swaps `fixed_offices` in part-way, then replays what it rejected.

use guest_common::{office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct Buggy;

impl Transform for Buggy {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        if input.id % 2 == 0 {
            return Err(Fate::reject("bug: even keys rejected"));
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(Buggy);
