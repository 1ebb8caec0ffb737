//! A transform with a bug: it rejects every office with an even key. The hot-swap test starts
//! a run with it, swaps `fixed_offices` in part-way, then replays what it rejected.

use guest_common::{office, offices};
use migrate_sdk::{Description, Fate, Input, TargetRow, Transform};

struct Buggy;

impl Transform for Buggy {
    fn describe() -> Description {
        offices()
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        if input.key() % 2 == 0 {
            return Err(Fate::reject("bug: even keys rejected"));
        }
        Ok(office(input, None))
    }
}

migrate_sdk::plugin!(Buggy);
