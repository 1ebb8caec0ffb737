//! Never returns from the row named `probe`: the runner's epoch deadline must stop it.

use guest_common::{is_probe, office, offices};
use migrate_sdk::{Description, Fate, Input, TargetRow, Transform};

struct Forever;

impl Transform for Forever {
    fn describe() -> Description {
        offices()
    }

    fn transform_row(input: &Input<'_>) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(input) {
            let mut spins: u64 = 0;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        Ok(office(input, None))
    }
}

migrate_sdk::plugin!(Forever);
