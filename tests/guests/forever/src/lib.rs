//! Never returns from the row named `probe`: the runner's epoch deadline must stop it.

use guest_common::{is_probe, office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct Forever;

impl Transform for Forever {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(&input) {
            let mut spins: u64 = 0;
            loop {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(Forever);
