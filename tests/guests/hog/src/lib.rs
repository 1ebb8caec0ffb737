//! Allocates (and touches) memory without bound on the row named `probe`: the runner's memory
//! limit must stop it.

use guest_common::{is_probe, office, Office, WRITES};
use migrate_sdk::{Fate, Table, TargetRow, Transform};

#[derive(Default)]
struct Hog;

impl Transform for Hog {
    type Source = Office;
    const WRITES: &'static [Table] = WRITES;

    fn transform_row(&mut self, input: Office) -> Result<Vec<TargetRow>, Fate> {
        if is_probe(&input) {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![0x5a; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        Ok(office(&input, None))
    }
}

migrate_sdk::plugin!(Hog);
